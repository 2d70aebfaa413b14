#!/bin/sh
# Tries what a harness must not be able to do to its host (SECURITY.md N6): read a root-only file under a
# read-only path (the directory is the first line of stdin) and the host's /etc/default/cacerts, and leave
# a setuid copy of a program in /workspace. Prints its uid and "ready", then waits for one more line on
# stdin (stdin: open) while the test looks at its processes and files from the host.
read -r dir
cat "$dir/public.txt" >/dev/null 2>&1
echo "read public.txt: $?"
cat "$dir/root-only.txt" >/dev/null 2>&1
echo "read root-only.txt: $?"
if [ -e /etc/default/cacerts ]; then
  cat /etc/default/cacerts >/dev/null 2>&1
  echo "read /etc/default/cacerts: $?"
else
  echo "read /etc/default/cacerts: absent"
fi
echo "made in the sandbox" > /workspace/made.txt
cp /usr/bin/id /workspace/setuid-id && chmod 4755 /workspace/setuid-id
echo "setuid copy: $?"
echo "uid: $(id -u)"
echo "ready"
read -r _
