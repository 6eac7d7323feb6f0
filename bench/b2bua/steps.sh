#!/usr/bin/env bash
# By-hand companion of bench/b2bua.sh: ONE gorgee (B2BUA + relay) and one sipp uas stay up
# while sipp uac runs a step per rate given, PAUSE seconds apart, as the ladder does; per
# step: calls ok/failed/retransmitted, wall time, gorgee's CPU per call (whole process and
# signaling thread, from /proc), RSS and the live transaction gauges. For profiling: the
# gorgee PID is in $WORK/gorgee.pid while it runs (perf record -t <pid> ...).
# usage: bench/b2bua/steps.sh SECS PAUSE RATE... (e.g. 5 5 5000 5500 6000, or 40 0 5000)
# env: BUILD_DIR (build-release), SIP_HARNESS (../shared/bench/sip), MEDIA (16000-30999),
#      GORGEE_SET (extra "--set k=v" arguments), WORK (/tmp/gorgee-steps)
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 SECS PAUSE RATE..." >&2; exit 2; }
secs=$1 pause=$2; shift 2
repo=$(cd "$(dirname "$0")/../.." && pwd)
h=${SIP_HARNESS:-$repo/../shared/bench/sip}
g=${BUILD_DIR:-$repo/build-release}/gateway/gorgee
media=${MEDIA:-16000-30999}
w=${WORK:-/tmp/gorgee-steps}
rm -rf "$w"; mkdir -p "$w/data"
port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
sip=$(port) uas=$(port) uac=$(port) http=$(port)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true' EXIT
# shellcheck disable=SC2086
"$g" --set general.data_dir="$w/data" --set general.log_level=warn --set http.listen=127.0.0.1 \
	--set http.port="$http" --set sip.listen=127.0.0.1 --set sip.udp_port="$sip" --set sip.tcp_port=0 \
	--set calls.trunk="sip:127.0.0.1:$uas" --set calls.trusted=127.0.0.1 --set calls.max_calls=1000000 \
	--set media.address=127.0.0.1 --set media.port_min="${media%-*}" --set media.port_max="${media#*-}" \
	--set media.rtp_timeout=0 ${GORGEE_SET:-} 2>"$w/gorgee.err" &
gp=$!; pids+=("$gp"); echo "$gp" >"$w/gorgee.pid"
(cd "$w" && exec sipp -sf "$h/uas_rr.xml" -i 127.0.0.1 -p "$uas" -mi 127.0.0.1 -nostdin \
	-buff_size 1048576 >/dev/null 2>"$w/uas.err") &
pids+=($!)
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$http/healthz" >/dev/null && break; sleep 0.1; done
tk=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "$1"; }
for r in "$@"; do
	c0=$(cpu /proc/$gp/stat) s0=$(cpu /proc/$gp/task/$gp/stat) t0=$(date +%s.%N)
	rm -f "$w/uac.csv"
	(cd "$w" && sipp -sf "$h/uac_rr.xml" "127.0.0.1:$sip" -i 127.0.0.1 -p "$uac" -mi 127.0.0.1 \
		-r "$r" -m $((r * secs)) -nostdin -buff_size 1048576 -recv_timeout 5000 \
		-timeout $((secs * 3 + 20)) -trace_stat -trace_err -error_file "$w/uac-errors.log" \
		-stf "$w/uac.csv" -fd 1 >/dev/null 2>"$w/uac.err") || true
	t1=$(date +%s.%N) c1=$(cpu /proc/$gp/stat) s1=$(cpu /proc/$gp/task/$gp/stat)
	calls=$(python3 -c 'import csv,sys; r=list(csv.reader(open(sys.argv[1]), delimiter=";")); d=dict(zip(r[0], r[-1])); print(d["SuccessfulCall(C)"], d["FailedCall(C)"], d["Retransmissions(C)"])' "$w/uac.csv")
	gauges=$(curl -s "http://127.0.0.1:$http/metrics" | awk '/^gorgee_sip_transactions\{/ {match($1, /"[a-z]+"/); printf "%s=%s ", substr($1, RSTART + 1, RLENGTH - 2), $2}')
	awk -v r="$r" -v s="$secs" -v c="$calls" -v t0="$t0" -v t1="$t1" -v p="$((c1 - c0))" -v q="$((s1 - s0))" \
		-v tk="$tk" -v rss="$(awk '/VmRSS/ {print $2}' /proc/$gp/status)" -v g="$gauges" 'BEGIN {
		split(c, x, " "); n = r * s
		printf "rate=%d ok=%s failed=%s retrans=%s wall=%.2f us_per_call=%.0f signaling_us=%.0f rss_kb=%s %s\n",
			r, x[1], x[2], x[3], t1 - t0, p / tk * 1e6 / n, q / tk * 1e6 / n, rss, g }'
	sleep "$pause"
done
