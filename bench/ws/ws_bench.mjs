// WebSocket benchmark driver (issue 5 item 6), run by bench/ws.sh: N sessions logged in at
// the upgrade (JWT in ?access_token=) and idle, then
//   - RSS per session: the server's resident memory growth / N (from /proc/<pid>/status)
//   - keep-alive CPU: the server's utime+stime over a window of idle sessions with pings
//   - round trips: `ping` requests at a fixed total rate spread over the sessions, p50/p99
// against one server: gorgee, or the peer (peer_server.mjs: the same protocol subset on
// node's `ws`, the library most Node gateways use). Prints one JSON line: SUMMARY {...}.
// usage: node ws_bench.mjs --url ws://127.0.0.1:P/ --pid PID --secret S [--sessions N]
//        [--rate R] [--secs T] [--idle-secs I]
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(path.join(path.dirname(fileURLToPath(import.meta.url)), '../../tests/package.json'));
const WebSocket = require('ws');

const arg = (k, d) => { const i = process.argv.indexOf(`--${k}`); return i > 0 ? process.argv[i + 1] : d; };
const URL0 = arg('url'), PID = Number(arg('pid')), SECRET = arg('secret');
const N = Number(arg('sessions', 10000)), RATE = Number(arg('rate', 1000));
const SECS = Number(arg('secs', 10)), IDLE = Number(arg('idle-secs', 20));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function jwt(sub) {
  const b64u = (x) => Buffer.from(JSON.stringify(x)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const body = `${b64u({ alg: 'HS256', typ: 'JWT' })}.${b64u({ sub, aud: 'gorgee', iat: now, exp: now + 300 })}`;
  return `${body}.${crypto.createHmac('sha256', SECRET).update(body).digest('base64url')}`;
}
const rssKb = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${PID}/status`, 'utf8'))[1]);
const cpuTicks = () => { const f = fs.readFileSync(`/proc/${PID}/stat`, 'utf8').split(') ')[1].split(' '); return Number(f[11]) + Number(f[12]); };
const TICK = 100; // USER_HZ

const socks = [];
const pending = new Map();
let nextId = 1, failed = 0;

function open(i) {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${URL0}?access_token=${jwt(`user${i}`)}`, 'gorgee-v1', { perMessageDeflate: false, localAddress: '127.0.0.2' }); // not 127.0.0.1's ephemeral ports
    let done = false;
    const finish = (ok) => { if (!done) { done = true; if (!ok) failed++; resolve(ok ? ws : null); } };
    ws.on('message', (d) => {
      const m = JSON.parse(d);
      if (m.event === 'session') finish(true);
      const p = m.reply !== undefined && pending.get(m.id);
      if (p) { pending.delete(m.id); p(); }
    });
    ws.on('error', () => finish(false));
    ws.on('close', () => finish(false));
    setTimeout(() => finish(false), 30000);
  });
}

const rss0 = rssKb();
const t0 = Date.now();
for (let i = 0; i < N; i += 250) {
  const batch = await Promise.all(Array.from({ length: Math.min(250, N - i) }, (_, k) => open(i + k)));
  for (const ws of batch) if (ws) socks.push(ws);
}
const connectS = (Date.now() - t0) / 1000;
await sleep(2000);
const rss1 = rssKb();

// idle: only keep-alive pings (answered by the client library) and timers
const c0 = cpuTicks(), w0 = Date.now();
await sleep(IDLE * 1000);
const idleCpuPct = ((cpuTicks() - c0) / TICK) / ((Date.now() - w0) / 1000) * 100;
const alive = socks.filter((w) => w.readyState === WebSocket.OPEN).length;

// round trips at RATE requests/s for SECS seconds, one request per 1 ms tick group
const lat = [];
const total = RATE * SECS;
let sent = 0;
const start = Date.now();
while (sent < total) {
  const due = Math.floor(((Date.now() - start) / 1000) * RATE);
  while (sent < Math.min(due, total)) {
    const ws = socks[(sent * 7919) % socks.length];
    const id = nextId++, t = process.hrtime.bigint();
    pending.set(id, () => lat.push(Number(process.hrtime.bigint() - t) / 1e6));
    ws.send(JSON.stringify({ request: 'ping', id, params: {} }));
    sent++;
  }
  await sleep(2);
}
const end = Date.now() + 5000;
while (pending.size && Date.now() < end) await sleep(20);
lat.sort((a, b) => a - b);
const q = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] : NaN);
for (const ws of socks) ws.terminate();
console.log('SUMMARY ' + JSON.stringify({
  sessions: socks.length, failed, alive_after_idle: alive, connect_s: connectS,
  rss_per_session_kb: (rss1 - rss0) / Math.max(1, socks.length), rss_kb: rss1,
  idle_cpu_pct: idleCpuPct, requests: total, answered: lat.length, lost: pending.size,
  p50_ms: q(0.5), p99_ms: q(0.99), max_ms: lat.length ? lat[lat.length - 1] : NaN,
}));
process.exit(0);
