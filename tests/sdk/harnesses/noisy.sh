#!/bin/sh
# Writes 3000 bytes to stderr ("e" x 2999 and a newline), then exits 0.
head -c 2999 /dev/zero | tr '\0' e >&2
echo >&2
