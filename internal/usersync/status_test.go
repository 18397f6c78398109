package usersync_test

import (
	"context"
	"testing"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/denylist"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/usersync"
)

// TestSyncStatusShowsBlockedUsers: the admin page lists who is refused, also
// on a replica that runs no sync job of its own.
func TestSyncStatusShowsBlockedUsers(t *testing.T) {
	deny := denylist.Memory()
	if _, err := deny.Block(context.Background(), "U2mallory", "deleted in descope"); err != nil {
		t.Fatal(err)
	}
	st := usersync.Status(nil, deny)
	if st["enabled"] != false {
		t.Errorf("enabled = %v without a syncer", st["enabled"])
	}
	blocked, _ := st["blocked_users"].(map[string]string)
	if blocked["U2mallory"] != "deleted in descope" || len(blocked) != 1 {
		t.Errorf("blocked_users = %v", st["blocked_users"])
	}
	if st["blocked_users_shared"] != false {
		t.Errorf("a memory list reported as shared")
	}
}
