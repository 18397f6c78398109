package selfservice

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// newSecretCode returns 256 random bits, base64url without padding: a
// loopback code or a device code. Only its hash is stored.
func newSecretCode() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// hashCode is how a code is stored and looked up.
func hashCode(code string) string {
	sum := sha256.Sum256([]byte(code))
	return hex.EncodeToString(sum[:])
}

// userCodeAlphabet has no vowels (no words) and no look-alikes (0/O, 1/I):
// 20^8 ≈ 2.6·10^10 codes, typed in by people, as RFC 8628 §6.1 suggests.
const userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"

// newUserCode returns a code like "WDJB-MJHT".
func newUserCode() string {
	var b [8]byte
	out := make([]byte, 0, 9)
	for i := range b {
		// Rejection sampling keeps every letter equally likely.
		for {
			_, _ = rand.Read(b[i : i+1])
			if int(b[i]) < 256-256%len(userCodeAlphabet) {
				break
			}
		}
		if i == 4 {
			out = append(out, '-')
		}
		out = append(out, userCodeAlphabet[int(b[i])%len(userCodeAlphabet)])
	}
	return string(out)
}

// normalizeUserCode accepts what people type ("wdjb mjht", "WDJB-MJHT") and
// returns the canonical "WDJB-MJHT", or false if it cannot be a user code.
func normalizeUserCode(s string) (string, bool) {
	if len(s) > 32 {
		return "", false
	}
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch {
		case r == '-' || r == ' ':
			continue
		case r < utf8.RuneSelf && strings.IndexByte(userCodeAlphabet, byte(r)) >= 0:
			b.WriteRune(r)
		default:
			return "", false
		}
	}
	c := b.String()
	if len(c) != 8 {
		return "", false
	}
	return c[:4] + "-" + c[4:], true
}

// validChallenge: an S256 code challenge is the base64url (no padding)
// SHA-256 of the verifier, 43 characters (RFC 7636 §4.2).
func validChallenge(c string) bool {
	if len(c) != 43 {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	return err == nil && len(b) == sha256.Size
}

// verifierMatches checks a PKCE verifier against its S256 challenge. A
// verifier is 43 to 128 characters of [A-Za-z0-9-._~] (RFC 7636 §4.1).
func verifierMatches(verifier, challenge string) bool {
	if len(verifier) < 43 || len(verifier) > 128 {
		return false
	}
	for i := 0; i < len(verifier); i++ {
		c := verifier[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	sum := sha256.Sum256([]byte(verifier))
	want := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(want), []byte(challenge)) == 1
}

// errRedirect explains why a redirect URI is refused; the message is shown
// to the user (never with a link to the URI).
var errRedirect = errors.New("the sign-in must return to http://127.0.0.1:<port>/… or http://[::1]:<port>/… on this computer")

// loopbackRedirect validates the CLI's redirect URI (RFC 8252 §7.3): plain
// http to the IPv4 or IPv6 loopback literal, an explicit port, a path, no
// user info, no fragment. "localhost" is refused (§8.3: it may resolve
// elsewhere), and so is every other host, however it is spelled. It returns
// the URI in canonical form and its origin (for the page's CSP).
func loopbackRedirect(raw string) (uri, origin string, err error) {
	if raw == "" || len(raw) > 512 || strings.ContainsAny(raw, "\\\x00\r\n\t ") {
		return "", "", errRedirect
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.User != nil || u.Opaque != "" || u.Fragment != "" || u.RawFragment != "" {
		return "", "", errRedirect
	}
	host, port := u.Hostname(), u.Port()
	switch {
	case host == "127.0.0.1" && u.Host == "127.0.0.1:"+port:
	case host == "::1" && u.Host == "[::1]:"+port:
	default:
		return "", "", errRedirect
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 || port != strconv.Itoa(n) {
		return "", "", errRedirect
	}
	if u.Path == "" || u.Path[0] != '/' || u.RawQuery != "" {
		// The code and state are added as the query; a query of the CLI's
		// own could smuggle a second "code".
		return "", "", errRedirect
	}
	origin = "http://" + u.Host
	return origin + u.EscapedPath(), origin, nil
}

// validState: the client's opaque state is echoed back; keep it short and
// free of anything that needs escaping beyond the query.
func validState(s string) bool {
	if len(s) < 8 || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// clientName turns what a client says its machine is called into
// something safe to show and to put in a key name: lower case letters,
// digits, '.', '-', at most 40 characters.
func clientName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if b.Len() >= 40 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '-':
			b.WriteRune(r)
		case unicode.IsSpace(r) || r == '_':
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), ".-")
	if out == "" {
		return "unknown"
	}
	return out
}

// keyName validates a key name typed on the page.
func keyName(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" || utf8.RuneCountInString(s) > 64 {
		return "", false
	}
	for _, r := range s {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune(" ._-@:()'/", r)) {
			return "", false
		}
	}
	return s, true
}

// maxPermittedIPs bounds the list a user may give a key.
const maxPermittedIPs = 20

// permittedIPs parses a list of addresses and CIDR ranges separated by
// commas or white space into canonical strings.
func permittedIPs(s string) ([]string, error) {
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
	if len(fields) > maxPermittedIPs {
		return nil, errors.New("at most 20 addresses or ranges")
	}
	var out []string
	for _, f := range fields {
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked().String())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil || a.Zone() != "" {
			return nil, errors.New(strconv.Quote(f) + " is not an IP address or CIDR range")
		}
		out = append(out, a.Unmap().String())
	}
	return out, nil
}
