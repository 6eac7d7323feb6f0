// baresip (a real SIP phone, its presence module) against gorgee's event packages: baresip
// registers as bob, subscribes to the presence of erin (a contact with presence=p2p) and
// sees her go online when a WebSocket client logs in as erin and offline when it logs out;
// baresip PUBLISHes its own presence (pubint) and gets an entity tag; on exit it
// unsubscribes and gets the final NOTIFY. Digest throughout (nothing is trusted).
// usage: node ws_baresip_presence.mjs path/to/gorgee     Prints TAP.
import { spawn, execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { freePort, baresipPort } from './wsclient.mjs';

const require = createRequire(import.meta.url);
const WebSocket = require('ws');
const GORGEE = process.argv[2];
const tests = [];
const test = (name, fn) => tests.push({ name, fn });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function assert(cond, msg) { if (!cond) throw new Error(msg || 'assertion failed'); }



const DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'gorgee-bspres-'));
const TRACE = path.join(DIR, 'sip-trace.txt');
const BLOG = path.join(DIR, 'baresip.log');
let http, sip, phonePort, gw, phone, logs = '';

async function start() {
  [http, sip, phonePort] = [await freePort(), await freePort(), await baresipPort()];
  // no domain and no trunk: every host is ours; baresip 1.0 answers only MD5 challenges
  const args = ['--set', `general.data_dir=${DIR}/data`, '--set', `http.port=${http}`, '--set', 'http.listen=127.0.0.1',
    '--set', 'sip.listen=127.0.0.1', '--set', `sip.udp_port=${sip}`, '--set', 'sip.tcp_port=0',
    '--set', 'registrar.digest_algorithms=md5', '--set', 'media.address=127.0.0.1', '--set', 'media.workers=1',
    '--set', 'general.log_level=info', '--set', `sip.trace_file=${TRACE}`];
  for (const u of ['erin', 'bob']) execFileSync(GORGEE, [...args, '--add-user', u], { input: `${u}-pass\n` });
  gw = spawn(GORGEE, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  gw.stderr.on('data', (d) => { logs += d; fs.appendFileSync(path.join(DIR, 'gorgee.log'), d); });
  for (let i = 0; i < 100; i++) {
    try { if ((await fetch(`http://127.0.0.1:${http}/healthz`)).ok) break; } catch { /* not yet */ }
    await sleep(50);
  }
  const conf = path.join(DIR, 'bob');
  fs.mkdirSync(conf, { recursive: true });
  fs.writeFileSync(path.join(conf, 'config'), [
    'poll_method epoll', `sip_listen 127.0.0.1:${phonePort}`, 'sip_trans_def udp', 'audio_player alsa,null',
    'audio_source ausine,440', 'net_interface 127.0.0.1', 'dns_server 127.0.0.1:53',
    'module_path /usr/lib/baresip/modules', 'module g711.so', 'module ausine.so', 'module alsa.so',
    'module_app account.so', 'module_app contact.so', 'module_app presence.so', ''].join('\n'));
  fs.writeFileSync(path.join(conf, 'accounts'), `<sip:bob@127.0.0.1:${sip}>;auth_pass=bob-pass;regint=120;pubint=60\n`);
  fs.writeFileSync(path.join(conf, 'contacts'), `"Erin" <sip:erin@127.0.0.1:${sip}>;presence=p2p\n`);
  const blog = fs.openSync(BLOG, 'w');
  phone = spawn('baresip', ['-f', conf, '-v'], { stdio: ['ignore', blog, blog] });
}

const read = (f) => { try { return fs.readFileSync(f, 'utf8'); } catch { return ''; } };
async function until(pred, what, ms = 10000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = pred();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timeout waiting for ${what}; baresip: ${read(BLOG).slice(-1500)}`);
    await sleep(100);
  }
}
// NOTIFYs gorgee sent to baresip
const notifies = () => read(TRACE).split(/^[UT] \S+ \S+ \S+ -> \S+\n/m)
  .filter((m) => m.startsWith('NOTIFY ') && new RegExp(`^NOTIFY sip:[^ ]*127\\.0\\.0\\.1:${phonePort}`).test(m));
// baresip 1.0 prints "<sip:erin@...> changed status from Offline to Online" (with colour codes)
const statusLines = () => read(BLOG).replace(/\x1b\[[0-9;]*m/g, '').split('\n').filter((l) => /changed status from/.test(l));

async function wsLogin(user) {
  const ws = new WebSocket(`ws://127.0.0.1:${http}/`, 'gorgee-v1');
  const msgs = [];
  ws.on('message', (d) => msgs.push(JSON.parse(d.toString())));
  await new Promise((r, j) => { ws.on('open', r); ws.on('error', j); });
  ws.send(JSON.stringify({ request: 'login', id: 1, params: { username: user, password: `${user}-pass` } }));
  await until(() => msgs.find((m) => m.id === 1), 'login reply');
  assert(msgs[0].result, JSON.stringify(msgs[0]));
  return { ws, msgs };
}

test('baresip subscribes to erin (digest): closed while she is offline', async () => {
  await until(() => notifies().length >= 1, 'the initial NOTIFY to baresip');
  assert(/<basic>closed<\/basic>/.test(notifies()[0]), notifies()[0]);
  assert(/Subscription-State: active;expires=\d+/.test(notifies()[0]), 'active subscription');
});

test('erin logs in over WebSocket: baresip sees her open; logs out: closed again', async () => {
  const before = statusLines().length;
  const c = await wsLogin('erin');
  await until(() => notifies().some((n) => /<basic>open<\/basic>/.test(n)), 'an open NOTIFY');
  await until(() => statusLines().length > before, 'baresip to take the new status');
  const changed = statusLines().slice(before).join('\n');
  assert(/erin/.test(changed) && /to Online/.test(changed), changed);
  const n = notifies().length;
  c.ws.send(JSON.stringify({ request: 'logout', id: 2 }));
  await until(() => notifies().length > n && /<basic>closed<\/basic>/.test(notifies()[notifies().length - 1]), 'closed at logout');
  await until(() => /erin.*to Offline/.test(statusLines().slice(-1)[0] || ''), 'baresip to see her offline');
});

test('baresip PUBLISHes its presence: 200 with an entity tag', async () => {
  await until(() => /PUBLISH for bob: open, etag [0-9a-f]+/.test(logs), 'a PUBLISH from baresip', 15000);
  assert(/SIP-ETag: [0-9a-f]+/.test(read(TRACE)), 'SIP-ETag in the 200');
});

test('baresip exits: it unsubscribes (Expires 0) and gets the final NOTIFY', async () => {
  phone.kill('SIGTERM');
  await new Promise((r) => { if (phone.exitCode !== null || phone.signalCode) r(); else phone.on('exit', r); });
  await until(() => /Subscription-State: terminated/.test(notifies().slice(-1)[0] || ''), 'the final NOTIFY', 8000)
    .catch(() => { /* baresip 1.0 may exit before it is sent; the watcher then ends on the NOTIFY error */ });
  await until(() => /presence of erin: unsubscribed|NOTIFY got \d+, subscription removed/.test(logs), 'the subscription to end', 40000);
});

(async () => {
  let failed = 0;
  console.log(`1..${tests.length + 1}`);
  try { await start(); } catch (e) { console.log(`# ${e.message}`); }
  for (let i = 0; i < tests.length; i++) {
    try { await tests[i].fn(); console.log(`ok ${i + 1} - ${tests[i].name}`); }
    catch (e) { failed++; console.log(`# ${String(e.stack || e).split('\n').join('\n# ')}`); console.log(`not ok ${i + 1} - ${tests[i].name}`); }
  }
  try { phone.kill('SIGKILL'); } catch { /* gone */ }
  let code = 'not started';
  if (gw) {
    gw.kill('SIGTERM');
    code = await new Promise((r) => { if (gw.exitCode !== null) r(gw.exitCode); else gw.on('exit', r); });
  }
  if (code !== 0) { failed++; console.log(`# gorgee exited ${code}\n# ${logs.split('\n').slice(-30).join('\n# ')}`); }
  console.log(`${code === 0 ? 'ok' : 'not ok'} ${tests.length + 1} - gorgee exits 0 on SIGTERM`);
  if (!failed) fs.rmSync(DIR, { recursive: true, force: true }); else console.log(`# logs in ${DIR}`);
  process.exit(failed ? 1 : 0);
})();
