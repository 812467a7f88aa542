#!/bin/sh
# build-c.sh [OUTDIR]: builds every C example block. Each directory
# examples/c/DIR/ holds the block's C sources (*.c) and its manifest
# NAME.yaml; the block is built into OUTDIR/NAME.wasm (default: in place,
# examples/c/DIR/NAME.wasm, the committed file). Nothing else is written.
#
# The build is reproducible: the same sources and toolchain give the same
# bytes from any checkout path. CC selects the compiler (default clang);
# the toolchain is installed by scripts/install-toolchains.sh c.
set -eu

if [ $# -gt 1 ]; then
	echo "usage: $0 [OUTDIR]" >&2
	exit 2
fi
out=
if [ $# -eq 1 ]; then
	out=$1
	case $out in
	/*) ;;
	*) out=$(pwd)/$out ;;
	esac
fi
cd "$(dirname "$0")/.."
root=$(pwd)
cc=${CC:-clang}

missing() {
	echo "build-c: $1 not found: run scripts/install-toolchains.sh c" >&2
	exit 3
}

command -v "$cc" >/dev/null 2>&1 || missing "$cc"
command -v wasm-ld >/dev/null 2>&1 || missing "wasm-ld (lld)"
# clang prints the bare name when it cannot find a file for the target.
for f in crt1-reactor.o libc.a; do
	p=$("$cc" --target=wasm32-wasi -print-file-name="$f")
	[ -f "$p" ] || missing "wasi-libc ($f)"
done
p=$("$cc" --target=wasm32-wasi -print-libgcc-file-name)
[ -f "$p" ] || missing "clang's wasm32 runtime ($(basename "$p"))"

# A WASI reactor (exports _initialize, no _start), optimised, without debug
# info, names or source paths; a 64 KiB stack placed below the data, so an
# overflow traps instead of overwriting it. The memory has no maximum: the
# host's limit (or the manifest's limits.memory_pages) applies.
set -- --target=wasm32-wasi -mexec-model=reactor -std=c11 -O2 \
	-Wall -Wextra -Werror \
	-ffile-prefix-map="$root"/= \
	-Iabi/c \
	-Wl,--strip-all -Wl,-z,stack-size=65536 -Wl,--stack-first

for dir in examples/c/*/; do
	dir=${dir%/}
	[ -d "$dir" ] || continue
	manifest=
	for m in "$dir"/*.yaml; do
		[ -f "$m" ] || continue
		if [ -n "$manifest" ]; then
			echo "build-c: $dir has more than one manifest" >&2
			exit 1
		fi
		manifest=$m
	done
	if [ -z "$manifest" ]; then
		echo "build-c: $dir has no manifest NAME.yaml" >&2
		exit 1
	fi
	name=$(basename "$manifest" .yaml)
	dest=${out:-$root/$dir}/$name.wasm
	mkdir -p "$(dirname "$dest")"
	# Sorted by the shell's glob, in the C locale: a stable link order.
	srcs=$(LC_ALL=C; for s in "$dir"/*.c; do [ -f "$s" ] && printf '%s\n' "$s"; done)
	if [ -z "$srcs" ]; then
		echo "build-c: $dir has no .c source" >&2
		exit 1
	fi
	# shellcheck disable=SC2086
	if ! "$cc" "$@" -o "$dest.tmp" $srcs; then
		rm -f "$dest.tmp"
		echo "build-c: building $dir failed" >&2
		exit 1
	fi
	mv "$dest.tmp" "$dest"
	echo "built $dest"
done
