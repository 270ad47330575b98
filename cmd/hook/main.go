// Command hook is the dittofs-hook: the Metacontroller sync hook that turns
// DittoServer resources into running DittoFS servers.
//
//	hook [serve] [flags]     run the HTTP service (the default)
//	hook render -f CR.yaml   print what the service would answer for a CR
//
// Every serve flag can also be set through the environment variable
// DITTOFS_HOOK_<FLAG> (dashes become underscores, upper case).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// version is the release this binary was built from, set at build time
// (-ldflags "-X main.version=0.1.0"; the Dockerfile's VERSION argument).
var version = "dev"

// usage is the top-level help: the subcommands, one line each.
const usage = `hook — the dittofs-hook: the Metacontroller sync hook that runs DittoFS servers

Usage:
  hook [serve] [flags]          serve /sync, /customize and /finalize to Metacontroller (the default)
  hook render -f FILE [flags]   print the children and status serve would answer for a DittoServer manifest
  hook version                  print the version
  hook help                     print this help

Every serve flag can also be set as the environment variable DITTOFS_HOOK_<FLAG>
(upper case, dashes as underscores), e.g. DITTOFS_HOOK_LOG_LEVEL=debug; a flag on
the command line wins. "hook <command> -h" lists a command's flags.
`

func run(args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 {
		switch args[0] {
		case "help", "-h", "-help", "--help":
			fmt.Fprint(stdout, usage)
			return 0
		case "version", "--version":
			fmt.Fprintln(stdout, version)
			return 0
		}
		if !strings.HasPrefix(args[0], "-") {
			cmd, args = args[0], args[1:]
		}
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(args, stdout, stderr)
	case "render":
		err = render(args, stdout, stderr)
	default:
		err = fmt.Errorf("unknown command %q; want serve or render (hook help lists them)", cmd)
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	}
	fmt.Fprintln(stderr, "hook:", err)
	return 1
}

// parseFlags parses args, then (for serve, whose flags a Deployment sets
// through its environment) fills every flag not given on the command line
// from DITTOFS_HOOK_<FLAG>. -h prints the command's usage (summary,
// then its flags) on stdout. A bad value names the flag the same way
// whether it came from the command line or the environment.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer, summary string, fromEnv bool) error {
	fs.SetOutput(io.Discard) // errors are returned, once; help goes to stdout
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stdout, "%s\n\nFlags:\n", summary)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return err
		}
		return fmt.Errorf("%w (hook %s -h lists the flags)", err, fs.Name())
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s (hook %s -h lists the flags)", strings.Join(fs.Args(), " "), fs.Name())
	}
	if !fromEnv {
		return nil
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		env := envName(f.Name)
		if v, ok := os.LookupEnv(env); ok && !set[f.Name] && err == nil {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("invalid value %q for flag -%s (from %s): %w", v, f.Name, env, e)
			}
		}
	})
	return err
}

func envName(flagName string) string {
	return "DITTOFS_HOOK_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// newLogger builds the process logger.
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	if err := checkLogger(level, format); err != nil {
		return nil, err
	}
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return slog.New(slog.NewJSONHandler(w, opts)), nil
}

// checkLogger refuses a level or format newLogger does not know.
func checkLogger(level, format string) error {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	if format != "json" && format != "text" {
		return fmt.Errorf("--log-format %q: want json or text", format)
	}
	return nil
}
