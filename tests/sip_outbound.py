#!/usr/bin/env python3
"""Outbound SIP over TCP and TLS: gorgee's B2BUA calls a trunk that is a TCP or TLS server
written here. Connection opened on the loop and reused, the response routed back over it,
RFC 5923 alias reuse of a connection the peer opened, TLS with SNI and RFC 5922 names
checked against a CA made here with the openssl CLI (a good certificate passes; a wrong name
or an untrusted CA fails the call with 503 and a log line), connect failure answered fast.
usage: sip_outbound.py path/to/gorgee. Prints TAP."""
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gorgeetest import Cases, free_port, wait_http  # noqa: E402

case = Cases()
GORGEE = sys.argv[1]
TMP = tempfile.mkdtemp(prefix="gorgee-out-")
MEDIA_BASE = 12000 + (os.getpid() % 40) * 100
procs = []
exits = []  # (name, exit status, sanitizer report) of every gorgee stopped


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=TMP)


def make_certs():
    """A CA, a trunk certificate it signs (SAN DNS:trunk.test), and a self-signed one."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=gorgee test CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
    openssl("req", "-x509", *ec, "-keyout", "trunk.key", "-out", "trunk.pem", "-subj", "/CN=trunk.test",
            "-CA", "ca.pem", "-CAkey", "ca.key", "-addext", "subjectAltName=DNS:trunk.test,URI:sip:trunk.test",
            "-addext", "basicConstraints=CA:FALSE")
    openssl("req", "-x509", *ec, "-keyout", "self.key", "-out", "self.pem", "-subj", "/CN=trunk.test",
            "-addext", "subjectAltName=DNS:trunk.test")
    openssl("req", "-x509", *ec, "-keyout", "client.key", "-out", "client.pem", "-subj", "/CN=client.test",
            "-CA", "ca.pem", "-CAkey", "ca.key", "-addext", "subjectAltName=DNS:client.test")
    openssl("req", "-x509", *ec, "-keyout", "wild.key", "-out", "wild.pem", "-subj", "/CN=trunk.test",
            "-CA", "ca.pem", "-CAkey", "ca.key", "-addext", "subjectAltName=DNS:*.test")


class Peer:
    """A SIP server over TCP or TLS: answers INVITE 100 then 486 (OPTIONS 200), records every
    request with the connection it came on, and the SNI names of TLS handshakes."""

    def __init__(self, tls_cert=None, port=None, host="127.0.0.1"):
        self.port = port or free_port()
        self.ls = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind((host, self.port))
        self.ls.listen(16)
        self.ctx = None
        if tls_cert:
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(os.path.join(TMP, tls_cert + ".pem"), os.path.join(TMP, tls_cert + ".key"))
            self.ctx.sni_callback = lambda s, name, c: self.sni.append(name) and None
        self.sni, self.conns, self.requests, self.errors = [], 0, [], []
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            self.conns += 1
            threading.Thread(target=self.serve, args=(c, self.conns), daemon=True).start()

    def serve(self, c, n):
        try:
            if self.ctx:
                c = self.ctx.wrap_socket(c, server_side=True)
            serve_sip(c, lambda m: self.requests.append((n, m)))
        except (OSError, ssl.SSLError) as e:
            self.errors.append(str(e))

    def close(self):
        self.ls.close()


def serve_sip(c, record):
    """Reads requests on a stream and answers them (INVITE: 100 + 486)."""
    buf = b""
    while True:
        d = c.recv(65535)
        if not d:
            return
        buf += d
        while b"\r\n\r\n" in buf:
            head, rest = buf.split(b"\r\n\r\n", 1)
            m = re.search(rb"\r\nContent-Length: *(\d+)", head, re.I)
            cl = int(m.group(1)) if m else 0
            if len(rest) < cl:
                break
            msg, buf = head.decode() + "\r\n\r\n" + rest[:cl].decode(), rest[cl:]
            if msg.startswith("SIP/2.0"):
                continue
            record(msg)
            method = msg.split(" ", 1)[0]
            if method == "ACK":
                continue
            for st in ((100, "Trying"), (486, "Busy Here")) if method == "INVITE" else ((200, "OK"),):
                c.sendall(reply(msg, *st).encode())


def reply(req, status, reason):
    keep = [line for line in req.split("\r\n")[1:]
            if re.match(r"(Via|From|To|Call-ID|CSeq):", line, re.I)]
    keep = [line + ";tag=peer" if line.startswith("To:") and status > 100 and ";tag=" not in line else line
            for line in keep]
    return f"SIP/2.0 {status} {reason}\r\n" + "\r\n".join(keep) + "\r\nContent-Length: 0\r\n\r\n"


class Gorgee:
    def __init__(self, name, trunk, extra=()):
        self.name, self.sip, self.http = name, free_port(), free_port()
        self.dir = os.path.join(TMP, name)
        os.makedirs(self.dir)
        self.stderr = os.path.join(self.dir, "stderr")
        self.proc = subprocess.Popen(
            [GORGEE, "--set", f"general.data_dir={self.dir}/data", "--set", f"http.port={self.http}",
             "--set", "http.listen=127.0.0.1", "--set", "sip.listen=127.0.0.1",
             "--set", f"sip.udp_port={self.sip}", "--set", f"sip.tcp_port={self.sip}",
             "--set", f"calls.trunk={trunk}", "--set", "calls.trusted=127.0.0.1",
             "--set", "media.address=127.0.0.1", "--set", "media.workers=1",
             "--set", f"media.port_min={MEDIA_BASE}", "--set", f"media.port_max={MEDIA_BASE + 99}",
             "--set", f"sip.dns_servers=127.0.0.1:{DNS}", "--set", f"sip.tls_ca_file={TMP}/ca.pem",
             "--set", "general.log_level=info", "--set", "sip.connect_timeout=2", *extra],
            stdout=subprocess.DEVNULL, stderr=open(self.stderr, "w"))
        procs.append(self.proc)
        wait_http(self.http)

    def log(self):
        with open(self.stderr) as f:
            return f.read()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = "killed"
        bad = re.search(r"(ERROR: (Address|Leak)Sanitizer|runtime error:).*", self.log())
        exits.append((self.name, rc, bad.group(0) if bad else ""))


def call(gw, user="1000", timeout=10):
    """A raw UDP INVITE to gorgee; returns (final status, seconds it took)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp.bind(("127.0.0.1", 0))
    port, cid = s.getsockname()[1], f"out-{time.time()}"
    sdp = (f"v=0\r\no=raw 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           f"m=audio {rtp.getsockname()[1]} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
    via = f"SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{cid.replace('.', '')};rport"
    head = (f"Via: {via}\r\nFrom: <sip:caller@127.0.0.1>;tag=c{port}\r\n"
            f"To: <sip:{user}@127.0.0.1>\r\nCall-ID: {cid}\r\n")
    s.sendto((f"INVITE sip:{user}@127.0.0.1:{gw.sip} SIP/2.0\r\n{head}CSeq: 1 INVITE\r\n"
              f"Contact: <sip:caller@127.0.0.1:{port}>\r\nMax-Forwards: 70\r\n"
              f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}").encode(),
             ("127.0.0.1", gw.sip))
    t0, end = time.time(), time.time() + timeout
    s.settimeout(timeout)
    try:
        while time.time() < end:
            r = s.recvfrom(65535)[0].decode()
            st = int(r.split(" ", 2)[1])
            if st >= 200:
                to = re.search(r"\r\nTo: (.*)\r\n", r).group(1)
                ack = head.replace(f"To: <sip:{user}@127.0.0.1>", f"To: {to}")
                s.sendto((f"ACK sip:{user}@127.0.0.1:{gw.sip} SIP/2.0\r\n{ack}CSeq: 1 ACK\r\n"
                          f"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode(), ("127.0.0.1", gw.sip))
                return st, time.time() - t0
    except socket.timeout:
        pass
    finally:
        s.close()
        rtp.close()
    return None, time.time() - t0


def invites(peer):
    return [m for _, m in peer.requests if m.startswith("INVITE ")]


DNS = free_port()
DEAD, BAD_TLS, GOOD_TLS, GOOD_TCP = free_port(), free_port(), free_port(), free_port()


def setup():
    make_certs()
    dns = subprocess.Popen(["dnsmasq", "--no-daemon", f"--port={DNS}", "--listen-address=127.0.0.1",
                            "--bind-interfaces", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
                            "--user=root", "--pid-file=", "--host-record=trunk.test,127.0.0.1",
                            "--host-record=other.test,127.0.0.1",
                            # multi.test over TCP: a refused address first, then a live one
                            f"--srv-host=_sip._tcp.multi.test,dead.multi.test,{DEAD},10,0",
                            f"--srv-host=_sip._tcp.multi.test,live.multi.test,{GOOD_TCP},20,0",
                            "--host-record=dead.multi.test,127.0.0.1", "--host-record=live.multi.test,127.0.0.1",
                            # trunk.test over TLS: an untrusted certificate first, then a good one
                            f"--srv-host=_sips._tcp.trunk.test,bad.trunk.test,{BAD_TLS},10,0",
                            f"--srv-host=_sips._tcp.trunk.test,good.trunk.test,{GOOD_TLS},20,0",
                            "--host-record=bad.trunk.test,127.0.0.1", "--host-record=good.trunk.test,127.0.0.1"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(dns)
    time.sleep(0.3)


@case("TCP trunk: the INVITE goes over a connection gorgee opens, 486 comes back over it; "
      "the second call reuses that connection; Via says TCP with ;alias (RFC 5923)")
def _():
    peer = Peer()
    gw = Gorgee("tcp", f"sip:127.0.0.1:{peer.port};transport=tcp")
    try:
        assert call(gw)[0] == 486, gw.log()[-1500:]
        assert call(gw)[0] == 486
        inv = invites(peer)
        assert len(inv) == 2 and peer.conns == 1, (len(inv), peer.conns)
        assert re.search(r"Via: SIP/2.0/TCP [^\r]*;alias", inv[0]), inv[0]
        for _ in range(50):  # the ACK of the 486 may still be on its way
            acks = [m for _, m in peer.requests if m.startswith("ACK ")]
            if len(acks) == 2:
                break
            time.sleep(0.05)
        assert len(acks) == 2 and {n for n, _ in peer.requests} == {1}, peer.requests
    finally:
        gw.stop()
        peer.close()


@case("TLS trunk by name: SNI is the domain, the CA-signed certificate naming it passes "
      "(RFC 5922), the call gets the trunk's 486 over TLS")
def _():
    peer = Peer("trunk")
    gw = Gorgee("tls-good", f"sip:trunk.test:{peer.port};transport=tls")
    try:
        st, _ = call(gw)
        assert st == 486, (st, peer.errors, gw.log()[-1500:])
        assert peer.sni == ["trunk.test"], peer.sni
        inv = invites(peer)
        assert len(inv) == 1 and "Via: SIP/2.0/TLS " in inv[0], inv
    finally:
        gw.stop()
        peer.close()


@case("TLS trunk whose certificate names another domain: the call fails with 503 and the "
      "log says the certificate does not name the SIP domain; nothing was sent")
def _():
    peer = Peer("trunk")
    gw = Gorgee("tls-name", f"sip:other.test:{peer.port};transport=tls")
    try:
        st, took = call(gw)
        assert st == 503, (st, gw.log()[-1500:])
        assert re.search(r"TLS to 127\.0\.0\.1:\d+ \(other\.test\): certificate refused: it does not "
                         r"name the SIP domain", gw.log()), gw.log()[-1500:]
        assert invites(peer) == [] and took < 5, took
    finally:
        gw.stop()
        peer.close()


@case("TLS trunk with a certificate from no trusted CA: 503 and a log line with OpenSSL's reason")
def _():
    peer = Peer("self")
    gw = Gorgee("tls-untrusted", f"sip:trunk.test:{peer.port};transport=tls")
    try:
        st, _ = call(gw)
        assert st == 503, (st, gw.log()[-1500:])
        assert re.search(r"\(trunk\.test\): certificate refused: (self[- ]signed|unable to get local issuer)",
                         gw.log()), gw.log()[-1500:]
        assert invites(peer) == []
    finally:
        gw.stop()
        peer.close()


@case("IPv6: a TCP trunk at [::1] is reached over a connection gorgee opens on IPv6")
def _():
    peer = Peer(host="::1")
    gw = Gorgee("tcp6", f"sip:[::1]:{peer.port};transport=tcp", ["--set", "sip.listen=127.0.0.1,::1"])
    try:
        assert call(gw)[0] == 486, gw.log()[-1500:]
        inv = invites(peer)
        assert len(inv) == 1 and "Via: SIP/2.0/TCP " in inv[0], inv
    finally:
        gw.stop()
        peer.close()


@case("sip.tls_verify_client: the TLS listener refuses a client without a certificate from "
      "the CAs, and serves one with")
def _():
    tls = free_port()
    gw = Gorgee("mtls", "sip:127.0.0.1:9;transport=tcp",
                ["--set", f"sip.tls_port={tls}", "--set", f"sip.tls_cert={TMP}/trunk.pem",
                 "--set", f"sip.tls_key={TMP}/trunk.key", "--set", "sip.tls_verify_client=true"])
    opts = (f"OPTIONS sip:gw@127.0.0.1:{tls} SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bKmtls\r\n"
            f"From: <sip:c@127.0.0.1>;tag=m\r\nTo: <sip:gw@127.0.0.1>\r\nCall-ID: mtls\r\nCSeq: 1 OPTIONS\r\n"
            f"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()

    def client(cert):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(os.path.join(TMP, "ca.pem"))
        ctx.check_hostname = False
        if cert:
            ctx.load_cert_chain(os.path.join(TMP, cert + ".pem"), os.path.join(TMP, cert + ".key"))
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", tls), timeout=5))
        try:
            s.sendall(opts)
            return s.recv(65535)
        except (OSError, ssl.SSLError):
            return b""
        finally:
            s.close()
    try:
        assert client(None) == b"", "no client certificate: refused"
        assert client("self") == b"", "a certificate from no trusted CA: refused"
        assert client("client").startswith(b"SIP/2.0 200"), "a certificate from the CA: served"
    finally:
        gw.stop()


@case("RFC 5922 §7.2: a wildcard certificate (DNS:*.test, CN=trunk.test) does not name trunk.test")
def _():
    peer = Peer("wild")
    gw = Gorgee("tls-wild", f"sip:trunk.test:{peer.port};transport=tls")
    try:
        st, _ = call(gw)
        assert st == 503, (st, gw.log()[-1500:])
        assert "(trunk.test): certificate refused: it does not name the SIP domain" in gw.log()
        assert invites(peer) == []
    finally:
        gw.stop()
        peer.close()


@case("sip.tls_verify=false: the untrusted certificate is accepted (the operator's choice)")
def _():
    peer = Peer("self")
    gw = Gorgee("tls-noverify", f"sip:trunk.test:{peer.port};transport=tls",
                ["--set", "sip.tls_verify=false"])
    try:
        assert call(gw)[0] == 486, gw.log()[-1500:]
    finally:
        gw.stop()
        peer.close()


@case("connect refused: the call fails with 503 at once, not after Timer B")
def _():
    dead = free_port()
    gw = Gorgee("refused", f"sip:127.0.0.1:{dead};transport=tcp")
    try:
        st, took = call(gw)
        assert st == 503 and took < 3, (st, took, gw.log()[-1000:])
        assert "connection to 127.0.0.1:%d failed" % dead in gw.log(), gw.log()[-1000:]
    finally:
        gw.stop()


@case("RFC 3263 §4.3 over TCP: the first SRV target refuses the connection, the call goes to the next")
def _():
    peer = Peer(port=GOOD_TCP)
    gw = Gorgee("srv-tcp", "sip:multi.test;transport=tcp")
    try:
        st, took = call(gw)
        assert st == 486 and took < 4, (st, took, gw.log()[-1500:])
        assert f"connection to 127.0.0.1:{DEAD} failed" in gw.log()
        assert len(invites(peer)) == 1
    finally:
        gw.stop()
        peer.close()


@case("RFC 3263 §4.3 over TLS: the first SRV target's certificate is refused, the next one's "
      "(naming the domain trunk.test, not its SRV target, RFC 5922 §4) passes")
def _():
    bad, good = Peer("self", BAD_TLS), Peer("trunk", GOOD_TLS)
    gw = Gorgee("srv-tls", "sip:trunk.test;transport=tls")
    try:
        st, _ = call(gw)
        assert st == 486, (st, gw.log()[-1500:])
        assert re.search(r"\(trunk\.test\): certificate refused", gw.log()), gw.log()[-1500:]
        assert invites(bad) == [] and len(invites(good)) == 1
        assert good.sni == ["trunk.test"] and bad.sni == ["trunk.test"], (good.sni, bad.sni)
    finally:
        gw.stop()
        bad.close()
        good.close()


@case("RFC 5923: a connection the peer opened with ;alias carries gorgee's requests to its sent-by")
def _():
    alias_port = free_port()  # nothing listens there: only the alias can reach the peer
    gw = Gorgee("alias", f"sip:127.0.0.1:{alias_port};transport=tcp")
    c = socket.create_connection(("127.0.0.1", gw.sip), timeout=5)
    try:
        c.sendall((f"OPTIONS sip:gw@127.0.0.1:{gw.sip} SIP/2.0\r\n"
                   f"Via: SIP/2.0/TCP 127.0.0.1:{alias_port};branch=z9hG4bKalias1;alias\r\n"
                   f"From: <sip:peer@127.0.0.1>;tag=p1\r\nTo: <sip:gw@127.0.0.1>\r\nCall-ID: alias1\r\n"
                   f"CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode())
        assert b"200 OK" in c.recv(65535)
        got = []
        t = threading.Thread(target=lambda: serve_sip_quiet(c, got.append), daemon=True)
        t.start()
        st, _ = call(gw)
        assert st == 486, (st, gw.log()[-1500:])
        assert any(m.startswith("INVITE ") for m in got), got
    finally:
        c.close()
        gw.stop()


def serve_sip_quiet(c, record):
    try:
        serve_sip(c, record)
    except OSError:
        pass


def teardown():
    for p in procs:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
    shutil.rmtree(TMP, ignore_errors=True)
    bad = [e for e in exits if e[1] != 0 or e[2]]
    return [(not bad and len(exits) > 0, "every gorgee exits 0 on SIGTERM (no sanitizer report)", str(bad))]


case.run(setup, teardown)
