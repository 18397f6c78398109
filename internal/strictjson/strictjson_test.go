package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	deep := strings.Repeat("[", DefaultMaxDepth+1) + strings.Repeat("]", DefaultMaxDepth+1)
	ok := strings.Repeat("[", DefaultMaxDepth) + strings.Repeat("]", DefaultMaxDepth)
	tests := []struct {
		name string
		doc  string
		opts Options
		want error // nil: accepted
		path string
	}{
		{"plain object", `{"sub":"U1","roles":["a","a"],"tenants":{"T1":{"roles":[]}}}`, Options{}, nil, ""},
		{"scalar", `"x"`, Options{}, nil, ""},
		{"same name in sibling objects", `{"a":{"x":1},"b":{"x":2}}`, Options{}, nil, ""},
		{"same name at two depths", `{"roles":[],"t":{"roles":[]}}`, Options{}, nil, ""},
		{"repeated top-level", `{"roles":[],"roles":["admin"]}`, Options{}, ErrDuplicate, "$"},
		{"repeated sub", `{"sub":"U2attacker","sub":"U2victim"}`, Options{}, ErrDuplicate, "$"},
		{"repeated nested", `{"tenants":{"T1":{"roles":[],"roles":["admin"]}}}`, Options{}, ErrDuplicate, "$.tenants.T1"},
		{"repeated tenant id", `{"tenants":{"T1":{},"T1":{"roles":["admin"]}}}`, Options{}, ErrDuplicate, "$.tenants"},
		{"repeated in array element", `{"a":[{"k":1},{"k":1,"k":2}]}`, Options{}, ErrDuplicate, "$.a[1]"},
		{"escaped spelling", `{"roles":[],"r\u006fles":["admin"]}`, Options{}, ErrDuplicate, "$"},
		{"escaped slash spelling", `{"a/b":1,"a\/b":2}`, Options{}, ErrDuplicate, "$"},
		{"case variant exact mode", `{"roles":[],"Roles":["admin"]}`, Options{}, nil, ""},
		{"case variant fold mode", `{"userId":"a","USERID":"b"}`, Options{FoldCase: true}, ErrDuplicate, "$"},
		{"kelvin sign folds to k", `{"key":1,"\u212aey":2}`, Options{FoldCase: true}, ErrDuplicate, "$"},
		{"case variant below opaque", `{"user":{"customAttributes":{"Dept":1,"dept":2}}}`, Options{FoldCase: true, Opaque: []string{"customAttributes"}}, nil, ""},
		{"exact repeat below opaque", `{"customAttributes":{"d":1,"d":2}}`, Options{FoldCase: true, Opaque: []string{"customAttributes"}}, ErrDuplicate, "$.customAttributes"},
		{"fold applies beside opaque", `{"customAttributes":{},"Status":"a","status":"b"}`, Options{FoldCase: true, Opaque: []string{"customAttributes"}}, ErrDuplicate, "$"},
		{"trailing data", `{"a":1} {"a":2}`, Options{}, ErrInvalid, "$"},
		{"trailing garbage", `{"a":1}x`, Options{}, ErrInvalid, "$"},
		{"empty", ``, Options{}, ErrInvalid, "$"},
		{"bad utf-8", "{\"a\":\"\xff\"}", Options{}, ErrInvalid, "$"},
		{"bad utf-8 names", "{\"\xfe\":1,\"\xff\":2}", Options{}, ErrInvalid, "$"},
		{"truncated", `{"a":[1,2`, Options{}, ErrInvalid, "$.a"},
		{"NaN", `{"a":NaN}`, Options{}, ErrInvalid, "$"},
		{"depth at bound", ok, Options{}, nil, ""},
		{"too deep", deep, Options{}, ErrTooDeep, "$" + strings.Repeat("[0]", DefaultMaxDepth)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check([]byte(tt.doc), tt.opts)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Check = %v, want %v", err, tt.want)
			}
			var e *Error
			if !errors.As(err, &e) || e.Path != tt.path {
				t.Fatalf("error %#v: want path %q", err, tt.path)
			}
		})
	}
}

// What a map-based decoder (Go's, Python's) does with a repeat: the last
// copy silently wins. This is the behaviour Check exists to pre-empt.
func TestDecodersKeepTheLastCopy(t *testing.T) {
	var m map[string]any
	if err := json.Unmarshal([]byte(`{"sub":"U2attacker","sub":"U2victim"}`), &m); err != nil {
		t.Fatal(err)
	}
	if m["sub"] != "U2victim" {
		t.Fatalf("encoding/json kept %v", m["sub"])
	}
	var s struct {
		UserID string `json:"userId"`
	}
	if err := json.Unmarshal([]byte(`{"userId":"a","USERID":"b"}`), &s); err != nil {
		t.Fatal(err)
	}
	if s.UserID != "b" {
		t.Fatalf("struct decoding kept %q", s.UserID)
	}
}

func TestErrorText(t *testing.T) {
	err := Check([]byte(`{"t":{"`+strings.Repeat("x", 200)+`":1,"`+strings.Repeat("x", 200)+`":2}}`), Options{})
	if err == nil || len(err.Error()) > 250 {
		t.Fatalf("error %v: want a bounded message", err)
	}
}

func FuzzCheck(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a":1,"a":2}`, `{"a":{"b":[{"c":1,"c":2}]}}`, `[]`, `"s"`, `{"a\u0062":1,"ab":2}`, `{"A":1,"a":2}`} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, fold bool) {
		err := Check(data, Options{FoldCase: fold})
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error of type %T", err)
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		// Accepted: a map-based decode keeps every member, so counting
		// members after decoding equals counting them in the text.
		// UseNumber: a number too large for float64 is valid JSON and not
		// this package's business; the invariant is about members.
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("accepted %q, but it does not decode: %v", data, err)
		}
		if got, want := members(v), textMembers(t, data); got != want {
			t.Fatalf("accepted %q: %d members survive decoding, %d in the text", data, got, want)
		}
	})
}

func members(v any) int {
	switch x := v.(type) {
	case map[string]any:
		n := len(x)
		for _, e := range x {
			n += members(e)
		}
		return n
	case []any:
		n := 0
		for _, e := range x {
			n += members(e)
		}
		return n
	}
	return 0
}

// textMembers counts object members as written, by splitting the text
// into raw values (a repeat counts twice here, once in members).
func textMembers(t *testing.T, data []byte) int {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		t.Fatalf("re-read %q: %v", data, err)
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return 0
	}
	n := 0
	for dec.More() {
		if d == '{' {
			if _, err := dec.Token(); err != nil { // the name
				t.Fatal(err)
			}
			n++
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			t.Fatal(err)
		}
		n += textMembers(t, raw)
	}
	return n
}
