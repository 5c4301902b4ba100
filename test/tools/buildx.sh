#!/usr/bin/env bash
# Prints a docker config directory whose cli-plugins holds docker-buildx v0.38.2, built once from the
# Go module proxy into the tool cache. Docker finds the plugin through DOCKER_CONFIG; it builds with
# the engine's own BuildKit (the `docker` driver: nothing to pull).
#
#   DOCKER_CONFIG="$(bash test/tools/buildx.sh)" docker buildx version
#
# MEDAUDIT_CACHE moves the cache (default ~/.cache/medaudit-deploy).
set -euo pipefail
# shellcheck source=test/tools/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

VERSION=v0.38.2
DIR="$TOOL_CACHE/buildx-$VERSION"
PLUGIN="$DIR/docker-config/cli-plugins/docker-buildx"

if [[ ! -x "$PLUGIN" ]]; then
  go_install buildx.sh "github.com/docker/buildx/cmd/buildx@$VERSION" "$DIR/bin"
  mkdir -p "$(dirname "$PLUGIN")"
  ln -sf "$DIR/bin/buildx" "$PLUGIN"
fi
echo "$DIR/docker-config"
