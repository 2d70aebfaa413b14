#!/bin/sh
# Looks for the daemon's data dir (its path is the first line of stdin) from inside the sandbox, lists
# /run/airlock and /etc/airlock, checks that /etc holds no secret entries, searches the whole tree for a
# master.key, and writes into /workspace, /tmp and /usr.
read -r data_dir
ls "$data_dir" >/dev/null 2>&1
echo "ls data dir: $?"
cat "$data_dir/master.key" >/dev/null 2>&1
echo "cat master.key: $?"
if [ -e "$data_dir" ]; then echo "data dir exists: yes"; else echo "data dir exists: no"; fi
echo "run/airlock: $(ls /run/airlock | tr '\n' ' ')"
echo "etc/airlock: $(ls /etc/airlock | tr '\n' ' ')"
for entry in passwd shadow gshadow machine-id ssh; do
  if [ -e "/etc/$entry" ]; then echo "etc $entry: present"; else echo "etc $entry: absent"; fi
done
echo "find master.key: [$(find / -name master.key 2>/dev/null | tr '\n' ' ')]"
echo "pwd: $(pwd) home: $HOME"
echo "written from the sandbox" > /workspace/from-sandbox.txt
echo "write workspace: $?"
echo "written to /tmp" > /tmp/scratch.txt
echo "write tmp: $?"
touch /usr/airlock-probe 2>/dev/null
echo "write usr: $?"
