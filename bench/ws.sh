#!/usr/bin/env bash
# WebSocket benchmark (issue 5 item 6): N concurrent sessions logged in (JWT at the upgrade)
# and idle; the server's RSS per session, its CPU spent on keep-alives while idle, and the
# round trip of `ping` requests at a fixed rate (p50/p99), driven by bench/ws/ws_client.c (one
# epoll thread in C, so the client adds microseconds, not a garbage collector's pauses, to what
# it measures; an earlier driver on node's `ws` measured its own event loop). The same driver runs against
# gorgee and then against a peer in the same run: node's `ws` server speaking the same
# protocol subset (bench/ws/peer_server.mjs). Loopback only; the processes it starts are
# stopped by PID. Prints as its last line:
#   ws: sessions=<n> rss_per_session_kb=<x> p99_ms=<y>
# (the peer's figures and gorgee's p50 and idle CPU are on the lines before it)
# usage: bench/ws.sh
# env: BUILD_DIR (default build-release), SESSIONS (10000), RATE (1000 requests/s),
#      SECS (10), IDLE_SECS (20), PING_SECS (30, ws.ping_interval's default)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$repo/build-release}
sessions=${SESSIONS:-10000}
rate=${RATE:-1000}
secs=${SECS:-10}
idle=${IDLE_SECS:-20}
ping=${PING_SECS:-30}

command -v node >/dev/null || { echo "node not installed (scripts/install-deps.sh --test)" >&2; exit 2; }
[ -d "$repo/tests/node_modules/ws" ] || { echo "npm packages missing (scripts/install-deps.sh --test)" >&2; exit 2; }
if [ ! -d "$build" ]; then
	meson setup "$build" "$repo" --buildtype=release >&2
fi
ninja -C "$build" gateway/gorgee bench/ws-client >&2
# client and servers each hold one fd per session
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# shellcheck source=bench/lib/common.sh
. "$repo/bench/lib/common.sh"
bench_setup wsbench
secret=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
drive() { # port pid
	"$build/bench/ws-client" --port "$1" --pid "$2" --secret "$secret" --sessions "$sessions" \
		--rate "$rate" --secs "$secs" --idle-secs "$idle" | grep '^SUMMARY ' | cut -d' ' -f2-
}
field() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); v=d[sys.argv[2]]; print(round(v, 3) if isinstance(v, float) else v)' "$1" "$2"; }

port=$(free_port)
echo "# gorgee: $sessions sessions, pings every ${ping}s, $rate requests/s for ${secs}s" >&2
GORGEE_WS_TOKEN_SECRET=$secret "$build/gateway/gorgee" --set "general.data_dir=$work/data" \
	--set "http.port=$port" --set http.listen=127.0.0.1 --set sip.udp_port=0 --set sip.tcp_port=0 \
	--set sip.tls_port=0 --set general.log_level=warn --set ws.max_conns_per_ip=100000 \
	--set "ws.ping_interval=$ping" --set calls.enabled=false 2>"$work/gorgee.log" &
gpid=$!
pids+=("$gpid")
wait_port "$port" || { tail -5 "$work/gorgee.log" >&2; exit 1; }
g=$(drive "$port" "$gpid")
kill "$gpid"
wait "$gpid" 2>/dev/null || true
echo "# gorgee: $g" >&2

pport=$(free_port)
echo "# peer (node ws): same load" >&2
node "$repo/bench/ws/peer_server.mjs" "$pport" "$secret" "$ping" >"$work/peer.log" 2>&1 &
ppid=$!
pids+=("$ppid")
wait_port "$pport"
p=$(drive "$pport" "$ppid")
echo "# peer: $p" >&2
echo "ws-peer: sessions=$(field "$p" sessions) rss_per_session_kb=$(field "$p" rss_per_session_kb)" \
	"p50_ms=$(field "$p" p50_ms) p99_ms=$(field "$p" p99_ms) idle_cpu_pct=$(field "$p" idle_cpu_pct)"
echo "ws-gorgee: p50_ms=$(field "$g" p50_ms) idle_cpu_pct=$(field "$g" idle_cpu_pct) failed=$(field "$g" failed)" \
	"lost=$(field "$g" lost) alive_after_idle=$(field "$g" alive_after_idle)"
echo "ws: sessions=$(field "$g" sessions) rss_per_session_kb=$(field "$g" rss_per_session_kb) p99_ms=$(field "$g" p99_ms)"
