//go:build linux

package upstream

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// A write on a connection the server has closed fails before sending a
// byte; a connection with an early answer waiting, or an idle live one,
// takes the write.
func TestCheckedConnRefusesWritesAfterPeerClosed(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type serverSide struct {
		c   net.Conn
		got chan []byte
	}
	accepted := make(chan serverSide, 3)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s := serverSide{c, make(chan []byte, 1)}
			go func() { b, _ := io.ReadAll(c); s.got <- b }()
			accepted <- s
		}
	}()
	dial := checkPeer(func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		return c, err
	})
	open := func() (net.Conn, serverSide) {
		c, err := dial(context.Background(), "tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := c.(*checkedConn); !ok {
			t.Fatalf("dialed %T; want *checkedConn", c)
		}
		return c, <-accepted
	}

	live, liveSrv := open()
	if _, err := live.Write([]byte("hello")); err != nil {
		t.Errorf("write on a live connection: %v", err)
	}

	early, earlySrv := open()
	if _, err := earlySrv.c.Write([]byte("HTTP/1.1 413 Too Large\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if _, err := early.Write([]byte("body")); err != nil {
		t.Errorf("write with an early answer waiting: %v", err)
	}

	dead, deadSrv := open()
	deadSrv.c.(*net.TCPConn).CloseWrite() // the server's FIN, as when its process exits
	time.Sleep(50 * time.Millisecond)
	if n, err := dead.Write([]byte("POST / HTTP/1.1\r\n")); !errors.Is(err, errPeerClosed) || n != 0 {
		t.Errorf("write after the server closed: %d, %v; want 0, errPeerClosed", n, err)
	}
	dead.Close()
	if got := <-deadSrv.got; len(got) != 0 {
		t.Errorf("the server received %q from a refused write", got)
	}
	live.Close()
	early.Close()
	liveSrv.c.Close()
	earlySrv.c.Close()
}
