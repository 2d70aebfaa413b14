#!/bin/sh
# Takes memory until the kernel stops it: 1 MiB at a time, touched, never given back. Under a memory limit
# the kernel kills it (exec: the harness itself is what is killed, and the session ends on that).
echo "hogging"
exec /usr/bin/python3 -c '
chunks = []
while True:
    chunks.append(bytearray(1 << 20))
'
