#!/usr/bin/env bash
# Runs one libFuzzer target for FUZZ_SECONDS (default 60) on a scratch copy of its seed corpus.
# usage: run-fuzzer.sh FUZZER SEED_DIR    (or: ninja -C build-fuzz fuzz-run-NAME)
set -euo pipefail
fz=$1 seeds=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$seeds"/. "$work"/
"$fz" -max_total_time="${FUZZ_SECONDS:-60}" -print_final_stats=1 -max_len=65536 \
      -rss_limit_mb=2048 "$work"
