package mlflow

import (
	"path/filepath"
	"slices"
	"testing"
)

// An operator-chosen home is used as given (made absolute), and the XDG
// base directories follow it.
func TestExplicitHome(t *testing.T) {
	t.Parallel()
	o := Options{WorkDir: t.TempDir(), AssertionSecret: []byte("supervisor-test-secret-0123456789abcdef"), Home: "relative/home"}
	if err := o.validate(); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs("relative/home")
	env := o.env([]string{"HOME=/home/gateway-user"}, "ini", "key")
	for _, want := range []string{"HOME=" + abs, "XDG_CONFIG_HOME=" + filepath.Join(abs, ".config"), "XDG_STATE_HOME=" + filepath.Join(abs, ".local", "state")} {
		if !slices.Contains(env, want) {
			t.Errorf("child env lacks %s: %v", want, env)
		}
	}
	if slices.Contains(env, "HOME=/home/gateway-user") {
		t.Error("the gateway user's HOME reached the child")
	}
}

// Credentials in the gateway user's home stay readable by the child, unless
// the operator already named them; files that do not exist are not named.
func TestHomeReferences(t *testing.T) {
	t.Parallel()
	have := map[string]bool{
		"/home/u/.aws/credentials": true,
		"/home/u/.pgpass":          true,
		"/home/u/.local":           true,
		"/home/u/.config/gcloud":   true,
	}
	exists := func(p string) bool { return have[p] }
	got := homeReferences([]string{"HOME=/home/u", "CLOUDSDK_CONFIG=/etc/gcloud"}, exists)
	want := []string{"AWS_SHARED_CREDENTIALS_FILE=/home/u/.aws/credentials", "PGPASSFILE=/home/u/.pgpass", "PYTHONUSERBASE=/home/u/.local"}
	if !slices.Equal(got, want) {
		t.Errorf("homeReferences = %v; want %v", got, want)
	}
	if got := homeReferences([]string{"PATH=/bin"}, exists); got != nil {
		t.Errorf("without HOME: %v", got)
	}
	if got := homeReferences([]string{"HOME=relative"}, exists); got != nil {
		t.Errorf("relative HOME: %v", got)
	}
}
