// End to end: audio + video between headless Chromium (gorgee.js, BUNDLE on one ICE
// transport, fake camera) and a SIP video peer (separate RTP ports per m-section), through
// gorgee. The SIP peer is this script: a small SIP endpoint on UDP that answers and places
// INVITEs, and an RTP reflector per m-section that sends each packet back to its sender as a
// phone would send its own stream: another SSRC, no header extension (so the browser must
// demultiplex it by PT, as it must for real phones). The browser decodes its own camera
// frames coming back (getStats inbound-rtp video framesDecoded), and the packets are counted
// at the reflector and in gorgee's per-stream relay counters (the `stats` request).
//   - (a) the browser calls the SIP peer: audio and video both ways
//   - (b) the SIP peer calls the browser: audio and video both ways
//   - (c) renegotiation: an audio call gets video added by a browser re-offer, and loses it
//   - (d) renegotiation: the phone adds video to an audio call by re-INVITE, and removes it
//   - after each call: no call, relay session or port left (gorgee /metrics)
// Runs inside a loopback-only network namespace (e2e_netns.sh), so fixed ports are safe.
// usage: node e2e_video.mjs path/to/gorgee [artifact-dir]      Prints TAP.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

import { Phone, answerSdp, reflector, sdpMedia } from './sipphone.mjs';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');

const GORGEE = path.resolve(process.argv[2]);
const HERE = path.dirname(fileURLToPath(import.meta.url));
const WEB = path.join(HERE, '..', 'web-demo');
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'gorgee-e2e-video-'));

const HTTP = 18180, GSIP = 15160, PSIP = 15170, RTP_A = 21000, RTP_V = 21002;
const USER = 'vera', PASS = 'vera pass 9';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function assert(c, m) { if (!c) throw new Error(m || 'assertion failed'); }
const tests = [];
const test = (name, fn) => tests.push({ name, fn });
const procs = [];

function startProc(name, cmd, args, opts = {}) {
  const log = fs.openSync(path.join(TMP, `${name}.log`), 'w');
  const p = spawn(cmd, args, { stdio: ['ignore', log, log], ...opts });
  procs.push(p);
  return p;
}
const logOf = (name) => { try { return fs.readFileSync(path.join(TMP, `${name}.log`), 'utf8'); } catch { return ''; } };

const GARGS = ['--set', `general.data_dir=${TMP}/data`, '--set', 'general.log_level=info',
  '--set', 'http.listen=127.0.0.1', '--set', `http.port=${HTTP}`, '--set', `http.web_root=${WEB}`,
  '--set', 'sip.listen=127.0.0.1', '--set', `sip.udp_port=${GSIP}`, '--set', `sip.tcp_port=${GSIP}`,
  '--set', 'media.address=127.0.0.1', '--set', 'media.port_min=31000', '--set', 'media.port_max=31999',
  '--set', `calls.trunk=sip:127.0.0.1:${PSIP}`, '--set', 'calls.trusted=127.0.0.1'];

async function startGorgee() {
  execFileSync(GORGEE, [...GARGS, '--add-user', USER], { input: PASS + '\n', stdio: ['pipe', 'ignore', 'pipe'] });
  const g = startProc('gorgee', GORGEE, GARGS);
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

async function assertIdle(what) {
  let v;
  for (let i = 0; i < 50; i++) {
    v = [await metric('gorgee_calls'), await metric('gorgee_relay_sessions'), await metric('gorgee_relay_ports_in_use')];
    if (v.every((x) => x === 0)) return;
    await sleep(100);
  }
  throw new Error(`${what}: calls, relay sessions, ports in use = ${v}`);
}

// ---------- the SIP peer: sipphone.mjs, its answer on the reflectors ----------

const OFFER_AV = ['v=0', 'o=- 42 1 IN IP4 127.0.0.1', 's=video phone', 'c=IN IP4 127.0.0.1', 't=0 0',
  `m=audio ${RTP_A} RTP/AVP 0 101`, 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-15', 'a=ptime:20', 'a=sendrecv',
  `m=video ${RTP_V} RTP/AVP 100 99`, 'a=rtpmap:100 VP8/90000', 'a=rtpmap:99 H264/90000',
  'a=fmtp:99 profile-level-id=42e01f;packetization-mode=1', 'a=rtcp-fb:* nack pli', 'a=sendrecv', ''].join('\r\n');

// ---------- the browser ----------

let browser, page, phone, ra, rv;
const consoleLines = [];

// Runs in the page: the browser's RTP stats for the current call.
const pageStats = () => page.evaluate(async () => {
  const c = window.cur;
  if (!c || !c.pc) return null;
  const o = {};
  (await c.pc.getStats()).forEach((s) => {
    if (s.type === 'inbound-rtp') o[`in_${s.kind}`] = { packets: s.packetsReceived, bytes: s.bytesReceived, frames: s.framesDecoded };
    if (s.type === 'outbound-rtp') o[`out_${s.kind}`] = { packets: s.packetsSent, frames: s.framesEncoded };
  });
  o.bundle = [...new Set(c.pc.getTransceivers().map((t) => t.sender.transport).filter(Boolean))].length;
  o.ice = c.pc.iceConnectionState;
  return o;
});

// Until the browser has decoded `frames` frames of the video that came back, and got audio.
async function mediaFlows(what, frames = 30) {
  let st;
  for (let i = 0; i < 150; i++) {
    st = await pageStats();
    if (st?.in_video?.frames >= frames && st?.in_audio?.packets >= 50) return st;
    await sleep(100);
  }
  const relay = (await (await fetch(`http://127.0.0.1:${HTTP}/metrics`)).text()).split('\n')
    .filter((l) => /^gorgee_relay_(drops|packets)_total/.test(l) && !/ 0$/.test(l)).join(', ');
  let g = null;
  try { g = await gorgeeStats(); } catch { /* no call */ }
  throw new Error(`${what}: browser stats ${JSON.stringify(st)}; reflector audio ${ra.in}/${ra.out}, ` +
    `video ${rv.in}/${rv.out}; gorgee ${JSON.stringify(g)}; ${relay}`);
}

// gorgee's relay counters for the call (ws `stats`), from the page's session.
const gorgeeStats = () => page.evaluate(() => window.g.request('stats', { call_id: window.cur.id }));

async function hangupAndIdle(what) {
  await page.evaluate(() => window.cur.hangup());
  await assertIdle(what);
}

test('browser logs in with gorgee.js', async () => {
  await page.goto(`http://127.0.0.1:${HTTP}/`);
  await page.evaluate(async ({ user, pass }) => {
    const { GorgeeClient } = await import('/gorgee.js');
    window.g = new GorgeeClient(undefined, { video: true });
    window.g.on('incoming_call', (c) => { window.incoming = c; });
    await window.g.connect();
    await window.g.login({ username: user, password: pass });
  }, { user: USER, pass: PASS });
});

test('(a) browser calls the SIP video phone: audio and video both ways, one BUNDLE transport', async () => {
  ra.reset(); rv.reset();
  await page.evaluate(async (to) => {
    window.cur = await window.g.call(to);
    await new Promise((res, rej) => {
      window.cur.on('state', (s) => { if (s === 'answered') res(); if (s === 'ended') rej(new Error('ended')); });
      setTimeout(() => rej(new Error('not answered')), 15000);
    });
  }, `sip:phone@127.0.0.1:${PSIP}`);
  const offer = sdpMedia(phone.lastOffer);
  assert(offer.length === 2 && offer[1].type === 'video' && offer[1].port > 0 && offer[1].port !== offer[0].port,
    `the phone got video on its own port: ${phone.lastOffer}`);
  assert(!/BUNDLE|a=mid|extmap/.test(phone.lastOffer), 'no BUNDLE, mid or extmap toward SIP');
  const st = await mediaFlows('(a)');
  assert(st.bundle === 1, `one transport for audio and video (got ${st.bundle})`);
  const g = await gorgeeStats();
  assert(g.video && g.audio, `per-stream counters in stats: ${JSON.stringify(g)}`);
  // a: the browser's side (bundled); b: the phone's side of each stream
  assert(g.video.a.received_packets > 20 && g.video.b.received_packets > 20, `video counted both ways: ${JSON.stringify(g.video)}`);
  assert(g.audio.a.received_packets > 50 && g.audio.b.received_packets > 50, `audio counted both ways: ${JSON.stringify(g.audio)}`);
  assert(rv.in > 20 && rv.out > 20 && ra.in > 50, `reflector video ${rv.in}/${rv.out}, audio ${ra.in}/${ra.out}`);
  const vp8 = offer[1].pts.find((pt) => offer[1].lines.some((l) => l.startsWith(`a=rtpmap:${pt} VP8/`)));
  assert(rv.pts.has(vp8) && rv.pts.size === 1, `the phone got only the agreed VP8 PT ${vp8}: ${[...rv.pts.keys()]}`);
  console.log(`# (a) browser: video frames decoded ${st.in_video.frames}, video packets in ${st.in_video.packets}, ` +
    `out ${st.out_video.packets}; audio packets in ${st.in_audio.packets}`);
  console.log(`# (a) phone reflector: video ${rv.in} in / ${rv.out} out, audio ${ra.in} in / ${ra.out} out, RTCP ${rv.rtcp + ra.rtcp}`);
  console.log(`# (a) gorgee: video a ${g.video.a.received_packets} in / ${g.video.a.sent_packets} out, ` +
    `b ${g.video.b.received_packets} in / ${g.video.b.sent_packets} out`);
  await hangupAndIdle('(a)');
});

test('(b) the SIP video phone calls the browser: audio and video both ways', async () => {
  ra.reset(); rv.reset();
  await page.evaluate(() => { window.incoming = null; });
  const answered = phone.invite(`sip:${USER}@127.0.0.1:${GSIP}`, OFFER_AV);
  await page.waitForFunction(() => window.incoming && window.incoming.state === 'ringing', null, { timeout: 10000 });
  await page.evaluate(async () => { window.cur = window.incoming; await window.cur.answer({ video: true }); });
  const ans = sdpMedia(await answered);
  assert(ans.length === 2 && ans[1].type === 'video' && ans[1].port > 0 && ans[1].pts.length >= 1,
    `the phone's answer has video on its own port: ${JSON.stringify(ans)}`);
  const st = await mediaFlows('(b)');
  const g = await gorgeeStats();
  assert(g.video && g.video.a.received_packets > 20 && g.video.b.received_packets > 20, `video counted both ways: ${JSON.stringify(g.video)}`);
  console.log(`# (b) browser: video frames decoded ${st.in_video.frames}; phone reflector: video ${rv.in} in / ${rv.out} out; ` +
    `gorgee video a ${g.video.a.received_packets} in, b ${g.video.b.received_packets} in`);
  await phone.bye();
  await assertIdle('(b)');
});

test('(c) renegotiation: video added to an audio call by a browser re-offer, then removed', async () => {
  ra.reset(); rv.reset();
  await page.evaluate(async (to) => {
    window.cur = await window.g.call(to, { video: false });
    await new Promise((res, rej) => {
      window.cur.on('state', (s) => { if (s === 'answered') res(); if (s === 'ended') rej(new Error('ended')); });
      setTimeout(() => rej(new Error('not answered')), 15000);
    });
  }, `sip:phone@127.0.0.1:${PSIP}`);
  assert(!sdpMedia(phone.lastOffer).some((m) => m.type === 'video'), 'no video offered at first');
  const invites = phone.msgs.filter((m) => m.startsWith('INVITE ')).length;
  // add the camera and re-offer
  await page.evaluate(async () => {
    const c = window.cur;
    const cam = await navigator.mediaDevices.getUserMedia({ video: true });
    c.pc.addTrack(cam.getVideoTracks()[0], c.localStream);
    await new Promise((res, rej) => { c.once('renegotiated', res); window.g.renegotiate(c).catch(rej); setTimeout(() => rej(new Error('no renegotiated')), 10000); });
  });
  await phone.until(() => phone.msgs.filter((m) => m.startsWith('INVITE ')).length > invites, 're-INVITE');
  const re = sdpMedia(phone.lastOffer);
  assert(re.length === 2 && re[1].type === 'video' && re[1].port > 0, `re-INVITE adds video: ${phone.lastOffer}`);
  const st = await mediaFlows('(c) video added');
  console.log(`# (c) after the re-offer: video frames decoded ${st.in_video.frames}; phone reflector video ${rv.in} in / ${rv.out} out`);
  // remove it again: stop the video transceiver and re-offer (port 0 toward the phone)
  await page.evaluate(async () => {
    const c = window.cur;
    c.pc.getTransceivers().find((t) => t.receiver.track.kind === 'video').stop();
    await new Promise((res, rej) => { c.once('renegotiated', res); window.g.renegotiate(c).catch(rej); setTimeout(() => rej(new Error('no renegotiated')), 10000); });
  });
  await phone.until(() => /m=video 0 /.test(phone.lastOffer), 're-INVITE with video port 0');
  await sleep(500);
  const before = rv.in;
  await sleep(1000);
  assert(rv.in === before, `no video after its removal (${before} -> ${rv.in})`);
  const g = await gorgeeStats();
  assert(!g.video, `one stream left: ${JSON.stringify(g)}`);
  await hangupAndIdle('(c)');
});

// The phone's own video (it sends, the browser only receives): RTP with PT pt to port.
function phoneSendsVideo(port, pt, n) {
  for (let i = 0; i < n; i++) {
    const b = Buffer.alloc(12 + 200, i & 0xff);
    b[0] = 0x80; b[1] = pt; b.writeUInt16BE(i, 2); b.writeUInt32BE(i * 3000, 4); b.writeUInt32BE(0x11223344, 8);
    rv.rtp.send(b, port, '127.0.0.1');
  }
}

test('(d) renegotiation: the SIP phone adds video to an audio call by re-INVITE, then removes it', async () => {
  ra.reset(); rv.reset();
  const audioOnly = OFFER_AV.split('m=video')[0];
  await page.evaluate(() => { window.incoming = null; });
  const answered = phone.invite(`sip:${USER}@127.0.0.1:${GSIP}`, audioOnly);
  await page.waitForFunction(() => window.incoming && window.incoming.state === 'ringing', null, { timeout: 10000 });
  await page.evaluate(async () => { window.cur = window.incoming; await window.cur.answer({ video: false }); });
  assert(sdpMedia(await answered).length === 1, 'audio only at first');
  let st0;
  for (let i = 0; i < 100 && !(st0?.in_audio?.packets >= 20); i++) { await sleep(100); st0 = await pageStats(); }
  assert(st0?.in_audio?.packets >= 20, `audio flows before the re-INVITE: ${JSON.stringify(st0)}`);
  const ans = sdpMedia(await phone.reinvite(OFFER_AV.replace('o=- 42 1', 'o=- 42 2')));
  assert(ans.length === 2 && ans[1].type === 'video' && ans[1].port > 0, `the re-INVITE's answer has video: ${JSON.stringify(ans)}`);
  await page.waitForFunction(() => window.cur.pc.getTransceivers().some((t) => t.receiver.track.kind === 'video' && t.currentDirection), null, { timeout: 5000 });
  phoneSendsVideo(ans[1].port, 100, 100); // a burst on loopback: a few may be lost
  let st;
  for (let i = 0; i < 50 && !(st?.in_video?.packets >= 90); i++) { await sleep(100); st = await pageStats(); }
  const g = await gorgeeStats();
  const drops = (await (await fetch(`http://127.0.0.1:${HTTP}/metrics`)).text()).split('\n')
    .filter((l) => /^gorgee_relay_drops_total/.test(l) && !/ 0$/.test(l)).join(', ');
  assert(st?.in_video?.packets >= 90, `the browser got the phone's video: ${JSON.stringify(st)}; gorgee ${JSON.stringify(g.video)}; ${drops}`);
  // the phone called: it is leg a
  assert(g.video?.a?.received_packets >= 90 && g.video.a.sent_packets >= 90, `gorgee counted it: ${JSON.stringify(g.video)}`);
  console.log(`# (d) after the re-INVITE: the browser got ${st.in_video.packets} of the phone's 100 video packets; ` +
    `gorgee video a (phone) ${g.video.a.received_packets} in / ${g.video.a.sent_packets} out`);
  const off = sdpMedia(await phone.reinvite(OFFER_AV.replace('o=- 42 1', 'o=- 42 3').replace(`m=video ${RTP_V}`, 'm=video 0')));
  assert(off.length === 2 && off[1].port === 0, `video rejected in the answer: ${JSON.stringify(off)}`);
  await sleep(300);
  const g2 = await gorgeeStats();
  assert(!g2.video, `one stream left: ${JSON.stringify(g2)}`);
  await phone.bye();
  await assertIdle('(d)');
});

// ---------- run ----------

async function main() {
  let n = 0, failed = 0;
  try {
    phone = new Phone({ port: PSIP, gorgeePort: GSIP, answer: (offer) => answerSdp(offer, { rtpA: RTP_A, rtpV: RTP_V }) });
    await phone.bind();
    ra = reflector(RTP_A);
    rv = reflector(RTP_V);
    await Promise.all([ra.ready, rv.ready]);
    await startGorgee();
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium', headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--use-fake-device-for-media-stream',
        '--use-fake-ui-for-media-stream', '--allow-loopback-in-peer-connection',
        '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost'],
    });
    page = await browser.newPage();
    page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
  } catch (e) {
    console.log(`1..0 # SKIP setup failed: ${e.message}`);
    return 1;
  }
  console.log(`1..${tests.length}`);
  for (const t of tests) {
    n++;
    try {
      await t.fn();
      console.log(`ok ${n} - ${t.name}`);
    } catch (e) {
      failed++;
      console.log(`not ok ${n} - ${t.name}`);
      for (const l of String(e.stack || e).split('\n')) console.log(`#   ${l}`);
      for (const l of consoleLines.slice(-10)) console.log(`#   page ${l}`);
      for (const l of logOf('gorgee').split('\n').slice(-25)) console.log(`#   gorgee ${l}`);
      try { await page.evaluate(() => window.cur && window.cur.state !== 'ended' && window.cur.hangup()); } catch { /* gone */ }
    }
  }
  return failed ? 1 : 0;
}

const rc = await main().catch((e) => { console.log(`# ${e.stack || e}`); return 1; });
try { await browser?.close(); } catch { /* gone */ }
for (const p of procs) { try { p.kill('SIGTERM'); } catch { /* gone */ } }
try { phone?.sock.close(); ra?.close(); rv?.close(); } catch { /* closed */ }
fs.rmSync(TMP, { recursive: true, force: true });
process.exit(rc);
