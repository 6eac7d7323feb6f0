#!/usr/bin/env bash
# Idle SIP TCP connections and the signaling loop: the server's CPU per UDP OPTIONS (and its
# round trip) while CONNS idle TCP connections are open, and with none, for gorgee and for
# Kamailio (the same driver, the same run). A loop that watches every connection on every
# wake-up shows it here: gorgee did, before core/fdpoll.c (3,393 us per request at 10,000).
# Loopback only; every process it starts is stopped by PID. Prints as its last line:
#   sip-tcp-idle: conns=<n> gorgee_us_per_req=<x> gorgee_idle0_us_per_req=<y> kamailio_us_per_req=<z>
# usage: bench/sip_tcp_idle.sh
# env: BUILD_DIR (default build-release), CONNS (10000), REQUESTS (3000)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$repo/build-release}
conns=${CONNS:-10000}
reqs=${REQUESTS:-3000}
for t in kamailio python3; do
	command -v "$t" >/dev/null || { echo "$t not installed (scripts/install-deps.sh --test)" >&2; exit 2; }
done
if [ ! -d "$build" ]; then
	meson setup "$build" "$repo" --buildtype=release >&2
fi
ninja -C "$build" gateway/gorgee >&2
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# shellcheck source=bench/lib/common.sh
. "$repo/bench/lib/common.sh"
bench_setup tcpidle
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
drive() { python3 "$repo/bench/sip_tcp_idle/driver.py" "$@"; }

gorgee_start() { # sets gp and port
	local http
	port=$(free_port) http=$(free_port)
	"$build/gateway/gorgee" --set "general.data_dir=$work/data" --set general.log_level=warn \
		--set sip.listen=127.0.0.1 --set "sip.udp_port=$port" --set "sip.tcp_port=$port" \
		--set sip.tls_port=0 --set "http.port=$http" --set http.listen=127.0.0.1 \
		--set sip.max_conns_per_ip=100000 --set sip.idle_timeout=3600 2>>"$work/gorgee.log" &
	gp=$!
	pids+=("$gp")
	wait_port "$port" || { tail -5 "$work/gorgee.log" >&2; exit 1; }
}
gorgee_stop() { kill "$gp"; wait "$gp" 2>/dev/null || true; }

echo "# gorgee: $reqs UDP OPTIONS with no TCP connection open" >&2
gorgee_start
g0=$(drive "$port" 0 "$reqs" "$gp")
gorgee_stop
echo "# gorgee: $g0" >&2
echo "# gorgee: $reqs UDP OPTIONS with $conns idle TCP connections open" >&2
gorgee_start
g=$(drive "$port" "$conns" "$reqs" "$gp")
gorgee_stop
echo "# gorgee: $g" >&2

kport=$(free_port)
echo "# kamailio: the same, with $conns idle TCP connections open" >&2
kamailio -f "$repo/bench/sip_tcp_idle/kamailio.cfg" -DD -E -m 1024 -l "udp:127.0.0.1:$kport" \
	-l "tcp:127.0.0.1:$kport" -Y "$work" -w "$work" 2>"$work/kamailio.log" &
kp=$!
pids+=("$kp")
wait_port "$kport" || { tail -5 "$work/kamailio.log" >&2; exit 1; }
sleep 0.5
kpids=$(pgrep -P "$kp" | tr '\n' ' ')
# shellcheck disable=SC2086  # one argument per PID
k=$(drive "$kport" "$conns" "$reqs" "$kp" $kpids)
echo "# kamailio: $k" >&2

for r in "$g0" "$g" "$k"; do
	[ "$(field "$r" answered)" = "$reqs" ] || { echo "requests went unanswered: $r" >&2; exit 1; }
	[ "$(field "$r" alive)" = "$(field "$r" conns)" ] || { echo "connections were closed: $r" >&2; exit 1; }
done
echo "sip-tcp-idle-rtt: gorgee_p50_ms=$(field "$g" p50_ms) gorgee_p99_ms=$(field "$g" p99_ms)" \
	"kamailio_p50_ms=$(field "$k" p50_ms) kamailio_p99_ms=$(field "$k" p99_ms)"
echo "sip-tcp-idle: conns=$conns gorgee_us_per_req=$(field "$g" us_per_req)" \
	"gorgee_idle0_us_per_req=$(field "$g0" us_per_req) kamailio_us_per_req=$(field "$k" us_per_req)"
