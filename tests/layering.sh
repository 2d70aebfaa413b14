#!/usr/bin/env bash
# Checks STYLE.md §1: which area may include what. Prints every forbidden include and fails if any.
set -uo pipefail
root="${1:?usage: layering.sh REPO_ROOT}"
cd "$root"
failed=0

forbid() {  # forbid DIR PATTERN WHY
  local hits
  hits=$(grep -rnE --include='*.cpp' --include='*.hpp' --include='*.h' "$2" "$1" 2>/dev/null || true)
  if [ -n "$hits" ]; then
    echo "layering: $1 must not include $3:"
    echo "$hits"
    failed=1
  fi
}

forbid store   '#include [<"](boost/asio|openssl/ssl|llhttp|nlohmann|airlock/(certs|policies|proxy|http1|control|cron))' 'Asio, TLS, llhttp, JSON or other areas'
forbid certs   '#include [<"](boost/asio|sqlite3|nlohmann|llhttp|airlock/(store|proxy|http1|control|policies))' 'store, proxy, control, JSON'
forbid policies '#include [<"](sqlite3|nlohmann|llhttp|openssl|airlock/(store|proxy|http1|control|certs))' 'store, proxy, control, JSON'
forbid proxy/http1 '#include [<"](boost/|openssl|nlohmann|sqlite3|airlock/(store|control|certs|policies|proxy/))' 'Asio, OpenSSL, JSON or other areas'
forbid proxy   '#include [<"](sqlite3|nlohmann|airlock/(store|control))' 'store, control or JSON'
forbid control/cron '#include [<"](boost/asio|sqlite3|nlohmann|openssl|llhttp|airlock/(store|proxy|http1|certs|policies|control/))' 'I/O areas'
# llhttp stays behind http1's private sources.
hits=$(grep -rln 'llhttp.h' --include='*.hpp' --include='*.h' --include='*.cpp' . 2>/dev/null | grep -v '^./proxy/http1/src/' | grep -v '^./build' || true)
if [ -n "$hits" ]; then echo "layering: llhttp.h outside proxy/http1/src: $hits"; failed=1; fi

if [ "$failed" = 0 ]; then echo "layering: 1 passed, 0 failed"; else echo "layering: 0 passed, 1 failed"; fi
exit $failed
