#!/usr/bin/env bash
# kvd vs etcd 3.4, same machine, same client load (docs/design.md). A benchmark: it reports
# numbers and never passes or fails on them.
#
#   bench/compare_etcd.sh                     # 3 workloads x 3 connection counts, 10 s each
#   BENCH_SECONDS=5 bench/compare_etcd.sh     # shorter rows
#
# Starts a 3-node kvd cluster (scripts/cluster.sh, temp data dir, non-default ports), loads it,
# stops it; then a 3-node etcd cluster on the same loopback addresses (127.0.0.1-3), loads it
# the same way, stops it. Only one system runs at a time. Prints a Markdown table of ops/s and
# latency per row, and kvd's internals per row (from /metrics) and each system's CPU use.
# Everything it started is stopped on exit, and its temp directory removed (BENCH_KEEP=1 keeps it).
#
# Environment (defaults): BENCH_SECONDS (10) measured seconds per row, BENCH_WARMUP (2),
# BENCH_CONNS ("16 64 256"), BENCH_WORKLOADS ("put get get-stale"), BENCH_KEYS (10000),
# BENCH_VALUE_SIZE (100), BENCH_THREADS (1) loadgen threads, BENCH_KVD_HTTP_PORT (24080),
# BENCH_KVD_PEER_PORT (24090), BENCH_ETCD_CLIENT_PORT (24379), BENCH_ETCD_PEER_PORT (24380),
# BENCH_SYSTEMS ("kvd etcd"), KVD_BUILD_DIR (build).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
# shellcheck source=SCRIPTDIR/etcd_lib.sh
. bench/etcd_lib.sh  # etcd_install, etcd_start, etcd_stop, ETCD_PIDS

seconds=${BENCH_SECONDS:-10}
warmup=${BENCH_WARMUP:-2}
conns_list=${BENCH_CONNS:-16 64 256}
workloads=${BENCH_WORKLOADS:-put get get-stale}
keys=${BENCH_KEYS:-10000}
value_size=${BENCH_VALUE_SIZE:-100}
threads=${BENCH_THREADS:-1}
kvd_http=${BENCH_KVD_HTTP_PORT:-24080}
kvd_peer=${BENCH_KVD_PEER_PORT:-24090}
etcd_client=${BENCH_ETCD_CLIENT_PORT:-24379}
etcd_peer=${BENCH_ETCD_PEER_PORT:-24380}
systems=${BENCH_SYSTEMS:-kvd etcd}
build_dir=${KVD_BUILD_DIR:-$root/build}
loadgen=$build_dir/bench/kvd_loadgen
nodes=(1 2 3)

# --- setup -----------------------------------------------------------------------------------
scripts/install-deps.sh
etcd_install
if [ ! -x "$build_dir/cli/kvd" ] || [ ! -x "$loadgen" ]; then
  [ -f "$build_dir/build.ninja" ] ||
    cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$build_dir" --target kvd kvd_loadgen -j1
fi

tmp=$(mktemp -d /tmp/kvd-bench.XXXXXX)
kvd_env=(env KVD_DATA_DIR="$tmp/kvd" KVD_HTTP_PORT="$kvd_http" KVD_PEER_PORT="$kvd_peer"
  KVD_BUILD_DIR="$build_dir")
cleanup() {
  set +e
  if [ -d "$tmp/kvd" ]; then "${kvd_env[@]}" scripts/cluster.sh stop >/dev/null 2>&1; fi
  etcd_stop
  if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "compare_etcd: kept $tmp" >&2; else rm -rf "$tmp"; fi
}
stop_kvd() {  # stops the kvd nodes (scripts/cluster.sh kills by pid file) and waits until gone
  local pids deadline=$((SECONDS + 15))
  read -r -a pids <<<"$(server_pids kvd | tr '\n' ' ')"
  "${kvd_env[@]}" scripts/cluster.sh stop >/dev/null
  while [ "$(cpu_ticks "${pids[@]}")" != 0 ] && ((SECONDS < deadline)); do sleep 0.1; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- per-row measurements ---------------------------------------------------------------------
server_pids() {  # the pids of the running system's servers
  if [ "$1" = kvd ]; then cat "$tmp"/kvd/node*/kvd.pid; else echo "${ETCD_PIDS[@]}"; fi
}
machine_ticks() {  # busy clock ticks of the whole machine (all CPUs) since boot
  awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat
}
cpu_ticks() {  # total user+system clock ticks of the given pids
  local total=0 pid
  for pid in "$@"; do
    [ -r "/proc/$pid/stat" ] || continue
    total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
  done
  echo "$total"
}
metrics_snapshot() {  # file prefix: one file per node
  local i
  for i in "${nodes[@]}"; do curl -fsS "http://127.0.0.$i:$kvd_http/metrics" >"$1.n$i" || true; done
}
metric() {  # file name -> value (0 when absent)
  awk -v m="$2" '$1 == m {v = $2} END {print v + 0}' "$1"
}
kvd_leader() {
  local i
  for i in "${nodes[@]}"; do
    if grep -q '^kvd_shard_is_leader{shard="1"} 1' "$1.n$i" 2>/dev/null; then echo "$i" && return; fi
  done
  echo 1
}

run_row() {  # system workload connections
  local system=$1 op=$2 conns=$3 endpoints="" target_port i
  target_port=$([ "$system" = kvd ] && echo "$kvd_http" || echo "$etcd_client")
  for i in "${nodes[@]}"; do endpoints+="${endpoints:+,}127.0.0.$i:$target_port"; done
  local tag="$system-$op-$conns" pids ticks0 ticks1 machine0 machine1 t0 t1
  read -r -a pids <<<"$(server_pids "$system" | tr '\n' ' ')"
  [ "$system" = kvd ] && metrics_snapshot "$tmp/m/$tag.before"
  ticks0=$(cpu_ticks "${pids[@]}")
  machine0=$(machine_ticks)
  t0=$(date +%s.%N)
  local TIMEFORMAT='%U %S'  # bash's `time`: the load generator's own CPU seconds
  { time "$loadgen" --target "$system" --endpoints "$endpoints" -c "$conns" --op "$op" \
    --keys "$keys" --value-size "$value_size" --warmup "$warmup" -d "$seconds" \
    --threads "$threads" --populate skip --json --label "$tag" >>"$tmp/results.jsonl" \
    2>"$tmp/m/$tag.err"; } 2>"$tmp/m/$tag.time"
  t1=$(date +%s.%N)
  ticks1=$(cpu_ticks "${pids[@]}")
  machine1=$(machine_ticks)
  [ "$system" = kvd ] && metrics_snapshot "$tmp/m/$tag.after"
  awk -v a="$ticks0" -v b="$ticks1" -v t0="$t0" -v t1="$t1" -v hz="$(getconf CLK_TCK)" \
    'BEGIN {printf "%.0f\n", 100 * (b - a) / hz / (t1 - t0)}' >"$tmp/m/$tag.cpu"
  awk -v t0="$t0" -v t1="$t1" '{printf "%.0f\n", 100 * ($1 + $2) / (t1 - t0)}' \
    "$tmp/m/$tag.time" >"$tmp/m/$tag.lgcpu"
  awk -v t0="$t0" -v t1="$t1" 'BEGIN {print t1 - t0}' >"$tmp/m/$tag.wall"
  # Whatever else ran on the machine meanwhile (other users, builds): the noise indicator.
  awk -v a="$machine0" -v b="$machine1" -v t0="$t0" -v t1="$t1" -v hz="$(getconf CLK_TCK)" \
    -v ours="$(($(cat "$tmp/m/$tag.cpu") + $(cat "$tmp/m/$tag.lgcpu")))" \
    'BEGIN {o = 100 * (b - a) / hz / (t1 - t0) - ours; printf "%.0f\n", o < 0 ? 0 : o}' \
    >"$tmp/m/$tag.other"
  cat "$tmp/m/$tag.err" >&2
  require_alive "$system"
  echo "  $(tail -n 1 "$tmp/results.jsonl" | cut -c1-160)..." >&2
}

run_system() {
  local system=$1 op conns endpoints="" i port
  port=$([ "$system" = kvd ] && echo "$kvd_http" || echo "$etcd_client")
  for i in "${nodes[@]}"; do endpoints+="${endpoints:+,}127.0.0.$i:$port"; done
  for op in $workloads; do
    if [ "$op" != put ] && [ ! -f "$tmp/$system.populated" ]; then
      "$loadgen" --target "$system" --endpoints "$endpoints" -c 64 --op put --keys "$keys" \
        --value-size "$value_size" --populate only && touch "$tmp/$system.populated"
    fi
    for conns in $conns_list; do run_row "$system" "$op" "$conns"; done
  done
}

# Refuses to start when anything already listens on a port we are about to use: the readiness
# checks would otherwise happily benchmark someone else's servers.
require_free_ports() {
  local i port
  for i in "${nodes[@]}"; do
    for port in "$@"; do
      if (exec 3<>"/dev/tcp/127.0.0.$i/$port") 2>/dev/null; then
        echo "compare_etcd: 127.0.0.$i:$port is already in use; pick other ports" \
          "(BENCH_KVD_HTTP_PORT, BENCH_KVD_PEER_PORT, BENCH_ETCD_CLIENT_PORT, BENCH_ETCD_PEER_PORT)" >&2
        exit 1
      fi
    done
  done
}
require_alive() {  # system: every server we started still runs
  local pid
  for pid in $(server_pids "$1"); do
    kill -0 "$pid" 2>/dev/null || { echo "compare_etcd: a $1 server (pid $pid) died; logs in $tmp" >&2; exit 1; }
  done
}

# --- run --------------------------------------------------------------------------------------
mkdir -p "$tmp/m"
: >"$tmp/results.jsonl"
for system in $systems; do
  echo "compare_etcd: $system: ${seconds}s per row (warmup ${warmup}s), connections $conns_list" >&2
  if [ "$system" = kvd ]; then
    require_free_ports "$kvd_http" "$kvd_peer"
    "${kvd_env[@]}" scripts/cluster.sh start >/dev/null
    require_alive kvd
    run_system kvd
    require_alive kvd
    stop_kvd
  else
    require_free_ports "$etcd_client" "$etcd_peer"
    etcd_start "$tmp/etcd" "$etcd_client" "$etcd_peer" "kvd-bench-$$" || exit 1
    require_alive etcd
    run_system etcd
    require_alive etcd
    etcd_stop
  fi
done

# --- report -----------------------------------------------------------------------------------
field() {  # label key -> first (top-level) value of key in that label's JSON line
  grep -F "\"label\":\"$1\"" "$tmp/results.jsonl" | grep -o "\"$2\":[0-9.]*" | head -n 1 |
    cut -d: -f2 || true
}
cpu_cols() {  # op conns -> "kvd | loadgen | other | etcd | loadgen | other" CPU percentages
  local s x out=""
  for s in kvd etcd; do
    for x in cpu lgcpu other; do out+="${out:+ | }$(cat "$tmp/m/$s-$1-$2.$x" 2>/dev/null || echo -)"; done
  done
  echo "$out"
}
lat() { echo "$(field "$1" p50) / $(field "$1" p99) / $(field "$1" p999)"; }
echo
echo "| workload | conns | kvd ops/s | etcd ops/s | kvd/etcd | kvd p50 / p99 / p99.9 ms | etcd p50 / p99 / p99.9 ms | errors kvd / etcd |"
echo "|---|---:|---:|---:|---:|---|---|---|"
for op in $workloads; do
  for conns in $conns_list; do
    k="kvd-$op-$conns" e="etcd-$op-$conns"
    ratio=$(awk -v a="$(field "$k" ops_per_sec)" -v b="$(field "$e" ops_per_sec)" \
      'BEGIN {if (b > 0) printf "%.2f", a / b; else print "-"}')
    echo "| $op | $conns | $(field "$k" ops_per_sec) | $(field "$e" ops_per_sec) | $ratio |" \
      "$(lat "$k") | $(lat "$e") | $(field "$k" error_count) / $(field "$e" error_count) |"
  done
done
echo
echo "kvd internals per row, leader node (from /metrics deltas over warmup + measured run);"
echo "CPU % = CPU time / wall time (2 cores = 200%) of the three servers, of the load generator, and"
echo "of everything else on the machine during the row (other: noise from other users):"
echo
echo "| workload | conns | fsyncs/s | entries/fsync | mean fsync ms | fsync busy % | rounds/fsync | kvd CPU | loadgen | other | etcd CPU | loadgen | other |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for op in $workloads; do
  for conns in $conns_list; do
    tag="kvd-$op-$conns" b="$tmp/m/kvd-$op-$conns.before" a="$tmp/m/kvd-$op-$conns.after"
    if [ ! -f "$a.n1" ]; then
      echo "| $op | $conns | - | - | - | - | - | $(cpu_cols "$op" "$conns") |"
      continue
    fi
    n=$(kvd_leader "$a")
    d() { awk -v x="$(metric "$a.n$n" "$1")" -v y="$(metric "$b.n$n" "$1")" 'BEGIN {print x - y}'; }
    wall=$(cat "$tmp/m/$tag.wall")
    awk -v f="$(d kvd_fsyncs_total)" -v e="$(d kvd_persisted_entries_total)" \
      -v fs="$(d kvd_fsync_seconds_total)" -v r="$(d kvd_driver_rounds_total)" -v w="$wall" \
      -v op="$op" -v c="$conns" -v cpu="$(cpu_cols "$op" "$conns")" \
      'BEGIN {printf "| %s | %d | %.0f | %.1f | %.2f | %.0f | %.2f | %s |\n", op, c, f / w,
              (f > 0 ? e / f : 0), (f > 0 ? 1000 * fs / f : 0), 100 * fs / w, (f > 0 ? r / f : 0),
              cpu}'
  done
done
echo
echo "raw JSON lines: $tmp/results.jsonl (set BENCH_KEEP=1 to keep)"
