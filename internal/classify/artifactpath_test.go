package classify

import (
	"encoding/json"
	"net/http"
	"net/url"
	"path"
	"slices"
	"sort"
	"strings"
	"testing"
)

// Artifact path spellings, as sent in a query string (so still encoded).
// Each bad one is a path MLflow's permission check and its handlers could
// read differently (issue 15: "./2/<run>/artifacts" named no experiment to
// the check and experiment 2's files to the handler).
var (
	badArtifactQueryValues = map[string]string{
		"dot segment first":          "./2/r/artifacts",
		"two dot segments":           "././2/r/artifacts",
		"dot segment inside":         "2/./r/artifacts",
		"dot segment last":           "2/r/artifacts/.",
		"encoded dot":                "%2E/2/r/artifacts",
		"encoded dot lower":          "%2e/2",
		"double-encoded dot":         "%252E/2/r/artifacts",
		"double-encoded slash":       "2%252Fr/artifacts",
		"double-encoded unreserved":  "%2532/r",
		"dot-dot":                    "2/../3/r/artifacts",
		"dot-dot alone":              "..",
		"dot alone":                  ".",
		"encoded dot-dot":            "2/%2E%2E/3",
		"empty segment":              "2//r/artifacts",
		"encoded empty segment":      "2%2F%2Fr",
		"two trailing slashes":       "2/r//",
		"leading slash":              "/2/r/artifacts",
		"encoded leading slash":      "%2F2/r",
		"only slash":                 "/",
		"backslash":                  "2\\r\\artifacts",
		"encoded backslash":          "2%5Cr",
		"backslash dot":              ".\\2",
		"file uri":                   "file:2/r/artifacts",
		"file uri absolute":          "FILE:///etc/passwd",
		"newline":                    "2/r%0A",
		"tab":                        "2%09/r",
		"delete char":                "2/r%7F",
		"fragment":                   "2/r%23x",
		"workspace prefix with dots": "workspaces/./ws/2/r",
	}
	goodArtifactQueryValues = []string{
		"",
		"2/r/artifacts",
		"2/r/artifacts/",
		"model.txt",
		"dir/sub/file.txt",
		"a+b.txt",         // a space, as werkzeug decodes '+'
		"100%25.txt",      // a literal '%' not followed by two hex digits
		"a:b/c.txt",       // a colon outside a file: scheme
		"%C3%A9t%C3%A9/x", // non-ASCII
		"..a/b..",         // dots that are not a whole segment
		"workspaces/team-a/2/r/artifacts",
	}
)

// artifactFieldRoutes lists, from MLflow 3.17.2's handlers, every route
// whose query or body carries an artifact path (validate_path_is_safe is
// applied to it) and the field's name. The table must know exactly these,
// so a route added by an MLflow upgrade forces a look here.
var artifactFieldRoutes = map[string]string{
	"GET /api/2.0/mlflow-artifacts/artifacts":                    "path", // _list_artifacts_mlflow_artifacts
	"GET /ajax-api/2.0/mlflow-artifacts/artifacts":               "path",
	"GET /api/2.0/mlflow/artifacts/list":                         "path", // _list_artifacts
	"GET /ajax-api/2.0/mlflow/artifacts/list":                    "path",
	"POST /api/2.0/mlflow/artifacts/presigned-download-url":      "path", // _create_presigned_download_url
	"POST /ajax-api/2.0/mlflow/artifacts/presigned-download-url": "path",
	"POST /api/2.0/mlflow/artifacts/presigned-upload-url":        "path", // _create_presigned_upload_url
	"POST /ajax-api/2.0/mlflow/artifacts/presigned-upload-url":   "path",
	"GET /get-artifact":                                                       "path", // get_artifact_handler
	"GET /model-versions/get-artifact":                                        "path", // get_model_version_artifact_handler
	"POST /ajax-api/2.0/mlflow/upload-artifact":                               "path", // upload_artifact_handler
	"GET /ajax-api/2.0/mlflow/get-trace-artifact":                             "path", // get_trace_artifact_handler
	"GET /ajax-api/3.0/mlflow/get-trace-artifact":                             "path",
	"GET /api/2.0/mlflow/logged-models/<model_id>/artifacts/directories":      "artifact_directory_path", // _list_logged_model_artifacts
	"GET /ajax-api/2.0/mlflow/logged-models/<model_id>/artifacts/directories": "artifact_directory_path",
	"GET /ajax-api/2.0/mlflow/logged-models/<model_id>/artifacts/files":       "artifact_file_path", // get_logged_model_artifact_handler
	"POST /api/2.0/mlflow-artifacts/mpu/create/<path:artifact_path>":          "path",               // upload name
	"POST /ajax-api/2.0/mlflow-artifacts/mpu/create/<path:artifact_path>":     "path",
	"POST /api/2.0/mlflow-artifacts/mpu/complete/<path:artifact_path>":        "path",
	"POST /ajax-api/2.0/mlflow-artifacts/mpu/complete/<path:artifact_path>":   "path",
	"POST /api/2.0/mlflow-artifacts/mpu/abort/<path:artifact_path>":           "path",
	"POST /ajax-api/2.0/mlflow-artifacts/mpu/abort/<path:artifact_path>":      "path",
}

// artifactRoute is one row of the table with an artifact path field.
type artifactRoute struct {
	method  string
	pattern string
	field   field
	body    bool // the field travels in a JSON body
}

func artifactRoutes(t *testing.T) []artifactRoute {
	t.Helper()
	tb, err := loadTable()
	if err != nil {
		t.Fatal(err)
	}
	var all []*compiled
	for _, cs := range tb.exact {
		all = append(all, cs...)
	}
	all = append(all, tb.params...)
	var out []artifactRoute
	for _, c := range all {
		for _, f := range c.spec.fields {
			if f.kind != idArtifactPath && f.kind != idUploadName {
				continue
			}
			for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
				if c.spec.methods&methodBit(m) == 0 {
					continue
				}
				out = append(out, artifactRoute{method: m, pattern: c.spec.pattern, field: f, body: m != "GET" && c.spec.body == bodyJSON})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].method+out[i].pattern < out[j].method+out[j].pattern })
	return out
}

func TestTableKnowsEveryArtifactPathField(t *testing.T) {
	t.Parallel()
	got := map[string]string{}
	for _, r := range artifactRoutes(t) {
		got[r.method+" "+r.pattern] = r.field.name
	}
	for k, v := range artifactFieldRoutes {
		if got[k] != v {
			t.Errorf("%s: table has artifact field %q, handlers read %q", k, got[k], v)
		}
	}
	for k, v := range got {
		if _, ok := artifactFieldRoutes[k]; !ok {
			t.Errorf("%s: table has artifact field %q that the list above does not: check the handler and add it", k, v)
		}
	}
}

// concrete fills a pattern's parameters with harmless values.
func concrete(pattern string) string {
	return paramRE.ReplaceAllStringFunc(pattern, func(p string) string {
		if strings.Contains(p, "path") {
			return "2/r/artifacts/f.bin"
		}
		return "m-1"
	})
}

// request builds a request putting value (encoded as in a query string)
// into r's artifact field, with whatever else the route needs.
func (r artifactRoute) request(value string) (method, rawPath, query string, h http.Header, body string) {
	h = http.Header{}
	rawPath = concrete(r.pattern)
	if r.body {
		dec, err := url.QueryUnescape(value)
		if err != nil {
			panic(err)
		}
		b, _ := json.Marshal(map[string]string{r.field.name: dec})
		h.Set("Content-Type", ctJSON)
		return r.method, rawPath, "", h, string(b)
	}
	if r.method != "GET" { // upload-artifact: the data streams, the path is in the query
		h.Set("Content-Type", "application/octet-stream")
		body = "data"
	}
	return r.method, rawPath, r.field.name + "=" + value, h, body
}

// TestArtifactPathSpellings sends every bad spelling in the artifact field
// of every route that has one, from where MLflow reads it, and requires
// the refusal; the good spellings must pass on the same routes.
func TestArtifactPathSpellings(t *testing.T) {
	t.Parallel()
	c := newClassifier(t)
	routes := artifactRoutes(t)
	if len(routes) < len(artifactFieldRoutes) {
		t.Fatalf("only %d artifact routes in the table", len(routes))
	}
	for _, r := range routes {
		for name, v := range badArtifactQueryValues {
			if r.field.kind == idUploadName && !badUploadName(v) {
				continue // an upload name keeps only its base name
			}
			m, p, q, h, b := r.request(v)
			_, err := c.classify(m, p, q, h, []byte(b))
			rej, ok := AsRejection(err)
			if !ok || rej.Reason != "non_canonical_artifact_path" || rej.Status != http.StatusBadRequest || rej.Code != CodeInvalidParameter {
				t.Errorf("%s %s %s=%q (%s): got %v; want non_canonical_artifact_path", m, r.pattern, r.field.name, v, name, err)
			}
		}
		for _, v := range goodArtifactQueryValues {
			if r.field.kind == idUploadName && (v == "" || strings.HasSuffix(v, "/")) {
				continue
			}
			m, p, q, h, b := r.request(v)
			if _, err := c.classify(m, p, q, h, []byte(b)); err != nil {
				t.Errorf("%s %s %s=%q: refused: %v", m, r.pattern, r.field.name, v, err)
			}
		}
	}
}

// badUploadName reports whether an upload name's spelling is still bad
// when only its base name counts.
func badUploadName(queryValue string) bool {
	dec, err := url.QueryUnescape(queryValue)
	if err != nil {
		return true
	}
	return checkUploadName(dec) != nil
}

// The multipart-upload RPCs carry the client's local file name, absolute
// as often as not; only its base name is stored.
func TestUploadNames(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"/tmp/tmpab12/model.bin", "model.bin", "C:/data/model.bin", "./x/model.bin", "../model.bin"} {
		if rej := checkUploadName(ok); rej != nil {
			t.Errorf("%q: %v", ok, rej)
		}
	}
	for _, bad := range []string{"", "/tmp/", "/tmp/..", "x/.", "..", "C:\\data\\model.bin", "a%2Fb", "a\nb", "x#y"} {
		if rej := checkUploadName(bad); rej == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
}

// Path parameters are decoded values too: the raw-path rules refuse most
// spellings, and what they let through is checked as an artifact path.
func TestArtifactPathInURLPath(t *testing.T) {
	t.Parallel()
	c := newClassifier(t)
	for _, p := range []string{
		"/api/2.0/mlflow-artifacts/artifacts/./2/r/artifacts/f",
		"/api/2.0/mlflow-artifacts/artifacts/%2E/2/r/artifacts/f",
		"/api/2.0/mlflow-artifacts/artifacts//2/r/artifacts/f",
		"/api/2.0/mlflow-artifacts/artifacts/2/r%5Cf",
		"/api/2.0/mlflow-artifacts/artifacts/2/r/%252E",
		"/api/2.0/mlflow-artifacts/artifacts/file:2/r/f",
		"/api/2.0/mlflow-artifacts/artifacts/2/r%23f",
		"/ajax-api/2.0/mlflow-artifacts/presigned/./2/r",
		"/api/2.0/mlflow-artifacts/mpu/create/2/../3/f",
	} {
		for _, m := range []string{"GET", "PUT", "DELETE", "POST"} {
			if _, err := c.classify(m, p, "", http.Header{}, nil); err == nil {
				rt, _ := c.Route(m, p)
				if rt.Known {
					t.Errorf("%s %s: accepted", m, p)
				}
			}
		}
	}
	if _, err := c.classify("GET", "/api/2.0/mlflow-artifacts/artifacts/2/r/artifacts/f.txt", "", http.Header{}, nil); err != nil {
		t.Errorf("canonical download refused: %v", err)
	}
}

// FuzzArtifactPath: whatever checkArtifactPath accepts is canonical by
// every normalisation MLflow applies: decoding again changes nothing,
// cleaning the path changes nothing (but a trailing '/'), it is relative,
// and it has no backslash.
func FuzzArtifactPath(f *testing.F) {
	for _, v := range badArtifactQueryValues {
		if d, err := url.QueryUnescape(v); err == nil {
			f.Add(d)
		}
	}
	for _, v := range goodArtifactQueryValues {
		if d, err := url.QueryUnescape(v); err == nil {
			f.Add(d)
		}
	}
	f.Fuzz(func(t *testing.T, p string) {
		if checkArtifactPath(p) != nil || p == "" {
			return
		}
		if d, err := url.PathUnescape(p); err == nil && d != p {
			t.Fatalf("accepted %q, which decodes to %q", p, d)
		}
		trimmed := strings.TrimSuffix(p, "/")
		if path.Clean(trimmed) != trimmed {
			t.Fatalf("accepted %q, which cleans to %q", p, path.Clean(trimmed))
		}
		if strings.HasPrefix(p, "/") || strings.ContainsAny(p, "\\#") || strings.HasPrefix(strings.ToLower(p), "file:") {
			t.Fatalf("accepted %q", p)
		}
		if slices.ContainsFunc([]byte(p), func(c byte) bool { return c < 0x20 || c == 0x7f }) {
			t.Fatalf("accepted %q with a control character", p)
		}
	})
}
