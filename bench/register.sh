#!/usr/bin/env bash
# REGISTER benchmark (issue 4 item 10): registrations per second with MD5 digest (401, then
# REGISTER with credentials, 200) by sipp against gorgee's registrar (SQLite location store,
# the 200 sent after the commit) and against Kamailio's (auth_db on db_text, usrloc in
# memory), the same scenario and users, in the same run, 0 failed registrations.
# bench/register/register_bench.py runs both, taking turns at each rate of one ladder; see
# bench/README.md for the method. Loopback only; every process it starts is stopped by PID.
# Prints as its last line:
#   register: gorgee=<rps> kamailio=<rps> ratio=<x>
# usage: bench/register.sh
# env: BUILD_DIR (default build-release), LADDER (ascending rates, the same for both),
#      STEP_SECS (5), USERS (1000), RETRIES (reruns of a failed step, 1)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$repo/build-release}
ladder=${LADDER:-2000,4000,6000,7000,8000,9000,10000,11000,12000,13000,14000,16000,18000,20000}
secs=${STEP_SECS:-5}
users=${USERS:-1000}
retries=${RETRIES:-1}

for t in sipp kamailio python3; do
	command -v "$t" >/dev/null || { echo "$t not installed (scripts/install-deps.sh --test)" >&2; exit 2; }
done
if [ ! -d "$build" ]; then
	meson setup "$build" "$repo" --buildtype=release >&2
fi
ninja -C "$build" gateway/gorgee >&2

work=$(mktemp -d /tmp/gorgee-register.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "# sipp register-auth.xml -> gorgee registrar (SQLite) and kamailio registrar (auth_db/db_text," \
	"usrloc in memory), taking turns; ladder $ladder" >&2
python3 "$repo/bench/register/register_bench.py" both --ladder "$ladder" --gorgee "$build/gateway/gorgee" \
	--workdir "$work" --duration "$secs" --users "$users" --retries "$retries" >"$work/out" &
pids+=($!)
wait $!
g=$(grep '^SUMMARY {"mode": "gorgee"' "$work/out" | tail -1 | cut -d' ' -f2-)
k=$(grep '^SUMMARY {"mode": "kamailio"' "$work/out" | tail -1 | cut -d' ' -f2-)
field() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(eval(sys.argv[2], {}, d))' "$1" "$2"; }

grps=$(field "$g" max_rate)
krps=$(field "$k" max_rate)
echo "# server CPU per registration at that rate: gorgee $(field "$g" "(at_max or {}).get('server_us_per_op')") us," \
	"kamailio $(field "$k" "(at_max or {}).get('server_us_per_op')") us;" \
	"sipp CPU: $(field "$g" "(at_max or {}).get('sipp_cpu_pct')") %," \
	"$(field "$k" "(at_max or {}).get('sipp_cpu_pct')") %; failed steps rerun: gorgee $(field "$g" reruns)," \
	"kamailio $(field "$k" reruns)" >&2
if [ "$grps" = 0 ] || [ "$krps" = 0 ]; then
	echo "a ladder had no passing step (gorgee $grps, kamailio $krps); lower its first rate" >&2
fi
ratio=$(awk -v g="$grps" -v k="$krps" 'BEGIN { if (k > 0) printf "%.3f", g / k; else print "nan" }')
echo "register: gorgee=$grps kamailio=$krps ratio=$ratio"
