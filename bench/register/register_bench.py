#!/usr/bin/env python3
"""REGISTER with MD5 digest per second, by sipp, against gorgee (SQLite store, write before
the 200) or against Kamailio (auth_db on a db_text subscriber table, usrloc in memory).

Method: one server per mode, started once; a ladder of target rates walked upward, each step a
sipp run of DURATION seconds (-m = rate * duration) with the same scenario and users. A step
passes when sipp exits 0, FailedCall == 0, SuccessfulCall == m and the run took no more than
5 % (+1 s) longer than nominal. The result is the highest passing rate before the first
failing one. Server CPU per registration (two transactions: the challenge and the REGISTER
with credentials) comes from /proc/<pid>/task/*/schedstat over each step.
Loopback only; ports 15061 (sipp), 15070 (Kamailio), 15080/18080 (gorgee). Every process it
starts is stopped by PID. Prints progress on stderr, "SUMMARY {json}" last on stdout.
usage: register_bench.py gorgee|kamailio --ladder 1000,2000 [--gorgee path] [--workdir dir]"""
import argparse
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REALM = "127.0.0.1"  # the To host: Kamailio's realm ($td) and gorgee's registrar.domain
PORTS = {"gorgee": 15080, "kamailio": 15070}


def log(*a):
    print("#", *a, file=sys.stderr, flush=True)


def sched_ns(pid):
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


def users(n):
    return [(f"u{100000 + i}", f"pw-{100000 + i}") for i in range(n)]


def ha1(user, pw):
    return hashlib.md5(f"{user}:{REALM}:{pw}".encode()).hexdigest()


def start_gorgee(a):
    data = os.path.join(a.workdir, "gorgee-data")
    args = [a.gorgee, "--set", f"general.data_dir={data}", "--set", "http.listen=127.0.0.1",
            "--set", "http.port=18080", "--set", "sip.listen=127.0.0.1",
            "--set", f"sip.udp_port={PORTS['gorgee']}", "--set", "sip.tcp_port=0",
            "--set", "calls.enabled=false", "--set", f"registrar.domain={REALM}",
            "--set", "registrar.digest_algorithms=md5", "--set", "registrar.max_expires=3600",
            "--set", "general.log_level=warn"]
    u = users(a.users)
    # the first user through --add-user creates the database; the rest in one transaction
    subprocess.run(args + ["--add-user", u[0][0]], input=u[0][1] + "\n", check=True,
                   capture_output=True, text=True)
    db = sqlite3.connect(os.path.join(data, "gorgee.db"))
    db.executemany("INSERT OR REPLACE INTO users (realm, username, ha1_md5, ha1_sha256, enabled)"
                   " VALUES (?, ?, ?, NULL, 1)", [(REALM, n, ha1(n, p)) for n, p in u])
    db.commit()
    db.close()
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                         stderr=open(os.path.join(a.workdir, "gorgee.err"), "w"))
    return p, lambda: [p.pid]


def start_kamailio(a):
    dbdir = os.path.join(a.workdir, "kamdb")
    os.makedirs(dbdir, exist_ok=True)
    with open(os.path.join(dbdir, "version"), "w") as f:
        f.write("table_name(str) table_version(int)\nsubscriber:7\n")
    with open(os.path.join(dbdir, "subscriber"), "w") as f:
        f.write("id(int,auto) username(str) domain(str) password(str) ha1(str) ha1b(str)\n")
        for i, (n, p) in enumerate(users(a.users), 1):
            f.write(f"{i}:{n}:{REALM}:{p}:{ha1(n, p)}:{ha1(n + '@' + REALM, p)}\n")
    with open(os.path.join(HERE, "kamailio-register-auth.cfg")) as f:
        cfg = f.read().replace("@PORT@", str(PORTS["kamailio"])).replace("@DBDIR@", dbdir)
    path = os.path.join(a.workdir, "kam.cfg")
    with open(path, "w") as f:
        f.write(cfg)
    rund = os.path.join(a.workdir, "kamrun")
    os.makedirs(rund, exist_ok=True)
    p = subprocess.Popen(["kamailio", "-f", path, "-DD", "-E", "-n", str(a.kam_children), "-m", "2048",
                          "-M", "16", "-x", "tlsf", "-b", "4194304", "-P", os.path.join(a.workdir, "kam.pid"),
                          "-w", a.workdir, "-Y", rund],
                         stdout=open(os.path.join(a.workdir, "kam.out"), "w"), stderr=subprocess.STDOUT)
    return p, lambda: [p.pid] + children_of(p.pid)


def step(a, rate, server_pids):
    m = int(rate * a.duration)
    stf = os.path.join(a.workdir, "uac.csv")
    if os.path.exists(stf):
        os.unlink(stf)
    cmd = ["sipp", "-sf", os.path.join(HERE, "register-auth.xml"), f"127.0.0.1:{PORTS[a.mode]}",
           "-inf", os.path.join(a.workdir, "users.csv"), "-i", "127.0.0.1", "-p", "15061",
           "-r", str(rate), "-m", str(m), "-nostdin", "-buff_size", "1048576", "-recv_timeout", "5000",
           "-timeout", str(int(a.duration * 3 + 20)), "-trace_stat", "-stf", stf, "-fd", "1"]
    pids = server_pids()
    c0, t0 = sum(sched_ns(p) for p in pids), time.time()
    uac = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                           stderr=open(os.path.join(a.workdir, "uac.err"), "w"), cwd=a.workdir)
    try:
        uac.wait(timeout=a.duration * 3 + 30)
    except subprocess.TimeoutExpired:
        uac.kill()
        uac.wait()
    wall = time.time() - t0
    cpu_s = (sum(sched_ns(p) for p in pids) - c0) / 1e9
    with open(stf) as f:
        lines = [line.rstrip("\n") for line in f if line.strip()]
    st = dict(zip(lines[0].split(";"), lines[-1].split(";")))
    ok, failed = int(st["SuccessfulCall(C)"]), int(st["FailedCall(C)"])
    res = {"mode": a.mode, "rate": rate, "m": m, "rc": uac.returncode, "wall_s": round(wall, 2),
           "successful": ok, "failed": failed, "retrans": int(st["Retransmissions(C)"]),
           "server_cpu_pct": round(100 * cpu_s / wall, 1),
           "server_us_per_register": round(1e6 * cpu_s / ok, 1) if ok else None}
    res["pass"] = uac.returncode == 0 and failed == 0 and ok == m and wall <= a.duration * 1.05 + 1
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["gorgee", "kamailio"])
    ap.add_argument("--ladder", required=True)
    ap.add_argument("--gorgee", default="build-release/gateway/gorgee")
    ap.add_argument("--duration", type=float, default=5)
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--kam-children", type=int, default=2)
    ap.add_argument("--workdir", default="/tmp/gorgee-register-bench")
    a = ap.parse_args()
    a.workdir = os.path.join(a.workdir, a.mode)
    os.makedirs(a.workdir, exist_ok=True)
    with open(os.path.join(a.workdir, "users.csv"), "w") as f:
        f.write("SEQUENTIAL\n" + "".join(f"{n};[authentication username={n} password={p}]\n"
                                          for n, p in users(a.users)))
    proc, server_pids = (start_gorgee if a.mode == "gorgee" else start_kamailio)(a)
    best, at_best = 0, None
    try:
        for _ in range(300):
            if proc.poll() is not None or udp_listening(PORTS[a.mode]):
                break
            time.sleep(0.1)
        time.sleep(0.5)
        if proc.poll() is not None:
            raise RuntimeError(f"{a.mode} exited; see {a.workdir}")
        for rate in (int(x) for x in a.ladder.split(",")):
            res = step(a, rate, server_pids)
            log(json.dumps(res))
            if not res["pass"]:
                break
            best, at_best = rate, res
            time.sleep(1)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    print("SUMMARY " + json.dumps({"mode": a.mode, "max_rate": best, "at_max": at_best}), flush=True)


if __name__ == "__main__":
    main()
