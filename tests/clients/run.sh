#!/usr/bin/env bash
# Runs the client suite: real tools (npm, pip, git, curl, Python, Node, Go, Java) through a real
# `airlock serve`, each with a token it holds only as a placeholder. Installs the node dependencies of
# this suite and of the SDK suite (whose harness it shares) when they are missing, then runs the given
# *.test.mjs files (default: all) with node's test runner.
#
#   tests/clients/run.sh [node --test flags] [test files]
#
# AIRLOCK_BIN selects the binary (default: build/airlock at the top of the repository).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
export AIRLOCK_BIN="${AIRLOCK_BIN:-$repo/build/airlock}"

if [[ ! -x "$AIRLOCK_BIN" ]]; then
  echo "tests/clients/run.sh: no airlock binary at $AIRLOCK_BIN (build it, or set AIRLOCK_BIN)" >&2
  exit 1
fi
AIRLOCK_BIN="$(realpath "$AIRLOCK_BIN")"

flags=()
files=()
for arg in "$@"; do
  if [[ "$arg" == -* ]]; then flags+=("$arg"); else files+=("$(realpath "$arg")"); fi
done
for dir in "$repo/tests/sdk" "$here"; do
  [[ -d "$dir/node_modules" ]] || (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
done

cd "$here"
if (( ${#files[@]} == 0 )); then
  shopt -s nullglob
  files=(./*.test.mjs)
fi
if (( ${#files[@]} == 0 )); then
  echo "tests/clients/run.sh: no test files" >&2
  exit 1
fi
exec node --test --test-concurrency=1 --test-timeout=300000 "${flags[@]}" "${files[@]}"
