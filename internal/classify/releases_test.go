package classify

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// The table is generated from one MLflow release (testdata/mlflow-routes.json,
// the pinned one). Older supported releases (python/mlflow-versions.txt) are
// served through the same table, which must then know each of their routes
// exactly as well: testdata/releases/mlflow-<version>.json is each one's dump
// (dump_routes.py run with that release installed; scripts/mlflow-matrix.sh
// re-dumps it and TestDumpMatchesInstalledMLflow compares).

// releaseDumpPath is the committed dump of an MLflow release other than the
// pinned one.
func releaseDumpPath(version string) string {
	return filepath.Join("testdata", "releases", "mlflow-"+version+".json")
}

func readReleaseDumps(tb testing.TB) []dumpFile {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "releases", "mlflow-*.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var out []dumpFile
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		var d dumpFile
		if err := json.Unmarshal(b, &d); err != nil {
			tb.Fatalf("%s: %v", p, err)
		}
		if p != releaseDumpPath(d.Version) {
			tb.Fatalf("%s holds the routes of MLflow %s", p, d.Version)
		}
		out = append(out, d)
	}
	return out
}

// specCovered says why the table row does not classify the release's route
// the way the release's own generated table would, or "" if it does. The row
// may know more: methods the release does not serve (MLflow answers 404 or
// 405) and identifier fields it does not read (the gateway then checks, and
// refuses ambiguous spellings of, a field MLflow ignores).
func specCovered(rel, row routeSpec) string {
	var why []string
	if rel.methods&^row.methods != 0 {
		why = append(why, fmt.Sprintf("methods %s not in the table's %s", methodExpr(rel.methods), methodExpr(row.methods)))
	}
	if rel.family != row.family {
		why = append(why, fmt.Sprintf("family %s, table %s", rel.family, row.family))
	}
	if rel.rpc != row.rpc {
		why = append(why, fmt.Sprintf("rpc %q, table %q", rel.rpc, row.rpc))
	}
	if rel.asgi != row.asgi {
		why = append(why, fmt.Sprintf("asgi %v, table %v", rel.asgi, row.asgi))
	}
	// The body kind only matters for methods other than GET.
	if rel.methods&^mGET != 0 && rel.body != row.body {
		why = append(why, fmt.Sprintf("body %d, table %d", rel.body, row.body))
	}
	have := map[field]bool{}
	for _, f := range row.fields {
		have[f] = true
	}
	for _, f := range rel.fields {
		if !have[f] {
			why = append(why, fmt.Sprintf("field %+v not in the table", f))
		}
	}
	return strings.Join(why, "; ")
}

// TestTableCoversSupportedReleases proves each older supported release's
// routes a subset of the table: every route it serves is classified, by the
// same rule, as its own generated table would.
func TestTableCoversSupportedReleases(t *testing.T) {
	t.Parallel()
	dumps := readReleaseDumps(t)
	if len(dumps) == 0 {
		t.Fatal("no testdata/releases/mlflow-*.json: the supported releases older than the pinned one have no dump")
	}
	// A pattern has one row per method or set of methods (and a FastAPI route
	// may shadow a Flask one: both rows are kept, ASGI first).
	rows := map[string][]routeSpec{}
	for _, s := range routeTable {
		rows[s.pattern] = append(rows[s.pattern], s)
	}
	c := newClassifier(t)
	for _, d := range dumps {
		t.Run(d.Version, func(t *testing.T) {
			t.Parallel()
			specs, err := specsFromDump(d)
			if err != nil {
				t.Fatalf("the generator cannot classify MLflow %s: %v", d.Version, err)
			}
			for _, s := range specs {
				for _, m := range []method{mGET, mPOST, mPUT, mPATCH, mDELETE} {
					if s.methods&m == 0 {
						continue
					}
					one := s
					one.methods = m
					why := "the table has no such route"
					for _, row := range rows[s.pattern] {
						if row.methods&m != 0 && row.asgi == s.asgi {
							why = specCovered(one, row)
							break
						}
					}
					if why != "" {
						t.Errorf("MLflow %s %s %s: %s", d.Version, methodExpr(m), s.pattern, why)
					}
				}
			}
			// And the classifier itself resolves each served route to its pattern.
			asgi := map[string]bool{}
			for _, r := range d.Routes {
				if r.Source == "fastapi" {
					for _, m := range r.Methods {
						asgi[m+" "+concretePath(r.Path)] = true
					}
				}
			}
			for _, r := range d.Routes {
				if r.Source == "fastapi-mount" {
					continue
				}
				for _, m := range r.Methods {
					path := concretePath(r.Path)
					rt, err := c.Route(m, path)
					shadowed := r.Source == "flask" && asgi[m+" "+path]
					if err != nil || !rt.Known || (rt.Pattern != r.Path && !shadowed) {
						t.Errorf("MLflow %s %s %s: got %+v, %v", d.Version, m, r.Path, rt, err)
					}
				}
			}
		})
	}
}

// TestSpecCoveredRefuses: the comparison fails on each way a table row can
// misjudge an older release's route (so the test above cannot pass blindly).
func TestSpecCoveredRefuses(t *testing.T) {
	t.Parallel()
	row := routeSpec{pattern: "/api/2.0/mlflow/runs/get", methods: mGET | mPOST, family: FamilyAPI, rpc: "GetRun",
		body: bodyJSON, fields: []field{{"run_id", idRun, false}, {"run_uuid", idRun, false}}}
	tests := []struct {
		name string
		edit func(*routeSpec)
		want string
	}{
		{"same", func(*routeSpec) {}, ""},
		{"fewer methods and fields", func(s *routeSpec) { s.methods = mGET; s.fields = s.fields[:1]; s.body = bodyNone }, ""},
		{"more methods", func(s *routeSpec) { s.methods |= mDELETE }, "methods"},
		{"family", func(s *routeSpec) { s.family = FamilyAjaxAPI }, "family"},
		{"rpc", func(s *routeSpec) { s.rpc = "GetRunV2" }, "rpc"},
		{"asgi", func(s *routeSpec) { s.asgi = true }, "asgi"},
		{"body", func(s *routeSpec) { s.body = bodyStream }, "body"},
		{"unknown field", func(s *routeSpec) { s.fields = append(s.fields, field{"experiment_id", idExperiment, false}) }, "field"},
		{"field of another kind", func(s *routeSpec) { s.fields = []field{{"run_id", idTrace, false}} }, "field"},
		{"field repeated", func(s *routeSpec) { s.fields = []field{{"run_id", idRun, true}} }, "field"},
	}
	for _, tt := range tests {
		rel := row
		rel.fields = append([]field(nil), row.fields...)
		tt.edit(&rel)
		got := specCovered(rel, row)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("%s: specCovered = %q; want it to mention %q", tt.name, got, tt.want)
		}
	}
}

// committedDumpFor is the committed dump for an installed MLflow version:
// the pinned one's, or a supported older release's.
func committedDumpFor(tb testing.TB, version string) []byte {
	tb.Helper()
	if readDump(tb).Version == version {
		b, err := os.ReadFile("testdata/mlflow-routes.json")
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	b, err := os.ReadFile(releaseDumpPath(version))
	if err != nil {
		var have []string
		for _, d := range readReleaseDumps(tb) {
			have = append(have, d.Version)
		}
		sort.Strings(have)
		tb.Fatalf("MLflow %s is installed; the table is generated from %s and proven for %v only. "+
			"Add its dump: (cd internal/classify/testdata && python dump_routes.py > releases/mlflow-%s.json)",
			version, readDump(tb).Version, have, version)
	}
	return b
}
