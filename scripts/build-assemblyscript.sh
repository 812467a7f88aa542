#!/bin/sh
# build-assemblyscript.sh [OUTDIR]: builds every AssemblyScript example
# block examples/assemblyscript/NAME/ — a directory holding the source
# NAME.ts and the manifest BLOCK.yaml, BLOCK being NAME or NAME_as (the
# conformance block is conformance_as) — into OUTDIR/BLOCK.wasm. Without
# OUTDIR each block is built in place, next to its source: the committed
# location. Prints "built PATH" per block; exits 3 when the compiler is
# missing.
#
# The compiler is the one pinned in abi/assemblyscript/package-lock.json
# (scripts/install-toolchains.sh assemblyscript installs it), with the SDK's
# options in abi/assemblyscript/asconfig.json. The build is reproducible:
# asc runs from the repository root on relative paths, and emits no debug
# information or names.
set -eu

out=
if [ $# -ge 1 ]; then
	case $1 in
	/*) out=$1 ;;
	*) out=$(pwd)/$1 ;;
	esac
fi
cd "$(dirname "$0")/.."
root=$(pwd)

asc=abi/assemblyscript/node_modules/.bin/asc
if [ ! -x "$asc" ]; then
	echo "build-assemblyscript: $asc not found: run scripts/install-toolchains.sh assemblyscript" >&2
	exit 3
fi
if ! command -v node >/dev/null 2>&1; then
	echo "build-assemblyscript: node not found: run scripts/install-toolchains.sh assemblyscript" >&2
	exit 3
fi

if [ -n "$out" ]; then
	mkdir -p "$out"
fi

for dir in examples/assemblyscript/*/; do
	[ -d "$dir" ] || continue
	dir=${dir%/}
	name=$(basename "$dir")
	# The manifest NAME.yaml or, for the conformance block, conformance_as.yaml.
	manifest=
	for m in "$dir/$name.yaml" "$dir/${name}_as.yaml"; do
		if [ -f "$m" ]; then
			manifest=$m
			break
		fi
	done
	if [ -z "$manifest" ]; then
		echo "build-assemblyscript: $dir has no manifest $name.yaml or ${name}_as.yaml" >&2
		exit 1
	fi
	block=$(basename "$manifest" .yaml)
	src=$dir/$name.ts
	if [ ! -f "$src" ]; then
		echo "build-assemblyscript: $dir has no source $name.ts" >&2
		exit 1
	fi
	dest=${out:-$dir}/$block.wasm
	"$asc" "$src" --config abi/assemblyscript/asconfig.json --outFile "$dest.tmp"
	mv "$dest.tmp" "$dest"
	case $dest in
	/*) echo "built $dest" ;;
	*) echo "built $root/$dest" ;;
	esac
done
