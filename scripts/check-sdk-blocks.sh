#!/bin/sh
# check-sdk-blocks.sh: checks that every committed .wasm built from a
# non-Go source still matches it: the SDK example blocks of
# examples/{c,rust,assemblyscript,wat} (rebuilt with scripts/build-LANG.sh
# into a temporary directory) and the WAT fixtures of tests/fixtures and
# tests/hostile/testdata. A toolchain that is not installed is reported and
# skipped (scripts/install-toolchains.sh installs them); a mismatch fails.
# `make check-sdk-blocks` runs it.
set -eu

cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail=0
checked=0
for lang in c rust assemblyscript wat; do
	mkdir -p "$tmp/$lang"
	set +e
	scripts/build-"$lang".sh "$tmp/$lang" >"$tmp/$lang.log" 2>&1
	rc=$?
	set -e
	if [ $rc -eq 3 ]; then
		echo "skip  $lang: $(tail -n 1 "$tmp/$lang.log")"
		continue
	fi
	if [ $rc -ne 0 ]; then
		cat "$tmp/$lang.log" >&2
		echo "FAIL  $lang: build failed" >&2
		fail=1
		continue
	fi
	for committed in examples/"$lang"/*/*.wasm; do
		[ -f "$committed" ] || continue
		built="$tmp/$lang/$(basename "$committed")"
		checked=$((checked + 1))
		if cmp -s "$committed" "$built"; then
			echo "ok    $committed"
		else
			echo "FAIL  $committed differs from its source: run make sdk-blocks and commit the result" >&2
			fail=1
		fi
	done
done

if command -v wat2wasm >/dev/null 2>&1; then
	for src in tests/fixtures/*.wat tests/hostile/testdata/*.wat; do
		[ -f "$src" ] || continue
		committed=${src%.wat}.wasm
		checked=$((checked + 1))
		wat2wasm "$src" -o "$tmp/fixture.wasm"
		if cmp -s "$committed" "$tmp/fixture.wasm"; then
			echo "ok    $committed"
		else
			echo "FAIL  $committed differs from $src: run make fixtures and commit the result" >&2
			fail=1
		fi
	done
else
	echo "skip  WAT fixtures: no wat2wasm (scripts/install-toolchains.sh wat)"
fi

echo "$checked committed modules checked"
exit $fail
