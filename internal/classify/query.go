package classify

import (
	"net/url"
	"strings"
	"unicode/utf8"
)

// scanQuery parses a raw query string as werkzeug does ('&' separates pairs,
// '+' is a space) and records the identifier parameters. It refuses a query
// that Go and werkzeug would split differently (';', bad escapes, invalid
// UTF-8), a parameter spelled two ways, and a scalar identifier repeated with
// different values.
func scanQuery(raw string, spec *compiled, col *collector) *Rejection {
	if raw == "" {
		return nil
	}
	if strings.IndexByte(raw, ';') >= 0 {
		return reject("invalid_query", "query string has a ';'")
	}
	type spelled struct{ raw, canon string }
	var small [8]spelled
	seen := small[:0]
	for pair := range strings.SplitSeq(raw, "&") {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			return reject("invalid_query", "query string has an invalid percent-encoding")
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			return reject("invalid_query", "query string has an invalid percent-encoding")
		}
		if !utf8.ValidString(key) || !utf8.ValidString(val) {
			return reject("invalid_query", "query string is not valid UTF-8")
		}
		canon := jsonName(key)
		f, ok := spec.field(canon)
		if !ok {
			if canon != "runId" && canon != "runUuid" {
				continue
			}
			f = field{name: "run_id", kind: idRun}
		}
		known := false
		for _, s := range seen {
			if s.canon == canon && s.raw != key {
				return reject("conflicting_field_spelling", "query string spells one parameter two ways: %q and %q", s.raw, key)
			}
			known = known || s.raw == key
		}
		if !known { // at most two spellings per field are ever kept
			seen = append(seen, spelled{key, canon})
		}
		col.add(groupOf(canon), f.kind, f.repeated, srcQuery, val)
	}
	return nil
}
