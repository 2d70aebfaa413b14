# The runner both node suites share (tests/sdk/run.sh, tests/clients/run.sh): sourced, not run. The caller
# sets `here` (its directory) and `suite` (its name in messages) and has installed its node dependencies.
#
#   resolve_airlock_bin               AIRLOCK_BIN (default build/airlock at the top), absolute and exported
#   run_node_tests ARGS...            arguments starting with "-" go to node's test runner, any other names a
#                                     test file to run instead of all of them (*.test.mjs here)

repo="$(cd "$here/../.." && pwd)"

resolve_airlock_bin() {
  export AIRLOCK_BIN="${AIRLOCK_BIN:-$repo/build/airlock}"
  if [[ ! -x "$AIRLOCK_BIN" ]]; then
    echo "$suite: no airlock binary at $AIRLOCK_BIN (build it, or set AIRLOCK_BIN)" >&2
    exit 1
  fi
  AIRLOCK_BIN="$(realpath "$AIRLOCK_BIN")"
}

run_node_tests() {
  local flags=() files=()
  for arg in "$@"; do
    if [[ "$arg" == -* ]]; then flags+=("$arg"); else files+=("$(realpath "$arg")"); fi
  done
  cd "$here"
  if (( ${#files[@]} == 0 )); then
    shopt -s nullglob
    files=(./*.test.mjs)
  fi
  if (( ${#files[@]} == 0 )); then
    echo "$suite: no test files" >&2
    exit 1
  fi
  exec node --test --test-concurrency=1 --test-timeout=300000 "${flags[@]}" "${files[@]}"
}
