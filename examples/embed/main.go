// Command embed runs blockhost as a library inside a Go program: it loads
// the blocks of a directory and runs one step.
//
//	make examples && go run ./examples/embed build/plugins
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/beamline/blockhost/host"
	"github.com/beamline/blockhost/policy"
)

func main() {
	dir := "build/plugins"
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	if err := run(context.Background(), dir); err != nil {
		fmt.Fprintln(os.Stderr, "embed:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, dir string) error {
	// The zero Config is the CP1 baseline with default pools and limits;
	// settings come from the caller, never from the environment.
	h, err := host.New(host.Config{
		Features: policy.Features{AdvancedRetry: true, CompleteTimeout: true},
		Logger:   slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = h.Close(cctx) // waits for steps in flight until cctx ends
	}()

	if err := h.LoadDir(ctx, dir); err != nil {
		return err
	}
	res, err := h.Execute(ctx, host.StepRequest{
		Type:   "text.uppercase",
		Inputs: map[string]string{"text": "hello from an embedder"},
	})
	var rej *host.RejectedError
	switch {
	case errors.As(err, &rej): // queue full (CP2 queue management)
		return fmt.Errorf("rejected by pool %s, retry in %v", rej.Pool, rej.RetryAfter)
	case err != nil: // not admitted: host.ErrUnknownType, host.ErrInvalidRequest, ...
		return err
	}
	// Every admitted step has a StepResult, whatever its outcome.
	fmt.Printf("%s %s %q\n", res.Status, res.ErrorCode, res.Outputs["text"])
	return nil
}
