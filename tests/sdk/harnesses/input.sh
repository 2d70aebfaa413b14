#!/bin/sh
# Echoes its input: each stdin line, the session id it was given, and the initial events file (one line).
while IFS= read -r line; do
  echo "stdin: $line"
done
echo "session: $AIRLOCK_SESSION_ID"
echo "events file: $AIRLOCK_EVENTS_FILE"
echo "events: $(tr -d '\n' < "$AIRLOCK_EVENTS_FILE")"
