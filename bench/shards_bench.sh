#!/usr/bin/env bash
# Multi-Raft costs (docs/design.md, Sharding): what idle shards cost, and whether more shards
# keep or raise write throughput. A benchmark: it reports numbers and never passes or fails.
#
#   bench/shards_bench.sh idle            # 3 nodes x 1,000 idle shards: CPU per node, quiescence on and off
#   bench/shards_bench.sh put             # put ops/s, 1 shard vs 64 shards, at 64 and 256 connections
#   bench/shards_bench.sh                 # both
#
# Each configuration starts a fresh 3-node cluster (scripts/cluster.sh, a temp data dir,
# non-default ports), measures, and stops it; one cluster runs at a time. Besides each number
# it prints the CPU that everything else on the machine used meanwhile (the noise).
#
# Environment (defaults): BENCH_IDLE_SHARDS (1000), BENCH_IDLE_SECONDS (20), BENCH_SETTLE (15)
# seconds between "every shard has a leader" and measuring, BENCH_SECONDS (10) per put row,
# BENCH_WARMUP (2), BENCH_CONNS ("64 256"), BENCH_PUT_SHARDS ("1 64"), BENCH_KEYS (10000),
# BENCH_VALUE_SIZE (100), BENCH_HTTP_PORT (25080), BENCH_PEER_PORT (25090), KVD_BUILD_DIR (build).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

what=${1:-all}
idle_shards=${BENCH_IDLE_SHARDS:-1000}
idle_seconds=${BENCH_IDLE_SECONDS:-20}
settle=${BENCH_SETTLE:-15}
seconds=${BENCH_SECONDS:-10}
warmup=${BENCH_WARMUP:-2}
conns_list=${BENCH_CONNS:-64 256}
put_shards=${BENCH_PUT_SHARDS:-1 64}
keys=${BENCH_KEYS:-10000}
value_size=${BENCH_VALUE_SIZE:-100}
http_port=${BENCH_HTTP_PORT:-25080}
peer_port=${BENCH_PEER_PORT:-25090}
build_dir=${KVD_BUILD_DIR:-$root/build}
loadgen=$build_dir/bench/kvd_loadgen
hz=$(getconf CLK_TCK)

scripts/install-deps.sh
if [ ! -x "$build_dir/cli/kvd" ] || [ ! -x "$loadgen" ]; then
  [ -f "$build_dir/build.ninja" ] ||
    cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$build_dir" --target kvd kvd_loadgen -j1
fi

tmp=$(mktemp -d /tmp/kvd-shards-bench.XXXXXX)
cluster_env() {  # shards extra-args -> the environment scripts/cluster.sh reads
  echo KVD_DATA_DIR="$tmp/data" KVD_HTTP_PORT="$http_port" KVD_PEER_PORT="$peer_port" \
    KVD_BUILD_DIR="$build_dir" KVD_SHARDS="$1" KVD_EXTRA_ARGS="$2"
}
stop_cluster() {
  [ -d "$tmp/data" ] || return 0
  env KVD_DATA_DIR="$tmp/data" KVD_HTTP_PORT="$http_port" KVD_PEER_PORT="$peer_port" \
    KVD_BUILD_DIR="$build_dir" scripts/cluster.sh stop >/dev/null 2>&1 || true
  rm -rf "$tmp/data"
}
cleanup() {
  stop_cluster
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_cluster() {  # shards extra-args
  # shellcheck disable=SC2046
  env $(cluster_env "$1" "$2") scripts/cluster.sh start >"$tmp/start.log" 2>&1 ||
    { cat "$tmp/start.log" >&2; exit 1; }
  # Every shard has a leader in the directory (the meta shard committed it and every leader
  # reported itself).
  local deadline=$((SECONDS + 120)) missing
  while :; do
    missing=$(curl -fsS "http://127.0.0.1:$http_port/v1/directory" 2>/dev/null |
      grep -o '"leader":0' | wc -l || true)
    if curl -fsS "http://127.0.0.1:$http_port/v1/directory" >/dev/null 2>&1 && [ "$missing" = 0 ]; then
      break
    fi
    if ((SECONDS > deadline)); then echo "shards_bench: leaders missing after 120 s" >&2; exit 1; fi
    sleep 1
  done
}
pids() { cat "$tmp"/data/node*/kvd.pid; }
proc_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
machine_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
metric() {  # node metric -> value
  curl -fsS "http://127.0.0.$1:$http_port/metrics" | awk -v m="$2" '$1 == m {v = $2} END {print v + 0}'
}

idle_row() {  # label extra-args
  start_cluster "$idle_shards" "$2"
  sleep "$settle"
  local -a p t0 t1
  read -r -a p <<<"$(pids | tr '\n' ' ')"
  local i m0 m1 w0 w1
  for i in "${!p[@]}"; do t0[i]=$(proc_ticks "${p[i]}"); done
  m0=$(machine_ticks)
  w0=$(date +%s.%N)
  sleep "$idle_seconds"
  for i in "${!p[@]}"; do t1[i]=$(proc_ticks "${p[i]}"); done
  m1=$(machine_ticks)
  w1=$(date +%s.%N)
  local line="| $1 | $idle_shards |" ours=0 pct
  for i in "${!p[@]}"; do
    pct=$(awk -v a="${t0[i]}" -v b="${t1[i]}" -v w0="$w0" -v w1="$w1" -v hz="$hz" \
      'BEGIN {printf "%.2f", 100 * (b - a) / hz / (w1 - w0)}')
    line+=" $pct% |"
    ours=$((ours + t1[i] - t0[i]))
  done
  line+=" $(metric 1 kvd_quiesced_replicas) |"
  line+=" $(awk -v a="$m0" -v b="$m1" -v o="$ours" -v w0="$w0" -v w1="$w1" -v hz="$hz" \
    'BEGIN {x = 100 * (b - a - o) / hz / (w1 - w0); printf "%.0f%%", x < 0 ? 0 : x}') |"
  echo "$line"
  stop_cluster
}

put_row() {  # shards conns
  local endpoints="127.0.0.1:$http_port,127.0.0.2:$http_port,127.0.0.3:$http_port"
  local m0 m1 w0 w1 out
  m0=$(machine_ticks)
  w0=$(date +%s.%N)
  out=$("$loadgen" --target kvd --endpoints "$endpoints" -c "$2" --op put --keys "$keys" \
    --value-size "$value_size" --warmup "$warmup" -d "$seconds" --populate skip --json \
    --label "shards=$1 c=$2" 2>"$tmp/loadgen.err") || { cat "$tmp/loadgen.err" >&2; exit 1; }
  m1=$(machine_ticks)
  w1=$(date +%s.%N)
  local ops p50 p99 errors
  # The first of each is the whole run's (per-operation figures follow in "by_op").
  ops=$(grep -o '"ops_per_sec":[0-9.]*' <<<"$out" | head -1 | awk -F: '{printf "%.0f", $2}')
  p50=$(grep -o '"p50":[0-9.]*' <<<"$out" | head -1 | awk -F: '{printf "%.1f", $2}')
  p99=$(grep -o '"p99":[0-9.]*' <<<"$out" | head -1 | awk -F: '{printf "%.1f", $2}')
  errors=$(grep -o '"error_count":[0-9]*' <<<"$out" | head -1 | awk -F: '{print $2 + 0}')
  echo "| $1 | $2 | $ops | $p50 | $p99 | $errors | $(awk -v a="$m0" -v b="$m1" -v w0="$w0" \
    -v w1="$w1" -v hz="$hz" 'BEGIN {printf "%.0f%%", 100 * (b - a) / hz / (w1 - w0)}') |"
}

echo "kvd shards bench, $(date -u +%FT%TZ), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$what" = all ] || [ "$what" = idle ]; then
  echo
  echo "Idle: 3 nodes, every shard with a leader, then ${idle_seconds} s with no requests."
  echo
  echo "| quiescence | shards | node 1 CPU | node 2 CPU | node 3 CPU | replicas quiesced (node 1) | rest of machine |"
  echo "|---|---|---|---|---|---|---|"
  idle_row on ""
  idle_row off "--quiesce=false"
fi
if [ "$what" = all ] || [ "$what" = put ]; then
  echo
  echo "Put throughput: 3 nodes, R = 3, ${value_size}-byte values, ${keys} keys, ${seconds} s per row."
  echo
  echo "| shards | connections | ops/s | p50 ms | p99 ms | errors | machine CPU (2 cores = 200%) |"
  echo "|---|---|---|---|---|---|---|"
  for s in $put_shards; do
    start_cluster "$s" ""
    for c in $conns_list; do put_row "$s" "$c"; done
    stop_cluster
  done
fi
