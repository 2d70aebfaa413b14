#!/bin/sh
# The private-registry example's harness: what a session of the "build" environment runs in its sandbox
# (docs/runtime.md). With nothing but placeholders for its two tokens, it installs @internal/greeter from
# the private npm registry, clones the private git repository, commits a report written with the package
# and pushes it back. The proxy puts the real tokens in on the way out, each only towards its own host.
#
# It sets no proxy or CA variable: npm and git take HTTPS_PROXY, NPM_CONFIG_CAFILE and GIT_SSL_CAINFO from
# the environment the sandbox was started with. Every line printed on stdout becomes an event of the
# session; stderr goes to its stderr log. Exit 0 ends the session idle, anything else terminated.
set -eu

# node and npm, when they live outside /usr (run.sh mounts their installation read-only then).
if [ -n "${NODE_BIN_DIR:-}" ]; then PATH=$NODE_BIN_DIR:$PATH; fi
# A missing credential fails at once instead of waiting for a prompt nobody answers.
export GIT_TERMINAL_PROMPT=0

request=$(tr '\n' ' ' | sed 's/ *$//')
echo "build: session $AIRLOCK_SESSION_ID, uid $(id -u), working directory $(pwd)"
echo "build: asked to: $request"
echo "NPM_TOKEN is $NPM_TOKEN"
echo "GIT_TOKEN is $GIT_TOKEN"

# Runs a command quietly, keeping its output for stderr when it fails.
quietly() {
  if ! "$@" > /tmp/out.log 2>&1; then
    echo "build: failed: $*" >&2
    cat /tmp/out.log >&2
    exit 1
  fi
}

# 1. npm. The project's .npmrc names the registry and takes the token from the environment: npm expands
# ${NPM_TOKEN} itself, to the placeholder, and sends it as `Authorization: Bearer ...`. No retries, so
# that a refusal fails at once, and nothing that would call the public registry (audit, fund, updates).
registry_host=${REGISTRY_URL#https://}
registry_host=${registry_host%/}
mkdir -p /workspace/app
cd /workspace/app
cat > .npmrc <<NPMRC
registry=$REGISTRY_URL/
//$registry_host/:_authToken=\${NPM_TOKEN}
fetch-retries=0
update-notifier=false
audit=false
fund=false
NPMRC
printf '{ "name": "app", "version": "1.0.0", "private": true }\n' > package.json
echo "build: npm install @internal/greeter from $REGISTRY_URL/ through the proxy (${HTTPS_PROXY##*@})"
quietly npm install --loglevel=error @internal/greeter
installed=$(node -p "const v = (p) => require(p + '/package.json').version; \`@internal/greeter \${v('@internal/greeter')}, exclaim \${v('exclaim')}\`")
echo "build: installed $installed"
greeting=$(node -p "require('@internal/greeter').greet('from the sandbox')")
echo "build: the package says: $greeting"

# 2. git. The shell puts the placeholder in the URL; git sends it as the password of HTTP Basic, and
# the proxy swaps the real token into the header. The clone's .git/config keeps this URL: a placeholder.
cd /workspace
echo "build: git clone $GIT_URL"
quietly git clone "https://x-access-token:$GIT_TOKEN@${GIT_URL#https://}" repo
cd repo
day=$(date -u +%F)
mkdir -p reports
cat > "reports/$day.md" <<REPORT
# Build report, $day

$greeting

Installed $installed from $REGISTRY_URL/ in session $AIRLOCK_SESSION_ID.
REPORT
git add "reports/$day.md"
quietly git -c user.name='Airlock example' -c user.email='build@example.invalid' \
  commit -m "Add the build report of $day"
quietly git push
commit=$(git rev-parse HEAD)
echo "build: pushed $commit (reports/$day.md) to $GIT_URL"

echo "build: done: $installed installed, reports/$day.md pushed, with placeholders only"
