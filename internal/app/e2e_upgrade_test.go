package app_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/audit"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/cli"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/naming"
)

// upgradeFixture is the state release 4e07165, the last that named MLflow
// users by their Descope user ID, left behind (scripts/upgrade-fixture.sh
// made it by running that release): alice owns experiment "upgrade-exp"
// and gave bob EDIT on it, dave holds the mapped role "reviewers" (READ on
// every experiment), carol has nothing; MLflow's default permission is
// NO_PERMISSIONS.
const upgradeFixture = "testdata/upgrade-from-4e07165.tar.gz"

// TestUpgradeFromUserIDUsernames starts this release on that state: every
// grant still applies to the same people under their old (user-ID) names,
// new users get readable names, nobody can take an old name, and the audit
// chain the old release wrote still verifies.
func TestUpgradeFromUserIDUsernames(t *testing.T) {
	dir := t.TempDir()
	untar(t, upgradeFixture, dir)
	var manifest struct {
		ProjectID    string `json:"project_id"`
		ExperimentID string `json:"experiment_id"`
		RunID        string `json:"run_id"`
	}
	readJSON(t, filepath.Join(dir, "manifest.json"), &manifest)
	sim, err := descopesim.New(descopesim.Options{ProjectID: manifest.ProjectID})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	seed, err := os.ReadFile("testdata/upgrade-seed.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.LoadSeed(bytes.NewReader(seed)); err != nil {
		t.Fatal(err)
	}
	// After the upgrade: a new colleague, and someone whose login ID is
	// bob's old MLflow username.
	for _, u := range []descopesim.User{
		{ID: "U2erin", LoginIDs: []string{"erin@example.com"}, Email: "erin@example.com"},
		{ID: "U2mallory", LoginIDs: []string{"U2bob"}},
	} {
		if err := sim.CreateUser(u); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{
		"MLFLOW_BACKEND_STORE_URI=sqlite:///" + filepath.Join(dir, "data", "mlflow", "mlflow.db"),
		"MLFLOW_ARTIFACT_ROOT=" + filepath.Join(dir, "data", "mlflow", "mlartifacts"),
		"DESCOPE_DEFAULT_PERMISSION=NO_PERMISSIONS",
		"DESCOPE_ROLE_MAPPING_FILE=testdata/upgrade-mapping.json",
	}
	st := startStackWith(t, sim, dir, env...)

	as := func(userID string) map[string]string {
		s, _, err := sim.MintSession(userID, descopesim.MintOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return map[string]string{"Authorization": "Bearer " + s}
	}
	exp, run := manifest.ExperimentID, manifest.RunID
	logMetric := `{"run_id":"` + run + `","key":"after_upgrade","value":2,"timestamp":2}`
	for _, c := range []struct {
		name, method, path, body string
		hdr                      map[string]string
		want                     int
	}{
		{"alice still owns her experiment", "GET", "/api/2.0/mlflow/experiments/get?experiment_id=" + exp, "", as("U2alice"), 200},
		{"bob's EDIT grant still applies", "POST", "/api/2.0/mlflow/runs/log-metric", logMetric, as("U2bob"), 200},
		{"bob's access key acts as bob", "POST", "/api/2.0/mlflow/runs/log-metric", logMetric, map[string]string{"Authorization": "Bearer bob-upgrade-key"}, 200},
		{"dave's mapped role still reads", "GET", "/api/2.0/mlflow/experiments/get?experiment_id=" + exp, "", as("U2dave"), 200},
		{"dave's role does not write", "POST", "/api/2.0/mlflow/runs/log-metric", logMetric, as("U2dave"), 403},
		{"carol still has nothing", "GET", "/api/2.0/mlflow/experiments/get?experiment_id=" + exp, "", as("U2carol"), 403},
		{"a new user has nothing yet", "GET", "/api/2.0/mlflow/experiments/get?experiment_id=" + exp, "", as("U2erin"), 403},
		{"a login ID equal to bob's old name gets none of bob's grants", "POST", "/api/2.0/mlflow/runs/log-metric", logMetric, as("U2mallory"), 403},
	} {
		if code, body := call(t, st.url, c.method, c.path, c.hdr, c.body); code != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, code, body, c.want)
		}
	}
	// Sharing with the new user by her readable name works.
	grant := `{"resource_type":"experiment","resource_id":"` + exp + `","username":"erin@example.com","permission":"READ"}`
	if code, body := call(t, st.url, "POST", "/api/3.0/mlflow/users/permissions/grant", as("U2alice"), grant); code != 200 {
		t.Fatalf("alice shares with erin@example.com: %d %s", code, body)
	}
	if code, body := call(t, st.url, "GET", "/api/2.0/mlflow/experiments/get?experiment_id="+exp, as("U2erin"), ""); code != 200 {
		t.Errorf("erin after alice shared: %d %s", code, body)
	}
	for user, want := range map[string]string{"U2alice": "U2alice", "U2bob": "U2bob", "U2erin": "erin@example.com", "U2mallory": "U2bob~2"} {
		_, body := call(t, st.url, "GET", "/auth/whoami", as(user), "")
		var who struct{ Username string }
		_ = json.Unmarshal([]byte(body), &who)
		if who.Username != want {
			t.Errorf("%s is MLflow user %q, want %q", user, who.Username, want)
		}
	}
	var out bytes.Buffer
	explainEnv := append([]string{"DESCOPE_PROJECT_ID=" + sim.ProjectID(), "DESCOPE_BASE_URI=" + sim.URL(), "DESCOPE_MANAGEMENT_KEY=" + sim.ManagementKey()}, env...)
	if err := cli.Run(context.Background(), []string{"explain", "bob@example.com", "--data-dir", filepath.Join(dir, "data")}, explainEnv, &out, &out); err != nil {
		t.Errorf("explain: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "mlflow username:  U2bob (decided") || !strings.Contains(out.String(), "kept from an earlier release") {
		t.Errorf("explain bob@example.com:\n%s", out.String())
	}
	st.stop(t)

	// The mapping was seeded from MLflow's users, and the old release's
	// audit chain continues unbroken.
	store, err := audit.Open(context.Background(), filepath.Join(dir, "data", "audit.db"), audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	db, dialect := store.(audit.SQLBacked).SQL()
	names, err := naming.New(context.Background(), naming.Options{DB: db, Dialect: dialect})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := names.All(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, r.UserID+"="+r.Username+"/"+r.Source)
	}
	for _, w := range []string{"U2alice=U2alice/seeded", "U2bob=U2bob/seeded", "U2carol=U2carol/seeded", "U2dave=U2dave/seeded",
		"U2erin=erin@example.com/loginId", "U2mallory=U2bob~2/loginId"} {
		if !slices.Contains(got, w) {
			t.Errorf("mapping %v lacks %s", got, w)
		}
	}
	res, err := store.Verify(context.Background())
	if err != nil || !res.OK() {
		t.Errorf("audit chain after the upgrade: %+v, %v", res, err)
	}
}

// call sends one request to the gateway and returns the status and body.
func call(t *testing.T, base, method, path string, hdr map[string]string, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// untar unpacks a .tar.gz of regular files and directories into dir.
func untar(t *testing.T, archive, dir string) {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o700); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b, os.FileMode(h.Mode)&0o700|0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
}
