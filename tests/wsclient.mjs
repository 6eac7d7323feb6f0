// A WebSocket client of ws/PROTOCOL.md for gorgee's node tests: requests with ids and their
// replies, events, waiting with a deadline (the last messages go into the timeout error).
import { createRequire } from 'node:module';
import dgram from 'node:dgram';
import net from 'node:net';

const require = createRequire(import.meta.url);
const WebSocket = require('ws');

export class WsClient {
  // url: ws://host:port/; ms: how long until() waits by default
  constructor(url, ms = 10000) {
    this.ms = ms;
    this.msgs = []; this.waiters = []; this.nextId = 1;
    this.ws = new WebSocket(url, 'gorgee-v1');
    this.ws.on('message', (d) => { this.msgs.push(JSON.parse(d.toString())); this.wake(); });
    this.ws.on('close', () => { this.closed = true; this.wake(); });
  }
  wake() { const w = this.waiters; this.waiters = []; w.forEach((f) => f()); }
  async until(pred, what, ms = this.ms) {
    const end = Date.now() + ms;
    for (;;) {
      const v = pred();
      if (v) return v;
      if (Date.now() > end) throw new Error(`timeout waiting for ${what}; msgs=${JSON.stringify(this.msgs).slice(-1500)}`);
      await new Promise((r) => { this.waiters.push(r); setTimeout(r, 50); });
    }
  }
  async req(request, params) {
    const id = this.nextId++;
    this.ws.send(JSON.stringify({ request, id, params }));
    return this.until(() => this.msgs.find((m) => m.id === id && m.reply !== undefined), `reply to ${request}`);
  }
  event(name, pred = () => true, ms) { return this.until(() => this.msgs.find((m) => m.event === name && pred(m)), `event ${name}`, ms); }
  events(name, pred = () => true) { return this.msgs.filter((m) => m.event === name && pred(m)); }
  state(callId, state) { return this.event('call_state', (m) => m.call_id === callId && m.data.state === state); }
  end() { try { this.ws.terminate(); } catch { /* gone */ } }
  // log out, so the session does not linger in its resume grace (and keep ringing)
  async bye() {
    if (!this.closed && this.ws.readyState === WebSocket.OPEN) { try { await this.req('logout', {}); } catch { /* closed */ } }
    this.end();
  }
}

const tcpFree = (p) => new Promise((res) => { const s = net.createServer(); s.on('error', () => res(false)); s.listen(p, '127.0.0.1', () => s.close(() => res(true))); });

// A loopback port free for both TCP and UDP (below 60000).
export async function freePort() {
  for (;;) {
    const p = await new Promise((res) => { const s = net.createServer(); s.listen(0, '127.0.0.1', () => { const q = s.address().port; s.close(() => res(q)); }); });
    const ok = await new Promise((res) => { const u = dgram.createSocket('udp4'); u.on('error', () => res(false)); u.bind(p, '127.0.0.1', () => u.close(() => res(true))); });
    if (ok && p < 60000) return p;
  }
}

// A SIP port for baresip: it also listens on TCP and on TLS one port up, and the tests put its
// ctrl_tcp five ports up; all of them must be free.
export async function baresipPort() {
  for (;;) {
    const p = await freePort();
    if (await tcpFree(p + 1) && await tcpFree(p + 5)) return p;
  }
}
