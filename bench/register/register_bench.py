#!/usr/bin/env python3
"""REGISTER with MD5 digest per second, by sipp, against gorgee (SQLite store, write before
the 200) and against Kamailio (auth_db on a db_text subscriber table, usrloc in memory).

Method: both servers are started once; one ladder of target rates, the same for both, is
walked upward, each step a sipp run of DURATION seconds (-m = rate * duration) with the same
scenario and users, the two servers taking turns at each rate (which goes first alternates),
so both meet the same background load on a shared machine. A step passes when sipp exits 0,
FailedCall == 0, SuccessfulCall == m and the run took no more than 5 % (+1 s) longer than
nominal. A failed step is run once more (a scheduling stall of another tenant can drop a
burst); a server's result is the highest rate that passed before a rate failed twice.
Server CPU per registration (two transactions: the challenge and the REGISTER with
credentials) comes from /proc/<pid>/task/*/schedstat over each step, sipp's CPU likewise.
Loopback only; ports picked free at start (other tests on the machine use loopback too). Every
process it starts is stopped by PID. Prints progress on stderr, "SUMMARY {json}" per server on stdout.
usage: register_bench.py gorgee|kamailio|both --ladder 1000,2000 [--gorgee path] [--workdir dir]"""
import argparse
import hashlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REALM = "127.0.0.1"  # the To host: Kamailio's realm ($td) and gorgee's registrar.domain


def free_port(kind=socket.SOCK_DGRAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PORTS = {"gorgee": free_port(), "kamailio": free_port(), "sipp": free_port(),
         "http": free_port(socket.SOCK_STREAM)}


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
            "--set", f"http.port={PORTS['http']}", "--set", "sip.listen=127.0.0.1",
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
           "-inf", os.path.join(a.workdir, "users.csv"), "-i", "127.0.0.1", "-p", str(PORTS["sipp"]),
           "-r", str(rate), "-m", str(m), "-nostdin", "-buff_size", "1048576", "-recv_timeout", "5000",
           "-timeout", str(int(a.duration * 3 + 20)), "-trace_stat", "-stf", stf, "-fd", "1"]
    pids = server_pids()
    c0, t0 = sum(sched_ns(p) for p in pids), time.time()
    uac = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                           stderr=open(os.path.join(a.workdir, "uac.err"), "w"), cwd=a.workdir)
    uac_ns = 0
    try:
        while uac.poll() is None and time.time() - t0 < a.duration * 3 + 30:
            uac_ns = sched_ns(uac.pid) or uac_ns  # read while it lives: gone once reaped
            time.sleep(0.05)
        if uac.poll() is None:
            raise subprocess.TimeoutExpired(cmd, a.duration * 3 + 30)
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
           "server_us_per_register": round(1e6 * cpu_s / ok, 1) if ok else None,
           "sipp_cpu_pct": round(100 * uac_ns / 1e9 / wall, 1)}
    res["pass"] = uac.returncode == 0 and failed == 0 and ok == m and wall <= a.duration * 1.05 + 1
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["gorgee", "kamailio", "both"])
    ap.add_argument("--ladder", required=True)
    ap.add_argument("--gorgee", default="build-release/gateway/gorgee")
    ap.add_argument("--duration", type=float, default=5)
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--kam-children", type=int, default=2)
    ap.add_argument("--retries", type=int, default=1, help="reruns of a failed step")
    ap.add_argument("--workdir", default="/tmp/gorgee-register-bench")
    a = ap.parse_args()
    modes = ["gorgee", "kamailio"] if a.mode == "both" else [a.mode]
    side = {}
    try:
        for mode in modes:
            b = argparse.Namespace(**vars(a))
            b.mode, b.workdir = mode, os.path.join(a.workdir, mode)
            os.makedirs(b.workdir, exist_ok=True)
            with open(os.path.join(b.workdir, "users.csv"), "w") as f:
                f.write("SEQUENTIAL\n" + "".join(f"{n};[authentication username={n} password={p}]\n"
                                                  for n, p in users(a.users)))
            proc, server_pids = (start_gorgee if mode == "gorgee" else start_kamailio)(b)
            side[mode] = {"args": b, "proc": proc, "pids": server_pids, "best": 0, "at_best": None,
                          "done": False, "reruns": 0}
            for _ in range(300):
                if proc.poll() is not None or udp_listening(PORTS[mode]):
                    break
                time.sleep(0.1)
        time.sleep(0.5)
        for mode, d in side.items():
            if d["proc"].poll() is not None:
                raise RuntimeError(f"{mode} exited; see {d['args'].workdir}")
        for k, rate in enumerate(int(x) for x in a.ladder.split(",")):
            order = modes if k % 2 == 0 else modes[::-1]
            for mode in order:
                d = side[mode]
                if d["done"]:
                    continue
                for attempt in range(a.retries + 1):
                    res = step(d["args"], rate, d["pids"])
                    res["attempt"] = attempt + 1
                    log(json.dumps(res))
                    if res["pass"]:
                        break
                    d["reruns"] += attempt < a.retries
                    time.sleep(1)
                if not res["pass"]:
                    d["done"] = True
                    continue
                d["best"], d["at_best"] = rate, res
                time.sleep(1)
            if all(d["done"] for d in side.values()):
                break
    finally:
        for d in side.values():
            d["proc"].send_signal(signal.SIGTERM)
        for d in side.values():
            try:
                d["proc"].wait(15)
            except subprocess.TimeoutExpired:
                d["proc"].kill()
                d["proc"].wait()
    for mode, d in side.items():
        print("SUMMARY " + json.dumps({"mode": mode, "max_rate": d["best"], "at_max": d["at_best"],
                                       "reruns": d["reruns"]}), flush=True)


if __name__ == "__main__":
    main()
