package audit

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"testing"
	"time"
)

// seed appends n request events, one per batch so that the chain crosses
// batch boundaries.
func seed(t *testing.T, s Store, n int) {
	t.Helper()
	for i := range n {
		e := []Event{{Action: ActionRequest, Outcome: OutcomeSuccess, Reason: "r" + strconv.Itoa(i),
			Actor: Actor{Username: "alice"}, Resources: Resources{ResourceRun: {strconv.Itoa(i)}}}}
		if err := s.Append(context.Background(), e); err != nil {
			t.Fatalf("Append: %v", err)
		}
	}
}

func mustExec(t *testing.T, db *sql.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(context.Background(), query, args...); err != nil {
		t.Fatalf("exec %q: %v", query, err)
	}
}

// rehash rewrites record id with a new reason and recomputes its hash from
// the stored previous hash, as an attacker who knows the algorithm would,
// without re-chaining the records after it.
func rehash(t *testing.T, s Store, id int64) {
	t.Helper()
	db := rawDB(t, s)
	r, err := scanRecord(db.QueryRowContext(context.Background(),
		"SELECT "+eventColumns+" FROM audit_events WHERE id = $1", id))
	if err != nil {
		t.Fatalf("read record %d: %v", id, err)
	}
	r.Reason = "rewritten"
	h, err := chainHash(r.PrevHash, &r.Event)
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, db, "UPDATE audit_events SET reason = $1, hash = $2 WHERE id = $3", r.Reason, h, id)
}

func testTamper(t *testing.T, b backend) {
	tests := []struct {
		name       string
		tamper     func(t *testing.T, s Store, db *sql.DB)
		wantBad    int64
		wantInText string
	}{
		{"edited row", func(t *testing.T, s Store, db *sql.DB) {
			mustExec(t, db, "UPDATE audit_events SET username = 'mallory' WHERE id = 4")
		}, 4, "modified"},
		{"edited resources", func(t *testing.T, s Store, db *sql.DB) {
			mustExec(t, db, `UPDATE audit_events SET resources = '{"run_id":["x"]}' WHERE id = 7`)
		}, 7, "modified"},
		{"edited outcome of first row", func(t *testing.T, s Store, db *sql.DB) {
			mustExec(t, db, "UPDATE audit_events SET outcome = 'denied' WHERE id = 1")
		}, 1, "modified"},
		{"deleted middle row", func(t *testing.T, s Store, db *sql.DB) {
			mustExec(t, db, "DELETE FROM audit_events WHERE id = 4")
		}, 4, "missing"},
		{"deleted first row", func(t *testing.T, s Store, db *sql.DB) {
			mustExec(t, db, "DELETE FROM audit_events WHERE id = 1")
		}, 1, "missing"},
		{"deleted last rows", func(t *testing.T, s Store, db *sql.DB) {
			mustExec(t, db, "DELETE FROM audit_events WHERE id >= 9")
		}, 9, "missing"},
		{"reordered rows", func(t *testing.T, s Store, db *sql.DB) {
			mustExec(t, db, "UPDATE audit_events SET id = -4 WHERE id = 4")
			mustExec(t, db, "UPDATE audit_events SET id = 4 WHERE id = 5")
			mustExec(t, db, "UPDATE audit_events SET id = 5 WHERE id = -4")
		}, 4, ""},
		{"hash recomputed without re-chaining", func(t *testing.T, s Store, db *sql.DB) {
			rehash(t, s, 4)
		}, 4, "recomputed"},
		{"last row hash recomputed", func(t *testing.T, s Store, db *sql.DB) {
			rehash(t, s, 10)
		}, 10, "recomputed"},
		{"row inserted before the chain", func(t *testing.T, s Store, db *sql.DB) {
			mustExec(t, db, "INSERT INTO audit_events (id, event_time, action, outcome, username, prev_hash, hash) "+
				"SELECT -1, event_time, 'set_admin', outcome, 'mallory', hash, hash FROM audit_events WHERE id = 1")
		}, -1, "prune anchor"},
		{"row inserted past the head", func(t *testing.T, s Store, db *sql.DB) {
			mustExec(t, db, "INSERT INTO audit_events (id, event_time, action, outcome, prev_hash, hash) "+
				"SELECT 11, event_time, action, outcome, hash, hash FROM audit_events WHERE id = 10")
		}, 11, "beyond"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := b.open(t, b.fresh(t), Options{})
			seed(t, s, 10)
			mustVerify(t, s)
			tt.tamper(t, s, rawDB(t, s))
			res, err := s.Verify(context.Background())
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if res.OK() || res.FirstBadID != tt.wantBad || !strings.Contains(res.Problem, tt.wantInText) {
				t.Errorf("Verify = %+v; want first bad id %d with a problem mentioning %q", res, tt.wantBad, tt.wantInText)
			}
		})
	}
}

func testPrune(t *testing.T, b backend) {
	ctx := context.Background()
	clock := newTestClock()
	s := b.open(t, b.fresh(t), Options{Now: clock.Now})
	t0 := clock.Now()
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	var evs []Event
	for i := range 10 {
		evs = append(evs, Event{Time: at(i), Action: ActionRequest, Outcome: OutcomeSuccess})
	}
	if err := s.Append(ctx, evs); err != nil {
		t.Fatalf("Append: %v", err)
	}
	clock.Advance(time.Hour)

	if n, err := s.Prune(ctx, at(0)); err != nil || n != 0 {
		t.Fatalf("Prune(nothing old) = %d, %v; want 0", n, err)
	}
	if n, err := s.Prune(ctx, at(5)); err != nil || n != 5 {
		t.Fatalf("Prune(before minute 5) = %d, %v; want 5", n, err)
	}
	res := mustVerify(t, s)
	if res.AnchorID != 5 || res.Checked != 6 || res.HeadID != 11 {
		t.Errorf("Verify after prune = %+v; want anchor 5, 6 checked, head 11", res)
	}
	pr := queryAll(t, s, Filter{Action: ActionAuditPrune})
	if len(pr) != 1 || pr[0].Details["deleted"] != "5" || pr[0].Details["anchor_id"] != "5" || pr[0].Actor.Method != MethodSystem {
		t.Errorf("audit_prune events = %+v; want one recording 5 deleted up to id 5", pr)
	}

	// A record older than the cutoff that follows a newer one is kept:
	// only a prefix of the chain is ever deleted.
	if err := s.Append(ctx, []Event{{Time: at(0), Action: ActionRequest, Outcome: OutcomeSuccess}}); err != nil {
		t.Fatalf("Append: %v", err)
	}
	if n, err := s.Prune(ctx, at(8)); err != nil || n != 3 {
		t.Fatalf("Prune(before minute 8) = %d, %v; want 3 (ids 6-8)", n, err)
	}
	mustVerify(t, s)
	ids := map[int64]bool{}
	for _, e := range queryAll(t, s, Filter{}) {
		ids[e.ID] = true
	}
	if ids[8] || !ids[9] || !ids[12] {
		t.Errorf("ids after second prune = %v; want 8 gone, 9 and 12 kept", ids)
	}

	// Pruning everything leaves only the new audit_prune record.
	if _, err := s.Prune(ctx, clock.Now().Add(time.Hour)); err != nil {
		t.Fatalf("Prune(everything): %v", err)
	}
	res = mustVerify(t, s)
	if res.Checked != 1 || res.HeadID != res.AnchorID+1 {
		t.Errorf("Verify after pruning everything = %+v; want just the prune record", res)
	}
	seed(t, s, 3)
	mustVerify(t, s)

	// Deleting the oldest records and moving the anchor over them, as a
	// prune would, is found: no audit_prune record names that anchor.
	forged := b.open(t, b.fresh(t), Options{Now: clock.Now})
	seed(t, forged, 6)
	fdb := rawDB(t, forged)
	mustExec(t, fdb, "DELETE FROM audit_events WHERE id <= 3")
	mustExec(t, fdb, "UPDATE audit_chain SET anchor_id = 3, anchor_hash = (SELECT prev_hash FROM audit_events WHERE id = 4)")
	if res, err := forged.Verify(ctx); err != nil || res.OK() || res.FirstBadID != 3 || !strings.Contains(res.Problem, "anchor") {
		t.Errorf("Verify after a forged prune = %+v, %v; want the anchor (3) reported", res, err)
	}

	// Tampering after a prune is still found, including at the anchor.
	mustExec(t, rawDB(t, s), "DELETE FROM audit_events WHERE id = $1", res.AnchorID+1)
	res, err := s.Verify(ctx)
	if err != nil || res.OK() || res.FirstBadID != res.AnchorID+1 {
		t.Errorf("Verify after deleting the first record past the anchor = %+v, %v; want it reported", res, err)
	}
}
