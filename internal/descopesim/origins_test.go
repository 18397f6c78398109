package descopesim

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestApprovedOrigins: with approved origins set, the flow API answers
// calls from any other origin with a JSON error the web component turns
// into its "error" event, and accepts the approved ones.
func TestApprovedOrigins(t *testing.T) {
	t.Parallel()
	s := newSim(t, Options{AutoSignUp: true, ApprovedOrigins: []string{"https://mlflow.example.com/"}})
	call := func(path, origin, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, s.URL()+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+s.ProjectID())
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", origin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		if resp.Header.Get("Access-Control-Allow-Origin") != origin {
			t.Errorf("%s from %s: CORS %q; the page could not read the answer", path, origin, resp.Header.Get("Access-Control-Allow-Origin"))
		}
		return resp.StatusCode, out
	}
	for _, c := range []struct{ path, body string }{
		{"/v1/flow/start", `{"flowId":"sign-up-or-in"}`},
		{"/v1/flow/next", `{"executionId":"x","stepId":"1","interactionId":"submitterId"}`},
		{"/sim/flow/sign-in", `{"loginId":"a@example.com"}`},
	} {
		code, out := call(c.path, "http://127.0.0.1:5000", c.body)
		if code != http.StatusForbidden || out["errorCode"] != codeOriginNotApproved || !strings.Contains(out["errorMessage"].(string), "approved domains") {
			t.Errorf("%s from an unapproved origin: %d %v", c.path, code, out)
		}
	}
	if code, out := call("/v1/flow/start", "https://mlflow.example.com", `{"flowId":"sign-up-or-in"}`); code != http.StatusOK {
		t.Errorf("start from the approved origin: %d %v", code, out)
	}
	s.SetApprovedOrigins()
	if code, out := call("/sim/flow/sign-in", "http://127.0.0.1:5000", `{"loginId":"a@example.com"}`); code != http.StatusOK {
		t.Errorf("sign-in with no approved origins set: %d %v", code, out)
	}
}
