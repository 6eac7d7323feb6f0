#!/usr/bin/env bash
# Runs one libFuzzer target for FUZZ_SECONDS (default 60) on a scratch copy of its seed corpus.
# usage: run-fuzzer.sh FUZZER SEED_DIR    (or: ninja -C build-fuzz fuzz-run-NAME)
set -euo pipefail
fz=$(realpath "$1") seeds=$(realpath "$2")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus"
cp -r "$seeds"/. "$work/corpus"/
# libFuzzer exits 77 on a finding, which test runners read as "skipped": report 1 instead.
cd "$work"
if "$fz" -max_total_time="${FUZZ_SECONDS:-60}" -print_final_stats=1 -max_len=65536 \
      -rss_limit_mb=2048 "$work/corpus"; then
  exit 0
fi
echo "fuzzer finding in $fz (artifacts: $(ls "$work" | grep -E '^(crash|leak|timeout|oom)-' || true))"
for a in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
  [ -f "$a" ] && { echo "--- $a (base64)"; base64 "$a" | head -40; }
done
exit 1
