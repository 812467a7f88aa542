package conformance_test

// This file checks the WAT imports snippet abi/wat/imports.wat: it must
// declare exactly the functions of ABI v1 (abi/ABI.md section 4), with the
// parameter names and types of ABI.md's "Signatures" table and the
// signatures the host accepts at load time (host.ValidateModule). It also
// checks that the WAT conformance block imports the snippet unchanged.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/host"
)

const (
	snippetPath     = "../../abi/wat/imports.wat"
	abiPath         = "../../abi/ABI.md"
	conformanceWAT  = "../../examples/wat/conformance/conformance_wat.wat"
	conformanceWasm = "../../examples/wat/conformance/conformance_wat.wasm"
)

// param is one parameter of an imported function: its name ("" when the
// declaration gives none) and value type ("i32" or "i64").
type param struct{ name, typ string }

// importFunc is one (import "module" "name" (func $id (param ...) (result ...))).
type importFunc struct {
	module, name, id string
	params           []param
	results          []string
}

func TestSnippetDeclaresABI(t *testing.T) {
	imports := parseImportsFile(t, snippetPath, false)
	want := abiSignatures(t)

	var names []string
	for _, f := range imports {
		names = append(names, f.name)
		if f.module != abi.ModuleName {
			t.Errorf("%s: imported from module %q, want %q", f.name, f.module, abi.ModuleName)
		}
		if f.id != "$"+f.name {
			t.Errorf("%s: identifier %q, want $%s", f.name, f.id, f.name)
		}
		w, ok := want[f.name]
		if !ok {
			t.Errorf("%s: not a function of ABI.md's Signatures table", f.name)
			continue
		}
		if !slices.Equal(f.params, w.params) || !slices.Equal(f.results, w.results) {
			t.Errorf("%s: declared %s, ABI.md says %s", f.name, describe(f), describe(w))
		}
	}
	sorted := slices.Sorted(slices.Values(names))
	if dup := slices.Compact(slices.Clone(sorted)); len(dup) != len(sorted) {
		t.Errorf("an import is declared twice: %v", sorted)
	}
	if abiNames := slices.Sorted(slices.Values(abi.HostFunctions)); !slices.Equal(slices.Compact(sorted), abiNames) {
		t.Errorf("snippet declares %v\nABI v1 defines     %v", sorted, abiNames)
	}
	if len(want) != len(abi.HostFunctions) {
		t.Errorf("ABI.md's Signatures table has %d rows, abi.HostFunctions %d", len(want), len(abi.HostFunctions))
	}
}

// TestSnippetAcceptedByHost encodes a module importing every function of
// the snippet and checks it with the host's own load-time validation, which
// compares each import against the signatures the host provides.
func TestSnippetAcceptedByHost(t *testing.T) {
	imports := parseImportsFile(t, snippetPath, false)
	if err := host.ValidateModule(context.Background(), encodeModule(imports)); err != nil {
		t.Fatalf("host refuses the snippet's imports: %v", err)
	}

	// The check bites: one wrong result type is refused, by name.
	bad := slices.Clone(imports)
	i := slices.IndexFunc(bad, func(f importFunc) bool { return f.name == abi.FnInputLen })
	if i < 0 {
		t.Fatal("no input_len in the snippet")
	}
	bad[i].results = []string{"i32"}
	err := host.ValidateModule(context.Background(), encodeModule(bad))
	var verr *host.ValidationError
	if !errors.As(err, &verr) || !strings.Contains(err.Error(), abi.FnInputLen) {
		t.Fatalf("input_len () -> i32: ValidateModule = %v, want a ValidationError naming it", err)
	}
}

// TestConformanceBlockUsesSnippet checks that the WAT conformance block
// declares the snippet's imports unchanged, in its source and in its
// committed build.
func TestConformanceBlockUsesSnippet(t *testing.T) {
	snippet := parseImportsFile(t, snippetPath, false)
	block := parseImportsFile(t, conformanceWAT, true)
	for i := range max(len(snippet), len(block)) {
		switch {
		case i >= len(block):
			t.Errorf("%s: import %d: missing, the snippet has %s", conformanceWAT, i+1, snippet[i].name)
		case i >= len(snippet):
			t.Errorf("%s: import %d: %s, which the snippet does not have", conformanceWAT, i+1, block[i].name)
		case !importEqual(snippet[i], block[i]):
			t.Errorf("%s: import %d: %s %s, the snippet has %s %s", conformanceWAT, i+1,
				block[i].name, describe(block[i]), snippet[i].name, describe(snippet[i]))
		}
	}

	wasm, err := os.ReadFile(conformanceWasm)
	if err != nil {
		t.Fatal(err)
	}
	if err := host.ValidateModule(context.Background(), wasm); err != nil {
		t.Errorf("%s: %v", conformanceWasm, err)
	}
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer r.Close(ctx)
	cm, err := r.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, d := range cm.ImportedFunctions() {
		mod, name, _ := d.Import()
		got[mod+"."+name] = typesString(d.ParamTypes()) + " -> " + typesString(d.ResultTypes())
	}
	want := map[string]string{}
	for _, f := range snippet {
		var ps []string
		for _, p := range f.params {
			ps = append(ps, p.typ)
		}
		want[f.module+"."+f.name] = strings.Join(ps, " ") + " -> " + strings.Join(f.results, " ")
	}
	for k, w := range want {
		if g, ok := got[k]; !ok {
			t.Errorf("%s: does not import %s (rebuild it with scripts/build-wat.sh)", conformanceWasm, k)
		} else if g != w {
			t.Errorf("%s: imports %s as %s, want %s", conformanceWasm, k, g, w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: imports %s, which the snippet does not declare", conformanceWasm, k)
		}
	}
}

func importEqual(a, b importFunc) bool {
	return a.module == b.module && a.name == b.name && a.id == b.id &&
		slices.Equal(a.params, b.params) && slices.Equal(a.results, b.results)
}

func describe(f importFunc) string {
	var ps []string
	for _, p := range f.params {
		ps = append(ps, strings.TrimSpace(p.name+" "+p.typ))
	}
	return "(" + strings.Join(ps, ", ") + ") -> " + strings.Join(f.results, " ")
}

func typesString(ts []api.ValueType) string {
	var s []string
	for _, v := range ts {
		s = append(s, api.ValueTypeName(v))
	}
	return strings.Join(s, " ")
}

// abiSignatures parses the table under "### Signatures" in ABI.md:
//
//	| `input_read` | key_ptr, key_len, offset i64, buf_ptr, buf_len | i32 |
//
// A parameter is i32 unless its type follows its name; "—" means none.
func abiSignatures(t *testing.T) map[string]importFunc {
	t.Helper()
	doc, err := os.ReadFile(abiPath)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "\n### Signatures\n")
	if !ok {
		t.Fatalf("%s: no \"### Signatures\" section", abiPath)
	}
	sigs := map[string]importFunc{}
	for line := range strings.Lines(rest) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") {
			break
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 3 || !strings.HasPrefix(strings.TrimSpace(cells[0]), "`") {
			continue
		}
		f := importFunc{module: abi.ModuleName, name: strings.Trim(strings.TrimSpace(cells[0]), "`")}
		f.id = "$" + f.name
		if ps := strings.TrimSpace(cells[1]); ps != "—" && ps != "" {
			for _, p := range strings.Split(ps, ",") {
				fields := strings.Fields(p)
				switch len(fields) {
				case 1:
					f.params = append(f.params, param{fields[0], "i32"})
				case 2:
					f.params = append(f.params, param{fields[0], fields[1]})
				default:
					t.Fatalf("%s: %s: cannot read parameter %q", abiPath, f.name, p)
				}
			}
		}
		f.results = []string{strings.TrimSpace(cells[2])}
		if _, dup := sigs[f.name]; dup {
			t.Fatalf("%s: %s is listed twice", abiPath, f.name)
		}
		sigs[f.name] = f
	}
	if len(sigs) == 0 {
		t.Fatalf("%s: empty Signatures table", abiPath)
	}
	return sigs
}

// parseImportsFile returns the function imports declared in a WAT file:
// at top level for a snippet, inside (module ...) for a module. Each
// parameter must be named and each import must be a function import.
func parseImportsFile(t *testing.T, path string, inModule bool) []importFunc {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	forms, err := parseSexprs(src)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if inModule {
		if len(forms) != 1 || forms[0].head() != "module" {
			t.Fatalf("%s: want exactly one (module ...)", path)
		}
		forms = forms[0].list
	}
	var out []importFunc
	for _, f := range forms {
		if f.head() != "import" {
			if !inModule {
				t.Errorf("%s: unexpected form %s (a snippet holds only imports)", filepath.Base(path), f)
			}
			continue
		}
		imp, err := readImport(f)
		if err != nil {
			t.Errorf("%s: %s: %v", filepath.Base(path), f, err)
			continue
		}
		out = append(out, imp)
	}
	if len(out) == 0 {
		t.Fatalf("%s: no imports", path)
	}
	return out
}

func readImport(f sexpr) (importFunc, error) {
	l := f.list
	if len(l) != 4 || !l[1].isString() || !l[2].isString() || l[3].head() != "func" {
		return importFunc{}, errors.New(`want (import "module" "name" (func ...))`)
	}
	imp := importFunc{module: l[1].str(), name: l[2].str()}
	fn := l[3].list[1:]
	if len(fn) > 0 && fn[0].isAtom() && strings.HasPrefix(fn[0].atom, "$") {
		imp.id = fn[0].atom
		fn = fn[1:]
	}
	for _, part := range fn {
		switch part.head() {
		case "param":
			args := part.list[1:]
			if len(args) == 2 && strings.HasPrefix(args[0].atom, "$") {
				imp.params = append(imp.params, param{strings.TrimPrefix(args[0].atom, "$"), args[1].atom})
				continue
			}
			return importFunc{}, fmt.Errorf("%s: want one named parameter per (param $name type)", part)
		case "result":
			for _, r := range part.list[1:] {
				imp.results = append(imp.results, r.atom)
			}
		default:
			return importFunc{}, fmt.Errorf("unexpected %s in func", part)
		}
	}
	for _, ty := range append(paramTypes(imp), imp.results...) {
		if ty != "i32" && ty != "i64" {
			return importFunc{}, fmt.Errorf("value type %q: the ABI uses only i32 and i64", ty)
		}
	}
	return imp, nil
}

func paramTypes(f importFunc) []string {
	var ts []string
	for _, p := range f.params {
		ts = append(ts, p.typ)
	}
	return ts
}

// encodeModule returns the binary of a module importing fs and defining
// what a block must: an exported memory and blockhost_run_v1 () -> i32.
func encodeModule(fs []importFunc) []byte {
	valtype := map[string]byte{"i32": 0x7f, "i64": 0x7e}
	var types, imports [][]byte
	for i, f := range fs {
		ty := []byte{0x60}
		ty = append(ty, uleb(len(f.params))...)
		for _, p := range f.params {
			ty = append(ty, valtype[p.typ])
		}
		ty = append(ty, uleb(len(f.results))...)
		for _, r := range f.results {
			ty = append(ty, valtype[r])
		}
		types = append(types, ty)
		imp := append(name(f.module), name(f.name)...)
		imports = append(imports, append(append(imp, 0x00), uleb(i)...))
	}
	entryType := len(types)
	types = append(types, []byte{0x60, 0x00, 0x01, 0x7f})

	var b bytes.Buffer
	b.Write([]byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00})
	section(&b, 1, vec(types))
	section(&b, 2, vec(imports))
	section(&b, 3, vec([][]byte{uleb(entryType)}))
	section(&b, 5, vec([][]byte{{0x00, 0x01}})) // memory: min 1 page
	section(&b, 7, vec([][]byte{
		append(name(abi.MemoryExport), 0x02, 0x00),
		append(append(name(abi.EntryPointV1), 0x00), uleb(len(fs))...),
	}))
	body := []byte{0x00, 0x41, 0x00, 0x0b} // no locals; i32.const 0; end
	section(&b, 10, vec([][]byte{append(uleb(len(body)), body...)}))
	return b.Bytes()
}

func uleb(n int) []byte {
	var out []byte
	for {
		c := byte(n & 0x7f)
		n >>= 7
		if n == 0 {
			return append(out, c)
		}
		out = append(out, c|0x80)
	}
}

func name(s string) []byte { return append(uleb(len(s)), s...) }

func vec(items [][]byte) []byte {
	out := uleb(len(items))
	for _, it := range items {
		out = append(out, it...)
	}
	return out
}

func section(b *bytes.Buffer, id byte, content []byte) {
	b.WriteByte(id)
	b.Write(uleb(len(content)))
	b.Write(content)
}

// sexpr is a WAT S-expression: an atom (keyword, identifier, number or
// string literal with its quotes) or a list.
type sexpr struct {
	atom   string
	list   []sexpr
	isList bool
}

func (s sexpr) isAtom() bool   { return !s.isList }
func (s sexpr) isString() bool { return !s.isList && strings.HasPrefix(s.atom, `"`) }

// str returns a string literal's bytes; the names checked here have no escapes.
func (s sexpr) str() string { return strings.Trim(s.atom, `"`) }

// head returns the keyword a list starts with, "" for an atom.
func (s sexpr) head() string {
	if !s.isList || len(s.list) == 0 || s.list[0].isList {
		return ""
	}
	return s.list[0].atom
}

func (s sexpr) String() string {
	if !s.isList {
		return s.atom
	}
	var parts []string
	for _, e := range s.list {
		parts = append(parts, e.String())
	}
	return "(" + strings.Join(parts, " ") + ")"
}

// parseSexprs reads the forms of a WAT text, skipping ;; line comments and
// (; block comments ;).
func parseSexprs(src []byte) ([]sexpr, error) {
	p := &sexprParser{src: src}
	var forms []sexpr
	for {
		if err := p.skip(); err != nil {
			return nil, err
		}
		if p.pos >= len(p.src) {
			return forms, nil
		}
		e, err := p.expr()
		if err != nil {
			return nil, err
		}
		forms = append(forms, e)
	}
}

type sexprParser struct {
	src []byte
	pos int
}

func (p *sexprParser) errorf(format string, args ...any) error {
	line := 1 + bytes.Count(p.src[:p.pos], []byte("\n"))
	return fmt.Errorf("line %d: %s", line, fmt.Sprintf(format, args...))
}

// skip moves past white space and comments.
func (p *sexprParser) skip() error {
	for p.pos < len(p.src) {
		switch {
		case strings.ContainsRune(" \t\r\n", rune(p.src[p.pos])):
			p.pos++
		case bytes.HasPrefix(p.src[p.pos:], []byte(";;")):
			if i := bytes.IndexByte(p.src[p.pos:], '\n'); i >= 0 {
				p.pos += i + 1
			} else {
				p.pos = len(p.src)
			}
		case bytes.HasPrefix(p.src[p.pos:], []byte("(;")):
			depth := 0
			for {
				switch {
				case p.pos >= len(p.src):
					return p.errorf("unterminated block comment")
				case bytes.HasPrefix(p.src[p.pos:], []byte("(;")):
					depth++
					p.pos += 2
				case bytes.HasPrefix(p.src[p.pos:], []byte(";)")):
					depth--
					p.pos += 2
				default:
					p.pos++
				}
				if depth == 0 {
					break
				}
			}
		default:
			return nil
		}
	}
	return nil
}

func (p *sexprParser) expr() (sexpr, error) {
	switch c := p.src[p.pos]; c {
	case '(':
		p.pos++
		e := sexpr{isList: true}
		for {
			if err := p.skip(); err != nil {
				return e, err
			}
			if p.pos >= len(p.src) {
				return e, p.errorf("unclosed (")
			}
			if p.src[p.pos] == ')' {
				p.pos++
				return e, nil
			}
			child, err := p.expr()
			if err != nil {
				return e, err
			}
			e.list = append(e.list, child)
		}
	case ')':
		return sexpr{}, p.errorf("unexpected )")
	case '"':
		start := p.pos
		for p.pos++; p.pos < len(p.src); p.pos++ {
			switch p.src[p.pos] {
			case '\\':
				p.pos++
			case '"':
				p.pos++
				return sexpr{atom: string(p.src[start:p.pos])}, nil
			}
		}
		return sexpr{}, p.errorf("unterminated string")
	default:
		start := p.pos
		for p.pos < len(p.src) && !strings.ContainsRune(" \t\r\n()\";", rune(p.src[p.pos])) {
			p.pos++
		}
		return sexpr{atom: string(p.src[start:p.pos])}, nil
	}
}
