#!/usr/bin/env python3
"""Driver for bench/sip_tcp_idle.sh: against a server already listening on SIP UDP and TCP
(PORT on 127.0.0.1), opens CONNS idle TCP connections, then sends REQUESTS UDP OPTIONS one
after the other (each waits for its answer, 0.5 ms apart) and reads the server's CPU time over
them from /proc (the PIDs given: every process of the server). Prints one JSON line:
  {"conns": n, "requests": n, "answered": n, "us_per_req": x, "p50_ms": x, "p99_ms": x}
usage: driver.py PORT CONNS REQUESTS PID [PID...]"""
import json
import os
import resource
import socket
import sys
import time

port, conns_n, reqs = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
pids = [int(p) for p in sys.argv[4:]]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
tck = os.sysconf("SC_CLK_TCK")


def cpu():
    total = 0
    for p in pids:
        try:
            f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
            total += int(f[11]) + int(f[12])
        except OSError:
            pass
    return total / tck


conns = []
for i in range(conns_n):
    s = socket.socket()
    s.bind(("127.0.0.2", 0))  # not 127.0.0.1's ephemeral ports
    s.connect(("127.0.0.1", port))
    conns.append(s)
time.sleep(1.0)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("127.0.0.1", 0))
u.settimeout(2)
lport = u.getsockname()[1]
lat, answered = [], 0
c0 = cpu()
for i in range(reqs):
    m = (f"OPTIONS sip:ping@127.0.0.1:{port} SIP/2.0\r\n"
         f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bK-{os.getpid()}-{i}\r\n"
         f"From: <sip:bench@127.0.0.1>;tag={i}\r\nTo: <sip:ping@127.0.0.1>\r\n"
         f"Call-ID: {os.getpid()}-{i}@bench\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
         f"Content-Length: 0\r\n\r\n").encode()
    a = time.perf_counter()
    u.sendto(m, ("127.0.0.1", port))
    try:
        u.recv(4096)
        answered += 1
        lat.append((time.perf_counter() - a) * 1000)
    except socket.timeout:
        pass
    time.sleep(0.0005)
used = cpu() - c0
lat.sort()
alive = 0
for s in conns:  # still open: a closed one reads EOF at once
    s.setblocking(False)
    try:
        alive += s.recv(1) != b""
    except BlockingIOError:
        alive += 1
    s.close()
q = lambda p: round(lat[min(len(lat) - 1, int(p * len(lat)))], 3) if lat else None  # noqa: E731
print(json.dumps({"conns": conns_n, "alive": alive, "requests": reqs, "answered": answered,
                  "us_per_req": round(used / max(1, answered) * 1e6, 1),
                  "p50_ms": q(0.5), "p99_ms": q(0.99)}))
