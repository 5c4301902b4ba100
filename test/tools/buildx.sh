#!/usr/bin/env bash
# Prints a docker config directory whose cli-plugins holds docker-buildx v0.38.2, built once from the
# Go module proxy into the tool cache. Docker finds the plugin through DOCKER_CONFIG; it builds with
# the engine's own BuildKit (the `docker` driver: nothing to pull).
#
#   DOCKER_CONFIG="$(bash test/tools/buildx.sh)" docker buildx version
#
# MEDAUDIT_CACHE moves the cache (default ~/.cache/medaudit-deploy).
set -euo pipefail

VERSION=v0.38.2
DIR="${MEDAUDIT_CACHE:-$HOME/.cache/medaudit-deploy}/tools/buildx-$VERSION"
PLUGIN="$DIR/docker-config/cli-plugins/docker-buildx"

if [[ ! -x "$PLUGIN" ]]; then
  if ! command -v go >/dev/null 2>&1; then
    echo "buildx.sh: go is needed to build buildx $VERSION (not found on PATH)" >&2
    exit 2
  fi
  echo "buildx.sh: building buildx $VERSION into $DIR" >&2
  mkdir -p "$DIR/bin" "$(dirname "$PLUGIN")"
  GOBIN="$DIR/bin" GOFLAGS=-mod=mod go install "github.com/docker/buildx/cmd/buildx@$VERSION" >&2
  ln -sf "$DIR/bin/buildx" "$PLUGIN"
fi
echo "$DIR/docker-config"
