#!/usr/bin/env bash
# Locks: kvd vs etcd 3.4, same machine, same client load (bench/README.md, "Locks:
# locks_bench.sh"). A benchmark: it reports numbers and never passes or fails on them.
#
#   bench/locks_bench.sh                                  # 16 and 64 connections, 20 s per row
#   BENCH_SECONDS=5 BENCH_CONNS=16 bench/locks_bench.sh   # a quick look
#
# Starts a 3-node kvd cluster on 127.0.0.1-3 (the nodes started as scripts/cluster.sh starts them:
# 16 shards x 3 replicas, temp data dir, non-default ports), runs the rows, stops it; then a
# 3-member etcd cluster on the same addresses, the same rows, stops it. One system at a time.
# Rows (kvd_loadgen, all three nodes as endpoints):
#   acquire     acquire (wait 0, TTL 10 s) + release cycles over distinct names, no contention;
#               etcd twice: a lease per lock (grant+lock, unlock+revoke) and a session lease
#   fenced-put  each connection holds one lock; half its writes carry the fence, half are plain
#               puts to the same keys (kvd: X-Fence; etcd: a txn comparing the lock key's
#               create_revision, since etcd has no server-enforced fencing)
# Records uptime, load and CPU use before and after, and per row the CPU used by the servers, the
# load generator and everything else on the machine (noise). Stops only what it started; removes
# its temp dir on exit (BENCH_KEEP=1 keeps it, with the raw JSON lines and the server logs).
#
# Environment (defaults): BENCH_SECONDS (20), BENCH_WARMUP (2), BENCH_CONNS ("16 64"),
# BENCH_WORKLOADS ("acquire fenced-put"), BENCH_SYSTEMS ("kvd etcd"), BENCH_THREADS (1),
# BENCH_KVD_HTTP_PORT (25080), BENCH_KVD_PEER_PORT (25090), BENCH_ETCD_CLIENT_PORT (25379),
# BENCH_ETCD_PEER_PORT (25380), KVD_BUILD_DIR (build).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
# shellcheck source=SCRIPTDIR/etcd_lib.sh
. bench/etcd_lib.sh  # etcd_start, etcd_stop, ETCD_PIDS
# shellcheck source=SCRIPTDIR/kvd_lib.sh
. bench/kvd_lib.sh   # kvd_start, kvd_stop, KVD_PIDS

seconds=${BENCH_SECONDS:-20}
warmup=${BENCH_WARMUP:-2}
conns_list=${BENCH_CONNS:-16 64}
workloads=${BENCH_WORKLOADS:-acquire fenced-put}
systems=${BENCH_SYSTEMS:-kvd etcd}
threads=${BENCH_THREADS:-1}
kvd_http=${BENCH_KVD_HTTP_PORT:-25080}
kvd_peer=${BENCH_KVD_PEER_PORT:-25090}
etcd_client=${BENCH_ETCD_CLIENT_PORT:-25379}
etcd_peer=${BENCH_ETCD_PEER_PORT:-25380}
build_dir=${KVD_BUILD_DIR:-$root/build}
kvd=$build_dir/cli/kvd
loadgen=$build_dir/bench/kvd_loadgen
nodes=(1 2 3)

for tool in "$kvd" "$loadgen"; do
  [ -x "$tool" ] || { echo "locks_bench: $tool missing; build it first:" \
    "cmake --build $build_dir --target kvd kvd_loadgen -j2" >&2; exit 1; }
done
command -v etcd >/dev/null || case " $systems " in *" etcd "*)
  echo "locks_bench: etcd missing (apt-get install etcd-server), or BENCH_SYSTEMS=kvd" >&2; exit 1 ;;
esac

tmp=$(mktemp -d /tmp/kvd-locks-bench.XXXXXX)
server_pids=()
stop_servers() {
  kvd_stop
  etcd_stop
  server_pids=()
}
cleanup() {
  set +e
  stop_servers
  if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "locks_bench: kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The machine-state and server checks shared with the other benchmarks (bench/bench_lib.sh).
BENCH_NAME=locks_bench
# shellcheck source=SCRIPTDIR/bench_lib.sh
. bench/bench_lib.sh  # machine_note, cpu_ticks, require_free_ports, require_alive

# --- servers --------------------------------------------------------------------------------
start_kvd() {  # bench/kvd_lib.sh: as scripts/cluster.sh start does (16 shards, replication 3)
  kvd_start "$kvd" "$tmp/kvd" "$kvd_http" "$kvd_peer" --shards 16 --replication 3 ||
    { BENCH_KEEP=1; exit 1; }  # cleanup's stop_servers stops them (kvd_stop)
  server_pids+=("${KVD_PIDS[@]}")
}
start_etcd() {  # bench/etcd_lib.sh
  etcd_start "$tmp/etcd" "$etcd_client" "$etcd_peer" "kvd-locks-bench-$$" ||
    { BENCH_KEEP=1; exit 1; }  # cleanup's stop_servers stops them (etcd_stop)
  server_pids+=("${ETCD_PIDS[@]}")
}

# --- rows -----------------------------------------------------------------------------------
run_row() {  # system label conns loadgen-args...
  local system=$1 label=$2 conns=$3 endpoints="" port i
  shift 3
  port=$([ "$system" = kvd ] && echo "$kvd_http" || echo "$etcd_client")
  for i in "${nodes[@]}"; do endpoints+="${endpoints:+,}127.0.0.$i:$port"; done
  local tag="$label-$conns" ticks0 ticks1 machine0 machine1 t0 t1 hz
  hz=$(getconf CLK_TCK)
  ticks0=$(cpu_ticks "${server_pids[@]}")
  machine0=$(machine_ticks)
  t0=$(date +%s.%N)
  local TIMEFORMAT='%U %S'
  { time "$loadgen" --target "$system" --endpoints "$endpoints" -c "$conns" "$@" \
    --warmup "$warmup" -d "$seconds" --threads "$threads" --populate skip --json \
    --label "$tag" >>"$tmp/results.jsonl" 2>"$tmp/$tag.err"; } 2>"$tmp/$tag.time"
  t1=$(date +%s.%N)
  ticks1=$(cpu_ticks "${server_pids[@]}")
  machine1=$(machine_ticks)
  read -r lg_user lg_sys <"$tmp/$tag.time"
  awk -v a="$ticks0" -v b="$ticks1" -v m0="$machine0" -v m1="$machine1" -v t0="$t0" -v t1="$t1" \
    -v hz="$hz" -v lu="$lg_user" -v ls="$lg_sys" 'BEGIN {
      w = t1 - t0; srv = 100 * (b - a) / hz / w; lg = 100 * (lu + ls) / w
      other = 100 * (m1 - m0) / hz / w - srv - lg
      printf "%.0f %.0f %.0f\n", srv, lg, (other < 0 ? 0 : other)}' >"$tmp/$tag.cpu"
  cat "$tmp/$tag.err" >&2
  require_alive
  echo "  $tag: $(tail -n 1 "$tmp/results.jsonl" | cut -c1-150)..." >&2
}

run_system() {
  local system=$1 workload conns
  for workload in $workloads; do
    for conns in $conns_list; do
      case "$system/$workload" in
        kvd/acquire) run_row kvd kvd-acquire "$conns" --op acquire ;;
        etcd/acquire)
          run_row etcd etcd-acquire "$conns" --op acquire --etcd-lease per-lock
          run_row etcd etcd-session-acquire "$conns" --op acquire --etcd-lease session
          ;;
        */fenced-put) run_row "$system" "$system-fenced" "$conns" --mix fenced-put=50,put=50 ;;
        *) echo "locks_bench: unknown workload $workload" >&2; exit 2 ;;
      esac
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
  machine_note before
} >"$tmp/machine.txt"
tail -n 1 "$tmp/machine.txt" >&2
for system in $systems; do
  echo "locks_bench: $system: ${seconds}s per row (warmup ${warmup}s), connections $conns_list" >&2
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
python3 - "$tmp" "$conns_list" <<'EOF'
import json, os, sys
tmp, conns_list = sys.argv[1], sys.argv[2].split()
rows = {}
for line in open(os.path.join(tmp, "results.jsonl")):
    line = line.strip()
    if line:
        r = json.loads(line)
        rows[r["label"]] = r

def cpu(tag):
    try:
        return open(os.path.join(tmp, tag + ".cpu")).read().split()
    except OSError:
        return ["-", "-", "-"]

def lat(op):
    l = op["latency_ms"]
    return "%.2f / %.2f / %.1f" % (l["p50"], l["p99"], l["max"])

def errors(r):
    e = dict(r["errors"])
    for k, v in r.get("connect_errors", {}).items():
        e["connect:" + k] = v
    return ", ".join("%s=%d" % kv for kv in sorted(e.items())) or "0"

print(open(os.path.join(tmp, "machine.txt")).read())
print("Acquire + release cycles (no contention; cycles/s = successful releases per second):\n")
print("| system | conns | cycles/s | acquire p50 / p99 / max ms | release p50 / p99 / max ms"
      " | errors | server CPU % | loadgen % | other % |")
print("|---|---:|---:|---|---|---|---:|---:|---:|")
systems = [("kvd-acquire", "kvd"), ("etcd-acquire", "etcd, lease per lock (grant+lock, unlock+revoke)"),
           ("etcd-session-acquire", "etcd, one session lease (lock, unlock)")]
for label, name in systems:
    for c in conns_list:
        r = rows.get("%s-%s" % (label, c))
        if not r:
            continue
        acq, rel = r["by_op"].get("acquire"), r["by_op"].get("release")
        if not acq or not rel:
            continue
        print("| %s | %s | %.1f | %s | %s | %s | %s |" % (
            name, c, rel["ops_per_sec"], lat(acq), lat(rel), errors(r),
            " | ".join(cpu("%s-%s" % (label, c)))))
print()
print("Fenced puts vs plain puts on the same keys in the same run (50/50 mix per connection;"
      " etcd has no\nserver-enforced fencing: its fenced put is a txn comparing the lock key's"
      " create_revision, then put):\n")
print("| system | conns | fenced ops/s | fenced p50 / p99 / max ms | plain put ops/s"
      " | put p50 / p99 / max ms | errors | server CPU % | loadgen % | other % |")
print("|---|---:|---:|---|---:|---|---|---:|---:|---:|")
for label, name in [("kvd-fenced", "kvd (X-Fence)"), ("etcd-fenced", "etcd (txn)")]:
    for c in conns_list:
        r = rows.get("%s-%s" % (label, c))
        if not r:
            continue
        f, p = r["by_op"].get("fenced-put"), r["by_op"].get("put")
        if not f or not p:
            continue
        print("| %s | %s | %.1f | %s | %.1f | %s | %s | %s |" % (
            name, c, f["ops_per_sec"], lat(f), p["ops_per_sec"], lat(p), errors(r),
            " | ".join(cpu("%s-%s" % (label, c)))))
print("\nCPU % = CPU time / wall time of the row (100% = one core); other = everything else on the"
      " machine.")
EOF
echo
echo "raw JSON lines: $tmp/results.jsonl (set BENCH_KEEP=1 to keep)"
