package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// soak sets the stack up, runs the load and the faults, checks and reports.
func soak(ctx context.Context, o options, ps *procs, stdout io.Writer) (*report, error) {
	began := time.Now()
	logf := func(format string, args ...any) { fmt.Fprintf(stdout, format+"\n", args...) }
	for _, p := range []*string{&o.gwBin, &o.simBin, &o.mlflowBin} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(abs); err != nil {
			return nil, fmt.Errorf("soak: %w (make build venv)", err)
		}
		*p = abs
	}
	nUI, nKey := o.clients*6/10, o.clients*3/10
	nAtt := o.clients - nUI - nKey

	// Descope: every user and access key exists from the start.
	var users []seedUser
	var keys []seedKey
	for i := range nUI {
		users = append(users, seedUser{ID: fmt.Sprintf("U2SoakUi%05d", i), Email: fmt.Sprintf("ui%d@soak.example", i), Name: fmt.Sprintf("UI %d", i)})
	}
	for i := range nKey {
		id := fmt.Sprintf("U2SoakJob%05d", i)
		users = append(users, seedUser{ID: id, Email: fmt.Sprintf("job%d@soak.example", i), Name: fmt.Sprintf("Job %d", i)})
		// Exchanged tokens live 45 s; the gateway exchanges again 30 s
		// before expiry, so every job exchanges every ~15 s.
		keys = append(keys, seedKey{ID: fmt.Sprintf("K2SoakJob%05d", i), Secret: "K2soak" + randomHex(20), Name: id, BoundUserID: id, TTLSeconds: 45})
	}
	for i := range nAtt {
		users = append(users, seedUser{ID: fmt.Sprintf("U2SoakAtt%05d", i), Email: fmt.Sprintf("att%d@soak.example", i), Name: fmt.Sprintf("Attacker %d", i)})
	}
	canaryUser := seedUser{ID: "U2SoakCanary", Email: "canary@soak.example", Name: "Canary"}
	users = append(users, canaryUser)
	canaryKey := seedKey{ID: "K2SoakCanary", Secret: "K2soak" + randomHex(20), Name: "canary", BoundUserID: canaryUser.ID, TTLSeconds: 600}
	keys = append(keys, canaryKey)
	s, err := startSim(ctx, ps, o.simBin, o.workdir, users, keys)
	if err != nil {
		return nil, err
	}

	// PostgreSQL behind a proxy the harness can cut.
	dsn, drop, err := freshDatabase(ctx, o.postgres)
	if err != nil {
		return nil, err
	}
	if !o.keep {
		defer drop()
	}
	// MLflow's tracking store: PostgreSQL too (SQLite answers "database is
	// locked" to concurrent writers), directly, not through the proxy.
	trackingDSN, dropTracking, err := freshDatabase(ctx, o.postgres)
	if err != nil {
		return nil, err
	}
	if !o.keep {
		defer dropTracking()
	}
	pgHost, err := hostOf(dsn)
	if err != nil {
		return nil, err
	}
	db, err := newTCPProxy(pgHost)
	if err != nil {
		return nil, err
	}
	defer db.close()
	viaProxy := strings.Replace(dsn, pgHost, db.addr(), 1)

	secret := randomHex(24)
	home := filepath.Join(o.workdir, "home") // the "gateway user's" home
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, err
	}
	common := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home,
		"DESCOPE_PROJECT_ID=" + s.projectID, "DESCOPE_BASE_URI=" + s.url, "DESCOPE_MANAGEMENT_KEY=" + s.mgmtKey,
		"DESCOPE_SYNC_INTERVAL=0", "DESCOPE_DEFAULT_PERMISSION=NO_PERMISSIONS",
		"MLFLOW_DESCOPE_ASSERTION_SECRET=" + secret, "MLFLOW_DESCOPE_AUDIT_DB=" + viaProxy,
		"MLFLOW_DESCOPE_METRICS_ADDR=", "MLFLOW_DESCOPE_LOG_FORMAT=text", "MLFLOW_DESCOPE_LOG_LEVEL=" + o.logLevel,
	}
	a, err := newGateway(ps, "A", o.workdir, append(append([]string(nil), common...),
		"MLFLOW_BACKEND_STORE_URI="+strings.Replace(strings.SplitN(trackingDSN, "?", 2)[0], "postgres://", "postgresql://", 1),
		"MLFLOW_ARTIFACT_ROOT="+filepath.Join(o.workdir, "artifacts"),
		fmt.Sprintf("MLFLOW_DESCOPE_MLFLOW_WORKERS=%d", o.workers),
	), "--mlflow-bin", o.mlflowBin)
	if err != nil {
		return nil, err
	}
	logf("starting replica A with its MLflow child (%d workers)…", o.workers)
	if err := a.start(ctx, o.gwBin, 3*time.Minute); err != nil {
		return nil, err
	}
	_, mlflowURL, err := a.mlflowChild()
	if err != nil {
		return nil, err
	}
	b, err := newGateway(ps, "B", o.workdir, common, "--mlflow-url", mlflowURL)
	if err != nil {
		return nil, err
	}
	if err := b.start(ctx, o.gwBin, time.Minute); err != nil {
		return nil, err
	}
	pl := &pool{gws: []*gateway{a, b}}
	watchCtx, stopWatch := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWatch()
	go pl.watch(watchCtx)

	rec := &recorder{t0: time.Now()}
	setupRec := &recorder{t0: time.Now()} // setup requests are not part of the figures
	src := 0
	nextSource := func() int { src++; return src }

	// Setup through replica A: sign-ins, experiments, runs, models.
	logf("setting up %d browsers, %d jobs, %d attackers…", nUI, nKey, nAtt)
	uis := make([]*uiUser, nUI)
	for i := range uis {
		uis[i] = &uiUser{client: newClient("ui", nextSource(), pl, setupRec), id: users[i].ID}
		uis[i].browser = true
	}
	jobs := make([]*keyUser, nKey)
	for i := range jobs {
		k := &keyUser{client: newClient("key", nextSource(), pl, setupRec), id: keys[i].BoundUserID, keyID: keys[i].ID,
			tags: map[string]string{}, artifacts: map[string]string{}, modelTags: map[string]string{}}
		k.bearer = "Bearer " + keys[i].Secret
		jobs[i] = k
	}
	if err := parallel(ctx, 8, nUI, func(i int) error { return setupUI(ctx, uis[i], s, a, o.sessionTTL) }); err != nil {
		return nil, err
	}
	if err := parallel(ctx, 8, nKey, func(i int) error { return setupKey(ctx, jobs[i], a) }); err != nil {
		return nil, err
	}
	sessionCk, refreshCk := cookieNames(uis[0])
	for i, u := range uis {
		u.victim = uis[(i+1)%nUI].expID
	}
	for i, k := range jobs {
		k.victimRun = jobs[(i+1)%nKey].runID
	}
	canaryCl := newClient("canary", nextSource(), pl, setupRec)
	canaryCl.bearer = "Bearer " + canaryKey.Secret
	var cexp struct {
		ExperimentID string `json:"experiment_id"`
	}
	if err := mustJSON(canaryCl.doAt(ctx, a, "setup", mustPass, "POST", "/api/2.0/mlflow/experiments/create",
		jsonBody(map[string]any{"name": "soak-canary"}), "application/json"), "canary experiment", &cexp); err != nil {
		return nil, err
	}
	atts := make([]*attacker, nAtt)
	for i := range atts {
		at := &attacker{client: newClient("attack", nextSource(), pl, rec), victim: uis[i%nUI].expID}
		if at.own, at.tokens, err = attackCredentials(ctx, s, users[nUI+nKey+i].ID); err != nil {
			return nil, err
		}
		atts[i] = at
	}
	for _, u := range uis {
		u.rec = rec
	}
	for _, k := range jobs {
		k.rec = rec
	}
	setup := time.Since(began)
	idleRSS := map[string]int64{}
	for _, g := range pl.gws {
		idleRSS[g.name], _ = rssKB(g.proc().pid())
		g.peakRSS.Store(idleRSS[g.name])
	}

	// The run.
	replicaSig := syscall.SIGTERM
	if strings.EqualFold(o.replicaSignal, "KILL") {
		replicaSig = syscall.SIGKILL
	}
	ws := schedule(o.dur, s, db, dsn, rec, a, b, o.gwBin, replicaSig)
	rec.t0 = time.Now()
	loadCtx, stopLoad := context.WithTimeout(ctx, o.dur)
	defer stopLoad()
	canaryCtx, stopCanaries := context.WithCancel(ctx)
	defer stopCanaries()
	cn := &canaries{s: s, rec: rec, pl: pl, sessionCk: sessionCk, refreshCk: refreshCk, apiExpID: cexp.ExperimentID,
		apiKey: canaryKey.Secret, boundUser: canaryUser.ID}
	cn.nextSource.Store(4000)
	cn.run(canaryCtx, pl.gws)
	logf("load: %d clients for %s", o.clients, o.dur)
	var wg sync.WaitGroup
	for _, u := range uis {
		wg.Add(1)
		go func() { defer wg.Done(); runUI(loadCtx, u) }()
	}
	for _, k := range jobs {
		wg.Add(1)
		go func() { defer wg.Done(); runKey(loadCtx, k) }()
	}
	for _, at := range atts {
		wg.Add(1)
		go func() { defer wg.Done(); runAttacker(loadCtx, at) }()
	}
	schedErr := make(chan error, 1)
	go func() { schedErr <- runSchedule(loadCtx, ws, rec, logf) }()
	wg.Wait()
	if err := <-schedErr; err != nil {
		return nil, err
	}
	loadEnd := rec.since(time.Now())
	// Faults whose time never came in a short run are not in the report.
	var ran []*window
	for _, w := range ws {
		if w.injected {
			ran = append(ran, w)
		}
	}
	// Let everything come back (the MLflow child may still be restarting),
	// with the canaries running, then stop them.
	logf("load done at t=%.1fs; waiting for every replica and Descope path to answer again…", loadEnd.Seconds())
	if err := settle(ctx, rec, pl.gws, 90*time.Second); err != nil {
		return nil, err
	}
	stopCanaries()
	time.Sleep(300 * time.Millisecond)

	// Read back every acknowledged write.
	logf("reading back acknowledged writes…")
	var l lost
	acked := 0
	readRec := &recorder{t0: time.Now()}
	for _, k := range jobs {
		k.rec = readRec
		n, err := readBack(ctx, k, a, &l)
		if err != nil {
			return nil, err
		}
		acked += n
	}

	// Stop the replicas (SIGTERM: each drains and flushes its audit queue),
	// then compare what they answered with what the audit store holds.
	peak := map[string]int64{}
	for _, g := range pl.gws {
		peak[g.name] = g.peakRSS.Load()
	}
	stopWatch()
	for _, g := range pl.gws {
		g.stop(syscall.SIGTERM)
	}
	ids, events, err := auditRequestIDs(ctx, dsn)
	if err != nil {
		return nil, err
	}
	samples := rec.all()
	sortByStart(samples)
	for _, w := range ran {
		if w.measured != nil {
			<-w.measured // at most 2 minutes after the fault was cleared
			continue
		}
		w.recovery = recoveryOf(w, samples, pl.gws)
	}
	rep := newReport(o, samples, ran, ids, events)
	rep.acked, rep.lost = acked, l
	rep.setup, rep.total, rep.loadEnd = setup, time.Since(began), loadEnd
	rep.idleRSS, rep.peakRSS = idleRSS, peak
	rep.users = [3]int{nUI, nKey, nAtt}
	if counts, err := s.counts(context.WithoutCancel(ctx)); err == nil {
		rep.descope = counts
	}
	if err := rep.dump(filepath.Join(o.workdir, "samples.jsonl")); err != nil {
		return nil, err
	}
	return rep, nil
}

// settle waits until the replicas' API canaries and the refresh and
// exchange canaries have each answered 2xx after now.
func settle(ctx context.Context, rec *recorder, gws []*gateway, within time.Duration) error {
	from := rec.since(time.Now())
	classes := []string{"canary_refresh", "canary_exchange"}
	for _, g := range gws {
		classes = append(classes, "canary_api_"+g.name)
	}
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		ok := map[string]bool{}
		for _, s := range rec.all() {
			if s.start >= from && s.status >= 200 && s.status < 300 {
				ok[s.class] = true
			}
		}
		all := true
		for _, c := range classes {
			all = all && ok[c]
		}
		if all {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("soak: the stack did not recover within %s after the load", within)
}

// parallel runs f(0..n-1) on k goroutines and returns the first error.
func parallel(ctx context.Context, k, n int, f func(int) error) error {
	var mu sync.Mutex
	var first error
	next := 0
	var wg sync.WaitGroup
	for range k {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if first != nil || next >= n || ctx.Err() != nil {
					mu.Unlock()
					return
				}
				i := next
				next++
				mu.Unlock()
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// cookieNames are the gateway's session and refresh cookie names, as it set
// them for u at sign-in (the session cookie holds the shorter token).
func cookieNames(u *uiUser) (session, refresh string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for k, v := range u.cookies {
		if session == "" || len(v) < len(u.cookies[session]) {
			session = k
		}
	}
	for k := range u.cookies {
		if k != session {
			refresh = k
		}
	}
	return session, refresh
}

// attackCredentials returns a valid session of the attacker's own user and
// Bearer values that must all be refused: garbage, an expired session, a
// refresh token, a validly signed token repeating its roles claim, a token
// signed by a key Descope never published, an unknown access key.
func attackCredentials(ctx context.Context, s *sim, userID string) (string, []string, error) {
	own, refresh, err := s.mint(ctx, userID, 10*time.Minute)
	if err != nil {
		return "", nil, err
	}
	expired, _, err := s.mint(ctx, userID, -time.Minute)
	if err != nil {
		return "", nil, err
	}
	now := time.Now().Unix()
	dup, err := s.signRaw(ctx, fmt.Sprintf(`{"iss":%q,"sub":%q,"iat":%d,"exp":%d,"drn":"DS","roles":[],"roles":["admin"]}`,
		s.issuer(), userID, now, now+3600))
	if err != nil {
		return "", nil, err
	}
	foreign, err := foreignToken(s.issuer(), userID)
	if err != nil {
		return "", nil, err
	}
	return "Bearer " + own, []string{
		"Bearer eyJhbGciOiJFUzM4NCJ9.eyJzdWIiOiJ4In0.bm90LWEtc2lnbmF0dXJl",
		"Bearer " + expired,
		"Bearer " + refresh,
		"Bearer " + dup,
		"Bearer " + foreign,
		"Bearer K2notAKey" + randomHex(16),
	}, nil
}

// foreignToken is a well-formed session JWT signed by a key of the
// harness's own, with a kid Descope never published (each one forces the
// gateway to consider refetching the key set; the refetch is rate-limited).
func foreignToken(issuer, sub string) (string, error) {
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		return "", err
	}
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	now := time.Now().Unix()
	input := enc(map[string]any{"alg": "ES384", "kid": "SK2foreign" + randomHex(6), "typ": "JWT"}) + "." +
		enc(map[string]any{"iss": issuer, "sub": sub, "iat": now, "exp": now + 3600, "drn": "DS", "roles": []string{"admin"}})
	h := sha512.Sum384([]byte(input))
	r, sv, err := ecdsa.Sign(rand.Reader, k, h[:])
	if err != nil {
		return "", err
	}
	sig := make([]byte, 96)
	r.FillBytes(sig[:48])
	sv.FillBytes(sig[48:])
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

func hostOf(dsn string) (string, error) {
	i := strings.Index(dsn, "@")
	if i < 0 {
		i = strings.Index(dsn, "://") + 2
	}
	rest := dsn[i+1:]
	if j := strings.IndexAny(rest, "/?"); j >= 0 {
		rest = rest[:j]
	}
	if rest == "" || !strings.Contains(rest, ":") {
		return "", fmt.Errorf("soak: the PostgreSQL DSN must name host:port")
	}
	return rest, nil
}
