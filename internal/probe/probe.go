// Package probe is the gateway's `probe` command: an HTTP health check run
// inside the container. The gateway's image is FROM scratch, with no shell
// and no curl, so an orchestrator that checks health by running a command
// (Docker Compose, Podman) runs the gateway binary itself.
package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultTimeout bounds one probe, connection and answer together.
const DefaultTimeout = 5 * time.Second

// maxBody is how much of the answer is printed: /ready names each check in a
// few hundred bytes.
const maxBody = 4 << 10

// ErrUnhealthy is returned (wrapped) when the server answered with a status
// other than 2xx.
var ErrUnhealthy = errors.New("probe: unhealthy")

// DefaultURL is what `probe` checks without an argument: /ready of the
// gateway listening on this host at MLFLOW_DESCOPE_PORT (5000 when unset).
// /ready is served at the root even under a static prefix.
func DefaultURL(getenv func(string) string) (string, error) {
	port := strings.TrimSpace(getenv("MLFLOW_DESCOPE_PORT"))
	if port == "" {
		port = "5000"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("probe: MLFLOW_DESCOPE_PORT %q is not a port", port)
	}
	return "http://" + net.JoinHostPort("127.0.0.1", port) + "/ready", nil
}

// Check sends GET rawURL and returns nil for a 2xx answer. It writes one
// line to out: the status and the start of the body. Redirects are not
// followed: a health endpoint that redirects is misconfigured.
func Check(ctx context.Context, rawURL string, timeout time.Duration, out io.Writer) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("probe: %q is not an http(s) URL", rawURL)
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	client := &http.Client{
		// No proxy from the environment: the probe talks to this host.
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("probe: reading the answer: %w", err)
	}
	fmt.Fprintf(out, "%s %s\n", resp.Status, strings.TrimSpace(string(body)))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%w: %s answered %s", ErrUnhealthy, u.Redacted(), resp.Status)
	}
	return nil
}
