package hostile

import (
	"fmt"
	"slices"
)

// Hostile modules are generated here rather than committed: a module over
// the size limit is 64 MiB, and one slow to compile is only slow for its
// shape.

// blockModule returns a valid ABI v1 block: one page of memory, exported,
// and blockhost_run_v1 with body (its instructions, without the final
// end), followed by a custom section of pad bytes when pad >= 0.
func blockModule(body []byte, pad int) []byte {
	return funcsModule([][]byte{body}, pad)
}

// funcsModule is blockModule with one function () -> i32 per body, the
// first being the entry point.
func funcsModule(bodies [][]byte, pad int) []byte {
	b := []byte{0, 'a', 's', 'm', 1, 0, 0, 0}
	b = section(b, 1, []byte{1, 0x60, 0, 1, 0x7f}) // type 0: () -> i32
	fns := leb(nil, uint64(len(bodies)))
	for range bodies {
		fns = append(fns, 0) // type 0
	}
	b = section(b, 3, fns)
	b = section(b, 5, []byte{1, 0, 1}) // memory 0: min 1 page
	var ex []byte
	ex = leb(ex, 2)
	ex = append(name(ex, "memory"), 2, 0)
	ex = append(name(ex, "blockhost_run_v1"), 0, 0)
	b = section(b, 7, ex)
	code := leb(nil, uint64(len(bodies)))
	for _, body := range bodies {
		fn := append([]byte{0}, body...) // no locals
		fn = append(fn, 0x0b)            // end
		code = append(leb(code, uint64(len(fn))), fn...)
	}
	b = section(b, 10, code)
	if pad >= 0 {
		padName := name(nil, "pad")
		b = append(b, 0) // custom section
		b = leb(b, uint64(len(padName)+pad))
		b = append(b, padName...)
		b = slices.Grow(b, pad)
		b = b[:len(b)+pad] // contents never read
	}
	return b
}

// paddedModule returns a block of exactly size bytes whose entry point
// returns 0, padded with a custom section.
func paddedModule(size int) []byte {
	ret0 := []byte{0x41, 0} // i32.const 0
	base := len(blockModule(ret0, -1))
	for lebLen := 1; lebLen <= 5; lebLen++ {
		content := size - base - 1 - lebLen // what follows the section's size
		pad := content - len(name(nil, "pad"))
		if pad < 0 || len(leb(nil, uint64(content))) != lebLen {
			continue
		}
		if m := blockModule(ret0, pad); len(m) == size {
			return m
		}
	}
	panic(fmt.Sprintf("no padded module of %d bytes", size))
}

// nestedModule returns a block whose entry point nests depth empty
// blocks, then returns 0: 3 bytes per level, and a compile time that grows
// much faster than the size.
func nestedModule(depth int) []byte {
	body := make([]byte, 0, 3*depth+2)
	for range depth {
		body = append(body, 0x02, 0x40) // block (no result)
	}
	for range depth {
		body = append(body, 0x0b) // end
	}
	return blockModule(append(body, 0x41, 0), -1)
}

// loopsModule returns a block whose entry point nests n/2 loops, each
// with a conditional branch back to the outermost one: n control
// instructions, the costliest shape per instruction for the compiler
// measured (about 0.7 s for 6000 on one core of a 2-core machine,
// 1.6 s for 8000).
func loopsModule(n int) []byte {
	return blockModule(loopsBody(n), -1)
}

func loopsBody(n int) []byte {
	var body []byte
	for i := range n / 2 {
		body = append(body, 0x03, 0x40, 0x41, 0, 0x0d) // loop; i32.const 0; br_if
		body = leb(body, uint64(i))                    // to the outermost loop
	}
	for range n / 2 {
		body = append(body, 0x0b) // end
	}
	return append(body, 0x41, 0)
}

// manyFuncsModule returns a block whose entry point is followed by funcs
// more functions, each a loopsBody of n control instructions.
func manyFuncsModule(funcs, n int) []byte {
	bodies := [][]byte{{0x41, 0}} // the entry point returns 0
	for range funcs {
		bodies = append(bodies, loopsBody(n))
	}
	return funcsModule(bodies, -1)
}

// leb appends the unsigned LEB128 encoding of v.
func leb(b []byte, v uint64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			c |= 0x80
		}
		b = append(b, c)
		if v == 0 {
			return b
		}
	}
}

// section appends a section with its id and size.
func section(b []byte, id byte, content []byte) []byte {
	b = append(b, id)
	b = leb(b, uint64(len(content)))
	return append(b, content...)
}

// name appends a length-prefixed name.
func name(b []byte, s string) []byte {
	b = leb(b, uint64(len(s)))
	return append(b, s...)
}
