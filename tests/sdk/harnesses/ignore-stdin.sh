#!/bin/sh
# Never reads its stdin: prints a line, waits a moment (the daemon is then blocked writing its input),
# and exits.
echo "not reading stdin"
sleep 0.2
