package naming_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/audit"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/naming"
)

// BenchmarkLookupKnown is what every authenticated request pays for its
// MLflow username once the name is known: a read-locked map lookup.
// Run: go test -run '^$' -bench . ./internal/naming
func BenchmarkLookupKnown(b *testing.B) {
	ctx := context.Background()
	s, err := audit.Open(ctx, filepath.Join(b.TempDir(), "audit.db"), audit.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	db, dialect := s.(audit.SQLBacked).SQL()
	store, err := naming.New(ctx, naming.Options{DB: db, Dialect: dialect})
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = fmt.Sprintf("U2bench%04d", i)
		if _, err := store.Assign(ctx, ids[i], known(naming.Profile{LoginID: ids[i] + "@example.com"})); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, ok, err := store.Lookup(ctx, ids[i%len(ids)]); !ok || err != nil {
				b.Fatal("not found")
			}
			i++
		}
	})
}

// BenchmarkAssignNew is deciding a new user's name (database transaction,
// look-alike check), paid once per user.
func BenchmarkAssignNew(b *testing.B) {
	ctx := context.Background()
	s, err := audit.Open(ctx, filepath.Join(b.TempDir(), "audit.db"), audit.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	db, dialect := s.(audit.SQLBacked).SQL()
	store, err := naming.New(ctx, naming.Options{DB: db, Dialect: dialect})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		id := fmt.Sprintf("U2new%08d", i)
		if _, err := store.Assign(ctx, id, known(naming.Profile{LoginID: id + "@example.com"})); err != nil {
			b.Fatal(err)
		}
	}
}
