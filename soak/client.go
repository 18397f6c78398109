package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// client is one simulated user: its own loopback source address (the
// gateway limits sign-ins and failures per address, as it would for real
// clients), its own connections, and its credential.
type client struct {
	class string
	hc    *http.Client
	pool  *pool
	rec   *recorder

	mu      sync.Mutex
	cookies map[string]string // a browser's cookie jar, for the gateways' host
	bearer  string            // Authorization value (access key or JWT)
	browser bool              // sends Origin, as a browser on the gateway's page does
}

// sourceAddr is the n-th loopback address 127.2.x.y.
func sourceAddr(n int) net.IP {
	return net.IPv4(127, 2, byte(n/250), byte(n%250+1)).To4()
}

func newClient(class string, n int, pl *pool, rec *recorder) *client {
	d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: sourceAddr(n)}}
	tr := &http.Transport{
		DialContext:         d.DialContext,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	return &client{
		class: class,
		// MLflow's own client gives up after 120 s (MLFLOW_HTTP_REQUEST_TIMEOUT).
		hc:      &http.Client{Transport: tr, Timeout: 120 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		pool:    pl,
		rec:     rec,
		cookies: map[string]string{},
	}
}

// answer is what came back.
type answer struct {
	status int
	body   []byte
	reqID  string
}

// do sends one request to a healthy replica and records it. body nil sends
// none; a []byte body is sent as is with contentType.
func (c *client) do(ctx context.Context, op string, exp expectation, method, path string, body []byte, contentType string) answer {
	return c.doAt(ctx, c.pool.pick(), op, exp, method, path, body, contentType)
}

func (c *client) doAt(ctx context.Context, g *gateway, op string, exp expectation, method, path string, body []byte, contentType string) answer {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, g.url+path, rd)
	if err != nil {
		return answer{}
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	c.mu.Lock()
	if c.bearer != "" {
		req.Header.Set("Authorization", c.bearer)
	}
	if len(c.cookies) > 0 {
		var parts []string
		for k, v := range c.cookies {
			parts = append(parts, k+"="+v)
		}
		req.Header.Set("Cookie", strings.Join(parts, "; "))
	}
	if c.browser && method != http.MethodGet {
		// The UI's own origin: the gateway refuses cookie writes without it.
		req.Header.Set("Origin", g.url)
	}
	c.mu.Unlock()
	start := time.Now()
	resp, err := c.hc.Do(req)
	s := sample{start: c.rec.since(start), class: c.class, op: op, gw: g.name, exp: exp}
	if err != nil {
		s.end = c.rec.since(time.Now())
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return answer{} // the run ended: not an answer
		}
		s.err = shorten(err.Error())
		c.rec.add(s)
		return answer{}
	}
	data, rerr := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	resp.Body.Close()
	s.end = c.rec.since(time.Now())
	s.status = resp.StatusCode
	s.reqID = resp.Header.Get("X-Request-Id")
	if rerr != nil {
		s.status, s.err = 0, "body: "+shorten(rerr.Error())
	}
	c.keepCookies(resp)
	c.rec.add(s)
	return answer{status: s.status, body: data, reqID: s.reqID}
}

// keepCookies applies Set-Cookie as a browser would (the gateway refreshes
// sessions server-side and sends the new tokens this way).
func (c *client) keepCookies(resp *http.Response) {
	cs := resp.Cookies()
	if len(cs) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ck := range cs {
		if ck.MaxAge < 0 || ck.Value == "" {
			delete(c.cookies, ck.Name)
			continue
		}
		c.cookies[ck.Name] = ck.Value
	}
}

func shorten(s string) string {
	if i := strings.LastIndex(s, ": "); i >= 0 && len(s)-i < 80 {
		s = s[i+2:]
	}
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}

func jsonBody(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only maps of strings and numbers are encoded here
	}
	return b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// mustJSON decodes an answer the harness relies on during setup.
func mustJSON(a answer, what string, out any) error {
	if a.status != http.StatusOK {
		return fmt.Errorf("soak: %s: status %d: %.300s", what, a.status, a.body)
	}
	if err := json.Unmarshal(a.body, out); err != nil {
		return fmt.Errorf("soak: %s: %w: %.300s", what, err, a.body)
	}
	return nil
}
