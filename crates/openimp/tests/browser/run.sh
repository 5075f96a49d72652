#!/bin/sh
# Browser tests of the SDK, the windows and the console in Debian's Chromium (playwright-core).
# Runs every *.test.mjs here, one file at a time. Assumes the binary is built
# (target/debug/openimp, or OPENIMP_BIN). Ends with "N passed, M failed".
set -eu
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --silent >/dev/null
# A log of this run only (two runs at once must not read each other's counts).
log=$(mktemp "${TMPDIR:-/tmp}/openimp-browser-tests.XXXXXX")
node_status=$(mktemp "${TMPDIR:-/tmp}/openimp-browser-status.XXXXXX")
trap 'rm -f "$log" "$node_status"' EXIT
set +e
{ node --test --test-concurrency=1 --test-reporter=spec ./*.test.mjs 2>&1; echo $? >"$node_status"; } | tee "$log"
set -e
status=$(cat "$node_status")
passed=$(sed -n 's/^ℹ pass \([0-9]*\)$/\1/p' "$log" | tail -1)
failed=$(sed -n 's/^ℹ fail \([0-9]*\)$/\1/p' "$log" | tail -1)
echo "${passed:-0} passed, ${failed:-0} failed"
if [ "${status:-1}" -ne 0 ] || [ "${failed:-1}" != "0" ]; then exit 1; fi
