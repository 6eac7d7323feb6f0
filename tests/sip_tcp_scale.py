#!/usr/bin/env python3
"""10,000 idle SIP TCP connections to one gorgee: all accepted and kept, the memory each
costs (gorgee's RSS growth / connections), every one of them answered when it sends an
OPTIONS, UDP answered meanwhile, and all of it released when they close. Then 66,000 UDP
requests, past what the §8.2.2.2 merged-request table holds: a merged request is still caught.
usage: sip_tcp_scale.py path/to/gorgee [connections]. Prints TAP; runs in well under 60 s."""
import os
import re
import resource
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gorgeetest import Cases, free_port, wait_http  # noqa: E402

case = Cases()
GORGEE = sys.argv[1]
N = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
MAX_BYTES_PER_CONN = 4096  # gorgee's heap per idle connection (the kernel's socket buffers are not in RSS)
TMP = tempfile.mkdtemp(prefix="gorgee-scale-")
SIP, HTTP = free_port(), free_port()
proc = None
conns = []
state = {}


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = N + 1024
    if hard != resource.RLIM_INFINITY and hard < want:
        print(f"1..0 # SKIP RLIMIT_NOFILE hard limit {hard} < {want}")
        sys.exit(0)
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def setup():
    global proc
    proc = subprocess.Popen([GORGEE, "--set", f"general.data_dir={TMP}/data", "--set", f"http.port={HTTP}",
                             "--set", "http.listen=127.0.0.1", "--set", "sip.listen=127.0.0.1",
                             "--set", f"sip.udp_port={SIP}", "--set", f"sip.tcp_port={SIP}",
                             "--set", f"sip.max_conns_per_ip={N + 100}", "--set", "calls.enabled=false"],
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(TMP, "stderr"), "w"))
    wait_http(HTTP)


def rss_kb():
    with open(f"/proc/{proc.pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1))


def connections():
    body = urllib.request.urlopen(f"http://127.0.0.1:{HTTP}/metrics", timeout=10).read().decode()
    m = re.search(r"^gorgee_sip_tcp_connections (\d+)", body, re.M)
    return int(m.group(1)) if m else 0


def options(call_id, transport="TCP", port=5999):
    return (f"OPTIONS sip:gw@127.0.0.1:{SIP} SIP/2.0\r\nVia: SIP/2.0/{transport} 127.0.0.1:{port};"
            f"branch=z9hG4bK{call_id};rport\r\nMax-Forwards: 70\r\nFrom: <sip:a@127.0.0.1>;tag=f\r\n"
            f"To: <sip:gw@127.0.0.1>\r\nCall-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").encode()


def udp_options(call_id):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    s.sendto(options(call_id, "UDP"), ("127.0.0.1", SIP))
    try:
        return s.recvfrom(65535)[0].decode()
    finally:
        s.close()


@case(f"{N} idle TCP connections are accepted and kept (gauge = {N})")
def _():
    udp_options("warm")  # warm-up so the baseline includes the first request's allocations
    time.sleep(0.3)
    state["rss0"] = rss_kb()
    t0 = time.time()
    for _ in range(N):
        s = socket.socket()
        # from 127.0.0.2: 10,000 ephemeral ports on 127.0.0.1 would take a third of the range
        # other tests pick their listening ports from (a parallel test's gorgee then failed
        # to bind the HTTP port it had found free)
        s.bind(("127.0.0.2", 0))
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", SIP))
        except BlockingIOError:
            pass
        conns.append(s)
    end = time.time() + 30
    while connections() < N and time.time() < end:
        time.sleep(0.2)
    state["accept_s"] = time.time() - t0
    n = connections()
    assert n == N, f"{n} of {N} connections after {state['accept_s']:.1f} s"


@case(f"memory per idle connection is under {MAX_BYTES_PER_CONN} bytes of gorgee RSS")
def _():
    time.sleep(0.5)
    grow = (rss_kb() - state["rss0"]) * 1024
    per = grow / N
    print(f"# rss growth {grow / 1048576:.1f} MiB for {N} connections: {per:.0f} bytes each; "
          f"accepted in {state['accept_s']:.1f} s")
    assert per < MAX_BYTES_PER_CONN, per


@case("with all of them open, OPTIONS over UDP is answered")
def _():
    t0 = time.time()
    r = udp_options("with-10k")
    assert r.startswith("SIP/2.0 200"), r
    print(f"# UDP OPTIONS answered in {1000 * (time.time() - t0):.1f} ms")


@case(f"every one of the {N} connections sends an OPTIONS and gets its 200 on it")
def _():
    sel = selectors.DefaultSelector()
    t0 = time.time()
    for i, s in enumerate(conns):
        s.setblocking(True)
        s.sendall(options(f"c{i}"))
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, i)
    got, bufs, end = set(), {}, time.time() + 40
    while len(got) < N and time.time() < end:
        for key, _ in sel.select(timeout=1):
            i = key.data
            try:
                d = key.fileobj.recv(4096)
            except BlockingIOError:
                continue
            bufs[i] = bufs.get(i, b"") + d
            if b"\r\n\r\n" in bufs[i]:
                assert bufs[i].startswith(b"SIP/2.0 200") and f"Call-ID: c{i}\r\n".encode() in bufs[i], bufs[i][:200]
                got.add(i)
                sel.unregister(key.fileobj)
    sel.close()
    print(f"# {len(got)} answered in {time.time() - t0:.1f} s")
    assert len(got) == N, f"{len(got)} of {N} answered"


@case("closing them all releases every connection")
def _():
    for s in conns:
        s.close()
    conns.clear()
    end = time.time() + 15
    while connections() and time.time() < end:
        time.sleep(0.2)
    assert connections() == 0, connections()



@case("§8.2.2.2 at load: a merged request is caught after 66,000 others filled the table (the oldest go)")
def _():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind(("127.0.0.1", 0))
    s.settimeout(5)
    port = s.getsockname()[1]
    t0, got = time.time(), 0
    for burst in range(0, 66000, 500):
        for i in range(burst, burst + 500):
            s.sendto(options(f"fill{i}", "UDP", port), ("127.0.0.1", SIP))
        for _ in range(500):
            s.recvfrom(65535)
            got += 1
    assert got == 66000, got
    print(f"# 66,000 UDP OPTIONS answered in {time.time() - t0:.1f} s")

    def message(branch):
        s.sendto(options("merged", "UDP", port).replace(b"OPTIONS", b"MESSAGE")
                 .replace(b"branch=z9hG4bKmerged", b"branch=z9hG4bK" + branch), ("127.0.0.1", SIP))
        return s.recvfrom(65535)[0].decode()
    r = message(b"first")
    assert r.startswith("SIP/2.0 405"), r
    r = message(b"forked")  # the same From tag, Call-ID and CSeq by another branch
    assert r.startswith("SIP/2.0 482"), r
    s.close()

def teardown():
    for s in conns:
        s.close()
    rc = None
    if proc:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    why = open(os.path.join(TMP, "stderr")).read()[-1500:] if os.path.exists(os.path.join(TMP, "stderr")) else ""
    shutil.rmtree(TMP, ignore_errors=True)
    return [(rc == 0, "gorgee exits 0 on SIGTERM", why)]


raise_nofile()  # this process and, inherited, gorgee
case.run(setup, teardown)
