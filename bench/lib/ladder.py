"""Shared by the SIP benchmarks (register_bench.py, b2bua_bench.py): free loopback ports, CPU
time from schedstat, one timed sipp run, and the interleaved ladder.

The method (bench/README.md): each server is started once; one ladder of target rates, the
same for all, is walked upward, the servers taking turns at each rate (which goes first
alternates), so all meet the same background load on a shared machine. A failed step is run
once more (RETRIES); a server's result is the highest rate that passed before a rate failed
on every attempt."""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests"))
from gorgeetest import free_port  # noqa: E402,F401 (the tests' helper: a port free for UDP and TCP)


def log(*a):
    print("#", *a, file=sys.stderr, flush=True)


def sched_ns(pid):
    """CPU time (ns) of every thread of pid, from /proc/<pid>/task/*/schedstat; 0 once gone."""
    tot = 0
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                    tot += int(f.read().split()[0])
            except (OSError, ValueError):
                pass
    except OSError:
        pass
    return tot


def children_of(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    s = f.read()
                if int(s[s.rindex(")") + 2:].split()[1]) == pid:
                    out.append(int(d))
            except (OSError, ValueError):
                pass
    return out


def udp_listening(port):
    with open("/proc/net/udp") as f:
        next(f)
        return any(int(line.split()[1].split(":")[1], 16) == port for line in f)


def wait_udp(proc, port, secs=30):
    """Waits until proc listens on UDP port; False when it exited or took too long."""
    end = time.time() + secs
    while time.time() < end:
        if proc.poll() is not None:
            return False
        if udp_listening(port):
            return True
        time.sleep(0.1)
    return False


def stop(p, timeout=10):
    """Stops one process this benchmark started, by its PID: SIGTERM, then SIGKILL."""
    if p is None or p.poll() is not None:
        return
    p.terminate()
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def load1():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def sipp_stats(csvfile):
    """The last line of a sipp -trace_stat file, by column name."""
    with open(csvfile) as f:
        lines = [line.rstrip("\n") for line in f if line.strip()]
    return dict(zip(lines[0].split(";"), lines[-1].split(";")))


def sipp_step(cmd, duration, server_pids, workdir):
    """Runs one sipp client (cmd, writing its statistics to workdir/uac.csv) to the end or to
    a deadline, and measures the servers' CPU (server_pids() lists their PIDs) and sipp's.
    Returns the figures every step reports; "ok" is the successful calls, and "pass" is
    sipp exiting 0 with every call successful, none failed, within 5 % (+1 s) of nominal."""
    stf = os.path.join(workdir, "uac.csv")
    if os.path.exists(stf):
        os.unlink(stf)
    cmd = cmd + ["-timeout", str(int(duration * 3 + 20)), "-trace_stat", "-stf", stf, "-fd", "1"]
    m = int(cmd[cmd.index("-m") + 1])
    pids = server_pids()
    c0, t0 = sum(sched_ns(p) for p in pids), time.time()
    uac = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, cwd=workdir,
                           stderr=open(os.path.join(workdir, "uac.err"), "w"))
    uac_ns = 0
    try:
        while uac.poll() is None and time.time() - t0 < duration * 3 + 30:
            uac_ns = sched_ns(uac.pid) or uac_ns  # read while it lives: gone once reaped
            time.sleep(0.05)
    finally:
        stop(uac, 3)  # sipp's own -timeout does not always fire
    wall = time.time() - t0
    cpu_s = (sum(sched_ns(p) for p in pids) - c0) / 1e9
    st = sipp_stats(stf)
    ok, failed = int(st["SuccessfulCall(C)"]), int(st["FailedCall(C)"])
    res = {"m": m, "rc": uac.returncode, "wall_s": round(wall, 2), "successful": ok,
           "failed": failed, "retrans": int(st["Retransmissions(C)"]),
           "unexpected": int(st.get("FailedUnexpectedMessage(C)", 0) or 0),
           "server_cpu_pct": round(100 * cpu_s / wall, 1),
           "server_us_per_op": round(1e6 * cpu_s / ok, 1) if ok else None,
           "sipp_cpu_pct": round(100 * uac_ns / 1e9 / wall, 1), "load1": load1()}
    res["pass"] = uac.returncode == 0 and failed == 0 and ok == m and wall <= duration * 1.05 + 1
    return res


def walk(ladder, names, step, retries=1, after_fail=None):
    """Walks ladder (ascending rates) for every server in names, taking turns at each rate;
    step(name, rate) runs one step and returns its result dict with "pass". A failed step
    runs again up to retries times (after_fail(name) first, if given, to start that server
    afresh). Prints "SUMMARY {json}" per server on stdout: mode, max_rate, at_max, reruns."""
    side = {n: {"best": 0, "at_best": None, "done": False, "reruns": 0} for n in names}
    for k, rate in enumerate(ladder):
        for name in names if k % 2 == 0 else names[::-1]:
            d = side[name]
            if d["done"]:
                continue
            for attempt in range(retries + 1):
                res = dict(step(name, rate), mode=name, rate=rate, attempt=attempt + 1)
                log(json.dumps(res))
                if res["pass"]:
                    break
                if attempt < retries:
                    d["reruns"] += 1
                    if after_fail:
                        after_fail(name)
                time.sleep(1)
            if res["pass"]:
                d["best"], d["at_best"] = rate, res
                time.sleep(1)
            else:
                d["done"] = True
        if all(d["done"] for d in side.values()):
            break
    for name, d in side.items():
        print("SUMMARY " + json.dumps({"mode": name, "max_rate": d["best"], "at_max": d["at_best"],
                                       "reruns": d["reruns"]}), flush=True)
    return side
