package app_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestSecurityRequests attacks what-you-may-do as bob, a signed-in user with
// READ on alice's data: writes through every route family, admin escalation
// through path encodings, artifact path traversal, and ambiguous requests
// that name bob's own run to the check and alice's to the handler. After
// each family alice's data is read back as an admin and must be unchanged.
func TestSecurityRequests(t *testing.T) {
	e := newSecEnv(t, "MLFLOW_DESCOPE_MAX_JSON_BODY=1048576")
	d := e.seed()
	before := e.snapshot(d)

	t.Run("writes_every_family", func(t *testing.T) { e.writeCases(t, d) })
	e.untouched(d, before)
	t.Run("admin_escalation", func(t *testing.T) { e.escalationCases(t, d) })
	e.untouched(d, before)
	t.Run("path_encodings", func(t *testing.T) { e.pathCases(t, d) })
	e.untouched(d, before)
	t.Run("artifact_traversal", func(t *testing.T) { e.traversalCases(t, d) })
	e.untouched(d, before)
	t.Run("ambiguous_bodies", func(t *testing.T) { e.ambiguityCases(t, d) })
	e.untouched(d, before)
	t.Run("unknown_routes", func(t *testing.T) { e.unknownRouteCases(t) })
	e.untouched(d, before)
}

type reqCase struct {
	name, method, target string
	ct                   string // "" with a body: application/json
	body                 string
	extra                []hdr
	status               []int
}

func (e *secEnv) runCases(t *testing.T, tok string, cases []reqCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hs := []hdr{bearer(tok)}
			var body []byte
			if c.body != "" {
				body = []byte(c.body)
				ct := c.ct
				if ct == "" {
					ct = "application/json"
				}
				if ct != "-" {
					hs = append(hs, hdr{"Content-Type", ct})
				}
			}
			r := e.raw(c.method, c.target, append(hs, c.extra...), body)
			refused(t, r, true, c.status...)
			if bytes.Contains(r.body, []byte("root:x:0:0")) {
				t.Errorf("file contents leaked: %s", r)
			}
		})
	}
}

func js(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

var deny = []int{403}

// writeCases: bob (READ) writes to alice's experiment, run, model and
// artifacts through the REST API, its /ajax-api twin, the artifact proxy, the
// UI's upload route and GraphQL.
func (e *secEnv) writeCases(t *testing.T, d secData) {
	exp, run, model := d.expID, d.runID, d.model
	artPath := "/api/2.0/mlflow-artifacts/artifacts/" + exp + "/" + run + "/artifacts/model.txt"
	var cases []reqCase
	for _, pre := range []string{"/api", "/ajax-api"} {
		fam := strings.TrimPrefix(pre, "/")
		cases = append(cases,
			reqCase{name: fam + "_rename_experiment", method: "POST", target: pre + "/2.0/mlflow/experiments/update", body: js(map[string]any{"experiment_id": exp, "new_name": "pwned"}), status: deny},
			reqCase{name: fam + "_delete_experiment", method: "POST", target: pre + "/2.0/mlflow/experiments/delete", body: js(map[string]any{"experiment_id": exp}), status: deny},
			reqCase{name: fam + "_set_experiment_tag", method: "POST", target: pre + "/2.0/mlflow/experiments/set-experiment-tag", body: js(map[string]any{"experiment_id": exp, "key": "owner", "value": "bob"}), status: deny},
			reqCase{name: fam + "_create_run_in_alice_experiment", method: "POST", target: pre + "/2.0/mlflow/runs/create", body: js(map[string]any{"experiment_id": exp}), status: deny},
			reqCase{name: fam + "_set_run_tag", method: "POST", target: pre + "/2.0/mlflow/runs/set-tag", body: js(map[string]any{"run_id": run, "key": "stage", "value": "pwned"}), status: deny},
			reqCase{name: fam + "_log_param", method: "POST", target: pre + "/2.0/mlflow/runs/log-parameter", body: js(map[string]any{"run_id": run, "key": "evil", "value": "1"}), status: deny},
			reqCase{name: fam + "_log_batch", method: "POST", target: pre + "/2.0/mlflow/runs/log-batch", body: js(map[string]any{"run_id": run, "tags": []any{map[string]any{"key": "stage", "value": "pwned"}}}), status: deny},
			reqCase{name: fam + "_update_run", method: "POST", target: pre + "/2.0/mlflow/runs/update", body: js(map[string]any{"run_id": run, "status": "FAILED", "run_name": "pwned"}), status: deny},
			reqCase{name: fam + "_delete_run", method: "POST", target: pre + "/2.0/mlflow/runs/delete", body: js(map[string]any{"run_id": run}), status: deny},
			reqCase{name: fam + "_delete_run_tag", method: "POST", target: pre + "/2.0/mlflow/runs/delete-tag", body: js(map[string]any{"run_id": run, "key": "stage"}), status: deny},
			reqCase{name: fam + "_rename_model", method: "POST", target: pre + "/2.0/mlflow/registered-models/rename", body: js(map[string]any{"name": model, "new_name": "pwned"}), status: deny},
			reqCase{name: fam + "_update_model", method: "PATCH", target: pre + "/2.0/mlflow/registered-models/update", body: js(map[string]any{"name": model, "description": "pwned"}), status: deny},
			reqCase{name: fam + "_delete_model", method: "DELETE", target: pre + "/2.0/mlflow/registered-models/delete", body: js(map[string]any{"name": model}), status: deny},
			reqCase{name: fam + "_set_model_tag", method: "POST", target: pre + "/2.0/mlflow/registered-models/set-tag", body: js(map[string]any{"name": model, "key": "k", "value": "pwned"}), status: deny},
			reqCase{name: fam + "_create_version_of_alice_model", method: "POST", target: pre + "/2.0/mlflow/model-versions/create", body: js(map[string]any{"name": model, "source": "runs:/" + d.bobRunID + "/m", "run_id": d.bobRunID}), status: deny},
		)
	}
	cases = append(cases,
		reqCase{name: "artifact_proxy_overwrite", method: "PUT", target: artPath, ct: "application/octet-stream", body: "pwned", status: deny},
		reqCase{name: "artifact_proxy_new_file", method: "PUT", target: strings.Replace(artPath, "model.txt", "evil.txt", 1), ct: "application/octet-stream", body: "pwned", status: deny},
		reqCase{name: "artifact_proxy_delete", method: "DELETE", target: artPath, status: deny},
		reqCase{name: "artifact_proxy_ajax_twin_overwrite", method: "PUT", target: "/ajax-api" + strings.TrimPrefix(artPath, "/api"), ct: "application/octet-stream", body: "pwned", status: deny},
		reqCase{name: "artifact_mpu_create", method: "POST", target: "/api/2.0/mlflow-artifacts/mpu/create/" + exp + "/" + run + "/artifacts/big.bin", body: js(map[string]any{"path": "big.bin", "num_parts": 1}), status: []int{403, 501}},
		reqCase{name: "ui_upload_artifact", method: "POST", target: "/ajax-api/2.0/mlflow/upload-artifact?run_uuid=" + run + "&path=model.txt", ct: "application/octet-stream", body: "pwned", status: deny},
		reqCase{name: "ui_upload_artifact_run_id", method: "POST", target: "/ajax-api/2.0/mlflow/upload-artifact?run_id=" + run + "&path=evil.txt", ct: "application/octet-stream", body: "pwned", status: deny},
	)
	e.runCases(t, e.bob.session, cases)

	// GraphQL: MLflow 3.17.2's schema has no mutation that writes (its
	// Mutation type holds searches and an echo). Every write-shaped mutation
	// is refused by the schema and changes nothing; the searches it does
	// have are filtered by MLflow's RBAC.
	for _, q := range []struct{ name, query string }{
		{"graphql_set_tag_mutation", `mutation { mlflowSetTag(input: {runId: "` + run + `", key: "stage", value: "pwned"}) { __typename } }`},
		{"graphql_delete_run_mutation", `mutation { mlflowDeleteRun(input: {runId: "` + run + `"}) { __typename } }`},
		{"graphql_update_experiment_mutation", `mutation { mlflowUpdateExperiment(input: {experimentId: "` + exp + `", newName: "pwned"}) { __typename } }`},
	} {
		t.Run(q.name, func(t *testing.T) {
			r := e.api(e.bob.session, "POST", "/graphql", map[string]any{"query": q.query})
			// GraphQL answers schema errors in its own envelope.
			var out struct {
				Data   map[string]any `json:"data"`
				Errors []any          `json:"errors"`
			}
			if err := json.Unmarshal(r.body, &out); err != nil {
				t.Fatalf("graphql: %s", r)
			}
			if len(out.Errors) == 0 {
				t.Errorf("write-shaped mutation accepted: %s", r)
			}
			for _, v := range out.Data {
				if v != nil {
					t.Errorf("mutation returned data: %s", r)
				}
			}
		})
	}
}

// escalationCases: bob tries to become admin, create users, grant himself
// permissions or act on alice's account, on the admin REST API and its twin.
func (e *secEnv) escalationCases(t *testing.T, d secData) {
	bob, alice := e.bob.login, e.alice.login // MLflow usernames
	var cases []reqCase
	for _, pre := range []string{"/api", "/ajax-api"} {
		fam := strings.TrimPrefix(pre, "/")
		cases = append(cases,
			reqCase{name: fam + "_update_admin_self", method: "PATCH", target: pre + "/2.0/mlflow/users/update-admin", body: js(map[string]any{"username": bob, "is_admin": true}), status: deny},
			reqCase{name: fam + "_create_user", method: "POST", target: pre + "/2.0/mlflow/users/create", body: js(map[string]any{"username": "evil-admin", "password": "evil-password-123456"}), status: deny},
			reqCase{name: fam + "_delete_alice", method: "DELETE", target: pre + "/2.0/mlflow/users/delete", body: js(map[string]any{"username": alice}), status: deny},
			reqCase{name: fam + "_set_alice_password", method: "PATCH", target: pre + "/2.0/mlflow/users/update-password", body: js(map[string]any{"username": alice, "password": "evil-password-123456"}), status: deny},
			reqCase{name: fam + "_create_role", method: "POST", target: pre + "/3.0/mlflow/roles/create", body: js(map[string]any{"name": "evil", "workspace": "default"}), status: []int{400, 403}},
			reqCase{name: fam + "_grant_self_manage", method: "POST", target: pre + "/3.0/mlflow/users/permissions/grant", body: js(map[string]any{"username": bob, "resource_type": "experiment", "resource_pattern": d.expID, "permission": "MANAGE"}), status: []int{400, 403}},
			reqCase{name: fam + "_assign_role_1", method: "POST", target: pre + "/3.0/mlflow/roles/assign", body: js(map[string]any{"username": bob, "role_id": 1}), status: []int{400, 403}},
		)
	}
	cases = append(cases,
		reqCase{name: "signup_form", method: "POST", target: "/api/2.0/mlflow/users/create-ui", ct: "application/x-www-form-urlencoded", body: "username=evil&password=evil-password-123456", status: []int{400, 403}},
		reqCase{name: "method_override_header", method: "POST", target: "/api/2.0/mlflow/users/update-admin", body: js(map[string]any{"username": bob, "is_admin": true}), extra: []hdr{{"X-HTTP-Method-Override", "PATCH"}}, status: []int{403, 404, 405}},
	)
	e.runCases(t, e.bob.session, cases)
	if r := e.api(e.root.session, "GET", "/api/2.0/mlflow/users/get?username=evil-admin", nil); r.status == http.StatusOK {
		t.Errorf("bob created a user: %s", r)
	}
}

// pathCases reach admin-only and alice's routes through encodings a proxy
// and MLflow could read differently. The gateway refuses them before MLflow
// sees them (400), or they resolve to nothing (403 unknown route / 404).
func (e *secEnv) pathCases(t *testing.T, d secData) {
	promote := js(map[string]any{"username": e.bob.login, "is_admin": true})
	rename := js(map[string]any{"experiment_id": d.expID, "new_name": "pwned"})
	p := func(name, target string, status ...int) reqCase {
		return reqCase{name: name, method: "PATCH", target: target, body: promote, status: status}
	}
	bad := []int{400}
	unknown := []int{400, 403, 404}
	abs := "http://" + e.host + "/api/2.0/mlflow/users/update-admin"
	cases := []reqCase{
		p("encoded_slash", "/api/2.0/mlflow%2Fusers/update-admin", bad...),
		p("encoded_slash_lower", "/api/2.0/mlflow/users%2fupdate-admin", bad...),
		p("encoded_backslash", "/api/2.0/mlflow%5Cusers/update-admin", bad...),
		p("raw_backslash", "/api/2.0/mlflow\\users/update-admin", bad...),
		p("dot_segment", "/api/2.0/mlflow/./users/update-admin", bad...),
		p("dotdot_segment", "/api/2.0/mlflow/x/../users/update-admin", bad...),
		p("encoded_dotdot", "/api/2.0/mlflow/x/%2e%2e/users/update-admin", bad...),
		p("encoded_dotdot_upper", "/api/2.0/mlflow/x/%2E%2E/users/update-admin", bad...),
		p("half_encoded_dotdot", "/api/2.0/mlflow/x/.%2e/users/update-admin", bad...),
		p("static_files_dotdot", "/static-files/../api/2.0/mlflow/users/update-admin", bad...),
		p("leading_double_slash", "//api/2.0/mlflow/users/update-admin", bad...),
		p("inner_double_slash", "/api/2.0//mlflow/users/update-admin", bad...),
		p("encoded_unreserved", "/%61pi/2.0/mlflow/users/update-admin", bad...),
		p("encoded_hyphen", "/api/2.0/mlflow/users/update%2Dadmin", bad...),
		p("double_encoding", "/api/2.0/mlflow%252Fusers/update-admin", bad...),
		p("nul_byte", "/api/2.0/mlflow/users/update-admin%00", bad...),
		p("raw_unicode_fullwidth_slash", "/api/2.0/mlflow/users\uff0fupdate-admin", bad...),
		p("encoded_fullwidth_slash", "/api/2.0/mlflow/users%EF%BC%8Fupdate-admin", unknown...),
		p("unicode_dotdot_lookalike", "/api/2.0/mlflow/x/%E2%80%A4%E2%80%A4/users/update-admin", unknown...),
		p("jsessionid_param", "/api/2.0/mlflow/users/update-admin;jsessionid=x", unknown...),
		p("semicolon_segment", "/api/2.0/mlflow;x=1/users/update-admin", unknown...),
		p("upper_case_prefix", "/API/2.0/mlflow/users/update-admin", unknown...),
		p("trailing_slash", "/api/2.0/mlflow/users/update-admin/", unknown...),
		p("trailing_encoded_space", "/api/2.0/mlflow/users/update-admin%20", unknown...),
		p("fragment_in_target", "/api/2.0/mlflow/users/update-admin#x", bad...),
		p("absolute_form_target", abs, []int{400, 403}...),
		p("ajax_twin", "/ajax-api/2.0/mlflow/users/update-admin", 403),
		p("api_version_3", "/api/3.0/mlflow/users/update-admin", unknown...),
		{name: "rename_encoded_slash", method: "POST", target: "/api/2.0/mlflow%2Fexperiments/update", body: rename, status: bad},
		{name: "rename_dotdot_from_static", method: "POST", target: "/static-files/..%2F..%2Fapi/2.0/mlflow/experiments/update", body: rename, status: bad},
		{name: "rename_ajax_dot_segment", method: "POST", target: "/ajax-api/2.0/mlflow/./experiments/update", body: rename, status: bad},
		{name: "rename_graphql_prefix_confusion", method: "POST", target: "/graphql/../api/2.0/mlflow/experiments/update", body: rename, status: bad},
	}
	e.runCases(t, e.bob.session, cases)
}

// traversalCases read or write outside the artifact store.
func (e *secEnv) traversalCases(t *testing.T, d secData) {
	run, exp := d.runID, d.expID
	bad := []int{400}
	either := []int{400, 403, 404}
	cases := []reqCase{
		{name: "get_artifact_dotdot", method: "GET", target: "/get-artifact?path=../../../../../../etc/passwd&run_id=" + run, status: bad},
		{name: "get_artifact_encoded_dotdot", method: "GET", target: "/get-artifact?path=%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd&run_id=" + run, status: bad},
		{name: "get_artifact_absolute", method: "GET", target: "/get-artifact?path=/etc/passwd&run_id=" + run, status: bad},
		{name: "get_artifact_backslash", method: "GET", target: "/get-artifact?path=..%5C..%5C..%5Cetc%5Cpasswd&run_id=" + run, status: either},
		{name: "get_artifact_prefix_dotdot", method: "GET", target: "/get-artifact/../api/2.0/mlflow/users/list", status: bad},
		{name: "model_version_artifact_dotdot", method: "GET", target: "/model-versions/get-artifact?path=../../../../etc/passwd&name=" + d.model + "&version=1", status: either},
		{name: "proxy_get_encoded_slashes", method: "GET", target: "/api/2.0/mlflow-artifacts/artifacts/..%2F..%2F..%2Fetc%2Fpasswd", status: bad},
		{name: "proxy_get_dotdot", method: "GET", target: "/api/2.0/mlflow-artifacts/artifacts/../../../etc/passwd", status: bad},
		{name: "proxy_get_encoded_dots", method: "GET", target: "/api/2.0/mlflow-artifacts/artifacts/%2e%2e/%2e%2e/etc/passwd", status: bad},
		{name: "proxy_put_escape_run", method: "PUT", target: "/api/2.0/mlflow-artifacts/artifacts/" + exp + "/" + run + "/artifacts/..%2F..%2F..%2Fevil.txt", ct: "application/octet-stream", body: "pwned", status: bad},
		{name: "proxy_put_dotdot_into_alice", method: "PUT", target: "/api/2.0/mlflow-artifacts/artifacts/" + d.bobExpID + "/../" + exp + "/" + run + "/artifacts/model.txt", ct: "application/octet-stream", body: "pwned", status: bad},
		{name: "proxy_list_dotdot", method: "GET", target: "/api/2.0/mlflow-artifacts/artifacts?path=../../../", status: either},
		{name: "artifacts_list_dotdot", method: "GET", target: "/api/2.0/mlflow/artifacts/list?run_id=" + run + "&path=../../../../", status: bad},
		{name: "ajax_upload_dotdot", method: "POST", target: "/ajax-api/2.0/mlflow/upload-artifact?run_uuid=" + d.bobRunID + "&path=../../../" + exp + "/" + run + "/artifacts/model.txt", ct: "application/octet-stream", body: "pwned", status: either},
		{name: "ajax_upload_absolute", method: "POST", target: "/ajax-api/2.0/mlflow/upload-artifact?run_uuid=" + d.bobRunID + "&path=/tmp/evil.txt", ct: "application/octet-stream", body: "pwned", status: either},
		{name: "static_files_dotdot", method: "GET", target: "/static-files/../../../../etc/passwd", status: bad},
		{name: "static_files_encoded", method: "GET", target: "/static-files/%2e%2e%2f%2e%2e%2fetc%2fpasswd", status: bad},
	}
	e.runCases(t, e.bob.session, cases)
}

// ambiguityCases: one request, two answers to "which object" — one for
// MLflow's permission check (bob's own, allowed) and one for the handler
// (alice's). The gateway refuses them outright.
func (e *secEnv) ambiguityCases(t *testing.T, d secData) {
	bad := []int{400}
	bobRun, aliceRun := d.bobRunID, d.runID
	bobExp, aliceExp := d.bobExpID, d.expID
	tag := func(extra string) string { return `{"key":"stage","value":"pwned",` + extra + `}` }
	huge := `{"run_id":"` + bobRun + `","key":"k","value":"` + strings.Repeat("x", 2<<20) + `"}`
	q := url.QueryEscape
	cases := []reqCase{
		{name: "experiment_id_vs_experimentId", method: "POST", target: "/api/2.0/mlflow/experiments/update", body: `{"experiment_id":"` + bobExp + `","experimentId":"` + aliceExp + `","new_name":"pwned"}`, status: bad},
		{name: "experimentId_vs_experiment_id", method: "POST", target: "/api/2.0/mlflow/experiments/update", body: `{"experimentId":"` + aliceExp + `","experiment_id":"` + bobExp + `","new_name":"pwned"}`, status: bad},
		{name: "ajax_experiment_id_vs_experimentId", method: "POST", target: "/ajax-api/2.0/mlflow/experiments/delete", body: `{"experiment_id":"` + bobExp + `","experimentId":"` + aliceExp + `"}`, status: bad},
		{name: "run_id_vs_run_uuid", method: "POST", target: "/api/2.0/mlflow/runs/set-tag", body: tag(`"run_id":"` + bobRun + `","run_uuid":"` + aliceRun + `"`), status: bad},
		{name: "run_uuid_vs_run_id", method: "POST", target: "/api/2.0/mlflow/runs/set-tag", body: tag(`"run_uuid":"` + aliceRun + `","run_id":"` + bobRun + `"`), status: bad},
		{name: "run_id_vs_runId", method: "POST", target: "/api/2.0/mlflow/runs/set-tag", body: tag(`"run_id":"` + bobRun + `","runId":"` + aliceRun + `"`), status: bad},
		{name: "run_uuid_vs_runUuid", method: "POST", target: "/api/2.0/mlflow/runs/log-parameter", body: `{"run_uuid":"` + bobRun + `","runUuid":"` + aliceRun + `","key":"evil","value":"1"}`, status: bad},
		{name: "duplicate_run_id_key", method: "POST", target: "/api/2.0/mlflow/runs/set-tag", body: tag(`"run_id":"` + bobRun + `","run_id":"` + aliceRun + `"`), status: bad},
		{name: "duplicate_key_different_case_escape", method: "POST", target: "/api/2.0/mlflow/runs/set-tag", body: tag(`"run_id":"` + bobRun + `","run\u005fid":"` + aliceRun + `"`), status: bad},
		{name: "log_batch_duplicate_run_id", method: "POST", target: "/api/2.0/mlflow/runs/log-batch", body: `{"run_id":"` + bobRun + `","tags":[{"key":"stage","value":"pwned"}],"run_id":"` + aliceRun + `"}`, status: bad},
		{name: "nested_duplicate_key", method: "POST", target: "/api/2.0/mlflow/runs/log-batch", body: `{"run_id":"` + bobRun + `","tags":[{"key":"a","key":"b","value":"v"}]}`, status: bad},
		{name: "delete_json_body_text_plain", method: "DELETE", target: "/api/2.0/mlflow/registered-models/delete?name=" + d.bobModel, ct: "text/plain", body: js(map[string]any{"name": d.model}), status: bad},
		{name: "delete_json_body_no_content_type", method: "DELETE", target: "/api/2.0/mlflow/registered-models/delete?name=" + d.bobModel, ct: "-", body: js(map[string]any{"name": d.model}), status: bad},
		{name: "delete_json_body_form_type", method: "DELETE", target: "/api/2.0/mlflow/registered-models/delete-tag?name=" + d.bobModel + "&key=k", ct: "application/x-www-form-urlencoded", body: js(map[string]any{"name": d.model, "key": "k"}), status: bad},
		{name: "patch_json_body_text_plain", method: "PATCH", target: "/api/2.0/mlflow/registered-models/update?name=" + d.bobModel, ct: "text/plain", body: js(map[string]any{"name": d.model, "description": "pwned"}), status: bad},
		{name: "patch_json_suffix_type", method: "PATCH", target: "/api/2.0/mlflow/registered-models/update?name=" + d.bobModel, ct: "application/merge-patch+json", body: js(map[string]any{"name": d.model, "description": "pwned"}), status: bad},
		{name: "two_content_types", method: "PATCH", target: "/api/2.0/mlflow/registered-models/update?name=" + d.bobModel, body: js(map[string]any{"name": d.model, "description": "pwned"}), extra: []hdr{{"Content-Type", "text/plain"}}, status: bad},
		{name: "query_vs_body_run_id", method: "POST", target: "/api/2.0/mlflow/runs/set-tag?run_id=" + bobRun, body: tag(`"run_id":"` + aliceRun + `"`), status: bad},
		{name: "query_vs_body_experiment", method: "POST", target: "/api/2.0/mlflow/experiments/update?experiment_id=" + bobExp, body: `{"experiment_id":"` + aliceExp + `","new_name":"pwned"}`, status: bad},
		{name: "query_vs_body_model_delete", method: "DELETE", target: "/api/2.0/mlflow/registered-models/delete?name=" + d.bobModel, body: js(map[string]any{"name": d.model}), status: bad},
		{name: "query_repeated_run_id", method: "POST", target: "/ajax-api/2.0/mlflow/upload-artifact?run_uuid=" + bobRun + "&run_uuid=" + aliceRun + "&path=x.txt", ct: "application/octet-stream", body: "pwned", status: bad},
		{name: "upload_artifact_run_id_vs_run_uuid", method: "POST", target: "/ajax-api/2.0/mlflow/upload-artifact?run_id=" + bobRun + "&run_uuid=" + aliceRun + "&path=model.txt", ct: "application/octet-stream", body: "pwned", status: bad},
		{name: "query_semicolon_separator", method: "POST", target: "/ajax-api/2.0/mlflow/upload-artifact?run_uuid=" + bobRun + ";run_uuid=" + aliceRun + "&path=x.txt", ct: "application/octet-stream", body: "pwned", status: bad},
		{name: "get_with_body_and_query", method: "GET", target: "/api/2.0/mlflow/runs/get?run_id=" + bobRun, body: js(map[string]any{"run_id": aliceRun}), status: bad},
		{name: "get_with_body_no_query", method: "GET", target: "/api/2.0/mlflow/experiments/get", body: js(map[string]any{"experiment_id": aliceExp}), status: bad},
		{name: "json_string_body", method: "POST", target: "/api/2.0/mlflow/experiments/update", body: js(`{"experiment_id":"` + aliceExp + `","new_name":"pwned"}`), status: bad},
		{name: "json_array_body", method: "POST", target: "/api/2.0/mlflow/experiments/update", body: `[{"experiment_id":"` + aliceExp + `","new_name":"pwned"}]`, status: bad},
		{name: "json_trailing_object", method: "POST", target: "/api/2.0/mlflow/experiments/update", body: `{"experiment_id":"` + bobExp + `","new_name":"mine"}{"experiment_id":"` + aliceExp + `","new_name":"pwned"}`, status: bad},
		{name: "json_nan", method: "POST", target: "/api/2.0/mlflow/runs/log-metric", body: `{"run_id":"` + aliceRun + `","key":"acc","value":NaN,"timestamp":1}`, status: bad},
		{name: "invalid_utf8", method: "POST", target: "/api/2.0/mlflow/runs/set-tag", body: tag(`"run_id":"` + bobRun + "\xff\xfe" + `"`), status: bad},
		{name: "utf16_body", method: "POST", target: "/api/2.0/mlflow/runs/set-tag", ct: "application/json; charset=utf-16", body: "\xff\xfe{\x00}\x00", status: bad},
		{name: "too_deep", method: "POST", target: "/api/2.0/mlflow/runs/set-tag", body: `{"run_id":"` + aliceRun + `","x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, status: bad},
		{name: "gzip_encoded_body", method: "POST", target: "/api/2.0/mlflow/experiments/update", body: "\x1f\x8b\x08\x00\x00\x00\x00\x00", extra: []hdr{{"Content-Encoding", "gzip"}}, status: bad},
		{name: "huge_body", method: "POST", target: "/api/2.0/mlflow/runs/set-tag", body: huge, status: []int{413}},
		{name: "content_length_and_chunked", method: "POST", target: "/api/2.0/mlflow/experiments/update", body: "4\r\n{\"a\"\r\n0\r\n\r\n", extra: []hdr{{"Content-Length", "4"}, {"Transfer-Encoding", "chunked"}}, status: bad},
		{name: "nested_spelling_conflict", method: "POST", target: "/api/2.0/mlflow/runs/log-batch", body: `{"run_id":"` + bobRun + `","params":[{"key":"a","value":"1","run_id":"` + bobRun + `","runId":"` + aliceRun + `"}]}`, status: bad},
		{name: "graphql_get_with_body", method: "GET", target: "/graphql?query=" + q(`{test(inputString:"x"){output}}`), body: js(map[string]any{"query": `{mlflowGetRun(input:{runId:"` + aliceRun + `"}){run{info{runId}}}}`}), status: bad},
	}
	e.runCases(t, e.bob.session, cases)
}

// unknownRouteCases: routes the gateway does not know are refused for
// non-admins before MLflow sees them.
func (e *secEnv) unknownRouteCases(t *testing.T) {
	unknown := []int{403}
	cases := []reqCase{
		{name: "api_unknown_rpc", method: "GET", target: "/api/2.0/mlflow/debug/dump", status: unknown},
		{name: "api_future_version", method: "POST", target: "/api/9.0/mlflow/experiments/update", body: "{}", status: unknown},
		{name: "ajax_unknown", method: "POST", target: "/ajax-api/2.0/mlflow/internal/reset", body: "{}", status: unknown},
		{name: "ajax_jobs_unknown", method: "POST", target: "/ajax-api/3.0/jobs/run-shell", body: "{}", status: []int{403, 404, 405}},
		{name: "gateway_unknown", method: "POST", target: "/gateway/admin/reload", body: "{}", status: unknown},
		{name: "v1_unknown", method: "POST", target: "/v1/admin", body: "{}", status: unknown},
		{name: "get_artifact_suffix", method: "GET", target: "/get-artifact-admin", status: []int{403, 404}},
		{name: "wrong_method_known_route", method: "PUT", target: "/api/2.0/mlflow/users/update-admin", body: "{}", status: []int{403, 405}},
	}
	e.runCases(t, e.bob.session, cases)
}
