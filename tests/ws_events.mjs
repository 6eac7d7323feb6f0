// Event packages through the real gorgee (issue 9): a WebSocket client (npm "ws") subscribes
// to message-summary, presence and dialog at sipp notifiers (RFC 6665, RFC 3842); sipp
// watchers subscribe to presence and dialog of a WebSocket user of gorgee's domain
// (gorgee.test) with digest, and see it change as the user logs in, publishes, calls and
// logs out; PUBLISH with entity tags (RFC 3903); bad inputs (481, 489, 423, 404) and the
// per-user and per-source caps (503 + Retry-After).
// usage: node ws_events.mjs path/to/gorgee tests/sipp     Prints TAP.
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

const DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'gorgee-wsevents-'));
const TRACE = path.join(DIR, 'sip-trace.txt');
let http, sip, proc, logs = '';
const procs = [];

async function start() {
  [http, sip] = [await freePort(), await freePort()];
  const media = 10000 + (process.pid % 40) * 250 + 100;
  // gorgee.test is the domain served: watchers and PUBLISH name users @gorgee.test; nothing is
  // trusted, so every SUBSCRIBE and PUBLISH from sipp authenticates (digest, SEC-10 pattern)
  const args = ['--set', `general.data_dir=${DIR}/data`, '--set', `http.port=${http}`, '--set', 'http.listen=127.0.0.1',
    '--set', 'sip.listen=127.0.0.1', '--set', `sip.udp_port=${sip}`, '--set', 'sip.tcp_port=0',
    '--set', 'registrar.domain=gorgee.test', '--set', 'registrar.digest_algorithms=md5,sha-256',
    '--set', 'events.max_per_user=3', '--set', 'events.max_per_source=5', '--set', 'events.min_expires=5',
    '--set', 'media.address=127.0.0.1', '--set', 'media.workers=1',
    '--set', `media.port_min=${media}`, '--set', `media.port_max=${media + 49}`,
    '--set', 'general.log_level=info', '--set', `sip.trace_file=${TRACE}`, '--set', 'ws.rate=100', '--set', 'ws.rate_burst=200'];
  for (const u of ['erin', 'frank', 'dave']) execFileSync(GORGEE, [...args, '--add-user', u], { input: `${u}-pass\n` });
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
// nothing left behind: subscriptions either way, publications, calls
async function settle() {
  const names = ['gorgee_event_subscriptions{role="subscriber"}', 'gorgee_event_subscriptions{role="notifier"}',
    'gorgee_presence_publications', 'gorgee_calls'];
  for (let i = 0; i < 60; i++) {
    const v = await Promise.all(names.map(metric));
    if (v.every((x) => x === 0)) return;
    if (i === 59) throw new Error(`left behind: ${names.map((n, k) => `${n}=${v[k]}`).join(' ')}`);
    await sleep(100);
  }
}

function sipp(args) {
  const p = spawn('sipp', ['-i', '127.0.0.1', '-mi', '127.0.0.1', '-nostdin', '-trace_err',
    '-error_file', path.join(DIR, `sipp-${Date.now()}-${procs.length}.err`), ...args], { cwd: DIR, stdio: 'ignore' });
  procs.push(p);
  p.done = new Promise((r) => p.on('exit', (c) => r(c)));
  return p;
}
const sf = (name) => path.join(SIPP_DIR, name);
async function finished(p, ms = 15000) {
  const t = setTimeout(() => p.kill('SIGKILL'), ms);
  const c = await p.done;
  clearTimeout(t);
  return c;
}
// a sipp UAC toward gorgee, as user (digest with user-pass)
async function uac(scenario, user, extra = []) {
  return sipp(['-sf', sf(scenario), '-m', '1', '-s', user, '-au', user, '-ap', `${user}-pass`,
    '-auth_uri', `${user}@gorgee.test`, '-p', String(await freePort()), ...extra, `127.0.0.1:${sip}`]);
}

// The SIP messages of the trace, oldest first: {head, text}.
function traceMsgs() {
  let t = '';
  try { t = fs.readFileSync(TRACE, 'utf8'); } catch { return []; }
  const out = [];
  const re = /^([UT] \S+ \S+ \S+ -> \S+)\n/gm;
  let m, last = null;
  while ((m = re.exec(t))) {
    if (last) out.push({ head: last.head, text: t.slice(last.at, m.index) });
    last = { head: m[1], at: m.index + m[0].length };
  }
  if (last) out.push({ head: last.head, text: t.slice(last.at) });
  return out;
}
// NOTIFYs gorgee sent for an event package, after trace index `from`
function sentNotifies(event, from = 0) {
  return traceMsgs().slice(from).filter((m) => m.head.includes(`127.0.0.1:${sip} ->`) &&
    m.text.startsWith('NOTIFY ') && new RegExp(`^Event: ${event}\\r?$`, 'm').test(m.text));
}
async function untilNotifies(event, from, pred, what, ms = 8000) {
  const end = Date.now() + ms;
  for (;;) {
    const n = sentNotifies(event, from);
    if (pred(n)) return n;
    if (Date.now() > end) throw new Error(`timeout waiting for ${what}; NOTIFYs: ${n.map((x) => x.text).join('\n---\n').slice(-3000)}`);
    await sleep(50);
  }
}

const clients = [];
class Client extends WsClient {
  constructor() {
    super(`ws://127.0.0.1:${http}/`, 10000);
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
const offer = (port) => ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0',
  `m=audio ${port} RTP/AVP 0`, 'a=rtpmap:0 PCMU/8000', 'a=sendrecv', ''].join('\r\n');

test('subscriber: MWI at a sipp notifier — NOTIFY bodies parsed (RFC 3842), 489 for another Event in the dialog, refresh, unsubscribe', async () => {
  const port = await freePort();
  const notifier = sipp(['-sf', sf('uas-mwi.xml'), '-m', '1', '-p', String(port)]);
  await sleep(300);
  const c = await login('erin');
  const r = await c.req('subscribe', { uri: `sip:mwi@127.0.0.1:${port}`, event: 'message-summary', expires: 600 });
  assert(r.result && /^s-\d+$/.test(r.result.subscription_id), JSON.stringify(r));
  const sid = r.result.subscription_id;
  const n1 = await c.event('notify', (m) => m.data.mwi);
  assert(n1.id === r.id && n1.data.subscription_id === sid && n1.data.event === 'message-summary' && n1.data.state === 'active', JSON.stringify(n1));
  assert(n1.data.content_type === 'application/simple-message-summary' && /Voice-Message: 2\/8 \(0\/2\)/.test(n1.data.body), JSON.stringify(n1));
  const w = n1.data.mwi;
  assert(w.waiting === true && w.new === 2 && w.old === 8 && w.new_urgent === 0 && w.old_urgent === 2 &&
    /^sip:mwi@/.test(w.account) && w.messages['voice-message'].old === 8, JSON.stringify(w));
  const act = await c.event('subscription', (m) => m.data.state === 'active');
  assert(act.data.subscription_id === sid && act.id === r.id, JSON.stringify(act));
  const dump = await (await fetch(`http://127.0.0.1:${http}/calls`)).text();
  assert(new RegExp(`subscription ${sid} state=active event=message-summary user=erin uri=sip:mwi@`).test(dump) &&
    /^  dialog \S+@gorgee state=confirmed/m.test(dump), dump);
  const bad = await c.event('notify', (m) => m.data.body_error);
  assert(bad.data.body_error === 'malformed message-summary' && !bad.data.mwi && /perhaps/.test(bad.data.body), JSON.stringify(bad));
  // the refresh is due within the 6 s the notifier granted; its NOTIFY carries 3/8 (1/2)
  const n2 = await c.event('notify', (m) => m.data.mwi && m.data.mwi.new === 3, 9000);
  assert(n2.data.mwi.new_urgent === 1 && n2.data.mwi.messages['fax-message'].old === 1, JSON.stringify(n2));
  const u = await c.req('unsubscribe', { subscription_id: sid });
  assert(u.result, JSON.stringify(u));
  const t = await c.event('subscription', (m) => m.data.state === 'terminated');
  assert(t.id === u.id && t.data.subscription_id === sid, JSON.stringify(t));
  assert(c.events('notify', (m) => m.data.state === 'terminated').length === 1, 'the final NOTIFY is an event too');
  assert(await finished(notifier) === 0, 'the notifier saw refresh, 489 and unsubscribe');
  const again = await c.req('unsubscribe', { subscription_id: sid });
  assert(again.error && again.error.code === 422, JSON.stringify(again));
  await c.bye();
});

test('subscriber: through the user\'s upstream account — From its AOR, the PBX\'s 401 answered with its credentials', async () => {
  const pbxPort = await freePort();
  const pbx = sipp(['-sf', sf('uas-pbx-mwi.xml'), '-m', '2', '-p', String(pbxPort)]);
  await sleep(300);
  const c = await login('erin');
  const reg = await c.req('register', { uri: `sip:alice@127.0.0.1:${pbxPort}`, username: 'alice', password: 'pbx-secret' });
  assert(reg.result, JSON.stringify(reg));
  await c.event('registration', (m) => m.data.state === 'registered');
  const r = await c.req('subscribe', { uri: `sip:alice@127.0.0.1:${pbxPort}`, event: 'message-summary', account_id: reg.result.account_id });
  const n = await c.event('notify', (m) => m.data.mwi);
  assert(n.id === r.id && n.data.mwi.waiting && n.data.mwi.new === 1 && n.data.mwi.old === 0 && !n.data.mwi.account, JSON.stringify(n));
  await c.req('unsubscribe', { subscription_id: r.result.subscription_id });
  await c.event('subscription', (m) => m.data.state === 'terminated');
  assert(await finished(pbx) === 0, 'the PBX verified the digest of the SUBSCRIBE and saw the unsubscribe');
  assert(!logs.includes('pbx-secret'), 'the password is not logged');
  await c.bye();
});

test('subscriber: a notifier that stops answering — the subscription expires (reason timeout)', async () => {
  const port = await freePort();
  const notifier = sipp(['-sf', sf('uas-mwi-expire.xml'), '-m', '1', '-p', String(port)]);
  await sleep(300);
  const c = await login('erin');
  const r = await c.req('subscribe', { uri: `sip:mwi@127.0.0.1:${port}`, event: 'message-summary' });
  const n = await c.event('notify', (m) => m.data.mwi);
  assert(n.data.mwi.waiting === false && n.data.mwi.new === 0, JSON.stringify(n));
  const t = await c.event('subscription', (m) => m.data.state === 'terminated', 12000);
  assert(t.id === r.id && t.data.reason === 'timeout', JSON.stringify(t));
  assert(await finished(notifier) === 0);
  await c.bye();
});

test('subscriber: presence — a NOTIFY before the 200 (RFC 6665 §4.1.2.4), PIDF delivered raw, ended by the notifier', async () => {
  const port = await freePort();
  const notifier = sipp(['-sf', sf('uas-presence-early.xml'), '-m', '1', '-p', String(port)]);
  await sleep(300);
  const c = await login('erin');
  const r = await c.req('subscribe', { uri: `sip:bob@127.0.0.1:${port}`, event: 'presence' });
  const n = await c.event('notify', (m) => m.data.state === 'active');
  assert(n.data.content_type === 'application/pidf+xml' && /<basic>open<\/basic>/.test(n.data.body) && !n.data.mwi, JSON.stringify(n));
  const t = await c.event('subscription', (m) => m.data.state === 'terminated');
  assert(t.data.reason === 'noresource' && t.id === r.id, JSON.stringify(t));
  assert(await finished(notifier) === 0, 'the notifier got 200 for both NOTIFYs');
  await c.bye();
});

test('subscriber: dialog (busy lamp) with 202, unsubscribe; request errors', async () => {
  const port = await freePort();
  const notifier = sipp(['-sf', sf('uas-dialog.xml'), '-m', '1', '-p', String(port)]);
  await sleep(300);
  const c = await login('erin');
  const other = await login('frank');
  const r = await c.req('subscribe', { uri: `sip:carol@127.0.0.1:${port}`, event: 'dialog', expires: 600 });
  const n = await c.event('notify', (m) => m.data.event === 'dialog');
  assert(n.data.content_type === 'application/dialog-info+xml' && /<state>confirmed<\/state>/.test(n.data.body), JSON.stringify(n));
  const sid = r.result.subscription_id;
  const f = await other.req('unsubscribe', { subscription_id: sid });
  assert(f.error && f.error.code === 403, JSON.stringify(f));
  await c.req('unsubscribe', { subscription_id: sid });
  await c.event('subscription', (m) => m.data.state === 'terminated');
  assert(await finished(notifier) === 0);
  for (const [p, code] of [[{ uri: 'sip:x@127.0.0.1', event: 'foo' }, 422], [{ uri: 'sip:x@127.0.0.1', event: 'presence', expires: 10 }, 422],
    [{ uri: 'tel:+123', event: 'presence' }, 422], [{ uri: 'sip:x@127.0.0.1', event: 'presence', account_id: 'a-99' }, 422],
    [{ event: 'presence' }, 422]]) {
    const e = await c.req('subscribe', p);
    assert(e.error && e.error.code === code, `${JSON.stringify(p)}: ${JSON.stringify(e)}`);
  }
  await c.bye(); await other.bye();
});

test('notifier: presence of a WebSocket user — closed, open at login, publish_presence with a note, closed at logout; refresh and unsubscribe (digest)', async () => {
  const from = traceMsgs().length;
  const watcher = await uac('uac-watch.xml', 'erin', ['-key', 'event', 'presence', '-key', 'accept', 'application/pidf+xml']);
  await untilNotifies('presence', from, (n) => n.length >= 1, 'the initial NOTIFY');
  assert(/<basic>closed<\/basic>/.test(sentNotifies('presence', from)[0].text), 'erin is offline at first');
  const c = await login('erin');
  await untilNotifies('presence', from, (n) => /<basic>open<\/basic>/.test(n[n.length - 1].text), 'open at login');
  assert(/watcher w-\d+ state=active event=presence user=erin from=127\.0\.0\.1/.test(await (await fetch(`http://127.0.0.1:${http}/calls`)).text()), 'the watcher in the dump');
  const p = await c.req('publish_presence', { status: 'closed', note: 'in a <meeting> & busy' });
  assert(p.result, JSON.stringify(p));
  await untilNotifies('presence', from, (n) => /<basic>closed<\/basic>[\s\S]*<note>in a &lt;meeting&gt; &amp; busy<\/note>/.test(n[n.length - 1].text), 'the published state');
  const bad = await c.req('publish_presence', { status: 'maybe' });
  assert(bad.error && bad.error.code === 422, JSON.stringify(bad));
  await c.bye();
  await untilNotifies('presence', from, (n) => { const t = n[n.length - 1].text; return /<basic>closed/.test(t) && !/<note>/.test(t); }, 'closed at logout');
  assert(await finished(watcher, 20000) === 0, 'the watcher refreshed and unsubscribed (final NOTIFY terminated)');
  const all = sentNotifies('presence', from);
  assert(/Subscription-State: terminated/.test(all[all.length - 1].text) && all.every((m) => /Content-Type: application\/pidf\+xml/.test(m.text)), 'final NOTIFY');
  assert(all.slice(0, -1).every((m) => /Subscription-State: active;expires=\d+/.test(m.text)), 'active until then');
});

test('notifier: a watcher that does not refresh gets the final NOTIFY (terminated;reason=timeout) at expiry', async () => {
  const w = await uac('uac-watch-expire.xml', 'erin', ['-key', 'event', 'dialog', '-key', 'accept', 'application/dialog-info+xml']);
  assert(await finished(w, 20000) === 0, 'active, then terminated;reason=timeout after 6 s');
});

test('notifier: presence from the location service — a SIP phone registering as erin opens her presence, unregistering closes it', async () => {
  // register-auth.xml for the domain gorgee.test (Request-URI sip:gorgee.test), and its Expires 0 twin
  const base = fs.readFileSync(sf('register-auth.xml'), 'utf8')
    .replace(/REGISTER sip:\[remote_ip\]:\[remote_port\]/g, 'REGISTER sip:gorgee.test')
    .replace(/sip:\[service\]@\[remote_ip\]/g, 'sip:[service]@gorgee.test');
  fs.writeFileSync(path.join(DIR, 'reg.xml'), base);
  fs.writeFileSync(path.join(DIR, 'unreg.xml'), base.replace(/Expires: 600/g, 'Expires: 0')
    .replace(/<recv response="200">[\s\S]*?<\/recv>/, '<recv response="200"/>').replace(/<Reference[^>]*>/, ''));
  const from = traceMsgs().length;
  const watcher = await uac('uac-watch.xml', 'erin', ['-key', 'event', 'presence', '-key', 'accept', 'application/pidf+xml']);
  await untilNotifies('presence', from, (n) => n.length >= 1 && /<basic>closed/.test(n[0].text), 'closed at first');
  const port = await freePort(); // the same Contact for the REGISTER and its removal
  const phone = async (f) => sipp(['-sf', path.join(DIR, f), '-m', '1', '-s', 'erin', '-au', 'erin',
    '-ap', 'erin-pass', '-auth_uri', 'gorgee.test', '-p', String(port), `127.0.0.1:${sip}`]);
  assert(await finished(await phone('reg.xml')) === 0, 'the phone registered');
  await untilNotifies('presence', from, (n) => /<basic>open<\/basic>/.test(n[n.length - 1].text), 'open while registered');
  assert(await finished(await phone('unreg.xml')) === 0, 'the phone unregistered');
  await untilNotifies('presence', from, (n) => /<basic>closed<\/basic>/.test(n[n.length - 1].text), 'closed again');
  assert(await finished(watcher, 20000) === 0);
});

test('notifier: dialog state of a WebSocket user (RFC 4235) follows its call: trying/early/confirmed, then terminated', async () => {
  const from = traceMsgs().length;
  const watcher = await uac('uac-watch.xml', 'erin', ['-key', 'event', 'dialog', '-key', 'accept', 'application/dialog-info+xml']);
  await untilNotifies('dialog', from, (n) => n.length >= 1, 'the initial NOTIFY');
  assert(!/<dialog id=/.test(sentNotifies('dialog', from)[0].text), 'no dialogs at first');
  const uasPort = await freePort();
  const callee = sipp(['-sn', 'uas', '-m', '1', '-p', String(uasPort)]);
  await sleep(300);
  const c = await login('erin');
  const rtp = dgram.createSocket('udp4');
  await new Promise((r) => rtp.bind(0, '127.0.0.1', r));
  const r = await c.req('call', { to: `sip:1000@127.0.0.1:${uasPort}`, jsep: { type: 'offer', sdp: offer(rtp.address().port) } });
  const callId = r.result.call_id;
  await c.event('call_state', (m) => m.call_id === callId && m.data.state === 'answered');
  await untilNotifies('dialog', from, (n) => n.some((m) => new RegExp(`<dialog id="${callId}" direction="initiator"><state>confirmed</state>`).test(m.text)), 'confirmed');
  await c.req('hangup', { call_id: callId });
  await untilNotifies('dialog', from, (n) => new RegExp(`<dialog id="${callId}" direction="initiator"><state>terminated</state>`).test(n[n.length - 1].text), 'terminated');
  const n = sentNotifies('dialog', from);
  const versions = n.map((m) => Number(/version="(\d+)"/.exec(m.text)[1]));
  assert(versions.every((v, i) => v === i), `versions count up from 0: ${versions}`);
  assert(n.every((m) => /state="full" entity="sip:erin@gorgee.test"/.test(m.text)), 'full state for erin');
  assert(await finished(callee) === 0, 'the callee saw BYE');
  rtp.close(); await c.bye();
  assert(await finished(watcher, 20000) === 0, 'the watcher refreshed and unsubscribed');
});

test('a WebSocket user watches another user of the domain (no SIP): presence follows login and publish_presence, dialog-info, unknown user 404, unsubscribe', async () => {
  const e = await login('erin');
  const r = await e.req('subscribe', { uri: 'frank', event: 'presence' });
  const sid = r.result.subscription_id;
  const first = await e.event('notify', (m) => m.data.subscription_id === sid);
  assert(first.id === r.id && first.data.content_type === 'application/pidf+xml' && /<basic>closed<\/basic>/.test(first.data.body) &&
    /entity="sip:frank@gorgee.test"/.test(first.data.body), JSON.stringify(first));
  await e.event('subscription', (m) => m.data.subscription_id === sid && m.data.state === 'active');
  const f = await login('frank');
  await e.event('notify', (m) => m.data.subscription_id === sid && /<basic>open<\/basic>/.test(m.data.body));
  await f.req('publish_presence', { status: 'closed', note: 'busy' });
  await e.event('notify', (m) => m.data.subscription_id === sid && /<note>busy<\/note>/.test(m.data.body));
  const d = await e.req('subscribe', { uri: 'sip:frank@gorgee.test', event: 'dialog' });
  const dn = await e.event('notify', (m) => m.data.subscription_id === d.result.subscription_id);
  assert(/<dialog-info [^>]*version="0" state="full"/.test(dn.data.body) && !/<dialog id/.test(dn.data.body), JSON.stringify(dn));
  const none = await e.req('subscribe', { uri: 'nobody', event: 'presence' });
  const gone = await e.event('subscription', (m) => m.id === none.id && m.data.state === 'terminated');
  assert(gone.data.code === 404, JSON.stringify(gone));
  for (const id of [sid, d.result.subscription_id]) {
    const u = await e.req('unsubscribe', { subscription_id: id });
    const t = await e.event('subscription', (m) => m.id === u.id && m.data.state === 'terminated');
    assert(t.data.reason === 'unsubscribed', JSON.stringify(t));
  }
  // a session that ends takes its subscriptions along
  await e.req('subscribe', { uri: 'frank', event: 'presence' });
  await e.bye(); await f.bye();
});

test('PUBLISH (RFC 3903): entity tags for refresh, modify and remove, 412, 423, 415, 400, 413 over the body cap; the published state reaches presence watchers', async () => {
  const from = traceMsgs().length;
  const watcher = await uac('uac-watch.xml', 'erin', ['-key', 'event', 'presence', '-key', 'accept', 'application/pidf+xml']);
  await untilNotifies('presence', from, (n) => n.length >= 1, 'the initial NOTIFY');
  const pub = await uac('uac-publish.xml', 'erin');
  assert(await finished(pub) === 0, 'every PUBLISH got the expected answer');
  const etags = traceMsgs().slice(from).filter((m) => /^SIP\/2\.0 200/.test(m.text) && /CSeq: \d+ PUBLISH/.test(m.text))
    .map((m) => (/^SIP-ETag: (\S+)/m.exec(m.text) || [])[1]).filter(Boolean);
  assert(etags.length === 3 && new Set(etags).size === 3, `a new entity tag for each success: ${etags}`);
  const n = sentNotifies('presence', from).map((m) => m.text);
  const open = n.findIndex((t) => /<basic>open<\/basic>[\s\S]*<note>out for lunch &amp; back at 2<\/note>/.test(t));
  const closed = n.findIndex((t) => /<basic>closed<\/basic>[\s\S]*<note>away<\/note>/.test(t));
  assert(open > 0 && closed > open, `published open, then modified to closed: ${n.join('\n---\n').slice(-2000)}`);
  await untilNotifies('presence', from, (x) => !/<note>/.test(x[x.length - 1].text), 'removed: back to the default state');
  assert(await finished(watcher, 20000) === 0);
});

test('bad inputs (BI-11, BI-15): NOTIFY for an unknown subscription 481, missing or unknown Event 489, Expires below the minimum 423, SUBSCRIBE without Contact 400, unknown user 404', async () => {
  const p = await uac('uac-event-bad.xml', 'erin');
  assert(await finished(p) === 0, 'every answer as expected (see the scenario)');
  // digest as erin (-auth_uri: the Request-URI), watching a user the domain does not have
  const u = sipp(['-sf', sf('uac-sub-unknown.xml'), '-m', '1', '-s', 'nobody', '-au', 'erin', '-ap', 'erin-pass',
    '-auth_uri', 'nobody@gorgee.test', '-p', String(await freePort()), `127.0.0.1:${sip}`]);
  assert(await finished(u) === 0, 'a SUBSCRIBE for an unknown user gets 404 after digest');
});

test('caps: a subscription flood is capped per user and per source (503 with Retry-After)', async () => {
  const from = traceMsgs().length;
  const hold = (user, n) => freePort().then((port) => sipp(['-sf', sf('uac-watch.xml'), '-m', String(n), '-r', '20', '-s', user,
    '-au', user, '-ap', `${user}-pass`, '-auth_uri', `${user}@gorgee.test`, '-key', 'event', 'presence', '-key', 'accept', 'application/pidf+xml',
    '-p', String(port), `127.0.0.1:${sip}`]));
  const erin = await hold('erin', 3); // the per-user cap is 3
  await untilNotifies('presence', from, (n) => n.length >= 3, 'three watchers of erin');
  const over = await uac('uac-sub-refused.xml', 'erin', ['-key', 'event', 'presence']);
  assert(await finished(over) === 0, 'a fourth watcher of erin gets 503');
  const frank = await hold('frank', 2); // the per-source cap is 5
  await untilNotifies('presence', from, (n) => n.length >= 5, 'two watchers of frank');
  const over2 = await uac('uac-sub-refused.xml', 'dave', ['-key', 'event', 'presence']);
  assert(await finished(over2) === 0, 'a sixth subscription from 127.0.0.1 gets 503');
  assert(await finished(erin, 20000) === 0 && await finished(frank, 20000) === 0, 'the held ones ended cleanly');
  // once they are gone there is room again
  const again = await uac('uac-watch.xml', 'dave', ['-key', 'event', 'presence', '-key', 'accept', 'application/pidf+xml']);
  assert(await finished(again, 20000) === 0, 'room again after the unsubscribes');
});

(async () => {
  let failed = 0;
  console.log(`1..${tests.length + 1}`);
  try { await start(); } catch (e) { console.log(`# ${e.message}`); }
  const only = process.env.ONLY ? new RegExp(process.env.ONLY) : null;
  for (let i = 0; i < tests.length; i++) {
    if (only && !only.test(tests[i].name)) { console.log(`ok ${i + 1} - ${tests[i].name} # SKIP`); continue; }
    try { await tests[i].fn(); await settle(); console.log(`ok ${i + 1} - ${tests[i].name}`); }
    catch (e) { failed++; console.log(`# ${String(e.stack || e).split('\n').join('\n# ')}`); console.log(`not ok ${i + 1} - ${tests[i].name}`); }
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
