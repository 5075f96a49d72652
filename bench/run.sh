#!/usr/bin/env bash
# Benchmark matrix for BENCHMARKS.md: POST /subscribe/payments/again at 1, 16, 64 and 256
# clients, on SQLite and PostgreSQL, one node and two nodes, plus GET /healthz as the ceiling,
# and each server's peak memory. Release build; loopback only; bounded in time.
#
#   bash bench/run.sh [DURATION_SECS]      (PostgreSQL: postgres://postgres@127.0.0.1:5432)
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-8}"
pg_admin="${OPENIMP_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres}"
cargo build --release -q -p openimp -p openimp-loadgen
bin=target/release/openimp
load=target/release/openimp-loadgen
work="$(mktemp -d /tmp/openimp-bench.XXXXXX)"
export OPENIMP_MASTER_KEY="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
# Nodes are started inside $(...) subshells, so their pids live in $work/*.pid files.
cleanup() {
  local status=$?
  for pidfile in "$work"/*.pid; do
    if [[ -f "$pidfile" ]]; then kill "$(cat "$pidfile")" 2>/dev/null || true; fi
  done
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT

# start_node NAME [serve args...] -> prints the base URL
start_node() {
  local name=$1; shift
  mkdir -p -m 700 "$work/$name"
  "$bin" serve --listen 127.0.0.1:0 --data-dir "$work/$name" "$@" >"$work/$name.out" 2>"$work/$name.err" &
  echo $! >"$work/$name.pid"
  for _ in $(seq 100); do
    grep -q "openimp listening on" "$work/$name.out" 2>/dev/null && break
    sleep 0.1
  done
  grep "openimp listening on" "$work/$name.out" | awk '{print $4}'
}

peak_mb() { awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$(cat "$work/$1.pid")/status"; }

run_matrix() { # label urls key secret nodes...
  local label=$1 urls=$2 key=$3 secret=$4; shift 4
  for clients in 1 16 64 256; do
    local json
    json=$("$load" --url "$urls" --imp-key "$key" --imp-secret "$secret" --clients "$clients" \
      --duration-secs "$duration" --warmup-secs 2 --customer-uid "bench-$clients" --json)
    python3 - "$label" "$clients" "$json" <<'PY'
import json, sys
label, clients, report = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
lat = report["latency_ms"] if "latency_ms" in report else report.get("latency", {})
print(f"| {label} | again | {clients} | {report['throughput_rps']:.0f} | {lat.get('p50', 0):.1f} | {lat.get('p99', 0):.1f} | {report['errors']} |")
PY
  done
  local ceiling
  ceiling=$("$load" --url "$urls" --scenario healthz --clients 64 --duration-secs "$duration" --warmup-secs 1 --json)
  python3 -c "import json,sys; r=json.loads(sys.argv[2]); l=r.get('latency_ms', r.get('latency', {})); print(f\"| {sys.argv[1]} | healthz | 64 | {r['throughput_rps']:.0f} | {l.get('p50',0):.1f} | {l.get('p99',0):.1f} | {r['errors']} |\")" "$label" "$ceiling"
  local mem=""
  for node in "$@"; do mem+="$node $(peak_mb "$node") MB; "; done
  echo "| $label | peak memory | | $mem | | | |"
}

creds() { "$bin" merchant create --name bench --json "$@"; }
field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }

echo "| setup | scenario | clients | req/s | p50 ms | p99 ms | errors |"
echo "| --- | --- | --- | --- | --- | --- | --- |"

# SQLite, one node.
url=$(start_node sqlite1)
m=$(creds --data-dir "$work/sqlite1")
run_matrix "SQLite, 1 node" "$url" "$(field "$m" imp_key)" "$(field "$m" imp_secret)" sqlite1
kill "$(cat "$work/sqlite1.pid")"

# SQLite, two nodes on one file.
url_a=$(start_node sqlite2a --database-url "sqlite://$work/shared.db")
url_b=$(start_node sqlite2b --database-url "sqlite://$work/shared.db")
m=$(creds --data-dir "$work/sqlite2a" --database-url "sqlite://$work/shared.db")
run_matrix "SQLite, 2 nodes" "$url_a,$url_b" "$(field "$m" imp_key)" "$(field "$m" imp_secret)" sqlite2a sqlite2b
kill "$(cat "$work/sqlite2a.pid")" "$(cat "$work/sqlite2b.pid")"

if psql "$pg_admin" -c "select 1" >/dev/null 2>&1; then
  for nodes in 1 2; do
    db="openimp_bench_$nodes"
    psql "$pg_admin" -q -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>&1
    pg_url="${pg_admin%/*}/$db"
    urls=""
    names=()
    for n in $(seq "$nodes"); do
      u=$(start_node "pg$nodes$n" --database-url "$pg_url" --max-connections 32)
      urls+="${urls:+,}$u"
      names+=("pg$nodes$n")
    done
    m=$(creds --data-dir "$work/pg${nodes}1" --database-url "$pg_url")
    run_matrix "PostgreSQL, $nodes node(s)" "$urls" "$(field "$m" imp_key)" "$(field "$m" imp_secret)" "${names[@]}"
    for name in "${names[@]}"; do kill "$(cat "$work/$name.pid")"; done
    sleep 1
    psql "$pg_admin" -q -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  done
else
  echo "PostgreSQL not reachable at $pg_admin: skipped"
fi
