#!/usr/bin/env bash
# Installs what the tests need, builds gorgee three ways and runs every test:
#   build-test  gcc, -Werror, all suites (unit, integration, interop, fuzz smoke)
#   build-test  the same binaries, unit suite again under valgrind memcheck
#   build-asan  gcc ASan+UBSan, all suites
#   build-fuzz  clang libFuzzer targets, a short run of each (FUZZ_SECONDS, default 15)
# Ends with one line: "N passed, N failed" counting every test case executed.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh --test || { echo "dependency install failed"; echo "0 passed, 1 failed"; exit 1; }

jobs=$(nproc)
status=0
logs=()

setup() { # dir, meson options...
  local dir=$1; shift
  if [ -f "$dir/build.ninja" ]; then
    meson setup --reconfigure "$dir" "$@" >/dev/null
  else
    meson setup "$dir" "$@" >/dev/null
  fi
}

stage() { # label, dir, meson test args...
  local label=$1 dir=$2; shift 2
  echo "=== $label"
  meson test -C "$dir" --num-processes "$jobs" --print-errorlogs "$@" || status=1
}

echo "=== build (gcc, -Werror)"
if setup build-test -Dwerror=true && ninja -C build-test; then
  stage "tests" build-test
  logs+=("tests=build-test/meson-logs/testlog.json")
  stage "unit tests under valgrind" build-test --setup valgrind --suite unit
  logs+=("valgrind=build-test/meson-logs/testlog-valgrind.json")
else
  echo "build failed"; status=1; logs+=("build=build-test/missing.json")
fi

echo "=== build (ASan+UBSan)"
if setup build-asan -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug &&
   ninja -C build-asan; then
  stage "tests under ASan+UBSan" build-asan --setup asan
  logs+=("asan=build-asan/meson-logs/testlog-asan.json")
else
  echo "ASan build failed"; status=1; logs+=("asan=build-asan/missing.json")
fi

if command -v clang >/dev/null; then
  echo "=== build (clang libFuzzer)"
  if CC=clang setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
       -Dbuildtype=debugoptimized && ninja -C build-fuzz; then
    if meson test -C build-fuzz --list --suite libfuzzer 2>/dev/null | grep -q libfuzzer; then
      FUZZ_SECONDS=${FUZZ_SECONDS:-15} stage "libFuzzer smoke" build-fuzz --suite libfuzzer
      logs+=("libfuzzer=build-fuzz/meson-logs/testlog.json")
    fi
  else
    echo "fuzz build failed"; status=1; logs+=("libfuzzer=build-fuzz/missing.json")
  fi
fi

echo "=== results"
python3 scripts/count-tests.py "${logs[@]}" || status=1
exit $status
