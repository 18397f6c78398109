// Package naming decides which MLflow username each Descope user has, and
// keeps it. Identity is the Descope user ID; what people see in MLflow (the
// account menu, permission dialogs, the users list, audit exports) is a
// readable name — the login ID, the email, or the user ID, as
// MLFLOW_DESCOPE_USERNAME says. The name is decided once, at the user's
// first sign-in, stored in the gateway's database (shared by replicas) and
// never changes afterwards, whatever happens to the login ID:
//
//   - a login ID that later belongs to another Descope user (a reassigned
//     email) gives the newcomer a distinct name ("alice@example.com~2"),
//     never the old user's name and grants;
//   - a name that equals or imitates one the gateway reserves (its own
//     MLflow admin account, "access-key-…"), by case or by Unicode
//     look-alikes, is never used: the user ID is;
//   - a name that imitates another user's name gets a suffix too, so two
//     people never look alike in MLflow;
//   - a person whose login ID changes keeps their name (and so their
//     history and grants); the store remembers the current login ID for the
//     admin page.
//
// Deployments upgraded from releases that used the user ID as the MLflow
// username keep those names: Seed records every existing MLflow user as its
// own mapping, and a user without a mapping whose user ID is an MLflow user
// is given that name (Assign).
package naming

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Mode is MLFLOW_DESCOPE_USERNAME: what a new user's MLflow username is
// made of.
type Mode string

// Modes.
const (
	ModeLoginID Mode = "loginId" // the primary login ID (default)
	ModeEmail   Mode = "email"   // the email, else the login ID
	ModeUserID  Mode = "userId"  // the Descope user ID (the behaviour of earlier releases)
)

// ParseMode reads MLFLOW_DESCOPE_USERNAME (case-insensitive).
func ParseMode(s string) (Mode, error) {
	for _, m := range []Mode{ModeLoginID, ModeEmail, ModeUserID} {
		if strings.EqualFold(s, string(m)) {
			return m, nil
		}
	}
	return "", fmt.Errorf("%q is not loginId, email or userId", s)
}

// Profile is what is known of a person's readable identity: the primary
// login ID and the email, from Descope (/v1/auth/me at sign-in, the
// management API) or from the session token's custom claims.
type Profile struct {
	LoginID string
	Email   string
}

// Sources: how a mapping's username was decided.
const (
	SourceLoginID  = "loginId"
	SourceEmail    = "email"
	SourceUserID   = "userId"
	SourceSeeded   = "seeded"           // an MLflow user that existed when the mapping store was first used
	SourceAdopted  = "previous_release" // the user's own user-ID username from a release before this store
	SourceFallback = "userId_fallback"  // the login ID or email could not be used
)

// Errors.
var (
	// ErrNoProfile: the user has no mapping yet and nothing tells the login
	// ID or email it should be made of. Answer 403: the person signs in
	// once in the browser (or the operator configures a management key).
	ErrNoProfile = errors.New("naming: no MLflow username yet, and the user's login ID or email is not known")
	// ErrUnavailable: the database or MLflow did not answer; try again.
	ErrUnavailable = errors.New("naming: the username store is unavailable")
)

// maxLen bounds a username in characters: MLflow keeps 255, and a suffix
// may be added.
const maxLen = 200

// Reserved are the names no Descope user may have.
type Reserved struct {
	// Names are reserved exactly (and everything that looks like them):
	// the gateway's own MLflow admin account.
	Names []string
	// Prefixes reserve every name starting with them: "access-key-", the
	// MLflow users of access keys.
	Prefixes []string
}

// Reserves reports whether name equals or imitates a reserved name, and
// which.
func (r Reserved) Reserves(name string) (string, bool) {
	sk := Skeleton(name)
	for _, n := range r.Names {
		if sk == Skeleton(n) {
			return n, true
		}
	}
	for _, p := range r.Prefixes {
		if strings.HasPrefix(sk, Skeleton(p)) {
			return p + "*", true
		}
	}
	return "", false
}

// unusable says why name cannot be an MLflow username, or "" if it can:
// empty, too long, or with characters that do not show or show
// misleadingly (controls, bidirectional overrides, zero-width characters,
// spaces at either end, "~" which separates the suffix).
func unusable(name string) string {
	switch {
	case name == "":
		return "empty"
	case !utf8.ValidString(name):
		return "not valid UTF-8"
	case utf8.RuneCountInString(name) > maxLen:
		return fmt.Sprintf("longer than %d characters", maxLen)
	case strings.TrimSpace(name) != name:
		return "spaces at either end"
	case strings.Contains(name, "~"):
		return `contains "~", which marks a suffixed name`
	}
	for _, r := range name {
		if unicode.IsControl(r) || invisible(r) || unicode.Is(unicode.Zl, r) || unicode.Is(unicode.Zp, r) {
			return fmt.Sprintf("contains the invisible or control character %U", r)
		}
	}
	return ""
}

// suffixed is the n-th variant of base: base itself, then base~2, base~3…
func suffixed(base string, n int) string {
	if n <= 1 {
		return base
	}
	return fmt.Sprintf("%s~%d", base, n)
}
