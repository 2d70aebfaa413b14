#!/bin/sh
# Prints 40 lines of 99 "o"s (4000 bytes with the newlines) on stdout, then exits 0.
i=0
while [ "$i" -lt 40 ]; do
  head -c 99 /dev/zero | tr '\0' o
  echo
  i=$((i + 1))
done
