#!/usr/bin/env bash
# Installs what gorgee needs, builds it (release) and starts it on its embedded default
# configuration: web demo, WebSocket signaling, /healthz and /metrics on http://0.0.0.0:8080,
# state in ./data. Extra arguments go to gorgee (e.g. --config FILE, --set http.port=9000).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --build
if [ -f build-release/build.ninja ]; then
  meson setup --reconfigure build-release --buildtype=release >/dev/null
else
  meson setup build-release --buildtype=release >/dev/null
fi
ninja -C build-release
exec build-release/gateway/gorgee "$@"
