package provision

import (
	"testing"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/rolemap"
)

// BenchmarkResolve is the per-request cost of turning a token's roles into
// MLflow permissions (the gateway does it for the admin rule, the workspace
// check and the provisioning fingerprint).
func BenchmarkResolve(b *testing.B) {
	m, err := rolemap.Load("../rolemap/testdata/good.json")
	if err != nil {
		b.Fatal(err)
	}
	in := rolemap.Input{ProjectRoles: []string{"ml-editor", "auditor"}, AdminRoles: []string{"admin"}, Workspaces: true,
		TenantRoles: map[string][]string{"T2Research": {"member"}, "T2Partner": {"guest"}}}
	b.ReportAllocs()
	for b.Loop() {
		_ = fingerprint("U2x", m.Resolve(in))
	}
}
