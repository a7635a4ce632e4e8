#!/usr/bin/env bash
# Installs Debian's chromium, the headless browser the web UI's end-to-end
# tests drive with chromedp (see ui/e2e_test.go). Idempotent: does nothing
# when a chromium is already in PATH or $PLINTH_CHROMIUM names an
# executable. The tests skip without a browser locally and fail in CI.
#
# Usage: scripts/chromium.sh
set -euo pipefail

if [[ -n "${PLINTH_CHROMIUM:-}" ]]; then
	if [[ -x "$PLINTH_CHROMIUM" ]] || command -v "$PLINTH_CHROMIUM" >/dev/null 2>&1; then
		echo "chromium: using PLINTH_CHROMIUM=$PLINTH_CHROMIUM"
		exit 0
	fi
	echo "PLINTH_CHROMIUM=$PLINTH_CHROMIUM is not an executable" >&2
	exit 1
fi

for name in chromium chromium-browser; do
	if bin=$(command -v "$name"); then
		echo "chromium already installed at $bin ($("$bin" --version 2>/dev/null | head -n 1))"
		exit 0
	fi
done

echo "installing chromium" >&2
sudo=""
if [[ "$(id -u)" != 0 ]]; then
	sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2
# fonts-liberation gives the screenshots readable text on a bare machine;
# the browser itself needs nothing else to run headless.
$sudo apt-get install -y -qq --no-install-recommends chromium fonts-liberation >&2
bin=$(command -v chromium)
echo "installed $bin ($("$bin" --version 2>/dev/null | head -n 1))"
