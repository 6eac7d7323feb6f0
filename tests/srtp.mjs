// SRTP for the test phones (RFC 3711, AES-CM with HMAC-SHA1-80; RFC 6188 for AES-256):
// protect and unprotect RTP with a master key || salt from an SDES a=crypto line, so a node
// phone can speak SDES-SRTP to gorgee. Test code: the ROC stays 0 (fewer than 65,536
// packets a stream) and the replay list is not kept.
import crypto from 'node:crypto';

export const SUITES = {
  AES_CM_128_HMAC_SHA1_80: { keyLen: 16, cipher: 'aes-128-ctr' },
  AES_256_CM_HMAC_SHA1_80: { keyLen: 32, cipher: 'aes-256-ctr' },
};

// Master key || salt length of a suite (what its a=crypto inline: key decodes to).
export const masterLen = (suite) => SUITES[suite].keyLen + 14;

// RFC 3711 §4.3.1 with a key derivation rate of 0: x = (label << 48) XOR salt, the session
// key is the AES-CM keystream of the master key at IV x * 2^16.
function derive(s, master, salt, label, len) {
  const iv = Buffer.alloc(16);
  salt.copy(iv, 0);
  iv[7] ^= label;
  return crypto.createCipheriv(s.cipher, master, iv).update(Buffer.alloc(len));
}

// One direction's context from master key || salt (a Buffer).
export function srtpContext(suite, keySalt) {
  const s = SUITES[suite];
  if (!s || keySalt.length !== s.keyLen + 14) throw new Error(`bad SRTP key for ${suite}`);
  const master = keySalt.subarray(0, s.keyLen), salt = keySalt.subarray(s.keyLen);
  const ke = derive(s, master, salt, 0, s.keyLen), ka = derive(s, master, salt, 1, 20);
  const ks = derive(s, master, salt, 2, 14);
  const hdrLen = (p) => {
    let n = 12 + 4 * (p[0] & 0x0f);
    if (p[0] & 0x10) n += 4 + 4 * p.readUInt16BE(n + 2);
    return n;
  };
  // RFC 3711 §4.1.1: IV = (k_s * 2^16) XOR (SSRC * 2^64) XOR (i * 2^16), i = ROC || SEQ
  const ctr = (p, body) => {
    const iv = Buffer.alloc(16);
    ks.copy(iv, 0);
    for (let k = 0; k < 4; k++) iv[4 + k] ^= p[8 + k];
    iv[12] ^= p[2];
    iv[13] ^= p[3];
    return crypto.createCipheriv(s.cipher, ke, iv).update(body);
  };
  const tag = (authed) => crypto.createHmac('sha1', ka).update(authed).update(Buffer.alloc(4)).digest().subarray(0, 10);
  return {
    protect(p) {
      const h = hdrLen(p);
      const enc = Buffer.concat([p.subarray(0, h), ctr(p, p.subarray(h))]);
      return Buffer.concat([enc, tag(enc)]);
    },
    // the clear packet, or null when the tag does not verify
    unprotect(p) {
      if (p.length < 22) return null;
      const body = p.subarray(0, p.length - 10);
      if (!crypto.timingSafeEqual(tag(body), p.subarray(p.length - 10))) return null;
      const h = hdrLen(body);
      return Buffer.concat([body.subarray(0, h), ctr(body, body.subarray(h))]);
    },
  };
}

// The first a=crypto of an m-section (sdpMedia's lines): {tag, suite, key} or undefined.
export function cryptoOf(m) {
  for (const l of m.lines) {
    const c = /^a=crypto:(\d+) (\S+) inline:([A-Za-z0-9+/=]+)/.exec(l);
    if (c) return { tag: Number(c[1]), suite: c[2], key: Buffer.from(c[3], 'base64') };
  }
  return undefined;
}
