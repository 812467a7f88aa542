package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/beamline/blockhost/host"
	"github.com/beamline/blockhost/sandbox"
)

const runUsage = `blockhost run PLUGIN.wasm --type T --input JSON [flags]

Loads one block and runs one step of it, for block authors: prints the
StepResult as indented JSON on stdout; the block's logs and the host's go to
stderr. Exit status 0 when the step succeeded, 1 when it failed (error,
timeout or cancelled), 2 on a usage or load error.

The manifest is NAME.yaml beside PLUGIN.wasm when it exists; otherwise the
block is named after the file and serves the one type --type names.
--type may be left out when the manifest lists exactly one type.

--allow-http and --fs-root grant the block the HTTP and blob capabilities
for this run (serve grants them per block in the config file: blocks.NAME.http
and blocks.NAME.fs). Without them the block's HTTP and blob calls are denied.

Inputs come from --input (a JSON object of strings) or --input-file; each
--input-value KEY=FILE then sets input KEY to a file's bytes, for values too
large or too binary for a command line.

Examples:
  blockhost run build/plugins/text_uppercase.wasm --type text.uppercase --input '{"text":"hello"}'
  blockhost run build/plugins/fs_blob_put.wasm --fs-root /tmp/blobs --input '{"key":"a.bin"}' --input-value data=photo.jpg
`

func (c *cli) run(ctx context.Context, args []string) int {
	fs := c.flagSet("run")
	stepType := fs.String("type", "", "step `TYPE` to run (default: the manifest's only type)")
	input := fs.String("input", "{}", "inputs as a JSON object of strings, e.g. '{\"text\":\"hello\"}'")
	inputFile := fs.String("input-file", "", "read the inputs' JSON object from `FILE` (- for stdin) instead of --input")
	var inputValues listFlag
	fs.Var(&inputValues, "input-value", "set input KEY to the bytes of a file: `KEY=FILE` (repeatable; binary and large values, up to 128 MiB in all)")
	ctxJSON := fs.String("context", "", "BlockContext as JSON: tenant_id, trace_id, run_id, flow_id, step_id")
	var configKV, allowHTTP listFlag
	fs.Var(&configKV, "config", "block config `KEY=VALUE` (repeatable), overriding the manifest's config")
	timeout := fs.Int64("timeout", 0, "step timeout in `MS` (default 30000)")
	var retryCount *int
	fs.Func("retry-count", "`N` retries after the first attempt (default 3)", func(s string) error {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return errors.New("want a whole number >= 0")
		}
		retryCount = &n
		return nil
	})
	fs.Var(&allowHTTP, "allow-http", "grant HTTP egress to `HOST` (host[:port] for http and https, or scheme://host[:port]; *.domain for subdomains; repeatable)")
	allowPrivate := fs.Bool("allow-private", false, "let the block reach loopback and private addresses (a local test server)")
	fsRoot := fs.String("fs-root", "", "grant the blob capability with its keys under `DIR`")
	cacheDir := fs.String("cache-dir", "", "compilation cache `DIR` (default none: compile every time)")
	logLevel := fs.String("log-level", "info", "log `LEVEL` on stderr (guest logs at their own level): debug, info, warn or error")
	var ff featureFlags
	ff.register(fs)
	if code, ok := c.parse(fs, runUsage, args, true); !ok {
		return code
	}
	if fs.NArg() != 1 {
		return c.usageError(fs, "want exactly one PLUGIN.wasm")
	}
	path := fs.Arg(0)

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return c.usageError(fs, fmt.Sprintf("--log-level %q: want debug, info, warn or error", *logLevel))
	}
	if *timeout < 0 {
		return c.usageError(fs, "--timeout must not be negative")
	}
	if *inputFile != "" {
		if isSet(fs, "input") {
			return c.usageError(fs, "--input and --input-file exclude each other")
		}
		b, err := readLimited(*inputFile, c.stdin)
		if err != nil {
			return c.usageError(fs, "--input-file: "+err.Error())
		}
		*input = string(b)
	}
	inputs, err := decodeInputs(*input)
	if err != nil {
		return c.usageError(fs, "--input: "+err.Error())
	}
	for _, kv := range inputValues {
		key, file, ok := strings.Cut(kv, "=")
		if !ok || key == "" || file == "" {
			return c.usageError(fs, fmt.Sprintf("--input-value %q: want KEY=FILE", kv))
		}
		b, err := readLimited(file, c.stdin)
		if err != nil {
			return c.usageError(fs, "--input-value "+key+": "+err.Error())
		}
		inputs[key] = string(b)
	}
	req := host.StepRequest{Inputs: inputs, TimeoutMS: *timeout, RetryCount: retryCount}
	if *ctxJSON != "" {
		if err := decodeStrict(*ctxJSON, &req.Context); err != nil {
			return c.usageError(fs, "--context: "+err.Error())
		}
	}
	var bp host.BlockPolicy // the grants of this run
	for _, a := range allowHTTP {
		patterns := []string{a}
		if !strings.Contains(a, "://") {
			patterns = []string{"https://" + a, "http://" + a}
		}
		for _, p := range patterns {
			if err := checkAllow(p); err != nil {
				return c.usageError(fs, fmt.Sprintf("--allow-http %q: %v", a, err))
			}
		}
		bp.HTTP.Allow = append(bp.HTTP.Allow, patterns...)
	}
	bp.HTTP.AllowPrivate = *allowPrivate
	if *fsRoot != "" {
		if st, err := os.Stat(*fsRoot); err != nil || !st.IsDir() {
			return c.usageError(fs, fmt.Sprintf("--fs-root %s: not a directory", *fsRoot))
		}
		if bp.FS.Root, err = filepath.Abs(*fsRoot); err != nil {
			return c.usageError(fs, err.Error())
		}
	}
	feats, err := resolveFeatures(defaultFileConfig().Features, c.lookup, ff)
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return exitUsage
	}

	wasm, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(c.stderr, "blockhost run: %v\n", err)
		return exitUsage
	}
	m, err := manifestFor(path, *stepType)
	if err != nil {
		fmt.Fprintf(c.stderr, "blockhost run: %v\n", err)
		return exitUsage
	}
	req.Type = *stepType
	if req.Type == "" {
		if len(m.Types) != 1 {
			return c.usageError(fs, fmt.Sprintf("--type is required: %s serves %s", path, strings.Join(m.Types, ", ")))
		}
		req.Type = m.Types[0]
	}
	for _, kv := range configKV {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return c.usageError(fs, fmt.Sprintf("--config %q: want KEY=VALUE", kv))
		}
		if m.Config == nil {
			m.Config = map[string]string{}
		}
		m.Config[k] = v
	}
	log := newLogger(c.stderr, "text", level)
	h, err := host.New(host.Config{
		Features: feats,
		CacheDir: *cacheDir,
		Logger:   log,
		Blocks:   map[string]host.BlockPolicy{m.Name: bp},
	})
	if err != nil {
		fmt.Fprintf(c.stderr, "blockhost run: %v\n", err)
		return exitUsage
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.Close(cctx)
	}()
	if _, err := h.LoadBlock(ctx, wasm, m); err != nil {
		fmt.Fprintf(c.stderr, "blockhost run: loading %s: %v\n", path, err)
		printProblems(c.stderr, path, err)
		return exitUsage
	}
	res, err := h.Execute(ctx, req)
	if err != nil {
		fmt.Fprintf(c.stderr, "blockhost run: step not admitted: %v\n", err)
		return exitUsage
	}
	out, _ := json.MarshalIndent(res, "", "  ")
	fmt.Fprintf(c.stdout, "%s\n", out)
	if res.Status != host.StatusSuccess {
		return exitFailure
	}
	return exitOK
}

// manifestFor returns the manifest of the block at path: NAME.yaml beside
// it when it exists (which must then serve stepType, if given), else one
// named after the file serving stepType.
func manifestFor(path, stepType string) (sandbox.Manifest, error) {
	stem := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	mpath := strings.TrimSuffix(path, filepath.Ext(path)) + ".yaml"
	data, err := os.ReadFile(mpath)
	switch {
	case err == nil:
		m, err := sandbox.ParseManifest(data, mpath, blockName(stem))
		if err != nil {
			return m, err // names mpath
		}
		if stepType != "" && !slices.Contains(m.Types, stepType) {
			return m, fmt.Errorf("%s serves %s, not %q (manifest %s)", path, strings.Join(m.Types, ", "), stepType, mpath)
		}
		return m, nil
	case errors.Is(err, os.ErrNotExist):
		if stepType == "" {
			return sandbox.Manifest{}, fmt.Errorf("--type is required: %s has no manifest %s", path, mpath)
		}
		m := sandbox.Manifest{Name: blockName(stem), Types: []string{stepType}}
		return m, m.Validate(m.Name)
	default:
		return sandbox.Manifest{}, err
	}
}

var notNameChar = regexp.MustCompile(`[^a-z0-9_.-]+`)

// blockName turns a file name into a valid block name.
func blockName(stem string) string {
	s := notNameChar.ReplaceAllString(strings.ToLower(stem), "_")
	s = strings.TrimLeft(s, "_.-")
	if s == "" {
		s = "block"
	}
	return s
}

// maxRunInput bounds what --input-file and --input-value read: the host's
// default cap on a step's inputs.
const maxRunInput = 128 << 20

// readLimited reads a file (or stdin for "-") of at most maxRunInput bytes.
func readLimited(name string, stdin io.Reader) ([]byte, error) {
	r := stdin
	if r == nil {
		r = strings.NewReader("")
	}
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxRunInput+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxRunInput {
		return nil, fmt.Errorf("%s: over %d MiB, the host's limit on a step's inputs", name, maxRunInput>>20)
	}
	return b, nil
}

// isSet reports whether the flag name was given on the command line.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// decodeInputs decodes --input: a JSON object of strings.
func decodeInputs(s string) (map[string]string, error) {
	var raw map[string]json.RawMessage
	if err := decodeStrict(s, &raw); err != nil {
		return nil, err
	}
	inputs := make(map[string]string, len(raw))
	for k, v := range raw {
		var str string
		if err := json.Unmarshal(v, &str); err != nil {
			return nil, fmt.Errorf("input %q: want a string (structured values are JSON-encoded strings), got %s", k, v)
		}
		inputs[k] = str
	}
	return inputs, nil
}

// decodeStrict decodes one JSON value into v, refusing unknown fields and
// trailing data, with messages that name the field.
func decodeStrict(s string, v any) error {
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return fmt.Errorf("%s: want %s, got %s (structured values are JSON-encoded strings)", te.Field, te.Type, te.Value)
		}
		return errors.New(strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}
