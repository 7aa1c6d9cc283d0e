# Shared by the benchmark scripts (sourced; set BENCH_NAME first, and 'nodes', 'server_pids',
# 'tmp' before calling the server checks): the machine's CPU state for the noise notes, and
# checks that the servers' ports are free and the servers still run.
# --- machine state --------------------------------------------------------------------------
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
machine_note() {  # when: uptime, and the machine's CPU busy % over the last 5 s
  local m0 m1
  m0=$(machine_ticks)
  sleep 5
  m1=$(machine_ticks)
  echo "$1: $(uptime | sed 's/^ *//'); CPU busy over 5 s:" \
    "$(awk -v a="$m0" -v b="$m1" -v hz="$(getconf CLK_TCK)" -v n="$(nproc)" \
      'BEGIN {printf "%.0f%% of %d%%", 100 * (b - a) / hz / 5, 100 * n}')"
}

require_free_ports() {
  local i port
  for i in "${nodes[@]}"; do
    for port in "$@"; do
      if (exec 3<>"/dev/tcp/127.0.0.$i/$port") 2>/dev/null; then
        echo "$BENCH_NAME: 127.0.0.$i:$port is already in use; pick other ports (BENCH_*_PORT)" >&2
        exit 1
      fi
    done
  done
}
require_alive() {
  local pid
  for pid in "${server_pids[@]}"; do
    kill -0 "$pid" 2>/dev/null || { echo "$BENCH_NAME: server pid $pid died; logs in $tmp" >&2
      BENCH_KEEP=1; exit 1; }
  done
}
