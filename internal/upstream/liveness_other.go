//go:build !linux

package upstream

import (
	"context"
	"net"
)

// checkPeer returns dial unchanged outside Linux.
func checkPeer(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return dial
}
