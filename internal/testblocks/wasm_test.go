package testblocks

import (
	"errors"
	"fmt"
)

// wasmInfo is what the tests check of a module: its imports and exports
// with their signatures, and its initial memory.
type wasmInfo struct {
	imports     []wasmImport
	funcExports map[string]string // name -> signature
	memExports  []string
	memMin      uint32
}

type wasmImport struct {
	module, name string
	sig          string // functions only: e.g. "ii>I"
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) byte() byte {
	if r.err != nil || len(r.b) == 0 {
		r.fail()
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) fail() {
	if r.err == nil {
		r.err = errors.New("truncated module")
	}
}

func (r *reader) u32() uint32 {
	var v uint32
	for shift := 0; shift < 35; shift += 7 {
		c := r.byte()
		v |= uint32(c&0x7f) << shift
		if c&0x80 == 0 {
			return v
		}
	}
	r.fail()
	return 0
}

func (r *reader) bytes(n uint32) []byte {
	if r.err != nil || uint32(len(r.b)) < n {
		r.fail()
		return nil
	}
	b := r.b[:n]
	r.b = r.b[n:]
	return b
}

func (r *reader) name() string { return string(r.bytes(r.u32())) }

func (r *reader) limits() uint32 {
	flags := r.byte()
	min := r.u32()
	if flags&1 != 0 {
		r.u32()
	}
	return min
}

func valType(c byte) string {
	switch c {
	case 0x7f:
		return "i"
	case 0x7e:
		return "I"
	case 0x7d:
		return "f"
	case 0x7c:
		return "F"
	}
	return fmt.Sprintf("<%#x>", c)
}

// parseWasm reads the type, import, function, memory and export sections
// of a binary module.
func parseWasm(b []byte) (*wasmInfo, error) {
	if len(b) < 8 || string(b[:4]) != "\x00asm" {
		return nil, errors.New("not a wasm module")
	}
	r := &reader{b: b[8:]}
	info := &wasmInfo{funcExports: map[string]string{}}
	var types []string
	var funcTypes []uint32 // imported functions first, then defined ones
	type export struct {
		name  string
		index uint32
	}
	var funcExports []export
	for len(r.b) > 0 && r.err == nil {
		id := r.byte()
		sec := &reader{b: r.bytes(r.u32())}
		switch id {
		case 1: // type
			for n := sec.u32(); n > 0 && sec.err == nil; n-- {
				if sec.byte() != 0x60 {
					return nil, errors.New("unexpected type form")
				}
				sig := ""
				for p := sec.u32(); p > 0; p-- {
					sig += valType(sec.byte())
				}
				sig += ">"
				for p := sec.u32(); p > 0; p-- {
					sig += valType(sec.byte())
				}
				types = append(types, sig)
			}
		case 2: // import
			for n := sec.u32(); n > 0 && sec.err == nil; n-- {
				im := wasmImport{module: sec.name(), name: sec.name()}
				switch sec.byte() {
				case 0:
					ti := sec.u32()
					funcTypes = append(funcTypes, ti)
					if int(ti) < len(types) {
						im.sig = types[ti]
					}
				case 1:
					sec.byte()
					sec.limits()
				case 2:
					info.memMin = sec.limits()
				case 3:
					sec.byte()
					sec.byte()
				}
				info.imports = append(info.imports, im)
			}
		case 3: // function
			for n := sec.u32(); n > 0 && sec.err == nil; n-- {
				funcTypes = append(funcTypes, sec.u32())
			}
		case 5: // memory
			if sec.u32() > 0 {
				info.memMin = sec.limits()
			}
		case 7: // export
			for n := sec.u32(); n > 0 && sec.err == nil; n-- {
				name := sec.name()
				kind := sec.byte()
				index := sec.u32()
				switch kind {
				case 0:
					funcExports = append(funcExports, export{name, index})
				case 2:
					info.memExports = append(info.memExports, name)
				}
			}
		}
		if sec.err != nil {
			return nil, fmt.Errorf("section %d: %w", id, sec.err)
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	for _, e := range funcExports {
		sig := "?"
		if int(e.index) < len(funcTypes) && int(funcTypes[e.index]) < len(types) {
			sig = types[funcTypes[e.index]]
		}
		info.funcExports[e.name] = sig
	}
	return info, nil
}
