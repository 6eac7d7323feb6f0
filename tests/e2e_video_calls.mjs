// End to end: video in the call shapes beyond one browser and one SIP peer, through gorgee,
// with real packets on loopback. The SIP peers are sipphone.mjs (SIP over UDP, an RTP port
// per m-section that reflects or sends and counts packets and payload types); the browsers
// are headless Chromium pages (gorgee.js, fake camera and microphone).
//   - (e) SIP ⇄ SIP: phone A calls phone B (the trunk) with audio and video; B numbers VP8
//     otherwise (100 for A's 96) and takes no rtcp-mux on video while A muxes: packets and
//     PTs checked at both phones, RTCP both ways, gorgee's per-stream counters (GET /calls)
//   - (f) WS ⇄ WS: one browser calls another with audio and video: each decodes the other's
//     camera over its own BUNDLE transport
//   - (g) a SIP peer that answers the browser's VP8 96 as 100: the relay renumbers both ways
//     (the phone sees only 100, the browser decodes the echo)
//   - (h) an offerless INVITE to the browser: gorgee offers audio only (ws/PROTOCOL.md);
//     the phone's answer in the ACK numbers the audio codec otherwise (renumbered by the
//     relay); the browser then adds video by a re-offer and the phone gets it
//   - (i) SIP ⇄ SIP over SDES-SRTP (srtp.mjs): A's video in a suite of its own
//     (AES_256_CM_HMAC_SHA1_80 beside AES_CM_128 audio), B's in AES_CM_128; each phone
//     protects and unprotects with the keys the SDP gave it
//   - (j) SIP ⇄ SIP renegotiation: video added to an audio call by A's re-INVITE, then
//     removed (port 0): its ports on both sides return
//   - (k) a DTLS-SRTP SIP video peer (baresip: dtls_srtp, vp8, fakevideo; UDP/TLS/RTP/SAVP
//     without ICE) calls the browser: the video has its own DTLS association on its own
//     ports (RFC 5764 without BUNDLE) and flows both ways
//   - after each call: no call, relay session or port left (gorgee /metrics)
// Runs inside a loopback-only network namespace (e2e_netns.sh), so fixed ports are safe.
// usage: node e2e_video_calls.mjs path/to/gorgee [artifact-dir]      Prints TAP.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

import crypto from 'node:crypto';

import { Phone, answerSdp, ptOf, reflector, rtcpPortOf, sdpMedia, sleep } from './sipphone.mjs';
import { cryptoOf, srtpContext } from './srtp.mjs';
import { ctrl, startBaresip } from './baresip.mjs';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');

const GORGEE = path.resolve(process.argv[2]);
const HERE = path.dirname(fileURLToPath(import.meta.url));
const WEB = path.join(HERE, '..', 'web-demo');
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'gorgee-e2e-vcalls-'));

const HTTP = 18190, GSIP = 15260, PSIP_A = 15270, PSIP_B = 15280;
const A_AUDIO = 22000, A_VIDEO = 22002, B_AUDIO = 22010, B_VIDEO = 22012;
const BSIP = 15290, BCTRL = 15295, BRTP = 23000; // baresip
const USERS = [['vera', 'vera pass 9'], ['walt', 'walt pass 7']];

function assert(c, m) { if (!c) throw new Error(m || 'assertion failed'); }
const tests = [];
const test = (name, fn) => tests.push({ name, fn });
const procs = [];

function startProc(name, cmd, args) {
  const log = fs.openSync(path.join(TMP, `${name}.log`), 'w');
  const p = spawn(cmd, args, { stdio: ['ignore', log, log] });
  procs.push(p);
  return p;
}
const logOf = (name) => { try { return fs.readFileSync(path.join(TMP, `${name}.log`), 'utf8'); } catch { return ''; } };

const GARGS = ['--set', `general.data_dir=${TMP}/data`, '--set', 'general.log_level=info',
  '--set', 'http.listen=127.0.0.1', '--set', `http.port=${HTTP}`, '--set', `http.web_root=${WEB}`,
  '--set', 'sip.listen=127.0.0.1', '--set', `sip.udp_port=${GSIP}`, '--set', `sip.tcp_port=${GSIP}`,
  '--set', 'media.address=127.0.0.1', '--set', 'media.port_min=32000', '--set', 'media.port_max=32999',
  '--set', `calls.trunk=sip:127.0.0.1:${PSIP_B}`, '--set', 'calls.trusted=127.0.0.1'];

async function startGorgee() {
  for (const [user, pass] of USERS)
    execFileSync(GORGEE, [...GARGS, '--add-user', user], { input: pass + '\n', stdio: ['pipe', 'ignore', 'pipe'] });
  startProc('gorgee', GORGEE, GARGS);
  for (let i = 0; i < 100; i++) {
    try { if ((await fetch(`http://127.0.0.1:${HTTP}/healthz`)).ok) return; } catch { /* not yet */ }
    await sleep(50);
  }
  throw new Error('gorgee did not start: ' + logOf('gorgee').slice(-800));
}

const httpText = async (p) => (await fetch(`http://127.0.0.1:${HTTP}${p}`)).text();

async function metric(name) {
  const line = (await httpText('/metrics')).split('\n').find((l) => l.startsWith(name + ' '));
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

// gorgee's per-stream counters of the one call in progress, from GET /calls (each dump asks
// the relay for the snapshot the next one shows): {audio: [[a in, a out], [b in, b out]], video}
async function callCounters() {
  await httpText('/calls');
  await sleep(200);
  const text = await httpText('/calls');
  const out = { text };
  for (const k of ['audio', 'video']) {
    const m = new RegExp(`${k}-packets=(\\d+)/(\\d+),(\\d+)/(\\d+)`).exec(text);
    if (m) out[k] = [[Number(m[1]), Number(m[2])], [Number(m[3]), Number(m[4])]];
  }
  return out;
}

const relayDrops = async () => (await httpText('/metrics')).split('\n')
  .filter((l) => /^gorgee_relay_drops_total/.test(l) && !/ 0$/.test(l)).join(', ');

// ---------- the phones ----------

let phoneA, phoneB, aa, av, ba, bv;
let answerB = {}; // options of phone B's answer (answerSdp) for the test in progress

const OFFER_A = ['v=0', 'o=- 4711 1 IN IP4 127.0.0.1', 's=phone A', 'c=IN IP4 127.0.0.1', 't=0 0',
  `m=audio ${A_AUDIO} RTP/AVP 0 101`, 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-15', 'a=ptime:20', 'a=sendrecv',
  `m=video ${A_VIDEO} RTP/AVP 96 97`, 'a=rtpmap:96 VP8/90000', 'a=rtpmap:97 H264/90000',
  'a=fmtp:97 profile-level-id=42e01f;packetization-mode=1', 'a=rtcp-fb:* nack pli', 'a=rtcp-mux', 'a=sendrecv', ''].join('\r\n');

// ---------- the browsers ----------

let browser;
const pages = {};
const consoleLines = [];

async function openPage(user, pass) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  page.on('console', (m) => consoleLines.push(`${user} ${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => consoleLines.push(`${user} pageerror: ${e.message}`));
  await page.goto(`http://127.0.0.1:${HTTP}/`);
  await page.evaluate(async ({ u, p }) => {
    const { GorgeeClient } = await import('/gorgee.js');
    window.g = new GorgeeClient(undefined, { video: true });
    window.g.on('incoming_call', (c) => { window.incoming = c; });
    await window.g.connect();
    await window.g.login({ username: u, password: p });
  }, { u: user, p: pass });
  return page;
}

// The page's RTP stats for its current call.
const pageStats = (page) => page.evaluate(async () => {
  const c = window.cur;
  if (!c || !c.pc) return null;
  const o = {};
  (await c.pc.getStats()).forEach((s) => {
    if (s.type === 'inbound-rtp') o[`in_${s.kind}`] = { packets: s.packetsReceived, frames: s.framesDecoded };
    if (s.type === 'outbound-rtp') o[`out_${s.kind}`] = { packets: s.packetsSent, frames: s.framesEncoded };
  });
  o.bundle = [...new Set(c.pc.getTransceivers().map((t) => t.sender.transport).filter(Boolean))].length;
  return o;
});

// Until the page decoded `frames` video frames and got `audio` audio packets.
async function mediaFlows(page, what, { frames = 30, audio = 50 } = {}) {
  let st;
  for (let i = 0; i < 150; i++) {
    st = await pageStats(page);
    if ((st?.in_video?.frames ?? 0) >= frames && (st?.in_audio?.packets ?? 0) >= audio) return st;
    await sleep(100);
  }
  throw new Error(`${what}: browser stats ${JSON.stringify(st)}; ${await relayDrops()}`);
}

const gorgeeStats = (page) => page.evaluate(() => window.g.request('stats', { call_id: window.cur.id }));

async function browserCalls(page, to, opts) {
  await page.evaluate(async ({ to, opts }) => {
    window.cur = await window.g.call(to, opts);
    await new Promise((res, rej) => {
      window.cur.on('state', (s) => { if (s === 'answered') res(); if (s === 'ended') rej(new Error('ended')); });
      setTimeout(() => rej(new Error('not answered')), 15000);
    });
  }, { to, opts });
}

async function browserAnswers(page, opts) {
  await page.waitForFunction(() => window.incoming && window.incoming.state === 'ringing', null, { timeout: 10000 });
  await page.evaluate(async (o) => { window.cur = window.incoming; window.incoming = null; await window.cur.answer(o); }, opts);
}

// ---------- cases ----------

test('two browsers log in with gorgee.js', async () => {
  for (const [u, p] of USERS) pages[u] = await openPage(u, p);
});

test('(e) SIP ⇄ SIP: audio and video relayed, VP8 renumbered 96 ⇄ 100, rtcp-mux on one side only', async () => {
  [aa, av, ba, bv].forEach((r) => r.reset());
  answerB = { videoPt: 100, videoMux: false };
  const ans = sdpMedia(await phoneA.invite(`sip:5550100@127.0.0.1:${GSIP}`, OFFER_A));
  const offB = sdpMedia(phoneB.lastOffer);
  // B's offer: video on ports of its own, no BUNDLE; A's answer: video on other ports, VP8 96
  assert(offB.length === 2 && offB[1].type === 'video' && offB[1].port > 0 && offB[1].port !== offB[0].port,
    `B got video on its own port: ${phoneB.lastOffer}`);
  assert(!/BUNDLE|a=mid|extmap/.test(phoneB.lastOffer), 'no BUNDLE, mid or extmap toward SIP');
  assert(ans.length === 2 && ans[1].port > 0 && ans[1].port !== ans[0].port && ans[1].port !== offB[1].port,
    `A's answer has video on a port of its own: ${JSON.stringify(ans)}`);
  assert(ptOf(ans[1], 'VP8') === 96 && ans[1].pts.length === 1, `A's answer keeps A's VP8 96: ${JSON.stringify(ans[1])}`);
  assert(ans[1].lines.includes('a=rtcp-mux'), `A's video keeps rtcp-mux: ${JSON.stringify(ans[1])}`);
  assert(!phoneB.lastAnswer.includes('a=rtcp-mux') && offB[1].port + 1 === rtcpPortOf(offB[1]),
    `B's video has RTCP on its own port: ${JSON.stringify(offB[1])}`);
  // A sends; B echoes what it gets (with the PT it got). The relay's worker takes B's answer
  // a moment after the 200 left (a message beside the sockets): what came before has no
  // address to go to yet (dropped, "no_remote"), so A starts a little later.
  await sleep(300);
  for (let i = 0; i < 10; i++) {
    aa.send(0, 10, ans[0].port, { size: 160, step: 160 });
    av.send(96, 10, ans[1].port, { size: 900 });
    await sleep(20);
  }
  for (let i = 0; i < 5; i++) {
    av.sendRtcp(ans[1].port, { muxed: true });
    bv.sendRtcp(rtcpPortOf(offB[1]), { muxed: false });
  }
  await phoneA.until(() => av.in >= 95 && aa.in >= 95 && bv.rtcp >= 5 && av.rtcp >= 5, 'media back at A', 5000)
    .catch(async (e) => {
      throw new Error(`${e.message}: A audio ${aa.in} video ${av.in} rtcp ${av.rtcp}; B audio ${ba.in} video ${bv.in} rtcp ${bv.rtcp}; ` +
        `${await relayDrops()}; ${(await callCounters()).text}; B's offer ${JSON.stringify(offB)}`);
    });
  assert(bv.in >= 95 && ba.in >= 95, `B got audio ${ba.in}, video ${bv.in}`);
  assert([...bv.pts.keys()].join() === '100', `B got VP8 only as its 100: ${[...bv.pts.keys()]}`);
  assert([...av.pts.keys()].join() === '96', `A got VP8 only as its 96: ${[...av.pts.keys()]}`);
  assert([...aa.pts.keys()].join() === '0' && [...ba.pts.keys()].join() === '0', 'audio PCMU both ways');
  const g = await callCounters();
  assert(g.video && g.audio, `per-stream counters in /calls: ${g.text}`);
  assert(g.video[0][0] >= 100 && g.video[1][0] >= 100 && g.video[0][1] >= 100 && g.video[1][1] >= 100,
    `video counted both ways (A in/out, B in/out): ${JSON.stringify(g.video)}`);
  assert(g.audio[0][0] >= 100 && g.audio[1][0] >= 100, `audio counted both ways: ${JSON.stringify(g.audio)}`);
  console.log(`# (e) A sent 100 audio + 100 video + 5 RTCP; got back audio ${aa.in}, video ${av.in} (PT ${[...av.pts.keys()]}), RTCP ${av.rtcp}`);
  console.log(`# (e) B got audio ${ba.in}, video ${bv.in} (PT ${[...bv.pts.keys()]}), RTCP ${bv.rtcp} on its RTCP port`);
  console.log(`# (e) gorgee video A ${g.video[0].join('/')} B ${g.video[1].join('/')}, audio A ${g.audio[0].join('/')} B ${g.audio[1].join('/')} (in/out)`);
  await phoneA.bye();
  await assertIdle('(e)');
});

test('(f) WS ⇄ WS: a browser calls a browser, audio and video both ways, one BUNDLE transport each', async () => {
  const [vera, walt] = [pages.vera, pages.walt];
  const calling = browserCalls(vera, `sip:walt@127.0.0.1:${GSIP}`, { video: true });
  await browserAnswers(walt, { video: true });
  await calling;
  const sv = await mediaFlows(vera, '(f) vera');
  const sw = await mediaFlows(walt, '(f) walt');
  assert(sv.bundle === 1 && sw.bundle === 1, `one transport each: ${sv.bundle}, ${sw.bundle}`);
  const g = await gorgeeStats(vera);
  assert(g.a.received_packets > 100 && g.b.received_packets > 100 && g.a.sent_packets > 100 && g.b.sent_packets > 100,
    `gorgee relayed both ways: ${JSON.stringify(g)}`);
  // per stream, counted by PT (no streams in the relay: both transports carry both as they are)
  assert(g.video?.a?.received_packets >= 20 && g.video.b.received_packets >= 20 && g.video.a.sent_packets >= 20 &&
    g.audio?.a?.received_packets >= 50 && g.audio.b.received_packets >= 50,
    `gorgee's per-stream counters: ${JSON.stringify({ audio: g.audio, video: g.video })}`);
  console.log(`# (f) vera decoded ${sv.in_video.frames} frames (${sv.in_video.packets} video packets), walt ${sw.in_video.frames} ` +
    `(${sw.in_video.packets}); gorgee a ${g.a.received_packets} in / ${g.a.sent_packets} out, b ${g.b.received_packets} in / ${g.b.sent_packets} out; ` +
    `video a ${g.video.a.received_packets} / b ${g.video.b.received_packets} in, audio a ${g.audio.a.received_packets} / b ${g.audio.b.received_packets} in`);
  await vera.evaluate(() => window.cur.hangup());
  await assertIdle('(f)');
});

test('(g) a SIP peer answers VP8 96 as 100: the relay renumbers both ways', async () => {
  [ba, bv].forEach((r) => r.reset());
  answerB = { videoPt: 100 };
  const vera = pages.vera;
  await browserCalls(vera, `sip:phone@127.0.0.1:${PSIP_B}`, { video: true });
  const off = sdpMedia(phoneB.lastOffer);
  const vp8 = ptOf(off[1], 'VP8');
  assert(vp8 !== undefined && vp8 !== 100, `the browser's VP8 is not 100 (${vp8})`);
  assert(/m=video \d+ RTP\/AVP 100\r\n/.test(phoneB.lastAnswer), `the phone answered VP8 as 100: ${phoneB.lastAnswer}`);
  const st = await mediaFlows(vera, '(g)');
  assert([...bv.pts.keys()].join() === '100', `the phone got VP8 only as its 100: ${[...bv.pts.keys()]}`);
  const g = await gorgeeStats(vera);
  assert(g.video.a.received_packets > 20 && g.video.b.received_packets > 20, `video counted: ${JSON.stringify(g.video)}`);
  console.log(`# (g) browser VP8 ${vp8}, phone VP8 100: the phone got ${bv.in} video packets, all PT 100; ` +
    `the browser decoded ${st.in_video.frames} frames of the echo (PT 100 back to ${vp8})`);
  await vera.evaluate(() => window.cur.hangup());
  await assertIdle('(g)');
});

test('(h) an offerless INVITE to the browser: audio only, then the browser adds video', async () => {
  [ba, bv].forEach((r) => r.reset());
  answerB = { audioPt: 120 }; // the ACK's answer numbers the browser's first audio codec 120
  const vera = pages.vera;
  const calling = phoneB.invite(`sip:vera@127.0.0.1:${GSIP}`, '');
  await vera.waitForFunction(() => window.incoming && window.incoming.state === 'ringing', null, { timeout: 10000 });
  const offer = await vera.evaluate(() => window.incoming.remoteOffer?.sdp || '');
  assert(/m=audio /.test(offer) && !/m=video /.test(offer), `gorgee offers the browser audio only: ${offer}`);
  await browserAnswers(vera, { video: false });
  const ok = sdpMedia(await calling);
  assert(ok.length === 1 && ok[0].type === 'audio', `the 200's offer to the phone is audio only: ${JSON.stringify(ok)}`);
  const first = ok[0].pts[0];
  assert(first !== 120 && /m=audio \d+ RTP\/AVP 120\r\n/.test(phoneB.lastAnswer), `the ACK renumbers ${first} as 120: ${phoneB.lastAnswer}`);
  answerB = {};
  let st;
  for (let i = 0; i < 100 && !(st?.in_audio?.packets >= 50); i++) { await sleep(100); st = await pageStats(vera); }
  assert(st?.in_audio?.packets >= 50 && ba.in >= 50, `audio flows: browser ${JSON.stringify(st)}, phone ${ba.in}`);
  assert([...ba.pts.keys()].join() === '120', `the phone got audio only as its 120: ${[...ba.pts.keys()]}`);
  const invites = phoneB.msgs.filter((m) => m.startsWith('INVITE ')).length;
  await vera.evaluate(async () => {
    const c = window.cur;
    const cam = await navigator.mediaDevices.getUserMedia({ video: true });
    c.pc.addTrack(cam.getVideoTracks()[0], c.localStream);
    await new Promise((res, rej) => { c.once('renegotiated', res); window.g.renegotiate(c).catch(rej); setTimeout(() => rej(new Error('no renegotiated')), 10000); });
  });
  await phoneB.until(() => phoneB.msgs.filter((m) => m.startsWith('INVITE ')).length > invites, 're-INVITE');
  const re = sdpMedia(phoneB.lastOffer);
  assert(re.length === 2 && re[1].type === 'video' && re[1].port > 0, `the re-INVITE adds video: ${phoneB.lastOffer}`);
  st = await mediaFlows(vera, '(h) video added');
  console.log(`# (h) offerless: audio only at first (browser ${st.in_audio.packets} audio packets); after the browser's re-offer ` +
    `it decoded ${st.in_video.frames} frames of the phone's echo, the phone got ${bv.in} video packets`);
  await phoneB.bye();
  await assertIdle('(h)');
});

test('(i) SIP ⇄ SIP over SDES-SRTP: the video in a suite and key of its own on each side', async () => {
  [aa, av, ba, bv].forEach((r) => r.reset());
  const key = (n) => crypto.randomBytes(n);
  const ka = key(30), kv = key(46); // A's audio (AES_CM_128) and video (AES_256_CM) keys
  answerB = { sdes: { audio: key(30), video: key(30) } };
  const offer = OFFER_A.replace(/RTP\/AVP/g, 'RTP/SAVP')
    .replace('a=ptime:20', `a=ptime:20\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${ka.toString('base64')}`)
    .replace('a=rtcp-mux', `a=rtcp-mux\r\na=crypto:2 AES_256_CM_HMAC_SHA1_80 inline:${kv.toString('base64')}`);
  const ans = sdpMedia(await phoneA.invite(`sip:5550101@127.0.0.1:${GSIP}`, offer));
  const offB = sdpMedia(phoneB.lastOffer), ansB = sdpMedia(phoneB.lastAnswer);
  const [gaA, gaV, gbA, gbV] = [cryptoOf(ans[0]), cryptoOf(ans[1]), cryptoOf(offB[0]), cryptoOf(offB[1])];
  assert(gaA?.suite === 'AES_CM_128_HMAC_SHA1_80' && gaV?.suite === 'AES_256_CM_HMAC_SHA1_80' && gaV.tag === 2,
    `A's answer: audio AES_CM_128, video its own AES_256_CM with the offer's tag: ${JSON.stringify(ans)}`);
  assert(gbA?.suite === 'AES_CM_128_HMAC_SHA1_80' && gbV?.suite === 'AES_CM_128_HMAC_SHA1_80' && !gbA.key.equals(gbV.key),
    `B's offer: a key per m-section: ${phoneB.lastOffer.replace(/inline:\S+/g, 'inline:…')}`);
  aa.srtp = { tx: srtpContext(gaA.suite, ka), rx: srtpContext(gaA.suite, gaA.key) };
  av.srtp = { tx: srtpContext(gaV.suite, kv), rx: srtpContext(gaV.suite, gaV.key) };
  ba.srtp = { rx: srtpContext(gbA.suite, gbA.key), tx: srtpContext(cryptoOf(ansB[0]).suite, answerB.sdes.audio) };
  bv.srtp = { rx: srtpContext(gbV.suite, gbV.key), tx: srtpContext(cryptoOf(ansB[1]).suite, answerB.sdes.video) };
  await sleep(300); // as in (e)
  for (let i = 0; i < 5; i++) {
    aa.send(0, 10, ans[0].port, { size: 160, step: 160 });
    av.send(96, 10, ans[1].port, { size: 900 });
    await sleep(20);
  }
  await phoneA.until(() => av.in >= 48 && aa.in >= 48, 'SRTP back at A', 5000)
    .catch(async (e) => {
      throw new Error(`${e.message}: A audio ${aa.in} video ${av.in} bad ${aa.bad + av.bad}; B audio ${ba.in} video ${bv.in} bad ` +
        `${ba.bad + bv.bad}; ${await relayDrops()}; ${(await callCounters()).text}`);
    });
  assert(ba.in >= 48 && bv.in >= 48 && aa.bad + av.bad + ba.bad + bv.bad === 0,
    `every packet authenticated: B audio ${ba.in}, video ${bv.in}; bad ${aa.bad}/${av.bad}/${ba.bad}/${bv.bad}`);
  const g = await callCounters();
  assert(/video-a [^\n]*suite=AES_256_CM_HMAC_SHA1_80/.test(g.text) && /video-b [^\n]*suite=AES_CM_128_HMAC_SHA1_80/.test(g.text),
    `/calls names each side's video suite: ${g.text}`);
  assert(!/inline:|[A-Za-z0-9+/]{40}/.test(g.text), 'no key material in /calls');
  console.log(`# (i) SDES: A (video AES_256_CM) got back audio ${aa.in}, video ${av.in}; B (video AES_CM_128) got audio ${ba.in}, ` +
    `video ${bv.in}; none failed authentication; gorgee video A ${g.video[0].join('/')} B ${g.video[1].join('/')}`);
  await phoneA.bye();
  await assertIdle('(i)');
  [aa, av, ba, bv].forEach((r) => r.reset());
});

test('(j) SIP ⇄ SIP renegotiation: video added by re-INVITE, then removed', async () => {
  [aa, av, ba, bv].forEach((r) => r.reset());
  answerB = {};
  const audioOnly = OFFER_A.split('m=video')[0];
  const ans = sdpMedia(await phoneA.invite(`sip:5550102@127.0.0.1:${GSIP}`, audioOnly));
  assert(ans.length === 1 && !/m=video/.test(phoneB.lastOffer), 'audio only at first');
  const ports = await metric('gorgee_relay_ports_in_use');
  const re = sdpMedia(await phoneA.reinvite(OFFER_A.replace('o=- 4711 1', 'o=- 4711 2')));
  const offB = sdpMedia(phoneB.lastOffer);
  assert(re.length === 2 && re[1].port > 0 && offB.length === 2 && offB[1].port > 0,
    `video added on both sides: A got ${JSON.stringify(re)}, B got ${phoneB.lastOffer}`);
  assert(await metric('gorgee_relay_ports_in_use') === ports + 2, 'one more port slot per side');
  await sleep(300);
  for (let i = 0; i < 5; i++) {
    av.send(96, 10, re[1].port, { size: 900 });
    await sleep(20);
  }
  await phoneA.until(() => av.in >= 48, 'video back at A', 5000)
    .catch(async (e) => { throw new Error(`${e.message}: A video ${av.in}, B video ${bv.in}; ${await relayDrops()}`); });
  const g = await callCounters();
  assert(g.video && g.video[0][0] >= 50 && g.video[1][0] >= 48, `video counted: ${g.text}`);
  const off = sdpMedia(await phoneA.reinvite(OFFER_A.replace('o=- 4711 1', 'o=- 4711 3').replace(`m=video ${A_VIDEO}`, 'm=video 0')));
  assert(off.length === 2 && off[1].port === 0 && /m=video 0 /.test(phoneB.lastOffer), `video removed on both sides: ${JSON.stringify(off)}`);
  let left;
  for (let i = 0; i < 30 && (left = await metric('gorgee_relay_ports_in_use')) !== ports; i++) await sleep(100);
  assert(left === ports, `the video ports returned: ${left} in use, ${ports} before`);
  const before = bv.in;
  av.send(96, 10, re[1].port, { size: 900 });
  await sleep(300);
  assert(bv.in === before && !(await callCounters()).video, 'no video relayed after its removal');
  console.log(`# (j) re-INVITE added video (A got ${av.in} back, gorgee A ${g.video[0].join('/')} B ${g.video[1].join('/')}), ` +
    `removed it: ports in use back to ${left}`);
  await phoneA.bye();
  await assertIdle('(j)');
});

test('(k) a DTLS-SRTP SIP video peer (baresip) calls the browser: video over an association of its own', async () => {
  const vera = pages.vera;
  await vera.evaluate(() => { window.incoming = null; });
  const before = (logOf('gorgee').match(/DTLS-SRTP up on the RTP socket/g) || []).length;
  const bs = await startBaresip(path.join(TMP, 'baresip'), { sipPort: BSIP, ctrlPort: BCTRL, rtpMin: BRTP,
    extraModules: ['dtls_srtp.so', 'vp8.so', 'fakevideo.so'], log: path.join(TMP, 'baresip.log'),
    extraConfig: ['video_source fakevideo,nil', 'video_display fakevideo,nil', 'video_size 320x240', 'video_fps 15'],
    accounts: [`<sip:bob@127.0.0.1:${GSIP}>;regint=0;answermode=auto;ptime=20;mediaenc=dtls_srtp`] });
  procs.push(bs);
  try {
    await ctrl(BCTRL, 'dial', `sip:vera@127.0.0.1:${GSIP}`);
    await vera.waitForFunction(() => window.incoming && window.incoming.state === 'ringing', null, { timeout: 10000 });
    const offer = await vera.evaluate(() => window.incoming.remoteOffer?.sdp || '');
    assert(/m=video [1-9]/.test(offer), `baresip's video offered to the browser: ${offer}`);
    await browserAnswers(vera, { video: true });
    let st, g;
    for (let i = 0; i < 100; i++) {
      await sleep(100);
      st = await pageStats(vera);
      g = await gorgeeStats(vera).catch(() => null);
      if (st?.in_video?.frames >= 10 && g?.video?.b?.sent_packets >= 20 && g?.video?.a?.received_packets >= 20) break;
    }
    const ups = (logOf('gorgee').match(/DTLS-SRTP up on the RTP socket/g) || []).length - before;
    assert(st?.in_video?.frames >= 10, `the browser decoded baresip's video: ${JSON.stringify(st)}; ${await relayDrops()}`);
    assert(g?.video?.a?.received_packets >= 20 && g.video.b.sent_packets >= 20,
      `the video crossed DTLS both ways (a: baresip in, b: browser's out to baresip): ${JSON.stringify(g?.video)}; ${await relayDrops()}`);
    assert(ups >= 2, `an association for audio and one for video: ${ups}`);
    console.log(`# (k) baresip DTLS video: the browser decoded ${st.in_video.frames} frames; gorgee video a (baresip) ` +
      `${g.video.a.received_packets} in, b (browser) ${g.video.b.received_packets} in / ${g.video.b.sent_packets} out to baresip; ` +
      `${ups} DTLS associations up on RTP sockets`);
    await vera.evaluate(() => window.cur.hangup());
    await assertIdle('(k)');
  } finally {
    bs.kill('SIGTERM');
  }
});

// ---------- run ----------

async function main() {
  let n = 0, failed = 0;
  try {
    phoneA = new Phone({ port: PSIP_A, gorgeePort: GSIP, name: 'phonea', answer: () => '' });
    phoneB = new Phone({ port: PSIP_B, gorgeePort: GSIP, name: 'phone',
      answer: (offer) => answerSdp(offer, { rtpA: B_AUDIO, rtpV: B_VIDEO, ...answerB }) });
    await Promise.all([phoneA.bind(), phoneB.bind()]);
    aa = reflector(A_AUDIO, { echo: false });
    av = reflector(A_VIDEO, { echo: false });
    ba = reflector(B_AUDIO);
    bv = reflector(B_VIDEO);
    await Promise.all([aa.ready, av.ready, ba.ready, bv.ready]);
    await startGorgee();
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium', headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--use-fake-device-for-media-stream',
        '--use-fake-ui-for-media-stream', '--allow-loopback-in-peer-connection',
        '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost'],
    });
  } catch (e) {
    console.log(`1..0 # SKIP setup failed: ${e.message}`);
    return 1;
  }
  const only = process.env.GORGEE_CASES ? new RegExp(process.env.GORGEE_CASES) : null;
  const run = tests.filter((t, i) => i === 0 || !only || only.test(t.name));
  console.log(`1..${run.length}`);
  for (const t of run) {
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
      for (const p of Object.values(pages)) {
        try { await p.evaluate(() => window.cur && window.cur.state !== 'ended' && window.cur.hangup()); } catch { /* gone */ }
      }
    }
  }
  return failed ? 1 : 0;
}

const rc = await main().catch((e) => { console.log(`# ${e.stack || e}`); return 1; });
try { await browser?.close(); } catch { /* gone */ }
for (const p of procs) { try { p.kill('SIGTERM'); } catch { /* gone */ } }
try { phoneA?.close(); phoneB?.close(); [aa, av, ba, bv].forEach((r) => r?.close()); } catch { /* closed */ }
fs.rmSync(TMP, { recursive: true, force: true });
process.exit(rc);
