#!/usr/bin/env bash
# Transparent egress for a sandbox network namespace, end to end on this machine (see README.md here):
#
#   sudo examples/transparent/local.sh        (KEEP=1 keeps the temp dir: data dir, logs)
#
# Everything runs inside a network namespace of its own ("the lab"), so nothing here touches this
# machine's network. In the lab:
#
#   sandbox netns 10.231.0.2 ──veth──> 10.231.0.1  airlock serve --transparent-listen 10.231.0.1:15001
#     curl with NO proxy settings          │  nftables: every TCP connection arriving from the sandbox is
#     dials 192.0.2.10:PORT                 │  REDIRECTed to :15001; nothing else from the sandbox is accepted
#                                           └─> fake metrics service, https://metrics.internal:PORT (127.0.0.1)
#
# The sandbox's curl sends `Authorization: Bearer <placeholder>`; Airlock places the connection by its
# SNI (metrics.internal), resolves that name itself, swaps in the real token and audits the request with
# the address the sandbox dialled. proxy.transparent_sessions maps the sandbox's address to its session
# (reloaded with SIGHUP once the session exists). Exits 0 only when the service saw the real token, the
# sandbox never did, a host outside the environment was refused, and the egress audit shows both.
#
# Needs root (namespaces, nftables), build/airlock (`make`), node, openssl, curl, ip, nft.
# Exit 77 when this machine cannot run it (not root, no namespaces or nftables), saying why.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
example="transparent/local.sh"
# shellcheck source=../lib/lab.sh
source "$here/../lib/lab.sh"
enter_lab "$@"

make_temp_dir airlock-transparent
sandbox="airlock-sandbox-$$"  # the named network namespace: its name is visible outside the lab
on_exit() { ip netns del "$sandbox" 2> /dev/null; }

# 1. The network: the sandbox namespace behind a veth pair, and the redirect.
add_sandbox_namespace "$sandbox"
nft -f - << 'NFT'
table inet airlock_transparent {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    iifname "veth-airlock" meta l4proto tcp redirect to :15001
  }
  chain input {
    type filter hook input priority filter; policy accept;
    iifname "veth-airlock" tcp dport 15001 ct status dnat accept
    iifname "veth-airlock" drop
  }
}
NFT

# 2. The fake metrics service (from the weekday-digest example), with the real token.
make_certs "$tmp/metrics" "Transparent example CA" metrics.internal
token="metrics-live-$(openssl rand -hex 20)"
METRICS_REAL_TOKEN="$token" node "$repo/examples/weekday-digest/fake-metrics.mjs" "$tmp/metrics" > "$tmp/metrics.log" 2>&1 &
metrics_pid=$!
background_pids+=("$metrics_pid")
wait_until "$metrics_pid" "the fake metrics service" test -s "$tmp/metrics/port"
metrics_port="$(< "$tmp/metrics/port")"

# 3. airlock serve with a transparent listener on the lab's side of the veth. Its config file holds the
# source map, empty until the session exists.
printf 'proxy:\n  transparent_sessions: {}\n' > "$tmp/airlock.yaml"
api_key="sk-airlock-example-$(openssl rand -hex 16)"
AIRLOCK_API_KEY="$api_key" "$airlock" serve --config "$tmp/airlock.yaml" --data-dir "$data" \
  --api-listen 127.0.0.1:0 --proxy-listen 127.0.0.1:0 --transparent-listen 10.231.0.1:15001 \
  --ready-file "$tmp/ready.json" --upstream-ca "$tmp/metrics/ca.pem" --resolve metrics.internal:127.0.0.1 \
  --allow-private 127.0.0.1/32 > "$tmp/airlock.log" 2>&1 &
daemon_pid=$!
background_pids+=("$daemon_pid")
wait_until "$daemon_pid" "airlock serve" test -s "$tmp/ready.json"
api="http://$(sed -E 's/.*"api":"([^"]+)".*/\1/' "$tmp/ready.json")"

# The REST API with curl; prints the response, fails on an error status.
call() {
  local method="$1" route="$2" body="${3:-}"
  local args=(-sS --fail-with-body -X "$method" -H "x-api-key: $api_key" -H 'content-type: application/json')
  [[ -z "$body" ]] || args+=(--data "$body")
  curl "${args[@]}" "$api$route" || fail "$method $route failed"
}
field() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s)[process.argv[1]]))' "$1"; }

# 4. A vault with the metrics token, an environment that reaches metrics.internal only, a session.
vault="$(call POST /v1/vaults '{"display_name":"Metrics"}' | field id)"
call POST "/v1/vaults/$vault/credentials" "{\"display_name\":\"Metrics API token\",\"auth\":{\"type\":\"environment_variable\",
  \"secret_name\":\"METRICS_API_TOKEN\",\"secret_value\":\"$token\",
  \"networking\":{\"type\":\"limited\",\"allowed_hosts\":[\"metrics.internal\"]}}}" > /dev/null
# airlock.runtime: external: the sandbox's namespace is this script's, not one serve starts.
environment="$(call POST /v1/environments '{"name":"transparent","metadata":{"airlock.runtime":"external"},"config":{"type":"cloud",
  "networking":{"type":"limited","allowed_hosts":["metrics.internal"]}}}' | field id)"
agent="$(call POST /v1/agents '{"name":"Metrics reader","model":"claude-opus-5-5"}' | field id)"
session="$(call POST /v1/sessions "{\"agent\":\"$agent\",\"environment_id\":\"$environment\",\"vault_ids\":[\"$vault\"]}" | field id)"
placeholder="$(call GET "/v1/sessions/$session/sandbox_env" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).env.METRICS_API_TOKEN))')"
[[ "$placeholder" == airlock_ph_* ]] || fail "sandbox_env has no placeholder for METRICS_API_TOKEN"

# 5. The sandbox's address belongs to the session: the source map, reloaded with SIGHUP.
printf 'proxy:\n  transparent_sessions:\n    10.231.0.2/32: %s\n' "$session" > "$tmp/airlock.yaml"
kill -HUP "$daemon_pid"
wait_until "$daemon_pid" "the reload" grep -q 'transparent_sessions reloaded: 1 source range' "$tmp/airlock.log"

# 6. The sandbox: no proxy variables, only the CA bundle and the placeholder. It dials an address of its
# choosing (192.0.2.10, with --resolve standing in for its DNS); Airlock goes by the name it asked for.
in_sandbox() {
  ip netns exec "$sandbox" env -i PATH="$PATH" METRICS_API_TOKEN="$placeholder" "$@"
}
answer="$(in_sandbox curl -sS --max-time 20 --cacert "$data/ca-bundle.pem" \
  --resolve "metrics.internal:$metrics_port:192.0.2.10" -H "Authorization: Bearer $placeholder" \
  "https://metrics.internal:$metrics_port/v1/daily")" || fail "the sandbox's request to metrics.internal failed"
[[ "$answer" == *'"service":"checkout"'* ]] || fail "metrics.internal did not answer with the metrics: $answer"
refused="$(in_sandbox curl -sS --max-time 20 --cacert "$data/ca-bundle.pem" -o /dev/null -w '%{http_code}' \
  --resolve "example.com:443:192.0.2.20" https://example.com/)" || true
[[ "$refused" == 403 ]] || fail "a host outside the environment was not refused with 403 (got $refused)"
if in_sandbox curl -sS --max-time 3 -o /dev/null "http://10.231.0.1:15001/" 2> /dev/null; then
  fail "the sandbox reached the transparent listener directly"
fi

# 7. The checks: the service saw the real token only; the audit has both requests with what was dialled.
mapfile -t seen < "$tmp/metrics/authorization.log"
(( ${#seen[@]} == 1 )) || fail "the metrics service received ${#seen[@]} requests, expected 1"
[[ "${seen[0]}" == "Bearer $token" ]] || fail "the metrics service did not see the real token"
audit_rows() { call GET "/v1/sessions/$session/egress" | grep -o '"egress_event"' | wc -l | grep -qx 2; }
wait_until "$daemon_pid" "the audit" audit_rows  # the audit writer commits in batches
egress="$(call GET "/v1/sessions/$session/egress")"
summary="$(node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{for (const r of JSON.parse(s).data)
  console.log([r.host, r.port, r.status, r.decision, r.reason ?? "-", r.original_destination].join(" "))})' <<< "$egress")"
expected="metrics.internal $metrics_port 200 allowed - 192.0.2.10:$metrics_port
example.com 443 403 denied host_not_allowed 192.0.2.20:443"
[[ "$summary" == "$expected" ]] || fail "the egress audit is not what was expected:
$summary"
if grep -qF "$token" "$tmp/airlock.log"; then fail "airlock's log contains the real token"; fi

echo "sandbox (no proxy settings) -> 192.0.2.10:$metrics_port as metrics.internal: 200, the service saw the real token"
echo "sandbox -> example.com: 403 host_not_allowed"
echo "egress audit of $session:"
echo "$summary" | sed 's/^/  /'
