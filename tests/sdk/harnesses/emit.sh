#!/bin/sh
# Prints a plain line, a line that is an agent.message event, and a line on stderr, then exits 0.
echo "plain output"
echo '{"type":"agent.message","content":[{"type":"text","text":"x"}]}'
echo "a note on stderr" >&2
