// A SIP video phone for the end-to-end tests (e2e_video.mjs, e2e_video_calls.mjs): a small
// SIP endpoint on UDP that answers and places INVITEs, and per m-section an RTP port (and
// its RTCP port +1) that reflects or sends, counting packets and payload types.
import crypto from 'node:crypto';
import dgram from 'node:dgram';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// RTP/RTCP sockets on port and port+1, counting what arrives: in (RTP), rtcp (either
// socket), pts (RTP payload type -> count). With echo, RTP goes back to its sender with
// the SSRC changed and the header extension removed (as a phone would send its own
// stream); mapPt(pt) may renumber what is echoed. send(pt, n, port) sends n RTP packets.
// With r.srtp = {rx, tx} (srtp.mjs contexts) RTP is SDES-SRTP both ways; bad counts what
// failed to authenticate.
export function reflector(port, { echo = true, mapPt = (pt) => pt, host = '127.0.0.1' } = {}) {
  const r = { port, in: 0, out: 0, rtcp: 0, bad: 0, pts: new Map(), seq: 0, srtp: null };
  r.rtp = dgram.createSocket('udp4');
  r.rtcpSock = dgram.createSocket('udp4');
  r.rtp.on('message', (m, from) => {
    if (m.length < 8 || (m[0] >> 6) !== 2) return;
    if (m[1] >= 192 && m[1] <= 223) { r.rtcp++; return; } // RTCP (muxed): not echoed
    if (m.length < 12) return;
    if (r.srtp && !(m = r.srtp.rx.unprotect(m))) { r.bad++; return; }
    r.in++;
    const pt = m[1] & 0x7f;
    r.pts.set(pt, (r.pts.get(pt) || 0) + 1);
    if (!echo) return;
    const cc = m[0] & 0x0f;
    const hdr = 12 + 4 * cc;
    let out;
    if (m[0] & 0x10) { // drop the extension: a SIP phone sends none
      const words = m.readUInt16BE(hdr + 2);
      out = Buffer.concat([m.subarray(0, hdr), m.subarray(hdr + 4 + 4 * words)]);
      out[0] &= ~0x10;
    } else {
      out = Buffer.from(m);
    }
    out[1] = (m[1] & 0x80) | mapPt(pt);
    out.writeUInt32BE((m.readUInt32BE(8) ^ 0x5a5a5a5a) >>> 0, 8);
    if (r.srtp) out = r.srtp.tx.protect(out);
    r.rtp.send(out, from.port, from.address, (e) => { if (!e) r.out++; });
  });
  r.rtcpSock.on('message', () => { r.rtcp++; });
  r.ready = Promise.all([new Promise((res) => r.rtp.bind(port, host, res)),
    new Promise((res) => r.rtcpSock.bind(port + 1, host, res))]);
  r.reset = () => { r.in = r.out = r.rtcp = r.bad = 0; r.pts.clear(); r.srtp = null; };
  r.close = () => { r.rtp.close(); r.rtcpSock.close(); };
  // n RTP packets of `size` bytes with payload type pt toward 127.0.0.1:to, from the RTP port
  r.send = (pt, n, to, { size = 200, ssrc = 0x11223344 + port, step = 3000 } = {}) => {
    for (let i = 0; i < n; i++) {
      const b = Buffer.alloc(12 + size, r.seq & 0xff);
      b[0] = 0x80; b[1] = pt; b.writeUInt16BE(r.seq & 0xffff, 2);
      b.writeUInt32BE((r.seq * step) >>> 0, 4); b.writeUInt32BE(ssrc >>> 0, 8);
      r.seq++;
      r.rtp.send(r.srtp ? r.srtp.tx.protect(b) : b, to, host);
    }
  };
  // an RTCP receiver report (RFC 3550 §6.4.2) from the RTP port (muxed) or the RTCP port
  r.sendRtcp = (to, { muxed = true, ssrc = 0x11223344 + port } = {}) => {
    const b = Buffer.alloc(8);
    b[0] = 0x80; b[1] = 201; b.writeUInt16BE(1, 2); b.writeUInt32BE(ssrc >>> 0, 4);
    (muxed ? r.rtp : r.rtcpSock).send(b, to, host);
  };
  return r;
}

export const hdr = (msg, name) => {
  const re = new RegExp(`^(?:${name}):\\s*(.*)$`, 'im');
  return (re.exec(msg.split('\r\n\r\n')[0]) || [])[1];
};
export const bodyOf = (msg) => msg.slice(msg.indexOf('\r\n\r\n') + 4);

// The m-sections of an SDP: [{type, port, proto, pts, lines}] (lines: its a= lines).
export function sdpMedia(sdp) {
  const out = [];
  for (const l of sdp.split(/\r?\n/)) {
    const m = /^m=(\w+) (\d+) (\S+) (.*)$/.exec(l);
    if (m) out.push({ type: m[1], port: Number(m[2]), proto: m[3], pts: m[4].trim().split(' ').map(Number), lines: [] });
    else if (out.length && l.startsWith('a=')) out[out.length - 1].lines.push(l);
  }
  return out;
}

// The payload type of codec `name` (e.g. 'VP8') in m-section m, or undefined.
export const ptOf = (m, name) => m.pts.find((pt) => m.lines.some((l) => l.startsWith(`a=rtpmap:${pt} ${name}/`)));
// The RTCP port an m-section asks for (a=rtcp), else port + 1 (or port with rtcp-mux).
export const rtcpPortOf = (m) => {
  const a = m.lines.find((l) => l.startsWith('a=rtcp:'));
  if (a) return Number(a.slice(7).split(' ')[0]);
  return m.lines.includes('a=rtcp-mux') ? m.port : m.port + 1;
};

// What a phone answers by default: per offered m-section, audio (its first PT) and video (VP8
// if offered, else H264, else the first) on ports rtpA and rtpV; anything else rejected.
// videoPt renumbers the video codec in the answer (RFC 3264 §6.1 allows it); videoMux
// answers a=rtcp-mux on video when offered; sdes {audio, video} (master key || salt
// Buffers) answers each offer's first a=crypto with that key, same tag and suite; audioPt
// renumbers the audio codec like videoPt.
export function answerSdp(offer, { rtpA, rtpV, withVideo = true, videoPt, videoMux = false, sdes, audioPt } = {}) {
  const lines = ['v=0', `o=- ${Date.now()} 1 IN IP4 127.0.0.1`, 's=video phone', 'c=IN IP4 127.0.0.1', 't=0 0'];
  for (const m of sdpMedia(offer)) {
    const rtpmap = (pt) => m.lines.filter((l) => l.startsWith(`a=rtpmap:${pt} `) || l.startsWith(`a=fmtp:${pt} `));
    const crypto = () => {
      const c = m.lines.find((l) => l.startsWith('a=crypto:'));
      if (!c || !sdes?.[m.type]) return [];
      const [tag, suite] = c.slice(9).split(' ');
      return [`a=crypto:${tag} ${suite} inline:${sdes[m.type].toString('base64')}`];
    };
    if (m.type === 'audio' && m.port) {
      const pt = m.pts[0], to = audioPt ?? pt;
      const maps = rtpmap(pt).map((l) => l.replace(`:${pt} `, `:${to} `));
      lines.push(`m=audio ${rtpA} ${m.proto} ${to}`, ...maps, ...crypto(), 'a=sendrecv');
    } else if (m.type === 'video' && m.port && withVideo) {
      const pt = ptOf(m, 'VP8') ?? ptOf(m, 'H264') ?? m.pts[0];
      const to = videoPt ?? pt;
      const maps = rtpmap(pt).map((l) => l.replace(`:${pt} `, `:${to} `));
      const mux = videoMux && m.lines.includes('a=rtcp-mux') ? ['a=rtcp-mux'] : [];
      lines.push(`m=video ${rtpV} ${m.proto} ${to}`, ...maps, `a=rtcp-fb:${to} nack pli`, ...mux, ...crypto(), 'a=sendrecv');
    } else {
      lines.push(`m=${m.type} 0 ${m.proto} ${m.pts[0]}`);
    }
  }
  return lines.join('\r\n') + '\r\n';
}

// A SIP phone on 127.0.0.1:port talking to gorgee on 127.0.0.1:gorgeePort. answer(offer)
// makes the SDP of its 200 to an INVITE (and of its ACK to an offer in a 200).
export class Phone {
  constructor({ port, gorgeePort, answer, name = 'phone' }) {
    this.port = port;
    this.gorgeePort = gorgeePort;
    this.answer = answer;
    this.name = name;
    this.sock = dgram.createSocket('udp4');
    this.msgs = [];
    this.waiters = [];
    this.sock.on('message', (b) => this.onMessage(b.toString()));
  }
  bind() { return new Promise((r) => this.sock.bind(this.port, '127.0.0.1', r)); }
  close() { this.sock.close(); }
  send(text) { this.sock.send(text, this.gorgeePort, '127.0.0.1'); }
  wake() { const w = this.waiters; this.waiters = []; w.forEach((f) => f()); }
  async until(pred, what, ms = 10000) {
    const end = Date.now() + ms;
    for (;;) {
      const v = pred();
      if (v) return v;
      if (Date.now() > end) throw new Error(`${this.name}: timeout waiting for ${what}`);
      await new Promise((r) => { this.waiters.push(r); setTimeout(r, 50); });
    }
  }
  get contact() { return `<sip:${this.name}@127.0.0.1:${this.port}>`; }
  reply(req, code, reason, extra = [], body = '') {
    const vias = req.split('\r\n\r\n')[0].split('\r\n').filter((l) => /^(via|v):/i.test(l));
    let to = hdr(req, 'to|t');
    if (!/;tag=/.test(to)) to += `;tag=${this.tag || (this.tag = crypto.randomBytes(4).toString('hex'))}`;
    const lines = [`SIP/2.0 ${code} ${reason}`, ...vias, `From: ${hdr(req, 'from|f')}`, `To: ${to}`,
      `Call-ID: ${hdr(req, 'call-id|i')}`, `CSeq: ${hdr(req, 'cseq')}`, `Contact: ${this.contact}`, ...extra];
    if (body) lines.push('Content-Type: application/sdp');
    lines.push(`Content-Length: ${Buffer.byteLength(body)}`, '', body);
    this.send(lines.join('\r\n'));
  }
  onMessage(text) {
    this.msgs.push(text);
    const method = (/^(\w+) sip:/.exec(text) || [])[1];
    if (method === 'INVITE') {
      this.lastOffer = bodyOf(text);
      this.lastInvite = text;
      this.lastAnswer = this.answer(this.lastOffer);
      this.reply(text, 200, 'OK', [], this.lastAnswer);
    } else if (method === 'ACK') {
      this.lastAck = text;
    } else if (['BYE', 'OPTIONS', 'UPDATE', 'INFO', 'CANCEL'].includes(method)) {
      this.reply(text, 200, 'OK');
    }
    this.wake();
  }
  // UAC: an INVITE (with sdp, or none: an offerless INVITE whose 200's offer the ACK
  // answers) to uri; resolves with the 200's body once ACKed.
  async invite(uri, sdp) {
    const tag = crypto.randomBytes(4).toString('hex');
    this.dlg = { callId: `${tag}@127.0.0.1`, from: `${this.contact};tag=${tag}`, to: `<${uri}>`, uri, cseq: 1 };
    const branch = `z9hG4bK${crypto.randomBytes(6).toString('hex')}`;
    const ct = sdp ? ['Content-Type: application/sdp'] : [];
    this.send([`INVITE ${uri} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${this.port};branch=${branch}`, 'Max-Forwards: 70',
      `From: ${this.dlg.from}`, `To: ${this.dlg.to}`, `Call-ID: ${this.dlg.callId}`, 'CSeq: 1 INVITE',
      `Contact: ${this.contact}`, ...ct, `Content-Length: ${Buffer.byteLength(sdp)}`, '', sdp].join('\r\n'));
    const ok = await this.until(() => this.msgs.find((m) => m.startsWith('SIP/2.0 ') && hdr(m, 'call-id|i') === this.dlg.callId &&
      /INVITE/.test(hdr(m, 'cseq')) && Number(m.slice(8, 11)) >= 200), 'final response to INVITE', 20000);
    const code = Number(ok.slice(8, 11));
    this.dlg.to = hdr(ok, 'to|t');
    this.dlg.target = (/<([^>]+)>/.exec(hdr(ok, 'contact|m') || '') || [])[1] || uri;
    this.sendInDialog('ACK', 1, sdp || code !== 200 ? '' : (this.lastAnswer = this.answer(bodyOf(ok))));
    if (code !== 200) throw new Error(`${this.name}: INVITE answered ${code}`);
    return bodyOf(ok);
  }
  sendInDialog(method, cseq, sdp = '') {
    const branch = `z9hG4bK${crypto.randomBytes(6).toString('hex')}`;
    const ct = sdp ? ['Content-Type: application/sdp', `Contact: ${this.contact}`] : [];
    this.send([`${method} ${this.dlg.target} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${this.port};branch=${branch}`, 'Max-Forwards: 70',
      `From: ${this.dlg.from}`, `To: ${this.dlg.to}`, `Call-ID: ${this.dlg.callId}`, `CSeq: ${cseq} ${method}`,
      ...ct, `Content-Length: ${Buffer.byteLength(sdp)}`, '', sdp].join('\r\n'));
  }
  // A re-INVITE in the dialog this phone started; resolves with the answer once ACKed.
  async reinvite(sdp) {
    const cseq = ++this.dlg.cseq;
    this.sendInDialog('INVITE', cseq, sdp);
    const ok = await this.until(() => this.msgs.find((m) => m.startsWith('SIP/2.0 ') && hdr(m, 'call-id|i') === this.dlg.callId &&
      hdr(m, 'cseq') === `${cseq} INVITE` && Number(m.slice(8, 11)) >= 200), 're-INVITE answer', 15000);
    this.sendInDialog('ACK', cseq);
    if (!ok.startsWith('SIP/2.0 200')) throw new Error(`${this.name}: re-INVITE answered ${ok.slice(0, 20)}`);
    return bodyOf(ok);
  }
  async bye() {
    this.sendInDialog('BYE', ++this.dlg.cseq);
    await this.until(() => this.msgs.find((m) => m.startsWith('SIP/2.0 200') && hdr(m, 'call-id|i') === this.dlg.callId &&
      /BYE/.test(hdr(m, 'cseq'))), '200 to BYE');
  }
}
