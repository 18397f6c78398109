package app

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"
)

// serverLimits are the public listener's protections against slow and
// oversized clients. Zero values get the defaults.
type serverLimits struct {
	// ReadHeader bounds how long a client may take to send its headers
	// (slowloris). Default 10 s.
	ReadHeader time.Duration
	// Idle bounds a keep-alive connection between requests. Default 120 s.
	Idle time.Duration
	// MaxHeaderBytes bounds the request line and headers. Default 64 KiB.
	MaxHeaderBytes int
}

// newServer returns the public HTTP server. There is deliberately no
// whole-request read or write timeout: artifact uploads and downloads may
// stream for many minutes, and a body that is still arriving is not an
// attack on headers. Slow clients are bounded by the header timeout, idle
// connections by the idle timeout, and bodies the gateway must read by the
// classifier's size limit.
func newServer(ctx context.Context, h http.Handler, log *slog.Logger, lim serverLimits) *http.Server {
	if lim.ReadHeader <= 0 {
		lim.ReadHeader = 10 * time.Second
	}
	if lim.Idle <= 0 {
		lim.Idle = 120 * time.Second
	}
	if lim.MaxHeaderBytes <= 0 {
		lim.MaxHeaderBytes = 64 << 10
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: lim.ReadHeader,
		IdleTimeout:       lim.Idle,
		MaxHeaderBytes:    lim.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.With("component", "http").Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
}

// localOrigins are the origins a browser on this machine may use to reach a
// gateway listening on addr, when no public URL is configured.
func localOrigins(addr net.Addr) []string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return nil
	}
	port := strconv.Itoa(tcp.Port)
	out := []string{"http://" + net.JoinHostPort(tcp.IP.String(), port)}
	if tcp.IP.IsLoopback() {
		for _, h := range []string{"localhost", "127.0.0.1", "::1"} {
			o := "http://" + net.JoinHostPort(h, port)
			if o != out[0] {
				out = append(out, o)
			}
		}
	}
	return out
}
