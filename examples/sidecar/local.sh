#!/usr/bin/env bash
# The sidecar arrangement, end to end on this machine (see README.md here):
#
#   sudo examples/sidecar/local.sh        (KEEP=1 keeps the temp dir: data dir, logs)
#
# Everything runs inside a network namespace of its own ("the lab"). As in a Kubernetes pod, the sandbox
# and its sidecar share one network namespace; the control plane is elsewhere:
#
#   sandbox netns 10.231.0.2                                   lab 10.231.0.1
#     curl, NO proxy settings ──nftables output REDIRECT──┐      airlock serve (API :18420)
#     airlock proxy --session ... (its own connections    │        ^ certificate, sealed snapshot,
#       marked 0x1a1, not redirected) <───────────────────┘        | audit batches (session's token)
#       └──────────── resolves metrics.internal itself ──────────> fake metrics service :8443
#
# Checks, in order: the sandbox reaches metrics.internal by name and the service sees the real token;
# a host outside the environment is refused; the requests appear in the session's egress audit on the
# control plane; with airlock serve stopped the sidecar keeps serving within --offline-grace and refuses
# after it; once serve is back, the audit of that time arrives; archiving the session stops the sidecar's
# traffic within 2 seconds. Exits 0 only when all hold.
#
# Needs root (namespaces, nftables), build/airlock (`make`), node, openssl, curl, ip, nft.
# Exit 77 when this machine cannot run it (not root, no namespaces or nftables), saying why.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
example="sidecar/local.sh"
# shellcheck source=../lib/lab.sh
source "$here/../lib/lab.sh"
enter_lab "$@"

make_temp_dir airlock-sidecar
sandbox="airlock-sandbox-$$"  # the named network namespace: its name is visible outside the lab
on_exit() {
  ip netns del "$sandbox" 2> /dev/null
  if (( $1 != 0 )) && [[ -f "$tmp/sidecar.log" ]]; then
    echo "--- airlock proxy's log (last 20 lines) ---" >&2
    tail -n 20 "$tmp/sidecar.log" >&2
  fi
}

# 1. The network: the sandbox namespace behind a veth pair. Inside it, every TCP connection that is not
# the sidecar's own (marked 0x1a1) and not to loopback goes to the sidecar's transparent listener.
add_sandbox_namespace "$sandbox"
ip netns exec "$sandbox" nft -f - << 'NFT'
table inet airlock {
  chain output {
    type nat hook output priority -100; policy accept;
    meta mark 0x1a1 return
    oifname "lo" return
    meta l4proto tcp redirect to :15001
  }
}
NFT

# 2. The fake metrics service (from the weekday-digest example) on the lab's side, with the real token.
make_certs "$tmp/metrics" "Sidecar example CA" metrics.internal
token="metrics-live-$(openssl rand -hex 20)"
METRICS_LISTEN_HOST=10.231.0.1 METRICS_REAL_TOKEN="$token" node "$repo/examples/weekday-digest/fake-metrics.mjs" \
  "$tmp/metrics" > "$tmp/metrics.log" 2>&1 &
metrics_pid=$!
background_pids+=("$metrics_pid")
wait_until "$metrics_pid" "the fake metrics service" test -s "$tmp/metrics/port"
metrics_port="$(< "$tmp/metrics/port")"

# 3. The control plane: airlock serve in the lab, its API on the veth address.
api_key="sk-airlock-example-$(openssl rand -hex 16)"
start_serve() {
  rm -f "$tmp/ready.json"
  AIRLOCK_API_KEY="$api_key" "$airlock" serve --data-dir "$data" --api-listen 10.231.0.1:18420 \
    --proxy-listen 127.0.0.1:0 --ready-file "$tmp/ready.json" >> "$tmp/airlock.log" 2>&1 &
  daemon_pid=$!
  background_pids+=("$daemon_pid")
  wait_until "$daemon_pid" "airlock serve" test -s "$tmp/ready.json"
}
start_serve
api="http://10.231.0.1:18420"

# The REST API with curl; prints the response, fails on an error status.
call() {
  local method="$1" route="$2" body="${3:-}"
  local args=(-sS --fail-with-body -X "$method" -H "x-api-key: $api_key" -H 'content-type: application/json')
  [[ -z "$body" ]] || args+=(--data "$body")
  curl "${args[@]}" "$api$route" || fail "$method $route failed"
}
json_at() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{let v=JSON.parse(s);for(const k of process.argv[1].split("."))v=v[k];console.log(v)})' "$1"; }

# 4. A vault with the metrics token, an environment that reaches metrics.internal only, a session, and
# what the sandbox and the sidecar are given: the placeholder and the CA bundle; the session's proxy token.
vault="$(call POST /v1/vaults '{"display_name":"Metrics"}' | json_at id)"
call POST "/v1/vaults/$vault/credentials" "{\"display_name\":\"Metrics API token\",\"auth\":{\"type\":\"environment_variable\",
  \"secret_name\":\"METRICS_API_TOKEN\",\"secret_value\":\"$token\",
  \"networking\":{\"type\":\"limited\",\"allowed_hosts\":[\"metrics.internal\"]}}}" > /dev/null
# airlock.runtime: external: the sidecar and its sandbox are started here, not by serve.
environment="$(call POST /v1/environments '{"name":"sidecar","metadata":{"airlock.runtime":"external"},"config":{"type":"cloud",
  "networking":{"type":"limited","allowed_hosts":["metrics.internal"]}}}' | json_at id)"
agent="$(call POST /v1/agents '{"name":"Metrics reader","model":"claude-opus-5-5"}' | json_at id)"
session="$(call POST /v1/sessions "{\"agent\":\"$agent\",\"environment_id\":\"$environment\",\"vault_ids\":[\"$vault\"]}" | json_at id)"
env_json="$(call GET "/v1/sessions/$session/sandbox_env")"
placeholder="$(json_at env.METRICS_API_TOKEN <<< "$env_json")"
[[ "$placeholder" == airlock_ph_* ]] || fail "sandbox_env has no placeholder for METRICS_API_TOKEN"
json_at ca_bundle_pem <<< "$env_json" > "$tmp/ca-bundle.pem"
proxy_url="$(json_at env.HTTPS_PROXY <<< "$env_json")"   # http://<session>:<token>@host:port
proxy_token="${proxy_url#http://*:}"
proxy_token="${proxy_token%%@*}"
install -m 600 /dev/null "$tmp/token"
printf '%s\n' "$proxy_token" > "$tmp/token"

# 5. The sidecar, in the sandbox's namespace: its own CA from the control plane, the session sealed to it.
ip netns exec "$sandbox" "$airlock" proxy --control-url "$api" --session "$session" --token-file "$tmp/token" \
  --transparent-listen 0.0.0.0:15001 --proxy-listen 127.0.0.1:0 --offline-grace 4 \
  --upstream-ca "$tmp/metrics/ca.pem" --resolve metrics.internal:10.231.0.1 --allow-private 10.231.0.1/32 \
  --ready-file "$tmp/sidecar.json" > "$tmp/sidecar.log" 2>&1 &
sidecar_pid=$!
background_pids+=("$sidecar_pid")
wait_until "$sidecar_pid" "airlock proxy" test -s "$tmp/sidecar.json"

# 6. The sandbox: no proxy variables, only the CA bundle and the placeholder. It dials an address of its
# choosing (192.0.2.10, with --resolve standing in for its DNS); the sidecar goes by the name it asked for.
in_sandbox() {
  ip netns exec "$sandbox" env -i PATH="$PATH" METRICS_API_TOKEN="$placeholder" "$@"
}
metrics() {
  in_sandbox curl -sS --max-time 10 --cacert "$tmp/ca-bundle.pem" --resolve "metrics.internal:$metrics_port:192.0.2.10" \
    -H "Authorization: Bearer $placeholder" "https://metrics.internal:$metrics_port/v1/daily"
}
answer="$(metrics)" || fail "the sandbox's request to metrics.internal failed"
[[ "$answer" == *'"service":"checkout"'* ]] || fail "metrics.internal did not answer with the metrics: $answer"
refused="$(in_sandbox curl -sS --max-time 10 --cacert "$tmp/ca-bundle.pem" -o /dev/null -w '%{http_code}' \
  --resolve "example.com:443:192.0.2.20" https://example.com/)" || true
[[ "$refused" == 403 ]] || fail "a host outside the environment was not refused with 403 (got $refused)"
echo "sandbox -> metrics.internal through the sidecar: 200; -> example.com: 403"

# 7. The audit reaches the control plane.
egress_count() { call GET "/v1/sessions/$session/egress?limit=1000" | grep -o '"egress_event"' | wc -l; }
audit_at_least() { (( $(egress_count) >= $1 )); }
wait_until "$daemon_pid" "the sidecar's audit" audit_at_least 2
echo "egress audit on the control plane: $(egress_count) rows"

# 8. The control plane goes away: within the grace the sidecar serves, after it it refuses everything.
kill -TERM "$daemon_pid"
wait "$daemon_pid" || true
answer="$(metrics)" || fail "the sidecar stopped serving at once when the control plane went away"
sleep 5
if metrics > /dev/null 2>&1; then fail "the sidecar still served after its offline grace"; fi
grep -q 'refusing everything until it answers' "$tmp/sidecar.log" || fail "the sidecar did not say why it refuses"
echo "control plane stopped: served within the grace, refused after it"

# 9. It comes back: the sidecar serves again, and the audit of the time it was away arrives.
start_serve
recovered() { metrics > /dev/null 2>&1; }
wait_until "$daemon_pid" "the sidecar's recovery" recovered
wait_until "$daemon_pid" "the audit kept while the control plane was away" audit_at_least 5
echo "control plane back: serving again; egress audit: $(egress_count) rows"

# 10. Archiving the session stops the sidecar's traffic within 2 seconds.
call POST "/v1/sessions/$session/archive" > /dev/null
sleep 2
if metrics > /dev/null 2>&1; then fail "the sidecar still served 2 s after the session was archived"; fi
echo "session archived: refused within 2 s"

mapfile -t seen < "$tmp/metrics/authorization.log"
for value in "${seen[@]}"; do
  [[ "$value" == "Bearer $token" ]] || fail "the metrics service saw an Authorization other than the real token"
done
for log in "$tmp/airlock.log" "$tmp/sidecar.log"; do
  if grep -qF "$token" "$log"; then fail "$log contains the real token"; fi
done
echo "the metrics service saw the real token in all ${#seen[@]} requests; no log holds it"
