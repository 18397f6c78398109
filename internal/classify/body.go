package classify

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"unicode/utf8"
)

// maxJSONDepth bounds nesting; MLflow's request messages are far shallower.
const maxJSONDepth = 64

// bodyScanner walks a JSON body token by token (never through a map, which
// would hide repeated keys) and records the identifiers at its top level.
type bodyScanner struct {
	dec  *json.Decoder
	spec *compiled
	col  *collector
}

// scanBody refuses a body that is not one valid JSON object, that repeats a
// key or spells one field two ways in any object, or whose run_id aliases
// disagree in any object; it records the top-level identifiers in col.
func scanBody(body []byte, spec *compiled, col *collector) *Rejection {
	if !utf8.Valid(body) {
		return reject("invalid_json", "request body is not valid UTF-8")
	}
	s := bodyScanner{dec: json.NewDecoder(bytes.NewReader(body)), spec: spec, col: col}
	s.dec.UseNumber()
	tok, err := s.dec.Token()
	if err != nil {
		return reject("invalid_json", "request body is not valid JSON")
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return reject("json_not_object", "request body must be a JSON object")
	}
	if rej := s.object(1); rej != nil {
		return rej
	}
	if _, err := s.dec.Token(); !errors.Is(err, io.EOF) {
		return reject("invalid_json", "request body has data after the JSON object")
	}
	return nil
}

type seenKey struct{ raw, canon string }

// keySet remembers an object's keys: a short slice first, a map once the
// object is large, so a body with a huge object is not quadratic.
type keySet struct {
	small [8]seenKey
	n     int
	canon map[string]string // canonical name -> raw key, once n > len(small)
}

func (k *keySet) add(raw, canon string) *Rejection {
	if k.canon == nil {
		for _, s := range k.small[:k.n] {
			if rej := keyClash(s.raw, s.canon, raw, canon); rej != nil {
				return rej
			}
		}
		if k.n < len(k.small) {
			k.small[k.n] = seenKey{raw, canon}
			k.n++
			return nil
		}
		k.canon = make(map[string]string, 2*len(k.small))
		for _, s := range k.small {
			k.canon[s.canon] = s.raw
		}
	}
	if prev, ok := k.canon[canon]; ok {
		return keyClash(prev, canon, raw, canon)
	}
	k.canon[canon] = raw
	return nil
}

// keyClash refuses a key equal to an earlier one, or naming the same field.
// Two different raw keys with one canonical name are two spellings; equal raw
// keys are a repeat. (A raw key determines its canonical name.)
func keyClash(prevRaw, prevCanon, raw, canon string) *Rejection {
	switch {
	case prevRaw == raw:
		return reject("duplicate_json_key", "request body repeats the key %q", raw)
	case prevCanon == canon:
		return reject("conflicting_field_spelling", "request body spells one field two ways: %q and %q", prevRaw, raw)
	}
	return nil
}

// object scans the members of an object whose '{' was just read, and its '}'.
func (s *bodyScanner) object(depth int) *Rejection {
	if depth > maxJSONDepth {
		return reject("json_too_deep", "request body nests deeper than %d levels", maxJSONDepth)
	}
	var keys keySet
	var runVal string
	runSet := false
	for s.dec.More() {
		tok, err := s.dec.Token()
		if err != nil {
			return reject("invalid_json", "request body is not valid JSON")
		}
		key, ok := tok.(string)
		if !ok {
			return reject("invalid_json", "request body is not valid JSON")
		}
		canon := jsonName(key)
		if rej := keys.add(key, canon); rej != nil {
			return rej
		}
		f, top := s.topField(depth, canon)
		isRun := canon == "runId" || canon == "runUuid"
		tok, err = s.dec.Token()
		if err != nil {
			return reject("invalid_json", "request body is not valid JSON")
		}
		if d, ok := tok.(json.Delim); ok {
			var rej *Rejection
			if d == '{' {
				rej = s.object(depth + 1)
			} else {
				rej = s.array(depth+1, f, top)
			}
			if rej != nil {
				return rej
			}
			continue
		}
		v, scalar := scalarString(tok)
		if !scalar {
			continue
		}
		if isRun && !(top && f.repeated) {
			if runSet && runVal != v {
				return conflict(runGroup)
			}
			runVal, runSet = v, true
		}
		if top {
			s.col.add(groupOf(canon), f.kind, f.repeated, srcBody, v)
		}
	}
	if _, err := s.dec.Token(); err != nil { // the closing '}'
		return reject("invalid_json", "request body is not valid JSON")
	}
	return nil
}

// array scans the elements of an array whose '[' was just read, and its ']'.
// Scalars are recorded when the array is the value of top-level field f.
func (s *bodyScanner) array(depth int, f field, top bool) *Rejection {
	if depth > maxJSONDepth {
		return reject("json_too_deep", "request body nests deeper than %d levels", maxJSONDepth)
	}
	for s.dec.More() {
		tok, err := s.dec.Token()
		if err != nil {
			return reject("invalid_json", "request body is not valid JSON")
		}
		if d, ok := tok.(json.Delim); ok {
			var rej *Rejection
			if d == '{' {
				rej = s.object(depth + 1)
			} else {
				rej = s.array(depth+1, field{}, false)
			}
			if rej != nil {
				return rej
			}
			continue
		}
		if v, scalar := scalarString(tok); scalar && top {
			s.col.add(groupOf(jsonName(f.name)), f.kind, true, srcBody, v)
		}
	}
	if _, err := s.dec.Token(); err != nil { // the closing ']'
		return reject("invalid_json", "request body is not valid JSON")
	}
	return nil
}

// topField returns the identifier field a top-level key names. The run_id
// aliases count as identifiers on every route.
func (s *bodyScanner) topField(depth int, canon string) (field, bool) {
	if depth != 1 {
		return field{}, false
	}
	if f, ok := s.spec.field(canon); ok {
		return f, true
	}
	if canon == "runId" || canon == "runUuid" {
		return field{name: "run_id", kind: idRun}, true
	}
	return field{}, false
}

func scalarString(tok json.Token) (string, bool) {
	switch v := tok.(type) {
	case string:
		return v, true
	case json.Number:
		return string(v), true
	}
	return "", false
}
