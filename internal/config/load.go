package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
)

// Sources are where Load reads from. Nothing is read from the process
// directly, so tests never touch the real environment.
type Sources struct {
	Args     []string                          // command-line flags, after the sub-command
	Environ  []string                          // KEY=VALUE pairs, as os.Environ returns them
	ReadFile func(name string) ([]byte, error) // for --config and NAME_FILE keys
}

// Load builds a Config from defaults < config file < environment < flags. It
// returns every problem it finds at once (joined), each naming its key; the
// Config is still returned so check-config can print what it understood.
func Load(src Sources) (*Config, error) {
	c := &Config{}
	opts := options()
	byName := make(map[string]option, len(opts))
	for _, o := range opts {
		byName[o.name] = o
	}
	var errs []error
	for _, o := range opts {
		if err := o.set(c, o.def); err != nil {
			errs = append(errs, fmt.Errorf("%s: bad default: %w", o.name, err))
		}
	}

	flags, fv, err := parseFlags(src.Args)
	if err != nil {
		return c, err
	}
	env := parseEnviron(src.Environ)

	// The config file: a KEY=VALUE file using the same names as the environment.
	path := env["MLFLOW_DESCOPE_CONFIG"]
	if fv.configFile != "" {
		path = fv.configFile
	}
	layers := []map[string]string{}
	if path != "" {
		data, err := readFile(src, path)
		if err != nil {
			errs = append(errs, fmt.Errorf("config file %s: %w", path, err))
		} else {
			file, ferrs := parseLines(path, string(data))
			errs = append(errs, ferrs...)
			layers = append(layers, file)
		}
	}
	layers = append(layers, env)

	for _, layer := range layers {
		for key, v := range layer {
			name, o, fromFile, ok := lookup(byName, key)
			if !ok {
				if isOurs(key) {
					c.Warnings = append(c.Warnings, fmt.Sprintf("%s: unknown setting, ignored", key))
				}
				continue
			}
			if fromFile {
				if _, both := layer[name]; both {
					errs = append(errs, fmt.Errorf("%s: set both %s and %s; keep one", name, name, key))
					continue
				}
				data, err := readFile(src, v)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", key, err))
					continue
				}
				v = strings.TrimSpace(string(data)) // as the MLflow plugin reads its secret file
			}
			if err := o.set(c, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
		}
	}

	// Flags last.
	flags.Visit(func(f *flag.Flag) {
		name, ok := flagKeys[f.Name]
		if !ok {
			return
		}
		if err := byName[name].set(c, f.Value.String()); err != nil {
			errs = append(errs, fmt.Errorf("--%s: %w", f.Name, err))
		}
	})

	errs = append(errs, c.Validate()...)
	c.Warnings = append(c.Warnings, c.tokenDeliveryHints()...)
	return c, errors.Join(errs...)
}

// lookup finds the option a key sets: NAME directly, or NAME_FILE naming a
// file that holds the value.
func lookup(byName map[string]option, key string) (name string, o option, fromFile, ok bool) {
	if o, ok := byName[key]; ok {
		return key, o, false, true
	}
	if name, cut := strings.CutSuffix(key, "_FILE"); cut {
		if o, ok := byName[name]; ok {
			return name, o, true, true
		}
	}
	return "", option{}, false, false
}

// flagKeys maps each flag to the key it overrides. Flags mirror mlflow server
// where the two overlap.
var flagKeys = map[string]string{
	"host":          "MLFLOW_DESCOPE_HOST",
	"port":          "MLFLOW_DESCOPE_PORT",
	"mlflow-url":    "MLFLOW_DESCOPE_MLFLOW_URL",
	"mlflow-bin":    "MLFLOW_DESCOPE_MLFLOW_BIN",
	"public-url":    "MLFLOW_DESCOPE_PUBLIC_URL",
	"metrics-addr":  "MLFLOW_DESCOPE_METRICS_ADDR",
	"data-dir":      "MLFLOW_DESCOPE_DATA_DIR",
	"static-prefix": "MLFLOW_DESCOPE_STATIC_PREFIX",
}

type flagValues struct{ configFile string }

func parseFlags(args []string) (*flag.FlagSet, flagValues, error) {
	var fv flagValues
	fs := flag.NewFlagSet("mlflow-descope-auth", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for name, key := range flagKeys {
		fs.String(name, "", "overrides "+key)
	}
	fs.StringVar(&fv.configFile, "config", "", "configuration file (KEY=VALUE lines)")
	if err := fs.Parse(args); err != nil {
		return fs, fv, fmt.Errorf("flags: %w", err)
	}
	if fs.NArg() > 0 {
		return fs, fv, fmt.Errorf("flags: unexpected argument %q", fs.Arg(0))
	}
	return fs, fv, nil
}

// FlagUsage describes the flags, for the CLI's help text.
func FlagUsage() string {
	var b strings.Builder
	b.WriteString("  --config FILE         configuration file of KEY=VALUE lines\n")
	for _, f := range []string{"host", "port", "mlflow-url", "mlflow-bin", "public-url", "metrics-addr", "data-dir", "static-prefix"} {
		fmt.Fprintf(&b, "  --%-19s overrides %s\n", f, flagKeys[f])
	}
	return b.String()
}

func parseEnviron(environ []string) map[string]string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
			m[k] = v
		}
	}
	return m
}

// parseLines reads a dotenv-style file: KEY=VALUE, # comments, an optional
// "export " prefix and optional matching quotes around the value.
func parseLines(path, data string) (map[string]string, []error) {
	m := map[string]string{}
	var errs []error
	for i, line := range strings.Split(data, "\n") {
		line = strings.TrimSpace(strings.TrimSuffix(line, "\r"))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			errs = append(errs, fmt.Errorf("%s:%d: expected KEY=VALUE", path, i+1))
			continue
		}
		v = strings.TrimSpace(v)
		if n := len(v); n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n-1] == v[0] {
			v = v[1 : n-1]
		}
		m[k] = v
	}
	return m, errs
}

func readFile(src Sources, name string) ([]byte, error) {
	if src.ReadFile == nil {
		return nil, errors.New("no file access")
	}
	return src.ReadFile(name)
}

// isOurs reports whether an unknown key looks like one of ours, so a typo is
// reported instead of silently ignored. MLflow's own MLFLOW_* variables are
// not ours to judge.
func isOurs(key string) bool {
	if key == pluginSpeedupsEnv {
		return false // the MLflow plugin's, passed through to MLflow (docs/mlflow-plugin.md)
	}
	return strings.HasPrefix(key, "DESCOPE_") || strings.HasPrefix(key, "MLFLOW_DESCOPE_")
}

// pluginSpeedupsEnv is read by the MLflow plugin, not by the gateway.
const pluginSpeedupsEnv = "MLFLOW_DESCOPE_AUTH_SPEEDUPS"

func joinHostPort(host string, port int) string {
	return net.JoinHostPort(host, strconv.Itoa(port))
}
