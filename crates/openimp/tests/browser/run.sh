#!/bin/sh
# Browser tests of the SDK and the hosted window in Debian's Chromium (playwright-core).
# Runs every *.test.mjs here, one file at a time. Assumes the binary is built (target/debug/openimp, or OPENIMP_BIN). Ends with "N passed, M failed".
set -eu
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --silent >/dev/null
set +e
node --test --test-concurrency=1 --test-reporter=spec ./*.test.mjs 2>&1 | tee /tmp/openimp-browser-tests.log
status=$?
set -e
passed=$(sed -n 's/^ℹ pass \([0-9]*\)$/\1/p' /tmp/openimp-browser-tests.log | tail -1)
failed=$(sed -n 's/^ℹ fail \([0-9]*\)$/\1/p' /tmp/openimp-browser-tests.log | tail -1)
echo "${passed:-0} passed, ${failed:-0} failed"
if [ "$status" -ne 0 ] || [ "${failed:-1}" != "0" ]; then exit 1; fi
