#!/bin/sh
# Prints a line, then kills itself with SIGTERM.
echo "about to be killed"
kill -TERM $$
