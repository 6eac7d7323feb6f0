"""Shared plumbing of gorgee's Python tests: free loopback ports, waiting for the HTTP port,
and a TAP runner for a list of named cases."""
import http.client
import os
import re
import socket
import sys
import time
import traceback
import urllib.request


def free_port():
    """A port free for both UDP and TCP on 127.0.0.1 (SIP listens on both)."""
    for _ in range(200):
        u, t = socket.socket(socket.AF_INET, socket.SOCK_DGRAM), socket.socket()
        try:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            t.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            u.close()
            t.close()
    raise RuntimeError("no free port")


def wait_http(port, path="/healthz", seconds=10):
    """Waits until http://127.0.0.1:port/path answers 200."""
    end = time.time() + seconds
    while time.time() < end:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1) as r:
                if r.status == 200:
                    return
        except (OSError, http.client.HTTPException):
            # HTTPException: before gorgee listens, a connect to a port in the ephemeral
            # range can pick that same port as its source and talk to itself (our own GET
            # comes back as a "status line"): not an answer yet.
            time.sleep(0.05)
    raise RuntimeError(f"nothing answers on port {port}")


class Cases:
    """Collects named cases (@cases("name") on a function) and runs them as TAP."""

    def __init__(self):
        self.cases = []

    def __call__(self, name):
        def wrap(fn):
            self.cases.append((name, fn))
            return fn
        return wrap

    def run(self, setup=None, teardown=None):
        """Runs setup, every case, then teardown, which may return more (ok, name, why)
        results (e.g. "exited 0"). Prints TAP; exits 1 if anything failed."""
        results = []
        only = os.environ.get("GORGEE_CASES")  # a regex: run only the cases it finds, to debug
        if only:
            self.cases = [(n, f) for n, f in self.cases if re.search(only, n)]
        try:
            if setup:
                setup()
            for name, fn in self.cases:
                try:
                    fn()
                    results.append((True, name, ""))
                except Exception as e:  # noqa: BLE001 - every failure becomes a TAP line
                    results.append((False, name, f"{type(e).__name__}: {e}"))
        except Exception:  # noqa: BLE001 - a failed setup fails the cases it kept from running
            why = "setup failed: " + traceback.format_exc(limit=3)
            results += [(False, name, why) for name, _ in self.cases[len(results):]]
        finally:
            if teardown:
                results += teardown() or []
        print(f"1..{len(results)}")
        for i, (ok, name, why) in enumerate(results, 1):
            if not ok and why:
                print("# " + why.replace("\n", "\n# "))
            print(f"{'ok' if ok else 'not ok'} {i} - {name}")
        sys.stdout.flush()
        sys.exit(0 if all(ok for ok, _, _ in results) else 1)
