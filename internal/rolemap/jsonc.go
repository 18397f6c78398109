package rolemap

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// stripComments blanks out // line comments and /* block */ comments that
// are outside JSON strings. Every removed byte becomes a space (newlines are
// kept), so offsets into the result are offsets into the original file and
// error positions stay exact.
func stripComments(data []byte) ([]byte, error) {
	out := bytes.Clone(data)
	inString, escaped := false, false
	for i := 0; i < len(out); i++ {
		c := out[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch {
		case c == '"':
			inString = true
		case c == '/' && i+1 < len(out) && out[i+1] == '/':
			for ; i < len(out) && out[i] != '\n'; i++ {
				out[i] = ' '
			}
		case c == '/' && i+1 < len(out) && out[i+1] == '*':
			start := i
			end := bytes.Index(out[i+2:], []byte("*/"))
			if end < 0 {
				return nil, &posError{off: int64(start), msg: "unterminated /* comment"}
			}
			for j := i; j < i+2+end+2; j++ {
				if out[j] != '\n' {
					out[j] = ' '
				}
			}
			i += 2 + end + 1
		}
	}
	return out, nil
}

// node is a parsed JSON value that remembers where it starts in the file.
type node struct {
	off    int64
	kind   byte // 'o' object, 'a' array, 's' string, 'n' number, 'b' bool, 'z' null
	fields []field
	items  []*node
	str    string
	b      bool
}

type field struct {
	key    string
	keyOff int64
	val    *node
}

// posError is an error at a byte offset of the input.
type posError struct {
	off int64
	msg string
}

func (e *posError) Error() string { return e.msg }

// parseTree decodes one JSON document into a tree of nodes with offsets.
// Duplicate keys in an object are an error.
func parseTree(data []byte) (*node, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	root, err := parseValue(dec, data)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &posError{off: dec.InputOffset(), msg: "unexpected data after the top-level value"}
	}
	return root, nil
}

// valueStart returns the offset of the next non-space, non-separator byte at
// or after off: where the value the decoder is about to read begins.
func valueStart(data []byte, off int64) int64 {
	for off < int64(len(data)) {
		switch data[off] {
		case ' ', '\t', '\r', '\n', ',', ':':
			off++
		default:
			return off
		}
	}
	return off
}

func parseValue(dec *json.Decoder, data []byte) (*node, error) {
	start := valueStart(data, dec.InputOffset())
	tok, err := dec.Token()
	if err != nil {
		return nil, syntaxError(err, dec, start)
	}
	n := &node{off: start}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			n.kind = 'o'
			seen := map[string]bool{}
			for dec.More() {
				keyOff := valueStart(data, dec.InputOffset())
				kt, err := dec.Token()
				if err != nil {
					return nil, syntaxError(err, dec, keyOff)
				}
				key, _ := kt.(string)
				if seen[key] {
					return nil, &posError{off: keyOff, msg: fmt.Sprintf("duplicate key %q", key)}
				}
				seen[key] = true
				v, err := parseValue(dec, data)
				if err != nil {
					return nil, err
				}
				n.fields = append(n.fields, field{key: key, keyOff: keyOff, val: v})
			}
		case '[':
			n.kind = 'a'
			for dec.More() {
				v, err := parseValue(dec, data)
				if err != nil {
					return nil, err
				}
				n.items = append(n.items, v)
			}
		default:
			return nil, &posError{off: start, msg: fmt.Sprintf("unexpected %q", rune(t))}
		}
		if _, err := dec.Token(); err != nil { // closing delimiter
			return nil, syntaxError(err, dec, dec.InputOffset())
		}
	case string:
		n.kind, n.str = 's', t
	case json.Number:
		n.kind, n.str = 'n', t.String()
	case bool:
		n.kind, n.b = 'b', t
	case nil:
		n.kind = 'z'
	}
	return n, nil
}

func syntaxError(err error, dec *json.Decoder, fallback int64) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return &posError{off: se.Offset, msg: "invalid JSON: " + se.Error()}
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &posError{off: dec.InputOffset(), msg: "invalid JSON: unexpected end of file"}
	}
	return &posError{off: fallback, msg: "invalid JSON: " + err.Error()}
}

// lineCol converts a byte offset into a 1-based line and column.
func lineCol(data []byte, off int64) (line, col int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	if off < 0 {
		off = 0
	}
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(off) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}

func kindName(k byte) string {
	switch k {
	case 'o':
		return "an object"
	case 'a':
		return "an array"
	case 's':
		return "a string"
	case 'n':
		return "a number"
	case 'b':
		return "a boolean"
	}
	return "null"
}
