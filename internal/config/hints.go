package config

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// tokenDeliveryHints warns about a setup in which Descope's cookies cannot
// reach the gateway. A project that manages its tokens in cookies sets them
// on its custom domain's parent (auth.example.com → .example.com); the
// browser sends them to the gateway only if the gateway's host is under the
// same parent. Otherwise sign-in works only with the tokens in the response
// body. (The default cloud, api.descope.com, cannot use cookie mode at all.)
func (c *Config) tokenDeliveryHints() []string {
	if c.BaseURI == "" {
		return nil
	}
	u, err := url.Parse(c.BaseURI)
	if err != nil || u.Hostname() == "" {
		return nil
	}
	descopeHost := strings.ToLower(u.Hostname())
	if strings.HasSuffix(descopeHost, ".descope.com") || isLoopback(descopeHost) || net.ParseIP(descopeHost) != nil {
		return nil
	}
	gatewayHost := c.Host
	if c.PublicURL != nil {
		gatewayHost = c.PublicURL.Hostname()
	}
	gatewayHost = strings.ToLower(gatewayHost)
	if sharedParent(descopeHost, gatewayHost) != "" {
		return nil
	}
	return []string{fmt.Sprintf("DESCOPE_BASE_URI: Descope's cookies on %s cannot reach the gateway at %s (no common parent domain): "+
		"in the Descope console keep Project Settings → Session Management → token response method at \"response body\" for both tokens, "+
		"or sign-ins will fail with \"no refresh token\" (docs/descope-setup.md, token delivery)", descopeHost, gatewayHost)}
}

// sharedParent returns the longest domain of at least two labels that both
// hosts are in ("" if none). It does not know the public suffix list, so
// "a.co.uk" and "b.co.uk" share "co.uk": a hint, not a guarantee.
func sharedParent(a, b string) string {
	if net.ParseIP(a) != nil || net.ParseIP(b) != nil {
		return ""
	}
	la, lb := strings.Split(a, "."), strings.Split(b, ".")
	var common []string
	for i := 1; i <= len(la) && i <= len(lb); i++ {
		if la[len(la)-i] != lb[len(lb)-i] {
			break
		}
		common = append([]string{la[len(la)-i]}, common...)
	}
	if len(common) < 2 {
		return ""
	}
	return strings.Join(common, ".")
}
