#!/usr/bin/env python3
"""Smoke test of the real gorgee binary: command line, config errors, HTTP endpoints,
SIGHUP reload and SIGTERM drain. Prints TAP."""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gorgeetest import Cases, free_port  # noqa: E402

GORGEE = sys.argv[1]
case = Cases()


# SIP stays off in these tests (port 0): the SIP tests use their own ports.
NO_SIP = {"GORGEE_SIP_UDP_PORT": "0", "GORGEE_SIP_TCP_PORT": "0"}


def run(*args, env=None, timeout=20):
    e = dict(os.environ)
    e.update(NO_SIP)
    if env:
        e.update(env)
    return subprocess.run([GORGEE, *args], capture_output=True, text=True, env=e, timeout=timeout)


def http_get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


class Daemon:
    def __init__(self, *args, env=None, tls=False):
        self.port = free_port()
        self.tmp = tempfile.TemporaryDirectory()
        e = dict(os.environ)
        e["GORGEE_HTTP_PORT"] = str(self.port)  # the environment override path
        e["GORGEE_HTTP_LISTEN"] = "127.0.0.1"
        e.update(NO_SIP)
        e.update(env or {})
        self.stderr = open(os.path.join(self.tmp.name, "stderr"), "w+")
        self.p = subprocess.Popen([GORGEE, "--set", f"general.data_dir={self.tmp.name}/data", *args],
                                  stdout=subprocess.DEVNULL, stderr=self.stderr, env=e)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                if tls:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    return
                if http_get(self.port, "/healthz")[0] == 200:
                    return
            except OSError:
                pass
            if self.p.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("gorgee did not come up: " + self.log())

    def log(self):
        self.stderr.flush()
        with open(self.stderr.name) as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.p.poll() is None:
            self.p.send_signal(sig)
        try:
            return self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            return None
        finally:
            self.stderr.close()
            self.tmp.cleanup()


@case("--version and --help")
def _():
    r = run("--version")
    assert r.returncode == 0 and r.stdout.startswith("gorgee "), r
    r = run("--help")
    assert r.returncode == 0 and "--print-default-config" in r.stdout and "--check-config" in r.stdout
    r = run("--bogus")
    assert r.returncode == 2


@case("printed default config passes --check-config")
def _():
    r = run("--print-default-config")
    assert r.returncode == 0 and "[general]" in r.stdout and "[http]" in r.stdout
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
        f.write(r.stdout)
    try:
        c = run("--check-config", "--config", f.name)
        assert c.returncode == 0 and "configuration OK" in c.stdout, c
    finally:
        os.unlink(f.name)


@case("broken config file is reported with file, line and key, exit 2")
def _():
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
        f.write("[general]\nlog_level = info\n[http]\nport = 70000\n")
    try:
        for args in (["--check-config", "--config", f.name], ["--config", f.name]):
            r = run(*args)
            assert r.returncode == 2, r
            assert f"{f.name}:4:" in r.stderr and "http.port" in r.stderr, r.stderr
        r = run("--check-config", env={"GORGEE_CONFIG": f.name})
        assert r.returncode == 2 and f"{f.name}:4:" in r.stderr
    finally:
        os.unlink(f.name)


@case("bad --set and bad environment exit 2 naming the option")
def _():
    r = run("--check-config", "--set", "http.port=abc")
    assert r.returncode == 2 and "--set: http.port: 'abc'" in r.stderr, r.stderr
    r = run("--check-config", env={"GORGEE_HTTP_PROT": "1"})
    assert r.returncode == 2 and "GORGEE_HTTP_PROT" in r.stderr, r.stderr


@case("healthz, metrics, web demo, 404, then SIGTERM exits 0")
def _():
    d = Daemon()
    try:
        st, hdr, body = http_get(d.port, "/healthz")
        assert st == 200 and hdr["Content-Type"].startswith("application/json")
        h = json.loads(body)
        assert h["status"] == "ok" and h["version"], h
        st, hdr, body = http_get(d.port, "/metrics")
        assert st == 200 and hdr["Content-Type"].startswith("text/plain")
        for m in ("process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds",
                  'gorgee_http_requests_total{path="/healthz",status="200"}'):
            assert m in body, m
        st, hdr, body = http_get(d.port, "/")
        assert st == 200 and hdr["Content-Type"].startswith("text/html") and "<html" in body.lower()
        assert http_get(d.port, "/no/such/file")[0] == 404
        t0 = time.time()
        rc = d.stop()
        assert rc == 0, (rc, d.log() if rc is None else "")
        assert time.time() - t0 < 30
    finally:
        d.stop(signal.SIGKILL)


@case("SIGINT drains and exits 0; JSON log lines")
def _():
    d = Daemon("--set", "general.log_format=json", "--set", "general.log_level=info")
    log = d.log()
    rc = d.p.send_signal(signal.SIGINT) or d.p.wait(timeout=10)
    assert rc == 0
    lines = [json.loads(line) for line in log.splitlines() if line.strip()]
    assert any(x["msg"].startswith("gorgee ") and x["level"] == "notice" for x in lines), lines
    d.stop()


@case("SIGHUP reloads reloadable options and names those needing a restart")
def _():
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
        f.write("[general]\nlog_level = notice\n")
    d = Daemon("--config", f.name)
    try:
        with open(f.name, "w") as g:
            g.write("[general]\nlog_level = info\ndrain_timeout = 3\n[http]\nserve_demo = false\n")
        d.p.send_signal(signal.SIGHUP)
        deadline = time.time() + 5
        while time.time() < deadline and "need a restart" not in d.log():
            time.sleep(0.05)
        assert "these changes need a restart: http.serve_demo" in d.log(), d.log()
        body = http_get(d.port, "/metrics")[2]
        assert "gorgee_config_reloads_total 1" in body, body
        with open(f.name, "w") as g:
            g.write("[general]\nlog_level = chatty\n")
        d.p.send_signal(signal.SIGHUP)
        deadline = time.time() + 5
        while time.time() < deadline and "reload rejected" not in d.log():
            time.sleep(0.05)
        assert f"{f.name}:2:" in d.log() and http_get(d.port, "/healthz")[0] == 200
        assert d.stop() == 0
    finally:
        d.stop(signal.SIGKILL)
        os.unlink(f.name)


def ws_frame(text):
    """A masked client text frame (RFC 6455 §5.2), payload under 126 bytes."""
    data, mask = text.encode(), os.urandom(4)
    return bytes([0x81, 0x80 | len(data)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


@case("SEC-01 WSS: with http.tls_cert/tls_key the port serves HTTPS and WebSocket over TLS 1.2+ only")
def _():
    import ssl
    tmp = tempfile.mkdtemp()
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1"],
                   check=True, capture_output=True)
    d = Daemon("--set", f"http.tls_cert={cert}", "--set", f"http.tls_key={key}", tls=True)
    try:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with urllib.request.urlopen(f"https://127.0.0.1:{d.port}/healthz", context=ctx, timeout=5) as r:
            assert r.status == 200 and json.loads(r.read())["status"] == "ok"
        raw = socket.create_connection(("127.0.0.1", d.port), timeout=5)
        s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        assert s.version() in ("TLSv1.2", "TLSv1.3"), s.version()
        # SEC-01: TLS 1.1 and older are refused at the handshake (this client can speak
        # TLS 1.1: it completes one against `openssl s_server -tls1_1`)
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            old.check_hostname = False
            old.verify_mode = ssl.CERT_NONE
            old.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
            old.maximum_version = ssl.TLSVersion.TLSv1_1
            old.set_ciphers("ALL:@SECLEVEL=0")
        accepted = False
        try:
            old.wrap_socket(socket.create_connection(("127.0.0.1", d.port), timeout=5),
                            server_hostname="127.0.0.1").close()
            accepted = True
        except (ssl.SSLError, ConnectionError):
            pass
        assert not accepted, "a TLS 1.1 handshake was accepted"
        s.sendall((f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{d.port}\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: gorgee-v1\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(4096)
        assert head.startswith(b"HTTP/1.1 101"), head
        s.sendall(ws_frame('{"request":"ping","id":"tls1"}'))
        f = s.recv(4096)
        assert f[0] == 0x81 and f[1] < 126, f[:4]
        reply = json.loads(f[2:2 + f[1]])
        assert reply["id"] == "tls1" and "time_ms" in reply["result"], reply
        # BI-45 over TLS: an unmasked client frame fails the connection with 1002
        data = b'{"request":"ping","id":"tls2"}'
        s.sendall(bytes([0x81, len(data)]) + data)
        f = b""
        while len(f) < 4:
            chunk = s.recv(4096)
            if not chunk:
                break
            f += chunk
        assert f[0] == 0x88 and int.from_bytes(f[2:4], "big") == 1002, f[:8]
        s.close()
        # plain HTTP on the TLS port gets nothing useful
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{d.port}/healthz", timeout=3)
            assert False, "plain HTTP answered on the TLS port"
        except (urllib.error.URLError, ConnectionError, http.client.HTTPException):
            pass
        assert d.stop() == 0
    finally:
        d.stop(signal.SIGKILL)
        shutil.rmtree(tmp, ignore_errors=True)


@case("SEC-01 plain WS outside loopback: gorgee warns that WSS is needed (loopback: no warning)")
def _():
    d = Daemon(env={"GORGEE_HTTP_LISTEN": "0.0.0.0"})
    try:
        assert "plain HTTP/WS on 0.0.0.0" in d.log() and "SEC-01" in d.log(), d.log()
    finally:
        d.stop()
    d = Daemon()
    try:
        assert "plain HTTP/WS" not in d.log(), d.log()
    finally:
        d.stop()


@case("TLS options: only one of cert/key, or a missing file, is refused at start")
def _():
    r = run("--set", "http.tls_cert=/nonexistent.pem", "--set", "http.port=1", "--set", "general.data_dir=/tmp/gorgee-nodata")
    assert r.returncode == 1 and "http.tls_cert and http.tls_key" in r.stderr, r.stderr


@case("port already in use: clear error, non-zero exit")
def _():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen()
    port = s.getsockname()[1]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            r = run("--set", f"http.port={port}", "--set", "http.listen=127.0.0.1",
                    "--set", f"general.data_dir={tmp}/d")
        assert r.returncode == 1 and "cannot start HTTP/WebSocket listener" in r.stderr, r
    finally:
        s.close()


case.run()
