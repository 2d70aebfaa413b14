#!/bin/sh
# Prints what a harness can see of its own identity and of every process in its sandbox: its environment,
# the environment and command line of each process under /proc, its uid/gid, its capability sets, the
# hostname and the network interfaces. Its METRICS_API_TOKEN also goes to stderr.
# Each line carries a prefix so that the tests can find it among the session's events. A copy of the
# environment goes to /workspace/env.txt.
env | sed 's/^/env: /'
env > /workspace/env.txt
env | grep '^METRICS_API_TOKEN=' >&2
for dir in /proc/[0-9]*; do
  pid=${dir#/proc/}
  if [ -r "$dir/environ" ]; then
    tr '\0' '\n' < "$dir/environ" 2>/dev/null | sed "s/^/environ $pid: /"
  fi
  if [ -r "$dir/cmdline" ]; then
    printf 'cmdline %s: %s\n' "$pid" "$(tr '\0' ' ' < "$dir/cmdline" 2>/dev/null)"
  fi
done
echo "uid: $(id -u)"
echo "gid: $(id -g)"
grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb):' /proc/self/status | sed 's/^/status: /'
echo "hostname: $(cat /proc/sys/kernel/hostname)"
echo "interfaces: $(awk -F: 'NR > 2 { gsub(/ /, "", $1); print $1 }' /proc/net/dev | tr '\n' ' ')"
