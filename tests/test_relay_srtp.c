/* Unit tests: gorgee's SRTP/SRTCP transform (relay_srtp.c) against libsrtp2 as the oracle. */
#include <errno.h>
#include <srtp2/srtp.h>
#include <stdint.h>
#include <string.h>

#include "relay.h"
#include "tap.h"

/* master key || salt: the first relay_srtp_key_len(suite) bytes (30, 28, 46 or 44) */
static const uint8_t mkey[46] = {0xe1, 0xf9, 0x7a, 0x0d, 0x3e, 0x01, 0x8b, 0xe0, 0xd6, 0x4f,
                                 0xa3, 0x2c, 0x06, 0xde, 0x41, 0x39, 0x0e, 0xc6, 0x75, 0xad,
                                 0x49, 0x8a, 0xfe, 0xeb, 0xb6, 0x96, 0x0b, 0x3a, 0xab, 0xe6,
                                 0x5c, 0x17, 0x2e, 0x93, 0x08, 0x4b, 0xd1, 0x66, 0x7f, 0x30,
                                 0xc4, 0x0a, 0x9e, 0x21, 0x58, 0xbb};

static const enum relay_srtp_suite suites[] = {
	RELAY_SRTP_AES_CM_128_HMAC_SHA1_80, RELAY_SRTP_AES_CM_128_HMAC_SHA1_32,
	RELAY_SRTP_AEAD_AES_128_GCM,        RELAY_SRTP_AES_256_CM_HMAC_SHA1_80,
	RELAY_SRTP_AES_256_CM_HMAC_SHA1_32, RELAY_SRTP_AEAD_AES_256_GCM};

#define CAP (1500 + RELAY_SRTP_TRAILER_MAX)

/* NSS (under Debian's libsrtp2) starts with the first context and stops with the last:
 * one kept for the process keeps that out of the per-case leak check. */
static srtp_t keeper;

static srtp_t oracle(enum relay_srtp_suite suite, bool inbound, bool rtcp_auth_only)
{
	srtp_policy_t pol;
	memset(&pol, 0, sizeof(pol));
	switch (suite) {
	case RELAY_SRTP_AES_CM_128_HMAC_SHA1_80:
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtp);
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtcp);
		break;
	case RELAY_SRTP_AES_CM_128_HMAC_SHA1_32:
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&pol.rtp);
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtcp);
		break;
	case RELAY_SRTP_AES_256_CM_HMAC_SHA1_80:
		srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(&pol.rtp);
		srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(&pol.rtcp);
		break;
	case RELAY_SRTP_AES_256_CM_HMAC_SHA1_32:
		srtp_crypto_policy_set_aes_cm_256_hmac_sha1_32(&pol.rtp);
		srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(&pol.rtcp);
		break;
	case RELAY_SRTP_AEAD_AES_256_GCM:
		srtp_crypto_policy_set_aes_gcm_256_16_auth(&pol.rtp);
		srtp_crypto_policy_set_aes_gcm_256_16_auth(&pol.rtcp);
		break;
	default:
		srtp_crypto_policy_set_aes_gcm_128_16_auth(&pol.rtp);
		srtp_crypto_policy_set_aes_gcm_128_16_auth(&pol.rtcp);
		break;
	}
	if (rtcp_auth_only)
		pol.rtcp.sec_serv = sec_serv_auth;
	uint8_t k[46];
	memcpy(k, mkey, sizeof(k));
	pol.key = k;
	pol.ssrc.type = inbound ? ssrc_any_inbound : ssrc_any_outbound;
	pol.window_size = 128;
	srtp_t ctx = NULL;
	if (srtp_create(&ctx, &pol) != srtp_err_status_ok)
		return NULL;
	return ctx;
}

static struct relay_srtp *ours(enum relay_srtp_suite suite, bool inbound)
{
	struct relay_srtp *s = NULL;
	TAP_CHECK_INT(relay_srtp_new(suite, mkey, relay_srtp_key_len(suite), inbound, &s), 0);
	return s;
}

/* An RTP packet: cc CSRCs, ext extension words (RFC 8285 one-byte), pad padding octets. */
static size_t mkrtp(uint8_t *b, uint16_t seq, uint32_t ssrc, unsigned cc, unsigned ext,
                    unsigned pad, size_t payload)
{
	size_t n = 0;
	b[n++] = (uint8_t)(0x80 | (pad ? 0x20 : 0) | (ext ? 0x10 : 0) | cc);
	b[n++] = 0;
	b[n++] = (uint8_t)(seq >> 8);
	b[n++] = (uint8_t)seq;
	for (int i = 0; i < 4; i++)
		b[n++] = (uint8_t)(seq * 160u >> (24 - 8 * i));
	for (int i = 0; i < 4; i++)
		b[n++] = (uint8_t)(ssrc >> (24 - 8 * i));
	for (unsigned i = 0; i < 4 * cc; i++)
		b[n++] = (uint8_t)(0xc0 + i);
	if (ext) {
		b[n++] = 0xbe, b[n++] = 0xde, b[n++] = 0, b[n++] = (uint8_t)ext;
		for (unsigned i = 0; i < 4 * ext; i++)
			b[n++] = i == 0 ? 0x10 : 0;
	}
	for (size_t i = 0; i < payload; i++)
		b[n++] = (uint8_t)(i * 7 + seq);
	for (unsigned i = 0; i < pad; i++)
		b[n++] = i + 1 == pad ? (uint8_t)pad : 0;
	return n;
}

/* SR (one report block) + SDES CNAME, sender ssrc */
static size_t mkrtcp(uint8_t *b, uint32_t ssrc, uint8_t v)
{
	static const uint8_t sr[] = {
	        0x81, 200,  0,   12, 0,  0,  0,  0,  1,  2,  3,  4,    5,    6,    7,    8, 9,
	        10,   11,   12,  13, 14, 15, 16, 17, 18, 19, 20, 0xaa, 0xbb, 0xcc, 0xdd, 0, 0,
	        0,    1,    0,   0,  0,  2,  0,  0,  0,  3,  0,  0,    0,    4,    0,    0, 0,
	        5,    0x81, 202, 0,  3,  0,  0,  0,  0,  1,  3,  'a',  'b',  'c',  0};
	memcpy(b, sr, sizeof(sr));
	for (int i = 0; i < 4; i++)
		b[4 + i] = b[56 + i] = (uint8_t)(ssrc >> (24 - 8 * i));
	b[20] = v;
	return sizeof(sr);
}

/* ours -> libsrtp and libsrtp -> ours, RTP, the ROC wrap included; both protect the same
 * packet to the same bytes (the transform is deterministic). */
static void cross_rtp(enum relay_srtp_suite su, unsigned cc, unsigned ext, unsigned pad)
{
	struct relay_srtp *tx = ours(su, false), *rx = ours(su, true);
	srtp_t otx = oracle(su, false, false), orx = oracle(su, true, false);
	TAP_CHECK(otx && orx);
	if (!tx || !rx || !otx || !orx)
		goto out;
	unsigned bad = 0;
	for (unsigned i = 0; i < 400; i++) {
		uint16_t seq = (uint16_t)(65300 + i); /* wraps at i = 236 */
		uint8_t a[CAP], b[CAP], plain[CAP];
		size_t n = mkrtp(plain, seq, 0x11223344, cc, ext, pad, 20 + i % 150);
		memcpy(a, plain, n);
		memcpy(b, plain, n);
		size_t la = n;
		int lb = (int)n;
		if (relay_srtp_protect(tx, false, a, &la, sizeof(a)) ||
		    srtp_protect(otx, b, &lb) != srtp_err_status_ok || la != (size_t)lb ||
		    memcmp(a, b, la) != 0) {
			bad++;
			continue;
		}
		/* ours unprotects libsrtp's packet, libsrtp unprotects ours */
		if (relay_srtp_unprotect(rx, false, b, &la) || la != n || memcmp(b, plain, n))
			bad++;
		int l2 = lb;
		if (srtp_unprotect(orx, a, &l2) != srtp_err_status_ok || l2 != (int)n ||
		    memcmp(a, plain, n))
			bad++;
	}
	TAP_CHECK_INT(bad, 0);
out:
	relay_srtp_free(tx);
	relay_srtp_free(rx);
	if (otx)
		srtp_dealloc(otx);
	if (orx)
		srtp_dealloc(orx);
}

static void t_cross_rtp(void)
{
	for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++) {
		cross_rtp(suites[i], 0, 0, 0);
		cross_rtp(suites[i], 3, 0, 0);
		cross_rtp(suites[i], 0, 2, 0);
		cross_rtp(suites[i], 2, 1, 7);
	}
}

/* SRTCP both ways; the first index differs (RFC 3711 §3.4 says 0, libsrtp sends 1), so the
 * bytes are compared only once decrypted. */
static void cross_rtcp(enum relay_srtp_suite su, bool auth_only)
{
	struct relay_srtp *tx = ours(su, false), *rx = ours(su, true);
	srtp_t otx = oracle(su, false, auth_only), orx = oracle(su, true, false);
	TAP_CHECK(otx && orx);
	if (!tx || !rx || !otx || !orx)
		goto out;
	unsigned bad = 0;
	for (unsigned i = 0; i < 50; i++) {
		uint8_t a[CAP], b[CAP], plain[CAP];
		size_t n = mkrtcp(plain, 0x5566 + i % 3, (uint8_t)i);
		memcpy(a, plain, n);
		memcpy(b, plain, n);
		size_t la = n;
		int lb = (int)n;
		if (relay_srtp_protect(tx, true, a, &la, sizeof(a)) ||
		    srtp_protect_rtcp(otx, b, &lb) != srtp_err_status_ok) {
			bad++;
			continue;
		}
		/* the E bit (RFC 3711 §3.4) in libsrtp's trailer: set unless auth_only */
		bool gcm = su == RELAY_SRTP_AEAD_AES_128_GCM || su == RELAY_SRTP_AEAD_AES_256_GCM;
		size_t ei = gcm ? (size_t)lb - 4 : (size_t)lb - 14;
		if (!(b[ei] & 0x80) != auth_only)
			bad++;
		size_t l1 = (size_t)lb;
		if (relay_srtp_unprotect(rx, true, b, &l1) || l1 != n || memcmp(b, plain, n))
			bad++;
		int l2 = (int)la;
		if (srtp_unprotect_rtcp(orx, a, &l2) != srtp_err_status_ok || l2 != (int)n ||
		    memcmp(a, plain, n))
			bad++;
	}
	TAP_CHECK_INT(bad, 0);
out:
	relay_srtp_free(tx);
	relay_srtp_free(rx);
	if (otx)
		srtp_dealloc(otx);
	if (orx)
		srtp_dealloc(orx);
}

static void t_cross_rtcp(void)
{
	for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++) {
		cross_rtcp(suites[i], false);
		cross_rtcp(suites[i], true); /* E = 0: authenticated, not encrypted */
	}
}

/* libsrtp protects 300 packets (seq wrapping); ours receives them reordered, replayed and
 * too old. */
static void reorder(enum relay_srtp_suite su)
{
	srtp_t otx = oracle(su, false, false);
	struct relay_srtp *rx = ours(su, true);
	static uint8_t p[300][CAP];
	size_t len[300], plen[300];
	TAP_CHECK(otx != NULL);
	if (!otx || !rx)
		goto out;
	for (unsigned i = 0; i < 300; i++) {
		plen[i] = mkrtp(p[i], (uint16_t)(65500 + i), 0xabcdef01, 0, 0, 0, 160);
		int l = (int)plen[i];
		TAP_CHECK_INT(srtp_protect(otx, p[i], &l), srtp_err_status_ok);
		len[i] = (size_t)l;
	}
	uint8_t q[CAP];
	size_t ql;
#define RX(i) (memcpy(q, p[i], len[i]), ql = len[i], relay_srtp_unprotect(rx, false, q, &ql))
	unsigned bad = 0;
	/* 0..99 with neighbours swapped, then 100..199 with 150..159 held back */
	for (unsigned i = 0; i < 100; i += 2)
		bad += RX(i + 1) != 0 || RX(i) != 0;
	for (unsigned i = 100; i < 200; i++)
		if (i < 150 || i >= 160)
			bad += RX(i) != 0;
	for (unsigned i = 150; i < 160; i++) /* 40-50 behind: inside the window */
		bad += RX(i) != 0;
	TAP_CHECK_INT(bad, 0);
	/* every one of them again: replays */
	for (unsigned i = 100; i < 200; i++)
		bad += RX(i) != EALREADY;
	TAP_CHECK_INT(bad, 0);
	/* 200..299 except 201; then 201 is 98 behind (in the window) but 1 is far behind */
	for (unsigned i = 200; i < 300; i++)
		if (i != 201)
			bad += RX(i) != 0;
	TAP_CHECK_INT(bad, 0);
	TAP_CHECK_INT(RX(201), 0);
	TAP_CHECK_INT(RX(1), EALREADY); /* 298 behind: too old (and seen) */
	/* a packet never received but 200 behind the highest: too old */
	srtp_t otx2 = oracle(su, false, false);
	struct relay_srtp *rx2 = ours(su, true);
	if (otx2 && rx2) {
		for (unsigned i = 0; i < 300; i++) {
			plen[i] = mkrtp(p[i], (uint16_t)(7 + i), 0x77, 0, 0, 0, 40);
			int l = (int)plen[i];
			srtp_protect(otx2, p[i], &l);
			len[i] = (size_t)l;
		}
		struct relay_srtp *keep = rx;
		rx = rx2;
		TAP_CHECK_INT(RX(250), 0);
		TAP_CHECK_INT(RX(50), EALREADY);  /* 200 behind */
		TAP_CHECK_INT(RX(122), EALREADY); /* 128 behind... */
		TAP_CHECK_INT(RX(123), 0);        /* ...127 behind */
		rx = keep;
	}
	if (otx2)
		srtp_dealloc(otx2);
	relay_srtp_free(rx2);
#undef RX
out:
	relay_srtp_free(rx);
	if (otx)
		srtp_dealloc(otx);
}

static void t_reorder(void)
{
	for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
		reorder(suites[i]);
}

/* One bit flipped in the header, the payload or the tag: refused, and the untouched packet
 * is still accepted afterwards (a forgery changes no state). Same for SRTCP. */
static void tamper(enum relay_srtp_suite su)
{
	srtp_t otx = oracle(su, false, false);
	struct relay_srtp *rx = ours(su, true);
	TAP_CHECK(otx != NULL);
	if (!otx || !rx)
		goto out;
	uint8_t p[CAP], q[CAP];
	size_t n = mkrtp(p, 1000, 0x42, 1, 1, 0, 100);
	int l = (int)n;
	TAP_CHECK_INT(srtp_protect(otx, p, &l), srtp_err_status_ok);
	size_t where[] = {1, 3, 9, 14, 20, n - 1, (size_t)l - 1};
	unsigned bad = 0;
	for (size_t w = 0; w < sizeof(where) / sizeof(where[0]); w++)
		for (int bit = 0; bit < 8; bit += 3) {
			memcpy(q, p, (size_t)l);
			q[where[w]] ^= (uint8_t)(1 << bit);
			size_t ql = (size_t)l;
			int err = relay_srtp_unprotect(rx, false, q, &ql);
			bad += err != EACCES && err != EBADMSG && err != EALREADY;
		}
	TAP_CHECK_INT(bad, 0);
	size_t ql = (size_t)l;
	memcpy(q, p, ql);
	TAP_CHECK_INT(relay_srtp_unprotect(rx, false, q, &ql), 0);
	/* truncated: every prefix is refused */
	for (size_t k = 0; k < (size_t)l; k++) {
		memcpy(q, p, k);
		ql = k;
		bad += relay_srtp_unprotect(rx, false, q, &ql) == 0;
	}
	TAP_CHECK_INT(bad, 0);
	/* SRTCP */
	n = mkrtcp(p, 0x42, 9);
	l = (int)n;
	TAP_CHECK_INT(srtp_protect_rtcp(otx, p, &l), srtp_err_status_ok);
	for (size_t w = 0; w < (size_t)l; w += 5) {
		memcpy(q, p, (size_t)l);
		q[w] ^= 0x10;
		ql = (size_t)l;
		bad += relay_srtp_unprotect(rx, true, q, &ql) == 0;
	}
	TAP_CHECK_INT(bad, 0);
	ql = (size_t)l;
	memcpy(q, p, ql);
	TAP_CHECK_INT(relay_srtp_unprotect(rx, true, q, &ql), 0);
	TAP_CHECK_INT(ql, n);
	ql = (size_t)l;
	memcpy(q, p, ql);
	TAP_CHECK_INT(relay_srtp_unprotect(rx, true, q, &ql), EALREADY);
out:
	relay_srtp_free(rx);
	if (otx)
		srtp_dealloc(otx);
}

static void t_tamper(void)
{
	for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
		tamper(suites[i]);
}

/*
 * SSRCs: one context serves several (libsrtp's any-inbound template), each with its own
 * ROC and replay list; an unknown SSRC with a bad tag leaves no state; a 65th is refused.
 * Sending: the same index twice is refused (one keystream, one packet).
 */
static void t_ssrc(void)
{
	enum relay_srtp_suite su = RELAY_SRTP_AES_CM_128_HMAC_SHA1_80;
	struct relay_srtp *tx = ours(su, false), *rx = ours(su, true);
	srtp_t orx = oracle(su, true, false);
	if (!tx || !rx || !orx)
		goto out;
	uint8_t p[CAP];
	size_t n;
	unsigned bad = 0;
	/* two SSRCs interleaved, one of them wrapping its seq, the other not */
	for (unsigned i = 0; i < 100; i++) {
		n = mkrtp(p, (uint16_t)(65500 + i), 1, 0, 0, 0, 30);
		bad += relay_srtp_protect(tx, false, p, &n, sizeof(p)) != 0;
		int l = (int)n;
		bad += srtp_unprotect(orx, p, &l) != srtp_err_status_ok;
		n = mkrtp(p, (uint16_t)(100 + i), 2, 0, 0, 0, 30);
		bad += relay_srtp_protect(tx, false, p, &n, sizeof(p)) != 0;
		bad += relay_srtp_unprotect(rx, false, p, &n) != 0;
	}
	TAP_CHECK_INT(bad, 0);
	/* the same index twice toward a peer: refused */
	n = mkrtp(p, 199, 2, 0, 0, 0, 30);
	TAP_CHECK_INT(relay_srtp_protect(tx, false, p, &n, sizeof(p)), EIO);
	/* an unknown SSRC whose tag is wrong: refused, and nothing is remembered of it */
	n = mkrtp(p, 40000, 3, 0, 0, 0, 30);
	uint8_t good[CAP];
	size_t gl = n;
	memcpy(good, p, n);
	TAP_CHECK_INT(relay_srtp_protect(tx, false, good, &gl, sizeof(good)), 0);
	memcpy(p, good, gl);
	p[gl - 1] ^= 1;
	n = gl;
	TAP_CHECK_INT(relay_srtp_unprotect(rx, false, p, &n), EACCES);
	n = gl;
	TAP_CHECK_INT(relay_srtp_unprotect(rx, false, good, &n), 0);
	/* SSRCs 4..65 fill rx's table (64 with 2 and 3); the 65th is refused */
	struct relay_srtp *tx2 = ours(su, false);
	for (uint32_t ssrc = 4; tx2 && ssrc <= 66; ssrc++) {
		n = mkrtp(p, 5, ssrc, 0, 0, 0, 10);
		bad += relay_srtp_protect(tx2, false, p, &n, sizeof(p)) != 0;
		int err = relay_srtp_unprotect(rx, false, p, &n);
		bad += ssrc <= 65 ? err != 0 : err != EBADMSG;
	}
	relay_srtp_free(tx2);
	TAP_CHECK_INT(bad, 0);
	/* a known SSRC still goes through */
	n = mkrtp(p, 300, 2, 0, 0, 0, 30);
	TAP_CHECK_INT(relay_srtp_protect(tx, false, p, &n, sizeof(p)), 0);
	TAP_CHECK_INT(relay_srtp_unprotect(rx, false, p, &n), 0);
	/* direction: an inbound context does not protect, an outbound one does not unprotect */
	n = mkrtp(p, 301, 2, 0, 0, 0, 30);
	TAP_CHECK(relay_srtp_protect(rx, false, p, &n, sizeof(p)) != 0);
	TAP_CHECK(relay_srtp_unprotect(tx, false, p, &n) != 0);
out:
	relay_srtp_free(tx);
	relay_srtp_free(rx);
	if (orx)
		srtp_dealloc(orx);
}

/* A sender that loses 30,000 packets in a row, and one whose first packet the receiver
 * missed by the same amount: the ROC estimate (RFC 3711 §3.3.1) follows both. A stream
 * that jumps more than 2^15 ahead while its ROC is 0 goes on, both ways, as with libsrtp. */
static void t_roc_gap(void)
{
	for (size_t s = 0; s < sizeof(suites) / sizeof(suites[0]); s++) {
		srtp_t otx = oracle(suites[s], false, false);
		struct relay_srtp *rx = ours(suites[s], true);
		if (!otx || !rx) {
			TAP_CHECK(0);
			relay_srtp_free(rx);
			if (otx)
				srtp_dealloc(otx);
			continue;
		}
		unsigned bad = 0;
		uint16_t seqs[] = {60000, 60001, 24464, 54464, 18928, 18929, 18927};
		/* a stream that starts low and jumps more than 2^15 ahead while its ROC is 0 */
		uint16_t jump[] = {100, 101, 40000, 40001, 65535, 0, 1};
		struct relay_srtp *jtx = ours(suites[s], false), *jrx = ours(suites[s], true);
		srtp_t ojtx = oracle(suites[s], false, false),
		       ojrx = oracle(suites[s], true, false);
		for (size_t i = 0; jtx && jrx && ojtx && ojrx && i < sizeof(jump) / sizeof(jump[0]);
		     i++) {
			uint8_t p[CAP], q[CAP];
			size_t n = mkrtp(p, jump[i], 10, 0, 0, 0, 50);
			int l = (int)n;
			memcpy(q, p, n);
			bad += relay_srtp_protect(jtx, false, p, &n, sizeof(p)) != 0;
			int l2 = (int)n;
			bad += srtp_unprotect(ojrx, p, &l2) != srtp_err_status_ok;
			bad += srtp_protect(ojtx, q, &l) != srtp_err_status_ok;
			n = (size_t)l;
			bad += relay_srtp_unprotect(jrx, false, q, &n) != 0;
		}
		TAP_CHECK(jtx && jrx && ojtx && ojrx);
		relay_srtp_free(jtx);
		relay_srtp_free(jrx);
		if (ojtx)
			srtp_dealloc(ojtx);
		if (ojrx)
			srtp_dealloc(ojrx);
		for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
			uint8_t p[CAP];
			int l = (int)mkrtp(p, seqs[i], 9, 0, 0, 0, 50);
			bad += srtp_protect(otx, p, &l) != srtp_err_status_ok;
			size_t n = (size_t)l;
			bad += relay_srtp_unprotect(rx, false, p, &n) != 0;
		}
		TAP_CHECK_INT(bad, 0);
		relay_srtp_free(rx);
		srtp_dealloc(otx);
	}
}

static void t_keep(void)
{
	TAP_CHECK_INT(srtp_init(), srtp_err_status_ok);
	if (!keeper)
		keeper = oracle(RELAY_SRTP_AES_CM_128_HMAC_SHA1_80, false, false);
	TAP_CHECK(keeper != NULL);
	struct relay_srtp *x = NULL;
	TAP_CHECK_INT(relay_srtp_new(RELAY_SRTP_AEAD_AES_128_GCM, mkey, 30, false, &x), EINVAL);
	TAP_CHECK_INT(relay_srtp_new(RELAY_SRTP_NONE, mkey, 30, false, &x), EINVAL);
	TAP_CHECK(x == NULL);
}

static const struct tap_case cases[] = {
        {"libsrtp2 up (oracle); bad suite and key length refused", t_keep, 1},
        {"RTP both ways against libsrtp2, same bytes, ROC wrap, CSRC, extension, padding",
         t_cross_rtp, 0},
        {"SRTCP both ways against libsrtp2, E=1 and E=0", t_cross_rtcp, 0},
        {"RFC 3711 §3.3.2 reordered accepted, replayed and too old refused", t_reorder, 0},
        {"a flipped bit in header, payload or tag; truncated; SRTCP tamper and replay", t_tamper,
         0},
        {"SSRCs: several per context, unknown with bad tag, 65th refused, no index reuse", t_ssrc,
         0},
        {"RFC 3711 §3.3.1 ROC estimate across 30,000-packet gaps and an early 2^15+ jump",
         t_roc_gap, 0},
};

TAP_MAIN(cases)
