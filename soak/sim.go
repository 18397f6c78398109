package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// sim is bin/descope-sim, run as a process and driven through its /sim
// control API (docs/descope-sim.md).
type sim struct {
	url       string
	projectID string
	mgmtKey   string
	p         *proc
	hc        *http.Client
}

type seedUser struct {
	ID    string   `json:"id"`
	Email string   `json:"email"`
	Name  string   `json:"name"`
	Roles []string `json:"roles,omitempty"`
}

type seedKey struct {
	ID          string `json:"id"`
	Secret      string `json:"secret"`
	Name        string `json:"name"`
	BoundUserID string `json:"boundUserId"`
	TTLSeconds  int64  `json:"ttlSeconds"`
}

// startSim writes the seed file and starts the simulator with it.
func startSim(ctx context.Context, ps *procs, bin, dir string, users []seedUser, keys []seedKey) (*sim, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	seed, err := json.Marshal(map[string]any{"users": users, "accessKeys": keys})
	if err != nil {
		return nil, err
	}
	seedPath := filepath.Join(dir, "sim-seed.json")
	if err := os.WriteFile(seedPath, seed, 0o600); err != nil {
		return nil, err
	}
	s := &sim{
		url:       "http://127.0.0.1:" + strconv.Itoa(port),
		projectID: "P2SoakProject000000000000001",
		mgmtKey:   "soak-management-key",
		hc:        &http.Client{Timeout: 10 * time.Second},
	}
	argv := []string{bin, "--addr", "127.0.0.1:" + strconv.Itoa(port), "--project-id", s.projectID,
		"--management-key", s.mgmtKey, "--seed-file", seedPath, "--auto-sign-up=false"}
	if s.p, err = ps.start("descope-sim", argv, []string{"PATH=" + os.Getenv("PATH")}, dir, filepath.Join(dir, "descope-sim.log")); err != nil {
		return nil, err
	}
	if err := waitHTTP(ctx, s.p, s.url+"/sim/healthz", 30*time.Second); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *sim) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.url+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.hc.Do(req)
	if err != nil {
		return fmt.Errorf("soak: sim %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("soak: sim %s %s: %d %s", method, path, resp.StatusCode, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// mint issues a session and refresh JWT for userID; sessions refreshed from
// the pair live ttl too.
func (s *sim) mint(ctx context.Context, userID string, ttl time.Duration) (session, refresh string, err error) {
	var out struct {
		SessionJwt string `json:"sessionJwt"`
		RefreshJwt string `json:"refreshJwt"`
	}
	err = s.call(ctx, "POST", "/sim/tokens", map[string]any{"userId": userID, "sessionTtlSeconds": int64(ttl / time.Second)}, &out)
	return out.SessionJwt, out.RefreshJwt, err
}

// signRaw signs exactly this payload text with the simulator's key.
func (s *sim) signRaw(ctx context.Context, payload string) (string, error) {
	var out struct {
		JWT string `json:"jwt"`
	}
	err := s.call(ctx, "POST", "/sim/tokens/raw", map[string]any{"payload": payload}, &out)
	return out.JWT, err
}

// fault is one /sim/faults entry.
type fault struct {
	PathPrefix string `json:"pathPrefix"`
	Method     string `json:"method,omitempty"`
	Status     int    `json:"status,omitempty"`
	RetryAfter int    `json:"retryAfter,omitempty"`
	DelayMs    int    `json:"delayMs,omitempty"`
}

func (s *sim) inject(ctx context.Context, fs ...fault) error {
	for _, f := range fs {
		if err := s.call(ctx, "POST", "/sim/faults", f, nil); err != nil {
			return err
		}
	}
	return nil
}

func (s *sim) clearFaults(ctx context.Context) error {
	return s.call(ctx, "DELETE", "/sim/faults", nil, nil)
}

// counts is the simulator's per-path call count.
func (s *sim) counts(ctx context.Context) (map[string]int, error) {
	var out struct {
		Counts map[string]int `json:"counts"`
	}
	err := s.call(ctx, "GET", "/sim/counts", nil, &out)
	return out.Counts, err
}

func (s *sim) issuer() string { return s.url + "/" + s.projectID }
