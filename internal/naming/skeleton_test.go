package naming

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSkeleton(t *testing.T) {
	t.Parallel()
	alike := []struct{ name, a, b string }{
		{"case", "Alice@Example.com", "alice@example.com"},
		{"cyrillic a", "\u0430lice@example.com", "alice@example.com"},
		{"greek omicron", "b\u03bfb@example.com", "bob@example.com"},
		{"capital I for l", "mIflow-descope-auth-admin", "mlflow-descope-auth-admin"},
		{"digit one for l", "m1flow-descope-auth-admin", "mlflow-descope-auth-admin"},
		{"digit zero for o", "b0b", "bob"},
		{"full-width letters", "\uff41\uff44\uff4d\uff49\uff4e", "admin"},
		{"zero-width space", "ad\u200bmin", "admin"},
		{"bidi override", "ad\u202emin", "admin"},
		{"combining mark", "a\u0301dmin", "admin"},
		{"precomposed accent", "ádmin", "admin"},
		{"rn for m", "adrnin", "admin"},
		{"en dash", "access\u2013key-1", "access-key-1"},
		{"full-width at", "alice\uff20example.com", "alice@example.com"},
		{"mathematical bold", "\U0001d41a\U0001d41d\U0001d426\U0001d422\U0001d427", "admin"},
		{"soft hyphen", "ad\u00admin", "admin"},
	}
	for _, c := range alike {
		t.Run(c.name, func(t *testing.T) {
			if got, want := Skeleton(c.a), Skeleton(c.b); got != want {
				t.Errorf("Skeleton(%q) = %q, Skeleton(%q) = %q; want equal", c.a, got, c.b, want)
			}
		})
	}
	different := [][2]string{
		{"alice@example.com", "alice@example.org"},
		{"bob", "rob"},
		{"alice@example.com", "alice@example.com~2"},
		{"U2abc", "U2abd"},
	}
	for _, d := range different {
		if Skeleton(d[0]) == Skeleton(d[1]) {
			t.Errorf("Skeleton(%q) == Skeleton(%q) = %q; want different", d[0], d[1], Skeleton(d[0]))
		}
	}
}

func TestReserved(t *testing.T) {
	t.Parallel()
	r := Reserved{Names: []string{"mlflow-descope-auth-admin"}, Prefixes: []string{"access-key-"}}
	for _, c := range []struct {
		name string
		want bool
	}{
		{"mlflow-descope-auth-admin", true},
		{"MLflow-Descope-Auth-Admin", true},
		{"mlflow-descope-auth-\u0430dmin", true}, // Cyrillic а
		{"mlflow-descope-auth-adm\u0131n", true}, // dotless ı
		{"access-key-K2abc", true},
		{"ACCESS-KEY-K2abc", true},
		{"\u0430ccess-key-K2abc", true},
		{"access\u2010key-K2", true}, // hyphen look-alike
		{"access-key-", true},
		{"alice@example.com", false},
		{"access-keys@example.com", false},
		{"my-access-key-1", false},
		{"mlflow-descope-auth-admin2", false},
	} {
		if _, got := r.Reserves(c.name); got != c.want {
			t.Errorf("Reserves(%q) = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestUnusable(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		bad  bool
	}{
		{"alice@example.com", false},
		{"+15551234567", false},
		{"José Müller", false},
		{"李雷@example.cn", false},
		{"", true},
		{" alice", true},
		{"alice\n", true},
		{"ali\x00ce", true},
		{"alice\u202eecila", true},
		{"ali\u200dce", true},
		{"alice~2", true},
		{strings.Repeat("a", maxLen), false},
		{strings.Repeat("a", maxLen+1), true},
		{"\xff\xfe", true},
	} {
		if got := unusable(c.name) != ""; got != c.bad {
			t.Errorf("unusable(%q) = %q, want bad=%v", c.name, unusable(c.name), c.bad)
		}
	}
}

// FuzzBase: whatever a login ID or email holds (it is chosen by users and
// identity providers), the name the store would use is usable, reserved by
// nothing, and Skeleton is stable on it.
func FuzzBase(f *testing.F) {
	for _, s := range []string{"alice@example.com", "mlflow-descope-auth-\u0430dmin", "access-key-1", "a~2", "\u202e", "", " x "} {
		f.Add(s, s)
	}
	s := &Store{opts: Options{Mode: ModeLoginID, Reserved: Reserved{Names: []string{"mlflow-descope-auth-admin"}, Prefixes: []string{"access-key-"}}}}
	f.Fuzz(func(t *testing.T, loginID, email string) {
		for _, mode := range []Mode{ModeLoginID, ModeEmail} {
			s.opts.Mode = mode
			name, source, _ := s.base("U2fuzz", Profile{LoginID: loginID, Email: email})
			if name == "U2fuzz" {
				continue
			}
			if bad := unusable(name); bad != "" {
				t.Fatalf("mode %s: base(%q, %q) = %q (%s), unusable: %s", mode, loginID, email, name, source, bad)
			}
			if res, ok := s.opts.Reserved.Reserves(name); ok {
				t.Fatalf("mode %s: base(%q, %q) = %q, reserved by %q", mode, loginID, email, name, res)
			}
		}
		if utf8.ValidString(loginID) {
			if k := Skeleton(loginID); Skeleton(k) != k {
				t.Fatalf("Skeleton not stable on %q: %q then %q", loginID, k, Skeleton(k))
			}
		}
	})
}
