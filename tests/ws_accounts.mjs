// Upstream accounts end to end: a WebSocket client registers SIP accounts through gorgee to
// real registrars with digest auth: a second gorgee (SHA-256) and Kamailio (MD5). Then an
// INVITE sent to Kamailio for that user arrives at gorgee (location lookup works).
// usage: node ws_accounts.mjs path/to/gorgee tests-dir     Prints TAP.
import { spawn, execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import dgram from 'node:dgram';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const WebSocket = require('ws');
const [GORGEE, TESTS] = [process.argv[2], process.argv[3]];
const tests = [];
const test = (name, fn) => tests.push({ name, fn });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function assert(c, m) { if (!c) throw new Error(m || 'assertion failed'); }
const procs = [];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gorgee-acc-'));

async function freePort() {
  for (;;) {
    const p = await new Promise((res) => { const s = net.createServer(); s.listen(0, '127.0.0.1', () => { const x = s.address().port; s.close(() => res(x)); }); });
    const ok = await new Promise((res) => { const u = dgram.createSocket('udp4'); u.on('error', () => res(false)); u.bind(p, '127.0.0.1', () => u.close(() => res(true))); });
    if (ok) return p;
  }
}

async function gorgee(name, extra, users = {}) {
  const http = await freePort(), sip = await freePort();
  const dir = path.join(tmp, name);
  const args = ['--set', `general.data_dir=${dir}`, '--set', `http.port=${http}`, '--set', 'http.listen=127.0.0.1',
    '--set', `sip.udp_port=${sip}`, '--set', 'sip.tcp_port=0', '--set', 'sip.listen=127.0.0.1',
    '--set', 'general.log_level=info', ...extra];
  for (const [u, pw] of Object.entries(users)) execFileSync(GORGEE, [...args, '--add-user', u], { input: pw + '\n' });
  const p = spawn(GORGEE, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  p.log = '';
  p.stderr.on('data', (d) => { p.log += d; });
  procs.push(p);
  for (let i = 0; i < 100; i++) {
    try { if ((await fetch(`http://127.0.0.1:${http}/healthz`)).ok) break; } catch { /* not yet */ }
    await sleep(50);
  }
  return { p, http, sip, dir, args };
}

async function metric(g, name) {
  const body = await (await fetch(`http://127.0.0.1:${g.http}/metrics`)).text();
  const m = body.split('\n').find((l) => l.startsWith(name + ' '));
  return m ? Number(m.split(' ')[1]) : 0;
}

class Client {
  constructor(port) {
    this.msgs = []; this.waiters = []; this.closed = null; this.nextId = 1;
    this.ws = new WebSocket(`ws://127.0.0.1:${port}/`, 'gorgee-v1');
    this.ws.on('message', (d) => { this.msgs.push(JSON.parse(d.toString())); this.wake(); });
    this.ws.on('close', (code) => { this.closed = code; this.wake(); });
    // a refused connection is this case's failure, not the end of the whole script (its
    // gorgee, Kamailio and dnsmasq were left running once)
    this.ws.on('error', (e) => { this.error = e; this.wake(); });
  }
  wake() { const w = this.waiters; this.waiters = []; w.forEach((f) => f()); }
  async until(pred, what, ms = 8000) {
    const end = Date.now() + ms;
    for (;;) {
      const v = pred();
      if (v) return v;
      if (Date.now() > end) throw new Error(`timeout waiting for ${what}: ${JSON.stringify(this.msgs.slice(-5))}`);
      await new Promise((r) => { this.waiters.push(r); setTimeout(r, 50); });
    }
  }
  async open() {
    await this.until(() => { if (this.error) throw this.error; return this.ws.readyState === WebSocket.OPEN; }, 'open');
    return this;
  }
  async req(request, params) {
    const id = `r${this.nextId++}`;
    this.ws.send(JSON.stringify({ request, id, params }));
    return this.until(() => this.msgs.find((m) => m.id === id && m.reply), request);
  }
  event(id, state) { return this.until(() => this.msgs.find((m) => m.event === 'registration' && m.id === id && m.data.state === state), `registration ${state}`); }
}

let A, B, C, kam, kport, dead;

// A CA and a certificate it signs for tls.pbx.test, made with the openssl CLI.
function makeCerts() {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2'];
  const run = (args) => execFileSync('openssl', args, { cwd: tmp, stdio: 'ignore' });
  run(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-subj', '/CN=test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign']);
  run(['req', '-x509', ...ec, '-keyout', 'c.key', '-out', 'c.pem', '-subj', '/CN=tls.pbx.test',
    '-CA', 'ca.pem', '-CAkey', 'ca.key', '-addext', 'subjectAltName=URI:sip:tls.pbx.test']);
}

async function setup() {
  B = await gorgee('b', [], { alice: 'alice-upstream' }); // upstream registrar, SHA-256 first
  makeCerts();
  const ctcp = await freePort(), ctls = await freePort();
  C = await gorgee('c', ['--set', `sip.tcp_port=${ctcp}`, '--set', `sip.tls_port=${ctls}`,
    '--set', `sip.tls_cert=${tmp}/c.pem`, '--set', `sip.tls_key=${tmp}/c.key`], { carol: 'carol-upstream' });
  Object.assign(C, { tcp: ctcp, tls: ctls });
  // a DNS zone: pbx.test's SRV lists a dead address first, then B (RFC 3263 failover)
  const dns = await freePort();
  dead = await freePort();
  const dnsmasq = spawn('dnsmasq', ['--no-daemon', `--port=${dns}`, '--listen-address=127.0.0.1',
    '--bind-interfaces', '--no-resolv', '--no-hosts', '--conf-file=/dev/null', '--user=root', '--pid-file=',
    `--srv-host=_sip._udp.pbx.test,dead.pbx.test,${dead},10,0`, `--srv-host=_sip._udp.pbx.test,live.pbx.test,${B.sip},20,0`,
    `--srv-host=_sip._tcp.tcp.test,dead.pbx.test,${dead},10,0`, `--srv-host=_sip._tcp.tcp.test,live.pbx.test,${C.tcp},20,0`,
    '--host-record=tls.pbx.test,127.0.0.1', '--host-record=wrong.pbx.test,127.0.0.1',
    '--host-record=dead.pbx.test,127.0.0.1', '--host-record=live.pbx.test,127.0.0.1'], { stdio: 'ignore' });
  procs.push(dnsmasq);
  await sleep(300);
  A = await gorgee('a', ['--set', `sip.dns_servers=127.0.0.1:${dns}`, '--set', 'sip.t1=50',
    '--set', `sip.tls_ca_file=${tmp}/ca.pem`, '--set', 'sip.connect_timeout=2'], { erin: 'erin-pass' });
  kport = await freePort();
  const cfg = fs.readFileSync(path.join(TESTS, 'kamailio/registrar-auth.cfg'), 'utf8')
    .replaceAll('@PORT@', String(kport)).replaceAll('@PASSWORD@', 'kam-secret');
  fs.writeFileSync(path.join(tmp, 'kam.cfg'), cfg);
  kam = spawn('kamailio', ['-f', path.join(tmp, 'kam.cfg'), '-DD', '-E', '-n', '1', '-m', '32', '-M', '8',
    '-Y', tmp, '-P', path.join(tmp, 'kam.pid')], { stdio: ['ignore', 'ignore', 'pipe'] });
  kam.log = '';
  kam.stderr.on('data', (d) => { kam.log += d; });
  procs.push(kam);
  await sleep(700);
}

async function login() {
  const c = await new Client(A.http).open();
  const r = await c.req('login', { username: 'erin', password: 'erin-pass' });
  assert(r.result, JSON.stringify(r));
  return c;
}

function bindings(g) {
  const r = spawnSync('sqlite3', [path.join(g.dir, 'gorgee.db'), 'select aor, contact from bindings']);
  return r.stdout.toString().trim();
}
// whether the upstream holds a binding for this account (its Contact carries the account id)
const bound = (g, accountId) => bindings(g).includes(`-${accountId}@`);

test('register to an upstream gorgee with SHA-256 digest: events carry the request id; binding stored', async () => {
  const c = await login();
  const r = await c.req('register', { uri: `sip:alice@127.0.0.1:${B.sip}`, username: 'alice', password: 'alice-upstream', expires: 120 });
  assert(r.result && /^a-\d+$/.test(r.result.account_id), JSON.stringify(r));
  await c.event(r.id, 'registering');
  const ev = await c.event(r.id, 'registered');
  assert(ev.data.account_id === r.result.account_id && [119, 120].includes(ev.data.expires), JSON.stringify(ev));
  assert(bindings(B) === `sip:alice@127.0.0.1|sip:alice-${r.result.account_id}@127.0.0.1:${A.sip}`, bindings(B));
  const u = await c.req('unregister', { account_id: r.result.account_id });
  assert(u.result, JSON.stringify(u));
  await c.event(u.id, 'unregistered');
  assert(!bound(B, r.result.account_id), 'binding removed upstream: ' + bindings(B));
  c.ws.close();
});

test('BI-16 wrong password: exactly one retry, then failed with 401', async () => {
  const before = await metric(B, 'gorgee_registrar_requests_total{result="challenge"}') +
    await metric(B, 'gorgee_registrar_requests_total{result="fail"}');
  const c = await login();
  const r = await c.req('register', { uri: `sip:alice@127.0.0.1:${B.sip}`, username: 'alice', password: 'wrong' });
  const ev = await c.event(r.id, 'failed');
  assert(ev.data.code === 401, JSON.stringify(ev));
  await sleep(300);
  const after = await metric(B, 'gorgee_registrar_requests_total{result="challenge"}') +
    await metric(B, 'gorgee_registrar_requests_total{result="fail"}');
  assert(after - before === 2, `upstream saw ${after - before} REGISTERs`);
  assert(!A.p.log.includes('wrong') || !A.p.log.match(/password[^\n]*wrong/), 'password not logged');
  c.ws.close();
});

test('register through Kamailio (MD5); an INVITE to Kamailio for the user reaches gorgee', async () => {
  const c = await login();
  const r = await c.req('register', { uri: `sip:bob@127.0.0.1:${kport}`, username: 'bob', password: 'kam-secret', expires: 300 });
  await c.event(r.id, 'registered');
  const before = await metric(A, 'gorgee_sip_messages_received_total{kind="request",method="INVITE"}');
  const s = spawnSync('sipp', [`127.0.0.1:${kport}`, '-sn', 'uac', '-s', 'bob', '-m', '1', '-i', '127.0.0.1',
    '-p', String(await freePort()), '-timeout', '8', '-nostdin', '-default_behaviors', 'all,-abortunexp'], { cwd: tmp, timeout: 20000 });
  const after = await metric(A, 'gorgee_sip_messages_received_total{kind="request",method="INVITE"}');
  assert(after >= before + 1, `gorgee got ${after - before} INVITEs via Kamailio (sipp exit ${s.status})`);
  c.ws.close();
});

test('RFC 3263: registrar found by SRV; the dead first target fails over to the next', async () => {
  const c = await login();
  const r = await c.req('register', { uri: 'sip:alice@pbx.test', username: 'alice', password: 'alice-upstream' });
  const ev = await c.event(r.id, 'registered');
  assert(ev.data.account_id === r.result.account_id, JSON.stringify(ev));
  assert(bindings(B).includes(`sip:alice@pbx.test|sip:alice-${r.result.account_id}@`), bindings(B));
  await c.req('unregister', { account_id: r.result.account_id });
  await c.event(r.id, 'registering').catch(() => {});
  for (let i = 0; i < 40 && bound(B, r.result.account_id); i++) await sleep(100);
  assert(!bound(B, r.result.account_id), 'unregistered: ' + bindings(B));
  c.ws.close();
});

test('RFC 3263 for MESSAGE: the dead first SRV target fails over to the next, where the user reads it', async () => {
  const bob = await new Client(B.http).open(); // alice logged in on B (the live target)
  const lr = await bob.req('login', { username: 'alice', password: 'alice-upstream' });
  assert(lr.result, JSON.stringify(lr));
  const c = await login();
  // through an account of pbx.test (A serves every domain itself without one)
  const reg = await c.req('register', { uri: 'sip:alice@pbx.test', username: 'alice', password: 'alice-upstream' });
  await c.event(reg.id, 'registered');
  const logged = A.p.log.length;
  const r = await c.req('message', { to: 'sip:alice@pbx.test', account_id: reg.result.account_id,
    content_type: 'text/plain', body: 'over the second SRV target' });
  assert(r.reply && !r.error, JSON.stringify(r));
  const st = await c.until(() => c.msgs.find((m) => m.event === 'message_status' && m.id === r.id), 'message_status', 15000);
  assert(st.data.code === 200 && st.data.delivered === true, JSON.stringify(st) + A.p.log.slice(-1500));
  const got = await bob.until(() => bob.msgs.find((m) => m.event === 'message'), 'message at alice');
  assert(got.data.body === 'over the second SRV target' && got.data.from === 'sip:alice@pbx.test', JSON.stringify(got));
  assert(/MESSAGE: (503|408) from 127\.0\.0\.1:/.test(A.p.log.slice(logged)) && A.p.log.slice(logged).includes(`:${dead}`),
    'the dead target was tried first: ' + A.p.log.slice(logged).slice(-600));
  await c.req('unregister', { account_id: reg.result.account_id });
  c.ws.close(); bob.ws.close();
});

async function registerAndDrop(c, params) {
  const r = await c.req('register', { username: 'carol', password: 'carol-upstream', ...params });
  assert(r.result, JSON.stringify(r));
  const ev = await c.until(() => c.msgs.find((m) => m.event === 'registration' && m.id === r.id &&
    ['registered', 'failed'].includes(m.data.state)), 'registered or failed');
  return { r, ev, id: r.result.account_id };
}

test('transport tcp: REGISTER over a TCP connection gorgee opens; Contact says transport=tcp', async () => {
  const c = await login();
  const { ev, id } = await registerAndDrop(c, { uri: `sip:carol@127.0.0.1:${C.tcp}`, transport: 'tcp' });
  assert(ev.data.state === 'registered', JSON.stringify(ev) + A.p.log.slice(-800));
  assert(bindings(C).includes(`-${id}@127.0.0.1:${A.sip};transport=tcp`), bindings(C));
  assert(await metric(A, 'gorgee_sip_tcp_connections') === 1, 'one connection');
  await c.req('unregister', { account_id: id });
  for (let i = 0; i < 40 && bound(C, id); i++) await sleep(100);
  assert(!bound(C, id), 'unregistered over the same connection: ' + bindings(C));
  assert(await metric(A, 'gorgee_sip_tcp_connections') === 1, 'still one connection');
  c.ws.close();
});

test('RFC 3263 over TCP: _sip._tcp SRV lists a refused address first; failover to the next', async () => {
  const c = await login();
  const { ev, id } = await registerAndDrop(c, { uri: 'sip:carol@tcp.test', transport: 'tcp' });
  assert(ev.data.state === 'registered', JSON.stringify(ev) + A.p.log.slice(-800));
  assert(A.p.log.includes(`connection to 127.0.0.1:${dead} failed`), 'the refused one was tried');
  await c.req('unregister', { account_id: id });
  c.ws.close();
});

test('transport tls: the registrar certificate names the domain (URI SAN, RFC 5922) and chains to the CA', async () => {
  const c = await login();
  const { ev, id } = await registerAndDrop(c, { uri: `sip:carol@tls.pbx.test:${C.tls}`, transport: 'tls' });
  assert(ev.data.state === 'registered', JSON.stringify(ev) + A.p.log.slice(-800));
  assert(bindings(C).includes(`sip:carol@tls.pbx.test|sip:carol-${id}@`), bindings(C));
  await c.req('unregister', { account_id: id });
  c.ws.close();
});

test('transport tls to a name the certificate does not carry: failed 503, a log line says why', async () => {
  const c = await login();
  const { ev, id } = await registerAndDrop(c, { uri: `sip:carol@wrong.pbx.test:${C.tls}`, transport: 'tls' });
  assert(ev.data.state === 'failed' && ev.data.code === 503, JSON.stringify(ev));
  assert(/\(wrong\.pbx\.test\): certificate refused: it does not name the SIP domain/.test(A.p.log), A.p.log.slice(-800));
  assert(!bound(C, id), 'nothing registered');
  await c.req('unregister', { account_id: id });
  c.ws.close();
});

test('a session that logs out takes its accounts with it (unregistered upstream)', async () => {
  const c = await login();
  const r = await c.req('register', { uri: `sip:alice@127.0.0.1:${B.sip}`, username: 'alice', password: 'alice-upstream' });
  await c.event(r.id, 'registered');
  const id = r.result.account_id;
  assert(bound(B, id), 'registered');
  await c.req('logout', {});
  for (let i = 0; i < 40 && bound(B, id); i++) await sleep(100);
  assert(!bound(B, id), 'unregistered after logout: ' + bindings(B));
});

test('parameter rules: host names, custom headers, foreign accounts', async () => {
  const c = await login();
  let r = await c.req('register', { uri: 'sip:alice@nosuch.test', password: 'x' });
  const f = await c.event(r.id, 'failed');
  assert(/^DNS: /.test(f.data.reason), JSON.stringify(f));
  await c.req('unregister', { account_id: r.result.account_id });
  r = await c.req('register', { uri: `sip:alice@127.0.0.1:${B.sip}`, headers: { 'X-Evil': 'a\r\nVia: x' } });
  assert(r.error && r.error.code === 422, JSON.stringify(r));
  r = await c.req('register', { uri: `sip:alice@127.0.0.1:${B.sip}`, headers: { Contact: 'x' } });
  assert(r.error && r.error.code === 422, JSON.stringify(r));
  r = await c.req('register', { uri: 'tel:+123' });
  assert(r.error && r.error.code === 422, JSON.stringify(r));
  // at most 16 accounts per session (each sends REGISTERs where its user says)
  const made = [];
  for (let i = 0; i < 16; i++) {
    const x = await c.req('register', { uri: `sip:u${i}@127.0.0.1:${dead}` });
    assert(x.result, JSON.stringify(x));
    made.push(x.result.account_id);
    await sleep(120); // under the request rate limit
  }
  r = await c.req('register', { uri: `sip:u16@127.0.0.1:${dead}` });
  assert(r.error && r.error.code === 409 && /16 accounts/.test(r.error.message), JSON.stringify(r));
  for (const id of made) { await c.req('unregister', { account_id: id }); await sleep(120); }
  const d = await login();
  const mine = await d.req('register', { uri: `sip:alice@127.0.0.1:${B.sip}`, username: 'alice', password: 'alice-upstream' });
  r = await c.req('unregister', { account_id: mine.result.account_id });
  assert(r.error && r.error.code === 403, JSON.stringify(r));
  c.ws.close();
  await d.req('logout', {}); // while its REGISTER may still be in flight: must end unregistered
  const id = mine.result.account_id;
  for (let i = 0; i < 40 && bound(B, id); i++) await sleep(100);
  assert(!bound(B, id), 'in-flight registration taken back after logout: ' + bindings(B));
});

test('SIGTERM drains: accounts unregistered upstream, exit 0', async () => {
  const c = await login();
  const r = await c.req('register', { uri: `sip:alice@127.0.0.1:${B.sip}`, username: 'alice', password: 'alice-upstream' });
  await c.event(r.id, 'registered');
  A.p.kill('SIGTERM');
  const code = await new Promise((res) => A.p.on('exit', res));
  assert(code === 0, `exit ${code}`);
  assert(!bound(B, r.result.account_id), 'unregistered on drain: ' + bindings(B));
});

process.on('exit', () => { for (const p of procs) { try { p.kill('SIGKILL'); } catch { /* gone */ } } });

(async () => {
  let failed = 0;
  console.log(`1..${tests.length}`);
  try { await setup(); } catch (e) { console.log(`# setup: ${e.message}`); }
  for (let i = 0; i < tests.length; i++) {
    try { await tests[i].fn(); console.log(`ok ${i + 1} - ${tests[i].name}`); }
    catch (e) {
      failed++;
      console.log(`# ${String(e.stack || e).split('\n').slice(0, 3).join('\n# ')}`);
      console.log(`not ok ${i + 1} - ${tests[i].name}`);
    }
  }
  // Kamailio forks its workers: SIGTERM lets the main process take them down (SIGKILL left
  // them running), then SIGKILL whatever did not go within 3 s
  for (const p of procs) { try { p.kill('SIGTERM'); } catch { /* gone */ } }
  await Promise.all(procs.map((p) => new Promise((r) => {
    if (p.exitCode !== null || p.signalCode !== null) return r();
    const t = setTimeout(() => { try { p.kill('SIGKILL'); } catch { /* gone */ } r(); }, 3000);
    p.on('exit', () => { clearTimeout(t); r(); });
  })));
  fs.rmSync(tmp, { recursive: true, force: true });
  process.exit(failed ? 1 : 0);
})();
