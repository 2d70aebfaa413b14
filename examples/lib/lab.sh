# Shared by the network examples (examples/sidecar/local.sh, examples/transparent/local.sh): sourced, not
# run. The caller sets `here` (its directory) and `example` (its name in messages) first. Everything of
# common.sh, and:
#
#   enter_lab "$@"        checks the tools, then re-runs the caller inside a network namespace (and a
#                         mount namespace, for `ip netns`) of its own; exit 77 when the machine cannot
#   add_sandbox_namespace NAME       the network namespace NAME (10.231.0.2) behind a veth pair whose lab
#                                    side is veth-airlock (10.231.0.1), its default route; loopback up in both

# shellcheck source=common.sh
source "$here/../lib/common.sh"

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
