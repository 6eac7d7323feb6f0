// gorgee.js: a small browser client for gorgee's WebSocket signaling protocol (ws/PROTOCOL.md)
// with WebRTC audio (and optionally video) calls. An ES module with no dependencies and no
// build step:
//
//   import { GorgeeClient } from './gorgee.js';
//   const g = new GorgeeClient('ws://127.0.0.1:8080/');
//   await g.connect();
//   await g.login({ username: 'alice', password: 'secret' });
//   g.on('incoming_call', (call) => call.answer());
//   const call = await g.call('sip:bob@example.com');
//   call.on('state', (state, data) => console.log(state, data));
//
// Every request returns a promise that settles with the reply's `result`, or rejects with a
// GorgeeError {code, name, message} (the protocol's error object; code 0 for local failures
// such as a dropped connection or a timeout).

/** The WebSocket subprotocol gorgee requires. */
export const SUBPROTOCOL = 'gorgee-v1';

/** Close codes after which the client does not reconnect (ws/PROTOCOL.md "Close codes"). */
const FINAL_CLOSE = new Set([1000, 1003, 1009, 4401, 4409]);

/**
 * An error reply, or a local failure (code 0).
 * @property {number} code  the protocol's code (401, 404, 409, 422, ...) or 0
 * @property {string} name  the protocol's name (`unauthorized`, `wrong_state`, ...) or a local
 *                          one (`disconnected`, `timeout`, `media`)
 */
export class GorgeeError extends Error {
  /**
   * @param {number} code
   * @param {string} name
   * @param {string} message
   */
  constructor(code, name, message) {
    super(message || name);
    this.code = code;
    this.name = name;
  }

  /** @returns {{code:number,name:string,message:string}} */
  toJSON() { return { code: this.code, name: this.name, message: this.message }; }
}

/** A tiny event emitter: on/off/once/emit; on() returns a function that unsubscribes. */
class Emitter {
  constructor() { this._handlers = new Map(); }

  /**
   * @param {string} name event name, or '*' for every event (handler gets name first)
   * @param {Function} fn
   * @returns {() => void} unsubscribe
   */
  on(name, fn) {
    if (!this._handlers.has(name)) this._handlers.set(name, new Set());
    this._handlers.get(name).add(fn);
    return () => this.off(name, fn);
  }

  /** @param {string} name @param {Function} fn */
  off(name, fn) { this._handlers.get(name)?.delete(fn); }

  /** @param {string} name @param {Function} fn @returns {() => void} */
  once(name, fn) {
    const off = this.on(name, (...a) => { off(); fn(...a); });
    return off;
  }

  /** Calls the handlers of `name`, then those of '*'. A throwing handler is logged, not fatal. */
  emit(name, ...args) {
    const run = (fn, a) => { try { fn(...a); } catch (e) { console.error(`gorgee: '${name}' handler:`, e); } };
    for (const fn of [...(this._handlers.get(name) || [])]) run(fn, args);
    for (const fn of [...(this._handlers.get('*') || [])]) run(fn, [name, ...args]);
  }
}

/**
 * One call, outgoing or incoming. Created by GorgeeClient.call() and delivered with the
 * client's `incoming_call` event.
 *
 * Properties: `id` (gorgee's call id, `c-...`; null until the `call` reply), `direction`
 * (`outgoing`|`incoming`), `state` (`new`, `calling`, `ringing`, `early`, `answered`,
 * `held`, `ended`), `from`, `to`, `accountId`, `pc` (the RTCPeerConnection, once media is
 * set up), `localStream`, `remoteStream`, `startedAt`/`answeredAt`/`endedAt` (ms since the
 * epoch), `end` ({code, reason, by} when ended), `held`, `muted`.
 *
 * Events (call.on): `state` (state, data), `remote_stream` (MediaStream), `ice`
 * (iceConnectionState), `ended` (data), `error` (GorgeeError), `renegotiated` (jsep),
 * `info` (data: {content_type, body}), `dtmf` (data: {digits, duration, method}),
 * `message` (data: {from, content_type, body}), `transfer_progress` (data: {code, final}),
 * `transfer_request` (data: {to, referred_by}: answer with acceptTransfer/rejectTransfer).
 */
export class Call extends Emitter {
  /** @param {GorgeeClient} client @param {'outgoing'|'incoming'} direction */
  constructor(client, direction) {
    super();
    this.client = client;
    this.direction = direction;
    this.id = null;
    this.requestId = null;
    this.state = 'new';
    this.from = null;
    this.to = null;
    this.accountId = null;
    this.pc = null;
    this.localStream = null;
    this.remoteStream = null;
    this.startedAt = Date.now();
    this.answeredAt = null;
    this.endedAt = null;
    this.end = null;
    this.held = false;
    this.muted = false;
    this.remoteOffer = null;       // an incoming call's offer until answered
    this._remoteCandidates = [];   // trickled before the remote description was set
    this._remoteCompleted = false;
    this._localCandidates = [];    // gathered before gorgee gave us the call id
    this._localCompleted = false;
  }

  /** Answers an incoming call. @param {object} [opts] {media} overrides @returns {Promise<object>} */
  answer(opts) { return this.client.answer(this, opts); }
  /** Declines a ringing incoming call. @param {number} [code=486] @param {string} [reason] */
  decline(code, reason) { return this.client.decline(this, code, reason); }
  /** Hangs up (cancels before an answer). @param {number} [code] @param {string} [reason] */
  hangup(code, reason) { return this.client.hangup(this, code, reason); }
  /** Puts the call on hold. */
  hold() { return this.client.hold(this); }
  /** Takes the call off hold. */
  unhold() { return this.client.unhold(this); }
  /** Sends DTMF digits. @param {string} digits 0-9 * # A-D @param {object} [opts] {method, duration} */
  dtmf(digits, opts) { return this.client.dtmf(this, digits, opts); }
  /** Sends a SIP MESSAGE in the call's dialog (see GorgeeClient.message for the result).
   * @param {string} body @param {string} [contentType] */
  message(body, contentType) {
    return this.client._message({ call_id: this.id, content_type: contentType || 'text/plain', body });
  }
  /** Sends a SIP INFO in the call's dialog. @param {string} contentType @param {string} body */
  info(contentType, body) { return this.client.info(this, contentType, body); }
  /** Blind transfer of the other party to `to` (REFER). @param {string} to */
  transfer(to) { return this.client.transfer(this, to); }
  /** Accepts the other party's transfer request (`transfer_request` event). */
  acceptTransfer() { return this.client.request('transfer_accept', { call_id: this.id }); }
  /** Refuses the other party's transfer request. */
  rejectTransfer() { return this.client.request('transfer_reject', { call_id: this.id }); }

  /** Mutes or unmutes the microphone locally (no signaling). @param {boolean} on */
  mute(on) {
    this.muted = !!on;
    for (const t of this.localStream?.getAudioTracks() || []) t.enabled = !this.muted && !this.held;
  }

  /** Seconds since the answer (0 before). */
  get duration() {
    if (!this.answeredAt) return 0;
    return ((this.endedAt || Date.now()) - this.answeredAt) / 1000;
  }

  /**
   * A summary of the peer connection's statistics, or null without one:
   * {packetsSent, packetsReceived, packetsLost, lossPercent, jitterMs, rttMs, bytesReceived,
   *  codec, audioLevel, candidatePair, dtlsState, quality: 'good'|'fair'|'poor'|'unknown'}.
   * @returns {Promise<object|null>}
   */
  async stats() {
    if (!this.pc) return null;
    const report = await this.pc.getStats();
    const byId = new Map();
    report.forEach((s) => byId.set(s.id, s));
    const out = { packetsSent: 0, packetsReceived: 0, packetsLost: 0, bytesReceived: 0, jitterMs: null,
      rttMs: null, codec: null, audioLevel: null, candidatePair: null, dtlsState: null };
    report.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'audio') {
        out.packetsReceived += s.packetsReceived || 0;
        out.packetsLost += Math.max(0, s.packetsLost || 0);
        out.bytesReceived += s.bytesReceived || 0;
        if (typeof s.jitter === 'number') out.jitterMs = +(s.jitter * 1000).toFixed(1);
        if (typeof s.audioLevel === 'number') out.audioLevel = s.audioLevel;
        const c = byId.get(s.codecId);
        if (c) out.codec = `${c.mimeType.replace(/^audio\//, '')}/${c.clockRate}`;
      } else if (s.type === 'outbound-rtp' && s.kind === 'audio') {
        out.packetsSent += s.packetsSent || 0;
      } else if (s.type === 'remote-inbound-rtp' && typeof s.roundTripTime === 'number') {
        out.rttMs = Math.round(s.roundTripTime * 1000);
      } else if (s.type === 'transport' && s.selectedCandidatePairId) {
        out.dtlsState = s.dtlsState;
        const p = byId.get(s.selectedCandidatePairId);
        const l = p && byId.get(p.localCandidateId), r = p && byId.get(p.remoteCandidateId);
        if (l && r) out.candidatePair = `${l.address}:${l.port} ${l.protocol} ⇄ ${r.address}:${r.port}`;
        if (p && out.rttMs === null && typeof p.currentRoundTripTime === 'number') out.rttMs = Math.round(p.currentRoundTripTime * 1000);
      }
    });
    const total = out.packetsReceived + out.packetsLost;
    out.lossPercent = total ? +(100 * out.packetsLost / total).toFixed(1) : 0;
    out.quality = qualityOf(out);
    return out;
  }
}

/** A rough call quality from loss, jitter and round trip (E-model thresholds, simplified). */
function qualityOf(s) {
  if (!s.packetsReceived) return 'unknown';
  if (s.lossPercent > 5 || (s.jitterMs ?? 0) > 60 || (s.rttMs ?? 0) > 400) return 'poor';
  if (s.lossPercent > 1 || (s.jitterMs ?? 0) > 30 || (s.rttMs ?? 0) > 250) return 'fair';
  return 'good';
}

/**
 * A connection to gorgee: requests with promises, events, a session that survives
 * reconnects (resume), SIP accounts and WebRTC audio calls.
 *
 * Client events (client.on):
 * - `open`, `close` ({code, reason, willReconnect}), `reconnecting` ({attempt, delayMs})
 * - `session` (login/resume result), `session_lost` (GorgeeError: the resume was refused or
 *   came too late; calls are gone)
 * - `registration` (data: {account_id, state, expires?, code?, reason?}, id)
 * - `incoming_call` (Call, data), `call` (Call: every new call, either direction)
 * - `call_state` (Call, data), `trickle` (Call, data), `renegotiate` (Call, data)
 * - `message` (data: {from, content_type, body}, id, call), `message_status` (data, id)
 * - `dtmf`, `info` (data, id, call): received in a call
 * - `transfer_progress`, `transfer_request` (call, data, id)
 * - `event` (the raw event object, for events this file does not know), `error` (GorgeeError)
 */
export class GorgeeClient extends Emitter {
  /**
   * @param {string} [url] ws:// or wss:// URL; default: this page's origin
   * @param {object} [opts]
   * @param {RTCIceServer[]} [opts.iceServers=[]]
   * @param {boolean|MediaTrackConstraints} [opts.audio=true] getUserMedia audio constraints
   * @param {boolean|MediaTrackConstraints} [opts.video=false] getUserMedia video constraints
   *   (a camera track is sent too; gorgee relays video between a browser and a SIP peer)
   * @param {boolean} [opts.reconnect=true] reconnect and resume after a drop
   * @param {number} [opts.requestTimeout=15000] ms before a request rejects with `timeout`
   * @param {boolean} [opts.trickle=true] send candidates as they come (false: wait for all
   *   of them and put them in the SDP)
   * @param {Function} [opts.WebSocket] a WebSocket constructor (default: the global one)
   */
  constructor(url, opts = {}) {
    super();
    if (!url && typeof location !== 'undefined') url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/`;
    this.url = url;
    this.opts = { iceServers: [], audio: true, video: false, reconnect: true, requestTimeout: 15000, trickle: true, ...opts };
    this.ws = null;
    this.session = null;          // the login/resume result
    this.user = null;
    this.calls = new Map();       // call id -> Call
    this.accounts = new Map();    // account id -> last registration data
    this._pending = new Map();    // request id -> {resolve, reject, timer, request}
    this._nextId = 1;
    this._closing = false;
    this._attempt = 0;
    this._reconnectTimer = null;
    this._lostAt = 0;
  }

  /** Whether the WebSocket is open. */
  get connected() { return !!this.ws && this.ws.readyState === 1; }

  /**
   * Opens the WebSocket (subprotocol gorgee-v1). Resolves when open; rejects with a
   * GorgeeError `connect_failed` when the upgrade fails.
   * @returns {Promise<void>}
   */
  connect(opts = {}) {
    this._closing = false;
    const WS = this.opts.WebSocket || globalThis.WebSocket;
    let url = this.url;
    if (opts.token) url += `${url.includes('?') ? '&' : '?'}access_token=${encodeURIComponent(opts.token)}`;
    return new Promise((resolve, reject) => {
      let opened = false;
      const ws = new WS(url, SUBPROTOCOL);
      this.ws = ws;
      ws.onopen = () => { opened = true; this._attempt = 0; this.emit('open'); resolve(); };
      ws.onmessage = (ev) => this._onMessage(ev.data);
      ws.onerror = () => { if (!opened) reject(new GorgeeError(0, 'connect_failed', `cannot connect to ${this.url}`)); };
      ws.onclose = (ev) => {
        if (this.ws !== ws) return;
        this.ws = null;
        this._failPending(new GorgeeError(0, 'disconnected', `connection closed (${ev.code}${ev.reason ? ' ' + ev.reason : ''})`));
        const willReconnect = opened && this._shouldReconnect(ev.code);
        this.emit('close', { code: ev.code, reason: ev.reason, willReconnect });
        if (!opened) reject(new GorgeeError(0, 'connect_failed', `cannot connect to ${this.url} (${ev.code})`));
        if (willReconnect) {
          if (!this._lostAt) this._lostAt = Date.now();
          this._scheduleReconnect();
        } else if (opened && this.session && ev.code !== 1000) {
          this._dropSession(new GorgeeError(ev.code, 'closed', closeText(ev.code)));
        }
      };
    });
  }

  _shouldReconnect(code) {
    return this.opts.reconnect && !this._closing && !!this.session && !FINAL_CLOSE.has(code);
  }

  _scheduleReconnect() {
    if (this._reconnectTimer) return;
    const grace = (this.session?.resume_grace || 60) * 1000;
    if (Date.now() - this._lostAt > grace) {
      this._dropSession(new GorgeeError(401, 'unauthorized', 'the session expired while disconnected'));
      return;
    }
    const delayMs = Math.min(8000, 250 * 2 ** this._attempt++);
    this.emit('reconnecting', { attempt: this._attempt, delayMs });
    this._reconnectTimer = setTimeout(async () => {
      this._reconnectTimer = null;
      try {
        await this.connect();
        await this.resume();
      } catch (e) {
        // a failed upgrade fires no reconnect from onclose (it never opened): retry here
        if (e.code === 401) this._dropSession(e);
        else if (this._shouldReconnect(0)) this._scheduleReconnect();
      }
    }, delayMs);
  }

  _dropSession(err) {
    this.session = null;
    this.user = null;
    this._lostAt = 0;
    for (const call of [...this.calls.values()]) this._ended(call, { state: 'ended', code: 0, reason: 'session lost', by: 'local' });
    this.accounts.clear();
    this.emit('session_lost', err);
  }

  /**
   * Sends a request and resolves with its result (generic: any request of PROTOCOL.md).
   * @param {string} request
   * @param {object} [params]
   * @returns {Promise<object>} the reply's `result`; rejects with GorgeeError
   */
  request(request, params) {
    if (!this.connected) return Promise.reject(new GorgeeError(0, 'disconnected', 'not connected'));
    const id = this._nextId++;
    const msg = { request, id };
    if (params && Object.keys(params).length) msg.params = params;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(id);
        reject(new GorgeeError(0, 'timeout', `no reply to '${request}' within ${this.opts.requestTimeout} ms`));
      }, this.opts.requestTimeout);
      this._pending.set(id, { resolve, reject, timer, request });
      this.ws.send(JSON.stringify(msg));
    });
  }

  /** The id the next request will carry (to match events that arrive before its reply). */
  get nextRequestId() { return this._nextId; }

  _failPending(err) {
    for (const [, p] of this._pending) { clearTimeout(p.timer); p.reject(err); }
    this._pending.clear();
  }

  /**
   * Connects and logs in at once with a token in the upgrade URL (`?access_token=`, what
   * browsers can do: PROTOCOL.md "Connecting"); resolves with the `session` event's data.
   * A refused token fails the upgrade (401), which a browser reports only as a failed
   * connection: the error is `connect_failed`. Prefer wss://, as URLs may be logged.
   * @param {string} token a JWT @returns {Promise<object>} {session_id, user, resume_token, ...}
   */
  async connectWithToken(token) {
    let off;
    const session = new Promise((resolve, reject) => {
      const t = setTimeout(() => { off(); reject(new GorgeeError(0, 'timeout', 'no session after the upgrade')); }, this.opts.requestTimeout);
      off = this.on('session', (s) => { off(); clearTimeout(t); resolve(s); });
    });
    try {
      await this.connect({ token });
    } catch (e) {
      off();
      throw new GorgeeError(0, 'connect_failed', `${e.message} (was the token refused?)`);
    }
    return session;
  }

  /**
   * Logs in with a token or with a username and password; remembers the session for
   * resume. @param {{token?:string, username?:string, password?:string}} creds
   * @returns {Promise<object>} {session_id, user, resume_token, resume_grace, protocol}
   */
  async login(creds) {
    const params = creds.token ? { token: creds.token } : { username: creds.username, password: creds.password };
    const r = await this.request('login', params);
    this._setSession(r);
    return r;
  }

  /** Reattaches the remembered session after a reconnect. @returns {Promise<object>} */
  async resume() {
    if (!this.session) throw new GorgeeError(0, 'no_session', 'nothing to resume');
    const r = await this.request('resume', { session_id: this.session.session_id, resume_token: this.session.resume_token });
    this._setSession(r);
    return r;
  }

  _setSession(r) {
    this.session = r;
    this.user = r.user;
    this._lostAt = 0;
    this.emit('session', r);
  }

  /** Ends the session (gorgee hangs up its calls) and closes the connection. */
  async logout() {
    this._closing = true;
    try { await this.request('logout'); } finally {
      this.session = null;
      this.user = null;
      for (const call of [...this.calls.values()]) this._ended(call, { state: 'ended', code: 0, reason: 'logged out', by: 'local' });
      this.close();
    }
  }

  /** Closes the connection without logging out (the session lives on for its grace). */
  close() {
    this._closing = true;
    if (this._reconnectTimer) clearTimeout(this._reconnectTimer);
    this._reconnectTimer = null;
    if (this.ws) this.ws.close(1000);
  }

  /** Application-level round trip. @returns {Promise<{time_ms:number, rtt_ms:number}>} */
  async ping() {
    const t0 = performance.now();
    const r = await this.request('ping');
    return { ...r, rtt_ms: Math.round(performance.now() - t0) };
  }

  /**
   * Registers a SIP account upstream. @param {object} params uri, username, password, proxy,
   * outbound_proxy, expires, headers (ws/PROTOCOL.md "register") @returns {Promise<string>}
   * the account id; `registration` events follow.
   */
  async register(params) {
    const r = await this.request('register', params);
    if (!this.accounts.has(r.account_id)) this.accounts.set(r.account_id, { account_id: r.account_id, state: 'registering', uri: params.uri });
    return r.account_id;
  }

  /** @param {string} accountId @returns {Promise<object>} */
  unregister(accountId) { return this.request('unregister', { account_id: accountId }); }

  /**
   * Sends a SIP MESSAGE (RFC 3428) outside a call, or through an account.
   * @param {string} to @param {string} body
   * @param {{content_type?:string, account_id?:string}} [opts]
   * @returns {Promise<{id:number, status:Promise<object|null>}>} once gorgee took it; `status`
   *   settles with the `message_status` data ({code, delivered}), or null after 40 s
   */
  async message(to, body, opts = {}) {
    const p = { to, content_type: opts.content_type || 'text/plain', body };
    if (opts.account_id) p.account_id = opts.account_id;
    return this._message(p);
  }

  async _message(params) {
    const id = this._nextId; // the id request() gives it, for its message_status
    let off, timer;
    const status = new Promise((resolve) => {
      off = this.on('message_status', (d, evId) => { if (evId === id) { off(); clearTimeout(timer); resolve(d); } });
      timer = setTimeout(() => { off(); resolve(null); }, 40000);
    });
    try {
      const r = await this.request('message', params);
      return { ...r, id, status };
    } catch (e) {
      off();
      clearTimeout(timer);
      throw e;
    }
  }

  // ---- calls ----

  async _media(call, opts) {
    const pc = new RTCPeerConnection({ iceServers: this.opts.iceServers });
    call.pc = pc;
    call.remoteStream = new MediaStream();
    pc.ontrack = (ev) => {
      for (const t of ev.streams[0]?.getTracks() || [ev.track]) if (!call.remoteStream.getTrackById(t.id)) call.remoteStream.addTrack(t);
      call.emit('remote_stream', call.remoteStream);
    };
    pc.onicecandidate = (ev) => this._localCandidate(call, ev.candidate);
    pc.oniceconnectionstatechange = () => call.emit('ice', pc.iceConnectionState);
    const audio = opts?.audio ?? this.opts.audio;
    const video = opts?.video ?? this.opts.video;
    try {
      call.localStream = opts?.stream || await navigator.mediaDevices.getUserMedia({ audio, video });
    } catch (e) {
      throw new GorgeeError(0, 'media', `${video ? 'camera or ' : ''}microphone: ${e.message || e.name}`);
    }
    for (const t of call.localStream.getAudioTracks()) pc.addTrack(t, call.localStream);
    if (video) for (const t of call.localStream.getVideoTracks()) pc.addTrack(t, call.localStream);
    return pc;
  }

  // Without trickle the SDP carries every candidate: wait for gathering (at most 5 s).
  async _localSdp(pc) {
    if (!this.opts.trickle && pc.iceGatheringState !== 'complete') {
      await new Promise((res) => {
        const t = setTimeout(res, 5000);
        pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') { clearTimeout(t); res(); } });
      });
    }
    return { type: pc.localDescription.type, sdp: pc.localDescription.sdp };
  }

  _localCandidate(call, cand) {
    if (!this.opts.trickle) return;
    if (!cand || !cand.candidate) {
      if (call._localCompleted) return;
      call._localCompleted = true;
      if (call.id) this._sendTrickle(call, { completed: true });
      return;
    }
    const c = { candidate: cand.candidate, sdpMid: cand.sdpMid, sdpMLineIndex: cand.sdpMLineIndex };
    if (call.id) this._sendTrickle(call, { candidate: c });
    else call._localCandidates.push(c);
  }

  _sendTrickle(call, params) {
    if (call.state === 'ended') return;
    // a candidate can cross the call's end: gorgee then no longer knows the call (422)
    this.request('trickle', { call_id: call.id, ...params }).catch((e) => { if (call.state !== 'ended') call.emit('error', e); });
  }

  _flushLocalCandidates(call) {
    for (const c of call._localCandidates) this._sendTrickle(call, { candidate: c });
    call._localCandidates = [];
    if (call._localCompleted) this._sendTrickle(call, { completed: true });
  }

  async _applyRemote(call, jsep) {
    await call.pc.setRemoteDescription(jsep);
    for (const c of call._remoteCandidates) await call.pc.addIceCandidate(c).catch((e) => call.emit('error', new GorgeeError(0, 'ice', e.message)));
    call._remoteCandidates = [];
    if (call._remoteCompleted) await call.pc.addIceCandidate().catch(() => {});
  }

  _addCall(call) {
    this.calls.set(call.id, call);
    this.emit('call', call);
  }

  /**
   * Places a call: getUserMedia, an RTCPeerConnection, an offer sent with `call`.
   * @param {string} to a SIP URI
   * @param {object} [opts]
   * @param {string} [opts.account_id] place it through a registered account
   * @param {object} [opts.headers] extra SIP headers
   * @param {boolean|MediaTrackConstraints} [opts.audio] getUserMedia constraints for this call
   * @param {boolean|MediaTrackConstraints} [opts.video] the same for video (default: none)
   * @param {MediaStream} [opts.stream] use this stream instead of getUserMedia
   * @returns {Promise<Call>} resolves once gorgee accepted the request (state `calling`)
   */
  async call(to, opts = {}) {
    const call = new Call(this, 'outgoing');
    call.to = to;
    call.from = this.user;
    call.accountId = opts.account_id || null;
    try {
      const pc = await this._media(call, opts);
      await pc.setLocalDescription(await pc.createOffer());
      const params = { to, jsep: await this._localSdp(pc) };
      if (opts.account_id) params.account_id = opts.account_id;
      if (opts.headers) params.headers = opts.headers;
      call.requestId = this._nextId;
      this._early = this._early || new Map(); // events that beat the reply
      const r = await this.request('call', params);
      call.id = r.call_id;
      this._addCall(call);
      if (call.state === 'new') this._setState(call, 'calling', {});
      this._flushLocalCandidates(call);
      for (const ev of this._takeEarly(call)) this._onEvent(ev);
      return call;
    } catch (e) {
      this._cleanup(call);
      call.state = 'ended';
      throw e;
    }
  }

  _takeEarly(call) {
    const out = (this._early?.get(call.id) || []);
    this._early?.delete(call.id);
    return out;
  }

  /**
   * Answers an incoming call: setRemoteDescription(offer), createAnswer, `answer`. An
   * incoming call without an offer is answered with an offer (the answer comes in a
   * `call_state` event). @param {Call|string} call @param {object} [opts] {audio, video, stream}
   * @returns {Promise<object>}
   */
  async answer(call, opts = {}) {
    call = this._call(call);
    if (call.direction !== 'incoming' || call.state !== 'ringing') throw new GorgeeError(409, 'wrong_state', `call ${call.id} is not ringing`);
    call.state = 'answering';
    try {
      const pc = await this._media(call, opts);
      if (call.remoteOffer) {
        await this._applyRemote(call, call.remoteOffer);
        await pc.setLocalDescription(await pc.createAnswer());
      } else {
        await pc.setLocalDescription(await pc.createOffer());
      }
      const r = await this.request('answer', { call_id: call.id, jsep: await this._localSdp(pc) });
      this._flushLocalCandidates(call);
      // gorgee sends no call_state to the side that answered: the reply is the answer
      if (call.state === 'answering' && call.remoteOffer) this._setState(call, 'answered', {});
      return r;
    } catch (e) {
      if (call.state === 'answering') call.state = 'ringing';
      throw e;
    }
  }

  /** @param {Call|string} call @param {number} [code=486] 400-699 @param {string} [reason] */
  decline(call, code = 486, reason) {
    call = this._call(call);
    const p = { call_id: call.id, code };
    if (reason) p.reason = reason;
    return this.request('decline', p);
  }

  /** Hangs up, or cancels before an answer. The call ends locally at once. */
  async hangup(call, code, reason) {
    call = this._call(call);
    const p = { call_id: call.id };
    if (code) p.code = code;
    if (reason) p.reason = reason;
    try {
      return await this.request('hangup', p);
    } finally {
      this._ended(call, { state: 'ended', code: code || 200, reason: reason || 'hangup', by: 'local' });
    }
  }

  /**
   * Puts a call on hold: gorgee re-offers toward the other party (sendonly) and reports the
   * outcome as `call_state` `held` (or `answered` with a `code` when refused). The
   * microphone is off while the call is held.
   */
  hold(call) {
    call = this._call(call);
    return this.request('hold', { call_id: call.id });
  }

  /** Takes a call off hold (`call_state` `answered` follows). */
  unhold(call) {
    call = this._call(call);
    return this.request('unhold', { call_id: call.id });
  }

  /**
   * Sends DTMF digits (0-9 * # A-D). `rfc4733` (default): the browser sends telephone-event
   * RTP itself (RTCRtpSender.dtmf), which gorgee relays; rejects with `not_available` when
   * the call negotiated no telephone-event. `info`: gorgee sends one SIP INFO
   * (application/dtmf-relay) per digit; resolves with the last reply ({code}).
   * @param {Call|string} call @param {string} digits
   * @param {{method?:'rfc4733'|'info', duration?:number}} [opts] duration in ms (default 100)
   * @returns {Promise<object>}
   */
  async dtmf(call, digits, opts = {}) {
    call = this._call(call);
    digits = String(digits);
    if (!/^[0-9A-D*#]+$/i.test(digits)) throw new GorgeeError(422, 'invalid_params', `not DTMF digits: '${digits}'`);
    if ((opts.method || 'rfc4733') === 'rfc4733') {
      const sender = call.pc?.getSenders().find((s) => s.dtmf);
      if (!sender || !sender.dtmf.canInsertDTMF) throw new GorgeeError(0, 'not_available', 'the call has no RFC 4733 DTMF (telephone-event not negotiated)');
      // insertDTMF replaces what is still queued: keep it, so quick presses are all sent
      sender.dtmf.insertDTMF(sender.dtmf.toneBuffer + digits, Math.max(40, opts.duration || 100));
      return {};
    }
    let r = {};
    for (const d of digits) {
      const p = { call_id: call.id, digits: d, method: 'info' };
      if (opts.duration) p.duration = opts.duration;
      r = await this.request('dtmf', p);
    }
    return r;
  }

  /**
   * Blind transfer (RFC 3515 REFER) of the call's other party to `to`; resolves with the
   * REFER's final status ({code: 202}); `transfer_progress` events follow, and a
   * successful transfer ends the call (reason `transferred`).
   * @param {Call|string} call @param {string} to
   */
  transfer(call, to) {
    call = this._call(call);
    return this.request('transfer', { call_id: call.id, to });
  }

  /**
   * Sends a SIP INFO in the call's dialog; resolves with the peer's answer ({code}).
   * @param {Call|string} call @param {string} contentType @param {string} body
   */
  info(call, contentType, body) {
    call = this._call(call);
    return this.request('info', { call_id: call.id, content_type: contentType, body });
  }

  /**
   * Renegotiates the call's media with a fresh offer (e.g. after an ICE restart).
   * @param {Call|string} call @param {{iceRestart?:boolean}} [opts]
   */
  async renegotiate(call, opts = {}) {
    call = this._call(call);
    await call.pc.setLocalDescription(await call.pc.createOffer({ iceRestart: !!opts.iceRestart }));
    return this.request('renegotiate', { call_id: call.id, jsep: await this._localSdp(call.pc) });
  }

  _call(c) {
    const call = typeof c === 'string' ? this.calls.get(c) : c;
    if (!call) throw new GorgeeError(0, 'no_call', `no call ${c}`);
    return call;
  }

  _setState(call, state, data) {
    if (call.state === 'ended') return;
    call.state = state;
    if (state === 'answered' && !call.answeredAt) call.answeredAt = Date.now();
    if (state === 'held' || (state === 'answered' && call.held)) {
      call.held = state === 'held';
      for (const t of call.localStream?.getAudioTracks() || []) t.enabled = !call.held && !call.muted;
    }
    call.emit('state', state, data);
  }

  _ended(call, data) {
    if (call.state === 'ended') return;
    call.endedAt = Date.now();
    call.end = { code: data.code, reason: data.reason, by: data.by };
    this._cleanup(call);
    this._setState(call, 'ended', data);
    call.state = 'ended';
    this.calls.delete(call.id);
    call.emit('ended', data);
  }

  _cleanup(call) {
    for (const t of call.localStream?.getTracks() || []) t.stop();
    if (call.pc) { try { call.pc.close(); } catch { /* already closed */ } }
  }

  // ---- incoming messages ----

  _onMessage(text) {
    let m;
    try { m = JSON.parse(text); } catch { this.emit('error', new GorgeeError(0, 'bad_message', 'gorgee sent invalid JSON')); return; }
    if (m.reply !== undefined) {
      const p = this._pending.get(m.id);
      if (!p) {
        if (m.error) this.emit('error', new GorgeeError(m.error.code, m.error.name, m.error.message));
        return;
      }
      this._pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.error) p.reject(new GorgeeError(m.error.code, m.error.name, m.error.message));
      else p.resolve(m.result || {});
    } else if (m.event !== undefined) {
      this._onEvent(m);
    }
  }

  _onEvent(m) {
    const d = m.data || {};
    const call = m.call_id ? this.calls.get(m.call_id) : null;
    // Events of an outgoing call that arrive before the `call` reply wait for it.
    if (m.call_id && !call && m.event !== 'incoming_call' && this._early && [...this._pending.values()].some((p) => p.request === 'call')) {
      if (!this._early.has(m.call_id)) this._early.set(m.call_id, []);
      this._early.get(m.call_id).push(m);
      return;
    }
    switch (m.event) {
    case 'session': // logged in at the upgrade (connectWithToken)
      this._setSession(d);
      return;
    case 'registration':
      this.accounts.set(d.account_id, { ...(this.accounts.get(d.account_id) || {}), ...d });
      if (d.state === 'unregistered') this.accounts.delete(d.account_id);
      this.emit('registration', d, m.id);
      return;
    case 'incoming_call': {
      const c = new Call(this, 'incoming');
      c.id = m.call_id;
      c.from = d.from;
      c.to = d.to;
      c.accountId = d.account_id || null;
      c.remoteOffer = d.jsep || null;
      c.state = 'ringing';
      this._addCall(c);
      this.emit('incoming_call', c, d);
      return;
    }
    case 'call_state':
      if (call) this._onCallState(call, d);
      this.emit('call_state', call, d, m);
      return;
    case 'trickle':
      if (call) this._onTrickle(call, d);
      this.emit('trickle', call, d);
      return;
    case 'renegotiate':
      if (call) this._onRenegotiate(call, d);
      this.emit('renegotiate', call, d);
      return;
    case 'renegotiated':
      if (call && d.jsep) call.pc.setRemoteDescription(d.jsep).then(() => call.emit('renegotiated', d.jsep),
        (e) => call.emit('error', new GorgeeError(0, 'media', e.message)));
      return;
    case 'transfer_progress':
    case 'transfer_request':
      if (call) call.emit(m.event, d);
      this.emit(m.event, call, d, m.id);
      return;
    case 'message':
    case 'message_status':
    case 'info':
    case 'dtmf':
      if (call && (m.event === 'info' || m.event === 'dtmf' || m.event === 'message')) call.emit(m.event, d);
      this.emit(m.event, d, m.id, call);
      return;
    default:
      this.emit('event', m);
    }
  }

  async _onCallState(call, d) {
    if (d.state === 'ended') { this._ended(call, d); return; }
    const jsep = d.jsep;
    this._setState(call, d.state, d);
    if (!jsep || !call.pc) return;
    try {
      if (jsep.type === 'answer' && call.pc.signalingState === 'have-local-offer') {
        await this._applyRemote(call, jsep);
      } else if (jsep.type === 'offer') {
        await this._onRenegotiate(call, d);
      }
    } catch (e) {
      const err = new GorgeeError(0, 'media', `remote description: ${e.message}`);
      call.emit('error', err);
      this.emit('error', err);
    }
  }

  _onTrickle(call, d) {
    if (d.completed) {
      call._remoteCompleted = true;
      if (call.pc?.remoteDescription) call.pc.addIceCandidate().catch(() => {});
      return;
    }
    if (!d.candidate) return;
    if (call.pc?.remoteDescription) call.pc.addIceCandidate(d.candidate).catch((e) => call.emit('error', new GorgeeError(0, 'ice', e.message)));
    else call._remoteCandidates.push(d.candidate);
  }

  // An offer from the far side (re-INVITE/UPDATE): answer it with `renegotiate`.
  async _onRenegotiate(call, d) {
    if (!d.jsep || !call.pc) return;
    try {
      await call.pc.setRemoteDescription(d.jsep);
      await call.pc.setLocalDescription(await call.pc.createAnswer());
      await this.request('renegotiate', { call_id: call.id, jsep: { type: 'answer', sdp: call.pc.localDescription.sdp } });
      call.emit('renegotiated', d.jsep);
    } catch (e) {
      call.emit('error', e instanceof GorgeeError ? e : new GorgeeError(0, 'media', e.message));
    }
  }
}

/** A readable sentence for a close code. @param {number} code @returns {string} */
export function closeText(code) {
  return ({
    1000: 'closed', 1001: 'gorgee is stopping or the connection timed out', 1003: 'binary frame refused',
    1006: 'connection lost', 1009: 'message too large', 4401: 'not logged in (login failed or too late)',
    4408: 'the client read too slowly', 4409: 'the session was resumed on another connection',
  })[code] || `closed (${code})`;
}

/**
 * A readable sentence for an error (GorgeeError, Error or anything else).
 * @param {*} e @returns {string}
 */
export function errorText(e) {
  if (e instanceof GorgeeError) {
    const hint = ({ 401: 'check the user name and password', 403: 'not allowed', 409: 'not possible right now',
      422: 'invalid input', 429: 'too many requests, slow down', 501: 'not offered by this gateway',
      503: 'the gateway is stopping' })[e.code];
    return `${e.message}${hint && !e.message.includes(hint) ? ` (${hint})` : ''}${e.code ? ` [${e.code} ${e.name}]` : ''}`;
  }
  return String(e?.message || e);
}
