// The gorgee web softphone: the page's behaviour on top of gorgee.js (ws/PROTOCOL.md).
// One call at a time; a second incoming call can be answered (the current one is hung up)
// or declined. window.gorgeeDemo exposes the client and the current call for tests.
import { GorgeeClient, GorgeeError, errorText } from './gorgee.js';

const $ = (id) => document.getElementById(id);
const show = (id, on) => { $(id).hidden = !on; };

let client = null;
let current = null;      // the Call on screen (ringing, in progress or just ended)
let incoming = null;     // a ringing incoming Call waiting for answer/decline
let audioCtx = null;
let meters = null;       // {remote, local, timer}
let ticker = null;       // call timer + stats, every second
let ring = null;         // ring tone oscillator interval
let errorTimer = null;

// ---- status: health, errors, event log ----

async function refreshHealth() {
  try {
    const h = await (await fetch('/healthz', { cache: 'no-store' })).json();
    $('health').textContent = `gateway ${h.status}, version ${h.version}, up ${Math.round(h.uptime_s)} s`;
  } catch (e) {
    $('health').textContent = `gateway unreachable (${e.message})`;
  }
}

function showError(e, context) {
  const text = (context ? context + ': ' : '') + errorText(e);
  $('error').textContent = text;
  $('error').hidden = false;
  logEvent('error', text);
  clearTimeout(errorTimer);
  errorTimer = setTimeout(() => { $('error').hidden = true; }, 15000);
}

function clearError() { $('error').hidden = true; }

function logEvent(kind, text) {
  const li = document.createElement('li');
  li.textContent = `${new Date().toLocaleTimeString()} ${kind} ${text}`;
  const log = $('event-log');
  log.appendChild(li);
  while (log.children.length > 200) log.firstChild.remove();
}

function setBadge(id, state, text) {
  $(id).dataset.state = state;
  $(id).textContent = text || state;
}

// ---- login ----

function audioConstraints() {
  const on = $('opt-audio-processing').checked;
  return on ? true : { echoCancellation: false, noiseSuppression: false, autoGainControl: false };
}

async function login(ev) {
  ev.preventDefault();
  clearError();
  ensureAudio();
  const url = $('login-url').value.trim();
  const token = $('login-token').value.trim();
  const creds = token ? { token } : { username: $('login-username').value.trim(), password: $('login-password').value };
  if (!token && !creds.username) { showError(new GorgeeError(422, 'invalid_params', 'enter a user name and password, or a token')); return; }
  $('login-submit').disabled = true;
  client?.close();
  client = new GorgeeClient(url, { audio: audioConstraints() });
  wireClient(client);
  try {
    setBadge('conn-state', 'connecting');
    if (token) {
      await client.connectWithToken(token); // the token rides on the upgrade (PROTOCOL.md)
    } else {
      await client.connect();
      await client.login(creds);
    }
    $('login-password').value = '';
  } catch (e) {
    showError(e, 'login');
    client.close();
    setBadge('conn-state', 'disconnected');
  } finally {
    $('login-submit').disabled = false;
  }
}

function loggedIn(on) {
  show('login-panel', !on);
  for (const id of ['session-panel', 'phone-panel', 'accounts-panel', 'messages-panel']) show(id, on);
  $('session-user').textContent = on ? client.user : '';
  $('session-name').textContent = on ? client.user : '';
  if (!on) { $('account-list').replaceChildren(); refreshAccountSelect(); }
}

function wireClient(c) {
  c.on('open', () => setBadge('conn-state', 'connected'));
  c.on('close', (d) => {
    setBadge('conn-state', d.willReconnect ? 'reconnecting' : 'disconnected');
    logEvent('close', `${d.code} ${d.reason || ''}`);
  });
  c.on('reconnecting', (d) => setBadge('conn-state', 'reconnecting', `reconnecting (${d.attempt})`));
  c.on('session', (s) => { loggedIn(true); logEvent('session', `${s.user} ${s.session_id}${s.missed_events !== undefined ? ' resumed' : ''}`); });
  c.on('session_lost', (e) => { showError(e, 'session ended'); loggedIn(false); });
  c.on('registration', (d) => { logEvent('registration', JSON.stringify(d)); renderAccount(d); });
  c.on('incoming_call', onIncoming);
  c.on('call_state', (call, d) => logEvent('call_state', `${call?.id || '?'} ${d.state}${d.code ? ' ' + d.code : ''}${d.reason ? ' ' + d.reason : ''}`));
  c.on('renegotiate', (call) => logEvent('renegotiate', `${call?.id || '?'}: the other side sent a new offer`));
  c.on('message', (d) => addMessage('in', d.from, d.body));
  c.on('message_status', (d) => logEvent('message_status', JSON.stringify(d)));
  c.on('error', (e) => showError(e));
  c.on('event', (m) => logEvent('event', JSON.stringify(m).slice(0, 300)));
}

async function logout() {
  try { await client.logout(); } catch (e) { showError(e, 'logout'); }
  loggedIn(false);
  setBadge('conn-state', 'disconnected');
}

async function ping() {
  try {
    const r = await client.ping();
    $('ping-result').textContent = `${r.rtt_ms} ms`;
  } catch (e) { showError(e, 'ping'); }
}

// ---- accounts ----

function renderAccount(d) {
  const id = `account-${d.account_id}`;
  let li = $(id);
  if (d.state === 'unregistered') { li?.remove(); refreshAccountSelect(); return; }
  if (!li) {
    li = document.createElement('li');
    li.id = id;
    const uri = Object.assign(document.createElement('span'), { className: 'uri' });
    const badge = Object.assign(document.createElement('span'), { className: 'badge', id: `${id}-state` });
    const btn = Object.assign(document.createElement('button'), { type: 'button', className: 'small', id: `${id}-unregister`, textContent: 'Unregister' });
    btn.addEventListener('click', () => client.unregister(d.account_id).catch((e) => showError(e, 'unregister')));
    li.append(uri, ' ', badge, ' ', btn);
    $('account-list').appendChild(li);
  }
  const acc = client.accounts.get(d.account_id) || d;
  li.querySelector('.uri').textContent = acc.uri || d.account_id;
  const why = d.state === 'failed' ? ` ${d.code || ''} ${d.reason || ''}` : '';
  setBadge(`${id}-state`, d.state, d.state + why);
  refreshAccountSelect();
}

function refreshAccountSelect() {
  const sel = $('dial-account');
  const keep = sel.value;
  sel.replaceChildren(new Option('this gateway', ''));
  for (const [id, a] of client?.accounts || []) sel.add(new Option(`${a.uri || id} (${a.state})`, id));
  sel.value = [...sel.options].some((o) => o.value === keep) ? keep : '';
}

async function registerAccount(ev) {
  ev.preventDefault();
  const p = { uri: $('account-uri').value.trim() };
  for (const [k, id] of [['username', 'account-username'], ['password', 'account-password'], ['proxy', 'account-proxy']]) {
    const v = $(id).value.trim();
    if (v) p[k] = v;
  }
  try {
    const id = await client.register(p);
    renderAccount({ account_id: id, state: 'registering' });
    $('account-password').value = '';
  } catch (e) { showError(e, 'register'); }
}

// ---- calls ----

/** A dial string as gorgee takes it: a SIP URI, user@host as sip:user@host, or a bare
 * user name or number, which gorgee resolves in its own domain (ws/PROTOCOL.md "Calls"). */
function targetUri(s) {
  s = s.trim();
  if (/^(sips?|tel):/i.test(s)) return s;
  if (s.includes('@')) return 'sip:' + s;
  return s;
}

async function startCall() {
  clearError();
  const to = $('dial-to').value;
  if (!to.trim()) { showError(new GorgeeError(422, 'invalid_params', 'enter a number or SIP address')); return; }
  if (current && current.state !== 'ended') { showError(new GorgeeError(409, 'wrong_state', 'hang up the current call first')); return; }
  ensureAudio();
  $('call-start').disabled = true;
  try {
    const opts = { audio: audioConstraints() };
    if ($('dial-account').value) opts.account_id = $('dial-account').value;
    const call = await client.call(targetUri(to), opts);
    attachCall(call);
  } catch (e) {
    showError(e, 'call');
    $('call-start').disabled = false;
  }
}

function onIncoming(call, d) {
  logEvent('incoming_call', `${call.id} from ${d.from}${d.jsep ? '' : ' (no offer)'}`);
  if (incoming && incoming.state === 'ringing') { call.decline(486, 'Busy Here').catch(() => {}); return; }
  incoming = call;
  $('incoming-from').textContent = d.from || 'unknown';
  const acc = d.account_id && client.accounts.get(d.account_id);
  $('incoming-account').textContent = d.account_id ? `for ${acc?.uri || d.account_id}` : '';
  show('incoming-panel', true);
  startRing();
  call.on('ended', () => { if (incoming === call) { incoming = null; show('incoming-panel', false); stopRing(); } });
}

async function answerIncoming() {
  const call = incoming;
  if (!call) return;
  ensureAudio();
  stopRing();
  show('incoming-panel', false);
  incoming = null;
  if (current && current.state !== 'ended') await current.hangup().catch(() => {});
  attachCall(call);
  try { await call.answer({ audio: audioConstraints() }); } catch (e) { showError(e, 'answer'); }
}

async function declineIncoming() {
  const call = incoming;
  if (!call) return;
  stopRing();
  show('incoming-panel', false);
  incoming = null;
  try { await call.decline(486, 'Busy Here'); } catch (e) { showError(e, 'decline'); }
}

function attachCall(call) {
  current = call;
  show('call-panel', true);
  $('call-id').textContent = call.id;
  $('call-peer').textContent = call.direction === 'outgoing' ? `to ${call.to}` : `from ${call.from}`;
  $('call-dtmf-sent').textContent = '';
  $('call-dtmf-received').textContent = '';
  $('call-transfer-status').textContent = '';
  show('transfer-panel', false);
  $('call-mute').setAttribute('aria-pressed', 'false');
  renderCall();
  if (call.state === 'ended') { callEnded(call, call.end || {}); return; } // ended before the reply came back
  call.on('state', () => renderCall());
  call.on('remote_stream', (s) => {
    $('remote-audio').srcObject = s;
    $('remote-audio').play().catch(() => {});
    meterStream('remote', s);
  });
  call.on('ended', (d) => callEnded(call, d));
  call.on('error', (e) => showError(e, 'call'));
  call.on('dtmf', (d) => { $('call-dtmf-received').textContent += d.digits; });
  call.on('transfer_progress', (d) => {
    $('call-transfer-status').textContent = `transfer: ${d.code}${d.final ? ' (final)' : ''}`;
  });
  call.on('transfer_request', (d) => {
    $('transfer-by').textContent = d.referred_by || 'the other party';
    $('transfer-to').textContent = d.to;
    show('transfer-panel', true);
  });
  if (call.localStream) meterStream('local', call.localStream);
  else call.once('remote_stream', () => call.localStream && meterStream('local', call.localStream));
  startTicker();
}

function callEnded(call, d) {
  stopTicker();
  stopMeters();
  $('remote-audio').srcObject = null;
  renderCall();
  if (d.by !== 'local' && d.code && d.code >= 300) showError(new GorgeeError(d.code, 'call_ended', `call ended: ${d.code} ${d.reason || ''}`.trim()));
}

function renderCall() {
  const c = current;
  const live = c && c.state !== 'ended';
  setBadge('call-state', c ? (c.held && c.state !== 'ended' ? 'held' : c.state) : 'idle');
  $('call-start').disabled = !!live;
  $('call-hangup').disabled = !live;
  const up = live && (c.state === 'answered' || c.state === 'held');
  $('call-hold').disabled = !up || c.held;
  $('call-unhold').disabled = !up || !c.held;
  $('call-mute').disabled = !live;
  $('call-transfer').disabled = !up;
  if (!live) show('transfer-panel', false);
  if (c?.state === 'ended') $('call-quality').textContent = c.end ? `ended (${c.end.by || ''} ${c.end.code || ''} ${c.end.reason || ''})`.replace(/\s+/g, ' ') : 'ended';
  renderTimer();
}

function renderTimer() {
  const s = Math.floor(current?.duration || 0);
  $('call-timer').textContent = `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

function startTicker() {
  stopTicker();
  ticker = setInterval(async () => {
    renderTimer();
    const c = current;
    if (!c || c.state === 'ended') return;
    try {
      const s = await c.stats();
      // the call may have ended while the stats were read: its end stays on screen
      if (!s || c !== current || c.state === 'ended') return;
      $('call-quality').textContent = s.quality;
      $('call-quality').dataset.quality = s.quality;
      $('call-stats').textContent = [s.codec, `sent ${s.packetsSent}`, `received ${s.packetsReceived}`,
        `lost ${s.lossPercent}%`, s.jitterMs !== null ? `jitter ${s.jitterMs} ms` : null,
        s.rttMs !== null ? `rtt ${s.rttMs} ms` : null, s.candidatePair].filter(Boolean).join(' · ');
    } catch { /* the pc closed meanwhile */ }
  }, 1000);
}

function stopTicker() { clearInterval(ticker); ticker = null; }

async function hangup() {
  if (!current) return;
  try { await current.hangup(); } catch (e) { if (e.code !== 0 || e.name !== 'no_call') showError(e, 'hangup'); }
  renderCall();
}

async function hold(on) {
  try { await (on ? current.hold() : current.unhold()); } catch (e) { showError(e, on ? 'hold' : 'resume'); }
  renderCall();
}

function toggleMute() {
  current.mute(!current.muted);
  $('call-mute').setAttribute('aria-pressed', String(current.muted));
  $('call-mute').textContent = current.muted ? 'Unmute' : 'Mute';
}

async function key(k) {
  if (current && (current.state === 'answered' || current.state === 'early')) {
    $('call-dtmf-sent').textContent += k;
    beep(k);
    try { await current.dtmf(k, { method: $('dtmf-method').value }); } catch (e) { showError(e, 'DTMF'); }
  } else {
    $('dial-to').value += k;
  }
}

async function transfer() {
  const to = $('call-transfer-to').value;
  if (!to.trim()) { showError(new GorgeeError(422, 'invalid_params', 'enter where to transfer the call')); return; }
  try {
    const r = await current.transfer(targetUri(to));
    $('call-transfer-status').textContent = `transfer: ${r.code || 'sent'}`;
  } catch (e) { showError(e, 'transfer'); }
}

async function answerTransfer(accept) {
  show('transfer-panel', false);
  try { await (accept ? current.acceptTransfer() : current.rejectTransfer()); } catch (e) { showError(e, 'transfer'); }
}

// ---- audio: meters, ring tone, key beeps ----

function ensureAudio() {
  if (!audioCtx) audioCtx = new AudioContext();
  audioCtx.resume().catch(() => {});
  return audioCtx;
}

function meterStream(which, stream) {
  if (!stream.getAudioTracks().length) return;
  const ctx = ensureAudio();
  meters = meters || {};
  meters[which]?.src.disconnect();
  const src = ctx.createMediaStreamSource(stream);
  const an = ctx.createAnalyser();
  an.fftSize = 2048;
  src.connect(an);
  meters[which] = { src, an, buf: new Float32Array(an.fftSize) };
  if (!meters.timer) meters.timer = setInterval(updateMeters, 100);
}

function level(m) {
  if (!m) return 0;
  m.an.getFloatTimeDomainData(m.buf);
  let sum = 0;
  for (const v of m.buf) sum += v * v;
  return Math.min(1, Math.sqrt(sum / m.buf.length) * 3); // rms, scaled so speech fills the bar
}

function updateMeters() {
  $('call-level').value = level(meters?.remote);
  $('call-mic-level').value = level(meters?.local);
}

function stopMeters() {
  if (!meters) return;
  clearInterval(meters.timer);
  meters.remote?.src.disconnect();
  meters.local?.src.disconnect();
  meters = null;
  $('call-level').value = 0;
  $('call-mic-level').value = 0;
}

function tone(freqs, ms) {
  const ctx = ensureAudio();
  const g = ctx.createGain();
  g.gain.value = 0.08;
  g.connect(ctx.destination);
  for (const f of freqs) {
    const o = ctx.createOscillator();
    o.frequency.value = f;
    o.connect(g);
    o.start();
    o.stop(ctx.currentTime + ms / 1000);
  }
}

const DTMF_HZ = { 1: [697, 1209], 2: [697, 1336], 3: [697, 1477], 4: [770, 1209], 5: [770, 1336], 6: [770, 1477],
  7: [852, 1209], 8: [852, 1336], 9: [852, 1477], '*': [941, 1209], 0: [941, 1336], '#': [941, 1477] };
function beep(k) { try { tone(DTMF_HZ[k] || [1000], 120); } catch { /* no audio output */ } }

function startRing() {
  stopRing();
  const once = () => { try { tone([440, 480], 1000); } catch { /* no audio output */ } };
  once();
  ring = setInterval(once, 3000);
}

function stopRing() { clearInterval(ring); ring = null; }

// ---- messages ----

function addMessage(dir, peer, body) {
  const li = document.createElement('li');
  li.className = dir;
  li.append(`${dir === 'in' ? '←' : '→'} ${peer}: ${body}`);
  $('message-log').appendChild(li);
  return li;
}

async function sendMessage(ev) {
  ev.preventDefault();
  const to = targetUri($('message-to').value);
  const body = $('message-body').value;
  try {
    const opts = $('dial-account').value ? { account_id: $('dial-account').value } : {};
    const r = await client.message(to, body, opts);
    const li = addMessage('out', to, body);
    li.dataset.status = 'sending';
    $('message-body').value = '';
    const st = await r.status;
    const span = document.createElement('span');
    span.className = 'muted';
    li.dataset.status = st?.delivered ? 'delivered' : 'failed';
    span.textContent = st ? (st.delivered ? ' ✓ delivered' : ` ✗ not delivered (${st.code}${st.reason ? ' ' + st.reason : ''})`) : ' ? no delivery report';
    li.appendChild(span);
  } catch (e) { showError(e, 'message'); }
}

// ---- wiring ----

$('login-url').value = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/`;
$('login-form').addEventListener('submit', login);
$('logout').addEventListener('click', logout);
$('ping').addEventListener('click', ping);
$('account-form').addEventListener('submit', registerAccount);
$('message-form').addEventListener('submit', sendMessage);
$('call-start').addEventListener('click', startCall);
$('call-hangup').addEventListener('click', hangup);
$('call-hold').addEventListener('click', () => hold(true));
$('call-unhold').addEventListener('click', () => hold(false));
$('call-mute').addEventListener('click', toggleMute);
$('incoming-answer').addEventListener('click', answerIncoming);
$('call-transfer').addEventListener('click', transfer);
$('transfer-accept').addEventListener('click', () => answerTransfer(true));
$('transfer-reject').addEventListener('click', () => answerTransfer(false));
$('incoming-decline').addEventListener('click', declineIncoming);
$('dial-backspace').addEventListener('click', () => { $('dial-to').value = $('dial-to').value.slice(0, -1); });
$('dial-to').addEventListener('keydown', (e) => { if (e.key === 'Enter') startCall(); });
for (const b of $('keypad').querySelectorAll('button')) b.addEventListener('click', () => key(b.dataset.key));
refreshHealth();
setInterval(refreshHealth, 15000);

window.gorgeeDemo = {
  get client() { return client; },
  get call() { return current; },
  get incoming() { return incoming; },
};
