#!/bin/sh
# Waits a moment before printing, so that a stream opened after the session started sees the output live.
sleep 1
echo "after a moment"
