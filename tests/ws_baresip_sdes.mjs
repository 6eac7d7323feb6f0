// SDES-SRTP (RFC 4568, RTP/SAVP) toward a SIP peer: baresip with its own SRTP (libre's, not
// libsrtp: an independent implementation; mediaenc=srtp-mand, separate RTCP) behind gorgee with
// calls.srtp=sdes. A WebSocket client with plain RTP calls baresip: baresip's 440 Hz sine
// reaches the client through the relay's unprotect, the client's 1000 Hz tone reaches baresip
// through its protect across a sequence number wrap (checked in baresip's recording), with no
// SRTP authentication or replay failure. Then SIP⇄SIP: baresip's account bob calls its account
// carol through gorgee's trunk, SDES on both legs with gorgee's own keys toward each, SRTP and
// SRTCP decrypted and re-encrypted.
// usage: node ws_baresip_sdes.mjs path/to/gorgee     Prints TAP.
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { WsClient, freePort, baresipPort } from './wsclient.mjs';
import { startGorgee, ulawDecode, freq, sendTone, recordedTone, startBaresip, ctrl as bctl,
  noCallsLeft, metric as metricOf, tapMain } from './baresip.mjs';

const require = createRequire(import.meta.url);
const WebSocket = require('ws');
const GORGEE = process.argv[2];
const tests = [];
const test = (name, fn) => tests.push({ name, fn });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function assert(cond, msg) { if (!cond) throw new Error(msg || 'assertion failed'); }

const DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'gorgee-wssdes-'));
let http, sip, phonePort, gw, phone, logs = '';

async function start() {
  [http, sip, phonePort] = [await freePort(), await freePort(), await baresipPort()];
  // 6000..9999: below the 10000..19999 blocks the other call tests take by pid
  const media = 6000 + ((process.pid + 20) % 40) * 100; // not the DTLS test's block
  gw = await startGorgee(GORGEE, { dir: DIR, http, sip, phonePort, media, extra: ['--set', 'calls.srtp=sdes'],
    onLog: (d) => { logs += d; } });
  // baresip: auto-answer, 440 Hz sine, records what it receives, ctrl_tcp for dialling
  phone = await startBaresip(path.join(DIR, 'bob'), { sipPort: phonePort, ctrlPort: phonePort + 5,
    rtpMin: media + 60, extraModules: ['srtp.so'], log: path.join(DIR, 'baresip.log'),
    accounts: [`<sip:bob@127.0.0.1:${sip}>;regint=0;answermode=auto;ptime=20;mediaenc=srtp-mand`,
      `<sip:carol@127.0.0.1:${sip}>;regint=0;answermode=auto;ptime=20;mediaenc=srtp-mand`] });
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

const metric = (name) => metricOf(http, name);
const AUTH = 'gorgee_relay_drops_total{reason="srtp_auth"}';
const REPLAY = 'gorgee_relay_drops_total{reason="srtp_replay"}';
const SUITE = / sdes /g; // the call dump names an SDES-SRTP leg so
const suites = (dump) => (dump.match(SUITE) || []).length;

test('WS client (RTP) -> gorgee -> baresip (RTP/SAVP, SDES): 440 Hz to the client, 1000 Hz to baresip across a seq wrap, no SRTP failure', async () => {
  const c = await login();
  const [auth0, rep0] = [await metric(AUTH), await metric(REPLAY)];
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
  assert(/RTP\/AVP/.test(ans.data.jsep.sdp) && !/a=crypto/.test(ans.data.jsep.sdp), ans.data.jsep.sdp);
  const dump = await (await fetch(`http://127.0.0.1:${http}/calls`)).text();
  console.log(`# ${dump.trim().split('\n').join('\n# ')}`);
  assert(suites(dump) >= 1, `the leg toward baresip is not SDES-SRTP: ${dump}`);
  await sendTone(rtp, relayPort, 1000, 65500);
  assert(heard.length >= 8000, `only ${heard.length} samples from baresip`);
  const f = freq(heard.slice(-8000), 8000);
  assert(Math.abs(f - 440) < 20, `baresip's tone arrived at ${f.toFixed(1)} Hz`);
  const st = await c.req('stats', { call_id: r.result.call_id });
  console.log(`# relay counters: ${JSON.stringify(st.result)}`);
  const drops = (await (await fetch(`http://127.0.0.1:${http}/metrics`)).text()).match(/^gorgee_relay_drops_total.* [1-9]\d*$/mg);
  console.log(`# drops so far: ${(drops || ['none']).join(', ')}`);
  assert(st.result.a.received_packets >= 100 && st.result.b.received_packets >= 100, JSON.stringify(st));
  assert(st.result.a.sent_packets >= 100 && st.result.b.sent_packets >= 100, JSON.stringify(st));
  const [auth1, rep1] = [await metric(AUTH), await metric(REPLAY)];
  assert(auth1 === auth0 && rep1 === rep0, `SRTP failures: ${auth1 - auth0} auth, ${rep1 - rep0} replay`);
  await c.req('hangup', { call_id: r.result.call_id });
  await c.state(r.result.call_id, 'ended');
  rtp.close(); c.ws.close();
  await sleep(500);
  // the client's tone crossed the seq wrap at packet 36 of 150: baresip decrypted past it
  const heardTone = recordedTone(path.join(DIR, 'bob', 'rec'), 1 / 2, 7 / 8);
  assert(heardTone.loud > heardTone.rate, `baresip heard too little (${heardTone.loud} loud samples of ${heardTone.total})`);
  assert(Math.abs(heardTone.hz - 1000) < 40, `baresip heard ${heardTone.hz.toFixed(1)} Hz after the wrap`);
  const bl = fs.readFileSync(path.join(DIR, 'baresip.log'), 'utf8');
  assert(/srtp/i.test(bl), 'baresip did not use srtp');
  await settle();
});

test('SIP -> gorgee -> SIP, SDES-SRTP on both legs: baresip (bob) calls carol through the trunk; SRTP and SRTCP re-encrypted both ways, no failure', async () => {
  const inOk = 'gorgee_relay_packets_total{direction="in",result="accepted"}';
  const outOk = 'gorgee_relay_packets_total{direction="out",result="sent"}';
  const [in0, out0, auth0, rep0] = [await metric(inOk), await metric(outOk), await metric(AUTH), await metric(REPLAY)];
  await ctrl('dial', `sip:carol@127.0.0.1:${sip}`);
  let dump = '';
  for (let i = 0; i < 50 && suites(dump) < 2; i++) {
    await sleep(100);
    dump = await (await fetch(`http://127.0.0.1:${http}/calls`)).text();
  }
  console.log(`# ${dump.trim().split('\n').join('\n# ')}`);
  assert(suites(dump) >= 2, `not SDES-SRTP on both legs: ${dump}`);
  await sleep(6000); // RTCP comes every ~5 s
  const [in1, out1, auth1, rep1] = [await metric(inOk), await metric(outOk), await metric(AUTH), await metric(REPLAY)];
  console.log(`# relay: ${in1 - in0} packets accepted, ${out1 - out0} sent, ${auth1 - auth0} failed SRTP auth, ${rep1 - rep0} replays`);
  // 6 s of 20 ms packets from each phone: ~300 each way, decrypted and re-encrypted
  assert(in1 - in0 >= 400 && out1 - out0 >= 400, `accepted ${in1 - in0}, sent ${out1 - out0}`);
  assert(auth1 === auth0 && rep1 === rep0, `SRTP failures: ${auth1 - auth0} auth, ${rep1 - rep0} replay`);
  await ctrl('hangup');
  await sleep(300);
  await ctrl('hangup');
  await settle();
});

tapMain(tests, {
  needs: ['baresip'], start, dir: DIR,
  stop: async () => {
    if (phone) phone.kill('SIGTERM');
    if (gw) { gw.kill('SIGTERM'); await new Promise((r) => (gw.exitCode !== null ? r() : gw.on('exit', r))); }
  },
});
