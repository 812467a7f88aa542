package host

import (
	"context"
	"encoding/binary"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/beamline/blockhost/abi"
)

// WASI errno values used here.
const (
	errnoSuccess = 0
	errnoBadf    = 8
	errnoFault   = 21
	errnoInval   = 28
)

// interrupted unwinds a guest whose step context ended while it slept.
type interrupted struct{ cause error }

func (e *interrupted) Error() string { return "guest interrupted: " + e.cause.Error() }
func (e *interrupted) Unwrap() error { return e.cause }

// instantiateWASI registers wasi_snapshot_preview1 on r: wazero's functions
// with poll_oneoff replaced by one whose sleep ends with the step's context.
func instantiateWASI(ctx context.Context, r wazero.Runtime) error {
	b := r.NewHostModuleBuilder(abi.WASIModule)
	wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(b)
	b.NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(pollOneoff), []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32}).
		WithParameterNames("in", "out", "nsubscriptions", "result.nevents").
		Export("poll_oneoff")
	_, err := b.Instantiate(ctx)
	return err
}

// pollOneoff implements WASI poll_oneoff for a guest without sockets or
// files: stdin reads are ready at EOF, stdout/stderr writes are ready, other
// descriptors fail with EBADF; when nothing is ready it sleeps until the
// earliest clock subscription, and panics with *interrupted if the context
// ends first (the call is aborted and the instance discarded).
func pollOneoff(ctx context.Context, mod api.Module, stack []uint64) {
	in, out := u32(stack[0]), u32(stack[1])
	nsub, resultNevents := u32(stack[2]), u32(stack[3])
	if nsub == 0 || nsub > 1<<16 {
		stack[0] = errnoInval
		return
	}
	mem := mod.Memory()
	inBuf, ok := mem.Read(in, nsub*48)
	if !ok {
		stack[0] = errnoFault
		return
	}
	outBuf, ok := mem.Read(out, nsub*32)
	if !ok {
		stack[0] = errnoFault
		return
	}
	if _, ok := mem.Read(resultNevents, 4); !ok {
		stack[0] = errnoFault
		return
	}
	clear(outBuf)
	le := binary.LittleEndian
	var (
		nevents  uint32
		sleep    = time.Duration(-1)
		clockSub []uint32
		clockDur []time.Duration
	)
	writeEvent := func(sub uint32, typ byte, errno uint16) {
		ev := outBuf[nevents*32 : nevents*32+32]
		copy(ev[0:8], inBuf[sub*48:sub*48+8]) // userdata
		le.PutUint16(ev[8:], errno)
		ev[10] = typ
		nevents++
	}
	for i := uint32(0); i < nsub; i++ {
		s := inBuf[i*48 : i*48+48]
		switch tag := s[8]; tag {
		case 0: // clock
			clockID := le.Uint32(s[16:])
			ts := le.Uint64(s[24:])
			flags := le.Uint16(s[40:])
			d := time.Duration(ts)
			if ts > uint64(1<<63-1) {
				d = 1<<63 - 1
			}
			if flags&1 != 0 { // absolute
				if clockID == 0 {
					d = time.Until(time.Unix(0, int64(ts)))
				} else {
					d = 0 // an absolute monotonic time cannot be related to ours: fire now
				}
			}
			if d < 0 {
				d = 0
			}
			if sleep < 0 || d < sleep {
				sleep = d
			}
			clockSub = append(clockSub, i)
			clockDur = append(clockDur, d)
		case 1, 2: // fd_read, fd_write
			fd := le.Uint32(s[16:])
			switch {
			case tag == 1 && fd == 0, tag == 2 && (fd == 1 || fd == 2):
				writeEvent(i, tag, errnoSuccess)
			default:
				writeEvent(i, tag, errnoBadf)
			}
		default:
			writeEvent(i, tag, errnoInval)
		}
	}
	if nevents == 0 && sleep >= 0 {
		if sleep > 0 {
			t := time.NewTimer(sleep)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				panic(&interrupted{cause: context.Cause(ctx)})
			}
		}
		for j, i := range clockSub {
			if clockDur[j] <= sleep {
				writeEvent(i, 0, errnoSuccess)
			}
		}
	}
	mem.WriteUint32Le(resultNevents, nevents)
	stack[0] = errnoSuccess
}
