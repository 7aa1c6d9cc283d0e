# shellcheck shell=bash
# bench/kvd_lib.sh: a local 3-node kvd cluster on 127.0.0.1-3 for the benchmarks (locks_bench.sh,
# txn_bench.sh), started the way scripts/cluster.sh starts one but from a given binary and
# without building anything (a benchmark must not rebuild the binary it measures, nor compete
# with a build for the cores). Sourced, not run:
#
#   . bench/kvd_lib.sh
#   kvd_start KVD DIR HTTP_PORT PEER_PORT [KVD_ARGS...]   # node i on 127.0.0.i; data and log in
#                                                        # DIR/node<i>/ (kept: a second start on
#                                                        # the same DIR is a restart); waits up
#                                                        # to 30 s until every node is ready
#   kvd_stop                                             # SIGTERM, then waits (SIGKILL after 15 s)
#
# E.g. kvd_start build/cli/kvd /tmp/x 8080 7080 --shards 16 --replication 3. The nodes' pids
# are in the array KVD_PIDS (appended by kvd_start, emptied by kvd_stop); kvd_stop signals only
# those. kvd_start returns 1, saying why on stderr, when a node is not ready in time (its pids
# are in KVD_PIDS all the same: call kvd_stop). Nodes: KVD_LIB_NODES (default "1 2 3").

KVD_PIDS=()

kvd_start() {  # KVD DIR HTTP_PORT PEER_PORT [KVD_ARGS...]
  local kvd=$1 dir=$2 http=$3 peer=$4 i peers="" http_peers="" deadline nodes
  shift 4
  read -r -a nodes <<<"${KVD_LIB_NODES:-1 2 3}"
  for i in "${nodes[@]}"; do
    peers+="${peers:+,}$i=127.0.0.$i:$peer"
    http_peers+="${http_peers:+,}$i=127.0.0.$i:$http"
  done
  for i in "${nodes[@]}"; do
    mkdir -p "$dir/node$i"
    "$kvd" --id "$i" --data-dir "$dir/node$i" --peers "$peers" --http-peers "$http_peers" \
      --peer-listen "127.0.0.$i:$peer" --http-listen "127.0.0.$i:$http" "$@" \
      >>"$dir/node$i/kvd.log" 2>&1 &
    KVD_PIDS+=($!)
  done
  deadline=$((SECONDS + 30))
  for i in "${nodes[@]}"; do
    until curl -fsS "http://127.0.0.$i:$http/readyz" >/dev/null 2>&1; do
      if ((SECONDS >= deadline)); then
        echo "kvd_lib: kvd node $i not ready after 30 s; see $dir/node$i/kvd.log" >&2
        return 1
      fi
      sleep 0.2
    done
  done
}

kvd_stop() {
  local pid deadline=$((SECONDS + 15))
  for pid in "${KVD_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${KVD_PIDS[@]}"; do
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  KVD_PIDS=()
}
