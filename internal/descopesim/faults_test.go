package descopesim

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

func TestFaults(t *testing.T) {
	t.Parallel()
	const refresh = "/v1/auth/refresh"
	tests := []struct {
		name           string
		fault          Fault
		wantStatuses   []int
		wantRetryAfter string
		wantCode       string
	}{
		{
			name:           "429 twice then normal",
			fault:          Fault{PathPrefix: refresh, Status: http.StatusTooManyRequests, RetryAfter: 7, Times: 2},
			wantStatuses:   []int{429, 429, 200, 200},
			wantRetryAfter: "7",
			wantCode:       codeRateLimited,
		},
		{
			name:           "429 default retry after",
			fault:          Fault{PathPrefix: refresh, Status: http.StatusTooManyRequests, Times: 1},
			wantStatuses:   []int{429, 200},
			wantRetryAfter: "1",
			wantCode:       codeRateLimited,
		},
		{
			name:         "503 until cleared",
			fault:        Fault{PathPrefix: "/v1/auth/", Status: http.StatusServiceUnavailable},
			wantStatuses: []int{503, 503, 503},
		},
		{
			name:         "other method not affected",
			fault:        Fault{PathPrefix: refresh, Method: http.MethodGet, Status: http.StatusBadGateway},
			wantStatuses: []int{200, 200},
		},
		{
			name:         "other path not affected",
			fault:        Fault{PathPrefix: "/v1/auth/me", Status: http.StatusInternalServerError},
			wantStatuses: []int{200},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSim(t, Options{})
			mustUser(t, s, User{ID: "U2f"})
			_, ref := mustMint(t, s, "U2f", MintOptions{})
			mustOK(t, s.InjectFault(tt.fault))
			for i, want := range tt.wantStatuses {
				var body errorBody
				resp := call(t, s, http.MethodPost, refresh, testProject+":"+ref, "", &body)
				if resp.StatusCode != want {
					t.Fatalf("request %d: status %d; want %d", i, resp.StatusCode, want)
				}
				if want == http.StatusTooManyRequests {
					if got := resp.Header.Get("Retry-After"); got != tt.wantRetryAfter {
						t.Errorf("Retry-After = %q; want %q", got, tt.wantRetryAfter)
					}
					if body.ErrorCode != tt.wantCode {
						t.Errorf("errorCode = %q; want %q", body.ErrorCode, tt.wantCode)
					}
				}
			}
			if got := s.Count(refresh); got != len(tt.wantStatuses) {
				t.Errorf("Count(%s) = %d; want %d", refresh, got, len(tt.wantStatuses))
			}
			s.ClearFaults()
			if resp := call(t, s, http.MethodPost, refresh, testProject+":"+ref, "", nil); resp.StatusCode != http.StatusOK {
				t.Errorf("after ClearFaults: status %d", resp.StatusCode)
			}
		})
	}
}

func TestFaultDelay(t *testing.T) {
	t.Parallel()
	s := newSim(t, Options{})
	mustOK(t, s.InjectFault(Fault{PathPrefix: "/v2/keys/", Delay: 300 * time.Millisecond, Times: 1}))

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+"/v2/keys/"+testProject, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := http.DefaultClient.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow request error = %v; want deadline exceeded", err)
	}
	start := time.Now()
	if resp := call(t, s, http.MethodGet, "/v2/keys/"+testProject, "", "", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("second request: status %d", resp.StatusCode)
	}
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Errorf("second request took %v; the delay should be used up", d)
	}
}

func TestInjectFaultValidation(t *testing.T) {
	t.Parallel()
	s := newSim(t, Options{})
	tests := []struct {
		name  string
		fault Fault
	}{
		{name: "no prefix", fault: Fault{Status: 500}},
		{name: "relative prefix", fault: Fault{PathPrefix: "v1", Status: 500}},
		{name: "bad status", fault: Fault{PathPrefix: "/v1", Status: 42}},
		{name: "nothing to do", fault: Fault{PathPrefix: "/v1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := s.InjectFault(tt.fault); !errors.Is(err, ErrInvalid) {
				t.Errorf("InjectFault error = %v; want ErrInvalid", err)
			}
		})
	}
}

func TestCounts(t *testing.T) {
	t.Parallel()
	s := newSim(t, Options{})
	for range 3 {
		call(t, s, http.MethodGet, "/v2/keys/"+testProject, "", "", nil)
	}
	call(t, s, http.MethodGet, "/sim/counts", "", "", nil) // control paths are not counted
	if got := s.Counts(); len(got) != 1 || got["/v2/keys/"+testProject] != 3 {
		t.Errorf("Counts() = %v; want 3 JWKS calls only", got)
	}
	s.ResetCounts()
	if got := s.Count("/v2/keys/" + testProject); got != 0 {
		t.Errorf("Count after reset = %d", got)
	}
}
