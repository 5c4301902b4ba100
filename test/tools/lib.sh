# shellcheck shell=bash
# Shared by the tool scripts: Go tools built once from the Go module proxy into the tool cache.
# MEDAUDIT_CACHE moves the cache (default ~/.cache/medaudit-deploy).
export TOOL_CACHE="${MEDAUDIT_CACHE:-$HOME/.cache/medaudit-deploy}/tools"

# go_install SCRIPT MODULE@VERSION BIN_DIR: builds the module's binary into BIN_DIR.
go_install() {
  local script="$1" module="$2" dir="$3"
  if ! command -v go >/dev/null 2>&1; then
    echo "$script: go is needed to build $module (not found on PATH)" >&2
    exit 2
  fi
  echo "$script: building $module into $dir" >&2
  mkdir -p "$dir"
  GOBIN="$dir" GOFLAGS=-mod=mod go install "$module" >&2
}
