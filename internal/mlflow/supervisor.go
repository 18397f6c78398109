package mlflow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Errors reported by the Supervisor.
var (
	// ErrNotReady: the child is not (or no longer) answering.
	ErrNotReady = errors.New("mlflow: not ready")
	// ErrStopped: Run has returned.
	ErrStopped = errors.New("mlflow: supervisor stopped")
)

// Options configure a Supervisor. Zero values get the defaults named here.
type Options struct {
	// MLflowBin is the mlflow executable; see FindBinary for the default.
	MLflowBin string
	// Host to listen on; default 127.0.0.1. Keep it on loopback: MLflow
	// trusts whoever holds the assertion secret, not the network.
	Host string
	// Port to listen on; 0 picks a free one once, in New.
	Port int
	// BackendStoreURI is --backend-store-uri; default sqlite in WorkDir.
	BackendStoreURI string
	// ArtifactRoot is --artifacts-destination (artifacts are proxied through
	// MLflow with --serve-artifacts); default WorkDir/mlartifacts.
	ArtifactRoot string
	// AssertionSecret is the shared secret of the identity assertion (>= 32
	// bytes). It reaches the plugin in MLFLOW_DESCOPE_ASSERTION_SECRET.
	AssertionSecret []byte
	// AdminUsername is MLflow's bootstrap admin; default DefaultAdminUsername.
	AdminUsername string
	// AdminPassword is the bootstrap admin's password, required by MLflow but
	// never used for login (the plugin ignores Basic auth); generated if empty.
	AdminPassword string
	// DefaultPermission is basic-auth's default_permission; default READ.
	DefaultPermission string
	// AuthDatabaseURI is basic-auth's database_uri; default sqlite in WorkDir.
	AuthDatabaseURI string
	// EnableWorkspaces starts MLflow with --enable-workspaces.
	EnableWorkspaces bool
	// StaticPrefix is --static-prefix ("/mlflow"); empty for none.
	StaticPrefix string
	// Workers is uvicorn's worker count of one Supervisor's child (0 keeps
	// MLflow's default, 4); for a Pool, the number of MLflow processes, each
	// with one uvicorn worker (0: one).
	Workers int
	// AllowedOrigins go to --cors-allowed-origins: the gateway's public
	// origins, if it forwards the browser's Origin header. Loopback origins
	// are always allowed by MLflow.
	AllowedOrigins []string
	// ExtraEnv ("KEY=VALUE") is added last to the child's environment.
	ExtraEnv []string
	// BaseEnv is the environment the child inherits, minus DESCOPE_* and the
	// variables the Supervisor sets; nil means os.Environ().
	BaseEnv []string
	// WorkDir holds the auth INI and, by default, the databases and artifacts.
	WorkDir string
	// Home is the child's HOME; default WorkDir/home. MLflow writes there
	// (~/.mlflow/assistant/config.json, skills, caches), so it is never the
	// gateway user's own home unless set so. XDG_CONFIG_HOME, XDG_CACHE_HOME,
	// XDG_DATA_HOME and XDG_STATE_HOME point inside it; credential files in
	// the base environment's HOME stay readable (see homeFiles).
	Home string
	// exists reports whether a path exists (os.Stat; tests replace it).
	exists func(string) bool
	// Logger receives lifecycle events and the child's output; nil discards.
	Logger *slog.Logger
	// StartTimeout bounds how long one start may take to answer /health;
	// default 2 minutes.
	StartTimeout time.Duration
	// StopTimeout bounds the wait after SIGTERM before SIGKILL; default 20s.
	StopTimeout time.Duration
	// MinBackoff and MaxBackoff bound the restart delay; defaults 1s and 30s.
	MinBackoff, MaxBackoff time.Duration
	// OnState, if set, is called when an MLflow process starts answering
	// (up) or stops (its process exited); worker is its index in a Pool, 0
	// for a lone Supervisor. Calls for one worker come in order.
	OnState func(worker int, up bool)
}

// Supervisor runs `mlflow server --app-name descope-auth` as a child process
// in its own process group, restarts it when it dies, and reports when it
// answers.
type Supervisor struct {
	opts     Options
	url      *url.URL
	flaskKey string
	log      *slog.Logger
	health   *http.Client

	worker int // index in a Pool; 0 alone

	mu       sync.Mutex
	started  bool
	up       bool
	stopped  bool
	restarts int
	pid      int
	changed  chan struct{} // closed and replaced on every state change
}

// New validates opts, resolves the binary and picks the port. It starts
// nothing; call Run.
func New(opts Options) (*Supervisor, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	cwd, err := os.Getwd()
	if err != nil {
		return nil, fmt.Errorf("mlflow: working directory: %w", err)
	}
	if opts.MLflowBin, err = FindBinary(opts.MLflowBin, cwd); err != nil {
		return nil, err
	}
	if opts.Port == 0 {
		p, err := freePort(opts.Host)
		if err != nil {
			return nil, err
		}
		opts.Port = p
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.BaseEnv == nil {
		opts.BaseEnv = os.Environ()
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 2 * time.Minute
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = 20 * time.Second
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = time.Second
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(30*time.Second, opts.MinBackoff)
	}
	opts.AllowedOrigins = append([]string(nil), opts.AllowedOrigins...)
	opts.ExtraEnv = append([]string(nil), opts.ExtraEnv...)
	opts.AssertionSecret = append([]byte(nil), opts.AssertionSecret...)
	return &Supervisor{
		opts:     opts,
		url:      &url.URL{Scheme: "http", Host: net.JoinHostPort(opts.Host, strconv.Itoa(opts.Port))},
		flaskKey: randomHex(32),
		log:      opts.Logger.With("component", "mlflow"),
		health:   &http.Client{Timeout: 5 * time.Second},
		changed:  make(chan struct{}),
	}, nil
}

// URL is the child's origin (scheme, host, port), stable across restarts.
// With a StaticPrefix, MLflow serves everything below that path.
func (s *Supervisor) URL() *url.URL { u := *s.url; return &u }

// AdminUsername is the bootstrap admin the gateway's Client must act as.
func (s *Supervisor) AdminUsername() string { return s.opts.AdminUsername }

// Restarts counts how often the child was started again after dying.
func (s *Supervisor) Restarts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.restarts
}

// PID is the process id of the running child (the mlflow CLI, leader of its
// process group), or 0.
func (s *Supervisor) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pid
}

// Ready probes the child's /health now. It returns ErrNotReady (wrapped) if
// the child is not up or does not answer, ErrStopped after Run returned.
func (s *Supervisor) Ready(ctx context.Context) error {
	s.mu.Lock()
	up, stopped := s.up, s.stopped
	s.mu.Unlock()
	if stopped {
		return ErrStopped
	}
	if !up {
		return ErrNotReady
	}
	if err := s.probe(ctx); err != nil {
		return fmt.Errorf("%w: %w", ErrNotReady, err)
	}
	return nil
}

// WaitReady blocks until the child answers, ctx is done, or Run returns
// (ErrStopped).
func (s *Supervisor) WaitReady(ctx context.Context) error {
	for {
		s.mu.Lock()
		up, stopped, ch := s.up, s.stopped, s.changed
		s.mu.Unlock()
		switch {
		case stopped:
			return ErrStopped
		case up:
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("mlflow: wait ready: %w", ctx.Err())
		}
	}
}

func (s *Supervisor) setState(f func()) {
	s.mu.Lock()
	was := s.up
	f()
	up := s.up
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	// Only Run's goroutines change the state, one after the other (the
	// health poller has returned before the exit is recorded), so hooks
	// for one worker are called in order.
	if up != was && s.opts.OnState != nil {
		s.opts.OnState(s.worker, up)
	}
}

func (s *Supervisor) probe(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url.String()+s.opts.StaticPrefix+"/health", nil)
	if err != nil {
		return err
	}
	resp, err := s.health.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1024))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health: status %d", resp.StatusCode)
	}
	return nil
}

// Run writes the auth config, starts the child and keeps it running until
// ctx is done; then it stops the child (SIGTERM to the group, SIGKILL after
// StopTimeout), and returns nil once it is gone. It returns an error if the
// child cannot be started at all. Run may be called once.
func (s *Supervisor) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("mlflow: supervisor: Run called twice")
	}
	s.started = true
	s.mu.Unlock()
	defer s.setState(func() { s.up, s.stopped, s.pid = false, true, 0 })

	if err := os.MkdirAll(s.opts.WorkDir, 0o700); err != nil {
		return fmt.Errorf("mlflow: work dir: %w", err)
	}
	if err := os.MkdirAll(s.opts.Home, 0o700); err != nil {
		return fmt.Errorf("mlflow: home: %w", err)
	}
	iniPath, err := writeAuthINI(&s.opts)
	if err != nil {
		return err
	}
	env := s.opts.env(s.opts.BaseEnv, iniPath, s.flaskKey)
	backoff := s.opts.MinBackoff
	for {
		began := time.Now()
		err := s.runOnce(ctx, env)
		if ctx.Err() != nil {
			s.log.Info("mlflow stopped")
			return nil
		}
		var startErr *startError
		if errors.As(err, &startErr) {
			return err
		}
		if time.Since(began) > 2*s.opts.MaxBackoff {
			backoff = s.opts.MinBackoff // it ran long enough to count as healthy
		}
		s.log.Error("mlflow exited; restarting", "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, s.opts.MaxBackoff)
		s.setState(func() { s.restarts++ })
	}
}

// startError: the process could not be started (bad binary, no permission).
type startError struct{ err error }

func (e *startError) Error() string { return fmt.Sprintf("mlflow: start: %v", e.err) }
func (e *startError) Unwrap() error { return e.err }

// runOnce starts the child and returns when it has exited (and its process
// group is gone).
func (s *Supervisor) runOnce(ctx context.Context, env []string) error {
	cmd := exec.CommandContext(ctx, s.opts.MLflowBin, s.opts.args()...)
	cmd.Dir = s.opts.WorkDir
	cmd.Env = env
	// Pdeathsig: if the gateway dies without stopping MLflow (SIGKILL, the
	// OOM killer, a crash), the kernel sends MLflow SIGTERM instead of leaving
	// it running on a port nothing guards any more.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	cmd.Cancel = func() error {
		// The whole group: the mlflow CLI, uvicorn and its workers.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	}
	cmd.WaitDelay = s.opts.StopTimeout
	out, err := startOutput(cmd, s.log)
	if err != nil {
		return &startError{err}
	}
	if err := cmd.Start(); err != nil {
		out.abort()
		return &startError{err}
	}
	out.started()
	pid := cmd.Process.Pid
	s.setState(func() { s.pid = pid })
	s.log.Info("mlflow started", "pid", pid, "url", s.url.String())

	exited := make(chan struct{})
	readyDone := make(chan struct{})
	go func() {
		defer close(readyDone)
		s.awaitHealthy(ctx, exited, pid)
	}()
	waitErr := cmd.Wait()
	close(exited)
	// Leftovers (uvicorn workers after the CLI was killed) hold the port and
	// the output pipes: end the whole group.
	if err := syscall.Kill(-pid, syscall.SIGKILL); err == nil {
		s.log.Warn("mlflow process group killed", "pgid", pid)
	}
	<-readyDone
	// Down before waiting for the output to drain: a Pool's balancer stops
	// sending to this worker at once.
	s.setState(func() { s.up, s.pid = false, 0 })
	out.wait(s.opts.StopTimeout)
	if waitErr == nil {
		return errors.New("mlflow: exited with status 0")
	}
	return fmt.Errorf("mlflow: %w", waitErr)
}

// awaitHealthy polls /health until it answers, the child exits, or
// StartTimeout passes (then the child is killed so that it restarts).
func (s *Supervisor) awaitHealthy(ctx context.Context, exited <-chan struct{}, pid int) {
	deadline := time.NewTimer(s.opts.StartTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-exited:
			return
		case <-ctx.Done():
			return
		case <-deadline.C:
			s.log.Error("mlflow did not answer in time; killing it", "timeout", s.opts.StartTimeout)
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			return
		case <-tick.C:
		}
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := s.probe(pctx)
		cancel()
		if err == nil {
			s.setState(func() { s.up = true })
			s.log.Info("mlflow ready", "pid", pid)
			return
		}
	}
}
