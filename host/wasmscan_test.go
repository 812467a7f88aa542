package host

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/beamline/blockhost/internal/testblocks"
)

// scanModule returns a module importing imports functions, then defining
// one function per body (locals declaration included, final end added).
func scanModule(imports int, bodies ...[]byte) []byte {
	leb := func(b []byte, v int) []byte {
		for ; v >= 0x80; v >>= 7 {
			b = append(b, byte(v&0x7f)|0x80)
		}
		return append(b, byte(v))
	}
	sec := func(b []byte, id byte, content []byte) []byte {
		return append(leb(append(b, id), len(content)), content...)
	}
	b := []byte{0, 'a', 's', 'm', 1, 0, 0, 0}
	b = sec(b, 1, []byte{1, 0x60, 0, 0}) // type 0: () -> ()
	if imports > 0 {
		imp := leb(nil, imports)
		for range imports {
			imp = append(imp, 3, 'e', 'n', 'v', 1, 'f', 0, 0)
		}
		b = sec(b, 2, imp)
	}
	fns := leb(nil, len(bodies))
	code := leb(nil, len(bodies))
	for _, body := range bodies {
		fns = append(fns, 0)
		code = leb(code, len(body)+1)
		code = append(append(code, body...), 0x0b)
	}
	b = sec(b, 3, fns)
	b = sec(b, 5, []byte{1, 0, 1}) // memory 0: 1 page
	return sec(b, 10, code)
}

func TestHeaviestFunctionCounts(t *testing.T) {
	rep := func(n int, x ...byte) []byte {
		var b []byte
		for range n {
			b = append(b, x...)
		}
		return b
	}
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	noLocals := []byte{0}
	cases := []struct {
		name    string
		body    []byte
		control int
	}{
		{"immediates that look like control", cat(noLocals,
			[]byte{0x41, 0x02, 0x1a},                 // i32.const 2; drop
			[]byte{0x41, 0x83, 0x04, 0x1a},           // i32.const 515; drop
			[]byte{0x42, 0x03, 0x1a},                 // i64.const 3; drop
			[]byte{0x44}, rep(8, 0x04), []byte{0x1a}, // f64.const; drop
			[]byte{0x43}, rep(4, 0x0c), []byte{0x1a}, // f32.const; drop
			[]byte{0x41, 0, 0x28, 0x02, 0x0e, 0x1a},         // i32.load align 2 offset 14; drop
			[]byte{0xfd, 0x0c}, rep(16, 0x02), []byte{0x1a}, // v128.const; drop
			[]byte{0x41, 0, 0x41, 0, 0x41, 0, 0xfc, 0x0b, 0x00}, // memory.fill
		), 0},
		{"blocks, loops, ifs and branches", cat(noLocals,
			[]byte{0x02, 0x40, 0x03, 0x40, 0x0c, 0x01, 0x0b, 0x0b},          // block loop br 1 end end: 3
			[]byte{0x41, 1, 0x04, 0x40, 0x41, 0, 0x0d, 0, 0x05, 0x01, 0x0b}, // if br_if else end: 3
			[]byte{0x02, 0x40, 0x41, 0, 0x0e, 0x02, 0x00, 0x00, 0x00, 0x0b}, // block br_table: 2
			[]byte{0x02, 0x7f, 0x41, 2, 0x0b, 0x1a},                         // block (result i32): 1
		), 9},
		{"locals declared", cat([]byte{2, 3, 0x7f, 1, 0x7e}, rep(5, 0x02, 0x40, 0x0b)), 5},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wasm := scanModule(0, c.body)
			idx, n, ok := heaviestFunction(wasm)
			require.True(t, ok)
			assert.Equal(t, 0, idx)
			assert.Equal(t, c.control, n)
			require.NoError(t, validWasm(t, wasm), "the test module is valid WebAssembly")
		})
	}

	t.Run("index counts imported functions", func(t *testing.T) {
		light, heavy := []byte{0, 0x01}, cat(noLocals, rep(7, 0x02, 0x40, 0x0b))
		idx, n, ok := heaviestFunction(scanModule(3, light, heavy, light))
		require.True(t, ok)
		assert.Equal(t, 4, idx)
		assert.Equal(t, 7, n)
	})
	t.Run("unknown opcode ends the count", func(t *testing.T) {
		body := cat(noLocals, rep(4, 0x02, 0x40, 0x0b), []byte{0xff}, rep(4, 0x02, 0x40, 0x0b))
		_, n, ok := heaviestFunction(scanModule(0, body))
		require.True(t, ok)
		assert.Equal(t, 4, n)
	})
	t.Run("malformed", func(t *testing.T) {
		wasm := scanModule(0, cat(noLocals, rep(4, 0x02, 0x40, 0x0b)))
		for _, cut := range []int{0, 7, 9, len(wasm) - 3} {
			_, _, ok := heaviestFunction(wasm[:cut])
			assert.False(t, ok, "cut at %d", cut)
		}
	})
}

// validWasm reports what the compiler says of wasm beyond the ABI: nil
// for valid WebAssembly even if it is no block.
func validWasm(t *testing.T, wasm []byte) error {
	t.Helper()
	err := ValidateModule(t.Context(), wasm)
	var ve *ValidationError
	if errors.As(err, &ve) {
		for _, p := range ve.Problems {
			if strings.HasPrefix(p, "does not compile") {
				return err
			}
		}
		return nil
	}
	return err
}

// TestHeaviestFunctionRealModules reads every function of the example and
// test blocks and the committed modules to its end, and finds them far
// under the default limit.
func TestHeaviestFunctionRealModules(t *testing.T) {
	var files []string
	for _, pattern := range []string{
		filepath.Join(testblocks.Dir(t), "*.wasm"),
		filepath.Join(testblocks.FixturesDir(t), "*.wasm"),
		"../examples/*/conformance/*.wasm",
		"../tests/hostile/testdata/*.wasm",
	} {
		m, err := filepath.Glob(pattern)
		require.NoError(t, err)
		files = append(files, m...)
	}
	require.Greater(t, len(files), 20)
	cfg, err := Config{}.withDefaults()
	require.NoError(t, err)
	for _, f := range files {
		wasm, err := os.ReadFile(f)
		require.NoError(t, err)
		if filepath.Base(f) == "notwasm.wasm" {
			continue
		}
		_, n, ok := heaviestFunction(wasm)
		require.True(t, ok, f)
		assert.Less(t, n, cfg.Limits.MaxFunctionControl/4, f)
		incomplete := 0
		forEachBody(wasm, func(r *wasmReader) {
			if _, complete := countControl(r); !complete {
				incomplete++
			}
		})
		assert.Zero(t, incomplete, "%s: function bodies not read to their end", f)
	}
}

// forEachBody calls fn with a reader on each function body of wasm.
func forEachBody(wasm []byte, fn func(r *wasmReader)) {
	forEachSection(wasm, func(id byte, r *wasmReader) bool {
		if id == 10 {
			for n := r.u32(); n > 0 && !r.err; n-- {
				size := int(r.u32())
				fn(&wasmReader{b: r.b[:r.off+size], off: r.off})
				r.off += size
			}
		}
		return true
	})
}

func TestImportedNonFunctions(t *testing.T) {
	imp := []byte{4,
		3, 'e', 'n', 'v', 1, 'f', 0, 0, // function, type 0
		3, 'e', 'n', 'v', 1, 't', 1, 0x70, 0, 1, // table of funcref, min 1
		3, 'e', 'n', 'v', 1, 'm', 2, 0, 1, // memory, min 1
		3, 'e', 'n', 'v', 1, 'g', 3, 0x7f, 0, // immutable i32 global
	}
	wasm := []byte{0, 'a', 's', 'm', 1, 0, 0, 0, 1, 4, 1, 0x60, 0, 0, 2, byte(len(imp))}
	wasm = append(wasm, imp...)
	assert.Equal(t, []string{
		"imports table env.t: a block may import only functions",
		"imports global env.g: a block may import only functions",
	}, importedNonFunctions(wasm))
	idx, n, ok := heaviestFunction(wasm)
	assert.True(t, ok)
	assert.Equal(t, -1, idx, "no function defined")
	assert.Zero(t, n)

	err := ValidateModule(t.Context(), wasm)
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Contains(t, ve.Problems, "imports table env.t: a block may import only functions")
	assert.Contains(t, ve.Problems, "imports memory env.m: a block must define and export its own memory")

	assert.Nil(t, importedNonFunctions(wasm[:len(wasm)-3]), "a truncated section is left to the compiler")
}

func TestValidateModuleChecksDefaultLimits(t *testing.T) {
	var body []byte
	body = append(body, 0) // no locals
	for range defaultMaxFunctionControl + 1 {
		body = append(body, 0x02, 0x40) // block
	}
	for range defaultMaxFunctionControl + 1 {
		body = append(body, 0x0b) // end
	}
	err := ValidateModule(t.Context(), scanModule(2, []byte{0, 0x01}, body))
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, []string{"function 3 has 10001 control instructions (blocks, loops, ifs and branches), over the limit of 10000 per function (max_function_control)"}, ve.Problems)
}
