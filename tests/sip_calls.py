#!/usr/bin/env python3
"""SIP-to-SIP calls through gorgee's B2BUA with real peers: sipp uac -> gorgee -> sipp uas
(INVITE/ACK/BYE, RTP both ways through the relay, CANCEL, 486, hold re-INVITE, BYE from the
callee), routing (trunk, location service, SEC-10 trust and digest, dial plan, 480),
transfers (REFER between two SIP parties, blind and with Replaces; INVITE with Replaces,
RFC 3891) and BAD-INPUTS BI-02, BI-04, BI-10, BI-15, BI-16 and BI-26 with a raw UAC written here.
usage: sip_calls.py path/to/gorgee tests/sipp. Prints TAP."""
import hashlib
import os
import re
import shutil
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
TMP = tempfile.mkdtemp(prefix="gorgee-calls-")
# media ports: a block below the kernel's ephemeral range, apart from parallel tests
MEDIA_BASE = 10000 + (os.getpid() % 40) * 250
procs = []


class Gorgee:
    """One gorgee with a trunk toward UAS port and its own HTTP, SIP and media ports."""

    def __init__(self, name, trunk_port, media_base, extra=()):
        self.name, self.sip, self.http = name, free_port(), free_port()
        self.dir = os.path.join(TMP, name)
        os.makedirs(self.dir)
        self.args = ["--set", f"general.data_dir={self.dir}/data", "--set", f"http.port={self.http}",
                     "--set", "http.listen=127.0.0.1", "--set", "sip.listen=127.0.0.1",
                     "--set", f"sip.udp_port={self.sip}", "--set", "sip.tcp_port=0",
                     "--set", f"calls.trunk=sip:127.0.0.1:{trunk_port}",
                     "--set", "media.address=127.0.0.1", "--set", "media.workers=1",
                     "--set", f"media.port_min={media_base}", "--set", f"media.port_max={media_base + 99}",
                     "--set", "general.log_level=info", *extra]

    def start(self):
        self.proc = subprocess.Popen([GORGEE, *self.args], stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(self.dir, "stderr"), "w"))
        procs.append(self.proc)
        try:
            wait_http(self.http)
        except RuntimeError as e:  # say why: the daemon's last words
            with open(os.path.join(self.dir, "stderr")) as f:
                raise RuntimeError(f"{self.name}: {e} (exit {self.proc.poll()}): {f.read()[-1500:]}") from None

    def add_user(self, user, password):
        r = subprocess.run([GORGEE, *self.args, "--add-user", user], input=password + "\n",
                           capture_output=True, text=True, timeout=20)
        assert r.returncode == 0, r.stderr

    def metric(self, name):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http}/metrics", timeout=5) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[1])
        return 0.0

    def settle(self, seconds=5):
        """Waits until no call and no relay session is left (nothing leaks)."""
        end = time.time() + seconds
        while time.time() < end:
            if self.metric("gorgee_calls") == 0 and self.metric("gorgee_relay_sessions") == 0:
                return
            time.sleep(0.1)
        raise AssertionError(f"calls={self.metric('gorgee_calls')} "
                             f"relay_sessions={self.metric('gorgee_relay_sessions')} left behind")


UAS = free_port()
GW = Gorgee("gw", UAS, MEDIA_BASE, ["--set", "calls.trusted=127.0.0.1",
                                     "--set", "registrar.digest_algorithms=md5,sha-256"])
# untrusted callers, a dial plan, a domain of its own, digest users
SEC_UAS = free_port()
GW2 = Gorgee("gw2", SEC_UAS, MEDIA_BASE + 100,
             ["--set", "calls.trusted=10.9.9.0/24", "--set", "calls.dialplan=1[0-9]{3}",
              "--set", "registrar.domain=gorgee.test", "--set", "registrar.digest_algorithms=md5"])


GW3 = Gorgee("gw3", free_port(), MEDIA_BASE + 200,
             ["--set", "calls.redirect=true", "--set", "registrar.digest_algorithms=md5"])


def sipp(args, timeout=30, cwd=None):
    return subprocess.Popen(["sipp", "-i", "127.0.0.1", "-mi", "127.0.0.1", "-nostdin",
                             "-trace_err", "-error_file", os.path.join(TMP, f"sipp-{time.time()}.err"),
                             *args], cwd=cwd or TMP, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def uas(args, port=UAS):
    p = sipp(["-p", str(port), *args])
    procs.append(p)
    time.sleep(0.3)
    return p


def uac(args, gw=GW, timeout=40):
    p = sipp(["-p", str(free_port()), *args, f"127.0.0.1:{gw.sip}", "-s", "1000"])
    try:
        return p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        raise AssertionError("sipp uac did not finish")


def scen(name):
    return os.path.join(SIPP_DIR, name)


def finish(p, timeout=10):
    try:
        return p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        return "timeout"


class Raw:
    """A minimal UAC on UDP for what sipp cannot say: digest answers, BI-15 and BI-26."""

    def __init__(self, gw, user="1000", domain="127.0.0.1"):
        self.gw, self.s = gw, socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.1", 0))
        self.s.settimeout(5)
        self.port = self.s.getsockname()[1]
        self.call_id, self.tag, self.cseq = f"raw-{self.port}-{time.time()}", f"t{self.port}", 0
        self.ruri = f"sip:{user}@{domain}:{gw.sip}" if domain == "127.0.0.1" else f"sip:{user}@{domain}"
        self.to_tag = None
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind(("127.0.0.1", 0))

    def sdp(self, media="m=audio {p} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n", direction="sendrecv"):
        m = media.format(p=self.rtp.getsockname()[1])
        return (f"v=0\r\no=raw 1 {self.cseq} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                f"{m}a={direction}\r\n")

    def send(self, method, body="", extra="", cseq=None, branch=None):
        if cseq is None:
            self.cseq += 1
        n = cseq if cseq is not None else self.cseq
        to = f"<{self.ruri}>" + (f";tag={self.to_tag}" if self.to_tag else "")
        branch = branch or f"z9hG4bK{self.call_id}-{method}-{n}-{time.time()}"
        m = (f"{method} {self.ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{self.port};branch={branch};rport\r\n"
             f"From: <sip:raw@127.0.0.1>;tag={self.tag}\r\nTo: {to}\r\nCall-ID: {self.call_id}\r\n"
             f"CSeq: {n} {method}\r\nMax-Forwards: 70\r\nContact: <sip:raw@127.0.0.1:{self.port}>\r\n" + extra
             + ("Content-Type: application/sdp\r\n" if body else "")
             + f"Content-Length: {len(body.encode())}\r\n\r\n{body}")
        self.s.sendto(m.encode(), ("127.0.0.1", self.gw.sip))
        self.last_branch = branch

    def recv(self, final=True):
        """The next response (final ones only unless final is False); answers requests
        (BYE) from gorgee with 200 and records them."""
        while True:
            r = self.s.recvfrom(65535)[0].decode()
            if r.startswith("SIP/2.0"):
                code = int(r.split()[1])
                if final and code < 200:
                    continue
                t = re.search(r"\r\nTo: [^\r]*;tag=([^;\r\n]+)", r)
                if t and code < 300:
                    self.to_tag = t.group(1)
                return code, r
            self.requests = getattr(self, "requests", []) + [r]
            self.reply_to(r, 200)

    def reply_to(self, req, code):
        hdrs = [h for h in req.split("\r\n") if re.match(r"(Via|From|To|Call-ID|CSeq):", h)]
        self.s.sendto((f"SIP/2.0 {code} OK\r\n" + "\r\n".join(hdrs) + "\r\nContent-Length: 0\r\n\r\n").encode(),
                      ("127.0.0.1", self.gw.sip))

    def ack(self, cseq):
        self.send("ACK", cseq=cseq)

    def wait_request(self, method, timeout=5):
        """The next request of this method from gorgee (answered 200, as are others)."""
        end = time.time() + timeout
        while time.time() < end:
            self.s.settimeout(max(0.1, end - time.time()))
            try:
                r = self.s.recvfrom(65535)[0].decode()
            except socket.timeout:
                break
            if r.startswith("SIP/2.0"):
                continue
            self.reply_to(r, 200)
            if r.startswith(method + " "):
                self.s.settimeout(5)
                return r
        self.s.settimeout(5)
        raise AssertionError(f"no {method} from gorgee")

    def replaces(self):
        """The Replaces value naming this UAC's dialog with gorgee, as gorgee sees it."""
        return f"{self.call_id};to-tag={self.to_tag};from-tag={self.tag}"

    def digest(self, challenge, user, password, method="INVITE"):
        realm = re.search(r'realm="([^"]*)"', challenge).group(1)
        nonce = re.search(r'nonce="([^"]*)"', challenge).group(1)
        h = lambda x: hashlib.md5(x.encode()).hexdigest()  # noqa: E731
        cnonce, nc = "0a4f113b", "00000001"
        resp = h(f"{h(f'{user}:{realm}:{password}')}:{nonce}:{nc}:{cnonce}:auth:{h(f'{method}:{self.ruri}')}")
        return (f'Proxy-Authorization: Digest username="{user}", realm="{realm}", nonce="{nonce}", '
                f'uri="{self.ruri}", response="{resp}", algorithm=MD5, cnonce="{cnonce}", qop=auth, nc={nc}\r\n')


def setup():
    os.makedirs(os.path.join(TMP, "pcap"))
    for f in ("g711a.pcap", "dtmf_2833_1.pcap"):
        shutil.copy(f"/usr/share/sip-tester/{f}", os.path.join(TMP, "pcap", f))
    with open(os.path.join(TMP, "uac_pcap.xml"), "w") as f:
        f.write(subprocess.run(["sipp", "-sd", "uac_pcap"], capture_output=True, text=True).stdout)
    # sipp's built-in uas answers PCMU whatever was offered (no codec in common with the
    # PCMA pcap, which gorgee refuses); this copy answers PCMA and telephone-event
    uas_xml = subprocess.run(["sipp", "-sd", "uas"], capture_output=True, text=True).stdout
    uas_xml = uas_xml.replace("RTP/AVP 0\n      a=rtpmap:0 PCMU/8000",
                              "RTP/AVP 8 101\n      a=rtpmap:8 PCMA/8000\n      a=rtpmap:101 telephone-event/8000")
    assert "PCMA" in uas_xml
    with open(os.path.join(TMP, "uas_pcma.xml"), "w") as f:
        f.write(uas_xml)
    GW.add_user("alice", "wonderland7")
    GW.add_user("carol", "carol-pw-1")
    GW.add_user("dave", "dave-pw-1")
    GW.start()
    GW2.add_user("alice", "wonderland7")
    GW2.start()
    GW3.add_user("alice", "wonderland7")
    GW3.start()


@case("sipp uac -> gorgee -> sipp uas: 5 calls INVITE/ACK/BYE, 0 failed, nothing left behind")
def _():
    before = GW.metric('gorgee_calls_total{result="answered"}')
    callee = uas(["-sn", "uas", "-m", "5"])
    assert uac(["-sn", "uac", "-m", "5", "-r", "10", "-d", "200"]) == 0
    assert finish(callee) == 0
    assert GW.metric('gorgee_calls_total{result="answered"}') == before + 5
    GW.settle()


@case("RTP both ways through the relay: sipp plays G.711 A-law, the callee echoes it back")
def _():
    before_in = GW.metric('gorgee_relay_packets_total{direction="in",result="accepted"}')
    before_out = GW.metric('gorgee_relay_packets_total{direction="out",result="sent"}')
    drops = GW.metric('gorgee_relay_drops_total{reason="pt"}') + GW.metric('gorgee_relay_drops_total{reason="source"}')
    callee = uas(["-sf", os.path.join(TMP, "uas_pcma.xml"), "-m", "1", "-rtp_echo"])
    assert uac(["-sf", os.path.join(TMP, "uac_pcap.xml"), "-m", "1"]) == 0
    assert finish(callee) == 0
    got_in = GW.metric('gorgee_relay_packets_total{direction="in",result="accepted"}') - before_in
    got_out = GW.metric('gorgee_relay_packets_total{direction="out",result="sent"}') - before_out
    # the pcap holds about 250 packets; each crosses the relay twice (to the callee and back)
    assert got_in >= 400 and got_out >= 400, (got_in, got_out)
    after = GW.metric('gorgee_relay_drops_total{reason="pt"}') + GW.metric('gorgee_relay_drops_total{reason="source"}')
    assert after == drops, "packets dropped for payload type or source"
    GW.settle()


@case("SDES-SRTP (RFC 4568) both legs: RTP/SAVP kept, gorgee's own keys toward each side, no key echoed")
def _():
    callee = uas(["-sf", scen("uas-sdes.xml"), "-m", "1"])
    assert uac(["-sf", scen("uac-sdes.xml"), "-m", "1"]) == 0
    assert finish(callee) == 0
    log = open(os.path.join(GW.dir, "stderr")).read()
    assert "WVNfX19zZW1jdGwg" not in log and "d0RmdmVyc2lvbiBu" not in log, "an SRTP key reached the log (SEC-13)"
    GW.settle()


@case("CANCEL: the caller gives up while the callee rings; both see 487, the callee its CANCEL")
def _():
    before = GW.metric('gorgee_calls_total{result="cancelled"}')
    callee = uas(["-sf", scen("uas-ring.xml"), "-m", "1"])
    assert uac(["-sf", scen("uac-cancel.xml"), "-m", "1"]) == 0
    assert finish(callee) == 0
    assert GW.metric('gorgee_calls_total{result="cancelled"}') == before + 1
    GW.settle()


@case("486 Busy Here from the callee reaches the caller (and both failures are ACKed)")
def _():
    callee = uas(["-sf", scen("uas-busy.xml"), "-m", "1"])
    assert uac(["-sf", scen("uac-busy.xml"), "-m", "1"]) == 0
    assert finish(callee) == 0
    GW.settle()


@case("hold: the caller's re-INVITE (sendonly) reaches the callee, its recvonly answer comes back")
def _():
    callee = uas(["-sf", scen("uas-reinvite.xml"), "-m", "1"])
    assert uac(["-sf", scen("uac-reinvite.xml"), "-m", "1"]) == 0
    assert finish(callee) == 0
    GW.settle()


@case("BYE from the callee is passed to the caller")
def _():
    callee = uas(["-sf", scen("uas-bye.xml"), "-m", "1"])
    assert uac(["-sf", scen("uac-byed.xml"), "-m", "1"]) == 0
    assert finish(callee) == 0
    GW.settle()


@case("offerless INVITE: gorgee offers to the callee, then to the caller in its 200; answer in the ACK")
def _():
    callee = uas(["-sn", "uas", "-m", "1"])
    assert uac(["-sf", scen("uac-offerless.xml"), "-m", "1"]) == 0
    assert finish(callee) == 0
    GW.settle()


@case("100rel both ways (RFC 3262): the callee's reliable 183 is PRACKed by gorgee; the caller gets a reliable 183 and PRACKs it")
def _():
    callee = uas(["-sf", scen("uas-100rel.xml"), "-m", "1"])
    assert uac(["-sf", scen("uac-100rel.xml"), "-m", "1"]) == 0
    assert finish(callee) == 0
    GW.settle()


@case("session timers (RFC 4028): the caller's interval granted with refresher=uac and its UPDATE refresh answered; the callee asked for a timer, refreshes itself")
def _():
    callee = uas(["-sf", scen("uas-timer.xml"), "-m", "1"])
    assert uac(["-sf", scen("uac-timer.xml"), "-m", "1"]) == 0
    assert finish(callee) == 0
    GW.settle()


@case("3xx: a 302 from the callee is followed to its Contact (calls.follow_redirects)")
def _():
    moved = free_port()
    with open(os.path.join(TMP, "moved.csv"), "w") as f:
        f.write(f"SEQUENTIAL\n{moved};\n")
    first = uas(["-sf", scen("uas-302.xml"), "-m", "1", "-inf", os.path.join(TMP, "moved.csv")])
    second = uas(["-sn", "uas", "-m", "1"], port=moved)
    assert uac(["-sn", "uac", "-m", "1"]) == 0
    assert finish(first) == 0 and finish(second) == 0
    GW.settle()


@case("redirect server (calls.redirect): a call to a registered SIP user gets 302 with its contact")
def _():
    phone = free_port()
    reg = sipp(["-p", str(phone), "-sf", scen("register-auth.xml"), "-m", "1", "-au", "alice",
                "-ap", "wonderland7", "-s", "alice", f"127.0.0.1:{GW3.sip}"])
    assert finish(reg, 15) == 0, "registration failed"
    r = Raw(GW3, user="alice")
    r.send("INVITE", r.sdp())
    code, resp = r.recv()
    assert code == 302 and f"Contact: <sip:alice@127.0.0.1:{phone}>" in resp, resp
    r.ack(r.cseq)
    GW3.settle()


@case("SEC-10: an untrusted, unauthenticated caller gets 407 and never reaches the trunk")
def _():
    callee = uas(["-sn", "uas", "-m", "1"], port=SEC_UAS)
    r = Raw(GW2)
    r.send("INVITE", r.sdp())
    code, resp = r.recv()
    assert code == 407 and "Proxy-Authenticate: Digest" in resp, resp
    r.ack(r.cseq)
    # a wrong password is challenged again, never forwarded
    r.send("INVITE", r.sdp(), extra=r.digest(resp, "alice", "wrong"))
    code, resp2 = r.recv()
    assert code == 407, resp2
    r.ack(r.cseq)
    time.sleep(0.3)
    assert callee.poll() is None, "the trunk saw a call"
    # with the right password the call goes through to the trunk
    r.send("INVITE", r.sdp(), extra=r.digest(resp2, "alice", "wonderland7"))
    code, ok = r.recv()
    assert code == 200, ok
    r.ack(r.cseq)
    r.send("BYE")
    assert r.recv()[0] == 200
    assert finish(callee) == 0
    GW2.settle()


@case("SEC-10: the dial plan refuses a destination with 403 even for an authenticated caller")
def _():
    r = Raw(GW2, user="900123")
    r.send("INVITE", r.sdp())
    code, resp = r.recv()
    assert code == 407, resp
    r.ack(r.cseq)
    r.send("INVITE", r.sdp(), extra=r.digest(resp, "alice", "wonderland7"))
    code, resp = r.recv()
    assert code == 403, resp
    r.ack(r.cseq)


@case("a user of our domain who is not registered gets 480, not the trunk")
def _():
    r = Raw(GW2, user="bob", domain="gorgee.test")
    r.send("INVITE", r.sdp())
    code, resp = r.recv()
    assert code == 480, resp
    r.ack(r.cseq)


@case("location service: a call to a registered SIP user reaches its Contact")
def _():
    # sipp registers as alice (digest, MD5), then waits for a call as a uas
    callee_port = free_port()
    reg = sipp(["-p", str(callee_port), "-sf", scen("register-auth.xml"), "-m", "1", "-au", "alice",
                "-ap", "wonderland7", "-s", "alice", f"127.0.0.1:{GW.sip}"])
    assert finish(reg, 15) == 0, "registration failed"
    callee = uas(["-sn", "uas", "-m", "1"], port=callee_port)
    r = Raw(GW, user="alice")
    r.send("INVITE", r.sdp())
    code, resp = r.recv()
    assert code == 200, resp
    r.ack(r.cseq)
    r.send("BYE")
    assert r.recv()[0] == 200
    assert finish(callee) == 0
    GW.settle()


@case("serial forking: the first contact of a user answers 486, the next one gets the call")
def _():
    first, second = free_port(), free_port()
    # Each contact's callee takes its port the moment its REGISTER is done: a port left free
    # for seconds can be taken by a parallel test (once a stranger answered 404 there).
    callee = {second: ["-sn", "uas", "-m", "1"], first: ["-sf", scen("uas-busy.xml"), "-m", "1"]}
    started = {}
    for port in (second, first):  # the last to register is tried first
        reg = sipp(["-p", str(port), "-sf", scen("register-auth.xml"), "-m", "1", "-au", "carol",
                    "-ap", "carol-pw-1", "-s", "carol", f"127.0.0.1:{GW.sip}"])
        assert finish(reg, 15) == 0, "registration failed"
        started[port] = uas(callee[port], port=port)
        time.sleep(0.8)  # bindings are ordered by update time, in seconds (uas waited 0.3)
    busy, ok = started[first], started[second]
    r = Raw(GW, user="carol")
    r.send("INVITE", r.sdp())
    code, resp = r.recv()
    assert code == 200, resp
    r.ack(r.cseq)
    r.send("BYE")
    assert r.recv()[0] == 200
    assert finish(busy) == 0 and finish(ok) == 0
    GW.settle()


@case("BI-15: re-INVITE after the dialog ended gets 481; a stray ACK and a stray 2xx are ignored")
def _():
    callee = uas(["-sn", "uas", "-m", "1"])
    r = Raw(GW)
    r.send("INVITE", r.sdp())
    code, _ = r.recv()
    assert code == 200
    invite_cseq = r.cseq
    r.ack(invite_cseq)
    r.send("BYE")
    assert r.recv()[0] == 200
    r.send("INVITE", r.sdp())
    code, resp = r.recv()
    assert code == 481, resp
    r.ack(r.cseq)
    # an ACK for nothing and a 2xx matching no transaction: no answer, no harm
    stray = Raw(GW)
    stray.to_tag = "nosuch"
    stray.send("ACK", cseq=1)
    stray.s.sendto((f"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:{stray.port};branch=z9hG4bKnone\r\n"
                    f"From: <sip:a@b>;tag=x\r\nTo: <sip:c@d>;tag=y\r\nCall-ID: none\r\nCSeq: 1 INVITE\r\n"
                    "Content-Length: 0\r\n\r\n").encode(), ("127.0.0.1", GW.sip))
    stray.s.settimeout(0.5)
    try:
        got = stray.s.recvfrom(65535)[0]
        raise AssertionError(f"answered a stray message: {got[:40]}")
    except socket.timeout:
        pass
    assert finish(callee) == 0
    GW.settle()


@case("RFC 6026 Accepted: once the 2xx is ACKed the INVITE's server transaction shrinks to a record; "
      "a late copy of that INVITE is absorbed (no answer, no second call) and the call goes on")
def _():
    callee = uas(["-sn", "uas", "-m", "1"])
    r = Raw(GW)
    ist = 'gorgee_sip_transactions{kind="ist"}'
    absorbed = 'gorgee_sip_retransmissions_absorbed_total{kind="ist"}'
    body = r.sdp()
    r.send("INVITE", body)
    invite_branch, invite_cseq = r.last_branch, r.cseq
    code, _ = r.recv()
    assert code == 200
    live_up, calls_before = GW.metric(ist), GW.metric('gorgee_calls_total{result="answered"}')
    before = GW.metric(absorbed)
    r.ack(invite_cseq)
    time.sleep(0.2)
    # the full transaction went: its record counts as one IST still, no more and no less
    assert GW.metric(ist) == live_up, (live_up, GW.metric(ist))
    r.send("INVITE", body, cseq=invite_cseq, branch=invite_branch)  # a late retransmission
    r.s.settimeout(0.7)
    try:
        got = r.s.recvfrom(65535)[0]
        raise AssertionError(f"a late INVITE copy was answered: {got[:60]}")
    except socket.timeout:
        pass
    r.s.settimeout(5)
    assert GW.metric(absorbed) == before + 1, (before, GW.metric(absorbed))
    assert GW.metric('gorgee_calls_total{result="answered"}') == calls_before
    assert GW.metric("gorgee_calls") == 1  # the call is still up
    r.send("BYE")
    assert r.recv()[0] == 200
    assert finish(callee) == 0
    GW.settle()


@case("RFC 6026 Accepted: the callee-side INVITE client transaction lives while its call does and "
      "ends with it (not 32 s later: nothing is left for it to do)")
def _():
    callee = uas(["-sn", "uas", "-m", "1"])
    r = Raw(GW)
    ict = 'gorgee_sip_transactions{kind="ict"}'
    before = GW.metric(ict)
    r.send("INVITE", r.sdp())
    assert r.recv()[0] == 200
    r.ack(r.cseq)
    time.sleep(0.2)
    assert GW.metric(ict) == before + 1, (before, GW.metric(ict))  # Accepted, Timer M running
    r.send("BYE")
    assert r.recv()[0] == 200
    deadline = time.time() + 2
    while GW.metric(ict) != before and time.time() < deadline:
        time.sleep(0.05)
    assert GW.metric(ict) == before, (before, GW.metric(ict))
    assert finish(callee) == 0
    GW.settle()


@case("BI-26: a re-INVITE without audio or with broken SDP gets 488/400; the call stays up")
def _():
    callee = uas(["-sn", "uas", "-m", "1"])
    r = Raw(GW)
    r.send("INVITE", r.sdp())
    assert r.recv()[0] == 200
    r.ack(r.cseq)
    r.send("INVITE", r.sdp(media="m=image {p} udptl t38\r\n"))
    code, resp = r.recv()
    assert code == 488, resp
    r.ack(r.cseq)
    r.send("INVITE", "v=0\r\nthis is not SDP\r\n")
    code, resp = r.recv()
    assert code in (400, 488), resp
    r.ack(r.cseq)
    assert GW.metric("gorgee_calls") == 1
    r.send("BYE")
    assert r.recv()[0] == 200
    assert finish(callee) == 0
    GW.settle()


@case("BI-12: an INVITE whose SDP is one part of a multipart body is bridged; a broken multipart gets 400")
def _():
    callee = uas(["-sn", "uas", "-m", "1"])
    r = Raw(GW)
    sdp = r.sdp()
    body = ("--b1\r\nContent-Type: application/sdp\r\n\r\n" + sdp +
            "\r\n--b1\r\nContent-Type: application/isup\r\n\r\nxyz\r\n--b1--\r\n")
    r.send("INVITE", body.replace("\r\n", "\r\n"), extra="")
    # the Raw helper sets Content-Type: application/sdp; send by hand with the multipart type
    r2 = Raw(GW)
    r2.cseq += 1
    m = (f"INVITE {r2.ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{r2.port};branch=z9hG4bKmp{r2.port};rport\r\n"
         f"From: <sip:raw@127.0.0.1>;tag={r2.tag}\r\nTo: <{r2.ruri}>\r\nCall-ID: {r2.call_id}\r\n"
         f"CSeq: {r2.cseq} INVITE\r\nMax-Forwards: 70\r\nContact: <sip:raw@127.0.0.1:{r2.port}>\r\n"
         f"Content-Type: multipart/mixed;boundary=b1\r\nContent-Length: {len(body.encode())}\r\n\r\n{body}")
    r2.s.sendto(m.encode(), ("127.0.0.1", GW.sip))
    code, resp = r2.recv()
    assert code == 200, resp
    r2.ack(r2.cseq)
    r2.send("BYE")
    assert r2.recv()[0] == 200
    assert finish(callee) == 0
    # the first Raw's INVITE claimed application/sdp for a multipart body: refused, not bridged
    code, resp = r.recv()
    assert code in (400, 488), resp
    r.ack(r.cseq)
    bad = body.replace("--b1--", "--b2--")
    r3 = Raw(GW)
    r3.cseq += 1
    m = m.replace(r2.call_id, r3.call_id).replace(f"tag={r2.tag}", f"tag={r3.tag}").replace(
        f"branch=z9hG4bKmp{r2.port}", f"branch=z9hG4bKmq{r3.port}").replace(body, bad).replace(
        f":{r2.port}", f":{r3.port}")
    r3.s.sendto(m.encode(), ("127.0.0.1", GW.sip))
    code, resp = r3.recv()
    assert code == 400, resp
    r3.ack(r3.cseq)
    GW.settle()


@case("BI-16: a callee that challenges every INVITE: gorgee gives up and the caller gets 403")
def _():
    callee = uas(["-sf", scen("uas-407.xml"), "-m", "1"])
    r = Raw(GW)
    r.send("INVITE", r.sdp())
    code, resp = r.recv()
    assert code == 403, resp
    r.ack(r.cseq)
    assert finish(callee) == 0
    GW.settle()


def call_up(gw=GW):
    """A raw caller with an answered call through gw (to the trunk's callee)."""
    r = Raw(gw)
    r.send("INVITE", r.sdp())
    code, resp = r.recv()
    assert code == 200, resp
    r.ack(r.cseq)
    return r


@case("INVITE with Replaces (RFC 3891): a new caller takes an answered caller's place; the callee is re-offered its media, RTP flows to the new caller, the replaced one gets BYE")
def _():
    callee = uas(["-sf", scen("uas-reoffered.xml"), "-m", "1", "-rtp_echo"])
    r1 = call_up()
    r2 = Raw(GW)
    r2.send("INVITE", r2.sdp(), extra=f"Replaces: {r1.replaces()}\r\nRequire: replaces\r\n")
    code, resp = r2.recv()
    assert code == 200 and "m=audio" in resp, resp
    r2.ack(r2.cseq)
    bye = r1.wait_request("BYE")
    assert r1.call_id in bye, bye
    # RTP from the new caller crosses the relay to the callee (echoing) and back to it
    relay = int(re.search(r"m=audio (\d+)", resp).group(1))
    pkt = bytearray(172)
    pkt[0] = 0x80
    r2.rtp.settimeout(0.2)
    got = 0
    for i in range(50):
        pkt[2:4] = i.to_bytes(2, "big")
        pkt[4:8] = (i * 160).to_bytes(4, "big")
        pkt[8:12] = (0x4321).to_bytes(4, "big")
        r2.rtp.sendto(bytes(pkt), ("127.0.0.1", relay))
        try:
            while True:
                r2.rtp.recvfrom(2048)
                got += 1
        except socket.timeout:
            pass
        if got >= 10:
            break
    assert got >= 10, f"{got} RTP packets came back to the new caller"
    with urllib.request.urlopen(f"http://127.0.0.1:{GW.http}/calls", timeout=5) as f:
        dump = f.read().decode()
    assert f"dialog {r2.call_id} state=confirmed" in dump and r1.call_id not in dump, dump
    r2.send("BYE")
    assert r2.recv()[0] == 200
    assert finish(callee) == 0, "the callee got the re-INVITE and then the new caller's BYE"
    GW.settle()


@case("INVITE with Replaces, bad inputs: malformed 400, two Replaces 400 (BI-04), 4 KB Call-ID 400 (BI-10), unknown dialog 481 (BI-15), early-only on an answered call 486, untrusted sender 407")
def _():
    callee = uas(["-sn", "uas", "-m", "1"])
    r1 = call_up()
    cases = [
        (f"Replaces: {r1.call_id};to-tag={r1.to_tag}\r\n", 400),
        (f"Replaces: {r1.replaces()}\r\nReplaces: {r1.replaces()}\r\n", 400),
        (f"Replaces: {'x' * 4096};to-tag=a;from-tag=b\r\n", 400),
        (f"Replaces: nosuch@nowhere;to-tag={r1.to_tag};from-tag={r1.tag}\r\n", 481),
        (f"Replaces: {r1.call_id};to-tag={r1.tag};from-tag={r1.to_tag}\r\n", 481),  # tags swapped
        (f"Replaces: {r1.replaces()};early-only\r\n", 486),
    ]
    for extra, want in cases:
        r = Raw(GW)
        r.send("INVITE", r.sdp(), extra=extra)
        code, resp = r.recv()
        assert code == want, f"{extra!r}: {resp}"
        r.ack(r.cseq)
    assert GW.metric("gorgee_calls") == 1, "the call is untouched"
    r1.send("BYE")
    assert r1.recv()[0] == 200
    assert finish(callee) == 0
    # RFC 3891 §6: an untrusted sender is challenged before any dialog is looked up
    r = Raw(GW2)
    r.send("INVITE", r.sdp(), extra="Replaces: a@b;to-tag=1;from-tag=2\r\n")
    code, resp = r.recv()
    assert code == 407, resp
    r.ack(r.cseq)
    # a dialog that ended: 481 (its call is gone) or 603 (still being freed)
    r = Raw(GW)
    r.send("INVITE", r.sdp(), extra=f"Replaces: {r1.replaces()}\r\n")
    code, resp = r.recv()
    assert code in (481, 603), resp
    r.ack(r.cseq)
    GW.settle()


@case("INVITE with Replaces without an offer: gorgee offers what the replaced caller had, the answer comes in the ACK; the replaced caller gets BYE")
def _():
    callee = uas(["-sn", "uas", "-m", "1"])
    r1 = call_up()
    r2 = Raw(GW)
    r2.send("INVITE", extra=f"Replaces: {r1.replaces()}\r\n")
    code, resp = r2.recv()
    assert code == 200 and re.search(r"m=audio \d+ RTP/AVP", resp), resp
    r2.send("ACK", r2.sdp(), cseq=r2.cseq)
    r1.wait_request("BYE")
    with urllib.request.urlopen(f"http://127.0.0.1:{GW.http}/calls", timeout=5) as f:
        dump = f.read().decode()
    assert "state=active" in dump and f"dialog {r2.call_id} state=confirmed" in dump, dump
    r2.send("BYE")
    assert r2.recv()[0] == 200
    assert finish(callee) == 0
    GW.settle()


@case("INVITE with Replaces for early dialogs (RFC 3891 §3): the caller's early dialog 481, gorgee's own toward the ringing callee 486; the ringing call goes on, then is cancelled")
def _():
    callee = uas(["-sf", scen("uas-ring.xml"), "-m", "1"])
    r1 = Raw(GW)
    r1.send("INVITE", r1.sdp())
    invite_branch = r1.last_branch
    code, resp = r1.recv(final=False)
    while code < 180:
        code, resp = r1.recv(final=False)
    gw_tag = re.search(r"\r\nTo: [^\r]*;tag=([^;\r\n]+)", resp).group(1)
    with urllib.request.urlopen(f"http://127.0.0.1:{GW.http}/calls", timeout=5) as f:
        dump = f.read().decode()
    m = re.search(r"leg B sip: .*dialog (\S+) state=early local_tag=(\S+) remote_tag=(\S+)", dump)
    assert m, dump
    for rep, want in ((f"{r1.call_id};to-tag={gw_tag};from-tag={r1.tag}", 481),
                      (f"{m.group(1)};to-tag={m.group(2)};from-tag={m.group(3)}", 486)):
        r = Raw(GW)
        r.send("INVITE", r.sdp(), extra=f"Replaces: {rep}\r\n")
        code, resp = r.recv()
        assert code == want, f"{rep}: {resp}"
        r.ack(r.cseq)
    r1.send("CANCEL", cseq=r1.cseq, branch=invite_branch)
    code, resp = r1.recv()
    while "CANCEL" not in resp.split("CSeq:")[1].split("\r\n")[0]:
        code, resp = r1.recv()
    assert code == 200, resp
    code, resp = r1.recv()
    assert code == 487, resp
    assert finish(callee) == 0, "the callee got its CANCEL"
    GW.settle()


def register(user, password, port, gw=GW):
    reg = sipp(["-p", str(port), "-sf", scen("register-auth.xml"), "-m", "1", "-au", user,
                "-ap", password, "-s", user, f"127.0.0.1:{gw.sip}"])
    assert finish(reg, 15) == 0, "registration failed"


@case("SIP-to-SIP blind transfer: the callee REFERs the caller to a registered user; gorgee accepts for the caller, calls the target in the callee's place, NOTIFYs 100/180/200, BYEs the referrer")
def _():
    target_port = free_port()
    register("dave", "dave-pw-1", target_port)
    with open(os.path.join(TMP, "xfer.csv"), "w") as f:
        f.write(f"SEQUENTIAL\ndave@127.0.0.1:{GW.sip};\n")
    referer = uas(["-sf", scen("uas-referer.xml"), "-m", "1", "-inf", os.path.join(TMP, "xfer.csv")])
    target = uas(["-sn", "uas", "-m", "1"], port=target_port)
    r1 = call_up()
    assert finish(referer, 15) == 0, "the referrer got 202, NOTIFYs 100, 180, 200 and its BYE"
    with urllib.request.urlopen(f"http://127.0.0.1:{GW.http}/calls", timeout=5) as f:
        dump = f.read().decode()
    assert "state=active" in dump and f"127.0.0.1:{target_port}" in dump, dump
    r1.send("BYE")
    assert r1.recv()[0] == 200
    assert finish(target) == 0, "the target got the call and the caller's BYE"
    GW.settle()


@case("SIP-to-SIP attended transfer (RFC 3891 §5): a REFER whose Refer-To embeds Replaces makes gorgee's INVITE to the target carry that Replaces header and Require: replaces")
def _():
    target_port = free_port()
    register("dave", "dave-pw-1", target_port)
    rep = "3848276298220188511@atlanta.example.com;to-tag=1234567;from-tag=abc-89"
    esc = rep.replace("@", "%40").replace(";", "%3B").replace("=", "%3D")
    with open(os.path.join(TMP, "xfer-rep.csv"), "w") as f:
        f.write(f"SEQUENTIAL\ndave@127.0.0.1:{GW.sip}?Replaces={esc};{rep};\n")
    referer = uas(["-sf", scen("uas-referer.xml"), "-m", "1", "-inf", os.path.join(TMP, "xfer-rep.csv")])
    target = uas(["-sf", scen("uas-replaces.xml"), "-m", "1", "-inf", os.path.join(TMP, "xfer-rep.csv")],
                 port=target_port)
    r1 = call_up()
    assert finish(referer, 15) == 0, "the referrer got 202, NOTIFYs 100, 180, 200 and its BYE"
    r1.send("BYE")
    assert r1.recv()[0] == 200
    assert finish(target) == 0, "the target saw the Replaces it expected, then BYE"
    GW.settle()


@case("SEC-10 for SIP-to-SIP transfers: a REFER toward the trunk from a referrer not in calls.trusted gets NOTIFY 403; the call stays")
def _():
    with open(os.path.join(TMP, "xfer-trunk.csv"), "w") as f:
        f.write("SEQUENTIAL\n1234@127.0.0.1;\n")
    referer = uas(["-sf", scen("uas-referer-refused.xml"), "-m", "1", "-inf", os.path.join(TMP, "xfer-trunk.csv")],
                  port=SEC_UAS)
    r = Raw(GW2)
    r.send("INVITE", r.sdp())
    code, resp = r.recv()
    assert code == 407, resp
    r.ack(r.cseq)
    r.send("INVITE", r.sdp(), extra=r.digest(resp, "alice", "wonderland7"))
    code, ok = r.recv()
    assert code == 200, ok
    r.ack(r.cseq)
    time.sleep(1.5)  # the REFER, its NOTIFYs
    assert GW2.metric("gorgee_calls") == 1, "the call ended"
    r.send("BYE")
    code, resp = r.recv()
    while f"CSeq: {r.cseq} BYE" not in resp:  # a 407 resent (its ACK had no To tag)
        code, resp = r.recv()
    assert code == 200, resp
    assert finish(referer) == 0, "the referrer got 202, NOTIFY 100, NOTIFY 403 terminated, then BYE"
    GW2.settle()


@case("REFER bad inputs: no Refer-To, a bad escape (BI-02), Replaces without tags, two Replaces: 400 with a reason; the call stays up")
def _():
    callee = uas(["-sn", "uas", "-m", "1"])
    r1 = call_up()
    good = f"{r1.call_id}%3Bto-tag%3D{r1.to_tag}%3Bfrom-tag%3D{r1.tag}"
    cases = [
        ("", "Bad Refer-To"),
        ("Refer-To: <sip:%G1@127.0.0.1>\r\n", "Bad Refer-To"),
        ("Refer-To: <sip:bob@127.0.0.1?Replaces=abc%40x>\r\n", "Bad Replaces in Refer-To"),
        ("Refer-To: <sip:bob@127.0.0.1?Replaces=abc%00%3Bto-tag%3D1%3Bfrom-tag%3D2>\r\n", "Bad Replaces in Refer-To"),
        (f"Refer-To: <sip:bob@127.0.0.1?Replaces={good}&Replaces={good}>\r\n", "Bad Refer-To (two Replaces)"),
        ("Refer-To: <sip:a@127.0.0.1>\r\nRefer-To: <sip:b@127.0.0.1>\r\n", "Bad Refer-To"),
    ]
    for extra, why in cases:
        r1.send("REFER", extra=extra)
        code, resp = r1.recv()
        assert code == 400 and resp.split("\r\n")[0].startswith(f"SIP/2.0 400 {why}"), f"{extra!r}: {resp}"
    assert GW.metric("gorgee_calls") == 1
    r1.send("BYE")
    assert r1.recv()[0] == 200
    assert finish(callee) == 0
    GW.settle()


def teardown():
    results = []
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for g in (GW, GW2, GW3):
        if getattr(g, "proc", None):
            try:
                rc = g.proc.wait(15)
            except subprocess.TimeoutExpired:
                g.proc.kill()
                rc = "hung"
            results.append((rc == 0, f"{g.name} exits 0 on SIGTERM", f"exit {rc}"))
    for p in procs:
        if p.poll() is None:
            p.kill()
    if all(ok for ok, _, _ in results) and not os.environ.get("KEEP_TMP"):
        shutil.rmtree(TMP, ignore_errors=True)
    else:
        print(f"# logs in {TMP}")
    return results


case.run(setup, teardown)
