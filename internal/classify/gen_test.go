package classify

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"go/format"
	"os"
	"sort"
	"strings"
	"testing"
)

// The route table (table_gen.go) is generated from testdata/mlflow-routes.json,
// which testdata/dump_routes.py prints from the installed MLflow. After an
// upgrade: re-run the dump, then `go test ./internal/classify -run
// TestGeneratedTable -update`, and review the diff of both files.
var update = flag.Bool("update", false, "rewrite table_gen.go from testdata/mlflow-routes.json")

type dumpFile struct {
	Version string      `json:"mlflow_version"`
	Routes  []dumpRoute `json:"routes"`
}

type dumpRoute struct {
	Source   string      `json:"source"`
	Path     string      `json:"path"`
	Methods  []string    `json:"methods"`
	Endpoint string      `json:"endpoint"`
	Service  string      `json:"service,omitempty"`
	RPC      string      `json:"rpc,omitempty"`
	Fields   []dumpField `json:"fields,omitempty"`
}

type dumpField struct {
	Name     string `json:"name"`
	JSONName string `json:"json_name"`
	Repeated bool   `json:"repeated"`
}

func readDump(tb testing.TB) dumpFile {
	tb.Helper()
	b, err := os.ReadFile("testdata/mlflow-routes.json")
	if err != nil {
		tb.Fatal(err)
	}
	var d dumpFile
	if err := json.Unmarshal(b, &d); err != nil {
		tb.Fatalf("testdata/mlflow-routes.json: %v", err)
	}
	return d
}

// overlay describes a Flask route that is not a protobuf RPC: MLflow reads its
// parameters by hand, so the identifiers it carries are written down here.
type overlay struct {
	rpc    string
	fields []field
}

var (
	fRun      = field{"run_id", idRun, false}
	fRunUUID  = field{"run_uuid", idRun, false}
	fPath     = field{"path", idArtifactPath, false}
	fExp      = field{"experiment_id", idExperiment, false}
	fExps     = field{"experiment_ids", idExperiment, true}
	fTraceIDs = field{"trace_ids", idTrace, true}
)

// overlays covers every non-protobuf Flask route under /api, /ajax-api and the
// unprefixed artifact routes. The generator fails on one it does not list.
var overlays = map[string]overlay{
	"/get-artifact":                                                 {"GetArtifact", []field{fRun, fRunUUID, fPath}},
	"/model-versions/get-artifact":                                  {"GetModelVersionArtifact", []field{{"name", idModelName, false}, {"version", idVersion, false}, fPath}},
	"/ajax-api/2.0/mlflow/upload-artifact":                          {"UploadArtifact", []field{fRun, fRunUUID, fPath}},
	"/ajax-api/2.0/mlflow/get-trace-artifact":                       {"GetTraceArtifact", []field{{"request_id", idTrace, false}, fPath}},
	"/ajax-api/3.0/mlflow/get-trace-artifact":                       {"GetTraceArtifact", []field{{"request_id", idTrace, false}, fPath}},
	"/ajax-api/2.0/mlflow/metrics/get-history-bulk":                 {"GetMetricHistoryBulk", []field{{"run_id", idRun, true}}},
	"/ajax-api/2.0/mlflow/logged-models/<model_id>/artifacts/files": {"GetLoggedModelArtifact", []field{{"artifact_file_path", idArtifactPath, false}}},
	"/ajax-api/2.0/mlflow/experiments/search-datasets":              {"SearchDatasets", []field{fExps}},
	"/ajax-api/2.0/mlflow/runs/create-promptlab-run":                {"CreatePromptlabRun", []field{fExp}},
	"/ajax-api/2.0/mlflow/gateway-proxy":                            {"GatewayProxy", nil},
	"/ajax-api/3.0/mlflow/demo/generate":                            {"GenerateDemo", nil},
	"/ajax-api/3.0/mlflow/demo/delete":                              {"DeleteDemo", nil},
	"/ajax-api/3.0/mlflow/gateway/supported-providers":              {"ListSupportedProviders", nil},
	"/ajax-api/3.0/mlflow/gateway/supported-models":                 {"ListSupportedModels", nil},
	"/ajax-api/3.0/mlflow/gateway/provider-config":                  {"GetProviderConfig", nil},
	"/ajax-api/3.0/mlflow/gateway/secrets/config":                   {"GetSecretsConfig", nil},
	"/ajax-api/3.0/mlflow/genai/evaluate/invoke":                    {"InvokeGenaiEvaluate", []field{fExp, fTraceIDs}},
	"/ajax-api/3.0/mlflow/issues/invoke":                            {"InvokeIssueDetection", []field{fExp, fTraceIDs}},
	"/ajax-api/3.0/mlflow/scorer/invoke":                            {"InvokeScorer", []field{fExp, fTraceIDs}},
	"/ajax-api/3.0/mlflow/jobs/<job_id>":                            {"GetJob", nil},
	"/ajax-api/3.0/mlflow/jobs/cancel/<job_id>":                     {"CancelJob", nil},
	"/ajax-api/3.0/mlflow/ui-telemetry":                             {"UITelemetry", nil},
	"/api/3.0/mlflow/scorers/online-configs":                        {"GetOnlineScoringConfigs", nil},
	"/ajax-api/3.0/mlflow/scorers/online-configs":                   {"GetOnlineScoringConfigs", nil},
	"/api/3.0/mlflow/scorers/online-config":                         {"UpsertOnlineScoringConfig", []field{fExp}},
	"/ajax-api/3.0/mlflow/scorers/online-config":                    {"UpsertOnlineScoringConfig", []field{fExp}},
	"/api/3.0/mlflow/server-info":                                   {"GetServerInfo", nil},
	"/ajax-api/3.0/mlflow/server-info":                              {"GetServerInfo", nil},
	"/graphql":                                                      {"GraphQL", nil},
}

// synthetic routes are not MLflow's but are classified anyway.
var synthetic = []routeSpec{
	// Browsers ask for it on their own; MLflow answers 404 (the UI's icon is
	// under /static-files).
	{pattern: "/favicon.ico", methods: mGET, family: FamilyStatic},
}

// streamed lists endpoints whose body MLflow streams or parses as something
// other than JSON: the gateway must never buffer it.
var streamed = map[string]bool{
	"upload_artifact":       true, // FastAPI PUT mlflow-artifacts/artifacts/{path}
	"_upload_artifact":      true, // its Flask twin (shadowed by FastAPI)
	"serve_upload_artifact": true, // POST /ajax-api/2.0/mlflow/upload-artifact
	"<lambda>":              true, // POST users/create-ui: an HTML form
}

// uploadNameRPCs are the multipart-upload RPCs whose body "path" is the
// client's local file (MLflow keeps its base name), not an artifact path.
var uploadNameRPCs = map[string]bool{
	"createMultipartUpload": true, "completeMultipartUpload": true, "abortMultipartUpload": true,
}

// protoFieldKind maps a protobuf request field to an identifier kind.
func protoFieldKind(service, rpc, name string) idKind {
	if name == "path" && uploadNameRPCs[rpc] {
		return idUploadName
	}
	switch name {
	case "experiment_id", "experiment_ids":
		return idExperiment
	case "run_id", "run_uuid", "run_ids", "source_run_id":
		return idRun
	case "trace_id", "trace_ids", "request_id", "request_ids":
		return idTrace
	case "model_id", "model_ids":
		return idLoggedModel
	case "path", "artifact_directory_path":
		return idArtifactPath
	}
	if service == "ModelRegistryService" {
		switch name {
		case "name", "new_name":
			return idModelName
		case "version":
			return idVersion
		}
	}
	return idNone
}

func familyFor(r dumpRoute) (Family, error) {
	p := r.Path
	switch {
	case p == "/signup" || strings.Contains(p, "/mlflow/users/") || strings.Contains(p, "/mlflow/roles/"):
		return FamilyAuthAdmin, nil
	case r.Service == "MlflowArtifactsService" || strings.Contains(p, "/mlflow-artifacts/"),
		p == "/get-artifact", p == "/model-versions/get-artifact",
		strings.HasSuffix(p, "/mlflow/upload-artifact"), strings.HasSuffix(p, "/mlflow/get-trace-artifact"),
		strings.HasSuffix(p, "/artifacts/files"):
		return FamilyArtifacts, nil
	case p == "/graphql":
		return FamilyGraphQL, nil
	case p == "/health" || p == "/version" || p == "/metrics":
		return FamilyHealth, nil
	case p == "/":
		return FamilyUI, nil
	case strings.HasPrefix(p, "/static-files/") || strings.HasPrefix(p, "/build/"):
		return FamilyStatic, nil
	case strings.HasSuffix(p, "/mlflow/server-info") && strings.HasPrefix(p, "/ajax-api/"):
		return FamilyAjaxAPI, nil
	case strings.HasSuffix(p, "/mlflow/server-info"):
		return FamilyAPI, nil
	case r.Source == "fastapi":
		return FamilyFastAPI, nil
	case strings.HasPrefix(p, "/ajax-api/"):
		return FamilyAjaxAPI, nil
	case strings.HasPrefix(p, "/api/"):
		return FamilyAPI, nil
	}
	return "", fmt.Errorf("no family for %s %s", r.Source, p)
}

func camel(s string) string {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "_"), "serve_")
	s = strings.TrimSuffix(s, "_handler")
	var b strings.Builder
	up := true
	for _, c := range s {
		if c == '_' {
			up = true
			continue
		}
		if up && c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		up = false
		b.WriteRune(c)
	}
	return b.String()
}

func methodsOf(ms []string) (method, error) {
	var m method
	for _, s := range ms {
		b := methodBit(s)
		if b == 0 || s == "HEAD" {
			return 0, fmt.Errorf("unexpected method %q", s)
		}
		m |= b
	}
	return m, nil
}

func specFor(r dumpRoute) (routeSpec, error) {
	fam, err := familyFor(r)
	if err != nil {
		return routeSpec{}, err
	}
	m, err := methodsOf(r.Methods)
	if err != nil {
		return routeSpec{}, fmt.Errorf("%s: %w", r.Path, err)
	}
	s := routeSpec{pattern: r.Path, methods: m, family: fam, asgi: r.Source == "fastapi"}
	switch {
	case r.RPC != "":
		s.rpc = strings.ToUpper(r.RPC[:1]) + r.RPC[1:]
		for _, f := range r.Fields {
			if k := protoFieldKind(r.Service, r.RPC, f.Name); k != idNone {
				s.fields = append(s.fields, field{f.Name, k, f.Repeated})
			}
		}
	case overlays[r.Path].rpc != "":
		o := overlays[r.Path]
		s.rpc, s.fields = o.rpc, o.fields
	case s.asgi, fam == FamilyAuthAdmin, fam == FamilyHealth, fam == FamilyStatic, fam == FamilyUI:
		s.rpc = camel(r.Endpoint)
		if fam == FamilyStatic || fam == FamilyUI {
			s.rpc = ""
		}
	default:
		return routeSpec{}, fmt.Errorf("%s %v (%s): not a protobuf RPC and not in overlays", r.Path, r.Methods, r.Endpoint)
	}
	switch {
	case m == mGET:
		s.body = bodyNone
	case s.asgi || streamed[r.Endpoint]:
		s.body = bodyStream
	default:
		s.body = bodyJSON
	}
	return s, nil
}

func specsFromDump(d dumpFile) ([]routeSpec, error) {
	var out []routeSpec
	seen := map[string]bool{}
	for _, r := range d.Routes {
		if r.Source == "fastapi-mount" {
			continue
		}
		if r.Source != "flask" && r.Source != "fastapi" {
			return nil, fmt.Errorf("%s: unexpected route source %q", r.Path, r.Source)
		}
		key := r.Source + " " + r.Path + " " + strings.Join(r.Methods, ",")
		if seen[key] { // Flask keeps the first of two identical rules
			continue
		}
		seen[key] = true
		s, err := specFor(r)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	out = append(out, synthetic...)
	return out, nil
}

var familyIdent = map[Family]string{
	FamilyAPI: "FamilyAPI", FamilyAjaxAPI: "FamilyAjaxAPI", FamilyArtifacts: "FamilyArtifacts",
	FamilyGraphQL: "FamilyGraphQL", FamilyFastAPI: "FamilyFastAPI", FamilyStatic: "FamilyStatic",
	FamilyUI: "FamilyUI", FamilyHealth: "FamilyHealth", FamilyAuthAdmin: "FamilyAuthAdmin",
}

var kindIdent = []string{"idNone", "idExperiment", "idRun", "idModelName", "idVersion", "idTrace", "idArtifactPath", "idLoggedModel", "idUploadName"}

func methodExpr(m method) string {
	var parts []string
	for i, n := range []string{"mGET", "mPOST", "mPUT", "mPATCH", "mDELETE"} {
		if m&(1<<i) != 0 {
			parts = append(parts, n)
		}
	}
	return strings.Join(parts, "|")
}

func renderTable(version string, specs []routeSpec) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by gen_test.go from testdata/mlflow-routes.json (MLflow %s). DO NOT EDIT.\n\n", version)
	b.WriteString("package classify\n\n")
	fmt.Fprintf(&b, "// mlflowVersion is the MLflow release the table was generated from.\nconst mlflowVersion = %q\n\n", version)
	b.WriteString("var routeTable = []routeSpec{\n")
	bodyIdent := []string{"bodyNone", "bodyJSON", "bodyStream"}
	for _, s := range specs {
		fmt.Fprintf(&b, "{pattern: %q, methods: %s, family: %s", s.pattern, methodExpr(s.methods), familyIdent[s.family])
		if s.rpc != "" {
			fmt.Fprintf(&b, ", rpc: %q", s.rpc)
		}
		if s.body != bodyNone {
			fmt.Fprintf(&b, ", body: %s", bodyIdent[s.body])
		}
		if s.asgi {
			b.WriteString(", asgi: true")
		}
		if len(s.fields) > 0 {
			b.WriteString(", fields: []field{")
			for i, f := range s.fields {
				if i > 0 {
					b.WriteString(", ")
				}
				fmt.Fprintf(&b, "{%q, %s, %t}", f.name, kindIdent[f.kind], f.repeated)
			}
			b.WriteString("}")
		}
		b.WriteString("},\n")
	}
	b.WriteString("}\n")
	return format.Source(b.Bytes())
}

func TestGeneratedTableUpToDate(t *testing.T) {
	d := readDump(t)
	specs, err := specsFromDump(d)
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	src, err := renderTable(d.Version, specs)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	if *update {
		if err := os.WriteFile("table_gen.go", src, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile("table_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, src) {
		t.Fatal("table_gen.go is stale: run go test ./internal/classify -run TestGeneratedTableUpToDate -update and review the diff")
	}
}

func TestOverlaysAreUsed(t *testing.T) {
	t.Parallel()
	d := readDump(t)
	paths := map[string]bool{}
	for _, r := range d.Routes {
		paths[r.Path] = true
	}
	var stale []string
	for p := range overlays {
		if !paths[p] {
			stale = append(stale, p)
		}
	}
	sort.Strings(stale)
	if len(stale) > 0 {
		t.Errorf("overlays name routes MLflow no longer has: %v", stale)
	}
}
