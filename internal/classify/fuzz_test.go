package classify

import (
	"encoding/json"
	"net/http"
	"net/url"
	"path"
	"strings"
	"testing"
)

func FuzzClassify(f *testing.F) {
	f.Add("POST", "/api/2.0/mlflow/runs/log-batch", "", ctJSON, `{"run_id":"a","metrics":[{"key":"k","value":1,"timestamp":1,"step":0}]}`)
	f.Add("GET", "/api/2.0/mlflow/runs/get", "run_id=a&run_uuid=a", "", "")
	f.Add("POST", "/api/2.0/mlflow/runs/log-metric", "run_id=b", ctJSON, `{"run_uuid":"a","runId":"a"}`)
	f.Add("DELETE", "/api/2.0/mlflow/registered-models/delete", "name=x", "text/plain", `{"name":"y"}`)
	f.Add("PATCH", "/api/3.0/mlflow/traces/tr-1/tags", "", ctJSON, `{"trace_id":"tr-1","key":"k","value":"v"}`)
	f.Add("GET", "/get-artifact", "path=a%2Fb&run_id=r", "", "")
	f.Add("POST", "/graphql", "", ctJSON, `{"query":"q","variables":{"data":{"experimentId":"1"}}}`)
	f.Add("PUT", "/api/2.0/mlflow-artifacts/artifacts/a/b.txt", "", "application/octet-stream", "bytes")
	f.Add("POST", "/api/2.0/mlflow/runs/search", "", ctJSON, `{"experiment_ids":["1","2"],"experimentIds":["3"]}`)
	f.Add("GET", "/%2e%2e/api", "", "", "")
	c, err := New(Options{MaxJSONBody: 1 << 16})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, method, rawPath, query, contentType, body string) {
		h := http.Header{}
		if contentType != "" {
			h.Set("Content-Type", contentType)
		}
		req, err := c.classify(method, rawPath, query, h, []byte(body))
		if err != nil {
			rej, ok := AsRejection(err)
			if !ok || rej.Status < 400 || rej.Status > 499 || rej.Reason == "" || rej.Code == "" {
				t.Fatalf("got error %#v; want a 4xx *Rejection", err)
			}
			if !json.Valid(rej.Body()) {
				t.Fatalf("rejection body %q is not JSON", rej.Body())
			}
			return
		}
		if req.Known && req.Pattern == "" {
			t.Fatal("known route without a pattern")
		}
		checkIDsConsistent(t, req, body)
	})
}

// checkIDsConsistent cross-checks an accepted request against a plain map
// decoding of its body: every top-level identifier field's string value is
// in IDs, the run aliases agree, and no ID list has duplicates.
func checkIDsConsistent(t *testing.T, req Request, body string) {
	t.Helper()
	for _, list := range [][]string{req.IDs.ExperimentIDs, req.IDs.RunIDs, req.IDs.ModelNames, req.IDs.Versions,
		req.IDs.TraceIDs, req.IDs.ArtifactPaths, req.IDs.LoggedModelIDs} {
		seen := map[string]bool{}
		for _, v := range list {
			if seen[v] {
				t.Fatalf("duplicate identifier %q in %+v", v, req.IDs)
			}
			seen[v] = true
		}
	}
	if !req.NeedsBody || body == "" {
		return
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("accepted body %q does not decode as an object: %v", body, err)
	}
	var runs []string
	for k, v := range m {
		s, ok := v.(string)
		if !ok {
			continue
		}
		switch jsonName(k) {
		case "runId", "runUuid":
			runs = append(runs, s)
			if !contains(req.IDs.RunIDs, s) {
				t.Fatalf("body run %q missing from %v", s, req.IDs.RunIDs)
			}
		case "experimentId":
			if f, ok := req.spec.field("experimentId"); ok && f.kind == idExperiment && !contains(req.IDs.ExperimentIDs, s) {
				t.Fatalf("body experiment %q missing from %v", s, req.IDs.ExperimentIDs)
			}
		}
	}
	for _, r := range runs {
		if r != runs[0] {
			t.Fatalf("accepted body with runs %v", runs)
		}
	}
}

func FuzzPath(f *testing.F) {
	for _, s := range []string{"/", "/api/2.0/mlflow/runs/get", "/a%2Fb", "/a/../b", "/a/./b", "//a", "/a%5c", "/%2e", "/caf%C3%A9", "/a%252F", "/a\\b", "/a/", "/%61"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		dec, rej := checkPath(raw)
		isAPI := IsAPI(raw)
		if rej != nil {
			if !isAPI {
				t.Fatalf("IsAPI(%q) = false for a refused path", raw)
			}
			return
		}
		if strings.Contains(dec, "//") || strings.Contains(dec, "\\") {
			t.Fatalf("accepted %q decodes to %q", raw, dec)
		}
		want := path.Clean(dec)
		if got := strings.TrimSuffix(dec, "/"); dec != "/" && got != want {
			t.Fatalf("accepted %q decodes to non-canonical %q (clean %q)", raw, dec, want)
		}
		u, err := url.PathUnescape(raw)
		if err != nil || u != dec {
			t.Fatalf("decoded %q as %q; url.PathUnescape gives %q, %v", raw, dec, u, err)
		}
	})
}
