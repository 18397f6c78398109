package classify

import (
	"net/http"
	"strings"
	"testing"
)

type rejectCase struct {
	name         string
	method, path string
	query        string
	header       http.Header
	body         string
	wantStatus   int
	wantReason   string
}

func TestClassifyRefuses(t *testing.T) {
	t.Parallel()
	c := newClassifier(t)
	js := http.Header{"Content-Type": {ctJSON}}
	tests := []rejectCase{
		// A JSON body that repeats a key, at any depth.
		{name: "duplicate top-level key", method: "POST", path: "/api/2.0/mlflow/experiments/delete", header: js,
			body: `{"experiment_id": "1", "experiment_id": "2"}`, wantReason: "duplicate_json_key"},
		{name: "duplicate nested key", method: "POST", path: "/api/2.0/mlflow/runs/log-batch", header: js,
			body: `{"run_id": "r", "metrics": [{"key": "a", "key": "b", "value": 1}]}`, wantReason: "duplicate_json_key"},
		{name: "duplicate key in graphql variables", method: "POST", path: "/graphql", header: js,
			body: `{"query": "q", "variables": {"data": {"runId": "a", "runId": "b"}}}`, wantReason: "duplicate_json_key"},
		{name: "duplicate key spelled with escapes", method: "POST", path: "/api/2.0/mlflow/experiments/delete", header: js,
			body: `{"experiment_id": "1", "experiment\u005fid": "2"}`, wantReason: "duplicate_json_key"},
		{name: "duplicate key in a large object", method: "POST", path: "/api/2.0/mlflow/runs/create", header: js,
			body: `{"a":1,"b":1,"c":1,"d":1,"e":1,"f":1,"g":1,"h":1,"i":1,"j":1,"a":2}`, wantReason: "duplicate_json_key"},
		{name: "two spellings in a large object", method: "POST", path: "/api/2.0/mlflow/runs/create", header: js,
			body: `{"start_time":1,"b":1,"c":1,"d":1,"e":1,"f":1,"g":1,"h":1,"i":1,"j":1,"startTime":2}`, wantReason: "conflicting_field_spelling"},
		// A field spelled two ways.
		{name: "experiment_id and experimentId", method: "POST", path: "/api/2.0/mlflow/experiments/delete", header: js,
			body: `{"experiment_id": "1", "experimentId": "2"}`, wantReason: "conflicting_field_spelling"},
		{name: "same value spelled two ways", method: "POST", path: "/api/2.0/mlflow/runs/delete", header: js,
			body: `{"run_id": "1", "runId": "1"}`, wantReason: "conflicting_field_spelling"},
		{name: "nested two spellings", method: "POST", path: "/api/3.0/mlflow/traces", header: js,
			body: `{"trace": {"trace_info": {"trace_id": "a", "traceId": "b"}}}`, wantReason: "conflicting_field_spelling"},
		{name: "query two spellings", method: "GET", path: "/api/2.0/mlflow/experiments/get", query: "experiment_id=1&experimentId=2",
			wantReason: "conflicting_field_spelling"},
		// run_id, run_uuid, runId disagreeing.
		{name: "run_id vs run_uuid in body", method: "POST", path: "/api/2.0/mlflow/runs/log-metric", header: js,
			body: `{"run_id": "a", "run_uuid": "b", "key": "k", "value": 1, "timestamp": 1}`, wantReason: "conflicting_run_id"},
		{name: "runId vs run_uuid in body", method: "POST", path: "/api/2.0/mlflow/runs/set-tag", header: js,
			body: `{"runId": "a", "run_uuid": "b", "key": "k", "value": "v"}`, wantReason: "conflicting_run_id"},
		{name: "run_id vs run_uuid in query", method: "GET", path: "/api/2.0/mlflow/runs/get", query: "run_id=a&run_uuid=b",
			wantReason: "conflicting_run_id"},
		{name: "upload-artifact with two runs", method: "POST", path: "/ajax-api/2.0/mlflow/upload-artifact",
			query: "run_id=a&run_uuid=b&path=x", header: http.Header{"Content-Type": {"text/plain"}}, body: "data", wantReason: "conflicting_run_id"},
		{name: "get-artifact with two runs", method: "GET", path: "/get-artifact", query: "path=x&run_uuid=b&run_id=a",
			wantReason: "conflicting_run_id"},
		{name: "run in query vs body", method: "POST", path: "/api/2.0/mlflow/runs/log-batch", query: "run_id=a", header: js,
			body: `{"run_id": "b"}`, wantReason: "conflicting_run_id"},
		{name: "nested run aliases disagree", method: "POST", path: "/graphql", header: js,
			body: `{"query": "q", "variables": {"data": {"runId": "a", "run_uuid": "b"}}}`, wantReason: "conflicting_run_id"},
		// An identifier in two places with different values.
		{name: "experiment in query and body", method: "POST", path: "/api/2.0/mlflow/experiments/update", query: "experiment_id=1", header: js,
			body: `{"experiment_id": "2", "new_name": "x"}`, wantReason: "conflicting_identifier"},
		{name: "trace in path and body", method: "PATCH", path: "/api/3.0/mlflow/traces/tr-1/tags", header: js,
			body: `{"trace_id": "tr-2", "key": "k", "value": "v"}`, wantReason: "conflicting_identifier"},
		{name: "model name in query and body", method: "DELETE", path: "/api/2.0/mlflow/registered-models/delete", query: "name=a", header: js,
			body: `{"name": "b"}`, wantReason: "conflicting_identifier"},
		// Repeated query identifiers that disagree.
		{name: "repeated experiment_id", method: "GET", path: "/api/2.0/mlflow/experiments/get", query: "experiment_id=1&experiment_id=2",
			wantReason: "conflicting_identifier"},
		{name: "repeated model name", method: "GET", path: "/model-versions/get-artifact", query: "name=a&name=b&version=1&path=x",
			wantReason: "conflicting_identifier"},
		// A GET or HEAD with a body.
		{name: "GET with JSON body", method: "GET", path: "/api/2.0/mlflow/experiments/get", header: js,
			body: `{"experiment_id": "1"}`, wantReason: "body_on_get"},
		{name: "GET with Content-Length", method: "GET", path: "/api/2.0/mlflow/runs/get", query: "run_id=a",
			header: http.Header{"Content-Length": {"10"}}, wantReason: "body_on_get"},
		{name: "HEAD with chunked body", method: "HEAD", path: "/get-artifact", query: "path=x&run_id=a",
			header: http.Header{"Transfer-Encoding": {"chunked"}}, wantReason: "body_on_get"},
		// A body not declared JSON.
		{name: "DELETE with text/plain JSON body", method: "DELETE", path: "/api/2.0/mlflow/registered-models/delete",
			header: http.Header{"Content-Type": {"text/plain"}}, body: `{"name": "m"}`, wantReason: "content_type_not_json"},
		{name: "DELETE without Content-Type", method: "DELETE", path: "/api/3.0/mlflow/roles/delete",
			body: `{"role_id": 1}`, wantReason: "content_type_not_json"},
		{name: "PATCH form body", method: "PATCH", path: "/api/2.0/mlflow/users/update-admin",
			header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, body: `username=a&is_admin=true`, wantReason: "content_type_not_json"},
		{name: "POST with application/json-seq", method: "POST", path: "/api/2.0/mlflow/runs/create",
			header: http.Header{"Content-Type": {"application/jsonx"}}, body: `{}`, wantReason: "content_type_not_json"},
		{name: "two Content-Types", method: "POST", path: "/api/2.0/mlflow/runs/create",
			header: http.Header{"Content-Type": {ctJSON, "text/plain"}}, body: `{}`, wantReason: "content_type_not_json"},
		{name: "gzip JSON", method: "POST", path: "/api/2.0/mlflow/runs/create",
			header: http.Header{"Content-Type": {ctJSON}, "Content-Encoding": {"gzip"}}, body: `{}`, wantReason: "content_encoding"},
		// Invalid JSON.
		{name: "truncated JSON", method: "POST", path: "/api/2.0/mlflow/runs/create", header: js, body: `{"experiment_id": "1"`, wantReason: "invalid_json"},
		{name: "trailing data", method: "POST", path: "/api/2.0/mlflow/runs/create", header: js, body: `{} {}`, wantReason: "invalid_json"},
		{name: "bare NaN", method: "POST", path: "/api/2.0/mlflow/runs/log-metric", header: js, body: `{"value": NaN}`, wantReason: "invalid_json"},
		{name: "invalid UTF-8", method: "POST", path: "/api/2.0/mlflow/runs/create", header: js, body: "{\"name\": \"\xff\"}", wantReason: "invalid_json"},
		{name: "whitespace only", method: "POST", path: "/api/2.0/mlflow/runs/create", header: js, body: "  ", wantReason: "invalid_json"},
		{name: "double-encoded JSON string", method: "POST", path: "/api/2.0/mlflow/experiments/delete", header: js,
			body: `"{\"experiment_id\": \"1\"}"`, wantReason: "json_not_object"},
		{name: "array body", method: "POST", path: "/api/2.0/mlflow/runs/create", header: js, body: `[]`, wantReason: "json_not_object"},
		{name: "too deep", method: "POST", path: "/api/2.0/mlflow/runs/create", header: js,
			body: strings.Repeat(`{"a":`, 100) + "1" + strings.Repeat("}", 100), wantReason: "json_too_deep"},
		// Too large.
		{name: "body over the limit", method: "POST", path: "/api/2.0/mlflow/runs/create", header: js,
			body: `{"name": "` + strings.Repeat("x", 1<<20) + `"}`, wantStatus: 413, wantReason: "body_too_large"},
		{name: "declared length over the limit", method: "POST", path: "/api/2.0/mlflow/runs/log-batch",
			header: http.Header{"Content-Type": {ctJSON}, "Content-Length": {"9999999"}}, body: `{}`, wantReason: "body_not_buffered"},
		// Non-canonical paths.
		{name: "encoded slash", method: "GET", path: "/api/2.0/mlflow-artifacts/artifacts/a%2F..%2Fb", wantReason: "encoded_path_separator"},
		{name: "encoded slash lower-case", method: "GET", path: "/ajax-api/2.0/mlflow%2fexperiments/get", wantReason: "encoded_path_separator"},
		{name: "encoded backslash", method: "GET", path: "/api/2.0/mlflow-artifacts/artifacts/a%5Cb", wantReason: "encoded_path_separator"},
		{name: "raw backslash", method: "GET", path: "/api/2.0/mlflow-artifacts/artifacts/a\\b", wantReason: "backslash_in_path"},
		{name: "dot-dot segment", method: "GET", path: "/static-files/../api/2.0/mlflow/users/list", wantReason: "dot_segment"},
		{name: "dot segment", method: "POST", path: "/api/2.0/mlflow/./runs/create", wantReason: "dot_segment"},
		{name: "encoded dot", method: "GET", path: "/api/2.0/mlflow-artifacts/artifacts/%2E%2E/secret", wantReason: "dot_segment"},
		{name: "double slash", method: "GET", path: "//api/2.0/mlflow/experiments/get", wantReason: "non_canonical_path"},
		{name: "inner double slash", method: "POST", path: "/api/2.0/mlflow//runs/create", wantReason: "non_canonical_path"},
		{name: "encoded letter", method: "GET", path: "/%61pi/2.0/mlflow/experiments/get", wantReason: "non_canonical_path"},
		{name: "double encoding", method: "GET", path: "/api/2.0/mlflow-artifacts/artifacts/a%252Fb", wantReason: "double_encoding"},
		{name: "control character", method: "GET", path: "/api/2.0/mlflow/experiments/get\x00", wantReason: "invalid_path"},
		{name: "encoded NUL", method: "GET", path: "/api/2.0/mlflow-artifacts/artifacts/a%00", wantReason: "invalid_path"},
		{name: "relative path", method: "GET", path: "api/2.0/mlflow/experiments/get", wantReason: "invalid_path"},
		{name: "bad escape", method: "GET", path: "/api/2.0/mlflow-artifacts/artifacts/a%zz", wantReason: "invalid_path"},
		// Queries that parse differently.
		{name: "semicolon in query", method: "GET", path: "/api/2.0/mlflow/runs/get", query: "run_id=a;run_id=b", wantReason: "invalid_query"},
		{name: "bad escape in query", method: "GET", path: "/api/2.0/mlflow/runs/get", query: "run_id=%zz", wantReason: "invalid_query"},
		// Declared length.
		{name: "two Content-Lengths", method: "POST", path: "/api/2.0/mlflow/runs/create",
			header: http.Header{"Content-Type": {ctJSON}, "Content-Length": {"2", "2"}}, body: `{}`, wantReason: "invalid_content_length"},
		{name: "negative Content-Length", method: "POST", path: "/api/2.0/mlflow/runs/create",
			header: http.Header{"Content-Type": {ctJSON}, "Content-Length": {"-1"}}, body: `{}`, wantReason: "invalid_content_length"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := tt.header
			if h == nil {
				h = http.Header{}
			}
			_, err := c.classify(tt.method, tt.path, tt.query, h, []byte(tt.body))
			rej, ok := AsRejection(err)
			if !ok {
				t.Fatalf("got %v; want rejection %s", err, tt.wantReason)
			}
			want := tt.wantStatus
			if want == 0 {
				want = 400
			}
			if rej.Reason != tt.wantReason || rej.Status != want {
				t.Errorf("got %d %s (%s); want %d %s", rej.Status, rej.Reason, rej.Message, want, tt.wantReason)
			}
			if rej.Code == "" || rej.Message == "" || rej.Message != strings.ToLower(rej.Message[:1])+rej.Message[1:] {
				t.Errorf("rejection %+v: want an error code and a lower-case message", rej)
			}
		})
	}
}
