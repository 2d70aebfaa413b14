#!/usr/bin/env bash
# Runs the proxy tests that aim at private, link-local and metadata addresses (doctest suite "netns",
# skipped in a plain run) inside a network namespace that has only loopback, with its own /etc/hosts,
# so that a bug cannot send a packet off this machine (SECURITY.md N1 tests).
#
# Usage: netns.sh PATH/TO/airlock_proxy_tests
# Exit 77 (ctest: skipped) when this machine cannot create the namespace, saying why.
set -euo pipefail
tests="$1"

if ! unshare --net --mount true 2>/dev/null; then
  echo "netns: skipped: cannot create network and mount namespaces here (unshare --net --mount needs root or user namespaces)"
  exit 77
fi
if ! command -v ip >/dev/null 2>&1; then
  echo "netns: skipped: the ip command (iproute2) is missing, so loopback cannot be brought up in the namespace"
  exit 77
fi

hosts="$(mktemp)"
trap 'rm -f "$hosts"' EXIT
# 192.0.2.0/24 is TEST-NET-1: public as far as the address checks go, unroutable everywhere.
printf '127.0.0.1 localhost\n192.0.2.10 mixed.test\n10.9.9.9 mixed.test\n192.0.2.20 public.test\n' > "$hosts"

exec unshare --net --mount sh -c '
  ip link set lo up &&
  mount --bind "$1" /etc/hosts &&
  exec "$2" --test-suite=netns --no-skip
' netns "$hosts" "$tests"
