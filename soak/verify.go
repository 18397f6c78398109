package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"

	_ "github.com/jackc/pgx/v5/stdlib" // the PostgreSQL driver the gateway uses too
)

// freshDatabase creates an empty database next to dsn's and returns its DSN
// and a function that drops it.
func freshDatabase(ctx context.Context, dsn string) (string, func(), error) {
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		return "", nil, fmt.Errorf("soak: postgres: %w", err)
	}
	name := "soak_" + randomHex(6)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("soak: create database: %w", err)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		admin.Close()
		return "", nil, err
	}
	u.Path = "/" + name
	drop := func() {
		_, _ = admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		admin.Close()
	}
	return u.String(), drop, nil
}

// auditRequestIDs returns every request ID the audit store holds, and how
// many events it holds in all.
func auditRequestIDs(ctx context.Context, dsn string) (map[string]int, int, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, 0, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "SELECT request_id FROM audit_events")
	if err != nil {
		return nil, 0, fmt.Errorf("soak: read audit events: %w", err)
	}
	defer rows.Close()
	ids := map[string]int{}
	total := 0
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, 0, err
		}
		total++
		if id != "" {
			ids[id]++
		}
	}
	return ids, total, rows.Err()
}

// lost is what a readback did not find.
type lost struct {
	metrics, tags, artifacts, modelTags int
	examples                            []string
}

func (l *lost) total() int { return l.metrics + l.tags + l.artifacts + l.modelTags }

func (l *lost) note(format string, args ...any) {
	if len(l.examples) < 10 {
		l.examples = append(l.examples, fmt.Sprintf(format, args...))
	}
}

// readBack reads every acknowledged write of k through g after the run:
// metric values by step, run tags, artifact bytes, registry tags.
func readBack(ctx context.Context, k *keyUser, g *gateway, l *lost) (acked int, err error) {
	k.mu.Lock()
	metrics := append([]ackMetric(nil), k.metrics...)
	tags, arts, mtags := clone(k.tags), clone(k.artifacts), clone(k.modelTags)
	k.mu.Unlock()
	acked = len(metrics) + len(tags) + len(arts) + len(mtags)

	var hist struct {
		Metrics []struct {
			Step  json.Number `json:"step"`
			Value float64     `json:"value"`
		} `json:"metrics"`
	}
	if err := mustJSON(k.doAt(ctx, g, "readback", mustPass, "GET", "/api/2.0/mlflow/metrics/get-history?run_id="+k.runID+"&metric_key=m&max_results=100000", nil, ""), "metric history", &hist); err != nil {
		return acked, err
	}
	have := map[int64]float64{}
	for _, m := range hist.Metrics {
		s, _ := strconv.ParseInt(m.Step.String(), 10, 64)
		have[s] = m.Value
	}
	for _, m := range metrics {
		if v, ok := have[m.step]; !ok || v != m.value {
			l.metrics++
			l.note("%s: metric m step %d", k.id, m.step)
		}
	}

	var run struct {
		Run struct {
			Data struct {
				Tags []struct{ Key, Value string } `json:"tags"`
			} `json:"data"`
		} `json:"run"`
	}
	if err := mustJSON(k.doAt(ctx, g, "readback", mustPass, "GET", "/api/2.0/mlflow/runs/get?run_id="+k.runID, nil, ""), "run", &run); err != nil {
		return acked, err
	}
	got := map[string]string{}
	for _, t := range run.Run.Data.Tags {
		got[t.Key] = t.Value
	}
	for key, v := range tags {
		if got[key] != v {
			l.tags++
			l.note("%s: run tag %s", k.id, key)
		}
	}

	for name, sum := range arts {
		a := k.doAt(ctx, g, "readback", mustPass, "GET", k.artifactPath(name), nil, "")
		if a.status != 200 || sha(a.body) != sum {
			l.artifacts++
			l.note("%s: artifact %s (status %d)", k.id, name, a.status)
		}
	}

	var rm struct {
		RegisteredModel struct {
			Tags []struct{ Key, Value string } `json:"tags"`
		} `json:"registered_model"`
	}
	if err := mustJSON(k.doAt(ctx, g, "readback", mustPass, "GET", "/api/2.0/mlflow/registered-models/get?name="+url.QueryEscape(k.model), nil, ""), "registered model", &rm); err != nil {
		return acked, err
	}
	got = map[string]string{}
	for _, t := range rm.RegisteredModel.Tags {
		got[t.Key] = t.Value
	}
	for key, v := range mtags {
		if got[key] != v {
			l.modelTags++
			l.note("%s: model tag %s", k.id, key)
		}
	}
	return acked, nil
}

func clone(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func sortByStart(s []sample) {
	sort.Slice(s, func(i, j int) bool { return s[i].start < s[j].start })
}
