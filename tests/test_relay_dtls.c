/* Integration test: a relay session whose endpoint 0 runs DTLS-SRTP on plain UDP sockets (no
 * ICE: UDP/TLS/RTP/SAVP toward a SIP peer), facing a DTLS peer written here (OpenSSL over
 * memory BIOs, driven from the test thread), and a plain RTP endpoint facing a UDP socket;
 * all over loopback. Both roles, rtcp-mux and separate RTCP, fingerprint, timeout, and the
 * DTLS floods and bad handshakes BI-37, BI-38, BI-39. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/srtp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/socket.h>

#include "relay.h"
#include "tap.h"
#include "testnet.h"
#include "testudp.h"

/* Under valgrind everything runs ~20 times slower: waits stretch, flood counts shrink. */
static int tmul(void)
{
	return getenv("GORGEE_UNDER_VALGRIND") ? 5 : 1;
}

/* ---- the relay and its events ---- */

struct fx {
	GMainContext *ctx;
	struct relay *r;
	uint16_t base;
	unsigned n_ev[RELAY_EV_DTLS_FAILED + 1];
	char dtls_detail[128];
};

static void on_event(struct relay_session *s, unsigned idx, enum relay_event ev, const char *d,
		     void *arg)
{
	struct fx *f = arg;
	(void)s;
	(void)idx;
	f->n_ev[ev]++;
	if (ev == RELAY_EV_DTLS_CONNECTED || ev == RELAY_EV_DTLS_FAILED)
		g_strlcpy(f->dtls_detail, d ? d : "", sizeof(f->dtls_detail));
}

static void fx_init(struct fx *f, unsigned timeout_secs)
{
	memset(f, 0, sizeof(*f));
	f->ctx = g_main_context_new();
	g_main_context_push_thread_default(f->ctx);
	f->base = test_port_range_base();
	struct relay_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.workers = 1;
	cfg.bind_addr = "127.0.0.1";
	cfg.port_min = f->base;
	cfg.port_max = (uint16_t)(f->base + 99);
	cfg.dtls_timeout_secs = timeout_secs == 1 ? 1 : timeout_secs * (unsigned)tmul();
	TAP_CHECK_INT(relay_new(&cfg, &f->r), 0);
}

static void pump(struct fx *f)
{
	while (g_main_context_iteration(f->ctx, FALSE))
		;
}

static bool ports_back(struct fx *f)
{
	gint64 end = g_get_monotonic_time() + 2 * G_USEC_PER_SEC * tmul();
	while (relay_ports_in_use(relay_get_ports(f->r)) && g_get_monotonic_time() < end) {
		pump(f);
		g_usleep(1000);
	}
	return relay_ports_in_use(relay_get_ports(f->r)) == 0;
}

static void fx_done(struct fx *f)
{
	TAP_CHECK(ports_back(f));
	relay_free(f->r);
	pump(f);
	g_main_context_pop_thread_default(f->ctx);
	g_main_context_unref(f->ctx);
	ERR_clear_error();
}

/* ---- sockets ---- */






/* PCMU packets */
#define make_rtp(b, seq, ssrc, n) test_rtp((b), 0, 160, (seq), (ssrc), (n))

/* ---- the SIP phone's DTLS side: one association per socket (RTP, and RTCP unless mux) ---- */

struct dpeer {
	bool client, mux;
	int fd[2];           /* RTP and RTCP sockets (fd[1] -1 with rtcp-mux) */
	uint16_t to[2];      /* the relay's ports */
	SSL_CTX *ctx;
	SSL *ssl[2];
	BIO *rb[2], *wb[2];
	uint8_t fp[32];      /* ours */
	uint8_t want_fp[32]; /* the relay's */
	bool ok[2], failed[2];
	bool hello_fragmented; /* a ClientHello went out in fragments */
	struct relay_srtp *tx[2], *rx[2];
};

static int dpeer_verify(int ok, X509_STORE_CTX *xs)
{
	(void)ok;
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct dpeer *p = SSL_get_app_data(ssl);
	if (X509_STORE_CTX_get_error_depth(xs))
		return 1;
	uint8_t h[32];
	unsigned n = 0;
	X509_digest(X509_STORE_CTX_get_current_cert(xs), EVP_sha256(), h, &n);
	return n == 32 && memcmp(h, p->want_fp, 32) == 0;
}

static void fp_bytes(const char *s, uint8_t out[32])
{
	const char *h = strchr(s, ' '); /* "sha-256 AB:CD:..." */
	for (int i = 0; h && i < 32; i++) {
		unsigned v = 0;
		sscanf(h + 1 + 3 * i, "%2X", &v);
		out[i] = (uint8_t)v;
	}
}

static SSL_CTX *peer_ctx(const char *profiles, uint8_t fp[32])
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, key);
	X509_NAME *nm = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)"phone", -1, -1,
	                           0);
	X509_set_issuer_name(x, nm);
	X509_sign(x, key, EVP_sha256());
	unsigned n = 0;
	X509_digest(x, EVP_sha256(), fp, &n);
	SSL_CTX *c = SSL_CTX_new(DTLS_method());
	SSL_CTX_use_certificate(c, x);
	SSL_CTX_use_PrivateKey(c, key);
	EVP_PKEY_free(key);
	X509_free(x);
	SSL_CTX_set_tlsext_use_srtp(c, profiles);
	SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, dpeer_verify);
	SSL_CTX_set_options(c, SSL_OP_NO_QUERY_MTU);
	return c;
}

static SSL *peer_ssl(SSL_CTX *ctx, void *app, bool client, BIO **rb, BIO **wb)
{
	SSL *s = SSL_new(ctx);
	SSL_set_app_data(s, app);
	*rb = BIO_new(BIO_s_mem());
	*wb = BIO_new(BIO_s_mem());
	BIO_set_mem_eof_return(*rb, -1);
	SSL_set_bio(s, *rb, *wb);
	SSL_set_mtu(s, 1200);
	if (client)
		SSL_set_connect_state(s);
	else
		SSL_set_accept_state(s);
	return s;
}

static struct dpeer *dpeer_new(struct fx *f, bool client, bool mux, const char *profiles)
{
	struct dpeer *p = g_new0(struct dpeer, 1);
	p->client = client;
	p->mux = mux;
	p->fd[0] = udp_on("127.0.0.1");
	p->fd[1] = mux ? -1 : udp_on("127.0.0.1");
	fp_bytes(relay_dtls_fingerprint(f->r), p->want_fp);
	p->ctx = peer_ctx(profiles, p->fp);
	for (int i = 0; i < (mux ? 1 : 2); i++)
		p->ssl[i] = peer_ssl(p->ctx, p, client, &p->rb[i], &p->wb[i]);
	return p;
}

static void dpeer_free(struct dpeer *p)
{
	for (int i = 0; i < 2; i++) {
		SSL_free(p->ssl[i]);
		relay_srtp_free(p->tx[i]);
		relay_srtp_free(p->rx[i]);
		if (p->fd[i] >= 0)
			close(p->fd[i]);
	}
	SSL_CTX_free(p->ctx);
	ERR_clear_error();
	g_free(p);
}

static void dpeer_flush(struct dpeer *p, int i)
{
	uint8_t buf[4096];
	int n;
	while ((n = BIO_read(p->wb[i], buf, sizeof(buf))) > 0) {
		if (n > 25 && buf[0] == 22 && buf[13] == 1 &&
		    memcmp(buf + 14, buf + 22, 3) != 0) /* fragment length != message length */
			p->hello_fragmented = true;
		send_to(p->fd[i], p->to[i], buf, (size_t)n);
	}
}

static void dpeer_keys(struct dpeer *p, int i)
{
	const SRTP_PROTECTION_PROFILE *prof = SSL_get_selected_srtp_profile(p->ssl[i]);
	enum relay_srtp_suite su = prof->id == SRTP_AEAD_AES_128_GCM
	                                   ? RELAY_SRTP_AEAD_AES_128_GCM
	                                   : RELAY_SRTP_AES_CM_128_HMAC_SHA1_80;
	size_t k = 16, s = su == RELAY_SRTP_AEAD_AES_128_GCM ? 12 : 14;
	uint8_t km[60], ck[30], sk[30];
	SSL_export_keying_material(p->ssl[i], km, 2 * (k + s), "EXTRACTOR-dtls_srtp", 19, NULL, 0,
	                           0);
	memcpy(ck, km, k);
	memcpy(sk, km + k, k);
	memcpy(ck + k, km + 2 * k, s);
	memcpy(sk + k, km + 2 * k + s, s);
	relay_srtp_new(su, p->client ? ck : sk, k + s, false, &p->tx[i]);
	relay_srtp_new(su, p->client ? sk : ck, k + s, true, &p->rx[i]);
	p->ok[i] = true;
}

static void dpeer_step(struct dpeer *p, int i)
{
	if (!p->ssl[i] || p->ok[i] || p->failed[i])
		return;
	int rc = SSL_do_handshake(p->ssl[i]);
	if (rc == 1)
		dpeer_keys(p, i);
	else if (SSL_get_error(p->ssl[i], rc) != SSL_ERROR_WANT_READ)
		p->failed[i] = true;
	ERR_clear_error();
	dpeer_flush(p, i);
}

/* Reads what arrived on the peer's sockets for up to ms: DTLS into the handshake, SRTP
 * counted in *srtp (when not NULL) if it unprotects. */
static void dpeer_poll(struct dpeer *p, int ms, unsigned *srtp)
{
	struct pollfd pf[2] = {{.fd = p->fd[0], .events = POLLIN}, {.fd = p->fd[1], .events = POLLIN}};
	if (poll(pf, p->mux ? 1 : 2, ms) <= 0)
		return;
	for (int i = 0; i < (p->mux ? 1 : 2); i++) {
		uint8_t b[2048];
		ssize_t n;
		while ((n = recv(p->fd[i], b, sizeof(b), MSG_DONTWAIT)) > 0) {
			if (b[0] >= 20 && b[0] <= 63) {
				BIO_write(p->rb[i], b, (int)n);
				dpeer_step(p, i);
				if (p->ok[i]) { /* after the handshake: alerts, retransmissions */
					uint8_t sink[256];
					SSL_read(p->ssl[i], sink, sizeof(sink));
					ERR_clear_error();
					dpeer_flush(p, i);
				}
			} else if (b[0] >= 128 && b[0] <= 191 && p->rx[i]) {
				size_t len = (size_t)n;
				if (relay_srtp_unprotect(p->rx[i], relay_is_rtcp(b, len), b, &len) == 0 &&
				    srtp)
					(*srtp)++;
			}
		}
	}
}

static bool dpeer_done(const struct dpeer *p)
{
	return p->ok[0] && (p->mux || p->ok[1]);
}

/* Runs both ends of the handshake until the peer and the relay are done (or ms pass). */
static bool handshake(struct fx *f, struct dpeer *p, unsigned want_events, int ms)
{
	gint64 end = g_get_monotonic_time() + (gint64)ms * 1000 * tmul();
	for (int i = 0; i < 2; i++)
		if (p->client)
			dpeer_step(p, i);
	while (g_get_monotonic_time() < end) {
		dpeer_poll(p, 5, NULL);
		pump(f);
		for (int i = 0; i < 2; i++)
			if (p->ssl[i] && !p->ok[i] && DTLSv1_handle_timeout(p->ssl[i]) > 0)
				dpeer_flush(p, i);
		if (dpeer_done(p) && f->n_ev[RELAY_EV_DTLS_CONNECTED] >= want_events)
			return true;
		if (f->n_ev[RELAY_EV_DTLS_FAILED])
			return false;
	}
	return false;
}

/* ---- a session: endpoint 0 DTLS toward the peer, endpoint 1 plain toward b ---- */

struct call {
	struct fx *f;
	struct dpeer *p;
	int b;
	struct relay_session *s;
	struct relay_local loc[2];
};

static struct relay_session_params dtls_params(struct call *c, enum relay_dtls_role role,
					       bool learn)
{
	struct relay_session_params p;
	memset(&p, 0, sizeof(p));
	p.ep[0].kind = RELAY_EP_UDP;
	p.ep[0].dtls = true;
	p.ep[0].ice.dtls_role = role;
	g_strlcpy(p.ep[0].ice.remote_fp_hash, "sha-256", sizeof(p.ep[0].ice.remote_fp_hash));
	memcpy(p.ep[0].ice.remote_fp, c->p->fp, 32);
	p.ep[0].ice.remote_fp_len = 32;
	p.ep[0].remote_rtp = addr_of(c->p->fd[0]);
	p.ep[0].rtcp_mux = c->p->mux;
	if (!c->p->mux)
		p.ep[0].remote_rtcp = addr_of(c->p->fd[1]);
	p.ep[0].learn = learn;
	p.ep[1].remote_rtp = addr_of(c->b);
	p.ep[1].rtcp_mux = true;
	p.call_id = "dtls-call";
	p.on_event = on_event;
	p.arg = c->f;
	return p;
}

static void call_start_p(struct call *c, struct fx *f, struct dpeer *p,
			 const struct relay_session_params *sp)
{
	c->f = f;
	c->p = p;
	TAP_CHECK_INT(relay_session_new(f->r, sp, c->loc, &c->s), 0);
	p->to[0] = c->loc[0].rtp_port;
	p->to[1] = c->loc[0].rtcp_port;
	TAP_CHECK_INT(c->loc[0].rtcp_port, p->mux ? c->loc[0].rtp_port : c->loc[0].rtp_port + 1);
}

static void call_start(struct call *c, struct fx *f, enum relay_dtls_role role, bool mux,
		       const char *profiles)
{
	memset(c, 0, sizeof(*c));
	c->f = f;
	c->b = udp_on("127.0.0.1");
	c->p = dpeer_new(f, role == RELAY_DTLS_PASSIVE, mux, profiles);
	struct relay_session_params sp = dtls_params(c, role, true);
	call_start_p(c, f, c->p, &sp);
}

struct stats_box {
	bool done;
	struct relay_session_stats st;
};

static void on_stats(struct relay_session *s, const struct relay_session_stats *st, void *arg)
{
	(void)s;
	struct stats_box *b = arg;
	b->st = *st;
	b->done = true;
}

static struct relay_session_stats stats(struct fx *f, struct relay_session *s)
{
	struct stats_box b = {0};
	relay_session_stats(s, on_stats, &b);
	gint64 end = g_get_monotonic_time() + 2 * G_USEC_PER_SEC;
	while (!b.done && g_get_monotonic_time() < end) {
		pump(f);
		g_usleep(1000);
	}
	TAP_CHECK(b.done);
	return b.st;
}

static void call_end(struct call *c)
{
	relay_session_free(c->s);
	dpeer_free(c->p);
	close(c->b);
}

/* SRTP from the phone comes out plain at b; RTP from b arrives as SRTP at the phone. */
static void media_both_ways(struct call *c, uint16_t seq0, int n, int *to_b, int *to_p)
{
	*to_b = 0;
	unsigned got = 0;
	for (int i = 0; i < n; i++) {
		uint8_t pk[300], q[2048];
		size_t len = make_rtp(pk, (uint16_t)(seq0 + i), 0x1234, 160);
		uint8_t enc[2048];
		memcpy(enc, pk, len);
		size_t el = len;
		relay_srtp_protect(c->p->tx[0], false, enc, &el, sizeof(enc));
		send_to(c->p->fd[0], c->p->to[0], enc, el);
		ssize_t r = recv_in(c->b, q, sizeof(q), 1000);
		*to_b += r == (ssize_t)len && memcmp(q, pk, len) == 0;
		len = make_rtp(pk, (uint16_t)(seq0 + 500 + i), 0x5678, 160);
		send_to(c->b, c->loc[1].rtp_port, pk, len);
		unsigned before = got;
		gint64 end = g_get_monotonic_time() + G_USEC_PER_SEC * tmul();
		while (got == before && g_get_monotonic_time() < end)
			dpeer_poll(c->p, 10, &got);
	}
	*to_p = (int)got;
}

/* ---- cases ---- */

/* Nothing passes before the keys exist: plain RTP from the phone (even from its signalled
 * address) and RTP toward it are dropped; nothing is latched. */
static void check_closed_before(struct call *c)
{
	uint8_t pk[300], q[2048];
	size_t len = make_rtp(pk, 1, 0x1234, 160);
	send_to(c->p->fd[0], c->p->to[0], pk, len);
	send_to(c->b, c->loc[1].rtp_port, pk, len);
	TAP_CHECK(recv_in(c->b, q, sizeof(q), 100) < 0);
	TAP_CHECK(recv_in(c->p->fd[0], q, sizeof(q), 50) < 0 || q[0] < 128); /* DTLS only */
	struct relay_session_stats st = stats(c->f, c->s);
	TAP_CHECK_INT(st.ep[0].packets_in, 0);
	TAP_CHECK(!st.ep[0].latched);
	TAP_CHECK_INT(st.ep[1].packets_out, 0);
}

static void flow_case(enum relay_dtls_role role, bool mux, const char *profiles,
		      const char *want)
{
	struct fx f;
	fx_init(&f, 3);
	struct call c;
	call_start(&c, &f, role, mux, profiles);
	if (role == RELAY_DTLS_PASSIVE)
		check_closed_before(&c); /* the phone has not started yet */
	TAP_CHECK(handshake(&f, c.p, mux ? 1 : 2, 4000));
	TAP_CHECK_INT(f.n_ev[RELAY_EV_DTLS_CONNECTED], mux ? 1 : 2);
	TAP_CHECK_INT(f.n_ev[RELAY_EV_DTLS_FAILED], 0);
	TAP_CHECK_STR(f.dtls_detail, want);
	int to_b, to_p;
	media_both_ways(&c, 10, 10, &to_b, &to_p);
	TAP_CHECK_INT(to_b, 10);
	TAP_CHECK_INT(to_p, 10);
	/* SRTCP from the phone: on the RTCP socket with its own association's keys, or muxed */
	static const uint8_t sr[] = {0x80, 200, 0, 6, 0, 0, 0x12, 0x34, 1, 2,  3, 4, 5,   6,
	                             7,    8,   0, 0, 0, 1, 0,   0,    0, 10, 0, 0, 0x6, 0x40};
	uint8_t enc[256], q[2048];
	memcpy(enc, sr, sizeof(sr));
	size_t el = sizeof(sr);
	int ci = mux ? 0 : 1;
	TAP_CHECK_INT(relay_srtp_protect(c.p->tx[ci], true, enc, &el, sizeof(enc)), 0);
	send_to(c.p->fd[ci], c.p->to[ci], enc, el);
	TAP_CHECK_INT(recv_in(c.b, q, sizeof(q), 1000), sizeof(sr));
	TAP_CHECK(memcmp(q, sr, sizeof(sr)) == 0);
	/* RTCP from b reaches the phone protected with the right association's keys */
	send_to(c.b, c.loc[1].rtp_port, sr, sizeof(sr));
	ssize_t n = recv_in(c.p->fd[ci], q, sizeof(q), 1000);
	size_t nl = n > 0 ? (size_t)n : 0;
	TAP_CHECK(n > (ssize_t)sizeof(sr));
	TAP_CHECK_INT(relay_srtp_unprotect(c.p->rx[ci], true, q, &nl), 0);
	TAP_CHECK_INT(nl, sizeof(sr));
	/* plain RTP from the phone's own address is never taken once SRTP is on (SEC-11) */
	uint8_t pk[300];
	size_t len = make_rtp(pk, 100, 0x1234, 160);
	send_to(c.p->fd[0], c.p->to[0], pk, len);
	TAP_CHECK(recv_in(c.b, q, sizeof(q), 100) < 0);
	struct relay_session_stats st = stats(&f, c.s);
	TAP_CHECK_INT(st.ep[0].packets_in, 11);
	TAP_CHECK_INT(st.ep[0].rtcp_in, 1);
	TAP_CHECK(st.ep[0].latched);
	TAP_CHECK(memcmp(&st.ep[0].latch, &(struct sockaddr_storage){0}, 1) != 0);
	struct sockaddr_storage pa = addr_of(c.p->fd[0]);
	TAP_CHECK(((struct sockaddr_in *)&st.ep[0].latch)->sin_port ==
	          ((struct sockaddr_in *)&pa)->sin_port);
	/* the one RTP from b before the keys was valid but went nowhere */
	TAP_CHECK_INT(st.ep[1].packets_in, role == RELAY_DTLS_PASSIVE ? 12 : 11);
	TAP_CHECK_INT(st.ep[1].packets_out, 11);
	call_end(&c);
	fx_done(&f);
}

static void t_passive_mux_gcm(void)
{
	flow_case(RELAY_DTLS_PASSIVE, true, "SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80",
	          "SRTP_AEAD_AES_128_GCM");
}

static void t_active_mux_cm80(void)
{
	flow_case(RELAY_DTLS_ACTIVE, true, "SRTP_AES128_CM_SHA1_80", "SRTP_AES128_CM_SHA1_80");
}

static void t_passive_rtcp_cm80(void)
{
	flow_case(RELAY_DTLS_PASSIVE, false, "SRTP_AES128_CM_SHA1_80", "SRTP_AES128_CM_SHA1_80");
}

static void t_active_rtcp_gcm(void)
{
	flow_case(RELAY_DTLS_ACTIVE, false, "SRTP_AEAD_AES_128_GCM", "SRTP_AEAD_AES_128_GCM");
}

/* A ClientHello larger than one datagram (Chrome's is, with its post-quantum key share):
 * it comes in fragments, which DTLSv1_listen cannot take; OpenSSL's own cookie exchange
 * answers it and the handshake completes. */
static void t_fragmented_hello(void)
{
	struct fx f;
	fx_init(&f, 3);
	struct call c;
	call_start(&c, &f, RELAY_DTLS_PASSIVE, true, "SRTP_AEAD_AES_128_GCM");
	TAP_CHECK_INT(SSL_set_cipher_list(c.p->ssl[0], "ALL:@SECLEVEL=0"), 1);
	TAP_CHECK(SSL_set_mtu(c.p->ssl[0], 256) > 0);
	TAP_CHECK(handshake(&f, c.p, 1, 4000));
	TAP_CHECK(c.p->hello_fragmented);
	int to_b, to_p;
	media_both_ways(&c, 1, 3, &to_b, &to_p);
	TAP_CHECK_INT(to_b, 3);
	TAP_CHECK_INT(to_p, 3);
	call_end(&c);
	fx_done(&f);
}

/* A certificate that does not hash to a=fingerprint: DTLS_FAILED, nothing forwarded. */
static void fp_mismatch(enum relay_dtls_role role)
{
	struct fx f;
	fx_init(&f, 3);
	struct call c;
	memset(&c, 0, sizeof(c));
	c.b = udp_on("127.0.0.1");
	c.p = dpeer_new(&f, role == RELAY_DTLS_PASSIVE, true, "SRTP_AEAD_AES_128_GCM");
	c.f = &f;
	struct relay_session_params sp = dtls_params(&c, role, true);
	sp.ep[0].ice.remote_fp[3] ^= 0x40;
	call_start_p(&c, &f, c.p, &sp);
	TAP_CHECK(!handshake(&f, c.p, 1, 3000));
	TAP_CHECK_INT(f.n_ev[RELAY_EV_DTLS_FAILED], 1);
	TAP_CHECK_STR(f.dtls_detail, "certificate fingerprint mismatch");
	TAP_CHECK_INT(f.n_ev[RELAY_EV_DTLS_CONNECTED], 0);
	check_closed_before(&c);
	call_end(&c);
	fx_done(&f);
}

static void t_fp_mismatch_passive(void)
{
	fp_mismatch(RELAY_DTLS_PASSIVE);
}

static void t_fp_mismatch_active(void)
{
	fp_mismatch(RELAY_DTLS_ACTIVE);
}

/* The phone never speaks DTLS: the handshake deadline fails the endpoint. With no remote
 * address or no fingerprint yet, no handshake starts (and none can succeed). */
static void t_timeout(void)
{
	struct fx f;
	fx_init(&f, 1);
	struct call c;
	memset(&c, 0, sizeof(c));
	c.b = udp_on("127.0.0.1");
	c.p = dpeer_new(&f, false, true, "SRTP_AEAD_AES_128_GCM"); /* passive too: silence */
	c.f = &f;
	struct relay_session_params sp = dtls_params(&c, RELAY_DTLS_PASSIVE, true);
	call_start_p(&c, &f, c.p, &sp);
	TAP_CHECK(!handshake(&f, c.p, 1, 2500));
	TAP_CHECK_STR(f.dtls_detail, "handshake timeout");
	call_end(&c);
	/* we offered: neither address nor fingerprint known; an active endpoint sends nothing */
	memset(&f.n_ev, 0, sizeof(f.n_ev));
	c.b = udp_on("127.0.0.1");
	c.p = dpeer_new(&f, false, true, "SRTP_AEAD_AES_128_GCM");
	sp = dtls_params(&c, RELAY_DTLS_ACTIVE, true);
	memset(&sp.ep[0].remote_rtp, 0, sizeof(sp.ep[0].remote_rtp));
	sp.ep[0].ice.remote_fp_len = 0;
	call_start_p(&c, &f, c.p, &sp);
	uint8_t q[2048];
	TAP_CHECK(recv_in(c.p->fd[0], q, sizeof(q), 1500) < 0);
	pump(&f);
	TAP_CHECK_INT(f.n_ev[RELAY_EV_DTLS_FAILED], 0);
	/* the answer arrives: the relay (client) starts, the phone (server) completes */
	struct relay_session_params ans = dtls_params(&c, RELAY_DTLS_ACTIVE, true);
	struct relay_local nl;
	TAP_CHECK_INT(relay_session_update(c.s, 0, &ans.ep[0], &nl), 0);
	TAP_CHECK_INT(nl.rtp_port, c.loc[0].rtp_port);
	TAP_CHECK(handshake(&f, c.p, 1, 3000));
	int to_b, to_p;
	media_both_ways(&c, 1, 3, &to_b, &to_p);
	TAP_CHECK_INT(to_b, 3);
	TAP_CHECK_INT(to_p, 3);
	/* a renegotiation may not turn DTLS off */
	ans.ep[0].dtls = false;
	TAP_CHECK_INT(relay_session_update(c.s, 0, &ans.ep[0], &nl), EINVAL);
	call_end(&c);
	fx_done(&f);
}

/* Both endpoints DTLS (a SIP⇄SIP call where both phones use UDP/TLS/RTP/SAVP): the relay is
 * server toward one and client toward the other; SRTP is decrypted and re-encrypted. */
static void t_dtls_both_sides(void)
{
	struct fx f;
	fx_init(&f, 3);
	struct call c;
	memset(&c, 0, sizeof(c));
	c.b = udp_on("127.0.0.1");
	c.p = dpeer_new(&f, true, true, "SRTP_AEAD_AES_128_GCM");
	struct dpeer *q = dpeer_new(&f, false, false, "SRTP_AES128_CM_SHA1_80");
	c.f = &f;
	struct relay_session_params sp = dtls_params(&c, RELAY_DTLS_PASSIVE, true);
	sp.ep[1].dtls = true;
	sp.ep[1].ice.dtls_role = RELAY_DTLS_ACTIVE;
	g_strlcpy(sp.ep[1].ice.remote_fp_hash, "sha-256", sizeof(sp.ep[1].ice.remote_fp_hash));
	memcpy(sp.ep[1].ice.remote_fp, q->fp, 32);
	sp.ep[1].ice.remote_fp_len = 32;
	sp.ep[1].remote_rtp = addr_of(q->fd[0]);
	sp.ep[1].remote_rtcp = addr_of(q->fd[1]);
	sp.ep[1].rtcp_mux = false;
	sp.ep[1].learn = true;
	call_start_p(&c, &f, c.p, &sp);
	q->to[0] = c.loc[1].rtp_port;
	q->to[1] = c.loc[1].rtcp_port;
	TAP_CHECK_INT(q->to[1], q->to[0] + 1);
	gint64 end = g_get_monotonic_time() + 4 * G_USEC_PER_SEC * tmul();
	dpeer_step(c.p, 0);
	while (g_get_monotonic_time() < end &&
	       !(dpeer_done(c.p) && dpeer_done(q) && f.n_ev[RELAY_EV_DTLS_CONNECTED] == 3)) {
		dpeer_poll(c.p, 2, NULL);
		dpeer_poll(q, 2, NULL);
		pump(&f);
		if (!c.p->ok[0] && DTLSv1_handle_timeout(c.p->ssl[0]) > 0)
			dpeer_flush(c.p, 0);
	}
	TAP_CHECK(dpeer_done(c.p) && dpeer_done(q));
	TAP_CHECK_INT(f.n_ev[RELAY_EV_DTLS_CONNECTED], 3); /* one + two associations */
	unsigned got_q = 0, got_p = 0;
	for (int i = 0; i < 10 && dpeer_done(c.p) && dpeer_done(q); i++) {
		uint8_t pk[600];
		size_t len = make_rtp(pk, (uint16_t)(i + 1), 0x1111, 160);
		relay_srtp_protect(c.p->tx[0], false, pk, &len, sizeof(pk));
		send_to(c.p->fd[0], c.p->to[0], pk, len);
		unsigned before = got_q;
		for (int k = 0; k < 50 && got_q == before; k++)
			dpeer_poll(q, 10, &got_q);
		len = make_rtp(pk, (uint16_t)(i + 1), 0x2222, 160);
		relay_srtp_protect(q->tx[0], false, pk, &len, sizeof(pk));
		send_to(q->fd[0], q->to[0], pk, len);
		before = got_p;
		for (int k = 0; k < 50 && got_p == before; k++)
			dpeer_poll(c.p, 10, &got_p);
	}
	TAP_CHECK_INT(got_q, 10);
	TAP_CHECK_INT(got_p, 10);
	struct relay_session_stats st = stats(&f, c.s);
	TAP_CHECK_INT(st.ep[0].packets_out, 10);
	TAP_CHECK_INT(st.ep[1].packets_out, 10);
	TAP_CHECK(st.ep[0].latched && st.ep[1].latched);
	call_end(&c);
	dpeer_free(q);
	fx_done(&f);
}

/* Parameters refused: a DTLS endpoint with an unknown hash or a wrong length. */
static void t_bad_params(void)
{
	struct fx f;
	fx_init(&f, 3);
	struct call c;
	memset(&c, 0, sizeof(c));
	c.b = udp_on("127.0.0.1");
	c.p = dpeer_new(&f, true, true, "SRTP_AEAD_AES_128_GCM");
	c.f = &f;
	struct relay_session_params sp = dtls_params(&c, RELAY_DTLS_PASSIVE, true);
	struct relay_local loc[2];
	struct relay_session *s = NULL;
	g_strlcpy(sp.ep[0].ice.remote_fp_hash, "md5", sizeof(sp.ep[0].ice.remote_fp_hash));
	TAP_CHECK_INT(relay_session_new(f.r, &sp, loc, &s), EINVAL);
	sp = dtls_params(&c, RELAY_DTLS_PASSIVE, true);
	sp.ep[0].ice.remote_fp_len = 20;
	TAP_CHECK_INT(relay_session_new(f.r, &sp, loc, &s), EINVAL);
	sp = dtls_params(&c, RELAY_DTLS_PASSIVE, true);
	sp.ep[0].ice.dtls_role = 7;
	TAP_CHECK_INT(relay_session_new(f.r, &sp, loc, &s), EINVAL);
	TAP_CHECK(s == NULL);
	dpeer_free(c.p);
	close(c.b);
	fx_done(&f);
}

/* ---- BI-37, BI-38, BI-39 ---- */

/* A ClientHello as a real client writes it (with use_srtp profiles), one datagram. */
static size_t client_hello(const char *profiles, uint8_t *out, size_t cap)
{
	uint8_t fp[32];
	SSL_CTX *ctx = peer_ctx(profiles, fp);
	BIO *rb, *wb;
	SSL *s = peer_ssl(ctx, NULL, true, &rb, &wb);
	SSL_do_handshake(s);
	int n = BIO_read(wb, out, (int)cap);
	SSL_free(s);
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return n > 0 ? (size_t)n : 0;
}

/* RSS growth is meaningless under ASan and valgrind (both keep freed memory resident for
 * a while): LeakSanitizer and memcheck check leaks there instead. */
#ifdef TAP_HAVE_LSAN
#define RSS_GROWTH_OK(kb) true
#else
#define RSS_GROWTH_OK(kb) (getenv("GORGEE_UNDER_VALGRIND") || (kb) < 1024)
#endif

static long rss_kb(void)
{
	long kb = -1;
	FILE *fp = fopen("/proc/self/status", "r");
	char line[256];
	while (fp && fgets(line, sizeof(line), fp))
		if (!strncmp(line, "VmRSS:", 6))
			kb = strtol(line + 6, NULL, 10);
	if (fp)
		fclose(fp);
	return kb;
}

/* A second, unrelated session whose media must keep flowing during an attack. */
struct bystander {
	int a, b;
	struct relay_session *s;
	struct relay_local loc[2];
};

static void bystander_start(struct fx *f, struct bystander *y)
{
	y->a = udp_on("127.0.0.1");
	y->b = udp_on("127.0.0.1");
	struct relay_session_params p;
	memset(&p, 0, sizeof(p));
	p.ep[0].remote_rtp = addr_of(y->a);
	p.ep[0].rtcp_mux = true;
	p.ep[1].remote_rtp = addr_of(y->b);
	p.ep[1].rtcp_mux = true;
	TAP_CHECK_INT(relay_session_new(f->r, &p, y->loc, &y->s), 0);
}

static int bystander_flow(struct bystander *y, int n)
{
	int ok = 0;
	for (int i = 0; i < n; i++) {
		uint8_t pk[300], q[2048];
		size_t len = make_rtp(pk, (uint16_t)i, 0x777, 160);
		send_to(y->a, y->loc[0].rtp_port, pk, len);
		ok += recv_in(y->b, q, sizeof(q), 500) == (ssize_t)len;
	}
	return ok;
}

static void bystander_end(struct bystander *y)
{
	relay_session_free(y->s);
	y->s = NULL;
	close(y->a);
	close(y->b);
}

/*
 * BI-37: ClientHellos flooding the relay's DTLS port while the phone's handshake runs,
 * from other addresses (127.0.0.2, 127.0.0.3: dropped by the source check) and from other
 * ports of the phone's address (allowed by NAT learning: answered statelessly with a
 * HelloVerifyRequest to where they came from, nothing kept). The phone's handshake still
 * finishes, the latch is the phone, the flood's sources got no more than one HVR each,
 * memory does not grow with the flood, and another session's media is unaffected.
 */
static void t_bi37_hello_flood(void)
{
	struct fx f;
	fx_init(&f, 5);
	struct bystander y;
	bystander_start(&f, &y);
	struct call c;
	call_start(&c, &f, RELAY_DTLS_PASSIVE, true, "SRTP_AEAD_AES_128_GCM");
	uint8_t ch[2048];
	size_t chn = client_hello("SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80", ch, sizeof(ch));
	TAP_CHECK(chn > 100);
	int other[2] = {udp_on("127.0.0.2"), udp_on("127.0.0.3")};
	int same[8];
	for (int i = 0; i < 8; i++)
		same[i] = udp_on("127.0.0.1");
	/* warm up, then measure the flood's memory footprint */
	for (int i = 0; i < 200; i++)
		send_to(same[i % 8], c.p->to[0], ch, chn);
	g_usleep(100 * 1000);
	long rss0 = rss_kb();
	/* the flood starts before the phone's first ClientHello and runs through it */
	unsigned sent = 0;
	dpeer_step(c.p, 0);
	gint64 end = g_get_monotonic_time() + 4 * G_USEC_PER_SEC * tmul();
	bool done = false;
	while (g_get_monotonic_time() < end && !done) {
		/* under valgrind the relay is ~20 times slower: a fifth of the flood still fills
		 * its socket queue, where the full one left the handshake's own datagrams dropped
		 * by the kernel until the deadline on a loaded machine */
		for (int k = 0; k < 50 / tmul(); k++, sent++) {
			send_to(other[k % 2], c.p->to[0], ch, chn);
			send_to(same[k % 8], c.p->to[0], ch, chn);
		}
		dpeer_poll(c.p, 1, NULL);
		pump(&f);
		if (DTLSv1_handle_timeout(c.p->ssl[0]) > 0)
			dpeer_flush(c.p, 0);
		done = dpeer_done(c.p) && f.n_ev[RELAY_EV_DTLS_CONNECTED] == 1;
	}
	/* and keeps going after the handshake: those hellos are no longer even answered */
	for (int k = 0; k < 5000; k++, sent++) {
		send_to(other[k % 2], c.p->to[0], ch, chn);
		send_to(same[k % 8], c.p->to[0], ch, chn);
		if (k % 500 == 0)
			g_usleep(2000);
	}
	g_usleep(200 * 1000);
	long rss1 = rss_kb();
	printf("# %u+%u hellos sent, legit handshake %s, RSS %ld -> %ld kB\n", sent, sent,
	       done ? "done" : "NOT done", rss0, rss1);
	TAP_CHECK(done);
	TAP_CHECK_INT(f.n_ev[RELAY_EV_DTLS_FAILED], 0);
	TAP_CHECK(RSS_GROWTH_OK(rss1 - rss0));
	/* other addresses got nothing at all; same-IP ports at most HVRs, none after the
	 * handshake fixed the peer */
	uint8_t q[2048];
	for (int i = 0; i < 2; i++)
		TAP_CHECK(recv_in(other[i], q, sizeof(q), 20) < 0);
	unsigned hvr = 0, other_kind = 0;
	for (int i = 0; i < 8; i++) {
		ssize_t n;
		while ((n = recv_in(same[i], q, sizeof(q), 5)) > 0) {
			/* handshake record, HelloVerifyRequest (type 3) */
			if (n > 13 + 12 && q[0] == 22 && q[13] == 3)
				hvr++;
			else
				other_kind++;
		}
	}
	printf("# HelloVerifyRequests to flooding ports: %u, anything else: %u\n", hvr,
	       other_kind);
	TAP_CHECK_INT(other_kind, 0);
	TAP_CHECK(hvr <= sent);
	int to_b = 0, to_p = 0;
	if (done) /* else the phone has no SRTP keys: the failure is recorded above */
		media_both_ways(&c, 1, 5, &to_b, &to_p);
	TAP_CHECK_INT(to_b, 5);
	TAP_CHECK_INT(to_p, 5);
	struct relay_session_stats st = stats(&f, c.s);
	struct sockaddr_storage pa = addr_of(c.p->fd[0]);
	TAP_CHECK(((struct sockaddr_in *)&st.ep[0].latch)->sin_port ==
	          ((struct sockaddr_in *)&pa)->sin_port);
	TAP_CHECK(st.ep[0].dropped_source > 0); /* 127.0.0.2/3 */
	TAP_CHECK_INT(bystander_flow(&y, 5), 5);
	for (int i = 0; i < 2; i++)
		close(other[i]);
	for (int i = 0; i < 8; i++)
		close(same[i]);
	call_end(&c);
	bystander_end(&y);
	fx_done(&f);
}

/* A DTLS record header around body (type, epoch, 48-bit seq). */
static size_t record(uint8_t *out, uint8_t type, uint16_t epoch, uint64_t seq, const uint8_t *body,
		     size_t n)
{
	out[0] = type;
	out[1] = 0xfe;
	out[2] = 0xfd;
	out[3] = (uint8_t)(epoch >> 8);
	out[4] = (uint8_t)epoch;
	for (int i = 0; i < 6; i++)
		out[5 + i] = (uint8_t)(seq >> (40 - 8 * i));
	out[11] = (uint8_t)(n >> 8);
	out[12] = (uint8_t)n;
	memcpy(out + 13, body, n);
	return 13 + n;
}

/* A handshake message fragment (RFC 6347 §4.2.2). */
static size_t fragment(uint8_t *out, uint8_t msg, uint32_t len, uint16_t mseq, uint32_t off,
		       uint32_t flen)
{
	out[0] = msg;
	out[1] = (uint8_t)(len >> 16);
	out[2] = (uint8_t)(len >> 8);
	out[3] = (uint8_t)len;
	out[4] = (uint8_t)(mseq >> 8);
	out[5] = (uint8_t)mseq;
	out[6] = (uint8_t)(off >> 16);
	out[7] = (uint8_t)(off >> 8);
	out[8] = (uint8_t)off;
	out[9] = (uint8_t)(flen >> 16);
	out[10] = (uint8_t)(flen >> 8);
	out[11] = (uint8_t)flen;
	memset(out + 12, 0x5a, flen);
	return 12 + flen;
}

/*
 * Sends the BI-38 set from the phone's own address (so the source check lets it in). Not
 * in the set, because it is not survivable: a well-formed handshake message or fragment
 * of the peer's role with a future message sequence, forged from the peer's exact address
 * while the handshake runs. OpenSSL keeps it and drops the real one as a duplicate, so the
 * handshake stalls and fails at the deadline (the call ends; nothing else is affected).
 */
static unsigned send_bad_records(int fd, uint16_t port)
{
	uint8_t body[600], rec[700];
	size_t n;
	unsigned count = 0;
	/* malformed and overlapping handshake fragments, out-of-order messages */
	static const struct {
		uint8_t msg;
		uint32_t len;
		uint16_t mseq;
		uint32_t off, flen;
	} frags[] = {
	        {1, 400, 0, 0, 200},       /* ClientHello first half only */
	        {1, 400, 0, 100, 300},     /* overlapping the first */
	        {1, 400, 0, 350, 100},     /* past the message's end */
	        {1, 0xffffff, 0, 0, 100},  /* a 16 MB message announced */
	        {16, 70, 5, 0, 70},        /* ClientKeyExchange, out of order */
	        {20, 12, 9, 0, 12},        /* Finished out of order */
	        {11, 300, 1, 280, 50},     /* Certificate fragment running past its end */
	        {1, 100, 0xffff, 0, 100},  /* huge message sequence */
	};
	for (size_t i = 0; i < G_N_ELEMENTS(frags); i++) {
		n = fragment(body, frags[i].msg, frags[i].len, frags[i].mseq, frags[i].off,
		             frags[i].flen);
		n = record(rec, 22, 0, 100 + i, body, n);
		send_to(fd, port, rec, n);
		count++;
	}
	/* a fragment header cut short, a record longer than the datagram */
	n = record(rec, 22, 0, 200, body, 5);
	send_to(fd, port, rec, n);
	n = record(rec, 22, 0, 201, body, 40);
	send_to(fd, port, rec, n - 10);
	/* huge epoch, huge sequence number, application data and alerts before keys */
	memset(body, 0x33, 64);
	n = record(rec, 22, 0xffff, 1, body, 64);
	send_to(fd, port, rec, n);
	n = record(rec, 22, 0, 0xffffffffffffull, body, 64);
	send_to(fd, port, rec, n);
	n = record(rec, 23, 1, 5, body, 64);
	send_to(fd, port, rec, n);
	n = record(rec, 21, 0, 6, (const uint8_t[]){2, 40}, 2); /* fatal handshake_failure */
	send_to(fd, port, rec, n);
	/* heartbeat request with a length larger than its payload (CVE-2014-0160) */
	n = record(rec, 24, 0, 7, (const uint8_t[]){1, 0x40, 0x00, 1, 2, 3}, 6);
	send_to(fd, port, rec, n);
	n = record(rec, 24, 1, 7, (const uint8_t[]){1, 0x40, 0x00, 1, 2, 3}, 6);
	send_to(fd, port, rec, n);
	/* a ClientHello with a cookie that is not ours */
	count += 10;
	return count;
}

/*
 * BI-38: malformed or overlapping handshake fragments, out-of-order messages, records with
 * a huge epoch or sequence number, heartbeats: sent from the phone's own address before
 * its handshake, during it, and after it. All are discarded; the handshake completes,
 * DTLS stays up, media flows, another session is unaffected.
 */
static void t_bi38_bad_records(void)
{
	struct fx f;
	fx_init(&f, 5);
	struct bystander y;
	bystander_start(&f, &y);
	for (int role = 0; role < 2; role++) {
		memset(f.n_ev, 0, sizeof(f.n_ev));
		struct call c;
		enum relay_dtls_role r = role ? RELAY_DTLS_ACTIVE : RELAY_DTLS_PASSIVE;
		call_start(&c, &f, r, true, "SRTP_AEAD_AES_128_GCM");
		send_bad_records(c.p->fd[0], c.p->to[0]);
		/* a ClientHello whose cookie is not ours, from the phone's address */
		uint8_t ch[2048];
		size_t chn = client_hello("SRTP_AEAD_AES_128_GCM", ch, sizeof(ch));
		/* insert a 20-byte cookie: the cookie length byte is after version, random and
		 * an empty session id (13 + 12 + 2 + 32 + 1) */
		size_t at = 13 + 12 + 2 + 32 + 1;
		uint8_t bad[2100];
		memcpy(bad, ch, at);
		bad[at] = 20;
		memset(bad + at + 1, 0xcc, 20);
		memcpy(bad + at + 21, ch + at + 1, chn - at - 1);
		size_t bn = chn + 20;
		size_t rl = ((size_t)bad[11] << 8 | bad[12]) + 20, ml = ((size_t)bad[14] << 16 |
		                                                          (size_t)bad[15] << 8 | bad[16]) + 20;
		bad[11] = (uint8_t)(rl >> 8);
		bad[12] = (uint8_t)rl;
		bad[14] = (uint8_t)(ml >> 16);
		bad[15] = (uint8_t)(ml >> 8);
		bad[16] = (uint8_t)ml;
		bad[22] = (uint8_t)(ml >> 16);
		bad[23] = (uint8_t)(ml >> 8);
		bad[24] = (uint8_t)ml;
		send_to(c.p->fd[0], c.p->to[0], bad, bn);
		pump(&f);
		g_usleep(50 * 1000);
		pump(&f);
		TAP_CHECK_INT(f.n_ev[RELAY_EV_DTLS_FAILED], 0);
		/* during: interleave bad records with the real flights */
		dpeer_step(c.p, 0);
		send_bad_records(c.p->fd[0], c.p->to[0]);
		bool up = handshake(&f, c.p, 1, 4000);
		TAP_CHECK(up);
		TAP_CHECK_INT(f.n_ev[RELAY_EV_DTLS_FAILED], 0);
		if (!up) {
			printf("#   peer ok=%d failed=%d, relay events connected=%u failed=%u (%s)\n",
			       c.p->ok[0], c.p->failed[0], f.n_ev[RELAY_EV_DTLS_CONNECTED],
			       f.n_ev[RELAY_EV_DTLS_FAILED], f.dtls_detail);
			call_end(&c);
			break;
		}
		/* after */
		send_bad_records(c.p->fd[0], c.p->to[0]);
		send_to(c.p->fd[0], c.p->to[0], bad, bn);
		g_usleep(50 * 1000);
		pump(&f);
		TAP_CHECK_INT(f.n_ev[RELAY_EV_DTLS_FAILED], 0);
		int to_b, to_p;
		media_both_ways(&c, 1, 5, &to_b, &to_p);
		TAP_CHECK_INT(to_b, 5);
		TAP_CHECK_INT(to_p, 5);
		printf("# relay %s: handshake done through the bad records, media 5/5 both ways\n",
		       role ? "active" : "passive");
		call_end(&c);
	}
	TAP_CHECK_INT(bystander_flow(&y, 5), 5);
	bystander_end(&y);
	fx_done(&f);
}

/* One attempt with a hello that must fail: HelloVerifyRequest round trip, then the hello
 * with the cookie. patch_mki: the use_srtp MKI length is made to run past the extension. */
static bool failing_attempt(struct fx *f, const char *profiles, bool patch_mki,
			    const char *want)
{
	struct call c;
	memset(&c, 0, sizeof(c));
	c.b = udp_on("127.0.0.1");
	c.p = dpeer_new(f, true, true, profiles);
	c.f = f;
	memset(f->n_ev, 0, sizeof(f->n_ev));
	struct relay_session_params sp = dtls_params(&c, RELAY_DTLS_PASSIVE, false);
	call_start_p(&c, f, c.p, &sp);
	dpeer_step(c.p, 0); /* ClientHello */
	uint8_t q[2048];
	ssize_t n = recv_in(c.p->fd[0], q, sizeof(q), 1000 * tmul()); /* HelloVerifyRequest */
	bool ok = n > 0;
	if (ok) {
		BIO_write(c.p->rb[0], q, (int)n);
		SSL_do_handshake(c.p->ssl[0]);
		ERR_clear_error();
		int m = BIO_read(c.p->wb[0], q, sizeof(q)); /* ClientHello with the cookie */
		ok = m > 0;
		if (ok && patch_mki) {
			/* find use_srtp (type 0x000e) and set its MKI length past the end */
			for (int i = 13 + 12; i + 6 < m; i++) {
				if (q[i] == 0 && q[i + 1] == 0x0e && q[i + 2] == 0) {
					size_t el = q[i + 3];
					size_t pl = (size_t)q[i + 4] << 8 | q[i + 5];
					if (el == pl + 3 && i + 4 + el <= (size_t)m) {
						q[i + 4 + 2 + pl] = 0xff;
						break;
					}
				}
			}
		}
		if (ok)
			send_to(c.p->fd[0], c.p->to[0], q, (size_t)m);
		gint64 end = g_get_monotonic_time() + G_USEC_PER_SEC * tmul();
		while (!f->n_ev[RELAY_EV_DTLS_FAILED] && g_get_monotonic_time() < end) {
			pump(f);
			g_usleep(200);
		}
		ok = f->n_ev[RELAY_EV_DTLS_FAILED] == 1 && !strcmp(f->dtls_detail, want) &&
		     f->n_ev[RELAY_EV_DTLS_CONNECTED] == 0;
		if (!ok)
			printf("#   attempt: failed=%u detail \"%s\", wanted \"%s\"\n",
			       f->n_ev[RELAY_EV_DTLS_FAILED], f->dtls_detail, want);
	}
	call_end(&c);
	/* the slot comes back once the worker closed the session: wait, so 10,000 attempts
	 * never outrun a slow worker (ASan) and run out of ports */
	if (!ports_back(f)) {
		printf("#   attempt: the session's ports did not come back in time\n");
		ok = false;
	}
	return ok;
}

/*
 * BI-39: a use_srtp extension with no common profile, or with an MKI that runs past the
 * extension, fails the handshake at the ClientHello; 10,000 such attempts (a new session
 * each, as the association is dead after one) leave no memory behind. Renegotiation after
 * the handshake is refused and DTLS stays up.
 */
static void t_bi39_use_srtp(void)
{
	struct fx f;
	fx_init(&f, 3);
	TAP_CHECK(failing_attempt(&f, "SRTP_AES128_CM_SHA1_32", false, "no common SRTP profile"));
	TAP_CHECK(failing_attempt(&f, "SRTP_AEAD_AES_128_GCM", true,
	                          "malformed use_srtp extension"));
	/* memcheck counts leaks itself: fewer attempts under valgrind */
	unsigned attempts = getenv("GORGEE_UNDER_VALGRIND") ? 300 : 10000, bad = 0;
	long rss0 = 0;
	gint64 t0 = g_get_monotonic_time();
	for (unsigned i = 0; i < attempts; i++) {
		if (i == attempts / 10)
			rss0 = rss_kb(); /* after the allocator's pools warmed up */
		bad += !failing_attempt(&f, i % 2 ? "SRTP_AES128_CM_SHA1_32" : "SRTP_AEAD_AES_128_GCM",
		                        i % 2 == 0,
		                        i % 2 ? "no common SRTP profile" : "malformed use_srtp extension");
	}
	long rss1 = rss_kb();
	printf("# %u failing attempts in %.1f s, %u not as expected; RSS %ld -> %ld kB\n",
	       attempts, (double)(g_get_monotonic_time() - t0) / 1e6, bad, rss0, rss1);
	TAP_CHECK_INT(bad, 0);
	TAP_CHECK(RSS_GROWTH_OK(rss1 - rss0));

	/* renegotiation after the handshake: the relay answers the peer's encrypted
	 * ClientHello with an alert (no_renegotiation), never a ServerHello. Then 10,000
	 * copies of that record under other sequence numbers (forged: they fail the record
	 * MAC and are dropped) leave no memory behind and the association up. */
	struct call c;
	memset(f.n_ev, 0, sizeof(f.n_ev));
	call_start(&c, &f, RELAY_DTLS_PASSIVE, true, "SRTP_AEAD_AES_128_GCM");
	TAP_CHECK(handshake(&f, c.p, 1, 3000));
	TAP_CHECK_INT(SSL_renegotiate(c.p->ssl[0]), 1);
	SSL_do_handshake(c.p->ssl[0]);
	ERR_clear_error();
	uint8_t reneg[2048], q[2048];
	int rn = BIO_read(c.p->wb[0], reneg, sizeof(reneg));
	TAP_CHECK(rn > 13 && reneg[0] == 22 && reneg[4] == 1); /* handshake at epoch 1 */
	send_to(c.p->fd[0], c.p->to[0], reneg, (size_t)rn);
	ssize_t an = recv_in(c.p->fd[0], q, sizeof(q), 1000 * tmul());
	TAP_CHECK(an > 13 && q[0] == 21 && q[4] == 1); /* an encrypted alert, not a hello */
	long r0 = rss_kb();
	for (int i = 0; i < 10000 / tmul(); i++) {
		/* a fresh record sequence number (bytes 5..10) each time */
		uint64_t seq = 1000 + (uint64_t)i;
		for (int b = 0; b < 6; b++)
			reneg[5 + b] = (uint8_t)(seq >> (40 - 8 * b));
		send_to(c.p->fd[0], c.p->to[0], reneg, (size_t)rn);
		if (i % 200 == 0) {
			g_usleep(1000);
			while (recv(c.p->fd[0], q, sizeof(q), MSG_DONTWAIT) > 0)
				;
		}
	}
	g_usleep(100 * 1000);
	pump(&f);
	long r1 = rss_kb();
	printf("# %d forged renegotiation records: RSS %ld -> %ld kB\n", 10000 / tmul(), r0, r1);
	TAP_CHECK(RSS_GROWTH_OK(r1 - r0));
	TAP_CHECK_INT(f.n_ev[RELAY_EV_DTLS_FAILED], 0);
	while (recv(c.p->fd[0], q, sizeof(q), MSG_DONTWAIT) > 0)
		;
	int to_b, to_p;
	media_both_ways(&c, 1, 3, &to_b, &to_p);
	TAP_CHECK_INT(to_b, 3);
	TAP_CHECK_INT(to_p, 3);
	call_end(&c);
	fx_done(&f);
}

/* DTLS cases: OpenSSL's per-thread error and DRBG state and the worker's allocator make
 * the glibc heap delta noisy; memcheck and LeakSanitizer check these cases. */
/* Video as stream 1 between two plain SIP sides (no bundle): its endpoint toward the phone
 * runs an association of its own on its own ports (RFC 5764 without BUNDLE) while the audio
 * stays plain; a renegotiation keeps the association and its keys; the stream's removal
 * returns its ports. */
static void t_stream_dtls(void)
{
	struct fx f;
	fx_init(&f, 3);
	struct call c;
	memset(&c, 0, sizeof(c));
	c.f = &f;
	c.b = udp_on("127.0.0.1");
	int a = udp_on("127.0.0.1"), ab = udp_on("127.0.0.1");
	c.p = dpeer_new(&f, true, false, "SRTP_AEAD_AES_128_GCM");
	struct relay_session_params sp;
	memset(&sp, 0, sizeof(sp));
	sp.ep[0].remote_rtp = addr_of(a);
	sp.ep[0].rtcp_mux = true;
	sp.ep[1].remote_rtp = addr_of(ab);
	sp.ep[1].rtcp_mux = true;
	sp.on_event = on_event;
	sp.arg = &f;
	sp.call_id = "dtls-stream";
	struct relay_local loc[2], xl[2][RELAY_MAX_STREAMS - 1];
	TAP_CHECK_INT(relay_session_new(f.r, &sp, loc, &c.s), 0);
	struct relay_streams st;
	memset(&st, 0, sizeof(st));
	st.n = 2;
	st.bundled = RELAY_BUNDLE_NONE;
	struct relay_endpoint_params *ve = &st.ep[0][0]; /* the phone's video: DTLS */
	ve->dtls = true;
	ve->ice.dtls_role = RELAY_DTLS_PASSIVE;
	g_strlcpy(ve->ice.remote_fp_hash, "sha-256", sizeof(ve->ice.remote_fp_hash));
	memcpy(ve->ice.remote_fp, c.p->fp, 32);
	ve->ice.remote_fp_len = 32;
	ve->remote_rtp = addr_of(c.p->fd[0]);
	ve->remote_rtcp = addr_of(c.p->fd[1]);
	ve->learn = true;
	st.ep[1][0].remote_rtp = addr_of(c.b);
	st.ep[1][0].rtcp_mux = true;
	TAP_CHECK_INT(relay_session_set_streams(c.s, &st, xl), 0);
	c.p->to[0] = xl[0][0].rtp_port;
	c.p->to[1] = xl[0][0].rtcp_port;
	c.loc[1] = xl[1][0];
	TAP_CHECK(xl[0][0].rtcp_port == xl[0][0].rtp_port + 1 && xl[0][0].rtp_port != loc[0].rtp_port);
	TAP_CHECK(handshake(&f, c.p, 2, 4000)); /* RTP and RTCP associations */
	TAP_CHECK_INT(f.n_ev[RELAY_EV_DTLS_FAILED], 0);
	TAP_CHECK_STR(f.dtls_detail, "SRTP_AEAD_AES_128_GCM");
	int to_b, to_p;
	media_both_ways(&c, 10, 10, &to_b, &to_p);
	TAP_CHECK_INT(to_b, 10);
	TAP_CHECK_INT(to_p, 10);
	/* the audio is plain and unaffected */
	uint8_t pk[300], q[2048];
	size_t len = make_rtp(pk, 1, 0x99, 160);
	send_to(a, loc[0].rtp_port, pk, len);
	TAP_CHECK_INT(recv_in(ab, q, sizeof(q), 1000), (ssize_t)len);
	/* renegotiation with the same role and fingerprint: same association, same keys */
	struct relay_local xl2[2][RELAY_MAX_STREAMS - 1];
	TAP_CHECK_INT(relay_session_set_streams(c.s, &st, xl2), 0);
	TAP_CHECK_INT(xl2[0][0].rtp_port, xl[0][0].rtp_port);
	pump(&f);
	g_usleep(20000);
	media_both_ways(&c, 30, 5, &to_b, &to_p);
	TAP_CHECK_INT(to_b, 5);
	TAP_CHECK_INT(to_p, 5);
	TAP_CHECK_INT(f.n_ev[RELAY_EV_DTLS_CONNECTED], 2);
	struct relay_session_stats ss = stats(&f, c.s);
	TAP_CHECK_INT(ss.n_streams, 2);
	TAP_CHECK_INT(ss.stream[1][0].packets_in, 15);
	TAP_CHECK_INT(ss.stream[1][1].packets_out, 15);
	/* the stream goes: its ports (and the association) with it */
	st.n = 1;
	TAP_CHECK_INT(relay_session_set_streams(c.s, &st, xl2), 0);
	gint64 end = g_get_monotonic_time() + 2 * G_USEC_PER_SEC * tmul();
	while (relay_ports_in_use(relay_get_ports(f.r)) != 2 && g_get_monotonic_time() < end) {
		pump(&f);
		g_usleep(1000);
	}
	TAP_CHECK_INT(relay_ports_in_use(relay_get_ports(f.r)), 2);
	call_end(&c);
	close(a);
	close(ab);
	fx_done(&f);
}

static const struct tap_case cases[] = {
	{"DTLS on UDP: relay passive, rtcp-mux, AEAD_AES_128_GCM, nothing before the keys",
	 t_passive_mux_gcm, 1},
	{"DTLS on UDP: relay active, rtcp-mux, AES_CM_128_HMAC_SHA1_80", t_active_mux_cm80, 1},
	{"DTLS on UDP: relay passive, separate RTCP (two associations), AES_CM_128_HMAC_SHA1_80",
	 t_passive_rtcp_cm80, 1},
	{"DTLS on UDP: relay active, separate RTCP (two associations), AEAD_AES_128_GCM",
	 t_active_rtcp_gcm, 1},
	{"DTLS on UDP: a ClientHello in fragments (larger than a datagram) completes", t_fragmented_hello,
	 1},
	{"DTLS on UDP: fingerprint mismatch (relay server) fails, nothing forwarded",
	 t_fp_mismatch_passive, 1},
	{"DTLS on UDP: fingerprint mismatch (relay client) fails, nothing forwarded",
	 t_fp_mismatch_active, 1},
	{"DTLS on UDP: handshake timeout; no start before address and fingerprint; answer by update",
	 t_timeout, 1},
	{"DTLS on UDP: bad parameters refused", t_bad_params, 1},
	{"DTLS on both endpoints (SIP⇄SIP): relay server and client, SRTP re-encrypted", t_dtls_both_sides,
	 1},
	{"DTLS on a stream's own endpoint (video, no bundle): its own association beside plain "
	 "audio, kept through a renegotiation, gone with the stream",
	 t_stream_dtls, 1},
	{"BI-37 ClientHello flood from other sources during setup: stateless HVR, legit handshake "
	 "finishes, other session unaffected",
	 t_bi37_hello_flood, 1},
	{"BI-38 malformed/overlapping fragments, out-of-order, huge epoch/seq, heartbeats, foreign "
	 "cookie: discarded before, during and after the handshake",
	 t_bi38_bad_records, 1},
	{"BI-39 use_srtp without a common profile or with a garbage MKI fails at the hello; "
	 "no memory growth over the attempts; renegotiation refused",
	 t_bi39_use_srtp, 1},
};

TAP_MAIN(cases)
