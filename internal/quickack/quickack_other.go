//go:build !linux

package quickack

import (
	"context"
	"net"
)

// Dial is d.DialContext: TCP_QUICKACK exists on Linux only.
func Dial(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return d.DialContext
}
