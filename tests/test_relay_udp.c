/* Integration test: a relay with two media workers forwarding real UDP over loopback
 * between test sockets acting as the peers (BI-31, BI-33, BI-34, BI-35, BI-36). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include "relay.h"
#include "relayfx.h"
#include "tap.h"
#include "testnet.h"

/* ---- peers ---- */

static int peer_on(const char *ip)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	inet_pton(AF_INET, ip, &a.sin_addr);
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(s);
		return -1;
	}
	return s;
}

static int peer(void)
{
	return peer_on("127.0.0.1");
}

static struct sockaddr_storage addr_of(int fd)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof(ss);
	memset(&ss, 0, sizeof(ss));
	getsockname(fd, (struct sockaddr *)&ss, &l);
	return ss;
}

static struct sockaddr_storage loop_addr(uint16_t port)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *a = (struct sockaddr_in *)&ss;
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a->sin_port = htons(port);
	return ss;
}

static void send_to(int fd, uint16_t port, const void *p, size_t n)
{
	struct sockaddr_storage d = loop_addr(port);
	if (sendto(fd, p, n, 0, (struct sockaddr *)&d, sizeof(struct sockaddr_in)) < 0)
		printf("# sendto: %s\n", g_strerror(errno));
}

/* Receives one datagram within ms; returns its length or -1. *from_port if not NULL. */
static ssize_t recv_in(int fd, uint8_t *buf, size_t cap, int ms, uint16_t *from_port)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	if (poll(&p, 1, ms) <= 0)
		return -1;
	struct sockaddr_in a;
	socklen_t l = sizeof(a);
	ssize_t n = recvfrom(fd, buf, cap, MSG_DONTWAIT, (struct sockaddr *)&a, &l);
	if (n >= 0 && from_port)
		*from_port = ntohs(a.sin_port);
	return n;
}

static size_t make_rtp(uint8_t *b, uint8_t pt, uint16_t seq, uint32_t ts, uint32_t ssrc,
		       size_t payload)
{
	b[0] = 0x80;
	b[1] = pt;
	b[2] = (uint8_t)(seq >> 8);
	b[3] = (uint8_t)seq;
	for (int i = 0; i < 4; i++) {
		b[4 + i] = (uint8_t)(ts >> (24 - 8 * i));
		b[8 + i] = (uint8_t)(ssrc >> (24 - 8 * i));
	}
	for (size_t i = 0; i < payload; i++)
		b[12 + i] = (uint8_t)(seq + i);
	return 12 + payload;
}

/* Sends one RTP from `from` to relay port and checks it comes out at `to` unchanged. */
static bool relayed(int from, uint16_t port, int to, uint16_t seq)
{
	uint8_t p[172], q[2048];
	size_t n = make_rtp(p, 0, seq, seq * 160u, 0x1234, 160);
	send_to(from, port, p, n);
	ssize_t got = recv_in(to, q, sizeof(q), 1000, NULL);
	return got == (ssize_t)n && memcmp(p, q, n) == 0;
}

static bool nothing_in(int fd, int ms)
{
	uint8_t q[2048];
	return recv_in(fd, q, sizeof(q), ms, NULL) < 0;
}

static struct relay_session_params plain(int a, int b)
{
	struct relay_session_params p;
	memset(&p, 0, sizeof(p));
	p.ep[0].remote_rtp = addr_of(a);
	p.ep[0].rtcp_mux = true;
	p.ep[1].remote_rtp = addr_of(b);
	p.ep[1].rtcp_mux = true;
	p.call_id = "test-call";
	return p;
}

/* ---- cases ---- */

static void t_flow_both_ways(void)
{
	struct fx f;
	fx_init(&f);
	int a = peer(), b = peer();
	struct relay_session_params p = plain(a, b);
	struct relay_local loc[2];
	struct relay_session *s = NULL;
	TAP_CHECK_INT(relay_session_new(f.r, &p, loc, &s), 0);
	TAP_CHECK(loc[0].rtp_port % 2 == 0 && loc[0].rtcp_port == loc[0].rtp_port);
	uint8_t pk[200], q[2048];
	int ok_ab = 0, ok_ba = 0;
	for (uint16_t i = 1; i <= 20; i++) {
		ok_ab += relayed(a, loc[0].rtp_port, b, i);
		ok_ba += relayed(b, loc[1].rtp_port, a, (uint16_t)(100 + i));
	}
	TAP_CHECK_INT(ok_ab, 20);
	TAP_CHECK_INT(ok_ba, 20);
	/* the packet reaches B from the relay's B-side port */
	size_t n = make_rtp(pk, 0, 21, 21 * 160, 0x1234, 160);
	send_to(a, loc[0].rtp_port, pk, n);
	uint16_t from = 0;
	TAP_CHECK_INT(recv_in(b, q, sizeof(q), 1000, &from), (ssize_t)n);
	TAP_CHECK_INT(from, loc[1].rtp_port);
	/* RFC 4733 telephone-event (PT 101, marker) passes byte for byte */
	static const uint8_t dtmf[] = {0x80, 0xe5, 0x00, 0x16, 0x00, 0x00, 0x0d, 0x20, 0x00, 0x00,
				       0x12, 0x34, 0x05, 0x0a, 0x00, 0xa0};
	send_to(a, loc[0].rtp_port, dtmf, sizeof(dtmf));
	TAP_CHECK_INT(recv_in(b, q, sizeof(q), 1000, NULL), sizeof(dtmf));
	TAP_CHECK(memcmp(q, dtmf, sizeof(dtmf)) == 0);

	struct relay_session_stats st = stats(&f, s);
	TAP_CHECK_INT(st.ep[0].packets_in, 22);
	TAP_CHECK_INT(st.ep[0].packets_out, 22);
	TAP_CHECK_INT(st.ep[0].bytes_in, 21 * 172 + sizeof(dtmf));
	TAP_CHECK_INT(st.ep[1].packets_in, 20);
	TAP_CHECK_INT(st.ep[1].packets_out, 20);
	TAP_CHECK_INT(st.ep[0].dropped, 0);
	TAP_CHECK_INT(st.ep[0].lost, 0);
	TAP_CHECK_INT(st.ep[1].lost, 0);
	TAP_CHECK(st.ep[0].latched);
	relay_session_free(s);
	close(a);
	close(b);
	fx_done(&f);
}

static void t_stats_loss_jitter(void)
{
	struct fx f;
	fx_init(&f);
	int a = peer(), b = peer();
	struct relay_session_params p = plain(a, b);
	struct relay_local loc[2];
	struct relay_session *s = NULL;
	TAP_CHECK_INT(relay_session_new(f.r, &p, loc, &s), 0);
	uint8_t pk[200];
	int got = 0;
	/* seq 65530..65545 across the wrap, 3 missing; timestamps jump 800 per 20 ms step */
	for (uint32_t i = 0; i < 16; i++) {
		uint16_t seq = (uint16_t)(65530u + i);
		if (i == 3 || i == 7 || i == 8)
			continue;
		size_t n = make_rtp(pk, 0, seq, i * 160, 0x99, 20);
		send_to(a, loc[0].rtp_port, pk, n);
		uint8_t q[256];
		got += recv_in(b, q, sizeof(q), 1000, NULL) == (ssize_t)n;
	}
	TAP_CHECK_INT(got, 13);
	struct relay_session_stats st = stats(&f, s);
	TAP_CHECK_INT(st.ep[0].packets_in, 13);
	TAP_CHECK_INT(st.ep[0].lost, 3);
	/* sent back to back, 20 ms of media apart: the jitter estimate is well above zero */
	TAP_CHECK(st.ep[0].jitter > 0);
	TAP_CHECK(st.ep[0].jitter_us > 0);
	relay_session_free(s);
	close(a);
	close(b);
	fx_done(&f);
}

static const uint8_t sr_sdes[] = {
	0x80, 0xc8, 0x00, 0x06, 0x11, 0x22, 0x33, 0x44, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
	0x00, 0x02, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x05,
	0x81, 0xca, 0x00, 0x03, 0x11, 0x22, 0x33, 0x44, 0x01, 0x04, 'a',  'b',  'c',  'd',
	0x00, 0x00};

static void t_rtcp_mux_to_separate(void)
{
	struct fx f;
	fx_init(&f);
	int a = peer(), b = peer(), b_rtcp = peer();
	struct relay_session_params p = plain(a, b);
	p.ep[1].rtcp_mux = false;
	p.ep[1].remote_rtcp = addr_of(b_rtcp);
	struct relay_local loc[2];
	struct relay_session *s = NULL;
	TAP_CHECK_INT(relay_session_new(f.r, &p, loc, &s), 0);
	TAP_CHECK_INT(loc[1].rtcp_port, loc[1].rtp_port + 1);
	uint8_t q[2048];
	uint16_t from = 0;
	/* muxed RTCP from A leaves on B's RTCP port toward B's RTCP address */
	send_to(a, loc[0].rtp_port, sr_sdes, sizeof(sr_sdes));
	TAP_CHECK_INT(recv_in(b_rtcp, q, sizeof(q), 1000, &from), sizeof(sr_sdes));
	TAP_CHECK_INT(from, loc[1].rtcp_port);
	TAP_CHECK(memcmp(q, sr_sdes, sizeof(sr_sdes)) == 0);
	/* RTCP from B's RTCP socket reaches A on the muxed port */
	send_to(b_rtcp, loc[1].rtcp_port, sr_sdes, sizeof(sr_sdes));
	TAP_CHECK_INT(recv_in(a, q, sizeof(q), 1000, &from), sizeof(sr_sdes));
	TAP_CHECK_INT(from, loc[0].rtp_port);
	/* RTP still flows both ways */
	TAP_CHECK(relayed(a, loc[0].rtp_port, b, 1));
	TAP_CHECK(relayed(b, loc[1].rtp_port, a, 2));
	/* BI-32: a broken RTCP compound loses its bad part only */
	uint8_t bad[sizeof(sr_sdes) + 8];
	memcpy(bad, sr_sdes, sizeof(sr_sdes));
	static const uint8_t rr_bad[8] = {0x81, 0xc9, 0x00, 0x01, 1, 2, 3, 4}; /* RC=1, no block */
	memcpy(bad + sizeof(sr_sdes), rr_bad, 8);
	send_to(a, loc[0].rtp_port, bad, sizeof(bad));
	TAP_CHECK_INT(recv_in(b_rtcp, q, sizeof(q), 1000, NULL), sizeof(sr_sdes));
	/* RTCP to B's non-muxed RTP port is refused */
	send_to(b, loc[1].rtp_port, sr_sdes, sizeof(sr_sdes));
	TAP_CHECK(relayed(b, loc[1].rtp_port, a, 3)); /* and only the RTP arrives */
	TAP_CHECK(nothing_in(a, 50));
	struct relay_session_stats st = stats(&f, s);
	TAP_CHECK_INT(st.ep[0].rtcp_in, 2);
	TAP_CHECK_INT(st.ep[1].rtcp_in, 1);
	TAP_CHECK_INT(st.ep[1].dropped, 1);
	relay_session_free(s);
	close(a);
	close(b);
	close(b_rtcp);
	fx_done(&f);
}

static void t_bi34_strict_latch(void)
{
	struct fx f;
	fx_init(&f);
	int a = peer(), b = peer(), x = peer();
	struct relay_session_params p = plain(a, b);
	struct relay_local loc[2];
	struct relay_session *s = NULL;
	TAP_CHECK_INT(relay_session_new(f.r, &p, loc, &s), 0);
	uint8_t pk[200];
	/* before A spoke: the attacker, even with A's SSRC, reaches nobody */
	size_t n = make_rtp(pk, 0, 1, 160, 0x1234, 160);
	for (int i = 0; i < 3; i++) {
		send_to(x, loc[0].rtp_port, pk, n);
		send_to(x, loc[1].rtp_port, pk, n);
	}
	TAP_CHECK(relayed(a, loc[0].rtp_port, b, 2));
	TAP_CHECK(relayed(b, loc[1].rtp_port, a, 3));
	TAP_CHECK(nothing_in(b, 50));
	TAP_CHECK(nothing_in(a, 10));
	/* after latching */
	for (int i = 0; i < 3; i++) {
		send_to(x, loc[0].rtp_port, pk, n);
		send_to(x, loc[1].rtp_port, pk, n);
	}
	TAP_CHECK(relayed(a, loc[0].rtp_port, b, 4));
	TAP_CHECK(relayed(b, loc[1].rtp_port, a, 5));
	TAP_CHECK(nothing_in(b, 50));
	TAP_CHECK(nothing_in(a, 10));
	TAP_CHECK(nothing_in(x, 10));
	struct relay_session_stats st = stats(&f, s);
	TAP_CHECK_INT(st.ep[0].dropped_source, 6);
	TAP_CHECK_INT(st.ep[1].dropped_source, 6);
	TAP_CHECK_INT(st.ep[0].packets_in, 2);
	relay_session_free(s);
	close(a);
	close(b);
	close(x);
	fx_done(&f);
}

static void t_bi34_learn_window(void)
{
	struct fx f;
	fx_init(&f);
	int a = peer(), b = peer(), x = peer();
	int far = peer_on("127.0.0.2");
	struct relay_session_params p = plain(a, b);
	/* signalled port is wrong (NAT): learn the port from A's first valid packet */
	p.ep[0].remote_rtp = loop_addr(9);
	p.ep[0].learn = true;
	struct relay_local loc[2];
	struct relay_session *s = NULL;
	TAP_CHECK_INT(relay_session_new(f.r, &p, loc, &s), 0);
	/* garbage from the right IP does not latch; another IP never counts */
	static const uint8_t junk[] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
				       0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e};
	send_to(x, loc[0].rtp_port, junk, sizeof(junk));
	uint8_t pk[200];
	size_t n = make_rtp(pk, 0, 7, 160, 0x1234, 160);
	if (far >= 0)
		send_to(far, loc[0].rtp_port, pk, n);
	for (uint16_t i = 1; i <= RELAY_LEARN_MAX; i++)
		TAP_CHECK(relayed(a, loc[0].rtp_port, b, i));
	/* B's answer goes to the latched port, not to the signalled :9 */
	TAP_CHECK(relayed(b, loc[1].rtp_port, a, 50));
	/* window closed: another port on the same IP is dropped, before and after */
	send_to(x, loc[0].rtp_port, pk, n);
	TAP_CHECK(relayed(a, loc[0].rtp_port, b, 6));
	TAP_CHECK(nothing_in(b, 50));
	struct relay_session_stats st = stats(&f, s);
	TAP_CHECK(st.ep[0].latched);
	struct sockaddr_storage aa = addr_of(a);
	TAP_CHECK(((struct sockaddr_in *)&st.ep[0].latch)->sin_port ==
		  ((struct sockaddr_in *)&aa)->sin_port);
	TAP_CHECK_INT(st.ep[0].dropped, far >= 0 ? 3 : 2);
	TAP_CHECK_INT(st.ep[0].dropped_source, far >= 0 ? 2 : 1);
	relay_session_free(s);
	close(a);
	close(b);
	close(x);
	if (far >= 0)
		close(far);
	fx_done(&f);
}

static void t_bi31_huge_datagram(void)
{
	struct fx f;
	fx_init(&f);
	int a = peer(), b = peer();
	int big = 1 << 20;
	setsockopt(a, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	struct relay_session_params p = plain(a, b);
	struct relay_local loc[2];
	struct relay_session *s = NULL;
	TAP_CHECK_INT(relay_session_new(f.r, &p, loc, &s), 0);
	size_t n = 65507;
	uint8_t *pk = g_malloc0(n);
	make_rtp(pk, 0, 1, 160, 0x1234, 160);
	send_to(a, loc[0].rtp_port, pk, n);
	make_rtp(pk, 0, 2, 160, 0x1234, 1501 - 12); /* one byte over the cap */
	send_to(a, loc[0].rtp_port, pk, 1501);
	TAP_CHECK(relayed(a, loc[0].rtp_port, b, 3));
	TAP_CHECK(nothing_in(b, 50));
	struct relay_session_stats st = stats(&f, s);
	TAP_CHECK_INT(st.ep[0].dropped, 2);
	TAP_CHECK_INT(st.ep[0].packets_in, 1);
	/* exactly at the cap passes */
	make_rtp(pk, 0, 4, 320, 0x1234, 1500 - 12);
	send_to(a, loc[0].rtp_port, pk, 1500);
	uint8_t *q = g_malloc(2048);
	TAP_CHECK_INT(recv_in(b, q, 2048, 1000, NULL), 1500);
	g_free(q);
	g_free(pk);
	relay_session_free(s);
	close(a);
	close(b);
	fx_done(&f);
}

static const uint8_t key_a2r[30] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
				    16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30};
static const uint8_t key_r2a[30] = {30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16,
				    15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1};

static void srtp_case(enum relay_srtp_suite suite)
{
	struct fx f;
	fx_init(&f);
	int a = peer(), b = peer(), x = peer();
	size_t kl = relay_srtp_key_len(suite);
	struct secret *kin = secret_new((const char *)key_a2r, kl);
	struct secret *kout = secret_new((const char *)key_r2a, kl);
	struct relay_session_params p = plain(a, b);
	p.ep[0].srtp = suite;
	p.ep[0].key_in = kin;
	p.ep[0].key_out = kout;
	p.ep[0].learn = true;
	struct relay_local loc[2];
	struct relay_session *s = NULL;
	TAP_CHECK_INT(relay_session_new(f.r, &p, loc, &s), 0);
	secret_free(kin); /* the relay keeps no reference */
	secret_free(kout);
	struct relay_srtp *a_tx = NULL, *a_rx = NULL;
	TAP_CHECK_INT(relay_srtp_new(suite, key_a2r, kl, false, &a_tx), 0);
	TAP_CHECK_INT(relay_srtp_new(suite, key_r2a, kl, true, &a_rx), 0);
	if (!s || !a_tx || !a_rx)
		goto out;

	uint8_t pk[400], plainpk[400], q[2048];
	/* an attacker on A's IP with a forged packet: no latch, no forward */
	size_t n = make_rtp(pk, 0, 1, 160, 0x1234, 160);
	memset(pk + n, 0xab, 10);
	send_to(x, loc[0].rtp_port, pk, n + 10);
	/* plain RTP to the SRTP side is never accepted (no downgrade) */
	send_to(a, loc[0].rtp_port, pk, n);
	/* A → relay (SRTP) → B (plain) */
	int ok = 0;
	uint8_t saved[400];
	size_t saved_len = 0;
	for (uint16_t i = 1; i <= 5; i++) {
		size_t pn = make_rtp(plainpk, 0, i, i * 160u, 0x1234, 160);
		memcpy(pk, plainpk, pn);
		size_t len = pn;
		TAP_CHECK_INT(relay_srtp_protect(a_tx, false, pk, &len, sizeof(pk)), 0);
		if (i == 2) {
			memcpy(saved, pk, len);
			saved_len = len;
		}
		send_to(a, loc[0].rtp_port, pk, len);
		ssize_t got = recv_in(b, q, sizeof(q), 1000, NULL);
		ok += got == (ssize_t)pn && memcmp(q, plainpk, pn) == 0;
	}
	TAP_CHECK_INT(ok, 5);
	/* BI-33: replay, bad tag */
	send_to(a, loc[0].rtp_port, saved, saved_len);
	size_t pn = make_rtp(plainpk, 0, 6, 960, 0x1234, 160);
	memcpy(pk, plainpk, pn);
	size_t len = pn;
	relay_srtp_protect(a_tx, false, pk, &len, sizeof(pk));
	pk[len - 1] ^= 0x55;
	send_to(a, loc[0].rtp_port, pk, len);
	TAP_CHECK(nothing_in(b, 100));
	/* the latch is A's, not the attacker's: B → relay → A arrives protected */
	size_t bn = make_rtp(plainpk, 0, 77, 1234, 0x5678, 160);
	send_to(b, loc[1].rtp_port, plainpk, bn);
	ssize_t got = recv_in(a, q, sizeof(q), 1000, NULL);
	TAP_CHECK(got > (ssize_t)bn);
	TAP_CHECK(nothing_in(x, 10));
	if (got > 0) {
		TAP_CHECK(memcmp(q + 12, plainpk + 12, 16) != 0);
		size_t ql = (size_t)got;
		TAP_CHECK_INT(relay_srtp_unprotect(a_rx, false, q, &ql), 0);
		TAP_CHECK_INT(ql, bn);
		TAP_CHECK(memcmp(q, plainpk, bn) == 0);
	}
	/* SRTCP from A arrives at B as plain RTCP */
	memcpy(pk, sr_sdes, sizeof(sr_sdes));
	len = sizeof(sr_sdes);
	TAP_CHECK_INT(relay_srtp_protect(a_tx, true, pk, &len, sizeof(pk)), 0);
	send_to(a, loc[0].rtp_port, pk, len);
	TAP_CHECK_INT(recv_in(b, q, sizeof(q), 1000, NULL), sizeof(sr_sdes));
	TAP_CHECK(memcmp(q, sr_sdes, sizeof(sr_sdes)) == 0);

	struct relay_session_stats st = stats(&f, s);
	TAP_CHECK_INT(st.ep[0].packets_in, 6);
	TAP_CHECK_INT(st.ep[0].dropped, 4); /* forged, plain, replay, bad tag */
	TAP_CHECK_INT(st.ep[0].dropped_source, 0);
	TAP_CHECK(st.ep[0].latched);
out:
	relay_srtp_free(a_tx);
	relay_srtp_free(a_rx);
	relay_session_free(s);
	close(a);
	close(b);
	close(x);
	fx_done(&f);
}

static void t_bi33_srtp_80(void)
{
	srtp_case(RELAY_SRTP_AES_CM_128_HMAC_SHA1_80);
}

static void t_bi33_srtp_gcm(void)
{
	srtp_case(RELAY_SRTP_AEAD_AES_128_GCM);
}


/* Sends plain RTP protected with tx from `from`, expects it at `to` protected for rx. */
static bool srtp_hop(struct relay_srtp *tx, int from, uint16_t port, struct relay_srtp *rx, int to,
		     uint16_t seq)
{
	uint8_t pk[400], orig[400], q[2048];
	size_t n = make_rtp(orig, 0, seq, seq * 160u, 0x4242, 160);
	memcpy(pk, orig, n);
	size_t len = n;
	if (relay_srtp_protect(tx, false, pk, &len, sizeof(pk)))
		return false;
	send_to(from, port, pk, len);
	ssize_t got = recv_in(to, q, sizeof(q), 1000, NULL);
	if (got <= 0)
		return false;
	size_t ql = (size_t)got;
	return relay_srtp_unprotect(rx, false, q, &ql) == 0 && ql == n && memcmp(q, orig, n) == 0;
}

static void t_srtp_to_srtp_rekey(void)
{
	struct fx f;
	fx_init(&f);
	int a = peer(), b = peer();
	enum relay_srtp_suite sa = RELAY_SRTP_AES_CM_128_HMAC_SHA1_32, sb = RELAY_SRTP_AEAD_AES_128_GCM;
	size_t la = relay_srtp_key_len(sa), lb = relay_srtp_key_len(sb);
	struct secret *a_in = secret_new((const char *)key_a2r, la);
	struct secret *a_out = secret_new((const char *)key_r2a, la);
	struct secret *b_in = secret_new((const char *)key_r2a, lb);
	struct secret *b_out = secret_new((const char *)key_a2r, lb);
	struct relay_session_params p = plain(a, b);
	p.ep[0].srtp = sa;
	p.ep[0].key_in = a_in;
	p.ep[0].key_out = a_out;
	p.ep[1].srtp = sb;
	p.ep[1].key_in = b_in;
	p.ep[1].key_out = b_out;
	struct relay_local loc[2];
	struct relay_session *s = NULL;
	TAP_CHECK_INT(relay_session_new(f.r, &p, loc, &s), 0);
	struct relay_srtp *atx = NULL, *arx = NULL, *btx = NULL, *brx = NULL;
	relay_srtp_new(sa, key_a2r, la, false, &atx);
	relay_srtp_new(sa, key_r2a, la, true, &arx);
	relay_srtp_new(sb, key_r2a, lb, false, &btx);
	relay_srtp_new(sb, key_a2r, lb, true, &brx);
	TAP_CHECK(s && atx && arx && btx && brx);
	if (!s || !atx || !arx || !btx || !brx)
		goto out;
	int ok = 0;
	for (uint16_t i = 1; i <= 5; i++) {
		ok += srtp_hop(atx, a, loc[0].rtp_port, brx, b, i);
		ok += srtp_hop(btx, b, loc[1].rtp_port, arx, a, (uint16_t)(100 + i));
	}
	TAP_CHECK_INT(ok, 10);
	/* rekey B's side (renegotiation): B's old keys stop working, the new ones work */
	uint8_t nk[28];
	for (size_t i = 0; i < sizeof(nk); i++)
		nk[i] = (uint8_t)(0x40 + i);
	struct secret *nin = secret_new((const char *)nk, lb), *nout = secret_new((const char *)nk, lb);
	struct relay_endpoint_params e = p.ep[1];
	e.key_in = nin;
	e.key_out = nout;
	TAP_CHECK_INT(relay_session_update(s, 1, &e, NULL), 0);
	secret_free(nin);
	secret_free(nout);
	pump(&f, 20);
	TAP_CHECK(!srtp_hop(btx, b, loc[1].rtp_port, arx, a, 200));
	struct relay_srtp *ntx = NULL, *nrx = NULL;
	relay_srtp_new(sb, nk, lb, false, &ntx);
	relay_srtp_new(sb, nk, lb, true, &nrx);
	TAP_CHECK(srtp_hop(ntx, b, loc[1].rtp_port, arx, a, 201));
	TAP_CHECK(srtp_hop(atx, a, loc[0].rtp_port, nrx, b, 202));
	relay_srtp_free(ntx);
	relay_srtp_free(nrx);
	struct relay_session_stats st = stats(&f, s);
	TAP_CHECK_INT(st.ep[1].dropped, 1);
out:
	relay_srtp_free(atx);
	relay_srtp_free(arx);
	relay_srtp_free(btx);
	relay_srtp_free(brx);
	secret_free(a_in);
	secret_free(a_out);
	secret_free(b_in);
	secret_free(b_out);
	relay_session_free(s);
	close(a);
	close(b);
	fx_done(&f);
}

static void t_bi34_relatch_in_window(void)
{
	struct fx f;
	fx_init(&f);
	int a = peer(), a2 = peer(), b = peer();
	struct relay_session_params p = plain(a, b);
	p.ep[0].learn = true;
	p.ep[0].learn_packets = 3;
	struct relay_local loc[2];
	struct relay_session *s = NULL;
	TAP_CHECK_INT(relay_session_new(f.r, &p, loc, &s), 0);
	/* A's NAT binding moves after one packet: inside the window it re-latches */
	TAP_CHECK(relayed(a, loc[0].rtp_port, b, 1));
	TAP_CHECK(relayed(a2, loc[0].rtp_port, b, 2));
	TAP_CHECK(relayed(b, loc[1].rtp_port, a2, 3));
	TAP_CHECK(nothing_in(a, 20));
	TAP_CHECK(relayed(a2, loc[0].rtp_port, b, 4)); /* third accepted: window closed */
	TAP_CHECK(!relayed(a, loc[0].rtp_port, b, 5));
	struct relay_session_stats st = stats(&f, s);
	TAP_CHECK_INT(st.ep[0].dropped_source, 1);
	relay_session_free(s);
	close(a);
	close(a2);
	close(b);
	fx_done(&f);
}

static void t_bi35_pt_allowlist(void)
{
	struct fx f;
	fx_init(&f);
	int a = peer(), b = peer();
	struct relay_session_params p = plain(a, b);
	p.ep[0].pt_allow[0] = 0;
	p.ep[0].pt_allow[1] = 101;
	p.ep[0].n_pt_allow = 2;
	struct relay_local loc[2];
	struct relay_session *s = NULL;
	TAP_CHECK_INT(relay_session_new(f.r, &p, loc, &s), 0);
	uint8_t pk[200], q[256];
	size_t n = make_rtp(pk, 8, 1, 160, 0x1234, 20); /* PCMA, not negotiated */
	send_to(a, loc[0].rtp_port, pk, n);
	n = make_rtp(pk, 96, 2, 160, 0x1234, 20);
	send_to(a, loc[0].rtp_port, pk, n);
	TAP_CHECK(relayed(a, loc[0].rtp_port, b, 3));
	n = make_rtp(pk, 101, 4, 160, 0x1234, 4);
	send_to(a, loc[0].rtp_port, pk, n);
	TAP_CHECK_INT(recv_in(b, q, sizeof(q), 1000, NULL), n);
	TAP_CHECK(nothing_in(b, 50));
	/* the other side has no allowlist */
	n = make_rtp(pk, 8, 1, 160, 0x1234, 20);
	send_to(b, loc[1].rtp_port, pk, n);
	TAP_CHECK_INT(recv_in(a, q, sizeof(q), 1000, NULL), n);
	struct relay_session_stats st = stats(&f, s);
	TAP_CHECK_INT(st.ep[0].dropped, 2);
	TAP_CHECK_INT(st.ep[0].packets_in, 2);
	/* a bad allowlist is refused */
	struct relay_session *s2 = NULL;
	p.ep[1].pt_allow[0] = 200;
	p.ep[1].n_pt_allow = 1;
	TAP_CHECK_INT(relay_session_new(f.r, &p, loc, &s2), EINVAL);
	relay_session_free(s);
	close(a);
	close(b);
	fx_done(&f);
}

/* A browser's telephone-event/48000 (PT 110) leaves toward a phone's /8000 (PT 101): PT
 * rewritten, duration scaled by 1/6, marker and timestamp kept; the reverse mapping scales
 * up and saturates; audio is untouched; removing the map passes events unchanged. */
static void t_event_map(void)
{
	struct fx f;
	fx_init(&f);
	int a = peer(), b = peer();
	struct relay_session_params p = plain(a, b);
	struct relay_local loc[2];
	struct relay_session *s = NULL;
	TAP_CHECK_INT(relay_session_new(f.r, &p, loc, &s), 0);
	struct relay_event_map up = {true, 110, 101, 48000, 8000};
	struct relay_event_map down = {true, 101, 110, 8000, 48000};
	TAP_CHECK_INT(relay_session_map_events(s, 0, &up), 0);
	TAP_CHECK_INT(relay_session_map_events(s, 1, &down), 0);
	struct relay_event_map bad = {true, 128, 101, 48000, 8000};
	TAP_CHECK_INT(relay_session_map_events(s, 0, &bad), EINVAL);
	bad = (struct relay_event_map){true, 110, 101, 0, 8000};
	TAP_CHECK_INT(relay_session_map_events(s, 0, &bad), EINVAL);
	pump(&f, 20);
	uint8_t pk[64], q[256];
	size_t n = make_rtp(pk, 110 | 0x80, 7, 96000, 0x1234, 4);
	memcpy(pk + 12, (const uint8_t[]){1, 0x8a, 0x03, 0xc0}, 4); /* '1', end, 960 */
	send_to(a, loc[0].rtp_port, pk, n);
	TAP_CHECK_INT(recv_in(b, q, sizeof(q), 1000, NULL), n);
	TAP_CHECK_INT(q[1], 0x80 | 101);
	TAP_CHECK_INT((q[14] << 8) | q[15], 160);
	TAP_CHECK(memcmp(q + 2, pk + 2, 10) == 0 && q[12] == 1 && q[13] == 0x8a);
	TAP_CHECK(relayed(a, loc[0].rtp_port, b, 8)); /* PT 0: untouched */
	n = make_rtp(pk, 101, 9, 800, 0x99, 4);
	memcpy(pk + 12, (const uint8_t[]){11, 0x0a, 0x30, 0x00}, 4); /* 12288 * 6 saturates */
	send_to(b, loc[1].rtp_port, pk, n);
	TAP_CHECK_INT(recv_in(a, q, sizeof(q), 1000, NULL), n);
	TAP_CHECK_INT(q[1], 110);
	TAP_CHECK_INT((q[14] << 8) | q[15], 0xFFFF);
	struct relay_event_map off = {0};
	TAP_CHECK_INT(relay_session_map_events(s, 0, &off), 0);
	pump(&f, 20);
	n = make_rtp(pk, 110, 10, 96960, 0x1234, 4);
	memcpy(pk + 12, (const uint8_t[]){1, 0x0a, 0x03, 0xc0}, 4);
	send_to(a, loc[0].rtp_port, pk, n);
	TAP_CHECK_INT(recv_in(b, q, sizeof(q), 1000, NULL), n);
	TAP_CHECK(memcmp(q, pk, n) == 0);
	relay_session_free(s);
	close(a);
	close(b);
	fx_done(&f);
}

struct flood {
	int fd;
	uint16_t ports[8];
	int n_ports;
	volatile int stop;
	unsigned sent;
};

static gpointer flood_main(gpointer data)
{
	struct flood *fl = data;
	uint8_t junk[200];
	uint32_t r = 12345;
	while (!fl->stop) {
		for (int i = 0; i < fl->n_ports; i++) {
			size_t n = 1 + (r >> 8) % sizeof(junk);
			for (size_t k = 0; k < n; k++) {
				r = r * 1103515245u + 12345u;
				junk[k] = (uint8_t)(r >> 16);
			}
			if (r & 1) /* half of it looks like RTP */
				junk[0] = 0x80;
			send_to(fl->fd, fl->ports[i], junk, n);
			fl->sent++;
		}
		if (fl->sent % 64 == 0)
			g_usleep(200);
	}
	return NULL;
}

static void t_bi36_garbage_burst(void)
{
	struct fx f;
	fx_init(&f);
	int a = peer(), b = peer(), c = peer(), d = peer();
	struct relay_session_params p1 = plain(a, b), p2 = plain(c, d);
	p2.ep[0].rtcp_mux = false;
	struct relay_local l1[2], l2[2];
	struct relay_session *s1 = NULL, *s2 = NULL;
	TAP_CHECK_INT(relay_session_new(f.r, &p1, l1, &s1), 0);
	TAP_CHECK_INT(relay_session_new(f.r, &p2, l2, &s2), 0);
	struct flood fl = {.fd = peer()};
	uint16_t all[] = {l1[0].rtp_port, l1[1].rtp_port, l2[0].rtp_port, l2[0].rtcp_port,
			  l2[1].rtp_port};
	memcpy(fl.ports, all, sizeof(all));
	fl.n_ports = 5;
	GThread *th = g_thread_new("flood", flood_main, &fl);
	int ok = 0;
	for (uint16_t i = 1; i <= 50; i++) {
		ok += relayed(a, l1[0].rtp_port, b, i);
		g_usleep(2000);
	}
	fl.stop = 1;
	g_thread_join(th);
	printf("# %u garbage datagrams sent during the call\n", fl.sent);
	/* The flood also hits the good session's own port: on a loaded machine the kernel may
	 * drop a datagram from that socket's full buffer before the relay sees it (a run here
	 * lost 1 of 50). Whatever reached the relay was forwarded. */
	TAP_CHECK(ok >= 45);
	struct relay_session_stats st = stats(&f, s1);
	TAP_CHECK((int)st.ep[0].packets_in >= ok);
	TAP_CHECK(st.ep[0].dropped + st.ep[1].dropped > 0);
	relay_session_free(s1);
	relay_session_free(s2);
	close(fl.fd);
	close(a);
	close(b);
	close(c);
	close(d);
	fx_done(&f);
}

static int timeouts;

static void on_timeout(struct relay_session *s, void *arg)
{
	(void)s;
	(void)arg;
	timeouts++;
}

static void t_inactivity_timeout(void)
{
	struct fx f;
	fx_init(&f);
	int a = peer(), b = peer();
	struct relay_session_params p = plain(a, b);
	p.inactivity_secs = 1;
	p.on_timeout = on_timeout;
	struct relay_local loc[2];
	struct relay_session *s = NULL;
	timeouts = 0;
	TAP_CHECK_INT(relay_session_new(f.r, &p, loc, &s), 0);
	/* traffic every 200 ms keeps it alive */
	for (uint16_t i = 1; i <= 7; i++) {
		TAP_CHECK(relayed(a, loc[0].rtp_port, b, i));
		pump(&f, 200);
	}
	TAP_CHECK_INT(timeouts, 0);
	pump(&f, 1600);
	TAP_CHECK_INT(timeouts, 1); /* once per silence */
	/* activity re-arms it */
	TAP_CHECK(relayed(b, loc[1].rtp_port, a, 8));
	pump(&f, 1600);
	TAP_CHECK_INT(timeouts, 2);
	relay_session_free(s);
	pump(&f, 1000);
	TAP_CHECK_INT(timeouts, 2); /* never after free */
	close(a);
	close(b);
	fx_done(&f);
}

static bool ports_back(struct fx *f, unsigned want)
{
	for (int i = 0; i < 500; i++) {
		if (relay_ports_in_use(relay_get_ports(f->r)) == want)
			return true;
		pump(f, 2);
	}
	return false;
}

static void t_free_returns_ports(void)
{
	struct fx f;
	fx_init(&f);
	struct relay_ports *pp = relay_get_ports(f.r);
	int a = peer(), b = peer();
	struct relay_session *ss[10];
	struct relay_local loc[2];
	for (int i = 0; i < 10; i++) {
		struct relay_session_params p = plain(a, b);
		p.ep[1].rtcp_mux = (i & 1) != 0;
		TAP_CHECK_INT(relay_session_new(f.r, &p, loc, &ss[i]), 0);
	}
	TAP_CHECK_INT(relay_ports_in_use(pp), 20);
	for (int i = 0; i < 10; i++)
		relay_session_free(ss[i]);
	TAP_CHECK(ports_back(&f, 0));
	/* the pool runs dry, then recovers */
	unsigned cap = relay_ports_capacity(pp);
	struct relay_session **many = g_new0(struct relay_session *, cap);
	unsigned made = 0;
	int err = 0;
	while (!err && made < cap) {
		struct relay_session_params p = plain(a, b);
		err = relay_session_new(f.r, &p, loc, &many[made]);
		if (!err)
			made++;
	}
	TAP_CHECK_INT(err, EADDRNOTAVAIL);
	TAP_CHECK_INT(made, cap / 2);
	for (unsigned i = 0; i < made; i++)
		relay_session_free(many[i]);
	g_free(many);
	TAP_CHECK(ports_back(&f, 0));
	close(a);
	close(b);
	fx_done(&f);
}

/* The bytes waiting on the local UDP port (IPv4 loopback), from /proc/net/udp; -1 when no
 * socket has it. */
static long rx_queue(uint16_t port)
{
	FILE *fp = fopen("/proc/net/udp", "r");
	char line[512];
	long q = -1;
	if (!fp)
		return -1;
	while (q < 0 && fgets(line, sizeof(line), fp)) {
		unsigned lport, txq, rxq;
		if (sscanf(line, " %*u: %*x:%x %*x:%*x %*x %x:%x", &lport, &txq, &rxq) == 3 &&
		    lport == port)
			q = (long)rxq;
	}
	fclose(fp);
	return q;
}

/* A slot's sockets stay open and in their worker's epoll set between calls (under their
 * port's park): what reaches an idle port is read and dropped by the worker, and the next
 * call that takes the slot relays both ways on the same sockets. */
static void t_parked_sockets(void)
{
	struct fx f;
	fx_init(&f);
	int a = peer(), b = peer(), junk = peer();
	struct relay_session_params p = plain(a, b);
	struct relay_local loc[2];
	struct relay_session *s = NULL;
	TAP_CHECK_INT(relay_session_new(f.r, &p, loc, &s), 0);
	TAP_CHECK(relayed(a, loc[0].rtp_port, b, 1));
	TAP_CHECK(relayed(b, loc[1].rtp_port, a, 2));
	uint16_t port = loc[0].rtp_port;
	relay_session_free(s);
	TAP_CHECK(ports_back(&f, 0));
	TAP_CHECK_INT(rx_queue(port), 0); /* kept open */
	uint8_t pkt[64];
	size_t n = make_rtp(pkt, 0, 999, 0, 0x5ca1ab1e, 20);
	for (int i = 0; i < 40; i++)
		send_to(junk, port, pkt, n);
	for (int i = 0; i < 500 && rx_queue(port) != 0; i++)
		pump(&f, 4);
	TAP_CHECK_INT(rx_queue(port), 0); /* the worker dropped them: nobody held the port */
	/* calls until one gets the slot back (FIFO within the worker's part of the pool) */
	GPtrArray *held = g_ptr_array_new();
	struct relay_session *again = NULL;
	for (int i = 0; i < 60 && !again; i++) {
		struct relay_session *t = NULL;
		if (relay_session_new(f.r, &p, loc, &t) != 0)
			break;
		if (loc[0].rtp_port == port || loc[1].rtp_port == port)
			again = t;
		else
			g_ptr_array_add(held, t);
	}
	TAP_CHECK(again != NULL);
	if (again) {
		pump(&f, 20);
		uint16_t pa = loc[0].rtp_port, pb = loc[1].rtp_port;
		TAP_CHECK(relayed(a, pa, b, 3));
		TAP_CHECK(relayed(b, pb, a, 4));
		TAP_CHECK(relayed(a, pa, b, 5));
		relay_session_free(again);
	}
	for (guint i = 0; i < held->len; i++)
		relay_session_free(held->pdata[i]);
	g_ptr_array_free(held, TRUE);
	TAP_CHECK(ports_back(&f, 0));
	close(a);
	close(b);
	close(junk);
	fx_done(&f);
}

static void t_update_renegotiation(void)
{
	struct fx f;
	fx_init(&f);
	int a = peer(), b = peer(), b2 = peer(), b2_rtcp = peer();
	struct relay_session_params p = plain(a, b);
	struct relay_local loc[2];
	struct relay_session *s = NULL;
	TAP_CHECK_INT(relay_session_new(f.r, &p, loc, &s), 0);
	TAP_CHECK(relayed(a, loc[0].rtp_port, b, 1));
	TAP_CHECK(relayed(b, loc[1].rtp_port, a, 2));
	/* B moves to B2 and drops rtcp-mux */
	struct relay_endpoint_params e;
	memset(&e, 0, sizeof(e));
	e.remote_rtp = addr_of(b2);
	e.remote_rtcp = addr_of(b2_rtcp);
	struct relay_local nl;
	TAP_CHECK_INT(relay_session_update(s, 1, &e, &nl), 0);
	TAP_CHECK_INT(nl.rtp_port, loc[1].rtp_port);
	TAP_CHECK_INT(nl.rtcp_port, loc[1].rtp_port + 1);
	pump(&f, 20);
	TAP_CHECK(relayed(a, loc[0].rtp_port, b2, 3));
	TAP_CHECK(relayed(b2, loc[1].rtp_port, a, 4));
	/* the old peer is no longer accepted */
	uint8_t pk[200];
	size_t n = make_rtp(pk, 0, 5, 160, 0x1234, 20);
	send_to(b, loc[1].rtp_port, pk, n);
	TAP_CHECK(nothing_in(a, 50));
	/* RTCP now on its own port */
	send_to(b2_rtcp, nl.rtcp_port, sr_sdes, sizeof(sr_sdes));
	uint8_t q[256];
	TAP_CHECK_INT(recv_in(a, q, sizeof(q), 1000, NULL), sizeof(sr_sdes));
	send_to(a, loc[0].rtp_port, sr_sdes, sizeof(sr_sdes));
	TAP_CHECK_INT(recv_in(b2_rtcp, q, sizeof(q), 1000, NULL), sizeof(sr_sdes));
	/* a bad update changes nothing */
	e.srtp = RELAY_SRTP_AES_CM_128_HMAC_SHA1_80; /* no keys */
	TAP_CHECK_INT(relay_session_update(s, 1, &e, NULL), EINVAL);
	TAP_CHECK_INT(relay_session_update(s, 2, &e, NULL), EINVAL);
	TAP_CHECK(relayed(a, loc[0].rtp_port, b2, 6));
	relay_session_free(s);
	close(a);
	close(b);
	close(b2);
	close(b2_rtcp);
	fx_done(&f);
}


static int peer6(void)
{
	int s = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		if (s >= 0)
			close(s);
		return -1;
	}
	return s;
}

static void t_ipv6(void)
{
	int a = peer6(), b = peer6();
	if (a < 0 || b < 0) {
		printf("# no IPv6 loopback here; skipped\n");
		if (a >= 0)
			close(a);
		if (b >= 0)
			close(b);
		return;
	}
	GMainContext *ctx = g_main_context_new();
	g_main_context_push_thread_default(ctx);
	uint16_t base = test_port_range_base();
	struct relay_config cfg = {.workers = 1, .bind_addr = "::1", .port_min = base,
				   .port_max = (uint16_t)(base + 9)};
	struct relay *r = NULL;
	TAP_CHECK_INT(relay_new(&cfg, &r), 0);
	struct relay_session_params p = plain(a, b);
	struct relay_local loc[2];
	struct relay_session *s = NULL;
	TAP_CHECK_INT(relay_session_new(r, &p, loc, &s), 0);
	int ok = 0;
	for (uint16_t i = 1; i <= 3 && s; i++) {
		uint8_t pk[200], q[256];
		size_t n = make_rtp(pk, 0, i, i * 160u, 0x66, 40);
		struct sockaddr_in6 d = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT,
					 .sin6_port = htons(loc[0].rtp_port)};
		sendto(a, pk, n, 0, (struct sockaddr *)&d, sizeof(d));
		ok += recv_in(b, q, sizeof(q), 1000, NULL) == (ssize_t)n;
	}
	TAP_CHECK_INT(ok, 3);
	/* an IPv4 peer address on an IPv6 relay is refused */
	struct relay_session *s2 = NULL;
	p.ep[1].remote_rtp = loop_addr(4000);
	TAP_CHECK_INT(relay_session_new(r, &p, loc, &s2), EINVAL);
	relay_session_free(s);
	relay_free(r);
	while (g_main_context_iteration(ctx, FALSE))
		;
	g_main_context_pop_thread_default(ctx);
	g_main_context_unref(ctx);
	close(a);
	close(b);
}

static void t_metrics(void)
{
	struct fx f;
	fx_init(&f);
	int a = peer(), b = peer();
	struct relay_session_params p = plain(a, b);
	struct relay_local loc[2];
	struct relay_session *s = NULL;
	TAP_CHECK_INT(relay_session_new(f.r, &p, loc, &s), 0);
	TAP_CHECK(relayed(a, loc[0].rtp_port, b, 1));
	GString *m = metrics_render();
	TAP_CHECK(strstr(m->str, "gorgee_relay_sessions 1") != NULL);
	TAP_CHECK(strstr(m->str, "gorgee_relay_packets_total{direction=\"in\",result=\"accepted\"}") != NULL);
	TAP_CHECK(strstr(m->str, "gorgee_relay_drops_total{reason=\"source\"}") != NULL);
	g_string_free(m, TRUE);
	relay_session_free(s);
	close(a);
	close(b);
	fx_done(&f);
	m = metrics_render();
	TAP_CHECK(strstr(m->str, "gorgee_relay_sessions 0") != NULL);
	g_string_free(m, TRUE);
}

static const struct tap_case cases[] = {
	{"RTP flows both ways through two workers, RFC 4733 untouched, counters", t_flow_both_ways, 0},
	{"stats: RFC 3550 loss across a seq wrap, jitter", t_stats_loss_jitter, 0},
	{"rtcp-mux on one side, separate RTCP on the other; BI-32 in flight", t_rtcp_mux_to_separate, 0},
	{"BI-34 attacker before and after latching (strict source)", t_bi34_strict_latch, 0},
	{"BI-34 learning window: valid packets only, same IP, closes after 5", t_bi34_learn_window, 0},
	{"BI-31 65,507-byte datagram and cap+1 dropped before SRTP", t_bi31_huge_datagram, 0},
	{"BI-33 SDES-SRTP (AES_CM_80) bad tag, replay, plain, forged: no latch, no forward", t_bi33_srtp_80, 0},
	{"BI-33 SDES-SRTP (AEAD_AES_128_GCM) same checks", t_bi33_srtp_gcm, 0},
	{"SRTP (AES_CM_32) to SRTP (AEAD_AES_128_GCM), rekey by renegotiation", t_srtp_to_srtp_rekey, 0},
	{"BI-34 learning window: re-latch inside the window only", t_bi34_relatch_in_window, 0},
	{"BI-35 unnegotiated PT dropped with an allowlist", t_bi35_pt_allowlist, 0},
	{"telephone-event translation: PT and duration rescaled both ways, removable", t_event_map, 0},
	{"BI-36 garbage to every port, concurrent good session unaffected", t_bi36_garbage_burst, 0},
	{"inactivity timeout fires once per silence, never after free", t_inactivity_timeout, 0},
	{"session free returns ports; pool exhaustion and recovery", t_free_returns_ports, 0},
	{"kept sockets stay watched by their worker: idle traffic dropped, the slot's next call relays", t_parked_sockets, 0},
	{"renegotiation: new peer address, rtcp-mux off, bad update refused", t_update_renegotiation, 0},
	{"IPv6: relay on ::1 forwards; an IPv4 remote is refused", t_ipv6, 0},
	{"metrics: sessions gauge, packets, drops", t_metrics, 0},
};

TAP_MAIN(cases)
