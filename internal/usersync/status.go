package usersync

import (
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/denylist"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/event"
)

// syncRun is what a run reports to Options.Events.
func (s *Syncer) syncRun(rep Report, err error) event.SyncRun {
	var replica string
	if s.opts.Lease != nil {
		replica = s.opts.Lease.Status().Self
	}
	return event.SyncRun{Started: rep.Started, Finished: rep.Finished, Err: err, Replica: replica, Counts: map[string]int{
		"descope_users": rep.DescopeUsers, "mlflow_users": rep.MLflowUsers, "reconciled": len(rep.Reconciled),
		"disabled": len(rep.Disabled), "deleted": len(rep.Deleted), "unblocked": len(rep.Unblocked),
		"failed": len(rep.Failed), "changes": len(rep.Events),
	}}
}

// Status describes the sync job for the admin page: whether it is enabled
// here (s is nil without DESCOPE_MANAGEMENT_KEY or with a zero interval),
// which replica runs it (the lease), this replica's last run, and the users
// refused on every replica that shares blocked.
func Status(s *Syncer, blocked *denylist.List) map[string]any {
	st := map[string]any{"enabled": false, "why": "needs DESCOPE_MANAGEMENT_KEY and DESCOPE_SYNC_INTERVAL > 0"}
	if s != nil {
		st = map[string]any{"enabled": true, "interval": s.opts.Interval.String(), "runs_here": true}
		if s.opts.Lease != nil {
			ls := s.opts.Lease.Status()
			st["runs_here"] = ls.Here
			st["lease"] = ls
		}
		if last := s.last.Load(); last != nil {
			st["last_run"] = last.report
			if last.err != nil {
				st["last_error"] = last.err.Error()
			}
		} else if st["runs_here"] == true {
			st["last_run"] = "not yet"
		} else {
			st["last_run"] = "runs on the replica holding the lease; see its admin page or the audit log (action sync)"
		}
	}
	// Refused here whoever's sync found them: replicas share the list.
	if blocked != nil {
		st["blocked_users"] = blocked.BlockedUsers()
		st["blocked_users_shared"] = blocked.Shared()
	}
	return st
}
