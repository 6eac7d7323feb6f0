// End to end: the web demo served by gorgee, in headless Chromium, against baresip.
// Runs inside a loopback-only network namespace (e2e_netns.sh), so fixed ports are safe.
//   - the page: every id of web-demo/README.md, health, login errors, login, ping, resume,
//     an upstream account registered through the page (to gorgee's own registrar)
//   - (a) the browser calls baresip through gorgee's trunk; audio both ways (the page's
//     WebAudio analyser hears baresip's 440 Hz; baresip's recording holds the page's 1 kHz);
//     DTMF, hold and unhold from the page; the page hangs up
//   - (b) baresip calls the logged-in browser user; the page answers; audio both ways;
//     baresip hangs up; then a call the page declines
//   - (c) after each hangup: no call and no relay session (gorgee /metrics)
// usage: node e2e_webrtc.mjs path/to/gorgee [artifact-dir]      Prints TAP.
import { spawn, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');

const GORGEE = path.resolve(process.argv[2]);
const HERE = path.dirname(fileURLToPath(import.meta.url));
const WEB = path.join(HERE, '..', 'web-demo');
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'gorgee-e2e-'));
const ART = process.argv[3] ? path.resolve(process.argv[3], 'e2e-webrtc') : path.join(TMP, 'artifacts');
fs.rmSync(ART, { recursive: true, force: true }); // this run's screenshots only
fs.mkdirSync(ART, { recursive: true });

// A private namespace: fixed ports. baresip uses SIP+1 (TLS) and SIP+5 (ctrl_tcp).
const HTTP = 18080, GSIP = 15060, BSIP = 15070, BCTRL = BSIP + 5;
const PAGE_HZ = 1000, PHONE_HZ = 440;
const USER = 'erin', PASS = 'erin pass 7', ACC_USER = 'carol', ACC_PASS = 'carol-pass';
const SECRET = crypto.randomBytes(16).toString('hex'); // ws.token_secret, for the token login

// An HS256 JWT as ws/PROTOCOL.md "login" wants it.
function jwt(sub) {
  const b64u = (x) => Buffer.from(JSON.stringify(x)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const body = `${b64u({ alg: 'HS256', typ: 'JWT' })}.${b64u({ sub, aud: 'gorgee', iat: now, exp: now + 300 })}`;
  return `${body}.${crypto.createHmac('sha256', SECRET).update(body).digest('base64url')}`;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function assert(c, m) { if (!c) throw new Error(m || 'assertion failed'); }
class Skip extends Error {}
class Todo extends Error {} // a known failure, reported as TAP "not ok # TODO"
const tests = [];
const test = (name, fn) => tests.push({ name, fn });
const procs = [];

// ---------- peers ----------

function startProc(name, cmd, args, opts = {}) {
  const log = fs.openSync(path.join(TMP, `${name}.log`), 'w');
  const p = spawn(cmd, args, { stdio: ['ignore', log, log], ...opts });
  p.name = name;
  procs.push(p);
  return p;
}
const logOf = (name) => { try { return fs.readFileSync(path.join(TMP, `${name}.log`), 'utf8'); } catch { return ''; } };

const GARGS = ['--set', `general.data_dir=${TMP}/data`, '--set', 'general.log_level=info',
  '--set', 'http.listen=127.0.0.1', '--set', `http.port=${HTTP}`, '--set', `http.web_root=${WEB}`,
  '--set', 'sip.listen=127.0.0.1', '--set', `sip.udp_port=${GSIP}`, '--set', `sip.tcp_port=${GSIP}`,
  '--set', 'media.address=127.0.0.1', '--set', 'media.port_min=30000', '--set', 'media.port_max=30999',
  '--set', `calls.trunk=sip:127.0.0.1:${BSIP}`, '--set', 'calls.trusted=127.0.0.1',
  '--set', 'registrar.digest_algorithms=md5'];

async function startGorgee() {
  for (const [u, p] of [[USER, PASS], [ACC_USER, ACC_PASS]]) execFileSync(GORGEE, [...GARGS, '--add-user', u], { input: p + '\n', stdio: ['pipe', 'ignore', 'pipe'] });
  // E2E_GORGEE_WRAP="gdb -q -batch -ex run -ex bt --args" runs gorgee under a debugger
  const wrap = (process.env.E2E_GORGEE_WRAP || '').split(' ').filter(Boolean);
  const env = { env: { ...process.env, GORGEE_WS_TOKEN_SECRET: SECRET } };
  const g = wrap.length ? startProc('gorgee', wrap[0], [...wrap.slice(1), GORGEE, ...GARGS], env) : startProc('gorgee', GORGEE, GARGS, env);
  for (let i = 0; i < 100; i++) {
    try { if ((await fetch(`http://127.0.0.1:${HTTP}/healthz`)).ok) return g; } catch { /* not yet */ }
    await sleep(50);
  }
  throw new Error('gorgee did not start: ' + logOf('gorgee').slice(-800));
}

async function metric(name) {
  const body = await (await fetch(`http://127.0.0.1:${HTTP}/metrics`)).text();
  const line = body.split('\n').find((l) => l.startsWith(name + ' '));
  return line ? Number(line.split(' ')[1]) : NaN;
}

// (c): no call, relay session or media port left, within a few seconds of the end. A case
// may pass the counts it started with (`base`), so that one leak fails one case, not every
// later one. (A relay session returns its ports once its ICE agent is gone.)
async function assertIdle(what, base = { calls: 0, sessions: 0, ports: 0 }) {
  let calls, sessions, ports;
  for (let i = 0; i < 50; i++) {
    calls = await metric('gorgee_calls');
    sessions = await metric('gorgee_relay_sessions');
    ports = await metric('gorgee_relay_ports_in_use');
    if (calls === base.calls && sessions === base.sessions && ports === base.ports) return;
    await sleep(100);
  }
  throw new Error(`${what}: gorgee_calls ${calls}, gorgee_relay_sessions ${sessions}, gorgee_relay_ports_in_use ${ports} (expected ${JSON.stringify(base)})`);
}
const counts = async () => ({ calls: await metric('gorgee_calls'), sessions: await metric('gorgee_relay_sessions'),
  ports: await metric('gorgee_relay_ports_in_use') });

function startBaresip() {
  const d = path.join(TMP, 'baresip');
  fs.mkdirSync(path.join(d, 'rec'), { recursive: true });
  fs.writeFileSync(path.join(d, 'config'), [
    'poll_method epoll', `sip_listen 127.0.0.1:${BSIP}`, 'sip_trans_def udp', 'call_local_timeout 120',
    'call_max_calls 4', 'audio_player alsa,null', `audio_source ausine,${PHONE_HZ}`, 'audio_alert alsa,null',
    'ausrc_srate 48000', 'ausrc_channels 2', 'auplay_srate 48000', 'auplay_channels 2', 'audio_level no',
    'rtp_ports 20400-20449', 'rtcp_mux no', 'jitter_buffer_delay 5-10', 'net_interface 127.0.0.1',
    'dns_server 127.0.0.1:53', 'module_path /usr/lib/baresip/modules', 'module g711.so', 'module opus.so',
    'module ausine.so', 'module alsa.so', 'module sndfile.so', 'module_app account.so', 'module_app menu.so',
    'module ctrl_tcp.so', `ctrl_tcp_listen 127.0.0.1:${BCTRL}`, `snd_path ${d}/rec`, 'opus_bitrate 32000', ''].join('\n'));
  // no registration: gorgee reaches it as the trunk, and it calls gorgee's address directly
  fs.writeFileSync(path.join(d, 'accounts'), `<sip:bob@127.0.0.1:${BSIP}>;regint=0;answermode=auto;ptime=20\n`);
  fs.writeFileSync(path.join(d, 'contacts'), '');
  // line-buffered stdout: the test reads what baresip prints (DTMF, messages) as it happens
  const p = startProc('baresip', 'stdbuf', ['-oL', 'baresip', '-f', d]);
  p.dir = d;
  return p;
}

// baresip's ctrl_tcp: netstring-framed JSON; resolves with the response to our command.
function bctl(command, params = '') {
  return new Promise((resolve, reject) => {
    const token = `t${Math.random().toString(36).slice(2)}`;
    const s = net.connect(BCTRL, '127.0.0.1');
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`baresip ${command}: no response`)); }, 5000);
    s.on('connect', () => { const m = Buffer.from(JSON.stringify({ command, params, token })); s.write(`${m.length}:${m},`); });
    s.on('error', (e) => { clearTimeout(timer); reject(e); });
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const colon = buf.indexOf(':');
        if (colon < 0) return;
        const n = Number(buf.subarray(0, colon).toString());
        if (buf.length < colon + 1 + n + 1) return;
        const msg = JSON.parse(buf.subarray(colon + 1, colon + 1 + n).toString());
        buf = buf.subarray(colon + 2 + n);
        if (msg.response && msg.token === token) { clearTimeout(timer); s.end(); resolve(msg); return; }
      }
    });
  });
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

const baresipCalls = async () => ((await bctl('listcalls')).data || '').trim();

// A SIP MESSAGE (RFC 3428) from a UDP socket of our own; resolves with the final status code.
function sipMessage(ruri, body) {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket('udp4');
    const timer = setTimeout(() => { sock.close(); reject(new Error('no answer to MESSAGE')); }, 5000);
    sock.on('message', (m) => {
      const code = Number((/^SIP\/2\.0 (\d{3})/.exec(m.toString()) || [])[1]);
      if (code >= 200) { clearTimeout(timer); sock.close(); resolve(code); }
    });
    sock.bind(0, '127.0.0.1', () => {
      const port = sock.address().port, tag = crypto.randomBytes(4).toString('hex');
      const msg = [`MESSAGE ${ruri} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bK${tag}`,
        'Max-Forwards: 70', `From: <sip:pat@127.0.0.1:${port}>;tag=${tag}`, `To: <${ruri}>`,
        `Call-ID: ${tag}@127.0.0.1`, 'CSeq: 1 MESSAGE', 'Content-Type: text/plain',
        `Content-Length: ${Buffer.byteLength(body)}`, '', body].join('\r\n');
      sock.send(msg, GSIP, '127.0.0.1');
    });
  });
}

// ---------- audio checks ----------

// 16-bit PCM WAV -> {rate, mono Float32Array}; tolerates a wrong length in the header.
function readWav(file) {
  const b = fs.readFileSync(file);
  assert(b.toString('ascii', 0, 4) === 'RIFF' && b.toString('ascii', 8, 12) === 'WAVE', `${file}: not a WAV`);
  let off = 12, fmt = null;
  while (off + 8 <= b.length) {
    const id = b.toString('ascii', off, off + 4), len = b.readUInt32LE(off + 4);
    if (id === 'fmt ') fmt = { ch: b.readUInt16LE(off + 10), rate: b.readUInt32LE(off + 12), bits: b.readUInt16LE(off + 22) };
    if (id === 'data') {
      assert(fmt && fmt.bits === 16, `${file}: not 16-bit PCM`);
      const end = Math.min(b.length, off + 8 + (len || b.length));
      const n = Math.floor((end - off - 8) / (2 * fmt.ch));
      const mono = new Float32Array(n);
      for (let i = 0; i < n; i++) mono[i] = b.readInt16LE(off + 8 + i * 2 * fmt.ch) / 32768;
      return { rate: fmt.rate, mono };
    }
    off += 8 + len + (len & 1);
  }
  throw new Error(`${file}: no data chunk`);
}

// Per 1 s window: rms and the frequency (5 Hz steps, 100-4000 Hz) with the most Goertzel power.
function wavWindows(file) {
  const { rate, mono } = readWav(file);
  const out = [];
  for (let start = 0; start + rate <= mono.length; start += rate) {
    let sum = 0;
    for (let i = start; i < start + rate; i++) sum += mono[i] * mono[i];
    const rms = Math.sqrt(sum / rate);
    const seg = mono.subarray(start, start + 4096);
    let best = [0, 0];
    for (let f = 100; f < 4000; f += 5) {
      const k = 2 * Math.cos(2 * Math.PI * f / rate);
      let s1 = 0, s2 = 0;
      for (const x of seg) { const s0 = x + k * s1 - s2; s2 = s1; s1 = s0; }
      const p = s1 * s1 + s2 * s2 - k * s1 * s2;
      if (p > best[0]) best = [p, f];
    }
    out.push({ t: out.length, rms: +rms.toFixed(3), hz: best[1] });
  }
  return out;
}

// The recording holds the tone: at least 3 loud windows at hz, and most loud windows at it.
function assertTone(file, hz, tol = 25) {
  const w = wavWindows(file);
  const loud = w.filter((x) => x.rms >= 0.01);
  const good = loud.filter((x) => Math.abs(x.hz - hz) <= tol);
  assert(good.length >= 3 && good.length * 2 >= loud.length,
    `${path.basename(file)}: ${good.length}/${loud.length} loud windows at ${hz} Hz: ${JSON.stringify(w)}`);
  return `${good.length}/${w.length} s at ${hz} Hz`;
}

// The newest recording of what baresip decoded (sndfile: dump-...-dec.wav) made since `since`.
function newestDec(since) {
  const dir = path.join(TMP, 'baresip', 'rec');
  const f = fs.readdirSync(dir).filter((n) => n.endsWith('-dec.wav')).map((n) => path.join(dir, n))
    .filter((p) => fs.statSync(p).mtimeMs >= since).sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  assert(f.length, `no *-dec.wav in ${dir}: ${fs.readdirSync(dir).join(' ')}`);
  return f[0];
}

// In the page: the dominant frequency and rms of the current call's remote stream through a
// WebAudio analyser (getStats audioLevel stays 0 in headless Chromium: E2E.md).
async function pageHears(ms = 3000) {
  return page.evaluate(async (ms) => {
    const stream = window.gorgeeDemo.call?.remoteStream;
    if (!stream || !stream.getAudioTracks().length) return { error: 'no remote stream' };
    const ctx = new AudioContext();
    await ctx.resume();
    const an = ctx.createAnalyser();
    an.fftSize = 4096;
    ctx.createMediaStreamSource(stream).connect(an);
    const f = new Float32Array(an.frequencyBinCount), t = new Float32Array(an.fftSize);
    let best = { rms: 0, peakHz: 0 }, loud = 0, frames = 0;
    const t0 = Date.now();
    while (Date.now() - t0 < ms) {
      await new Promise((r) => setTimeout(r, 100));
      frames++;
      an.getFloatTimeDomainData(t);
      let sum = 0;
      for (const v of t) sum += v * v;
      const rms = Math.sqrt(sum / t.length);
      if (rms > 0.01) loud++;
      if (rms > best.rms) {
        an.getFloatFrequencyData(f);
        let bi = 0;
        for (let i = 1; i < f.length; i++) if (f[i] > f[bi]) bi = i;
        best = { rms: +rms.toFixed(4), peakHz: Math.round(bi * ctx.sampleRate / an.fftSize) };
      }
    }
    ctx.close();
    return { ...best, loud, frames };
  }, ms);
}

async function assertPageHears(hz, tol = 25) {
  const r = await pageHears();
  assert(!r.error && Math.abs(r.peakHz - hz) <= tol && r.loud * 2 >= r.frames,
    `page hears ${JSON.stringify(r)}, expected ${hz} Hz`);
  return r;
}

// ---------- the browser ----------

let browser, page, gorgee, phone, callsAvailable = null;
const consoleLines = [];
const text = (id) => page.locator(`#${id}`).textContent();
const state = (id) => page.locator(`#${id}`).getAttribute('data-state');
const visible = (id) => page.locator(`#${id}`).isVisible();

async function openBrowser() {
  const tone = path.join(TMP, 'tone.wav');
  execFileSync('sox', ['-n', '-r', '48000', '-c', '1', '-b', '16', tone, 'synth', '30', 'sine', String(PAGE_HZ), 'vol', '0.5']);
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream', '--allow-loopback-in-peer-connection',
      '--autoplay-policy=no-user-gesture-required', `--use-file-for-fake-audio-capture=${tone}`,
      '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost'],
  });
  page = await browser.newPage({ viewport: { width: 390, height: 900 } }); // a phone-sized screen
  page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
  await page.goto(`http://127.0.0.1:${HTTP}/`);
}

async function shot(name) {
  const f = path.join(ART, `${name}.png`);
  await page.screenshot({ path: f, fullPage: true });
  return f;
}

async function login(user, pass) {
  await page.fill('#login-username', user);
  await page.fill('#login-password', pass);
  await page.click('#login-submit');
}

function needCalls() {
  if (callsAvailable === null) throw new Error('could not ask gorgee whether it has calls (an earlier case failed)');
  if (!callsAvailable) throw new Skip('calls over WebSocket are not implemented by this gorgee (call: 404 unknown_request)');
}

// ---------- cases ----------

test('gorgee serves the demo: index, gorgee.js and softphone.js as JavaScript, health shown', async () => {
  for (const [f, type] of [['gorgee.js', 'text/javascript'], ['softphone.js', 'text/javascript'], ['softphone.css', 'text/css']]) {
    const r = await fetch(`http://127.0.0.1:${HTTP}/${f}`);
    assert(r.ok && r.headers.get('content-type').startsWith(type), `${f}: ${r.status} ${r.headers.get('content-type')}`);
  }
  await openBrowser();
  await waitFor(async () => /gateway ok, version/.test(await text('health')), 'health line');
});

test('every element id listed in web-demo/README.md exists in the page', async () => {
  const readme = fs.readFileSync(path.join(WEB, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Element ids'));
  const ids = new Set();
  for (const row of section.split('\n').filter((l) => l.startsWith('| `'))) {
    const first = row.split('|')[1];
    for (const m of first.matchAll(/`([a-z0-9-]+)`/g)) ids.add(m[1]);
  }
  for (let d = 1; d <= 8; d++) ids.add(`key-${d}`); // "key-0 … key-9"
  const dynamic = [...ids].filter((id) => id.includes('<'));
  const missing = [];
  for (const id of ids) if (!dynamic.includes(id) && (await page.locator(`#${id}`).count()) !== 1) missing.push(id);
  assert(ids.size > 50 && !missing.length, `missing ids: ${missing.join(' ')} (of ${ids.size})`);
});

test('a wrong password shows a readable error and leaves the user logged out', async () => {
  await login(USER, 'wrong');
  await waitFor(async () => visible('error'), 'error shown');
  const e = await text('error');
  assert(/login/.test(e) && /401/.test(e) && /unauthorized/.test(e), `error text: ${e}`);
  assert(await visible('login-panel') && !(await visible('phone-panel')), 'still logged out');
  await waitFor(async () => (await state('conn-state')) === 'disconnected', 'disconnected after 4401');
});

test('login with the user store password; the page shows the session; ping answers', async () => {
  await page.uncheck('#opt-audio-processing'); // a steady tone fades out with it on (E2E.md)
  await login(USER, PASS);
  await waitFor(async () => (await text('session-name')) === USER, 'session shown');
  assert(await visible('phone-panel') && !(await visible('login-panel')), 'phone shown, login hidden');
  assert((await state('conn-state')) === 'connected', 'connected badge');
  await page.click('#ping');
  await waitFor(async () => / ms$/.test(await text('ping-result')), 'ping result');
  assert(!logOf('gorgee').includes(PASS), 'the password never reaches the log');
  console.log(`# screenshot: ${await shot('logged-in')}`);
});

test('gorgee.js: errors are GorgeeError objects {code, name, message}', async () => {
  const r = await page.evaluate(async () => {
    try { await window.gorgeeDemo.client.request('frobnicate', {}); return 'resolved'; } catch (e) { return e.toJSON(); }
  });
  assert(r.code === 404 && r.name === 'unknown_request' && r.message, JSON.stringify(r));
  const bad = await page.evaluate(async () => {
    try { await window.gorgeeDemo.client.request('register', { uri: 42 }); return 'resolved'; } catch (e) { return e.toJSON(); }
  });
  assert(bad.code === 422 && bad.name === 'invalid_params', JSON.stringify(bad));
  // whether this gorgee has calls: an unknown call id is refused, but not as an unknown request
  const probe = await page.evaluate(async () => {
    try { await window.gorgeeDemo.client.request('hangup', { call_id: 'c-none' }); return {}; } catch (e) { return e.toJSON(); }
  });
  callsAvailable = probe.code !== 404 || probe.name !== 'unknown_request';
});

test('the connection drops; gorgee.js reconnects and resumes the same session', async () => {
  const before = await page.evaluate(() => window.gorgeeDemo.client.session.session_id);
  await page.evaluate(() => window.gorgeeDemo.client.ws.close(4000, 'test drop'));
  await waitFor(async () => (await state('conn-state')) === 'reconnecting', 'reconnecting badge', 3000);
  await waitFor(async () => (await state('conn-state')) === 'connected', 'connected again');
  const after = await waitFor(() => page.evaluate(() => window.gorgeeDemo.client.session &&
    window.gorgeeDemo.client.session.missed_events !== undefined && window.gorgeeDemo.client.session), 'resume result');
  assert(after.session_id === before && after.user === USER, JSON.stringify(after));
  assert(await visible('phone-panel'), 'still logged in');
});

// Registers carol's account through the page, to gorgee's own registrar; returns its row id.
async function registerAccount() {
  if (!(await page.locator('#accounts-panel details').evaluate((d) => d.open))) await page.click('#accounts-panel summary');
  await page.fill('#account-uri', `sip:${ACC_USER}@127.0.0.1:${GSIP}`);
  await page.fill('#account-username', ACC_USER);
  await page.fill('#account-password', ACC_PASS);
  await page.click('#account-submit');
  const li = await waitFor(() => page.evaluate(() => document.querySelector('#account-list li')?.id), 'account row');
  await waitFor(async () => (await state(`${li}-state`)) === 'registered', `${li} registered`);
  return li;
}

test('an account registered through the page (to gorgee\'s registrar) shows registered, then goes', async () => {
  const li = await registerAccount();
  assert((await page.locator('#dial-account option').count()) === 2, 'account offered in the dialer');
  await page.click(`#${li}-unregister`);
  await waitFor(async () => (await page.locator(`#${li}`).count()) === 0, 'account row removed');
});

test('(a) the page calls baresip through gorgee; audio flows both ways', async () => {
  needCalls();
  await page.fill('#dial-to', `sip:bob@127.0.0.1:${BSIP}`); // the trunk; baresip answers its own user only
  const t0 = Date.now();
  await page.click('#call-start');
  await waitFor(async () => (await state('call-state')) === 'answered', 'answered', 15000);
  await waitFor(async () => /sip:/.test(await baresipCalls()), 'baresip has the call');
  const heard = await assertPageHears(PHONE_HZ);
  await waitFor(async () => (await text('call-timer')) !== '00:00', 'call timer runs');
  await waitFor(async () => ['good', 'fair', 'poor'].includes(await text('call-quality')), 'quality shown');
  const level = await page.locator('#call-level').evaluate((m) => m.value);
  assert(level > 0, `level meter ${level}`);
  console.log(`# page hears ${JSON.stringify(heard)}; stats: ${await text('call-stats')}`);
  console.log(`# screenshot: ${await shot('a-browser-calls-baresip')}`);
  this_call.t0 = t0;
});
const this_call = {};

test('(a) the WebSocket drops during the call: the session resumes, the call and its audio stay', async () => {
  needCalls();
  const id = await page.evaluate(() => window.gorgeeDemo.call.id);
  await page.evaluate(() => window.gorgeeDemo.client.ws.close(4000, 'test drop'));
  await waitFor(async () => (await state('conn-state')) === 'reconnecting', 'reconnecting', 3000);
  await waitFor(async () => (await state('conn-state')) === 'connected', 'connected again');
  await waitFor(() => page.evaluate(() => window.gorgeeDemo.client.session?.missed_events !== undefined), 'resumed');
  assert((await state('call-state')) === 'answered' && (await page.evaluate(() => window.gorgeeDemo.call.id)) === id, 'same call, still answered');
  assert(await metric('gorgee_calls') === 1, 'gorgee still has the call');
  await assertPageHears(PHONE_HZ);
  // the resumed session still owns the call: a request on it is not refused as foreign
  const r = await page.evaluate(async () => {
    const c = window.gorgeeDemo.call;
    try { return await c.client.request('stats', { call_id: c.id }); } catch (e) { return e.toJSON(); }
  });
  assert(!r.code, `stats after resume: ${JSON.stringify(r)}`);
});

// Whether this gorgee knows a request (not 404 unknown_request); the call's own id is used.
async function offers(req, params) {
  const r = await page.evaluate(async ([req, params]) => {
    const c = window.gorgeeDemo.call;
    try { await c.client.request(req, { call_id: c.id, ...params }); return {}; } catch (e) { return e.toJSON(); }
  }, [req, params]);
  return !(r.code === 404 && r.name === 'unknown_request');
}

test('(a) hold and resume from the page: baresip is put on hold (sendonly) and back', async () => {
  needCalls();
  await page.click('#call-hold');
  await waitFor(async () => (await state('call-state')) === 'held', 'held');
  assert(await page.evaluate(() => window.gorgeeDemo.call.localStream.getAudioTracks().every((t) => !t.enabled)), 'mic off while held');
  // baresip answered the sendonly offer recvonly: it stops sending. Chrome's jitter buffer
  // conceals the first missing packets (a decaying tone), so wait for a quiet window.
  let quiet;
  for (let i = 0; i < 6 && !(quiet && quiet.rms < 0.01); i++) quiet = await pageHears(1000);
  assert(quiet.rms < 0.01, `the page still hears baresip while it is held: ${JSON.stringify(quiet)}`);
  await page.click('#call-unhold');
  await waitFor(async () => (await state('call-state')) === 'answered', 'answered again');
  assert(!(await visible('error')), `error shown: ${await text('error')}`);
  await assertPageHears(PHONE_HZ);
});

// Digits baresip reports after `from` characters of its log: "call: received DTMF: '5'
// (duration=100)" for SIP INFO, "received event: '1' (end=1)" for RFC 4733 RTP.
const baresipDigits = (from) => [...logOf('baresip').slice(from).matchAll(/received DTMF: '(.)'|received event: '(.)' \(end=1\)/g)]
  .map((m) => m[1] || m[2]).join('');

test('(a) DTMF by SIP INFO from the dial pad reaches baresip', async () => {
  needCalls();
  if (!(await offers('dtmf', { digits: '5', method: 'info' }))) throw new Skip('dtmf: 404 unknown_request from this gorgee');
  await waitFor(() => baresipDigits(0) === '5', 'baresip got the probe digit by INFO');
  const from = logOf('baresip').length;
  await page.selectOption('#dtmf-method', 'info');
  for (const k of ['7', 'star']) await page.click(`#key-${k}`);
  await waitFor(async () => (await text('call-dtmf-sent')) === '7*', 'digits shown');
  await waitFor(() => baresipDigits(from) === '7*', 'baresip got 7* by SIP INFO');
  await page.selectOption('#dtmf-method', 'rfc4733');
  assert(!(await visible('error')), `error shown: ${await text('error')}`);
});

test('(a) RFC 4733 DTMF from the dial pad (the browser\'s telephone-events) reaches baresip', async () => {
  needCalls();
  const from = logOf('baresip').length;
  await page.evaluate(() => {
    window.dtmfTones = '';
    window.gorgeeDemo.call.pc.getSenders().find((x) => x.dtmf).dtmf.ontonechange = (e) => { window.dtmfTones += e.tone; };
  });
  for (const k of ['1', 'hash']) await page.click(`#key-${k}`);
  await waitFor(async () => (await text('call-dtmf-sent')) === '7*1#', 'digits shown');
  await waitFor(() => page.evaluate(() => window.dtmfTones === '1#'), 'the browser played 1 #');
  assert(!(await visible('error')), `error shown: ${await text('error')}`);
  const sdps = await page.evaluate(() => {
    const pc = window.gorgeeDemo.call.pc, pick = (d) => d.sdp.split('\r\n').filter((l) => /^m=|telephone-event/.test(l)).join(' | ');
    return { offer: pick(pc.localDescription), answer: pick(pc.remoteDescription) };
  });
  // The page offered telephone-event/48000 and /8000, baresip accepts /8000 only: gorgee's
  // answer keeps /48000 too (Chrome sends events at its send codec's clock, end-only ones at
  // a mismatched clock, which baresip takes for one digit) and the relay translates PT and
  // duration toward baresip.
  assert(/telephone-event\/48000/.test(sdps.answer), `answer without telephone-event/48000: ${sdps.answer}`);
  await waitFor(() => baresipDigits(from) === '1#', `baresip got 1# as telephone-events (got '${baresipDigits(from)}'; page SDP ${JSON.stringify(sdps)})`);
});

test('(a) messages: the page sends one to baresip (delivered, 200); a SIP MESSAGE to erin shows in the page', async () => {
  needCalls();
  await page.fill('#message-to', `sip:bob@127.0.0.1:${BSIP}`);
  await page.fill('#message-body', 'hello baresip');
  await page.click('#message-send');
  const out = page.locator('#message-log li.out').last();
  await waitFor(async () => (await out.getAttribute('data-status')) !== 'sending', 'a delivery report');
  // baresip answers 200 (it prints messages only to a UI module, which it runs without here)
  assert((await out.getAttribute('data-status')) === 'delivered', `message: ${await out.textContent()}`);
  const code = await sipMessage(`sip:${USER}@127.0.0.1:${GSIP}`, 'hello erin from SIP');
  assert(code === 200, `MESSAGE to erin: ${code}`);
  await waitFor(async () => /← .*: hello erin from SIP/.test(await text('message-log')), 'the page shows it');
});

test('(c) the page hangs up: baresip recorded the page\'s tone; no call, no relay session left', async () => {
  needCalls();
  await sleep(1500); // more recording after the unhold
  await page.click('#call-hangup');
  await waitFor(async () => (await state('call-state')) === 'ended', 'page shows ended');
  await waitFor(async () => !/sip:/.test(await baresipCalls()), 'baresip call gone');
  await assertIdle('after the page hung up');
  await sleep(500);
  console.log(`# baresip heard ${assertTone(newestDec(this_call.t0), PAGE_HZ)}`);
});

test('(b) baresip calls the browser user; the page rings and answers; audio both ways', async () => {
  needCalls();
  this_call.t0 = Date.now();
  await bctl('dial', `sip:${USER}@127.0.0.1:${GSIP}`);
  await waitFor(async () => visible('incoming-panel'), 'incoming call shown', 15000);
  assert(/bob/.test(await text('incoming-from')), `caller: ${await text('incoming-from')}`);
  await page.click('#incoming-answer');
  await waitFor(async () => (await state('call-state')) === 'answered', 'answered', 15000);
  await assertPageHears(PHONE_HZ);
  console.log(`# screenshot: ${await shot('b-baresip-calls-browser')}`);
});

test('(b) RFC 4733 DTMF from the page reaches baresip (baresip offered PCMU first)', async () => {
  needCalls();
  const from = logOf('baresip').length;
  await page.selectOption('#dtmf-method', 'rfc4733');
  for (const k of ['3', 'star']) await page.click(`#key-${k}`);
  await waitFor(() => baresipDigits(from) === '3*', `baresip got 3* as telephone-events (got '${baresipDigits(from)}')`);
});

test('(b) baresip re-INVITEs: the call and its audio go on (the page answers a renegotiate offer)', async () => {
  needCalls();
  const n = (await page.evaluate(() => window.gorgeeDemo.client.calls.size));
  await bctl('reinvite');
  await waitFor(async () => /renegotiate c-/.test(await text('event-log')), 'a renegotiate event in the page');
  await sleep(500);
  assert((await state('call-state')) === 'answered', `state ${await state('call-state')}`);
  assert(await page.evaluate(() => window.gorgeeDemo.call.pc.signalingState === 'stable'), 'offer answered');
  assert(!(await visible('error')), `error shown: ${await text('error')}`);
  assert((await page.evaluate(() => window.gorgeeDemo.client.calls.size)) === n, 'still one call');
  await assertPageHears(PHONE_HZ);
});

test('(c) baresip hangs up: the page shows the end; no call, no relay session left', async () => {
  needCalls();
  await sleep(1500);
  await bctl('hangup');
  await waitFor(async () => (await state('call-state')) === 'ended', 'page shows ended');
  await assertIdle('after baresip hung up');
  await sleep(500);
  console.log(`# baresip heard ${assertTone(newestDec(this_call.t0), PAGE_HZ)}`);
});

test('(b) the page declines a call from baresip; nothing is left', async () => {
  needCalls();
  await bctl('dial', `sip:${USER}@127.0.0.1:${GSIP}`);
  await waitFor(async () => visible('incoming-panel'), 'incoming call shown', 15000);
  await page.click('#incoming-decline');
  await waitFor(async () => !(await visible('incoming-panel')), 'incoming panel hidden');
  await waitFor(async () => !/sip:/.test(await baresipCalls()), 'baresip call gone');
  await assertIdle('after the decline');
});

test('(b) baresip gives up while the page rings: the ringing stops; nothing is left', async () => {
  needCalls();
  await bctl('dial', `sip:${USER}@127.0.0.1:${GSIP}`);
  await waitFor(async () => visible('incoming-panel'), 'incoming call shown', 15000);
  await bctl('hangup');
  await waitFor(async () => !(await visible('incoming-panel')), 'incoming panel hidden');
  assert(await page.evaluate(() => !window.gorgeeDemo.incoming), 'no incoming call left in the page');
  await assertIdle('after the caller cancelled');
});

test('(b) two pages of the same user ring; the first answer wins, the other stops ringing', async () => {
  needCalls();
  const base = await counts();
  const ctx2 = await browser.newContext({ viewport: { width: 390, height: 900 } });
  const page2 = await ctx2.newPage();
  try {
    await page2.goto(`http://127.0.0.1:${HTTP}/`);
    await page2.uncheck('#opt-audio-processing');
    await page2.fill('#login-username', USER);
    await page2.fill('#login-password', PASS);
    await page2.click('#login-submit');
    await waitFor(async () => (await page2.locator('#session-name').textContent()) === USER, 'second page logged in');
    this_call.t0 = Date.now();
    await bctl('dial', `sip:${USER}@127.0.0.1:${GSIP}`);
    await waitFor(async () => (await visible('incoming-panel')) && page2.locator('#incoming-panel').isVisible(), 'both pages ring', 15000);
    await page2.click('#incoming-answer');
    await waitFor(async () => (await page2.locator('#call-state').getAttribute('data-state')) === 'answered', 'page 2 answered', 15000);
    await waitFor(async () => !(await visible('incoming-panel')), 'page 1 stops ringing');
    await bctl('hangup');
    await waitFor(async () => (await page2.locator('#call-state').getAttribute('data-state')) === 'ended', 'page 2 ended');
    await assertIdle('after the call to two pages', base);
  } finally {
    await ctx2.close();
  }
});

test('a call to a user baresip does not know ends with a readable 404 on the page', async () => {
  needCalls();
  const base = await counts();
  await page.fill('#dial-to', `sip:nobody@127.0.0.1:${BSIP}`);
  await page.click('#call-start');
  await waitFor(async () => (await state('call-state')) === 'ended', 'ended');
  await waitFor(async () => visible('error'), 'error shown');
  const e = await text('error');
  assert(/404/.test(e), `error: ${e}`);
  assert(await page.locator('#call-start').isEnabled(), 'can call again');
  await assertIdle('after the 404', base);
});

let accountRow = null;
test('(a) a call through the page\'s account goes out as carol (gorgee is also carol\'s registrar)', async () => {
  needCalls();
  const base = await counts();
  accountRow = await registerAccount();
  const accountId = accountRow.replace(/^account-/, '');
  await page.selectOption('#dial-account', accountId);
  await page.fill('#dial-to', `sip:bob@127.0.0.1:${BSIP}`);
  await page.click('#call-start');
  await waitFor(async () => (await state('call-state')) === 'answered', 'answered', 15000);
  const calls = await waitFor(async () => { const c = await baresipCalls(); return /sip:/.test(c) && c; }, 'baresip has the call');
  assert(/carol/.test(calls), `baresip sees the call from carol: ${calls}`);
  await assertPageHears(PHONE_HZ);
  await page.click('#call-hangup');
  await waitFor(async () => (await state('call-state')) === 'ended', 'ended');
  await assertIdle('after the account call', base);
  await page.selectOption('#dial-account', '');
});

test('(b) a call to the account\'s address rings the page, naming the account', async () => {
  needCalls();
  assert(accountRow, 'the account is registered');
  const base = await counts();
  await bctl('dial', `sip:${ACC_USER}@127.0.0.1:${GSIP}`);
  await waitFor(async () => visible('incoming-panel'), 'incoming call shown', 15000);
  const acc = await text('incoming-account');
  assert(acc.includes(`sip:${ACC_USER}@`), `incoming-account: ${acc}`);
  await page.click('#incoming-answer');
  await waitFor(async () => (await state('call-state')) === 'answered', 'answered', 15000);
  await assertPageHears(PHONE_HZ);
  await bctl('hangup');
  await waitFor(async () => (await state('call-state')) === 'ended', 'ended');
  await assertIdle('after the call to the account', base);
  await page.click(`#${accountRow}-unregister`);
  await waitFor(async () => (await page.locator(`#${accountRow}`).count()) === 0, 'account row removed');
});

// A second page in its own browser context, logged in with a token.
async function secondPage(user) {
  const ctx = await browser.newContext({ viewport: { width: 390, height: 900 } });
  const p = await ctx.newPage();
  p.on('pageerror', (e) => consoleLines.push(`page2 pageerror: ${e.message}`));
  await p.goto(`http://127.0.0.1:${HTTP}/`);
  await p.uncheck('#opt-audio-processing');
  await p.click('#login-panel summary');
  await p.fill('#login-token', jwt(user));
  await p.click('#login-submit');
  await waitFor(async () => (await p.locator('#session-name').textContent()) === user, `${user} logged in`);
  return { ctx, p };
}

test('(a) the page transfers baresip to another browser user (blind, REFER); the call ends here', async () => {
  needCalls();
  const base = await counts();
  const { ctx, p: tina } = await secondPage('tina');
  try {
    await page.fill('#dial-to', `sip:bob@127.0.0.1:${BSIP}`);
    await page.click('#call-start');
    await waitFor(async () => (await state('call-state')) === 'answered', 'answered', 15000);
    await page.fill('#call-transfer-to', `sip:tina@127.0.0.1:${GSIP}`);
    await page.click('#call-transfer');
    await waitFor(() => tina.locator('#incoming-panel').isVisible(), 'tina rings (baresip calls her)', 15000);
    assert(/bob/.test(await tina.locator('#incoming-from').textContent()), 'from bob');
    await tina.click('#incoming-answer');
    await waitFor(async () => (await tina.locator('#call-state').getAttribute('data-state')) === 'answered', 'tina answered', 15000);
    await waitFor(async () => (await state('call-state')) === 'ended', 'erin\'s call ended by the transfer', 15000);
    const st = await text('call-transfer-status'), how = await text('call-quality');
    assert(/transfer: 2\d\d/.test(st), `transfer status: ${st}`);
    assert(!(await visible('error')), `error shown: ${await text('error')}`);
    const heard = await tina.evaluate(async () => {
      const ctx = new AudioContext(), an = ctx.createAnalyser();
      an.fftSize = 4096;
      ctx.createMediaStreamSource(window.gorgeeDemo.call.remoteStream).connect(an);
      await new Promise((r) => setTimeout(r, 1500));
      const f = new Float32Array(an.frequencyBinCount);
      an.getFloatFrequencyData(f);
      let bi = 0;
      for (let i = 1; i < f.length; i++) if (f[i] > f[bi]) bi = i;
      ctx.close();
      return Math.round(bi * ctx.sampleRate / an.fftSize);
    });
    assert(Math.abs(heard - PHONE_HZ) <= 25, `tina hears ${heard} Hz`);
    console.log(`# transfer: erin's page says '${st}', '${how}'; tina hears ${heard} Hz`);
    await bctl('hangup');
    await waitFor(async () => (await tina.locator('#call-state').getAttribute('data-state')) === 'ended', 'tina: ended');
    await assertIdle('after the transfer', base);
  } finally {
    await ctx.close();
  }
});

test('(b) baresip transfers the page (REFER from SIP): the page accepts and talks to the target', async () => {
  needCalls();
  const base = await counts();
  await bctl('dial', `sip:${USER}@127.0.0.1:${GSIP}`);
  await waitFor(async () => visible('incoming-panel'), 'incoming call shown', 15000);
  await page.click('#incoming-answer');
  await waitFor(async () => (await state('call-state')) === 'answered', 'answered', 15000);
  await bctl('transfer', `sip:bob@127.0.0.1:${BSIP}`); // back to baresip itself: a second call it answers
  await waitFor(async () => visible('transfer-panel'), 'transfer request shown', 10000);
  assert(/sip:bob@127\.0\.0\.1/.test(await text('transfer-to')), `target: ${await text('transfer-to')}`);
  await page.click('#transfer-accept');
  await waitFor(async () => /transfer: 200 \(final\)/.test(await text('call-transfer-status')), 'transfer done', 15000);
  assert((await state('call-state')) === 'answered', `call state ${await state('call-state')}`);
  await assertPageHears(PHONE_HZ);
  await page.click('#call-hangup');
  await waitFor(async () => (await state('call-state')) === 'ended', 'ended');
  await waitFor(async () => !/sip:/.test(await baresipCalls()), 'baresip has no call left');
  await assertIdle('after the accepted transfer', base);
});

// A second gorgee, configured for relay-only ICE through a TURN server (coturn, started here):
// the page's remote candidates are all relayed, and the call's audio goes through coturn.
test('(t) relay-only ICE through a TURN server (coturn): a second page calls baresip, audio both ways', async () => {
  needCalls();
  const TURN = 13478, HTTP2 = HTTP + 1, GSIP2 = GSIP + 2, TURNPASS = 'turn-e2e-Pa55';
  const tdir = path.join(TMP, 'turn');
  fs.mkdirSync(tdir, { recursive: true });
  const turn = startProc('turnserver', 'turnserver', ['-n', '--no-cli', '--no-tls', '--no-dtls',
    '--listening-ip', '127.0.0.1', '--relay-ip', '127.0.0.1', '-p', String(TURN), '--min-port', '31500',
    '--max-port', '31599', '--allow-loopback-peers', '--realm', 'gorgee.test', '--no-tcp-relay', '--verbose',
    '--log-file=stdout', '--simple-log', `--pidfile=${tdir}/turn.pid`, `--db=${tdir}/turn.db`, '--lt-cred-mech', '--user', `gorgee:${TURNPASS}`]);
  await waitFor(() => /UDP listener opened/.test(logOf('turnserver')), 'coturn listens');
  const args = [...GARGS, '--set', `general.data_dir=${TMP}/data2`, '--set', `http.port=${HTTP2}`,
    '--set', `sip.udp_port=${GSIP2}`, '--set', `sip.tcp_port=${GSIP2}`, '--set', 'media.port_min=31000',
    '--set', 'media.port_max=31499', '--set', `media.turn_server=127.0.0.1:${TURN}`,
    '--set', 'media.turn_username=gorgee', '--set', 'media.ice_relay_only=true'];
  execFileSync(GORGEE, [...args, '--add-user', USER], { input: PASS + '\n', stdio: ['pipe', 'ignore', 'pipe'] });
  const g2 = startProc('gorgee-turn', GORGEE, args,
    { env: { ...process.env, GORGEE_WS_TOKEN_SECRET: SECRET, GORGEE_MEDIA_TURN_PASSWORD: TURNPASS } });
  await waitFor(async () => { try { return (await fetch(`http://127.0.0.1:${HTTP2}/healthz`)).ok; } catch { return false; } },
    'second gorgee starts');
  const main = page;
  page = await browser.newPage();
  try {
    await page.goto(`http://127.0.0.1:${HTTP2}/`);
    await login(USER, PASS);
    await waitFor(async () => (await state('conn-state')) === 'connected', 'logged in to the second gorgee');
    await page.fill('#dial-to', `sip:bob@127.0.0.1:${BSIP}`);
    await page.click('#call-start');
    await waitFor(async () => (await state('call-state')) === 'answered', 'answered', 15000);
    const heard = await assertPageHears(PHONE_HZ);
    const pair = await page.evaluate(async () => {
      const st = await window.gorgeeDemo.call.pc.getStats();
      const byId = new Map(); st.forEach((s) => byId.set(s.id, s));
      for (const s of byId.values()) {
        if (s.type !== 'transport' || !s.selectedCandidatePairId) continue;
        const p = byId.get(s.selectedCandidatePairId);
        return { remote: byId.get(p.remoteCandidateId)?.candidateType, port: byId.get(p.remoteCandidateId)?.port,
          received: p.bytesReceived, sent: p.bytesSent };
      }
      return null;
    });
    assert(pair && pair.remote === 'relay' && pair.port >= 31500 && pair.port <= 31599,
      `selected pair's remote candidate: ${JSON.stringify(pair)}`);
    assert(pair.received > 1000 && pair.sent > 1000, `bytes over the relayed pair: ${JSON.stringify(pair)}`);
    await page.click('#call-hangup');
    await waitFor(async () => (await state('call-state')) === 'ended', 'page shows ended');
    await waitFor(async () => !/sip:/.test(await baresipCalls()), 'baresip call gone');
    const tl = logOf('turnserver');
    for (const what of ['ALLOCATE processed, success', 'CHANNEL_BIND processed, success'])
      assert(tl.includes(what), `coturn log has "${what}"`);
    await waitFor(() => /lifetime=0/.test(logOf('turnserver')), 'gorgee freed its TURN allocation at the hangup');
    assert(!logOf('gorgee-turn').includes(TURNPASS), 'the TURN password is not in gorgee\'s log');
    console.log(`# page hears ${JSON.stringify(heard)} over ${JSON.stringify(pair)}`);
  } finally {
    await page.close().catch(() => {});
    page = main;
    g2.kill('SIGTERM');
    turn.kill('SIGTERM');
  }
});

test('logout returns to the login form', async () => {
  await page.click('#logout');
  await waitFor(async () => visible('login-panel'), 'login form');
  assert((await state('conn-state')) === 'disconnected', 'disconnected');
});

test('login with a token (JWT) from the token field, on the upgrade; a bad one is a readable error', async () => {
  await page.fill('#login-username', '');
  await page.fill('#login-password', '');
  await page.click('#login-panel summary');
  await page.fill('#login-token', jwt('tina').slice(0, -4) + 'AAAA');
  await page.click('#login-submit');
  await waitFor(async () => /the token refused/.test(await text('error')), 'error for the bad token');
  assert(await visible('login-panel'), 'still logged out');
  await page.fill('#login-token', jwt('tina'));
  await page.click('#login-submit');
  await waitFor(async () => (await text('session-name')) === 'tina', 'token session shown');
  assert(/access_token=/.test(logOf('gorgee')) === false, 'the token is not in gorgee\'s log');
  const r = await page.evaluate(async () => { try { await window.gorgeeDemo.client.ping(); return 'ok'; } catch (e) { return e.message; } });
  assert(r === 'ok', `ping on the token session: ${r}`);
  assert(!logOf('gorgee').includes(SECRET), 'the key never reaches the log');
  await page.click('#logout');
  await waitFor(async () => visible('login-panel'), 'login form');
});

// ---------- runner ----------

const alive = (p) => p.exitCode === null && p.signalCode === null;
// SIGTERM, then SIGKILL what is left after 3 s (baresip waits for BYEs to a dead gorgee).
async function stopAll() {
  for (const p of procs) if (alive(p)) { try { p.kill('SIGTERM'); } catch { /* gone */ } }
  for (let i = 0; i < 30 && procs.some(alive); i++) await sleep(100);
  for (const p of procs) if (alive(p)) { try { p.kill('SIGKILL'); } catch { /* gone */ } }
}
process.on('SIGTERM', () => { for (const p of procs) if (alive(p)) p.kill('SIGKILL'); process.exit(1); });

const results = [];
let setupError = null;
try {
  gorgee = await startGorgee();
  phone = startBaresip();
  await waitFor(() => bctl('listcalls').then(() => true), 'baresip ctrl_tcp');
} catch (e) { setupError = e; }
for (const t of tests) {
  if (setupError) { results.push({ name: t.name, ok: false, why: 'setup: ' + setupError.message }); continue; }
  try {
    await t.fn();
    results.push({ name: t.name, ok: true });
  } catch (e) {
    if (e instanceof Skip) { results.push({ name: t.name, ok: true, skip: e.message }); continue; }
    if (e instanceof Todo) { results.push({ name: t.name, ok: false, todo: e.message }); continue; }
    results.push({ name: t.name, ok: false, why: e.stack || String(e) });
    if (page) { try { console.log(`# failure screenshot: ${await shot('fail-' + results.length)}`); } catch { /* closed */ } }
  }
}
if (browser) await browser.close().catch(() => {});
if (phone && alive(phone)) phone.kill('SIGTERM');
let gorgeeRc = null;
if (gorgee && !alive(gorgee)) {
  results.push({ name: 'gorgee still runs at the end', ok: false, why: `gorgee died: exit ${gorgee.exitCode} signal ${gorgee.signalCode}` });
} else if (gorgee) {
  gorgee.kill('SIGTERM');
  gorgeeRc = await Promise.race([new Promise((r) => gorgee.on('exit', (c) => r(c))), sleep(15000).then(() => 'timeout')]);
  results.push({ name: 'gorgee exits 0 on SIGTERM', ok: gorgeeRc === 0, why: `exit ${gorgeeRc}` });
}
await stopAll();
console.log(`1..${results.length}`);
results.forEach((r, i) => {
  if (!r.ok && !r.todo) console.log('# ' + r.why.replace(/\n/g, '\n# '));
  const todo = r.todo ? ' # TODO ' + r.todo.replace(/\n/g, ' ') : '';
  console.log(`${r.ok ? 'ok' : 'not ok'} ${i + 1} - ${r.name}${r.skip ? ' # SKIP ' + r.skip : ''}${todo}`);
});
console.log(`# artifacts: ${ART}; logs: ${TMP}`);
if (results.some((r) => !r.ok && !r.todo)) {
  for (const n of ['gorgee', 'baresip']) console.log(`# ---- ${n}.log (tail)\n# ` + logOf(n).slice(-3000).replace(/\n/g, '\n# '));
  console.log('# ---- page console\n# ' + consoleLines.slice(-40).join('\n# '));
  process.exit(1);
}
for (const n of fs.readdirSync(TMP)) if (path.join(TMP, n) !== ART && n !== 'artifacts') fs.rmSync(path.join(TMP, n), { recursive: true, force: true });
if (!ART.startsWith(TMP)) fs.rmSync(TMP, { recursive: true, force: true });
process.exit(0);
