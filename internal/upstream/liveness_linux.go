//go:build linux

package upstream

import (
	"context"
	"errors"
	"net"
	"syscall"
)

// errPeerClosed: the server closed a kept-alive connection before a
// request was written on it.
var errPeerClosed = errors.New("upstream: connection closed by the server while idle")

// checkedConn refuses to write on a connection its server has already
// closed. When an MLflow worker dies, the kernel closes its kept-alive
// connections at once, but the transport's reader goroutine may not have
// seen it yet when the next request takes the connection from the idle
// pool: the request would be written into a dead socket and fail with a
// reset after the fact — and a POST cannot be retried then, since it might
// have been processed. A failed first write is "nothing written", which
// net/http's transport retries on another connection (and the Balancer on
// another worker). One non-blocking MSG_PEEK per write.
type checkedConn struct {
	net.Conn
	raw syscall.RawConn
}

func (c *checkedConn) Write(b []byte) (int, error) {
	if c.peerClosed() {
		return 0, errPeerClosed
	}
	return c.Conn.Write(b)
}

// peerClosed reports a FIN or RST already received. Data waiting to be
// read (an early response) means the connection is alive.
func (c *checkedConn) peerClosed() bool {
	var closed bool
	var buf [1]byte
	_ = c.raw.Control(func(fd uintptr) {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == nil:
			closed = n == 0
		case errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EINTR):
		default:
			closed = true // ECONNRESET and friends
		}
	})
	return closed
}

// checkPeer wraps dialed connections that expose their socket.
func checkPeer(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		sc, ok := c.(syscall.Conn)
		if !ok {
			return c, nil
		}
		raw, err := sc.SyscallConn()
		if err != nil {
			return c, nil
		}
		return &checkedConn{Conn: c, raw: raw}, nil
	}
}
