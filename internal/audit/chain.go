package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
)

// genesisHash is the "previous hash" of the first record ever written: 32
// zero bytes, hex encoded.
const genesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// canonicalVersion tags the canonical encoding so that it can evolve without
// invalidating existing chains.
const canonicalVersion = "v1"

// canonical returns the byte string that is hashed for e: a compact JSON
// array of every stored field in a fixed order (maps have sorted keys, absent
// maps are {}):
//
//	["v1", id, time_unix_micro, action, outcome, reason, user_id, username,
//	 login_id, method, client_ip, request_id, route, rpc, resources, status,
//	 mlflow_denied, latency_ns, details]
//
// e must already be normalized. docs/audit.md documents this for external
// verifiers; changing it needs a new canonicalVersion.
func canonical(e *Event) ([]byte, error) {
	res := e.Resources
	if res == nil {
		res = Resources{}
	}
	det := e.Details
	if det == nil {
		det = map[string]string{}
	}
	b, err := json.Marshal([]any{
		canonicalVersion, e.ID, e.Time.UnixMicro(),
		string(e.Action), string(e.Outcome), e.Reason,
		e.Actor.UserID, e.Actor.Username, e.Actor.LoginID, string(e.Actor.Method),
		e.ClientIP, e.RequestID, e.Route, e.RPC,
		res, e.Status, e.MLflowDenied, int64(e.Latency), det,
	})
	if err != nil {
		return nil, fmt.Errorf("audit: canonical encoding: %w", err)
	}
	return b, nil
}

// chainHash returns hex(SHA-256(prev || canonical(e))) where prev is the raw
// 32 bytes of the previous record's hash.
func chainHash(prevHex string, e *Event) (string, error) {
	prev, err := hex.DecodeString(prevHex)
	if err != nil || len(prev) != sha256.Size {
		return "", fmt.Errorf("audit: malformed previous hash %q", prevHex)
	}
	c, err := canonical(e)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write(prev)
	h.Write(c)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// chainHead is the single row that names the end of the chain and the anchor
// left by pruning. Appends lock it; Verify compares against it.
type chainHead struct {
	LastID     int64
	LastHash   string
	AnchorID   int64  // id of the last pruned record, 0 if none
	AnchorHash string // its hash, genesisHash if none
}

// storedRecord is an event as read back for verification, with the
// previous-record hash that was stored next to it.
type storedRecord struct {
	Event
	PrevHash string
}

// verifier walks records in id order and stops at the first problem.
type verifier struct {
	head     chainHead
	prevID   int64
	prevHash string
	// pruneAnchor is the anchor_id named by the last audit_prune record
	// seen. Every Prune that moves the anchor appends one, so the newest
	// must name the current anchor; otherwise records were deleted from the
	// start of the log and the anchor forged.
	pruneAnchor string
	res         VerifyResult
}

func newVerifier(head chainHead) *verifier {
	return &verifier{
		head:     head,
		prevID:   head.AnchorID,
		prevHash: head.AnchorHash,
		res:      VerifyResult{AnchorID: head.AnchorID, HeadID: head.LastID, HeadHash: head.LastHash},
	}
}

// fail records the first problem.
func (v *verifier) fail(id int64, format string, args ...any) {
	v.res.FirstBadID = id
	v.res.Problem = fmt.Sprintf(format, args...)
}

// check verifies the next record; it returns false once a problem is found.
func (v *verifier) check(r *storedRecord) bool {
	want := v.prevID + 1
	if r.ID != want {
		if r.ID < want {
			v.fail(r.ID, "record %d is out of order", r.ID)
		} else {
			v.fail(want, "record %d is missing (the next record is %d)", want, r.ID)
		}
		return false
	}
	if r.ID > v.head.LastID {
		v.fail(r.ID, "record %d is beyond the chain head %d: it was not written by Append", r.ID, v.head.LastID)
		return false
	}
	computed, err := chainHash(v.prevHash, &r.Event)
	if err != nil {
		v.fail(r.ID, "record %d: %v", r.ID, err)
		return false
	}
	if r.PrevHash != v.prevHash {
		// If the record is consistent with the previous hash stored next to
		// it, the record itself is intact: its predecessor was rewritten
		// (content changed and its hash recomputed) or replaced.
		if self, err := chainHash(r.PrevHash, &r.Event); err == nil && self == r.Hash && v.prevID > v.head.AnchorID {
			v.fail(v.prevID, "record %d was modified and its hash recomputed: record %d chains to a different hash", v.prevID, r.ID)
		} else if v.prevID == v.head.AnchorID && v.prevID > 0 {
			v.fail(r.ID, "record %d does not chain to the prune anchor (record %d)", r.ID, v.prevID)
		} else if v.prevID == 0 {
			v.fail(r.ID, "record %d does not chain to the start of the log", r.ID)
		} else {
			v.fail(r.ID, "record %d does not chain to record %d", r.ID, v.prevID)
		}
		return false
	}
	if computed != r.Hash {
		v.fail(r.ID, "record %d does not match its hash: it was modified", r.ID)
		return false
	}
	if r.Action == ActionAuditPrune {
		v.pruneAnchor = r.Details["anchor_id"]
	}
	v.prevID, v.prevHash = r.ID, r.Hash
	v.res.Checked++
	return true
}

// finish compares the last record checked with the chain head. It must only
// be called when every check returned true.
func (v *verifier) finish() VerifyResult {
	switch {
	case v.prevID < v.head.LastID:
		v.fail(v.prevID+1, "records %d to %d are missing (the chain head is %d)", v.prevID+1, v.head.LastID, v.head.LastID)
	case v.prevHash != v.head.LastHash:
		if v.prevID == v.head.AnchorID {
			v.fail(v.prevID, "the prune anchor does not match the chain head")
		} else {
			v.fail(v.prevID, "record %d was modified and its hash recomputed: it does not match the chain head", v.prevID)
		}
	case v.head.AnchorID > 0 && v.pruneAnchor != strconv.FormatInt(v.head.AnchorID, 10):
		v.fail(v.head.AnchorID, "the prune anchor (record %d) is not recorded by an audit_prune record: "+
			"records were deleted from the start of the log", v.head.AnchorID)
	}
	return v.res
}
