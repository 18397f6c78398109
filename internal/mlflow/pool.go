package mlflow

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
)

// Variables MLflow's server generates per `mlflow server` process and
// shares with its own uvicorn workers; a Pool generates them once so that
// its processes share them in the same way (the plugin keeps values it
// finds, python/mlflow_descope_auth/app.py).
const (
	envInternalGatewayToken = "_MLFLOW_INTERNAL_GATEWAY_AUTH_TOKEN"
	envDelegationKey        = "_MLFLOW_ASSISTANT_DELEGATION_SIGNING_KEY"
)

// Pool runs several `mlflow server --app-name descope-auth --workers 1`
// processes, each on its own loopback port under its own Supervisor, over
// the same databases, auth config and secrets — what MLflow's own
// multi-worker mode does with uvicorn workers, except that the gateway, not
// the kernel's accept queue, decides which process serves each request
// (internal/upstream.Balancer), and a crashed process is restarted while
// the others serve.
//
// The first process creates the databases (schema migrations, the
// bootstrap admin); the others start only once it answers, so that no two
// processes ever migrate or bootstrap at the same time.
type Pool struct {
	workers []*Supervisor
	onState func(worker int, up bool)

	mu      sync.Mutex
	up      []bool
	stopped bool
	changed chan struct{} // closed and replaced on every change
}

// NewPool validates opts and prepares opts.Workers processes (default 1):
// the first on opts.Port (0: a free port), the others on free ports. It
// starts nothing; call Run. opts.OnState is called as each process starts
// or stops answering.
func NewPool(opts Options) (*Pool, error) {
	if opts.Workers < 0 || opts.Workers > 64 {
		return nil, fmt.Errorf("mlflow: pool: %d workers (want 1 to 64)", opts.Workers)
	}
	n := max(opts.Workers, 1)
	// Validate once, so that every process gets the same generated admin
	// password and paths.
	if err := opts.validate(); err != nil {
		return nil, err
	}
	p := &Pool{onState: opts.OnState, up: make([]bool, n), changed: make(chan struct{})}
	flaskKey := randomHex(32)
	shared := []string{envInternalGatewayToken + "=" + randomHex(32), envDelegationKey + "=" + randomHex(32)}
	for i := range n {
		o := opts
		o.Workers = 1
		o.ExtraEnv = append(append([]string(nil), shared...), opts.ExtraEnv...)
		if i > 0 {
			o.Port = 0
		}
		if opts.Logger != nil {
			o.Logger = opts.Logger.With("worker", i)
		}
		o.OnState = p.setUp
		s, err := New(o)
		if err != nil {
			return nil, err
		}
		s.worker = i
		s.flaskKey = flaskKey // Flask signs with it: the same in every process
		p.workers = append(p.workers, s)
	}
	return p, nil
}

func (p *Pool) setUp(worker int, up bool) {
	p.mu.Lock()
	p.up[worker] = up
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
	if p.onState != nil {
		p.onState(worker, up)
	}
}

// Size is the number of MLflow processes.
func (p *Pool) Size() int { return len(p.workers) }

// URL is the first process's origin. Requests addressed to it through the
// balancer go to any process; every process has the same StaticPrefix.
func (p *Pool) URL() *url.URL { return p.workers[0].URL() }

// Addrs are the host:port of every process, in worker order.
func (p *Pool) Addrs() []string {
	out := make([]string, len(p.workers))
	for i, s := range p.workers {
		out[i] = s.url.Host
	}
	return out
}

// AdminUsername is the bootstrap admin the gateway's Client must act as.
func (p *Pool) AdminUsername() string { return p.workers[0].AdminUsername() }

// Restarts counts, per worker, how often its process was started again
// after dying.
func (p *Pool) Restarts() []int {
	out := make([]int, len(p.workers))
	for i, s := range p.workers {
		out[i] = s.Restarts()
	}
	return out
}

// PIDs are the process ids of the running processes (the mlflow CLI,
// leader of each process group), 0 for a worker that is not running.
func (p *Pool) PIDs() []int {
	out := make([]int, len(p.workers))
	for i, s := range p.workers {
		out[i] = s.PID()
	}
	return out
}

// Ready reports nil when at least one process answers /health now (a
// balancer sends requests only to those). Otherwise it returns
// ErrNotReady (wrapped), or ErrStopped after Run returned.
func (p *Pool) Ready(ctx context.Context) error {
	var errs []error
	for _, s := range p.workers {
		err := s.Ready(ctx)
		if err == nil {
			return nil
		}
		if errors.Is(err, ErrStopped) {
			return ErrStopped
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("%w: no worker answers: %w", ErrNotReady, errors.Join(errs...))
}

// WaitReady blocks until at least one process answers, ctx is done, or Run
// returns (ErrStopped).
func (p *Pool) WaitReady(ctx context.Context) error {
	for {
		p.mu.Lock()
		stopped, ch := p.stopped, p.changed
		anyUp := false
		for _, u := range p.up {
			anyUp = anyUp || u
		}
		p.mu.Unlock()
		switch {
		case stopped:
			return ErrStopped
		case anyUp:
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("mlflow: wait ready: %w", ctx.Err())
		}
	}
}

// Run starts the first process, waits until it answers (it has created the
// databases), then starts the others, and keeps every one running until ctx
// is done; each Supervisor restarts its own process when it dies. It
// returns nil once every process is gone after ctx ended, or the first
// error that stops a Supervisor (the binary cannot be started at all).
func (p *Pool) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer func() {
		p.mu.Lock()
		p.stopped = true
		close(p.changed)
		p.changed = make(chan struct{})
		p.mu.Unlock()
	}()
	errs := make(chan error, len(p.workers))
	run := func(s *Supervisor) {
		go func() {
			err := s.Run(ctx)
			if err != nil {
				cancel() // a Supervisor that cannot start stops the pool
			}
			errs <- err
		}()
	}
	run(p.workers[0])
	started := 1
	if len(p.workers) > 1 {
		if err := p.workers[0].WaitReady(ctx); err == nil {
			for _, s := range p.workers[1:] {
				run(s)
				started++
			}
		}
	}
	var first error
	for range started {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}
