package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
)

// run parses args, starts the simulator, prints its URL as the first line
// of stdout and serves until ctx is done.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("descope-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", descopesim.DefaultAddr, "listen address (loopback only)")
	projectID := fs.String("project-id", descopesim.DefaultProjectID, "Descope project ID to simulate")
	mgmtKey := fs.String("management-key", descopesim.DefaultManagementKey, "management key that management calls must present")
	seedFile := fs.String("seed-file", "", "JSON file of roles, tenants, users and access keys to create at start")
	autoSignUp := fs.Bool("auto-sign-up", true, "create unknown login IDs on web-component sign-in")
	rotation := fs.Bool("refresh-rotation", false, "rotate refresh tokens on every refresh")
	delivery := fs.String("token-delivery", descopesim.DeliveryBody, "how sign-in and refresh hand out tokens: body, refresh-cookie or cookies")
	cookieDomain := fs.String("cookie-domain", "", "Domain attribute of the token cookies in cookie modes (empty: host-only)")
	sessionCookie := fs.String("session-cookie-name", "DS", "name of the session cookie (and the session token's drn)")
	refreshCookie := fs.String("refresh-cookie-name", "DSR", "name of the refresh cookie (and the refresh token's drn)")
	keySubject := fs.String("access-key-subject", descopesim.SubjectKeyID, "sub of exchanged JWTs of keys bound to a user: key or user")
	approved := fs.String("approved-origins", "", "comma-separated origins the flow API accepts calls from (the project's approved domains); empty: any")
	verbose := fs.Bool("verbose", false, "log every request to stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("descope-sim: %w", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("descope-sim: unexpected arguments %q", fs.Args())
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	sim, err := descopesim.New(descopesim.Options{
		ProjectID:     *projectID,
		Addr:          *addr,
		ManagementKey: *mgmtKey,
		AutoSignUp:    *autoSignUp,
		Logger:        logger,
		Delivery: descopesim.TokenDelivery{Mode: *delivery, CookieDomain: *cookieDomain,
			SessionCookieName: *sessionCookie, RefreshCookieName: *refreshCookie},
		AccessKeySubject: *keySubject,
		ApprovedOrigins:  strings.Split(*approved, ","),
	})
	if err != nil {
		return fmt.Errorf("descope-sim: %w", err)
	}
	defer sim.Close()
	sim.SetRefreshRotation(*rotation)
	if *seedFile != "" {
		if err := loadSeed(sim, *seedFile); err != nil {
			return err
		}
	}
	if _, err := fmt.Fprintln(stdout, sim.URL()); err != nil {
		return fmt.Errorf("descope-sim: %w", err)
	}
	logger.Info("descope-sim started", "url", sim.URL(), "project_id", sim.ProjectID())
	<-ctx.Done()
	logger.Info("descope-sim stopping")
	if err := sim.Close(); err != nil {
		return fmt.Errorf("descope-sim: %w", err)
	}
	return nil
}

func loadSeed(sim *descopesim.Server, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("descope-sim: seed file: %w", err)
	}
	defer f.Close()
	if err := sim.LoadSeed(f); err != nil {
		return fmt.Errorf("descope-sim: seed file %s: %w", path, err)
	}
	return nil
}
