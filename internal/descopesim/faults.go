package descopesim

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Fault makes matching requests fail or slow down.
type Fault struct {
	// PathPrefix selects requests whose path starts with it, e.g.
	// "/v1/auth/refresh". Control paths under /sim/ never match, except
	// /sim/flow/.
	PathPrefix string `json:"pathPrefix"`
	// Method, when set, must equal the request method.
	Method string `json:"method,omitempty"`
	// Status is the response status. Zero (with Delay) only slows the
	// request down; it is then answered normally.
	Status int `json:"status,omitempty"`
	// RetryAfter is the Retry-After header in seconds. A 429 gets "1" when
	// it is zero; a negative value sends no header.
	RetryAfter int `json:"retryAfter,omitempty"`
	// Delay is waited before answering (cut short if the client goes away).
	Delay time.Duration `json:"-"`
	// Times is how many requests the fault affects; zero means until
	// ClearFaults.
	Times int `json:"times,omitempty"`
	// Body replaces the default Descope error body when set.
	Body string `json:"body,omitempty"`
}

type faultState struct {
	Fault
	used int
}

// InjectFault adds a fault. Faults are checked in the order they were
// added; the first match applies.
func (s *Server) InjectFault(f Fault) error {
	if f.PathPrefix == "" || !strings.HasPrefix(f.PathPrefix, "/") {
		return fmt.Errorf("descopesim: fault path prefix %q: %w", f.PathPrefix, ErrInvalid)
	}
	if f.Status != 0 && (f.Status < 100 || f.Status > 599) {
		return fmt.Errorf("descopesim: fault status %d: %w", f.Status, ErrInvalid)
	}
	if f.Status == 0 && f.Delay <= 0 {
		return fmt.Errorf("descopesim: fault needs a status or a delay: %w", ErrInvalid)
	}
	s.mu.Lock()
	s.faults = append(s.faults, &faultState{Fault: f})
	s.mu.Unlock()
	return nil
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	s.faults = nil
	s.mu.Unlock()
}

// takeFault returns the fault for r, if any, and uses one of its Times.
func (s *Server) takeFault(r *http.Request) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if !strings.HasPrefix(r.URL.Path, f.PathPrefix) || (f.Method != "" && !strings.EqualFold(f.Method, r.Method)) {
			continue
		}
		f.used++
		if f.Times > 0 && f.used >= f.Times {
			s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
		}
		return f.Fault, true
	}
	return Fault{}, false
}

// isAPIPath tells whether a path is counted and subject to faults.
func isAPIPath(p string) bool {
	return !strings.HasPrefix(p, "/sim/") || strings.HasPrefix(p, "/sim/flow/")
}

// countAndFault counts API requests and applies injected faults.
func (s *Server) countAndFault(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isAPIPath(r.URL.Path) || r.Method == http.MethodOptions {
			next.ServeHTTP(w, r)
			return
		}
		s.mu.Lock()
		s.counts[r.URL.Path]++
		s.mu.Unlock()
		f, ok := s.takeFault(r)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		if f.Delay > 0 {
			t := time.NewTimer(f.Delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		if f.Status == 0 {
			next.ServeHTTP(w, r)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/sim/flow/") || strings.HasPrefix(r.URL.Path, "/v1/flow/") {
			s.setCORS(w, r)
		}
		switch {
		case f.RetryAfter > 0:
			w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
		case f.RetryAfter == 0 && f.Status == http.StatusTooManyRequests:
			w.Header().Set("Retry-After", "1")
		}
		if f.Body != "" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(f.Status)
			_, _ = w.Write([]byte(f.Body))
			return
		}
		code := fmt.Sprintf("E%06d", f.Status)
		desc := http.StatusText(f.Status)
		if f.Status == http.StatusTooManyRequests {
			code, desc = "E130429", "Request was throttled"
		}
		writeError(w, f.Status, code, desc, "injected fault")
	})
}
