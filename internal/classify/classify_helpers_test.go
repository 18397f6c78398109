package classify

import (
	"net/http"
	"strconv"
)

// classify (for tests; the gateway uses ReadBody and Inspect) is Route
// followed by Inspect for a request whose body is already in
// memory. The Content-Length and Transfer-Encoding headers describe the body
// as the client declared it.
func (c *Classifier) classify(method, rawPath, rawQuery string, header http.Header, body []byte) (Request, error) {
	rt, err := c.Route(method, rawPath)
	if err != nil {
		return Request{}, err
	}
	length := int64(len(body))
	if v := header.Values("Content-Length"); len(v) > 0 {
		n, err := strconv.ParseInt(v[0], 10, 64)
		if len(v) > 1 || err != nil || n < 0 {
			return Request{}, reject("invalid_content_length", "request has an invalid Content-Length")
		}
		length = max(n, length)
	}
	chunked := len(header.Values("Transfer-Encoding")) > 0
	if rt.NeedsBody && int64(len(body)) > c.maxBody {
		return Request{}, c.tooLarge()
	}
	return c.inspect(rt, rawQuery, header, length, chunked, body)
}
