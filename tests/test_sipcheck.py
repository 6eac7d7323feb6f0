#!/usr/bin/env python3
"""Runs sipcheck on golden files and checks its JSON lines and exit codes (TAP output)."""
import json
import os
import subprocess
import sys
import tempfile

sipcheck, data = sys.argv[1], sys.argv[2]
results = []


def check(name, cond, detail=""):
    results.append((name, bool(cond), detail))


def run(*files):
    p = subprocess.run([sipcheck, *files], capture_output=True)
    lines = [json.loads(l) for l in p.stdout.decode("utf-8").splitlines()]
    return p.returncode, lines


rc, out = run(os.path.join(data, "rfc4475/wsinv.sip"))
d = out[0]
check("valid request exits 0", rc == 0, rc)
check("wsinv fields", d["valid"] is True and d["kind"] == "request" and d["method"] == "INVITE"
      and d["ruri"] == "sip:vivekg@chair-dnrc.example.com;unknownparam"
      and d["call_id"] == "wsinv.ndaksdj@192.0.2.1" and d["cseq"] == 9
      and d["cseq_method"] == "INVITE" and d["via_count"] == 3 and d["branch"] == "390skdjuw"
      and d["from_tag"] == "98asjd8" and d["to_tag"] == "1918181833n"
      and d["content_length"] == 150 and d["body_sdp"] is True and "status" not in d, d)

rc, out = run(os.path.join(data, "rfc4475/noreason.sip"))
d = out[0]
check("response fields", rc == 0 and d["kind"] == "response" and d["status"] == 100
      and "method" not in d and "ruri" not in d and d["body_sdp"] is False, d)

rc, out = run(os.path.join(data, "rfc4475/intmeth.sip"))
d = out[0]
check("odd characters survive JSON escaping", rc == 0
      and d["call_id"] == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{", d)

rc, out = run(os.path.join(data, "rfc4475/badvers.sip"), os.path.join(data, "rfc4475/bigcode.sip"))
check("invalid exits 1", rc == 1, rc)
check("invalid request has status and reason", out[0]["valid"] is False and out[0]["status"] == 505
      and out[0]["reason"], out[0])
check("invalid response has no status", out[1]["valid"] is False and "status" not in out[1]
      and out[1]["reason"], out[1])

with tempfile.TemporaryDirectory() as tmp:
    odd = os.path.join(tmp, 'we"ird\\name\x01\n.sip')
    with open(odd, "wb") as f:
        f.write(b"garbage\xff\r\n\r\n")
    rc, out = run(odd, os.path.join(tmp, "missing.sip"))
    check("file names are escaped", out[0]["file"] == odd and out[0]["valid"] is False, out)
    check("unreadable file exits 2", rc == 2 and out[1]["valid"] is False and out[1]["reason"], out)

p = subprocess.run([sipcheck], capture_output=True)
check("usage error exits 2", p.returncode == 2)

rc, out = run(*[os.path.join(data, "rfc4475", f) for f in sorted(os.listdir(os.path.join(data, "rfc4475")))])
check("every golden file gives one JSON line", len(out) == len(os.listdir(os.path.join(data, "rfc4475"))))

print("1..%d" % len(results))
for i, (name, ok, detail) in enumerate(results, 1):
    print("%s %d - %s" % ("ok" if ok else "not ok", i, name))
    if not ok:
        print("#   %r" % (detail,))
sys.exit(0 if all(ok for _, ok, _ in results) else 1)
