package gateway

import "net/netip"

// forwardedFor is the X-Forwarded-For value MLflow receives: the client's
// address, except that a loopback (or unknown) client is sent as "unknown".
//
// MLflow 3.17's assistant treats a request as local, and so trusted to
// configure the server, when its client address is loopback; uvicorn takes
// that address from X-Forwarded-For when the gateway connects from loopback.
// A client the gateway sees on loopback is a reverse proxy on the same host
// (without MLFLOW_DESCOPE_TRUSTED_PROXIES) or a user on the gateway's host;
// neither is the local operator MLflow means, and through the gateway
// nobody is. "unknown" (RFC 7239's word for an undisclosed node) is no IP
// address, so MLflow's check answers "not local", and the gateway's audit
// and logs keep the real address.
func forwardedFor(client netip.Addr) string {
	if !client.IsValid() || client.Unmap().IsLoopback() || client.IsUnspecified() {
		return "unknown"
	}
	return client.Unmap().String()
}
