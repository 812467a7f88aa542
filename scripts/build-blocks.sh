#!/bin/sh
# build-blocks.sh OUTDIR: builds every Go example block examples/blocks/NAME
# (a directory with a main.go) into OUTDIR/NAME.wasm and copies its
# manifest NAME.yaml beside it — a plugins directory `blockhost serve` can
# load. Used by `make examples` and `make run`. GO selects the go command.
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
