package main

import (
	"errors"
	"flag"
	"io"
	"log/slog"
	"strings"

	"github.com/beamline/blockhost/policy"
)

// Environment variables read by the binary besides the CP2 flags.
const envAPIToken = "BLOCKHOST_API_TOKEN"

// featureFlags holds the --cp2-* flags given on the command line, nil for
// the ones not given.
type featureFlags [5]*bool

// register adds the five --cp2-* flags to fs. Each takes true, false, 1 or
// 0 in any case; anything else fails the parse with an error naming the
// flag.
func (ff *featureFlags) register(fs *flag.FlagSet) {
	for i, f := range features {
		fs.Func(f.flag, "CP2 flag: `BOOL` true|false|1|0; overrides "+f.env+" and features."+f.key+" of the config file", func(s string) error {
			v, err := policy.ParseFlag("--"+f.flag, s)
			if err != nil {
				return errors.New("want true, false, 1 or 0")
			}
			ff[i] = &v
			return nil
		})
	}
}

// resolveFeatures applies the precedence CLI flag > environment > config
// file. A bad environment value is an error naming the variable.
func resolveFeatures(file policy.Features, lookup func(string) (string, bool), ff featureFlags) (policy.Features, error) {
	f, err := policy.FeaturesFromEnv(lookup, file)
	if err != nil {
		var msgs []string
		for _, e := range unwrapAll(err) {
			msgs = append(msgs, "environment: "+strings.TrimPrefix(e.Error(), "policy: "))
		}
		return f, errors.New(strings.Join(msgs, "\n"))
	}
	for i, v := range ff {
		if v != nil {
			_ = f.Set(features[i].env, *v) // features[i].env is one of policy.FeatureVars
		}
	}
	return f, nil
}

func unwrapAll(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// featureAttrs logs the effective flags as a group.
func featureAttrs(f policy.Features) slog.Attr {
	return slog.Group("features",
		slog.Bool("advanced_retry", f.AdvancedRetry),
		slog.Bool("complete_timeout", f.CompleteTimeout),
		slog.Bool("cancellation", f.Cancellation),
		slog.Bool("queue_management", f.QueueManagement),
		slog.Bool("circuit_breaker", f.CircuitBreaker))
}

// newLogger returns the binary's root logger, with beamline's structured
// log keys (timestamp, level, message). Each part adds its own component:
// the host's step lines say "host", the HTTP API's "httpapi" and the
// binary's own "blockhost" (see component).
func newLogger(w io.Writer, format string, level slog.Leveler) *slog.Logger {
	opts := &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				a.Key = "timestamp"
			case slog.MessageKey:
				a.Key = "message"
			}
			return a
		},
	}
	var h slog.Handler
	if format == "text" {
		h = slog.NewTextHandler(w, opts)
	} else {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(h)
}

// component returns log for the part named name.
func component(log *slog.Logger, name string) *slog.Logger {
	return log.With(slog.String("component", name))
}
