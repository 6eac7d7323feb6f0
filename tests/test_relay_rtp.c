/* Unit tests: RTP header parsing (BI-30), RTCP compound filtering (BI-32), RFC 5761 demux,
 * and SDES-SRTP protect/unprotect round trips (BI-33). */
#include <errno.h>

#include "guard.h"
#include "relay.h"
#include "tap.h"

/* V=2, no CSRC, PT 0, seq 0x1234, ts 0x01020304, SSRC 0xdeadbeef, 4 bytes payload */
static const uint8_t rtp_basic[] = {0x80, 0x00, 0x12, 0x34, 0x01, 0x02, 0x03, 0x04,
				    0xde, 0xad, 0xbe, 0xef, 'a',  'b',  'c',  'd'};

/* V=2 P X CC=1, M PT 101 (RFC 4733), one CSRC, a one-byte extension (ID 1, 2 bytes + pad),
 * payload 4 bytes, then 3 padding octets. */
static const uint8_t rtp_full[] = {
	0xb1, 0xe5, 0x00, 0x07, 0x00, 0x00, 0x00, 0x10, 0x11, 0x22, 0x33, 0x44, /* fixed */
	0xaa, 0xbb, 0xcc, 0xdd,                                                 /* CSRC */
	0xbe, 0xde, 0x00, 0x01, 0x11, 0x05, 0x06, 0x00,                         /* ext */
	0x05, 0x0a, 0x00, 0xa0,                                                 /* event */
	0x00, 0x00, 0x03};

/* RTCP SR (no report blocks) + SDES with one CNAME chunk: a typical compound packet. */
static const uint8_t rtcp_sr_sdes[] = {
	0x80, 0xc8, 0x00, 0x06, 0x11, 0x22, 0x33, 0x44, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
	0x00, 0x02, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x05,
	0x81, 0xca, 0x00, 0x03, 0x11, 0x22, 0x33, 0x44, 0x01, 0x04, 'a',  'b',  'c',  'd',
	0x00, 0x00};

static void t_rtp_valid(void)
{
	struct relay_rtp r;
	TAP_CHECK_INT(relay_rtp_parse(rtp_basic, sizeof(rtp_basic), true, &r), 0);
	TAP_CHECK_INT(r.pt, 0);
	TAP_CHECK_INT(r.seq, 0x1234);
	TAP_CHECK_INT(r.ts, 0x01020304);
	TAP_CHECK_INT(r.ssrc, 0xdeadbeef);
	TAP_CHECK_INT(r.payload_len, 4);
	TAP_CHECK(r.payload == rtp_basic + 12);

	TAP_CHECK_INT(relay_rtp_parse(rtp_full, sizeof(rtp_full), true, &r), 0);
	TAP_CHECK_INT(r.pt, 101);
	TAP_CHECK(r.marker);
	TAP_CHECK_INT(r.cc, 1);
	TAP_CHECK(r.has_ext);
	TAP_CHECK_INT(r.ext_profile, 0xbede);
	TAP_CHECK_INT(r.ext_len, 4);
	TAP_CHECK_INT(r.hdr_len, 24);
	TAP_CHECK_INT(r.pad_len, 3);
	TAP_CHECK_INT(r.payload_len, 4);
	TAP_CHECK(r.payload == rtp_full + 24);
	/* SRTP: padding not examined before decryption */
	TAP_CHECK_INT(relay_rtp_parse(rtp_full, sizeof(rtp_full), false, &r), 0);
	TAP_CHECK_INT(r.payload_len, 7);
}

/* Every truncated prefix of a valid packet parses or is refused, never reads past it. */
static void t_rtp_prefixes_guard(void)
{
	struct guard g;
	guard_init(&g);
	struct relay_rtp r;
	for (size_t n = 0; n <= sizeof(rtp_full); n++) {
		const uint8_t *p = (const uint8_t *)guard_place(&g, rtp_full, n);
		int err = relay_rtp_parse(p, n, true, &r);
		if (n < sizeof(rtp_full))
			TAP_CHECK(err == EBADMSG || (err == 0 && r.hdr_len + r.payload_len <= n));
		else
			TAP_CHECK_INT(err, 0);
	}
	for (size_t n = 0; n <= sizeof(rtcp_sr_sdes); n++) {
		uint8_t buf[sizeof(rtcp_sr_sdes)];
		memcpy(buf, rtcp_sr_sdes, n);
		size_t out;
		int err = relay_rtcp_filter(buf, n, &out, NULL);
		TAP_CHECK(out <= n);
		if (n == 28 || n == sizeof(rtcp_sr_sdes))
			TAP_CHECK_INT(err, 0);
	}
	guard_free(&g);
}

static void t_bi30_short(void)
{
	struct relay_rtp r;
	for (size_t n = 0; n < 12; n++)
		TAP_CHECK_INT(relay_rtp_parse(rtp_basic, n, true, &r), EBADMSG);
	uint8_t v1[16];
	memcpy(v1, rtp_basic, sizeof(v1));
	v1[0] = 0x40; /* version 1 */
	TAP_CHECK_INT(relay_rtp_parse(v1, sizeof(v1), true, &r), EBADMSG);
}

static void t_bi30_cc15_in_20(void)
{
	uint8_t p[20] = {0x8f, 0x00, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1};
	struct relay_rtp r;
	TAP_CHECK_INT(relay_rtp_parse(p, sizeof(p), true, &r), EBADMSG);
	/* CC=2 fits exactly in 20 */
	p[0] = 0x82;
	TAP_CHECK_INT(relay_rtp_parse(p, sizeof(p), true, &r), 0);
	TAP_CHECK_INT(r.payload_len, 0);
}

static void t_bi30_ext_longer(void)
{
	uint8_t p[24] = {0x90, 0x00, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0x12, 0x34, 0x00, 0x02};
	struct relay_rtp r;
	/* 2 words of extension (8 bytes) but only 8 left: exactly fits */
	TAP_CHECK_INT(relay_rtp_parse(p, sizeof(p), true, &r), 0);
	p[15] = 0x03; /* 12 bytes claimed */
	TAP_CHECK_INT(relay_rtp_parse(p, sizeof(p), true, &r), EBADMSG);
	p[15] = 0xff;
	p[14] = 0xff;
	TAP_CHECK_INT(relay_rtp_parse(p, sizeof(p), true, &r), EBADMSG);
	/* X set but no room for the extension header */
	TAP_CHECK_INT(relay_rtp_parse(p, 14, true, &r), EBADMSG);
}

static void t_bi30_ext_id15(void)
{
	uint8_t p[20] = {0x90, 0x00, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xbe, 0xde, 0x00, 0x01,
			 0xf3, 0x00, 0x00, 0x00};
	struct relay_rtp r;
	TAP_CHECK_INT(relay_rtp_parse(p, sizeof(p), true, &r), EBADMSG);
	/* an element whose length runs past the block */
	p[16] = 0x13;
	p[17] = 0;
	TAP_CHECK_INT(relay_rtp_parse(p, sizeof(p), true, &r), EBADMSG);
	p[16] = 0x12; /* ID 1, 3 bytes: fits exactly */
	TAP_CHECK_INT(relay_rtp_parse(p, sizeof(p), true, &r), 0);
	/* two-byte form (0x1000): length past the block */
	p[12] = 0x10;
	p[13] = 0x00;
	p[16] = 0x01;
	p[17] = 0x05;
	TAP_CHECK_INT(relay_rtp_parse(p, sizeof(p), true, &r), EBADMSG);
}

static void t_bi30_padding(void)
{
	uint8_t p[16];
	memcpy(p, rtp_basic, sizeof(p));
	p[0] |= 0x20;
	struct relay_rtp r;
	p[15] = 5; /* > 4 bytes of payload */
	TAP_CHECK_INT(relay_rtp_parse(p, sizeof(p), true, &r), EBADMSG);
	p[15] = 0;
	TAP_CHECK_INT(relay_rtp_parse(p, sizeof(p), true, &r), EBADMSG);
	p[15] = 4;
	TAP_CHECK_INT(relay_rtp_parse(p, sizeof(p), true, &r), 0);
	TAP_CHECK_INT(r.payload_len, 0);
	/* padding bit with no payload at all */
	TAP_CHECK_INT(relay_rtp_parse(p, 12, true, &r), EBADMSG);
}

static void t_rfc5761_demux(void)
{
	uint8_t p[2] = {0x80, 0};
	for (int b = 0; b < 256; b++) {
		p[1] = (uint8_t)b;
		bool want = b >= 192 && b <= 223;
		TAP_CHECK_INT(relay_is_rtcp(p, 2), want);
	}
	TAP_CHECK(relay_is_rtcp(rtcp_sr_sdes, sizeof(rtcp_sr_sdes)));
	TAP_CHECK(!relay_is_rtcp(rtp_full, sizeof(rtp_full))); /* PT 101 with marker = 0xe5 */
	TAP_CHECK(!relay_is_rtcp(p, 1));
}

static void t_rtcp_compound_valid(void)
{
	uint8_t buf[sizeof(rtcp_sr_sdes)];
	memcpy(buf, rtcp_sr_sdes, sizeof(buf));
	size_t out;
	unsigned dropped = 9;
	TAP_CHECK_INT(relay_rtcp_filter(buf, sizeof(buf), &out, &dropped), 0);
	TAP_CHECK_INT(out, sizeof(buf));
	TAP_CHECK_INT(dropped, 0);
	TAP_CHECK(memcmp(buf, rtcp_sr_sdes, sizeof(buf)) == 0);
}

/* Builds SR(bad) + SDES(good): the bad sub-packet goes, the SDES moves to the front. */
static void check_first_dropped(const uint8_t *bad, size_t n, const char *what)
{
	uint8_t buf[256];
	memcpy(buf, bad, n);
	memcpy(buf + n, rtcp_sr_sdes + 28, 16);
	size_t out;
	unsigned dropped = 0;
	int err = relay_rtcp_filter(buf, n + 16, &out, &dropped);
	if (err || out != 16 || dropped != 1 || memcmp(buf, rtcp_sr_sdes + 28, 16) != 0) {
		printf("#   %s: err %d out %zu dropped %u\n", what, err, out, dropped);
		tap_fails++;
	}
}

static void t_bi32_sr_count(void)
{
	uint8_t sr[28];
	memcpy(sr, rtcp_sr_sdes, 28);
	sr[0] = 0x82; /* RC=2, no room for the blocks */
	check_first_dropped(sr, sizeof(sr), "SR RC=2 in 28 bytes");
	uint8_t rr[8] = {0x81, 0xc9, 0x00, 0x01, 1, 2, 3, 4};
	check_first_dropped(rr, sizeof(rr), "RR RC=1 in 8 bytes");
}

static void t_bi32_31_blocks(void)
{
	/* RR claiming 31 report blocks (the 5-bit maximum) in 32 bytes */
	uint8_t rr[32] = {0x9f, 0xc9, 0x00, 0x07};
	check_first_dropped(rr, sizeof(rr), "RR RC=31");
	/* and a real RR with 31 blocks passes */
	size_t n = 8 + 31 * 24;
	uint8_t *big = g_malloc0(n);
	big[0] = 0x9f;
	big[1] = 0xc9;
	big[2] = (uint8_t)((n / 4 - 1) >> 8);
	big[3] = (uint8_t)(n / 4 - 1);
	size_t out;
	TAP_CHECK_INT(relay_rtcp_filter(big, n, &out, NULL), 0);
	TAP_CHECK_INT(out, n);
	g_free(big);
}

static void t_bi32_bye_reason(void)
{
	uint8_t bye[12] = {0x81, 0xcb, 0x00, 0x02, 1, 2, 3, 4, 20, 'b', 'y', 'e'};
	check_first_dropped(bye, sizeof(bye), "BYE reason 20 in 3");
	bye[8] = 3;
	size_t out;
	TAP_CHECK_INT(relay_rtcp_filter(bye, sizeof(bye), &out, NULL), 0);
	TAP_CHECK_INT(out, sizeof(bye));
}

static void t_bi32_xr_block(void)
{
	uint8_t xr[16] = {0x80, 0xcf, 0x00, 0x03, 1, 2, 3, 4, 0x04, 0x00, 0x00, 0x05};
	check_first_dropped(xr, sizeof(xr), "XR block length 5 in 1");
	xr[11] = 1;
	size_t out;
	TAP_CHECK_INT(relay_rtcp_filter(xr, sizeof(xr), &out, NULL), 0);
}

static void t_bi32_fb_truncated(void)
{
	/* RTPFB generic NACK with no FCI, PSFB shorter than its two SSRCs, REMB without body */
	uint8_t nack[12] = {0x81, 0xcd, 0x00, 0x02, 1, 2, 3, 4, 5, 6, 7, 8};
	check_first_dropped(nack, sizeof(nack), "NACK without FCI");
	uint8_t psfb[8] = {0x81, 0xce, 0x00, 0x01, 1, 2, 3, 4};
	check_first_dropped(psfb, sizeof(psfb), "PSFB 8 bytes");
	uint8_t remb[12] = {0x8f, 0xce, 0x00, 0x02, 1, 2, 3, 4, 0, 0, 0, 0};
	check_first_dropped(remb, sizeof(remb), "REMB without body");
	uint8_t good[16] = {0x81, 0xcd, 0x00, 0x03, 1, 2, 3, 4, 5, 6, 7, 8, 0, 9, 0, 0};
	size_t out;
	TAP_CHECK_INT(relay_rtcp_filter(good, sizeof(good), &out, NULL), 0);
}

static void t_bi32_framing(void)
{
	uint8_t buf[sizeof(rtcp_sr_sdes)];
	memcpy(buf, rtcp_sr_sdes, sizeof(buf));
	buf[31] = 0x40; /* SDES length runs past the end */
	size_t out;
	unsigned dropped = 0;
	TAP_CHECK_INT(relay_rtcp_filter(buf, sizeof(buf), &out, &dropped), 0);
	TAP_CHECK_INT(out, 28);
	TAP_CHECK_INT(dropped, 1);
	buf[0] = 0x40; /* version 1 SR, and the rest broken: nothing left */
	TAP_CHECK_INT(relay_rtcp_filter(buf, sizeof(buf), &out, &dropped), EBADMSG);
	TAP_CHECK_INT(out, 0);
	/* bad SDES item length; padding count too large */
	memcpy(buf, rtcp_sr_sdes, sizeof(buf));
	buf[37] = 40;
	TAP_CHECK_INT(relay_rtcp_filter(buf, sizeof(buf), &out, &dropped), 0);
	TAP_CHECK_INT(out, 28);
	memcpy(buf, rtcp_sr_sdes, sizeof(buf));
	buf[28] |= 0x20;
	buf[sizeof(buf) - 1] = 200;
	TAP_CHECK_INT(relay_rtcp_filter(buf, sizeof(buf), &out, &dropped), 0);
	TAP_CHECK_INT(out, 28);
	TAP_CHECK_INT(relay_rtcp_filter(buf, 3, &out, &dropped), EBADMSG);
}

/* ---- SRTP ---- */

static const uint8_t key30[30] = {0xe1, 0xf9, 0x7a, 0x0d, 0x3e, 0x01, 0x8b, 0xe0, 0xd6, 0x4f,
				  0xa3, 0x2c, 0x06, 0xde, 0x41, 0x39, 0x0e, 0xc6, 0x75, 0xad,
				  0x49, 0x8a, 0xfe, 0xeb, 0xb6, 0x96, 0x0b, 0x3a, 0xab, 0xe6};

static void roundtrip(enum relay_srtp_suite suite)
{
	size_t kl = relay_srtp_key_len(suite);
	struct relay_srtp *tx = NULL, *rx = NULL;
	int err = relay_srtp_new(suite, key30, kl, false, &tx);
	if (err == ENOTSUP) {
		printf("# %s not supported by this libsrtp2\n", relay_srtp_suite_name(suite));
		return;
	}
	TAP_CHECK_INT(err, 0);
	TAP_CHECK_INT(relay_srtp_new(suite, key30, kl, true, &rx), 0);
	if (!tx || !rx)
		goto out;
	uint8_t pkt[64 + RELAY_SRTP_TRAILER_MAX];
	for (uint16_t seq = 1; seq <= 3; seq++) {
		memcpy(pkt, rtp_basic, sizeof(rtp_basic));
		pkt[3] = (uint8_t)seq;
		size_t len = sizeof(rtp_basic);
		TAP_CHECK_INT(relay_srtp_protect(tx, false, pkt, &len, sizeof(pkt)), 0);
		TAP_CHECK(len > sizeof(rtp_basic));
		TAP_CHECK(memcmp(pkt + 12, rtp_basic + 12, 4) != 0); /* encrypted */
		uint8_t copy[sizeof(pkt)];
		memcpy(copy, pkt, len);
		size_t clen = len;
		TAP_CHECK_INT(relay_srtp_unprotect(rx, false, pkt, &len), 0);
		TAP_CHECK_INT(len, sizeof(rtp_basic));
		TAP_CHECK(memcmp(pkt + 12, rtp_basic + 12, 4) == 0);
		/* replay of the same packet */
		TAP_CHECK_INT(relay_srtp_unprotect(rx, false, copy, &clen), EALREADY);
	}
	/* tampered payload and tampered tag */
	memcpy(pkt, rtp_basic, sizeof(rtp_basic));
	pkt[3] = 9;
	size_t len = sizeof(rtp_basic);
	TAP_CHECK_INT(relay_srtp_protect(tx, false, pkt, &len, sizeof(pkt)), 0);
	uint8_t t2[sizeof(pkt)];
	memcpy(t2, pkt, len);
	size_t l2 = len;
	pkt[13] ^= 1;
	TAP_CHECK_INT(relay_srtp_unprotect(rx, false, pkt, &len), EACCES);
	t2[l2 - 1] ^= 0x80;
	TAP_CHECK_INT(relay_srtp_unprotect(rx, false, t2, &l2), EACCES);
	/* SRTCP */
	uint8_t c[sizeof(rtcp_sr_sdes) + RELAY_SRTP_TRAILER_MAX];
	memcpy(c, rtcp_sr_sdes, sizeof(rtcp_sr_sdes));
	len = sizeof(rtcp_sr_sdes);
	TAP_CHECK_INT(relay_srtp_protect(tx, true, c, &len, sizeof(c)), 0);
	TAP_CHECK_INT(relay_srtp_unprotect(rx, true, c, &len), 0);
	TAP_CHECK_INT(len, sizeof(rtcp_sr_sdes));
	TAP_CHECK(memcmp(c, rtcp_sr_sdes, len) == 0);
	/* BI-33: SRTCP shorter than its trailer */
	len = 10;
	TAP_CHECK(relay_srtp_unprotect(rx, true, c, &len) != 0);
	/* not enough room to protect */
	len = sizeof(rtp_basic);
	TAP_CHECK_INT(relay_srtp_protect(tx, false, pkt, &len, len + 4), EMSGSIZE);
out:
	relay_srtp_free(tx);
	relay_srtp_free(rx);
}

static void t_srtp_roundtrip_80(void)
{
	roundtrip(RELAY_SRTP_AES_CM_128_HMAC_SHA1_80);
}

static void t_srtp_roundtrip_32(void)
{
	roundtrip(RELAY_SRTP_AES_CM_128_HMAC_SHA1_32);
}

static void t_srtp_roundtrip_gcm(void)
{
	roundtrip(RELAY_SRTP_AEAD_AES_128_GCM);
}

static void t_srtp_wrong_key(void)
{
	struct relay_srtp *tx = NULL, *rx = NULL;
	uint8_t other[30];
	memcpy(other, key30, sizeof(other));
	other[0] ^= 1;
	TAP_CHECK_INT(relay_srtp_new(RELAY_SRTP_AES_CM_128_HMAC_SHA1_80, key30, 30, false, &tx), 0);
	TAP_CHECK_INT(relay_srtp_new(RELAY_SRTP_AES_CM_128_HMAC_SHA1_80, other, 30, true, &rx), 0);
	uint8_t pkt[64 + RELAY_SRTP_TRAILER_MAX];
	memcpy(pkt, rtp_basic, sizeof(rtp_basic));
	size_t len = sizeof(rtp_basic);
	TAP_CHECK_INT(relay_srtp_protect(tx, false, pkt, &len, sizeof(pkt)), 0);
	TAP_CHECK_INT(relay_srtp_unprotect(rx, false, pkt, &len), EACCES);
	/* plain RTP handed to an SRTP receiver is refused, never passed */
	memcpy(pkt, rtp_basic, sizeof(rtp_basic));
	len = sizeof(rtp_basic);
	TAP_CHECK(relay_srtp_unprotect(rx, false, pkt, &len) != 0);
	relay_srtp_free(tx);
	relay_srtp_free(rx);
	struct relay_srtp *x = NULL;
	TAP_CHECK_INT(relay_srtp_new(RELAY_SRTP_AES_CM_128_HMAC_SHA1_80, key30, 29, false, &x), EINVAL);
	TAP_CHECK_INT(relay_srtp_new(RELAY_SRTP_NONE, key30, 30, false, &x), EINVAL);
	TAP_CHECK_INT(relay_srtp_new(RELAY_SRTP_AEAD_AES_128_GCM, key30, 30, false, &x), EINVAL);
	TAP_CHECK(x == NULL);
	TAP_CHECK_STR(relay_srtp_suite_name(RELAY_SRTP_AES_CM_128_HMAC_SHA1_32),
		      "AES_CM_128_HMAC_SHA1_32");
}

static const struct tap_case cases[] = {
	{"rtp valid (basic, CSRC+ext+padding, RFC 4733 PT)", t_rtp_valid, 0},
	{"rtp/rtcp truncated prefixes before a guard page", t_rtp_prefixes_guard, 0},
	{"BI-30 shorter than 12 bytes, version != 2", t_bi30_short, 0},
	{"BI-30 CC=15 in a 20-byte packet", t_bi30_cc15_in_20, 0},
	{"BI-30 extension longer than the packet", t_bi30_ext_longer, 0},
	{"BI-30 one-byte extension ID 15, element overruns", t_bi30_ext_id15, 0},
	{"BI-30 padding > payload, padding 0", t_bi30_padding, 0},
	{"RFC 5761 RTP/RTCP demux", t_rfc5761_demux, 0},
	{"rtcp SR+SDES compound passes untouched", t_rtcp_compound_valid, 0},
	{"BI-32 SR/RR report count larger than the length", t_bi32_sr_count, 0},
	{"BI-32 31 report blocks", t_bi32_31_blocks, 0},
	{"BI-32 BYE reason length > packet", t_bi32_bye_reason, 0},
	{"BI-32 XR block length wrong", t_bi32_xr_block, 0},
	{"BI-32 RTCP-FB NACK/PSFB/REMB truncated", t_bi32_fb_truncated, 0},
	{"BI-32 sub-packet length past the end, bad version, SDES item, padding", t_bi32_framing, 0},
	{"SRTP AES_CM_128_HMAC_SHA1_80 round trip, tamper, BI-33 replay", t_srtp_roundtrip_80, 1},
	{"SRTP AES_CM_128_HMAC_SHA1_32 round trip, tamper, BI-33 replay", t_srtp_roundtrip_32, 0},
	{"SRTP AEAD_AES_128_GCM round trip, tamper, BI-33 replay", t_srtp_roundtrip_gcm, 0},
	{"BI-33 SRTP wrong key, plain RTP to SRTP, bad key lengths", t_srtp_wrong_key, 0},
};

TAP_MAIN(cases)
