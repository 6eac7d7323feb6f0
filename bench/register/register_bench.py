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
import os
import sqlite3
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from ladder import children_of, free_port, sipp_step, stop, wait_udp, walk  # noqa: E402

REALM = "127.0.0.1"  # the To host: Kamailio's realm ($td) and gorgee's registrar.domain
PORTS = {"gorgee": free_port(), "kamailio": free_port(), "sipp": free_port(), "http": free_port()}


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
    cmd = ["sipp", "-sf", os.path.join(HERE, "register-auth.xml"), f"127.0.0.1:{PORTS[a.mode]}",
           "-inf", os.path.join(a.workdir, "users.csv"), "-i", "127.0.0.1", "-p", str(PORTS["sipp"]),
           "-r", str(rate), "-m", str(int(rate * a.duration)), "-nostdin", "-buff_size", "1048576",
           "-recv_timeout", "5000"]
    return sipp_step(cmd, a.duration, server_pids, a.workdir)


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
            side[mode] = (b, proc, server_pids)
            if not wait_udp(proc, PORTS[mode]):
                raise RuntimeError(f"{mode} did not start; see {b.workdir}")
        time.sleep(0.5)
        walk([int(x) for x in a.ladder.split(",")], modes,
             lambda mode, rate: step(side[mode][0], rate, side[mode][2]), a.retries)
    finally:
        for _, proc, _ in side.values():
            stop(proc, 15)


if __name__ == "__main__":
    main()
