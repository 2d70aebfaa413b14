#!/bin/sh
# Fills /workspace: a small file first, then zeros until the file system refuses. Prints what dd said and
# its exit status, and exits with that status (a workspace limit is an error the harness sees).
echo "kept" > /workspace/kept.txt
dd if=/dev/zero of=/workspace/big bs=1M count=4096 2> /tmp/dd.err
status=$?
echo "dd: $(grep -o 'No space left on device' /tmp/dd.err | head -n 1)"
echo "status: $status"
exit "$status"
