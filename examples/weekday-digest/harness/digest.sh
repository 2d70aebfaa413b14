#!/bin/sh
# The weekday digest's harness: the program a session of the "digest" environment runs in its sandbox
# (docs/runtime.md). It reads what it is asked on stdin, fetches yesterday's figures from the metrics
# service with the token it was given (a placeholder: the proxy puts the real token in on the way out),
# writes /workspace/digest.md and prints it.
#
# Every line printed on stdout becomes an event of the session; stderr goes to its stderr log. The exit
# status decides how the session ends: 0 -> idle, anything else -> terminated.
set -eu

here=$(dirname "$0")
node=${NODE:-node}

request=$(tr '\n' ' ' | sed 's/ *$//')
echo "digest: session $AIRLOCK_SESSION_ID, uid $(id -u), working directory $(pwd)"
echo "digest: asked to: $request"
echo "METRICS_API_TOKEN is $METRICS_API_TOKEN"

# The sandbox's only network is loopback: a connection that does not go through the proxy goes nowhere.
if curl -sS --noproxy '*' --max-time 5 -o /dev/null https://1.1.1.1/ 2>/tmp/direct.err; then
  echo "digest: WARNING: a direct connection, bypassing the proxy, got out"
else
  echo "digest: a direct connection, bypassing the proxy, fails: $(head -n 1 /tmp/direct.err)"
fi

# curl reads HTTPS_PROXY and CURL_CA_BUNDLE from the environment the sandbox was started with.
echo "digest: GET $METRICS_URL/v1/daily through the proxy (${HTTPS_PROXY##*@})"
curl -sS --fail --max-time 30 -H "Authorization: Bearer $METRICS_API_TOKEN" "$METRICS_URL/v1/daily" -o /tmp/daily.json
echo "digest: the metrics service answered with $(wc -c < /tmp/daily.json) bytes"

"$node" "$here/render.mjs" /tmp/daily.json "$METRICS_URL/v1/daily" > /workspace/digest.md
echo "digest: wrote /workspace/digest.md"
cat /workspace/digest.md
