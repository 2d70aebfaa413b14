#!/usr/bin/env bash
# The weekday digest, end to end on this machine (see README.md here):
#
#   examples/weekday-digest/run.sh [--agent]   (KEEP=1 keeps the temp dir: data dir, logs, the digest)
#
# Starts a fake metrics service (HTTPS, metrics.internal, accepts only the real token) and `airlock serve`
# with a "digest" harness, then client.mjs sets up vaults, an agent, an environment and a weekday
# deployment through the official SDK and runs the deployment once. The session's harness runs in a
# sandbox, reads the metrics with the placeholder it holds, and writes digest.md. Exits 0 only when the
# digest was written, the metrics service saw the real token, and the session's events show the
# placeholder and never the real token.
#
# With --agent, the session runs Airlock's built-in agent instead of the harness, against a fake model
# (fake-model.mjs, api.anthropic.com, accepts only the real key, which an LLM vault holds): the agent
# curls the metrics with bash and writes digest.md with its write tool. Exits 0 only when the digest holds
# the figures served, the metrics service saw the real token, the model the real key on every request,
# the events show the two tool calls, their results and the final message, and no event, API response or
# log holds either secret.
#
# Needs: build/airlock (`make`), node, openssl, curl, bubblewrap, and the SDK in tests/sdk/node_modules.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
example="weekday-digest/run.sh"
agent=0
case "${1:-}" in
  "") ;;
  --agent) agent=1 example+=" --agent" ;;
  *) echo "usage: $0 [--agent]" >&2; exit 2 ;;
esac
# shellcheck source=../lib/common.sh
source "$here/../lib/common.sh"

require_sandbox_example node openssl curl
make_temp_dir airlock-digest

# 1. A CA and a certificate for metrics.internal signed by it (P-256, one day), for the fake service, and
# with --agent one for api.anthropic.com, for the fake model.
hosts=(metrics.internal)
(( agent )) && hosts+=(api.anthropic.com)
make_certs "$tmp/metrics" "Weekday digest example CA" "${hosts[@]}"

# 2. The fake metrics service, with the real token. Only it, the vault and this script ever hold it.
token="metrics-live-$(openssl rand -hex 20)"
METRICS_REAL_TOKEN="$token" node "$here/fake-metrics.mjs" "$tmp/metrics" > "$tmp/metrics.log" 2>&1 &
metrics_pid=$!
background_pids+=("$metrics_pid")
wait_until "$metrics_pid" "the fake metrics service" test -s "$tmp/metrics/port"
metrics_port="$(< "$tmp/metrics/port")"
secrets=("$token")

# 2b. With --agent, the fake model, with the real Anthropic key: only it, the LLM vault and this script hold it.
if (( agent )); then
  model_key="sk-ant-api03-example-$(openssl rand -hex 24)"
  secrets+=("$model_key")
  mkdir -m 700 "$tmp/model"
  ANTHROPIC_REAL_KEY="$model_key" node "$here/fake-model.mjs" "$tmp/metrics" "$tmp/model" > "$tmp/model.log" 2>&1 &
  model_pid=$!
  background_pids+=("$model_pid")
  wait_until "$model_pid" "the fake model" test -s "$tmp/model/port"
  model_url="https://api.anthropic.com:$(< "$tmp/model/port")"
fi

# 3. Airlock's configuration: the "digest" harness, or with --agent the built-in agent's settings (no
# command) with where the model is. The harness's sandbox sees /usr, the harness directory (read-only)
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
  if (( agent )); then
    echo "    agent:"
  else
    echo "    digest:"
    echo "      command: [$(yaml_quote /bin/sh), $(yaml_quote "$here/harness/digest.sh")]"
    echo "      read_only_paths:"
    for path in "${read_only[@]}"; do echo "        - $(yaml_quote "$path")"; done
  fi
  echo "      timeout_seconds: 120"
  echo "      env:"
  echo "        METRICS_URL: $(yaml_quote "https://metrics.internal:$metrics_port")"
  if (( agent )); then
    echo "        ANTHROPIC_BASE_URL: $(yaml_quote "$model_url")"
  else
    echo "        NODE: $(yaml_quote "$node_bin")"
  fi
} > "$tmp/airlock.yaml"

# 4. The daemon. It trusts the fake services' CA for upstream connections and resolves their hosts to
# 127.0.0.1 (the sandbox cannot resolve anything itself: its proxy does), a loopback address the proxy
# refuses unless --allow-private opens it.
api_key="sk-airlock-example-$(openssl rand -hex 16)"
resolve=()
for host in "${hosts[@]}"; do resolve+=(--resolve "$host:127.0.0.1"); done
AIRLOCK_API_KEY="$api_key" "$airlock" serve --config "$tmp/airlock.yaml" --data-dir "$data" \
  --api-listen 127.0.0.1:0 --proxy-listen 127.0.0.1:0 --ready-file "$tmp/ready.json" \
  --upstream-ca "$tmp/metrics/ca.pem" "${resolve[@]}" --allow-private 127.0.0.1/32 > "$tmp/airlock.log" 2>&1 &
daemon_pid=$!
background_pids+=("$daemon_pid")
wait_until "$daemon_pid" "airlock serve" test -s "$tmp/ready.json"
api="$(sed -E 's/.*"api":"([^"]+)".*/\1/' "$tmp/ready.json")"
echo "airlock serve: API http://$api, data dir $data"
echo "fake metrics service: https://metrics.internal:$metrics_port"
(( agent )) && echo "fake model: $model_url"
echo

# 5. The client: set up through the SDK, run the deployment once, follow the session.
mkdir "$tmp/out"
model_env=()
(( agent )) && model_env=(MODEL_URL="$model_url" ANTHROPIC_REAL_KEY="$model_key")
env AIRLOCK_API_URL="http://$api" AIRLOCK_API_KEY="$api_key" METRICS_REAL_TOKEN="$token" DIGEST_OUT="$tmp/out" \
  "${model_env[@]}" node "$here/client.mjs" || fail "client.mjs failed"

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
for secret in "${secrets[@]}"; do
  if grep -qF "$secret" "$events"; then fail "the session's events contain a real secret"; fi
  if grep -qF "$secret" "$tmp/out/responses.log"; then fail "an API response contains a real secret"; fi
done
if (( agent )); then
  mapfile -t keys < "$tmp/model/x-api-key.log"
  (( ${#keys[@]} >= 3 )) || fail "the fake model received ${#keys[@]} request(s), expected at least 3"
  for value in "${keys[@]}"; do
    [[ "$value" == "$model_key" ]] || fail "the fake model saw an x-api-key other than the real key"
  done
  # What the agent did, from the events: bash fetched the figures, write put them in the digest, then the
  # final message and the end of the turn. Prints the tool calls for the summary.
  tools="$(node --input-type=module - "$events" "$tmp/metrics/daily.json" "$digest" << 'CHECK'
import assert from 'node:assert/strict';
import fs from 'node:fs';

const [eventsFile, dailyFile, digestFile] = process.argv.slice(2);
const events = JSON.parse(fs.readFileSync(eventsFile, 'utf8'));
const daily = JSON.parse(fs.readFileSync(dailyFile, 'utf8'));
const digest = fs.readFileSync(digestFile, 'utf8');
const text = (event) => (event.content ?? []).filter((b) => b.type === 'text').map((b) => b.text).join('');
// The index of the first event after `from` that passes `test`.
const after = (from, what, test) => {
  const index = events.findIndex((e, i) => i > from && test(e));
  assert.ok(index >= 0, `no ${what} in the session's events (after event ${from})`);
  return index;
};
const toolUse = (from, name) => after(from, `agent.tool_use of ${name}`, (e) => e.type === 'agent.tool_use' && e.name === name);
const resultOf = (from) => after(from, `agent.tool_result of ${events[from].name}`,
  (e) => e.type === 'agent.tool_result' && e.tool_use_id === events[from].id);

const bash = toolUse(-1, 'bash');
const fetched = resultOf(bash);
assert.deepEqual(JSON.parse(text(events[fetched])), daily, 'the bash result holds the figures the service served');
const write = toolUse(fetched, 'write');
assert.equal(events[write].input.file_path, '/workspace/digest.md');
const written = resultOf(write);
assert.ok(!events[written].is_error, `the write failed: ${text(events[written])}`);
const final = after(written, 'final agent.message', (e) => e.type === 'agent.message' && text(e).startsWith('Digest written:'));
const idle = after(final, 'session.status_idle', (e) => e.type === 'session.status_idle');
assert.equal(events[idle].stop_reason?.type, 'end_turn');
assert.ok(digest.includes(`${daily.service}, ${daily.date}`), 'the digest names the service and the day');
for (const m of daily.metrics) assert.ok(digest.includes(`| ${m.name} | ${m.value} |`), `the digest has ${m.name} = ${m.value}`);
console.log(`bash (curl .../v1/daily) -> write ${events[write].input.file_path} -> "${text(events[final])}"`);
CHECK
)" || fail "the session's events or the digest are not what the agent should have done"
else
  placeholder="$(grep -oE 'METRICS_API_TOKEN is [A-Za-z0-9_]+' "$events" | head -n 1 | cut -d' ' -f3 || true)"
  [[ "$placeholder" == airlock_ph_* ]] || fail "the session's events do not show a placeholder for METRICS_API_TOKEN"
fi

# A clean stop, and nothing of the secrets in what the daemon printed or left in its data dir (the vaults
# are sealed).
stop_daemon "$daemon_pid" "$tmp/airlock.log" "${secrets[@]}"
for secret in "${secrets[@]}"; do
  if grep -rqF "$secret" "$data"; then fail "a file of the data dir holds a real secret: $(grep -rlF "$secret" "$data" | head -n 1)"; fi
done

echo
echo "--- $digest ---"
cat "$digest"
echo
if (( agent )); then
  echo "agent: $tools"
  echo "model saw: the real key (${#keys[@]} request(s), each with x-api-key: <the real key>, set by the proxy from the LLM vault)"
else
  echo "sandbox saw: $placeholder"
fi
echo "metrics service saw: the real token (${#seen[@]} request(s), each with Authorization: Bearer <the real token>)"
if [[ "${KEEP:-}" == 1 ]]; then
  echo "digest: $digest"
else
  echo "digest: $digest (removed on exit; KEEP=1 keeps it)"
fi
