#!/usr/bin/env bash
# Prepare this machine for the stack gates (as root): Debian's prometheus (and promtool),
# debootstrap and a Docker engine, then the stack images (built locally: no registry needed).
#
# Safe to run again: packages are installed only when missing, dockerd is started only when
# no engine answers, and images are built only when their tag is missing. Needs no systemd:
# dockerd runs in the background (--bridge=none --iptables=false: containers use the host
# network and bind 127.0.0.1), its pid kept for scripts/stack-teardown.sh.
# Environment: PYTHON (default .venv/bin/python), MLCHECK_POLICY (the gates.toml naming the
# images; default checks/gates.toml), MLCHECK_SKIP_IMAGES=1 to stop before the image builds.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-.venv/bin/python}"
STATE_DIR=.mlcheck/stack
SOCKET=/var/run/docker.sock
say() { echo "stack-setup: $*"; }

if [ "$(id -u)" -ne 0 ]; then
    say "run as root: it installs packages, starts dockerd and runs debootstrap" >&2
    exit 2
fi
mkdir -p "$STATE_DIR"

# 1. Debian packages, only those missing.
missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v docker >/dev/null || missing+=(docker.io)
{ command -v prometheus >/dev/null && command -v promtool >/dev/null; } || missing+=(prometheus)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ "${#missing[@]}" -gt 0 ]; then
    # A package's install script must not start its service (Debian's prometheus would take
    # :9090, docker.io would start dockerd with a bridge): deny starts while installing.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    say "installing ${missing[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        "${missing[@]}" ca-certificates cgroupfs-mount tar
else
    say "docker.io, prometheus (promtool) and debootstrap are installed"
fi

# 2. A Docker engine: reuse one that answers, else start dockerd in the background.
engine_answers() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }
if engine_answers; then
    say "a Docker engine already answers at $SOCKET"
else
    if ! grep -q cgroup /proc/mounts && command -v cgroupfs-mount >/dev/null; then
        cgroupfs-mount  # no systemd to mount the cgroup hierarchies
    fi
    say "starting dockerd (log: $STATE_DIR/dockerd.log)"
    setsid dockerd --bridge=none --iptables=false --ip-masq=false \
        </dev/null >"$STATE_DIR/dockerd.log" 2>&1 &
    echo $! >"$STATE_DIR/dockerd.pid"
    for _ in $(seq 1 60); do
        if [ -S "$SOCKET" ] && engine_answers; then
            break
        fi
        if ! kill -0 "$(cat "$STATE_DIR/dockerd.pid")" 2>/dev/null; then
            say "dockerd exited; its log ends:" >&2
            tail -20 "$STATE_DIR/dockerd.log" >&2
            exit 2
        fi
        sleep 1
    done
    if ! engine_answers; then
        say "dockerd did not answer at $SOCKET within 60 s; see $STATE_DIR/dockerd.log" >&2
        exit 2
    fi
    say "dockerd $(docker version --format '{{.Server.Version}}') answers (pid $(cat "$STATE_DIR/dockerd.pid"))"
fi

# 3. The images (each skipped when its tag exists).
if [ "${MLCHECK_SKIP_IMAGES:-0}" = 1 ]; then
    say "MLCHECK_SKIP_IMAGES=1: images not built"
    exit 0
fi
if [ ! -x "$PYTHON" ]; then
    say "$PYTHON is missing; run scripts/setup.sh first (or set PYTHON)" >&2
    exit 2
fi
policy_args=()
if [ -n "${MLCHECK_POLICY:-}" ]; then
    policy_args=(--policy "$MLCHECK_POLICY")
fi
"$PYTHON" -m mlcheck stack build-images "${policy_args[@]}"
say "done"
