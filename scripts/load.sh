#!/bin/sh
# load.sh [REPORT_DIR] [LOADGEN FLAGS...]: the full load suite (W3-6.1).
# Builds bin/blockhost and bin/loadgen, builds the blocks the suite needs
# into build/loadgen-blocks, then runs `loadgen --scenario suite`: a bare
# net/http echo server and the HTTP API under the same closed loop, the
# HTTP API's latency at half its maximum (open loop), small, large (10 and
# 100 MB) and mixed payloads, and the Go API in-process, CP2 on and off.
# Writes REPORT_DIR/report.md (default docs/reports/load) with SVG charts
# and results.json, and exits non-zero when a W3-6.1 floor is missed
# (benchmark targets are reported, pass or fail). Takes
# about 5 minutes. GO selects the go command.
set -eu

cd "$(dirname "$0")/.."
out=docs/reports/load
if [ $# -gt 0 ]; then
	out=$1
	shift
fi
GO=${GO:-go}
"$GO" build -o bin/blockhost ./cmd/host
"$GO" build -o bin/loadgen ./cmd/loadgen
exec bin/loadgen --scenario suite --server-bin bin/blockhost --blocks build/loadgen-blocks --rebuild \
	--report "$out" "$@"
