package app

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func startServer(t *testing.T, h http.Handler, lim serverLimits) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(context.Background(), h, slog.New(slog.DiscardHandler), lim)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func TestSlowHeadersAreCut(t *testing.T) {
	t.Parallel()
	addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), serverLimits{ReadHeader: 300 * time.Millisecond})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		// Go answers 408 before closing; either way the connection ends.
		_, _ = io.ReadAll(c)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("a client trickling its headers kept the connection for %s", el)
	}
}

func TestHugeHeadersAreRefused(t *testing.T) {
	t.Parallel()
	addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), serverLimits{MaxHeaderBytes: 8 << 10})
	req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 64<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("status %d, want 431", resp.StatusCode)
	}
}

// TestSlowBodiesAreNotCut: a long upload whose body keeps arriving outlives
// the header timeout.
func TestSlowBodiesAreNotCut(t *testing.T) {
	t.Parallel()
	addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		io.WriteString(w, strings.Repeat("x", int(n)))
	}), serverLimits{ReadHeader: 200 * time.Millisecond, Idle: 200 * time.Millisecond})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
	for range 10 {
		time.Sleep(100 * time.Millisecond) // 1 s in all: five header timeouts
		if _, err := io.WriteString(c, "b"); err != nil {
			t.Fatalf("connection cut during the body: %v", err)
		}
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no response: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || len(body) != 10 {
		t.Errorf("status %d, %d bytes", resp.StatusCode, len(body))
	}
}
