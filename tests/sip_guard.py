#!/usr/bin/env python3
"""BAD-INPUTS SEC-07 against the real gorgee binary: per-source request limits and bans
(pike-like), digest failures per (source, user), exempt networks, and the stateless 503 with
Retry-After past sip.max_server_transactions. Sources are 127.0.0.x addresses (all on lo).
usage: sip_guard.py path/to/gorgee. Prints TAP."""
import hashlib
import os
import re
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
TMP = tempfile.mkdtemp(prefix="gorgee-guard-")
SIP, HTTP, TRUNK = free_port(), free_port(), free_port()
MEDIA_BASE = 14000 + (os.getpid() % 40) * 100
ARGS = ["--set", f"general.data_dir={TMP}/data", "--set", f"http.port={HTTP}", "--set", "http.listen=127.0.0.1",
        "--set", f"sip.udp_port={SIP}", "--set", f"sip.tcp_port={SIP}", "--set", "sip.listen=127.0.0.1",
        "--set", "registrar.digest_algorithms=md5,sha-256", "--set", "sip.t1=50",
        "--set", "sip.pike_requests=10", "--set", "sip.pike_window=2", "--set", "sip.auth_failures=3",
        "--set", "sip.ban_time=2", "--set", "sip.pike_exempt=127.0.0.5", "--set", "sip.max_server_transactions=2",
        "--set", f"calls.trunk=sip:127.0.0.1:{TRUNK}", "--set", "calls.trusted=127.0.0.6",
        "--set", "media.address=127.0.0.1", "--set", "media.workers=1",
        "--set", f"media.port_min={MEDIA_BASE}", "--set", f"media.port_max={MEDIA_BASE + 99}"]
STDERR = os.path.join(TMP, "stderr")
proc = None


def setup():
    global proc
    os.makedirs(os.path.join(TMP, "data"))
    r = subprocess.run([GORGEE, *ARGS, "--add-user", "carol"], input="carol-pw\n", capture_output=True,
                       text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    proc = subprocess.Popen([GORGEE, *ARGS], stdout=subprocess.DEVNULL, stderr=open(STDERR, "w"))
    wait_http(HTTP)


def metric(name):
    body = urllib.request.urlopen(f"http://127.0.0.1:{HTTP}/metrics").read().decode()
    m = re.search(r"^" + re.escape(name) + r" (\d+)", body, re.M)
    return int(m.group(1)) if m else 0


class Source:
    """One UDP source address on lo."""

    def __init__(self, ip):
        self.ip, self.n = ip, 0
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind((ip, 0))
        self.port = self.s.getsockname()[1]

    def request(self, method="OPTIONS", extra="", body="", timeout=1.0, call_id=None, cseq=None):
        """Sends a new request; returns its final response or None."""
        self.n += 1
        cid = call_id or f"g-{self.ip}-{self.n}"
        m = (f"{method} sip:127.0.0.1:{SIP} SIP/2.0\r\n"
             f"Via: SIP/2.0/UDP {self.ip}:{self.port};branch=z9hG4bKg{self.port}x{self.n};rport\r\n"
             f"From: <sip:carol@127.0.0.1>;tag=f{self.port}\r\nTo: <sip:carol@127.0.0.1>\r\n"
             f"Call-ID: {cid}\r\nCSeq: {cseq or self.n} {method}\r\nMax-Forwards: 70\r\n{extra}"
             f"Content-Length: {len(body)}\r\n\r\n{body}")
        self.s.sendto(m.encode(), ("127.0.0.1", SIP))
        self.s.settimeout(timeout)
        try:
            while True:
                r = self.s.recvfrom(65535)[0].decode()
                if int(r.split(" ", 2)[1]) >= 200:
                    return r
        except socket.timeout:
            return None

    def register(self, auth=""):
        return self.request("REGISTER", f"Contact: <sip:carol@{self.ip}:{self.port}>\r\nExpires: 60\r\n" + auth,
                            call_id=f"reg-{self.ip}")


def digest(challenge, password, nc):
    ch = [c for c in re.findall(r"WWW-Authenticate: (.*)\r\n", challenge) if "algorithm=MD5" in c][0]
    realm = re.search(r'realm="([^"]*)"', ch).group(1)
    nonce = re.search(r'nonce="([^"]*)"', ch).group(1)
    h = lambda x: hashlib.md5(x.encode()).hexdigest()  # noqa: E731
    uri, cnonce, ncs = f"sip:127.0.0.1:{SIP}", "0a4f113b", f"{nc:08x}"
    resp = h(f"{h(f'carol:{realm}:{password}')}:{nonce}:{ncs}:{cnonce}:auth:{h(f'REGISTER:{uri}')}")
    return (f'Authorization: Digest username="carol", realm="{realm}", nonce="{nonce}", uri="{uri}", '
            f'response="{resp}", algorithm=MD5, qop=auth, nc={ncs}, cnonce="{cnonce}"\r\n')


def log():
    with open(STDERR) as f:
        return f.read()


@case("SEC-07 more than pike_requests unauthenticated requests in the window: the source is "
      "banned (requests dropped unanswered, TCP closed at accept), logged and counted; "
      "it comes back after ban_time")
def _():
    src = Source("127.0.0.2")
    answered = [src.request() for _ in range(10)]
    assert all(r and " 200 " in r.split("\r\n")[0] for r in answered), answered
    assert src.request() is None, "the 11th request in 2 s is dropped"
    assert src.request() is None, "and the next"
    assert re.search(r"SEC-07: 127\.0\.0\.2 banned for 2 s: more than 10 requests in 2 s", log()), log()[-800:]
    assert metric('gorgee_sip_guard_bans_total{reason="rate"}') == 1
    t = socket.socket()
    t.bind(("127.0.0.2", 0))
    t.settimeout(2)
    t.connect(("127.0.0.1", SIP))
    try:
        d = t.recv(10)
    except OSError:
        d = b""
    t.close()
    assert d == b"", d
    assert Source("127.0.0.3").request(), "another source is unaffected"
    time.sleep(2.2)
    r = src.request()
    assert r and " 200 " in r.split("\r\n")[0], "unbanned after ban_time"


@case("SEC-07 requests that authenticate with digest do not count toward the limit")
def _():
    src = Source("127.0.0.4")
    ch = src.register()
    assert ch and " 401 " in ch.split("\r\n")[0], ch
    for nc in range(1, 16):  # 15 authenticated REGISTERs in well under 2 s
        r = src.register(digest(ch, "carol-pw", nc))
        assert r and " 200 " in r.split("\r\n")[0], (nc, r)
    r = src.request()
    assert r and " 200 " in r.split("\r\n")[0], "not banned"


@case("SEC-07 auth_failures digest failures for one user from one source ban the source")
def _():
    src = Source("127.0.0.7")
    ch = src.register()
    for nc in range(1, 4):
        r = src.register(digest(ch, "wrong-pw", nc))
        assert r and " 401 " in r.split("\r\n")[0], (nc, r)
    assert src.request() is None, "banned after 3 failures"
    assert re.search(r"SEC-07: 127\.0\.0\.7 banned for 2 s: 3 digest failures for user 'carol' in 60 s", log())
    assert "wrong-pw" not in log() and "carol-pw" not in log()
    assert metric('gorgee_sip_guard_bans_total{reason="auth"}') == 1


@case("SEC-07 an exempt address (sip.pike_exempt) is never limited")
def _():
    src = Source("127.0.0.5")
    for i in range(30):
        r = src.request()
        assert r and " 200 " in r.split("\r\n")[0], (i, r)


@case("SEC-07 under load: past sip.max_server_transactions pending, a new request gets a "
      "stateless 503 with Retry-After; served again once they end")
def _():
    trunk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # swallows INVITEs: never answers
    trunk.bind(("127.0.0.1", TRUNK))
    caller = Source("127.0.0.6")  # calls.trusted: exempt from the rate limit
    sdp = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           "m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
    for i in range(2):
        assert caller.request("INVITE", f"Contact: <sip:c@127.0.0.6:{caller.port}>\r\n"
                              "Content-Type: application/sdp\r\n", sdp, timeout=0.3, call_id=f"load{i}") is None
    before = metric("gorgee_sip_overload_total")
    r = Source("127.0.0.5").request()
    assert r and r.startswith("SIP/2.0 503 ") and "Retry-After: 5" in r, r
    assert metric("gorgee_sip_overload_total") == before + 1
    time.sleep(4)  # Timer B (64*T1 = 3.2 s) ends both INVITEs
    r = Source("127.0.0.5").request()
    assert r and " 200 " in r.split("\r\n")[0], r
    trunk.close()


def teardown():
    rc = None
    if proc:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    why = log()[-1500:] if os.path.exists(STDERR) else ""
    shutil.rmtree(TMP, ignore_errors=True)
    return [(rc == 0, "gorgee exits 0 on SIGTERM after the SEC-07 tests", why)]


case.run(setup, teardown)
