//go:build !linux

package gateway

import (
	"context"
	"net"
)

// dialQuickAck is d.DialContext: TCP_QUICKACK exists on Linux only.
func dialQuickAck(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return d.DialContext
}
