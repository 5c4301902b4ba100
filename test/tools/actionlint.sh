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

VERSION=v1.7.12
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN_DIR="${MEDAUDIT_CACHE:-$HOME/.cache/medaudit-deploy}/tools/actionlint-$VERSION"
ACTIONLINT="$BIN_DIR/actionlint"

if [[ ! -x "$ACTIONLINT" ]]; then
  if ! command -v go >/dev/null 2>&1; then
    echo "actionlint.sh: go is needed to build actionlint $VERSION (not found on PATH)" >&2
    exit 2
  fi
  echo "actionlint.sh: building actionlint $VERSION into $BIN_DIR" >&2
  mkdir -p "$BIN_DIR"
  GOBIN="$BIN_DIR" go install "github.com/rhysd/actionlint/cmd/actionlint@$VERSION"
fi

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
