package cli

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/audit"
)

// TestVerifyVerb runs `verify` on an intact, an edited and a shortened log.
func TestVerifyVerb(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, tamper string
		wantOK       bool
		wantOut      string
	}{
		{"intact", "", true, "audit log OK: 10 records checked"},
		{"edited", "UPDATE audit_events SET username = 'mallory' WHERE id = 4", false, "BROKEN at record 4"},
		{"deleted", "DELETE FROM audit_events WHERE id = 6", false, "BROKEN at record 6"},
		{"newest deleted", "DELETE FROM audit_events WHERE id = 10", false, "BROKEN at record 10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			env := []string{"DESCOPE_PROJECT_ID=P2VerifyTest0001", "MLFLOW_DESCOPE_DATA_DIR=" + dir}
			store, err := audit.Open(context.Background(), filepath.Join(dir, "audit.db"), audit.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var evs []audit.Event
			for range 10 {
				evs = append(evs, audit.Event{Action: audit.ActionRequest, Outcome: audit.OutcomeSuccess, Actor: audit.Actor{Username: "alice"}, Status: 200})
			}
			if err := store.Append(context.Background(), evs); err != nil {
				t.Fatal(err)
			}
			store.Close()
			if tt.tamper != "" {
				db, err := sql.Open("sqlite", filepath.Join(dir, "audit.db"))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := db.Exec(tt.tamper); err != nil {
					t.Fatal(err)
				}
				db.Close()
			}
			var out, errOut bytes.Buffer
			err = Run(context.Background(), []string{"verify"}, env, &out, &errOut)
			if (err == nil) != tt.wantOK || (!tt.wantOK && !errors.Is(err, ErrReported)) {
				t.Fatalf("verify: %v; want ok=%v\n%s%s", err, tt.wantOK, out.String(), errOut.String())
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("output %q; want %q", out.String(), tt.wantOut)
			}
		})
	}
}
