package handoff

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// BenchmarkDo is what sharing adds to one refresh (Descope's call itself
// excluded): a transaction with the row lock, the seal and the update.
func BenchmarkDo(b *testing.B) {
	s := newCluster(b).replica(b, Options{})
	refresh := func(context.Context) (Tokens, error) {
		return Tokens{Session: "session-jwt", Refresh: "refresh-jwt", Until: time.Now().Add(time.Minute)}, nil
	}
	b.ResetTimer()
	for i := range b.N {
		if _, err := s.Do(context.Background(), "refresh-"+strconv.Itoa(i), refresh); err != nil {
			b.Fatal(err)
		}
	}
}
