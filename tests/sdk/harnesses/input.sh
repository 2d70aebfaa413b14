#!/bin/sh
# Echoes its input: each stdin line, the session id it was given, the initial events file and the agent
# file (one line each).
while IFS= read -r line; do
  echo "stdin: $line"
done
echo "session: $AIRLOCK_SESSION_ID"
echo "events file: $AIRLOCK_EVENTS_FILE"
echo "events: $(tr -d '\n' < "$AIRLOCK_EVENTS_FILE")"
echo "agent: $(tr -d '\n' < "$AIRLOCK_AGENT_FILE")"
