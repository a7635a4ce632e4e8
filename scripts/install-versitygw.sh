#!/usr/bin/env bash
# Installs versitygw, the S3-compatible gateway the blob/s3blob tests start
# (with its posix backend on a temp directory), into $(go env GOPATH)/bin.
# Idempotent: does nothing when that version is already installed there.
#
# Usage: scripts/install-versitygw.sh
# The tests find the binary via $PLINTH_VERSITYGW or `versitygw` in PATH.
set -euo pipefail

VERSION=v1.8.0
MODULE=github.com/versity/versitygw

gobin="$(go env GOBIN)"
if [[ -z "$gobin" ]]; then
	gobin="$(go env GOPATH)/bin"
fi
bin="$gobin/versitygw"

# A `go install`ed versitygw prints "git" for --version, so read the module
# version the Go toolchain recorded in the binary instead.
if [[ -x "$bin" ]] && go version -m "$bin" 2>/dev/null | grep -Eq "^[[:space:]]+mod[[:space:]]+$MODULE[[:space:]]+$VERSION([[:space:]]|$)"; then
	echo "versitygw $VERSION already installed at $bin"
	exit 0
fi

echo "installing versitygw $VERSION into $gobin"
# Run outside any module so the project's go.mod is neither used nor changed.
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
GOFLAGS=-mod=mod GOBIN="$gobin" go install "$MODULE/cmd/versitygw@$VERSION"
echo "installed $bin"
