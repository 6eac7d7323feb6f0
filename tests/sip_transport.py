#!/usr/bin/env python3
"""SIP transports against the real gorgee binary: UDP and TCP on IPv4 and IPv6, framing,
keep-alive, caps, timeouts, response routing, the trace file, and real peers (sipp, sipsak).
usage: sip_transport.py path/to/gorgee [tests/sipp dir]. Prints TAP."""
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

GORGEE = sys.argv[1]
SIPP_DIR = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "sipp")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gorgeetest import Cases, free_port, wait_http  # noqa: E402

case = Cases()

TMP = tempfile.mkdtemp(prefix="gorgee-sip-")
SIP = free_port()
HTTP = free_port()
TLS = free_port()
CERT, KEY = os.path.join(TMP, "cert.pem"), os.path.join(TMP, "key.pem")
subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", KEY, "-out", CERT, "-days", "2", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True)
TRACE = os.path.join(TMP, "trace.txt")
log = open(os.path.join(TMP, "stderr"), "w+")
proc = subprocess.Popen([GORGEE, "--set", "calls.enabled=false",  # INVITE: transaction tests (405)
                         "--set", f"http.port={HTTP}", "--set", "http.listen=127.0.0.1",
                         "--set", f"sip.udp_port={SIP}", "--set", f"sip.tcp_port={SIP}",
                         "--set", "sip.listen=127.0.0.1,::1", "--set", "sip.header_timeout=1",
                         "--set", "sip.max_conns_per_ip=4", "--set", "sip.max_udp=4000",
                         "--set", f"sip.trace_file={TRACE}", "--set", "sip.t1=50",
                         "--set", f"sip.tls_port={TLS}", "--set", f"sip.tls_cert={CERT}", "--set", f"sip.tls_key={KEY}", "--set", f"general.data_dir={TMP}/data"],
                        stdout=subprocess.DEVNULL, stderr=log)


def msg(method="OPTIONS", call_id="c1", extra="", via_host="127.0.0.1:5999", rport=True, body="",
        cseq=None, transport="UDP"):
    via = f"SIP/2.0/{transport} {via_host};branch=z9hG4bK{call_id}" + (";rport" if rport else "")
    return (f"{method} sip:gw@127.0.0.1:{SIP} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\n"
            f"From: <sip:alice@example.com>;tag=f1\r\nTo: <sip:gw@example.com>\r\n"
            f"Call-ID: {call_id}\r\nCSeq: {cseq or '1 ' + method}\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n{body}").encode()


def udp(data, family=socket.AF_INET, host="127.0.0.1", expect=True, timeout=2):
    """Sends one datagram; returns the first final response (provisionals skipped)."""
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.bind((host, 0))
    s.settimeout(timeout if expect else 0.5)
    s.sendto(data, (host, SIP))
    try:
        while True:
            r = s.recvfrom(65535)[0].decode(errors="replace")
            if status(r) >= 200:
                return r, s.getsockname()[1]
    except socket.timeout:
        return None, s.getsockname()[1]
    finally:
        s.close()


def metric(name):
    body = urllib.request.urlopen(f"http://127.0.0.1:{HTTP}/metrics").read().decode()
    m = re.search(r"^" + re.escape(name) + r" (\d+)", body, re.M)
    return int(m.group(1)) if m else 0


def collect(s, seconds):
    out, end = [], time.time() + seconds
    while time.time() < end:
        s.settimeout(max(0.01, end - time.time()))
        try:
            out.append(s.recvfrom(65535)[0].decode())
        except socket.timeout:
            break
    return out


def tcp_connect(family=socket.AF_INET, host="127.0.0.1"):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(3)
    s.connect((host, SIP))
    return s


def read_responses(s, n, timeout=3):
    buf, out = b"", []
    end = time.time() + timeout
    while len(out) < n and time.time() < end:
        try:
            d = s.recv(65535)
        except socket.timeout:
            break
        if not d:
            break
        buf += d
        while b"\r\n\r\n" in buf:
            head, rest = buf.split(b"\r\n\r\n", 1)
            m = re.search(rb"Content-Length: *(\d+)", head, re.I)
            cl = int(m.group(1)) if m else 0
            if len(rest) < cl:
                break
            out.append((head + b"\r\n\r\n" + rest[:cl]).decode())
            buf = rest[cl:]
    return out


def status(r):
    return int(r.split(" ", 2)[1]) if r else None


@case("UDP OPTIONS answered 200 with capabilities; rport and received stamped (RFC 3581)")
def _():
    r, port = udp(msg(via_host="192.0.2.7:5999"))
    assert status(r) == 200, r
    assert "Allow: OPTIONS" in r and "Accept: application/sdp" in r and "Call-ID: c1" in r, r
    via = re.search(r"Via: (.*)\r\n", r).group(1)
    assert f";rport={port}" in via and ";received=127.0.0.1" in via, via
    assert re.search(r"To: <sip:gw@example.com>;tag=[0-9a-f]+", r), r


@case("UDP without rport: answered to the sent-by port (RFC 3261 §18.2.2)")
def _():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(2)
    port = s.getsockname()[1]
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.bind(("127.0.0.1", 0))
    sender.sendto(msg(via_host=f"127.0.0.1:{port}", rport=False, call_id="c-sentby"), ("127.0.0.1", SIP))
    r = s.recvfrom(65535)[0].decode()
    s.close()
    sender.close()
    assert status(r) == 200 and "Call-ID: c-sentby" in r, r


@case("IPv6: UDP and TCP OPTIONS over ::1")
def _():
    r, _ = udp(msg(via_host="[::1]:5999", call_id="c6"), socket.AF_INET6, "::1")
    assert status(r) == 200 and "Call-ID: c6" in r, r
    s = tcp_connect(socket.AF_INET6, "::1")
    s.sendall(msg(call_id="c6t", transport="TCP", via_host="[::1]:5999"))
    rs = read_responses(s, 1)
    s.close()
    assert rs and status(rs[0]) == 200, rs


@case("TCP: two messages in one segment, one split across writes, all answered in order")
def _():
    s = tcp_connect()
    s.sendall(msg(call_id="t1", transport="TCP") + msg(call_id="t2", transport="TCP"))
    m3 = msg(call_id="t3", transport="TCP", body="hello", extra="Content-Type: text/plain\r\n")
    s.sendall(m3[:30])
    time.sleep(0.2)
    s.sendall(m3[30:])
    rs = read_responses(s, 3)
    s.close()
    assert [re.search(r"Call-ID: (\S+)", r).group(1) for r in rs] == ["t1", "t2", "t3"], rs


def tls_connect():
    import ssl
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection(("127.0.0.1", TLS), timeout=3)
    return ctx.wrap_socket(raw, server_hostname="127.0.0.1")


@case("TLS: OPTIONS over TLS (1.2+) answered on the same connection, trace marks it")
def _():
    s = tls_connect()
    assert s.version() in ("TLSv1.2", "TLSv1.3"), s.version()
    s.sendall(msg(call_id="tls1", transport="TLS") + msg(call_id="tls2", transport="TLS"))
    rs = read_responses(s, 2)
    s.close()
    assert [status(r) for r in rs] == [200, 200] and "SIP/2.0/TLS" in rs[0], rs


@case("TLS: a handshake that never comes is cut at header_timeout; plain bytes are refused")
def _():
    raw = socket.create_connection(("127.0.0.1", TLS), timeout=4)
    t0 = time.time()
    try:
        d = raw.recv(100)
    except OSError:
        d = b""
    assert d == b"" and time.time() - t0 < 3.5, (d, time.time() - t0)
    raw.close()
    raw = socket.create_connection(("127.0.0.1", TLS), timeout=4)
    raw.sendall(msg(call_id="plain-on-tls", transport="TCP"))
    try:
        d = raw.recv(4096)
    except OSError:
        d = b""
    assert b"SIP/2.0" not in d, d
    raw.close()


@case("TCP CRLFCRLF keep-alive ping gets a CRLF pong (RFC 5626 §4.4.1)")
def _():
    s = tcp_connect()
    s.sendall(b"\r\n\r\n")
    assert s.recv(16) == b"\r\n"
    s.sendall(msg(call_id="after-ping", transport="TCP"))
    rs = read_responses(s, 1)
    s.close()
    assert rs and "after-ping" in rs[0]


@case("methods: INVITE 405 with Allow, unknown method 501, Max-Forwards 0 483, Require 420")
def _():
    r, _ = udp(msg("INVITE", "m1", extra="Contact: <sip:a@127.0.0.1>\r\n"))
    assert status(r) == 405 and "Allow: OPTIONS" in r, r
    r, _ = udp(msg("FROB", "m2"))
    assert status(r) == 501, r
    r, _ = udp(msg("MESSAGE", "m3").replace(b"Max-Forwards: 70", b"Max-Forwards: 0"))
    assert status(r) == 483, r
    r, _ = udp(msg("OPTIONS", "m4", extra="Require: foo, path\r\n"))
    assert status(r) == 420 and "Unsupported: foo" in r, r


@case("transactions: a retransmitted request gets the same response, the TU sees it once")
def _():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(2)
    before = metric('gorgee_sip_retransmissions_absorbed_total{kind="nist"}')
    m = msg(call_id="retx1")
    s.sendto(m, ("127.0.0.1", SIP))
    r1 = s.recvfrom(65535)[0]
    s.sendto(m, ("127.0.0.1", SIP))
    r2 = s.recvfrom(65535)[0]
    s.close()
    assert r1 == r2 and b"200 OK" in r1, (r1, r2)
    assert metric('gorgee_sip_retransmissions_absorbed_total{kind="nist"}') == before + 1


@case("Timer J record: retransmissions within 64*T1 get the final response byte for byte, "
      "then the record expires and the same request is new (T1=50 ms: J=3.2 s)")
def _():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(2)
    absorbed = 'gorgee_sip_retransmissions_absorbed_total{kind="nist"}'
    m = msg("MESSAGE", "timerj1", extra="Content-Type: text/plain\r\n", body="hi")
    t0 = time.time()
    s.sendto(m, ("127.0.0.1", SIP))
    r1 = s.recvfrom(65535)[0]
    live = metric('gorgee_sip_transactions{kind="nist"}')
    assert live >= 1, live  # the record is a transaction in Completed
    before = metric(absorbed)
    for _ in range(3):  # the TU answered once: each copy gets that answer again
        time.sleep(0.3)
        s.sendto(m, ("127.0.0.1", SIP))
        assert s.recvfrom(65535)[0] == r1
    assert metric(absorbed) == before + 3, (before, metric(absorbed))
    time.sleep(max(0.0, t0 + 3.2 + 0.5 - time.time()))  # Timer J fired (10 ms ticks)
    s.sendto(m, ("127.0.0.1", SIP))
    r3 = s.recvfrom(65535)[0]
    s.close()
    tag = lambda r: re.search(rb"To: [^\r]*;tag=([\w-]+)", r).group(1)
    assert status(r3.decode()) == status(r1.decode()) and tag(r3) != tag(r1), (r1, r3)
    assert metric(absorbed) == before + 3


@case("INVITE transaction: 100 at once, final retransmitted on Timer G until the ACK (T1=50 ms)")
def _():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.sendto(msg("INVITE", "ist1", extra="Contact: <sip:a@127.0.0.1>\r\n"), ("127.0.0.1", SIP))
    got = collect(s, 0.5)
    assert status(got[0]) == 100, got[:1]
    finals = [r for r in got if status(r) == 405]
    # G fires at 50, 100, 200 ms (doubling): 3-4 copies in 0.5 s
    assert 3 <= len(finals) <= 5 and len(set(finals)) == 1, len(finals)
    tag = re.search(r"To: .*;tag=(\w+)", finals[0]).group(1)
    ack = (f"ACK sip:gw@127.0.0.1:{SIP} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKist1;rport\r\n"
           f"Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=f1\r\nTo: <sip:gw@example.com>;tag={tag}\r\n"
           f"Call-ID: ist1\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n").encode()
    s.sendto(ack, ("127.0.0.1", SIP))
    time.sleep(0.05)
    collect(s, 0.05)
    assert collect(s, 1.0) == [], "no retransmission after the ACK"
    s.close()


@case("INVITE transaction without ACK ends on Timer H (64*T1) and is counted")
def _():
    before = metric('gorgee_sip_transaction_timeouts_total{kind="ist"}')
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.sendto(msg("INVITE", "ist2", extra="Contact: <sip:a@127.0.0.1>\r\n"), ("127.0.0.1", SIP))
    got = collect(s, 4.0)
    s.close()
    finals = [r for r in got if status(r) == 405]
    assert 5 <= len(finals) <= 16, len(finals)  # G doubles to T2=4 s... capped by H at 3.2 s
    after = metric('gorgee_sip_transaction_timeouts_total{kind="ist"}')
    # the INVITE of the "methods" case was never ACKed either and may time out meanwhile
    assert after - before in (1, 2), (before, after, len(finals))


@case("CANCEL matching no INVITE gets 481; RFC 2543 (no magic cookie) retransmission absorbed")
def _():
    r, _ = udp(msg("CANCEL", "c481"))
    assert status(r) == 481, r
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(2)
    m = msg(call_id="old2543").replace(b"branch=z9hG4bKold2543", b"branch=oldstyle1")
    s.sendto(m, ("127.0.0.1", SIP))
    r1 = s.recvfrom(65535)[0]
    s.sendto(m, ("127.0.0.1", SIP))
    r2 = s.recvfrom(65535)[0]
    s.close()
    assert r1 == r2 and b"200 OK" in r1


@case("BI-15 in-dialog request for no dialog gets 481; a merged request (§8.2.2.2) gets 482")
def _():
    bye = msg("BYE", "gone1").replace(b"To: <sip:gw@example.com>", b"To: <sip:gw@example.com>;tag=nosuch")
    r, _ = udp(bye)
    assert status(r) == 481, r
    first = msg("MESSAGE", "merge1")
    r, _ = udp(first)
    assert status(r) == 405, r
    forked = first.replace(b"branch=z9hG4bKmerge1", b"branch=z9hG4bKmerge1-fork")
    r, _ = udp(forked)
    assert status(r) == 482, r


@case("BI-07 over UDP: bad Content-Length answered 400 with a reason")
def _():
    for cl in (b"-1", b"4294967328", b"99999999999999999999", b"abc", b"500"):
        m = re.sub(rb"Content-Length: \d+", b"Content-Length: " + cl, msg(call_id="cl"))
        r, _ = udp(m)
        assert status(r) == 400 and "(" in r.split("\r\n")[0], (cl, r)
        assert "Call-ID: cl" in r and "Via: " in r, r


@case("BI-07 over TCP: bad Content-Length answered 400, then the connection closes")
def _():
    s = tcp_connect()
    s.sendall(re.sub(rb"Content-Length: \d+", b"Content-Length: -1", msg(call_id="tcl", transport="TCP")))
    rs = read_responses(s, 1)
    assert rs and status(rs[0]) == 400, rs
    s.settimeout(2)
    assert s.recv(100) == b"", "closed"
    s.close()


@case("BI-14 responses are dropped, never answered; malformed responses too")
def _():
    resp = (b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKx\r\n"
            b"From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: r1\r\nCSeq: 1 OPTIONS\r\n"
            b"Content-Length: 0\r\n\r\n")
    assert udp(resp, expect=False)[0] is None
    assert udp(resp.replace(b"200 OK", b"10000 Weird"), expect=False)[0] is None


@case("BI-17 two messages in one datagram: the first is answered, the rest ignored")
def _():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(1)
    s.sendto(msg(call_id="d1") + msg(call_id="d2"), ("127.0.0.1", SIP))
    r = s.recvfrom(65535)[0].decode()
    assert "Call-ID: d1" in r
    try:
        extra = s.recvfrom(65535)[0]
    except socket.timeout:
        extra = None
    s.close()
    assert extra is None, extra


@case("SEC-08 datagram above sip.max_udp dropped before parsing, and counted")
def _():
    big = msg(call_id="big", extra="X-Pad: " + "x" * 5000 + "\r\n")
    assert udp(big, expect=False)[0] is None
    body = urllib.request.urlopen(f"http://127.0.0.1:{HTTP}/metrics").read().decode()
    assert 'gorgee_sip_transport_drops_total{reason="udp_too_large"}' in body


@case("BI-18 slowloris: a message dripped past sip.header_timeout closes the connection")
def _():
    s = tcp_connect()
    s.sendall(b"OPTIONS sip:gw@127.0.0.1 SIP/2.0\r\n")
    t0 = time.time()
    s.settimeout(5)
    for _ in range(10):
        try:
            s.sendall(b"X")
        except OSError:
            break
        time.sleep(0.2)
    try:
        d = s.recv(100)
    except OSError:
        d = b""
    s.close()
    assert d == b"" and time.time() - t0 < 4, d


@case("BI-18 per-IP TCP connection cap: connections past sip.max_conns_per_ip are closed")
def _():
    time.sleep(0.3)
    conns = [tcp_connect() for _ in range(4)]
    extra = tcp_connect()
    extra.settimeout(2)
    try:
        extra.sendall(msg(call_id="cap", transport="TCP"))
        d = extra.recv(100)
    except OSError:
        d = b""
    assert d == b"", d
    extra.close()
    for c in conns:
        c.close()
    time.sleep(0.3)
    s = tcp_connect()
    s.sendall(msg(call_id="cap-after", transport="TCP"))
    assert read_responses(s, 1), "slots come back"
    s.close()


@case("trace file holds messages in and out in ngrep layout; SDES keys redacted (SEC-13)")
def _():
    key = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVzcyAoc2VuZA=="
    sdp = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           "m=audio 4000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + key + "|2^20|1:32\r\n")
    udp(msg("MESSAGE", "sdes-trace", body=sdp, extra="Content-Type: application/sdp\r\n"))
    with open(TRACE) as f:
        t = f.read()
    assert re.search(r"^U \d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{6} 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:%d\nOPTIONS " % SIP, t, re.M), t[:500]
    assert re.search(r"^U .* 127\.0\.0\.1:%d -> 127\.0\.0\.1:\d+\nSIP/2.0 200 OK" % SIP, t, re.M)
    assert re.search(r"^T .* -> .*\nSIP/2.0 200 OK", t, re.M)
    assert "inline:[redacted]|2^20|1:32" in t and key not in t


@case("sipp (real peer): OPTIONS over UDP and TCP answered 200 with Allow and rport")
def _():
    if not shutil.which("sipp"):
        raise RuntimeError("sipp not installed")
    for t in ("u1", "t1"):
        r = subprocess.run(["sipp", f"127.0.0.1:{SIP}", "-sf", os.path.abspath(os.path.join(SIPP_DIR, "options.xml")),
                            "-m", "5", "-t", t, "-i", "127.0.0.1", "-p", str(free_port()),
                            "-timeout", "10", "-nostdin", "-bg" if False else "-trace_err",
                            "-error_file", os.path.join(TMP, f"sipp-{t}.err")],
                           capture_output=True, text=True, timeout=30, cwd=TMP)
        assert r.returncode == 0, (t, r.returncode, r.stdout[-800:], r.stderr[-800:])


@case("sipsak (real peer): OPTIONS ping answered 200")
def _():
    if not shutil.which("sipsak"):
        raise RuntimeError("sipsak not installed")
    r = subprocess.run(["sipsak", "-s", f"sip:ping@127.0.0.1:{SIP}", "-l", str(free_port()), "-vv"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0 and "200 OK" in r.stdout, (r.returncode, r.stdout[-600:], r.stderr[-300:])


@case("metrics count SIP messages by method and malformed ones by status")
def _():
    body = urllib.request.urlopen(f"http://127.0.0.1:{HTTP}/metrics").read().decode()
    for m in ('gorgee_sip_messages_received_total{kind="request",method="OPTIONS"}',
              'gorgee_sip_malformed_total{transport="udp",status="400"}',
              'gorgee_sip_responses_sent_total{status="200"}', "gorgee_sip_tcp_connections"):
        assert m in body, m


def teardown():
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = None
    log.seek(0)
    why = log.read()[-2000:]
    shutil.rmtree(TMP, ignore_errors=True)
    return [(rc == 0, "gorgee exits 0 on SIGTERM after the SIP tests", why)]


case.run(lambda: wait_http(HTTP), teardown)
