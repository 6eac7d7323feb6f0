/* SDES/DTLS-SRTP packet transform (RFC 3711, RFC 7714) on OpenSSL: one context per direction. */

/*
 * Why not libsrtp2: Debian builds it on NSS, whose PKCS#11 layer opens a session per packet
 * and walks a hash chain that grows with the number of live contexts (bench/README.md): at
 * 500 streams that was half of the relay's CPU. Here every context keeps its ciphers keyed
 * once, and a packet costs the cipher, the MAC and a few table look-ups, with no allocation.
 * libsrtp2 stays the oracle of tests/test_relay_srtp.c.
 *
 * HMAC-SHA1 uses SHA1_Init/Update/Final on ipad/opad states derived once per key: copying a
 * SHA_CTX is a struct copy, while EVP_MAC_init() with the same key or EVP_MD_CTX_copy_ex()
 * cost 70-100 ns more per packet (OpenSSL 3.0, measured: 146 ns against 216-247 ns for a
 * 176-byte input). Those functions are deprecated in OpenSSL 3 but kept through 3.x.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include <errno.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <string.h>

#include "relay.h"

#define WIN_BITS     128 /* RFC 3711 §3.3.2: at least 64; libsrtp's window was 128 too */
#define MAX_SSRC     64  /* streams one context tracks; a new SSRC past that is refused */
#define KEY_MAX      32 /* AES-256 (RFC 6188, RFC 7714); AES-128 keys are 16 bytes */
#define AUTH_LEN     20 /* HMAC-SHA1 session key (RFC 3711 §8.2: n_a = 160) */
#define SALT_CM      14
#define SALT_GCM     12
#define TAG_GCM      16
#define SRTCP_TAG_CM 10 /* RFC 4568 §6.2.2: SRTCP keeps 80 bits under _32 */

/* RFC 3711 §3.3.2 replay list: bit d of bits says whether index top - d was seen. */
struct window {
	bool on;
	int64_t top;
	uint64_t bits[2];
};

/* One SSRC's indices in one direction: the RTP packet index (ROC || SEQ, §3.3.1) and the
 * SRTCP index (§3.3.2; sending, top is the last index sent). */
struct ssrc_state {
	uint32_t ssrc;
	struct window rtp, rtcp;
};

/* The session keys of SRTP or of SRTCP (RFC 3711 §4.3). */
struct session_keys {
	EVP_CIPHER_CTX *c;  /* AES-ECB for AES-CM keystream blocks, or AES-GCM (128 or 256) */
	SHA_CTX ipad, opad; /* HMAC-SHA1 (AES-CM suites) */
	uint8_t salt[SALT_CM];
	size_t tag_len;
};

struct relay_srtp {
	enum relay_srtp_suite suite;
	bool inbound, gcm;
	struct session_keys rtp, rtcp;
	struct ssrc_state *st;
	unsigned n_st, cap_st, last;
};

/* The master (and session) encryption key length of a suite, 0 for none. */
static size_t aes_len(enum relay_srtp_suite suite)
{
	switch (suite) {
	case RELAY_SRTP_AES_CM_128_HMAC_SHA1_80:
	case RELAY_SRTP_AES_CM_128_HMAC_SHA1_32:
	case RELAY_SRTP_AEAD_AES_128_GCM:
		return 16;
	case RELAY_SRTP_AES_256_CM_HMAC_SHA1_80:
	case RELAY_SRTP_AES_256_CM_HMAC_SHA1_32:
	case RELAY_SRTP_AEAD_AES_256_GCM:
		return 32;
	default:
		return 0;
	}
}

static bool suite_gcm(enum relay_srtp_suite suite)
{
	return suite == RELAY_SRTP_AEAD_AES_128_GCM || suite == RELAY_SRTP_AEAD_AES_256_GCM;
}

size_t relay_srtp_key_len(enum relay_srtp_suite suite)
{
	size_t k = aes_len(suite);
	return k ? k + (suite_gcm(suite) ? SALT_GCM : SALT_CM) : 0;
}

const char *relay_srtp_suite_name(enum relay_srtp_suite suite)
{
	switch (suite) {
	case RELAY_SRTP_AES_CM_128_HMAC_SHA1_80:
		return "AES_CM_128_HMAC_SHA1_80";
	case RELAY_SRTP_AES_CM_128_HMAC_SHA1_32:
		return "AES_CM_128_HMAC_SHA1_32";
	case RELAY_SRTP_AEAD_AES_128_GCM:
		return "AEAD_AES_128_GCM";
	case RELAY_SRTP_AES_256_CM_HMAC_SHA1_80:
		return "AES_256_CM_HMAC_SHA1_80";
	case RELAY_SRTP_AES_256_CM_HMAC_SHA1_32:
		return "AES_256_CM_HMAC_SHA1_32";
	case RELAY_SRTP_AEAD_AES_256_GCM:
		return "AEAD_AES_256_GCM";
	default:
		return "none";
	}
}

int relay_srtp_init(void)
{
	return 0; /* OpenSSL 3 initialises itself; kept so that callers need not know */
}

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* ---- ciphers ------------------------------------------------------------------------------ */

/*
 * AES in counter mode (RFC 3711 §4.1.1): keystream block j is AES(k, iv + j), iv's low 16
 * bits being zero. The counter blocks go through a pre-keyed ECB context in chunks: no
 * re-initialisation per packet (measured: 36 ns for 160 bytes against 84 ns when an
 * AES-128-CTR context gets a new IV).
 */
static int cm_xor(EVP_CIPHER_CTX *ecb, const uint8_t iv[16], uint8_t *p, size_t n)
{
	uint8_t ctr[512], ks[512];
	size_t j = 0;
	for (size_t off = 0; off < n; off += sizeof(ctr)) {
		size_t m = n - off < sizeof(ctr) ? n - off : sizeof(ctr);
		size_t blocks = (m + 15) / 16;
		for (size_t b = 0; b < blocks; b++, j++) {
			memcpy(ctr + 16 * b, iv, 14);
			ctr[16 * b + 14] = (uint8_t)(j >> 8);
			ctr[16 * b + 15] = (uint8_t)j;
		}
		int ol = 0;
		if (!EVP_EncryptUpdate(ecb, ks, &ol, ctr, (int)(16 * blocks)))
			return EIO;
		size_t i = 0;
		for (; i + 8 <= m; i += 8) {
			uint64_t a, k;
			memcpy(&a, p + off + i, 8);
			memcpy(&k, ks + i, 8);
			a ^= k;
			memcpy(p + off + i, &a, 8);
		}
		for (; i < m; i++)
			p[off + i] ^= ks[i];
	}
	return 0;
}

/* RFC 2104 HMAC-SHA1 of a || b from the states kept per key; out gets 20 bytes. */
static void hmac_sha1(const struct session_keys *k, const uint8_t *a, size_t al, const uint8_t *b,
                      size_t bl, uint8_t out[SHA_DIGEST_LENGTH])
{
	SHA_CTX c = k->ipad;
	uint8_t inner[SHA_DIGEST_LENGTH];
	SHA1_Update(&c, a, al);
	if (bl)
		SHA1_Update(&c, b, bl);
	SHA1_Final(inner, &c);
	c = k->opad;
	SHA1_Update(&c, inner, sizeof(inner));
	SHA1_Final(out, &c);
	OPENSSL_cleanse(&c, sizeof(c));
}

/* AEAD_AES_128_GCM / AEAD_AES_256_GCM (RFC 7714 §5): seals or opens p in place, tag beside
 * it. aad2 may be empty. Opening returns EACCES when the tag does not match, and then wipes p: the
 * plaintext of a forged packet is never left in the buffer. */
static int gcm(EVP_CIPHER_CTX *c, bool seal, const uint8_t iv[12], const uint8_t *aad, size_t al,
               const uint8_t *aad2, size_t al2, uint8_t *p, size_t n, uint8_t *tag)
{
	int ol = 0;
	uint8_t fin[16];
	if (!EVP_CipherInit_ex(c, NULL, NULL, NULL, iv, seal ? 1 : 0) ||
	    !EVP_CipherUpdate(c, NULL, &ol, aad, (int)al) ||
	    (al2 && !EVP_CipherUpdate(c, NULL, &ol, aad2, (int)al2)) ||
	    (n && !EVP_CipherUpdate(c, p, &ol, p, (int)n)))
		return EIO;
	if (seal) {
		if (!EVP_CipherFinal_ex(c, fin, &ol) ||
		    !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_GCM, tag))
			return EIO;
		return 0;
	}
	if (!EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_GCM, tag))
		return EIO;
	if (EVP_CipherFinal_ex(c, fin, &ol) <= 0) {
		OPENSSL_cleanse(p, n);
		return EACCES;
	}
	return 0;
}

/* ---- key derivation (RFC 3711 §4.3, key derivation rate 0) -------------------------------- */

/* §4.3.3: the AES-CM PRF keyed with the master key, IV = (master salt XOR label << 48) || 0^16
 * (with a 256-bit master key the PRF is AES-256 in counter mode: RFC 6188 §3, RFC 7714 §11).
 * A 96-bit GCM master salt is padded with zeros to 112 bits (RFC 7714 §11, as libsrtp does). */
static int kdf(EVP_CIPHER_CTX *ecb, const uint8_t *salt, size_t salt_len, uint8_t label,
               uint8_t *out, size_t n)
{
	uint8_t ctr[32] = {0}, ks[32]; /* n <= 32: two keystream blocks */
	int ol = 0;
	memcpy(ctr, salt, salt_len);
	ctr[7] ^= label;
	memcpy(ctr + 16, ctr, 16);
	ctr[31] = 1;
	int err = n <= sizeof(ks) && EVP_EncryptUpdate(ecb, ks, &ol, ctr, sizeof(ctr)) ? 0 : EIO;
	if (!err)
		memcpy(out, ks, n);
	OPENSSL_cleanse(ks, sizeof(ks)); /* it is the session key */
	return err;
}

static int keys_init(struct session_keys *k, bool gcm, size_t klen, bool seal,
                     EVP_CIPHER_CTX *prf, const uint8_t *msalt, size_t msalt_len, uint8_t label,
                     size_t tag_len)
{
	uint8_t ke[KEY_MAX], ka[AUTH_LEN], pad[64];
	int err = kdf(prf, msalt, msalt_len, label, ke, klen);
	if (!err)
		err = kdf(prf, msalt, msalt_len, label + 2, k->salt, gcm ? SALT_GCM : SALT_CM);
	if (!err && !gcm)
		err = kdf(prf, msalt, msalt_len, label + 1, ka, sizeof(ka));
	k->tag_len = tag_len;
	k->c = err ? NULL : EVP_CIPHER_CTX_new();
	if (!k->c)
		err = err ? err : ENOMEM;
	else if (gcm)
		err = EVP_CipherInit_ex(k->c, klen == 32 ? EVP_aes_256_gcm() : EVP_aes_128_gcm(), NULL,
		                        ke, NULL, seal ? 1 : 0)
		              ? 0
		              : ENOTSUP;
	else if (!EVP_EncryptInit_ex(k->c, klen == 32 ? EVP_aes_256_ecb() : EVP_aes_128_ecb(), NULL,
	                             ke, NULL) ||
	         !EVP_CIPHER_CTX_set_padding(k->c, 0))
		err = ENOTSUP;
	if (!err && !gcm) {
		/* RFC 2104: the key, zero-padded to the 64-byte block, XOR ipad / opad */
		memset(pad, 0x36, sizeof(pad));
		for (size_t i = 0; i < sizeof(ka); i++)
			pad[i] ^= ka[i];
		SHA1_Init(&k->ipad);
		SHA1_Update(&k->ipad, pad, sizeof(pad));
		memset(pad, 0x5c, sizeof(pad));
		for (size_t i = 0; i < sizeof(ka); i++)
			pad[i] ^= ka[i];
		SHA1_Init(&k->opad);
		SHA1_Update(&k->opad, pad, sizeof(pad));
	}
	OPENSSL_cleanse(ke, sizeof(ke));
	OPENSSL_cleanse(ka, sizeof(ka));
	OPENSSL_cleanse(pad, sizeof(pad));
	return err;
}

static void keys_clear(struct session_keys *k)
{
	EVP_CIPHER_CTX_free(k->c); /* it cleanses its key schedule */
	OPENSSL_cleanse(k, sizeof(*k));
}

int relay_srtp_new(enum relay_srtp_suite suite, const uint8_t *key, size_t key_len, bool inbound,
                   struct relay_srtp **out)
{
	size_t want = relay_srtp_key_len(suite);
	if (!want || !key || key_len != want || !out)
		return EINVAL;
	bool gcm = suite_gcm(suite);
	size_t klen = aes_len(suite);
	EVP_CIPHER_CTX *prf = EVP_CIPHER_CTX_new();
	if (!prf)
		return ENOMEM;
	struct relay_srtp *s = g_new0(struct relay_srtp, 1);
	s->suite = suite;
	s->inbound = inbound;
	s->gcm = gcm;
	int err = EVP_EncryptInit_ex(prf, klen == 32 ? EVP_aes_256_ecb() : EVP_aes_128_ecb(), NULL,
	                             key, NULL) &&
	                          EVP_CIPHER_CTX_set_padding(prf, 0)
	                  ? 0
	                  : EIO;
	const uint8_t *msalt = key + klen;
	bool short_tag = suite == RELAY_SRTP_AES_CM_128_HMAC_SHA1_32 ||
	                 suite == RELAY_SRTP_AES_256_CM_HMAC_SHA1_32;
	size_t rtp_tag = gcm ? TAG_GCM : short_tag ? 4 : 10;
	if (!err) /* labels 0-2 for SRTP, 3-5 for SRTCP (§4.3.2) */
		err = keys_init(&s->rtp, gcm, klen, !inbound, prf, msalt, key_len - klen, 0, rtp_tag);
	if (!err)
		err = keys_init(&s->rtcp, gcm, klen, !inbound, prf, msalt, key_len - klen, 3,
		                gcm ? TAG_GCM : SRTCP_TAG_CM);
	EVP_CIPHER_CTX_free(prf);
	if (err) {
		relay_srtp_free(s);
		return err;
	}
	*out = s;
	return 0;
}

void relay_srtp_free(struct relay_srtp *s)
{
	if (!s)
		return;
	keys_clear(&s->rtp);
	keys_clear(&s->rtcp);
	g_free(s->st);
	OPENSSL_cleanse(s, sizeof(*s));
	g_free(s);
}

/* ---- indices: RFC 3711 §3.3.1 (ROC estimate) and §3.3.2 (replay list) --------------------- */

/* 0 when idx is new to w, EALREADY when it was seen or lies behind the window. */
static int win_check(const struct window *w, int64_t idx)
{
	if (idx < 0)
		return EALREADY;
	if (!w->on || idx > w->top)
		return 0;
	uint64_t d = (uint64_t)(w->top - idx);
	if (d >= WIN_BITS)
		return EALREADY;
	return (w->bits[d / 64] >> (d % 64)) & 1 ? EALREADY : 0;
}

static void win_add(struct window *w, int64_t idx)
{
	uint64_t d = 0;
	if (!w->on) {
		w->on = true;
		w->top = idx;
		w->bits[0] = w->bits[1] = 0;
	} else if (idx > w->top) {
		uint64_t sh = (uint64_t)(idx - w->top);
		if (sh >= WIN_BITS) {
			w->bits[0] = w->bits[1] = 0;
		} else if (sh >= 64) {
			w->bits[1] = w->bits[0] << (sh - 64);
			w->bits[0] = 0;
		} else {
			w->bits[1] = w->bits[1] << sh | w->bits[0] >> (64 - sh);
			w->bits[0] <<= sh;
		}
		w->top = idx;
	} else {
		d = (uint64_t)(w->top - idx);
	}
	w->bits[d / 64] |= 1ull << (d % 64);
}

/* §3.3.1 / Appendix A: the index of seq nearest the highest one seen. While that is at most
 * 2^15 the ROC stays 0 (there is no ROC -1): a jump of more than 2^15 forward near the start
 * is taken as a jump, as libsrtp does, not as a packet from before the first one. */
static int64_t rtp_index(const struct window *w, uint16_t seq)
{
	if (!w->on || w->top <= 32768)
		return seq;
	int64_t roc = w->top >> 16, v = roc;
	uint16_t s_l = (uint16_t)w->top;
	if (s_l < 32768) {
		if (seq > s_l && seq - s_l > 32768)
			v = roc - 1;
	} else if (s_l - 32768 > seq) {
		v = roc + 1;
	}
	return v << 16 | seq; /* v >= 0: top > 2^15 */
}

static struct ssrc_state *ssrc_find(struct relay_srtp *s, uint32_t ssrc)
{
	if (s->n_st && s->st[s->last].ssrc == ssrc)
		return &s->st[s->last];
	for (unsigned i = 0; i < s->n_st; i++)
		if (s->st[i].ssrc == ssrc) {
			s->last = i;
			return &s->st[i];
		}
	return NULL;
}

/* A new SSRC's state, copied from *init: allocates only when the table grows. NULL past
 * MAX_SSRC. Pointers from ssrc_find() are stale afterwards. */
static struct ssrc_state *ssrc_add(struct relay_srtp *s, const struct ssrc_state *init)
{
	if (s->n_st == s->cap_st) {
		if (s->cap_st >= MAX_SSRC)
			return NULL;
		s->cap_st = s->cap_st ? 2 * s->cap_st : 2;
		s->st = g_renew(struct ssrc_state, s->st, s->cap_st);
	}
	s->last = s->n_st++;
	s->st[s->last] = *init;
	return &s->st[s->last];
}

/* The state of ssrc, or a fresh one in *tmp when the SSRC is new (ENOSPC when the table
 * is full: checked before any crypto). */
static int ssrc_get(struct relay_srtp *s, uint32_t ssrc, struct ssrc_state *tmp,
                    struct ssrc_state **st)
{
	*st = ssrc_find(s, ssrc);
	if (*st)
		return 0;
	if (s->n_st >= MAX_SSRC)
		return ENOSPC;
	memset(tmp, 0, sizeof(*tmp));
	tmp->ssrc = ssrc;
	*st = tmp;
	return 0;
}

/* Keeps the state of an SSRC seen for the first time (after authentication on receipt). */
static void ssrc_keep(struct relay_srtp *s, struct ssrc_state *st, const struct ssrc_state *tmp)
{
	if (st == tmp)
		ssrc_add(s, tmp); /* cannot fail: ssrc_get() checked the room */
}

/* ---- SRTP (RFC 3711 §3.1, RFC 7714 §8) ---------------------------------------------------- */

/* Length of the RTP header SRTP leaves in clear (fixed part, CSRCs, extension), or 0. */
static size_t rtp_hdr_len(const uint8_t *b, size_t len)
{
	if (len < 12 || (b[0] >> 6) != 2)
		return 0;
	size_t h = 12 + 4u * (b[0] & 0x0f);
	if (b[0] & 0x10) {
		if (h + 4 > len)
			return 0;
		h += 4 + 4u * rd16(b + h + 2);
	}
	return h <= len ? h : 0;
}

/* The 16-byte AES-CM IV (§4.1.1) or 12-byte GCM IV (RFC 7714 §8.1, §9.1): the session salt
 * XOR the SSRC and the index (ROC || SEQ, or the SRTCP index). */
static void make_iv(const struct session_keys *k, bool gcm, bool rtcp, uint32_t ssrc, int64_t idx,
                    uint8_t iv[16])
{
	memset(iv, 0, 16);
	if (gcm) {
		wr32(iv + 2, ssrc);
		if (rtcp) {
			wr32(iv + 8, (uint32_t)idx);
		} else {
			wr32(iv + 6, (uint32_t)(idx >> 16));
			iv[10] = (uint8_t)(idx >> 8);
			iv[11] = (uint8_t)idx;
		}
		for (int i = 0; i < SALT_GCM; i++)
			iv[i] ^= k->salt[i];
		return;
	}
	wr32(iv + 4, ssrc);
	iv[8] = (uint8_t)(idx >> 40);
	iv[9] = (uint8_t)(idx >> 32);
	wr32(iv + 10, (uint32_t)idx);
	for (int i = 0; i < SALT_CM; i++)
		iv[i] ^= k->salt[i];
}

static int rtp_protect(struct relay_srtp *s, uint8_t *buf, size_t *len)
{
	size_t h = rtp_hdr_len(buf, *len);
	if (!h)
		return EBADMSG;
	struct ssrc_state tmp, *st;
	int err = ssrc_get(s, rd32(buf + 8), &tmp, &st);
	if (err)
		return err;
	int64_t idx = rtp_index(&st->rtp, rd16(buf + 2));
	if ((err = win_check(&st->rtp, idx))) /* never two packets under one keystream */
		return err;
	if (idx >> 48)
		return EIO; /* the key is used up (§9.2) */
	const struct session_keys *k = &s->rtp;
	uint8_t iv[16], mac[SHA_DIGEST_LENGTH], roc[4];
	make_iv(k, s->gcm, false, st->ssrc, idx, iv);
	if (s->gcm) {
		err = gcm(k->c, true, iv, buf, h, NULL, 0, buf + h, *len - h, buf + *len);
	} else {
		err = cm_xor(k->c, iv, buf + h, *len - h);
		wr32(roc, (uint32_t)(idx >> 16));
		hmac_sha1(k, buf, *len, roc, 4, mac); /* §4.2: over the packet || ROC */
		memcpy(buf + *len, mac, k->tag_len);
	}
	if (err)
		return err;
	*len += k->tag_len;
	win_add(&st->rtp, idx);
	ssrc_keep(s, st, &tmp);
	return 0;
}

static int rtp_unprotect(struct relay_srtp *s, uint8_t *buf, size_t *len)
{
	const struct session_keys *k = &s->rtp;
	if (*len < k->tag_len + 12)
		return EBADMSG;
	size_t n = *len - k->tag_len, h = rtp_hdr_len(buf, n);
	if (!h)
		return EBADMSG;
	struct ssrc_state tmp, *st;
	int err = ssrc_get(s, rd32(buf + 8), &tmp, &st);
	if (err)
		return err;
	int64_t idx = rtp_index(&st->rtp, rd16(buf + 2));
	if ((err = win_check(&st->rtp, idx))) /* §3.3.2: before the MAC, it is cheaper */
		return err;
	uint8_t iv[16], mac[SHA_DIGEST_LENGTH], roc[4];
	make_iv(k, s->gcm, false, st->ssrc, idx, iv);
	if (s->gcm) {
		err = gcm(k->c, false, iv, buf, h, NULL, 0, buf + h, n - h, buf + n);
	} else {
		/* §3.3: authenticate first, then decrypt */
		wr32(roc, (uint32_t)(idx >> 16));
		hmac_sha1(k, buf, n, roc, 4, mac);
		err = CRYPTO_memcmp(mac, buf + n, k->tag_len) ? EACCES : 0;
		if (!err)
			err = cm_xor(k->c, iv, buf + h, n - h);
	}
	if (err)
		return err;
	*len = n;
	win_add(&st->rtp, idx);
	ssrc_keep(s, st, &tmp);
	return 0;
}

/* ---- SRTCP (RFC 3711 §3.4, RFC 7714 §9) --------------------------------------------------- */

#define SRTCP_E 0x80000000u

static int rtcp_protect(struct relay_srtp *s, uint8_t *buf, size_t *len)
{
	if (*len < 8 || (buf[0] >> 6) != 2)
		return EBADMSG;
	struct ssrc_state tmp, *st;
	int err = ssrc_get(s, rd32(buf + 4), &tmp, &st);
	if (err)
		return err;
	/* §3.4: the index starts at 0 and counts every packet sent; 2^31 ends the key */
	int64_t idx = st->rtcp.on ? st->rtcp.top + 1 : 0;
	if (idx > 0x7fffffff)
		return EIO;
	const struct session_keys *k = &s->rtcp;
	size_t n = *len;
	uint8_t iv[16], trailer[4], mac[SHA_DIGEST_LENGTH];
	wr32(trailer, SRTCP_E | (uint32_t)idx);
	make_iv(k, s->gcm, true, st->ssrc, idx, iv);
	if (s->gcm) {
		/* RFC 7714 §9.2: AAD = first 8 octets || E || index; the tag follows the
		 * ciphertext and the index trailer follows the tag */
		err = gcm(k->c, true, iv, buf, 8, trailer, 4, buf + 8, n - 8, buf + n);
		memcpy(buf + n + TAG_GCM, trailer, 4);
	} else {
		err = cm_xor(k->c, iv, buf + 8, n - 8);
		memcpy(buf + n, trailer, 4);
		hmac_sha1(k, buf, n + 4, NULL, 0, mac);
		memcpy(buf + n + 4, mac, k->tag_len);
	}
	if (err)
		return err;
	*len = n + 4 + k->tag_len;
	win_add(&st->rtcp, idx);
	ssrc_keep(s, st, &tmp);
	return 0;
}

static int rtcp_unprotect(struct relay_srtp *s, uint8_t *buf, size_t *len)
{
	const struct session_keys *k = &s->rtcp;
	if (*len < 8 + 4 + k->tag_len || (buf[0] >> 6) != 2)
		return EBADMSG;
	size_t n = *len - 4 - k->tag_len; /* the RTCP packet */
	const uint8_t *trailer = s->gcm ? buf + n + TAG_GCM : buf + n;
	uint32_t ei = rd32(trailer);
	int64_t idx = ei & ~SRTCP_E;
	struct ssrc_state tmp, *st;
	int err = ssrc_get(s, rd32(buf + 4), &tmp, &st);
	if (err)
		return err;
	if ((err = win_check(&st->rtcp, idx)))
		return err;
	uint8_t iv[16], mac[SHA_DIGEST_LENGTH], tag[TAG_GCM];
	make_iv(k, s->gcm, true, st->ssrc, idx, iv);
	if (s->gcm) {
		memcpy(tag, buf + n, TAG_GCM);
		if (ei & SRTCP_E)
			err = gcm(k->c, false, iv, buf, 8, trailer, 4, buf + 8, n - 8, tag);
		else /* RFC 7714 §9.3: unencrypted, all of it is AAD */
			err = gcm(k->c, false, iv, buf, n, trailer, 4, NULL, 0, tag);
	} else {
		hmac_sha1(k, buf, n + 4, NULL, 0, mac);
		err = CRYPTO_memcmp(mac, buf + n + 4, k->tag_len) ? EACCES : 0;
		if (!err && (ei & SRTCP_E))
			err = cm_xor(k->c, iv, buf + 8, n - 8);
	}
	if (err)
		return err;
	*len = n;
	win_add(&st->rtcp, idx);
	ssrc_keep(s, st, &tmp);
	return 0;
}

int relay_srtp_protect(struct relay_srtp *s, bool rtcp, uint8_t *buf, size_t *len, size_t cap)
{
	if (s->inbound || *len > INT_MAX || cap < *len + RELAY_SRTP_TRAILER_MAX)
		return EMSGSIZE;
	return (rtcp ? rtcp_protect(s, buf, len) : rtp_protect(s, buf, len)) ? EIO : 0;
}

int relay_srtp_unprotect(struct relay_srtp *s, bool rtcp, uint8_t *buf, size_t *len)
{
	if (!s->inbound || *len > INT_MAX)
		return EINVAL;
	int err = rtcp ? rtcp_unprotect(s, buf, len) : rtp_unprotect(s, buf, len);
	switch (err) {
	case 0:
	case EALREADY:
	case EACCES:
		return err;
	default:
		return EBADMSG;
	}
}
