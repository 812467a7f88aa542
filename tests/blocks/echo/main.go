// Command echo is a test block (type test.echo). It succeeds with:
//
//   - every input unchanged, as the output of the same name;
//   - ctx.<key> for every context key (tenant_id, trace_id, run_id,
//     flow_id, step_id, step_type, attempt);
//   - config.<key> for each key listed in input config_keys
//     (comma-separated) that the block's config has.
//
// Input echo_mode picks how inputs are copied: "copy" (the default,
// input_len/input_read then output_set), "handle" (input_open then
// output_from_handle, host-side) or "stream" (chunked input_read into an
// output_open handle).
package main

import (
	"io"
	"strings"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/abi/guest"
)

func init() { guest.Register(echo) }

var contextKeys = []string{
	abi.CtxTenantID, abi.CtxTraceID, abi.CtxRunID, abi.CtxFlowID,
	abi.CtxStepID, abi.CtxStepType, abi.CtxAttempt,
}

func echo(s *guest.Step) error {
	mode, _ := s.Input("echo_mode")
	for _, k := range s.InputKeys() {
		if err := copyInput(s, k, mode); err != nil {
			return err
		}
	}
	for _, k := range contextKeys {
		v, ok := s.ContextValue(k)
		if !ok {
			return guest.Errorf(abi.ExecutionFailed, "context key %q unknown to the host", k)
		}
		if err := s.SetOutput("ctx."+k, v); err != nil {
			return err
		}
	}
	keys, _ := s.Input("config_keys")
	for _, k := range strings.Split(keys, ",") {
		if k = strings.TrimSpace(k); k == "" {
			continue
		}
		if v, ok := s.Config(k); ok {
			if err := s.SetOutput("config."+k, v); err != nil {
				return err
			}
		}
	}
	return nil
}

func copyInput(s *guest.Step, key, mode string) error {
	switch mode {
	case "", "copy":
		v, ok := s.Input(key)
		if !ok {
			return guest.Errorf(abi.ExecutionFailed, "input %q listed but unreadable", key)
		}
		return s.SetOutput(key, v)
	case "handle":
		h, err := s.InputHandle(key)
		if err != nil {
			return err
		}
		return s.SetOutputFromHandle(key, h)
	case "stream":
		w, err := s.OutputWriter(key)
		if err != nil {
			return err
		}
		if _, err := io.CopyBuffer(w, s.InputReader(key), make([]byte, 32<<10)); err != nil {
			w.Close()
			return err
		}
		return w.Close()
	}
	return guest.Errorf(abi.InvalidInput, "echo_mode %q: want copy, handle or stream", mode)
}

func main() {}
