#!/bin/sh
# A turn-taking harness (stdin: json): each client event arrives as a JSON line. A user.message is a turn:
# it answers with the message's text, then ends the turn with session.status_idle. A user.interrupt ends
# it: it exits 0.
while IFS= read -r line; do
  case "$line" in
    *'"type":"user.message"'*)
      text=$(printf '%s\n' "$line" | sed -n 's/.*"text":"\([^"]*\)".*/\1/p')
      printf '{"type":"agent.message","content":[{"type":"text","text":"echo: %s"}]}\n' "$text"
      printf '{"type":"session.status_idle","stop_reason":{"type":"end_turn"}}\n'
      ;;
    *'"type":"user.interrupt"'*)
      echo "interrupted"
      exit 0
      ;;
  esac
done
