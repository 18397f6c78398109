package app_test

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/testenv"
)

// TestReplicasOnOnePostgres: three gateways configured alike, with the sync
// job on, share one PostgreSQL in front of one real MLflow: A (the stack,
// which supervises MLflow; its sync is off only so that the test knows
// where the lease goes), C (a process of its own, which takes the sync
// lease first, so that it can be killed outright) and B.
func TestReplicasOnOnePostgres(t *testing.T) {
	dsn := testenv.FreshDatabase(t, testenv.RequirePostgres(t), "replicas_")
	const interval = 3 * time.Second
	const secret = "replica-test-assertion-secret-0123456789"
	common := []string{"MLFLOW_DESCOPE_ASSERTION_SECRET=" + secret, "MLFLOW_DESCOPE_AUDIT_DB=" + dsn}
	a := startStack(t, append(common, "DESCOPE_SYNC_INTERVAL=0")...)
	syncing := append(common, "DESCOPE_SYNC_INTERVAL="+interval.String(), "DESCOPE_MANAGEMENT_KEY="+a.sim.ManagementKey())
	cMetrics := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	c := startReplicaProcess(t, a, append(syncing, "MLFLOW_DESCOPE_METRICS_ADDR="+cMetrics)...)
	if !eventually(10*time.Second, func() bool { return scrape(cMetrics, "mlflow_descope_sync_lease_held") == "1" }) {
		t.Fatal("the first replica never took the sync lease")
	}
	bMetrics := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	b := startReplica(t, a, append(syncing, "MLFLOW_DESCOPE_METRICS_ADDR="+bMetrics)...)

	t.Run("rotated refresh", func(t *testing.T) { testRotatedRefresh(t, a, []string{a.url, b.url, c.url}) })
	t.Run("sign-out", func(t *testing.T) { testSignOutAcrossReplicas(t, a, b.url) })
	t.Run("sync lease", func(t *testing.T) { testSyncLease(t, a, b, c, bMetrics, cMetrics, interval) })
}

type answer struct {
	code             int
	session, refresh string
}

const searchPath = "/api/2.0/mlflow/experiments/search?max_results=1"

// getWithSession sends an API request with the session cookies and returns
// the status and the cookies set in the answer.
func getWithSession(t *testing.T, base, session, refresh string) answer {
	req, _ := http.NewRequest("GET", base+searchPath, nil)
	req.Header.Set("Cookie", "mlflow_ds="+session+"; mlflow_dsr="+refresh)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return answer{}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	a := answer{code: resp.StatusCode}
	for _, c := range resp.Cookies() {
		switch c.Name {
		case "mlflow_ds":
			a.session = c.Value
		case "mlflow_dsr":
			a.refresh = c.Value
		}
	}
	return a
}

// testRotatedRefresh: with refresh-token rotation on in Descope, the same
// expired session reaches every replica at the same moment (two requests
// each), round after round: every request succeeds, Descope is asked once
// per round, and all replicas hand out the same new tokens, which all then
// accept as they are. Before the handoff each replica spent the refresh
// token itself, so all but one were refused and their user signed out.
func testRotatedRefresh(t *testing.T, st *stack, replicas []string) {
	st.sim.SetRefreshRotation(true)
	defer st.sim.SetRefreshRotation(false)
	st.session(t, "U2carol")
	targets := append(append([]string{}, replicas...), replicas...)
	const rounds = 20
	before := st.sim.Counts()["/v1/auth/refresh"]
	for round := range rounds {
		sess, ref, err := st.sim.MintSession("U2carol", descopesim.MintOptions{SessionTTL: -time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		answers := make([]answer, len(targets))
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, base := range targets {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				answers[i] = getWithSession(t, base, sess, ref)
			}()
		}
		close(start)
		wg.Wait()
		for i, a := range answers {
			if a.code != http.StatusOK {
				t.Fatalf("round %d: request %d to %s: %d, want 200 (the user was signed out)", round, i, targets[i], a.code)
			}
			if a.session == "" || a.session != answers[0].session || a.refresh != answers[0].refresh {
				t.Fatalf("round %d: request %d got other tokens than request 0", round, i)
			}
		}
		if answers[0].refresh == ref {
			t.Fatalf("round %d: the refresh token was not rotated", round)
		}
		for _, base := range replicas {
			if a := getWithSession(t, base, answers[0].session, answers[0].refresh); a.code != http.StatusOK || a.session != "" {
				t.Fatalf("round %d: %s with the new cookies: %d (refreshed again: %t)", round, base, a.code, a.session != "")
			}
		}
	}
	if n := st.sim.Counts()["/v1/auth/refresh"] - before; n != rounds {
		t.Errorf("Descope refreshed %d times in %d rounds, want one per round", n, rounds)
	}
}

// testSignOutAcrossReplicas: right after a sign-out on A, the old
// (pre-refresh) cookies replayed on B get nothing from the refresh A shared
// (B's block list learns of the sign-out only at its next read, up to 2 s
// later), and Descope refuses the rotated-away refresh token.
func testSignOutAcrossReplicas(t *testing.T, st *stack, other string) {
	st.sim.SetRefreshRotation(true)
	defer st.sim.SetRefreshRotation(false)
	st.session(t, "U2carol")
	for round := range 3 {
		sess, ref, err := st.sim.MintSession("U2carol", descopesim.MintOptions{SessionTTL: -time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		fresh := getWithSession(t, st.url, sess, ref)
		if fresh.code != http.StatusOK || fresh.session == "" {
			t.Fatalf("round %d: refresh on A: %d", round, fresh.code)
		}
		req, _ := http.NewRequest("POST", st.url+"/auth/logout", nil)
		req.Header.Set("Origin", st.url)
		req.Header.Set("Cookie", "mlflow_ds="+fresh.session+"; mlflow_dsr="+fresh.refresh)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if a := getWithSession(t, other, sess, ref); a.code != http.StatusUnauthorized {
			t.Fatalf("round %d: B with the old cookies right after sign-out on A: %d, want 401", round, a.code)
		}
	}
}

// testSyncLease: only the lease holder (C) syncs, and B names it on its
// admin page. When C is killed outright (no chance to release anything),
// B takes the sync over within two intervals and runs it.
func testSyncLease(t *testing.T, st *stack, b *replica, c *gatewayProcess, bMetrics, cMetrics string, interval time.Duration) {
	admin := st.session(t, "U2root", "admin")
	// C has held the lease since before B started; give B a few intervals.
	time.Sleep(2 * interval)
	if got := scrape(bMetrics, "mlflow_descope_sync_lease_held"); got != "0" {
		t.Errorf("B: sync_lease_held %q while C holds the lease", got)
	}
	if got := scrape(bMetrics, "mlflow_descope_sync_runs_total"); got != "" {
		t.Errorf("B ran the sync (%s runs) while C held the lease", got)
	}
	if got := scrape(cMetrics, "mlflow_descope_sync_runs_total"); got == "" || got == "0" {
		t.Errorf("C: sync_runs_total %q, want runs", got)
	}
	bst := syncStatus(t, b.url, admin)
	lease, _ := bst["lease"].(map[string]any)
	holder, _ := lease["holder"].(string)
	if bst["runs_here"] != false || holder == "" || holder == lease["this_replica"] || lease["shared"] != true {
		t.Fatalf("B's sync status %v: want it to name C as the holder", bst)
	}
	cst := syncStatus(t, c.url, admin)
	if cl, _ := cst["lease"].(map[string]any); cst["runs_here"] != true || cl["this_replica"] != holder {
		t.Fatalf("C's sync status %v: want it to hold the lease as %s", cst, holder)
	}

	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	if !eventually(4*interval, func() bool { return scrape(bMetrics, "mlflow_descope_sync_lease_held") == "1" }) {
		t.Fatal("B never took the sync over")
	}
	took := time.Since(killed)
	t.Logf("B took the sync lease %s after C was killed (interval %s)", took.Round(10*time.Millisecond), interval)
	if took > 2*interval {
		t.Errorf("takeover after %s, want within two intervals (%s)", took, 2*interval)
	}
	if !eventually(interval, func() bool {
		n := scrape(bMetrics, "mlflow_descope_sync_runs_total")
		return n != "" && n != "0"
	}) {
		t.Error("B holds the lease but did not sync")
	}
	bst = syncStatus(t, b.url, admin)
	if bl, _ := bst["lease"].(map[string]any); bst["runs_here"] != true || bl["holder"] != bl["this_replica"] {
		t.Errorf("B's sync status after the takeover: %v", bst)
	}
}

// gatewayProcess is a replica run as a process of its own (this test
// binary, see TestMain), so that it can be killed outright.
type gatewayProcess struct {
	url  string
	cmd  *exec.Cmd
	logs *syncBuffer
}

func startReplicaProcess(t *testing.T, st *stack, env ...string) *gatewayProcess {
	t.Helper()
	port := testenv.FreePort(t)
	p := &gatewayProcess{url: fmt.Sprintf("http://127.0.0.1:%d", port), logs: &syncBuffer{}}
	p.cmd = exec.Command(os.Args[0], "-test.run=^$")
	p.cmd.Env = append(replicaEnviron(t, st, port, env...), envServe+"=1", "PATH="+os.Getenv("PATH"))
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	// Never outlive the test.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-exited
		if t.Failed() {
			_ = os.WriteFile(filepath.Join(testenv.Artifacts(t), sanitize(t.Name())+"-process.log"), []byte(p.logs.String()), 0o644)
		}
	})
	if !eventually(time.Minute, func() bool {
		select {
		case <-exited:
			return true
		default:
		}
		resp, err := http.Get(p.url + "/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}) {
		t.Fatalf("replica process not ready\n%s", p.logs.String())
	}
	select {
	case <-exited:
		t.Fatalf("replica process exited\n%s", p.logs.String())
	default:
	}
	return p
}

// scrape returns the value of an unlabelled metric on a metrics listener.
func scrape(addr, name string) string {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `(?:\{[^}]*\})? (\S+)$`).FindSubmatch(b)
	if m == nil {
		return ""
	}
	return string(m[1])
}

// syncStatus reads the admin sync page's JSON.
func syncStatus(t *testing.T, base, adminToken string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/auth/admin/sync", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?s)<pre id="sync-status">(.*?)</pre>`).FindSubmatch(b)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("admin sync page: %d\n%s", resp.StatusCode, b)
	}
	var st map[string]any
	if err := json.Unmarshal([]byte(html.UnescapeString(string(m[1]))), &st); err != nil {
		t.Fatalf("sync status: %v\n%s", err, m[1])
	}
	return st
}
