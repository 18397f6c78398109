package session

import "testing"

func TestValidRedirect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		next string
		want bool
	}{
		{"/", true},
		{"/#/experiments/1", true},
		{"/ajax-api/2.0/mlflow/experiments/search?x=1", true},
		{"/mlflow/#/models?tab=all", true},
		{"/a%20b", true},
		{"", false},
		{"//evil.example", false},
		{"/\\evil.example", false},
		{"\\\\evil.example", false},
		{"https://evil.example", false},
		{"http:/evil.example", false},
		{"javascript:alert(1)", false},
		{"/%2F%2Fevil.example", false},
		{"/%2f%2fevil.example", false},
		{"/%252F%252Fevil.example", false},
		{"/%5Cevil.example", false},
		{"/%5cevil.example", false},
		{"/foo\\bar", false},
		{"/\tevil", false},
		{"/\r\nSet-Cookie:x=y", false},
		{"/%0d%0aSet-Cookie:x=y", false},
		{"/\x00", false},
		{"/%00", false},
		{"/\u2028x", false},
		{"/%zz", false},
		{"evil.example", false},
		{"./relative", false},
	}
	for _, tt := range tests {
		t.Run(tt.next, func(t *testing.T) {
			t.Parallel()
			if got := ValidRedirect(tt.next); got != tt.want {
				t.Errorf("ValidRedirect(%q) = %v, want %v", tt.next, got, tt.want)
			}
		})
	}
	if got := SafeRedirect("//evil", "/home"); got != "/home" {
		t.Errorf("SafeRedirect fallback = %q", got)
	}
}

func FuzzValidRedirect(f *testing.F) {
	for _, s := range []string{"/", "//x", "/\\x", "/%2F%2Fx", "/#/a", "https://x", "/%0a", "/a?b=//c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		if !ValidRedirect(next) {
			return
		}
		// Whatever passes must stay a same-origin path however a browser
		// reads it: a single leading slash, no backslash, no scheme.
		if len(next) > 1 && (next[1] == '/' || next[1] == '\\') {
			t.Fatalf("accepted protocol-relative %q", next)
		}
		for _, r := range next {
			if r == '\\' || r < 0x20 || r == 0x7f {
				t.Fatalf("accepted %q with %q", next, r)
			}
		}
	})
}
