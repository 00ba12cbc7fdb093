#!/usr/bin/env bash
# Runs the Go benchmarks BENCH_COUNT times (default 5) and prints the
# median of each with benchstat (built by make tools).
# Usage: scripts/bench.sh [package pattern]   (default: every module)
set -euo pipefail
cd "$(dirname "$0")/.."
count=${BENCH_COUNT:-5}
pattern=${1:-github.com/strata-log/strata/...}
out=$(mktemp)
go test -run='^$' -bench=. -benchmem -count="$count" "$pattern" | tee "$out"
if command -v benchstat >/dev/null; then
	echo
	benchstat "$out"
fi
