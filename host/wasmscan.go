package host

import "fmt"

// importedNonFunctions lists the tables, globals and tags a module
// imports, which ABI v1 forbids (memories are reported by the caller). It
// reads the binary's import section; a malformed section is left to the
// compiler to report.
func importedNonFunctions(wasm []byte) []string {
	var problems []string
	kinds := map[byte]string{1: "table", 3: "global", 4: "tag"}
	forEachSection(wasm, func(id byte, r *wasmReader) bool {
		if id == 2 {
			r.imports(func(mod, name string, kind byte) {
				if k, ok := kinds[kind]; ok {
					problems = append(problems, fmt.Sprintf("imports %s %s.%s: a block may import only functions", k, mod, name))
				}
			})
		}
		return true
	})
	return problems
}

// forEachSection calls fn with the id of each section of wasm and a
// reader over its contents, until fn returns false. It reports false for
// a module whose sections (or what fn read of them) are malformed.
func forEachSection(wasm []byte, fn func(id byte, r *wasmReader) bool) bool {
	if len(wasm) < 8 {
		return false
	}
	r := &wasmReader{b: wasm, off: 8}
	for r.off < len(r.b) {
		id := r.byte()
		size := int(r.u32())
		if r.err || size < 0 || r.off+size > len(r.b) {
			return false
		}
		sec := &wasmReader{b: r.b[:r.off+size], off: r.off}
		if !fn(id, sec) {
			return !sec.err
		}
		if sec.err {
			return false
		}
		r.off += size
	}
	return true
}

// imports reads an import section, calling fn for each import with its
// kind (0 function, 1 table, 2 memory, 3 global, 4 tag). It stops at an
// unknown kind, marking r in error.
func (r *wasmReader) imports(fn func(mod, name string, kind byte)) {
	n := r.u32()
	for i := uint32(0); i < n && !r.err; i++ {
		mod, name := r.name(), r.name()
		kind := r.byte()
		switch kind {
		case 0: // function: type index
			r.u32()
		case 1: // table: element type, limits
			r.byte()
			r.limits()
		case 2: // memory: limits
			r.limits()
		case 3: // global: value type, mutability
			r.byte()
			r.byte()
		case 4: // tag: attribute, type index
			r.byte()
			r.u32()
		default:
			r.err = true
			return
		}
		if !r.err {
			fn(mod, name, kind)
		}
	}
}

type wasmReader struct {
	b   []byte
	off int
	err bool
}

func (r *wasmReader) byte() byte {
	if r.off >= len(r.b) {
		r.err = true
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

func (r *wasmReader) u32() uint32 {
	var v uint32
	for shift := 0; shift < 35; shift += 7 {
		c := r.byte()
		v |= uint32(c&0x7f) << shift
		if c&0x80 == 0 {
			return v
		}
	}
	r.err = true
	return 0
}

func (r *wasmReader) name() string {
	n := int(r.u32())
	if r.err || r.off+n > len(r.b) {
		r.err = true
		return ""
	}
	s := string(r.b[r.off : r.off+n])
	r.off += n
	return s
}

func (r *wasmReader) limits() {
	flags := r.byte()
	r.u32()
	if flags&1 != 0 {
		r.u32()
	}
}

// heaviestFunction finds the function body with the most control
// instructions (block, loop, if, else, try, branches; see isControl) and
// returns its index in the function index space with that count. The
// optimizing compiler's time grows with the square of this count and a
// function is compiled in one piece that cannot be interrupted, so the host
// bounds it before compiling. Bodies are read by their declared sizes; a
// body holding an opcode this scanner does not know is counted up to it (the
// compiler's validation, which runs before any function is compiled, refuses
// an opcode that is not WebAssembly). A module without functions returns
// index -1; a malformed one returns ok false, left to the compiler to
// report.
func heaviestFunction(wasm []byte) (index, control int, ok bool) {
	imported := 0
	index = -1
	ok = forEachSection(wasm, func(id byte, r *wasmReader) bool {
		switch id {
		case 2:
			r.imports(func(_, _ string, kind byte) {
				if kind == 0 {
					imported++
				}
			})
		case 10: // code
			n := r.u32()
			for i := uint32(0); i < n && !r.err; i++ {
				size := int(r.u32())
				if r.err || size < 0 || r.off+size > len(r.b) {
					r.err = true
					return false
				}
				body := &wasmReader{b: r.b[:r.off+size], off: r.off}
				if c, _ := countControl(body); c > control || index < 0 {
					index, control = imported+int(i), c
				}
				r.off += size
			}
		}
		return true
	})
	if !ok {
		return 0, 0, false
	}
	return index, control, true
}

// countControl counts the control instructions of one function body, r
// being positioned at its locals and ending with it; complete reports
// whether every instruction was read to the body's end.
func countControl(r *wasmReader) (count int, complete bool) {
	for n := r.u32(); n > 0 && !r.err; n-- {
		r.u32()  // count
		r.byte() // type
	}
	for r.off < len(r.b) && !r.err {
		op := r.byte()
		if isControl(op) {
			count++
		}
		if !r.skipImmediates(op) {
			return count, false
		}
	}
	return count, !r.err && r.off == len(r.b) && r.b[len(r.b)-1] == 0x0b
}

// isControl reports whether op begins or ends a basic block: block, loop,
// if, else, try, catch, catch_all, delegate, try_table, br, br_if,
// br_table, br_on_null, br_on_non_null.
func isControl(op byte) bool {
	switch op {
	case 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x18, 0x19, 0x1f, 0x0c, 0x0d, 0x0e, 0xd4, 0xd6:
		return true
	}
	return false
}

// skipImmediates skips the immediates of op, returning false for an opcode
// it does not know.
func (r *wasmReader) skipImmediates(op byte) bool {
	switch {
	case op <= 0x01, op == 0x05, op == 0x0a, op == 0x0b, op == 0x0f, op == 0x19,
		op == 0x1a, op == 0x1b, op >= 0x45 && op <= 0xc4, op == 0xd1, op == 0xd3, op == 0xd5:
		// no immediates
	case op >= 0x02 && op <= 0x04, op == 0x06: // block type
		r.leb()
	case op == 0x07, op == 0x08, op == 0x09, op == 0x0c, op == 0x0d, op == 0x10, op == 0x12,
		op == 0x14, op == 0x15, op == 0x18, op >= 0x20 && op <= 0x26, op == 0x3f, op == 0x40,
		op == 0xd2, op == 0xd4, op == 0xd6:
		r.leb()
	case op == 0x0e: // br_table
		for n := r.u32(); n > 0 && !r.err; n-- {
			r.leb()
		}
		r.leb()
	case op == 0x11, op == 0x13: // call_indirect, return_call_indirect
		r.leb()
		r.leb()
	case op == 0x1c: // select t*
		for n := r.u32(); n > 0 && !r.err; n-- {
			r.leb()
		}
	case op == 0x1f: // try_table
		r.leb()
		for n := r.u32(); n > 0 && !r.err; n-- {
			if kind := r.byte(); kind <= 1 {
				r.leb()
			}
			r.leb()
		}
	case op >= 0x28 && op <= 0x3e: // loads and stores
		r.memarg()
	case op == 0x41, op == 0x42, op == 0xd0: // i32.const, i64.const, ref.null
		r.leb()
	case op == 0x43:
		r.skip(4)
	case op == 0x44:
		r.skip(8)
	case op == 0xfc:
		return r.skipMisc()
	case op == 0xfd:
		return r.skipSIMD()
	case op == 0xfe: // threads
		if sub := r.u32(); sub == 0x03 {
			r.byte()
		} else {
			r.memarg()
		}
	default:
		return false
	}
	return !r.err
}

func (r *wasmReader) skipMisc() bool {
	switch sub := r.u32(); {
	case sub <= 7: // saturating truncations
	case sub == 8, sub == 10, sub == 12, sub == 14: // memory.init, memory.copy, table.init, table.copy
		r.leb()
		r.leb()
	case sub == 9, sub == 11, sub == 13, sub >= 15 && sub <= 17:
		r.leb()
	default:
		return false
	}
	return !r.err
}

func (r *wasmReader) skipSIMD() bool {
	switch sub := r.u32(); {
	case sub <= 0x0b, sub == 0x5c, sub == 0x5d: // loads and stores
		r.memarg()
	case sub == 0x0c, sub == 0x0d: // v128.const, i8x16.shuffle
		r.skip(16)
	case sub >= 0x15 && sub <= 0x22: // extract and replace lane
		r.byte()
	case sub >= 0x54 && sub <= 0x5b: // load and store lane
		r.memarg()
		r.byte()
	case sub <= 0x113:
	default:
		return false
	}
	return !r.err
}

func (r *wasmReader) memarg() {
	if align := r.u32(); align&0x40 != 0 {
		r.u32() // memory index
	}
	r.leb() // offset
}

// leb skips one LEB128 number of up to 10 bytes, signed or not.
func (r *wasmReader) leb() {
	for range 10 {
		if r.byte()&0x80 == 0 {
			return
		}
	}
	r.err = true
}

func (r *wasmReader) skip(n int) {
	if r.off+n > len(r.b) {
		r.err = true
		return
	}
	r.off += n
}
