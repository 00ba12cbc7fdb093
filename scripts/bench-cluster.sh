#!/usr/bin/env bash
# Runs a fixed set of strata bench scenarios on a fresh strata dev cluster
# (3 controllers and 3 brokers as processes on 127.0.0.1, in a temporary
# data dir), stops it, and writes the results as Markdown tables, with
# the machine they ran on, to OUTPUT (default BENCHMARKS.md).
#
# Usage: scripts/bench-cluster.sh [OUTPUT]
#   BENCH_BIN        where strata, strata-controller and strata-broker are
#                    (default bin/, from make build)
#   BENCH_BASE_PORT  the dev cluster's --base-port (default 29200; its ports
#                    must be free)
#   BENCH_SCALE      multiplies every scenario's record count (default 1;
#                    0.1 for a quick try)
#   BENCH_GO         a benchstat output to add to OUTPUT (make bench passes
#                    the Go benchmarks' medians)
#   BENCH_LOAD_BEFORE  the load average (/proc/loadavg's first 3 fields)
#                    before make bench began, to tell whether other work
#                    shared the machine (default: the load at the start)
#   BENCH_KEEP       when set, keep the data dir, logs and raw results
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-BENCHMARKS.md}
bin=${BENCH_BIN:-bin}
port=${BENCH_BASE_PORT:-29200}
scale=${BENCH_SCALE:-1}
strata="$bin/strata"
for b in strata strata-controller strata-broker; do
	[ -x "$bin/$b" ] || { echo "bench-cluster: no $bin/$b: run make build" >&2; exit 1; }
done

work=$(mktemp -d)
dev_pid=
stop_dev() {
	if [ -n "$dev_pid" ]; then
		kill -TERM "$dev_pid" 2>/dev/null || true
		wait "$dev_pid" || { echo "bench-cluster: strata dev did not stop cleanly; see $work/dev.out" >&2; return 1; }
		dev_pid=
	fi
}
cleanup() {
	stop_dev || true
	if [ -n "${BENCH_KEEP:-}" ]; then
		echo "bench-cluster: kept $work" >&2
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT

started=$(date -u '+%Y-%m-%d %H:%M UTC')
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
load_before=${BENCH_LOAD_BEFORE:-$load_start}
SECONDS=0

# A fresh cluster; strata dev prints its bootstrap servers once every
# broker is ready, or exits 1 after its --start-timeout.
"$strata" dev --data-dir "$work/dev" --base-port "$port" --bin-dir "$bin" >"$work/dev.out" 2>&1 &
dev_pid=$!
servers=
while [ -z "$servers" ]; do
	if ! kill -0 "$dev_pid" 2>/dev/null; then
		cat "$work/dev.out" >&2
		echo "bench-cluster: strata dev exited before the cluster was ready" >&2
		exit 1
	fi
	sleep 0.2
	servers=$(sed -n 's/^bootstrap servers: //p' "$work/dev.out")
done
echo "bench-cluster: dev cluster ready in ${SECONDS}s: $servers" >&2

# n scales a record count by BENCH_SCALE.
n() { awk -v n="$1" -v s="$scale" 'BEGIN { v = int(n * s); print (v < 1 ? 1 : v) }'; }

produce() {
	echo "+ strata bench produce $*" >&2
	"$strata" bench produce --bootstrap-server "$servers" --json "$@" >>"$work/produce.jsonl"
}
consume() {
	echo "+ strata bench consume $*" >&2
	"$strata" bench consume --bootstrap-server "$servers" --json "$@" >>"$work/consume.jsonl"
}

# The scenarios: latency at a fixed moderate rate first, while the
# cluster is quiet (the runs as fast as possible leave the brokers with
# work for a while after); then throughput as fast as
# possible (1 KiB and 100 B records; one replica with acks=1, three with
# acks=all; lz4; three producers); then reading back.
rf1=(--partitions 6 --replication-factor 1 --acks 1)
rf3=(--partitions 6 --replication-factor 3 --acks all)
produce --topic 1k-rf3-acksall-1000rps --num-records "$(n 30000)" --record-size 1024 "${rf3[@]}" --throughput 1000
produce --topic 100b-rf3-acksall-10000rps --num-records "$(n 200000)" --record-size 100 "${rf3[@]}" --throughput 10000
produce --topic 1k-rf1-acks1 --num-records "$(n 500000)" --record-size 1024 "${rf1[@]}"
produce --topic 1k-rf3-acksall --num-records "$(n 300000)" --record-size 1024 "${rf3[@]}"
produce --topic 1k-rf3-acksall-lz4 --num-records "$(n 300000)" --record-size 1024 "${rf3[@]}" --compression-type lz4
produce --topic 1k-rf3-acksall-3producers --num-records "$(n 300000)" --record-size 1024 "${rf3[@]}" --producers 3
produce --topic 100b-rf1-acks1 --num-records "$(n 2000000)" --record-size 100 "${rf1[@]}"
produce --topic 100b-rf3-acksall --num-records "$(n 1000000)" --record-size 100 "${rf3[@]}"
consume --topic 1k-rf1-acks1 --num-records "$(n 500000)"
consume --topic 1k-rf3-acksall --num-records "$(n 300000)"
consume --topic 1k-rf3-acksall-3producers --num-records "$(n 300000)" --consumers 3
consume --topic 100b-rf3-acksall --num-records "$(n 1000000)"

stop_dev
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
took=$SECONDS

cpus=$(grep -c '^processor' /proc/cpuinfo)
model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain 2>/dev/null)" ]; then
	commit+=" with uncommitted changes"
fi
# Before the benchmarks began, a 1-minute load above half the CPUs means
# other work shared the machine.
loaded=
if awk -v a="$load_before" -v c="$cpus" 'BEGIN { split(a, x, " "); exit !(x[1] > c / 2) }'; then
	loaded="**The machine was shared**: other work kept it busy (a load of ${load_before%% *} on
$cpus CPUs before the benchmarks began), so these figures are lower and noisier
than a quiet machine's; the latency tails (p99 and up) show the waits for a
CPU most."
fi
loads="before $load_before"
if [ "$load_start" != "$load_before" ]; then
	loads+="; before the cluster runs $load_start"
fi
loads+="; after $load_after"

{
	cat <<EOF
# Benchmarks

Written by \`make bench\` (\`scripts/bench-cluster.sh\`) on $started, at commit
$commit; the cluster scenarios took ${took}s. Each run is \`strata bench produce\` or \`strata bench
consume\` (as Kafka's kafka-producer-perf-test and kafka-consumer-perf-test)
against a fresh \`strata dev\` cluster: 3 controllers and 3 brokers as
processes on 127.0.0.1, on the same machine as the benchmark's clients, so
they all share its CPUs. Topics have 6 partitions. MB is 2^20 bytes of
record values (keys and values for consumers); a producer's latency runs
from Send to the acknowledgement (p50 to p99.9 from an HDR histogram).

## Machine

| | |
| --- | --- |
| CPU | $model, $cpus logical CPUs |
| Memory | $mem |
| Kernel | $(uname -sr) |
| Go | $(go version | sed 's/^go version //') |
| Load average (1, 5, 15 min) | $loads |

$loaded

## Producers

In the order they ran. The producers have the SDK's defaults (Kafka's):
linger 5 ms, batches of 16 KiB, a 32 MiB buffer, 5 requests in flight per
broker, idempotence with acks=all. A target rate is in records per second,
for all producers together; "unlimited" sends as fast as the producers may,
so the latency then includes the time records wait in the producer's
buffer.

EOF
	"$strata" bench report --input "$work/produce.jsonl"
	cat <<EOF

## Consumers

Each reads a topic written above from the beginning, right after it was
written: from the brokers' page cache, not from disk. The runs are short
(a few hundred MB each), so these figures vary more than the producers'.

EOF
	"$strata" bench report --input "$work/consume.jsonl"
	if [ -n "${BENCH_GO:-}" ] && [ -s "${BENCH_GO}" ]; then
		cat <<EOF

## Go benchmarks

The medians (benchstat) of the Go benchmarks (\`scripts/bench.sh\`, \`make
bench-go\`), run just before on the same machine: the record batch codec,
the partition log next to raw badger, the controller's state machine and
placement, and in-process clusters (produce, fetch, replication, ISR
rejoin, failover, broker RSS).

<details>
<summary>benchstat output</summary>

\`\`\`
EOF
		cat "$BENCH_GO"
		printf '%s\n\n%s\n' '```' '</details>'
	fi
	cat <<EOF

## Reproduce

\`\`\`sh
make bench            # the Go benchmarks, then these scenarios: rewrites BENCHMARKS.md
make bench-cluster    # these scenarios only
BENCH_SCALE=0.1 make bench-cluster   # a quick try with a tenth of the records
\`\`\`

The scenarios are in \`scripts/bench-cluster.sh\`; each row is one command, e.g.
\`strata bench produce --topic 1k-rf3-acksall --num-records 300000 --record-size 1024
--partitions 6 --replication-factor 3 --acks all\`.
EOF
} | cat -s >"$out"
echo "bench-cluster: wrote $out in ${took}s" >&2
