#!/usr/bin/env bash
# The private-registry example, end to end on this machine (see README.md here):
#
#   examples/private-registry/run.sh      (KEEP=1 keeps the temp dir: data dir, logs, the git host)
#
# Starts a private npm registry (registry.internal) and a private git host (git.internal), each accepting
# only its own real token, and `airlock serve` with a "build" harness; then client.mjs puts both tokens in
# a vault through the official SDK and starts a session. Its harness, holding placeholders only, installs
# a package from the registry, clones the repository, commits a report and pushes it. Exits 0 only when
# the session ended idle, both hosts saw the real tokens and nothing else, the push landed, and no real
# token shows in the session's events, its workspace or the daemon's log.
#
# Needs: build/airlock (`make`), node, npm, git, openssl, bubblewrap, and the SDK in tests/sdk/node_modules.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
example="private-registry/run.sh"
# shellcheck source=../lib/common.sh
source "$here/../lib/common.sh"

require_sandbox_example node npm git openssl
[[ -x /usr/lib/git-core/git-http-backend ]] ||
  fail "git's http-backend (/usr/lib/git-core/git-http-backend), which the stand-in git host runs, is missing"
make_temp_dir airlock-registry

# 1. A CA, and a certificate for each host signed by it (P-256, one day).
make_certs "$tmp/servers" "Private registry example CA" registry.internal git.internal

# 2. The registry and the git host, with the real tokens. Only they, the vault and this script hold them.
npm_token="npm-live-$(openssl rand -hex 20)"
git_token="git-live-$(openssl rand -hex 20)"
NPM_REAL_TOKEN="$npm_token" GIT_REAL_TOKEN="$git_token" node "$here/servers.mjs" "$tmp/servers" > "$tmp/servers.log" 2>&1 &
servers_pid=$!
background_pids+=("$servers_pid")
wait_until "$servers_pid" "servers.mjs" test -s "$tmp/servers/ready"
{ read -r registry_port; read -r git_port; read -r git_bare; } < "$tmp/servers/ready"
registry_url="https://registry.internal:$registry_port"
git_url="https://git.internal:$git_port/org/repo.git"
git_origin="$(git --git-dir="$git_bare" rev-parse main)"

# 3. Airlock's configuration: the "build" harness. Its sandbox sees /usr (node, npm and git on most
# systems), the harness directory (read-only) and its own /workspace; node's installation is mounted too
# when it lives outside /usr, npm with it.
node_bin="$(readlink -f "$(command -v node)")"
read_only=("$here/harness")
node_bin_dir=""
case "$node_bin" in
  /usr/*) ;;
  *)
    read_only+=("$(dirname "$(dirname "$node_bin")")")
    node_bin_dir="$(dirname "$node_bin")"
    ;;
esac
{
  echo "runtime:"
  # Each session runs in a cgroup with the default limits (1 GiB, 512 processes, 1 CPU), which needs root or
  # a delegated cgroup (docs/runtime.md, "Resource limits"); as another user the example runs without them.
  (( EUID == 0 )) || echo "  limits: none"
  echo "  harnesses:"
  echo "    build:"
  echo "      command: [$(yaml_quote /bin/sh), $(yaml_quote "$here/harness/build.sh")]"
  echo "      read_only_paths:"
  for path in "${read_only[@]}"; do echo "        - $(yaml_quote "$path")"; done
  echo "      timeout_seconds: 120"
  echo "      env:"
  echo "        REGISTRY_URL: $(yaml_quote "$registry_url")"
  echo "        GIT_URL: $(yaml_quote "$git_url")"
  [[ -z "$node_bin_dir" ]] || echo "        NODE_BIN_DIR: $(yaml_quote "$node_bin_dir")"
} > "$tmp/airlock.yaml"

# 4. The daemon. It trusts the hosts' CA for upstream connections and resolves both names to 127.0.0.1
# (the sandbox cannot resolve anything itself: its proxy does), a loopback address the proxy refuses
# unless --allow-private opens it.
api_key="sk-airlock-example-$(openssl rand -hex 16)"
AIRLOCK_API_KEY="$api_key" "$airlock" serve --config "$tmp/airlock.yaml" --data-dir "$data" \
  --api-listen 127.0.0.1:0 --proxy-listen 127.0.0.1:0 --ready-file "$tmp/ready.json" \
  --upstream-ca "$tmp/servers/ca.pem" --resolve registry.internal:127.0.0.1 --resolve git.internal:127.0.0.1 \
  --allow-private 127.0.0.1/32 > "$tmp/airlock.log" 2>&1 &
daemon_pid=$!
background_pids+=("$daemon_pid")
wait_until "$daemon_pid" "airlock serve" test -s "$tmp/ready.json"
api="$(sed -E 's/.*"api":"([^"]+)".*/\1/' "$tmp/ready.json")"
echo "airlock serve: API http://$api, data dir $data"
echo "npm registry: $registry_url/"
echo "git host: $git_url"
echo

# 5. The client: the vault, the agent, the environment and one session, followed to its end.
mkdir "$tmp/out"
AIRLOCK_API_URL="http://$api" AIRLOCK_API_KEY="$api_key" NPM_REAL_TOKEN="$npm_token" GIT_REAL_TOKEN="$git_token" \
  BUILD_OUT="$tmp/out" node "$here/client.mjs" || fail "client.mjs failed"

# 6. The checks.
session_id="$(< "$tmp/out/session_id")"
workspace="$data/sessions/$session_id/workspace"
events="$tmp/out/events.json"

# What the sandbox held: a placeholder for each token, and never a real token in what it printed.
placeholder() {
  grep -oE "$1 is [A-Za-z0-9_]+" "$events" | head -n 1 | cut -d' ' -f3 || true
}
npm_placeholder="$(placeholder NPM_TOKEN)"
git_placeholder="$(placeholder GIT_TOKEN)"
[[ "$npm_placeholder" == airlock_ph_* ]] || fail "the session's events do not show a placeholder for NPM_TOKEN"
[[ "$git_placeholder" == airlock_ph_* ]] || fail "the session's events do not show a placeholder for GIT_TOKEN"
for token in "$npm_token" "$git_token"; do
  if grep -qF "$token" "$events"; then fail "the session's events contain a real token"; fi
done

# The push landed: the git host's main is the commit the harness reported, one on top of the original,
# adding the report.
pushed="$(grep -oE 'build: pushed [0-9a-f]{40}' "$events" | head -n 1 | cut -d' ' -f3 || true)"
[[ -n "$pushed" ]] || fail "the session's events do not report a pushed commit"
head="$(git --git-dir="$git_bare" rev-parse main)"
[[ "$head" == "$pushed" ]] || fail "the git host's main is $head, not the pushed commit $pushed"
[[ "$(git --git-dir="$git_bare" rev-parse main~1)" == "$git_origin" ]] || fail "the pushed commit is not on top of the original main"
report="$(git --git-dir="$git_bare" diff-tree --no-commit-id --name-only -r main)"
[[ "$report" =~ ^reports/[0-9]{4}-[0-9]{2}-[0-9]{2}\.md$ ]] || fail "the pushed commit does not add one report (it changes: $report)"
git --git-dir="$git_bare" show "main:$report" | grep -qF 'hello from the sandbox!' ||
  fail "the pushed report does not hold the package's greeting"

# The workspace holds what npm and git left (packages, lock file, npm's cache, the clone with its remote
# URL), and no real token anywhere in it.
for path in app/node_modules/@internal/greeter app/node_modules/exclaim app/package-lock.json .npm/_cacache repo/.git/config; do
  [[ -e "$workspace/$path" ]] || fail "the workspace has no $path"
done
grep -qF "$git_placeholder" "$workspace/repo/.git/config" || fail "the clone's .git/config does not hold the placeholder URL"
for token in "$npm_token" "$git_token"; do
  if grep -rqF "$token" "$workspace"; then fail "the workspace contains a real token: $(grep -rlF "$token" "$workspace" | head -n 3)"; fi
done

# A clean stop, and nothing of the tokens in what the daemon printed.
stop_daemon "$daemon_pid" "$tmp/airlock.log" "$npm_token" "$git_token"

# What each host received: the registry the real token on every request; the git host the real token on
# every request that carried one (git first asks without credentials, and gets 401 and a challenge).
kill -TERM "$servers_pid"
wait "$servers_pid" || fail "servers.mjs exited with status $? on SIGTERM"
received="$tmp/servers/received.json"
[[ -s "$received" ]] || fail "servers.mjs did not write $received"
summary="$(node - "$received" <<'JS'
const received = JSON.parse(require('node:fs').readFileSync(process.argv[2], 'utf8'));
const count = (list, auth) => list.filter((r) => r.authorization === auth).length;
const problems = [];
if (received.registry.length === 0) problems.push('the registry received no request');
for (const r of received.registry) {
  if (r.authorization !== 'real') problems.push(`the registry saw ${r.method} ${r.url} with authorization: ${r.authorization}`);
}
if (count(received.git, 'real') === 0) problems.push('the git host received no authenticated request');
for (const r of received.git) {
  if (r.authorization === 'other') problems.push(`the git host saw ${r.method} ${r.url} with another authorization`);
  if (r.authorization === 'real' && r.status !== 200) problems.push(`the git host answered ${r.method} ${r.url} with ${r.status}`);
}
if (!received.git.some((r) => r.method === 'POST' && r.url.endsWith('/git-receive-pack'))) problems.push('the git host received no push');
if (problems.length) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.log(`${received.registry.length} ${count(received.git, 'real')} ${count(received.git, 'none')}`);
JS
)" || fail "the hosts did not see what they should have (above)"
read -r registry_requests git_authenticated git_probes <<< "$summary"

echo
echo "--- $report, as pushed to the git host ---"
git --git-dir="$git_bare" show "main:$report"
echo
echo "sandbox saw: NPM_TOKEN=$npm_placeholder GIT_TOKEN=$git_placeholder"
echo "npm registry saw: the real token ($registry_requests request(s), each with Authorization: Bearer <the real token>)"
echo "git host saw: the real token ($git_authenticated request(s) with it as the Basic password; $git_probes first try(s) without credentials, answered 401)"
echo "git host's main: ${pushed:0:12} (the pushed report), on top of ${git_origin:0:12}"
echo "workspace: no real token in node_modules, package-lock.json, .npm or the clone (.git/config keeps the placeholder URL)"
