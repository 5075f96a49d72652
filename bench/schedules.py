#!/usr/bin/env python3
"""Benchmark for BENCHMARKS-schedules.md: N schedules (default 10,000) due at the same moment.

Starts `openimp serve --no-worker` (the API only) on a fresh database, creates a merchant and a
billing key, schedules N payments all due at the same second T, then starts W `openimp worker`
processes and measures how long after T the last schedule is executed. Then it checks the
sandbox ledger: exactly N approvals, one per schedule, each schedule's imp_uid among them.

    python3 bench/schedules.py --backend sqlite   [--count 10000] [--workers 2]
    python3 bench/schedules.py --backend postgres [--pg postgres://postgres@127.0.0.1:5432/postgres]

Build first: cargo build --release -p openimp
"""
import argparse
import json
import os
import random
import string
import subprocess
import sys
import tempfile
import time
import urllib.request

BIN = os.path.join(os.path.dirname(__file__), "..", "target", "release", "openimp")


def call(base, method, path, body=None, token=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", token)
    with urllib.request.urlopen(req, timeout=120) as resp:
        return json.loads(resp.read())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="openimp-sched-bench-")
    storage = ["--data-dir", work]
    dbname = None
    if args.backend == "postgres":
        dbname = "openimp_sched_bench_" + "".join(random.choices(string.ascii_lowercase, k=8))
        subprocess.run(["psql", args.pg, "-qc", f"CREATE DATABASE {dbname}"], check=True)
        storage += ["--database-url", args.pg.rsplit("/", 1)[0] + "/" + dbname]
    env = dict(os.environ, OPENIMP_MASTER_KEY=os.urandom(32).hex(), RUST_LOG="warn")
    procs = []
    try:
        serve = subprocess.Popen([BIN, "serve", "--listen", "127.0.0.1:0", "--no-worker"] + storage,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
        procs.append(serve)
        base = None
        for line in serve.stdout:
            if line.startswith("openimp listening on "):
                base = line.split()[-1].strip()
                break
        merchant = json.loads(subprocess.run([BIN, "merchant", "create", "--name", "bench", "--json"] + storage,
                                             check=True, capture_output=True, text=True, env=env).stdout)
        token = call(base, "POST", "/users/getToken",
                     {"imp_key": merchant["imp_key"], "imp_secret": merchant["imp_secret"]})["response"]["access_token"]
        r = call(base, "POST", "/subscribe/customers/bench", {"card_number": "4092-0230-1234-5678", "expiry": "2030-12",
                                                              "birth": "820213", "pwd_2digit": "00"}, token)
        assert r["code"] == 0, r
        due = int(time.time()) + 5 + args.count // 1000
        t0 = time.time()
        for start in range(0, args.count, 1000):
            items = [{"merchant_uid": f"bench_{i}", "schedule_at": due, "amount": 1000, "name": "bench"}
                     for i in range(start, min(start + 1000, args.count))]
            r = call(base, "POST", "/subscribe/payments/schedule", {"customer_uid": "bench", "schedules": items}, token)
            assert r["code"] == 0, r
        created = time.time() - t0
        print(f"created {args.count} schedules in {created:.1f} s, all due at {due}", flush=True)
        for _ in range(args.workers):
            procs.append(subprocess.Popen([BIN, "worker", "--worker-poll-ms", "200",
                                           "--schedule-concurrency", str(args.concurrency),
                                           "--schedule-batch", str(args.batch)] + storage,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env))
        query = f"/subscribe/payments/schedule?schedule_from={due}&schedule_to={due + 1}&schedule_status=executed&limit=1"
        while time.time() < due:
            time.sleep(0.05)
        while True:
            executed = call(base, "GET", query, token=token)["response"]["total"]
            if executed >= args.count:
                break
            time.sleep(0.2)
        elapsed = time.time() - due
        print(f"{args.backend}: {args.count} schedules executed {elapsed:.1f} s after falling due "
              f"({args.count / elapsed:.0f}/s) with {args.workers} workers x {args.concurrency}", flush=True)
        ledger = json.loads(subprocess.run([BIN, "sandbox", "ledger", "--json"] + storage, check=True,
                                           capture_output=True, text=True, env=env).stdout)
        approvals = [e for e in ledger if e["kind"] == "approval"]
        order_ids = {e["order_id"] for e in approvals}
        paid = 0
        imp_uids = set()
        page = 1
        while True:
            r = call(base, "GET", f"/subscribe/payments/schedule?schedule_from={due}&schedule_to={due + 1}&limit=1000&page={page}",
                     token=token)["response"]
            for s in r["list"]:
                paid += s["payment_status"] == "paid"
                imp_uids.add(s["imp_uid"])
            if not r["next"]:
                break
            page = r["next"]
        ok = len(approvals) == args.count and len(order_ids) == args.count and imp_uids == order_ids and paid == args.count
        print(f"ledger: {len(approvals)} approvals, {len(order_ids)} distinct; schedules paid: {paid}; "
              f"each charged once: {ok}", flush=True)
        return 0 if ok else 1
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()
        if dbname:
            subprocess.run(["psql", args.pg, "-qc", f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)"])


if __name__ == "__main__":
    sys.exit(main())
