package testblocks

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/sandbox"
)

// The blocks every caller of Dir may rely on.
var wantBlocks = []string{
	"noop", "text_uppercase",
	"echo", "fail", "sleep", "loop", "panic", "membomb", "flood", "badptr", "handles",
}

// hostSignatures are the ABI v1 signatures of module "blockhost" (ABI.md):
// 'i' is i32, 'I' is i64.
var hostSignatures = map[string]string{
	abi.FnInputLen: "ii>I", abi.FnInputRead: "iiIii>i", abi.FnInputOpen: "ii>i",
	abi.FnInputKeys: "ii>i", abi.FnInputsJSON: "ii>i",
	abi.FnOutputSet: "iiii>i", abi.FnOutputOpen: "ii>i", abi.FnOutputFromHandle: "iii>i",
	abi.FnContextGet: "iiii>i", abi.FnConfigGet: "iiii>i", abi.FnLog: "iii>i",
	abi.FnErrorSet: "iiiiii>i", abi.FnLastError: "ii>i",
	abi.FnHandleRead: "iii>i", abi.FnHandleWrite: "iii>i", abi.FnHandleSize: "i>I",
	abi.FnHandleClose: "i>i", abi.FnBufferNew: ">i",
	abi.FnHTTPRequest: "iii>i", abi.FnHTTPResponseMeta: "iii>i",
	abi.FnBlobOpenRead: "ii>i", abi.FnBlobOpenWrite: "ii>i", abi.FnBlobPutFrom: "iii>i",
	abi.FnBlobDelete: "ii>i", abi.FnBlobStat: "iiii>i", abi.FnBlobList: "iiii>i",
}

func TestHostSignaturesCoverABI(t *testing.T) {
	for _, fn := range abi.HostFunctions {
		if _, ok := hostSignatures[fn]; !ok {
			t.Errorf("no signature for %s", fn)
		}
	}
	if len(hostSignatures) != len(abi.HostFunctions) {
		t.Errorf("%d signatures for %d functions", len(hostSignatures), len(abi.HostFunctions))
	}
}

func TestDir(t *testing.T) {
	dir := Dir(t)
	if again := Dir(t); again != dir {
		t.Fatalf("second Dir = %s, want %s", again, dir)
	}
	// A new process finds the finished build instead of building again.
	start := time.Now()
	if again, err := ensure(t); err != nil || again != dir {
		t.Fatalf("ensure = %s, %v", again, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("warm lookup took %v", d)
	}

	names := slices.Clone(wantBlocks)
	found, _ := filepath.Glob(filepath.Join(dir, "*.wasm"))
	for _, f := range found {
		names = append(names, strings.TrimSuffix(filepath.Base(f), ".wasm"))
	}
	slices.Sort(names)
	for _, name := range slices.Compact(names) {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(dir, name+".wasm"))
			if err != nil {
				t.Fatal(err)
			}
			info, err := parseWasm(b)
			if err != nil {
				t.Fatal(err)
			}
			for _, im := range info.imports {
				switch im.module {
				case abi.WASIModule:
				case abi.ModuleName:
					if want := hostSignatures[im.name]; im.sig != want {
						t.Errorf("import blockhost.%s has signature %q, want %q", im.name, im.sig, want)
					}
				default:
					t.Errorf("import %s.%s outside the ABI", im.module, im.name)
				}
			}
			for export, sig := range map[string]string{abi.EntryPointV1: ">i", abi.InitializeExport: ">"} {
				if got, ok := info.funcExports[export]; !ok || got != sig {
					t.Errorf("export %s: signature %q (exported %v), want %q", export, got, ok, sig)
				}
			}
			if !slices.Contains(info.memExports, abi.MemoryExport) {
				t.Errorf("memory not exported (memories %v)", info.memExports)
			}
			if info.memMin > 512 {
				t.Errorf("initial memory %d pages, over the default limit of 512", info.memMin)
			}
			t.Logf("%s: %d KiB, initial memory %d pages", name, len(b)>>10, info.memMin)

			manifest, err := os.ReadFile(filepath.Join(dir, name+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			m, err := sandbox.ParseManifest(manifest, name+".yaml", name)
			if err != nil {
				t.Fatal(err)
			}
			if m.Name != name || len(m.Types) == 0 {
				t.Errorf("manifest %+v", m)
			}
		})
	}
}

func TestCacheDir(t *testing.T) {
	dir := CacheDir(t)
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Fatalf("%s: mode %v, want a 0700 directory", dir, fi.Mode())
	}
	if CacheDir(t) != dir {
		t.Fatal("CacheDir is not fixed")
	}
}

func TestFixtures(t *testing.T) {
	dir := FixturesDir(t)
	wats, _ := filepath.Glob(filepath.Join(dir, "*.wat"))
	if len(wats) < 7 {
		t.Fatalf("%d .wat fixtures in %s", len(wats), dir)
	}
	for _, wat := range wats {
		wasm := strings.TrimSuffix(wat, ".wat") + ".wasm"
		b, err := os.ReadFile(wasm)
		if err != nil {
			t.Errorf("%s has no committed .wasm: %v", filepath.Base(wat), err)
			continue
		}
		if _, err := parseWasm(b); err != nil {
			t.Errorf("%s: %v", filepath.Base(wasm), err)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "notwasm.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parseWasm(b); err == nil {
		t.Error("notwasm.wasm parses as wasm")
	}
	b, _ = os.ReadFile(filepath.Join(dir, "minimal.wasm"))
	info, err := parseWasm(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.imports) != 1 || info.imports[0].name != abi.FnOutputSet || info.imports[0].sig != hostSignatures[abi.FnOutputSet] ||
		info.funcExports[abi.EntryPointV1] != ">i" {
		t.Errorf("minimal.wasm: %+v", info)
	}
}
