#!/bin/sh
# build-wat.sh [OUTDIR]: builds every WAT example block with wabt's
# wat2wasm. A block is examples/wat/DIR/NAME.wat with its manifest
# NAME.yaml beside it; it is built into OUTDIR/NAME.wasm (default: next to
# its source, the committed location). Only the .wasm files are written.
#
# wat2wasm writes no name section and no source path, so the output is the
# same from any checkout. Install wabt with `scripts/install-toolchains.sh wat`.
set -eu

out=${1:-}
if [ -n "$out" ]; then
	case $out in
	/*) ;;
	*) out=$(pwd)/$out ;;
	esac
fi
cd "$(dirname "$0")/.."

if ! command -v wat2wasm >/dev/null 2>&1; then
	echo "build-wat: wat2wasm (wabt) not found; run scripts/install-toolchains.sh wat" >&2
	exit 3
fi

built=0
for src in examples/wat/*/*.wat; do
	[ -f "$src" ] || continue
	dir=$(dirname "$src")
	name=$(basename "$src" .wat)
	[ -f "$dir/$name.yaml" ] || continue # not a block (no manifest)
	dest=${out:-$dir}
	mkdir -p "$dest"
	wat2wasm "$src" -o "$dest/$name.wasm"
	echo "built $dest/$name.wasm"
	built=$((built + 1))
done
if [ "$built" -eq 0 ]; then
	echo "build-wat: no block under examples/wat/*/ (NAME.wat with NAME.yaml)" >&2
	exit 1
fi
