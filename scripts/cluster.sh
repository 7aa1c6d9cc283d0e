#!/usr/bin/env bash
# A local kvd cluster on loopback, one command:
#   scripts/cluster.sh start     # installs deps and builds if needed, starts 3 nodes, waits ready
#   scripts/cluster.sh status    # which nodes run, and the cluster as node 1 sees it
#   scripts/cluster.sh stop      # stops the nodes this script started (by their pid files)
#   scripts/cluster.sh restart N # restarts node N (after you killed it, say)
# Node i listens on 127.0.0.i (HTTP port $KVD_HTTP_PORT, peer port $KVD_PEER_PORT), so faults
# can be injected per address. All data and logs live under $KVD_DATA_DIR (default ./data).
# The cluster runs $KVD_SHARDS data shards (default 16), each on $KVD_REPLICATION nodes (default
# 3), e.g. a 5-node, 16-shard cluster: KVD_NODES=5 scripts/cluster.sh start
# $KVD_EXTRA_ARGS (space-separated) is passed to every kvd, e.g. KVD_EXTRA_ARGS="--vnodes 50".
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

nodes=${KVD_NODES:-3}
shards=${KVD_SHARDS:-16}
replication=${KVD_REPLICATION:-3}
http_port=${KVD_HTTP_PORT:-8080}
peer_port=${KVD_PEER_PORT:-7080}
data_dir=${KVD_DATA_DIR:-$root/data}
build_dir=${KVD_BUILD_DIR:-$root/build}
kvd=$build_dir/cli/kvd

peers() {
  local list="" i
  for ((i = 1; i <= nodes; i++)); do list+="${list:+,}$i=127.0.0.$i:$peer_port"; done
  echo "$list"
}
http_peers() {
  local list="" i
  for ((i = 1; i <= nodes; i++)); do list+="${list:+,}$i=127.0.0.$i:$http_port"; done
  echo "$list"
}

build() {
  scripts/install-deps.sh
  if [ ! -f "$build_dir/build.ninja" ]; then
    cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  fi
  cmake --build "$build_dir" --target kvd kvctl -j "$(nproc)"
}

running() {  # node id -> pid if that node runs
  local pidfile=$data_dir/node$1/kvd.pid
  [ -f "$pidfile" ] || return 1
  local pid
  pid=$(cat "$pidfile")
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

start_node() {
  local i=$1 dir=$data_dir/node$1
  mkdir -p "$dir"
  if running "$i" >/dev/null; then echo "node $i already running"; return; fi
  "$kvd" --id "$i" --data-dir "$dir" --peers "$(peers)" --http-peers "$(http_peers)" \
    --peer-listen "127.0.0.$i:$peer_port" --http-listen "127.0.0.$i:$http_port" \
    --shards "$shards" --replication "$replication" ${KVD_EXTRA_ARGS:-} \
    >>"$dir/kvd.log" 2>&1 &
  echo $! >"$dir/kvd.pid"
}

wait_ready() {
  local i deadline=$((SECONDS + 30))
  for ((i = 1; i <= nodes; i++)); do
    until curl -fsS "http://127.0.0.$i:$http_port/readyz" >/dev/null 2>&1; do
      if ((SECONDS > deadline)); then
        echo "node $i not ready after 30 s; see $data_dir/node$i/kvd.log" >&2
        return 1
      fi
      sleep 0.2
    done
  done
}

case "${1:-}" in
  start)
    build
    for ((i = 1; i <= nodes; i++)); do start_node "$i"; done
    wait_ready
    echo "kvd cluster of $nodes nodes, $shards shards x $replication replicas is up (data and logs in $data_dir):"
    for ((i = 1; i <= nodes; i++)); do
      echo "  node $i  http://127.0.0.$i:$http_port  peer 127.0.0.$i:$peer_port  pid $(running "$i")"
    done
    echo "try:  curl -X PUT --data-binary hello http://127.0.0.1:$http_port/v1/kv/greeting"
    echo "      $build_dir/cli/kvctl get greeting"
    echo "stop: scripts/cluster.sh stop"
    ;;
  restart)
    [ -n "${2:-}" ] || { echo "usage: $0 restart NODE" >&2; exit 2; }
    start_node "$2"
    ;;
  stop)
    for ((i = 1; i <= nodes; i++)); do
      if pid=$(running "$i"); then kill "$pid" && echo "stopped node $i (pid $pid)"; fi
      rm -f "$data_dir/node$i/kvd.pid"
    done
    ;;
  status)
    for ((i = 1; i <= nodes; i++)); do
      if pid=$(running "$i"); then echo "node $i: running (pid $pid)"; else echo "node $i: down"; fi
    done
    curl -fsS "http://127.0.0.1:$http_port/v1/cluster" 2>/dev/null && echo || true
    ;;
  *)
    echo "usage: $0 start|stop|status|restart NODE" >&2
    exit 2
    ;;
esac
