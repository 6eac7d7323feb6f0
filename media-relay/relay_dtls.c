/* DTLS-SRTP (RFC 5763, RFC 5764) for ICE endpoints and plain UDP endpoints: the process-wide
 * certificate and SSL_CTX, and one handshake per association over memory BIOs fed by the
 * endpoint's receive path (relay_ice.c, relay_dtls_udp.c). */
#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/srtp.h>
#include <openssl/x509.h>
#include <string.h>

#include "relay_priv.h"

/* SEC-12: the two profiles browsers offer; GCM first (cheaper here, LIBRARY-NOTES.md). */
#define SRTP_PROFILES "SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80"
/* Records stay under the path MTU less IP/UDP and TURN overhead. */
#define DTLS_MTU 1200

enum dtls_state { D_IDLE, D_HANDSHAKE, D_DONE, D_FAILED };

struct dtls {
	struct relay *r;
	enum dtls_state state;
	bool client;
	SSL *ssl;
	BIO *rbio; /* memory BIO: one datagram at a time from the ICE recv path */
	GMainContext *ctx;
	GSource *retransmit; /* DTLSv1_get_timeout */
	GSource *deadline;   /* handshake timeout (SEC-12) */
	char fp_hash[16];
	uint8_t fp[RELAY_FP_MAX];
	size_t fp_len;
	bool fp_bad;         /* the verify callback saw a certificate that does not match */
	const char *why;     /* a reason the ClientHello callback gave, or NULL */
	/* HelloVerifyRequest cookies (RFC 6347 §4.2.1, BI-37): HMAC of the datagram's source
	 * under a per-association key, so answering a ClientHello keeps no state per packet */
	uint8_t cookie_key[32];
	uint8_t src[32];     /* the current datagram's source (relay_dtls_set_source) */
	size_t src_len;
	bool cookie_ok;      /* a ClientHello came back with a valid cookie (server) */
	bool listened;       /* DTLSv1_listen took that hello: the handshake proper runs */
	bool hello_frag;     /* the datagram being read is a fragment of a ClientHello */
	const char *profile; /* after D_DONE */
	dtls_send_fn *send;
	dtls_done_fn *done;
	void *arg;
	char *call_id;
};

static const char *state_name(enum dtls_state s)
{
	switch (s) {
	case D_IDLE:
		return "idle";
	case D_HANDSHAKE:
		return "handshake";
	case D_DONE:
		return "done";
	case D_FAILED:
		return "failed";
	}
	return "?";
}

static void set_state(struct dtls *d, enum dtls_state to)
{
	struct log_ctx lc = {.call_id = d->call_id, .leg = "dtls"};
	LOGD("relay", &lc, "DTLS %s -> %s (%s)", state_name(d->state), state_name(to),
	     d->client ? "client" : "server");
	d->state = to;
}

static const EVP_MD *md_by_name(const char *name)
{
	if (!g_ascii_strcasecmp(name, "sha-1"))
		return EVP_sha1();
	if (!g_ascii_strcasecmp(name, "sha-256"))
		return EVP_sha256();
	if (!g_ascii_strcasecmp(name, "sha-384"))
		return EVP_sha384();
	if (!g_ascii_strcasecmp(name, "sha-512"))
		return EVP_sha512();
	return NULL;
}

/* ---- the process-wide certificate ---- */

static int self_signed(EVP_PKEY **key_out, X509 **cert_out)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	int err = EIO;
	if (!key || !x)
		goto out;
	uint8_t serial[8];
	if (RAND_bytes(serial, sizeof(serial)) != 1)
		goto out;
	serial[0] &= 0x7f; /* positive */
	BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
	ASN1_INTEGER *sn = bn ? BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) : NULL;
	BN_free(bn);
	X509_NAME *name = X509_get_subject_name(x);
	/* WebRTC peers check the fingerprint only; validity spans clock skew and a year. */
	if (!sn || X509_set_version(x, 2) != 1 ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -86400) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), 365L * 86400) || X509_set_pubkey(x, key) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"gorgee",
	                               -1, -1, 0) != 1 ||
	    X509_set_issuer_name(x, name) != 1 || X509_sign(x, key, EVP_sha256()) <= 0)
		goto out;
	*key_out = key;
	*cert_out = x;
	key = NULL;
	x = NULL;
	err = 0;
out:
	EVP_PKEY_free(key);
	X509_free(x);
	return err;
}

static char *fingerprint_of(X509 *x)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	if (X509_digest(x, EVP_sha256(), md, &n) != 1)
		return NULL;
	GString *s = g_string_new("sha-256 ");
	for (unsigned i = 0; i < n; i++)
		g_string_append_printf(s, i ? ":%02X" : "%02X", md[i]);
	return g_string_free(s, FALSE);
}

static struct dtls *dtls_of(SSL *ssl)
{
	return SSL_get_app_data(ssl);
}

/* RFC 8122 §5: the certificate the peer presented must hash to the signalled value. The
 * chain is self-signed, so OpenSSL's own verdict (preverify) is ignored on purpose. */
static int verify_cb(int preverify, X509_STORE_CTX *xs)
{
	(void)preverify;
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct dtls *d = ssl ? dtls_of(ssl) : NULL;
	if (!d)
		return 0;
	if (X509_STORE_CTX_get_error_depth(xs) != 0)
		return 1; /* only the end-entity certificate is pinned */
	X509 *x = X509_STORE_CTX_get_current_cert(xs);
	const EVP_MD *md = d->fp_len ? md_by_name(d->fp_hash) : NULL;
	uint8_t h[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	if (!x || !md || X509_digest(x, md, h, &n) != 1 || n != d->fp_len ||
	    CRYPTO_memcmp(h, d->fp, n) != 0) {
		d->fp_bad = true;
		return 0;
	}
	return 1;
}

#define COOKIE_LEN 20

static void cookie_of(const struct dtls *d, uint8_t out[COOKIE_LEN])
{
	uint8_t h[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	if (!HMAC(EVP_sha256(), d->cookie_key, sizeof(d->cookie_key), d->src, d->src_len, h, &n))
		memset(h, 0, sizeof(h)); /* no cookie ever matches an all-zero one made here */
	memcpy(out, h, COOKIE_LEN);
}

static int cookie_gen(SSL *ssl, unsigned char *cookie, unsigned int *len)
{
	cookie_of(dtls_of(ssl), cookie);
	*len = COOKIE_LEN;
	return 1;
}

static int cookie_verify(SSL *ssl, const unsigned char *cookie, unsigned int len)
{
	struct dtls *d = dtls_of(ssl);
	uint8_t want[COOKIE_LEN];
	cookie_of(d, want);
	if (len != COOKIE_LEN || CRYPTO_memcmp(cookie, want, len) != 0)
		return 0;
	d->cookie_ok = true;
	return 1;
}

/* RFC 5764 §4.1.1 use_srtp: profiles<2..2^16-1> (pairs of bytes), srtp_mki<0..255>, and
 * nothing after. true when well-formed with a profile we take; *why says otherwise. */
static bool use_srtp_ok(const uint8_t *p, size_t n, const char **why)
{
	*why = "malformed use_srtp extension";
	if (n < 2)
		return false;
	size_t pl = (size_t)p[0] << 8 | p[1];
	if (pl < 2 || pl % 2 || 2 + pl + 1 > n)
		return false;
	size_t mki = p[2 + pl];
	if (2 + pl + 1 + mki != n)
		return false; /* BI-39: an MKI running past the extension, or trailing bytes */
	for (size_t i = 0; i < pl; i += 2) {
		unsigned id = (unsigned)p[2 + i] << 8 | p[3 + i];
		if (id == SRTP_AEAD_AES_128_GCM || id == SRTP_AES128_CM_SHA1_80)
			return true;
	}
	*why = "no common SRTP profile";
	return false;
}

/* BI-39: a ClientHello without a usable use_srtp fails at once, before any key exchange. */
static int hello_cb(SSL *ssl, int *al, void *arg)
{
	(void)arg;
	struct dtls *d = dtls_of(ssl);
	const unsigned char *ext = NULL;
	size_t n = 0;
	const char *why = "no use_srtp extension";
	if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_use_srtp, &ext, &n) == 1 &&
	    use_srtp_ok(ext, n, &why))
		return SSL_CLIENT_HELLO_SUCCESS;
	if (d)
		d->why = why;
	*al = SSL_AD_HANDSHAKE_FAILURE;
	return SSL_CLIENT_HELLO_ERROR;
}

int relay_dtls_init(struct relay *r, const struct relay_config *cfg)
{
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	int err = EIO;
	struct log_ctx lc = {.leg = "dtls"};
	SSL_CTX *ctx = SSL_CTX_new(DTLS_method());
	if (!ctx)
		return ENOMEM;
	if (!!cfg->cert_file != !!cfg->key_file) {
		err = EINVAL;
		goto fail;
	}
	if (cfg->cert_file) {
		if (SSL_CTX_use_certificate_chain_file(ctx, cfg->cert_file) != 1 ||
		    SSL_CTX_use_PrivateKey_file(ctx, cfg->key_file, SSL_FILETYPE_PEM) != 1) {
			LOGE("relay", &lc, "cannot load DTLS certificate %s / key %s",
			     cfg->cert_file, cfg->key_file);
			err = EINVAL;
			goto fail;
		}
	} else {
		err = self_signed(&key, &cert);
		if (err)
			goto fail;
		err = EIO;
		if (SSL_CTX_use_certificate(ctx, cert) != 1 ||
		    SSL_CTX_use_PrivateKey(ctx, key) != 1)
			goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1)
		goto fail;
	/* SEC-12, BI-38, BI-39: DTLS 1.2 only, no renegotiation, no tickets (heartbeats are
	 * not built into OpenSSL 3); the two SRTP profiles; the peer must show a certificate. */
	SSL_CTX_set_min_proto_version(ctx, DTLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_QUERY_MTU | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET |
	                                 SSL_OP_COOKIE_EXCHANGE);
	/* set_tlsext_use_srtp returns 0 on success */
	if (SSL_CTX_set_tlsext_use_srtp(ctx, SRTP_PROFILES) != 0 ||
	    SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20") != 1 ||
	    SSL_CTX_set1_groups_list(ctx, "X25519:P-256") != 1)
		goto fail;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_cb);
	SSL_CTX_set_cookie_generate_cb(ctx, cookie_gen);
	SSL_CTX_set_cookie_verify_cb(ctx, cookie_verify);
	SSL_CTX_set_client_hello_cb(ctx, hello_cb, NULL);
	SSL_CTX_set_read_ahead(ctx, 1);
	r->fingerprint = fingerprint_of(SSL_CTX_get0_certificate(ctx));
	if (!r->fingerprint)
		goto fail;
	r->dtls_ctx = ctx;
	r->dtls_timeout_secs = cfg->dtls_timeout_secs ? cfg->dtls_timeout_secs : 10;
	EVP_PKEY_free(key);
	X509_free(cert);
	return 0;
fail:
	LOGE("relay", &lc, "DTLS setup failed: %s",
	     ERR_peek_last_error() ? ERR_reason_error_string(ERR_peek_last_error())
	                           : g_strerror(err));
	ERR_clear_error();
	EVP_PKEY_free(key);
	X509_free(cert);
	SSL_CTX_free(ctx);
	return err;
}

void relay_dtls_clear(struct relay *r)
{
	SSL_CTX_free(r->dtls_ctx);
	r->dtls_ctx = NULL;
	g_free(r->fingerprint);
	r->fingerprint = NULL;
}

const char *relay_dtls_fingerprint(struct relay *r)
{
	return r ? r->fingerprint : NULL;
}

/* ---- the write side: each BIO write is one datagram to the selected pair ---- */

static int bio_write(BIO *b, const char *p, int len)
{
	struct dtls *d = BIO_get_data(b);
	if (len > 0 && d)
		d->send((const uint8_t *)p, (size_t)len, d->arg);
	return len;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b;
	(void)num;
	(void)ptr;
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_DGRAM_QUERY_MTU:
		return DTLS_MTU;
	case BIO_CTRL_DGRAM_GET_MTU_OVERHEAD:
		return 0; /* DTLS_MTU is already the payload room */
	default:
		return 0; /* includes WPENDING/PENDING: nothing is ever buffered here */
	}
}

static int bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static BIO_METHOD *write_method; /* made once, kept for the life of the process */
static GOnce method_once = G_ONCE_INIT;

static gpointer make_method(gpointer unused)
{
	(void)unused;
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "gorgee-ice");
	if (m) {
		BIO_meth_set_write(m, bio_write);
		BIO_meth_set_ctrl(m, bio_ctrl);
		BIO_meth_set_create(m, bio_create);
	}
	write_method = m;
	return m;
}

/* ---- one association ---- */

static void stop_source(GSource **src)
{
	if (*src) {
		g_source_destroy(*src);
		g_source_unref(*src);
		*src = NULL;
	}
}

static void fail(struct dtls *d, const char *reason)
{
	if (d->state == D_FAILED)
		return;
	struct log_ctx lc = {.call_id = d->call_id, .leg = "dtls"};
	LOGN("relay", &lc, "DTLS failed (%s): %s", state_name(d->state), reason);
	set_state(d, D_FAILED);
	stop_source(&d->retransmit);
	stop_source(&d->deadline);
	ERR_clear_error();
	d->done(false, reason, d->arg);
}

static gboolean on_retransmit(gpointer data);

static void rearm(struct dtls *d)
{
	stop_source(&d->retransmit);
	struct timeval tv;
	if (d->state != D_HANDSHAKE || DTLSv1_get_timeout(d->ssl, &tv) != 1)
		return;
	guint64 ms = (guint64)tv.tv_sec * 1000 + (guint64)tv.tv_usec / 1000;
	d->retransmit = g_timeout_source_new((guint)MAX(ms, 1));
	g_source_set_callback(d->retransmit, on_retransmit, d, NULL);
	g_source_attach(d->retransmit, d->ctx);
}

static gboolean on_retransmit(gpointer data)
{
	struct dtls *d = data;
	g_source_unref(d->retransmit);
	d->retransmit = NULL;
	if (DTLSv1_handle_timeout(d->ssl) < 0)
		fail(d, "retransmissions exhausted");
	else
		rearm(d);
	return G_SOURCE_REMOVE;
}

static gboolean on_deadline(gpointer data)
{
	struct dtls *d = data;
	g_source_unref(d->deadline);
	d->deadline = NULL;
	fail(d, "handshake timeout");
	return G_SOURCE_REMOVE;
}

static const char *ssl_reason(struct dtls *d)
{
	if (d->fp_bad)
		return "certificate fingerprint mismatch";
	if (d->why)
		return d->why;
	unsigned long e = ERR_peek_last_error();
	const char *s = e ? ERR_reason_error_string(e) : NULL;
	return s ? s : "handshake error";
}

static void finished(struct dtls *d)
{
	const SRTP_PROTECTION_PROFILE *prof = SSL_get_selected_srtp_profile(d->ssl);
	X509 *peer = SSL_get1_peer_certificate(d->ssl);
	X509_free(peer);
	if (!peer || d->fp_bad) { /* the verify callback ran and matched, or we stop here */
		fail(d, "certificate fingerprint mismatch");
		return;
	}
	if (!prof || (prof->id != SRTP_AEAD_AES_128_GCM && prof->id != SRTP_AES128_CM_SHA1_80)) {
		fail(d, "no common SRTP profile");
		return;
	}
	d->profile = prof->name;
	set_state(d, D_DONE);
	stop_source(&d->retransmit);
	stop_source(&d->deadline);
	d->done(true, NULL, d->arg);
}

/*
 * A server answers ClientHellos without a cookie through DTLSv1_listen, which keeps no state
 * (RFC 6347 §4.2.1, BI-37): SSL_do_handshake itself would count a forged hello as the
 * first message and then drop the real client's as a stale retransmission
 * (CVE-2023-49786). Once a hello comes back with our cookie, the handshake proper starts
 * from it (DTLSv1_listen buffers it). true when the handshake may go on.
 */
static bool listen_step(struct dtls *d)
{
	if (d->client || d->listened || d->hello_frag || d->cookie_ok)
		return true; /* fragments: OpenSSL's own exchange (hello_kind) */
	BIO_ADDR *peer = BIO_ADDR_new();
	int rc = peer ? DTLSv1_listen(d->ssl, peer) : -1;
	BIO_ADDR_free(peer);
	struct log_ctx lc = {.call_id = d->call_id, .leg = "dtls"};
	unsigned long e = ERR_peek_last_error();
	LOGD("relay", &lc, "DTLS listen: %d (%s)", rc, e ? ERR_reason_error_string(e) : "-");
	ERR_clear_error();
	if (rc == 1) {
		d->listened = true;
		return true;
	}
	if (rc < 0)
		fail(d, "DTLS listen failed");
	return false; /* answered with a HelloVerifyRequest, or not a hello: dropped */
}

static void step(struct dtls *d)
{
	if (d->state == D_HANDSHAKE) {
		if (!listen_step(d))
			return;
		int rc = SSL_do_handshake(d->ssl);
		if (rc == 1) {
			finished(d);
		} else if (SSL_get_error(d->ssl, rc) == SSL_ERROR_WANT_READ) {
			rearm(d);
		} else {
			fail(d, ssl_reason(d));
		}
		return;
	}
	if (d->state != D_DONE)
		return;
	/* After the handshake only alerts matter: WebRTC sends no application data on an
	 * audio-only association (no data channels here); anything read is discarded. */
	uint8_t sink[2048];
	for (;;) {
		int n = SSL_read(d->ssl, sink, sizeof(sink));
		if (n > 0)
			continue;
		int e = SSL_get_error(d->ssl, n);
		if (e == SSL_ERROR_ZERO_RETURN)
			fail(d, "closed by peer");
		else if (e != SSL_ERROR_WANT_READ)
			fail(d, ssl_reason(d));
		break;
	}
	OPENSSL_cleanse(sink, sizeof(sink));
}

struct dtls *relay_dtls_new(struct relay *r, const struct ice_conf *c, GMainContext *ctx,
			    dtls_send_fn *send, dtls_done_fn *done, void *arg, const char *call_id)
{
	g_once(&method_once, make_method, NULL);
	struct dtls *d = g_new0(struct dtls, 1);
	d->r = r;
	d->ctx = ctx;
	d->send = send;
	d->done = done;
	d->arg = arg;
	d->call_id = g_strdup(call_id);
	d->client = c->role == RELAY_DTLS_ACTIVE;
	g_strlcpy(d->fp_hash, c->fp_hash, sizeof(d->fp_hash));
	memcpy(d->fp, c->fp, sizeof(d->fp));
	d->fp_len = c->fp_len;
	RAND_bytes(d->cookie_key, sizeof(d->cookie_key));
	d->ssl = SSL_new(r->dtls_ctx);
	d->rbio = BIO_new(BIO_s_mem());
	BIO *wbio = write_method ? BIO_new(write_method) : NULL;
	if (!d->ssl || !d->rbio || !wbio) {
		BIO_free(wbio);
		d->state = D_FAILED; /* relay_dtls_start reports it */
		return d;
	}
	BIO_set_mem_eof_return(d->rbio, -1); /* empty = "want read", not EOF */
	BIO_set_data(wbio, d);
	SSL_set_app_data(d->ssl, d);
	SSL_set_bio(d->ssl, d->rbio, wbio); /* the SSL owns both */
	SSL_set_mtu(d->ssl, DTLS_MTU);
	if (d->client)
		SSL_set_connect_state(d->ssl);
	else
		SSL_set_accept_state(d->ssl);
	return d;
}

void relay_dtls_free(struct dtls *d)
{
	if (!d)
		return;
	stop_source(&d->retransmit);
	stop_source(&d->deadline);
	if (d->ssl) {
		BIO_set_data(SSL_get_wbio(d->ssl), NULL);
		SSL_free(d->ssl);
	} else {
		BIO_free(d->rbio);
	}
	g_free(d->call_id);
	g_free(d);
}

void relay_dtls_start(struct dtls *d)
{
	if (d->state == D_FAILED && !d->ssl) {
		d->state = D_IDLE;
		fail(d, "out of memory");
		return;
	}
	if (d->state != D_IDLE)
		return;
	set_state(d, D_HANDSHAKE);
	d->deadline = g_timeout_source_new_seconds(d->r->dtls_timeout_secs);
	g_source_set_callback(d->deadline, on_deadline, d, NULL);
	g_source_attach(d->deadline, d->ctx);
	step(d); /* the client sends its ClientHello; the server waits for one */
}

/*
 * A handshake message the peer's role sends (RFC 5246 §7.4), or a fragment of one that lies
 * inside the message (RFC 6347 §4.2.3) and inside its record. Peers fragment at their MTU
 * (an OpenSSL peer on a memory BIO without one uses 256 bytes), so fragments are read; a
 * consistent forged fragment from the peer's own address can still hold the real message
 * back (OpenSSL keeps the first total length it saw) until the handshake deadline.
 */
#define HS_MSG_MAX 65536 /* a certificate chain from a phone is a few kB */

/* A handshake fragment header h inside a record of rl bytes: message length, fragment
 * offset and length, the fragment inside both the message and the record. */
static bool fragment_fits(const uint8_t *h, size_t rl, size_t *ml, size_t *fo, size_t *fl)
{
	if (rl < 12)
		return false;
	*ml = (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
	*fo = (size_t)h[6] << 16 | (size_t)h[7] << 8 | h[8];
	*fl = (size_t)h[9] << 16 | (size_t)h[10] << 8 | h[11];
	return *ml <= HS_MSG_MAX && *fo + *fl <= *ml && 12 + *fl <= rl;
}

static bool fragment_ok(const struct dtls *d, const uint8_t *h, size_t rl)
{
	size_t ml, fo, fl;
	if (!fragment_fits(h, rl, &ml, &fo, &fl))
		return false;
	switch (h[0]) {
	case 1:  /* client_hello */
	case 11: /* certificate */
	case 15: /* certificate_verify */
	case 16: /* client_key_exchange */
		return !d->client || h[0] == 11;
	case 2:  /* server_hello */
	case 3:  /* hello_verify_request */
	case 12: /* server_key_exchange */
	case 13: /* certificate_request */
	case 14: /* server_hello_done */
		return d->client;
	default:
		return false;
	}
}

/*
 * RFC 6347 §4.1.2.7: invalid records are discarded, not fatal. OpenSSL's state machine fails
 * the association on an unexpected message, so a datagram is read only when every record
 * has a DTLS 1.0/1.2 version, a length inside the datagram, epoch 0 or 1 (no renegotiation
 * here), and a known content type: no heartbeat (BI-38). During the handshake, epoch 0
 * handshake messages must be ones the peer's role sends, and epoch 0 alerts (unauthenticated:
 * anyone who can send from the peer's address could forge one) are not read: a peer that
 * gives up is caught by the handshake deadline instead.
 */
static bool records_ok(const struct dtls *d, const uint8_t *p, size_t len)
{
	if (len < 13)
		return false;
	while (len) {
		if (len < 13 || p[0] < 20 || p[0] > 23 || p[1] != 0xfe ||
		    (p[2] != 0xff && p[2] != 0xfd))
			return false;
		unsigned epoch = (unsigned)p[3] << 8 | p[4];
		size_t rl = (size_t)p[11] << 8 | p[12];
		if (13 + rl > len || epoch > 1)
			return false;
		if (d->state == D_HANDSHAKE && epoch == 0) {
			if (p[0] == 21 /* alert */ || p[0] == 23 /* application data */)
				return false;
			if (p[0] == 22 && !fragment_ok(d, p + 13, rl))
				return false;
		}
		p += 13 + rl;
		len -= 13 + rl;
	}
	return true;
}

/*
 * A server that has not yet seen its cookie come back takes nothing but a ClientHello at
 * epoch 0 whose cookie is empty or ours (BI-37, BI-38): OpenSSL fails the whole association
 * on an unexpected message or a cookie mismatch, and before the cookie proves the source
 * may receive, anyone who can send from that address could end the call that way. A whole
 * hello goes through DTLSv1_listen (stateless); a hello in fragments (Chrome's, with its
 * post-quantum key share, is larger than one datagram) only through OpenSSL's own
 * stateful cookie exchange, as DTLSv1_listen does not reassemble: its first fragment must
 * carry an empty cookie or ours, the others must lie inside the message.
 */
enum hello_kind { HELLO_NO, HELLO_WHOLE, HELLO_FRAGMENT };

static enum hello_kind hello_kind(struct dtls *d, const uint8_t *p, size_t len)
{
	if (len < 13 + 12 || p[0] != 22 || p[3] != 0 || p[4] != 0)
		return HELLO_NO;
	size_t rl = (size_t)p[11] << 8 | p[12];
	const uint8_t *h = p + 13;
	size_t ml, fo, fl;
	if (13 + rl > len || !fragment_fits(h, rl, &ml, &fo, &fl) || h[0] != 1 /* client_hello */)
		return HELLO_NO;
	enum hello_kind kind = fo == 0 && fl == ml ? HELLO_WHOLE : HELLO_FRAGMENT;
	if (fo != 0)
		return kind;
	/* client_version, random[32], session_id<0..32>, cookie<0..255>, cipher_suites... */
	const uint8_t *b = h + 12;
	size_t off = 2 + 32;
	if (off + 1 > fl || b[off] > 32)
		return HELLO_NO;
	off += 1 + b[off];
	if (off + 1 > fl)
		return HELLO_NO;
	size_t cl = b[off];
	if (off + 1 + cl + 2 > fl)
		return HELLO_NO;
	if (cl == 0)
		return kind;
	uint8_t want[COOKIE_LEN];
	cookie_of(d, want);
	return cl == COOKIE_LEN && CRYPTO_memcmp(b + off + 1, want, COOKIE_LEN) == 0 ? kind
	                                                                             : HELLO_NO;
}

void relay_dtls_set_source(struct dtls *d, const void *src, size_t len)
{
	d->src_len = MIN(len, sizeof(d->src));
	memcpy(d->src, src, d->src_len);
}

bool relay_dtls_peer_verified(const struct dtls *d)
{
	return d->cookie_ok;
}

bool relay_dtls_input(struct dtls *d, const uint8_t *p, size_t len)
{
	/* Before ICE connected (D_IDLE) the caller holds datagrams back; after a failure
	 * nothing is read (BI-40). */
	if (d->state != D_HANDSHAKE && d->state != D_DONE)
		return false;
	struct log_ctx lc = {.call_id = d->call_id, .leg = "dtls"};
	if (len > INT_MAX || !records_ok(d, p, len)) {
		LOGD("relay", &lc, "DTLS datagram of %zu bytes dropped: bad record (type %u)", len,
		     len ? p[0] : 0);
		return false;
	}
	d->hello_frag = false;
	if (!d->client && !d->cookie_ok && !d->listened) {
		enum hello_kind k = hello_kind(d, p, len);
		if (k == HELLO_NO) {
			LOGD("relay", &lc, "DTLS datagram of %zu bytes dropped before the cookie",
			     len);
			return false;
		}
		d->hello_frag = k == HELLO_FRAGMENT;
	}
	if (BIO_write(d->rbio, p, (int)len) != (int)len)
		return false;
	step(d);
	(void)BIO_reset(d->rbio); /* a record the SSL did not take is not kept for the next */
	return true;
}

const char *relay_dtls_profile(const struct dtls *d)
{
	return d->profile;
}

int relay_dtls_srtp(struct dtls *d, enum relay_srtp_suite *suite, struct relay_srtp **in,
		    struct relay_srtp **out)
{
	const SRTP_PROTECTION_PROFILE *prof = SSL_get_selected_srtp_profile(d->ssl);
	if (d->state != D_DONE || !prof)
		return EINVAL;
	/* RFC 5764 §4.2 and RFC 7714 §12: 128-bit keys; salts of 112 (CM) or 96 (GCM) bits */
	size_t klen = 16, slen;
	if (prof->id == SRTP_AEAD_AES_128_GCM) {
		*suite = RELAY_SRTP_AEAD_AES_128_GCM;
		slen = 12;
	} else {
		*suite = RELAY_SRTP_AES_CM_128_HMAC_SHA1_80;
		slen = 14;
	}
	uint8_t km[2 * (16 + 14)], ck[30], sk[30];
	size_t n = 2 * (klen + slen);
	int err = EIO;
	*in = *out = NULL;
	if (SSL_export_keying_material(d->ssl, km, n, "EXTRACTOR-dtls_srtp", 19, NULL, 0, 0) != 1)
		goto out;
	/* client_key | server_key | client_salt | server_salt */
	memcpy(ck, km, klen);
	memcpy(sk, km + klen, klen);
	memcpy(ck + klen, km + 2 * klen, slen);
	memcpy(sk + klen, km + 2 * klen + slen, slen);
	err = relay_srtp_new(*suite, d->client ? sk : ck, klen + slen, true, in);
	if (!err)
		err = relay_srtp_new(*suite, d->client ? ck : sk, klen + slen, false, out);
	if (err) {
		relay_srtp_free(*in);
		*in = NULL;
	}
out:
	OPENSSL_cleanse(km, sizeof(km));
	OPENSSL_cleanse(ck, sizeof(ck));
	OPENSSL_cleanse(sk, sizeof(sk));
	return err;
}
