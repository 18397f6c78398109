//go:build !linux

package main

import (
	"context"
	"net"
)

// dialQuickAck is d.DialContext where TCP_QUICKACK does not exist.
func dialQuickAck(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return d.DialContext
}
