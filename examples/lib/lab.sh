# Shared by the network examples (examples/sidecar/local.sh, examples/transparent/local.sh): sourced, not
# run. The caller sets `here` (its directory) and `example` (its name in messages) first.
#
#   enter_lab "$@"        checks the tools, then re-runs the caller inside a network namespace (and a
#                         mount namespace, for `ip netns`) of its own; exit 77 when the machine cannot
#   wait_until PID WHAT COMMAND...   polls COMMAND for at most 15 s while PID lives
#   make_origin_certs DIR CA_NAME    a CA and a certificate for metrics.internal signed by it (P-256, one day)
#   add_sandbox_namespace NAME       the network namespace NAME (10.231.0.2) behind a veth pair whose lab
#                                    side is veth-airlock (10.231.0.1), its default route; loopback up in both

repo="$(cd "$here/../.." && pwd)"
airlock="${AIRLOCK_BIN:-$repo/build/airlock}"

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

enter_lab() {
  [[ "${AIRLOCK_EXAMPLE_LAB:-}" == 1 ]] && return 0
  [[ -x "$airlock" ]] || fail "no airlock binary at $airlock; run \`make\` at the top of the repository first"
  for tool in node openssl curl; do
    command -v "$tool" > /dev/null || fail "$tool is not installed (\`make\` installs what Airlock needs)"
  done
  (( EUID == 0 )) || skip "run it as root: it creates network namespaces and nftables rules"
  for tool in ip nft unshare; do
    command -v "$tool" > /dev/null || skip "$tool is missing (scripts/setup installs iproute2 and nftables)"
  done
  unshare --net --mount sh -c 'nft add table inet probe' 2> /dev/null ||
    skip "cannot create a network namespace with nftables here"
  # The lab: gone when the caller exits.
  AIRLOCK_EXAMPLE_LAB=1 exec unshare --net --mount bash "$0" "$@"
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

make_origin_certs() {
  local dir="$1" ca_name="$2"
  mkdir -m 700 "$dir"
  (
    cd "$dir"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 1 \
      -subj "/CN=$ca_name" -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2> /dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout metrics.key -out metrics.csr \
      -subj "/CN=metrics.internal" 2> /dev/null
    printf 'subjectAltName=DNS:metrics.internal\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' > metrics.ext
    openssl x509 -req -in metrics.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out metrics.pem -days 1 \
      -extfile metrics.ext 2> /dev/null
  )
}

add_sandbox_namespace() {
  local name="$1"
  ip link set lo up
  ip netns add "$name"
  ip link add veth-airlock type veth peer name veth-sandbox
  ip link set veth-sandbox netns "$name"
  ip addr add 10.231.0.1/30 dev veth-airlock
  ip link set veth-airlock up
  ip netns exec "$name" ip link set lo up
  ip netns exec "$name" ip addr add 10.231.0.2/30 dev veth-sandbox
  ip netns exec "$name" ip link set veth-sandbox up
  ip netns exec "$name" ip route add default via 10.231.0.1
}
