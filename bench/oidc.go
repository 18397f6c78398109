package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// oidcUser is a person the stand-in provider signs in.
type oidcUser struct {
	Sub, Email, Name string
	Groups           []string
}

// oidcProvider is a minimal OpenID Connect provider for the peers that need
// one (mlflow-oidc-auth, oauth2-proxy): discovery, JWKS, an authorization
// endpoint that signs the current user in at once (no page), the token
// endpoint (authorization code with PKCE, refresh token) and userinfo. It
// exists only in the harness: the product talks to Descope.
type oidcProvider struct {
	srv      *http.Server
	url      string
	key      *rsa.PrivateKey
	clientID string
	secret   string

	mu      sync.Mutex
	current oidcUser
	codes   map[string]oidcCode
	refresh map[string]oidcUser
}

type oidcCode struct {
	user      oidcUser
	nonce     string
	redirect  string
	challenge string
	method    string
}

const oidcKeyID = "bench-oidc"

func newOIDCProvider(clientID, secret string, user oidcUser) (*oidcProvider, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &oidcProvider{url: "http://" + ln.Addr().String(), key: key, clientID: clientID, secret: secret,
		current: user, codes: map[string]oidcCode{}, refresh: map[string]oidcUser{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /jwks", p.jwks)
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("POST /token", p.token)
	mux.HandleFunc("GET /userinfo", p.userinfo)
	p.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

func (p *oidcProvider) Close() { _ = p.srv.Close() }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (p *oidcProvider) discovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                p.url,
		"authorization_endpoint":                p.url + "/authorize",
		"token_endpoint":                        p.url + "/token",
		"userinfo_endpoint":                     p.url + "/userinfo",
		"jwks_uri":                              p.url + "/jwks",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"scopes_supported":                      []string{"openid", "email", "profile", "groups", "offline_access"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"claims_supported":                      []string{"sub", "email", "email_verified", "name", "preferred_username", "groups"},
		"code_challenge_methods_supported":      []string{"S256", "plain"},
		"grant_types_supported":                 []string{"authorization_code", "refresh_token"},
	})
}

func (p *oidcProvider) jwks(w http.ResponseWriter, _ *http.Request) {
	pub := p.key.PublicKey
	writeJSON(w, http.StatusOK, map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": oidcKeyID,
		"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}}})
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// authorize signs the current user in at once and sends the browser back
// with a code.
func (p *oidcProvider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || q.Get("client_id") != p.clientID || q.Get("response_type") != "code" || redirect.Scheme == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	code := randomToken()
	p.mu.Lock()
	p.codes[code] = oidcCode{user: p.current, nonce: q.Get("nonce"), redirect: q.Get("redirect_uri"),
		challenge: q.Get("code_challenge"), method: q.Get("code_challenge_method")}
	p.mu.Unlock()
	back := redirect.Query()
	back.Set("code", code)
	if s := q.Get("state"); s != "" {
		back.Set("state", s)
	}
	redirect.RawQuery = back.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

func (p *oidcProvider) clientOK(r *http.Request) bool {
	id, secret, ok := r.BasicAuth()
	if ok {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	return id == p.clientID && subtle.ConstantTimeCompare([]byte(secret), []byte(p.secret)) == 1
}

func (p *oidcProvider) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || !p.clientOK(r) {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	var user oidcUser
	var nonce string
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		p.mu.Lock()
		c, ok := p.codes[r.PostForm.Get("code")]
		delete(p.codes, r.PostForm.Get("code"))
		p.mu.Unlock()
		if !ok || c.redirect != r.PostForm.Get("redirect_uri") || !pkceOK(c, r.PostForm.Get("code_verifier")) {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
			return
		}
		user, nonce = c.user, c.nonce
	case "refresh_token":
		p.mu.Lock()
		u, ok := p.refresh[r.PostForm.Get("refresh_token")]
		p.mu.Unlock()
		if !ok {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
			return
		}
		user = u
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	access, err := p.mint(user, p.clientID, "", time.Hour)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "server_error"})
		return
	}
	id, err := p.mint(user, p.clientID, nonce, time.Hour)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "server_error"})
		return
	}
	rt := randomToken()
	p.mu.Lock()
	p.refresh[rt] = user
	p.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"access_token": access, "id_token": id, "token_type": "Bearer",
		"expires_in": 3600, "refresh_token": rt, "scope": "openid email profile"})
}

func pkceOK(c oidcCode, verifier string) bool {
	switch {
	case c.challenge == "":
		return true
	case c.method == "S256":
		sum := sha256.Sum256([]byte(verifier))
		return base64.RawURLEncoding.EncodeToString(sum[:]) == c.challenge
	default:
		return verifier == c.challenge
	}
}

func (p *oidcProvider) userinfo(w http.ResponseWriter, r *http.Request) {
	raw, ok := bearer(r)
	var claims jwt.MapClaims
	if ok {
		_, err := jwt.ParseWithClaims(raw, &claims, func(*jwt.Token) (any, error) { return &p.key.PublicKey, nil },
			jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer(p.url))
		ok = err == nil
	}
	if !ok {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token"})
		return
	}
	out := map[string]any{}
	for _, k := range []string{"sub", "email", "email_verified", "name", "preferred_username", "groups"} {
		if v, ok := claims[k]; ok {
			out[k] = v
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && (h[:7] == "Bearer " || h[:7] == "bearer ") {
		return h[7:], true
	}
	return "", false
}

// mint signs a JWT for u with audience aud (an ID token when nonce is set,
// else an access token).
func (p *oidcProvider) mint(u oidcUser, aud, nonce string, ttl time.Duration) (string, error) {
	now := time.Now()
	claims := jwt.MapClaims{
		"iss": p.url, "sub": u.Sub, "aud": aud, "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(ttl).Unix(),
		"email": u.Email, "email_verified": true, "name": u.Name, "preferred_username": u.Email, "groups": u.Groups,
		"azp": p.clientID,
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["kid"] = oidcKeyID
	return t.SignedString(p.key)
}
