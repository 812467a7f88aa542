// Command blockhost runs WebAssembly blocks as workflow steps.
//
//	blockhost serve --config FILE [--listen ADDR] [--plugins DIR] [--cp2-* true|false]
//	blockhost run PLUGIN.wasm --type T --input JSON [flags]
//	blockhost validate PLUGIN.wasm... | --config FILE
//	blockhost version
//
// It is the only part of blockhost that reads flags and the environment.
// Exit status: 0 success, 1 failure (a failed step, validation problems, a
// server error), 2 usage, configuration or load errors.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/beamline/blockhost/host"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"github.com/beamline/blockhost/abi"
)

// version is set at build time: go build -ldflags "-X main.version=v1.2.3".
var version = "dev"

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	c := &cli{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, lookup: os.LookupEnv, stopSignals: stop}
	code := c.main(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

// cli is one invocation of the binary; tests run it in-process.
type cli struct {
	stdin          io.Reader // nil reads nothing
	stdout, stderr io.Writer
	lookup         func(string) (string, bool)
	// stopSignals, when set, restores the default signal handling once a
	// shutdown has begun, so a second SIGINT or SIGTERM ends the process.
	stopSignals func()
	// ready, when set, receives the bound address once serve listens.
	ready func(addr string)
}

const topUsage = `blockhost runs WebAssembly blocks as workflow steps.

Usage:
  blockhost serve --config FILE [--listen ADDR] [--plugins DIR] [--cp2-FLAG true|false ...]
  blockhost run PLUGIN.wasm --type T --input JSON [flags]
  blockhost validate PLUGIN.wasm...
  blockhost validate --config FILE
  blockhost fs-recover --config FILE
  blockhost version

Commands:
  serve      serve the HTTP API for the blocks of a plugins directory
  run        run one step of one block and print its StepResult
  validate   check .wasm files against blockhost ABI v1, or a config file
  fs-recover move blobs written to fallback roots back into their primary roots
  version    print the version, the Go version and the ABI version

Run 'blockhost COMMAND --help' for a command's flags.
`

func (c *cli) main(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(c.stderr, topUsage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return c.serve(ctx, rest)
	case "run":
		return c.run(ctx, rest)
	case "validate":
		return c.validate(ctx, rest)
	case "version":
		return c.version(rest)
	case "fs-recover":
		return c.fsRecover(ctx, rest)
	case "-h", "-help", "--help", "help":
		if len(rest) > 0 && cmd == "help" {
			return c.main(ctx, []string{rest[0], "--help"})
		}
		fmt.Fprint(c.stdout, topUsage)
		return exitOK
	}
	fmt.Fprintf(c.stderr, "blockhost: unknown command %q\n\n%s", cmd, topUsage)
	return exitUsage
}

func (c *cli) version(args []string) int {
	fs := c.flagSet("version")
	const usage = "blockhost version\n\nPrints the blockhost version, the Go version it was built with and the\nABI version it serves.\n"
	if code, ok := c.parse(fs, usage, args, false); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return c.usageError(fs, "version takes no arguments")
	}
	fmt.Fprintf(c.stdout, "blockhost %s\ngo: %s %s/%s\nabi: v%d\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH, abi.Version)
	return exitOK
}

// flagSet returns a quiet FlagSet: parse reports its errors and prints its
// help.
func (c *cli) flagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("blockhost "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// printHelp prints usage (the command's header) and its flags to stdout.
func (c *cli) printHelp(fs *flag.FlagSet, usage string) {
	fmt.Fprint(c.stdout, usage)
	if hasFlags(fs) {
		fmt.Fprint(c.stdout, "\nFlags:\n")
		fs.SetOutput(c.stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// parse parses args into fs; --help prints usage and the flags. With
// interspersed, positional arguments may stand between flags (blockhost run
// PLUGIN.wasm --type T); they are left in fs.Args(). It returns ok=false with the exit status when the command
// should stop (help asked for, or a usage error already reported).
func (c *cli) parse(fs *flag.FlagSet, usage string, args []string, interspersed bool) (int, bool) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				c.printHelp(fs, usage)
				return exitOK, false
			}
			return c.usageError(fs, err.Error()), false
		}
		args = fs.Args()
		if !interspersed || len(args) == 0 {
			break
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
	if interspersed {
		// Re-parse nothing: leave the positional arguments for the caller.
		_ = fs.Parse(append([]string{"--"}, positional...))
	}
	return exitOK, true
}

func (c *cli) usageError(fs *flag.FlagSet, msg string) int {
	fmt.Fprintf(c.stderr, "%s: %s\nRun '%s --help' for usage.\n", fs.Name(), msg, fs.Name())
	return exitUsage
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(s string) error {
	*l = append(*l, s)
	return nil
}

func (c *cli) fsRecover(ctx context.Context, args []string) int {
	fs := c.flagSet("fs-recover")
	configPath := fs.String("config", "", "config `FILE` whose blocks.NAME.fs roots and fallbacks to recover")
	const usage = "blockhost fs-recover --config FILE\n\nMoves the blobs that blocks wrote to a fallback root while their primary\nroot's circuit breaker was open back into the primary (durably; a key\nnewer in the primary is kept). A running host does this itself when the\nbreaker closes; run this after a host stopped first.\n"
	if code, ok := c.parse(fs, usage, args, false); !ok {
		return code
	}
	if *configPath == "" || fs.NArg() > 0 {
		return c.usageError(fs, "fs-recover needs --config FILE and no arguments")
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return exitUsage
	}
	hc := cfg.hostConfig()
	h, err := host.New(hc)
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return exitUsage
	}
	defer h.Close(context.Background())
	n, err := h.RecoverBlobs(ctx)
	fmt.Fprintf(c.stdout, "moved %d blobs back to their primary roots\n", n)
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return exitFailure
	}
	return exitOK
}
