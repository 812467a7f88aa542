#!/bin/sh
# build-rust.sh [OUTDIR]: builds the Rust example blocks. Each directory
# examples/rust/DIR/ holds a block's source lib.rs (which includes the SDK,
# abi/rust/blockhost.rs) and its manifest NAME.yaml; the block is built as
# NAME.wasm into OUTDIR, or next to its source (the committed location)
# when OUTDIR is not given. Only the .wasm files are written.
#
# The compiler is $RUSTC, default /usr/bin/rustc: Debian's rustc with the
# wasm32-wasi standard library (scripts/install-toolchains.sh rust). The
# build is reproducible: the same bytes from any checkout path.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
rustc=${RUSTC:-/usr/bin/rustc}

if ! command -v "$rustc" >/dev/null 2>&1; then
	echo "build-rust: $rustc not found; run scripts/install-toolchains.sh rust" >&2
	exit 3
fi
sysroot=$("$rustc" --print sysroot 2>/dev/null) || sysroot=
if [ ! -d "$sysroot/lib/rustlib/wasm32-wasi" ]; then
	echo "build-rust: $rustc has no wasm32-wasi standard library; run scripts/install-toolchains.sh rust" >&2
	exit 3
fi

out=
if [ $# -ge 1 ]; then
	mkdir -p "$1"
	out=$(cd "$1" && pwd)
fi

for dir in "$root"/examples/rust/*/; do
	dir=${dir%/}
	[ -f "$dir/lib.rs" ] || continue
	manifest=
	for m in "$dir"/*.yaml; do
		[ -f "$m" ] || continue
		if [ -n "$manifest" ]; then
			echo "build-rust: $dir has more than one manifest" >&2
			exit 1
		fi
		manifest=$m
	done
	if [ -z "$manifest" ]; then
		echo "build-rust: $dir has no manifest NAME.yaml" >&2
		exit 1
	fi
	name=$(basename "$manifest" .yaml)
	dest=${out:-$dir}/$name.wasm
	# Relative source paths and the remapped root keep the checkout's
	# location out of the module.
	(cd "$dir" && "$rustc" --edition 2021 --target wasm32-wasi --crate-type cdylib \
		--crate-name "$name" \
		-C opt-level=s -C lto -C codegen-units=1 -C panic=abort -C strip=symbols \
		--remap-path-prefix "$root=." \
		-o "$dest" lib.rs)
	chmod 644 "$dest"
	echo "built $dest"
done
