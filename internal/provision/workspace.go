package provision

import (
	"context"
	"errors"
	"fmt"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/mlflow"
)

// ensureWorkspace creates a tenant's workspace on first use, with the tenant
// roles of the mapping in it. Each workspace is checked once per process
// (and again after SyncRoles).
func (p *Provisioner) ensureWorkspace(ctx context.Context, name, tenantID string, evs *[]Event) error {
	p.mu.Lock()
	ok := p.workspaces[name]
	p.mu.Unlock()
	if ok {
		return nil
	}
	v, err, _ := p.flights.Do("workspace\x00"+name, func() (any, error) {
		var mine []Event
		err := p.createWorkspace(ctx, name, tenantID, &mine)
		if err == nil {
			p.mu.Lock()
			p.workspaces[name] = true
			p.mu.Unlock()
		}
		return mine, err
	})
	if mine, _ := v.([]Event); len(mine) > 0 {
		*evs = append(*evs, mine...)
	}
	return err
}

func (p *Provisioner) createWorkspace(ctx context.Context, name, tenantID string, evs *[]Event) error {
	_, err := p.opts.MLflow.Workspace(ctx, name)
	if errors.Is(err, mlflow.ErrNotFound) {
		desc := ManagedTag
		if tenantID != "" {
			desc += fmt.Sprintf(" Descope tenant %s", tenantID)
		}
		_, err = p.opts.MLflow.CreateWorkspace(ctx, mlflow.Workspace{Name: name, Description: desc})
		switch {
		case err == nil:
			p.emit(evs, Event{Action: ActionCreateWorkspace, Workspace: name, Detail: desc})
		case errors.Is(err, mlflow.ErrAlreadyExists): // another replica
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("provision: workspace %q: %w", name, err)
	}
	if tenantID == "" {
		return nil
	}
	roles, err := p.opts.MLflow.Roles(ctx, name)
	if err != nil {
		return fmt.Errorf("provision: list roles of %q: %w", name, err)
	}
	for _, tr := range p.opts.Mapping.TenantRoles {
		if tr.Tenant != "" && tr.Tenant != tenantID {
			continue
		}
		if err := p.syncRole(ctx, tenantRole(tr, name), find(roles, name, tr.MLflowRole), evs); err != nil {
			return err
		}
	}
	return nil
}
