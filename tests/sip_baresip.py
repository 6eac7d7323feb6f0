#!/usr/bin/env python3
"""baresip (a real SIP phone) registers to gorgee with digest auth; the binding appears in
the location store while it runs and goes when it unregisters on exit. baresip 1.0 answers
only MD5 challenges and reads the last one, so this runs with registrar.digest_algorithms=md5.
usage: sip_baresip.py path/to/gorgee. Prints TAP."""
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gorgeetest import free_port, wait_http  # noqa: E402

GORGEE = sys.argv[1]
TMP = tempfile.mkdtemp(prefix="gorgee-bs-")


def bindings(db):
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=2)
        rows = con.execute("select aor, contact, user_agent from bindings").fetchall()
        con.close()
        return rows
    except sqlite3.Error:
        return []


SIP, HTTP, PHONE = free_port(), free_port(), free_port()
ARGS = ["--set", f"general.data_dir={TMP}/data", "--set", f"http.port={HTTP}", "--set", "http.listen=127.0.0.1",
        "--set", f"sip.udp_port={SIP}", "--set", f"sip.tcp_port={SIP}", "--set", "sip.listen=127.0.0.1",
        "--set", "registrar.digest_algorithms=md5"]
results = []
gw = phone = None
try:
    r = subprocess.run([GORGEE, *ARGS, "--add-user", "bob"], input="bob-phone-pw\n", capture_output=True,
                       text=True, timeout=20)
    gw = subprocess.Popen([GORGEE, *ARGS], stdout=subprocess.DEVNULL, stderr=open(f"{TMP}/gorgee.log", "w"))
    wait_http(HTTP)
    conf = os.path.join(TMP, "bob")
    os.makedirs(conf)
    with open(os.path.join(conf, "config"), "w") as f:
        f.write(f"poll_method epoll\nsip_listen 127.0.0.1:{PHONE}\nsip_trans_def udp\n"
                "audio_player alsa,null\naudio_source ausine,440\nnet_interface 127.0.0.1\n"
                "dns_server 127.0.0.1:53\nmodule_path /usr/lib/baresip/modules\nmodule g711.so\n"
                "module ausine.so\nmodule alsa.so\nmodule_app account.so\n")
    with open(os.path.join(conf, "accounts"), "w") as f:
        f.write(f"<sip:bob@127.0.0.1:{SIP}>;auth_pass=bob-phone-pw;regint=120\n")
    open(os.path.join(conf, "contacts"), "w").close()
    phone = subprocess.Popen(["baresip", "-f", conf, "-t", "6"], stdin=subprocess.DEVNULL,
                             stdout=open(f"{TMP}/baresip.log", "w"), stderr=subprocess.STDOUT)
    db = f"{TMP}/data/gorgee.db"
    rows = []
    for _ in range(80):
        rows = [x for x in bindings(db) if x[0] == "sip:bob@127.0.0.1"]
        if rows:
            break
        time.sleep(0.1)
    ok = len(rows) == 1 and f"127.0.0.1:{PHONE}" in rows[0][1] and "baresip" in (rows[0][2] or "")
    results.append((ok, f"baresip registers with MD5 digest; the binding is stored: {rows}"))
    phone.wait(timeout=20)
    for _ in range(50):
        if not [x for x in bindings(db) if x[0] == "sip:bob@127.0.0.1"]:
            break
        time.sleep(0.1)
    left = [x for x in bindings(db) if x[0] == "sip:bob@127.0.0.1"]
    results.append((not left, f"baresip unregisters on exit; the binding is removed: {left}"))
    body = urllib.request.urlopen(f"http://127.0.0.1:{HTTP}/metrics").read().decode()
    results.append(('gorgee_registrar_requests_total{result="ok"} ' in body, "registrar counted the REGISTERs"))
finally:
    for p in (phone, gw):
        if p and p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
    rc = gw.returncode if gw else None
    results.append((rc == 0, "gorgee exits 0 on SIGTERM"))
    print(f"1..{len(results)}")
    for i, (ok, name) in enumerate(results, 1):
        print(f"{'ok' if ok else 'not ok'} {i} - {name}")
    if not all(ok for ok, _ in results):
        for log in ("baresip.log", "gorgee.log"):
            print("# " + open(os.path.join(TMP, log)).read()[-1200:].replace("\n", "\n# "))
    shutil.rmtree(TMP, ignore_errors=True)
sys.exit(0 if all(ok for ok, _ in results) else 1)
