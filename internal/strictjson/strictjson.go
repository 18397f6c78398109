// Package strictjson refuses JSON documents that different parsers could
// read differently: a member name repeated in one object (Python, Go and most
// parsers keep the last copy, some keep the first, a few keep both), invalid
// UTF-8, trailing data, or nesting deeper than a bound.
//
// It is for JSON the gateway acts on security-wise but does not write
// itself: the header and payload of a Descope JWT, and Descope's API answers.
// Call Check before anything reads a member, so no reader can pick a copy.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// DefaultMaxDepth bounds nesting when Options.MaxDepth is zero.
const DefaultMaxDepth = 32

// Errors Check returns, wrapped in an *Error.
var (
	// ErrDuplicate: one object repeats a member name.
	ErrDuplicate = errors.New("repeated member name")
	// ErrInvalid: not exactly one JSON value in UTF-8.
	ErrInvalid = errors.New("invalid JSON")
	// ErrTooDeep: nesting beyond the bound.
	ErrTooDeep = errors.New("JSON nests too deep")
)

// Error says what is wrong and where. Path is a JSON-path-like location
// ("$.tenants.T1"); Name is the repeated member, truncated for logs.
type Error struct {
	Err  error
	Path string
	Name string
}

func (e *Error) Error() string {
	if e.Name != "" {
		return fmt.Sprintf("%v %q at %s", e.Err, e.Name, e.Path)
	}
	return fmt.Sprintf("%v at %s", e.Err, e.Path)
}

func (e *Error) Unwrap() error { return e.Err }

// Options tune Check. The zero value refuses exact repeats only.
type Options struct {
	// FoldCase also refuses two names equal under Unicode case folding
	// ("userId" and "UserID"). encoding/json fills a struct field from any
	// case variant of its name and keeps the last, so a document decoded
	// into a struct is ambiguous with either copy.
	FoldCase bool
	// Opaque names members whose values are free-form maps (decoded into
	// map[string]any, where case variants are distinct keys): below them
	// only exact repeats are refused, even with FoldCase.
	Opaque []string
	// MaxDepth bounds nesting (DefaultMaxDepth when zero).
	MaxDepth int
}

// Check reports whether data is exactly one JSON value in valid UTF-8 whose
// objects, at every depth, name each member once. Names are compared after
// unescaping ("r\u006fles" repeats "roles"). Errors are *Error wrapping
// ErrDuplicate, ErrInvalid or ErrTooDeep.
func Check(data []byte, opts Options) error {
	if opts.MaxDepth <= 0 {
		opts.MaxDepth = DefaultMaxDepth
	}
	if !utf8.Valid(data) {
		return &Error{Err: ErrInvalid, Path: "$"}
	}
	c := checker{dec: json.NewDecoder(bytes.NewReader(data)), opts: opts}
	c.dec.UseNumber() // numbers are not interpreted, only skipped
	tok, err := c.dec.Token()
	if err != nil {
		return c.fail(ErrInvalid, "")
	}
	if err := c.value(tok, 1, opts.FoldCase); err != nil {
		return err
	}
	if _, err := c.dec.Token(); !errors.Is(err, io.EOF) {
		return c.fail(ErrInvalid, "")
	}
	return nil
}

type checker struct {
	dec  *json.Decoder
	opts Options
	// path holds the member names and array indexes down to the current
	// value, for the error only.
	path []string
}

// fail builds the error for the current position.
func (c *checker) fail(err error, name string) *Error {
	return &Error{Err: err, Path: "$" + strings.Join(c.path, ""), Name: truncate(name, 64)}
}

// value checks the value that starts with tok.
func (c *checker) value(tok json.Token, depth int, fold bool) error {
	d, ok := tok.(json.Delim)
	if !ok {
		return nil // a scalar
	}
	if depth > c.opts.MaxDepth {
		return c.fail(ErrTooDeep, "")
	}
	switch d {
	case '{':
		return c.object(depth, fold)
	case '[':
		return c.array(depth, fold)
	}
	return c.fail(ErrInvalid, "")
}

func (c *checker) object(depth int, fold bool) error {
	seen := map[string]struct{}{}
	for c.dec.More() {
		tok, err := c.dec.Token()
		if err != nil {
			return c.fail(ErrInvalid, "")
		}
		name, ok := tok.(string)
		if !ok {
			return c.fail(ErrInvalid, "")
		}
		key := name
		if fold {
			key = foldKey(name)
		}
		if _, dup := seen[key]; dup {
			return c.fail(ErrDuplicate, name)
		}
		seen[key] = struct{}{}
		if tok, err = c.dec.Token(); err != nil {
			return c.fail(ErrInvalid, "")
		}
		c.path = append(c.path, "."+truncate(name, 64))
		if err := c.value(tok, depth+1, fold && !c.opaque(name)); err != nil {
			return err
		}
		c.path = c.path[:len(c.path)-1]
	}
	if _, err := c.dec.Token(); err != nil { // the closing '}'
		return c.fail(ErrInvalid, "")
	}
	return nil
}

func (c *checker) array(depth int, fold bool) error {
	for i := 0; c.dec.More(); i++ {
		tok, err := c.dec.Token()
		if err != nil {
			return c.fail(ErrInvalid, "")
		}
		c.path = append(c.path, "["+strconv.Itoa(i)+"]")
		if err := c.value(tok, depth+1, fold); err != nil {
			return err
		}
		c.path = c.path[:len(c.path)-1]
	}
	if _, err := c.dec.Token(); err != nil { // the closing ']'
		return c.fail(ErrInvalid, "")
	}
	return nil
}

func (c *checker) opaque(name string) bool {
	for _, o := range c.opts.Opaque {
		if o == name {
			return true
		}
	}
	return false
}

// foldKey maps every rune to the smallest rune of its case-folding orbit,
// so foldKey(a) == foldKey(b) exactly when strings.EqualFold(a, b), the
// comparison encoding/json uses to match struct fields.
func foldKey(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		lo := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			lo = min(lo, f)
		}
		b.WriteRune(lo)
	}
	return b.String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
