#!/usr/bin/env bash
# Parser benchmark: gorgee vs sofia-sip vs osip2 on the shared corpus, measured in one run.
# Uses the shared harness at ../shared/bench/parser (beside this repo; never copied into it),
# builds gorgee's static libraries in a release build dir, and prints as its last line:
#   parser: gorgee=<ns> sofia=<ns> osip2=<ns> speedup_vs_sofia=<x>
# (ns = thread-CPU ns per message on the round-robin mix of the corpus)
# usage: bench/parser.sh [ITERS] [REPS]     (env BUILD_DIR, default build-release)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
harness=${HARNESS:-$repo/../shared/bench/parser}
build=${BUILD_DIR:-$repo/build-release}
iters=${1:-200000}
reps=${2:-5}

[ -f "$harness/bench.c" ] || { echo "harness not found at $harness" >&2; exit 2; }
if [ ! -d "$build" ]; then
	meson setup "$build" "$repo" --buildtype=release >/dev/null
fi
ninja -C "$build" sip/libgorgee-sip.a core/libgorgee-core.a >/dev/null

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$harness"/. "$work"/
rm -f "$work/sipparse_bench" "$work/adapters_list.h"
cp "$repo/bench/parser/gorgee.c" "$work/adapters/gorgee.c"
make -s -C "$work" ADAPTERS="osip2 sofia gorgee" \
	EXTRA_CFLAGS="-O2 -I$repo/sip -I$repo/core $(pkg-config --cflags glib-2.0)" \
	EXTRA_LIBS="$build/sip/libgorgee-sip.a $build/core/libgorgee-core.a $(pkg-config --libs glib-2.0)" \
	sipparse_bench >/dev/null

cpu=$(( $(nproc) > 1 ? 1 : 0 ))
out=$(cd "$work" && ./sipparse_bench -d corpus -n "$iters" -r "$reps" -C "$cpu")
echo "$out"
if echo "$out" | grep -q "MISMATCH"; then
	echo "field mismatch" >&2
	exit 1
fi
# The figure is the mix's thread-CPU ns/message (last column): on a shared machine the
# wall-clock median also counts time the thread spent descheduled.
mix() { echo "$out" | awk -v p="$1" '$1 ~ "^"p && /MIX/ { print $NF; exit }'; }
g=$(mix gorgee) s=$(mix sofia) o=$(mix osip2)
speed=$(awk -v s="$s" -v g="$g" 'BEGIN { printf "%.1f", s / g }')
echo "parser: gorgee=$g sofia=$s osip2=$o speedup_vs_sofia=$speed"
