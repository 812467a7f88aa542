#!/bin/sh
# build-blocks.sh OUTDIR: builds every Go example block examples/blocks/NAME
# (a directory with a main.go) into OUTDIR/NAME.wasm and copies its
# manifest NAME.yaml beside it — a plugins directory `blockhost serve` can
# load — then copies the committed blocks of the other SDK languages
# (examples/{c,rust,assemblyscript,wat}/*/NAME.wasm with NAME.yaml; `make
# sdk-blocks` rebuilds those). Used by `make examples` and `make run`. GO
# selects the go command.
set -eu

if [ $# -ne 1 ]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi
out=$1
case $out in
/*) ;;
*) out=$(pwd)/$out ;;
esac
cd "$(dirname "$0")/.."
mkdir -p "$out"

for dir in examples/blocks/*/; do
	dir=${dir%/}
	name=$(basename "$dir")
	[ -f "$dir/main.go" ] || continue
	if [ ! -f "$dir/$name.yaml" ]; then
		echo "build-blocks: $dir has no manifest $name.yaml" >&2
		exit 1
	fi
	GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 "${GO:-go}" build -buildmode=c-shared -trimpath \
		-ldflags='-s -w' -o "$out/$name.wasm" "./$dir"
	cp "$dir/$name.yaml" "$out/$name.yaml"
	echo "built $out/$name.wasm"
done

for wasm in examples/c/*/*.wasm examples/rust/*/*.wasm examples/assemblyscript/*/*.wasm examples/wat/*/*.wasm; do
	[ -f "$wasm" ] || continue
	manifest=${wasm%.wasm}.yaml
	if [ ! -f "$manifest" ]; then
		echo "build-blocks: $wasm has no manifest $manifest" >&2
		exit 1
	fi
	cp "$wasm" "$manifest" "$out/"
	echo "copied $out/$(basename "$wasm")"
done
