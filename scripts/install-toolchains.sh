#!/bin/sh
# install-toolchains.sh [c] [rust] [assemblyscript] [wat]: installs what
# rebuilding the committed non-Go example blocks needs, doing nothing for a
# toolchain that is already there. No argument means all four.
#
#   c               clang, wasm-ld (lld), wasi-libc and clang's wasm32
#                   runtime, from Debian's packages
#   rust            Debian's rustc (/usr/bin/rustc) and its wasm32-wasi
#                   standard library
#   assemblyscript  the AssemblyScript compiler from npm, at the version
#                   pinned in abi/assemblyscript/package-lock.json
#                   (needs Node.js 20 or later and npm)
#   wat             wabt's wat2wasm (scripts/install-wabt.sh)
#
# Tests never need these: the built .wasm files are committed, and
# `make test` needs only Go. `make sdk-blocks` rebuilds them and
# `make check-sdk-blocks` checks that they still match their sources.
set -eu

cd "$(dirname "$0")/.."

sudo=
if [ "$(id -u)" -ne 0 ]; then
	sudo=sudo
fi

have_pkg() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

apt_install() {
	missing=
	for p in "$@"; do
		have_pkg "$p" || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	echo "install-toolchains: apt-get install$missing" >&2
	$sudo apt-get update -qq
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

want=${*:-c rust assemblyscript wat}
for t in $want; do
	case $t in
	c)
		apt_install clang lld wasi-libc libclang-rt-14-dev-wasm32
		;;
	rust)
		apt_install rustc libstd-rust-dev-wasm32
		;;
	assemblyscript)
		if ! command -v npm >/dev/null 2>&1; then
			apt_install nodejs npm
		fi
		# The pinned compiler needs Node.js 20 or later.
		major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
		if [ "$major" -lt 20 ]; then
			echo "install-toolchains: AssemblyScript needs Node.js >= 20; this machine has $(node --version 2>/dev/null || echo none)" >&2
			exit 1
		fi
		if [ ! -x abi/assemblyscript/node_modules/.bin/asc ]; then
			(cd abi/assemblyscript && npm ci --no-audit --no-fund --loglevel=error)
		fi
		;;
	wat)
		scripts/install-wabt.sh
		;;
	*)
		echo "install-toolchains: unknown toolchain $t (want c, rust, assemblyscript or wat)" >&2
		exit 2
		;;
	esac
done
