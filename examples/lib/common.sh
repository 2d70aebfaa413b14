# shellcheck shell=bash disable=SC2154,SC2034  # sourced: the caller sets here and example, and reads tmp and data
# Shared by every example's script: sourced, not run. The caller sets `here` (its directory) and
# `example` (its name in messages) first.
#
#   fail MESSAGE / skip MESSAGE      exit 1 / exit 77 (a failure under CI=true), saying so
#   make_temp_dir PREFIX             $tmp (0711) and $data; at exit every pid in background_pids is stopped,
#                                    on_exit STATUS runs when the caller defines it, airlock.log's tail is
#                                    printed on failure, and $tmp is removed unless KEEP=1
#   wait_until PID WHAT COMMAND...   polls COMMAND for at most 15 s while PID lives
#   yaml_quote TEXT                  TEXT as a YAML single-quoted scalar
#   make_certs DIR CA_NAME HOST...   a CA (DIR/ca.pem) and, for each HOST, DIR/<first label>.{key,pem}
#                                    signed by it (P-256, one day)
#   stop_daemon PID LOG SECRET...    SIGTERM; fails unless it exits 0 and LOG holds none of the secrets
#   require_sandbox_example TOOL...  for the examples whose sessions run in a local sandbox: the binary, the
#                                    SDK, each TOOL, and bubblewrap able to start a sandbox here

repo="$(cd "$here/../.." && pwd)"
airlock="${AIRLOCK_BIN:-$repo/build/airlock}"
background_pids=()

fail() {
  echo "$example: $*" >&2
  exit 1
}

skip() {
  # In CI (CI=true) the machine is expected to run it: a missing tool is a failure there, not a skip.
  if [[ "${CI:-}" == true ]]; then
    echo "$example: cannot run here (CI=true makes that a failure): $*" >&2
    exit 1
  fi
  echo "$example: skipped: $*"
  exit 77
}

cleanup() {
  local status=$?
  for pid in "${background_pids[@]}"; do
    kill "$pid" 2> /dev/null || true
    wait "$pid" 2> /dev/null || true
  done
  if declare -F on_exit > /dev/null; then on_exit "$status" || true; fi
  if (( status != 0 )) && [[ -f "$tmp/airlock.log" ]]; then
    echo "--- airlock's log (last 30 lines) ---" >&2
    tail -n 30 "$tmp/airlock.log" >&2
  fi
  if [[ "${KEEP:-}" == 1 ]]; then
    echo "kept $tmp"
  else
    rm -rf "$tmp"
    (( status == 0 )) || echo "(run with KEEP=1 to keep $tmp)" >&2
  fi
  exit "$status"
}

make_temp_dir() {
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")"
  # Run by root, Airlock starts each sandbox as an unprivileged uid, which must be able to pass through the
  # data dir's parents (docs/runtime.md, Requirements); nothing in here can be listed.
  chmod 711 "$tmp"
  data="$tmp/data"
  trap cleanup EXIT
}

wait_until() {
  local pid="$1" what="$2"
  shift 2
  for _ in $(seq 150); do
    "$@" && return 0
    kill -0 "$pid" 2> /dev/null || fail "$what exited before it was ready"
    sleep 0.1
  done
  fail "$what was not ready within 15 s"
}

yaml_quote() {
  printf "'%s'" "${1//\'/\'\'}"
}

make_certs() {
  local dir="$1" ca_name="$2"
  shift 2
  mkdir -m 700 "$dir"
  (
    cd "$dir" || exit 1
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 1 \
      -subj "/CN=$ca_name" -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2> /dev/null
    for host in "$@"; do
      local name="${host%%.*}"
      openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$name.key" -out "$name.csr" \
        -subj "/CN=$host" 2> /dev/null
      printf 'subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' "$host" > "$name.ext"
      openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$name.pem" -days 1 \
        -extfile "$name.ext" 2> /dev/null
    done
  )
}

stop_daemon() {
  local pid="$1" log="$2"
  shift 2
  kill -TERM "$pid"
  local status=0
  wait "$pid" || status=$?
  (( status == 0 )) || fail "airlock serve exited with status $status on SIGTERM"
  for secret in "$@"; do
    if grep -qF "$secret" "$log"; then fail "airlock's log contains a real token"; fi
  done
}

require_sandbox_example() {
  [[ -x "$airlock" ]] || fail "no airlock binary at $airlock; run \`make\` at the top of the repository first"
  [[ -f "$repo/tests/sdk/node_modules/@anthropic-ai/sdk/package.json" ]] ||
    fail "the SDK is not installed in tests/sdk/node_modules; run \`make\` at the top of the repository (or: cd tests/sdk && npm ci)"
  for tool in "$@" bwrap; do
    command -v "$tool" > /dev/null || fail "$tool is not installed (\`make\` installs what Airlock needs, bubblewrap included)"
  done
  # Run by root, Airlock starts bubblewrap as an unprivileged uid of its own (2000000001 is the first one).
  local probe=(bwrap --unshare-user --unshare-net --ro-bind / / /bin/true)
  (( EUID != 0 )) || probe=(setpriv --reuid=2000000001 --regid=2000000001 --clear-groups "${probe[@]}")
  "${probe[@]}" 2> /dev/null ||
    fail "bubblewrap cannot create a user namespace here as an unprivileged user; allow unprivileged user namespaces (docs/runtime.md)"
}
