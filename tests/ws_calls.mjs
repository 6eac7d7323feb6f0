// Calls between a WebSocket client (npm "ws") and SIP peers (sipp) through the real gorgee:
// WS -> SIP with RTP both ways (the client offers plain RTP/AVP: the signalling and relay
// paths a browser takes, without ICE), busy, cancel, hangup from either side; SIP -> WS with
// a WebRTC offer to every session of the user, the first answer wins, decline; correlation
// of every event by request id and call_id; ownership and parameter errors; transfers: blind
// both ways, attended (REFER with Replaces) both ways, and an INVITE with Replaces that
// replaces the browser's SIP party (RFC 3891).
// usage: node ws_calls.mjs path/to/gorgee tests/sipp     Prints TAP.
import { spawn, execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { WsClient, freePort } from './wsclient.mjs';

const require = createRequire(import.meta.url);
const WebSocket = require('ws');

const [GORGEE, SIPP_DIR] = [process.argv[2], path.resolve(process.argv[3])];
const tests = [];
const test = (name, fn) => tests.push({ name, fn });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function assert(cond, msg) { if (!cond) throw new Error(msg || 'assertion failed'); }

const DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'gorgee-wscalls-'));
let http, sip, uasPort, proc, logs = '';
const procs = [];

async function start() {
  [http, sip, uasPort] = [await freePort(), await freePort(), await freePort()];
  const media = 10000 + (process.pid % 40) * 250 + 200;
  const args = ['--set', `general.data_dir=${DIR}/data`, '--set', `http.port=${http}`, '--set', 'http.listen=127.0.0.1',
    '--set', 'sip.listen=127.0.0.1', '--set', `sip.udp_port=${sip}`, '--set', 'sip.tcp_port=0',
    '--set', `calls.trunk=sip:127.0.0.1:${uasPort}`, '--set', 'calls.trusted=127.0.0.1',
    '--set', 'media.address=127.0.0.1', '--set', 'media.workers=1',
    '--set', `media.port_min=${media}`, '--set', `media.port_max=${media + 49}`,
    '--set', 'general.log_level=info', '--set', 'registrar.digest_algorithms=md5,sha-256', '--set', `sip.trace_file=${DIR}/sip-trace.txt`, '--set', 'ws.rate=100', '--set', 'ws.rate_burst=200'];
  args.push('--set', 'calls.admins=dave, frank'); // the "calls" admin request
  for (const u of ['erin', 'frank', 'dave', 'gina', 'hank']) execFileSync(GORGEE, [...args, '--add-user', u], { input: `${u}-pass\n` });
  proc = spawn(GORGEE, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  proc.stderr.on('data', (d) => { logs += d; fs.appendFileSync(path.join(DIR, 'gorgee.log'), d); });
  for (let i = 0; i < 100; i++) {
    try { const r = await fetch(`http://127.0.0.1:${http}/healthz`); if (r.ok) return; } catch { /* not yet */ }
    await sleep(50);
  }
  throw new Error('gorgee did not start: ' + logs);
}

async function metric(name) {
  const body = await (await fetch(`http://127.0.0.1:${http}/metrics`)).text();
  const line = body.split('\n').find((l) => l.startsWith(name + ' '));
  return line ? Number(line.split(' ')[1]) : 0;
}

async function settle() {
  for (let i = 0; i < 50; i++) {
    if (await metric('gorgee_calls') === 0 && await metric('gorgee_relay_sessions') === 0) return;
    await sleep(100);
  }
  throw new Error(`left behind: calls=${await metric('gorgee_calls')} relay=${await metric('gorgee_relay_sessions')}`);
}

function sipp(args) {
  const p = spawn('sipp', ['-i', '127.0.0.1', '-mi', '127.0.0.1', '-nostdin', '-trace_err',
    '-error_file', path.join(DIR, `sipp-${Date.now()}.err`), ...args], { cwd: DIR, stdio: 'ignore' });
  procs.push(p);
  p.done = new Promise((r) => p.on('exit', (c) => r(c)));
  return p;
}
async function uas(args, port = uasPort) { const p = sipp(['-p', String(port), ...args]); await sleep(300); return p; }
async function finished(p, ms = 10000) {
  const t = setTimeout(() => p.kill('SIGKILL'), ms);
  const c = await p.done;
  clearTimeout(t);
  return c;
}

const clients = [];
class Client extends WsClient {
  constructor() {
    super(`ws://127.0.0.1:${http}/`, 8000);
    clients.push(this);
  }
}
async function login(user) {
  const c = new Client();
  await c.until(() => c.ws.readyState === WebSocket.OPEN, 'open');
  const r = await c.req('login', { username: user, password: `${user}-pass` });
  assert(r.result, JSON.stringify(r));
  return c;
}

// A plain RTP endpoint for the WS client: an offer naming a UDP socket.
async function rtpSocket() {
  const s = dgram.createSocket('udp4');
  await new Promise((r) => s.bind(0, '127.0.0.1', r));
  s.got = 0;
  s.on('message', () => { s.got++; });
  return s;
}
const offer = (port) => ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0',
  `m=audio ${port} RTP/AVP 0 101`, 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000',
  'a=sendrecv', ''].join('\r\n');
function sdpPort(sdp) { return Number(/m=audio (\d+)/.exec(sdp)[1]); }

test('WS -> SIP: call, answered with a relay answer, RTP both ways, hangup BYEs the callee', async () => {
  const callee = await uas(['-sn', 'uas', '-m', '1', '-rtp_echo']);
  const c = await login('erin');
  const rtp = await rtpSocket();
  const r = await c.req('call', { to: 'sip:1000@127.0.0.1', jsep: { type: 'offer', sdp: offer(rtp.address().port) } });
  assert(r.result && /^c-/.test(r.result.call_id), JSON.stringify(r));
  const id = r.result.call_id;
  await c.state(id, 'calling');
  const ans = await c.state(id, 'answered');
  assert(ans.id === r.id, 'event carries the call request id');
  assert(ans.data.jsep.type === 'answer' && /c=IN IP4 127\.0\.0\.1/.test(ans.data.jsep.sdp), JSON.stringify(ans));
  const relayPort = sdpPort(ans.data.jsep.sdp);
  const pkt = Buffer.alloc(172);
  pkt[0] = 0x80; pkt[1] = 0; pkt.writeUInt32BE(0x1234, 8);
  for (let i = 0; i < 50; i++) {
    pkt.writeUInt16BE(i, 2); pkt.writeUInt32BE(i * 160, 4);
    rtp.send(pkt, relayPort, '127.0.0.1');
    await sleep(5);
  }
  await c.until(() => rtp.got >= 40, 'echoed RTP back through the relay', 5000);
  const dump = await (await fetch(`http://127.0.0.1:${http}/calls`)).text();
  assert(dump.includes(`call ${id} state=active`) && /leg A ws: .*user=erin/.test(dump) && /leg B sip: uac/.test(dump) &&
    /media: A rtp local=\d+ remote=127\.0\.0\.1/.test(dump), dump);
  // the same dump over the WebSocket, for admins only (calls.admins)
  const denied = await c.req('calls');
  assert(denied.error && denied.error.code === 403, JSON.stringify(denied));
  const admin = await login('frank');
  const all = await admin.req('calls');
  const mine = all.result && all.result.calls.find((x) => x.call_id === id);
  assert(mine && all.result.count >= 1 && mine.state === 'active' && mine.answered === true && mine.leg_a.kind === 'ws' &&
    /user=erin/.test(mine.leg_a.detail) && mine.leg_b.kind === 'sip' && /^media: A rtp local=\d+/.test(mine.media), JSON.stringify(all));
  await admin.bye();
  const st = await c.req('stats', { call_id: id });
  assert(st.result.a.received_packets >= 40 && st.result.b.received_packets >= 40, JSON.stringify(st));
  assert((await c.req('hangup', { call_id: id })).result, 'hangup replies');
  const ended = await c.state(id, 'ended');
  assert(ended.data.by === 'local', JSON.stringify(ended));
  assert(await finished(callee) === 0, 'the callee saw its BYE');
  rtp.close(); await c.bye();
  await settle();
});

test('WS -> SIP: 486 from the callee ends the call with code and reason', async () => {
  const callee = await uas(['-sf', path.join(SIPP_DIR, 'uas-busy.xml'), '-m', '1']);
  const c = await login('erin');
  const rtp = await rtpSocket();
  const r = await c.req('call', { to: '1000', jsep: { type: 'offer', sdp: offer(rtp.address().port) } });
  const e = await c.state(r.result.call_id, 'ended');
  assert(e.data.code === 486 && e.data.by === 'remote' && e.id === r.id, JSON.stringify(e));
  assert(await finished(callee) === 0);
  rtp.close(); await c.bye();
  await settle();
});

test('WS -> SIP: hangup while ringing sends CANCEL', async () => {
  const callee = await uas(['-sf', path.join(SIPP_DIR, 'uas-ring.xml'), '-m', '1']);
  const c = await login('erin');
  const rtp = await rtpSocket();
  const r = await c.req('call', { to: '1000', jsep: { type: 'offer', sdp: offer(rtp.address().port) } });
  const ring = await c.state(r.result.call_id, 'ringing');
  assert(ring.data.code === 180, JSON.stringify(ring));
  await c.req('hangup', { call_id: r.result.call_id });
  await c.state(r.result.call_id, 'ended');
  assert(await finished(callee) === 0, 'the callee got CANCEL and answered 487');
  rtp.close(); await c.bye();
  await settle();
});

test('WS -> SIP: BYE from the callee ends the call "by remote"', async () => {
  const callee = await uas(['-sf', path.join(SIPP_DIR, 'uas-bye.xml'), '-m', '1']);
  const c = await login('erin');
  const rtp = await rtpSocket();
  const r = await c.req('call', { to: '1000', jsep: { type: 'offer', sdp: offer(rtp.address().port) } });
  await c.state(r.result.call_id, 'answered');
  const e = await c.state(r.result.call_id, 'ended');
  assert(e.data.by === 'remote', JSON.stringify(e));
  assert(await finished(callee) === 0);
  rtp.close(); await c.bye();
  await settle();
});

test('hold: gorgee re-INVITEs the SIP party with a=sendonly and reports "held"', async () => {
  const callee = await uas(['-sf', path.join(SIPP_DIR, 'uas-reinvite.xml'), '-m', '1']);
  const c = await login('erin');
  const rtp = await rtpSocket();
  const r = await c.req('call', { to: '1000', jsep: { type: 'offer', sdp: offer(rtp.address().port) } });
  const id = r.result.call_id;
  await c.state(id, 'answered');
  assert((await c.req('hold', { call_id: id })).result, 'hold replies');
  const h = await c.state(id, 'held');
  assert(h.id === r.id, JSON.stringify(h));
  const dump = await (await fetch(`http://127.0.0.1:${http}/calls`)).text();
  assert(dump.includes(`call ${id} state=active`), dump);
  await c.req('hangup', { call_id: id });
  assert(await finished(callee) === 0, 'the callee saw sendonly, answered recvonly, then BYE');
  rtp.close(); await c.bye();
  await settle();
});

test('renegotiation from SIP: the callee\'s re-INVITE reaches the client as a renegotiate offer; its answer goes back', async () => {
  const callee = await uas(['-sf', path.join(SIPP_DIR, 'uas-reinvite-out.xml'), '-m', '1']);
  const c = await login('erin');
  const rtp = await rtpSocket();
  const r = await c.req('call', { to: '1000', jsep: { type: 'offer', sdp: offer(rtp.address().port) } });
  const id = r.result.call_id;
  await c.state(id, 'answered');
  const ren = await c.event('renegotiate', (m) => m.call_id === id);
  assert(ren.data.jsep.type === 'offer' && /a=sendonly/.test(ren.data.jsep.sdp), JSON.stringify(ren));
  const ans = offer(rtp.address().port).replace('a=sendrecv', 'a=recvonly');
  const rr = await c.req('renegotiate', { call_id: id, jsep: { type: 'answer', sdp: ans } });
  assert(rr.result, JSON.stringify(rr));
  await sleep(300);
  await c.req('hangup', { call_id: id });
  assert(await finished(callee) === 0, 'the callee got recvonly in its 200');
  rtp.close(); await c.bye();
  await settle();
});

test('blind transfer (RFC 3515): REFER to the SIP party, NOTIFY progress as events, the call ends on success', async () => {
  const callee = await uas(['-sf', path.join(SIPP_DIR, 'uas-refer.xml'), '-m', '1']);
  const c = await login('erin');
  const rtp = await rtpSocket();
  const r = await c.req('call', { to: '1000', jsep: { type: 'offer', sdp: offer(rtp.address().port) } });
  const id = r.result.call_id;
  await c.state(id, 'answered');
  const t = await c.req('transfer', { call_id: id, to: 'sip:2000@127.0.0.1' });
  assert(t.result && t.result.code === 202, JSON.stringify(t));
  const p1 = await c.event('transfer_progress', (m) => m.id === t.id && m.data.code === 100);
  assert(p1.data.final === false && p1.call_id === id, JSON.stringify(p1));
  const p2 = await c.event('transfer_progress', (m) => m.id === t.id && m.data.final);
  assert(p2.data.code === 200, JSON.stringify(p2));
  const e = await c.state(id, 'ended');
  assert(e.data.reason === 'transferred', JSON.stringify(e));
  assert(await finished(callee) === 0, 'the SIP party got the REFER, its NOTIFYs were answered, then BYE');
  const bad = await c.req('transfer', { call_id: id, to: 'sip:2000@127.0.0.1' });
  assert(bad.error, 'no transfer of an ended call');
  rtp.close(); await c.bye();
  await settle();
});

test('transferred by the SIP party (REFER received): the browser accepts, gorgee calls the target in the party\'s place', async () => {
  // the target: dave, a SIP phone registered here (found through the location service)
  const targetPort = await freePort();
  const reg = sipp(['-p', String(targetPort), '-sf', path.join(SIPP_DIR, 'register-auth.xml'), '-m', '1',
    '-au', 'dave', '-ap', 'dave-pass', '-s', 'dave', `127.0.0.1:${sip}`]);
  assert(await finished(reg) === 0, 'dave registered');
  fs.writeFileSync(path.join(DIR, 'target.csv'), `SEQUENTIAL\ndave@127.0.0.1:${sip};\n`);
  const referer = await uas(['-sf', path.join(SIPP_DIR, 'uas-referer.xml'), '-m', '1', '-inf', path.join(DIR, 'target.csv')]);
  const target = await uas(['-sn', 'uas', '-m', '1'], targetPort);
  const c = await login('erin');
  const rtp = await rtpSocket();
  const r = await c.req('call', { to: '1000', jsep: { type: 'offer', sdp: offer(rtp.address().port) } });
  const id = r.result.call_id;
  await c.state(id, 'answered');
  const tr = await c.event('transfer_request', (m) => m.call_id === id);
  assert(tr.data.to === `sip:dave@127.0.0.1:${sip}` && /sip:1000@/.test(tr.data.referred_by), JSON.stringify(tr));
  assert((await c.req('transfer_accept', { call_id: id })).result);
  const done = await c.event('transfer_progress', (m) => m.call_id === id && m.data.final);
  assert(done.data.code === 200, JSON.stringify(done));
  assert(await finished(referer) === 0, 'the referrer got 202, NOTIFYs up to 200, then BYE');
  const dump = await (await fetch(`http://127.0.0.1:${http}/calls`)).text();
  assert(dump.includes(`call ${id} state=active`) && dump.includes(`127.0.0.1:${targetPort}`), dump);
  await c.req('hangup', { call_id: id });
  assert(await finished(target) === 0, 'the target got the call and its BYE');
  rtp.close(); await c.bye();
  await settle();
});

// A bare SIP UAC on UDP for what sipp cannot say here (an INVITE with Replaces built from
// the /calls dump); answers gorgee's requests with 200.
class RawSip {
  async open() {
    this.s = dgram.createSocket('udp4');
    this.got = []; this.waiters = [];
    await new Promise((r) => this.s.bind(0, '127.0.0.1', r));
    this.port = this.s.address().port;
    this.callId = `raw-${this.port}-${Date.now()}`; this.tag = `t${this.port}`; this.cseq = 0;
    this.s.on('message', (d) => {
      const m = d.toString();
      if (!m.startsWith('SIP/2.0')) this.reply(m, 200);
      this.got.push(m); this.waiters.splice(0).forEach((f) => f());
    });
    return this;
  }
  send(method, { body = '', extra = '', cseq, branchOf } = {}) {
    const n = cseq || ++this.cseq;
    const branch = `z9hG4bK${this.callId}-${branchOf || method}-${n}`;
    const ruri = `sip:1000@127.0.0.1:${sip}`;
    const to = `<${ruri}>` + (this.toTag ? `;tag=${this.toTag}` : '');
    this.s.send(`${method} ${ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${this.port};branch=${branch};rport\r\n` +
      `From: <sip:raw@127.0.0.1>;tag=${this.tag}\r\nTo: ${to}\r\nCall-ID: ${this.callId}\r\nCSeq: ${n} ${method}\r\n` +
      `Max-Forwards: 70\r\nContact: <sip:raw@127.0.0.1:${this.port}>\r\n${extra}` +
      (body ? 'Content-Type: application/sdp\r\n' : '') + `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`, sip, '127.0.0.1');
  }
  reply(req, code) {
    const h = req.split('\r\n').filter((l) => /^(Via|From|To|Call-ID|CSeq):/.test(l));
    this.s.send(`SIP/2.0 ${code} OK\r\n${h.join('\r\n')}\r\nContent-Length: 0\r\n\r\n`, sip, '127.0.0.1');
  }
  async next(pred, what, ms = 8000) {
    const end = Date.now() + ms;
    for (;;) {
      const i = this.got.findIndex(pred);
      if (i >= 0) return this.got.splice(i, 1)[0];
      if (Date.now() > end) throw new Error(`raw SIP: timeout waiting for ${what}`);
      await new Promise((r) => { this.waiters.push(r); setTimeout(r, 50); });
    }
  }
  async final() {
    const r = await this.next((m) => /^SIP\/2\.0 [2-6]/.test(m), 'a final response');
    const t = /\r\nTo: [^\r]*;tag=([^;\r\n]+)/.exec(r);
    if (t) this.toTag = t[1];
    return r;
  }
  close() { this.s.close(); }
}

// The dialog of a call's leg from GET /calls: {callId, local, remote, target}.
async function dialogOf(id, leg) {
  const dump = await (await fetch(`http://127.0.0.1:${http}/calls`)).text();
  const block = dump.split(/^call /m).find((b) => b.startsWith(`${id} `));
  const m = new RegExp(`leg ${leg} sip: .*dialog (\\S+) state=confirmed local_tag=(\\S+) remote_tag=(\\S+) target=(\\S+)`).exec(block || '');
  assert(m, `no confirmed dialog on leg ${leg} of ${id}: ${dump}`);
  return { callId: m[1], local: m[2], remote: m[3], target: m[4] };
}

test('INVITE with Replaces (RFC 3891): a new SIP party replaces the browser\'s; the browser gets renegotiate, then replaced; the old party gets BYE', async () => {
  const callee = await uas(['-sn', 'uas', '-m', '1']);
  const c = await login('erin');
  const rtp = await rtpSocket();
  const r = await c.req('call', { to: '1000', jsep: { type: 'offer', sdp: offer(rtp.address().port) } });
  const id = r.result.call_id;
  await c.state(id, 'answered');
  const d = await dialogOf(id, 'B');
  const x = await new RawSip().open();
  const xrtp = await rtpSocket();
  x.send('INVITE', { body: offer(xrtp.address().port).replace('o=- 1 1', 'o=x 7 7'),
    extra: `Replaces: ${d.callId};to-tag=${d.local};from-tag=${d.remote}\r\nRequire: replaces\r\n` });
  const ren = await c.event('renegotiate', (m) => m.call_id === id);
  assert(ren.data.jsep.type === 'offer' && /RTP\/AVP/.test(ren.data.jsep.sdp), JSON.stringify(ren));
  const rr = await c.req('renegotiate', { call_id: id, jsep: { type: 'answer', sdp: offer(rtp.address().port) } });
  assert(rr.result, JSON.stringify(rr));
  const ok = await x.final();
  assert(/^SIP\/2\.0 200/.test(ok) && /m=audio \d+ RTP\/AVP/.test(ok), ok);
  x.send('ACK', { cseq: x.cseq });
  const rp = await c.event('replaced', (m) => m.call_id === id);
  assert(rp.data.party === 'sip:raw@127.0.0.1' && rp.id === r.id, JSON.stringify(rp));
  assert(await finished(callee) === 0, 'the replaced party got BYE');
  // media: the browser's RTP now reaches the new party
  const relay = sdpPort(ans(c, id));
  const pkt = Buffer.alloc(172); pkt[0] = 0x80; pkt.writeUInt32BE(0x777, 8);
  for (let i = 0; i < 20 && xrtp.got < 5; i++) { pkt.writeUInt16BE(i, 2); rtp.send(pkt, relay, '127.0.0.1'); await sleep(20); }
  assert(xrtp.got >= 5, `the new party got ${xrtp.got} RTP packets`);
  await c.req('hangup', { call_id: id });
  await x.next((m) => m.startsWith('BYE '), 'BYE to the new party');
  x.close(); rtp.close(); xrtp.close(); await c.bye();
  await settle();
});
test('INVITE with Replaces cancelled before the browser answered its renegotiate: 487, the call goes on with the old party', async () => {
  const callee = await uas(['-sn', 'uas', '-m', '1']);
  const c = await login('erin');
  const rtp = await rtpSocket();
  const r = await c.req('call', { to: '1000', jsep: { type: 'offer', sdp: offer(rtp.address().port) } });
  const id = r.result.call_id;
  await c.state(id, 'answered');
  const d = await dialogOf(id, 'B');
  const mediaB = async () => / B rtp local=\d+ remote=[^ \n]+/.exec(await (await fetch(`http://127.0.0.1:${http}/calls`)).text())[0];
  const before = await mediaB();
  const x = await new RawSip().open();
  x.send('INVITE', { body: offer(40004), extra: `Replaces: ${d.callId};to-tag=${d.local};from-tag=${d.remote}\r\n` });
  await c.event('renegotiate', (m) => m.call_id === id);
  // the relay keeps sending to the old party until the browser answers the new one's offer
  assert(await mediaB() === before, `media moved before the answer: ${await mediaB()} (was ${before})`);
  x.send('CANCEL', { cseq: x.cseq, branchOf: 'INVITE' });
  const fin = await x.next((m) => /^SIP\/2\.0 487/.test(m), '487');
  x.toTag = /\r\nTo: [^\r]*;tag=([^;\r\n]+)/.exec(fin)[1];
  x.send('ACK', { cseq: x.cseq, branchOf: 'INVITE' });
  const late = await c.req('renegotiate', { call_id: id, jsep: { type: 'answer', sdp: offer(rtp.address().port) } });
  assert(late.result || late.error, JSON.stringify(late));
  const dump = await (await fetch(`http://127.0.0.1:${http}/calls`)).text();
  assert(dump.includes(`call ${id} state=active`) && dump.includes(`dialog ${d.callId} state=confirmed`), dump);
  assert(!c.msgs.some((m) => m.event === 'replaced'), 'no replaced event');
  assert(await mediaB() === before, `media toward the old party not kept: ${await mediaB()} (was ${before})`);
  await c.req('hangup', { call_id: id });
  assert(await finished(callee) === 0, 'the old party got the BYE');
  x.close(); rtp.close(); await c.bye();
  await settle();
});

// the relay port the browser sends to: from the call's answer
function ans(c, id) { return c.msgs.find((m) => m.event === 'call_state' && m.call_id === id && m.data.state === 'answered').data.jsep.sdp; }

test('attended transfer from the browser (transfer with replaces_call_id): REFER to call 1\'s party names call 2\'s party with Replaces; both calls end on success', async () => {
  const p2Port = await freePort();
  const reg = sipp(['-p', String(p2Port), '-sf', path.join(SIPP_DIR, 'register-auth.xml'), '-m', '1',
    '-au', 'gina', '-ap', 'gina-pass', '-s', 'gina', `127.0.0.1:${sip}`]);
  assert(await finished(reg) === 0, 'gina registered');
  const p1 = await uas(['-sf', path.join(SIPP_DIR, 'uas-refer-replaces.xml'), '-m', '1']);
  const p2 = await uas(['-sn', 'uas', '-m', '1'], p2Port);
  const c = await login('erin');
  const rtp1 = await rtpSocket(), rtp2 = await rtpSocket();
  const r1 = await c.req('call', { to: '1000', jsep: { type: 'offer', sdp: offer(rtp1.address().port) } });
  const r2 = await c.req('call', { to: 'gina', jsep: { type: 'offer', sdp: offer(rtp2.address().port) } });
  const [id1, id2] = [r1.result.call_id, r2.result.call_id];
  await c.state(id1, 'answered'); await c.state(id2, 'answered');
  let e = await c.req('transfer', { call_id: id1, replaces_call_id: 'c-999999' });
  assert(e.error && e.error.code === 422, JSON.stringify(e));
  e = await c.req('transfer', { call_id: id1, replaces_call_id: id1 });
  assert(e.error && e.error.code === 409, JSON.stringify(e));
  e = await c.req('transfer', { call_id: id1, replaces_call_id: id2, to: 'sip:x@127.0.0.1' });
  assert(e.error && e.error.code === 422, JSON.stringify(e));
  const d = await dialogOf(id2, 'B');
  const t = await c.req('transfer', { call_id: id1, replaces_call_id: id2 });
  assert(t.result && t.result.code === 202, JSON.stringify(t));
  const fin = await c.event('transfer_progress', (m) => m.id === t.id && m.data.final);
  assert(fin.data.code === 200 && fin.call_id === id1, JSON.stringify(fin));
  const e1 = await c.state(id1, 'ended'), e2 = await c.state(id2, 'ended');
  assert(e1.data.reason === 'transferred' && e2.data.reason === 'transferred', JSON.stringify([e1, e2]));
  assert(await finished(p1) === 0, 'call 1\'s party got the REFER with Replaces, then BYE');
  assert(await finished(p2) === 0, 'call 2\'s party got BYE');
  const esc = (v) => v.replace(/[^A-Za-z0-9\-_.!~*'()[\]/?:+$]/g, (ch) => '%' + ch.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0'));
  const want = `Refer-To: <${d.target}?Replaces=${esc(`${d.callId};to-tag=${d.remote};from-tag=${d.local}`)}>`;
  const trace = fs.readFileSync(path.join(DIR, 'sip-trace.txt'), 'utf8');
  assert(trace.includes(want), `trace lacks ${want}`);
  rtp1.close(); rtp2.close(); await c.bye();
  await settle();
});

test('attended transfer from the SIP side: a REFER whose Refer-To embeds Replaces reaches the browser (transfer_request with replaces); the INVITE to the target carries it', async () => {
  const targetPort = await freePort();
  const reg = sipp(['-p', String(targetPort), '-sf', path.join(SIPP_DIR, 'register-auth.xml'), '-m', '1',
    '-au', 'hank', '-ap', 'hank-pass', '-s', 'hank', `127.0.0.1:${sip}`]);
  assert(await finished(reg) === 0, 'hank registered');
  const rep = '98asjd8@ws.example.org;to-tag=x1y2;from-tag=z3';
  const escd = rep.replace(/@/g, '%40').replace(/;/g, '%3B').replace(/=/g, '%3D');
  fs.writeFileSync(path.join(DIR, 'att.csv'), `SEQUENTIAL\nhank@127.0.0.1:${sip}?Replaces=${escd};${rep};\n`);
  const referer = await uas(['-sf', path.join(SIPP_DIR, 'uas-referer.xml'), '-m', '1', '-inf', path.join(DIR, 'att.csv')]);
  const target = await uas(['-sf', path.join(SIPP_DIR, 'uas-replaces.xml'), '-m', '1', '-inf', path.join(DIR, 'att.csv')], targetPort);
  const c = await login('erin');
  const rtp = await rtpSocket();
  const r = await c.req('call', { to: '1000', jsep: { type: 'offer', sdp: offer(rtp.address().port) } });
  const id = r.result.call_id;
  await c.state(id, 'answered');
  const tr = await c.event('transfer_request', (m) => m.call_id === id);
  assert(tr.data.to === `sip:hank@127.0.0.1:${sip}` && tr.data.replaces === rep, JSON.stringify(tr));
  assert((await c.req('transfer_accept', { call_id: id })).result);
  const done = await c.event('transfer_progress', (m) => m.call_id === id && m.data.final);
  assert(done.data.code === 200, JSON.stringify(done));
  assert(await finished(referer) === 0, 'the referrer got 202, NOTIFYs up to 200, then BYE');
  await c.req('hangup', { call_id: id });
  assert(await finished(target) === 0, 'the target saw the Replaces header, then BYE');
  rtp.close(); await c.bye();
  await settle();
});

test('account: a call through the user\'s upstream account answers the PBX\'s 401 with its credentials', async () => {
  // the PBX on a port of its own: the account's un-REGISTER at logout must not reach the trunk's callee
  const pbxPort = await freePort();
  const pbx = await uas(['-sf', path.join(SIPP_DIR, 'uas-pbx-auth.xml'), '-m', '2'], pbxPort);
  const c = await login('erin');
  const reg = await c.req('register', { uri: `sip:alice@127.0.0.1:${pbxPort}`, username: 'alice', password: 'pbx-secret' });
  assert(reg.result, JSON.stringify(reg));
  await c.event('registration', (m) => m.data.state === 'registered');
  const rtp = await rtpSocket();
  const r = await c.req('call', { to: `sip:2000@127.0.0.1:${pbxPort}`, account_id: reg.result.account_id,
    jsep: { type: 'offer', sdp: offer(rtp.address().port) } });
  assert(r.result, JSON.stringify(r));
  await c.state(r.result.call_id, 'answered');
  await c.req('hangup', { call_id: r.result.call_id });
  assert(await finished(pbx) === 0, 'the PBX verified the digest and saw the BYE');
  const bad = await c.req('call', { to: '2000', account_id: 'a-999', jsep: { type: 'offer', sdp: offer(1) } });
  assert(bad.error && bad.error.code === 422, JSON.stringify(bad));
  rtp.close(); await c.bye();
  await settle();
});

test('account: the PBX calls the account\'s Contact and the owning session gets incoming_call', async () => {
  const pbxPort = await freePort();
  const pbx = await uas(['-sf', path.join(SIPP_DIR, 'uas-pbx-auth.xml'), '-m', '1'], pbxPort);
  const c = await login('erin');
  const reg = await c.req('register', { uri: `sip:alice@127.0.0.1:${pbxPort}`, username: 'alice', password: 'pbx-secret' });
  await c.event('registration', (m) => m.data.state === 'registered');
  assert(await finished(pbx) === 0);
  const contact = `sip:alice-${reg.result.account_id}@127.0.0.1:${sip}`;
  const xml = fs.readFileSync(path.join(SIPP_DIR, 'uac-busy.xml'), 'utf8')
    .replace('<recv response="486"/>', '<recv response="180" optional="true"/>\n  <recv response="486"/>')
    .replace(/sip:\[service\]@\[remote_ip\]:\[remote_port\]/g, contact);
  fs.writeFileSync(path.join(DIR, 'uac-contact.xml'), xml);
  const caller = sipp(['-sf', path.join(DIR, 'uac-contact.xml'), '-m', '1', '-p', String(await freePort()), `127.0.0.1:${sip}`]);
  const inc = await c.event('incoming_call');
  assert(inc.data.account_id === reg.result.account_id, JSON.stringify(inc.data).slice(0, 200));
  await c.req('decline', { call_id: inc.call_id, code: 486 });
  assert(await finished(caller) === 0, 'the caller got 486');
  await c.bye();
  await settle();
});

test('DTMF by SIP INFO both ways in a call (application/dtmf-relay)', async () => {
  const callee = await uas(['-sf', path.join(SIPP_DIR, 'uas-info.xml'), '-m', '1']);
  const c = await login('erin');
  const rtp = await rtpSocket();
  const r = await c.req('call', { to: '1000', jsep: { type: 'offer', sdp: offer(rtp.address().port) } });
  const id = r.result.call_id;
  await c.state(id, 'answered');
  const d = await c.req('dtmf', { call_id: id, digits: '5', method: 'info' });
  assert(d.result && d.result.code === 200, JSON.stringify(d));
  const back = await c.event('dtmf', (m) => m.call_id === id);
  assert(back.data.digits === '7' && back.data.duration === 160 && back.data.method === 'info', JSON.stringify(back));
  const bad = await c.req('dtmf', { call_id: id, digits: 'x' });
  assert(bad.error && bad.error.code === 422, JSON.stringify(bad));
  await c.req('hangup', { call_id: id });
  assert(await finished(callee) === 0, 'the callee got Signal=5 and its INFO was answered');
  rtp.close(); await c.bye();
  await settle();
});

test('MESSAGE: SIP -> WS user (200), WS -> WS with status, WS -> SIP through the trunk, unknown user 404', async () => {
  const f = await login('frank');
  const e = await login('erin');
  const mp = await freePort();
  const caller = sipp(['-sf', path.join(SIPP_DIR, 'uac-message.xml'), '-m', '1', '-s', 'frank', '-p', String(mp), `127.0.0.1:${sip}`]);
  const got = await f.event('message');
  assert(got.data.body.trim() === 'hello from sipp' && got.data.content_type === 'text/plain' && /sipp/.test(got.data.from), JSON.stringify(got));
  assert(await finished(caller) === 0, 'sipp got 200 for its MESSAGE');
  let r = await e.req('message', { to: 'frank', body: 'hi frank' });
  assert(r.result, JSON.stringify(r));
  const st = await e.event('message_status', (m) => m.id === r.id);
  assert(st.data.code === 200 && st.data.delivered === true, JSON.stringify(st));
  const fm = await f.event('message', (m) => m.data.body === 'hi frank');
  assert(/erin/.test(fm.data.from), JSON.stringify(fm));
  const sipUser = await uas(['-sf', path.join(SIPP_DIR, 'uas-message.xml'), '-m', '1']);
  r = await e.req('message', { to: 'sip:1000@127.0.0.1', body: 'hello sip', content_type: 'text/plain' });
  const st2 = await e.event('message_status', (m) => m.id === r.id);
  assert(st2.data.code === 200 && st2.data.delivered, JSON.stringify(st2));
  assert(await finished(sipUser) === 0);
  const lost = sipp(['-sf', path.join(SIPP_DIR, 'uac-message.xml'), '-m', '1', '-s', 'nobody', '-p', String(mp), `127.0.0.1:${sip}`]);
  assert(await finished(lost) !== 0, 'a MESSAGE for nobody is not answered 200');
  r = await e.req('message', { to: 'frank', body: 'x'.repeat(9000) });
  assert(r.error && r.error.code === 422, 'oversized body refused');
  await f.bye(); await e.bye();
});

// A WebRTC answer as a browser would give it (the ICE/DTLS side is not exercised here).
function webrtcAnswer(o) {
  const mid = (/a=mid:(\S+)/.exec(o) || [, '0'])[1];
  return ['v=0', 'o=- 4611731400430051336 2 IN IP4 127.0.0.1', 's=-', 't=0 0', `a=group:BUNDLE ${mid}`,
    'm=audio 9 UDP/TLS/RTP/SAVPF 0', 'c=IN IP4 0.0.0.0', 'a=rtcp:9 IN IP4 0.0.0.0',
    'a=ice-ufrag:abcd', 'a=ice-pwd:abcdefghijklmnopqrstuvwx',
    'a=fingerprint:sha-256 ' + Array.from({ length: 32 }, () => 'AB').join(':'),
    'a=setup:active', `a=mid:${mid}`, 'a=sendrecv', 'a=rtcp-mux', 'a=rtpmap:0 PCMU/8000', ''].join('\r\n');
}

test('SIP -> WS: every session of the user rings with a WebRTC offer; the first answer wins', async () => {
  const a = await login('frank');
  const b = await login('frank');
  const caller = sipp(['-sn', 'uac', '-m', '1', '-d', '500', '-s', 'frank', '-p', String(await freePort()), `127.0.0.1:${sip}`]);
  const ia = await a.event('incoming_call');
  const ib = await b.event('incoming_call');
  assert(ia.call_id === ib.call_id && /sipp/.test(ia.data.from), JSON.stringify(ia));
  const o = ia.data.jsep.sdp;
  for (const re of [/UDP\/TLS\/RTP\/SAVPF/, /a=ice-ufrag:/, /a=fingerprint:sha-256 /, /a=setup:actpass/, /a=rtcp-mux/])
    assert(re.test(o), `offer lacks ${re}: ${o}`);
  const r = await b.req('answer', { call_id: ib.call_id, jsep: { type: 'answer', sdp: webrtcAnswer(o) } });
  assert(r.result, JSON.stringify(r));
  const other = await a.state(ia.call_id, 'ended');
  assert(other.data.reason === 'answered elsewhere', JSON.stringify(other));
  const late = await a.req('answer', { call_id: ia.call_id, jsep: { type: 'answer', sdp: webrtcAnswer(o) } });
  assert(late.error && [403, 422].includes(late.error.code), JSON.stringify(late));
  const e = await b.state(ib.call_id, 'ended'); // sipp hangs up after 500 ms
  assert(e.data.by === 'remote', JSON.stringify(e));
  assert(await finished(caller) === 0, 'the SIP caller got 200 and its BYE was answered');
  await a.bye(); await b.bye();
  await settle();
});

test('SIP -> WS offerless: gorgee offers WebRTC to the browser and RTP to the caller in its 200', async () => {
  const a = await login('frank');
  const caller = sipp(['-sf', path.join(SIPP_DIR, 'uac-offerless.xml'), '-m', '1', '-s', 'frank', '-p', String(await freePort()), `127.0.0.1:${sip}`]);
  const inc = await a.event('incoming_call');
  const o = inc.data.jsep.sdp;
  assert(/UDP\/TLS\/RTP\/SAVPF/.test(o) && /opus\/48000/.test(o) && /PCMU\/8000/.test(o), o);
  assert((await a.req('answer', { call_id: inc.call_id, jsep: { type: 'answer', sdp: webrtcAnswer(o) } })).result);
  assert(await finished(caller) === 0, 'the caller got an RTP/AVP offer in the 200, answered in the ACK, hung up');
  await a.state(inc.call_id, 'ended');
  await a.bye();
  await settle();
});

test('SIP -> WS: the caller cancels while the browser rings: ended there, nothing left behind', async () => {
  const a = await login('frank');
  const caller = sipp(['-sf', path.join(SIPP_DIR, 'uac-cancel.xml'), '-m', '1', '-s', 'frank', '-p', String(await freePort()), `127.0.0.1:${sip}`]);
  const inc = await a.event('incoming_call');
  const e = await a.state(inc.call_id, 'ended');
  assert(e.data.code === 487, JSON.stringify(e));
  assert(await finished(caller) === 0, 'the caller got 200 for its CANCEL and 487');
  await a.bye();
  await settle();
});

test('SIP -> WS: decline with a code reaches the SIP caller', async () => {
  const xml = fs.readFileSync(path.join(SIPP_DIR, 'uac-busy.xml'), 'utf8').replace('<recv response="486"/>', '<recv response="180" optional="true"/>\n  <recv response="486"/>');
  fs.writeFileSync(path.join(DIR, 'uac-486.xml'), xml);
  const a = await login('frank');
  const caller = sipp(['-sf', path.join(DIR, 'uac-486.xml'), '-m', '1', '-s', 'frank', '-p', String(await freePort()), `127.0.0.1:${sip}`]);
  const inc = await a.event('incoming_call');
  assert((await a.req('decline', { call_id: inc.call_id, code: 486, reason: 'Busy Here' })).result);
  assert(await finished(caller) === 0, 'the caller got 486');
  await a.bye();
  await settle();
});

test('errors: unknown call 422, another session\'s call 403, bad to/jsep 422, wrong state 409', async () => {
  const callee = await uas(['-sf', path.join(SIPP_DIR, 'uas-ring.xml'), '-m', '1']);
  const c = await login('erin');
  const d = await login('frank');
  const rtp = await rtpSocket();
  let r = await c.req('hangup', { call_id: 'c-999999' });
  assert(r.error && r.error.code === 422, JSON.stringify(r));
  r = await c.req('call', { to: 'tel:+1', jsep: { type: 'offer', sdp: offer(1) } });
  assert(r.error && r.error.code === 422, JSON.stringify(r));
  r = await c.req('call', { to: '1000', jsep: { type: 'answer', sdp: 'v=0' } });
  assert(r.error && r.error.code === 422, JSON.stringify(r));
  r = await c.req('call', { to: '1000', jsep: { type: 'offer', sdp: offer(rtp.address().port) } });
  const id = r.result.call_id;
  await c.state(id, 'ringing');
  r = await d.req('hangup', { call_id: id });
  assert(r.error && r.error.code === 403, JSON.stringify(r));
  r = await c.req('answer', { call_id: id, jsep: { type: 'answer', sdp: 'v=0' } });
  assert(r.error && r.error.code === 409, JSON.stringify(r));
  // garbage SDP in a call is refused as a call outcome, not a crash
  const bad = await c.req('call', { to: '1000', jsep: { type: 'offer', sdp: 'v=0\r\nnonsense\r\n' } });
  const be = await c.state(bad.result.call_id, 'ended');
  assert(be.data.code === 400 || be.data.code === 488, JSON.stringify(be));
  await c.req('hangup', { call_id: id });
  assert(await finished(callee) === 0);
  rtp.close(); await c.bye(); await d.bye();
  await settle();
});

test('a session that ends (logout) hangs up its calls: the SIP side gets BYE', async () => {
  const callee = await uas(['-sn', 'uas', '-m', '1']);
  const c = await login('erin');
  const rtp = await rtpSocket();
  const r = await c.req('call', { to: '1000', jsep: { type: 'offer', sdp: offer(rtp.address().port) } });
  await c.state(r.result.call_id, 'answered');
  await c.req('logout', {});
  assert(await finished(callee) === 0, 'the callee got BYE');
  rtp.close(); await c.bye();
  await settle();
});

(async () => {
  let failed = 0;
  console.log(`1..${tests.length + 1}`);
  try { await start(); } catch (e) { console.log(`# ${e.message}`); }
  for (let i = 0; i < tests.length; i++) {
    try { await tests[i].fn(); console.log(`ok ${i + 1} - ${tests[i].name}`); }
    catch (e) { failed++; console.log(`# ${String(e.stack || e).split('\n').join('\n# ')}`); console.log(`not ok ${i + 1} - ${tests[i].name}`); }
    // a failed case may leave its sipp behind, holding the callee port, or sessions that would
    // keep ringing: not the next case's problem
    for (const p of procs.splice(0)) { if (p.exitCode === null) { p.kill('SIGKILL'); await p.done; } }
    for (const c of clients.splice(0)) await c.bye();
  }
  procs.forEach((p) => { try { p.kill('SIGKILL'); } catch { /* gone */ } });
  let code = 'not started';
  if (proc) {
    proc.kill('SIGTERM');
    code = await new Promise((r) => { if (proc.exitCode !== null) r(proc.exitCode); else proc.on('exit', r); });
  }
  if (code !== 0) { failed++; console.log(`# gorgee exited ${code}\n# ${logs.split('\n').slice(-30).join('\n# ')}`); }
  console.log(`${code === 0 ? 'ok' : 'not ok'} ${tests.length + 1} - gorgee exits 0 on SIGTERM`);
  if (!failed) fs.rmSync(DIR, { recursive: true, force: true }); else console.log(`# logs in ${DIR}`);
  process.exit(failed ? 1 : 0);
})();
