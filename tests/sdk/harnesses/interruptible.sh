#!/bin/sh
# A stdin: json harness whose turn never ends by itself: it notes the user.interrupt line and carries on,
# so only the SIGINT Airlock sends after the grace period ends the turn (the trap), and then the harness.
trap 'echo "stopped by SIGINT"; printf "{\"type\":\"session.status_idle\",\"stop_reason\":{\"type\":\"end_turn\"}}\n"; exit 0' INT
while IFS= read -r line; do
  case "$line" in
    *'"type":"user.message"'*) echo "working on it" ;;
    *'"type":"user.interrupt"'*) echo "saw the interrupt; finishing this step first" ;;
  esac
done
