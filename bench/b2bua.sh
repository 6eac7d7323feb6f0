#!/usr/bin/env bash
# B2BUA benchmark (issue 7 item 8): SIP-to-SIP calls per second through gorgee with sipp on
# both ends and 0 failed calls, beside Kamailio as a stateful record-routing proxy between
# the same sipp ends, measured in the same run; and gorgee's memory per established call
# (each call holds its relay session). Uses the shared harness at ../shared/bench/sip
# (scenarios uac_rr.xml/uas_rr.xml and kamailio-bench.cfg, read in place) through the adapted
# copy bench/b2bua/b2bua_bench.py, which walks one ladder of rates for both, the two taking
# turns at each rate (see bench/README.md). Loopback only; every process it starts is stopped by PID.
# Prints as its last line:
#   b2bua: gorgee_cps=<x> kamailio_cps=<y> ratio=<x/y> kb_per_call=<m>
# usage: bench/b2bua.sh
# env: BUILD_DIR (default build-release), LADDER (ascending calls/s, the same for both),
#      STEP_SECS (5), RETRIES (reruns of a failed step, 1), HOLD_CALLS (1000),
#      SIP_HARNESS (default ../shared/bench/sip)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
export SIP_HARNESS=${SIP_HARNESS:-$repo/../shared/bench/sip}
build=${BUILD_DIR:-$repo/build-release}
ladder=${LADDER:-1000,1500,2000,2500,3000,3500,4000,4500,5000,5500,6000,6500,7000,8000}
secs=${STEP_SECS:-5}
retries=${RETRIES:-1}
calls=${HOLD_CALLS:-1000}

[ -f "$SIP_HARNESS/uac_rr.xml" ] || { echo "harness not found at $SIP_HARNESS" >&2; exit 2; }
for t in sipp kamailio python3; do
	command -v "$t" >/dev/null || { echo "$t not installed (scripts/install-deps.sh --test)" >&2; exit 2; }
done
if [ ! -d "$build" ]; then
	meson setup "$build" "$repo" --buildtype=release >&2
fi
ninja -C "$build" gateway/gorgee >&2

work=$(mktemp -d /tmp/gorgee-b2bua.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Runs one mode of the harness in the background (so the trap can stop it); its stderr is
# the progress, its stdout has a line "SUMMARY {json}" per side.
harness() {
	python3 "$repo/bench/b2bua/b2bua_bench.py" "$@" --gorgee "$build/gateway/gorgee" \
		--workdir "$work" --duration "$secs" --calls "$calls" --retries "$retries" >"$work/out" &
	pids+=($!)
	wait $!
	cp "$work/out" "$work/out.last"
}
summary() { grep "^SUMMARY {\"mode\": \"$1\"" "$work/out.last" | tail -1 | cut -d' ' -f2-; }
field() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(eval(sys.argv[2], {}, d))' "$1" "$2"; }

echo "# sipp uac_rr.xml -> gorgee (B2BUA + relay) -> sipp uas_rr.xml and sipp uac_rr.xml ->" \
	"kamailio (stateful, record-route) -> sipp uas_rr.xml, taking turns; ladder $ladder" >&2
harness both --ladder "$ladder"
g=$(summary gorgee)
k=$(summary kamailio)
echo "# memory: $calls established calls held through gorgee" >&2
harness memory
m=$(summary memory)

gcps=$(field "$g" max_rate)
kcps=$(field "$k" max_rate)
kb=$(field "$m" "kb_per_call if calls_up == $calls and relay_sessions == $calls else 'nan'")
# CPU per call at the highest passing rate, the contention-robust figure (stderr only)
at() { field "$1" "(at_max or {}).get('$2')"; }
echo "# server CPU per call at that rate: gorgee $(at "$g" server_us_per_call) us," \
	"kamailio $(at "$k" server_us_per_call) us; sipp uac CPU: $(at "$g" sipp_cpu_pct) %," \
	"$(at "$k" sipp_cpu_pct) %; load $(at "$g" load1), $(at "$k" load1); failed steps rerun:" \
	"gorgee $(field "$g" reruns), kamailio $(field "$k" reruns)" >&2
echo "# gorgee RSS $(field "$m" rss_before_kb) kB idle -> $(field "$m" rss_during_kb) kB with $calls calls" >&2
if [ "$gcps" = 0 ] || [ "$kcps" = 0 ]; then
	echo "a ladder had no passing step (gorgee $gcps, kamailio $kcps); lower its first rate" >&2
fi
ratio=$(awk -v g="$gcps" -v k="$kcps" 'BEGIN { if (k > 0) printf "%.3f", g / k; else print "nan" }')
echo "b2bua: gorgee_cps=$gcps kamailio_cps=$kcps ratio=$ratio kb_per_call=$kb"
