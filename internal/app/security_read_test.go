package app_test

import (
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// metricLeak matches alice's metric (acc = 0.5) in any JSON answer.
var metricLeak = regexp.MustCompile(`"value":\s*0\.5\b`)

// TestSecurityReadIsolation runs MLflow with DESCOPE_DEFAULT_PERMISSION=
// NO_PERMISSIONS, so bob may not read alice's data at all, and tries to read
// it anyway: the REST API and its twin, artifacts, GraphQL (queries, aliases,
// the search "mutations"), searches, and ambiguous requests that name bob's
// run to the check and alice's to the handler. No answer may contain what
// alice wrote.
func TestSecurityReadIsolation(t *testing.T) {
	e := newSecEnv(t, "DESCOPE_DEFAULT_PERMISSION=NO_PERMISSIONS")
	d := e.seed()
	before := e.snapshot(d)
	// What only alice's data contains.
	secrets := []string{"alice-secret-exp", "alice-run", "alice artifact v1", "alice's model", `"clean"`}
	leaks := func(t *testing.T, r resp) {
		t.Helper()
		for _, s := range secrets {
			if strings.Contains(string(r.body), s) {
				t.Errorf("alice's data (%q) leaked: %s", s, r)
			}
		}
		if metricLeak.Match(r.body) {
			t.Errorf("alice's metric leaked: %s", r)
		}
	}
	// Control: bob can read his own run, alice can read hers.
	if r := e.api(e.bob.session, "GET", "/api/2.0/mlflow/runs/get?run_id="+d.bobRunID, nil); r.status != 200 {
		t.Fatalf("bob reading his own run: %s", r)
	}
	if r := e.api(e.alice.session, "GET", "/api/2.0/mlflow/runs/get?run_id="+d.runID, nil); r.status != 200 {
		t.Fatalf("alice reading her run: %s", r)
	}

	run, exp := d.runID, d.expID
	bad := []int{400}
	deny := []int{403}
	q := url.QueryEscape
	t.Run("denied_reads", func(t *testing.T) {
		var cases []reqCase
		for _, pre := range []string{"/api", "/ajax-api"} {
			fam := strings.TrimPrefix(pre, "/")
			cases = append(cases,
				reqCase{name: fam + "_get_run", method: "GET", target: pre + "/2.0/mlflow/runs/get?run_id=" + run, status: deny},
				reqCase{name: fam + "_get_run_by_uuid", method: "GET", target: pre + "/2.0/mlflow/runs/get?run_uuid=" + run, status: deny},
				reqCase{name: fam + "_get_experiment", method: "GET", target: pre + "/2.0/mlflow/experiments/get?experiment_id=" + exp, status: deny},
				reqCase{name: fam + "_get_experiment_by_name", method: "GET", target: pre + "/2.0/mlflow/experiments/get-by-name?experiment_name=" + d.expName, status: deny},
				reqCase{name: fam + "_get_model", method: "GET", target: pre + "/2.0/mlflow/registered-models/get?name=" + d.model, status: deny},
				reqCase{name: fam + "_metric_history", method: "GET", target: pre + "/2.0/mlflow/metrics/get-history?run_id=" + run + "&metric_key=acc", status: deny},
				reqCase{name: fam + "_list_artifacts", method: "GET", target: pre + "/2.0/mlflow/artifacts/list?run_id=" + run, status: deny},
			)
		}
		cases = append(cases,
			reqCase{name: "get_history_bulk", method: "GET", target: "/ajax-api/2.0/mlflow/metrics/get-history-bulk?run_id=" + run + "&metric_key=acc", status: deny},
			reqCase{name: "get_history_bulk_mixed_runs", method: "GET", target: "/ajax-api/2.0/mlflow/metrics/get-history-bulk?run_id=" + d.bobRunID + "&run_id=" + run + "&metric_key=acc", status: []int{400, 403}},
			reqCase{name: "get_artifact", method: "GET", target: "/get-artifact?path=model.txt&run_id=" + run, status: deny},
			reqCase{name: "get_artifact_run_uuid", method: "GET", target: "/get-artifact?path=model.txt&run_uuid=" + run, status: deny},
			reqCase{name: "proxy_download", method: "GET", target: "/api/2.0/mlflow-artifacts/artifacts/" + exp + "/" + run + "/artifacts/model.txt", status: deny},
			reqCase{name: "proxy_download_ajax", method: "GET", target: "/ajax-api/2.0/mlflow-artifacts/artifacts/" + exp + "/" + run + "/artifacts/model.txt", status: deny},
			reqCase{name: "proxy_list_experiment", method: "GET", target: "/api/2.0/mlflow-artifacts/artifacts?path=" + exp + "/" + run + "/artifacts", status: deny},
			// Ambiguous reads: the check sees bob's run, the handler alice's.
			reqCase{name: "get_run_id_vs_run_uuid", method: "GET", target: "/api/2.0/mlflow/runs/get?run_id=" + d.bobRunID + "&run_uuid=" + run, status: bad},
			reqCase{name: "get_run_repeated_run_id", method: "GET", target: "/api/2.0/mlflow/runs/get?run_id=" + d.bobRunID + "&run_id=" + run, status: bad},
			reqCase{name: "get_run_body_no_query", method: "GET", target: "/api/2.0/mlflow/runs/get", body: js(map[string]any{"run_id": run}), status: bad},
			reqCase{name: "get_run_query_and_body", method: "GET", target: "/api/2.0/mlflow/runs/get?run_id=" + d.bobRunID, body: js(map[string]any{"run_id": run}), status: bad},
			reqCase{name: "get_artifact_run_id_vs_run_uuid", method: "GET", target: "/get-artifact?path=model.txt&run_id=" + d.bobRunID + "&run_uuid=" + run, status: bad},
			reqCase{name: "get_experiment_camel_vs_snake", method: "GET", target: "/api/2.0/mlflow/experiments/get?experiment_id=" + d.bobExpID + "&experimentId=" + exp, status: bad},
			reqCase{name: "search_runs_spelling_conflict", method: "POST", target: "/api/2.0/mlflow/runs/search", body: `{"experiment_ids":["` + d.bobExpID + `"],"experimentIds":["` + exp + `"]}`, status: bad},
		)
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				hs := []hdr{bearer(e.bob.session)}
				var body []byte
				if c.body != "" {
					body = []byte(c.body)
					hs = append(hs, jsonCT)
				}
				r := e.raw(c.method, c.target, hs, body)
				refused(t, r, true, c.status...)
				leaks(t, r)
			})
		}
	})

	// GraphQL answers in its own envelope (200 with null fields and
	// errors); what matters is that alice's data is not in it.
	t.Run("graphql", func(t *testing.T) {
		// Control: the same query as alice shows her run, so an empty answer
		// for bob is the permission check and not a broken query.
		own := e.api(e.alice.session, "POST", "/graphql", map[string]any{"query": `{ mlflowGetRun(input: {runId: "` + run + `"}) { run { info { runName } } } }`})
		if !strings.Contains(string(own.body), "alice-run") {
			t.Fatalf("graphql control as alice: %s", own)
		}
		cases := []struct{ name, method, query string }{
			{"get_run", "POST", `{ mlflowGetRun(input: {runId: "` + run + `"}) { run { info { runName } data { params { key value } tags { key value } } } } }`},
			{"get_experiment", "POST", `{ mlflowGetExperiment(input: {experimentId: "` + exp + `"}) { experiment { name tags { key value } } } }`},
			{"list_artifacts", "POST", `{ mlflowListArtifacts(input: {runId: "` + run + `"}) { files { path } } }`},
			{"metric_history", "POST", `{ mlflowGetMetricHistoryBulkInterval(input: {runIds: ["` + run + `"], metricKey: "acc"}) { metrics { key value } } }`},
			{"metric_history_mixed_runs", "POST", `{ mlflowGetMetricHistoryBulkInterval(input: {runIds: ["` + d.bobRunID + `", "` + run + `"], metricKey: "acc"}) { metrics { key value runId } } }`},
			{"search_model_versions", "POST", `{ mlflowSearchModelVersions(input: {filter: "name='` + d.model + `'"}) { modelVersions { name description } } }`},
			{"aliases_own_and_alice", "POST", `{ mine: mlflowGetRun(input: {runId: "` + d.bobRunID + `"}) { run { info { runName } } } theirs: mlflowGetRun(input: {runId: "` + run + `"}) { run { info { runName } data { tags { key value } } } } }`},
			{"search_runs_query", "POST", `{ mlflowSearchRuns(input: {experimentIds: ["` + exp + `"]}) { runs { info { runName } data { tags { key value } } } } }`},
			{"search_runs_mutation", "POST", `mutation { mlflowSearchRuns(input: {experimentIds: ["` + exp + `", "` + d.bobExpID + `"]}) { runs { info { runName experimentId } } } }`},
			{"search_datasets_mutation", "POST", `mutation { mlflowSearchDatasets(input: {experimentIds: ["` + exp + `"]}) { datasetSummaries { experimentId name } } }`},
			{"get_run_via_get", "GET", `{ mlflowGetRun(input: {runId: "` + run + `"}) { run { info { runName } } } }`},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				var r resp
				if c.method == "GET" {
					r = e.api(e.bob.session, "GET", "/graphql?query="+q(c.query), nil)
				} else {
					r = e.api(e.bob.session, "POST", "/graphql", map[string]any{"query": c.query})
				}
				// GET /graphql cannot carry a query: MLflow 3.17.2 reads only
				// the JSON body, even on GET, and the gateway refuses a GET
				// with a body; MLflow then fails with a 500.
				if r.status != 200 && r.status != 400 && r.status != 403 && !(c.method == "GET" && r.status == 500) {
					t.Errorf("graphql status: %s", r)
				}
				leaks(t, r)
				if strings.Contains(string(r.body), `"experimentId":"`+exp+`"`) {
					t.Errorf("alice's experiment listed: %s", r)
				}
			})
		}
		t.Run("batched_queries", func(t *testing.T) {
			r := e.api(e.bob.session, "POST", "/graphql", `[{"query":"{ test(inputString: \"x\") { output } }"},{"query":"{ mlflowGetRun(input: {runId: \"`+run+`\"}) { run { info { runName } } } }"}]`)
			refused(t, r, true, 400)
			leaks(t, r)
		})
	})

	// Searches return only what bob may read.
	t.Run("search_filtering", func(t *testing.T) {
		for _, c := range []struct{ name, method, target, body string }{
			{"experiments_search", "POST", "/api/2.0/mlflow/experiments/search", `{"max_results":1000}`},
			{"experiments_search_ajax", "POST", "/ajax-api/2.0/mlflow/experiments/search", `{"max_results":1000,"filter":"name LIKE 'alice%'"}`},
			{"models_search", "GET", "/api/2.0/mlflow/registered-models/search?max_results=1000", ""},
			{"models_search_filter", "GET", "/ajax-api/2.0/mlflow/registered-models/search?filter=" + q("name='"+d.model+"'"), ""},
			{"model_versions_search", "GET", "/api/2.0/mlflow/model-versions/search?filter=" + q("name='"+d.model+"'"), ""},
			{"runs_search_own_experiment", "POST", "/api/2.0/mlflow/runs/search", `{"experiment_ids":["` + d.bobExpID + `"]}`},
			{"runs_search_alice_experiment", "POST", "/api/2.0/mlflow/runs/search", `{"experiment_ids":["` + exp + `"]}`},
			{"runs_search_alice_experiment_ajax", "POST", "/ajax-api/2.0/mlflow/runs/search", `{"experiment_ids":["` + exp + `","` + d.bobExpID + `"],"filter":"tags.stage = 'clean'"}`},
		} {
			t.Run(c.name, func(t *testing.T) {
				var body any
				if c.body != "" {
					body = c.body
				}
				r := e.api(e.bob.session, c.method, c.target, body)
				if r.status != 200 && r.status != 403 {
					t.Errorf("status: %s", r)
				}
				leaks(t, r)
				var out map[string]any
				_ = json.Unmarshal(r.body, &out)
				if strings.Contains(string(r.body), `"name":"`+d.model+`"`) || strings.Contains(string(r.body), `"experiment_id":"`+exp+`"`) {
					t.Errorf("alice's object listed: %s", r)
				}
			})
		}
	})
	e.untouched(d, before)
}
