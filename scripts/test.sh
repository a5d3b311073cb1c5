#!/usr/bin/env bash
# Install what the tests need on a fresh machine, then run lint and the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1; then
  echo "test.sh: installing redis-server (apt-get)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
fi

python -m pip install -q --disable-pip-version-check -e ".[test]"

ruff check .
ruff format --check .
exec python -m pytest -q "$@"
