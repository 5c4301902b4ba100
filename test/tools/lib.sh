# shellcheck shell=bash
# Shared by the tool scripts: Go tools built once from the Go module proxy into the tool cache.
# MEDAUDIT_CACHE moves the cache (default ~/.cache/medaudit-deploy).
export TOOL_CACHE="${MEDAUDIT_CACHE:-$HOME/.cache/medaudit-deploy}/tools"

# require_go SCRIPT MODULE: go must be on PATH to build MODULE.
require_go() {
  if ! command -v go >/dev/null 2>&1; then
    echo "$1: go is needed to build $2 (not found on PATH)" >&2
    exit 2
  fi
}

# go_install SCRIPT MODULE@VERSION BIN_DIR: builds the module's binary into BIN_DIR.
go_install() {
  local script="$1" module="$2" dir="$3"
  require_go "$script" "$module"
  echo "$script: building $module into $dir" >&2
  mkdir -p "$dir"
  GOBIN="$dir" GOFLAGS=-mod=mod go install "$module" >&2
}

# go_build_patched SCRIPT MODULE@VERSION PATCH BIN_DIR: builds the module's main package, with
# PATCH applied to its source, into BIN_DIR.
go_build_patched() {
  local script="$1" module="$2" patch="$3" dir="$4" src tmp
  require_go "$script" "$module"
  echo "$script: building $module with $(basename "$patch") into $dir" >&2
  src=$(GOFLAGS=-mod=mod go mod download -json "$module" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  tmp=$(mktemp -d)
  cp -r "$src/." "$tmp"
  chmod -R u+w "$tmp"
  git -C "$tmp" apply -p1 "$patch"
  mkdir -p "$dir"
  (cd "$tmp" && GOFLAGS=-mod=mod go build -o "$dir/" . >&2)
  rm -rf "$tmp"
}
