#!/usr/bin/env bash
# Load test: N concurrent intercepted keep-alive connections through a real `airlock serve` for S seconds
# (see bench/README.md, "Load test"). Arguments go to load.mjs:
#   --connections N (1000)  --seconds S (60)  --sessions K (8)  --warmup W (10)  --origin-workers W (3)  --think MS  --verbose  --keep
# AIRLOCK_BIN picks the binary (default build/airlock). Exit code 0 only when every check passed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

bin=${AIRLOCK_BIN:-$root/build/airlock}
for _ in $(seq 1 60); do [ -x "$bin" ] && break; sleep 1; done  # a rebuild may be replacing it
[ -x "$bin" ] || { echo "load: $bin not found (make build, or set AIRLOCK_BIN)" >&2; exit 2; }
command -v node >/dev/null || { echo "load: node not found" >&2; exit 2; }
command -v openssl >/dev/null || { echo "load: openssl not found (the origin's certificates)" >&2; exit 2; }

# Every process here inherits the limit: the client holds N sockets, the origin N, the daemon 2N and more.
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ]; then ulimit -n "$hard"; fi

export AIRLOCK_BIN=$bin
exec node "$here/load.mjs" "$@"
