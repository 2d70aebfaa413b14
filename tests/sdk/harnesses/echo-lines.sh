#!/bin/sh
# Answers each stdin line with "got: <line>" until it reads "bye" (for a harness whose stdin stays open).
while IFS= read -r line; do
  echo "got: $line"
  if [ "$line" = "bye" ]; then exit 0; fi
done
echo "stdin closed"
