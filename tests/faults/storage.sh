#!/usr/bin/env bash
# The data dir's file system full, then read-only, under a running `airlock serve`:
#
#   tests/faults/storage.sh   (root: it mounts a 24 MiB ext4 image of its own, in a mount namespace of its own)
#
# 1. Full: vaults are created until the disk takes no more. The request that does not fit is answered
#    507 with the API's error body, byte for byte; every vault acknowledged before it is listed, the
#    refused one is not (nothing half-written), reads keep working, and once space is freed the same
#    request succeeds, without a restart.
# 2. Read-only: ext4 turns itself read-only after an error (errors=remount-ro; the test triggers one
#    through /sys/fs/ext4/DEV/trigger_fs_error). A write is 503, reads still answer. Such a file system
#    comes back only through an unmount, so the test then stops the daemon, mounts the image again and
#    starts a new daemon on it: every vault acknowledged before is there, and writes succeed.
# Exit 77 (a failure under CI=true) when this machine cannot make a mount namespace or a loop device.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
example="faults/storage.sh"
# shellcheck source=../../examples/lib/common.sh
source "$here/../../examples/lib/common.sh"

if [[ "${AIRLOCK_STORAGE_TEST_NS:-}" != 1 ]]; then
  (( $(id -u) == 0 )) || skip "needs root, to mount a small tmpfs as the data dir"
  unshare -m --propagation private true 2> /dev/null || skip "cannot create a mount namespace here (unshare -m)"
  AIRLOCK_STORAGE_TEST_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
[[ -x "$airlock" ]] || fail "no airlock binary at $airlock; run \`make\` at the top of the repository first"

make_temp_dir airlock-storage
on_exit() { umount "$data" 2> /dev/null || true; }
mkdir -m 700 "$data"
truncate -s 24M "$tmp/data.img"
mkfs.ext4 -q -m 0 "$tmp/data.img" || skip "mkfs.ext4 failed"
mount_data() { mount -o loop,errors=remount-ro "$tmp/data.img" "$data" && chmod 700 "$data"; }
mount_data || skip "cannot mount an ext4 image through a loop device here"

api_key="sk-airlock-test-$(od -A n -N 16 -t x1 /dev/urandom | tr -d ' \n')"
start_daemon() {
  rm -f "$tmp/ready.json"
  AIRLOCK_API_KEY="$api_key" "$airlock" serve --data-dir "$data" --api-listen 127.0.0.1:0 --proxy-listen 127.0.0.1:0 \
    --ready-file "$tmp/ready.json" >> "$tmp/airlock.log" 2>&1 &
  pid=$!
  background_pids=("$pid")
  wait_until "$pid" "airlock serve" test -s "$tmp/ready.json"
  api="http://$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["api"])' "$tmp/ready.json")"
}
start_daemon

# request METHOD PATH [BODY]: sets status and body.
request() {
  local out
  out="$(curl -sS -o "$tmp/body" -w '%{http_code}' -X "$1" -H "x-api-key: $api_key" -H 'content-type: application/json' \
    ${3:+--data-binary "$3"} "$api$2")"
  status="$out"
  body="$(cat "$tmp/body")"
}
error_message() { python3 -c 'import json,sys; print(json.load(sys.stdin)["error"]["message"])' <<< "$body"; }
error_body() {  # the API's error body for a message, without its request id
  python3 -c 'import json,sys; d=json.load(sys.stdin); d["request_id"]=None; print(json.dumps(d, sort_keys=True))' <<< "$body"
}
vault_count() {  # every vault, a page of 100 at a time
  local count=0 after=""
  while :; do
    request GET "/v1/vaults?limit=100&include_archived=true${after:+&page=$after}"
    [[ "$status" == 200 ]] || fail "listing vaults answered $status: $body"
    count=$((count + $(python3 -c 'import json,sys; print(len(json.load(sys.stdin)["data"]))' <<< "$body")))
    after="$(python3 -c 'import json,sys; print(json.load(sys.stdin).get("next_page") or "")' <<< "$body")"
    [[ -n "$after" ]] || break
  done
  echo "$count"
}
# A vault with 8 KiB of metadata: the disk fills in a few hundred of them.
padding="$(head -c 400 /dev/zero | tr '\0' 'x')"
vault_body() {
  local metadata="" i
  for i in $(seq 1 16); do metadata+="\"k$i\":\"$padding\","; done
  printf '{"display_name":"%s","metadata":{%s}}' "$1" "${metadata%,}"
}

# 1. Full.
dd if=/dev/zero of="$data/filler" bs=1M count=16 status=none 2> /dev/null || true
created=0
full_status=""
for n in $(seq 1 3000); do
  request POST /v1/vaults "$(vault_body "vault-$n")"
  if [[ "$status" == 200 ]]; then
    created=$((created + 1))
    continue
  fi
  full_status="$status"
  break
done
[[ "$full_status" == 507 ]] || fail "after $created vaults the disk should be full: got status '$full_status': $body"
expected='{"error": {"message": "the server'"'"'s data directory is full, so nothing of this request was stored; free space there and retry", "type": "api_error"}, "request_id": null, "type": "error"}'
[[ "$(error_body)" == "$expected" ]] || fail "the 507 body: $body"
echo "$example: disk full after $created vaults: 507, $(error_message)"
grep -q "the data directory's file system is full" "$tmp/airlock.log" || fail "the log does not say the disk is full"
# Nothing half-written: every acknowledged vault, and not the refused one.
listed="$(vault_count)"
(( listed == created )) || fail "$created vaults were acknowledged, $listed are listed"
rm -f "$data/filler"
request POST /v1/vaults "$(vault_body "vault-after-full")"
[[ "$status" == 200 ]] || fail "with space freed the write answered $status: $body"
echo "$example: space freed: the same write is 200 again"

# 2. Read-only.
created=$((created + 1))
device="$(basename "$(findmnt -no SOURCE "$data")")"
[[ -w "/sys/fs/ext4/$device/trigger_fs_error" ]] || skip "this kernel has no /sys/fs/ext4/$device/trigger_fs_error"
echo 1 > "/sys/fs/ext4/$device/trigger_fs_error"
findmnt -no OPTIONS "$data" | grep -q emergency_ro || fail "the file system did not turn read-only"
request POST /v1/vaults '{"display_name":"read-only"}'
[[ "$status" == 503 ]] || fail "a write on a read-only data dir answered $status: $body"
expected='{"error": {"message": "the server'"'"'s database is read-only, so nothing of this request was stored; make the data directory writable and retry", "type": "api_error"}, "request_id": null, "type": "error"}'
[[ "$(error_body)" == "$expected" ]] || fail "the 503 body: $body"
[[ "$(vault_count)" == "$created" ]] || fail "reads fail, or show other vaults, on a read-only data dir"
echo "$example: read-only: 503, $(error_message); reads still answer"

kill -TERM "$pid"
wait "$pid" || true  # its last checkpoint cannot be written: the exit status says so, nothing more
background_pids=()
umount "$data"
e2fsck -fy "$tmp/data.img" > /dev/null 2>&1 || true  # clears the error that ext4 recorded
mount_data || fail "the image does not mount again"
start_daemon
[[ "$(vault_count)" == "$created" ]] || fail "after the restart $(vault_count) vaults are listed, $created were acknowledged"
request POST /v1/vaults '{"display_name":"writable-again"}'
[[ "$status" == 200 ]] || fail "on a writable data dir again the write answered $status: $body"
echo "$example: mounted again and restarted: all $created vaults there, writes 200"

stop_daemon "$pid" "$tmp/airlock.log"
background_pids=()
echo "$example: ok"
