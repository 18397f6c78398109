package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// The peers (make bench PEERS=1): other ways of putting sign-in in front of
// MLflow, installed by scripts/bench.sh into bin/peers and bin/tools, never
// product dependencies.
const (
	oidcClientID     = "bench-client"
	oidcClientSecret = "bench-client-secret-0001"
)

var (
	oidcBenchUser = oidcUser{Sub: "bench-user-sub", Email: "bench@example.com", Name: "Bench", Groups: []string{"mlflow"}}
	oidcAdminUser = oidcUser{Sub: "bench-admin-sub", Email: "admin@example.com", Name: "Admin", Groups: []string{"mlflow", "mlflow-admin"}}
)

// peerServer is a running peer: where to send requests and the process
// whose memory and CPU are sampled (the proxy; for mlflow-oidc-auth,
// which runs inside MLflow, none).
type peerServer struct {
	url string
	p   *proc
}

// startOAuth2Proxy runs oauth2-proxy (OIDC provider: the stand-in) in front
// of upstream, an MLflow without auth: sign-in only, no authorization.
func startOAuth2Proxy(ps *procs, bin, dir string, idp *oidcProvider, upstream string) (*peerServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	args := []string{bin,
		"--http-address=127.0.0.1:" + strconv.Itoa(port),
		"--upstream=" + upstream + "/",
		"--provider=oidc",
		"--oidc-issuer-url=" + idp.url,
		"--client-id=" + oidcClientID,
		"--client-secret=" + oidcClientSecret,
		"--cookie-secret=" + base64.RawURLEncoding.EncodeToString(secret),
		"--cookie-secure=false",
		"--email-domain=*",
		"--redirect-url=" + base + "/oauth2/callback",
		"--skip-provider-button=true",
		// MLflow checks Host against its --allowed-hosts.
		"--pass-host-header=false",
	}
	p, err := ps.start("oauth2-proxy", args, []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, dir,
		filepath.Join(dir, "oauth2-proxy.log"))
	if err != nil {
		return nil, err
	}
	return &peerServer{url: base, p: p}, nil
}

// startOIDCAuth runs MLflow with mlflow-oidc-auth (its own virtual
// environment) over a copy of the template database: users sign in at the
// stand-in provider, API clients send its JWTs as bearer tokens (the user
// is created on first use), permissions are its own, default
// NO_PERMISSIONS.
func startOIDCAuth(ps *procs, mlflowBin, dir, template string, workers int, idp *oidcProvider) (*peerServer, error) {
	home := filepath.Join(dir, "mlflow-oidc-auth")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, err
	}
	db := filepath.Join(home, "mlflow.db")
	if err := copyFile(template, db); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	p := strconv.Itoa(port)
	base := "http://127.0.0.1:" + p
	args := []string{mlflowBin, "server", "--app-name", "oidc-auth", "--host", "127.0.0.1", "--port", p,
		"--backend-store-uri", "sqlite:///" + db,
		"--serve-artifacts", "--artifacts-destination", filepath.Join(home, "artifacts"),
		"--allowed-hosts", "127.0.0.1:" + p + ",localhost:" + p,
		"--workers", strconv.Itoa(workers)}
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false", "MLFLOW_DISABLE_TELEMETRY=true", "PYTHONUNBUFFERED=1",
		"OIDC_DISCOVERY_URL=" + idp.url + "/.well-known/openid-configuration",
		"OIDC_CLIENT_ID=" + oidcClientID,
		"OIDC_CLIENT_SECRET=" + oidcClientSecret,
		"OIDC_REDIRECT_URI=" + base + "/callback",
		"OIDC_ISSUER=" + idp.url,
		"OIDC_AUDIENCE=" + oidcClientID,
		"OIDC_PROVISION_ON_BEARER_AUTH=true",
		"OIDC_TRUST_BEARER_GROUP_CLAIMS=true", // the setup's admin token
		"OIDC_USERS_DB_URI=sqlite:///" + filepath.Join(home, "oidc-auth.db"),
		"SECRET_KEY=bench-oidc-secret-key-0000000000000001",
		"DEFAULT_MLFLOW_PERMISSION=NO_PERMISSIONS",
		"AUTHLIB_INSECURE_TRANSPORT=1", // the stand-in speaks plain HTTP on loopback
	}
	pr, err := ps.start("mlflow-oidc-auth", args, env, home, filepath.Join(dir, "mlflow-oidc-auth.log"))
	if err != nil {
		return nil, err
	}
	return &peerServer{url: base, p: pr}, nil
}

// oidcGrant gives the bench user (mlflow-oidc-auth names users by email)
// the same permissions as everywhere else, as the stand-in's admin.
func oidcGrant(ctx context.Context, base string, idp *oidcProvider, userToken string, fx fixture, readable int) error {
	admin, err := idp.mint(oidcAdminUser, oidcClientID, "", time.Hour)
	if err != nil {
		return err
	}
	auth := func(token string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
	}
	// First use creates each user.
	for _, tok := range []string{admin, userToken} {
		if err := callJSON(ctx, base, http.MethodGet, "/api/2.0/mlflow/experiments/get?experiment_id="+fx.RW, nil, auth(tok)); err != nil &&
			!strings.Contains(err.Error(), "status 403") {
			return fmt.Errorf("bench: mlflow-oidc-auth first use: %w", err)
		}
	}
	call := func(ctx context.Context, method, path string, body any) error {
		return callJSON(ctx, base, method, path, body, auth(admin))
	}
	perm := func(exp, p string) error {
		return call(ctx, http.MethodPost, "/api/2.0/mlflow/permissions/users/"+oidcBenchUser.Email+"/experiments/"+exp,
			map[string]string{"permission": p})
	}
	if err := perm(fx.RW, "MANAGE"); err != nil {
		return err
	}
	n := min(readable, len(fx.Search))
	for i := range n {
		if err := perm(fx.Search[i*len(fx.Search)/n], "READ"); err != nil {
			return err
		}
	}
	return nil
}

// browserSignIn follows a peer's sign-in redirects (through the stand-in,
// which signs the bench user in at once) with a cookie jar, and returns the
// cookies the peer set for its origin.
func browserSignIn(ctx context.Context, base, start string) ([]*http.Cookie, error) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: time.Minute}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+start, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/html")
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("bench: sign in at %s: %w", base, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("bench: sign in at %s: status %d", base, resp.StatusCode)
	}
	req, _ = http.NewRequest(http.MethodGet, base+"/", nil)
	cookies := jar.Cookies(req.URL)
	if len(cookies) == 0 {
		return nil, fmt.Errorf("bench: sign in at %s set no cookie", base)
	}
	return cookies, nil
}

func cookieHeader(cs []*http.Cookie) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = c.Name + "=" + c.Value
	}
	return strings.Join(parts, "; ")
}

// peerSet is the peers of one run; a nil *peerSet (no PEERS=1) does
// nothing. A peer that cannot be installed, started or signed in to is
// left out with its reason in the report, not the whole run.
type peerSet struct {
	idp       *oidcProvider
	o2p, oidc *peerServer
	rep       *report
	log       io.Writer
	mu        sync.Mutex // wait's goroutines
}

func startPeers(ctx context.Context, ps *procs, o options, template, plainMLflow string, rep *report, log io.Writer) (*peerSet, error) {
	idp, err := newOIDCProvider(oidcClientID, oidcClientSecret, oidcBenchUser)
	if err != nil {
		return nil, fmt.Errorf("bench: OIDC stand-in: %w", err)
	}
	p := &peerSet{idp: idp, rep: rep, log: log}
	skip := func(k string, err error) {
		rep.Skipped[k] = err.Error()
		fmt.Fprintf(log, "bench: (%s) left out: %v\n", k, err)
	}
	if !o.want("i") {
		// not asked for
	} else if plainMLflow == "" {
		skip("i", fmt.Errorf("no MLflow without auth to put it in front of"))
	} else if _, err := os.Stat(o.oauth2Proxy); err != nil {
		skip("i", fmt.Errorf("oauth2-proxy not installed (scripts/bench.sh installs it with PEERS=1): %w", err))
	} else if p.o2p, err = startOAuth2Proxy(ps, o.oauth2Proxy, o.workdir, idp, plainMLflow); err != nil {
		skip("i", err)
	}
	if !o.want("h") {
		// not asked for
	} else if _, err := os.Stat(o.oidcMLflow); err != nil {
		skip("h", fmt.Errorf("mlflow-oidc-auth not installed (scripts/bench.sh installs it with PEERS=1): %w", err))
	} else if p.oidc, err = startOIDCAuth(ps, o.oidcMLflow, o.workdir, template, o.workers, idp); err != nil {
		skip("h", err)
	}
	return p, nil
}

func (p *peerSet) close() {
	if p != nil {
		p.idp.Close()
	}
}

// wait adds the peers' readiness to g; one that does not come up is left
// out.
func (p *peerSet) wait(ctx context.Context, g *errgroup.Group) {
	if p == nil {
		return
	}
	if s := p.o2p; s != nil {
		g.Go(func() error {
			if err := waitHTTP(ctx, s.p, s.url+"/ping", 2*time.Minute); err != nil {
				p.mu.Lock()
				p.rep.Skipped["i"] = err.Error()
				p.o2p = nil
				p.mu.Unlock()
			}
			return nil
		})
	}
	if s := p.oidc; s != nil {
		g.Go(func() error {
			if err := waitHTTP(ctx, s.p, s.url+"/health", 5*time.Minute); err != nil {
				p.mu.Lock()
				p.rep.Skipped["h"] = err.Error()
				p.oidc = nil
				p.mu.Unlock()
			}
			return nil
		})
	}
}

// setUp signs in to the peers and grants the bench user its permissions,
// adding their targets.
func (p *peerSet) setUp(ctx context.Context, fx fixture, readable int, targets map[string]*target, ui map[string]uiTarget) error {
	if p == nil {
		return nil
	}
	skip := func(k string, err error) {
		p.rep.Skipped[k] = err.Error()
		fmt.Fprintf(p.log, "bench: (%s) left out: %v\n", k, err)
	}
	if s := p.o2p; s != nil {
		cookies, err := browserSignIn(ctx, s.url, "/oauth2/start?rd=%2F")
		if err != nil {
			skip("i", err)
		} else {
			h := cookieHeader(cookies)
			targets["i"] = &target{key: "i", base: s.url, auth: func(hd http.Header, _ string) { hd.Set("Cookie", h) }, pid: s.p.pid()}
			ui["i"] = uiTarget{key: "i", base: s.url, cookies: cookies}
		}
	}
	if s := p.oidc; s != nil {
		token, err := p.idp.mint(oidcBenchUser, oidcClientID, "", 3*time.Hour)
		if err == nil {
			err = oidcGrant(ctx, s.url, p.idp, token, fx, readable)
		}
		if err != nil {
			skip("h", err)
			return nil
		}
		targets["h"] = &target{key: "h", base: s.url, auth: func(hd http.Header, _ string) { hd.Set("Authorization", "Bearer "+token) }}
		if cookies, err := browserSignIn(ctx, s.url, "/login"); err != nil {
			skip("h-ui", err)
		} else {
			ui["h"] = uiTarget{key: "h", base: s.url, cookies: cookies}
		}
	}
	return nil
}
