// gorgee.js and the softphone page against a scripted stand-in for gorgee: a small server
// that speaks ws/PROTOCOL.md, bridges the calls of two browser sessions and checks every
// request's parameters against the protocol's lists. It covers what the real gateway may
// not offer yet (hold, unhold, dtmf, message), renegotiation in both directions, events that
// overtake a reply, and a refused resume. Two Chromiums (tones 1000 Hz and 600 Hz) talk
// WebRTC directly to each other; the server carries only signaling.
// Runs in a loopback-only namespace (e2e_netns.sh).
// usage: node e2e_gorgeejs.mjs [unused-gorgee-path] [artifact-dir]      Prints TAP.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');
const { WebSocketServer } = require('ws');

const HERE = path.dirname(fileURLToPath(import.meta.url));
const WEB = path.join(HERE, '..', 'web-demo');
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'gorgee-js-'));
const ART = process.argv[3] ? path.resolve(process.argv[3], 'e2e-gorgeejs') : path.join(TMP, 'artifacts');
fs.rmSync(ART, { recursive: true, force: true }); // this run's screenshots only
fs.mkdirSync(ART, { recursive: true });
const PORT = 18090;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function assert(c, m) { if (!c) throw new Error(m || 'assertion failed'); }

// ---------- the stand-in server ----------

// Parameters each request accepts (ws/PROTOCOL.md); `!` marks required ones.
const PARAMS = {
  login: ['token', 'username', 'password'], resume: ['!session_id', '!resume_token'], logout: [], ping: [],
  register: ['!uri', 'username', 'password', 'proxy', 'outbound_proxy', 'expires', 'headers', 'transport'],
  unregister: ['!account_id'],
  call: ['!to', '!jsep', 'account_id', 'headers'], answer: ['!call_id', '!jsep'],
  decline: ['!call_id', 'code', 'reason'], hangup: ['!call_id', 'code', 'reason'],
  trickle: ['!call_id', 'candidate', 'completed'], renegotiate: ['!call_id', '!jsep'],
  hold: ['!call_id'], unhold: ['!call_id'], dtmf: ['!call_id', '!digits', 'method', 'duration'],
  info: ['!call_id', '!content_type', '!body'], message: ['to', 'call_id', 'content_type', '!body'],
  stats: ['!call_id'], transfer: ['!call_id', 'to', 'replaces_call_id'],
  transfer_accept: ['!call_id'], transfer_reject: ['!call_id'],
};

const srv = {
  requests: [],     // every request, in order
  violations: [],   // requests that broke the protocol
  sessions: new Map(), // session_id -> {user, token, ws}
  calls: new Map(), // call id -> {a, b, aReq, reneg}
  refuseResume: false,
  refuseUpgrades: 0, // answer this many upgrades 503 (gorgee restarting)
  refused: 0,
  nextCall: 1,
};

function send(ws, m) { if (ws && ws.readyState === 1) ws.send(JSON.stringify(m)); }
const sessionOf = (ws) => [...srv.sessions.values()].find((s) => s.ws === ws);
const userSession = (user) => [...srv.sessions.values()].reverse().find((s) => s.user === user);
const userOf = (uri) => (/^sips?:([^@;]+)@/.exec(uri || '') || [])[1];

function event(s, name, callId, data, id) {
  const m = { event: name };
  if (id !== undefined && id !== null) m.id = id;
  if (callId) m.call_id = callId;
  m.data = data;
  send(s.ws, m);
}

function checkParams(m) {
  const allowed = PARAMS[m.request];
  if (!allowed) return [404, 'unknown_request', `no request '${m.request}'`];
  const p = m.params || {};
  for (const k of Object.keys(p)) if (!allowed.includes(k) && !allowed.includes('!' + k)) return [422, 'invalid_params', `unknown parameter '${k}'`];
  for (const k of allowed.filter((a) => a.startsWith('!'))) if (p[k.slice(1)] === undefined) return [422, 'invalid_params', `missing parameter '${k.slice(1)}'`];
  const keys = Object.keys(m).filter((k) => !['request', 'id', 'params'].includes(k));
  if (keys.length) return [400, 'bad_request', `unknown field ${keys[0]}`];
  if (m.params !== undefined && (typeof m.params !== 'object' || Array.isArray(m.params))) return [422, 'invalid_params', 'params'];
  return null;
}

function onRequest(ws, m) {
  srv.requests.push(m);
  const reply = (result) => send(ws, { reply: m.request, id: m.id, result });
  const fail = (code, name, message) => send(ws, { reply: m.request, id: m.id, error: { code, name, message } });
  const bad = checkParams(m);
  if (bad) { srv.violations.push({ m, bad }); fail(...bad); return; }
  const p = m.params || {};
  const me = sessionOf(ws);
  if (!me && !['login', 'resume', 'ping'].includes(m.request)) { fail(401, 'unauthorized', 'not logged in'); return; }
  const call = p.call_id ? srv.calls.get(p.call_id) : null;
  if (p.call_id && !call) { fail(422, 'invalid_params', 'no such call'); return; }
  const other = call ? (call.a === me ? call.b : call.a) : null;
  const idFor = (s) => (call && s === call.a ? call.aReq : undefined);
  switch (m.request) {
  case 'ping': reply({ time_ms: Date.now() }); return;
  case 'login': {
    if (p.password === 'wrong') { fail(401, 'unauthorized', 'wrong username or password'); ws.close(4401); return; }
    const s = { user: p.username || 'tokenuser', session_id: crypto.randomBytes(16).toString('hex'), token: crypto.randomBytes(32).toString('hex'), ws };
    srv.sessions.set(s.session_id, s);
    reply({ session_id: s.session_id, user: s.user, resume_token: s.token, resume_grace: 60, protocol: 1 });
    return;
  }
  case 'resume': {
    const s = srv.sessions.get(p.session_id);
    if (!s || s.token !== p.resume_token || srv.refuseResume) { fail(401, 'unauthorized', 'cannot resume'); ws.close(4401); return; }
    s.ws = ws;
    reply({ session_id: s.session_id, user: s.user, resume_token: s.token, resume_grace: 60, protocol: 1, missed_events: 0 });
    return;
  }
  case 'logout': reply({}); srv.sessions.delete(me.session_id); ws.close(1000); return;
  case 'call': {
    const id = `c-${srv.nextCall++}`;
    const b = userSession(userOf(p.to));
    const c = { id, a: me, b, aReq: m.id };
    srv.calls.set(id, c);
    event(me, 'call_state', id, { state: 'calling' }, m.id); // overtakes the reply on purpose
    if (!b) { // the end overtakes the reply too
      event(me, 'call_state', id, { state: 'ended', code: 404, reason: 'Not Found', by: 'remote' }, m.id);
      reply({ call_id: id });
      srv.calls.delete(id);
      return;
    }
    reply({ call_id: id });
    event(b, 'incoming_call', id, { from: `"${me.user}" <sip:${me.user}@fake.test>`, to: p.to, jsep: p.jsep });
    event(me, 'call_state', id, { state: 'ringing', code: 180 }, m.id);
    return;
  }
  case 'answer':
    reply({});
    event(call.a, 'call_state', call.id, { state: 'answered', jsep: p.jsep }, call.aReq);
    return;
  case 'decline':
    reply({});
    event(call.a, 'call_state', call.id, { state: 'ended', code: p.code || 486, reason: p.reason || 'Busy Here', by: 'remote' }, call.aReq);
    srv.calls.delete(call.id);
    return;
  case 'hangup':
    reply({});
    event(me, 'call_state', call.id, { state: 'ended', code: p.code || 200, reason: p.reason || 'Normal', by: 'local' }, idFor(me));
    event(other, 'call_state', call.id, { state: 'ended', code: p.code || 200, reason: p.reason || 'Normal', by: 'remote' }, idFor(other));
    srv.calls.delete(call.id);
    return;
  case 'trickle':
    reply({});
    event(other, 'trickle', call.id, p.completed ? { completed: true } : { candidate: p.candidate }, idFor(other));
    return;
  case 'renegotiate':
    reply({});
    if (p.jsep.type === 'offer') {
      call.reneg = { from: me, id: m.id };
      event(other, 'renegotiate', call.id, { jsep: p.jsep });
    } else if (call.reneg) {
      event(call.reneg.from, 'renegotiated', call.id, { jsep: p.jsep }, call.reneg.id);
      call.reneg = null;
    }
    return;
  case 'hold':
  case 'unhold':
    reply({});
    event(me, 'call_state', call.id, { state: m.request === 'hold' ? 'held' : 'answered' }, idFor(me));
    return;
  case 'dtmf':
    if (p.method !== 'info') { fail(501, 'not_available', 'RFC 4733 DTMF is sent by the browser (RTCRtpSender.dtmf)'); return; }
    reply({ code: 200 });
    event(other, 'dtmf', call.id, { digits: p.digits, duration: p.duration || 100, method: 'info' }, idFor(other));
    return;
  case 'message': {
    reply({});
    const to = call ? other : userSession(userOf(p.to));
    if (to) event(to, 'message', call?.id, { from: `sip:${me.user}@fake.test`, content_type: p.content_type || 'text/plain', body: p.body });
    event(me, 'message_status', null, { code: to ? 202 : 404, delivered: !!to }, m.id);
    return;
  }
  case 'stats': reply({ rtp: { sent_packets: 1, received_packets: 1, lost: 0, jitter_ms: 0 } }); return;
  default: fail(501, 'not_available', `${m.request} is not scripted here`);
  }
}

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.md': 'text/markdown' };
const server = http.createServer((req, res) => {
  const url = req.url.split('?')[0];
  if (url === '/healthz') { res.writeHead(200, { 'content-type': 'application/json' }); res.end('{"status":"ok","version":"fake","uptime_s":1}'); return; }
  const f = path.join(WEB, url === '/' ? 'index.html' : path.normalize(url));
  if (!f.startsWith(WEB) || !fs.existsSync(f)) { res.writeHead(404); res.end(); return; }
  res.writeHead(200, { 'content-type': TYPES[path.extname(f)] || 'application/octet-stream' });
  res.end(fs.readFileSync(f));
});
const wss = new WebSocketServer({ noServer: true, handleProtocols: (ps) => (ps.has('gorgee-v1') ? 'gorgee-v1' : false) });
server.on('upgrade', (req, sock, head) => {
  if (!(req.headers['sec-websocket-protocol'] || '').split(',').map((x) => x.trim()).includes('gorgee-v1')) { sock.end('HTTP/1.1 400 Bad Request\r\n\r\n'); return; }
  if (srv.refuseUpgrades > 0) { srv.refuseUpgrades--; srv.refused++; sock.end('HTTP/1.1 503 Service Unavailable\r\n\r\n'); return; }
  wss.handleUpgrade(req, sock, head, (ws) => {
    ws.on('message', (d) => {
      let m;
      try { m = JSON.parse(d.toString()); } catch { send(ws, { reply: 'error', id: null, error: { code: 400, name: 'bad_request', message: 'not JSON' } }); return; }
      onRequest(ws, m);
    });
  });
});

// ---------- browsers ----------

const tests = [];
const test = (name, fn) => tests.push({ name, fn });
const browsers = [];
const consoleLines = [];
let A, B; // pages: alice (1000 Hz), bob (600 Hz)

async function openPage(name, hz) {
  const tone = path.join(TMP, `tone-${hz}.wav`);
  execFileSync('sox', ['-n', '-r', '48000', '-c', '1', '-b', '16', tone, 'synth', '30', 'sine', String(hz), 'vol', '0.5']);
  const b = await chromium.launch({
    executablePath: '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream', '--allow-loopback-in-peer-connection',
      '--autoplay-policy=no-user-gesture-required', `--use-file-for-fake-audio-capture=${tone}`,
      '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost'],
  });
  browsers.push(b);
  const p = await b.newPage({ viewport: { width: 390, height: 900 } });
  p.on('console', (m) => consoleLines.push(`${name} ${m.type()}: ${m.text()}`));
  p.on('pageerror', (e) => consoleLines.push(`${name} pageerror: ${e.message}`));
  await p.goto(`http://127.0.0.1:${PORT}/`);
  return p;
}

async function waitFor(fn, what, ms = 10000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try { last = await fn(); if (last) return last; } catch (e) { last = e; }
    await sleep(150);
  }
  throw new Error(`timeout: ${what}${last instanceof Error ? ' (' + last.message + ')' : ''}`);
}

const st = (p, id) => p.locator(`#${id}`).getAttribute('data-state');
const txt = (p, id) => p.locator(`#${id}`).textContent();
const reqs = (name) => srv.requests.filter((m) => m.request === name);

async function hears(p, hz) {
  const r = await p.evaluate(async () => {
    const stream = window.gorgeeDemo.call?.remoteStream;
    if (!stream) return { error: 'no remote stream' };
    const ctx = new AudioContext();
    await ctx.resume();
    const an = ctx.createAnalyser();
    an.fftSize = 4096;
    ctx.createMediaStreamSource(stream).connect(an);
    const f = new Float32Array(an.frequencyBinCount), t = new Float32Array(an.fftSize);
    let best = { rms: 0, peakHz: 0 };
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, 100));
      an.getFloatTimeDomainData(t);
      let sum = 0;
      for (const v of t) sum += v * v;
      const rms = Math.sqrt(sum / t.length);
      if (rms > best.rms) {
        an.getFloatFrequencyData(f);
        let bi = 0;
        for (let k = 1; k < f.length; k++) if (f[k] > f[bi]) bi = k;
        best = { rms: +rms.toFixed(4), peakHz: Math.round(bi * ctx.sampleRate / an.fftSize) };
      }
    }
    ctx.close();
    return best;
  });
  assert(!r.error && r.rms > 0.01 && Math.abs(r.peakHz - hz) <= 25, `expected ${hz} Hz: ${JSON.stringify(r)}`);
}

async function login(p, user) {
  await p.uncheck('#opt-audio-processing');
  await p.fill('#login-username', user);
  await p.fill('#login-password', 'pw');
  await p.click('#login-submit');
  await waitFor(async () => (await txt(p, 'session-name')) === user, `${user} logged in`);
}

// ---------- cases ----------

test('two pages log in to the stand-in server', async () => {
  A = await openPage('alice', 1000);
  B = await openPage('bob', 600);
  await login(A, 'alice');
  await login(B, 'bob');
});

test('alice calls bob: an event that overtakes the reply is kept; bob rings, answers; audio both ways', async () => {
  await A.fill('#dial-to', 'bob@fake.test');
  await A.click('#call-start');
  await waitFor(async () => (await st(A, 'call-state')) === 'ringing', 'alice hears ringing');
  await waitFor(() => B.locator('#incoming-panel').isVisible(), 'bob rings');
  assert(/alice/.test(await txt(B, 'incoming-from')), 'caller shown');
  assert(/call_state c-1 calling/.test(await txt(A, 'event-log')), 'the early call_state was delivered with its call');
  const call = reqs('call')[0];
  assert(call.params.to === 'sip:bob@fake.test' && call.params.jsep.type === 'offer' && /m=audio/.test(call.params.jsep.sdp), JSON.stringify(call).slice(0, 200));
  await B.click('#incoming-answer');
  await waitFor(async () => (await st(A, 'call-state')) === 'answered' && (await st(B, 'call-state')) === 'answered', 'both answered');
  const ans = reqs('answer')[0];
  assert(ans.params.jsep.type === 'answer', 'answer carries an SDP answer');
  await hears(A, 600);
  await hears(B, 1000);
  const tr = reqs('trickle');
  assert(tr.some((m) => m.params.candidate?.candidate) && tr.every((m) => /^c-\d+$/.test(m.params.call_id)), 'candidates trickled with the call id');
  await waitFor(async () => (await txt(A, 'call-timer')) !== '00:00', 'timer runs');
  await waitFor(async () => (await txt(A, 'call-quality')) === 'good', 'quality good');
  await A.screenshot({ path: path.join(ART, 'alice-in-call.png'), fullPage: true });
  console.log(`# screenshot: ${path.join(ART, 'alice-in-call.png')}`);
});

test('the dial pad sends DTMF: RFC 4733 from the browser, then SIP INFO through the server', async () => {
  // RFC 4733: the browser's RTCDTMFSender; nothing goes through signaling
  await A.evaluate(() => { window.dtmfTones = ''; window.gorgeeDemo.call.pc.getSenders()[0].dtmf.ontonechange = (e) => { window.dtmfTones += e.tone; }; });
  for (const k of ['1', '2', 'hash']) await A.click(`#key-${k}`);
  await waitFor(() => A.evaluate(() => window.dtmfTones === '12#'), 'the browser played 1 2 #');
  assert(!reqs('dtmf').length, 'no dtmf request for RFC 4733');
  // SIP INFO: one request per digit, method info; bob's page shows what arrives
  await A.selectOption('#dtmf-method', 'info');
  for (const k of ['4', 'star']) await A.click(`#key-${k}`);
  await waitFor(() => reqs('dtmf').length === 2, 'two dtmf requests');
  assert(reqs('dtmf').every((m) => m.params.method === 'info' && m.params.digits.length === 1), JSON.stringify(reqs('dtmf')));
  await waitFor(async () => (await txt(B, 'call-dtmf-received')) === '4*', 'bob sees 4*');
  assert((await txt(A, 'call-dtmf-sent')) === '12#4*', 'digits shown');
  assert((await A.inputValue('#dial-to')) === 'bob@fake.test', 'the digits did not go to the dial field');
  assert(!(await A.locator('#error').isVisible()), await txt(A, 'error'));
});

test('hold mutes the microphone and shows held; resume undoes both', async () => {
  await A.click('#call-hold');
  await waitFor(async () => (await st(A, 'call-state')) === 'held', 'held');
  assert(await A.evaluate(() => window.gorgeeDemo.call.localStream.getAudioTracks().every((t) => !t.enabled)), 'mic off on hold');
  assert(await A.locator('#call-unhold').isEnabled() && !(await A.locator('#call-hold').isEnabled()), 'buttons follow');
  await A.click('#call-unhold');
  await waitFor(async () => (await st(A, 'call-state')) === 'answered', 'answered again');
  assert(await A.evaluate(() => window.gorgeeDemo.call.localStream.getAudioTracks().every((t) => t.enabled)), 'mic on again');
  await hears(B, 1000);
});

test('mute is local: no request, the far side hears silence, unmute restores', async () => {
  const before = srv.requests.length;
  await A.click('#call-mute');
  assert((await A.locator('#call-mute').getAttribute('aria-pressed')) === 'true', 'pressed');
  await sleep(500);
  const r = await B.evaluate(async () => {
    const ctx = new AudioContext();
    const an = ctx.createAnalyser();
    ctx.createMediaStreamSource(window.gorgeeDemo.call.remoteStream).connect(an);
    await new Promise((r) => setTimeout(r, 600));
    const t = new Float32Array(an.fftSize);
    an.getFloatTimeDomainData(t);
    ctx.close();
    return Math.sqrt(t.reduce((s, v) => s + v * v, 0) / t.length);
  });
  assert(r < 0.01, `bob still hears rms ${r}`);
  await A.click('#call-mute');
  await hears(B, 1000);
  assert(srv.requests.slice(before).every((m) => m.request === 'trickle'), 'no signaling for mute');
});

test('renegotiation both ways: alice restarts ICE (renegotiated event), bob answers a renegotiate event', async () => {
  const n = reqs('renegotiate').length;
  await A.evaluate(() => new Promise((resolve, reject) => {
    const c = window.gorgeeDemo.call;
    c.once('renegotiated', resolve);
    c.client.renegotiate(c, { iceRestart: true }).catch(reject);
  }));
  const rs = reqs('renegotiate').slice(n);
  assert(rs.length === 2 && rs[0].params.jsep.type === 'offer' && rs[1].params.jsep.type === 'answer', JSON.stringify(rs.map((m) => m.params.jsep.type)));
  await waitFor(() => A.evaluate(() => ['connected', 'completed'].includes(window.gorgeeDemo.call.pc.iceConnectionState)), 'ICE up after the restart');
  await hears(B, 1000);
  await hears(A, 600);
});

test('messages: alice sends one from the form; bob\'s page shows it', async () => {
  await A.fill('#message-to', 'bob@fake.test');
  await A.fill('#message-body', 'hello bob');
  await A.click('#message-send');
  await waitFor(async () => /alice@fake\.test: hello bob/.test(await txt(B, 'message-log')), 'bob sees it');
  assert(/→ sip:bob@fake\.test: hello bob/.test(await txt(A, 'message-log')), 'alice sees what she sent');
  await waitFor(async () => (await A.locator('#message-log li.out').getAttribute('data-status')) === 'delivered', 'delivered');
  const m = reqs('message')[0];
  assert(m.params.to === 'sip:bob@fake.test' && m.params.content_type === 'text/plain', JSON.stringify(m));
});

test('bob hangs up: both pages show the end and close their peer connections', async () => {
  await B.click('#call-hangup');
  await waitFor(async () => (await st(A, 'call-state')) === 'ended' && (await st(B, 'call-state')) === 'ended', 'both ended');
  assert(/remote/.test(await txt(A, 'call-quality')), `alice sees who ended it: ${await txt(A, 'call-quality')}`);
  for (const p of [A, B]) {
    const s = await p.evaluate(() => ({ pc: window.gorgeeDemo.call.pc.connectionState, tracks: window.gorgeeDemo.call.localStream.getTracks().map((t) => t.readyState) }));
    assert(s.pc === 'closed' && s.tracks.every((t) => t === 'ended'), JSON.stringify(s));
  }
  assert(await A.locator('#call-start').isEnabled(), 'alice can call again');
});

test('bob declines: alice sees a readable 486', async () => {
  await A.click('#call-start');
  await waitFor(() => B.locator('#incoming-panel').isVisible(), 'bob rings');
  await B.click('#incoming-decline');
  await waitFor(async () => (await st(A, 'call-state')) === 'ended', 'alice: ended');
  await waitFor(() => A.locator('#error').isVisible(), 'error shown');
  assert(/486/.test(await txt(A, 'error')), await txt(A, 'error'));
  assert(reqs('decline')[0].params.code === 486, 'decline code');
});

test('alice cancels before bob answers: bob stops ringing', async () => {
  await A.click('#call-start');
  await waitFor(() => B.locator('#incoming-panel').isVisible(), 'bob rings');
  await A.click('#call-hangup');
  await waitFor(async () => !(await B.locator('#incoming-panel').isVisible()), 'bob stops ringing');
  assert((await st(A, 'call-state')) === 'ended', 'alice: ended');
});

test('a call that ends before its reply arrives: the page shows the 404 and can call again', async () => {
  await A.fill('#dial-to', 'nobody@fake.test');
  await A.click('#call-start');
  await waitFor(async () => (await st(A, 'call-state')) === 'ended', 'ended');
  await waitFor(() => A.locator('#error').isVisible(), 'error shown');
  assert(/404/.test(await txt(A, 'error')), await txt(A, 'error'));
  assert(await A.locator('#call-start').isEnabled() && !(await A.locator('#call-hangup').isEnabled()), 'buttons');
  assert(await A.evaluate(() => window.gorgeeDemo.call.pc.connectionState === 'closed'), 'peer connection closed');
});

test('the connection drops and two reconnects fail: the third resumes the session', async () => {
  const s = [...srv.sessions.values()].find((x) => x.user === 'alice');
  srv.refuseUpgrades = 2;
  const resumes = reqs('resume').length;
  s.ws.terminate();
  await waitFor(async () => (await st(A, 'conn-state')) === 'reconnecting', 'reconnecting', 3000);
  await waitFor(() => reqs('resume').length > resumes && s.ws.readyState === 1, 'resumed', 10000);
  await waitFor(async () => (await st(A, 'conn-state')) === 'connected', 'connected again');
  assert(srv.refused === 2, `refused ${srv.refused}`);
  assert(await A.locator('#phone-panel').isVisible(), 'still logged in');
  assert((await A.evaluate(() => window.gorgeeDemo.client.session.session_id)) === s.session_id, 'same session');
});

test('a refused resume ends the session: the page returns to the login form with the reason', async () => {
  srv.refuseResume = true;
  const s = [...srv.sessions.values()].find((x) => x.user === 'alice');
  s.ws.terminate(); // the connection drops without a close frame (1006)
  await waitFor(() => A.locator('#login-panel').isVisible(), 'login form again');
  assert(/session ended/.test(await txt(A, 'error')), await txt(A, 'error'));
  assert((await st(A, 'conn-state')) === 'disconnected', 'disconnected');
  assert(reqs('resume').length >= 1, 'a resume was tried');
});

test('every request matched PROTOCOL.md\'s parameter lists', async () => {
  assert(!srv.violations.length, JSON.stringify(srv.violations).slice(0, 600));
  assert(srv.requests.every((m) => (Number.isInteger(m.id) && m.id > 0) || (typeof m.id === 'string' && m.id)), 'ids');
});

// ---------- runner ----------

await new Promise((r) => server.listen(PORT, '127.0.0.1', r));
const results = [];
for (const t of tests) {
  try {
    await t.fn();
    results.push({ name: t.name, ok: true });
  } catch (e) {
    results.push({ name: t.name, ok: false, why: e.stack || String(e) });
    for (const [n, p] of [['alice', A], ['bob', B]]) {
      if (p) await p.screenshot({ path: path.join(ART, `fail-${results.length}-${n}.png`), fullPage: true }).catch(() => {});
    }
  }
}
for (const b of browsers) await b.close().catch(() => {});
server.close();
wss.close();
console.log(`1..${results.length}`);
results.forEach((r, i) => {
  if (!r.ok) console.log('# ' + r.why.replace(/\n/g, '\n# '));
  console.log(`${r.ok ? 'ok' : 'not ok'} ${i + 1} - ${r.name}`);
});
console.log(`# artifacts: ${ART}`);
if (results.some((r) => !r.ok)) {
  console.log('# ---- page console\n# ' + consoleLines.slice(-40).join('\n# '));
  process.exit(1);
}
for (const n of fs.readdirSync(TMP)) if (path.join(TMP, n) !== ART) fs.rmSync(path.join(TMP, n), { recursive: true, force: true });
process.exit(0);
