package selfservice

import (
	"log/slog"
	"net/url"
	"strings"
	"testing"
)

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestUserCodes(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 200 {
		c := newUserCode()
		n, ok := normalizeUserCode(c)
		if !ok || n != c || len(c) != 9 {
			t.Fatalf("newUserCode = %q, normalized %q %v", c, n, ok)
		}
		seen[c] = true
	}
	if len(seen) < 199 {
		t.Errorf("%d distinct codes in 200", len(seen))
	}
	for in, want := range map[string]string{"bcdf-ghjk": "BCDF-GHJK", "BCDF GHJK": "BCDF-GHJK", " bcdfghjk ": "BCDF-GHJK"} {
		if got, ok := normalizeUserCode(in); !ok || got != want {
			t.Errorf("normalize %q = %q %v, want %q", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", "BCDF-GHJ", "BCDF-GHJKL", "ABCD-EFGH", "BCDF-GHJ0", "BCDF_GHJK", "ＢCDF-GHJK"} {
		if got, ok := normalizeUserCode(bad); ok {
			t.Errorf("normalize %q = %q, want refused", bad, got)
		}
	}
}

func TestPKCE(t *testing.T) {
	t.Parallel()
	// RFC 7636 appendix B.
	const verifier, challenge = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	if !validChallenge(challenge) || !verifierMatches(verifier, challenge) {
		t.Fatal("the RFC's example does not verify")
	}
	for name, v := range map[string]string{
		"other":     strings.Replace(verifier, "d", "e", 1),
		"short":     verifier[:42],
		"too long":  strings.Repeat("a", 129),
		"bad chars": verifier[:42] + "+",
		"empty":     "",
	} {
		if verifierMatches(v, challenge) {
			t.Errorf("%s verifier accepted", name)
		}
	}
	for _, c := range []string{"", "abc", challenge + "A", strings.Replace(challenge, "-", "+", 1)} {
		if validChallenge(c) {
			t.Errorf("challenge %q accepted", c)
		}
	}
}

func TestClientNameAndKeyName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Alice's MacBook Pro":   "alices-macbook-pro",
		"gpu_box.internal":      "gpu-box.internal",
		"":                      "unknown",
		"../../etc":             "etc",
		"<script>":              "script",
		strings.Repeat("a", 60): strings.Repeat("a", 40),
	} {
		if got := clientName(in); got != want {
			t.Errorf("clientName(%q) = %q, want %q", in, got, want)
		}
	}
	for _, ok := range []string{"laptop", "CI (nightly)", "bob's notebook", "x/y"} {
		if _, valid := keyName(ok); !valid {
			t.Errorf("keyName(%q) refused", ok)
		}
	}
	for _, bad := range []string{"", "   ", "<b>", "a\nb", strings.Repeat("a", 65), "a\"b"} {
		if _, valid := keyName(bad); valid {
			t.Errorf("keyName(%q) accepted", bad)
		}
	}
}

func TestPermittedIPs(t *testing.T) {
	t.Parallel()
	got, err := permittedIPs(" 10.1.2.3/8, 192.0.2.7\n::ffff:192.0.2.8 2001:db8::/32 ")
	if err != nil || strings.Join(got, ",") != "10.0.0.0/8,192.0.2.7,192.0.2.8,2001:db8::/32" {
		t.Errorf("permittedIPs = %v %v", got, err)
	}
	if got, err := permittedIPs(""); err != nil || len(got) != 0 {
		t.Errorf("empty: %v %v", got, err)
	}
	for _, bad := range []string{"example.com", "10.0.0.0/33", "fe80::1%eth0", strings.Repeat("10.0.0.1,", 21)} {
		if _, err := permittedIPs(bad); err == nil {
			t.Errorf("permittedIPs(%q) accepted", bad)
		}
	}
}

// FuzzLoopbackRedirect: whatever a client puts in redirect_uri, an accepted
// one is plain http to 127.0.0.1 or [::1] with a port and a path, and the
// canonical form parses back to the same place.
func FuzzLoopbackRedirect(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1:8400/callback", "http://[::1]:1/", "http://localhost:80/x",
		"http://127.0.0.1:80@evil/", "http://127.0.0.1%2f@evil:80/", "http://127.0.0.1:80/%2e%2e/", "http://[::1%25eth0]:80/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		uri, origin, err := loopbackRedirect(raw)
		if err != nil {
			return
		}
		u, perr := url.Parse(uri)
		if perr != nil {
			t.Fatalf("accepted %q, canonical %q does not parse: %v", raw, uri, perr)
		}
		if u.Scheme != "http" || (u.Hostname() != "127.0.0.1" && u.Hostname() != "::1") || u.Port() == "" ||
			u.User != nil || u.RawQuery != "" || u.Fragment != "" || !strings.HasPrefix(u.Path, "/") {
			t.Fatalf("accepted %q as %q", raw, uri)
		}
		if origin != "http://"+u.Host || !strings.HasPrefix(uri, origin+"/") {
			t.Fatalf("origin %q for %q", origin, uri)
		}
		if again, _, err := loopbackRedirect(uri); err != nil || again != uri {
			t.Fatalf("canonical %q is not stable: %q %v", uri, again, err)
		}
	})
}

// FuzzUserCode: normalizing what people type never accepts something that
// is not eight letters of the alphabet.
func FuzzUserCode(f *testing.F) {
	for _, s := range []string{"BCDF-GHJK", "bcdf ghjk", "", "ABCD-EFGH", "ＢCDF-GHJK"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c, ok := normalizeUserCode(raw)
		if !ok {
			return
		}
		if len(c) != 9 || c[4] != '-' || strings.Trim(c[:4]+c[5:], userCodeAlphabet) != "" {
			t.Fatalf("normalize %q = %q", raw, c)
		}
		if again, ok := normalizeUserCode(c); !ok || again != c {
			t.Fatalf("not stable: %q → %q", c, again)
		}
	})
}
