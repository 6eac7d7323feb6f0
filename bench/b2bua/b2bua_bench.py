#!/usr/bin/env python3
"""SIP calls/s through gorgee's B2BUA and through Kamailio, with the same sipp ends, in one run;
and gorgee's memory per established call. Driven by bench/b2bua.sh.

This is ../shared/bench/sip/sipp_bench.py adapted (same scenarios, same Kamailio
configuration) to the method of bench/lib/ladder.py: gorgee and Kamailio, each with its own
sipp uas behind it, are started once and walk one ladder of rates taking turns at each rate
(the order alternates); a failed step starts that side afresh and runs once more. Changes:
  - mode "gorgee": sipp uac_rr.xml -> gorgee (B2BUA, trunk = the uas) -> sipp uas_rr.xml. The
    record-routing scenarios work unchanged through a B2BUA: gorgee adds no Record-Route, so
    the uas echoes none, and the uac sends ACK/BYE to gorgee's Contact.
  - every port is a free loopback port picked at start (the shared copy uses fixed ones); the
    Kamailio configuration is copied into the work folder with its listen port replaced.
  - 5 s steps, one pass per rate; Kamailio's shared memory is 1024 MB (enough for 5 s steps).
  - the sipp options: for Kamailio, as in the shared harness, "-default_behaviors
    all,-abortunexp" (its two workers may let a 180 overtake a 200); gorgee handles signaling
    on one thread and never reorders, so its runs keep sipp's default, where an unexpected
    message fails the call: a passing gorgee step has 0 failed calls AND no unexpected message.
  - a gorgee step passes only if gorgee_calls_total{result="answered"} (from /metrics) grew by
    exactly the number of calls: the calls were bridged, not answered by someone else.
  - mode "memory": gorgee holds N established calls (each with its relay session) and VmRSS
    is read before and while they are up.
Progress goes to stderr as JSON lines; stdout has one "SUMMARY {json}" line per mode.
"""
import argparse, json, os, signal, subprocess, sys, time, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))
from ladder import children_of, free_port, log, sipp_step, stop, wait_udp, walk  # noqa: E402

SHARED = os.environ.get('SIP_HARNESS') or os.path.join(HERE, '..', '..', '..', 'shared', 'bench', 'sip')
PROCS = []   # every process started here, stopped at exit whatever happened


def popen(*args, **kw):
    p = subprocess.Popen(*args, **kw)
    PROCS.append(p)
    return p


def metrics(http_port):
    out = {}
    with urllib.request.urlopen('http://127.0.0.1:%d/metrics' % http_port, timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line and not line.startswith('#'):
                k, _, v = line.rpartition(' ')
                try:
                    out[k] = float(v)
                except ValueError:
                    pass
    return out


def vmrss_kb(pid):
    with open('/proc/%d/status' % pid) as f:
        for l in f:
            if l.startswith('VmRSS:'):
                return int(l.split()[1])
    return 0


class Servers:
    """The processes of one step: Kamailio or gorgee in the middle, a sipp uas behind."""

    def __init__(self, a, mode, workdir):
        self.a, self.mode, self.workdir = a, mode, workdir
        self.mid = None
        self.uas = None
        self.uas_port, self.mid_port, self.http_port = free_port(), free_port(), free_port()

    def start_kamailio(self):
        cfg = os.path.join(self.workdir, 'kamailio-bench.cfg')
        with open(os.path.join(SHARED, 'kamailio-bench.cfg')) as f:
            text = f.read().replace('127.0.0.1:15070', '127.0.0.1:%d' % self.mid_port)
        with open(cfg, 'w') as f:
            f.write(text)
        rund = os.path.join(self.workdir, 'kamrun')
        os.makedirs(rund, exist_ok=True)
        a = self.a
        self.mid = popen([
            'kamailio', '-f', cfg, '-DD', '-E', '-n', str(a.kam_children), '-m', str(a.kam_shm),
            '-M', '16', '-x', a.kam_mm, '-b', str(a.kam_rcvbuf),
            '-P', os.path.join(self.workdir, 'kam.pid'), '-w', self.workdir, '-Y', rund],
            stdout=open(os.path.join(self.workdir, 'kam.out'), 'w'), stderr=subprocess.STDOUT)
        # shm_force_alloc pre-faults shared memory: wait for the socket
        if not wait_udp(self.mid, self.mid_port):
            raise RuntimeError('kamailio exited, see %s/kam.out' % self.workdir)

    def start_gorgee(self):
        a = self.a
        data = os.path.join(self.workdir, 'gorgee-data')
        os.makedirs(data, exist_ok=True)
        sets = ['general.data_dir=' + data, 'general.log_level=warn',
                'http.listen=127.0.0.1', 'http.port=%d' % self.http_port,
                'sip.listen=127.0.0.1', 'sip.udp_port=%d' % self.mid_port, 'sip.tcp_port=0',
                'calls.trunk=sip:127.0.0.1:%d' % self.uas_port, 'calls.trusted=127.0.0.1',
                'calls.max_calls=1000000', 'media.address=127.0.0.1',
                'media.port_min=%d' % a.media_min, 'media.port_max=%d' % a.media_max,
                'media.rtp_timeout=0']
        if a.gorgee_workers:
            sets.append('media.workers=%d' % a.gorgee_workers)
        cmd = [a.gorgee]
        for s in sets:
            cmd += ['--set', s]
        self.mid = popen(cmd, stdout=subprocess.DEVNULL,
                                    stderr=open(os.path.join(self.workdir, 'gorgee.err'), 'w'))
        end = time.time() + 15
        while time.time() < end:
            if self.mid.poll() is not None:
                break
            try:
                with urllib.request.urlopen('http://127.0.0.1:%d/healthz' % self.http_port, timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError('gorgee did not start, see %s/gorgee.err' % self.workdir)

    def start_uas(self):
        beh = ['-default_behaviors', 'all,-abortunexp'] if self.mode == 'kamailio' else []
        self.uas = popen(['sipp', '-sf', os.path.join(SHARED, 'uas_rr.xml')] + beh + [
            '-i', '127.0.0.1', '-p', str(self.uas_port), '-mi', '127.0.0.1', '-nostdin',
            '-buff_size', str(self.a.buff)],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.workdir, 'uas.err'), 'w'),
            cwd=self.workdir)
        time.sleep(0.5)

    def __enter__(self):
        try:
            if self.mode == 'kamailio':
                self.start_kamailio()
            else:
                self.start_gorgee()
            self.start_uas()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        stop(self.uas)
        stop(self.mid, timeout=5)   # gorgee drains calls on SIGTERM: do not wait for long
        time.sleep(0.3)

    def pids(self):
        return [self.mid.pid] + children_of(self.mid.pid)

    def uac_cmd(self, rate, m, extra=()):
        a = self.a
        if self.mode == 'kamailio':
            target = ['127.0.0.1:%d' % self.uas_port, '-rsa', '127.0.0.1:%d' % self.mid_port,
                      '-default_behaviors', 'all,-abortunexp']
        else:
            target = ['127.0.0.1:%d' % self.mid_port]
        return ['sipp', '-sf', os.path.join(SHARED, 'uac_rr.xml')] + target + [
            '-i', '127.0.0.1', '-p', str(free_port()), '-mi', '127.0.0.1', '-r', str(rate),
            '-m', str(m), '-nostdin', '-buff_size', str(a.buff), '-recv_timeout', '5000'] + list(extra)


def answered(sv):
    return metrics(sv.http_port).get('gorgee_calls_total{result="answered"}', 0)


def step(sv, rate):
    """One step against a running server: calls at rate for a.duration seconds. A gorgee step
    passes only if gorgee_calls_total{result="answered"} grew by exactly the number of calls
    (they were bridged, not answered by someone else) and no message was unexpected."""
    a = sv.a
    m = int(rate * a.duration)
    before = answered(sv) if sv.mode == 'gorgee' else None
    res = sipp_step(sv.uac_cmd(rate, m), a.duration, sv.pids, sv.workdir)
    res['server_us_per_call'] = res.pop('server_us_per_op')
    if before is not None:
        res['gorgee_answered'] = int(answered(sv) - before)
        res['pass'] = res['pass'] and res['gorgee_answered'] == m
    res['pass'] = res['pass'] and res['unexpected'] == 0
    return res


def ladder_run(a):
    """Both servers (each with its own uas) started once; one ladder walked by both in turn."""
    modes = ['gorgee', 'kamailio'] if a.mode == 'both' else [a.mode]
    side = {}

    def start(mode):
        sv = Servers(a, mode, os.path.join(a.workdir, mode))
        os.makedirs(sv.workdir, exist_ok=True)
        side[mode] = sv.__enter__()

    def restart(mode):  # a failed step may leave calls behind in the server or the uas
        side.pop(mode).__exit__()
        start(mode)

    try:
        for mode in modes:
            start(mode)
        walk([int(x) for x in a.ladder.split(',')], modes, lambda mode, rate: step(side[mode], rate),
             a.retries, restart)
    finally:
        for sv in side.values():
            sv.__exit__()


def wait_metric(http_port, name, want, seconds):
    end = time.time() + seconds
    v = 0
    while time.time() < end:
        v = metrics(http_port).get(name, 0)
        if v >= want:
            return v
        time.sleep(0.2)
    return v


def memory_run(a):
    """gorgee holds a.calls established calls; VmRSS before (after a warm-up) and during."""
    workdir = os.path.join(a.workdir, 'memory')
    os.makedirs(workdir, exist_ok=True)
    with Servers(a, 'gorgee', workdir) as sv:
        # warm-up: one-time allocations (pools, metric series, first sockets) are not per call
        w = popen(sv.uac_cmd(200, 200), stdout=subprocess.DEVNULL,
                  stderr=subprocess.DEVNULL, cwd=workdir)
        if w.wait(60) != 0:
            raise RuntimeError('warm-up calls failed')
        wait_metric(sv.http_port, 'gorgee_calls', 0, 1)
        time.sleep(1.0)
        before = vmrss_kb(sv.mid.pid)
        m0 = metrics(sv.http_port)
        # calls stay up for hold_s; they are torn down by stopping everything afterwards
        uac = popen(sv.uac_cmd(a.hold_rate, a.calls, ['-d', str(a.hold_s * 1000), '-l', str(a.calls)]),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=workdir)
        try:
            n = wait_metric(sv.http_port, 'gorgee_calls', a.calls, a.calls / a.hold_rate + 20)
            time.sleep(1.0)   # the last calls' ACKs and relay sessions settle
            m1 = metrics(sv.http_port)
            during = vmrss_kb(sv.mid.pid)
        finally:
            stop(uac)
    res = {'mode': 'memory', 'calls_up': int(m1.get('gorgee_calls', 0)),
           'relay_sessions': int(m1.get('gorgee_relay_sessions', 0)),
           'rss_before_kb': before, 'rss_during_kb': during,
           'rss_metric_before_kb': int(m0.get('process_resident_memory_bytes', 0) / 1024),
           'rss_metric_during_kb': int(m1.get('process_resident_memory_bytes', 0) / 1024)}
    res['kb_per_call'] = round((during - before) / n, 1) if n else None
    res['pass'] = res['calls_up'] == a.calls and res['relay_sessions'] == a.calls
    log(json.dumps(res))
    print('SUMMARY ' + json.dumps(res), flush=True)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('mode', choices=['gorgee', 'kamailio', 'both', 'memory'])
    ap.add_argument('--gorgee', help='path to the gorgee binary')
    ap.add_argument('--ladder', help='comma-separated ascending target rates')
    ap.add_argument('--duration', type=float, default=5)
    ap.add_argument('--kam-children', type=int, default=2)
    ap.add_argument('--kam-mm', default='tlsf')
    ap.add_argument('--kam-shm', type=int, default=1024)
    ap.add_argument('--kam-rcvbuf', type=int, default=4194304)
    ap.add_argument('--buff', type=int, default=1048576, help='sipp -buff_size')
    ap.add_argument('--gorgee-workers', type=int, default=0, help='media.workers (0 = default)')
    ap.add_argument('--media-min', type=int, default=16000)
    # 7,500 port pairs (3,750 calls at once, 15,000 sockets): all of them stay open between
    # calls (gorgee keeps the range open within its descriptor limit less a quarter: 15,000
    # under this machine's 20,000); a wider range pays socket+bind+close for the rest
    ap.add_argument('--media-max', type=int, default=30999)
    ap.add_argument('--calls', type=int, default=1000, help='memory: calls held')
    ap.add_argument('--hold-rate', type=int, default=250, help='memory: cps while setting up')
    ap.add_argument('--hold-s', type=int, default=60, help='memory: call length')
    ap.add_argument('--workdir', default='/tmp/gorgee-bench/b2bua')
    ap.add_argument('--retries', type=int, default=1, help='reruns of a failed step')
    a = ap.parse_args()
    if a.mode != 'kamailio' and not a.gorgee:
        ap.error('--gorgee is required')
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        if a.mode == 'memory':
            memory_run(a)
        else:
            ladder_run(a)
    finally:
        for p in PROCS:
            stop(p, timeout=3)


if __name__ == '__main__':
    main()
