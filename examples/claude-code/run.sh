#!/usr/bin/env bash
# Claude Code as a session's harness, end to end on this machine (see README.md here):
#
#   examples/claude-code/run.sh        (KEEP=1 keeps the temp dir: data dir, logs, events)
#
# Large: it installs @anthropic-ai/claude-code@2.1.332 (about 400 MB) with npm into a cache dir, so it runs
# under `make test-examples`, never under `make test`. It skips (exit 77) when npm cannot reach the registry
# and nothing is cached.
#
# Starts a stand-in Messages API (stand-in.mjs: HTTPS, api.anthropic.com, a 401 unless it sees the real
# key) and `airlock serve` with a "claude-code" harness: `airlock agent --adapter claude-code` running the
# real CLI in the sandbox. client.mjs sets up a vault, an environment, an agent and a session through the
# official SDK and runs two turns. Exits 0 only when every request the stand-in saw carried the real key,
# the session shows Claude Code's messages, its Bash call and the call's result, each turn ended idle with
# end_turn, the usage was added, the second turn resumed the first's conversation, and no event, log or
# output holds the real key.
#
# Needs: build/airlock (`make`), node, npm, openssl, bubblewrap, and the SDK in tests/sdk/node_modules.
# CLAUDE_CODE_CACHE: where the package is installed (default /var/tmp/airlock-examples-$UID/claude-code-2.1.332);
# the sandbox mounts it read-only, so it and its parents must be readable by any user.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
example="claude-code/run.sh"
# shellcheck source=../lib/common.sh
source "$here/../lib/common.sh"

version="2.1.332"
require_sandbox_example node openssl
command -v npm > /dev/null || skip "npm is not installed; it installs @anthropic-ai/claude-code"

# 1. Claude Code, installed once into the cache dir and reused. npm's postinstall links the native binary
# of this platform (a package of its own) to bin/claude.exe; node is not needed to run it.
cache="${CLAUDE_CODE_CACHE:-/var/tmp/airlock-examples-$UID/claude-code-$version}"
cli="$cache/node_modules/.bin/claude"
installed() { [[ -x "$cli" ]] && [[ "$("$cli" --version 2> /dev/null)" == "$version "* ]]; }
if ! installed; then
  timeout 60 npm view "@anthropic-ai/claude-code@$version" version > /dev/null 2>&1 ||
    skip "npm cannot reach the registry to install @anthropic-ai/claude-code@$version"
  echo "installing @anthropic-ai/claude-code@$version into $cache (once; about 400 MB)"
  mkdir -p -m 755 "$(dirname "$cache")"
  rm -rf "$cache.partial"
  (umask 022 && timeout 600 npm install --prefix "$cache.partial" --no-audit --no-fund --loglevel=error \
    "@anthropic-ai/claude-code@$version" > /dev/null) || fail "npm install @anthropic-ai/claude-code@$version failed"
  rm -rf "$cache"
  mv "$cache.partial" "$cache"
  installed || fail "the installed CLI does not report version $version"
fi
# The sandbox runs what is there: it must be ours, and writable by no one else.
[[ -O "$cache" ]] || fail "$cache belongs to another user"
if find "$cache" -perm /022 ! -type l -print -quit | grep -q .; then fail "something in $cache is writable by others"; fi

make_temp_dir airlock-claude-code

# 2. The stand-in Messages API, with the real key. Only it, the vault and this script ever hold it.
key="sk-ant-api03-example-$(openssl rand -hex 24)"
mkdir -m 700 "$tmp/stand-in"
STAND_IN_REAL_KEY="$key" node "$here/stand-in.mjs" "$tmp/stand-in" > "$tmp/stand-in.log" 2>&1 &
stand_in_pid=$!
background_pids+=("$stand_in_pid")
wait_until "$stand_in_pid" "the stand-in Messages API" test -s "$tmp/stand-in/port"
port="$(< "$tmp/stand-in/port")"

# 3. Airlock's configuration: the "claude-code" harness. The adapter is Airlock's own binary, mounted in every
# sandbox at /run/airlock/airlock; the CLI's package is mounted read-only where it was installed. The
# sandbox is the boundary, so the CLI's own permission prompts (which no one could answer in print mode)
# are off.
{
  echo "runtime:"
  (( EUID == 0 )) || echo "  limits: none"  # cgroup limits need root or a delegated cgroup (docs/runtime.md)
  echo "  harnesses:"
  echo "    claude-code:"
  echo "      command: [/run/airlock/airlock, agent, --adapter, claude-code, --, $(yaml_quote "$cli"), -p, --output-format, stream-json, --verbose, --permission-mode, bypassPermissions]"
  echo "      stdin: json"
  echo "      read_only_paths: [$(yaml_quote "$cache")]"
  echo "      timeout_seconds: 600"
  echo "      env:"
  echo "        ANTHROPIC_BASE_URL: $(yaml_quote "https://api.anthropic.com:$port")"
  echo "        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1'"
  echo "        DISABLE_AUTOUPDATER: '1'"
} > "$tmp/airlock.yaml"

# 4. The daemon. It trusts the stand-in's CA for upstream connections and resolves api.anthropic.com to
# 127.0.0.1, a loopback address the proxy refuses unless --allow-private opens it.
api_key="sk-airlock-example-$(openssl rand -hex 16)"
AIRLOCK_API_KEY="$api_key" "$airlock" serve --config "$tmp/airlock.yaml" --data-dir "$data" \
  --api-listen 127.0.0.1:0 --proxy-listen 127.0.0.1:0 --ready-file "$tmp/ready.json" \
  --upstream-ca "$tmp/stand-in/ca.pem" --resolve api.anthropic.com:127.0.0.1 --allow-private 127.0.0.1/32 > "$tmp/airlock.log" 2>&1 &
daemon_pid=$!
background_pids+=("$daemon_pid")
wait_until "$daemon_pid" "airlock serve" test -s "$tmp/ready.json"
api="$(sed -E 's/.*"api":"([^"]+)".*/\1/' "$tmp/ready.json")"
echo "airlock serve: API http://$api, data dir $data"
echo "stand-in Messages API: https://api.anthropic.com:$port"
echo "Claude Code: $cli"
echo

# 5. The client: set up through the SDK, two turns, the checks of what the SDK shows.
mkdir "$tmp/out"
status=0
AIRLOCK_API_URL="http://$api" AIRLOCK_API_KEY="$api_key" ANTHROPIC_REAL_KEY="$key" EXAMPLE_OUT="$tmp/out" \
  node "$here/client.mjs" > >(tee "$tmp/client.log") 2>&1 || status=$?
session_id="$(cat "$tmp/out/session_id" 2> /dev/null || true)"
stderr_log="$data/sessions/$session_id/stderr.log"
if (( status != 0 )); then
  [[ -f "$stderr_log" ]] && { echo "--- the session's stderr.log (last 30 lines) ---" >&2; tail -n 30 "$stderr_log" >&2; }
  fail "client.mjs failed"
fi

# 6. What the stand-in saw: the real key on every request, the main prompt, and a second turn that carried
# the first one's conversation (the adapter's --resume).
requests="$tmp/stand-in/requests.jsonl"
[[ -s "$requests" ]] || fail "the stand-in received no request"
node - "$requests" << 'EOF_NODE' || fail "the stand-in's requests are not as expected"
const fs = require('node:fs');
const seen = fs.readFileSync(process.argv[2], 'utf8').trim().split('\n').map((line) => JSON.parse(line));
const fail = (why) => { console.error(why); process.exit(1); };
if (!seen.every((r) => r.x_api_key_is_real)) fail('a request reached the stand-in without the real key');
if (!seen.some((r) => r.main_prompt)) fail('no request offered the Bash tool');
const second = seen.find((r) => r.main_prompt && r.thanks);
if (!second || second.messages < 3) fail('the second turn did not carry the first turn\'s conversation');
console.log(`stand-in: ${seen.length} request(s), each with x-api-key: <the real key>`);
EOF_NODE

# 7. Nothing of the key anywhere it could leak: events, the session, the client's output, the session's
# stderr, the workspace, and (stop_daemon) the daemon's log.
for file in "$tmp/out/events.json" "$tmp/out/session.json" "$tmp/client.log" "$stderr_log"; do
  if grep -qF "$key" "$file"; then fail "$(basename "$file") contains the real key"; fi
done
if grep -rqF "$key" "$data/sessions/$session_id/workspace"; then fail "the workspace contains the real key"; fi
stop_daemon "$daemon_pid" "$tmp/airlock.log" "$key"

echo
echo "$example: Claude Code ran two turns in the sandbox; the key stayed outside it"
