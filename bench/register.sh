#!/usr/bin/env bash
# REGISTER benchmark (issue 4 item 10): registrations per second with MD5 digest (401, then
# REGISTER with credentials, 200) by sipp against gorgee's registrar (SQLite location store,
# the 200 sent after the commit) and against Kamailio's (auth_db on db_text, usrloc in
# memory), the same scenario and users, in the same run, 0 failed registrations.
# bench/register/register_bench.py runs one side; see bench/README.md for the method.
# Loopback only; every process it starts is stopped by PID. Prints as its last line:
#   register: gorgee=<rps> kamailio=<rps> ratio=<x>
# usage: bench/register.sh
# env: BUILD_DIR (default build-release), GORGEE_LADDER, KAMAILIO_LADDER (ascending rates),
#      STEP_SECS (5), USERS (1000)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$repo/build-release}
gorgee_ladder=${GORGEE_LADDER:-1000,2000,3000,4000,5000,6000,7000,8000,9000,10000,12000,14000}
kam_ladder=${KAMAILIO_LADDER:-2000,4000,6000,8000,9000,10000,11000,12000,14000,16000,18000}
secs=${STEP_SECS:-5}
users=${USERS:-1000}

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

harness() {
	python3 "$repo/bench/register/register_bench.py" "$@" --gorgee "$build/gateway/gorgee" \
		--workdir "$work" --duration "$secs" --users "$users" >"$work/out" &
	pids+=($!)
	wait $!
	grep '^SUMMARY ' "$work/out" | tail -1 | cut -d' ' -f2-
}
field() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(eval(sys.argv[2], {}, d))' "$1" "$2"; }

echo "# gorgee: sipp register-auth.xml -> gorgee registrar (SQLite), ladder $gorgee_ladder" >&2
g=$(harness gorgee --ladder "$gorgee_ladder")
echo "# kamailio: sipp register-auth.xml -> kamailio registrar (auth_db/db_text, usrloc in memory), ladder $kam_ladder" >&2
k=$(harness kamailio --ladder "$kam_ladder")
grps=$(field "$g" max_rate)
krps=$(field "$k" max_rate)
echo "# server CPU per registration at that rate: gorgee $(field "$g" "(at_max or {}).get('server_us_per_register')") us," \
	"kamailio $(field "$k" "(at_max or {}).get('server_us_per_register')") us" >&2
if [ "$grps" = 0 ] || [ "$krps" = 0 ]; then
	echo "a ladder had no passing step (gorgee $grps, kamailio $krps); lower its first rate" >&2
fi
ratio=$(awk -v g="$grps" -v k="$krps" 'BEGIN { if (k > 0) printf "%.3f", g / k; else print "nan" }')
echo "register: gorgee=$grps kamailio=$krps ratio=$ratio"
