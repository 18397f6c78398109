// Package descope speaks Descope's HTTP API for the gateway: the project's
// signing keys (Keys), token verification (Verifier), the session calls made
// with a refresh token or an access key, and the management calls used for
// provisioning and sync (Client). The wire contract is the project's
// descope.md; the official Python SDK is the reference client.
//
// Wiring:
//
//	c, _ := descope.New(descope.Options{ProjectID: id, BaseURL: cfg.BaseURI, ManagementKey: key})
//	keys, _ := descope.NewKeys(c, descope.KeysOptions{})
//	g.Go(func() error { return keys.Run(ctx) }) // owner: the errgroup
//	v, _ := descope.NewVerifier(keys, descope.VerifierOptions{})
//	tok, err := v.Verify(ctx, raw, descope.KindSession)
//
// Decisions:
//
//   - Algorithms: only RS256/384/512, PS256/384/512 and ES256/384/512. Each
//     key verifies only the alg its JWK declares, and the token header's alg
//     must equal it. An EC JWK without alg gets the one alg its curve allows
//     (P-256→ES256, P-384→ES384, P-521→ES512); an RSA JWK without alg is
//     skipped (RS* and PS* would both fit). RSA keys must have 2048–8192
//     bits; EC points must lie on their curve; two keys sharing a kid are
//     both dropped. A fetch with no usable key keeps the previous set.
//   - Issuer: the project ID itself, or an absolute http(s) URL without
//     query or fragment whose text ends in "/<projectId>" ("evil/<id>" and
//     "https://host/x<id>" fail). The host is not pinned by default: the
//     signature by this project's keys is what binds a token to the project.
//     VerifierOptions.Issuers pins exact issuers instead.
//   - Audience: absent (or an empty list) passes; otherwise it must contain
//     the project ID or one of VerifierOptions.Audiences.
//   - Kinds: session needs drn "DS", refresh "DSR"; an access-key token may
//     lack drn but must not be "DSR".
//   - Times: exp required; exp, nbf, iat checked with 5 s leeway.
//   - Size: tokens over 16 KiB are refused before parsing.
//   - Keys: refreshed every 10 min by Run; an unknown kid forces at most one
//     refetch per 10 s (shared by concurrent misses through singleflight), so
//     a flood of random kids costs a handful of fetches. If that refetch
//     fails the error is ErrKeysUnavailable (transient), not ErrUnknownKey.
//   - Client errors: 4xx other than 429 match ErrRejected; 429, 5xx, 3xx,
//     timeouts, network errors and unreadable 2xx answers match
//     ErrUnavailable, with Retry-After carried by *APIError. No retries.
//
// Secrets (tokens, access keys, the management key) travel only in the
// Authorization header; they never appear in errors or log lines. Token,
// RefreshResult, Exchange and Secret redact themselves in fmt and slog.
package descope
