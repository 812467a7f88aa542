package host

import "fmt"

// importedNonFunctions lists the tables, globals and tags a module
// imports, which ABI v1 forbids (memories are reported by the caller). It
// reads the binary's import section; a malformed section is left to the
// compiler to report.
func importedNonFunctions(wasm []byte) []string {
	r := &wasmReader{b: wasm, off: 8}
	for r.off < len(r.b) {
		id := r.byte()
		size := int(r.u32())
		if r.err || r.off+size > len(r.b) {
			return nil
		}
		end := r.off + size
		if id != 2 {
			r.off = end
			continue
		}
		var problems []string
		n := r.u32()
		for i := uint32(0); i < n && !r.err; i++ {
			mod, name := r.name(), r.name()
			switch kind := r.byte(); kind {
			case 0: // function
				r.u32()
			case 1: // table
				r.byte()
				r.limits()
				problems = append(problems, fmt.Sprintf("imports table %s.%s: a block may import only functions", mod, name))
			case 2: // memory
				r.limits()
			case 3: // global
				r.byte()
				r.byte()
				problems = append(problems, fmt.Sprintf("imports global %s.%s: a block may import only functions", mod, name))
			case 4: // tag
				r.byte()
				r.u32()
				problems = append(problems, fmt.Sprintf("imports tag %s.%s: a block may import only functions", mod, name))
			default:
				return problems
			}
		}
		return problems
	}
	return nil
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
