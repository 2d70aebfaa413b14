#!/usr/bin/env bash
# The weekday digest, end to end on this machine (see README.md here):
#
#   examples/weekday-digest/run.sh        (KEEP=1 keeps the temp dir: data dir, logs, the digest)
#
# Starts a fake metrics service (HTTPS, metrics.internal, accepts only the real token) and `airlock serve`
# with a "digest" harness, then client.mjs sets up vaults, an agent, an environment and a weekday
# deployment through the official SDK and runs the deployment once. The session's harness runs in a
# sandbox, reads the metrics with the placeholder it holds, and writes digest.md. Exits 0 only when the
# digest was written, the metrics service saw the real token, and the session's events show the
# placeholder and never the real token.
#
# Needs: build/airlock (`make`), node, openssl, curl, bubblewrap, and the SDK in tests/sdk/node_modules.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
example="weekday-digest/run.sh"
# shellcheck source=../lib/common.sh
source "$here/../lib/common.sh"

require_sandbox_example node openssl curl
make_temp_dir airlock-digest

# 1. A CA and a certificate for metrics.internal signed by it (P-256, one day), for the fake service.
make_certs "$tmp/metrics" "Weekday digest example CA" metrics.internal

# 2. The fake metrics service, with the real token. Only it, the vault and this script ever hold it.
token="metrics-live-$(openssl rand -hex 20)"
METRICS_REAL_TOKEN="$token" node "$here/fake-metrics.mjs" "$tmp/metrics" > "$tmp/metrics.log" 2>&1 &
metrics_pid=$!
background_pids+=("$metrics_pid")
wait_until "$metrics_pid" "the fake metrics service" test -s "$tmp/metrics/port"
metrics_port="$(< "$tmp/metrics/port")"

# 3. Airlock's configuration: the "digest" harness. Its sandbox sees /usr, the harness directory (read-only)
# and its own /workspace; node is mounted too when it lives outside /usr.
node_bin="$(readlink -f "$(command -v node)")"
read_only=("$here/harness")
case "$node_bin" in
  /usr/*) ;;
  *) read_only+=("$(dirname "$(dirname "$node_bin")")") ;;
esac
{
  echo "scheduler:"
  echo "  max_jitter_seconds: 0"
  echo "runtime:"
  # Each session runs in a cgroup with the default limits (1 GiB, 512 processes, 1 CPU), which needs root or
  # a delegated cgroup (docs/runtime.md, "Resource limits"); as another user the example runs without them.
  (( EUID == 0 )) || echo "  limits: none"
  echo "  harnesses:"
  echo "    digest:"
  echo "      command: [$(yaml_quote /bin/sh), $(yaml_quote "$here/harness/digest.sh")]"
  echo "      read_only_paths:"
  for path in "${read_only[@]}"; do echo "        - $(yaml_quote "$path")"; done
  echo "      timeout_seconds: 120"
  echo "      env:"
  echo "        METRICS_URL: $(yaml_quote "https://metrics.internal:$metrics_port")"
  echo "        NODE: $(yaml_quote "$node_bin")"
} > "$tmp/airlock.yaml"

# 4. The daemon. It trusts the fake service's CA for upstream connections and resolves metrics.internal
# to 127.0.0.1 (the sandbox cannot resolve anything itself: its proxy does), a loopback address the proxy
# refuses unless --allow-private opens it.
api_key="sk-airlock-example-$(openssl rand -hex 16)"
AIRLOCK_API_KEY="$api_key" "$airlock" serve --config "$tmp/airlock.yaml" --data-dir "$data" \
  --api-listen 127.0.0.1:0 --proxy-listen 127.0.0.1:0 --ready-file "$tmp/ready.json" \
  --upstream-ca "$tmp/metrics/ca.pem" --resolve metrics.internal:127.0.0.1 --allow-private 127.0.0.1/32 > "$tmp/airlock.log" 2>&1 &
daemon_pid=$!
background_pids+=("$daemon_pid")
wait_until "$daemon_pid" "airlock serve" test -s "$tmp/ready.json"
api="$(sed -E 's/.*"api":"([^"]+)".*/\1/' "$tmp/ready.json")"
echo "airlock serve: API http://$api, data dir $data"
echo "fake metrics service: https://metrics.internal:$metrics_port"
echo

# 5. The client: set up through the SDK, run the deployment once, follow the session.
mkdir "$tmp/out"
AIRLOCK_API_URL="http://$api" AIRLOCK_API_KEY="$api_key" METRICS_REAL_TOKEN="$token" DIGEST_OUT="$tmp/out" \
  node "$here/client.mjs" || fail "client.mjs failed"

# 6. The checks.
session_id="$(< "$tmp/out/session_id")"
digest="$data/sessions/$session_id/workspace/digest.md"
[[ -s "$digest" ]] || fail "no digest at $digest"

mapfile -t seen < "$tmp/metrics/authorization.log"
(( ${#seen[@]} > 0 )) || fail "the metrics service received no request"
for value in "${seen[@]}"; do
  [[ "$value" == "Bearer $token" ]] || fail "the metrics service saw an Authorization other than the real token"
done

events="$tmp/out/events.json"
placeholder="$(grep -oE 'METRICS_API_TOKEN is [A-Za-z0-9_]+' "$events" | head -n 1 | cut -d' ' -f3 || true)"
[[ "$placeholder" == airlock_ph_* ]] || fail "the session's events do not show a placeholder for METRICS_API_TOKEN"
if grep -qF "$token" "$events"; then fail "the session's events contain the real token"; fi

# A clean stop, and nothing of the token in what the daemon printed.
stop_daemon "$daemon_pid" "$tmp/airlock.log" "$token"

echo
echo "--- $digest ---"
cat "$digest"
echo
echo "sandbox saw: $placeholder"
echo "metrics service saw: the real token (${#seen[@]} request(s), each with Authorization: Bearer <the real token>)"
if [[ "${KEEP:-}" == 1 ]]; then
  echo "digest: $digest"
else
  echo "digest: $digest (removed on exit; KEEP=1 keeps it)"
fi
