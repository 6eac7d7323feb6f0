#!/usr/bin/env python3
"""SIP calls/s through gorgee's B2BUA and through Kamailio, with the same sipp ends, in one run;
and gorgee's memory per established call. Driven by bench/b2bua.sh.

This is ../shared/bench/sip/sipp_bench.py adapted (same method, same scenarios, same Kamailio
configuration), with these changes:
  - mode "gorgee": sipp uac_rr.xml -> gorgee (B2BUA, trunk = the uas) -> sipp uas_rr.xml. The
    record-routing scenarios work unchanged through a B2BUA: gorgee adds no Record-Route, so
    the uas echoes none, and the uac sends ACK/BYE to gorgee's Contact.
  - every port is a free loopback port picked at start (the shared copy uses fixed ones); the
    Kamailio configuration is copied into the work folder with its listen port replaced.
  - shorter steps (default 5 s) and one trial per server, so a whole run stays near 3 minutes;
    Kamailio's shared memory is 1024 MB (enough for 5 s steps; pre-faulting 2 GiB takes ~9 s
    per step here).
  - the sipp options: for Kamailio, as in the shared harness, "-default_behaviors
    all,-abortunexp" (its two workers may let a 180 overtake a 200); gorgee handles signaling
    on one thread and never reorders, so its runs keep sipp's default, where an unexpected
    message fails the call: a passing gorgee step has 0 failed calls AND no unexpected message.
  - a gorgee step passes only if gorgee_calls_total{result="answered"} (from /metrics) grew by
    exactly the number of calls: the calls were bridged, not answered by someone else.
  - mode "memory": gorgee holds N established calls (each with its relay session) and VmRSS
    is read before and while they are up.
Progress goes to stderr as JSON lines; the last stdout line is one JSON SUMMARY per mode.
"""
import argparse, json, os, signal, socket, statistics, subprocess, sys, time, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.environ.get('SIP_HARNESS') or os.path.join(HERE, '..', '..', '..', 'shared', 'bench', 'sip')
TICK = os.sysconf('SC_CLK_TCK')
PROCS = []   # every process started here, stopped at exit whatever happened


def popen(*args, **kw):
    p = subprocess.Popen(*args, **kw)
    PROCS.append(p)
    return p


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def free_port():
    """A port free for both UDP and TCP on 127.0.0.1."""
    for _ in range(200):
        u, t = socket.socket(socket.AF_INET, socket.SOCK_DGRAM), socket.socket()
        try:
            u.bind(('127.0.0.1', 0))
            port = u.getsockname()[1]
            t.bind(('127.0.0.1', port))
            return port
        except OSError:
            continue
        finally:
            u.close()
            t.close()
    raise RuntimeError('no free port')


def sched_ns(pid):
    """precise CPU time (ns) of all threads of pid, from /proc/<pid>/task/*/schedstat"""
    tot = 0
    try:
        for t in os.listdir('/proc/%d/task' % pid):
            try:
                with open('/proc/%d/task/%s/schedstat' % (pid, t)) as f:
                    tot += int(f.read().split()[0])
            except (FileNotFoundError, ProcessLookupError, ValueError):
                pass
    except (FileNotFoundError, ProcessLookupError):
        pass
    return tot


def all_sched_ns():
    out = {}
    for d in os.listdir('/proc'):
        if d.isdigit():
            out[int(d)] = sched_ns(int(d))
    return out


def children_of(pid):
    out = []
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % d) as f:
                s = f.read()
            if int(s[s.rindex(')') + 2:].split()[1]) == pid:
                out.append(int(d))
        except (FileNotFoundError, ProcessLookupError, ValueError):
            pass
    return out


def stop(p, timeout=10):
    if p is None or p.poll() is not None:
        return
    try:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    except ProcessLookupError:
        pass


def last_stat(csvfile):
    with open(csvfile) as f:
        lines = [l.rstrip('\n') for l in f if l.strip()]
    return dict(zip(lines[0].split(';'), lines[-1].split(';')))


def udp_listening(port):
    with open('/proc/net/udp') as f:
        next(f)
        return any(int(l.split()[1].split(':')[1], 16) == port for l in f)


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
        for _ in range(300):   # shm_force_alloc pre-faults shared memory: wait for the socket
            if self.mid.poll() is not None or udp_listening(self.mid_port):
                break
            time.sleep(0.1)
        time.sleep(0.5)
        if self.mid.poll() is not None or not udp_listening(self.mid_port):
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
        beh = ['-default_behaviors', 'all,-abortunexp'] if self.mode == 'proxy' else []
        self.uas = popen(['sipp', '-sf', os.path.join(SHARED, 'uas_rr.xml')] + beh + [
            '-i', '127.0.0.1', '-p', str(self.uas_port), '-mi', '127.0.0.1', '-nostdin',
            '-buff_size', str(self.a.buff)],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.workdir, 'uas.err'), 'w'),
            cwd=self.workdir)
        time.sleep(0.5)

    def __enter__(self):
        try:
            if self.mode == 'proxy':
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

    def uac_cmd(self, rate, m, stf, extra=()):
        a = self.a
        if self.mode == 'proxy':
            target = ['127.0.0.1:%d' % self.uas_port, '-rsa', '127.0.0.1:%d' % self.mid_port,
                      '-default_behaviors', 'all,-abortunexp']
        else:
            target = ['127.0.0.1:%d' % self.mid_port]
        return ['sipp', '-sf', os.path.join(SHARED, 'uac_rr.xml')] + target + [
            '-i', '127.0.0.1', '-p', str(free_port()), '-mi', '127.0.0.1', '-r', str(rate),
            '-m', str(m), '-nostdin', '-buff_size', str(a.buff), '-recv_timeout', '5000',
            '-trace_stat', '-stf', stf, '-fd', '1'] + list(extra)


def run_once(mode, rate, duration, workdir, a):
    os.makedirs(workdir, exist_ok=True)
    m = int(rate * duration)
    with Servers(a, mode, workdir) as sv:
        stf = os.path.join(workdir, 'uac.csv')
        if os.path.exists(stf):
            os.unlink(stf)
        cmd = sv.uac_cmd(rate, m, stf, ['-timeout', str(int(duration * 3 + 20))])
        server_pids = {'mid': [sv.mid.pid] + children_of(sv.mid.pid), 'uas': [sv.uas.pid]}
        t0 = time.time()
        c0 = {k: sum(sched_ns(p) for p in v) for k, v in server_pids.items()}
        f0 = all_sched_ns()
        uac = popen(cmd, stdout=subprocess.DEVNULL,
                               stderr=open(os.path.join(workdir, 'uac.err'), 'w'), cwd=workdir)
        last_uac = 0
        deadline = time.time() + duration * 3 + 30
        while uac.poll() is None:
            if time.time() > deadline:      # sipp's own -timeout does not always fire
                uac.kill()
                break
            last_uac = sched_ns(uac.pid) or last_uac
            time.sleep(0.2)
        uac.wait()
        t1 = time.time()
        c1 = {k: sum(sched_ns(p) for p in v) for k, v in server_pids.items()}
        f1 = all_sched_ns()
        answered = None
        if mode == 'gorgee':
            answered = metrics(sv.http_port).get('gorgee_calls_total{result="answered"}', 0)
    mine = {os.getpid(), uac.pid}
    for v in server_pids.values():
        mine.update(v)
    foreign_ns = sum(v - f0.get(p, 0) for p, v in f1.items() if p not in mine)
    wall = t1 - t0
    st = last_stat(stf)
    ok_calls = int(st['SuccessfulCall(C)'])
    mid_ns = c1['mid'] - c0['mid']
    res = {
        'mode': mode, 'rate': rate, 'm': m, 'rc': uac.returncode, 'wall_s': round(wall, 2),
        'successful': ok_calls, 'failed': int(st['FailedCall(C)']),
        'retrans': int(st['Retransmissions(C)']),
        'unexpected': int(st.get('FailedUnexpectedMessage(C)', 0) or 0),
        'achieved_cps': round(ok_calls / wall, 1),
        'cpu_uac_pct': round(100.0 * last_uac / 1e9 / wall, 1),
        'cpu_%s_pct' % ('kamailio' if mode == 'proxy' else 'gorgee'): round(100.0 * mid_ns / 1e9 / wall, 1),
        'cpu_uas_pct': round(100.0 * (c1['uas'] - c0['uas']) / 1e9 / wall, 1),
        'server_us_per_call': round(mid_ns / 1e3 / ok_calls, 1) if ok_calls else None,
        'other_load_pct': round(100.0 * foreign_ns / 1e9 / wall, 1),
    }
    if answered is not None:
        res['gorgee_answered'] = int(answered)
    res['pass'] = (res['rc'] == 0 and res['failed'] == 0 and res['successful'] == m
                   and res['unexpected'] == 0 and wall <= duration * 1.05 + 1.0
                   and (answered is None or int(answered) == m))
    return res


def ladder_run(mode, ladder, a):
    """Walks the ladder upward; the result is the highest rate passing before the first
    failure. A failed step beside heavy foreign load (shared machine) is re-run."""
    good = None
    for r in ladder:
        for attempt in range(a.retries + 1):
            res = run_once(mode, r, a.duration, os.path.join(a.workdir, mode), a)
            res['attempt'] = attempt
            log(json.dumps(res))
            if res['pass'] or res['other_load_pct'] <= a.max_other:
                break
        if not res['pass']:
            break
        good = res
    summ = {'mode': mode, 'max_rate': good['rate'] if good else 0, 'at_max': good}
    print('SUMMARY ' + json.dumps(summ), flush=True)
    return summ


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
        stf = os.path.join(workdir, 'warm.csv')
        w = popen(sv.uac_cmd(200, 200, stf), stdout=subprocess.DEVNULL,
                  stderr=subprocess.DEVNULL, cwd=workdir)
        if w.wait(60) != 0:
            raise RuntimeError('warm-up calls failed')
        wait_metric(sv.http_port, 'gorgee_calls', 0, 1)
        time.sleep(1.0)
        before = vmrss_kb(sv.mid.pid)
        m0 = metrics(sv.http_port)
        stf = os.path.join(workdir, 'hold.csv')
        # calls stay up for hold_s; they are torn down by stopping everything afterwards
        uac = popen(sv.uac_cmd(a.hold_rate, a.calls, stf,
                                          ['-d', str(a.hold_s * 1000), '-l', str(a.calls)]),
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
    ap.add_argument('mode', choices=['gorgee', 'proxy', 'memory'])
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
    ap.add_argument('--media-max', type=int, default=32599)
    ap.add_argument('--calls', type=int, default=1000, help='memory: calls held')
    ap.add_argument('--hold-rate', type=int, default=250, help='memory: cps while setting up')
    ap.add_argument('--hold-s', type=int, default=60, help='memory: call length')
    ap.add_argument('--workdir', default='/tmp/gorgee-bench/b2bua')
    ap.add_argument('--retries', type=int, default=2)
    ap.add_argument('--max-other', type=float, default=15.0)
    a = ap.parse_args()
    if a.mode != 'proxy' and not a.gorgee:
        ap.error('--gorgee is required')
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        if a.mode == 'memory':
            memory_run(a)
        else:
            ladder_run(a.mode, [int(x) for x in a.ladder.split(',')], a)
    finally:
        for p in PROCS:
            stop(p, timeout=3)


if __name__ == '__main__':
    main()
