package usersync

import (
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/denylist"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/event"
)

// syncRun is what a run reports to Options.Events.
func syncRun(rep Report, err error) event.SyncRun {
	return event.SyncRun{Started: rep.Started, Finished: rep.Finished, Err: err, Counts: map[string]int{
		"descope_users": rep.DescopeUsers, "mlflow_users": rep.MLflowUsers, "reconciled": len(rep.Reconciled),
		"disabled": len(rep.Disabled), "deleted": len(rep.Deleted), "unblocked": len(rep.Unblocked),
		"failed": len(rep.Failed), "changes": len(rep.Events),
	}}
}

// Status describes the sync job for the admin page: whether it runs here
// (s is nil without DESCOPE_MANAGEMENT_KEY or with a zero interval), its last
// run, and the users refused on every replica that shares blocked.
func Status(s *Syncer, blocked *denylist.List) map[string]any {
	st := map[string]any{"enabled": false, "why": "needs DESCOPE_MANAGEMENT_KEY and DESCOPE_SYNC_INTERVAL > 0"}
	if s != nil {
		st = map[string]any{"enabled": true, "interval": s.opts.Interval.String()}
		if last := s.last.Load(); last != nil {
			st["last_run"] = last.report
			if last.err != nil {
				st["last_error"] = last.err.Error()
			}
		} else {
			st["last_run"] = "not yet"
		}
	}
	// Refused here whoever's sync found them: replicas share the list.
	if blocked != nil {
		st["blocked_users"] = blocked.BlockedUsers()
		st["blocked_users_shared"] = blocked.Shared()
	}
	return st
}
