#!/bin/bash
# Runs a node test script (headless Chromium, baresip) in a private, loopback-only network
# namespace (E2E.md: Chromium would otherwise gather and probe the machine's external
# addresses). Skips cleanly (TAP "1..0") when a peer or a permission is missing.
# usage: e2e_netns.sh SCRIPT.mjs path/to/gorgee [artifact-dir]
set -u
here=$(dirname "$(readlink -f "$0")")
skip() { echo "1..0 # SKIP $*"; exit 0; }
[ -x /usr/bin/chromium ] || skip "no /usr/bin/chromium"
command -v baresip >/dev/null || skip "no baresip"
command -v node >/dev/null || skip "no node"
[ -d "$here/node_modules/playwright-core" ] || skip "no playwright-core (run npm ci in tests/)"
[ "$(id -u)" = 0 ] || skip "unshare -n needs root"
unshare -n true 2>/dev/null || skip "unshare -n is not permitted here"
script=$(readlink -f "${1:?script}")
shift
exec unshare -n bash -c 'ip link set lo up && exec node "$0" "$@"' "$script" "$@"
