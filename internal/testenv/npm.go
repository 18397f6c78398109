package testenv

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// NPMCacheDir is where NPMPackage keeps unpacked packages between runs:
// $MDA_NPM_CACHE, else .cache/npm-packages in the repository (ignored by git).
func NPMCacheDir() string {
	if d := os.Getenv("MDA_NPM_CACHE"); d != "" {
		return d
	}
	return filepath.Join(RepoRoot(), ".cache", "npm-packages")
}

// NPMPackage returns the directory holding the published files of an npm
// package version (the tarball's package/ folder), fetched with `npm pack`
// from the registry npm is configured for, the first time, and kept in
// NPMCacheDir. Nothing is installed or executed: the tarball is only
// unpacked. Without npm the test is skipped (failed in CI).
func NPMPackage(tb testing.TB, name, version string) string {
	tb.Helper()
	spec := name + "@" + version
	dir := filepath.Join(NPMCacheDir(), strings.ReplaceAll(spec, "/", "+"))
	pkg := filepath.Join(dir, "package")
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		return pkg
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		missing(tb, "npm (install Node.js and npm)")
		return ""
	}
	if err := os.MkdirAll(NPMCacheDir(), 0o755); err != nil {
		tb.Fatal(err)
	}
	tmp, err := os.MkdirTemp(NPMCacheDir(), ".fetch-")
	if err != nil {
		tb.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "pack", spec, "--silent", "--ignore-scripts")
	cmd.Dir = tmp
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("npm pack %s: %v\n%s", spec, err, out)
	}
	tgz, err := filepath.Glob(filepath.Join(tmp, "*.tgz"))
	if err != nil || len(tgz) != 1 {
		tb.Fatalf("npm pack %s: no single tarball in %s (%v)", spec, tmp, err)
	}
	unpacked := filepath.Join(tmp, "unpacked")
	if err := untar(tgz[0], unpacked); err != nil {
		tb.Fatalf("unpack %s: %v", spec, err)
	}
	if err := os.WriteFile(filepath.Join(unpacked, ".complete"), []byte(spec+"\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
	// Another test process may have won the race: either copy is complete.
	if err := os.Rename(unpacked, dir); err != nil {
		if _, serr := os.Stat(filepath.Join(dir, ".complete")); serr != nil {
			tb.Fatalf("keep %s: %v", spec, err)
		}
	}
	return pkg
}

// untar unpacks a .tgz into dir, refusing entries that would land outside.
func untar(path, dir string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Clean(filepath.FromSlash(h.Name))
		if filepath.IsAbs(name) || name == ".." || strings.HasPrefix(name, ".."+string(filepath.Separator)) {
			return fmt.Errorf("entry %q leaves the folder", h.Name)
		}
		target := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				return err
			}
			_, cerr := io.Copy(out, io.LimitReader(tr, 256<<20))
			if err := errors.Join(cerr, out.Close()); err != nil {
				return err
			}
		}
	}
}
