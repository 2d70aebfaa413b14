#!/usr/bin/env bash
# Audit bench: the egress audit with the proxy at full rate, then with 10 million egress rows stored (see
# bench/README.md, "Audit at full rate"). Arguments go to audit.mjs:
#   --seconds S (180)  --connections N (64)  --sessions K (4)  --rows R (10000000; 0 skips the seeding)
#   --seed-days D (31)  --loaded-seconds L (30)  --requests M (50)  --origin-workers W (2)  --keep
# AIRLOCK_BIN picks the binary (default build/airlock). Exit code 1 when an audit row was dropped or lost.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

bin=${AIRLOCK_BIN:-$root/build/airlock}
for _ in $(seq 1 60); do [ -x "$bin" ] && break; sleep 1; done  # a rebuild may be replacing it
[ -x "$bin" ] || { echo "audit bench: $bin not found (make build, or set AIRLOCK_BIN)" >&2; exit 2; }
for tool in node openssl sqlite3; do
  command -v "$tool" >/dev/null || { echo "audit bench: $tool not found" >&2; exit 2; }
done

hard=$(ulimit -Hn)
if [ "$hard" != unlimited ]; then ulimit -n "$hard"; fi

export AIRLOCK_BIN=$bin
exec node "$here/audit.mjs" "$@"
