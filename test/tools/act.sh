#!/usr/bin/env bash
# Prints the path of nektos/act v0.2.89, the GitHub Actions runner emulator, building it once
# from the Go module proxy into the tool cache (about 2 minutes on 2 cores).
#
#   ACT="$(bash test/tools/act.sh)"
#
# MEDAUDIT_CACHE moves the cache (default ~/.cache/medaudit-deploy).
set -euo pipefail

VERSION=v0.2.89
BIN_DIR="${MEDAUDIT_CACHE:-$HOME/.cache/medaudit-deploy}/tools/act-$VERSION"
ACT="$BIN_DIR/act"

if [[ ! -x "$ACT" ]]; then
  if ! command -v go >/dev/null 2>&1; then
    echo "act.sh: go is needed to build act $VERSION (not found on PATH)" >&2
    exit 2
  fi
  echo "act.sh: building act $VERSION into $BIN_DIR" >&2
  mkdir -p "$BIN_DIR"
  GOBIN="$BIN_DIR" GOFLAGS=-mod=mod go install "github.com/nektos/act@$VERSION" >&2
fi
echo "$ACT"
