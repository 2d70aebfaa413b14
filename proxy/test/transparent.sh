#!/usr/bin/env bash
# Runs the transparent-listener tests (doctest suite "transparent", skipped in a plain run) inside a
# network namespace of their own that has only loopback: the tests install nftables REDIRECT rules there,
# and name private and metadata addresses that must never leave this machine (SECURITY.md N1 tests).
# A default route over loopback lets a connection to such an address be redirected instead of failing
# with "network unreachable" before the redirect applies.
#
# Usage: transparent.sh PATH/TO/airlock_proxy_tests
# Exit 77 (ctest: skipped) when this machine cannot do it, saying why.
set -euo pipefail
tests="$1"

if ! unshare --net true 2>/dev/null; then
  echo "transparent: skipped: cannot create a network namespace here (unshare --net needs root or user namespaces)"
  exit 77
fi
for tool in ip nft curl; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "transparent: skipped: $tool is missing (scripts/setup installs iproute2, nftables and curl)"
    exit 77
  fi
done
if ! unshare --net sh -c 'nft add table inet probe' 2>/dev/null; then
  echo "transparent: skipped: nftables does not work in a new network namespace here (kernel without nf_tables?)"
  exit 77
fi

exec unshare --net sh -c '
  ip link set lo up &&
  ip route add default dev lo &&
  ip -6 route add default dev lo 2>/dev/null;
  exec "$1" --test-suite=transparent --no-skip
' transparent "$tests"
