#!/usr/bin/env bash
# Installs redis-server, which the online/redis tests start themselves (on a
# free loopback port, with a temp directory and persistence off; see
# online/redis/redistest). Idempotent: does nothing when redis-server is
# already in PATH or $PLINTH_REDIS_SERVER names an executable.
#
# Usage: scripts/redis.sh
set -euo pipefail

if [[ -n "${PLINTH_REDIS_SERVER:-}" ]]; then
	if [[ -x "$PLINTH_REDIS_SERVER" ]] || command -v "$PLINTH_REDIS_SERVER" >/dev/null 2>&1; then
		echo "redis-server: using PLINTH_REDIS_SERVER=$PLINTH_REDIS_SERVER"
		exit 0
	fi
	echo "PLINTH_REDIS_SERVER=$PLINTH_REDIS_SERVER is not an executable" >&2
	exit 1
fi

if bin=$(command -v redis-server); then
	echo "redis-server already installed at $bin ($("$bin" --version | head -n 1))"
	exit 0
fi

echo "installing redis-server" >&2
sudo=""
if [[ "$(id -u)" != 0 ]]; then
	sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2
# Only the binary is needed: the tests start their own servers, so the
# service the package would start is stopped again where systemd or
# invoke-rc.d runs it (inside containers, neither starts it).
$sudo apt-get install -y -qq --no-install-recommends redis-server >&2
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet redis-server 2>/dev/null; then
	$sudo systemctl stop redis-server || true
	$sudo systemctl disable redis-server >/dev/null 2>&1 || true
fi
bin=$(command -v redis-server)
echo "installed $bin ($("$bin" --version | head -n 1))"
