//go:build linux

package main

import (
	"context"
	"net"
	"syscall"
)

// quickAckConn keeps TCP_QUICKACK on (Linux); see newClient. The gateway
// does the same for its own upstream connections (internal/gateway).
type quickAckConn struct {
	net.Conn
	raw syscall.RawConn
}

func (c *quickAckConn) quickAck() {
	_ = c.raw.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
	})
}

func (c *quickAckConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.quickAck()
	return n, err
}

func (c *quickAckConn) Write(b []byte) (int, error) {
	c.quickAck()
	return c.Conn.Write(b)
}

func dialQuickAck(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		tc, ok := c.(*net.TCPConn)
		if !ok {
			return c, nil
		}
		raw, err := tc.SyscallConn()
		if err != nil {
			return c, nil
		}
		return &quickAckConn{Conn: c, raw: raw}, nil
	}
}
