package descopesim

import (
	"net/http"
	"testing"
)

func cookieValue(resp *http.Response, name string) string {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// TestTokenDelivery: each mode moves exactly the tokens it names from the
// body into HttpOnly cookies, for sign-in, refresh and tenant selection; the
// cookie names (and the tokens' drn) follow the settings.
func TestTokenDelivery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                 string
		d                    TokenDelivery
		sessionInBody        bool
		refreshInBody        bool
		sessName, refName    string
		wantDomain, loginID  string
		wantSessDRN, wantDRN string
	}{
		{name: "body", d: TokenDelivery{}, sessionInBody: true, refreshInBody: true, sessName: "DS", refName: "DSR", wantSessDRN: "DS", wantDRN: "DSR"},
		{name: "refresh cookie", d: TokenDelivery{Mode: DeliveryRefreshCookie, CookieDomain: ".example.com"}, sessionInBody: true, sessName: "DS", refName: "DSR", wantDomain: "example.com", wantSessDRN: "DS", wantDRN: "DSR"},
		{name: "cookies", d: TokenDelivery{Mode: DeliveryCookies}, sessName: "DS", refName: "DSR", wantSessDRN: "DS", wantDRN: "DSR"},
		{name: "renamed", d: TokenDelivery{Mode: DeliveryCookies, SessionCookieName: "S1", RefreshCookieName: "R1"}, sessName: "S1", refName: "R1", wantSessDRN: "S1", wantDRN: "R1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSim(t, Options{AutoSignUp: true, Delivery: tt.d})
			var out jwtResponse
			resp := call(t, s, http.MethodPost, "/sim/flow/sign-in", "", `{"loginId":"d@example.com"}`, &out)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("sign-in: %d", resp.StatusCode)
			}
			sess, ref := out.SessionJwt, out.RefreshJwt
			if (sess != "") != tt.sessionInBody || (ref != "") != tt.refreshInBody {
				t.Fatalf("in body: session %v refresh %v; want %v %v", sess != "", ref != "", tt.sessionInBody, tt.refreshInBody)
			}
			if sess == "" {
				sess = cookieValue(resp, tt.sessName)
			}
			if ref == "" {
				ref = cookieValue(resp, tt.refName)
			}
			if sess == "" || ref == "" {
				t.Fatalf("tokens missing from body and cookies %v", resp.Cookies())
			}
			for _, c := range resp.Cookies() {
				if !c.HttpOnly || c.Domain != tt.wantDomain {
					t.Errorf("cookie %s: HttpOnly %v domain %q; want HttpOnly, %q", c.Name, c.HttpOnly, c.Domain, tt.wantDomain)
				}
			}
			if c, err := verifyJWKS(t, s, sess); err != nil || c["drn"] != tt.wantSessDRN {
				t.Errorf("session drn %v, %v; want %s", c["drn"], err, tt.wantSessDRN)
			}
			if c, err := verifyJWKS(t, s, ref); err != nil || c["drn"] != tt.wantDRN {
				t.Errorf("refresh drn %v, %v; want %s", c["drn"], err, tt.wantDRN)
			}
			// Refresh answers the same way; the refresh token is set again
			// in cookie modes even without rotation.
			out = jwtResponse{}
			resp = call(t, s, http.MethodPost, "/v1/auth/refresh", s.ProjectID()+":"+ref, "{}", &out)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("refresh: %d", resp.StatusCode)
			}
			gotSess := out.SessionJwt
			if gotSess == "" {
				gotSess = cookieValue(resp, tt.sessName)
			}
			if gotSess == "" || (out.SessionJwt != "") != tt.sessionInBody {
				t.Errorf("refresh: session in body %v, cookies %v", out.SessionJwt != "", resp.Cookies())
			}
			if !tt.refreshInBody && cookieValue(resp, tt.refName) != ref {
				t.Errorf("refresh: refresh cookie %q; want the refresh token again", cookieValue(resp, tt.refName))
			}
		})
	}
}

func TestTokenDeliveryControl(t *testing.T) {
	t.Parallel()
	s := newSim(t, Options{})
	var got TokenDelivery
	if resp := call(t, s, http.MethodPut, "/sim/token-delivery", "", `{"mode":"cookies","sessionCookieName":"A","refreshCookieName":"B"}`, &got); resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT: %d", resp.StatusCode)
	}
	if got.Mode != DeliveryCookies || s.TokenDelivery().RefreshCookieName != "B" {
		t.Errorf("delivery = %+v", s.TokenDelivery())
	}
	for _, bad := range []string{`{"mode":"smoke-signals"}`, `{"sessionCookieName":"X","refreshCookieName":"X"}`, `{"sessionCookieName":"a;b"}`} {
		if resp := call(t, s, http.MethodPut, "/sim/token-delivery", "", bad, nil); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("PUT %s: %d; want 400", bad, resp.StatusCode)
		}
	}
	if resp := call(t, s, http.MethodPut, "/sim/access-key-subject", "", `{"subject":"user"}`, nil); resp.StatusCode != http.StatusOK || s.accessKeySubject() != SubjectBoundUser {
		t.Errorf("access-key-subject: %d %s", resp.StatusCode, s.accessKeySubject())
	}
	if resp := call(t, s, http.MethodPut, "/sim/access-key-subject", "", `{"subject":"nobody"}`, nil); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad access-key-subject: %d; want 400", resp.StatusCode)
	}
}
