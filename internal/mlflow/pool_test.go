package mlflow

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

type stateLog struct {
	mu     sync.Mutex
	events []string
	upAt   map[int]time.Time
}

func (l *stateLog) record(worker int, up bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ev := "down"
	if up {
		ev = "up"
		if _, ok := l.upAt[worker]; !ok {
			l.upAt[worker] = time.Now()
		}
	}
	l.events = append(l.events, string(rune('0'+worker))+":"+ev)
}

func (l *stateLog) of(worker int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.events {
		if strings.HasPrefix(e, string(rune('0'+worker))+":") {
			out = append(out, e[2:])
		}
	}
	return out
}

type launch struct {
	Args    []string `json:"args"`
	Env     []string `json:"env"`
	Started int64    `json:"started"`
}

func readLaunch(t *testing.T, path string) launch {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var l launch
	if err := json.Unmarshal(raw, &l); err != nil {
		t.Fatal(err)
	}
	return l
}

func (l launch) env(name string) string {
	for _, kv := range l.Env {
		if k, v, _ := strings.Cut(kv, "="); k == name {
			return v
		}
	}
	return ""
}

func (l launch) arg(flag string) string {
	for i := 0; i+1 < len(l.Args); i++ {
		if l.Args[i] == flag {
			return l.Args[i+1]
		}
	}
	return ""
}

// TestPool: the first process starts alone (it creates the databases) and
// the others once it answers; every process runs one uvicorn worker on its
// own port with the same secrets; a killed process is restarted while the
// others keep answering; Ready holds while any one answers.
func TestPool(t *testing.T) {
	t.Parallel()
	opts, record := fakeOptions(t)
	opts.Workers = 3
	states := &stateLog{upAt: map[int]time.Time{}}
	opts.OnState = states.record
	p, err := NewPool(opts)
	if err != nil {
		t.Fatal(err)
	}
	if p.Size() != 3 || len(p.Addrs()) != 3 || p.URL().Host != p.Addrs()[0] {
		t.Fatalf("Size %d Addrs %v URL %v", p.Size(), p.Addrs(), p.URL())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- p.Run(ctx) }()
	wctx, wcancel := context.WithTimeout(ctx, 60*time.Second)
	defer wcancel()
	if err := p.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
	for len(states.of(1)) == 0 || len(states.of(2)) == 0 {
		if wctx.Err() != nil {
			t.Fatalf("not every worker came up: %v", states.events)
		}
		time.Sleep(20 * time.Millisecond)
	}

	var launches []launch
	ports := map[string]bool{}
	for _, addr := range p.Addrs() {
		_, port, _ := strings.Cut(addr, ":")
		l := readLaunch(t, record+"."+port)
		launches = append(launches, l)
		ports[l.arg("--port")] = true
		if l.arg("--workers") != "1" {
			t.Errorf("worker on %s: --workers %q; want 1", addr, l.arg("--workers"))
		}
		if !strings.Contains(l.arg("--allowed-hosts"), addr) {
			t.Errorf("worker on %s: --allowed-hosts %q lacks its own address", addr, l.arg("--allowed-hosts"))
		}
	}
	if len(ports) != 3 {
		t.Errorf("ports %v; want three different ones", ports)
	}
	for _, name := range []string{envFlaskSecretKey, envInternalGatewayToken, envDelegationKey, "MLFLOW_AUTH_ADMIN_PASSWORD", "MLFLOW_AUTH_CONFIG_PATH", "EXTRA"} {
		first := launches[0].env(name)
		if first == "" {
			t.Errorf("%s not set for worker 0", name)
		}
		for i, l := range launches[1:] {
			if got := l.env(name); got != first {
				t.Errorf("%s of worker %d = %q; want the same as worker 0's %q", name, i+1, got, first)
			}
		}
	}
	for i, l := range launches[1:] {
		if started := time.Unix(0, l.Started); !started.After(states.upAt[0]) {
			t.Errorf("worker %d started at %v, before worker 0 answered (%v)", i+1, started, states.upAt[0])
		}
	}

	// Kill worker 1's whole process group.
	pid := p.PIDs()[1]
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for p.Restarts()[1] < 1 || p.PIDs()[1] == 0 || p.PIDs()[1] == pid || len(states.of(1)) < 3 {
		if err := p.Ready(wctx); err != nil {
			t.Fatalf("Ready while one worker restarts = %v; want nil", err)
		}
		if wctx.Err() != nil {
			t.Fatalf("worker 1 not restarted: %v restarts %v", states.events, p.Restarts())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := strings.Join(states.of(1), ","); got != "up,down,up" {
		t.Errorf("worker 1 states %s; want up,down,up", got)
	}
	for _, w := range []int{0, 2} {
		if got := strings.Join(states.of(w), ","); got != "up" {
			t.Errorf("worker %d states %s; want up (untouched)", w, got)
		}
	}
	if r := p.Restarts(); r[0] != 0 || r[2] != 0 {
		t.Errorf("restarts %v; want only worker 1's", r)
	}

	pids := p.PIDs()
	cancel()
	select {
	case err := <-runErr:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	for _, pid := range pids {
		if running(pid) {
			t.Errorf("process %d still running after Run returned", pid)
		}
	}
	if err := p.Ready(context.Background()); !errors.Is(err, ErrStopped) {
		t.Errorf("Ready after stop = %v; want ErrStopped", err)
	}
	if err := p.WaitReady(context.Background()); !errors.Is(err, ErrStopped) {
		t.Errorf("WaitReady after stop = %v; want ErrStopped", err)
	}
}

// A pool whose binary cannot start returns the start error and starts no
// other process.
func TestPoolStartFailure(t *testing.T) {
	t.Parallel()
	opts, _ := fakeOptions(t)
	opts.Workers = 2
	opts.MLflowBin = t.TempDir()
	p, err := NewPool(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background()); err == nil || !strings.HasPrefix(err.Error(), "mlflow: start: ") {
		t.Errorf("Run = %v; want the start error", err)
	}
	if _, err := NewPool(Options{Workers: 65, WorkDir: "w", AssertionSecret: opts.AssertionSecret}); err == nil {
		t.Error("65 workers accepted")
	}
}
