#!/usr/bin/env python3
"""Registrar against the real gorgee binary: users added with --add-user, sipp REGISTER with
MD5 digest over UDP and TCP, a SHA-256 digest client (RFC 8760), 401/423/Contact: */queries,
SEC-06 identical challenges, and bindings that survive kill -9 (SQLite).
usage: sip_registrar.py path/to/gorgee tests/sipp. Prints TAP."""
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

GORGEE, SIPP_DIR = sys.argv[1], os.path.abspath(sys.argv[2])
TMP = tempfile.mkdtemp(prefix="gorgee-reg-")
SIP, HTTP = free_port(), free_port()
ARGS = ["--set", f"general.data_dir={TMP}/data", "--set", f"http.port={HTTP}",
        "--set", "http.listen=127.0.0.1", "--set", f"sip.udp_port={SIP}", "--set", f"sip.tcp_port={SIP}",
        "--set", "sip.listen=127.0.0.1", "--set", "registrar.digest_algorithms=md5,sha-256"]
proc = None


def start():
    global proc
    log = open(os.path.join(TMP, "stderr"), "a")
    proc = subprocess.Popen([GORGEE, *ARGS], stdout=subprocess.DEVNULL, stderr=log)
    wait_http(HTTP)


def add_user(user, password):
    r = subprocess.run([GORGEE, *ARGS, "--add-user", user], input=password + "\n",
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    assert password not in r.stdout + r.stderr


class Client:
    """A minimal UAC over UDP that answers digest challenges itself (SHA-256 or MD5)."""

    def __init__(self, user):
        self.user, self.cseq, self.s = user, 0, socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.aor = user  # the AOR in From/To; self.user authenticates
        self.s.bind(("127.0.0.1", 0))
        self.s.settimeout(3)
        self.port = self.s.getsockname()[1]
        self.call_id = f"reg-{user}-{self.port}"

    def register(self, expires=600, contact=None, auth=None, extra=""):
        self.cseq += 1
        contact = contact if contact is not None else f"<sip:{self.aor}@127.0.0.1:{self.port}>"
        m = (f"REGISTER sip:127.0.0.1:{SIP} SIP/2.0\r\n"
             f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch=z9hG4bK{self.call_id}{self.cseq};rport\r\n"
             f"From: <sip:{self.aor}@127.0.0.1>;tag=ft{self.port}\r\nTo: <sip:{self.aor}@127.0.0.1>\r\n"
             f"Call-ID: {self.call_id}\r\nCSeq: {self.cseq} REGISTER\r\nMax-Forwards: 70\r\n"
             + (f"Contact: {contact}\r\n" if contact else "")
             + (f"Expires: {expires}\r\n" if expires is not None else "")
             + (auth + "\r\n" if auth else "") + extra + "Content-Length: 0\r\n\r\n")
        self.s.sendto(m.encode(), ("127.0.0.1", SIP))
        while True:
            r = self.s.recvfrom(65535)[0].decode()
            if int(r.split()[1]) >= 200:
                return r

    def answer(self, challenge_resp, password, alg="SHA-256"):
        ch = [c for c in re.findall(r"WWW-Authenticate: (.*)\r\n", challenge_resp) if f"algorithm={alg}" in c][0]
        realm = re.search(r'realm="([^"]*)"', ch).group(1)
        nonce = re.search(r'nonce="([^"]*)"', ch).group(1)
        h = (lambda x: hashlib.sha256(x.encode()).hexdigest()) if alg == "SHA-256" else \
            (lambda x: hashlib.md5(x.encode()).hexdigest())
        uri, cnonce, nc = f"sip:127.0.0.1:{SIP}", "0a4f113b", "00000001"
        ha1, ha2 = h(f"{self.user}:{realm}:{password}"), h(f"REGISTER:{uri}")
        resp = h(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
        return (f'Authorization: Digest username="{self.user}", realm="{realm}", nonce="{nonce}", '
                f'uri="{uri}", response="{resp}", algorithm={alg}, qop=auth, nc={nc}, cnonce="{cnonce}"')

    def register_auth(self, password, alg="SHA-256", **kw):
        r = self.register(**kw)
        if not r.startswith("SIP/2.0 401"):
            return r
        return self.register(auth=self.answer(r, password, alg), **kw)


def code(r):
    return int(r.split()[1])


@case("sipp REGISTER with MD5 digest over UDP and TCP (401 then 200 with the binding)")
def _():
    for t in ("u1", "t1"):
        r = subprocess.run(["sipp", f"127.0.0.1:{SIP}", "-sf", f"{SIPP_DIR}/register-auth.xml",
                            "-s", "alice", "-au", "alice", "-ap", "alice-pw", "-m", "3", "-t", t,
                            "-i", "127.0.0.1", "-p", str(free_port()), "-nostdin", "-timeout", "15"],
                           capture_output=True, text=True, cwd=TMP, timeout=30)
        assert r.returncode == 0, (t, r.returncode, r.stdout[-500:])


@case("SHA-256 digest (RFC 8760) accepted; the 200 lists the binding with its expiry")
def _():
    c = Client("bob")
    r = c.register_auth("bob-pw", "SHA-256", expires=300)
    assert code(r) == 200, r
    assert re.search(rf"Contact: <sip:bob@127.0.0.1:{c.port}>;expires=(300|299)", r), r
    assert "Date: " in r


@case("SEC-06/BI-42 wrong password and unknown user: 401 again, identical challenge shape")
def _():
    a = Client("bob").register_auth("wrong", "SHA-256")
    b = Client("nosuchuser").register_auth("whatever", "SHA-256")
    assert code(a) == 401 and code(b) == 401, (a, b)
    strip = lambda r: re.sub(r'nonce="[^"]*"|tag=\w+|branch=\S+|Call-ID: \S+|rport=\d+|reg-\S+|<sip:\w+@', "", r)
    assert strip(a.split("Content-Length")[0]).count("WWW-Authenticate") == 2
    assert re.findall(r"WWW-Authenticate: .*", strip(a)) == re.findall(r"WWW-Authenticate: .*", strip(b))


@case("a user may register only its own AOR (403)")
def _():
    c = Client("bob")
    c.aor = "carol"  # To: carol, with bob's valid credentials
    r = c.register_auth("bob-pw", expires=300)
    assert code(r) == 403, r


@case("423 Interval Too Brief with Min-Expires; Contact: * with Expires: 0 removes all")
def _():
    c = Client("bob")
    r = c.register_auth("bob-pw", expires=30)
    assert code(r) == 423 and "Min-Expires: 60" in r, r
    r = c.register_auth("bob-pw", contact="*", expires=5)
    assert code(r) == 400, r
    r = c.register_auth("bob-pw", contact="*", expires=0)
    assert code(r) == 200 and "Contact:" not in r, r
    q = Client("bob").register_auth("bob-pw", contact="", expires=None)
    assert code(q) == 200 and "Contact:" not in q, q


@case("metrics count REGISTER outcomes")
def _():
    body = urllib.request.urlopen(f"http://127.0.0.1:{HTTP}/metrics").read().decode()
    for m in ('gorgee_registrar_requests_total{result="ok"}', 'gorgee_registrar_requests_total{result="challenge"}',
              'gorgee_registrar_requests_total{result="interval_too_brief"}'):
        assert m in body, m


def until_registers(user, password, seconds):
    """Polls a REGISTER with credentials until 200; returns the seconds it took or None."""
    t0 = time.time()
    while time.time() - t0 < seconds:
        if code(Client(user).register_auth(password, expires=300)) == 200:
            return time.time() - t0
        time.sleep(0.1)
    return None


@case("a user added with --add-user while gorgee runs can register without a restart "
      "(store.user_sync: PRAGMA data_version checked every 2 s)")
def _():
    assert code(Client("erin").register_auth("erin-pw")) == 401, "unknown before"
    add_user("erin", "erin-pw")
    took = until_registers("erin", "erin-pw", 5)
    assert took is not None, open(os.path.join(TMP, "stderr")).read()[-800:]
    assert "users changed in the database" in open(os.path.join(TMP, "stderr")).read()


@case("SIGHUP reads the users at once; a password changed by --add-user takes effect")
def _():
    add_user("erin", "erin-pw2")
    proc.send_signal(signal.SIGHUP)
    took = until_registers("erin", "erin-pw2", 3)
    assert took is not None and took < 1.5, took
    assert code(Client("erin").register_auth("erin-pw")) == 401, "the old password is gone"


@case("a retransmitted REGISTER gets the same 200 from its Timer J record; the registrar saw it once")
def _():
    def ok():
        body = urllib.request.urlopen(f"http://127.0.0.1:{HTTP}/metrics").read().decode()
        m = re.search(r'^gorgee_registrar_requests_total\{result="ok"\} (\d+)', body, re.M)
        return int(m.group(1)) if m else 0
    c = Client("alice")
    ch = c.register(expires=120)
    auth = c.answer(ch, "alice-pw", "MD5")
    before = ok()
    r1 = c.register(expires=120, auth=auth)
    assert code(r1) == 200, r1
    c.cseq -= 1  # the same request again: same branch, CSeq and credentials
    r2 = c.register(expires=120, auth=auth)
    assert r2 == r1, (r1, r2)
    assert ok() == before + 1, (before, ok())


@case("bindings survive kill -9 right after the 200 (SQLite, write-before-answer)")
def _():
    c = Client("dave")
    r = c.register_auth("dave-pw", expires=900)
    assert code(r) == 200, r
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    start()
    q = Client("dave").register_auth("dave-pw", contact="", expires=None)
    assert code(q) == 200 and re.search(rf"Contact: <sip:dave@127.0.0.1:{c.port}>;expires=(900|899|898)", q), q


def setup():
    for u in ("alice", "bob", "dave"):
        add_user(u, f"{u}-pw")
    start()


def teardown():
    rc = None
    if proc:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    log = open(os.path.join(TMP, "stderr")).read()[-1500:]
    shutil.rmtree(TMP, ignore_errors=True)
    return [(rc == 0, "gorgee exits 0 on SIGTERM", log)]


case.run(setup, teardown)
