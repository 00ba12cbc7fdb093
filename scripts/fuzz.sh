#!/usr/bin/env bash
# Runs every fuzz target in the workspace for a bounded time each.
# Usage: scripts/fuzz.sh [FUZZTIME]   (default 15s)
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-15s}
mapfile -t files < <(grep -rl --include='*_test.go' '^func Fuzz' pkg services cmd tests 2>/dev/null || true)
if [ ${#files[@]} -eq 0 ]; then
	echo "no fuzz targets" >&2
	exit 1
fi
for f in "${files[@]}"; do
	dir=./$(dirname "$f")
	for target in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //'); do
		echo "== $dir $target ($fuzztime)"
		go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" "$dir"
	done
done
