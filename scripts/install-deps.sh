#!/usr/bin/env bash
# Installs everything gorgee needs to build, run and test, idempotently.
#   scripts/install-deps.sh            build + run dependencies
#   scripts/install-deps.sh --test     also the test peers (sipp, baresip, Chromium, Redis, ...)
#   scripts/install-deps.sh --runtime  only the run-time libraries (used by the Dockerfile's last stage)
# Used by the README commands, .ci/run and the Dockerfile alike.
set -euo pipefail

mode=build
case "${1:-}" in
  --test) mode=test ;;
  --runtime) mode=runtime ;;
  --build|"") mode=build ;;
  *) echo "usage: $0 [--build|--test|--runtime]" >&2; exit 2 ;;
esac

runtime_pkgs=(
  libwebsockets17 libwebsockets-evlib-uv libuv1 libjansson4 libnice10
  libssl3 libglib2.0-0 libc-ares2 libsqlite3-0 libhiredis0.14 libjemalloc2 ca-certificates
  curl # the container HEALTHCHECK
)
build_pkgs=(
  "${runtime_pkgs[@]}"
  gcc clang libclang-rt-14-dev meson ninja-build pkg-config git python3
  libwebsockets-dev libuv1-dev libjansson-dev libnice-dev libssl-dev
  libsrtp2-1 libsrtp2-dev # the SRTP tests' oracle and bench/srtp-bench; gorgee itself does
                          # its own SRTP on OpenSSL (media-relay/relay_srtp.c)
  libglib2.0-dev libc-ares-dev libsqlite3-dev libhiredis-dev
  libjemalloc-dev # the gorgee executable's allocator (meson option jemalloc, bench/README.md)
)
test_pkgs=(
  "${build_pkgs[@]}"
  valgrind curl iproute2 procps psmisc sqlite3 redis-server
  sip-tester baresip sipsak kamailio dnsmasq sox coturn
  libsofia-sip-ua-dev libosip2-dev
  chromium
)
# Node.js may come from elsewhere (it bundles npm and conflicts with Debian's npm).
if ! command -v npm >/dev/null 2>&1; then test_pkgs+=(nodejs npm); fi

case "$mode" in
  runtime) want=("${runtime_pkgs[@]}") ;;
  build) want=("${build_pkgs[@]}") ;;
  test) want=("${test_pkgs[@]}") ;;
esac

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts some peers as services on install; tests start their own instances.
  for svc in redis-server kamailio dnsmasq coturn; do
    if command -v systemctl >/dev/null 2>&1; then systemctl disable --now "$svc" >/dev/null 2>&1 || true; fi
    if command -v service >/dev/null 2>&1; then service "$svc" stop >/dev/null 2>&1 || true; fi
  done
else
  echo "install-deps: all ${#want[@]} packages present"
fi

if [ "$mode" = test ]; then
  # playwright-core drives Debian's chromium; no browser download.
  here=$(cd "$(dirname "$0")/.." && pwd)
  if [ ! -d "$here/tests/node_modules/playwright-core" ] || [ ! -d "$here/tests/node_modules/ws" ]; then
    (cd "$here/tests" && npm install --no-audit --no-fund --silent >/dev/null)
  fi
fi
