package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// PrunerOptions configure a Pruner.
type PrunerOptions struct {
	// MaxAge is how long records are kept. Required.
	MaxAge time.Duration
	// Interval is the time between prunes. Default 1h.
	Interval time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives one line per prune that deleted something, and
	// errors. Default: discard.
	Logger *slog.Logger
}

// Pruner enforces retention by calling Store.Prune periodically. Several
// replicas may run one against the same PostgreSQL store: prunes are
// serialized by the chain lock and the later ones find nothing to delete.
type Pruner struct {
	store Store
	opts  PrunerOptions
	log   *slog.Logger
}

// NewPruner returns a Pruner; start it with Run.
func NewPruner(store Store, opts PrunerOptions) (*Pruner, error) {
	if store == nil {
		return nil, errors.New("audit: new pruner: nil store")
	}
	if opts.MaxAge <= 0 {
		return nil, fmt.Errorf("audit: new pruner: max age must be positive, got %s", opts.MaxAge)
	}
	if opts.Interval < 0 {
		return nil, fmt.Errorf("audit: new pruner: negative interval %s", opts.Interval)
	}
	if opts.Interval == 0 {
		opts.Interval = time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Pruner{store: store, opts: opts, log: log.With("component", "audit")}, nil
}

// PruneOnce deletes the records older than MaxAge.
func (p *Pruner) PruneOnce(ctx context.Context) (int64, error) {
	before := p.opts.Now().Add(-p.opts.MaxAge)
	n, err := p.store.Prune(ctx, before)
	if err != nil {
		return 0, err
	}
	if n > 0 {
		p.log.Info("audit records pruned", "count", n, "before", before)
	}
	return n, nil
}

// Run prunes now and then every Interval until ctx ends; it then returns
// nil. A failed prune is logged and retried at the next interval.
func (p *Pruner) Run(ctx context.Context) error {
	t := time.NewTicker(p.opts.Interval)
	defer t.Stop()
	for {
		if _, err := p.PruneOnce(ctx); err != nil && ctx.Err() == nil {
			p.log.Error("audit prune failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
