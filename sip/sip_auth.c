/* sip: digest authentication (RFC 3261 §22, RFC 7616, RFC 8760) for server and client. */
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>

#include "sip-private.h"

static const char *const log_module = "sip-auth";

#define NONCE_RAW    48 /* ts (8) ‖ salt (8) ‖ HMAC-SHA256 (32) */
#define NONCE_B64    64 /* base64 of NONCE_RAW, no padding */
#define NONCE_SKEW   5  /* seconds a nonce may come from the future (clock steps) */
#define DEFAULT_CAP  8192
#define MAX_ANSWERS  2  /* per realm and request: the answer plus one stale retry (BI-16) */

/* ---- hashing ------------------------------------------------------------------------- */

const char *sip_digest_alg_name(enum sip_digest_alg alg)
{
	return alg == SIP_DIGEST_SHA256 ? "SHA-256" : "MD5";
}

size_t sip_digest_hex_len(enum sip_digest_alg alg)
{
	return alg == SIP_DIGEST_SHA256 ? 64 : 32;
}

int sip_digest_alg_parse(struct slice s, enum sip_digest_alg *out)
{
	if (!s.p || sl_ieq(s, "MD5")) {
		*out = SIP_DIGEST_MD5;
		return 0;
	}
	if (sl_ieq(s, "SHA-256")) {
		*out = SIP_DIGEST_SHA256;
		return 0;
	}
	return ENOTSUP;
}

/* Fetched once: EVP_md5() and EVP_sha256() make OpenSSL 3 look the algorithm up again in
 * every EVP_DigestInit_ex, which cost more than the hashing itself. Never freed (process
 * lifetime, like OpenSSL's own provider tables). */
static const EVP_MD *md_of(enum sip_digest_alg alg)
{
	static EVP_MD *md[2];
	static gsize once;
	if (g_once_init_enter(&once)) {
		md[SIP_DIGEST_MD5] = EVP_MD_fetch(NULL, "MD5", NULL);
		md[SIP_DIGEST_SHA256] = EVP_MD_fetch(NULL, "SHA256", NULL);
		g_once_init_leave(&once, 1);
	}
	const EVP_MD *m = md[alg == SIP_DIGEST_SHA256 ? SIP_DIGEST_SHA256 : SIP_DIGEST_MD5];
	return m ? m : alg == SIP_DIGEST_SHA256 ? EVP_sha256() : EVP_md5();
}

static void to_hex(const uint8_t *b, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[2 * n] = '\0';
}

/* H(p0 ":" p1 ":" ... ) as lowercase hex into out (SIP_DIGEST_HEX_MAX). 0 or ENOMEM. */
static int hash_parts(enum sip_digest_alg alg, const struct slice *parts, size_t n, char *out)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	int err = ENOMEM;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (!ctx || !EVP_DigestInit_ex(ctx, md_of(alg), NULL))
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (i && !EVP_DigestUpdate(ctx, ":", 1))
			goto out;
		if (parts[i].len && !EVP_DigestUpdate(ctx, parts[i].p, parts[i].len))
			goto out;
	}
	if (!EVP_DigestFinal_ex(ctx, md, &mdlen))
		goto out;
	to_hex(md, mdlen, out);
	err = 0;
out:
	EVP_MD_CTX_free(ctx);
	OPENSSL_cleanse(md, sizeof(md));
	return err;
}

static struct slice cstr(const char *s)
{
	return (struct slice){s, strlen(s)};
}

/*
 * The unquoted value of a quoted-string content (quoted-pairs resolved, RFC 3261 §25.1).
 * Without a backslash it is s itself; else it is written to buf. 0 or EBADMSG (too long).
 */
static int unq(struct slice s, char *buf, size_t cap, struct slice *out)
{
	if (!s.p || !memchr(s.p, '\\', s.len)) {
		*out = s;
		return 0;
	}
	size_t n = 0;
	for (size_t i = 0; i < s.len; i++) {
		if (s.p[i] == '\\' && i + 1 < s.len)
			i++;
		if (n >= cap)
			return EBADMSG;
		buf[n++] = s.p[i];
	}
	*out = (struct slice){buf, n};
	return 0;
}

int sip_auth_ha1(enum sip_digest_alg alg, const char *user, const char *realm,
		 const struct secret *password, char out[SIP_DIGEST_HEX_MAX])
{
	size_t plen = 0;
	const char *pw = password ? secret_reveal(password, &plen) : NULL;
	if (!user || !realm || !pw || !out)
		return EINVAL;
	struct slice parts[] = {cstr(user), cstr(realm), {pw, plen}};
	return hash_parts(alg, parts, G_N_ELEMENTS(parts), out);
}

int sip_auth_response_compute(enum sip_digest_alg alg, struct slice ha1, struct slice nonce,
			      struct slice nc, struct slice cnonce, struct slice qop,
			      struct slice method, struct slice uri, struct slice body_hash,
			      char out[SIP_DIGEST_HEX_MAX])
{
	char ha2[SIP_DIGEST_HEX_MAX];
	int err;

	if (ha1.len != sip_digest_hex_len(alg) || !out)
		return EINVAL;
	/* RFC 7616 §3.4.3: HA2 = H(method:uri) for auth, H(method:uri:H(body)) for auth-int */
	if (qop.len == 0 || sl_ieq(qop, "auth")) {
		struct slice p2[] = {method, uri};
		err = hash_parts(alg, p2, 2, ha2);
	} else if (sl_ieq(qop, "auth-int")) {
		struct slice p2[] = {method, uri, body_hash};
		err = hash_parts(alg, p2, 3, ha2);
	} else {
		return EINVAL;
	}
	if (err)
		return err;
	struct slice h2 = cstr(ha2);
	if (qop.len == 0) {
		struct slice p[] = {ha1, nonce, h2}; /* RFC 2069 compatibility */
		return hash_parts(alg, p, 3, out);
	}
	struct slice p[] = {ha1, nonce, nc, cnonce, qop, h2};
	return hash_parts(alg, p, 6, out);
}

const char *sip_auth_result_name(enum sip_auth_result r)
{
	switch (r) {
	case SIP_AUTH_OK:
		return "ok";
	case SIP_AUTH_CHALLENGE:
		return "challenge";
	case SIP_AUTH_STALE:
		return "stale";
	case SIP_AUTH_FAIL:
		return "fail";
	case SIP_AUTH_BAD:
		return "bad";
	}
	return "?";
}

/* ---- credentials ------------------------------------------------------------------------ */

static bool all_hex(struct slice s)
{
	for (size_t i = 0; i < s.len; i++)
		if (!g_ascii_isxdigit(s.p[i]))
			return false;
	return true;
}

static bool present(struct slice s)
{
	return s.p && s.len > 0;
}

int sip_auth_cred_parse(struct slice value, const char *realm, struct sip_auth_cred *out)
{
	struct sip_auth *a = &out->a;
	char buf[SIP_MAX_AUTH_VALUE];
	struct slice v;

	if (!realm)
		return EINVAL;
	out->username[0] = '\0';
	if (sip_auth_parse(value, a))
		return EBADMSG;
	if (!sl_ieq(a->scheme, "Digest"))
		return ENOENT;
	if (!present(a->realm) || unq(a->realm, buf, sizeof(buf), &v))
		return EBADMSG;
	if (!slice_eq(v, realm, strlen(realm)))
		return ENOENT; /* someone else's credentials (RFC 3261 §22.3) */
	if (!present(a->username) || !present(a->nonce) || !present(a->uri) ||
	    !present(a->response) || !present(a->cnonce) || !a->nc.p || !a->qop.p)
		return EBADMSG; /* qop=auth is mandatory here (SEC-05) */
	if (!sl_ieq(a->qop, "auth") || sip_digest_alg_parse(a->algorithm, &out->alg))
		return EBADMSG;
	if (a->nc.len != 8 || !all_hex(a->nc))
		return EBADMSG;
	out->nc = 0;
	for (size_t i = 0; i < 8; i++)
		out->nc = out->nc << 4 | (uint32_t)g_ascii_xdigit_value(a->nc.p[i]);
	if (out->nc == 0)
		return EBADMSG;
	if (a->response.len != sip_digest_hex_len(out->alg) || !all_hex(a->response))
		return EBADMSG;
	if (unq(a->username, buf, sizeof(buf), &v) || v.len > SIP_AUTH_MAX_USER ||
	    memchr(v.p, '\0', v.len))
		return EBADMSG;
	memcpy(out->username, v.p, v.len);
	out->username[v.len] = '\0';
	return 0;
}

/* ---- server: nonces ------------------------------------------------------------------- */

/* The last nc seen for a nonce that authenticated once (RFC 7616 §3.3 replay defence). */
struct nc_entry {
	char nonce[NONCE_B64 + 1]; /* the key */
	int64_t ts;                /* issue time from the nonce */
	uint32_t nc;
	GList link; /* in order, oldest first */
};

struct sip_auth_server {
	char *realm;
	struct secret *key;
	struct secret *dummy[2]; /* HA1 stand-ins for unknown users, per algorithm (SEC-06) */
	unsigned lifetime, cap;
	enum sip_digest_alg algs[2];
	unsigned nalgs;
	EVP_MAC_CTX *mac;  /* HMAC-SHA256 under key: fetched and keyed once, reset per use */
	GHashTable *nc;    /* nonce → struct nc_entry (owned) */
	GQueue order;      /* of nc_entry.link */
	int64_t evicted_ts; /* newest issue time of a live nonce evicted from the table */
	sip_auth_clock_fn *clock;
	void *clock_arg;
	sip_auth_salt_fn *salt;
	void *salt_arg;
	sip_auth_observer_fn *observer;
	void *observer_arg;
	struct metric_family *m_results;
	struct metric *m_result[SIP_AUTH_BAD + 1]; /* by result, found once */
};

static int64_t default_clock(void *arg)
{
	(void)arg;
	return g_get_real_time() / G_USEC_PER_SEC;
}

/* Salts make nonces unique, the HMAC makes them ours: the kernel's randomness, pooled. */
static int default_salt(uint8_t salt[8], void *arg)
{
	(void)arg;
	core_random_bytes(salt, 8);
	return 0;
}

static bool realm_ok(const char *r)
{
	size_t n = strlen(r);
	if (n == 0 || n > SIP_AUTH_MAX_REALM)
		return false;
	for (size_t i = 0; i < n; i++)
		if (r[i] == '"' || r[i] == '\\' || (unsigned char)r[i] < 0x20 || r[i] == 0x7f)
			return false;
	return true;
}

static struct secret *random_secret(size_t n, bool hex)
{
	uint8_t b[32];
	char h[SIP_DIGEST_HEX_MAX];
	struct secret *s = NULL;
	if (n > sizeof(b) || RAND_bytes(b, (int)n) != 1)
		return NULL;
	if (hex) {
		to_hex(b, n, h);
		s = secret_new(h, 2 * n);
	} else {
		s = secret_new((const char *)b, n);
	}
	OPENSSL_cleanse(b, sizeof(b));
	OPENSSL_cleanse(h, sizeof(h));
	return s;
}

int sip_auth_server_new(const struct sip_auth_server_config *cfg, struct sip_auth_server **out)
{
	unsigned life = cfg ? cfg->nonce_lifetime : 0;
	size_t klen = 0;

	*out = NULL;
	if (!cfg || !cfg->realm || !realm_ok(cfg->realm))
		return EINVAL;
	if (life == 0)
		life = SIP_AUTH_LIFETIME_MAX;
	if (life < SIP_AUTH_LIFETIME_MIN || life > SIP_AUTH_LIFETIME_MAX)
		return EINVAL;
	const char *k = cfg->nonce_secret ? secret_reveal(cfg->nonce_secret, &klen) : NULL;
	if (cfg->nonce_secret && klen < 16)
		return EINVAL;

	struct sip_auth_server *s = g_new0(struct sip_auth_server, 1);
	s->realm = g_strdup(cfg->realm);
	s->lifetime = life;
	s->cap = cfg->max_nonces ? cfg->max_nonces : DEFAULT_CAP;
	s->nalgs = cfg->nalgs && cfg->nalgs <= 2 ? cfg->nalgs : 2;
	s->algs[0] = cfg->nalgs ? cfg->algs[0] : SIP_DIGEST_SHA256;
	s->algs[1] = cfg->nalgs == 2 ? cfg->algs[1] : SIP_DIGEST_MD5;
	s->key = k ? secret_new(k, klen) : random_secret(32, false);
	s->dummy[SIP_DIGEST_MD5] = random_secret(16, true);
	s->dummy[SIP_DIGEST_SHA256] = random_secret(32, true);
	s->nc = g_hash_table_new(g_str_hash, g_str_equal);
	g_queue_init(&s->order);
	EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (hmac) {
		OSSL_PARAM p[] = {OSSL_PARAM_construct_utf8_string("digest", "SHA256", 0),
				  OSSL_PARAM_construct_end()};
		s->mac = EVP_MAC_CTX_new(hmac);
		if (s->mac && !EVP_MAC_CTX_set_params(s->mac, p)) {
			EVP_MAC_CTX_free(s->mac);
			s->mac = NULL;
		}
		EVP_MAC_free(hmac); /* the context keeps its own reference */
	}
	s->evicted_ts = INT64_MIN;
	s->clock = default_clock;
	s->salt = default_salt;
	s->m_results = metrics_family("gorgee_sip_auth_results_total",
				      "Digest authentication decisions by result", METRIC_COUNTER);
	size_t kl = 0;
	const char *kv = s->key ? secret_reveal(s->key, &kl) : NULL;
	if (!s->key || !s->dummy[0] || !s->dummy[1] || !s->mac ||
	    !EVP_MAC_init(s->mac, (const unsigned char *)kv, kl, NULL)) {
		sip_auth_server_free(s);
		return EIO;
	}
	*out = s;
	return 0;
}

void sip_auth_server_free(struct sip_auth_server *s)
{
	if (!s)
		return;
	GList *l;
	while ((l = g_queue_pop_head_link(&s->order)))
		g_free(l->data);
	g_hash_table_destroy(s->nc);
	EVP_MAC_CTX_free(s->mac);
	secret_free(s->key);
	secret_free(s->dummy[0]);
	secret_free(s->dummy[1]);
	g_free(s->realm);
	g_free(s);
}

void sip_auth_server_set_clock(struct sip_auth_server *s, sip_auth_clock_fn *fn, void *arg)
{
	s->clock = fn ? fn : default_clock;
	s->clock_arg = arg;
}

void sip_auth_server_set_salt(struct sip_auth_server *s, sip_auth_salt_fn *fn, void *arg)
{
	s->salt = fn ? fn : default_salt;
	s->salt_arg = arg;
}

unsigned sip_auth_server_nonce_count(const struct sip_auth_server *s)
{
	return g_hash_table_size(s->nc);
}

void sip_auth_server_dump(const struct sip_auth_server *s, GString *out)
{
	g_string_append_printf(out, "auth realm=\"%s\" nonce_lifetime=%us nonces=%u/%u%s\n",
			       s->realm, s->lifetime, g_hash_table_size(s->nc), s->cap,
			       s->evicted_ts != INT64_MIN ? " evicted" : "");
}

/* HMAC-SHA256(secret, ts ‖ salt ‖ src-ip ‖ 0 ‖ realm) (SEC-05). 0 or EINVAL/EIO. */
static int nonce_mac(const struct sip_auth_server *s, const uint8_t head[16], const char *ip,
		     uint8_t mac[32])
{
	uint8_t buf[16 + 64 + 1 + SIP_AUTH_MAX_REALM];
	size_t iplen = strlen(ip), rlen = strlen(s->realm), maclen = 0;
	if (iplen > 64)
		return EINVAL;
	memcpy(buf, head, 16);
	memcpy(buf + 16, ip, iplen);
	buf[16 + iplen] = 0;
	memcpy(buf + 17 + iplen, s->realm, rlen);
	/* a NULL key restarts HMAC with the key set at creation (test_sip_auth checks the MAC
	 * of two successive nonces against a one-shot HMAC under the configured key) */
	int ok = EVP_MAC_init(s->mac, NULL, 0, NULL) &&
		 EVP_MAC_update(s->mac, buf, 17 + iplen + rlen) &&
		 EVP_MAC_final(s->mac, mac, &maclen, 32);
	OPENSSL_cleanse(buf, sizeof(buf));
	return ok && maclen == 32 ? 0 : EIO;
}

/* A fresh nonce for ip as NUL-terminated base64 (NONCE_B64 characters). */
static int nonce_make(struct sip_auth_server *s, const char *ip, char out[NONCE_B64 + 1])
{
	uint8_t raw[NONCE_RAW];
	uint64_t ts = (uint64_t)s->clock(s->clock_arg);
	int err;
	for (int i = 0; i < 8; i++)
		raw[i] = (uint8_t)(ts >> (56 - 8 * i));
	if ((err = s->salt(raw + 8, s->salt_arg)) || (err = nonce_mac(s, raw, ip, raw + 16)))
		return err;
	EVP_EncodeBlock((unsigned char *)out, raw, NONCE_RAW);
	return 0;
}

enum nonce_state { NONCE_VALID, NONCE_STALE, NONCE_INVALID };

/* Checks a received nonce: ours (HMAC), for this source IP and realm, and not too old. */
static enum nonce_state nonce_check(const struct sip_auth_server *s, struct slice n,
				    const char *ip, int64_t now, int64_t *ts)
{
	char b64[NONCE_B64 + 1];
	uint8_t raw[NONCE_RAW + 2], mac[32];

	*ts = 0;
	if (n.len != NONCE_B64)
		return NONCE_INVALID;
	for (size_t i = 0; i < n.len; i++)
		if (!g_ascii_isalnum(n.p[i]) && n.p[i] != '+' && n.p[i] != '/')
			return NONCE_INVALID;
	memcpy(b64, n.p, NONCE_B64);
	b64[NONCE_B64] = '\0';
	if (EVP_DecodeBlock(raw, (const unsigned char *)b64, NONCE_B64) != NONCE_RAW)
		return NONCE_INVALID;
	if (nonce_mac(s, raw, ip, mac) || CRYPTO_memcmp(mac, raw + 16, 32) != 0)
		return NONCE_INVALID;
	uint64_t t = 0;
	for (int i = 0; i < 8; i++)
		t = t << 8 | raw[i];
	*ts = (int64_t)t;
	if (*ts > now + NONCE_SKEW)
		return NONCE_INVALID;
	return now - *ts > (int64_t)s->lifetime ? NONCE_STALE : NONCE_VALID;
}

static void nc_remove(struct sip_auth_server *s, struct nc_entry *e)
{
	g_hash_table_remove(s->nc, e->nonce);
	g_queue_unlink(&s->order, &e->link);
	g_free(e);
}

/*
 * Records nc for an authenticated nonce. A nonce must carry a growing nc; when the table
 * had to evict a live nonce, nonces as old as it that are not in the table are sent back
 * as stale, since their history is gone.
 */
static enum sip_auth_result nc_record(struct sip_auth_server *s, struct slice nonce, int64_t ts,
				      uint32_t nc, int64_t now)
{
	char key[NONCE_B64 + 1];
	memcpy(key, nonce.p, NONCE_B64);
	key[NONCE_B64] = '\0';
	struct nc_entry *e = g_hash_table_lookup(s->nc, key);
	if (e) {
		if (nc <= e->nc)
			return SIP_AUTH_FAIL; /* replay */
		e->nc = nc;
		return SIP_AUTH_OK;
	}
	if (ts <= s->evicted_ts)
		return SIP_AUTH_STALE;
	GList *l;
	while ((l = g_queue_peek_head_link(&s->order)) &&
	       now - ((struct nc_entry *)l->data)->ts > (int64_t)s->lifetime)
		nc_remove(s, l->data);
	if (g_hash_table_size(s->nc) >= s->cap && (l = g_queue_peek_head_link(&s->order))) {
		struct nc_entry *old = l->data;
		s->evicted_ts = MAX(s->evicted_ts, old->ts);
		nc_remove(s, old);
	}
	e = g_new0(struct nc_entry, 1);
	memcpy(e->nonce, key, sizeof(key));
	e->ts = ts;
	e->nc = nc;
	e->link.data = e;
	g_queue_push_tail_link(&s->order, &e->link);
	g_hash_table_insert(s->nc, e->nonce, e);
	return SIP_AUTH_OK;
}

/* ---- server: challenge and verification ------------------------------------------------ */

int sip_auth_server_challenge(struct sip_auth_server *s, const char *src_ip, bool proxy,
			      bool stale, GString *out)
{
	char nonce[NONCE_B64 + 1];
	int err;
	if (!s || !src_ip || !out)
		return EINVAL;
	if ((err = nonce_make(s, src_ip, nonce)))
		return err;
	/* RFC 8760 §2.4: one value per algorithm, the preferred one first */
	const enum sip_digest_alg *algs = s->algs;
	for (size_t i = 0; i < s->nalgs; i++) { /* appends, not printf: one per 401 */
		g_string_append(out, proxy ? "Proxy-Authenticate" : "WWW-Authenticate");
		g_string_append(out, ": Digest realm=\"");
		g_string_append(out, s->realm);
		g_string_append(out, "\", nonce=\"");
		g_string_append(out, nonce);
		g_string_append(out, "\", qop=\"auth\", algorithm=");
		g_string_append(out, sip_digest_alg_name(algs[i]));
		g_string_append(out, stale ? ", stale=true\r\n" : "\r\n");
	}
	return 0;
}

int sip_auth_server_credentials(struct sip_auth_server *s, const struct sip_msg *req,
				bool proxy, struct sip_auth_cred *cred)
{
	enum sip_hdr_id id = proxy ? SIP_HDR_PROXY_AUTHORIZATION : SIP_HDR_AUTHORIZATION;
	for (const struct sip_hdr *h = sip_msg_hdr(req, id); h; h = sip_msg_hdr_next(req, h)) {
		int err = sip_auth_cred_parse(h->value, s->realm, cred);
		if (err != ENOENT)
			return err;
	}
	return ENOENT;
}

static void count(struct sip_auth_server *s, enum sip_auth_result r)
{
	if ((unsigned)r >= G_N_ELEMENTS(s->m_result))
		return;
	if (!s->m_result[r]) {
		char labels[32];
		g_snprintf(labels, sizeof(labels), "result=\"%s\"", sip_auth_result_name(r));
		s->m_result[r] = metrics_series(s->m_results, labels);
	}
	metric_add(s->m_result[r], 1);
}

/* The uri parameter must name the Request-URI (RFC 7616 §3.4.6, BI-13). */
static bool uri_matches(struct slice uri, struct slice ruri)
{
	if (slice_eq(uri, ruri.p, ruri.len))
		return true;
	struct sip_uri a, b;
	return sip_uri_parse(uri, &a) == 0 && sip_uri_parse(ruri, &b) == 0 &&
	       sip_uri_equal(&a, &b);
}

static enum sip_auth_result verdict(struct sip_auth_server *s, enum sip_auth_result r,
				    const struct sip_auth_cred *cred, const char *ip,
				    const char *why)
{
	struct log_ctx ctx = {.leg = "sip", .peer = ip};
	LOGI(log_module, &ctx, "digest auth of user \"%s\" in realm \"%s\": %s (%s)",
	     cred->username, s->realm, sip_auth_result_name(r), why);
	count(s, r);
	return r;
}

enum sip_auth_result sip_auth_server_verify(struct sip_auth_server *s, struct slice method,
					    struct slice ruri, const char *src_ip,
					    const struct sip_auth_cred *cred,
					    const struct secret *ha1)
{
	char ubuf[SIP_MAX_AUTH_VALUE], cbuf[SIP_MAX_AUTH_VALUE];
	char want[SIP_DIGEST_HEX_MAX], got[SIP_DIGEST_HEX_MAX];
	struct slice uri, cnonce;
	const struct sip_auth *a = &cred->a;
	int64_t now = s->clock(s->clock_arg), ts;

	if (!present(a->nonce) || a->response.len != sip_digest_hex_len(cred->alg) ||
	    unq(a->uri, ubuf, sizeof(ubuf), &uri) || unq(a->cnonce, cbuf, sizeof(cbuf), &cnonce))
		return verdict(s, SIP_AUTH_BAD, cred, src_ip, "malformed credentials");
	if (!uri_matches(uri, ruri))
		return verdict(s, SIP_AUTH_BAD, cred, src_ip, "uri is not the Request-URI");
	enum nonce_state ns = nonce_check(s, a->nonce, src_ip, now, &ts);

	/* Unknown users and HA1s of the wrong kind take the same path with a dummy (SEC-06). */
	size_t hlen = 0, want_len = sip_digest_hex_len(cred->alg);
	const char *h = ha1 ? secret_reveal(ha1, &hlen) : NULL;
	bool known = h && hlen == want_len;
	if (!known)
		h = secret_reveal(s->dummy[cred->alg], &hlen);
	if (sip_auth_response_compute(cred->alg, (struct slice){h, hlen}, a->nonce, a->nc,
				      cnonce, a->qop, method, uri, (struct slice){NULL, 0}, want))
		return verdict(s, SIP_AUTH_FAIL, cred, src_ip, "internal error");
	for (size_t i = 0; i < want_len; i++)
		got[i] = g_ascii_tolower(a->response.p[i]);
	bool match = CRYPTO_memcmp(want, got, want_len) == 0;

	if (!known || !match)
		return verdict(s, SIP_AUTH_FAIL, cred, src_ip, "wrong credentials");
	/* RFC 7616 §3.3: stale when the digest is right but the nonce is not (any more): the
	 * client knows the password and may retry without asking its user. */
	if (ns == NONCE_INVALID)
		return verdict(s, SIP_AUTH_STALE, cred, src_ip, "nonce not ours or not for this IP");
	if (ns == NONCE_STALE)
		return verdict(s, SIP_AUTH_STALE, cred, src_ip, "nonce expired");
	enum sip_auth_result r = nc_record(s, a->nonce, ts, cred->nc, now);
	return verdict(s, r, cred, src_ip,
		       r == SIP_AUTH_OK      ? "verified"
		       : r == SIP_AUTH_FAIL  ? "nc replayed"
					     : "nonce history evicted");
}

enum sip_auth_result sip_auth_server_check(struct sip_auth_server *s, const struct sip_msg *req,
					   const char *src_ip, bool proxy,
					   sip_auth_lookup_fn *lookup, void *arg,
					   struct sip_auth_cred *cred)
{
	struct sip_auth_cred local;
	if (!cred)
		cred = &local;
	int err = sip_auth_server_credentials(s, req, proxy, cred);
	if (err == ENOENT) {
		count(s, SIP_AUTH_CHALLENGE);
		return SIP_AUTH_CHALLENGE;
	}
	if (err) {
		struct log_ctx ctx = {.leg = "sip", .peer = src_ip};
		LOGI(log_module, &ctx, "malformed digest credentials in %.*s",
		     SLICE_ARG(req->method));
		count(s, SIP_AUTH_BAD);
		return SIP_AUTH_BAD;
	}
	const struct secret *ha1 = lookup ? lookup(cred->username, cred->alg, arg) : NULL;
	enum sip_auth_result r = sip_auth_server_verify(s, req->method, req->ruri, src_ip, cred, ha1);
	if (s->observer)
		s->observer(r, src_ip, cred->username, s->observer_arg);
	return r;
}

void sip_auth_server_set_observer(struct sip_auth_server *s, sip_auth_observer_fn *fn, void *arg)
{
	s->observer = fn;
	s->observer_arg = arg;
}

int sip_auth_server_respond(struct sip_auth_server *s, const struct sip_msg *req,
			    const char *src_ip, bool proxy, enum sip_auth_result r,
			    const char *to_tag, GString *out)
{
	struct slice none = {NULL, 0};
	if (r == SIP_AUTH_BAD)
		return sip_response_build(req, 400, NULL, to_tag, NULL, none, out);
	if (r == SIP_AUTH_OK)
		return EINVAL;
	GString *hdr = g_string_new(NULL);
	int err = sip_auth_server_challenge(s, src_ip, proxy, r == SIP_AUTH_STALE, hdr);
	if (!err)
		err = sip_response_build(req, proxy ? 407 : 401, NULL, to_tag, hdr->str, none,
					 out);
	g_string_free(hdr, TRUE);
	return err;
}

/* ---- client ------------------------------------------------------------------------------ */

int sip_auth_client_choose(const struct sip_msg *resp, struct sip_auth *out)
{
	enum sip_hdr_id id;
	struct sip_auth a;
	bool have = false;

	if (resp->request || (resp->status != 401 && resp->status != 407))
		return EBADMSG;
	id = resp->status == 401 ? SIP_HDR_WWW_AUTHENTICATE : SIP_HDR_PROXY_AUTHENTICATE;
	for (const struct sip_hdr *h = sip_msg_hdr(resp, id); h; h = sip_msg_hdr_next(resp, h)) {
		enum sip_digest_alg alg;
		if (sip_auth_parse(h->value, &a) || !sl_ieq(a.scheme, "Digest") ||
		    !present(a.realm) || !present(a.nonce) ||
		    sip_digest_alg_parse(a.algorithm, &alg))
			continue;
		if (alg == SIP_DIGEST_SHA256) {
			*out = a; /* RFC 8760 §2.4: the strongest one we support */
			return 0;
		}
		if (!have)
			*out = a;
		have = true;
	}
	return have ? 0 : ENOENT;
}

/* qop to use from the offered list (RFC 7616 §3.3): auth, else auth-int; "" when absent. */
static int pick_qop(struct slice offered, const char **qop)
{
	bool in = false;
	if (!offered.p) {
		*qop = "";
		return 0;
	}
	const char *p = offered.p, *end = p + offered.len;
	while (p < end) {
		while (p < end && (*p == ',' || CC(*p, SC_WS)))
			p++;
		const char *s = p;
		while (p < end && *p != ',' && !CC(*p, SC_WS))
			p++;
		struct slice t = {s, (size_t)(p - s)};
		if (sl_ieq(t, "auth")) {
			*qop = "auth";
			return 0;
		}
		in = in || sl_ieq(t, "auth-int");
	}
	*qop = "auth-int";
	return in ? 0 : ENOTSUP;
}

static void sha256_id(struct slice s, uint8_t out[32])
{
	EVP_Digest(s.p ? s.p : "", s.len, out, NULL, EVP_sha256(), NULL);
}

/* No control characters; with raw, no '"' or '\\' either (printed inside quotes as is). */
static bool printable(const char *s, bool raw)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f || (raw && (*s == '"' || *s == '\\')))
			return false;
	return true;
}

static bool has_ctl(struct slice s)
{
	for (size_t i = 0; i < s.len; i++)
		if ((unsigned char)s.p[i] < 0x20 || s.p[i] == 0x7f)
			return true;
	return false;
}

/* Appends s as the content of a quoted-string (RFC 3261 §25.1). */
static void append_quoted(GString *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			g_string_append_c(out, '\\');
		g_string_append_c(out, *s);
	}
}

/* The slot of this realm in st, a free one, or NULL when every slot is taken. */
static struct sip_auth_client_realm *client_slot(struct sip_auth_client_state *st, const uint8_t id[32])
{
	for (unsigned i = 0; i < SIP_AUTH_CLIENT_REALMS; i++)
		if (st->realm[i].used && memcmp(st->realm[i].realm_id, id, 32) == 0)
			return &st->realm[i];
	for (unsigned i = 0; i < SIP_AUTH_CLIENT_REALMS; i++)
		if (!st->realm[i].used)
			return &st->realm[i];
	return NULL;
}

int sip_auth_client_answer(struct sip_auth_client_state *st, const struct sip_auth *chal,
			   bool proxy, const struct sip_auth_client_cred *cred, const char *method,
			   const char *uri, struct slice body, GString *out)
{
	char rbuf[SIP_MAX_AUTH_VALUE + 1], nbuf[SIP_MAX_AUTH_VALUE];
	char ha1[SIP_DIGEST_HEX_MAX], resp[SIP_DIGEST_HEX_MAX], bh[SIP_DIGEST_HEX_MAX];
	char cnonce[25], nc[9];
	uint8_t rid[32], nid[32], rnd[12];
	struct slice realm, nonce;
	enum sip_digest_alg alg;
	const char *qop;
	int err;

	if (!st || !chal || !cred || !cred->username || !cred->password || !method ||
	    !*method || !uri || !*uri || !out || !printable(cred->username, false) ||
	    !printable(uri, true) || !printable(method, true))
		return EINVAL;
	/* Echoed values must not smuggle line breaks into our request. */
	if (!present(chal->realm) || !present(chal->nonce) || has_ctl(chal->realm) ||
	    has_ctl(chal->nonce) || has_ctl(chal->opaque) ||
	    unq(chal->realm, rbuf, sizeof(rbuf) - 1, &realm) ||
	    unq(chal->nonce, nbuf, sizeof(nbuf), &nonce))
		return EBADMSG;
	if (sip_digest_alg_parse(chal->algorithm, &alg) || pick_qop(chal->qop, &qop))
		return ENOTSUP;
	sha256_id(realm, rid);
	sha256_id(nonce, nid);
	struct sip_auth_client_realm *slot = client_slot(st, rid);
	/* BI-16: a challenge after our answer means the credentials failed, unless the server
	 * only says the nonce went stale (RFC 7616 §3.3): one such retry, then give up. */
	if (!slot || slot->answers >= MAX_ANSWERS ||
	    (slot->answers > 0 && !(chal->stale.p && sl_ieq(chal->stale, "true"))))
		return EPERM;
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return EIO;
	to_hex(rnd, sizeof(rnd), cnonce);

	uint32_t n = slot->used && memcmp(slot->nonce_id, nid, 32) == 0 ? slot->nc + 1 : 1;
	g_snprintf(nc, sizeof(nc), "%08x", n);
	memmove(rbuf, realm.p, realm.len); /* NUL-terminated realm for HA1 */
	rbuf[realm.len] = '\0';
	struct slice none = {NULL, 0};
	if (!strcmp(qop, "auth-int") && (err = hash_parts(alg, &body, 1, bh)))
		return err;
	err = sip_auth_ha1(alg, cred->username, rbuf, cred->password, ha1);
	if (!err)
		err = sip_auth_response_compute(alg, cstr(ha1), nonce, cstr(nc), cstr(cnonce),
						 cstr(qop), cstr(method), cstr(uri),
						 strcmp(qop, "auth-int") ? none : cstr(bh), resp);
	OPENSSL_cleanse(ha1, sizeof(ha1));
	if (err)
		return err;

	g_string_append(out, proxy ? "Proxy-Authorization: Digest username=\""
				   : "Authorization: Digest username=\"");
	append_quoted(out, cred->username);
	g_string_append_printf(out, "\", realm=\"" SLICE_FMT "\", nonce=\"" SLICE_FMT
				    "\", uri=\"%s\", response=\"%s\", algorithm=%s",
			       SLICE_ARG(chal->realm), SLICE_ARG(chal->nonce), uri, resp,
			       sip_digest_alg_name(alg));
	if (*qop)
		g_string_append_printf(out, ", cnonce=\"%s\", qop=%s, nc=%s", cnonce, qop, nc);
	if (chal->opaque.p)
		g_string_append_printf(out, ", opaque=\"" SLICE_FMT "\"", SLICE_ARG(chal->opaque));
	g_string_append(out, "\r\n");

	memcpy(slot->realm_id, rid, 32);
	memcpy(slot->nonce_id, nid, 32);
	slot->nc = n;
	slot->answers++;
	slot->used = true;
	return 0;
}

void sip_auth_client_success(struct sip_auth_client_state *st)
{
	for (unsigned i = 0; i < SIP_AUTH_CLIENT_REALMS; i++)
		st->realm[i].answers = 0;
}
