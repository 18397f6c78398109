package classify

import (
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// checkPath validates a raw request path (the bytes the gateway forwards,
// without the query) and returns it percent-decoded, as Flask and Starlette
// match it. It refuses every spelling that could make the gateway, MLflow's
// authorization and MLflow's handlers disagree on the path: encoded
// separators, backslashes, dot segments, empty segments, encoded unreserved
// characters, double encoding, control characters and invalid UTF-8.
func checkPath(raw string) (string, *Rejection) {
	if raw == "" || raw[0] != '/' {
		return "", reject("invalid_path", "request path must start with '/'")
	}
	escaped := false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '%':
			if i+2 >= len(raw) || !ishex(raw[i+1]) || !ishex(raw[i+2]) {
				return "", reject("invalid_path", "request path has an invalid percent-encoding")
			}
			d := unhex(raw[i+1])<<4 | unhex(raw[i+2])
			switch {
			case d == '/' || d == '\\':
				return "", reject("encoded_path_separator", "request path has an encoded '/' or '\\'")
			case d == '.':
				return "", reject("dot_segment", "request path has an encoded '.'")
			case d == '%':
				return "", reject("double_encoding", "request path has an encoded '%%'")
			case d < 0x20 || d == 0x7f:
				return "", reject("invalid_path", "request path has an encoded control character")
			case isUnreserved(d):
				return "", reject("non_canonical_path", "request path encodes a character that needs no encoding")
			}
			escaped = true
			i += 2
		case c == '\\':
			return "", reject("backslash_in_path", "request path has a backslash")
		case c == '?' || c == '#':
			return "", reject("invalid_path", "request path has a '?' or '#'")
		case c <= 0x20 || c >= 0x7f:
			return "", reject("invalid_path", "request path has a character that must be encoded")
		}
	}
	if strings.Contains(raw, "//") {
		return "", reject("non_canonical_path", "request path has an empty segment")
	}
	if hasDotSegment(raw) {
		return "", reject("dot_segment", "request path has a '.' or '..' segment")
	}
	if !escaped {
		return raw, nil
	}
	dec, err := url.PathUnescape(raw)
	if err != nil {
		return "", reject("invalid_path", "request path has an invalid percent-encoding")
	}
	if !utf8.ValidString(dec) {
		return "", reject("invalid_path", "request path is not valid UTF-8")
	}
	return dec, nil
}

func hasDotSegment(p string) bool {
	for _, seg := range strings.Split(p[1:], "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

func ishex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '~'
}

// apiPrefixes are the path prefixes of MLflow's programmatic interfaces.
var apiPrefixes = []string{"/api/", "/ajax-api/", "/graphql", "/get-artifact", "/model-versions/", "/gateway/", "/v1/"}

// IsAPI reports whether rawPath lies in MLflow's programmatic space (REST twins,
// GraphQL, artifact routes, FastAPI-native routes) rather than the UI, static
// files or health endpoints. It is deliberately generous: a path it cannot
// parse counts as API, so callers that refuse unknown API routes fail closed.
func IsAPI(rawPath string) bool {
	p, rej := checkPath(rawPath)
	if rej != nil {
		return true
	}
	for _, pre := range apiPrefixes {
		if strings.HasPrefix(p, pre) {
			return true
		}
	}
	return false
}

// RawPath returns the path of r exactly as the client sent it (the part of the
// request target before '?'), which is what the gateway forwards and what
// Route must see. For an absolute-form target it returns the escaped path.
func RawPath(r *http.Request) string {
	uri := r.RequestURI
	if strings.HasPrefix(uri, "/") {
		if i := strings.IndexByte(uri, '?'); i >= 0 {
			return uri[:i]
		}
		return uri
	}
	if r.URL == nil {
		return ""
	}
	return r.URL.EscapedPath()
}

func familyByPrefix(p string) Family {
	switch {
	case strings.HasPrefix(p, "/api/"):
		return FamilyAPI
	case strings.HasPrefix(p, "/ajax-api/"):
		return FamilyAjaxAPI
	}
	return FamilyUnknown
}
