#!/bin/sh
# chaos.sh [REPORT_DIR]: the chaos suite (W3-6.2), every scenario with the
# CP2 flags off and on: host faults (retry storms, non-retryable errors,
# deadlines, crashing guests), network faults through toxiproxy between the
# http_request block and a real upstream, filesystem faults under the
# fs_blob_* blocks, and `blockhost serve` killed with SIGKILL mid-load.
# Writes REPORT_DIR/report.md (default docs/reports/chaos) and exits
# non-zero when an expectation fails; the report is written either way.
# Takes about 2 minutes. GO selects the go command.
set -eu

cd "$(dirname "$0")/.."
out=${1:-docs/reports/chaos}
case $out in
/*) ;;
*) out=$(pwd)/$out ;;
esac
mkdir -p "$out"
BLOCKHOST_REPORT_DIR=$out exec "${GO:-go}" test -count=1 -tags e2e -timeout 20m -v ./tests/chaos/
