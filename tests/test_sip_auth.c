/* Digest authentication (sip_auth.c): RFC 7616 vectors, server round trips, nonce life,
 * replays, no enumeration (BI-42, SEC-06), bad credentials (BI-13), client give-up (BI-16). */
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "guard.h"
#include "sip.h"
/* tap.h leaves a variable unused when built with ASan; keep -Werror builds green. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-variable"
#include "tap.h"
#pragma GCC diagnostic pop

#define REALM    "example.com"
#define PASSWORD "s3cret-Pa55w0rd!"
#define KEY      "nonce-key-0123456789abcdef-XYZW"
#define SRC      "192.0.2.1"

#define REQ_HEAD                                                                         \
	"REGISTER sip:example.com SIP/2.0\r\n"                                           \
	"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds\r\n"                    \
	"Max-Forwards: 70\r\n"                                                           \
	"To: <sip:alice@example.com>\r\n"                                                \
	"From: <sip:alice@example.com>;tag=1928301774\r\n"                               \
	"Call-ID: a84b4c76e66710@pc33.example.com\r\n"                                   \
	"CSeq: 1 REGISTER\r\n"                                                           \
	"Contact: <sip:alice@192.0.2.1>\r\n"

/* ---- fixture -------------------------------------------------------------------------- */

static int64_t t_now = 1700000000;

static int64_t fake_clock(void *arg)
{
	(void)arg;
	return t_now;
}

static int fixed_salt(uint8_t salt[8], void *arg)
{
	(void)arg;
	memcpy(salt, "SALTSALT", 8);
	return 0;
}

/* The user database: alice only, by HA1 per algorithm. */
struct users {
	struct secret *ha1[2];
};

static const struct secret *lookup(const char *user, enum sip_digest_alg alg, void *arg)
{
	struct users *u = arg;
	return strcmp(user, "alice") == 0 ? u->ha1[alg] : NULL;
}

static struct sip_msg req, resp;

struct fx {
	struct sip_auth_server *srv;
	struct users users;
	struct secret *pw, *key;
	GString *buf, *rbuf, *out, *hdr;
	struct sip_auth_client_state st;
	struct sip_auth_client_cred cred;
};

static void fx_init(struct fx *f, unsigned cap)
{
	memset(f, 0, sizeof(*f));
	t_now = 1700000000;
	f->pw = secret_new(PASSWORD, strlen(PASSWORD));
	f->key = secret_new(KEY, strlen(KEY));
	struct sip_auth_server_config cfg = {.realm = REALM, .nonce_secret = f->key, .max_nonces = cap};
	TAP_CHECK_INT(sip_auth_server_new(&cfg, &f->srv), 0);
	sip_auth_server_set_clock(f->srv, fake_clock, NULL);
	for (int a = 0; a < 2; a++) {
		char h[SIP_DIGEST_HEX_MAX];
		TAP_CHECK_INT(sip_auth_ha1((enum sip_digest_alg)a, "alice", REALM, f->pw, h), 0);
		f->users.ha1[a] = secret_new(h, strlen(h));
		OPENSSL_cleanse(h, sizeof(h));
	}
	f->buf = g_string_sized_new(16384);
	f->rbuf = g_string_sized_new(16384);
	f->out = g_string_sized_new(4096);
	f->hdr = g_string_sized_new(4096);
	f->cred = (struct sip_auth_client_cred){"alice", f->pw};
}

static void fx_free(struct fx *f)
{
	sip_auth_server_free(f->srv);
	secret_free(f->users.ha1[0]);
	secret_free(f->users.ha1[1]);
	secret_free(f->pw);
	secret_free(f->key);
	g_string_free(f->buf, TRUE);
	g_string_free(f->rbuf, TRUE);
	g_string_free(f->out, TRUE);
	g_string_free(f->hdr, TRUE);
}

/* Parses REQ_HEAD + extra header lines into req (datagram). Returns sip_msg_parse's rc. */
static int req_parse(struct fx *f, const char *extra, int *status)
{
	int st = 0;
	g_string_assign(f->buf, REQ_HEAD);
	g_string_append(f->buf, extra ? extra : "");
	g_string_append(f->buf, "Content-Length: 0\r\n\r\n");
	int rc = sip_msg_parse(f->buf->str, f->buf->len, SIP_MODE_DATAGRAM, &req, &st, NULL);
	if (status)
		*status = st;
	return rc;
}

static enum sip_auth_result check(struct fx *f, const char *ip, bool proxy)
{
	return sip_auth_server_check(f->srv, &req, ip, proxy, lookup, &f->users, NULL);
}

/* Server builds the response for r to req into f->rbuf and parses it into resp. */
static void respond(struct fx *f, enum sip_auth_result r, bool proxy)
{
	g_string_truncate(f->rbuf, 0);
	TAP_CHECK_INT(sip_auth_server_respond(f->srv, &req, SRC, proxy, r, NULL, f->rbuf), 0);
	int st;
	TAP_CHECK_INT(sip_msg_parse(f->rbuf->str, f->rbuf->len, SIP_MODE_DATAGRAM, &resp, &st,
				    NULL),
		      0);
}

/* Client answers the challenge in resp into f->hdr (replacing it). Returns the rc. */
static int answer(struct fx *f, const char *uri)
{
	struct sip_auth chal;
	g_string_truncate(f->hdr, 0);
	if (sip_auth_client_choose(&resp, &chal))
		return ENOENT;
	return sip_auth_client_answer(&f->st, &chal, resp.status == 407, &f->cred, "REGISTER",
				      uri, (struct slice){NULL, 0}, f->hdr);
}

/* A REGISTER without credentials, then its 401. */
static void first_challenge(struct fx *f, bool proxy)
{
	TAP_CHECK_INT(req_parse(f, NULL, NULL), 0);
	TAP_CHECK_INT(check(f, SRC, proxy), SIP_AUTH_CHALLENGE);
	respond(f, SIP_AUTH_CHALLENGE, proxy);
	TAP_CHECK_INT(resp.status, proxy ? 407 : 401);
}

/* ---- RFC 7616 §3.9.1 ------------------------------------------------------------------- */

static void rfc7616_vector(enum sip_digest_alg alg, const char *want_ha1, const char *want)
{
	struct secret *pw = secret_new("Circle of Life", 14);
	char ha1[SIP_DIGEST_HEX_MAX], r[SIP_DIGEST_HEX_MAX];
	TAP_CHECK_INT(sip_auth_ha1(alg, "Mufasa", "http-auth@example.org", pw, ha1), 0);
	TAP_CHECK_STR(ha1, want_ha1);
	TAP_CHECK_INT(sip_auth_response_compute(
			      alg, (struct slice){ha1, strlen(ha1)},
			      SLICE_LIT("7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"),
			      SLICE_LIT("00000001"),
			      SLICE_LIT("f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"),
			      SLICE_LIT("auth"), SLICE_LIT("GET"), SLICE_LIT("/dir/index.html"),
			      (struct slice){NULL, 0}, r),
		      0);
	TAP_CHECK_STR(r, want);
	/* The RFC's header parses as credentials for its realm. */
	char hdr[512];
	g_snprintf(hdr, sizeof(hdr),
		   "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", "
		   "uri=\"/dir/index.html\", algorithm=%s, "
		   "nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", nc=00000001, "
		   "cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", qop=auth, "
		   "response=\"%s\", opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"",
		   sip_digest_alg_name(alg), want);
	struct sip_auth_cred c;
	TAP_CHECK_INT(sip_auth_cred_parse((struct slice){hdr, strlen(hdr)},
					  "http-auth@example.org", &c),
		      0);
	TAP_CHECK_STR(c.username, "Mufasa");
	TAP_CHECK_INT(c.alg, alg);
	TAP_CHECK_INT(c.nc, 1);
	TAP_CHECK_INT(sip_auth_cred_parse((struct slice){hdr, strlen(hdr)}, "other", &c),
		      ENOENT);
	secret_free(pw);
}

static void test_rfc7616_md5(void)
{
	rfc7616_vector(SIP_DIGEST_MD5, "3d78807defe7de2157e2b0b6573a855f",
		       "8ca523f5e9506fed4657c9700eebdbec");
}

static void test_rfc7616_sha256(void)
{
	rfc7616_vector(SIP_DIGEST_SHA256,
		       "7987c64c30e25f1b74be53f966b49b90f2808aa92faf9a00262392d7b4794232",
		       "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
}

static void test_alg_names(void)
{
	enum sip_digest_alg a;
	TAP_CHECK_INT(sip_digest_alg_parse((struct slice){NULL, 0}, &a), 0);
	TAP_CHECK_INT(a, SIP_DIGEST_MD5);
	TAP_CHECK_INT(sip_digest_alg_parse(SLICE_LIT("sha-256"), &a), 0);
	TAP_CHECK_INT(a, SIP_DIGEST_SHA256);
	TAP_CHECK_INT(sip_digest_alg_parse(SLICE_LIT("SHA-512-256"), &a), ENOTSUP);
	TAP_CHECK_INT(sip_digest_alg_parse(SLICE_LIT("MD5-sess"), &a), ENOTSUP);
	TAP_CHECK_STR(sip_digest_alg_name(SIP_DIGEST_SHA256), "SHA-256");
	TAP_CHECK_INT(sip_digest_hex_len(SIP_DIGEST_MD5), 32);
}

/* ---- server -------------------------------------------------------------------------------- */

static void test_config_limits(void)
{
	struct sip_auth_server *s = NULL;
	struct secret *shortkey = secret_new("short", 5);
	struct sip_auth_server_config c = {.realm = REALM, .nonce_lifetime = 29};
	TAP_CHECK_INT(sip_auth_server_new(&c, &s), EINVAL);
	c.nonce_lifetime = 301;
	TAP_CHECK_INT(sip_auth_server_new(&c, &s), EINVAL);
	c.nonce_lifetime = 30;
	c.realm = "bad\"realm";
	TAP_CHECK_INT(sip_auth_server_new(&c, &s), EINVAL);
	c.realm = REALM;
	c.nonce_secret = shortkey;
	TAP_CHECK_INT(sip_auth_server_new(&c, &s), EINVAL);
	c.nonce_secret = NULL;
	TAP_CHECK_INT(sip_auth_server_new(&c, &s), 0);
	TAP_CHECK(s != NULL);
	sip_auth_server_free(s);
	secret_free(shortkey);
}

static void test_challenge_format(void)
{
	struct fx f;
	fx_init(&f, 0);
	first_challenge(&f, false);
	TAP_CHECK_INT(resp.count[SIP_HDR_WWW_AUTHENTICATE], 2);
	const struct sip_hdr *h = sip_msg_hdr(&resp, SIP_HDR_WWW_AUTHENTICATE);
	struct sip_auth a;
	TAP_CHECK_INT(sip_auth_parse(h->value, &a), 0);
	TAP_CHECK_SLICE(a.algorithm.p, a.algorithm.len, "SHA-256"); /* RFC 8760 §2.4 */
	TAP_CHECK_SLICE(a.qop.p, a.qop.len, "auth");
	TAP_CHECK_SLICE(a.realm.p, a.realm.len, REALM);
	TAP_CHECK(a.stale.p == NULL);
	TAP_CHECK_INT(a.nonce.len, 64);
	h = sip_msg_hdr_next(&resp, h);
	TAP_CHECK_INT(sip_auth_parse(h->value, &a), 0);
	TAP_CHECK_SLICE(a.algorithm.p, a.algorithm.len, "MD5");
	g_string_truncate(f.out, 0);
	TAP_CHECK_INT(sip_auth_server_challenge(f.srv, SRC, true, true, f.out), 0);
	TAP_CHECK(strstr(f.out->str, "Proxy-Authenticate: Digest realm=\"example.com\"") ==
		  f.out->str);
	TAP_CHECK(strstr(f.out->str, ", stale=true\r\n") != NULL);
	fx_free(&f);
}

/* The nonce is ts ‖ salt ‖ HMAC-SHA256(key, ts ‖ salt ‖ ip ‖ 0 ‖ realm) (SEC-05): checked
 * against OpenSSL's one-shot HMAC, so the server's reused MAC context is keyed each time. */
static void test_nonce_is_keyed_hmac(void)
{
	struct fx f;
	fx_init(&f, 0);
	sip_auth_server_set_salt(f.srv, fixed_salt, NULL);
	for (int round = 0; round < 2; round++) { /* the second use of the context too */
		g_string_truncate(f.out, 0);
		TAP_CHECK_INT(sip_auth_server_challenge(f.srv, SRC, false, false, f.out), 0);
		const char *n = strstr(f.out->str, "nonce=\"");
		TAP_CHECK(n != NULL);
		char b64[65];
		memcpy(b64, n + 7, 64);
		b64[64] = '\0';
		uint8_t raw[50], in[16 + sizeof(SRC) + sizeof(REALM)], mac[32];
		TAP_CHECK_INT(EVP_DecodeBlock(raw, (const unsigned char *)b64, 64), 48);
		uint64_t ts = 0;
		for (int i = 0; i < 8; i++)
			ts = ts << 8 | raw[i];
		TAP_CHECK_INT((int64_t)ts, t_now);
		TAP_CHECK(memcmp(raw + 8, "SALTSALT", 8) == 0);
		memcpy(in, raw, 16);
		memcpy(in + 16, SRC, sizeof(SRC)); /* with its NUL: the separator */
		memcpy(in + 16 + sizeof(SRC), REALM, sizeof(REALM) - 1);
		unsigned len = 0;
		TAP_CHECK(HMAC(EVP_sha256(), KEY, (int)strlen(KEY), in, sizeof(in) - 1, mac, &len) != NULL);
		TAP_CHECK_INT(len, 32);
		TAP_CHECK(memcmp(raw + 16, mac, 32) == 0);
		t_now++;
	}
	fx_free(&f);
}

static void round_trip(bool proxy)
{
	struct fx f;
	struct sip_auth_cred cred;
	fx_init(&f, 0);
	first_challenge(&f, proxy);
	TAP_CHECK_INT(answer(&f, "sip:example.com"), 0);
	TAP_CHECK(strstr(f.hdr->str, proxy ? "Proxy-Authorization: Digest username=\"alice\""
					   : "Authorization: Digest username=\"alice\"") ==
		  f.hdr->str);
	TAP_CHECK(strstr(f.hdr->str, "algorithm=SHA-256") != NULL);
	TAP_CHECK(strstr(f.hdr->str, "qop=auth, nc=00000001") != NULL);
	TAP_CHECK_INT(req_parse(&f, f.hdr->str, NULL), 0);
	TAP_CHECK_INT(sip_auth_server_check(f.srv, &req, SRC, proxy, lookup, &f.users, &cred),
		      SIP_AUTH_OK);
	TAP_CHECK_STR(cred.username, "alice");
	TAP_CHECK_INT(cred.alg, SIP_DIGEST_SHA256);
	TAP_CHECK_INT(sip_auth_server_nonce_count(f.srv), 1);
	/* The credentials of the other kind of header are not looked at. */
	TAP_CHECK_INT(check(&f, SRC, !proxy), SIP_AUTH_CHALLENGE);
	fx_free(&f);
}

static void test_round_trip_401(void)
{
	round_trip(false);
}

static void test_round_trip_407(void)
{
	round_trip(true);
}

/* A challenge offering MD5 only (an RFC 2617 peer) is answered and verified with MD5. */
static void test_round_trip_md5(void)
{
	struct fx f;
	struct sip_auth chal;
	fx_init(&f, 0);
	first_challenge(&f, false);
	const struct sip_hdr *h = sip_msg_hdr(&resp, SIP_HDR_WWW_AUTHENTICATE);
	h = sip_msg_hdr_next(&resp, h);
	TAP_CHECK_INT(sip_auth_parse(h->value, &chal), 0);
	TAP_CHECK_INT(sip_auth_client_answer(&f.st, &chal, false, &f.cred, "REGISTER",
					     "sip:example.com", (struct slice){NULL, 0}, f.hdr),
		      0);
	TAP_CHECK(strstr(f.hdr->str, "algorithm=MD5") != NULL);
	TAP_CHECK_INT(req_parse(&f, f.hdr->str, NULL), 0);
	TAP_CHECK_INT(check(&f, SRC, false), SIP_AUTH_OK);
	fx_free(&f);
}

static void test_stale_nonce_after_expiry(void)
{
	struct fx f;
	fx_init(&f, 0);
	first_challenge(&f, false);
	TAP_CHECK_INT(answer(&f, "sip:example.com"), 0);
	TAP_CHECK_INT(req_parse(&f, f.hdr->str, NULL), 0);
	t_now += 300;
	TAP_CHECK_INT(check(&f, SRC, false), SIP_AUTH_OK); /* at the edge of its lifetime */
	t_now += 1;
	sip_auth_client_success(&f.st);
	first_challenge(&f, false); /* a fresh nonce at t+301 is fine */
	TAP_CHECK_INT(answer(&f, "sip:example.com"), 0);
	TAP_CHECK_INT(req_parse(&f, f.hdr->str, NULL), 0);
	t_now += 301;
	TAP_CHECK_INT(check(&f, SRC, false), SIP_AUTH_STALE);
	respond(&f, SIP_AUTH_STALE, false);
	const struct sip_hdr *h = sip_msg_hdr(&resp, SIP_HDR_WWW_AUTHENTICATE);
	struct sip_auth a;
	TAP_CHECK_INT(sip_auth_parse(h->value, &a), 0);
	TAP_CHECK_SLICE(a.stale.p, a.stale.len, "true");
	/* The client retries once on stale=true and gets in. */
	TAP_CHECK_INT(answer(&f, "sip:example.com"), 0);
	TAP_CHECK_INT(req_parse(&f, f.hdr->str, NULL), 0);
	TAP_CHECK_INT(check(&f, SRC, false), SIP_AUTH_OK);
	/* A nonce from the future (clock stepped back) is not valid: stale, as the digest is. */
	t_now -= 100;
	TAP_CHECK_INT(check(&f, SRC, false), SIP_AUTH_STALE);
	fx_free(&f);
}

static void test_wrong_source_ip(void)
{
	struct fx f;
	fx_init(&f, 0);
	first_challenge(&f, false);
	TAP_CHECK_INT(answer(&f, "sip:example.com"), 0);
	TAP_CHECK_INT(req_parse(&f, f.hdr->str, NULL), 0);
	/* The nonce is bound to SRC: from elsewhere it is not accepted. The digest is right,
	 * so the answer is a new challenge with stale=true (RFC 7616 §3.3). */
	TAP_CHECK_INT(check(&f, "192.0.2.2", false), SIP_AUTH_STALE);
	TAP_CHECK_INT(check(&f, "2001:db8::1", false), SIP_AUTH_STALE);
	TAP_CHECK_INT(sip_auth_server_nonce_count(f.srv), 0);
	TAP_CHECK_INT(check(&f, SRC, false), SIP_AUTH_OK);
	/* A wrong password from another address is a plain failure. */
	struct secret *bad = secret_new("wrong", 5);
	memset(&f.st, 0, sizeof(f.st));
	f.cred.password = bad;
	TAP_CHECK_INT(answer(&f, "sip:example.com"), 0);
	TAP_CHECK_INT(req_parse(&f, f.hdr->str, NULL), 0);
	TAP_CHECK_INT(check(&f, "192.0.2.2", false), SIP_AUTH_FAIL);
	secret_free(bad);
	fx_free(&f);
}

/* Replaces the first occurrence of from by to in s (same length). */
static void patch(GString *s, const char *from, const char *to)
{
	char *p = strstr(s->str, from);
	TAP_CHECK(p != NULL && strlen(from) == strlen(to));
	if (p)
		memcpy(p, to, strlen(to));
}

static void test_tampered_nonce(void)
{
	struct fx f;
	fx_init(&f, 0);
	first_challenge(&f, false);
	TAP_CHECK_INT(answer(&f, "sip:example.com"), 0);
	char *n = strstr(f.hdr->str, "nonce=\"") + 7;
	n[3] = n[3] == 'A' ? 'B' : 'A';
	TAP_CHECK_INT(req_parse(&f, f.hdr->str, NULL), 0);
	TAP_CHECK_INT(check(&f, SRC, false), SIP_AUTH_FAIL);
	fx_free(&f);
}

static void test_nc_replay_rejected(void)
{
	struct fx f;
	fx_init(&f, 0);
	first_challenge(&f, false);
	TAP_CHECK_INT(answer(&f, "sip:example.com"), 0);
	TAP_CHECK_INT(req_parse(&f, f.hdr->str, NULL), 0);
	TAP_CHECK_INT(check(&f, SRC, false), SIP_AUTH_OK);
	TAP_CHECK_INT(check(&f, SRC, false), SIP_AUTH_FAIL); /* same nc again: a replay */
	fx_free(&f);
}

static void test_nc_increasing_accepted(void)
{
	struct fx f;
	fx_init(&f, 0);
	first_challenge(&f, false);
	TAP_CHECK_INT(answer(&f, "sip:example.com"), 0);
	TAP_CHECK_INT(req_parse(&f, f.hdr->str, NULL), 0);
	TAP_CHECK_INT(check(&f, SRC, false), SIP_AUTH_OK);
	/* The same challenge answered again after a success: nc 2, then 3. */
	GString *second = g_string_sized_new(1024);
	for (int i = 2; i <= 3; i++) {
		sip_auth_client_success(&f.st);
		TAP_CHECK_INT(answer(&f, "sip:example.com"), 0);
		char want[32];
		g_snprintf(want, sizeof(want), "nc=%08x", i);
		TAP_CHECK(strstr(f.hdr->str, want) != NULL);
		TAP_CHECK_INT(req_parse(&f, f.hdr->str, NULL), 0);
		TAP_CHECK_INT(check(&f, SRC, false), SIP_AUTH_OK);
		if (i == 2)
			g_string_assign(second, f.hdr->str);
	}
	/* A valid older request (nc 2) after a newer one (nc 3) is a replay too. */
	TAP_CHECK_INT(req_parse(&f, second->str, NULL), 0);
	TAP_CHECK_INT(check(&f, SRC, false), SIP_AUTH_FAIL);
	/* A changed nc no longer matches the response. */
	patch(f.hdr, "nc=00000003", "nc=00000004");
	TAP_CHECK_INT(req_parse(&f, f.hdr->str, NULL), 0);
	TAP_CHECK_INT(check(&f, SRC, false), SIP_AUTH_FAIL);
	g_string_free(second, TRUE);
	TAP_CHECK_INT(sip_auth_server_nonce_count(f.srv), 1);
	fx_free(&f);
}

/* With a table of 2, the oldest nonce's history is evicted: it comes back stale, not open. */
static void test_nc_table_cap(void)
{
	struct fx f;
	GString *first = g_string_sized_new(1024);
	fx_init(&f, 2);
	for (int i = 0; i < 3; i++) {
		t_now += 1;
		memset(&f.st, 0, sizeof(f.st));
		first_challenge(&f, false);
		TAP_CHECK_INT(answer(&f, "sip:example.com"), 0);
		if (i == 0)
			g_string_assign(first, f.hdr->str);
		TAP_CHECK_INT(req_parse(&f, f.hdr->str, NULL), 0);
		TAP_CHECK_INT(check(&f, SRC, false), SIP_AUTH_OK);
	}
	TAP_CHECK_INT(sip_auth_server_nonce_count(f.srv), 2);
	TAP_CHECK_INT(req_parse(&f, first->str, NULL), 0);
	TAP_CHECK_INT(check(&f, SRC, false), SIP_AUTH_STALE);
	g_string_free(first, TRUE);
	fx_free(&f);
}

static void test_wrong_password(void)
{
	struct fx f;
	struct secret *bad = secret_new("wrong", 5);
	fx_init(&f, 0);
	first_challenge(&f, false);
	f.cred.password = bad;
	TAP_CHECK_INT(answer(&f, "sip:example.com"), 0);
	TAP_CHECK_INT(req_parse(&f, f.hdr->str, NULL), 0);
	TAP_CHECK_INT(check(&f, SRC, false), SIP_AUTH_FAIL);
	TAP_CHECK_INT(sip_auth_server_nonce_count(f.srv), 0);
	/* An HA1 of the wrong kind (MD5 length for SHA-256) fails the same way. */
	struct sip_auth_cred c;
	TAP_CHECK_INT(sip_auth_server_credentials(f.srv, &req, false, &c), 0);
	TAP_CHECK_INT(sip_auth_server_verify(f.srv, req.method, req.ruri, SRC, &c,
					     f.users.ha1[SIP_DIGEST_MD5]),
		      SIP_AUTH_FAIL);
	secret_free(bad);
	fx_free(&f);
}

/*
 * BI-42 / SEC-06: an unknown user and a known user with a wrong password get the same
 * result and byte-identical responses (fixed clock and salt); so do requests without
 * credentials for either.
 */
static void test_bi42_unknown_user_indistinguishable(void)
{
	struct fx f;
	struct secret *bad = secret_new("wrong", 5);
	GString *r_known = g_string_sized_new(4096), *r_unknown = g_string_sized_new(4096);
	fx_init(&f, 0);
	sip_auth_server_set_salt(f.srv, fixed_salt, NULL);
	first_challenge(&f, false);
	f.cred.password = bad;
	const char *users[] = {"alice", "mallory"};
	GString *outs[] = {r_known, r_unknown};
	for (int i = 0; i < 2; i++) {
		memset(&f.st, 0, sizeof(f.st));
		f.cred.username = users[i];
		TAP_CHECK_INT(answer(&f, "sip:example.com"), 0);
		TAP_CHECK_INT(req_parse(&f, f.hdr->str, NULL), 0);
		enum sip_auth_result r = check(&f, SRC, false);
		TAP_CHECK_INT(r, SIP_AUTH_FAIL);
		TAP_CHECK_INT(sip_auth_server_respond(f.srv, &req, SRC, false, r, "t1", outs[i]),
			      0);
	}
	TAP_CHECK(r_known->len > 0);
	TAP_CHECK_STR(r_known->str, r_unknown->str);
	TAP_CHECK(strstr(r_known->str, "mallory") == NULL);
	/* Without credentials the challenge does not depend on anything a user chose. */
	g_string_truncate(r_known, 0);
	g_string_truncate(r_unknown, 0);
	TAP_CHECK_INT(sip_auth_server_challenge(f.srv, SRC, false, false, r_known), 0);
	TAP_CHECK_INT(sip_auth_server_challenge(f.srv, SRC, false, false, r_unknown), 0);
	TAP_CHECK_STR(r_known->str, r_unknown->str);
	g_string_free(r_known, TRUE);
	g_string_free(r_unknown, TRUE);
	secret_free(bad);
	fx_free(&f);
}

static void test_bi13_uri_not_ruri(void)
{
	struct fx f;
	fx_init(&f, 0);
	first_challenge(&f, false);
	TAP_CHECK_INT(answer(&f, "sip:other.example.net"), 0);
	TAP_CHECK_INT(req_parse(&f, f.hdr->str, NULL), 0);
	TAP_CHECK_INT(check(&f, SRC, false), SIP_AUTH_BAD);
	respond(&f, SIP_AUTH_BAD, false);
	TAP_CHECK_INT(resp.status, 400);
	/* An equivalent URI (RFC 3261 §19.1.4: scheme and host case) is the same URI. */
	memset(&f.st, 0, sizeof(f.st));
	first_challenge(&f, false);
	TAP_CHECK_INT(answer(&f, "SIP:EXAMPLE.COM"), 0);
	TAP_CHECK_INT(req_parse(&f, f.hdr->str, NULL), 0);
	TAP_CHECK_INT(check(&f, SRC, false), SIP_AUTH_OK);
	fx_free(&f);
}

/* A syntactically valid Authorization that the server must refuse with 400. */
static void expect_bad_cred(const char *value)
{
	struct fx f;
	fx_init(&f, 0);
	char *line = g_strdup_printf("Authorization: %s\r\n", value);
	TAP_CHECK_INT(req_parse(&f, line, NULL), 0);
	TAP_CHECK_INT(check(&f, SRC, false), SIP_AUTH_BAD);
	struct sip_auth_cred c;
	TAP_CHECK_INT(sip_auth_cred_parse((struct slice){value, strlen(value)}, REALM, &c),
		      EBADMSG);
	g_free(line);
	fx_free(&f);
}

#define CRED_HEAD                                                                        \
	"Digest username=\"alice\", realm=\"example.com\", uri=\"sip:example.com\", "    \
	"nonce=\"abc\", cnonce=\"xyz\", "
#define RESP32 "response=\"0123456789abcdef0123456789abcdef\""

static void test_bi13_algorithm_unknown(void)
{
	expect_bad_cred(CRED_HEAD "nc=00000001, qop=auth, algorithm=SHA-512-256, " RESP32);
	expect_bad_cred(CRED_HEAD "nc=00000001, qop=auth, algorithm=MD5-sess, " RESP32);
}

static void test_bi13_qop_missing(void)
{
	expect_bad_cred(CRED_HEAD "nc=00000001, " RESP32);
	expect_bad_cred(CRED_HEAD "nc=00000001, qop=auth-int, " RESP32);
}

static void test_bi13_fields_missing_or_malformed(void)
{
	expect_bad_cred(CRED_HEAD "qop=auth, " RESP32);                      /* no nc */
	expect_bad_cred(CRED_HEAD "qop=auth, nc=1, " RESP32);                /* nc not 8 hex */
	expect_bad_cred(CRED_HEAD "qop=auth, nc=0000000g, " RESP32);
	expect_bad_cred(CRED_HEAD "qop=auth, nc=00000000, " RESP32);
	expect_bad_cred(CRED_HEAD "qop=auth, nc=00000001, response=\"abc\""); /* short */
	expect_bad_cred(CRED_HEAD "qop=auth, nc=00000001, algorithm=SHA-256, " RESP32);
	expect_bad_cred("Digest realm=\"example.com\", uri=\"sip:example.com\", nonce=\"a\", "
			"cnonce=\"b\", qop=auth, nc=00000001, " RESP32); /* no username */
}

/*
 * Malformed values the message parser already answers with 400; sip_auth_cred_parse
 * refuses them on its own too (defence in depth for callers that skip the parser).
 */
static void expect_parser_400(const char *value)
{
	struct fx f;
	int st = 0;
	fx_init(&f, 0);
	char *line = g_strdup_printf("Authorization: %s\r\n", value);
	TAP_CHECK_INT(req_parse(&f, line, &st), EBADMSG);
	TAP_CHECK_INT(st, 400);
	struct sip_auth_cred c;
	TAP_CHECK_INT(sip_auth_cred_parse((struct slice){value, strlen(value)}, REALM, &c),
		      EBADMSG);
	g_free(line);
	fx_free(&f);
}

static void test_bi13_duplicate_params(void)
{
	expect_parser_400(CRED_HEAD "qop=auth, nc=00000001, nc=00000002, " RESP32);
	expect_parser_400(CRED_HEAD "qop=auth, nc=00000001, " RESP32 ", " RESP32);
}

static void test_bi13_10kb_nonce(void)
{
	GString *v = g_string_sized_new(12000);
	g_string_append(v, "Digest username=\"alice\", realm=\"example.com\", nonce=\"");
	for (int i = 0; i < 10240; i++)
		g_string_append_c(v, 'A');
	g_string_append(v, "\", uri=\"sip:example.com\", cnonce=\"x\", qop=auth, nc=00000001, "
			   RESP32);
	expect_parser_400(v->str);
	g_string_free(v, TRUE);
}

static void test_bi13_unterminated_quote(void)
{
	expect_parser_400(CRED_HEAD "qop=auth, nc=00000001, response=\"0123456789abcdef");
	expect_parser_400("Digest username=\"alice");
}

/* Someone else's realm or scheme is not ours to judge: the request is challenged. */
static void test_foreign_realm_challenged(void)
{
	struct fx f;
	fx_init(&f, 0);
	TAP_CHECK_INT(req_parse(&f,
				"Authorization: Digest username=\"alice\", realm=\"other.org\", "
				"nonce=\"a\", uri=\"sip:example.com\", response=\"00\"\r\n"
				"Authorization: Digest username=\"alice\", realm=\"third.org\"\r\n",
				NULL),
		      0);
	TAP_CHECK_INT(check(&f, SRC, false), SIP_AUTH_CHALLENGE);
	fx_free(&f);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* BI-42: verification of an unknown user takes the time of a known one with a wrong
 * password (same computations with a dummy HA1). Medians of many runs, a loose bound. */
static void test_bi42_unknown_user_timing(void)
{
	enum { RUNS = 301 };
	struct fx f;
	struct secret *bad = secret_new("wrong", 5);
	int64_t *t[2] = {g_new(int64_t, RUNS), g_new(int64_t, RUNS)};
	struct sip_auth_cred c;
	GString *hdr[2] = {g_string_sized_new(1024), g_string_sized_new(1024)};
	fx_init(&f, 0);
	first_challenge(&f, false);
	f.cred.password = bad;
	const char *users[] = {"alice", "mallory"};
	for (int u = 0; u < 2; u++) {
		memset(&f.st, 0, sizeof(f.st));
		f.cred.username = users[u];
		TAP_CHECK_INT(answer(&f, "sip:example.com"), 0);
		g_string_assign(hdr[u], f.hdr->str);
	}
	for (int i = 0; i < RUNS; i++) {
		for (int u = 0; u < 2; u++) {
			TAP_CHECK_INT(req_parse(&f, hdr[u]->str, NULL), 0);
			TAP_CHECK_INT(sip_auth_server_credentials(f.srv, &req, false, &c), 0);
			const struct secret *h = lookup(c.username, c.alg, &f.users);
			int64_t t0 = g_get_monotonic_time();
			TAP_CHECK_INT(sip_auth_server_verify(f.srv, req.method, req.ruri, SRC, &c, h),
				      SIP_AUTH_FAIL);
			t[u][i] = g_get_monotonic_time() - t0;
		}
	}
	qsort(t[0], RUNS, sizeof(int64_t), cmp_i64);
	qsort(t[1], RUNS, sizeof(int64_t), cmp_i64);
	int64_t d = t[0][RUNS / 2] - t[1][RUNS / 2];
	printf("#   median verify: known %lld us, unknown %lld us\n", (long long)t[0][RUNS / 2],
	       (long long)t[1][RUNS / 2]);
	TAP_CHECK(d < 1000 && d > -1000);
	g_free(t[0]);
	g_free(t[1]);
	g_string_free(hdr[0], TRUE);
	g_string_free(hdr[1], TRUE);
	secret_free(bad);
	fx_free(&f);
}

/* Every prefix of valid credentials, ending right before an unreadable page, parses or
 * fails cleanly (STYLE.md: parsers and truncated input). */
static void test_cred_parse_truncated_prefixes(void)
{
	struct guard g;
	guard_init(&g);
	const char *v = "Digest username=\"al\\\"ice\", realm=\"example.com\", "
			"uri=\"sip:example.com\", nonce=\"abc\", cnonce=\"xyz\", qop=auth, "
			"nc=00000001, response=\"0123456789abcdef0123456789abcdef\"";
	size_t n = strlen(v);
	struct sip_auth_cred c;
	for (size_t i = 0; i <= n; i++) {
		const char *p = guard_place(&g, v, i);
		int rc = sip_auth_cred_parse((struct slice){p, i}, REALM, &c);
		TAP_CHECK(rc == (i == n ? 0 : EBADMSG) || (rc == ENOENT && i < 40));
	}
	TAP_CHECK_STR(c.username, "al\"ice");
	guard_free(&g);
}

static void test_dump_has_no_secrets(void)
{
	struct fx f;
	fx_init(&f, 0);
	g_string_truncate(f.out, 0);
	sip_auth_server_dump(f.srv, f.out);
	TAP_CHECK_STR(f.out->str, "auth realm=\"example.com\" nonce_lifetime=300s nonces=0/8192\n");
	fx_free(&f);
}

/* ---- client --------------------------------------------------------------------------- */

/* BI-16: an upstream that answers every attempt with a new nonce gets one answer only. */
static void test_bi16_client_gives_up_after_one_retry(void)
{
	struct fx f;
	fx_init(&f, 0);
	first_challenge(&f, false);
	TAP_CHECK_INT(answer(&f, "sip:example.com"), 0);
	t_now += 1; /* a new nonce */
	first_challenge(&f, false);
	TAP_CHECK_INT(answer(&f, "sip:example.com"), EPERM);
	TAP_CHECK_INT(f.hdr->len, 0);
	/* stale=true earns one more answer, and only one. */
	memset(&f.st, 0, sizeof(f.st));
	TAP_CHECK_INT(answer(&f, "sip:example.com"), 0);
	respond(&f, SIP_AUTH_STALE, false);
	TAP_CHECK_INT(answer(&f, "sip:example.com"), 0);
	respond(&f, SIP_AUTH_STALE, false);
	TAP_CHECK_INT(answer(&f, "sip:example.com"), EPERM);
	/* After a success the next challenge is answered again. */
	sip_auth_client_success(&f.st);
	TAP_CHECK_INT(answer(&f, "sip:example.com"), 0);
	fx_free(&f);
}

static void test_client_choose(void)
{
	struct fx f;
	struct sip_auth chal;
	fx_init(&f, 0);
	const char *r401 = "SIP/2.0 401 Unauthorized\r\n"
			   "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds\r\n"
			   "To: <sip:alice@example.com>;tag=x\r\n"
			   "From: <sip:alice@example.com>;tag=1928301774\r\n"
			   "Call-ID: a84b4c76e66710@pc33.example.com\r\n"
			   "CSeq: 1 REGISTER\r\n"
			   "WWW-Authenticate: Basic realm=\"x\"\r\n"
			   "WWW-Authenticate: Digest realm=\"pbx\", nonce=\"n1\", algorithm=SHA-512\r\n"
			   "WWW-Authenticate: Digest realm=\"pbx\", nonce=\"n2\", opaque=\"o\"\r\n"
			   "Content-Length: 0\r\n\r\n";
	int st;
	TAP_CHECK_INT(sip_msg_parse(r401, strlen(r401), SIP_MODE_DATAGRAM, &resp, &st, NULL), 0);
	TAP_CHECK_INT(sip_auth_client_choose(&resp, &chal), 0);
	TAP_CHECK_SLICE(chal.nonce.p, chal.nonce.len, "n2"); /* no algorithm: MD5 */
	/* No qop offered: the RFC 2069 form, without cnonce and nc; opaque echoed. */
	TAP_CHECK_INT(sip_auth_client_answer(&f.st, &chal, false, &f.cred, "INVITE",
					     "sip:bob@pbx", (struct slice){NULL, 0}, f.hdr),
		      0);
	TAP_CHECK(strstr(f.hdr->str, "cnonce") == NULL);
	TAP_CHECK(strstr(f.hdr->str, ", opaque=\"o\"\r\n") != NULL);
	TAP_CHECK(strstr(f.hdr->str, "algorithm=MD5") != NULL);
	char ha1[SIP_DIGEST_HEX_MAX], want[SIP_DIGEST_HEX_MAX], needle[80];
	TAP_CHECK_INT(sip_auth_ha1(SIP_DIGEST_MD5, "alice", "pbx", f.pw, ha1), 0);
	TAP_CHECK_INT(sip_auth_response_compute(SIP_DIGEST_MD5, (struct slice){ha1, 32},
						SLICE_LIT("n2"), (struct slice){NULL, 0},
						(struct slice){NULL, 0}, (struct slice){NULL, 0},
						SLICE_LIT("INVITE"), SLICE_LIT("sip:bob@pbx"),
						(struct slice){NULL, 0}, want),
		      0);
	g_snprintf(needle, sizeof(needle), "response=\"%s\"", want);
	TAP_CHECK(strstr(f.hdr->str, needle) != NULL);
	/* A 200 has nothing to choose from; a request neither. */
	TAP_CHECK_INT(sip_auth_client_choose(&req, &chal), EBADMSG);
	fx_free(&f);
}

static void test_client_auth_int_and_errors(void)
{
	struct fx f;
	struct sip_auth chal;
	fx_init(&f, 0);
	const char *v = "Digest realm=\"pbx\", nonce=\"n\", qop=\"auth-int\", algorithm=SHA-256";
	TAP_CHECK_INT(sip_auth_parse((struct slice){v, strlen(v)}, &chal), 0);
	TAP_CHECK_INT(sip_auth_client_answer(&f.st, &chal, true, &f.cred, "MESSAGE",
					     "sip:bob@pbx", SLICE_LIT("hello"), f.hdr),
		      0);
	TAP_CHECK(strstr(f.hdr->str, "Proxy-Authorization: Digest") == f.hdr->str);
	TAP_CHECK(strstr(f.hdr->str, "qop=auth-int") != NULL);
	v = "Digest realm=\"pbx\", nonce=\"n\", qop=\"auth-conf\"";
	TAP_CHECK_INT(sip_auth_parse((struct slice){v, strlen(v)}, &chal), 0);
	memset(&f.st, 0, sizeof(f.st));
	TAP_CHECK_INT(sip_auth_client_answer(&f.st, &chal, false, &f.cred, "MESSAGE",
					     "sip:bob@pbx", SLICE_LIT(""), f.hdr),
		      ENOTSUP);
	v = "Digest realm=\"pbx\", nonce=\"n\", qop=\"auth\"";
	TAP_CHECK_INT(sip_auth_parse((struct slice){v, strlen(v)}, &chal), 0);
	TAP_CHECK_INT(sip_auth_client_answer(&f.st, &chal, false, &f.cred, "MESSAGE",
					     "sip:bob\"@pbx", SLICE_LIT(""), f.hdr),
		      EINVAL);
	/* Quotes in a username are escaped, and the server unquotes them again. */
	f.cred.username = "al\"ice";
	g_string_truncate(f.hdr, 0);
	TAP_CHECK_INT(sip_auth_client_answer(&f.st, &chal, false, &f.cred, "MESSAGE",
					     "sip:bob@pbx", SLICE_LIT(""), f.hdr),
		      0);
	const char *line = strchr(f.hdr->str, ':') + 2;
	struct sip_auth_cred c;
	TAP_CHECK_INT(sip_auth_cred_parse((struct slice){line, strlen(line) - 2}, "pbx", &c), 0);
	TAP_CHECK_STR(c.username, "al\"ice");
	fx_free(&f);
}

/* ---- logs (SEC-13) ----------------------------------------------------------------------- */

static void sink(enum log_level level, const char *line, size_t len, void *arg)
{
	(void)level;
	g_string_append_len(arg, line, (gssize)len);
	g_string_append_c(arg, '\n');
}

static void test_sec13_secrets_never_logged(void)
{
	struct fx f;
	GString *logs = g_string_sized_new(65536);
	struct secret *bad = secret_new("wrong", 5);
	log_setup(LOG_DEBUG, LOG_FORMAT_TEXT);
	log_set_sink(sink, logs);
	fx_init(&f, 0);
	first_challenge(&f, false);
	TAP_CHECK_INT(answer(&f, "sip:example.com"), 0);
	TAP_CHECK_INT(req_parse(&f, f.hdr->str, NULL), 0);
	TAP_CHECK_INT(check(&f, SRC, false), SIP_AUTH_OK);
	TAP_CHECK_INT(check(&f, SRC, false), SIP_AUTH_FAIL);
	memset(&f.st, 0, sizeof(f.st));
	f.cred.password = bad;
	TAP_CHECK_INT(answer(&f, "sip:example.com"), 0);
	TAP_CHECK_INT(req_parse(&f, f.hdr->str, NULL), 0);
	TAP_CHECK_INT(check(&f, SRC, false), SIP_AUTH_FAIL);
	TAP_CHECK_INT(check(&f, "192.0.2.9", false), SIP_AUTH_FAIL);
	TAP_CHECK_INT(req_parse(&f, "Authorization: " CRED_HEAD "nc=00000001, " RESP32 "\r\n",
				NULL),
		      0);
	TAP_CHECK_INT(check(&f, SRC, false), SIP_AUTH_BAD);
	log_set_sink(NULL, NULL);
	log_setup(LOG_NOTICE, LOG_FORMAT_TEXT);

	TAP_CHECK(strstr(logs->str, "alice") != NULL); /* the capture saw the auth lines */
	TAP_CHECK(strstr(logs->str, PASSWORD) == NULL);
	TAP_CHECK(strstr(logs->str, "wrong\"") == NULL);
	TAP_CHECK(strstr(logs->str, KEY) == NULL);
	for (int a = 0; a < 2; a++) {
		size_t n;
		const char *h = secret_reveal(f.users.ha1[a], &n);
		TAP_CHECK(strstr(logs->str, h) == NULL);
	}
	secret_free(bad);
	g_string_free(logs, TRUE);
	fx_free(&f);
}

static const struct tap_case cases[] = {
	{"rfc7616_md5", test_rfc7616_md5, 0},
	{"rfc7616_sha256", test_rfc7616_sha256, 0},
	{"alg_names", test_alg_names, 0},
	{"config_limits", test_config_limits, 0},
	{"challenge_format", test_challenge_format, 0},
	{"nonce_is_keyed_hmac", test_nonce_is_keyed_hmac, 0},
	{"round_trip_401", test_round_trip_401, 0},
	{"round_trip_407", test_round_trip_407, 0},
	{"round_trip_md5", test_round_trip_md5, 0},
	{"SEC-05_stale_nonce_after_expiry", test_stale_nonce_after_expiry, 0},
	{"SEC-05_nonce_bound_to_source_ip", test_wrong_source_ip, 0},
	{"SEC-05_tampered_nonce", test_tampered_nonce, 0},
	{"nc_replay_rejected", test_nc_replay_rejected, 0},
	{"nc_increasing_accepted", test_nc_increasing_accepted, 0},
	{"nc_table_cap", test_nc_table_cap, 0},
	{"wrong_password", test_wrong_password, 0},
	{"BI-42_unknown_user_indistinguishable", test_bi42_unknown_user_indistinguishable, 0},
	{"BI-42_unknown_user_timing", test_bi42_unknown_user_timing, 0},
	{"cred_parse_truncated_prefixes", test_cred_parse_truncated_prefixes, 0},
	{"dump_has_no_secrets", test_dump_has_no_secrets, 0},
	{"BI-13_uri_not_ruri", test_bi13_uri_not_ruri, 0},
	{"BI-13_algorithm_unknown", test_bi13_algorithm_unknown, 0},
	{"BI-13_qop_missing", test_bi13_qop_missing, 0},
	{"BI-13_fields_missing_or_malformed", test_bi13_fields_missing_or_malformed, 0},
	{"BI-13_duplicate_params", test_bi13_duplicate_params, 0},
	{"BI-13_10kb_nonce", test_bi13_10kb_nonce, 0},
	{"BI-13_unterminated_quote", test_bi13_unterminated_quote, 0},
	{"foreign_realm_challenged", test_foreign_realm_challenged, 0},
	{"BI-16_client_gives_up_after_one_retry", test_bi16_client_gives_up_after_one_retry, 0},
	{"client_choose", test_client_choose, 0},
	{"client_auth_int_and_errors", test_client_auth_int_and_errors, 0},
	{"SEC-13_secrets_never_logged", test_sec13_secrets_never_logged, 0},
};

TAP_MAIN(cases)
