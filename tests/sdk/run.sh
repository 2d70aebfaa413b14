#!/usr/bin/env bash
# Runs the SDK conformance suite: the official Anthropic TypeScript SDK (pinned in package-lock.json)
# against a real `airlock serve`. Installs the node dependencies when they are missing or not the pinned
# version, then runs every *.test.mjs here with node's test runner, one file at a time.
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
pinned="$(cd "$here" && node -p "require('./package-lock.json').packages['node_modules/@anthropic-ai/sdk'].version")"
installed="$(cd "$here" && node -p "try { require('./node_modules/@anthropic-ai/sdk/package.json').version } catch { '' }")"
if [[ "$installed" != "$pinned" ]]; then
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi
run_node_tests "$@"
