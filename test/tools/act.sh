#!/usr/bin/env bash
# Prints the path of nektos/act v0.2.89, the GitHub Actions runner emulator, building it once
# from the Go module proxy into the tool cache (about 2 minutes on 2 cores), with one fix
# (act-host-output.patch: a failing step keeps the end of its output).
#
#   ACT="$(bash test/tools/act.sh)"
#
# MEDAUDIT_CACHE moves the cache (default ~/.cache/medaudit-deploy).
set -euo pipefail
# shellcheck source=test/tools/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

VERSION=v0.2.89
PATCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/act-host-output.patch"
BIN_DIR="$TOOL_CACHE/act-$VERSION-$(sha256sum "$PATCH" | cut -c1-12)"
ACT="$BIN_DIR/act"

[[ -x "$ACT" ]] || go_build_patched act.sh "github.com/nektos/act@$VERSION" "$PATCH" "$BIN_DIR"
echo "$ACT"
