package classify

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

const ctJSON = "application/json"

type acceptCase struct {
	name          string
	method, path  string
	query         string
	contentType   string
	body          string
	wantFamily    Family
	wantRPC       string
	wantKnown     bool
	wantNeedsBody bool
	wantIDs       Identifiers
}

func runClassify(tb testing.TB, c *Classifier, method, path, query, contentType, body string) (Request, error) {
	tb.Helper()
	h := http.Header{}
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	return c.classify(method, path, query, h, []byte(body))
}

func TestClassifyAccepts(t *testing.T) {
	t.Parallel()
	c := newClassifier(t)
	tests := []acceptCase{
		{
			name: "log-batch from the python client", method: "POST", path: "/api/2.0/mlflow/runs/log-batch", contentType: ctJSON,
			body:       `{"run_id": "9a1b", "metrics": [{"key": "loss", "value": 0.5, "timestamp": 1700000000000, "step": 1}], "params": [{"key": "lr", "value": "0.1"}], "tags": []}`,
			wantFamily: FamilyAPI, wantRPC: "LogBatch", wantKnown: true, wantNeedsBody: true,
			wantIDs: Identifiers{RunIDs: []string{"9a1b"}},
		},
		{
			name: "log-metric with run_id and run_uuid agreeing", method: "POST", path: "/api/2.0/mlflow/runs/log-metric", contentType: "application/json; charset=utf-8",
			body:       `{"run_uuid": "r1", "run_id": "r1", "key": "acc", "value": "NaN", "timestamp": 1, "step": 0}`,
			wantFamily: FamilyAPI, wantRPC: "LogMetric", wantKnown: true, wantNeedsBody: true,
			wantIDs: Identifiers{RunIDs: []string{"r1"}},
		},
		{
			name: "experiments/search from the UI", method: "POST", path: "/ajax-api/2.0/mlflow/experiments/search", contentType: ctJSON,
			body:       `{"max_results": 25, "order_by": ["last_update_time DESC"], "filter": "name ILIKE '%demo%'"}`,
			wantFamily: FamilyAjaxAPI, wantRPC: "SearchExperiments", wantKnown: true, wantNeedsBody: true,
		},
		{
			name: "runs/search with experiment ids", method: "POST", path: "/api/2.0/mlflow/runs/search", contentType: ctJSON,
			body:       `{"experiment_ids": ["1", "2"], "filter": "", "run_view_type": "ACTIVE_ONLY", "max_results": 1000}`,
			wantFamily: FamilyAPI, wantRPC: "SearchRuns", wantKnown: true, wantNeedsBody: true,
			wantIDs: Identifiers{ExperimentIDs: []string{"1", "2"}},
		},
		{
			name: "lowerCamelCase body", method: "POST", path: "/api/2.0/mlflow/experiments/delete", contentType: ctJSON,
			body:       `{"experimentId": "7"}`,
			wantFamily: FamilyAPI, wantRPC: "DeleteExperiment", wantKnown: true, wantNeedsBody: true,
			wantIDs: Identifiers{ExperimentIDs: []string{"7"}},
		},
		{
			name: "get run by query", method: "GET", path: "/api/2.0/mlflow/runs/get", query: "run_uuid=abc&run_id=abc",
			wantFamily: FamilyAPI, wantRPC: "GetRun", wantKnown: true,
			wantIDs: Identifiers{RunIDs: []string{"abc"}},
		},
		{
			name: "get experiment", method: "GET", path: "/ajax-api/2.0/mlflow/experiments/get", query: "experiment_id=0",
			wantFamily: FamilyAjaxAPI, wantRPC: "GetExperiment", wantKnown: true,
			wantIDs: Identifiers{ExperimentIDs: []string{"0"}},
		},
		{
			name: "artifacts list with path", method: "GET", path: "/api/2.0/mlflow/artifacts/list", query: "run_id=r9&path=model%2Fdata",
			wantFamily: FamilyAPI, wantRPC: "ListArtifacts", wantKnown: true,
			wantIDs: Identifiers{RunIDs: []string{"r9"}, ArtifactPaths: []string{"model/data"}},
		},
		{
			name: "get-artifact from the UI", method: "GET", path: "/get-artifact", query: "path=model%2FMLmodel&run_uuid=r2",
			wantFamily: FamilyArtifacts, wantRPC: "GetArtifact", wantKnown: true,
			wantIDs: Identifiers{RunIDs: []string{"r2"}, ArtifactPaths: []string{"model/MLmodel"}},
		},
		{
			name: "model version artifact", method: "GET", path: "/model-versions/get-artifact", query: "path=MLmodel&name=My+Model&version=3",
			wantFamily: FamilyArtifacts, wantRPC: "GetModelVersionArtifact", wantKnown: true,
			wantIDs: Identifiers{ModelNames: []string{"My Model"}, Versions: []string{"3"}, ArtifactPaths: []string{"MLmodel"}},
		},
		{
			name: "registered model get", method: "GET", path: "/api/2.0/mlflow/registered-models/get", query: "name=churn",
			wantFamily: FamilyAPI, wantRPC: "GetRegisteredModel", wantKnown: true,
			wantIDs: Identifiers{ModelNames: []string{"churn"}},
		},
		{
			name: "create model version", method: "POST", path: "/api/2.0/mlflow/model-versions/create", contentType: ctJSON,
			body:       `{"name": "churn", "source": "models:/m-1", "run_id": "r1", "model_id": "m-1"}`,
			wantFamily: FamilyAPI, wantRPC: "CreateModelVersion", wantKnown: true, wantNeedsBody: true,
			wantIDs: Identifiers{ModelNames: []string{"churn"}, RunIDs: []string{"r1"}, LoggedModelIDs: []string{"m-1"}},
		},
		{
			name: "graphql POST", method: "POST", path: "/graphql", contentType: ctJSON,
			body:       `{"query": "query MlflowGetRun($data: MlflowGetRunInput) { mlflowGetRun(input: $data) { run { info { runUuid } } } }", "variables": {"data": {"runId": "r1"}}, "operationName": "MlflowGetRun"}`,
			wantFamily: FamilyGraphQL, wantRPC: "GraphQL", wantKnown: true, wantNeedsBody: true,
		},
		{
			name: "trace by path parameter", method: "GET", path: "/api/3.0/mlflow/traces/tr-0123abcd",
			wantFamily: FamilyAPI, wantRPC: "GetTraceInfoV3", wantKnown: true,
			wantIDs: Identifiers{TraceIDs: []string{"tr-0123abcd"}},
		},
		{
			name: "trace tag by path parameter and body", method: "PATCH", path: "/api/3.0/mlflow/traces/tr-1/tags", contentType: ctJSON,
			body:       `{"trace_id": "tr-1", "key": "k", "value": "v"}`,
			wantFamily: FamilyAPI, wantRPC: "SetTraceTagV3", wantKnown: true, wantNeedsBody: true,
			wantIDs: Identifiers{TraceIDs: []string{"tr-1"}},
		},
		{
			name: "delete trace tag with JSON body", method: "DELETE", path: "/ajax-api/3.0/mlflow/traces/tr-1/tags", contentType: ctJSON,
			body:       `{"key": "k"}`,
			wantFamily: FamilyAjaxAPI, wantRPC: "DeleteTraceTagV3", wantKnown: true, wantNeedsBody: true,
			wantIDs: Identifiers{TraceIDs: []string{"tr-1"}},
		},
		{
			name: "delete without body", method: "DELETE", path: "/api/2.0/mlflow/logged-models/m-9",
			wantFamily: FamilyAPI, wantRPC: "DeleteLoggedModel", wantKnown: true, wantNeedsBody: true,
			wantIDs: Identifiers{LoggedModelIDs: []string{"m-9"}},
		},
		{
			name: "artifact proxy upload streams", method: "PUT", path: "/api/2.0/mlflow-artifacts/artifacts/1/r1/artifacts/model.pkl", contentType: "application/octet-stream",
			wantFamily: FamilyArtifacts, wantRPC: "UploadArtifact", wantKnown: true,
			wantIDs: Identifiers{ArtifactPaths: []string{"1/r1/artifacts/model.pkl"}},
		},
		{
			name: "artifact proxy download", method: "GET", path: "/ajax-api/2.0/mlflow-artifacts/artifacts/1/r1/artifacts/a%20b.txt",
			wantFamily: FamilyArtifacts, wantRPC: "DownloadArtifact", wantKnown: true,
			wantIDs: Identifiers{ArtifactPaths: []string{"1/r1/artifacts/a b.txt"}},
		},
		{
			name: "multipart upload create", method: "POST", path: "/api/2.0/mlflow-artifacts/mpu/create/1/r1/artifacts/big.bin", contentType: ctJSON,
			body:       `{"path": "1/r1/artifacts/big.bin", "num_parts": 3}`,
			wantFamily: FamilyArtifacts, wantRPC: "CreateMultipartUpload", wantKnown: true, wantNeedsBody: true,
			wantIDs: Identifiers{ArtifactPaths: []string{"1/r1/artifacts/big.bin"}},
		},
		{
			name: "presigned download", method: "GET", path: "/api/2.0/mlflow-artifacts/presigned/1/r1/artifacts/x",
			wantFamily: FamilyArtifacts, wantRPC: "GetPresignedDownloadUrl", wantKnown: true,
			wantIDs: Identifiers{ArtifactPaths: []string{"1/r1/artifacts/x"}},
		},
		{
			name: "ajax upload-artifact streams", method: "POST", path: "/ajax-api/2.0/mlflow/upload-artifact", query: "run_uuid=r1&path=notes.txt", contentType: "text/plain",
			body:       "free text, not JSON",
			wantFamily: FamilyArtifacts, wantRPC: "UploadArtifact", wantKnown: true,
			wantIDs: Identifiers{RunIDs: []string{"r1"}, ArtifactPaths: []string{"notes.txt"}},
		},
		{
			name: "metric history bulk repeats run_id", method: "GET", path: "/ajax-api/2.0/mlflow/metrics/get-history-bulk", query: "run_id=a&run_id=b&metric_key=loss",
			wantFamily: FamilyAjaxAPI, wantRPC: "GetMetricHistoryBulk", wantKnown: true,
			wantIDs: Identifiers{RunIDs: []string{"a", "b"}},
		},
		{
			name: "OTLP export", method: "POST", path: "/v1/traces", contentType: "application/x-protobuf", body: "\x0a\x00",
			wantFamily: FamilyFastAPI, wantRPC: "ExportTraces", wantKnown: true,
		},
		{
			name: "gateway invocation", method: "POST", path: "/gateway/chat/mlflow/invocations", contentType: ctJSON, body: `{"messages": []}`,
			wantFamily: FamilyFastAPI, wantRPC: "Invocations", wantKnown: true,
		},
		{
			name: "jobs", method: "GET", path: "/ajax-api/3.0/jobs/job-1",
			wantFamily: FamilyFastAPI, wantRPC: "GetJob", wantKnown: true,
		},
		{name: "ui", method: "GET", path: "/", wantFamily: FamilyUI, wantKnown: true},
		{name: "static", method: "GET", path: "/static-files/static/js/main.8f3.js", wantFamily: FamilyStatic, wantKnown: true},
		{name: "favicon", method: "GET", path: "/favicon.ico", wantFamily: FamilyStatic, wantKnown: true},
		{name: "health", method: "GET", path: "/health", wantFamily: FamilyHealth, wantRPC: "Health", wantKnown: true},
		{name: "version HEAD", method: "HEAD", path: "/version", wantFamily: FamilyHealth, wantRPC: "Version", wantKnown: true},
		{name: "metrics", method: "GET", path: "/metrics", wantFamily: FamilyHealth, wantRPC: "PrometheusMetrics", wantKnown: true},
		{
			name: "auth admin create user", method: "POST", path: "/api/2.0/mlflow/users/create", contentType: ctJSON,
			body:       `{"username": "alice", "password": "a-long-password"}`,
			wantFamily: FamilyAuthAdmin, wantRPC: "CreateUser", wantKnown: true, wantNeedsBody: true,
		},
		{name: "server info", method: "GET", path: "/api/3.0/mlflow/server-info", wantFamily: FamilyAPI, wantRPC: "GetServerInfo", wantKnown: true},
		{name: "unknown api route", method: "GET", path: "/api/2.0/mlflow/experiments/frobnicate", wantFamily: FamilyAPI},
		{name: "wrong method", method: "DELETE", path: "/api/2.0/mlflow/experiments/create", wantFamily: FamilyAPI},
		{name: "unknown method", method: "TRACE", path: "/api/2.0/mlflow/experiments/get", wantFamily: FamilyAPI},
		{name: "options preflight", method: "OPTIONS", path: "/ajax-api/2.0/mlflow/runs/search", wantFamily: FamilyAjaxAPI, wantKnown: true},
		{name: "percent-encoded utf-8 in artifact path", method: "GET", path: "/api/2.0/mlflow-artifacts/artifacts/caf%C3%A9.txt",
			wantFamily: FamilyArtifacts, wantRPC: "DownloadArtifact", wantKnown: true, wantIDs: Identifiers{ArtifactPaths: []string{"café.txt"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := runClassify(t, c, tt.method, tt.path, tt.query, tt.contentType, tt.body)
			if err != nil {
				t.Fatalf("Classify: got error %v; want accept", err)
			}
			if got.Family != tt.wantFamily || got.RPC != tt.wantRPC || got.Known != tt.wantKnown || got.NeedsBody != tt.wantNeedsBody {
				t.Errorf("got family=%s rpc=%q known=%v needsBody=%v; want %s %q %v %v",
					got.Family, got.RPC, got.Known, got.NeedsBody, tt.wantFamily, tt.wantRPC, tt.wantKnown, tt.wantNeedsBody)
			}
			if diff := cmp.Diff(tt.wantIDs, got.IDs, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("IDs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestInspectFromHTTPRequest(t *testing.T) {
	t.Parallel()
	c := newClassifier(t)
	body := `{"experiment_id": "3", "name": "run"}`
	r := httptest.NewRequest("POST", "/api/2.0/mlflow/runs/create?x=1", strings.NewReader(body))
	r.Header.Set("Content-Type", ctJSON)
	rt, err := c.Route(r.Method, RawPath(r))
	if err != nil {
		t.Fatal(err)
	}
	if !rt.NeedsBody {
		t.Fatal("got NeedsBody false for runs/create; want true")
	}
	b, err := c.ReadBody(rt, r)
	if err != nil {
		t.Fatal(err)
	}
	req, err := c.Inspect(rt, r, b)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := req.IDs.ExperimentIDs, []string{"3"}; !cmp.Equal(got, want) {
		t.Errorf("got %v; want %v", got, want)
	}

	big := httptest.NewRequest("POST", "/api/2.0/mlflow/runs/create", strings.NewReader(strings.Repeat(" ", 2<<20)))
	_, err = c.ReadBody(rt, big)
	if rej, ok := AsRejection(err); !ok || rej.Status != http.StatusRequestEntityTooLarge {
		t.Errorf("ReadBody of 2 MiB: got %v; want 413 rejection", err)
	}

	up := httptest.NewRequest("PUT", "/api/2.0/mlflow-artifacts/artifacts/a/b.bin", strings.NewReader("bytes"))
	rt, err = c.Route(up.Method, RawPath(up))
	if err != nil {
		t.Fatal(err)
	}
	if b, err := c.ReadBody(rt, up); err != nil || b != nil {
		t.Errorf("ReadBody of an upload: got %q, %v; want nil, nil (stream)", b, err)
	}
	if _, err := c.Inspect(rt, up, nil); err != nil {
		t.Errorf("Inspect of an upload: %v", err)
	}
}

func TestRejectionBody(t *testing.T) {
	t.Parallel()
	rej := reject("duplicate_json_key", "request body repeats the key %q", "a\"b")
	got := string(rej.Body())
	want := `{"error_code":"INVALID_PARAMETER_VALUE","message":"request body repeats the key \"a\\\"b\""}`
	if got != want {
		t.Errorf("got %s; want %s", got, want)
	}
	w := httptest.NewRecorder()
	rej.Write(w)
	if w.Code != 400 || w.Header().Get("Content-Type") != ctJSON {
		t.Errorf("got %d %q; want 400 application/json", w.Code, w.Header().Get("Content-Type"))
	}
}

func TestIsAPI(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path string
		want bool
	}{
		{"/api/2.0/mlflow/experiments/get", true},
		{"/ajax-api/3.0/mlflow/anything", true},
		{"/graphql", true},
		{"/get-artifact", true},
		{"/model-versions/get-artifact", true},
		{"/gateway/x/mlflow/invocations", true},
		{"/v1/traces", true},
		{"/%61pi/2.0/mlflow/x", true}, // unparseable counts as API
		{"//api/2.0/mlflow/x", true},
		{"/", false},
		{"/static-files/main.js", false},
		{"/health", false},
		{"/favicon.ico", false},
	}
	for _, tt := range tests {
		if got := IsAPI(tt.path); got != tt.want {
			t.Errorf("IsAPI(%q) = %v; want %v", tt.path, got, tt.want)
		}
	}
}

func TestNewRejectsNegativeLimit(t *testing.T) {
	t.Parallel()
	if _, err := New(Options{MaxJSONBody: -1}); err == nil {
		t.Error("got nil error; want one")
	}
	c, err := New(Options{})
	if err != nil || c.MaxJSONBody() != DefaultMaxJSONBody {
		t.Errorf("got %v, %v; want default limit", c, err)
	}
}
