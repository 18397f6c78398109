package audit

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	ok := Event{Action: ActionSignIn, Outcome: OutcomeSuccess}
	tests := []struct {
		name   string
		modify func(e *Event)
		valid  bool
	}{
		{"minimal", func(e *Event) {}, true},
		{"custom snake_case action", func(e *Event) { e.Action = "rotate_key2" }, true},
		{"empty action", func(e *Event) { e.Action = "" }, false},
		{"action with spaces", func(e *Event) { e.Action = "sign in" }, false},
		{"upper-case action", func(e *Event) { e.Action = "SignIn" }, false},
		{"unknown outcome", func(e *Event) { e.Outcome = "ok" }, false},
		{"unknown method", func(e *Event) { e.Actor.Method = "password" }, false},
		{"known method", func(e *Event) { e.Actor.Method = MethodBasicAccessKey }, true},
		{"token hash detail", func(e *Event) { e.Details = map[string]string{"token_hash": "x", "key_id": "K"} }, true},
		{"token detail", func(e *Event) { e.Details = map[string]string{"refresh_token": "x"} }, false},
		{"password detail", func(e *Event) { e.Details = map[string]string{"password": "x"} }, false},
		{"authorization detail", func(e *Event) { e.Details = map[string]string{"authorization_header": "x"} }, false},
		{"cookie detail", func(e *Event) { e.Details = map[string]string{"cookie": "x"} }, false},
		{"non-snake detail key", func(e *Event) { e.Details = map[string]string{"Key": "x"} }, false},
		{"non-snake resource kind", func(e *Event) { e.Resources = Resources{"Run ID": {"x"}} }, false},
		{"negative latency", func(e *Event) { e.Latency = -time.Second }, false},
		{"bad status", func(e *Event) { e.Status = 1000 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := ok
			tt.modify(&e)
			err := e.Validate()
			if tt.valid && err != nil {
				t.Errorf("Validate() = %v; want nil", err)
			}
			if !tt.valid && !errors.Is(err, ErrInvalidEvent) {
				t.Errorf("Validate() = %v; want ErrInvalidEvent", err)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", maxFieldLen) // 2 bytes per rune
	e := normalize(Event{Reason: long, ClientIP: "a\x00b\xff", Details: map[string]string{}}, time.Unix(5, 1500))
	if len(e.Reason) > maxFieldLen || !strings.HasPrefix(long, e.Reason) {
		t.Errorf("Reason truncated to %d bytes; want a rune-aligned prefix of at most %d", len(e.Reason), maxFieldLen)
	}
	if e.ClientIP != "a\uFFFDb\uFFFD" {
		t.Errorf("ClientIP = %q; want NUL and invalid UTF-8 replaced", e.ClientIP)
	}
	if want := time.Unix(5, 1000).UTC(); !e.Time.Equal(want) || e.Time.Location() != time.UTC {
		t.Errorf("Time = %v; want %v (now, UTC, microseconds)", e.Time, want)
	}
	if e.Details != nil {
		t.Errorf("Details = %#v; want nil for an empty map", e.Details)
	}
}

// TestChainHashVector pins the canonical encoding and hash: an external
// verifier following docs/audit.md must get the same value.
func TestChainHashVector(t *testing.T) {
	t.Parallel()
	e := normalize(Event{
		ID:        1,
		Time:      time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC),
		Action:    ActionSignIn,
		Outcome:   OutcomeSuccess,
		Actor:     Actor{UserID: "U1", Username: "alice", LoginID: "alice@example.com", Method: MethodCookie},
		ClientIP:  "192.0.2.1",
		RequestID: "r1",
		Route:     "POST /auth/session",
		Resources: Resources{ResourceWorkspace: {"default"}},
		Status:    200,
		Latency:   time.Millisecond,
		Details:   map[string]string{"session_hash": "ab12"},
	}, time.Time{})
	c, err := canonical(&e)
	if err != nil {
		t.Fatal(err)
	}
	wantCanon := `["v1",1,1767323045000006,"sign_in","success","","U1","alice","alice@example.com","cookie",` +
		`"192.0.2.1","r1","POST /auth/session","",{"workspace":["default"]},200,false,1000000,{"session_hash":"ab12"}]`
	if string(c) != wantCanon {
		t.Errorf("canonical =\n%s\nwant\n%s", c, wantCanon)
	}
	h, err := chainHash(genesisHash, &e)
	if err != nil {
		t.Fatal(err)
	}
	const wantHash = "6415b6245e09e803e8f5f78ef3e2c1b8e6c972992eb42219f2ba7e00ec5f025d"
	if h != wantHash {
		t.Errorf("chainHash = %s; want %s", h, wantHash)
	}
}

func TestOpen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	for _, uri := range []string{"sqlite:///" + filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")} {
		s, err := Open(ctx, uri, Options{})
		if err != nil {
			t.Errorf("Open(%q): %v", uri, err)
			continue
		}
		if _, ok := s.(*SQLiteStore); !ok {
			t.Errorf("Open(%q) = %T; want *SQLiteStore", uri, s)
		}
		path := strings.TrimPrefix(uri, "sqlite:///")
		if fi, err := os.Stat(path); err != nil {
			t.Errorf("Open(%q): %v", uri, err)
		} else if fi.Mode().Perm() != 0o600 {
			t.Errorf("Open(%q) created %s with mode %v; want 0600", uri, path, fi.Mode().Perm())
		}
		s.Close()
	}
	for _, uri := range []string{"", "mysql://u:secret@h/db", "sqlite://rel.db", ":memory:", "postgres://u:secret@[bad"} {
		_, err := Open(ctx, uri, Options{})
		if err == nil {
			t.Errorf("Open(%q) succeeded; want an error", uri)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q) error %q leaks the password", uri, err)
		}
	}
}

func TestPruner(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newTestClock()
	s := openTestSQLite(t)
	if err := s.Append(ctx, []Event{
		{Time: clock.Now().Add(-48 * time.Hour), Action: ActionRequest, Outcome: OutcomeSuccess},
		{Time: clock.Now().Add(-1 * time.Hour), Action: ActionRequest, Outcome: OutcomeSuccess},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := NewPruner(s, PrunerOptions{}); err == nil {
		t.Errorf("NewPruner without MaxAge succeeded; want an error")
	}
	p, err := NewPruner(s, PrunerOptions{MaxAge: 24 * time.Hour, Interval: time.Millisecond, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := p.PruneOnce(ctx); err != nil || n != 1 {
		t.Errorf("PruneOnce = %d, %v; want 1", n, err)
	}
	runCtx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := p.Run(runCtx); err != nil {
		t.Errorf("Run = %v; want nil when its context ends", err)
	}
	mustVerify(t, s)
}
