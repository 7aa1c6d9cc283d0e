#!/usr/bin/env bash
# Transactions: kvd vs etcd 3.4, same machine, same client load (bench/README.md, "Transactions:
# txn_bench.sh"). A benchmark: it reports numbers and never passes or fails on them.
#
#   bench/txn_bench.sh                                        # 16/64/256 connections, 10 s a row
#   BENCH_SECONDS=5 BENCH_CONNS=16 BENCH_SYSTEMS=kvd bench/txn_bench.sh   # a quick look
#
# Starts a local 3-node kvd cluster (bench/kvd_lib.sh, as scripts/cluster.sh does: 16 shards x 3
# replicas; temp data dir, non-default ports), runs the rows, stops it; then a 3-member etcd
# cluster on the same addresses (bench/etcd_lib.sh), the same rows, stops it. One system at a time. Rows (kvd_loadgen, all
# three nodes as endpoints, bench/loadgen_txn.h):
#   put        plain puts (kvd PUT /v1/kv/{key}; etcd /v3/kv/put), the baseline
#   txn        one compare + two puts on keys sharing a {tag}: one shard, one Raft entry
#   txn-cross  the same on two keys in different shards: two-phase commit (kvd); etcd has one
#              Raft group, so its txn and txn-cross rows are the same kind of request
# The transaction keys are written once before the first transaction row. Records uptime and the
# machine's CPU busy before and after, and per row the CPU of the servers, of the load generator
# and of everything else ("other": the noise), and kvd's conflict retries (/metrics). Stops only
# what it started; removes its temp dir on exit (BENCH_KEEP=1 keeps it: raw JSON lines, logs).
#
# Environment (defaults): BENCH_SECONDS (10), BENCH_WARMUP (2), BENCH_CONNS ("16 64 256"),
# BENCH_WORKLOADS ("put txn txn-cross"), BENCH_SYSTEMS ("kvd etcd"), BENCH_KEYS (10000),
# BENCH_VALUE_SIZE (100), BENCH_THREADS (1), BENCH_KVD_HTTP_PORT (26080), BENCH_KVD_PEER_PORT
# (26090), BENCH_ETCD_CLIENT_PORT (26379), BENCH_ETCD_PEER_PORT (26380), KVD_BUILD_DIR (build),
# BENCH_KVD_RESTART (0; 1: restart the kvd nodes, on their data, before every row, so that no
# row inherits the state earlier rows left in the processes).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
# shellcheck source=SCRIPTDIR/etcd_lib.sh
. bench/etcd_lib.sh  # etcd_install, etcd_start, etcd_stop, ETCD_PIDS
# shellcheck source=SCRIPTDIR/kvd_lib.sh
. bench/kvd_lib.sh   # kvd_start, kvd_stop, KVD_PIDS

seconds=${BENCH_SECONDS:-10}
warmup=${BENCH_WARMUP:-2}
conns_list=${BENCH_CONNS:-16 64 256}
workloads=${BENCH_WORKLOADS:-put txn txn-cross}
systems=${BENCH_SYSTEMS:-kvd etcd}
keys=${BENCH_KEYS:-10000}
value_size=${BENCH_VALUE_SIZE:-100}
threads=${BENCH_THREADS:-1}
kvd_restart=${BENCH_KVD_RESTART:-0}
kvd_http=${BENCH_KVD_HTTP_PORT:-26080}
kvd_peer=${BENCH_KVD_PEER_PORT:-26090}
etcd_client=${BENCH_ETCD_CLIENT_PORT:-26379}
etcd_peer=${BENCH_ETCD_PEER_PORT:-26380}
build_dir=$(cd "${KVD_BUILD_DIR:-$root/build}" 2>/dev/null && pwd || echo "${KVD_BUILD_DIR:-build}")
kvd=$build_dir/cli/kvd
loadgen=$build_dir/bench/kvd_loadgen
nodes=(1 2 3)

for tool in "$kvd" "$loadgen"; do
  [ -x "$tool" ] || { echo "txn_bench: $tool missing; build it first:" \
    "cmake --build $build_dir --target kvd kvd_loadgen -j1" >&2; exit 1; }
done
case " $systems " in *" etcd "*) etcd_install ;; esac

tmp=$(mktemp -d /tmp/kvd-txn-bench.XXXXXX)
server_pids=()
stop_servers() {
  kvd_stop
  etcd_stop
  server_pids=()
}
cleanup() {
  set +e
  stop_servers
  if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "txn_bench: kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The machine-state and server checks shared with the other benchmarks (bench/bench_lib.sh).
BENCH_NAME=txn_bench
# shellcheck source=SCRIPTDIR/bench_lib.sh
. bench/bench_lib.sh  # machine_note, cpu_ticks, require_free_ports, require_alive

# --- servers --------------------------------------------------------------------------------
start_kvd() {  # bench/kvd_lib.sh: as scripts/cluster.sh start does (16 shards, replication 3)
  kvd_start "$kvd" "$tmp/kvd" "$kvd_http" "$kvd_peer" --shards 16 --replication 3 ||
    { BENCH_KEEP=1; exit 1; }  # cleanup's stop_servers stops them (kvd_stop)
  server_pids+=("${KVD_PIDS[@]}")
}
start_etcd() {
  etcd_start "$tmp/etcd" "$etcd_client" "$etcd_peer" "kvd-txn-bench-$$" ||
    { BENCH_KEEP=1; exit 1; }  # cleanup's stop_servers stops them (etcd_stop)
  server_pids+=("${ETCD_PIDS[@]}")
}
kvd_conflicts() {  # kvd_txn_conflicts_total summed over the nodes
  local i sum=0 v
  for i in "${nodes[@]}"; do
    v=$(curl -fsS "http://127.0.0.$i:$kvd_http/metrics" 2>/dev/null |
      awk '$1 == "kvd_txn_conflicts_total" {print $2 + 0}')
    sum=$((sum + ${v:-0}))
  done
  echo "$sum"
}

# --- rows -----------------------------------------------------------------------------------
endpoints_of() {
  local port i out=""
  port=$([ "$1" = kvd ] && echo "$kvd_http" || echo "$etcd_client")
  for i in "${nodes[@]}"; do out+="${out:+,}127.0.0.$i:$port"; done
  echo "$out"
}
run_row() {  # system workload conns
  local system=$1 op=$2 conns=$3 tag="$1-$2-$3" ticks0 ticks1 machine0 machine1 t0 t1 c0=0 c1=0
  [ "$system" = kvd ] && c0=$(kvd_conflicts)
  ticks0=$(cpu_ticks "${server_pids[@]}")
  machine0=$(machine_ticks)
  t0=$(date +%s.%N)
  local TIMEFORMAT='%U %S'
  { time "$loadgen" --target "$system" --endpoints "$(endpoints_of "$system")" -c "$conns" \
    --op "$op" --keys "$keys" --value-size "$value_size" --warmup "$warmup" -d "$seconds" \
    --threads "$threads" --populate skip --json --label "$tag" >>"$tmp/results.jsonl" \
    2>"$tmp/$tag.err"; } 2>"$tmp/$tag.time"
  t1=$(date +%s.%N)
  ticks1=$(cpu_ticks "${server_pids[@]}")
  machine1=$(machine_ticks)
  [ "$system" = kvd ] && c1=$(kvd_conflicts)
  read -r lg_user lg_sys <"$tmp/$tag.time"
  awk -v a="$ticks0" -v b="$ticks1" -v m0="$machine0" -v m1="$machine1" -v t0="$t0" -v t1="$t1" \
    -v hz="$(getconf CLK_TCK)" -v lu="$lg_user" -v ls="$lg_sys" -v c=$((c1 - c0)) 'BEGIN {
      w = t1 - t0; srv = 100 * (b - a) / hz / w; lg = 100 * (lu + ls) / w
      other = 100 * (m1 - m0) / hz / w - srv - lg
      printf "%.0f %.0f %.0f %d\n", srv, lg, (other < 0 ? 0 : other), c}' >"$tmp/$tag.cpu"
  cat "$tmp/$tag.err" >&2
  require_alive
  echo "  $tag: $(tail -n 1 "$tmp/results.jsonl" | cut -c1-150)..." >&2
}
run_system() {
  local system=$1 op conns
  for op in $workloads; do
    if [ "$op" != put ] && [ ! -f "$tmp/$system.populated" ]; then
      # The transaction keys ({bench-i}.a) hold the benchmark value before any compare reads it.
      "$loadgen" --target "$system" --endpoints "$(endpoints_of "$system")" -c 64 --op txn \
        --keys "$keys" --value-size "$value_size" --populate only 2>&1 | sed 's/^/  /' >&2
      touch "$tmp/$system.populated"
    fi
    for conns in $conns_list; do
      if [ "$system" = kvd ] && [ "$kvd_restart" = 1 ]; then stop_servers; start_kvd; fi
      run_row "$system" "$op" "$conns"
    done
  done
}

# --- run ------------------------------------------------------------------------------------
: >"$tmp/results.jsonl"
{
  echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')," \
    "$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) RAM, $(uname -sr)"
  echo "kvd: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?') ($build_dir);" \
    "etcd: $({ etcd --version 2>/dev/null || echo absent; } | sed -n 1p)"
  echo "rows: ${seconds}s measured after ${warmup}s warmup, $keys keys, $value_size-byte values," \
    "$threads loadgen thread(s)$([ "$kvd_restart" = 1 ] && echo ", kvd restarted before every row")"
  machine_note before
} >"$tmp/machine.txt"
tail -n 1 "$tmp/machine.txt" >&2
for system in $systems; do
  echo "txn_bench: $system: ${seconds}s per row (warmup ${warmup}s), connections $conns_list" >&2
  if [ "$system" = kvd ]; then
    require_free_ports "$kvd_http" "$kvd_peer"
    start_kvd
  else
    require_free_ports "$etcd_client" "$etcd_peer"
    start_etcd
  fi
  require_alive
  run_system "$system"
  stop_servers
done
machine_note after | tee -a "$tmp/machine.txt" >&2

# --- report ---------------------------------------------------------------------------------
python3 - "$tmp" "$conns_list" "$workloads" <<'EOF'
import json, os, sys
tmp, conns_list, workloads = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
rows = {}
for line in open(os.path.join(tmp, "results.jsonl")):
    if line.strip():
        r = json.loads(line)
        rows[r["label"]] = r

def extra(tag):
    try:
        return open(os.path.join(tmp, tag + ".cpu")).read().split()
    except OSError:
        return ["-", "-", "-", "-"]

def errors(r):
    if r is None:
        return "-"
    e = dict(r["errors"])
    for k, v in r.get("connect_errors", {}).items():
        e["connect:" + k] = v
    return ", ".join("%s=%d" % kv for kv in sorted(e.items())) or "0"

def cell(r, fmt):
    return fmt(r) if r else "-"

names = {"put": "put", "txn": "txn (1 shard)", "txn-cross": "txn-cross (2 shards)"}
print(open(os.path.join(tmp, "machine.txt")).read())
print("| workload | conns | kvd ops/s | etcd ops/s | kvd/etcd | kvd p50 / p99 / max ms"
      " | etcd p50 / p99 / max ms | errors kvd / etcd | kvd conflict retries |")
print("|---|---:|---:|---:|---:|---|---|---|---:|")
lat = lambda r: "%.2f / %.2f / %.1f" % (r["latency_ms"]["p50"], r["latency_ms"]["p99"],
                                        r["latency_ms"]["max"])
for w in workloads:
    for c in conns_list:
        k, e = rows.get("kvd-%s-%s" % (w, c)), rows.get("etcd-%s-%s" % (w, c))
        ratio = "%.2f" % (k["ops_per_sec"] / e["ops_per_sec"]) if k and e and e["ops_per_sec"] else "-"
        print("| %s | %s | %s | %s | %s | %s | %s | %s / %s | %s |" % (
            names.get(w, w), c, cell(k, lambda r: "%.1f" % r["ops_per_sec"]),
            cell(e, lambda r: "%.1f" % r["ops_per_sec"]), ratio, cell(k, lat), cell(e, lat),
            errors(k), errors(e), extra("kvd-%s-%s" % (w, c))[3]))
print()
print("CPU % = CPU time / wall time of the row (100% = one core): the three servers, the load"
      " generator,\nand everything else on the machine (other: noise).\n")
print("| workload | conns | kvd CPU | loadgen | other | etcd CPU | loadgen | other |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for w in workloads:
    for c in conns_list:
        k, e = extra("kvd-%s-%s" % (w, c)), extra("etcd-%s-%s" % (w, c))
        print("| %s | %s | %s | %s |" % (names.get(w, w), c, " | ".join(k[:3]), " | ".join(e[:3])))
EOF
echo
echo "raw JSON lines: $tmp/results.jsonl (set BENCH_KEEP=1 to keep)"
