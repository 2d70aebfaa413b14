#!/bin/sh
# What a runaway harness does to a machine without limits, left running until the session's time limit:
# a child that takes memory until the kernel stops it, and forks until the kernel refuses one more
# process. Prints how many processes it could start.
exec /usr/bin/python3 -c '
import os, time
print("storming", flush=True)
if os.fork() == 0:
    # The one the kernel is to kill at the memory limit, whatever else is large in the sandbox (under
    # AddressSanitizer the relay is): a process may always raise its own oom_score_adj.
    with open("/proc/self/oom_score_adj", "w") as adj:
        adj.write("1000")
    chunks = []
    while True:
        chunks.append(bytearray(1 << 20))
started = 0
for _ in range(5000):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(600)
        os._exit(0)
    started += 1
print(f"started: {started}", flush=True)
time.sleep(600)
'
