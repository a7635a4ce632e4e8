#!/usr/bin/env bash
# Installs nats-server, which the queue tests start themselves (with
# JetStream, on a free loopback port, storing in a temp directory; see
# queue/natstest). Idempotent: does nothing when nats-server is already in
# PATH or /usr/sbin, or $PLINTH_NATS_SERVER names an executable.
#
# Usage: scripts/nats.sh
set -euo pipefail

if [[ -n "${PLINTH_NATS_SERVER:-}" ]]; then
	if [[ -x "$PLINTH_NATS_SERVER" ]] || command -v "$PLINTH_NATS_SERVER" >/dev/null 2>&1; then
		echo "nats-server: using PLINTH_NATS_SERVER=$PLINTH_NATS_SERVER"
		exit 0
	fi
	echo "PLINTH_NATS_SERVER=$PLINTH_NATS_SERVER is not an executable" >&2
	exit 1
fi

# Debian installs it in /usr/sbin, which not every user has in PATH.
find_bin() {
	command -v nats-server 2>/dev/null || { [[ -x /usr/sbin/nats-server ]] && echo /usr/sbin/nats-server; }
}

if bin=$(find_bin); then
	echo "nats-server already installed at $bin ($("$bin" --version))"
	exit 0
fi

echo "installing nats-server" >&2
sudo=""
if [[ "$(id -u)" != 0 ]]; then
	sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2
# Only the binary is needed: the tests start their own servers, so the
# service the package would start is stopped again where systemd runs it
# (inside containers, nothing starts it).
$sudo apt-get install -y -qq --no-install-recommends nats-server >&2
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet nats-server 2>/dev/null; then
	$sudo systemctl stop nats-server || true
	$sudo systemctl disable nats-server >/dev/null 2>&1 || true
fi
bin=$(find_bin)
echo "installed $bin ($("$bin" --version))"
