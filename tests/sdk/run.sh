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
repo="$(cd "$here/../.." && pwd)"
export AIRLOCK_BIN="${AIRLOCK_BIN:-$repo/build/airlock}"

if [[ ! -x "$AIRLOCK_BIN" ]]; then
  echo "tests/sdk/run.sh: no airlock binary at $AIRLOCK_BIN (build it, or set AIRLOCK_BIN)" >&2
  exit 1
fi
AIRLOCK_BIN="$(realpath "$AIRLOCK_BIN")"

# Arguments starting with "-" go to node's test runner; any other argument names a test file to run
# instead of all of them.
flags=()
files=()
for arg in "$@"; do
  if [[ "$arg" == -* ]]; then flags+=("$arg"); else files+=("$(realpath "$arg")"); fi
done
cd "$here"
pinned="$(node -p "require('./package-lock.json').packages['node_modules/@anthropic-ai/sdk'].version")"
installed="$(node -p "try { require('./node_modules/@anthropic-ai/sdk/package.json').version } catch { '' }")"
if [[ "$installed" != "$pinned" ]]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

if (( ${#files[@]} == 0 )); then
  shopt -s nullglob
  files=(./*.test.mjs)
fi
if (( ${#files[@]} == 0 )); then
  echo "tests/sdk/run.sh: no test files" >&2
  exit 1
fi
exec node --test --test-concurrency=1 --test-timeout=300000 "${flags[@]}" "${files[@]}"
