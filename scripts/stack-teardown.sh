#!/usr/bin/env bash
# Undo what scripts/stack-setup.sh started, at the end of a CI job: remove stack containers a
# killed run left behind and stop the dockerd that setup started (pid in .mlcheck/stack).
# A Docker engine that setup did not start is left running. Images are kept (the cache of
# the next run on this machine). Safe to run twice.
set -euo pipefail
cd "$(dirname "$0")/.."

STATE_DIR=.mlcheck/stack
PID_FILE="$STATE_DIR/dockerd.pid"
say() { echo "stack-teardown: $*"; }

if command -v docker >/dev/null && docker version >/dev/null 2>&1; then
    left=$(docker ps -aq --filter label=mlcheck.stack.pid)
    if [ -n "$left" ]; then
        say "removing stack containers: $(echo $left)"
        docker rm -f $left >/dev/null
    fi
fi

if [ ! -f "$PID_FILE" ]; then
    say "no dockerd started by stack-setup; nothing to stop"
    exit 0
fi
pid=$(cat "$PID_FILE")
if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != "dockerd" ]; then
    say "pid $pid is no longer dockerd; nothing to stop"
    rm -f "$PID_FILE"
    exit 0
fi
say "stopping dockerd (pid $pid)"
kill -TERM "$pid"
for _ in $(seq 1 30); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 1
done
if kill -0 "$pid" 2>/dev/null; then
    say "dockerd did not stop within 30 s; killing it" >&2
    kill -KILL "$pid"
fi
rm -f "$PID_FILE"
say "done"
