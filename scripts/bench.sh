#!/usr/bin/env bash
# Runs Go benchmarks BENCH_COUNT times (default 5) and prints the median of
# each with benchstat (built by make tools), with the machine's load before
# and after: the figures are only comparable on a quiet machine.
#
# Usage: scripts/bench.sh [package pattern ...]   (default: every module)
#   BENCH        the -bench regexp (default: every benchmark)
#   BENCH_COUNT  runs of each benchmark (default 5)
#   BENCH_TIME   the -benchtime (default: go test's 1s)
#   BENCH_OUT    keep the raw output in this file (default: a temporary one)
#
# The data plane of issue #4 (produce next to raw badger, fetch, append
# latency, the broker process's RSS under load), then the partition log
# alone:
#   BENCH='ProduceVsBadger|Fetch$|ProduceLatency|BrokerRSS' scripts/bench.sh ./tests/cluster
#   BENCH='Append|Read' scripts/bench.sh ./services/broker/broker/internal/partlog
set -euo pipefail
cd "$(dirname "$0")/.."
count=${BENCH_COUNT:-5}
bench=${BENCH:-.}
if [ $# -eq 0 ]; then
	set -- github.com/strata-log/strata/...
fi
args=(-run='^$' -bench="$bench" -benchmem -count="$count" -timeout=60m)
if [ -n "${BENCH_TIME:-}" ]; then
	args+=(-benchtime="$BENCH_TIME")
fi
out=${BENCH_OUT:-$(mktemp)}
echo "load before: $(uptime)"
go test "${args[@]}" "$@" | tee "$out"
echo "load after: $(uptime)"
if command -v benchstat >/dev/null; then
	echo
	benchstat "$out"
fi
