// A WebSocket client calls baresip (a real SIP phone) through gorgee and audio flows both
// ways: baresip's 440 Hz sine reaches the client as PCMU (checked by frequency), the
// client's 1000 Hz tone reaches baresip (checked in baresip's recording); then baresip calls
// the logged-in WS user, the client answers, baresip hangs up; a WS user transfers baresip
// (REFER) to another WS user, whom baresip then calls itself; baresip transfers the WS user
// (its /transfer: REFER to gorgee), the user accepts and gorgee calls the target (baresip's
// own address again: the only SIP phone here) in its place. The client offers plain
// RTP/AVP (the browser's ICE/DTLS path is tested with Chromium in e2e tests).
// usage: node ws_baresip.mjs path/to/gorgee     Prints TAP.
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { WsClient, freePort, baresipPort } from './wsclient.mjs';
import { startGorgee, ulawDecode, freq, sendTone, recordedTone, startBaresip, ctrl as bctl, webrtcAnswer,
  noCallsLeft, tapMain } from './baresip.mjs';

const require = createRequire(import.meta.url);
const WebSocket = require('ws');
const GORGEE = process.argv[2];
const tests = [];
const test = (name, fn) => tests.push({ name, fn });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function assert(cond, msg) { if (!cond) throw new Error(msg || 'assertion failed'); }

const DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'gorgee-wsbs-'));
let http, sip, phonePort, gw, phone, logs = '';

async function start() {
  [http, sip, phonePort] = [await freePort(), await freePort(), await baresipPort()];
  const media = 10000 + (process.pid % 40) * 250 + 150;
  gw = await startGorgee(GORGEE, { dir: DIR, http, sip, phonePort, media, extra: [],
    onLog: (d) => { logs += d; } });
  // baresip: auto-answer, 440 Hz sine, records what it receives, ctrl_tcp for dialling
  phone = await startBaresip(path.join(DIR, 'bob'), { sipPort: phonePort, ctrlPort: phonePort + 5,
    rtpMin: media + 100, extraModules: [], log: path.join(DIR, 'baresip.log'),
    accounts: [`<sip:bob@127.0.0.1:${sip}>;regint=0;answermode=auto;ptime=20`] });
}

const ctrl = (command, params) => bctl(phonePort + 5, command, params);

class Client extends WsClient {
  constructor() {
    super(`ws://127.0.0.1:${http}/`, 10000);
  }
}
async function login(user = 'erin') {
  const c = new Client();
  await c.until(() => c.ws.readyState === WebSocket.OPEN, 'open');
  assert((await c.req('login', { username: user, password: `${user}-pass` })).result, 'login');
  return c;
}
const settle = () => noCallsLeft(http);

test('WS client -> gorgee -> baresip: 440 Hz from baresip and 1000 Hz to it, through the relay', async () => {
  const c = await login();
  const rtp = dgram.createSocket('udp4');
  await new Promise((r) => rtp.bind(0, '127.0.0.1', r));
  const heard = [];
  rtp.on('message', (m) => { if ((m[1] & 0x7f) === 0 && m.length > 12) for (const b of m.subarray(12)) heard.push(ulawDecode(b)); });
  const sdp = ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0',
    `m=audio ${rtp.address().port} RTP/AVP 0`, 'a=rtpmap:0 PCMU/8000', 'a=ptime:20', 'a=sendrecv', ''].join('\r\n');
  const r = await c.req('call', { to: 'sip:bob@127.0.0.1', jsep: { type: 'offer', sdp } });
  assert(r.result, JSON.stringify(r));
  const ans = await c.state(r.result.call_id, 'answered');
  const relayPort = Number(/m=audio (\d+)/.exec(ans.data.jsep.sdp)[1]);
  // 3 s of a 1000 Hz tone, 20 ms packets
  await sendTone(rtp, relayPort, 1000);
  assert(heard.length >= 8000, `only ${heard.length} samples from baresip`);
  const f = freq(heard.slice(-8000), 8000);
  assert(Math.abs(f - 440) < 20, `baresip's tone arrived at ${f.toFixed(1)} Hz`);
  const st = await c.req('stats', { call_id: r.result.call_id });
  assert(st.result.a.received_packets >= 100 && st.result.b.received_packets >= 100, JSON.stringify(st));
  await c.req('hangup', { call_id: r.result.call_id });
  await c.state(r.result.call_id, 'ended');
  rtp.close(); c.ws.close();
  // baresip's recording of what it received (the decoded stream): a 1000 Hz tone
  await sleep(500);
  const heardTone = recordedTone(path.join(DIR, 'bob', 'rec'));
  assert(heardTone.loud > heardTone.rate / 2, `baresip heard silence (${heardTone.loud} loud samples of ${heardTone.total})`);
  assert(Math.abs(heardTone.hz - 1000) < 40, `baresip heard ${heardTone.hz.toFixed(1)} Hz`);
  await settle();
});

test('baresip -> gorgee -> WS user: incoming_call, answer, baresip hangs up', async () => {
  const c = await login();
  await ctrl('dial', `sip:erin@127.0.0.1:${sip}`);
  const inc = await c.event('incoming_call');
  assert(/bob/.test(inc.data.from) && /UDP\/TLS\/RTP\/SAVPF/.test(inc.data.jsep.sdp), JSON.stringify(inc.data).slice(0, 300));
  const o = inc.data.jsep.sdp;
  const mid = (/a=mid:(\S+)/.exec(o) || [, '0'])[1];
  const answer = ['v=0', 'o=- 2 2 IN IP4 127.0.0.1', 's=-', 't=0 0', `a=group:BUNDLE ${mid}`,
    'm=audio 9 UDP/TLS/RTP/SAVPF 0', 'c=IN IP4 0.0.0.0', 'a=ice-ufrag:wxyz', 'a=ice-pwd:abcdefghijklmnopqrstuvwx',
    'a=fingerprint:sha-256 ' + Array(32).fill('CD').join(':'), 'a=setup:active', `a=mid:${mid}`,
    'a=sendrecv', 'a=rtcp-mux', 'a=rtpmap:0 PCMU/8000', ''].join('\r\n');
  assert((await c.req('answer', { call_id: inc.call_id, jsep: { type: 'answer', sdp: answer } })).result);
  await sleep(500);
  const calls = await ctrl('listcalls');
  assert(/ESTABLISHED|established|\d+:\d+/.test(JSON.stringify(calls)), `baresip: ${JSON.stringify(calls)}`);
  await ctrl('hangup');
  const e = await c.state(inc.call_id, 'ended');
  assert(e.data.by === 'remote', JSON.stringify(e));
  c.ws.close();
  await settle();
});

test('blind transfer of baresip (RFC 3515): the WS user REFERs baresip to another WS user; baresip calls her, its NOTIFY 200 ends the first call', async () => {
  const c = await login();
  const g = await login('gina');
  const sdp = ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0',
    'm=audio 40000 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000', 'a=sendrecv', ''].join('\r\n');
  const r = await c.req('call', { to: 'sip:bob@127.0.0.1', jsep: { type: 'offer', sdp } });
  const id = r.result.call_id;
  await c.state(id, 'answered');
  const t = await c.req('transfer', { call_id: id, to: `sip:gina@127.0.0.1:${sip}` });
  assert(t.result && t.result.code === 202, JSON.stringify(t));
  const inc = await g.event('incoming_call');
  assert(/bob/.test(inc.data.from), JSON.stringify(inc.data).slice(0, 200));
  assert((await g.req('answer', { call_id: inc.call_id, jsep: { type: 'answer', sdp: webrtcAnswer(inc.data.jsep.sdp) } })).result);
  const fin = await c.event('transfer_progress', (m) => m.id === t.id && m.data.final);
  assert(fin.data.code === 200, JSON.stringify(fin));
  const e = await c.state(id, 'ended');
  assert(e.data.reason === 'transferred', JSON.stringify(e));
  await g.req('hangup', { call_id: inc.call_id });
  await g.state(inc.call_id, 'ended');
  c.ws.close(); g.ws.close();
  await settle();
});

test('baresip transfers the WS user (its REFER): transfer_request, transfer_accept, gorgee calls the target, NOTIFY 200 to baresip, which is hung up', async () => {
  const c = await login();
  const sdp = ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0',
    'm=audio 40002 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000', 'a=sendrecv', ''].join('\r\n');
  const r = await c.req('call', { to: 'sip:bob@127.0.0.1', jsep: { type: 'offer', sdp } });
  const id = r.result.call_id;
  await c.state(id, 'answered');
  await sleep(300);
  const target = `sip:bob@127.0.0.1:${phonePort}`;
  await ctrl('transfer', target);
  const tr = await c.event('transfer_request', (m) => m.call_id === id);
  assert(tr.data.to === target && !tr.data.replaces, JSON.stringify(tr));
  assert((await c.req('transfer_accept', { call_id: id })).result);
  const done = await c.event('transfer_progress', (m) => m.call_id === id && m.data.final);
  assert(done.data.code === 200, JSON.stringify(done));
  const dump = await (await fetch(`http://127.0.0.1:${http}/calls`)).text();
  assert(dump.includes(`call ${id} state=active`), dump);
  await c.req('hangup', { call_id: id });
  await c.state(id, 'ended');
  c.ws.close();
  await settle();
  await sleep(300);
  const calls = JSON.stringify(await ctrl('listcalls'));
  assert(!/ESTABLISHED/i.test(calls), `baresip still has a call: ${calls}`);
});

tapMain(tests, {
  needs: ['baresip'], start, dir: DIR,
  stop: async () => {
    if (phone) phone.kill('SIGTERM');
    if (gw) { gw.kill('SIGTERM'); await new Promise((r) => (gw.exitCode !== null ? r() : gw.on('exit', r))); }
  },
});
