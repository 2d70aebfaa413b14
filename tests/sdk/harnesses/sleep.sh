#!/bin/sh
# Prints a line, then sleeps for $1 seconds.
echo "sleeping"
exec sleep "$1"
