#!/usr/bin/env bash
# Install what the tests need on a fresh machine, then run lint and the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."

# redis-server for the Redis-backed tests, promtool (Debian's prometheus) to check alert rules,
# Alertmanager (Debian's prometheus-alertmanager) for `stockray monitoring` and its alert test,
# chromium and its matching chromedriver (Debian's) for the dashboard's browser test, and a
# Korean font so its Korean screenshots show text.
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
[ -d /usr/share/fonts/truetype/nanum ] || missing+=(fonts-nanum)
if [ ${#missing[@]} -gt 0 ]; then
  echo "test.sh: installing ${missing[*]} (apt-get)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

# The `test` extra includes llama-cpp-python, built from source the first time (pip's wheel
# cache keeps the wheel for later runs); two compile jobs keep a small CI machine usable.
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}"
python -m pip install -q --disable-pip-version-check -e ".[test]"

ruff check .
ruff format --check .
exec python -m pytest -q "$@"
