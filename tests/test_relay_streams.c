/* Integration test: a session's streams with no bundled side (two SIP peers, each with
 * ports of its own per m-section), payload type translation, SDES-SRTP per stream with a
 * suite of its own, and counting per stream by PT, over real UDP on loopback. */
#include <errno.h>

#include "core.h"
#include "relay.h"
#include "relayfx.h"
#include "tap.h"
#include "testnet.h"
#include "testudp.h"


static bool ports_in_use(struct fx *f, unsigned want)
{
	for (int i = 0; i < 500; i++) {
		if (relay_ports_in_use(relay_get_ports(f->r)) == want)
			return true;
		pump(f, 4);
	}
	return false;
}

/* A packet sent from `from` to the relay's port comes out at `to` as want (n bytes). */
static bool relayed_as(int from, uint16_t port, const uint8_t *p, size_t n, int to,
		       const uint8_t *want, size_t wn)
{
	uint8_t q[2048];
	send_to(from, port, p, n);
	ssize_t got = recv_in(to, q, sizeof(q), 1000);
	return got == (ssize_t)wn && memcmp(q, want, wn) == 0;
}

static bool relayed(int from, uint16_t port, int to, uint8_t pt, uint16_t seq)
{
	uint8_t p[300];
	size_t n = test_rtp(p, pt, 3000, seq, 0x1000u + pt, 200);
	return relayed_as(from, port, p, n, to, p, n);
}

static bool nothing_in(int fd, int ms)
{
	uint8_t q[2048];
	return recv_in(fd, q, sizeof(q), ms) < 0;
}

/* Audio (stream 0) between plain peers a and b, muxed; side 0 also sends events (101) and
 * PT 96 (t_count_by_pt). */
static struct relay_session *session(struct fx *f, int a, int b, struct relay_local loc[2])
{
	struct relay_session_params p;
	memset(&p, 0, sizeof(p));
	p.ep[0].remote_rtp = addr_of(a);
	p.ep[0].rtcp_mux = true;
	p.ep[0].pt_allow[p.ep[0].n_pt_allow++] = 0;
	p.ep[0].pt_allow[p.ep[0].n_pt_allow++] = 101;
	p.ep[0].pt_allow[p.ep[0].n_pt_allow++] = 96;
	p.ep[1].remote_rtp = addr_of(b);
	p.ep[1].rtcp_mux = true;
	p.ep[1].pt_allow[p.ep[1].n_pt_allow++] = 0;
	p.call_id = "streams-call";
	struct relay_session *s = NULL;
	TAP_CHECK_INT(relay_session_new(f->r, &p, loc, &s), 0);
	return s;
}

/* Video as stream 1 with no bundled side: va (muxed, PT 96) on side 0, vb with a separate
 * RTCP socket vbr (PT 100) on side 1. */
static void video_streams(struct relay_streams *st, int va, int vb, int vbr)
{
	memset(st, 0, sizeof(*st));
	st->n = 2;
	st->bundled = RELAY_BUNDLE_NONE;
	struct relay_endpoint_params *e0 = &st->ep[0][0], *e1 = &st->ep[1][0];
	e0->remote_rtp = addr_of(va);
	e0->rtcp_mux = true;
	e0->pt_allow[e0->n_pt_allow++] = 96;
	e0->clock_rate = 90000;
	e1->remote_rtp = addr_of(vb);
	e1->remote_rtcp = addr_of(vbr);
	e1->pt_allow[e1->n_pt_allow++] = 100;
	e1->clock_rate = 90000;
}

static void t_sip_to_sip_streams(void)
{
	struct fx f;
	fx_init(&f);
	int a = udp_on("127.0.0.1"), b = udp_on("127.0.0.1");
	int va = udp_on("127.0.0.1"), vb = udp_on("127.0.0.1"), vbr = udp_on("127.0.0.1");
	struct relay_local loc[2], xl[2][RELAY_MAX_STREAMS - 1];
	struct relay_session *s = session(&f, a, b, loc);
	TAP_CHECK(ports_in_use(&f, 2));
	struct relay_streams st;
	video_streams(&st, va, vb, vbr);
	TAP_CHECK_INT(relay_session_set_streams(s, &st, xl), 0);
	TAP_CHECK(xl[0][0].rtp_port && xl[0][0].rtcp_port == xl[0][0].rtp_port);
	TAP_CHECK(xl[1][0].rtp_port && xl[1][0].rtcp_port == xl[1][0].rtp_port + 1);
	TAP_CHECK(xl[0][0].rtp_port != xl[1][0].rtp_port && !xl[0][1].rtp_port);
	TAP_CHECK(ports_in_use(&f, 4));
	pump(&f, 20);

	/* each m-section goes to the same m-section on the other side, both ways */
	for (uint16_t i = 1; i <= 5; i++) {
		TAP_CHECK(relayed(va, xl[0][0].rtp_port, vb, 96, i));
		TAP_CHECK(relayed(vb, xl[1][0].rtp_port, va, 100, i));
	}
	TAP_CHECK(relayed(a, loc[0].rtp_port, b, 0, 1));
	TAP_CHECK(relayed(b, loc[1].rtp_port, a, 0, 1));
	/* RTCP: from vb's RTCP socket to the relay's RTCP port, out muxed to va; back to vbr */
	static const uint8_t rr[] = {0x80, 201, 0, 1, 0, 0, 0x10, 0x64};
	TAP_CHECK(relayed_as(vbr, xl[1][0].rtcp_port, rr, sizeof(rr), va, rr, sizeof(rr)));
	TAP_CHECK(relayed_as(va, xl[0][0].rtp_port, rr, sizeof(rr), vbr, rr, sizeof(rr)));
	/* each stream's allowlist: audio's PT on the video port, and the other side's PT */
	uint8_t p[300];
	size_t n = test_rtp(p, 0, 160, 9, 0x77, 100);
	send_to(va, xl[0][0].rtp_port, p, n);
	n = test_rtp(p, 96, 3000, 9, 0x77, 100);
	send_to(vb, xl[1][0].rtp_port, p, n);
	TAP_CHECK(nothing_in(vb, 100) && nothing_in(va, 1) && nothing_in(b, 1));
	/* a stranger on a video port is dropped (BI-34 per stream endpoint) */
	int x = udp_on("127.0.0.2");
	if (x >= 0) {
		n = test_rtp(p, 96, 3000, 10, 0x77, 100);
		send_to(x, xl[0][0].rtp_port, p, n);
		TAP_CHECK(nothing_in(vb, 100));
		close(x);
	}

	struct relay_session_stats ss = stats(&f, s);
	TAP_CHECK_INT(ss.n_streams, 2);
	TAP_CHECK_INT(ss.stream[1][0].packets_in, 6);
	TAP_CHECK_INT(ss.stream[1][0].packets_out, 6);
	TAP_CHECK_INT(ss.stream[1][1].packets_in, 6);
	TAP_CHECK_INT(ss.stream[1][1].rtcp_in, 1);
	TAP_CHECK_INT(ss.stream[1][1].packets_out, 6);
	TAP_CHECK(ss.stream[1][0].dropped >= 1 && ss.stream[1][1].dropped == 1);
	TAP_CHECK_INT(ss.stream[0][0].packets_in, 1);
	TAP_CHECK_INT(ss.stream[0][1].packets_in, 1);
	TAP_CHECK_INT(ss.ep[0].packets_in, 1); /* the session's endpoints: stream 0 only */
	TAP_CHECK(ss.stream[1][0].latched && ss.stream[1][1].latched);

	/* renegotiation: the same streams keep their ports; then video goes, ports return */
	struct relay_local xl2[2][RELAY_MAX_STREAMS - 1];
	TAP_CHECK_INT(relay_session_set_streams(s, &st, xl2), 0);
	TAP_CHECK_INT(xl2[0][0].rtp_port, xl[0][0].rtp_port);
	TAP_CHECK_INT(xl2[1][0].rtp_port, xl[1][0].rtp_port);
	pump(&f, 20);
	TAP_CHECK(relayed(va, xl[0][0].rtp_port, vb, 96, 20));
	st.n = 1;
	TAP_CHECK_INT(relay_session_set_streams(s, &st, xl2), 0);
	TAP_CHECK(ports_in_use(&f, 2));
	n = test_rtp(p, 96, 3000, 21, 0x1060, 200);
	send_to(va, xl[0][0].rtp_port, p, n);
	TAP_CHECK(nothing_in(vb, 100));
	TAP_CHECK(relayed(a, loc[0].rtp_port, b, 0, 2));
	TAP_CHECK_INT(stats(&f, s).n_streams, 1);

	/* bad parameters change nothing */
	video_streams(&st, va, vb, vbr);
	st.ep[1][0].kind = RELAY_EP_ICE;
	TAP_CHECK_INT(relay_session_set_streams(s, &st, xl2), EINVAL);
	video_streams(&st, va, vb, vbr);
	st.ep[0][0].learn_packets = RELAY_LEARN_MAX + 1;
	TAP_CHECK_INT(relay_session_set_streams(s, &st, xl2), EINVAL);
	video_streams(&st, va, vb, vbr);
	st.bundled = 3;
	TAP_CHECK_INT(relay_session_set_streams(s, &st, xl2), EINVAL);
	st.bundled = 0; /* a bundled side must be an ICE endpoint */
	TAP_CHECK_INT(relay_session_set_streams(s, &st, xl2), EINVAL);
	TAP_CHECK(ports_in_use(&f, 2));

	relay_session_free(s);
	TAP_CHECK(ports_in_use(&f, 0));
	close(a);
	close(b);
	close(va);
	close(vb);
	close(vbr);
	fx_done(&f);
}

static void pt_map_set(struct relay_pt_map *m, uint8_t from, uint8_t to)
{
	m->from[m->n] = from;
	m->to[m->n++] = to;
}

/* RFC 3264 §6.1: the offer numbered VP8 96, the answer 100. What side 0 sends as 96 reaches
 * side 1 as 100; side 1's 100 reaches side 0 as 96. Audio renumbered on stream 0 alone;
 * telephone-events are left to their own map; the marker bit stays. */
static void t_pt_map(void)
{
	struct fx f;
	fx_init(&f);
	int a = udp_on("127.0.0.1"), b = udp_on("127.0.0.1");
	int va = udp_on("127.0.0.1"), vb = udp_on("127.0.0.1"), vbr = udp_on("127.0.0.1");
	struct relay_local loc[2], xl[2][RELAY_MAX_STREAMS - 1];
	struct relay_session *s = session(&f, a, b, loc);
	struct relay_streams st;
	video_streams(&st, va, vb, vbr);
	st.ep[0][0].n_pt_allow = 0; /* any */
	st.ep[1][0].pt_allow[st.ep[1][0].n_pt_allow++] = 96;
	TAP_CHECK_INT(relay_session_set_streams(s, &st, xl), 0);
	struct relay_pt_map into = {0}, back = {0}, audio = {0};
	pt_map_set(&into, 96, 100);
	pt_map_set(&back, 100, 96);
	pt_map_set(&audio, 0, 8);
	pt_map_set(&audio, 101, 102);
	TAP_CHECK_INT(relay_session_map_pts(s, 0, 1, &into), 0);
	TAP_CHECK_INT(relay_session_map_pts(s, 1, 1, &back), 0);
	TAP_CHECK_INT(relay_session_map_pts(s, 0, 0, &audio), 0);
	struct relay_event_map ev = {true, 101, 101, 8000, 8000};
	TAP_CHECK_INT(relay_session_map_events(s, 0, &ev), 0);
	pump(&f, 20);

	uint8_t pk[300], want[300];
	size_t n = test_rtp(pk, 96 | 0x80, 3000, 1, 0x55, 200);
	memcpy(want, pk, n);
	want[1] = 0x80 | 100;
	TAP_CHECK(relayed_as(va, xl[0][0].rtp_port, pk, n, vb, want, n));
	n = test_rtp(pk, 100, 3000, 1, 0x66, 200);
	memcpy(want, pk, n);
	want[1] = 96;
	TAP_CHECK(relayed_as(vb, xl[1][0].rtp_port, pk, n, va, want, n));
	/* the answerer sending with the offer's number (as RFC 3264 asks) passes unchanged */
	TAP_CHECK(relayed(vb, xl[1][0].rtp_port, va, 96, 2));
	/* a PT with no pair passes as it is; RTCP is never touched */
	TAP_CHECK(relayed(va, xl[0][0].rtp_port, vb, 97, 2));
	static const uint8_t rr[] = {0x80, 201, 0, 1, 0, 0, 0, 0x60};
	TAP_CHECK(relayed_as(va, xl[0][0].rtp_port, rr, sizeof(rr), vbr, rr, sizeof(rr)));
	/* stream 0: audio PT 0 leaves as 8; the event PT 101 follows its event map, not 102 */
	n = test_rtp(pk, 0, 160, 1, 0x11, 160);
	memcpy(want, pk, n);
	want[1] = 8;
	TAP_CHECK(relayed_as(a, loc[0].rtp_port, pk, n, b, want, n));
	n = test_rtp(pk, 101, 160, 2, 0x11, 4);
	TAP_CHECK(relayed_as(a, loc[0].rtp_port, pk, n, b, pk, n));
	TAP_CHECK(relayed(b, loc[1].rtp_port, a, 0, 1)); /* side 1's audio: no map */

	/* removed: passes unchanged */
	struct relay_pt_map none = {0};
	TAP_CHECK_INT(relay_session_map_pts(s, 0, 1, &none), 0);
	pump(&f, 20);
	TAP_CHECK(relayed(va, xl[0][0].rtp_port, vb, 96, 3));
	/* bad maps are refused */
	struct relay_pt_map bad = {0};
	pt_map_set(&bad, 128, 1);
	TAP_CHECK_INT(relay_session_map_pts(s, 0, 0, &bad), EINVAL);
	bad.from[0] = 1;
	bad.to[0] = 200;
	TAP_CHECK_INT(relay_session_map_pts(s, 0, 0, &bad), EINVAL);
	bad.n = RELAY_MAX_PT_ALLOW + 1;
	TAP_CHECK_INT(relay_session_map_pts(s, 0, 0, &bad), EINVAL);
	TAP_CHECK_INT(relay_session_map_pts(s, 2, 0, &none), EINVAL);
	TAP_CHECK_INT(relay_session_map_pts(s, 0, RELAY_MAX_STREAMS, &none), EINVAL);
	TAP_CHECK_INT(relay_session_map_pts(s, 0, 0, NULL), EINVAL);

	relay_session_free(s);
	TAP_CHECK(ports_in_use(&f, 0));
	close(a);
	close(b);
	close(va);
	close(vb);
	close(vbr);
	fx_done(&f);
}

/* SDES-SRTP on the video streams with suites of their own (AES_256_CM_HMAC_SHA1_80 on side
 * 0, AEAD_AES_128_GCM on side 1) while the audio is plain: each side's peer protects and
 * unprotects with the keys it was given, the relay re-protects in the other's suite. */
static void t_sdes_per_stream(void)
{
	struct fx f;
	fx_init(&f);
	int a = udp_on("127.0.0.1"), b = udp_on("127.0.0.1");
	int va = udp_on("127.0.0.1"), vb = udp_on("127.0.0.1"), vbr = udp_on("127.0.0.1");
	struct relay_local loc[2], xl[2][RELAY_MAX_STREAMS - 1];
	struct relay_session *s = session(&f, a, b, loc);
	uint8_t k0in[46], k0out[46], k1in[28], k1out[28];
	for (size_t i = 0; i < sizeof(k0in); i++) {
		k0in[i] = (uint8_t)(i + 1);
		k0out[i] = (uint8_t)(i + 101);
	}
	for (size_t i = 0; i < sizeof(k1in); i++) {
		k1in[i] = (uint8_t)(i + 51);
		k1out[i] = (uint8_t)(i + 151);
	}
	struct secret *s0in = secret_new((const char *)k0in, sizeof(k0in));
	struct secret *s0out = secret_new((const char *)k0out, sizeof(k0out));
	struct secret *s1in = secret_new((const char *)k1in, sizeof(k1in));
	struct secret *s1out = secret_new((const char *)k1out, sizeof(k1out));
	struct relay_streams st;
	video_streams(&st, va, vb, vbr);
	st.ep[0][0].srtp = RELAY_SRTP_AES_256_CM_HMAC_SHA1_80;
	st.ep[0][0].key_in = s0in;
	st.ep[0][0].key_out = s0out;
	st.ep[1][0].srtp = RELAY_SRTP_AEAD_AES_128_GCM;
	st.ep[1][0].key_in = s1in;
	st.ep[1][0].key_out = s1out;
	st.ep[1][0].pt_allow[0] = 96;
	TAP_CHECK_INT(relay_session_set_streams(s, &st, xl), 0);
	secret_free(s0in);
	secret_free(s0out);
	secret_free(s1in);
	secret_free(s1out);
	struct relay_srtp *tx0 = NULL, *rx0 = NULL, *tx1 = NULL, *rx1 = NULL;
	TAP_CHECK_INT(relay_srtp_new(RELAY_SRTP_AES_256_CM_HMAC_SHA1_80, k0in, 46, false, &tx0), 0);
	TAP_CHECK_INT(relay_srtp_new(RELAY_SRTP_AES_256_CM_HMAC_SHA1_80, k0out, 46, true, &rx0), 0);
	TAP_CHECK_INT(relay_srtp_new(RELAY_SRTP_AEAD_AES_128_GCM, k1in, 28, false, &tx1), 0);
	TAP_CHECK_INT(relay_srtp_new(RELAY_SRTP_AEAD_AES_128_GCM, k1out, 28, true, &rx1), 0);
	pump(&f, 20);

	uint8_t pk[600], clear[600], q[600];
	for (uint16_t seq = 1; seq <= 3; seq++) {
		size_t n = test_rtp(clear, 96, 3000, seq, 0xAAAA, 300), len = n;
		memcpy(pk, clear, n);
		TAP_CHECK_INT(relay_srtp_protect(tx0, false, pk, &len, sizeof(pk)), 0);
		send_to(va, xl[0][0].rtp_port, pk, len);
		ssize_t got = recv_in(vb, q, sizeof(q), 1000);
		size_t ql = got > 0 ? (size_t)got : 0;
		TAP_CHECK(got > 0 && relay_srtp_unprotect(rx1, false, q, &ql) == 0 && ql == n &&
			  memcmp(q, clear, n) == 0);
		n = test_rtp(clear, 96, 3000, seq, 0xBBBB, 300);
		len = n;
		memcpy(pk, clear, n);
		TAP_CHECK_INT(relay_srtp_protect(tx1, false, pk, &len, sizeof(pk)), 0);
		send_to(vb, xl[1][0].rtp_port, pk, len);
		got = recv_in(va, q, sizeof(q), 1000);
		ql = got > 0 ? (size_t)got : 0;
		TAP_CHECK(got > 0 && relay_srtp_unprotect(rx0, false, q, &ql) == 0 && ql == n &&
			  memcmp(q, clear, n) == 0);
	}
	/* plain RTP on an SRTP stream is refused; the plain audio still flows */
	TAP_CHECK(!relayed(va, xl[0][0].rtp_port, vb, 96, 9));
	TAP_CHECK(relayed(a, loc[0].rtp_port, b, 0, 1));
	relay_srtp_free(tx0);
	relay_srtp_free(rx0);
	relay_srtp_free(tx1);
	relay_srtp_free(rx1);
	relay_session_free(s);
	TAP_CHECK(ports_in_use(&f, 0));
	close(a);
	close(b);
	close(va);
	close(vb);
	close(vbr);
	fx_done(&f);
}

/* Two browsers' endpoints carry audio and video as they are: counted per stream by PT all
 * the same (video PT 96), RTCP with the audio; off again with n 0. */
static void t_count_by_pt(void)
{
	struct fx f;
	fx_init(&f);
	int a = udp_on("127.0.0.1"), b = udp_on("127.0.0.1");
	struct relay_local loc[2];
	struct relay_session *s = session(&f, a, b, loc);
	struct relay_pt_kinds k = {.n = 1, .pt = {96}};
	TAP_CHECK_INT(relay_session_count_by_pt(s, 0, &k), 0);
	TAP_CHECK_INT(relay_session_count_by_pt(s, 1, &k), 0);
	pump(&f, 20);
	for (uint16_t i = 0; i < 3; i++)
		TAP_CHECK(relayed(a, loc[0].rtp_port, b, 0, i));
	for (uint16_t i = 0; i < 2; i++)
		TAP_CHECK(relayed(a, loc[0].rtp_port, b, 96, i));
	static const uint8_t rr[] = {0x80, 201, 0, 1, 0, 0, 0, 0x61};
	TAP_CHECK(relayed_as(b, loc[1].rtp_port, rr, sizeof(rr), a, rr, sizeof(rr)));
	struct relay_session_stats ss = stats(&f, s);
	TAP_CHECK_INT(ss.n_streams, 2);
	TAP_CHECK_INT(ss.stream[0][0].packets_in, 3);
	TAP_CHECK_INT(ss.stream[0][0].packets_out, 3);
	TAP_CHECK_INT(ss.stream[1][0].packets_in, 2);
	TAP_CHECK_INT(ss.stream[1][0].packets_out, 2);
	TAP_CHECK_INT(ss.stream[1][0].bytes_in, 2 * 212);
	TAP_CHECK_INT(ss.stream[0][1].rtcp_in, 1);
	TAP_CHECK_INT(ss.stream[1][1].packets_in, 0);
	TAP_CHECK_INT(ss.ep[0].packets_in, 5);
	struct relay_pt_kinds off = {0};
	TAP_CHECK_INT(relay_session_count_by_pt(s, 0, &off), 0);
	TAP_CHECK_INT(relay_session_count_by_pt(s, 1, &off), 0);
	pump(&f, 20);
	TAP_CHECK_INT(stats(&f, s).n_streams, 1);
	struct relay_pt_kinds bad = {.n = 1, .pt = {128}};
	TAP_CHECK_INT(relay_session_count_by_pt(s, 0, &bad), EINVAL);
	bad.n = RELAY_MAX_PT_ALLOW + 1;
	TAP_CHECK_INT(relay_session_count_by_pt(s, 0, &bad), EINVAL);
	TAP_CHECK_INT(relay_session_count_by_pt(s, 2, &off), EINVAL);
	relay_session_free(s);
	TAP_CHECK(ports_in_use(&f, 0));
	close(a);
	close(b);
	fx_done(&f);
}

static const struct tap_case cases[] = {
	{"streams with no bundled side: audio and video between two plain peers, ports, RTCP, "
	 "allowlists, counters, renegotiation, bad parameters",
	 t_sip_to_sip_streams, 0},
	{"PT translation per stream endpoint (RFC 3264 §6.1), events left to their map, removable",
	 t_pt_map, 0},
	{"SDES-SRTP per stream: video in suites of its own on each side, plain audio", t_sdes_per_stream,
	 0},
	{"counting per stream by PT without streams (two browsers), RTCP with the audio, off again",
	 t_count_by_pt, 0},
};

TAP_MAIN(cases)
