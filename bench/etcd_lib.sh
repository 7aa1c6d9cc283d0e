# shellcheck shell=bash
# bench/etcd_lib.sh: a local 3-member etcd 3.4 cluster on 127.0.0.1-3 for the benchmarks that
# compare kvd with etcd (compare_etcd.sh, locks_bench.sh, txn_bench.sh). Sourced, not run:
#
#   . bench/etcd_lib.sh
#   etcd_install                                 # apt-get install etcd-server if etcd is missing
#   etcd_start DIR CLIENT_PORT PEER_PORT TOKEN   # members n1..n3 (default settings, fsync on,
#                                                # --log-level warn); data and log in DIR/n<i>/;
#                                                # waits up to 30 s until every member is healthy
#   etcd_stop                                    # SIGTERM, then waits (SIGKILL after 15 s)
#
# The members' pids are in the array ETCD_PIDS (appended by etcd_start, emptied by etcd_stop);
# etcd_stop signals only those. etcd_start returns 1, saying why on stderr, when a member is not
# healthy in time (its pids are in ETCD_PIDS all the same: call etcd_stop). Members: the node
# numbers in ETCD_NODES (default "1 2 3"), member i on 127.0.0.i.

ETCD_PIDS=()

etcd_install() {
  command -v etcd >/dev/null && return 0
  local sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  echo "etcd_lib: installing etcd-server" >&2
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq etcd-server >/dev/null
}

etcd_start() {  # DIR CLIENT_PORT PEER_PORT TOKEN
  local dir=$1 client=$2 peer=$3 token=$4 i cluster="" deadline nodes
  read -r -a nodes <<<"${ETCD_NODES:-1 2 3}"
  for i in "${nodes[@]}"; do cluster+="${cluster:+,}n$i=http://127.0.0.$i:$peer"; done
  for i in "${nodes[@]}"; do
    mkdir -p "$dir/n$i"
    etcd --name "n$i" --data-dir "$dir/n$i/data" \
      --listen-client-urls "http://127.0.0.$i:$client" \
      --advertise-client-urls "http://127.0.0.$i:$client" \
      --listen-peer-urls "http://127.0.0.$i:$peer" \
      --initial-advertise-peer-urls "http://127.0.0.$i:$peer" \
      --initial-cluster "$cluster" --initial-cluster-state new \
      --initial-cluster-token "$token" --logger zap --log-level warn \
      >"$dir/n$i/etcd.log" 2>&1 &
    ETCD_PIDS+=($!)
  done
  deadline=$((SECONDS + 30))
  for i in "${nodes[@]}"; do
    until curl -fsS "http://127.0.0.$i:$client/health" 2>/dev/null | grep -q '"true"'; do
      if ((SECONDS >= deadline)); then
        echo "etcd_lib: etcd n$i not healthy after 30 s; see $dir/n$i/etcd.log" >&2
        return 1
      fi
      sleep 0.2
    done
  done
}

etcd_stop() {
  local pid deadline=$((SECONDS + 15))
  for pid in "${ETCD_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${ETCD_PIDS[@]}"; do
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  ETCD_PIDS=()
}
