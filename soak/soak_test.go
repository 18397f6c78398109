package main

import (
	"io"
	"net"
	"testing"
	"time"
)

// The proxy forwards, cuts every connection on pause, refuses new ones
// while paused, and forwards again after resume.
func TestTCPProxyPause(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); c.Close() }()
		}
	}()
	p, err := newTCPProxy(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	echo := func(c net.Conn) error {
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Write([]byte("ping")); err != nil {
			return err
		}
		buf := make([]byte, 4)
		_, err := io.ReadFull(c, buf)
		return err
	}
	c, err := net.Dial("tcp", p.addr())
	if err != nil {
		t.Fatal(err)
	}
	if err := echo(c); err != nil {
		t.Fatalf("before pause: %v", err)
	}
	p.pause()
	if err := echo(c); err == nil {
		t.Fatal("an open connection survived the pause")
	}
	if c2, err := net.Dial("tcp", p.addr()); err == nil {
		if echo(c2) == nil {
			t.Fatal("a new connection worked while paused")
		}
		c2.Close()
	}
	p.resume()
	c3, err := net.Dial("tcp", p.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	if err := echo(c3); err != nil {
		t.Fatalf("after resume: %v", err)
	}
}

func TestWrongAndFailed(t *testing.T) {
	tests := []struct {
		s             sample
		wrong, failed bool
	}{
		{sample{exp: mustPass, status: 200}, false, false},
		{sample{exp: mustPass, status: 401}, true, false},
		{sample{exp: mustPass, status: 403}, true, false},
		{sample{exp: mustPass, status: 503}, false, true},
		{sample{exp: mustPass, status: 0}, false, true},
		{sample{exp: mustPass, status: 429}, false, false},
		{sample{exp: mustRefuse, status: 200}, true, false},
		{sample{exp: mustRefuse, status: 204}, true, false},
		{sample{exp: mustRefuse, status: 401}, false, false},
		{sample{exp: mustRefuse, status: 502}, false, true},
	}
	for _, tt := range tests {
		if got := tt.s.wrong(); got != tt.wrong {
			t.Errorf("%+v: wrong() = %v", tt.s, got)
		}
		if got := tt.s.failed(); got != tt.failed {
			t.Errorf("%+v: failed() = %v", tt.s, got)
		}
	}
}

// Recovery is measured from the fault's clearing to the first success of
// its canary after failures; a canary that never failed means 0.
func TestRecoveryOf(t *testing.T) {
	gws := []*gateway{{name: "A"}, {name: "B"}}
	sec := func(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
	w := &window{name: "mlflow_killed", canary: "api", start: sec(10), cleared: sec(10)}
	var s []sample
	add := func(class string, at float64, status int) {
		s = append(s, sample{class: class, start: sec(at), end: sec(at + 0.05), status: status})
	}
	add("canary_api_A", 9.9, 200)
	add("canary_api_A", 10.1, 502)
	add("canary_api_B", 10.2, 503)
	add("canary_api_A", 14.0, 200)
	add("canary_api_B", 15.5, 200)
	add("canary_api_B", 15.6, 502) // a later blip is not this fault's
	sortByStart(s)
	if got, want := recoveryOf(w, s, gws), sec(5.55); got != want {
		t.Errorf("recovery = %v; want %v", got, want)
	}
	quiet := &window{name: "audit_db_down", canary: "api", start: sec(20), cleared: sec(25)}
	s = nil
	add("canary_api_A", 21, 200)
	add("canary_api_B", 26, 200)
	if got := recoveryOf(quiet, s, gws); got != 0 {
		t.Errorf("recovery without failures = %v", got)
	}
}

func TestHostOf(t *testing.T) {
	for dsn, want := range map[string]string{
		"postgres://postgres@127.0.0.1:5433/postgres?sslmode=disable": "127.0.0.1:5433",
		"postgres://u:p@db:5432/x":                                    "db:5432",
	} {
		if got, err := hostOf(dsn); err != nil || got != want {
			t.Errorf("hostOf(%q) = %q, %v", dsn, got, err)
		}
	}
	if _, err := hostOf("postgres://localhost/x"); err == nil {
		t.Error("a DSN without a port was accepted")
	}
}
