#!/usr/bin/env python3
"""Counts every test executed across meson test logs and prints 'N passed, N failed'.

TAP tests count each of their cases (ok / not ok); a TAP test whose process failed without
reporting a failing case (crash, leak report at exit, timeout) counts one more failure.
Other tests count one each. usage: count-tests.py LABEL=testlog.json ..."""
import json
import re
import sys

TAP_LINE = re.compile(r"^(not )?ok \d+\b(.*)$")


def count(path):
    passed = failed = skipped = 0
    failures = []
    with open(path) as f:
        for line in f:
            t = json.loads(line)
            out = t.get("stdout") or ""
            ok_process = t["result"] in ("OK", "EXPECTEDFAIL")
            if t["result"] == "SKIP":
                skipped += 1
                continue
            tap = [TAP_LINE.match(x) for x in out.splitlines()]
            tap = [m for m in tap if m]
            # a TAP stream: its plan line may follow diagnostics (# lines)
            if tap and any(re.match(r"^1\.\.\d+", x) for x in out.splitlines()):
                case_fail = 0
                for m in tap:
                    if "# SKIP" in m.group(2):
                        skipped += 1
                    elif m.group(1) and "# TODO" in m.group(2):
                        skipped += 1  # a known failure, declared in the test (TAP TODO)
                        failures.append(f"TODO {t['name']}: {m.group(2).split('# TODO')[0].strip(' -')}")
                    elif m.group(1):
                        failed += 1
                        case_fail += 1
                        failures.append(f"{t['name']}:{m.group(2).strip(' -')}")
                    else:
                        passed += 1
                if not ok_process and case_fail == 0:
                    failed += 1
                    failures.append(f"{t['name']} ({t['result']}, exit {t.get('returncode')})")
            elif ok_process:
                passed += 1
            else:
                failed += 1
                failures.append(f"{t['name']} ({t['result']})")
    return passed, failed, skipped, failures


def main():
    tp = tf = ts = 0
    for arg in sys.argv[1:]:
        label, _, path = arg.partition("=")
        try:
            p, f, s, fails = count(path)
        except FileNotFoundError:
            print(f"{label}: no test log at {path} (that stage did not run)")
            tf += 1
            continue
        print(f"{label}: {p} passed, {f} failed, {s} skipped")
        for x in fails:
            print(f"  {label}: {x} (known failure, declared TODO in the test)" if x.startswith("TODO ")
                  else f"  FAILED {label}: {x}")
        tp, tf, ts = tp + p, tf + f, ts + s
    print(f"{tp} passed, {tf} failed" + (f", {ts} skipped" if ts else ""))
    return 1 if tf else 0


if __name__ == "__main__":
    sys.exit(main())
