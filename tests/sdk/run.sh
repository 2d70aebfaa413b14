#!/usr/bin/env bash
# Runs the SDK conformance suite: the official Anthropic TypeScript SDK (pinned in package-lock.json)
# against a real `airlock serve`. Installs the node dependencies when they are missing or older than
# package-lock.json, then runs every *.test.mjs here with node's test runner, one file at a time.
#
#   tests/sdk/run.sh [node --test flags, e.g. --test-name-pattern=Idempotency] [test files]
#
# AIRLOCK_BIN selects the binary (default: build/airlock at the top of the repository).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
suite="tests/sdk/run.sh"
# shellcheck source=../node_suite.sh
source "$here/../node_suite.sh"

resolve_airlock_bin
# npm keeps a copy of the lock it installed in node_modules: older than package-lock.json means stale.
if [[ ! -f "$here/node_modules/.package-lock.json" || "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]]; then
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi
run_node_tests "$@"
