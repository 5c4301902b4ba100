#!/usr/bin/env bash
# Prints the bin directory of a virtualenv with alembic (from PyPI), made once in the tool cache,
# for the test that runs the shipped migrate command against a real database.
#
# MEDAUDIT_CACHE moves the cache (default ~/.cache/medaudit-deploy).
set -euo pipefail

VERSION=1.14.1
VENV="${MEDAUDIT_CACHE:-$HOME/.cache/medaudit-deploy}/tools/alembic-$VERSION"
if [[ ! -x "$VENV/bin/alembic" ]]; then
  echo "alembic.sh: installing alembic $VERSION into $VENV" >&2
  python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install --quiet "alembic==$VERSION" >&2
fi
echo "$VENV/bin"
