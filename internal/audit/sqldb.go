package audit

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// dialect holds what differs between SQLite and PostgreSQL. Both accept
// $N placeholders, used in fixed statements; generated statements with many
// parameters use placeholder, because SQLite looks $N names up linearly.
type dialect struct {
	name string
	// placeholder returns the text of the n-th (1-based) parameter.
	placeholder func(n int) string
	// forUpdate is appended to the chain-head SELECT in a write transaction.
	forUpdate string
	// contains formats a case-sensitive substring test: haystack, needle.
	contains string
	// timeArg converts a time to the event_time column's representation.
	timeArg func(time.Time) any
	// readTx are the options of the snapshot transaction Verify reads in.
	readTx *sql.TxOptions
	// migrationLock, if set, runs first in every migration transaction.
	migrationLock string
}

// sqlDB implements Store over database/sql for both dialects.
type sqlDB struct {
	db  *sql.DB
	d   *dialect
	now func() time.Time
	// writeMu serializes this process's writers before they reach the
	// database-level lock (BEGIN IMMEDIATE or SELECT ... FOR UPDATE).
	writeMu sync.Mutex
	// fullInsert is the INSERT of insertChunk rows, prepared once: parsing
	// a 2,000-parameter statement for every chunk was ~4 % of the gateway's
	// CPU at 10,000 requests/s. Guarded by writeMu.
	fullInsert *sql.Stmt
}

const eventColumns = "id, event_time, action, outcome, reason, user_id, username, login_id, method, " +
	"client_ip, request_id, route, rpc, resources, status, mlflow_denied, latency_ns, details, prev_hash, hash"

const numEventColumns = 20

// insertChunk bounds the rows per INSERT statement (and so its parameters).
const insertChunk = 100

// verifyChunk is how many records Verify reads per query.
const verifyChunk = 2000

func (s *sqlDB) errorf(op string, err error) error {
	return fmt.Errorf("audit: %s %s: %w", s.d.name, op, err)
}

// Append implements Store.
func (s *sqlDB) Append(ctx context.Context, events []Event) error {
	if len(events) == 0 {
		return nil
	}
	for i := range events {
		if err := events[i].Validate(); err != nil {
			return fmt.Errorf("audit: append: event %d: %w", i, err)
		}
	}
	now := s.now()
	evs := make([]Event, len(events))
	for i := range events {
		evs[i] = normalize(events[i], now)
	}
	err := s.withWriteTx(ctx, func(tx *sql.Tx, head *chainHead) error {
		return s.appendTx(ctx, tx, head, evs)
	})
	if err != nil {
		return s.errorf("append", err)
	}
	for i := range events {
		events[i].ID, events[i].Hash, events[i].Time = evs[i].ID, evs[i].Hash, evs[i].Time
	}
	return nil
}

// withWriteTx runs fn in a transaction holding the chain lock.
func (s *sqlDB) withWriteTx(ctx context.Context, fn func(*sql.Tx, *chainHead) error) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() // a no-op after Commit
	head, err := readHead(ctx, tx, s.d.forUpdate)
	if err != nil {
		return err
	}
	if err := fn(tx, &head); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func readHead(ctx context.Context, q queryer, suffix string) (chainHead, error) {
	var h chainHead
	err := q.QueryRowContext(ctx,
		"SELECT last_id, last_hash, anchor_id, anchor_hash FROM audit_chain WHERE id = 1"+suffix).
		Scan(&h.LastID, &h.LastHash, &h.AnchorID, &h.AnchorHash)
	if err != nil {
		return h, fmt.Errorf("read chain head: %w", err)
	}
	return h, nil
}

// appendTx chains evs (already normalized) after head, inserts them and
// moves the head. It sets ID and Hash on evs.
func (s *sqlDB) appendTx(ctx context.Context, tx *sql.Tx, head *chainHead, evs []Event) error {
	rows := make([]storedRecord, len(evs))
	prevID, prevHash := head.LastID, head.LastHash
	for i := range evs {
		evs[i].ID = prevID + 1
		h, err := chainHash(prevHash, &evs[i])
		if err != nil {
			return err
		}
		evs[i].Hash = h
		rows[i] = storedRecord{Event: evs[i], PrevHash: prevHash}
		prevID, prevHash = evs[i].ID, h
	}
	for start := 0; start < len(rows); start += insertChunk {
		end := min(start+insertChunk, len(rows))
		if err := s.insert(ctx, tx, rows[start:end]); err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, "UPDATE audit_chain SET last_id = $1, last_hash = $2 WHERE id = 1", prevID, prevHash)
	if err != nil {
		return fmt.Errorf("update chain head: %w", err)
	}
	head.LastID, head.LastHash = prevID, prevHash
	return nil
}

func (s *sqlDB) insert(ctx context.Context, tx *sql.Tx, rows []storedRecord) error {
	args := make([]any, 0, len(rows)*numEventColumns)
	for i := range rows {
		r := &rows[i]
		res, err := encodeJSON(r.Resources)
		if err != nil {
			return err
		}
		det, err := encodeJSON(r.Details)
		if err != nil {
			return err
		}
		args = append(args, r.ID, s.d.timeArg(r.Time), string(r.Action), string(r.Outcome), r.Reason,
			r.Actor.UserID, r.Actor.Username, r.Actor.LoginID, string(r.Actor.Method),
			r.ClientIP, r.RequestID, r.Route, r.RPC, res, r.Status, r.MLflowDenied, int64(r.Latency), det,
			r.PrevHash, r.Hash)
	}
	if len(rows) == insertChunk {
		if s.fullInsert == nil {
			stmt, err := s.db.PrepareContext(ctx, s.insertSQL(insertChunk))
			if err != nil {
				return fmt.Errorf("prepare insert: %w", err)
			}
			s.fullInsert = stmt
		}
		if _, err := tx.StmtContext(ctx, s.fullInsert).ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
		return nil
	}
	if _, err := tx.ExecContext(ctx, s.insertSQL(len(rows)), args...); err != nil {
		return fmt.Errorf("insert events: %w", err)
	}
	return nil
}

// insertSQL is the INSERT statement for n rows.
func (s *sqlDB) insertSQL(n int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO audit_events (" + eventColumns + ") VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for j := 1; j <= numEventColumns; j++ {
			if j > 1 {
				b.WriteString(", ")
			}
			b.WriteString(s.d.placeholder(i*numEventColumns + j))
		}
		b.WriteByte(')')
	}
	return b.String()
}

// encodeJSON returns the stored form of a Resources or Details map: compact
// JSON with sorted keys, "{}" when empty.
func encodeJSON[M ~map[string]V, V any](m M) (string, error) {
	if len(m) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("encode: %w", err)
	}
	return string(b), nil
}

type rowScanner interface {
	Scan(dest ...any) error
}

func scanRecord(sc rowScanner) (storedRecord, error) {
	var (
		r        storedRecord
		t        any
		action   string
		outcome  string
		method   string
		res, det string
		latency  int64
	)
	err := sc.Scan(&r.ID, &t, &action, &outcome, &r.Reason, &r.Actor.UserID, &r.Actor.Username,
		&r.Actor.LoginID, &method, &r.ClientIP, &r.RequestID, &r.Route, &r.RPC, &res, &r.Status,
		&r.MLflowDenied, &latency, &det, &r.PrevHash, &r.Hash)
	if err != nil {
		return r, fmt.Errorf("scan event: %w", err)
	}
	switch v := t.(type) {
	case int64:
		r.Time = time.UnixMicro(v).UTC()
	case time.Time:
		r.Time = v.UTC()
	default:
		return r, fmt.Errorf("scan event %d: unexpected time type %T", r.ID, t)
	}
	r.Action, r.Outcome, r.Actor.Method, r.Latency = Action(action), Outcome(outcome), Method(method), time.Duration(latency)
	if err := json.Unmarshal([]byte(res), &r.Resources); err != nil {
		return r, fmt.Errorf("decode resources of event %d: %w", r.ID, err)
	}
	if err := json.Unmarshal([]byte(det), &r.Details); err != nil {
		return r, fmt.Errorf("decode details of event %d: %w", r.ID, err)
	}
	if len(r.Resources) == 0 {
		r.Resources = nil
	}
	if len(r.Details) == 0 {
		r.Details = nil
	}
	return r, nil
}

// Query implements Store.
func (s *sqlDB) Query(ctx context.Context, f Filter) (Page, error) {
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = DefaultLimit
	case limit > MaxLimit:
		limit = MaxLimit
	}
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return s.d.placeholder(len(args))
	}
	if f.UserContains != "" {
		needle := strings.ToLower(f.UserContains)
		var ors []string
		for _, col := range []string{"username", "user_id", "login_id"} {
			ors = append(ors, fmt.Sprintf(s.d.contains, "lower("+col+")", arg(needle)))
		}
		where = append(where, "("+strings.Join(ors, " OR ")+")")
	}
	if f.Action != "" {
		where = append(where, "action = "+arg(string(f.Action)))
	}
	if f.Outcome != "" {
		where = append(where, "outcome = "+arg(string(f.Outcome)))
	}
	if f.Resource != "" {
		// Values sit in JSON arrays: `"v"]` or `"v",`. Keys are followed by
		// a colon, so a kind name never matches.
		q, err := json.Marshal(f.Resource)
		if err != nil {
			return Page{}, s.errorf("query", err)
		}
		where = append(where, "("+fmt.Sprintf(s.d.contains, "resources", arg(string(q)+"]"))+" OR "+
			fmt.Sprintf(s.d.contains, "resources", arg(string(q)+","))+")")
	}
	if !f.Since.IsZero() {
		where = append(where, "event_time >= "+arg(s.d.timeArg(f.Since.UTC().Truncate(time.Microsecond))))
	}
	if !f.Until.IsZero() {
		where = append(where, "event_time < "+arg(s.d.timeArg(f.Until.UTC().Truncate(time.Microsecond))))
	}
	order, cmp := "DESC", "<"
	if f.Ascending {
		order, cmp = "ASC", ">"
	}
	if f.Cursor != "" {
		id, err := strconv.ParseInt(strings.TrimPrefix(f.Cursor, "c"), 10, 64)
		if err != nil || !strings.HasPrefix(f.Cursor, "c") || id < 0 {
			return Page{}, fmt.Errorf("%w: %q", ErrBadCursor, f.Cursor)
		}
		where = append(where, "id "+cmp+" "+arg(id))
	}
	q := "SELECT " + eventColumns + " FROM audit_events"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id " + order + " LIMIT " + arg(limit+1)

	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return Page{}, s.errorf("query", err)
	}
	defer rows.Close()
	var page Page
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return Page{}, s.errorf("query", err)
		}
		page.Events = append(page.Events, r.Event)
	}
	if err := rows.Err(); err != nil {
		return Page{}, s.errorf("query", err)
	}
	if len(page.Events) > limit {
		page.Events = page.Events[:limit]
		page.NextCursor = "c" + strconv.FormatInt(page.Events[limit-1].ID, 10)
	}
	return page, nil
}

// Verify implements Store. It reads one consistent snapshot.
func (s *sqlDB) Verify(ctx context.Context) (VerifyResult, error) {
	tx, err := s.db.BeginTx(ctx, s.d.readTx)
	if err != nil {
		return VerifyResult{}, s.errorf("verify", err)
	}
	defer tx.Rollback() // read-only: nothing to keep
	head, err := readHead(ctx, tx, "")
	if err != nil {
		return VerifyResult{}, s.errorf("verify", err)
	}
	v := newVerifier(head)
	after := head.AnchorID
	// Prune deletes every row up to the anchor in the transaction that moves
	// it, so a row there was put in by hand: the chain cannot vouch for it,
	// yet Query (the admin pages, exports) would show it.
	var stray sql.NullInt64
	if err := tx.QueryRowContext(ctx, "SELECT MIN(id) FROM audit_events WHERE id <= $1", head.AnchorID).Scan(&stray); err != nil {
		return VerifyResult{}, s.errorf("verify", err)
	}
	if stray.Valid {
		v.fail(stray.Int64, "record %d is at or below the prune anchor %d, outside the chain", stray.Int64, head.AnchorID)
		return v.res, nil
	}
	for {
		rows, err := tx.QueryContext(ctx, "SELECT "+eventColumns+" FROM audit_events WHERE id > $1 ORDER BY id LIMIT $2",
			after, verifyChunk)
		if err != nil {
			return VerifyResult{}, s.errorf("verify", err)
		}
		n, ok := 0, true
		for ok && rows.Next() {
			r, err := scanRecord(rows)
			if err != nil {
				rows.Close()
				return VerifyResult{}, s.errorf("verify", err)
			}
			n++
			after = r.ID
			ok = v.check(&r)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return VerifyResult{}, s.errorf("verify", err)
		}
		if !ok {
			return v.res, nil
		}
		if n < verifyChunk {
			return v.finish(), nil
		}
	}
}

// Prune implements Store.
func (s *sqlDB) Prune(ctx context.Context, before time.Time) (int64, error) {
	var deleted int64
	err := s.withWriteTx(ctx, func(tx *sql.Tx, head *chainHead) error {
		// The newest record that may go is the one before the first record
		// that is not old enough, so only a prefix is ever deleted.
		var firstKept sql.NullInt64
		err := tx.QueryRowContext(ctx, "SELECT MIN(id) FROM audit_events WHERE event_time >= $1",
			s.d.timeArg(before.UTC().Truncate(time.Microsecond))).Scan(&firstKept)
		if err != nil {
			return fmt.Errorf("find prune point: %w", err)
		}
		upTo := head.LastID
		if firstKept.Valid {
			upTo = firstKept.Int64 - 1
		}
		if upTo <= head.AnchorID {
			return nil
		}
		var anchorHash string
		err = tx.QueryRowContext(ctx, "SELECT hash FROM audit_events WHERE id = $1", upTo).Scan(&anchorHash)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("prune: record %d is missing; run verify", upTo)
		}
		if err != nil {
			return fmt.Errorf("read prune anchor: %w", err)
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM audit_events WHERE id <= $1", upTo)
		if err != nil {
			return fmt.Errorf("delete: %w", err)
		}
		if deleted, err = res.RowsAffected(); err != nil {
			return fmt.Errorf("delete: %w", err)
		}
		_, err = tx.ExecContext(ctx, "UPDATE audit_chain SET anchor_id = $1, anchor_hash = $2 WHERE id = 1", upTo, anchorHash)
		if err != nil {
			return fmt.Errorf("move prune anchor: %w", err)
		}
		head.AnchorID, head.AnchorHash = upTo, anchorHash
		ev := normalize(Event{
			Action:  ActionAuditPrune,
			Outcome: OutcomeSuccess,
			Actor:   Actor{Method: MethodSystem},
			Details: map[string]string{
				"before":    before.UTC().Format(time.RFC3339Nano),
				"deleted":   strconv.FormatInt(deleted, 10),
				"anchor_id": strconv.FormatInt(upTo, 10),
			},
		}, s.now())
		return s.appendTx(ctx, tx, head, []Event{ev})
	})
	if err != nil {
		return 0, s.errorf("prune", err)
	}
	return deleted, nil
}

// Close implements Store.
func (s *sqlDB) Close() error {
	if err := s.db.Close(); err != nil {
		return s.errorf("close", err)
	}
	return nil
}
