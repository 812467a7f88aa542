package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/host"
	"github.com/beamline/blockhost/sandbox"
)

const validateUsage = `blockhost validate PLUGIN.wasm...
blockhost validate --config FILE

With .wasm files: checks each against blockhost ABI v1 (imports only from
blockhost and wasi_snapshot_preview1, the entry point, the memory export)
and its manifest NAME.yaml when one is beside it, and prints every problem.

With --config: parses the config file and prints every error as
FILE:LINE: reason (unknown keys are errors). The files it names are not
opened; serve checks them at start-up.

Exit status 0 when everything is valid, 1 when something is not, 2 on a
usage error or a file that cannot be read.
`

func (c *cli) validate(ctx context.Context, args []string) int {
	fs := c.flagSet("validate")
	configPath := fs.String("config", "", "validate the config `FILE` instead of (or besides) .wasm files")
	if code, ok := c.parse(fs, validateUsage, args, true); !ok {
		return code
	}
	if *configPath == "" && fs.NArg() == 0 {
		return c.usageError(fs, "want PLUGIN.wasm or --config FILE")
	}
	status := exitOK
	worse := func(s int) {
		if s > status {
			status = s
		}
	}
	if *configPath != "" {
		worse(c.validateConfig(*configPath))
	}
	for _, path := range fs.Args() {
		worse(c.validatePlugin(ctx, path))
	}
	return status
}

func (c *cli) validateConfig(path string) int {
	_, err := loadConfig(path)
	var ce *configError
	switch {
	case err == nil:
		fmt.Fprintf(c.stdout, "ok: %s\n", path)
		return exitOK
	case errors.As(err, &ce):
		fmt.Fprintln(c.stdout, ce)
		return exitFailure
	default:
		fmt.Fprintf(c.stderr, "blockhost validate: %v\n", err)
		return exitUsage
	}
}

func (c *cli) validatePlugin(ctx context.Context, path string) int {
	wasm, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(c.stderr, "blockhost validate: %v\n", err)
		return exitUsage
	}
	var problems []string
	if err := host.ValidateModule(ctx, wasm); err != nil {
		var ve *host.ValidationError
		if errors.As(err, &ve) {
			problems = append(problems, ve.Problems...)
		} else {
			problems = append(problems, err.Error())
		}
	}
	mpath := strings.TrimSuffix(path, filepath.Ext(path)) + ".yaml"
	if data, err := os.ReadFile(mpath); err == nil {
		stem := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
		if _, err := sandbox.ParseManifest(data, mpath, blockName(stem)); err != nil {
			// One problem a line, each naming the manifest.
			if inner := errors.Unwrap(err); inner != nil {
				for _, e := range unwrapAll(inner) {
					problems = append(problems, mpath+": "+e.Error())
				}
			} else {
				problems = append(problems, err.Error())
			}
		}
	}
	if len(problems) > 0 {
		for _, p := range problems {
			if !strings.HasPrefix(p, mpath+":") {
				p = path + ": " + p
			}
			fmt.Fprintln(c.stdout, p)
		}
		return exitFailure
	}
	fmt.Fprintf(c.stdout, "ok: %s satisfies blockhost ABI v%d\n", path, abi.Version)
	return exitOK
}

// printProblems lists the problems of a *host.ValidationError in err, one a
// line.
func printProblems(w io.Writer, path string, err error) {
	var ve *host.ValidationError
	if errors.As(err, &ve) && len(ve.Problems) > 1 {
		for _, p := range ve.Problems {
			fmt.Fprintf(w, "  %s: %s\n", path, p)
		}
	}
}
