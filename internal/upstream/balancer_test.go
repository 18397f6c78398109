package upstream

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// worker is a backend that answers with its name and records what it got.
type worker struct {
	name string
	srv  *httptest.Server
	mu   sync.Mutex
	got  []string // "METHOD host body"
	hold chan struct{}
}

func newWorker(t *testing.T, name string) *worker {
	t.Helper()
	w := &worker{name: name}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.mu.Lock()
		w.got = append(w.got, r.Method+" "+r.Host+" "+string(b))
		hold := w.hold
		w.mu.Unlock()
		if hold != nil && r.URL.Path == "/slow" {
			<-hold
		}
		io.WriteString(rw, w.name)
	}))
	t.Cleanup(w.srv.Close)
	return w
}

func (w *worker) addr() string { return strings.TrimPrefix(w.srv.URL, "http://") }

func (w *worker) requests() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.got...)
}

func newTestBalancer(t *testing.T, ws ...*worker) *Balancer {
	t.Helper()
	var addrs []string
	for _, w := range ws {
		addrs = append(addrs, w.addr())
	}
	b, err := NewBalancer(BalancerOptions{Addr: addrs[0], Backends: addrs, Base: http.DefaultTransport.(*http.Transport).Clone()})
	if err != nil {
		t.Fatal(err)
	}
	for i := range ws {
		b.SetUp(i, true)
	}
	return b
}

func get(t *testing.T, c *http.Client, url string) (string, error) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// Sequential requests (one at a time, as from one kept-alive client) are
// taken by the workers in turn, not pinned to the first.
func TestSequentialRequestsAreSpread(t *testing.T) {
	t.Parallel()
	ws := []*worker{newWorker(t, "w0"), newWorker(t, "w1"), newWorker(t, "w2")}
	b := newTestBalancer(t, ws...)
	c := &http.Client{Transport: b}
	counts := map[string]int{}
	for range 30 {
		name, err := get(t, c, "http://"+ws[0].addr()+"/x")
		if err != nil {
			t.Fatal(err)
		}
		counts[name]++
	}
	for _, w := range ws {
		if counts[w.name] != 10 {
			t.Errorf("%s served %d of 30; want 10 each (%v)", w.name, counts[w.name], counts)
		}
		// Each worker is addressed by its own Host (MLflow's --allowed-hosts).
		for _, r := range w.requests() {
			if !strings.Contains(r, " "+w.addr()+" ") {
				t.Errorf("%s got Host other than its own: %q", w.name, r)
			}
		}
	}
	for _, s := range b.Stats() {
		if s.InFlight != 0 || s.Requests != 10 {
			t.Errorf("stats %+v; want 10 requests, none in flight", s)
		}
	}
}

// A busy worker gets no new request while another is idle: requests go to
// the least loaded, and a response counts until its body is closed.
func TestLeastOutstandingRequests(t *testing.T) {
	t.Parallel()
	w0, w1 := newWorker(t, "w0"), newWorker(t, "w1")
	hold := make(chan struct{})
	w0.hold, w1.hold = hold, hold
	b := newTestBalancer(t, w0, w1)
	c := &http.Client{Transport: b}
	done := make(chan string)
	go func() { name, _ := get(t, c, "http://"+w0.addr()+"/slow"); done <- name }()
	deadline := time.Now().Add(5 * time.Second)
	for len(w0.requests())+len(w1.requests()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	busy, idle := w0, w1
	if len(w1.requests()) == 1 {
		busy, idle = w1, w0
	}
	// Now the idle worker must take everything, however the turn rotates.
	for range 6 {
		name, err := get(t, c, "http://"+w0.addr()+"/fast")
		if err != nil {
			t.Fatal(err)
		}
		if name != idle.name {
			t.Fatalf("request went to %s while it was busy; want %s", name, idle.name)
		}
	}
	close(hold)
	if name := <-done; name != busy.name {
		t.Errorf("slow request answered by %s", name)
	}

	// An unclosed response body keeps its worker busy.
	resp, err := c.Get("http://" + w0.addr() + "/fast")
	if err != nil {
		t.Fatal(err)
	}
	first, _ := io.ReadAll(resp.Body)
	for range 3 {
		name, err := get(t, c, "http://"+w0.addr()+"/fast")
		if err != nil {
			t.Fatal(err)
		}
		if name == string(first) {
			t.Errorf("worker %s got a request while a response of it was still open", name)
		}
	}
	resp.Body.Close()
	for _, s := range b.Stats() {
		if s.InFlight != 0 {
			t.Errorf("after every body closed: %+v", s)
		}
	}
}

// A worker that died before its supervisor noticed refuses the connection:
// the request goes to another one — bodies included when they can be
// replayed — and the dead one is passed over for the cooldown.
func TestRefusedConnectionGoesElsewhere(t *testing.T) {
	t.Parallel()
	w0, w1 := newWorker(t, "w0"), newWorker(t, "w1")
	dead := newWorker(t, "dead")
	deadAddr := dead.addr()
	dead.srv.Close()
	b, err := NewBalancer(BalancerOptions{Addr: w0.addr(), Backends: []string{deadAddr, w0.addr(), w1.addr()},
		Base: http.DefaultTransport.(*http.Transport).Clone(), Cooldown: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		b.SetUp(i, true)
	}
	c := &http.Client{Transport: b}
	for i := range 12 {
		body := []byte(`{"n":` + string(rune('0'+i%10)) + `}`)
		req, _ := http.NewRequest(http.MethodPost, "http://"+w0.addr()+"/post", bytes.NewReader(body))
		resp, err := c.Do(req) // http.NewRequest sets GetBody for a bytes.Reader
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		resp.Body.Close()
	}
	got := append(w0.requests(), w1.requests()...)
	if len(got) != 12 {
		t.Fatalf("live workers got %d requests; want all 12", len(got))
	}
	for _, r := range got {
		if !strings.HasSuffix(r, "}") {
			t.Errorf("a replayed request lost its body: %q", r)
		}
	}
	st := b.Stats()
	if st[0].Failed != 1 {
		t.Errorf("dead worker refused %d connections; want 1 (then cooled down)", st[0].Failed)
	}

	// A streamed body cannot be sent twice: the refusal is the answer.
	b2, _ := NewBalancer(BalancerOptions{Addr: w0.addr(), Backends: []string{deadAddr, w0.addr()},
		Base: http.DefaultTransport.(*http.Transport).Clone()})
	b2.SetUp(0, true)
	b2.SetUp(1, true)
	b2.next.Store(1) // the scan starts at the dead worker (index (1+1)%2)
	req, _ := http.NewRequest(http.MethodPut, "http://"+w0.addr()+"/upload", io.NopCloser(strings.NewReader("stream")))
	req.ContentLength = 6
	if _, err := b2.RoundTrip(req); err == nil {
		t.Error("streamed body to a dead worker: no error; it cannot have been replayed")
	}
}

// Only workers marked up get requests; with none up the answer is a dial
// error (the gateway turns it into 503 with Retry-After), and requests for
// other hosts pass through untouched.
func TestUpStateAndOtherHosts(t *testing.T) {
	t.Parallel()
	w0, w1, other := newWorker(t, "w0"), newWorker(t, "w1"), newWorker(t, "other")
	b := newTestBalancer(t, w0, w1)
	c := &http.Client{Transport: b}
	b.SetUp(0, false)
	for range 4 {
		if name, err := get(t, c, "http://"+w0.addr()+"/x"); err != nil || name != "w1" {
			t.Fatalf("with w0 down: %q %v; want w1", name, err)
		}
	}
	b.SetUp(1, false)
	_, err := c.Get("http://" + w0.addr() + "/x")
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" || !errors.Is(err, ErrNoBackend) {
		t.Errorf("none up: %v; want a dial error wrapping ErrNoBackend", err)
	}
	if name, err := get(t, c, other.srv.URL+"/x"); err != nil || name != "other" {
		t.Errorf("other host: %q %v", name, err)
	}
	b.SetUp(0, true)
	if name, err := get(t, c, "http://"+w0.addr()+"/x"); err != nil || name != "w0" {
		t.Errorf("w0 back up: %q %v", name, err)
	}
}

func TestNewBalancerChecksOptions(t *testing.T) {
	t.Parallel()
	for _, o := range []BalancerOptions{
		{Backends: []string{"127.0.0.1:1"}},
		{Addr: "127.0.0.1:1"},
		{Addr: "127.0.0.1:1", Backends: []string{""}},
		{Addr: "127.0.0.1:1", Backends: make([]string, 65)},
	} {
		if _, err := NewBalancer(o); err == nil {
			t.Errorf("NewBalancer(%+v) accepted", o)
		}
	}
}

// A worker that breaks the connection before answering (killed while its
// sockets still took the request): a GET is sent again to another worker,
// a POST is not — the dying worker may have acted on it.
func TestBrokenConnectionReplaysOnlySafeMethods(t *testing.T) {
	t.Parallel()
	good := newWorker(t, "good")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	got := 0
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				buf := make([]byte, 4096)
				if n, _ := c.Read(buf); n > 0 {
					mu.Lock()
					got++
					mu.Unlock()
				}
				c.(*net.TCPConn).SetLinger(0) // RST, as from a killed process
				c.Close()
			}()
		}
	}()
	dying := ln.Addr().String()
	newB := func() *Balancer {
		b, err := NewBalancer(BalancerOptions{Addr: good.addr(), Backends: []string{dying, good.addr()},
			Base: http.DefaultTransport.(*http.Transport).Clone()})
		if err != nil {
			t.Fatal(err)
		}
		b.SetUp(0, true)
		b.SetUp(1, true)
		b.next.Store(1) // the scan starts at the dying worker
		return b
	}
	b := newB()
	resp, err := b.RoundTrip(httptest.NewRequest(http.MethodGet, "http://"+good.addr()+"/x", nil).WithContext(t.Context()))
	if err != nil {
		t.Fatalf("GET: %v; want it answered by the other worker", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "good" {
		t.Errorf("GET answered by %q", body)
	}

	b = newB()
	req, _ := http.NewRequest(http.MethodPost, "http://"+good.addr()+"/x", strings.NewReader(`{"a":1}`))
	if _, err := b.RoundTrip(req); err == nil {
		t.Error("POST to a worker that broke the connection: no error; it must not be sent twice")
	}
	mu.Lock()
	defer mu.Unlock()
	if got != 2 {
		t.Errorf("the dying worker read %d requests; want 2 (the GET and the POST)", got)
	}
	if n := len(good.requests()); n != 1 {
		t.Errorf("the other worker got %d requests; want only the GET", n)
	}
}
