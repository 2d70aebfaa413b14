#!/bin/sh
# Tries to reach the test origin (port: first stdin line) and the daemon's API (port: second line)
# directly, bypassing the proxy, then calls the origin through the proxy with the placeholder from
# METRICS_API_TOKEN. Prints each curl's exit status, and the proxied response's body and status.
read -r origin_port
read -r api_port
curl --noproxy '*' -sS -m 5 -o /dev/null "https://127.0.0.1:$origin_port/direct" 2>/dev/null
echo "direct origin: $?"
curl --noproxy '*' -sS -m 5 -o /dev/null "http://127.0.0.1:$api_port/v1/sessions" 2>/dev/null
echo "direct api: $?"
curl -sS -m 10 -w '\nstatus: %{http_code}\n' -H "Authorization: Bearer $METRICS_API_TOKEN" \
  "https://metrics.test:$origin_port/v1/metrics"
echo "proxied: $?"
