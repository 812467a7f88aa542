#!/bin/sh
# install-wabt.sh: makes wabt's wat2wasm available (Debian/Ubuntu package
# "wabt", through apt-get), doing nothing if it already is.
#
# Only needed to regenerate the committed fixtures of tests/fixtures from
# their .wat sources (tests never need it); from the repository root:
#
#   scripts/install-wabt.sh && for f in tests/fixtures/*.wat; do wat2wasm "$f" -o "${f%.wat}.wasm"; done
#
# (that is `make fixtures`). notwasm.wasm has no source: it is plain text
# on purpose.
set -eu

if command -v wat2wasm >/dev/null 2>&1; then
	exit 0
fi
sudo=
if [ "$(id -u)" -ne 0 ]; then
	sudo=sudo
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq wabt >/dev/null
command -v wat2wasm >/dev/null
