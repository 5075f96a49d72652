#!/usr/bin/env bash
# Live-connector benchmark for BENCHMARKS.md: POST /subscribe/payments/again on a live KG Inicis
# channel (INIAPI type=Billing through `openimp fake-pg inicis` on loopback), next to the same
# load on a test-mode channel (the sandbox PG), one SQLite node, at 1, 16 and 64 clients.
# The fake is part of what is measured: every charge is a real HTTP call with its SHA-512
# hashData checked by the fake. Release build; loopback only; bounded in time.
#
#   bash bench/live.sh [DURATION_SECS]
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-8}"
cargo build --release -q -p openimp -p openimp-loadgen
target="${CARGO_TARGET_DIR:-target}"
bin="$target/release/openimp"
load="$target/release/openimp-loadgen"
work="$(mktemp -d /tmp/openimp-bench-live.XXXXXX)"
export OPENIMP_MASTER_KEY="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
cleanup() {
  local status=$?
  for pidfile in "$work"/*.pid; do
    if [[ -f "$pidfile" ]]; then kill "$(cat "$pidfile")" 2>/dev/null || true; fi
  done
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT

# The fake KG Inicis on a free port; it prints its address.
"$bin" fake-pg inicis --listen 127.0.0.1:0 >"$work/fake.out" 2>"$work/fake.err" &
echo $! >"$work/fake.pid"
for _ in $(seq 100); do grep -q "http://" "$work/fake.out" 2>/dev/null && break; sleep 0.1; done
fake=$(grep -o "http://127.0.0.1:[0-9]*" "$work/fake.out" | head -1)

mkdir -p -m 700 "$work/node"
"$bin" serve --listen 127.0.0.1:0 --data-dir "$work/node" >"$work/node.out" 2>"$work/node.err" &
echo $! >"$work/node.pid"
for _ in $(seq 100); do grep -q "openimp listening on" "$work/node.out" 2>/dev/null && break; sleep 0.1; done
url=$(grep "openimp listening on" "$work/node.out" | awk '{print $4}')

field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }
sandbox=$("$bin" merchant create --name bench-sandbox --json --data-dir "$work/node")
live=$("$bin" merchant create --name bench-live --json --data-dir "$work/node")
# Seed 002's channel, live on the fake, with the keyed contract so the load generator can issue
# its key over REST (type=Auth), then charge it (type=Billing).
"$bin" channel update --data-dir "$work/node" --merchant "$(field "$live" imp_code)" \
  --pg-provider html5_inicis --mid INIBillTst --test-mode false --default --keyed-billing true \
  --endpoint "$fake" --sign-key SU5JTElURV9UUklQTEVERVNfS0VZU1RS \
  --iniapi-key rKnPljRn5m6J9Mzz --iniapi-iv W2KLNKra6Wxc1P== >/dev/null

echo "| channel | clients | req/s | p50 ms | p99 ms | errors |"
echo "| --- | --- | --- | --- | --- | --- |"
for setup in sandbox live; do
  creds=${!setup}
  for clients in 1 16 64; do
    json=$("$load" --url "$url" --imp-key "$(field "$creds" imp_key)" \
      --imp-secret "$(field "$creds" imp_secret)" --clients "$clients" \
      --duration-secs "$duration" --warmup-secs 2 --customer-uid "bench-$setup-$clients" --json)
    python3 - "$setup" "$clients" "$json" <<'PY'
import json, sys
setup, clients, report = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
lat = report["latency_ms"] if "latency_ms" in report else report.get("latency", {})
name = {"sandbox": "test mode (sandbox PG)", "live": "live KG Inicis (fake-pg)"}[setup]
print(f"| {name} | {clients} | {report['throughput_rps']:.0f} | {lat.get('p50', 0):.1f} | {lat.get('p99', 0):.1f} | {report['errors']} |")
PY
  done
done
# What the fake charged: every approved charge of the live runs is in its ledger.
python3 -c "import json,sys,urllib.request; l=json.load(urllib.request.urlopen(sys.argv[1]+'/__fake/ledger')); print(f'fake ledger entries: {len(l) if isinstance(l, list) else len(l.get(\"entries\", l))}')" "$fake"
