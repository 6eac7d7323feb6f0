// What the node tests that put baresip behind gorgee share (ws_baresip.mjs and
// ws_baresip_dtls.mjs): G.711 µ-law and a tone's frequency, baresip started with ctrl_tcp and
// driven through it, its recording read back, a WebRTC answer as a browser would give it,
// and gorgee's health and metrics.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// G.711 µ-law (ITU-T G.711): decode and encode one sample.
export function ulawDecode(u) {
  u = ~u & 0xff;
  const t = (((u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4);
  return (u & 0x80) ? 0x84 - t : t - 0x84;
}
export function ulawEncode(x) {
  const sign = x < 0 ? 0x80 : 0;
  const v = Math.min(Math.abs(x), 32635) + 0x84;
  let exp = 7;
  for (let mask = 0x4000; (v & mask) === 0 && exp > 0; mask >>= 1) exp--;
  return ~(sign | (exp << 4) | ((v >> (exp + 3)) & 0x0f)) & 0xff;
}
// Frequency by zero crossings over samples at rate.
export function freq(samples, rate) {
  let z = 0;
  for (let i = 1; i < samples.length; i++) if ((samples[i - 1] < 0) !== (samples[i] < 0)) z++;
  return (z / 2) / (samples.length / rate);
}

// 150 RTP packets (3 s) of a PCMU tone at hz, 20 ms apart, from sock to port on loopback;
// sequence numbers from seq0 (65500: across the wrap).
export async function sendTone(sock, port, hz = 1000, seq0 = 0) {
  for (let i = 0; i < 150; i++) {
    const pkt = Buffer.alloc(172);
    pkt[0] = 0x80; pkt[1] = 0; pkt.writeUInt16BE((seq0 + i) & 0xffff, 2); pkt.writeUInt32BE(i * 160, 4); pkt.writeUInt32BE(0xfeed, 8);
    for (let k = 0; k < 160; k++) pkt[12 + k] = ulawEncode(Math.round(8000 * Math.sin(2 * Math.PI * hz * (i * 160 + k) / 8000)));
    sock.send(pkt, port, '127.0.0.1');
    await sleep(20);
  }
}

// baresip's recording of what it received (the decoded stream, *dec.wav in recDir):
// { loud, total, rate, hz } with hz measured between the fractions from and to of it.
export function recordedTone(recDir, from = 1 / 4, to = 3 / 4) {
  const rec = fs.readdirSync(recDir).filter((n) => /dec\.wav$/.test(n));
  if (!rec.length) throw new Error('baresip recorded nothing');
  const wav = fs.readFileSync(path.join(recDir, rec[0]));
  const data = wav.indexOf('data');
  const ch = wav.readUInt16LE(22), rate = wav.readUInt32LE(24);
  const samples = [];
  for (let o = data + 8; o + 2 * ch <= wav.length; o += 2 * ch) samples.push(wav.readInt16LE(o));
  const loud = samples.filter((x) => Math.abs(x) > 1000).length;
  const hz = freq(samples.slice(Math.floor(samples.length * from), Math.floor(samples.length * to)), rate);
  return { loud, total: samples.length, rate, hz };
}

// baresip in conf (a directory): auto-answer, 440 Hz sine, records what it receives into
// conf/rec, ctrl_tcp on ctrlPort. extraModules: e.g. ['dtls_srtp.so']; extraConfig: more
// config lines (e.g. 'video_source fakevideo,nil'); accounts: lines.
export async function startBaresip(conf, { sipPort, ctrlPort, rtpMin, extraModules = [], extraConfig = [], accounts, log }) {
  fs.mkdirSync(path.join(conf, 'rec'), { recursive: true });
  fs.writeFileSync(path.join(conf, 'config'), [
    'poll_method epoll', `sip_listen 127.0.0.1:${sipPort}`, 'sip_trans_def udp', 'audio_player alsa,null',
    'audio_source ausine,440', 'audio_alert alsa,null', 'ausrc_srate 48000', 'ausrc_channels 2',
    'auplay_srate 48000', 'auplay_channels 2', `rtp_ports ${rtpMin}-${rtpMin + 19}`, 'rtcp_mux no',
    'net_interface 127.0.0.1', 'dns_server 127.0.0.1:53', 'module_path /usr/lib/baresip/modules',
    'module g711.so', ...extraModules.map((m) => `module ${m}`), 'module ausine.so', 'module alsa.so',
    'module sndfile.so', 'module_app account.so', 'module_app menu.so', 'module ctrl_tcp.so',
    `ctrl_tcp_listen 127.0.0.1:${ctrlPort}`, `snd_path ${path.join(conf, 'rec')}`, ...extraConfig, ''].join('\n'));
  fs.writeFileSync(path.join(conf, 'accounts'), accounts.map((a) => `${a}\n`).join(''));
  fs.writeFileSync(path.join(conf, 'contacts'), '');
  const blog = fs.openSync(log, 'w');
  const phone = spawn('baresip', ['-f', conf], { stdio: ['ignore', blog, blog] });
  for (let i = 0; i < 100; i++) {
    if (await new Promise((r) => { const s = net.connect(ctrlPort, '127.0.0.1', () => { s.end(); r(true); }); s.on('error', () => r(false)); })) return phone;
    await sleep(100);
  }
  phone.kill('SIGTERM');
  throw new Error('baresip did not start');
}

// baresip's ctrl_tcp: netstring-framed JSON commands.
export function ctrl(port, command, params = '') {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    const msg = JSON.stringify({ command, params, token: 't1' });
    let buf = '';
    s.on('connect', () => s.write(`${Buffer.byteLength(msg)}:${msg},`));
    s.on('data', (d) => {
      buf += d;
      for (let m; (m = /^(\d+):/.exec(buf)) && buf.length >= m[0].length + Number(m[1]) + 1;) {
        const body = JSON.parse(buf.slice(m[0].length, m[0].length + Number(m[1])));
        buf = buf.slice(m[0].length + Number(m[1]) + 1);
        if (body.response && body.token === 't1') { s.end(); resolve(body); }
      }
    });
    s.on('error', reject);
    setTimeout(() => { s.destroy(); reject(new Error(`ctrl ${command}: no response`)); }, 5000);
  });
}

// A WebRTC answer to gorgee's offer as a browser would give it (ICE and DTLS are not run).
export function webrtcAnswer(offer) {
  const mid = (/a=mid:(\S+)/.exec(offer) || [, '0'])[1];
  return ['v=0', 'o=- 2 2 IN IP4 127.0.0.1', 's=-', 't=0 0', `a=group:BUNDLE ${mid}`,
    'm=audio 9 UDP/TLS/RTP/SAVPF 0', 'c=IN IP4 0.0.0.0', 'a=ice-ufrag:wxyz', 'a=ice-pwd:abcdefghijklmnopqrstuvwx',
    'a=fingerprint:sha-256 ' + Array(32).fill('CD').join(':'), 'a=setup:active', `a=mid:${mid}`,
    'a=sendrecv', 'a=rtcp-mux', 'a=rtpmap:0 PCMU/8000', ''].join('\r\n');
}

// gorgee as the baresip tests run it: SIP on loopback UDP port sip with baresip at phonePort
// as the trunk, one media worker on media..media+49, users erin and gina (password
// "<user>-pass"), extra options after; its log goes to dir/gorgee.log and to onLog. Resolves
// with the process once /healthz answers.
export async function startGorgee(bin, { dir, http, sip, phonePort, media, extra = [], onLog = () => {} }) {
  const level = process.env.GORGEE_LOG_LEVEL || 'info';
  const args = ['--set', `general.data_dir=${dir}/data`, '--set', `http.port=${http}`, '--set', 'http.listen=127.0.0.1',
    '--set', 'sip.listen=127.0.0.1', '--set', `sip.udp_port=${sip}`, '--set', 'sip.tcp_port=0',
    '--set', `calls.trunk=sip:127.0.0.1:${phonePort}`, '--set', 'calls.trusted=127.0.0.1',
    '--set', 'media.address=127.0.0.1', '--set', 'media.workers=1',
    '--set', `media.port_min=${media}`, '--set', `media.port_max=${media + 49}`,
    '--set', `general.log_level=${level}`, ...extra];
  for (const u of ['erin', 'gina']) execFileSync(bin, [...args, '--add-user', u], { input: `${u}-pass\n` });
  const gw = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  gw.stderr.on('data', (d) => { onLog(String(d)); fs.appendFileSync(path.join(dir, 'gorgee.log'), d); });
  await waitHealthy(http);
  return gw;
}

// Until gorgee's /healthz answers (5 s at most).
export async function waitHealthy(http) {
  for (let i = 0; i < 100; i++) {
    try { if ((await fetch(`http://127.0.0.1:${http}/healthz`)).ok) return; } catch { /* not yet */ }
    await sleep(50);
  }
}

// Until no call and no relay session is left (5 s), else throws.
export async function noCallsLeft(http) {
  for (let i = 0; i < 50; i++) {
    const body = await (await fetch(`http://127.0.0.1:${http}/metrics`)).text();
    if (/^gorgee_calls 0$/m.test(body) && /^gorgee_relay_sessions 0$/m.test(body)) return;
    await sleep(100);
  }
  throw new Error('a call or relay session was left behind');
}

// A counter or gauge of gorgee's /metrics by its full name with labels (0 when absent).
export async function metric(http, name) {
  const body = await (await fetch(`http://127.0.0.1:${http}/metrics`)).text();
  const m = new RegExp(`^${name.replace(/[{}"=,]/g, (c) => '\\' + c)} (\\d+)`, 'm').exec(body);
  return m ? Number(m[1]) : 0;
}

// Runs the TAP cases after start(); stop() afterwards; logs in dir are removed when all pass.
export async function tapMain(tests, { needs = [], start, stop, dir }) {
  let failed = 0;
  for (const bin of needs) {
    if (!fs.existsSync(`/usr/bin/${bin}`)) { console.log(`1..0 # SKIP ${bin} is not installed`); process.exit(0); }
  }
  console.log(`1..${tests.length}`);
  try { await start(); } catch (e) { console.log(`# ${e.message}`); }
  for (let i = 0; i < tests.length; i++) {
    try { await tests[i].fn(); console.log(`ok ${i + 1} - ${tests[i].name}`); }
    catch (e) { failed++; console.log(`# ${String(e.stack || e).split('\n').join('\n# ')}`); console.log(`not ok ${i + 1} - ${tests[i].name}`); }
  }
  await stop();
  if (!failed) fs.rmSync(dir, { recursive: true, force: true }); else console.log(`# logs in ${dir}`);
  process.exit(failed ? 1 : 0);
}
