// DTLS-SRTP toward a SIP peer without ICE (UDP/TLS/RTP/SAVP, RFC 5763/5764): baresip with its
// dtls_srtp media encryption (mediaenc=dtls_srtp, separate RTCP) behind gorgee with
// calls.srtp=dtls. A WebSocket client with plain RTP calls baresip: gorgee offers
// UDP/TLS/RTP/SAVP, the relay runs the handshake on its own ports, baresip's 440 Hz sine
// reaches the client decrypted and the client's 1000 Hz tone reaches baresip encrypted
// (checked in baresip's recording), with packet counters on both legs. Then baresip calls
// the WS user with its own DTLS offer (UDP/TLS/RTP/SAVPF without ICE): gorgee answers it,
// the relay completes the handshake as the active side and counts baresip's SRTP. Last,
// SIP⇄SIP: baresip's account bob calls its account carol through gorgee's trunk, DTLS on
// both legs, SRTP decrypted and re-encrypted by the relay.
// usage: node ws_baresip_dtls.mjs path/to/gorgee     Prints TAP.
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { WsClient, freePort, baresipPort } from './wsclient.mjs';
import { startGorgee, ulawDecode, freq, sendTone, recordedTone, startBaresip, ctrl as bctl, webrtcAnswer,
  noCallsLeft, metric as metricOf, tapMain } from './baresip.mjs';

const require = createRequire(import.meta.url);
const WebSocket = require('ws');
const GORGEE = process.argv[2];
const tests = [];
const test = (name, fn) => tests.push({ name, fn });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function assert(cond, msg) { if (!cond) throw new Error(msg || 'assertion failed'); }

const DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'gorgee-wsdtls-'));
let http, sip, phonePort, gw, phone, logs = '';

async function start() {
  [http, sip, phonePort] = [await freePort(), await freePort(), await baresipPort()];
  // 6000..9999: below the 10000..19999 blocks the other call tests take by pid
  const media = 6000 + (process.pid % 40) * 100;
  gw = await startGorgee(GORGEE, { dir: DIR, http, sip, phonePort, media, extra: ['--set', 'calls.srtp=dtls'],
    onLog: (d) => { logs += d; } });
  // baresip: auto-answer, 440 Hz sine, records what it receives, ctrl_tcp for dialling
  phone = await startBaresip(path.join(DIR, 'bob'), { sipPort: phonePort, ctrlPort: phonePort + 5,
    rtpMin: media + 60, extraModules: ['dtls_srtp.so'], log: path.join(DIR, 'baresip.log'),
    accounts: [`<sip:bob@127.0.0.1:${sip}>;regint=0;answermode=auto;ptime=20;mediaenc=dtls_srtp`,
      `<sip:carol@127.0.0.1:${sip}>;regint=0;answermode=auto;ptime=20;mediaenc=dtls_srtp`] });
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


function dtlsUp() { return (logs.match(/DTLS-SRTP up on the (RTP|RTCP) socket/g) || []).length; }

test('WS client (RTP) -> gorgee -> baresip (UDP/TLS/RTP/SAVP): handshake on the relay, 440 Hz to the client, 1000 Hz to baresip', async () => {
  const c = await login();
  const rtp = dgram.createSocket('udp4');
  await new Promise((r) => rtp.bind(0, '127.0.0.1', r));
  const heard = [];
  rtp.on('message', (m) => { if ((m[1] & 0x7f) === 0 && m.length > 12) for (const b of m.subarray(12)) heard.push(ulawDecode(b)); });
  const sdp = ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0',
    `m=audio ${rtp.address().port} RTP/AVP 0`, 'a=rtpmap:0 PCMU/8000', 'a=ptime:20', 'a=sendrecv', ''].join('\r\n');
  const up0 = dtlsUp();
  const r = await c.req('call', { to: 'sip:bob@127.0.0.1', jsep: { type: 'offer', sdp } });
  assert(r.result, JSON.stringify(r));
  const ans = await c.state(r.result.call_id, 'answered');
  const relayPort = Number(/m=audio (\d+)/.exec(ans.data.jsep.sdp)[1]);
  assert(/RTP\/AVP/.test(ans.data.jsep.sdp) && !/fingerprint/.test(ans.data.jsep.sdp), ans.data.jsep.sdp);
  const dump = await (await fetch(`http://127.0.0.1:${http}/calls`)).text();
  assert(/ B dtls /.test(dump), `the leg toward baresip is not DTLS: ${dump}`);
  await sendTone(rtp, relayPort, 1000);
  // baresip without rtcp-mux: one association on the RTP port and one on the RTCP port
  assert(dtlsUp() - up0 >= 2, `DTLS associations up: ${dtlsUp() - up0}`);
  assert(heard.length >= 8000, `only ${heard.length} samples from baresip`);
  const f = freq(heard.slice(-8000), 8000);
  assert(Math.abs(f - 440) < 20, `baresip's tone arrived at ${f.toFixed(1)} Hz`);
  const st = await c.req('stats', { call_id: r.result.call_id });
  console.log(`# relay counters: ${JSON.stringify(st.result)}`);
  assert(st.result.a.received_packets >= 100 && st.result.b.received_packets >= 100, JSON.stringify(st));
  assert(st.result.a.sent_packets >= 100 && st.result.b.sent_packets >= 100, JSON.stringify(st));
  await c.req('hangup', { call_id: r.result.call_id });
  await c.state(r.result.call_id, 'ended');
  rtp.close(); c.ws.close();
  await sleep(500);
  const heardTone = recordedTone(path.join(DIR, 'bob', 'rec'));
  assert(heardTone.loud > heardTone.rate / 2, `baresip heard silence (${heardTone.loud} loud samples of ${heardTone.total})`);
  assert(Math.abs(heardTone.hz - 1000) < 40, `baresip heard ${heardTone.hz.toFixed(1)} Hz`);
  const bl = fs.readFileSync(path.join(DIR, 'baresip.log'), 'utf8');
  assert(/dtls/i.test(bl), 'baresip did not use dtls_srtp');
  await settle();
});

test('baresip (UDP/TLS/RTP/SAVPF offer without ICE) -> gorgee -> WS user: gorgee answers DTLS, the relay handshakes and counts baresip\'s SRTP', async () => {
  const c = await login();
  const up0 = dtlsUp();
  await ctrl('dial', `sip:erin@127.0.0.1:${sip}`);
  const inc = await c.event('incoming_call');
  assert(/UDP\/TLS\/RTP\/SAVPF/.test(inc.data.jsep.sdp), JSON.stringify(inc.data).slice(0, 300));
  const o = inc.data.jsep.sdp;
  const mid = (/a=mid:(\S+)/.exec(o) || [, '0'])[1];
  const answer = ['v=0', 'o=- 2 2 IN IP4 127.0.0.1', 's=-', 't=0 0', `a=group:BUNDLE ${mid}`,
    'm=audio 9 UDP/TLS/RTP/SAVPF 0', 'c=IN IP4 0.0.0.0', 'a=ice-ufrag:wxyz', 'a=ice-pwd:abcdefghijklmnopqrstuvwx',
    'a=fingerprint:sha-256 ' + Array(32).fill('CD').join(':'), 'a=setup:active', `a=mid:${mid}`,
    'a=sendrecv', 'a=rtcp-mux', 'a=rtpmap:0 PCMU/8000', ''].join('\r\n');
  assert((await c.req('answer', { call_id: inc.call_id, jsep: { type: 'answer', sdp: answer } })).result);
  let st;
  for (let i = 0; i < 40; i++) {
    await sleep(100);
    st = await c.req('stats', { call_id: inc.call_id });
    if (st.result && st.result.a.received_packets >= 50) break;
  }
  console.log(`# relay counters: ${JSON.stringify(st.result)}`);
  assert(dtlsUp() - up0 >= 1, 'no DTLS association came up toward baresip');
  const dump = await (await fetch(`http://127.0.0.1:${http}/calls`)).text();
  assert(/ A dtls /.test(dump), `baresip's leg is not DTLS: ${dump}`);
  // baresip's SRTP was authenticated and decrypted (the browser side has no ICE here, so
  // nothing leaves toward it)
  assert(st.result.a.received_packets >= 50, JSON.stringify(st));
  await ctrl('hangup');
  const e = await c.state(inc.call_id, 'ended');
  assert(e.data.by === 'remote', JSON.stringify(e));
  c.ws.close();
  await settle();
});

const metric = (name) => metricOf(http, name);

test('SIP -> gorgee -> SIP, both DTLS-SRTP without ICE: baresip (bob) calls carol through the trunk; four associations, SRTP re-encrypted both ways', async () => {
  const up0 = dtlsUp();
  const inOk = 'gorgee_relay_packets_total{direction="in",result="accepted"}';
  const outOk = 'gorgee_relay_packets_total{direction="out",result="sent"}';
  const auth = 'gorgee_relay_drops_total{reason="srtp_auth"}';
  const [in0, out0, auth0] = [await metric(inOk), await metric(outOk), await metric(auth)];
  await ctrl('dial', `sip:carol@127.0.0.1:${sip}`);
  let dump = '';
  for (let i = 0; i < 50 && !/ A dtls .* B dtls /.test(dump); i++) {
    await sleep(100);
    dump = await (await fetch(`http://127.0.0.1:${http}/calls`)).text();
  }
  assert(/ A dtls .* B dtls /.test(dump), `not DTLS on both legs: ${dump}`);
  await sleep(3000);
  const [in1, out1, auth1] = [await metric(inOk), await metric(outOk), await metric(auth)];
  console.log(`# relay: ${in1 - in0} packets accepted, ${out1 - out0} sent, ${auth1 - auth0} failed SRTP auth; DTLS associations up: ${dtlsUp() - up0}`);
  assert(dtlsUp() - up0 >= 4, `DTLS associations up: ${dtlsUp() - up0}`);
  // 3 s of 20 ms packets from each phone: ~150 each way, decrypted and re-encrypted
  assert(in1 - in0 >= 200 && out1 - out0 >= 200, `accepted ${in1 - in0}, sent ${out1 - out0}`);
  assert(auth1 === auth0, `SRTP authentication failures: ${auth1 - auth0}`);
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
