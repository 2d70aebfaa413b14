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
suite="tests/clients/run.sh"
# shellcheck source=../node_suite.sh
source "$here/../node_suite.sh"

resolve_airlock_bin
for dir in "$repo/tests/sdk" "$here"; do
  [[ -d "$dir/node_modules" ]] || (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
done
run_node_tests "$@"
