package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// uiUser is a person in a browser: a cookie session (refreshed by the
// gateway while the run goes on) and an experiment of their own.
type uiUser struct {
	*client
	id     string
	expID  string
	runID  string
	victim string // another user's experiment, which must stay closed
}

// keyUser is a training job with an access key bound to its own user: it
// logs metrics and tags, moves artifacts and writes to the model registry.
type keyUser struct {
	*client
	id, keyID string
	expID     string
	runID     string
	model     string
	victimRun string

	mu        sync.Mutex
	metrics   []ackMetric
	tags      map[string]string
	artifacts map[string]string // path under the run's artifacts → sha256
	modelTags map[string]string
	n         int
}

type ackMetric struct {
	step  int64
	value float64
}

// attacker holds credentials that must never work, and a valid session
// aimed at someone else's experiment.
type attacker struct {
	*client
	tokens []string // Bearer values, each to be refused with 401
	own    string   // a valid session of the attacker's own user
	victim string
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// think is a client's pause between requests: uniform in [lo, hi).
func think(ctx context.Context, lo, hi time.Duration) bool {
	d := lo + time.Duration(mrand.Int64N(int64(hi-lo)))
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// setupUI signs a user in through /auth/session and creates their
// experiment with a run and a metric history, all through the gateway.
func setupUI(ctx context.Context, u *uiUser, s *sim, g *gateway, sessionTTL time.Duration) error {
	sess, refresh, err := s.mint(ctx, u.id, sessionTTL)
	if err != nil {
		return err
	}
	u.mu.Lock()
	u.cookies = map[string]string{}
	u.mu.Unlock()
	a := u.doAt(ctx, g, "setup_sign_in", mustPass, "POST", "/auth/session", jsonBody(map[string]string{"sessionJwt": sess, "refreshJwt": refresh}), "application/json")
	if a.status != 200 {
		return fmt.Errorf("soak: sign-in %s: %d %.200s", u.id, a.status, a.body)
	}
	var exp struct {
		ExperimentID string `json:"experiment_id"`
	}
	if err := mustJSON(u.doAt(ctx, g, "setup", mustPass, "POST", "/ajax-api/2.0/mlflow/experiments/create",
		jsonBody(map[string]any{"name": "soak-ui-" + u.id}), "application/json"), "create experiment", &exp); err != nil {
		return err
	}
	u.expID = exp.ExperimentID
	var run struct {
		Run struct {
			Info struct {
				RunID string `json:"run_id"`
			} `json:"info"`
		} `json:"run"`
	}
	if err := mustJSON(u.doAt(ctx, g, "setup", mustPass, "POST", "/ajax-api/2.0/mlflow/runs/create",
		jsonBody(map[string]any{"experiment_id": u.expID, "run_name": "ui"}), "application/json"), "create run", &run); err != nil {
		return err
	}
	u.runID = run.Run.Info.RunID
	var metrics []map[string]any
	for i := range 5 {
		metrics = append(metrics, map[string]any{"key": "loss", "value": 1.0 / float64(i+1), "timestamp": time.Now().UnixMilli(), "step": i})
	}
	a = u.doAt(ctx, g, "setup", mustPass, "POST", "/ajax-api/2.0/mlflow/runs/log-batch", jsonBody(map[string]any{"run_id": u.runID, "metrics": metrics}), "application/json")
	if a.status != 200 {
		return fmt.Errorf("soak: log-batch %s: %d %.200s", u.id, a.status, a.body)
	}
	return nil
}

// runUI is a browser session: pages, searches, one run's charts, and now
// and then a look at someone else's experiment (which must stay closed).
func runUI(ctx context.Context, u *uiUser) {
	for think(ctx, 500*time.Millisecond, 2500*time.Millisecond) {
		switch r := mrand.IntN(100); {
		case r < 25:
			u.do(ctx, "ui_search_experiments", mustPass, "POST", "/ajax-api/2.0/mlflow/experiments/search",
				jsonBody(map[string]any{"max_results": 20}), "application/json")
		case r < 45:
			u.do(ctx, "ui_get_experiment", mustPass, "GET", "/ajax-api/2.0/mlflow/experiments/get?experiment_id="+u.expID, nil, "")
		case r < 60:
			u.do(ctx, "ui_search_runs", mustPass, "POST", "/ajax-api/2.0/mlflow/runs/search",
				jsonBody(map[string]any{"experiment_ids": []string{u.expID}, "max_results": 50}), "application/json")
		case r < 70:
			u.do(ctx, "ui_get_run", mustPass, "GET", "/ajax-api/2.0/mlflow/runs/get?run_id="+u.runID, nil, "")
		case r < 80:
			u.do(ctx, "ui_metric_history", mustPass, "GET", "/ajax-api/2.0/mlflow/metrics/get-history?run_id="+u.runID+"&metric_key=loss", nil, "")
		case r < 85:
			u.do(ctx, "ui_page", mustPass, "GET", "/", nil, "")
		case r < 90:
			u.do(ctx, "ui_search_models", mustPass, "GET", "/ajax-api/2.0/mlflow/registered-models/search?max_results=20", nil, "")
		default:
			u.do(ctx, "ui_other_users_experiment", mustRefuse, "GET", "/ajax-api/2.0/mlflow/experiments/get?experiment_id="+u.victim, nil, "")
		}
	}
}

// setupKey creates the job's experiment, run and registered model.
func setupKey(ctx context.Context, k *keyUser, g *gateway) error {
	var exp struct {
		ExperimentID string `json:"experiment_id"`
	}
	if err := mustJSON(k.doAt(ctx, g, "setup", mustPass, "POST", "/api/2.0/mlflow/experiments/create",
		jsonBody(map[string]any{"name": "soak-key-" + k.id}), "application/json"), "create experiment", &exp); err != nil {
		return err
	}
	k.expID = exp.ExperimentID
	var run struct {
		Run struct {
			Info struct {
				RunID string `json:"run_id"`
			} `json:"info"`
		} `json:"run"`
	}
	if err := mustJSON(k.doAt(ctx, g, "setup", mustPass, "POST", "/api/2.0/mlflow/runs/create",
		jsonBody(map[string]any{"experiment_id": k.expID, "run_name": "job"}), "application/json"), "create run", &run); err != nil {
		return err
	}
	k.runID = run.Run.Info.RunID
	k.model = "soak-model-" + k.id
	var rm map[string]any
	return mustJSON(k.doAt(ctx, g, "setup", mustPass, "POST", "/api/2.0/mlflow/registered-models/create",
		jsonBody(map[string]any{"name": k.model}), "application/json"), "create model", &rm)
}

// runKey is a training job: log-batch, artifact upload and download,
// registry tags, and now and then a write to someone else's run.
func runKey(ctx context.Context, k *keyUser) {
	for think(ctx, 300*time.Millisecond, 1500*time.Millisecond) {
		k.mu.Lock()
		k.n++
		n := k.n
		k.mu.Unlock()
		switch r := mrand.IntN(100); {
		case r < 40:
			v := mrand.Float64()
			tag := "t" + strconv.Itoa(n)
			a := k.do(ctx, "key_log_batch", mustPass, "POST", "/api/2.0/mlflow/runs/log-batch", jsonBody(map[string]any{
				"run_id":  k.runID,
				"metrics": []map[string]any{{"key": "m", "value": v, "timestamp": time.Now().UnixMilli(), "step": n}},
				"tags":    []map[string]any{{"key": tag, "value": strconv.Itoa(n)}},
			}), "application/json")
			if a.status == 200 {
				k.mu.Lock()
				k.metrics = append(k.metrics, ackMetric{step: int64(n), value: v})
				k.tags[tag] = strconv.Itoa(n)
				k.mu.Unlock()
			}
		case r < 60:
			data := make([]byte, 4<<10+mrand.IntN(60<<10))
			_, _ = rand.Read(data)
			name := "soak/" + strconv.Itoa(n) + ".bin"
			a := k.do(ctx, "key_artifact_upload", mustPass, "PUT", k.artifactPath(name), data, "application/octet-stream")
			if a.status == 200 {
				k.mu.Lock()
				k.artifacts[name] = sha(data)
				k.mu.Unlock()
			}
		case r < 75:
			name, want, ok := k.someArtifact()
			if !ok {
				continue
			}
			a := k.do(ctx, "key_artifact_download", mustPass, "GET", k.artifactPath(name), nil, "")
			if a.status == 200 && sha(a.body) != want {
				k.rec.add(sample{start: k.rec.since(time.Now()), class: k.class, op: "key_artifact_corrupt", status: 599, exp: mustPass})
			}
		case r < 90:
			key, val := "k"+strconv.Itoa(n), randomHex(4)
			a := k.do(ctx, "key_registry_tag", mustPass, "POST", "/api/2.0/mlflow/registered-models/set-tag",
				jsonBody(map[string]any{"name": k.model, "key": key, "value": val}), "application/json")
			if a.status == 200 {
				k.mu.Lock()
				k.modelTags[key] = val
				k.mu.Unlock()
			}
		default:
			k.do(ctx, "key_other_users_run", mustRefuse, "POST", "/api/2.0/mlflow/runs/log-batch", jsonBody(map[string]any{
				"run_id":  k.victimRun,
				"metrics": []map[string]any{{"key": "pwned", "value": 1, "timestamp": time.Now().UnixMilli(), "step": n}},
			}), "application/json")
		}
	}
}

func (k *keyUser) artifactPath(name string) string {
	return "/api/2.0/mlflow-artifacts/artifacts/" + k.expID + "/" + k.runID + "/artifacts/" + name
}

func (k *keyUser) someArtifact() (string, string, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for name, sum := range k.artifacts { // map order is random enough
		return name, sum, true
	}
	return "", "", false
}

// runAttacker sends credentials that must fail, and a valid session at an
// experiment that is not the attacker's.
func runAttacker(ctx context.Context, a *attacker) {
	for think(ctx, 500*time.Millisecond, 1500*time.Millisecond) {
		if mrand.IntN(4) == 0 {
			a.mu.Lock()
			a.bearer = a.own
			a.mu.Unlock()
			a.do(ctx, "attack_other_users_experiment", mustRefuse, "GET", "/api/2.0/mlflow/experiments/get?experiment_id="+url.QueryEscape(a.victim), nil, "")
			continue
		}
		tok := a.tokens[mrand.IntN(len(a.tokens))]
		a.mu.Lock()
		a.bearer = tok
		a.mu.Unlock()
		a.do(ctx, "attack_bad_credential", mustRefuse, "GET", "/api/2.0/mlflow/experiments/search?max_results=5", nil, "")
	}
}

// runCanary asks one replica the same cheap question every 100 ms, so the
// report can say when each fault stopped hurting.
func runCanary(ctx context.Context, c *client, g *gateway, expID string) {
	for think(ctx, 90*time.Millisecond, 110*time.Millisecond) {
		c.doAt(ctx, g, "canary", mustPass, "GET", "/api/2.0/mlflow/experiments/get?experiment_id="+expID, nil, "")
	}
}
