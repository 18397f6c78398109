package app_test

// Issue 15, part 2: artifact listings of a denied experiment leaked through
// non-canonical artifact paths. MLflow 3.17.2's permission check finds the
// experiment by matching the path's first segment; "./2/<run>/artifacts"
// matches nothing, so the check falls back to the default permission, while
// the handler normalises the path and lists experiment 2's files. The
// gateway now refuses every non-canonical spelling, on every artifact route,
// in every field MLflow reads as an artifact path.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestSecurityArtifactPaths(t *testing.T) {
	e := newSecEnv(t) // DESCOPE_DEFAULT_PERMISSION is READ, the default
	d := e.seed()
	before := e.snapshot(d)

	// alice's experiment is private: bob's role denies it. Everything else
	// stays readable to him through the default permission, the usual way
	// to keep one experiment out of a team's sight.
	role := e.must(e.root.session, "POST", "/api/3.0/mlflow/roles/create", map[string]any{"name": "no-alice-secret", "workspace": "default"})
	roleID := role["role"].(map[string]any)["id"]
	e.must(e.root.session, "POST", "/api/3.0/mlflow/roles/permissions/add", map[string]any{
		"role_id": roleID, "resource_type": "experiment", "resource_pattern": d.expID, "permission": "DENY"})
	e.must(e.root.session, "POST", "/api/3.0/mlflow/roles/assign", map[string]any{"username": e.bob.login, "role_id": roleID})

	runDir := d.expID + "/" + d.runID + "/artifacts"
	list := "/api/2.0/mlflow-artifacts/artifacts?path="
	bob, alice := e.bob.session, e.alice.session

	// Controls: the canonical path is refused to bob by MLflow itself and
	// lists the file for alice (with and without a trailing slash), so a
	// 200 below would be a real leak and a refusal is not a broken route.
	t.Run("controls", func(t *testing.T) {
		if r := e.api(bob, "GET", list+runDir, nil); r.status != http.StatusForbidden {
			t.Fatalf("bob, canonical path: %s; want MLflow's 403", r)
		}
		for _, p := range []string{runDir, runDir + "/"} {
			r := e.api(alice, "GET", list+p, nil)
			if r.status != http.StatusOK || !strings.Contains(string(r.body), "model.txt") {
				t.Fatalf("alice, %s: %s", p, r)
			}
		}
		r := e.api(alice, "GET", "/get-artifact?run_id="+d.runID+"&path=model.txt", nil)
		if r.status != http.StatusOK || string(r.body) != "alice artifact v1" {
			t.Fatalf("alice get-artifact: %s", r)
		}
	})

	// Every spelling, as sent on the wire (query-encoded).
	spell := func(canonical string) map[string]string {
		return map[string]string{
			"dot":              "./" + canonical,
			"two_dots":         "././" + canonical,
			"encoded_dot":      "%2E/" + canonical,
			"double_encoded":   "%252E/" + canonical,
			"inner_dot":        strings.Replace(canonical, "/", "/./", 1),
			"empty_segment":    strings.Replace(canonical, "/", "//", 1),
			"leading_slash":    "/" + canonical,
			"encoded_slash":    "%2F" + canonical,
			"backslash":        strings.ReplaceAll(canonical, "/", "%5C"),
			"dot_dot":          "x/../" + canonical,
			"file_uri":         "file:" + canonical,
			"encoded_unreserv": "%25" + fmt.Sprintf("%X", canonical[0]) + canonical[1:],
		}
	}
	type target struct {
		name, method, url string // url holds %s for the path value
		body              string // JSON with %s for the path value, or "" for a query field
	}
	targets := []target{
		{"list_proxy", "GET", "/api/2.0/mlflow-artifacts/artifacts?path=%s", ""},
		{"list_proxy_ajax", "GET", "/ajax-api/2.0/mlflow-artifacts/artifacts?path=%s", ""},
		{"list_run", "GET", "/api/2.0/mlflow/artifacts/list?run_id=" + d.runID + "&path=%s", ""},
		{"list_run_ajax", "GET", "/ajax-api/2.0/mlflow/artifacts/list?run_id=" + d.runID + "&path=%s", ""},
		{"get_artifact", "GET", "/get-artifact?run_id=" + d.runID + "&path=%s", ""},
		{"model_version_artifact", "GET", "/model-versions/get-artifact?name=" + d.model + "&version=1&path=%s", ""},
		{"upload_artifact", "POST", "/ajax-api/2.0/mlflow/upload-artifact?run_uuid=" + d.runID + "&path=%s", ""},
		{"trace_artifact_2", "GET", "/ajax-api/2.0/mlflow/get-trace-artifact?request_id=tr-1&path=%s", ""},
		{"trace_artifact_3", "GET", "/ajax-api/3.0/mlflow/get-trace-artifact?request_id=tr-1&path=%s", ""},
		{"logged_model_dirs", "GET", "/api/2.0/mlflow/logged-models/m-1/artifacts/directories?artifact_directory_path=%s", ""},
		{"logged_model_dirs_ajax", "GET", "/ajax-api/2.0/mlflow/logged-models/m-1/artifacts/directories?artifact_directory_path=%s", ""},
		{"logged_model_files", "GET", "/ajax-api/2.0/mlflow/logged-models/m-1/artifacts/files?artifact_file_path=%s", ""},
		{"presigned_download", "POST", "/api/2.0/mlflow/artifacts/presigned-download-url", `{"run_id":"` + d.runID + `","path":%s}`},
		{"presigned_upload_ajax", "POST", "/ajax-api/2.0/mlflow/artifacts/presigned-upload-url", `{"run_id":"` + d.runID + `","path":%s}`},
	}

	var leaked []string
	for _, tg := range targets {
		canonical := runDir
		if !strings.HasPrefix(tg.name, "list_proxy") {
			canonical = "sub/model.txt"
		}
		for name, v := range spell(canonical) {
			t.Run(tg.name+"/"+name, func(t *testing.T) {
				var r resp
				if tg.body == "" {
					var body []byte
					var hs []hdr
					if tg.method == "POST" {
						body, hs = []byte("x"), []hdr{{"Content-Type", "application/octet-stream"}}
					}
					r = e.raw(tg.method, fmt.Sprintf(tg.url, v), append(hs, bearer(bob)), body)
				} else {
					dec := strings.NewReplacer("%2E", ".", "%252E", "%2E", "%2F", "/", "%5C", "\\", "%25", "%").Replace(v)
					js, _ := json.Marshal(dec)
					r = e.raw(tg.method, tg.url, []hdr{bearer(bob), jsonCT}, []byte(fmt.Sprintf(tg.body, js)))
				}
				gatewayRefusal(t, r)
				if strings.Contains(string(r.body), "model.txt") || strings.Contains(string(r.body), d.runID) {
					leaked = append(leaked, tg.name+"/"+name)
				}
			})
		}
	}

	// Artifact paths in the URL path and the multipart-upload file name.
	urlCases := map[string]struct {
		method, target, body string
	}{
		"download_file_uri":  {"GET", "/api/2.0/mlflow-artifacts/artifacts/file:" + runDir + "/model.txt", ""},
		"upload_file_uri":    {"PUT", "/api/2.0/mlflow-artifacts/artifacts/file:" + runDir + "/x.txt", "x"},
		"delete_file_uri":    {"DELETE", "/ajax-api/2.0/mlflow-artifacts/artifacts/file:" + runDir + "/model.txt", ""},
		"presigned_file_uri": {"GET", "/api/2.0/mlflow-artifacts/presigned/file:" + runDir + "/model.txt", ""},
		"mpu_create_dotdot":  {"POST", "/api/2.0/mlflow-artifacts/mpu/create/" + runDir, `{"path":"/tmp/..","num_parts":1}`},
		"mpu_complete_dot":   {"POST", "/ajax-api/2.0/mlflow-artifacts/mpu/complete/" + runDir, `{"path":"x/.","upload_id":"u","parts":[]}`},
		"mpu_abort_empty":    {"POST", "/api/2.0/mlflow-artifacts/mpu/abort/" + runDir, `{"path":"/tmp/","upload_id":"u"}`},
	}
	for name, c := range urlCases {
		t.Run("url/"+name, func(t *testing.T) {
			hs := []hdr{bearer(bob)}
			var body []byte
			if c.body != "" {
				body = []byte(c.body)
				if c.method == "PUT" {
					hs = append(hs, hdr{"Content-Type", "application/octet-stream"})
				} else {
					hs = append(hs, jsonCT)
				}
			}
			gatewayRefusal(t, e.raw(c.method, c.target, hs, body))
		})
	}
	if len(leaked) > 0 {
		t.Errorf("alice's file names or run ID reached bob through: %v", leaked)
	}
	e.untouched(d, before)
}

// gatewayRefusal requires the gateway's own 400 for a non-canonical
// artifact path (not MLflow's "Invalid path", which some spellings would
// get anyway, and never a 2xx).
func gatewayRefusal(t *testing.T, r resp) {
	t.Helper()
	var body struct {
		Code    string `json:"error_code"`
		Message string `json:"message"`
	}
	_ = json.Unmarshal(r.body, &body)
	if r.status != http.StatusBadRequest || body.Code != "INVALID_PARAMETER_VALUE" || !strings.HasPrefix(body.Message, "artifact path ") {
		t.Errorf("got %s; want the gateway's 400 for a non-canonical artifact path", r)
	}
}
