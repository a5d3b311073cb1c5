#!/usr/bin/env bash
# Vendors TradingView's lightweight-charts (Apache-2.0) from its npm package into
# serve_app/static/vendor/lightweight-charts/: the standalone ES module build, the package's
# LICENSE and package.json (its version). No CDN and no build step: the dashboard imports
# the file as it is. Update: `bash scripts/vendor_lightweight_charts.sh 5.2.1` (a version
# from `npm view lightweight-charts versions`), reload the dashboard, run
# tests/integration/test_dashboard.py, commit the folder.
set -euo pipefail
version="${1:?usage: $0 VERSION (e.g. 5.2.1)}"
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/serve_app/static/vendor/lightweight-charts"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "lightweight-charts@$version" >/dev/null && tar xzf ./*.tgz)
mkdir -p "$dest"
cp "$work/package/dist/lightweight-charts.standalone.production.mjs" "$dest/"
cp "$work/package/LICENSE" "$work/package/package.json" "$dest/"
echo "vendored lightweight-charts $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$dest/package.json") into $dest"
