/* Integration test: a relay session with an ICE + DTLS-SRTP endpoint facing a "browser" (a
 * libnice agent and an OpenSSL DTLS peer on their own thread) and a plain RTP endpoint
 * facing a UDP socket, all over 127.0.0.1 (BI-27, BI-28, BI-29, BI-33, BI-34, BI-40, SEC-11,
 * SEC-12); TURN through a coturn the test starts, ICE-TCP, IPv6. */
#define _GNU_SOURCE /* RUSAGE_THREAD */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <nice/agent.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/srtp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <valgrind/valgrind.h>
#include <sys/wait.h>
#include <sys/socket.h>

#include "core.h"
#include "relay.h"
#include "tap.h"
#include "testnet.h"
#include "testudp.h"

/* ---- the browser side: libnice + DTLS client/server + libsrtp, on its own thread ---- */

struct peer {
	GMainContext *ctx;
	GMainLoop *loop;
	GThread *th;
	NiceAgent *agent;
	guint stream;
	bool controlling, client;
	const char *profiles;
	uint16_t port;
	SSL_CTX *sctx;
	SSL *ssl;
	BIO *rbio, *wbio;
	GSource *tick;
	uint8_t want_fp[32]; /* the relay's certificate, from relay_dtls_fingerprint */
	struct relay_srtp *tx, *rx;
	uint8_t fp[32]; /* ours */
	/* read by the test thread under mu */
	GMutex mu;
	GPtrArray *cands;
	bool gathered, ice_ok, ice_failed, dtls_ok, dtls_failed;
	char profile[64];
	char ufrag[64], pwd[64];
	GPtrArray *got; /* GBytes: unprotected RTP/RTCP that arrived */
	unsigned got_raw;
};

typedef void peer_fn(struct peer *p, void *arg);

/* The address the "browser" gathers its host candidate on; whether it uses TCP only. */
static const char *peer_ip = "127.0.0.1";
static gboolean peer_tcp_only;

struct peer_call {
	struct peer *p;
	peer_fn *fn;
	void *arg;
	GMutex mu;
	GCond cond;
	bool done;
};

static gboolean peer_call_run(gpointer data)
{
	struct peer_call *c = data;
	c->fn(c->p, c->arg);
	g_mutex_lock(&c->mu);
	c->done = true;
	g_cond_signal(&c->cond);
	g_mutex_unlock(&c->mu);
	return G_SOURCE_REMOVE;
}

/* Runs fn on the peer's thread and waits for it. */
static void peer_run(struct peer *p, peer_fn *fn, void *arg)
{
	struct peer_call c = {.p = p, .fn = fn, .arg = arg};
	g_mutex_init(&c.mu);
	g_cond_init(&c.cond);
	g_main_context_invoke(p->ctx, peer_call_run, &c);
	g_mutex_lock(&c.mu);
	while (!c.done)
		g_cond_wait(&c.cond, &c.mu);
	g_mutex_unlock(&c.mu);
	g_mutex_clear(&c.mu);
	g_cond_clear(&c.cond);
}

static gpointer peer_main(gpointer data)
{
	struct peer *p = data;
	g_main_context_push_thread_default(p->ctx);
	g_main_loop_run(p->loop);
	g_main_context_pop_thread_default(p->ctx);
	return NULL;
}

static void flush_dtls(struct peer *p)
{
	uint8_t buf[4096];
	int n;
	while ((n = BIO_read(p->wbio, buf, sizeof(buf))) > 0)
		nice_agent_send(p->agent, p->stream, 1, (guint)n, (const gchar *)buf);
}

static void peer_keys(struct peer *p)
{
	const SRTP_PROTECTION_PROFILE *prof = SSL_get_selected_srtp_profile(p->ssl);
	enum relay_srtp_suite su = prof->id == SRTP_AEAD_AES_128_GCM
	                                   ? RELAY_SRTP_AEAD_AES_128_GCM
	                                   : RELAY_SRTP_AES_CM_128_HMAC_SHA1_80;
	size_t k = 16, s = su == RELAY_SRTP_AEAD_AES_128_GCM ? 12 : 14;
	uint8_t km[60], ck[30], sk[30];
	SSL_export_keying_material(p->ssl, km, 2 * (k + s), "EXTRACTOR-dtls_srtp", 19, NULL, 0, 0);
	memcpy(ck, km, k);
	memcpy(sk, km + k, k);
	memcpy(ck + k, km + 2 * k, s);
	memcpy(sk + k, km + 2 * k + s, s);
	relay_srtp_new(su, p->client ? ck : sk, k + s, false, &p->tx);
	relay_srtp_new(su, p->client ? sk : ck, k + s, true, &p->rx);
	g_mutex_lock(&p->mu);
	g_strlcpy(p->profile, prof->name, sizeof(p->profile));
	p->dtls_ok = true;
	g_mutex_unlock(&p->mu);
}

static void dtls_step(struct peer *p)
{
	if (p->dtls_ok || p->dtls_failed)
		return;
	int rc = SSL_do_handshake(p->ssl);
	if (rc == 1) {
		peer_keys(p);
	} else if (SSL_get_error(p->ssl, rc) != SSL_ERROR_WANT_READ) {
		g_mutex_lock(&p->mu);
		p->dtls_failed = true;
		g_mutex_unlock(&p->mu);
		ERR_clear_error();
	}
	flush_dtls(p);
}

static gboolean peer_tick(gpointer data)
{
	struct peer *p = data;
	if (p->ssl && !p->dtls_ok && !p->dtls_failed && DTLSv1_handle_timeout(p->ssl) > 0)
		flush_dtls(p);
	return G_SOURCE_CONTINUE;
}

static void peer_recv(NiceAgent *a, guint stream, guint comp, guint len, gchar *buf, gpointer d)
{
	struct peer *p = d;
	const uint8_t *b = (const uint8_t *)buf;
	g_mutex_lock(&p->mu);
	p->got_raw++;
	g_mutex_unlock(&p->mu);
	if (len && b[0] >= 20 && b[0] <= 63) {
		BIO_write(p->rbio, b, (int)len);
		dtls_step(p);
		if (p->dtls_ok) { /* alerts after the handshake */
			uint8_t sink[256];
			SSL_read(p->ssl, sink, sizeof(sink));
			ERR_clear_error();
		}
	} else if (len && b[0] >= 128 && b[0] <= 191 && p->rx) {
		uint8_t q[2048];
		size_t n = len;
		memcpy(q, b, len);
		if (relay_srtp_unprotect(p->rx, relay_is_rtcp(q, n), q, &n) == 0) {
			g_mutex_lock(&p->mu);
			g_ptr_array_add(p->got, g_bytes_new(q, n));
			g_mutex_unlock(&p->mu);
		}
	}
}

static void peer_cand(NiceAgent *a, NiceCandidate *c, gpointer d)
{
	struct peer *p = d;
	gchar *s = nice_agent_generate_local_candidate_sdp(a, c);
	g_mutex_lock(&p->mu);
	g_ptr_array_add(p->cands, s);
	g_mutex_unlock(&p->mu);
}

static void peer_gathered(NiceAgent *a, guint stream, gpointer d)
{
	struct peer *p = d;
	g_mutex_lock(&p->mu);
	p->gathered = true;
	g_mutex_unlock(&p->mu);
}

static void peer_state(NiceAgent *a, guint stream, guint comp, guint st, gpointer d)
{
	struct peer *p = d;
	if (st == NICE_COMPONENT_STATE_CONNECTED || st == NICE_COMPONENT_STATE_READY) {
		g_mutex_lock(&p->mu);
		bool first = !p->ice_ok;
		p->ice_ok = true;
		p->ice_failed = false;
		g_mutex_unlock(&p->mu);
		if (first && p->client)
			dtls_step(p);
	} else if (st == NICE_COMPONENT_STATE_FAILED) {
		g_mutex_lock(&p->mu);
		p->ice_failed = true;
		p->ice_ok = false;
		g_mutex_unlock(&p->mu);
	}
}

static int peer_verify(int ok, X509_STORE_CTX *xs)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct peer *p = SSL_get_app_data(ssl);
	if (X509_STORE_CTX_get_error_depth(xs))
		return 1;
	uint8_t h[32];
	unsigned n = 0;
	X509_digest(X509_STORE_CTX_get_current_cert(xs), EVP_sha256(), h, &n);
	return n == 32 && memcmp(h, p->want_fp, 32) == 0;
}

static void make_cert(EVP_PKEY **key, X509 **cert)
{
	*key = EVP_EC_gen("P-256");
	*cert = X509_new();
	X509_set_version(*cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(*cert), 1);
	X509_gmtime_adj(X509_getm_notBefore(*cert), -3600);
	X509_gmtime_adj(X509_getm_notAfter(*cert), 3600);
	X509_set_pubkey(*cert, *key);
	X509_NAME *nm = X509_get_subject_name(*cert);
	X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)"peer", -1, -1,
	                           0);
	X509_set_issuer_name(*cert, nm);
	X509_sign(*cert, *key, EVP_sha256());
}

static void peer_setup(struct peer *p, void *arg)
{
	(void)arg;
	p->agent = nice_agent_new_full(p->ctx, NICE_COMPATIBILITY_RFC5245,
	                               NICE_AGENT_OPTION_REGULAR_NOMINATION |
	                                       NICE_AGENT_OPTION_ICE_TRICKLE);
	g_object_set(p->agent, "controlling-mode", p->controlling, "upnp", FALSE, "ice-tcp",
	             peer_tcp_only, "ice-udp", !peer_tcp_only, NULL);
	NiceAddress a;
	nice_address_init(&a);
	nice_address_set_from_string(&a, peer_ip);
	nice_agent_add_local_address(p->agent, &a);
	p->stream = nice_agent_add_stream(p->agent, 1);
	nice_agent_set_port_range(p->agent, p->stream, 1, p->port, p->port);
	g_signal_connect(p->agent, "new-candidate-full", G_CALLBACK(peer_cand), p);
	g_signal_connect(p->agent, "candidate-gathering-done", G_CALLBACK(peer_gathered), p);
	g_signal_connect(p->agent, "component-state-changed", G_CALLBACK(peer_state), p);
	nice_agent_attach_recv(p->agent, p->stream, 1, p->ctx, peer_recv, p);
	gchar *u = NULL, *w = NULL;
	nice_agent_get_local_credentials(p->agent, p->stream, &u, &w);
	g_mutex_lock(&p->mu);
	g_strlcpy(p->ufrag, u, sizeof(p->ufrag));
	g_strlcpy(p->pwd, w, sizeof(p->pwd));
	g_mutex_unlock(&p->mu);
	g_free(u);
	g_free(w);

	EVP_PKEY *key;
	X509 *cert;
	make_cert(&key, &cert);
	unsigned n = 0;
	X509_digest(cert, EVP_sha256(), p->fp, &n);
	p->sctx = SSL_CTX_new(DTLS_method());
	SSL_CTX_use_certificate(p->sctx, cert);
	SSL_CTX_use_PrivateKey(p->sctx, key);
	EVP_PKEY_free(key);
	X509_free(cert);
	SSL_CTX_set_tlsext_use_srtp(p->sctx, p->profiles);
	SSL_CTX_set_verify(p->sctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, peer_verify);
	p->ssl = SSL_new(p->sctx);
	SSL_set_app_data(p->ssl, p);
	p->rbio = BIO_new(BIO_s_mem());
	p->wbio = BIO_new(BIO_s_mem());
	BIO_set_mem_eof_return(p->rbio, -1);
	SSL_set_bio(p->ssl, p->rbio, p->wbio);
	if (p->client)
		SSL_set_connect_state(p->ssl);
	else
		SSL_set_accept_state(p->ssl);
	p->tick = g_timeout_source_new(20);
	g_source_set_callback(p->tick, peer_tick, p, NULL);
	g_source_attach(p->tick, p->ctx);
	nice_agent_gather_candidates(p->agent, p->stream);
}

static void fp_bytes(const char *s, uint8_t out[32])
{
	/* "sha-256 AB:CD:..." */
	const char *h = strchr(s, ' ');
	for (int i = 0; h && i < 32; i++) {
		unsigned v = 0;
		sscanf(h + 1 + 3 * i, "%2X", &v);
		out[i] = (uint8_t)v;
	}
}

static struct peer *peer_new(struct relay *r, bool controlling, bool client, const char *profiles,
			     uint16_t port)
{
	struct peer *p = g_new0(struct peer, 1);
	g_mutex_init(&p->mu);
	p->controlling = controlling;
	p->client = client;
	p->profiles = profiles;
	p->port = port;
	p->cands = g_ptr_array_new_with_free_func(g_free);
	p->got = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	fp_bytes(relay_dtls_fingerprint(r), p->want_fp);
	p->ctx = g_main_context_new();
	p->loop = g_main_loop_new(p->ctx, FALSE);
	p->th = g_thread_new("peer", peer_main, p);
	peer_run(p, peer_setup, NULL);
	return p;
}

static void peer_teardown(struct peer *p, void *arg)
{
	(void)arg;
	g_source_destroy(p->tick);
	g_source_unref(p->tick);
	relay_srtp_free(p->tx);
	relay_srtp_free(p->rx);
	SSL_free(p->ssl);
	SSL_CTX_free(p->sctx);
	g_signal_handlers_disconnect_by_data(p->agent, p);
	nice_agent_attach_recv(p->agent, p->stream, 1, p->ctx, NULL, NULL);
	/* without this a connected agent is never finalized (libnice 0.1.21) */
	nice_agent_remove_stream(p->agent, p->stream);
	g_object_unref(p->agent);
	g_main_loop_quit(p->loop);
}

static void peer_free(struct peer *p)
{
	peer_run(p, peer_teardown, NULL);
	g_thread_join(p->th);
	while (g_main_context_iteration(p->ctx, FALSE))
		;
	g_main_loop_unref(p->loop);
	g_main_context_unref(p->ctx);
	g_ptr_array_free(p->cands, TRUE);
	g_ptr_array_free(p->got, TRUE);
	g_mutex_clear(&p->mu);
	ERR_clear_error();
	g_free(p);
}

struct creds {
	const char *ufrag, *pwd;
};

static void peer_set_remote(struct peer *p, void *arg)
{
	struct creds *c = arg;
	nice_agent_set_remote_credentials(p->agent, p->stream, c->ufrag, c->pwd);
}

static void peer_add_cand(struct peer *p, void *arg)
{
	char *line = g_strconcat("a=", (const char *)arg, NULL);
	NiceCandidate *c = nice_agent_parse_remote_candidate_sdp(p->agent, p->stream, line);
	if (c) {
		GSList l = {.data = c};
		nice_agent_set_remote_candidates(p->agent, p->stream, 1, &l);
		nice_candidate_free(c);
	} else {
		printf("# peer could not parse %s\n", line);
	}
	g_free(line);
}

static void peer_restart(struct peer *p, void *arg)
{
	(void)arg;
	nice_agent_restart_stream(p->agent, p->stream);
	gchar *u = NULL, *w = NULL;
	nice_agent_get_local_credentials(p->agent, p->stream, &u, &w);
	g_mutex_lock(&p->mu);
	g_strlcpy(p->ufrag, u, sizeof(p->ufrag));
	g_strlcpy(p->pwd, w, sizeof(p->pwd));
	p->ice_ok = false;
	g_mutex_unlock(&p->mu);
	g_free(u);
	g_free(w);
}

struct pkt {
	const uint8_t *b;
	size_t n;
	bool protect;
};

static void peer_send(struct peer *p, void *arg)
{
	struct pkt *k = arg;
	uint8_t q[2048];
	size_t n = k->n;
	memcpy(q, k->b, n);
	/* no keys: the handshake failed (counted where it was checked); send nothing rather
	 * than crash the rest of the cases */
	if (k->protect && (!p->tx || relay_srtp_protect(p->tx, relay_is_rtcp(q, n), q, &n,
							 sizeof(q))))
		return;
	nice_agent_send(p->agent, p->stream, 1, (guint)n, (const gchar *)q);
}

/* ---- the relay, its events, the plain side ---- */

struct fx {
	GMainContext *ctx;
	struct relay *r;
	uint16_t base;
	/* events from the relay */
	GPtrArray *cands;
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
	if (ev == RELAY_EV_CANDIDATE)
		g_ptr_array_add(f->cands, g_strdup(d));
	if (ev == RELAY_EV_DTLS_CONNECTED || ev == RELAY_EV_DTLS_FAILED)
		g_strlcpy(f->dtls_detail, d ? d : "", sizeof(f->dtls_detail));
}

static void fx_init_cfg(struct fx *f, struct relay_config *cfg)
{
	memset(f, 0, sizeof(*f));
	f->ctx = g_main_context_new();
	g_main_context_push_thread_default(f->ctx);
	f->base = test_port_range_base();
	f->cands = g_ptr_array_new_with_free_func(g_free);
	cfg->workers = 1;
	cfg->bind_addr = "127.0.0.1";
	cfg->port_min = f->base;
	cfg->port_max = (uint16_t)(f->base + 99);
	cfg->dtls_timeout_secs = cfg->dtls_timeout_secs ? cfg->dtls_timeout_secs : 3;
	TAP_CHECK_INT(relay_new(cfg, &f->r), 0);
}

static void fx_init(struct fx *f)
{
	struct relay_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	fx_init_cfg(f, &cfg);
}

static void pump(struct fx *f, int ms)
{
	gint64 end = g_get_monotonic_time() + ms * 1000;
	do {
		while (g_main_context_iteration(f->ctx, FALSE))
			;
		g_usleep(1000);
	} while (g_get_monotonic_time() < end);
}

static void fx_done(struct fx *f)
{
	relay_free(f->r);
	while (g_main_context_iteration(f->ctx, FALSE))
		;
	g_main_context_pop_thread_default(f->ctx);
	g_main_context_unref(f->ctx);
	g_ptr_array_free(f->cands, TRUE);
	ERR_clear_error();
}

static bool peer_flag(struct peer *p, const bool *flag)
{
	g_mutex_lock(&p->mu);
	bool v = *flag;
	g_mutex_unlock(&p->mu);
	return v;
}

/* Pumps the relay's events until cond (a peer flag or an event count) holds. */
#define WAIT_FOR(f, cond, ms)                                     \
	({                                                        \
		gint64 end_ = g_get_monotonic_time() + (ms)*1000; \
		while (!(cond) && g_get_monotonic_time() < end_)  \
			pump(f, 2);                               \
		(cond);                                           \
	})






/* Opus packets */
#define make_rtp(b, seq, ssrc, n) test_rtp((b), 111, 960, (seq), (ssrc), (n))

/* ---- one call: set up, connect, check media ---- */

struct call {
	struct fx *f;
	struct peer *p;
	int b;
	struct relay_session *s;
	struct relay_local loc[2];
	size_t cands_sent; /* relay candidates already given to the peer */
	size_t peer_cands_sent;
	bool mdns; /* the browser hides its addresses behind mDNS names */
};

static struct relay_session_params ice_params(struct call *c, bool controlling,
					      enum relay_dtls_role role, bool with_creds)
{
	struct relay_session_params p;
	memset(&p, 0, sizeof(p));
	p.ep[0].kind = RELAY_EP_ICE;
	p.ep[0].ice.controlling = controlling;
	p.ep[0].ice.dtls_role = role;
	if (with_creds) {
		g_mutex_lock(&c->p->mu);
		g_strlcpy(p.ep[0].ice.remote_ufrag, c->p->ufrag, sizeof(p.ep[0].ice.remote_ufrag));
		g_strlcpy(p.ep[0].ice.remote_pwd, c->p->pwd, sizeof(p.ep[0].ice.remote_pwd));
		g_mutex_unlock(&c->p->mu);
	}
	g_strlcpy(p.ep[0].ice.remote_fp_hash, "sha-256", sizeof(p.ep[0].ice.remote_fp_hash));
	memcpy(p.ep[0].ice.remote_fp, c->p->fp, 32);
	p.ep[0].ice.remote_fp_len = 32;
	p.ep[1].remote_rtp = addr_of(c->b);
	p.ep[1].rtcp_mux = true;
	p.call_id = "ice-call";
	p.on_event = on_event;
	p.arg = c->f;
	return p;
}

/* Trickles whatever each side has gathered so far to the other. */
static void trickle(struct call *c)
{
	for (; c->cands_sent < c->f->cands->len; c->cands_sent++)
		peer_run(c->p, peer_add_cand, c->f->cands->pdata[c->cands_sent]);
	for (;;) {
		g_mutex_lock(&c->p->mu);
		char *line = c->peer_cands_sent < c->p->cands->len
		                     ? g_strdup(c->p->cands->pdata[c->peer_cands_sent])
		                     : NULL;
		g_mutex_unlock(&c->p->mu);
		if (!line)
			break;
		if (c->mdns) { /* as a browser without media permission: a .local name */
			char *ip = strstr(line, " 127.0.0.1 ");
			TAP_CHECK(ip != NULL);
			if (ip) {
				*ip = '\0';
				char *named = g_strdup_printf("%s 1f0e5d2c-8b7a-4c3d-9e8f-0a1b2c3d4e5f.local %s",
				                              line, ip + 11);
				g_free(line);
				line = named;
			}
		}
		/* libnice writes "a=candidate:...": the prefix is accepted */
		TAP_CHECK_INT(relay_session_add_candidate(c->s, 0, line), 0);
		g_free(line);
		c->peer_cands_sent++;
	}
}

static bool connect_all(struct call *c, unsigned dtls_events)
{
	struct fx *f = c->f;
	gint64 end = g_get_monotonic_time() + 4 * G_USEC_PER_SEC;
	bool eoc = false;
	while (g_get_monotonic_time() < end) {
		pump(f, 2);
		trickle(c);
		if (!eoc && peer_flag(c->p, &c->p->gathered) && f->n_ev[RELAY_EV_GATHERING_DONE]) {
			trickle(c);
			relay_session_end_of_candidates(c->s, 0);
			eoc = true;
		}
		if (peer_flag(c->p, &c->p->dtls_ok) &&
		    f->n_ev[RELAY_EV_DTLS_CONNECTED] >= dtls_events)
			return true;
		if (f->n_ev[RELAY_EV_DTLS_FAILED] || peer_flag(c->p, &c->p->dtls_failed))
			return false;
	}
	return false;
}

static void call_start(struct call *c, struct fx *f, bool relay_controlling,
		       enum relay_dtls_role role, const char *peer_profiles)
{
	memset(c, 0, sizeof(*c));
	c->f = f;
	c->p = peer_new(f->r, !relay_controlling, role == RELAY_DTLS_PASSIVE, peer_profiles,
	                (uint16_t)(f->base + 200));
	c->b = udp_on("127.0.0.1");
	struct relay_session_params p = ice_params(c, relay_controlling, role, true);
	TAP_CHECK_INT(relay_session_new(f->r, &p, c->loc, &c->s), 0);
	TAP_CHECK(c->loc[0].rtp_port >= f->base && c->loc[0].rtp_port == c->loc[0].rtcp_port);
	TAP_CHECK(strlen(c->loc[0].ice_ufrag) >= 4 && strlen(c->loc[0].ice_pwd) >= 22);
	TAP_CHECK_INT(strlen(c->loc[1].ice_ufrag), 0);
	struct creds cr = {c->loc[0].ice_ufrag, c->loc[0].ice_pwd};
	peer_run(c->p, peer_set_remote, &cr);
}

/* RTP from the browser (SRTP) comes out plain at the UDP peer; and back. Returns how many
 * of n made it each way. */
static void media_both_ways(struct call *c, uint16_t seq0, int n, int *to_b, int *to_p)
{
	*to_b = *to_p = 0;
	for (int i = 0; i < n; i++) {
		uint8_t pk[200], q[2048];
		size_t len = make_rtp(pk, (uint16_t)(seq0 + i), 0xabc, 160);
		struct pkt k = {pk, len, true};
		peer_run(c->p, peer_send, &k);
		ssize_t got = recv_in(c->b, q, sizeof(q), 1000);
		*to_b += got == (ssize_t)len && memcmp(q, pk, len) == 0;
		len = make_rtp(pk, (uint16_t)(seq0 + 1000 + i), 0xdef, 160);
		send_to(c->b, c->loc[1].rtp_port, pk, len);
		gint64 end = g_get_monotonic_time() + G_USEC_PER_SEC;
		bool ok = false;
		while (!ok && g_get_monotonic_time() < end) {
			g_mutex_lock(&c->p->mu);
			for (guint j = 0; j < c->p->got->len && !ok; j++) {
				gsize gn;
				const uint8_t *gb = g_bytes_get_data(c->p->got->pdata[j], &gn);
				ok = gn == len && memcmp(gb, pk, len) == 0;
			}
			g_mutex_unlock(&c->p->mu);
			if (!ok)
				g_usleep(1000);
		}
		*to_p += ok;
	}
}

struct stats_box {
	bool done;
	struct relay_session_stats st;
};

static void on_stats(struct relay_session *s, const struct relay_session_stats *st, void *arg)
{
	struct stats_box *b = arg;
	b->st = *st;
	b->done = true;
}

static struct relay_session_stats stats(struct fx *f, struct relay_session *s)
{
	struct stats_box b = {0};
	relay_session_stats(s, on_stats, &b);
	WAIT_FOR(f, b.done, 2000);
	TAP_CHECK(b.done);
	return b.st;
}

static bool ports_back(struct fx *f)
{
	return WAIT_FOR(f, relay_ports_in_use(relay_get_ports(f->r)) == 0, 2000);
}

/* The port libnice held can be bound again: its socket is closed, not only the slot. */
static bool port_free(uint16_t port)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	                        .sin_port = htons(port)};
	bool ok = bind(s, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(s);
	return ok;
}

static void call_end(struct call *c)
{
	uint16_t port = c->loc[0].rtp_port;
	relay_session_free(c->s);
	TAP_CHECK(ports_back(c->f));
	TAP_CHECK(port_free(port));
	peer_free(c->p);
	close(c->b);
}

/* ---- cases ---- */

static void flow_case(bool relay_controlling, enum relay_dtls_role role, const char *profiles,
		      const char *want)
{
	struct fx f;
	fx_init(&f);
	struct call c;
	call_start(&c, &f, relay_controlling, role, profiles);
	TAP_CHECK(connect_all(&c, 1));
	TAP_CHECK_INT(f.n_ev[RELAY_EV_ICE_CONNECTED], 1);
	TAP_CHECK_INT(f.n_ev[RELAY_EV_GATHERING_DONE], 1);
	TAP_CHECK(f.n_ev[RELAY_EV_CANDIDATE] >= 1);
	TAP_CHECK_STR(f.dtls_detail, want);
	TAP_CHECK_STR(c.p->profile, want);
	for (guint i = 0; i < f.cands->len; i++) {
		const char *cand = f.cands->pdata[i];
		TAP_CHECK(g_str_has_prefix(cand, "candidate:"));
		TAP_CHECK(strstr(cand, " 1 udp ") && strstr(cand, " 127.0.0.1 "));
	}
	int to_b, to_p;
	media_both_ways(&c, 1, 10, &to_b, &to_p);
	TAP_CHECK_INT(to_b, 10);
	TAP_CHECK_INT(to_p, 10);
	/* SRTCP from the browser arrives as RTCP (rtcp-mux demux, RFC 5761) */
	static const uint8_t sr[] = {0x80, 200, 0, 6, 0, 0, 0xa, 0xbc, 1, 2,  3, 4, 5,   6,
	                             7,    8,   0, 0, 0, 1, 0,   0,    0, 10, 0, 0, 0x6, 0x40};
	struct pkt k = {sr, sizeof(sr), true};
	peer_run(c.p, peer_send, &k);
	uint8_t q[2048];
	TAP_CHECK_INT(recv_in(c.b, q, sizeof(q), 1000), sizeof(sr));
	TAP_CHECK(memcmp(q, sr, sizeof(sr)) == 0);
	/* BI-29/BI-34: RTP-, DTLS- and STUN-looking datagrams from a source that is no checked
	 * pair reach nothing: libnice does not deliver them, so nothing is even counted */
	int x = udp_on("127.0.0.1");
	uint8_t junk[200];
	size_t jn = make_rtp(junk, 50, 0xabc, 100);
	send_to(x, c.loc[0].rtp_port, junk, jn);
	junk[0] = 22; /* a DTLS handshake record */
	send_to(x, c.loc[0].rtp_port, junk, jn);
	TAP_CHECK(recv_in(c.b, q, sizeof(q), 100) < 0);
	struct relay_session_stats st = stats(&f, c.s);
	TAP_CHECK_INT(st.ep[0].packets_in, 11);
	TAP_CHECK_INT(st.ep[0].packets_out, 11);
	TAP_CHECK_INT(st.ep[0].rtcp_in, 1);
	TAP_CHECK_INT(st.ep[0].dropped, 0);
	TAP_CHECK_INT(st.ep[1].packets_in, 10);
	TAP_CHECK_INT(st.ep[1].packets_out, 10);
	TAP_CHECK(st.ep[0].latched);
	close(x);
	call_end(&c);
	fx_done(&f);
}

/* Browsers hide their host addresses behind mDNS names (<uuid>.local) unless the page has
 * media permission; gorgee does not resolve them (ws/PROTOCOL.md, trickle). Every candidate
 * the browser trickles is such a name: each is accepted and ignored, and the call connects
 * anyway, the browser's checks to the relay's candidates making it peer-reflexive. */
static void t_mdns_candidates(void)
{
	struct fx f;
	fx_init(&f);
	struct call c;
	call_start(&c, &f, true, RELAY_DTLS_PASSIVE, "SRTP_AEAD_AES_128_GCM");
	c.mdns = true;
	TAP_CHECK(connect_all(&c, 1));
	TAP_CHECK(c.peer_cands_sent >= 1);
	TAP_CHECK_INT(f.n_ev[RELAY_EV_ICE_CONNECTED], 1);
	int to_b, to_p;
	media_both_ways(&c, 1, 10, &to_b, &to_p);
	TAP_CHECK_INT(to_b, 10);
	TAP_CHECK_INT(to_p, 10);
	call_end(&c);
	fx_done(&f);
}

static void t_passive_gcm(void)
{
	flow_case(true, RELAY_DTLS_PASSIVE, "SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80",
	          "SRTP_AEAD_AES_128_GCM");
}

static void t_active_cm80(void)
{
	flow_case(false, RELAY_DTLS_ACTIVE, "SRTP_AES128_CM_SHA1_80", "SRTP_AES128_CM_SHA1_80");
}

static void t_active_gcm(void)
{
	flow_case(true, RELAY_DTLS_ACTIVE, "SRTP_AEAD_AES_128_GCM", "SRTP_AEAD_AES_128_GCM");
}

static void t_passive_cm80(void)
{
	flow_case(false, RELAY_DTLS_PASSIVE, "SRTP_AES128_CM_SHA1_80", "SRTP_AES128_CM_SHA1_80");
}

/* BI-40, SEC-12: a certificate that does not hash to a=fingerprint fails the handshake;
 * nothing is forwarded either way, not even plain RTP sent over the checked pair. */
static void fp_mismatch(enum relay_dtls_role role)
{
	struct fx f;
	fx_init(&f);
	struct call c;
	memset(&c, 0, sizeof(c));
	c.f = &f;
	c.p = peer_new(f.r, false, role == RELAY_DTLS_PASSIVE, "SRTP_AEAD_AES_128_GCM",
	               (uint16_t)(f.base + 200));
	c.b = udp_on("127.0.0.1");
	struct relay_session_params p = ice_params(&c, true, role, true);
	p.ep[0].ice.remote_fp[5] ^= 1;
	TAP_CHECK_INT(relay_session_new(f.r, &p, c.loc, &c.s), 0);
	struct creds cr = {c.loc[0].ice_ufrag, c.loc[0].ice_pwd};
	peer_run(c.p, peer_set_remote, &cr);
	TAP_CHECK(!connect_all(&c, 1));
	TAP_CHECK(WAIT_FOR(&f, f.n_ev[RELAY_EV_DTLS_FAILED] == 1, 3000));
	TAP_CHECK_STR(f.dtls_detail, "certificate fingerprint mismatch");
	TAP_CHECK_INT(f.n_ev[RELAY_EV_DTLS_CONNECTED], 0);
	TAP_CHECK_INT(f.n_ev[RELAY_EV_ICE_CONNECTED], 1);
	/* plain RTP over the pair: never a fallback (SEC-11) */
	uint8_t pk[200], q[2048];
	size_t len = make_rtp(pk, 1, 0xabc, 160);
	struct pkt k = {pk, len, false};
	peer_run(c.p, peer_send, &k);
	TAP_CHECK(recv_in(c.b, q, sizeof(q), 200) < 0);
	send_to(c.b, c.loc[1].rtp_port, pk, len);
	pump(&f, 100);
	TAP_CHECK(!peer_flag(c.p, &c.p->dtls_ok));
	struct relay_session_stats st = stats(&f, c.s);
	TAP_CHECK_INT(st.ep[0].packets_in, 0);
	TAP_CHECK_INT(st.ep[0].dropped, 1);
	TAP_CHECK_INT(st.ep[1].packets_in, 1);  /* valid from the phone, */
	TAP_CHECK_INT(st.ep[1].packets_out, 0); /* but nowhere safe to go */
	TAP_CHECK_INT(st.ep[1].dropped, 1);
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

/* We made the offer: no remote credentials at creation; the answer comes by update. Then
 * an ICE restart (new remote ufrag): new local credentials, candidates reported again,
 * media flows again over the same DTLS association. */
static void t_answer_then_restart(void)
{
	struct fx f;
	fx_init(&f);
	struct call c;
	memset(&c, 0, sizeof(c));
	c.f = &f;
	c.p = peer_new(f.r, false, true, "SRTP_AEAD_AES_128_GCM", (uint16_t)(f.base + 200));
	c.b = udp_on("127.0.0.1");
	struct relay_session_params p = ice_params(&c, true, RELAY_DTLS_PASSIVE, false);
	p.ep[0].ice.remote_fp_len = 0; /* not known until the answer */
	TAP_CHECK_INT(relay_session_new(f.r, &p, c.loc, &c.s), 0);
	struct creds cr = {c.loc[0].ice_ufrag, c.loc[0].ice_pwd};
	peer_run(c.p, peer_set_remote, &cr);
	/* candidates trickled before the answer are kept until the credentials arrive */
	TAP_CHECK(WAIT_FOR(&f, peer_flag(c.p, &c.p->gathered), 2000));
	trickle(&c);
	pump(&f, 50);
	TAP_CHECK_INT(f.n_ev[RELAY_EV_ICE_CONNECTED], 0);
	struct relay_session_params ans = ice_params(&c, true, RELAY_DTLS_PASSIVE, true);
	struct relay_local nl;
	TAP_CHECK_INT(relay_session_update(c.s, 0, &ans.ep[0], &nl), 0);
	TAP_CHECK_STR(nl.ice_ufrag, c.loc[0].ice_ufrag); /* not a restart */
	TAP_CHECK(connect_all(&c, 1));
	int to_b, to_p;
	media_both_ways(&c, 1, 3, &to_b, &to_p);
	TAP_CHECK_INT(to_b, 3);
	TAP_CHECK_INT(to_p, 3);

	/* ICE restart, browser side first (it sends the new offer) */
	peer_run(c.p, peer_restart, NULL);
	struct relay_session_params re = ice_params(&c, true, RELAY_DTLS_PASSIVE, true);
	TAP_CHECK(strcmp(re.ep[0].ice.remote_ufrag, ans.ep[0].ice.remote_ufrag) != 0);
	unsigned gathered = f.n_ev[RELAY_EV_GATHERING_DONE];
	unsigned ncands = f.cands->len;
	TAP_CHECK_INT(relay_session_update(c.s, 0, &re.ep[0], &nl), 0);
	TAP_CHECK(strcmp(nl.ice_ufrag, c.loc[0].ice_ufrag) != 0);
	TAP_CHECK(strcmp(nl.ice_pwd, c.loc[0].ice_pwd) != 0);
	TAP_CHECK(strlen(nl.ice_pwd) >= 22);
	cr.ufrag = nl.ice_ufrag;
	cr.pwd = nl.ice_pwd;
	peer_run(c.p, peer_set_remote, &cr);
	TAP_CHECK(WAIT_FOR(&f, f.n_ev[RELAY_EV_GATHERING_DONE] > gathered, 2000));
	TAP_CHECK(f.cands->len > ncands); /* reported again */
	c.peer_cands_sent = 0;            /* the browser trickles its candidates again */
	c.cands_sent = ncands;
	unsigned conn = f.n_ev[RELAY_EV_ICE_CONNECTED];
	gint64 end = g_get_monotonic_time() + 3 * G_USEC_PER_SEC;
	while (g_get_monotonic_time() < end && f.n_ev[RELAY_EV_ICE_CONNECTED] == conn) {
		trickle(&c);
		pump(&f, 2);
	}
	TAP_CHECK_INT(f.n_ev[RELAY_EV_ICE_CONNECTED], conn + 1);
	TAP_CHECK(WAIT_FOR(&f, peer_flag(c.p, &c.p->ice_ok), 2000));
	TAP_CHECK_INT(f.n_ev[RELAY_EV_DTLS_CONNECTED], 1); /* the association survived */
	media_both_ways(&c, 100, 3, &to_b, &to_p);
	TAP_CHECK_INT(to_b, 3);
	TAP_CHECK_INT(to_p, 3);
	call_end(&c);
	fx_done(&f);
}

/* BI-38 over the checked pair (the only source libnice delivers): DTLS records with a
 * heartbeat content type, a huge epoch or sequence number, malformed and out-of-order
 * handshake fragments, a forged ClientHello and epoch-0 alerts after the handshake are
 * discarded; the association stays up and media flows. */
static void t_bi38_over_ice(void)
{
	struct fx f;
	fx_init(&f);
	struct call c;
	call_start(&c, &f, true, RELAY_DTLS_PASSIVE, "SRTP_AEAD_AES_128_GCM");
	TAP_CHECK(connect_all(&c, 1));
	static const uint8_t bad[][32] = {
	        /* heartbeat request, payload length past the record (CVE-2014-0160) */
	        {24, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 9, 0, 3, 1, 0x40, 0},
	        /* handshake record at epoch 0xffff, and with sequence number 2^48-1 */
	        {22, 0xfe, 0xfd, 0xff, 0xff, 0, 0, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4},
	        {22, 0xfe, 0xfd, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 4, 1, 2, 3, 4},
	        /* a ClientHello fragment running past its message, an out-of-order Finished */
	        {22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 7, 0, 16, 1, 0, 0, 8, 0, 0, 0, 0, 6, 0, 0, 8,
	         1, 2, 3, 4},
	        {22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 8, 0, 16, 20, 0, 0, 4, 0, 9, 0, 0, 0, 0, 0, 4,
	         1, 2, 3, 4},
	        /* a fatal alert at epoch 0, a record longer than its datagram */
	        {21, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 9, 0, 2, 2, 40},
	        {22, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 10, 0x40, 0, 1, 2},
	};
	static const size_t lens[] = {16, 17, 17, 29, 29, 15, 16};
	for (int round = 0; round < 50; round++)
		for (size_t i = 0; i < G_N_ELEMENTS(lens); i++) {
			struct pkt k = {bad[i], lens[i], false};
			peer_run(c.p, peer_send, &k);
		}
	pump(&f, 100);
	TAP_CHECK_INT(f.n_ev[RELAY_EV_DTLS_FAILED], 0);
	int to_b, to_p;
	media_both_ways(&c, 1, 5, &to_b, &to_p);
	TAP_CHECK_INT(to_b, 5);
	TAP_CHECK_INT(to_p, 5);
	call_end(&c);
	fx_done(&f);
}

/* Candidate lines from signaling: the parser's verdicts (BI-23). */
static void t_candidate_parse(void)
{
	struct fx f;
	fx_init(&f);
	int b = udp_on("127.0.0.1");
	struct relay_session_params p;
	memset(&p, 0, sizeof(p));
	p.ep[0].kind = RELAY_EP_ICE;
	p.ep[1].remote_rtp = addr_of(b);
	p.ep[1].rtcp_mux = true;
	struct relay_local loc[2];
	struct relay_session *s = NULL;
	TAP_CHECK_INT(relay_session_new(f.r, &p, loc, &s), 0);
	static const struct {
		const char *line;
		int want;
	} t[] = {
	        {"candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host", 0},
	        {"a=candidate:1 1 UDP 2122260223 127.0.0.1 50000 typ host generation 0", 0},
	        {"1 1 udp 2122260223 127.0.0.1 50000 typ host", 0},
	        {"candidate:2 1 udp 1686052607 192.0.2.1 40000 typ srflx raddr 10.0.0.1 rport 5000",
	         0},
	        {"candidate:3 1 udp 2122262783 ::1 50002 typ host ufrag abcd network-id 2", 0},
	        {"candidate:4 1 udp 2122260223 127.0.0.1 50000 typ host\r\n", 0},
	        {"candidate:5 2 udp 2122260222 127.0.0.1 50001 typ host", 0}, /* RTCP: unused */
	        {"candidate:6 1 tcp 1518280447 127.0.0.1 9 typ host tcptype active", 0}, /* off */
	        {"candidate:6 1 tcp 1518280447 127.0.0.1 9 typ host", EBADMSG},
	        {"candidate:6 1 tcp 1518280447 127.0.0.1 9 typ host tcptype sideways", EBADMSG},
	        {"candidate:7 1 udp 2122260223 1f2e-3d.local 50000 typ host", 0}, /* mDNS */
	        {"", EBADMSG},
	        {"candidate:", EBADMSG},
	        {"candidate:1 1 udp 2122260223 127.0.0.1 50000 typ", EBADMSG},
	        {"candidate:1 1 udp 2122260223 127.0.0.1 50000 typ bogus", EBADMSG},
	        {"candidate:1 1 sctp 2122260223 127.0.0.1 50000 typ host", EBADMSG},
	        {"candidate:1 1 udp 4294967296 127.0.0.1 50000 typ host", EBADMSG},
	        {"candidate:1 1 udp 2122260223 127.0.0.1 65536 typ host", EBADMSG},
	        {"candidate:1 1 udp 2122260223 127.0.0.1 0 typ host", EBADMSG},
	        {"candidate:1 1 udp 2122260223 127.0.0.1 -1 typ host", EBADMSG},
	        {"candidate:1 0 udp 2122260223 127.0.0.1 50000 typ host", EBADMSG},
	        {"candidate:1 1 udp 2122260223 127.0.0.1 50000 host host", EBADMSG},
	        {"candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host raddr", EBADMSG},
	        {"candidate:1  1 udp 2122260223 127.0.0.1 50000 typ host", EBADMSG},
	        {"candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host ", EBADMSG},
	        {"candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host\tx y", EBADMSG},
	        {"candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host\nx y", EBADMSG},
	        {"candidate:f@o 1 udp 2122260223 127.0.0.1 50000 typ host", EBADMSG},
	        {"candidate:123456789012345678901234567890123 1 udp 1 127.0.0.1 5 typ host",
	         EBADMSG},
	        {"candidate:1 1 udp 2122260223 300.0.0.1 50000 typ host", 0}, /* a hostname */
	        {"candidate:1 1 udp 2122260223 a_b 50000 typ host", EBADMSG},
	        {"candidate:2 1 udp 1 192.0.2.1 40000 typ srflx raddr 10.0.0.1 rport 99999",
	         EBADMSG},
	};
	for (size_t i = 0; i < G_N_ELEMENTS(t); i++) {
		int got = relay_session_add_candidate(s, 0, t[i].line);
		if (got != t[i].want)
			printf("#   %zu: \"%s\"\n", i, t[i].line);
		TAP_CHECK_INT(got, t[i].want);
	}
	/* a line longer than the cap; NULL */
	char *big = g_strnfill(2000, 'a');
	TAP_CHECK_INT(relay_session_add_candidate(s, 0, big), EBADMSG);
	g_free(big);
	TAP_CHECK_INT(relay_session_add_candidate(s, 0, NULL), EBADMSG);
	/* not an ICE endpoint; bad index */
	TAP_CHECK_INT(relay_session_add_candidate(s, 1, t[0].line), EINVAL);
	TAP_CHECK_INT(relay_session_add_candidate(s, 2, t[0].line), EINVAL);
	/* BI-23: at most RELAY_MAX_REMOTE_CANDS */
	int err = 0;
	unsigned n = 6; /* six accepted above went to libnice */
	while (!err && n < 200) {
		char line[128];
		g_snprintf(line, sizeof(line), "candidate:%u 1 udp 1 127.0.0.1 %u typ host", n,
		           30000 + n);
		err = relay_session_add_candidate(s, 0, line);
		if (!err)
			n++;
	}
	TAP_CHECK_INT(err, ENOSPC);
	TAP_CHECK_INT(n, RELAY_MAX_REMOTE_CANDS);
	relay_session_end_of_candidates(s, 0);
	pump(&f, 20);
	relay_session_free(s);
	TAP_CHECK(ports_back(&f));
	close(b);
	fx_done(&f);
}

/* Parameters and configuration that must be refused (BI-24 for the fingerprint). */
static void t_bad_params(void)
{
	struct fx f;
	fx_init(&f);
	TAP_CHECK(g_str_has_prefix(relay_dtls_fingerprint(f.r), "sha-256 "));
	TAP_CHECK_INT(strlen(relay_dtls_fingerprint(f.r)), 8 + 32 * 3 - 1);
	struct relay_session_params p;
	struct relay_local loc[2];
	struct relay_session *s = NULL;
	memset(&p, 0, sizeof(p));
	p.ep[0].kind = RELAY_EP_ICE;
	p.ep[1].rtcp_mux = true;
	struct relay_ice_params *ip = &p.ep[0].ice;
	g_strlcpy(ip->remote_fp_hash, "md5", sizeof(ip->remote_fp_hash));
	ip->remote_fp_len = 16;
	TAP_CHECK_INT(relay_session_new(f.r, &p, loc, &s), EINVAL);
	g_strlcpy(ip->remote_fp_hash, "sha-256", sizeof(ip->remote_fp_hash));
	ip->remote_fp_len = 20;
	TAP_CHECK_INT(relay_session_new(f.r, &p, loc, &s), EINVAL);
	ip->remote_fp_len = 0;
	g_strlcpy(ip->remote_ufrag, "ab", sizeof(ip->remote_ufrag)); /* too short */
	g_strlcpy(ip->remote_pwd, "0123456789012345678901", sizeof(ip->remote_pwd));
	TAP_CHECK_INT(relay_session_new(f.r, &p, loc, &s), EINVAL);
	g_strlcpy(ip->remote_ufrag, "ab:d", sizeof(ip->remote_ufrag)); /* not an ice-char */
	TAP_CHECK_INT(relay_session_new(f.r, &p, loc, &s), EINVAL);
	g_strlcpy(ip->remote_ufrag, "abcd", sizeof(ip->remote_ufrag));
	ip->remote_pwd[0] = 0; /* ufrag without pwd */
	TAP_CHECK_INT(relay_session_new(f.r, &p, loc, &s), EINVAL);
	memset(ip->remote_ufrag, 'a', sizeof(ip->remote_ufrag)); /* not terminated */
	TAP_CHECK_INT(relay_session_new(f.r, &p, loc, &s), EINVAL);
	memset(ip, 0, sizeof(*ip));
	ip->dtls_role = 7;
	TAP_CHECK_INT(relay_session_new(f.r, &p, loc, &s), EINVAL);
	p.ep[0].kind = 9;
	TAP_CHECK_INT(relay_session_new(f.r, &p, loc, &s), EINVAL);
	TAP_CHECK_INT(relay_ports_in_use(relay_get_ports(f.r)), 0);
	/* an ICE endpoint stays one */
	p.ep[0].kind = RELAY_EP_ICE;
	ip->dtls_role = RELAY_DTLS_ACTIVE;
	TAP_CHECK_INT(relay_session_new(f.r, &p, loc, &s), 0);
	struct relay_endpoint_params udp;
	memset(&udp, 0, sizeof(udp));
	udp.rtcp_mux = true;
	TAP_CHECK_INT(relay_session_update(s, 0, &udp, NULL), EINVAL);
	p.ep[0].kind = RELAY_EP_ICE;
	TAP_CHECK_INT(relay_session_update(s, 1, &p.ep[0], NULL), EINVAL);
	relay_session_free(s);
	TAP_CHECK(ports_back(&f));
	fx_done(&f);

	/* configuration */
	struct relay_config cfg = {
	        .workers = 1, .bind_addr = "127.0.0.1", .port_min = 20000, .port_max = 20009};
	struct relay *r = NULL;
	const char *bad_stun[] = {"stun.example.org:3478", "127.0.0.1",     "127.0.0.1:0",
	                          "127.0.0.1:70000",       "127.0.0.1:34x", ":3478"};
	for (size_t i = 0; i < G_N_ELEMENTS(bad_stun); i++) {
		cfg.stun_server = bad_stun[i];
		TAP_CHECK_INT(relay_new(&cfg, &r), EINVAL);
	}
	cfg.stun_server = "[::1]:3478";
	TAP_CHECK_INT(relay_new(&cfg, &r), 0);
	relay_free(r);
	cfg.stun_server = NULL;
	cfg.public_addr = "gw.example.org";
	TAP_CHECK_INT(relay_new(&cfg, &r), EINVAL);
	cfg.public_addr = NULL;
	const char *addrs[] = {"127.0.0.1", "localhost", NULL};
	cfg.ice_addresses = addrs;
	TAP_CHECK_INT(relay_new(&cfg, &r), EINVAL);
	cfg.ice_addresses = NULL;
	cfg.cert_file = "/nonexistent/cert.pem";
	cfg.key_file = "/nonexistent/key.pem";
	TAP_CHECK_INT(relay_new(&cfg, &r), EINVAL);
	cfg.key_file = NULL;
	TAP_CHECK_INT(relay_new(&cfg, &r), EINVAL);
	ERR_clear_error();
}

/* 1:1 NAT: host candidates carry the public address, same port. */
/* A session whose ICE endpoint gathers with no browser behind it (UDP side: socket b);
 * returned once gathering is done (checked). */
static struct relay_session *gather_only(struct fx *f, int b, struct relay_local loc[2], int ms)
{
	struct relay_session_params p;
	memset(&p, 0, sizeof(p));
	p.ep[0].kind = RELAY_EP_ICE;
	p.ep[1].remote_rtp = addr_of(b);
	p.ep[1].rtcp_mux = true;
	p.on_event = on_event;
	p.arg = f;
	struct relay_session *s = NULL;
	TAP_CHECK_INT(relay_session_new(f->r, &p, loc, &s), 0);
	TAP_CHECK(WAIT_FOR(f, f->n_ev[RELAY_EV_GATHERING_DONE] == 1, ms));
	return s;
}

static void t_public_addr(void)
{
	struct fx f;
	struct relay_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.public_addr = "203.0.113.7";
	const char *addrs[] = {"127.0.0.1", "::1", NULL};
	cfg.ice_addresses = addrs;
	fx_init_cfg(&f, &cfg);
	int b = udp_on("127.0.0.1");
	struct relay_local loc[2];
	struct relay_session *s = gather_only(&f, b, loc, 2000);
	TAP_CHECK_INT(f.cands->len, 2);
	char want[128], want6[128];
	g_snprintf(want, sizeof(want), " 203.0.113.7 %u typ host", loc[0].rtp_port);
	g_snprintf(want6, sizeof(want6), " ::1 %u typ host", loc[0].rtp_port); /* other family */
	unsigned n4 = 0, n6 = 0;
	for (guint i = 0; i < f.cands->len; i++) {
		const char *cand = f.cands->pdata[i];
		TAP_CHECK(strstr(cand, "127.0.0.1") == NULL);
		n4 += strstr(cand, want) != NULL;
		n6 += strstr(cand, want6) != NULL;
	}
	TAP_CHECK(n4 == 1 && n6 == 1);
	relay_session_free(s);
	TAP_CHECK(ports_back(&f));
	close(b);
	fx_done(&f);
}

/* IPv6 ICE: with media ICE addresses {127.0.0.1, ::1} the relay offers a host candidate of
 * each family; a browser on ::1 connects over IPv6 and media crosses to the IPv4 UDP side. */
static void t_ipv6(void)
{
	struct fx f;
	struct relay_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	const char *addrs[] = {"127.0.0.1", "::1", NULL};
	cfg.ice_addresses = addrs;
	fx_init_cfg(&f, &cfg);
	peer_ip = "::1";
	struct call c;
	call_start(&c, &f, true, RELAY_DTLS_PASSIVE, "SRTP_AEAD_AES_128_GCM");
	TAP_CHECK(connect_all(&c, 1));
	bool v4 = false, v6 = false;
	for (guint i = 0; i < f.cands->len; i++) {
		const char *cand = f.cands->pdata[i];
		v4 |= strstr(cand, " 127.0.0.1 ") != NULL;
		v6 |= strstr(cand, " ::1 ") != NULL;
	}
	TAP_CHECK(v4 && v6);
	int to_b, to_p;
	media_both_ways(&c, 1, 10, &to_b, &to_p);
	TAP_CHECK_INT(to_b, 10);
	TAP_CHECK_INT(to_p, 10);
	call_end(&c);
	peer_ip = "127.0.0.1";
	fx_done(&f);
}

/* ICE-TCP (RFC 6544): a browser with TCP candidates only connects to the relay's passive
 * TCP candidate; DTLS and SRTP run over the framed TCP stream, media both ways. */
static void t_ice_tcp(void)
{
	struct fx f;
	struct relay_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.ice_tcp = true;
	fx_init_cfg(&f, &cfg);
	peer_tcp_only = TRUE;
	struct call c;
	call_start(&c, &f, true, RELAY_DTLS_PASSIVE, "SRTP_AEAD_AES_128_GCM");
	TAP_CHECK(connect_all(&c, 1));
	unsigned passive = 0;
	for (guint i = 0; i < f.cands->len; i++) {
		const char *cand = f.cands->pdata[i];
		TAP_CHECK(strstr(cand, " tcptype active") == NULL); /* useless to a browser */
		passive += strstr(cand, " 1 tcp ") && strstr(cand, " typ host tcptype passive");
	}
	TAP_CHECK_INT(passive, 1);
	int to_b, to_p;
	media_both_ways(&c, 1, 10, &to_b, &to_p);
	TAP_CHECK_INT(to_b, 10);
	TAP_CHECK_INT(to_p, 10);
	call_end(&c);
	peer_tcp_only = FALSE;
	fx_done(&f);
}

/* ---- STUN bad input toward a live ICE endpoint (BI-27, BI-28) ---- */

/* A STUN message: header (type, length, magic cookie, transaction id) and raw attribute
 * bytes. The length field is what the caller says (BI-27 lies in it). */
static size_t stun_msg(uint8_t *b, uint16_t type, uint16_t len_field, const uint8_t *attrs,
		       size_t n)
{
	b[0] = (uint8_t)(type >> 8);
	b[1] = (uint8_t)type;
	b[2] = (uint8_t)(len_field >> 8);
	b[3] = (uint8_t)len_field;
	static const uint8_t cookie[4] = {0x21, 0x12, 0xa4, 0x42};
	memcpy(b + 4, cookie, 4);
	for (int i = 0; i < 12; i++)
		b[8 + i] = (uint8_t)g_random_int();
	memcpy(b + 20, attrs, n);
	return 20 + n;
}

/* attribute: type, length, value padded to 4 */
static size_t stun_attr(uint8_t *b, uint16_t type, uint16_t len, const void *v, size_t vn)
{
	b[0] = (uint8_t)(type >> 8);
	b[1] = (uint8_t)type;
	b[2] = (uint8_t)(len >> 8);
	b[3] = (uint8_t)len;
	memcpy(b + 4, v, vn);
	size_t padded = (vn + 3) & ~(size_t)3;
	memset(b + 4 + vn, 0, padded - vn);
	return 4 + padded;
}

static uint32_t crc32_of(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
	}
	return ~c;
}

/* A well-formed ICE connectivity check (RFC 8445 §7.1.1) to an endpoint whose local
 * credentials are ufrag/pwd: USERNAME, PRIORITY, ICE-CONTROLLED, MESSAGE-INTEGRITY
 * (HMAC-SHA1 keyed with pwd) and FINGERPRINT (RFC 8489 §14.5, 14.7). */
static size_t stun_check(uint8_t *m, const char *ufrag, const char *pwd, const char *peer_ufrag)
{
	uint8_t a[512];
	char user[160];
	g_snprintf(user, sizeof(user), "%s:%s", ufrag, peer_ufrag);
	size_t n = stun_attr(a, 0x0006, (uint16_t)strlen(user), user, strlen(user));
	static const uint8_t prio[4] = {0x6e, 0x7f, 0x1e, 0xff};
	n += stun_attr(a + n, 0x0024, 4, prio, 4);
	static const uint8_t tie[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	n += stun_attr(a + n, 0x8029, 8, tie, 8);
	size_t len = stun_msg(m, 0x0001, (uint16_t)(n + 24), a, n); /* length through MI */
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned ml = 0;
	HMAC(EVP_sha1(), pwd, (int)strlen(pwd), m, len, mac, &ml);
	len += stun_attr(m + len, 0x0008, 20, mac, 20);
	m[2] = (uint8_t)((len - 20 + 8) >> 8); /* length through FINGERPRINT */
	m[3] = (uint8_t)(len - 20 + 8);
	uint32_t fp = crc32_of(m, len) ^ 0x5354554eu;
	uint8_t fpb[4] = {(uint8_t)(fp >> 24), (uint8_t)(fp >> 16), (uint8_t)(fp >> 8), (uint8_t)fp};
	len += stun_attr(m + len, 0x8028, 4, fpb, 4);
	return len;
}

/* Any datagram back on fd within ms? */
static bool answered(int fd, int ms)
{
	uint8_t q[2048];
	return recv_in(fd, q, sizeof(q), ms) >= 0;
}

/* The relay thread's CPU (this process minus the calling thread), in µs. */
static gint64 relay_cpu_us(void)
{
	struct rusage self, me;
	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_THREAD, &me);
	gint64 a = (gint64)(self.ru_utime.tv_sec + self.ru_stime.tv_sec) * 1000000 +
	           self.ru_utime.tv_usec + self.ru_stime.tv_usec;
	gint64 b = (gint64)(me.ru_utime.tv_sec + me.ru_stime.tv_sec) * 1000000 + me.ru_utime.tv_usec +
	           me.ru_stime.tv_usec;
	return a - b;
}

/* BI-27: malformed STUN to the ICE port of a call in progress: no answer, nothing breaks,
 * media goes on. BI-28: 10,000 Binding requests (unknown or missing USERNAME, bad
 * MESSAGE-INTEGRITY, bad FINGERPRINT) from 40 source addresses: no answer to any, the call
 * unaffected, and the relay's CPU per request bounded. */
static void t_stun_bad_input(void)
{
	struct fx f;
	fx_init(&f);
	struct call c;
	call_start(&c, &f, true, RELAY_DTLS_PASSIVE, "SRTP_AEAD_AES_128_GCM");
	TAP_CHECK(connect_all(&c, 1));
	uint16_t port = c.loc[0].rtp_port;
	int x = udp_on("127.0.0.1");
	uint8_t m[4096], a[4096];
	size_t n;

	/* BI-27 */
	static const char user_ok[] = "abcd:efgh";
	n = stun_attr(a, 0x0006, sizeof(user_ok) - 1, user_ok, sizeof(user_ok) - 1);
	send_to(x, port, m, stun_msg(m, 0x0001, (uint16_t)(n + 2), a, n)); /* len % 4 != 0 */
	n = stun_attr(a, 0x0006, 400, user_ok, sizeof(user_ok) - 1);       /* attr past the end */
	send_to(x, port, m, stun_msg(m, 0x0001, (uint16_t)n, a, n));
	static const uint8_t short_err[2] = {4, 1};
	n = stun_attr(a, 0x0009, 2, short_err, 2); /* ERROR-CODE shorter than 4 */
	send_to(x, port, m, stun_msg(m, 0x0111, (uint16_t)n, a, n));
	static const uint8_t bad_family[8] = {0, 0x03, 0x12, 0x34, 1, 2, 3, 4};
	n = stun_attr(a, 0x0020, 8, bad_family, 8); /* XOR-MAPPED-ADDRESS family 0x03 */
	send_to(x, port, m, stun_msg(m, 0x0101, (uint16_t)n, a, n));
	n = 0;
	for (int i = 0; i < 200; i++) /* 200 attributes */
		n += stun_attr(a + n, 0x8022, 4, "junk", 4);
	send_to(x, port, m, stun_msg(m, 0x0001, (uint16_t)n, a, n));
	send_to(x, port, m, 7); /* shorter than a header */
	TAP_CHECK(!answered(x, 200));
	int to_b, to_p;
	media_both_ways(&c, 1, 5, &to_b, &to_p);
	TAP_CHECK_INT(to_b, 5);
	TAP_CHECK_INT(to_p, 5);

	/* BI-28 */
	enum { SOURCES = 40, REQUESTS = 10000 };
	int src[SOURCES];
	for (int i = 0; i < SOURCES; i++) {
		src[i] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		struct sockaddr_in sa = {.sin_family = AF_INET};
		sa.sin_addr.s_addr = htonl(0x7f000000u | (uint32_t)(2 + i)); /* 127.0.0.2... */
		TAP_CHECK(bind(src[i], (struct sockaddr *)&sa, sizeof(sa)) == 0);
	}
	char user_known[160];
	g_snprintf(user_known, sizeof(user_known), "%s:%s", c.loc[0].ice_ufrag, c.p->ufrag);
	static const uint8_t junk20[20] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
	static const uint8_t junk4[4] = {0xde, 0xad, 0xbe, 0xef};
	gint64 cpu0 = relay_cpu_us(), t0 = g_get_monotonic_time();
	unsigned sent = 0;
	for (int i = 0; i < REQUESTS; i++) {
		n = 0;
		switch (i % 4) {
		case 0: { /* unknown USERNAME */
			char u[40];
			g_snprintf(u, sizeof(u), "zz%08x:yy", g_random_int());
			n += stun_attr(a + n, 0x0006, (uint16_t)strlen(u), u, strlen(u));
			n += stun_attr(a + n, 0x0008, 20, junk20, 20);
			break;
		}
		case 1: /* no USERNAME */
			n += stun_attr(a + n, 0x0008, 20, junk20, 20);
			break;
		case 2: /* the right USERNAME, a bad MESSAGE-INTEGRITY */
			n += stun_attr(a + n, 0x0006, (uint16_t)strlen(user_known), user_known,
			               strlen(user_known));
			n += stun_attr(a + n, 0x0008, 20, junk20, 20);
			break;
		default: /* the right USERNAME, a bad FINGERPRINT */
			n += stun_attr(a + n, 0x0006, (uint16_t)strlen(user_known), user_known,
			               strlen(user_known));
			n += stun_attr(a + n, 0x8028, 4, junk4, 4);
			break;
		}
		size_t len = stun_msg(m, 0x0001, (uint16_t)n, a, n);
		struct sockaddr_in to = {.sin_family = AF_INET,
		                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
		                         .sin_port = htons(port)};
		sent += sendto(src[i % SOURCES], m, len, 0, (struct sockaddr *)&to, sizeof(to)) ==
		        (ssize_t)len;
		if (i % 100 == 99) /* about 10,000 a second */
			g_usleep(10000);
	}
	pump(&f, 200);
	gint64 cpu = relay_cpu_us() - cpu0, wall = g_get_monotonic_time() - t0;
	unsigned replies = 0;
	for (int i = 0; i < SOURCES; i++) {
		replies += answered(src[i], i == 0 ? 200 : 0);
		close(src[i]);
	}
	printf("# BI-28: %u requests in %lld ms, relay CPU %lld ms (%.1f us each), %u answered\n",
	       sent, (long long)wall / 1000, (long long)cpu / 1000, sent ? (double)cpu / sent : 0.0,
	       replies);
	TAP_CHECK(sent >= REQUESTS * 9 / 10);
	TAP_CHECK_INT(replies, 0);
	/* the control: the same port answers a well-formed check, from a new address too */
	int ok_src = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000000u | 60)};
	TAP_CHECK(bind(ok_src, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	g_mutex_lock(&c.p->mu);
	char peer_ufrag[64];
	g_strlcpy(peer_ufrag, c.p->ufrag, sizeof(peer_ufrag));
	g_mutex_unlock(&c.p->mu);
	n = stun_check(m, c.loc[0].ice_ufrag, c.loc[0].ice_pwd, peer_ufrag);
	send_to(ok_src, port, m, n);
	uint8_t q[2048];
	ssize_t got = recv_in(ok_src, q, sizeof(q), 1000);
	TAP_CHECK(got >= 20 && q[0] == 0x01 && q[1] == 0x01); /* Binding success response */
	close(ok_src);
	if (!RUNNING_ON_VALGRIND) /* a cost per request, not a growing one: generous bound */
		TAP_CHECK(cpu < (gint64)sent * 100);
	TAP_CHECK_INT(f.n_ev[RELAY_EV_ICE_FAILED], 0);
	media_both_ways(&c, 100, 5, &to_b, &to_p);
	TAP_CHECK_INT(to_b, 5);
	TAP_CHECK_INT(to_p, 5);
	close(x);
	call_end(&c);
	fx_done(&f);
}

/* ---- TURN: a coturn server on 127.0.0.1 started by the test ---- */

struct turn {
	GPid pid;
	uint16_t port;
	char dir[64];
};

static bool udp_port_taken(uint16_t port)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	                        .sin_port = htons(port)};
	bool taken = bind(s, (struct sockaddr *)&a, sizeof(a)) != 0 && errno == EADDRINUSE;
	close(s);
	return taken;
}

/* The server goes when the test does, even when it aborts. */
static void turn_child_setup(gpointer data)
{
	(void)data;
	prctl(PR_SET_PDEATHSIG, SIGTERM);
}

/* Starts turnserver with long-term credentials user:pass, or with a shared key for
 * time-limited credentials when key is set. Relayed ports come from the test's range. */
static bool turn_start(struct turn *t, uint16_t base, const char *user, const char *pass,
		       const char *key)
{
	memset(t, 0, sizeof(*t));
	g_strlcpy(t->dir, "/tmp/gorgee-turn-XXXXXX", sizeof(t->dir));
	if (!g_mkdtemp(t->dir))
		return false;
	t->port = (uint16_t)(base + 150);
	char port[8], minp[8], maxp[8], cred[128], log[96], sec[128], pidf[96], db[96];
	g_snprintf(port, sizeof(port), "%u", t->port);
	g_snprintf(minp, sizeof(minp), "%u", base + 160);
	g_snprintf(maxp, sizeof(maxp), "%u", base + 190);
	g_snprintf(log, sizeof(log), "--log-file=%s/turn.log", t->dir);
	g_snprintf(pidf, sizeof(pidf), "--pidfile=%s/turn.pid", t->dir);
	g_snprintf(db, sizeof(db), "--db=%s/turn.db", t->dir);
	const char *argv[32] = {"turnserver", "-n", "--no-cli", "--no-tls", "--no-dtls",
	                        "--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1",
	                        "-p", port, "--min-port", minp, "--max-port", maxp,
	                        "--allow-loopback-peers", "--realm", "gorgee.test",
	                        "--no-stdout-log", "--simple-log", log, "--no-tcp-relay",
	                        "--verbose", pidf, db};
	size_t n = 25;
	if (key) {
		g_snprintf(sec, sizeof(sec), "--static-auth-secret=%s", key);
		argv[n++] = "--use-auth-secret";
		argv[n++] = sec;
	} else {
		g_snprintf(cred, sizeof(cred), "%s:%s", user, pass);
		argv[n++] = "--lt-cred-mech";
		argv[n++] = "--user";
		argv[n++] = cred;
	}
	argv[n] = NULL;
	GError *err = NULL;
	if (!g_spawn_async(NULL, (char **)argv, NULL,
	                   G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD |
	                           G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
	                   turn_child_setup, NULL, &t->pid, &err)) {
		printf("# turnserver: %s\n", err->message);
		g_error_free(err);
		return false;
	}
	for (int i = 0; i < 300 && !udp_port_taken(t->port); i++)
		g_usleep(10000);
	return udp_port_taken(t->port);
}

/* The server's log, for what it relayed (NULL if none). */
static char *turn_log(struct turn *t)
{
	char *path = g_strdup_printf("%s/turn.log", t->dir), *text = NULL;
	g_file_get_contents(path, &text, NULL, NULL);
	g_free(path);
	return text;
}

static void turn_stop(struct turn *t)
{
	if (t->pid > 0) {
		kill(t->pid, SIGTERM);
		waitpid(t->pid, NULL, 0);
		g_spawn_close_pid(t->pid);
	}
	char *cmd = g_strdup_printf("rm -rf '%s'", t->dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", t->dir);
	g_free(cmd);
}

struct log_box {
	GMutex mu;
	GString *text;
};

static void log_capture(enum log_level level, const char *line, size_t len, void *arg)
{
	struct log_box *b = arg;
	(void)level;
	g_mutex_lock(&b->mu);
	g_string_append_len(b->text, line, (gssize)len);
	g_string_append_c(b->text, '\n');
	g_mutex_unlock(&b->mu);
}

/* Every log line from here on (any thread) goes into b. */
static void log_box_start(struct log_box *b, enum log_level level)
{
	b->text = g_string_new(NULL);
	g_mutex_init(&b->mu);
	log_setup(level, LOG_FORMAT_TEXT);
	log_set_sink(log_capture, b);
}

/* Back to stderr at the usual level; the caller frees b->text. */
static void log_box_stop(struct log_box *b)
{
	log_set_sink(NULL, NULL);
	log_setup(LOG_NOTICE, LOG_FORMAT_TEXT);
	g_mutex_clear(&b->mu);
}

/* Relay-only ICE through a real TURN server: every candidate the relay reports is relayed,
 * none is the relay's own port, and SRTP media goes both ways through the server; no log
 * line holds the credentials. */
static void turn_case(bool keyed)
{
	static const char pass[] = "turn-Pa55-never-logged", key[] = "turn-shared-KEY-never-logged";
	struct log_box lb;
	log_box_start(&lb, LOG_DEBUG);
	uint16_t base = test_port_range_base();
	struct turn t;
	TAP_CHECK(turn_start(&t, base, "gorgee-test", pass, keyed ? key : NULL));
	char server[32];
	g_snprintf(server, sizeof(server), "127.0.0.1:%u", t.port);
	struct fx f;
	struct relay_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.turn_server = server;
	if (keyed) {
		cfg.turn_secret = (const uint8_t *)key;
		cfg.turn_secret_len = strlen(key);
		cfg.turn_ttl_secs = 600;
	} else {
		cfg.turn_username = "gorgee-test";
		cfg.turn_password = pass;
	}
	cfg.ice_relay_only = true;
	fx_init_cfg(&f, &cfg);
	struct call c;
	call_start(&c, &f, true, RELAY_DTLS_PASSIVE, "SRTP_AES128_CM_SHA1_80");
	TAP_CHECK(connect_all(&c, 1));
	TAP_CHECK(f.cands->len >= 1);
	char own[16];
	g_snprintf(own, sizeof(own), " %u ", c.loc[0].rtp_port);
	for (guint i = 0; i < f.cands->len; i++) {
		const char *cand = f.cands->pdata[i];
		TAP_CHECK(strstr(cand, " typ relay ") != NULL);
		TAP_CHECK(strstr(cand, own) == NULL || strstr(cand, " rport ") < strstr(cand, own));
		unsigned port = 0;
		const char *at = strstr(cand, " 127.0.0.1 ");
		TAP_CHECK(at && sscanf(at, " 127.0.0.1 %u", &port) == 1);
		TAP_CHECK(port >= base + 160u && port <= base + 190u); /* coturn's relayed range */
	}
	int to_b, to_p;
	media_both_ways(&c, 1, 10, &to_b, &to_p);
	TAP_CHECK_INT(to_b, 10);
	TAP_CHECK_INT(to_p, 10);
	call_end(&c);
	fx_done(&f);
	/* coturn's own account: allocated, media over a channel, freed at the hangup (the port
	 * came back only after that) */
	char *tl = NULL;
	for (int i = 0; i < 100 && !(tl && strstr(tl, "lifetime=0")); i++) {
		g_free(tl);
		g_usleep(20000);
		tl = turn_log(&t);
	}
	TAP_CHECK(tl && strstr(tl, "ALLOCATE processed, success") != NULL);
	TAP_CHECK(tl && strstr(tl, "CHANNEL_BIND processed, success") != NULL);
	TAP_CHECK(tl && strstr(tl, "lifetime=0") != NULL);
	TAP_CHECK(tl && strstr(tl, "REFRESH processed, success") != NULL);
	g_free(tl);
	turn_stop(&t);
	log_box_stop(&lb);
	TAP_CHECK(lb.text->len > 0);
	TAP_CHECK(strstr(lb.text->str, pass) == NULL && strstr(lb.text->str, key) == NULL);
	g_string_free(lb.text, TRUE);
}

static void t_turn_fixed(void)
{
	turn_case(false);
}

static void t_turn_keyed(void)
{
	turn_case(true);
}

/* Refused credentials: no relayed candidate, a warning that names the server and not the
 * password, and with relay-only nothing else is offered either. */
static void t_turn_refused(void)
{
	static const char wrong[] = "wrong-Pa55-never-logged";
	struct log_box lb;
	log_box_start(&lb, LOG_INFO);
	uint16_t base = test_port_range_base();
	struct turn t;
	TAP_CHECK(turn_start(&t, base, "gorgee-test", "the-right-one", NULL));
	char server[32];
	g_snprintf(server, sizeof(server), "127.0.0.1:%u", t.port);
	struct fx f;
	struct relay_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.turn_server = server;
	cfg.turn_username = "gorgee-test";
	cfg.turn_password = wrong;
	cfg.ice_relay_only = true;
	fx_init_cfg(&f, &cfg);
	int b = udp_on("127.0.0.1");
	struct relay_local loc[2];
	struct relay_session *s = gather_only(&f, b, loc, 5000);
	TAP_CHECK_INT(f.cands->len, 0);
	relay_session_free(s);
	TAP_CHECK(ports_back(&f));
	close(b);
	fx_done(&f);
	turn_stop(&t);
	log_box_stop(&lb);
	char want[96];
	g_snprintf(want, sizeof(want), "no relayed candidate from TURN server %s", server);
	TAP_CHECK(strstr(lb.text->str, want) != NULL);
	TAP_CHECK(strstr(lb.text->str, wrong) == NULL);
	g_string_free(lb.text, TRUE);
}

/* TURN configuration refused at relay_new: credentials missing, both kinds, relay-only
 * without a server, a name instead of an address. */
static void t_turn_bad_config(void)
{
	static const uint8_t k[] = "k";
	struct relay_config base = {.workers = 1, .bind_addr = "127.0.0.1", .port_min = 40000,
	                            .port_max = 40010};
	struct relay *r = NULL;
	struct relay_config c = base;
	c.turn_server = "127.0.0.1:3478"; /* no credentials */
	TAP_CHECK_INT(relay_new(&c, &r), EINVAL);
	c.turn_username = "u";
	c.turn_password = "p";
	c.turn_secret = k;
	c.turn_secret_len = 1; /* both */
	TAP_CHECK_INT(relay_new(&c, &r), EINVAL);
	c.turn_secret = NULL;
	c.turn_secret_len = 0;
	c.turn_server = "turn.example.com:3478";
	TAP_CHECK_INT(relay_new(&c, &r), EINVAL);
	c.turn_server = "127.0.0.1:3478";
	c.turn_transport = (enum relay_turn_transport)7;
	TAP_CHECK_INT(relay_new(&c, &r), EINVAL);
	c = base;
	c.ice_relay_only = true; /* no server */
	TAP_CHECK_INT(relay_new(&c, &r), EINVAL);
	TAP_CHECK(r == NULL);
}

/* The DTLS certificate from PEM files: its fingerprint is the one reported. */
static void t_cert_file(void)
{
	EVP_PKEY *key;
	X509 *cert;
	make_cert(&key, &cert);
	char dir[] = "/tmp/gorgee-ice-XXXXXX";
	TAP_CHECK(g_mkdtemp(dir) != NULL);
	char *cf = g_build_filename(dir, "cert.pem", NULL);
	char *kf = g_build_filename(dir, "key.pem", NULL);
	FILE *fp = fopen(cf, "w");
	PEM_write_X509(fp, cert);
	fclose(fp);
	fp = fopen(kf, "w");
	PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL);
	fclose(fp);
	uint8_t md[32];
	unsigned mdn = 0;
	X509_digest(cert, EVP_sha256(), md, &mdn);
	EVP_PKEY_free(key);
	X509_free(cert);
	struct fx f;
	struct relay_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.cert_file = cf;
	cfg.key_file = kf;
	fx_init_cfg(&f, &cfg);
	uint8_t got[32];
	fp_bytes(relay_dtls_fingerprint(f.r), got);
	TAP_CHECK(memcmp(got, md, 32) == 0);
	fx_done(&f);
	unlink(cf);
	unlink(kf);
	rmdir(dir);
	g_free(cf);
	g_free(kf);
}

/* No DTLS from the peer: the handshake deadline fires DTLS_FAILED. A session freed before
 * it started leaves no port and no memory. */
static void t_dtls_timeout_and_teardown(void)
{
	struct fx f;
	struct relay_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.dtls_timeout_secs = 1;
	fx_init_cfg(&f, &cfg);
	struct call c;
	memset(&c, 0, sizeof(c));
	c.f = &f;
	/* the peer is passive too: nobody sends a ClientHello */
	c.p = peer_new(f.r, false, false, "SRTP_AEAD_AES_128_GCM", (uint16_t)(f.base + 200));
	c.b = udp_on("127.0.0.1");
	struct relay_session_params p = ice_params(&c, true, RELAY_DTLS_PASSIVE, true);
	TAP_CHECK_INT(relay_session_new(f.r, &p, c.loc, &c.s), 0);
	struct creds cr = {c.loc[0].ice_ufrag, c.loc[0].ice_pwd};
	peer_run(c.p, peer_set_remote, &cr);
	TAP_CHECK(!connect_all(&c, 1));
	TAP_CHECK(WAIT_FOR(&f, f.n_ev[RELAY_EV_DTLS_FAILED] == 1, 3000));
	TAP_CHECK_STR(f.dtls_detail, "handshake timeout");
	TAP_CHECK_INT(f.n_ev[RELAY_EV_ICE_CONNECTED], 1);
	call_end(&c);
	/* freed at once, before the worker even attached it */
	struct relay_session *s2 = NULL;
	TAP_CHECK_INT(relay_session_new(f.r, &p, c.loc, &s2), 0);
	relay_session_free(s2);
	TAP_CHECK(ports_back(&f));
	fx_done(&f);
}

/* Blocks the peer's thread until *release is set (at most 40 s). */
static gboolean stall_peer(gpointer data)
{
	gint *release = data;
	for (int i = 0; i < 4000 && !g_atomic_int_get(release); i++)
		g_usleep(10000);
	return G_SOURCE_REMOVE;
}

/* RFC 7675: the browser goes silent; consent is lost (libnice: after ~10 s, within the
 * RFC's 30 s) and ICE_FAILED is reported. About 10 s. */
static void t_consent_lost(void)
{
	struct fx f;
	fx_init(&f);
	struct call c;
	call_start(&c, &f, true, RELAY_DTLS_PASSIVE, "SRTP_AEAD_AES_128_GCM");
	TAP_CHECK(connect_all(&c, 1));
	/* The browser goes silent with its socket still open (a NAT that stopped mapping:
	 * no ICMP either): its thread stalls, so no STUN answer comes back. */
	gint64 t0 = g_get_monotonic_time();
	static gint release;
	g_atomic_int_set(&release, 0);
	g_main_context_invoke(c.p->ctx, stall_peer, &release);
	TAP_CHECK(WAIT_FOR(&f, f.n_ev[RELAY_EV_ICE_FAILED] == 1, 45000));
	gint64 secs = (g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
	printf("# ICE_FAILED after %lld s\n", (long long)secs);
	/* libnice 0.1.21 gives up ~10 s after the last consent response (its own constant);
	 * RFC 7675 §5.1 requires stopping within 30 s */
	TAP_CHECK(secs >= 5 && secs <= 30);
	/* nothing is sent toward the vanished peer any more */
	uint8_t pk[200];
	size_t len = make_rtp(pk, 1, 0xdef, 160);
	send_to(c.b, c.loc[1].rtp_port, pk, len);
	pump(&f, 50);
	struct relay_session_stats st = stats(&f, c.s);
	TAP_CHECK_INT(st.ep[1].packets_out, 0);
	g_atomic_int_set(&release, 1);
	call_end(&c); /* waits for the stall to end */
	fx_done(&f);
}

/* ---- BUNDLE: one ICE transport, several streams, each with its own UDP endpoint ---- */

#define MID_EXT 4

/* RTP with, when mid is not NULL, an RFC 8285 one-byte MID element (id MID_EXT). */
static size_t make_rtp_mid(uint8_t *b, uint8_t pt, uint16_t seq, uint32_t ssrc, const char *mid,
			   size_t payload)
{
	size_t n = make_rtp(b, seq, ssrc, 0);
	b[1] = pt;
	if (mid) {
		size_t ml = strlen(mid), words = (1 + ml + 3) / 4;
		b[0] |= 0x10;
		b[n++] = 0xBE;
		b[n++] = 0xDE;
		b[n++] = 0;
		b[n++] = (uint8_t)words;
		b[n++] = (uint8_t)(MID_EXT << 4 | (ml - 1));
		memcpy(b + n, mid, ml);
		n += ml;
		while ((n - 16) % 4) /* padding elements up to the declared words */
			b[n++] = 0;
	}
	for (size_t i = 0; i < payload; i++)
		b[n++] = (uint8_t)(seq + i);
	return n;
}

/* The browser sends k; true when fd gets exactly it (plain) within ms. */
static bool browser_to(struct call *c, const uint8_t *pk, size_t len, int fd, int ms)
{
	struct pkt k = {pk, len, true};
	peer_run(c->p, peer_send, &k);
	uint8_t q[2048];
	ssize_t got = recv_in(fd, q, sizeof(q), ms);
	return got == (ssize_t)len && memcmp(q, pk, len) == 0;
}

/* fd sends pk to port; true when the browser gets exactly want (unprotected). */
static bool to_browser_as(struct call *c, int fd, uint16_t port, const uint8_t *pk, size_t len,
			  const uint8_t *want, size_t want_len)
{
	send_to(fd, port, pk, len);
	pk = want;
	len = want_len;
	gint64 end = g_get_monotonic_time() + G_USEC_PER_SEC;
	while (g_get_monotonic_time() < end) {
		bool ok = false;
		g_mutex_lock(&c->p->mu);
		for (guint j = 0; j < c->p->got->len && !ok; j++) {
			gsize gn;
			const uint8_t *gb = g_bytes_get_data(c->p->got->pdata[j], &gn);
			ok = gn == len && memcmp(gb, pk, len) == 0;
		}
		g_mutex_unlock(&c->p->mu);
		if (ok)
			return true;
		g_usleep(1000);
	}
	return false;
}

static bool to_browser(struct call *c, int fd, uint16_t port, const uint8_t *pk, size_t len)
{
	return to_browser_as(c, fd, port, pk, len, pk, len);
}

/* RTP from a stream's own endpoint reaches the browser with that stream's MID added. */
static bool to_browser_mid(struct call *c, int fd, uint16_t port, uint8_t pt, uint16_t seq,
			   uint32_t ssrc, const char *mid, size_t payload)
{
	uint8_t pk[400], want[400];
	size_t n = make_rtp_mid(pk, pt, seq, ssrc, NULL, payload);
	size_t wn = make_rtp_mid(want, pt, seq, ssrc, mid, payload);
	return to_browser_as(c, fd, port, pk, n, want, wn);
}

static void demux_set(struct relay_demux *d, const char *mid, uint8_t pt, uint32_t ssrc)
{
	memset(d, 0, sizeof(*d));
	g_strlcpy(d->mid, mid, sizeof(d->mid));
	d->pt[d->n_pt++] = pt;
	if (ssrc)
		d->ssrc[d->n_ssrc++] = ssrc;
	d->clock_rate = pt == 111 ? 48000 : 90000;
}

/*
 * Stream 0 audio (mid "0", PT 111) on the session's UDP endpoint; stream 1 video (mid "1",
 * PT 96, RTCP muxed); stream 2 (mid "2", PT 100, a=ssrc 0x5555, RTCP on its own port).
 */
static void t_bundle_demux(void)
{
	struct fx f;
	fx_init(&f);
	struct call c;
	call_start(&c, &f, true, RELAY_DTLS_PASSIVE, "SRTP_AEAD_AES_128_GCM");
	int v1 = udp_on("127.0.0.1"), v2 = udp_on("127.0.0.1"), v2r = udp_on("127.0.0.1");
	struct relay_streams st;
	memset(&st, 0, sizeof(st));
	st.n = 3;
	st.bundled = 0;
	st.mid_ext_id = MID_EXT;
	demux_set(&st.demux[0], "0", 111, 0);
	demux_set(&st.demux[1], "1", 96, 0);
	demux_set(&st.demux[2], "2", 100, 0x5555);
	st.ep[1][0].remote_rtp = addr_of(v1);
	st.ep[1][0].rtcp_mux = true;
	st.ep[1][0].pt_allow[st.ep[1][0].n_pt_allow++] = 96;
	st.ep[1][1].remote_rtp = addr_of(v2);
	st.ep[1][1].remote_rtcp = addr_of(v2r);
	st.ep[1][1].pt_allow[st.ep[1][1].n_pt_allow++] = 100;
	struct relay_local xll[2][RELAY_MAX_STREAMS - 1], *xl = xll[1];
	TAP_CHECK_INT(relay_session_set_streams(c.s, &st, xll), 0);
	TAP_CHECK(xl[0].rtp_port && xl[0].rtcp_port == xl[0].rtp_port);
	TAP_CHECK(xl[1].rtp_port && xl[1].rtcp_port == xl[1].rtp_port + 1);
	TAP_CHECK_INT(xl[2].rtp_port, 0);
	TAP_CHECK(connect_all(&c, 1));

	uint8_t pk[300];
	size_t n;
	/* by MID; the MID teaches SSRC 0x111, so its next packet needs none */
	n = make_rtp_mid(pk, 111, 1, 0xabc, "0", 100);
	TAP_CHECK(browser_to(&c, pk, n, c.b, 1000));
	n = make_rtp_mid(pk, 96, 1, 0x111, "1", 200);
	TAP_CHECK(browser_to(&c, pk, n, v1, 1000));
	n = make_rtp_mid(pk, 96, 2, 0x111, NULL, 200);
	TAP_CHECK(browser_to(&c, pk, n, v1, 1000));
	/* the two-byte form (RFC 8285 §4.3, profile 0x100X) names a stream too */
	static const uint8_t two[] = {0x90, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0x22, 0x22,
				      0x10, 0x00, 0, 1, MID_EXT, 1, '1', 0, 0xAA, 0xBB};
	TAP_CHECK(browser_to(&c, two, sizeof(two), v1, 1000));
	/* ... and it is read: mid "1" with stream 2's PT is dropped, not routed by PT */
	uint8_t two2[sizeof(two)];
	memcpy(two2, two, sizeof(two));
	two2[1] = 100;
	two2[11] = 0x33;
	TAP_CHECK(!browser_to(&c, two2, sizeof(two2), v2, 100));
	/* by signalled SSRC, then by PT for an SSRC nobody named */
	n = make_rtp_mid(pk, 100, 1, 0x5555, NULL, 120);
	TAP_CHECK(browser_to(&c, pk, n, v2, 1000));
	n = make_rtp_mid(pk, 96, 1, 0x777, NULL, 120);
	TAP_CHECK(browser_to(&c, pk, n, v1, 1000));
	/* no stream for PT 50; PT 111 under mid "1" is not that stream's */
	n = make_rtp_mid(pk, 50, 1, 0x888, NULL, 120);
	TAP_CHECK(!browser_to(&c, pk, n, v1, 100));
	n = make_rtp_mid(pk, 111, 3, 0x111, "1", 120);
	TAP_CHECK(!browser_to(&c, pk, n, c.b, 100));
	TAP_CHECK(recv_in(v1, pk, sizeof(pk), 50) < 0 && recv_in(v2, pk, sizeof(pk), 1) < 0);

	/* back: each stream's endpoint reaches the browser over the one transport, its MID
	 * added (RFC 8843 §9.1), an extension the phone sent replaced */
	TAP_CHECK(to_browser_mid(&c, v1, xl[0].rtp_port, 96, 10, 0x9999, "1", 300 - 16));
	TAP_CHECK(to_browser_mid(&c, v2, xl[1].rtp_port, 100, 10, 0x6666, "2", 100));
	TAP_CHECK(to_browser_mid(&c, c.b, c.loc[1].rtp_port, 111, 10, 0x4444, "0", 100));
	uint8_t want[400];
	n = make_rtp_mid(pk, 96, 11, 0x9999, "zz", 50); /* the phone's own extension */
	size_t wn = make_rtp_mid(want, 96, 11, 0x9999, "1", 50);
	TAP_CHECK(to_browser_as(&c, v1, xl[0].rtp_port, pk, n, want, wn));
	/* RTCP on stream 2's own RTCP port reaches the browser too */
	static const uint8_t rr2[] = {0x81, 201, 0, 7, 0, 0, 0x66, 0x66, 0, 0, 0x55, 0x55,
				      0,    0,   0, 0, 0, 0, 0,    1,    0, 0, 0,    0,
				      0,    0,   0, 0, 0, 0, 0,    0};
	TAP_CHECK(to_browser(&c, v2r, xl[1].rtcp_port, rr2, sizeof(rr2)));

	/* RTCP from the browser: a report about 0x9999 (what v1 sends) goes to stream 1; one
	 * about nobody from sender 0x5555 goes to stream 2's RTCP port; PLI for 0x6666 too */
	static const uint8_t rr1[] = {0x81, 201, 0, 7, 0, 0, 0x0a, 0xbc, 0, 0, 0x99, 0x99,
				      0,    0,   0, 0, 0, 0, 0,    1,    0, 0, 0,    0,
				      0,    0,   0, 0, 0, 0, 0,    0};
	TAP_CHECK(browser_to(&c, rr1, sizeof(rr1), v1, 1000));
	static const uint8_t rr0[] = {0x80, 201, 0, 1, 0, 0, 0x55, 0x55};
	TAP_CHECK(browser_to(&c, rr0, sizeof(rr0), v2r, 1000));
	static const uint8_t pli[] = {0x81, 206, 0, 2, 0, 0, 0x01, 0x11, 0, 0, 0x66, 0x66};
	TAP_CHECK(browser_to(&c, pli, sizeof(pli), v2r, 1000));

	struct relay_session_stats ss = stats(&f, c.s);
	TAP_CHECK_INT(ss.n_streams, 3);
	TAP_CHECK_INT(ss.stream[0][0].packets_in, 1);
	TAP_CHECK_INT(ss.stream[1][0].packets_in, 5);
	TAP_CHECK_INT(ss.stream[1][0].packets_out, 5);
	TAP_CHECK_INT(ss.stream[1][0].rtcp_in, 1);
	TAP_CHECK_INT(ss.stream[2][0].packets_in, 3);
	TAP_CHECK_INT(ss.stream[2][0].rtcp_in, 2);
	TAP_CHECK_INT(ss.stream[1][1].packets_in, 2);
	TAP_CHECK_INT(ss.stream[1][1].packets_out, 2);
	TAP_CHECK_INT(ss.stream[2][1].packets_in, 2); /* RTP and RTCP */
	TAP_CHECK_INT(ss.stream[2][1].rtcp_in, 1);
	TAP_CHECK_INT(ss.stream[0][1].packets_in, 1);
	TAP_CHECK_INT(ss.ep[0].packets_in, 9);
	TAP_CHECK_INT(ss.ep[0].dropped, 3);
	TAP_CHECK_INT(ss.stream[1][0].dropped, 2); /* the wrong PTs under mid "1" */

	/* renegotiation: stream 2 goes (its ports return), stream 1 stays where it was */
	unsigned held = relay_ports_in_use(relay_get_ports(f.r));
	st.n = 2;
	TAP_CHECK_INT(relay_session_set_streams(c.s, &st, xll), 0);
	TAP_CHECK_INT(xl[1].rtp_port, 0);
	TAP_CHECK(WAIT_FOR(&f, relay_ports_in_use(relay_get_ports(f.r)) == held - 1, 2000));
	n = make_rtp_mid(pk, 100, 2, 0x5555, NULL, 120);
	TAP_CHECK(!browser_to(&c, pk, n, v2, 100));
	n = make_rtp_mid(pk, 96, 4, 0x111, "1", 200); /* seq 3 was used: SRTP replay */
	TAP_CHECK(browser_to(&c, pk, n, v1, 1000));
	/* a bundled endpoint must be an ICE one; a stream endpoint a plain one */
	st.bundled = 1;
	TAP_CHECK_INT(relay_session_set_streams(c.s, &st, xll), EINVAL);
	st.bundled = 0;
	st.n = RELAY_MAX_STREAMS + 1;
	TAP_CHECK_INT(relay_session_set_streams(c.s, &st, xll), EINVAL);
	close(v1);
	close(v2);
	close(v2r);
	call_end(&c);
	fx_done(&f);
}

/*
 * Cases that connect ICE and run DTLS opt out of the heap-delta check (no_leak_check 1):
 * glibc's mallinfo2 grows by a constant 448 bytes per run of such a case while nothing
 * stays allocated: a glibc mtrace of the measured run shows every allocation freed, and
 * memcheck reports the same bytes in use at exit after 1 and after 6 runs. memcheck (the
 * valgrind setup) and LeakSanitizer (the asan setup) still check these cases.
 */
static const struct tap_case cases[] = {
	{"ICE + DTLS: relay passive, AEAD_AES_128_GCM, media both ways, unchecked source ignored",
	 t_passive_gcm, 1},
	{"ICE + DTLS: relay active (controlled), AES_CM_128_HMAC_SHA1_80", t_active_cm80, 1},
	{"ICE + DTLS: relay active (controlling), AEAD_AES_128_GCM", t_active_gcm, 1},
	{"ICE + DTLS: relay passive (controlled), AES_CM_128_HMAC_SHA1_80", t_passive_cm80, 1},
	{"BI-40 fingerprint mismatch (relay server): DTLS_FAILED, nothing forwarded",
	 t_fp_mismatch_passive, 1},
	{"BI-40 fingerprint mismatch (relay client): DTLS_FAILED, nothing forwarded",
	 t_fp_mismatch_active, 1},
	{"answer by update (early trickle held), then ICE restart keeps DTLS",
	 t_answer_then_restart, 1},
	{"BI-38 bad DTLS records over the checked pair after the handshake: discarded, media flows",
	 t_bi38_over_ice, 1},
	{"BUNDLE: demux by MID, learned and signalled SSRC, PT; RTCP by SSRC; streams removed",
	 t_bundle_demux, 1},
	{"trickled candidate lines: accepted, ignored, refused; cap (BI-23)", t_candidate_parse, 0},
	/* no per-case heap check: each run leaves 448 bytes more in use, all reachable (memcheck
	 * finds nothing lost in this case under valgrind); not yet traced to its owner */
	{"the browser's candidates all mDNS names: ignored, it connects peer-reflexive", t_mdns_candidates, 1},
	{"bad ICE/DTLS parameters and configuration refused (BI-24)", t_bad_params, 0},
	{"1:1 NAT: public address in host candidates of its family", t_public_addr, 0},
	/* PEM reading and writing moves OpenSSL 3's decoder/encoder caches by +16/-16 bytes
	 * between runs (+16, -16, +16, 0 over four runs: nothing accumulates) */
	{"DTLS certificate and key from PEM files", t_cert_file, 1},
	{"DTLS handshake timeout; free before start", t_dtls_timeout_and_teardown, 1},
	{"RFC 7675 consent lost within 30 s -> ICE_FAILED, nothing sent (~10 s)", t_consent_lost,
	 1},
	{"IPv6 ICE: host candidates of both families, a browser on ::1, media both ways",
	 t_ipv6, 1},
	{"BI-27 malformed STUN, BI-28 10,000 unauthenticated Binding requests from 40 sources: "
	 "no answer, the call unaffected", t_stun_bad_input, 1},
	{"ICE-TCP: a browser with TCP candidates only; DTLS-SRTP media both ways", t_ice_tcp, 1},
	{"TURN relay-only (long-term credentials): relayed candidates only, media via coturn",
	 t_turn_fixed, 1},
	{"TURN relay-only (time-limited credentials from a shared key) via coturn", t_turn_keyed, 1},
	{"TURN credentials refused: no candidate, a warning without the password", t_turn_refused,
	 1},
	{"TURN configuration refused (credentials, relay-only, names)", t_turn_bad_config, 0},
};

TAP_MAIN(cases)
