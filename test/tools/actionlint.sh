#!/usr/bin/env bash
# Lints every workflow in .github/workflows with actionlint v1.7.12, built once from the Go
# module proxy into the tool cache. Exits non-zero on any finding.
#
#   test/tools/actionlint.sh            # all of .github/workflows/*.yml
#   test/tools/actionlint.sh FILE...    # only these files
#
# MEDAUDIT_CACHE moves the cache (default ~/.cache/medaudit-deploy). shellcheck and pyflakes
# checks run when those tools are on PATH and are skipped otherwise.
set -euo pipefail
# shellcheck source=test/tools/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

VERSION=v1.7.12
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN_DIR="$TOOL_CACHE/actionlint-$VERSION"
ACTIONLINT="$BIN_DIR/actionlint"

[[ -x "$ACTIONLINT" ]] || go_install actionlint.sh "github.com/rhysd/actionlint/cmd/actionlint@$VERSION" "$BIN_DIR"

cd "$ROOT"
if [[ $# -gt 0 ]]; then
  files=("$@")
else
  shopt -s nullglob
  files=(.github/workflows/*.yml .github/workflows/*.yaml)
  shopt -u nullglob
fi
if [[ ${#files[@]} -eq 0 ]]; then
  echo "actionlint.sh: no workflow files found under .github/workflows" >&2
  exit 2
fi

args=(-no-color)
if ! command -v shellcheck >/dev/null 2>&1; then
  echo "actionlint.sh: shellcheck not found, skipping shell script checks" >&2
  args+=(-shellcheck=)
fi
if ! command -v pyflakes >/dev/null 2>&1; then
  args+=(-pyflakes=)
fi

echo "actionlint.sh: actionlint $VERSION on ${#files[@]} file(s): ${files[*]}" >&2
"$ACTIONLINT" "${args[@]}" "${files[@]}"
echo "actionlint.sh: no findings" >&2
