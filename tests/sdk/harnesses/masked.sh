#!/bin/sh
# Lists a directory mounted read-only into the sandbox (its path is the first line of stdin): the type of
# each file in it and how many bytes of it can be read. The daemon's config file there must be masked.
read -r dir
for file in "$dir"/*; do
  echo "file $(basename "$file"): $(stat -c %F "$file"), $(cat "$file" 2>/dev/null | wc -c) bytes readable"
done
