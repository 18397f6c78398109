package classify

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// method is a set of HTTP methods.
type method uint8

const (
	mGET method = 1 << iota
	mPOST
	mPUT
	mPATCH
	mDELETE
)

func methodBit(m string) method {
	switch m {
	case "GET", "HEAD":
		return mGET
	case "POST":
		return mPOST
	case "PUT":
		return mPUT
	case "PATCH":
		return mPATCH
	case "DELETE":
		return mDELETE
	}
	return 0
}

// bodyKind says what MLflow does with a request body on a route.
type bodyKind uint8

const (
	bodyNone   bodyKind = iota // no body is expected; one is refused
	bodyJSON                   // a JSON document MLflow parses: buffered and inspected
	bodyStream                 // bytes MLflow streams or parses itself: never buffered
)

// idKind names the kind of resource an identifier field designates.
type idKind uint8

const (
	idNone idKind = iota
	idExperiment
	idRun
	idModelName
	idVersion
	idTrace
	idArtifactPath
	idLoggedModel
	// idUploadName is a client's local file name whose base name MLflow
	// stores (the multipart-upload RPCs' "path"); not an identifier.
	idUploadName
)

// field is a query or body field that carries an identifier. name is the
// snake_case (protobuf) spelling.
type field struct {
	name     string
	kind     idKind
	repeated bool
}

// routeSpec is one row of the generated table.
type routeSpec struct {
	pattern string // MLflow's pattern: Flask <x>, <path:x> or Starlette {x}, {x:path}
	methods method
	family  Family
	rpc     string
	body    bodyKind // for methods other than GET
	asgi    bool     // served by a FastAPI-native route (ahead of the Flask app)
	fields  []field
}

// pathParamKinds maps the path parameter names MLflow uses to identifier kinds.
var pathParamKinds = map[string]idKind{
	"experiment_id": idExperiment,
	"run_id":        idRun,
	"trace_id":      idTrace,
	"request_id":    idTrace,
	"model_id":      idLoggedModel,
	"artifact_path": idArtifactPath,
}

type pathValue struct {
	name  string
	kind  idKind
	value string
}

type compiled struct {
	spec     *routeSpec
	re       *regexp.Regexp
	prefix   string // literal text before the first parameter
	literal  int    // count of literal characters, for specificity
	params   []string
	paramIDs []idKind
	canon    []string // JSON names of spec.fields
}

// field returns the identifier field whose JSON name is canon.
func (c *compiled) field(canon string) (field, bool) {
	for i, n := range c.canon {
		if n == canon {
			return c.spec.fields[i], true
		}
	}
	return field{}, false
}

type table struct {
	exact  map[string][]*compiled // parameterless patterns by path
	params []*compiled            // patterns with parameters, most specific first
}

var loadTable = sync.OnceValues(func() (*table, error) { return buildTable(routeTable) })

var paramRE = regexp.MustCompile(`<(?:(\w+):)?(\w+)>|\{(\w+)(?::(\w+))?\}`)

func buildTable(specs []routeSpec) (*table, error) {
	t := &table{exact: make(map[string][]*compiled)}
	for i := range specs {
		s := &specs[i]
		c, err := compile(s)
		if err != nil {
			return nil, err
		}
		if c.re == nil {
			t.exact[s.pattern] = append(t.exact[s.pattern], c)
			continue
		}
		t.params = append(t.params, c)
	}
	for _, cs := range t.exact {
		sort.SliceStable(cs, func(i, j int) bool { return cs[i].spec.asgi && !cs[j].spec.asgi })
	}
	sort.SliceStable(t.params, func(i, j int) bool {
		a, b := t.params[i], t.params[j]
		if a.spec.asgi != b.spec.asgi {
			return a.spec.asgi
		}
		return a.literal > b.literal
	})
	return t, nil
}

func compile(s *routeSpec) (*compiled, error) {
	locs := paramRE.FindAllStringSubmatchIndex(s.pattern, -1)
	c := &compiled{spec: s}
	for _, f := range s.fields {
		c.canon = append(c.canon, jsonName(f.name))
	}
	if len(locs) == 0 {
		c.literal = len(s.pattern)
		return c, nil
	}
	var re strings.Builder
	re.WriteString("^")
	last := 0
	for _, l := range locs {
		lit := s.pattern[last:l[0]]
		re.WriteString(regexp.QuoteMeta(lit))
		c.literal += len(lit)
		var conv, name string
		if l[4] >= 0 { // Flask <conv:name> or <name>
			name = s.pattern[l[4]:l[5]]
			if l[2] >= 0 {
				conv = s.pattern[l[2]:l[3]]
			}
		} else { // Starlette {name} or {name:conv}
			name = s.pattern[l[6]:l[7]]
			if l[8] >= 0 {
				conv = s.pattern[l[8]:l[9]]
			}
		}
		switch {
		case conv == "" || conv == "str" || conv == "string":
			re.WriteString(`([^/]+)`)
		case conv == "path" && l[4] >= 0:
			re.WriteString(`([^/].*?)`)
		case conv == "path":
			re.WriteString(`(.*)`)
		default:
			return nil, fmt.Errorf("classify: route %q: unsupported converter %q", s.pattern, conv)
		}
		c.params = append(c.params, name)
		c.paramIDs = append(c.paramIDs, pathParamKinds[name])
		last = l[1]
	}
	lit := s.pattern[last:]
	re.WriteString(regexp.QuoteMeta(lit))
	c.literal += len(lit)
	re.WriteString("$")
	c.prefix = s.pattern[:locs[0][0]]
	var err error
	if c.re, err = regexp.Compile(re.String()); err != nil {
		return nil, fmt.Errorf("classify: route %q: %w", s.pattern, err)
	}
	return c, nil
}

// lookup finds the route for a decoded path. allowed reports whether the
// route accepts the method; when no matching route does, lookup returns the
// most specific route for the path with allowed false (nil when none).
func (t *table) lookup(m method, path string) (c *compiled, vals []string, allowed bool) {
	var fallback *compiled
	var fallbackVals []string
	for _, e := range t.exact[path] {
		if e.spec.methods&m != 0 {
			return e, nil, true
		}
		if fallback == nil {
			fallback = e
		}
	}
	for _, p := range t.params {
		if !strings.HasPrefix(path, p.prefix) {
			continue
		}
		sub := p.re.FindStringSubmatch(path)
		if sub == nil {
			continue
		}
		if p.spec.methods&m != 0 {
			return p, sub[1:], true
		}
		if fallback == nil {
			fallback, fallbackVals = p, sub[1:]
		}
	}
	return fallback, fallbackVals, false
}
