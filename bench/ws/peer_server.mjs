// The peer for bench/ws.sh: the same protocol subset gorgee's benchmark uses (login by JWT
// at the upgrade with the `session` event, `ping` requests, keep-alive pings after
// PING_SECS of silence) on node's `ws` server, the usual choice of Node signaling gateways.
// It checks the token's HS256 signature and exp like gorgee does.
// usage: node peer_server.mjs PORT SECRET PING_SECS     (prints "listening" when ready)
import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(path.join(path.dirname(fileURLToPath(import.meta.url)), '../../tests/package.json'));
const { WebSocketServer } = require('ws');
const [port, secret, pingSecs] = [Number(process.argv[2]), process.argv[3], Number(process.argv[4] || 30)];

function verify(token) {
  const [h, b, s] = (token || '').split('.');
  if (!s) return null;
  const want = crypto.createHmac('sha256', secret).update(`${h}.${b}`).digest('base64url');
  if (want.length !== s.length || !crypto.timingSafeEqual(Buffer.from(want), Buffer.from(s))) return null;
  const hdr = JSON.parse(Buffer.from(h, 'base64url')), claims = JSON.parse(Buffer.from(b, 'base64url'));
  return hdr.alg === 'HS256' && claims.exp > Date.now() / 1000 ? claims : null;
}

let n = 0;
const wss = new WebSocketServer({ port, host: '127.0.0.1', perMessageDeflate: false, maxPayload: 65536,
  handleProtocols: (p) => (p.has('gorgee-v1') ? 'gorgee-v1' : false) });
wss.on('connection', (ws, req) => {
  const claims = verify(new URL(req.url, 'http://x').searchParams.get('access_token'));
  if (!claims) { ws.close(4401, 'unauthorized'); return; }
  ws.last = Date.now();
  ws.send(JSON.stringify({ event: 'session', data: { session_id: `s-${++n}`, user: claims.sub } }));
  ws.on('pong', () => { ws.last = Date.now(); });
  ws.on('message', (d) => {
    ws.last = Date.now();
    let m;
    try { m = JSON.parse(d); } catch { ws.send(JSON.stringify({ error: { code: 400 } })); return; }
    if (m.request === 'ping') ws.send(JSON.stringify({ reply: 'ping', id: m.id, result: { time_ms: Date.now() } }));
  });
});
setInterval(() => {
  const now = Date.now();
  for (const ws of wss.clients) {
    if (now - ws.last > 2 * pingSecs * 1000) ws.terminate();
    else if (now - ws.last >= pingSecs * 1000) ws.ping();
  }
}, Math.max(500, pingSecs * 500));
wss.on('listening', () => console.log('listening'));
