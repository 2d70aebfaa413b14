#!/bin/sh
# Prints one line on stdout and one on stderr, then exits with status 3.
echo "about to fail"
echo "fatal: the harness gave up" >&2
exit 3
