/* JWT (RFC 7519) HS256 verification with the RFC 8725 rules: pinned algorithm, exp required. */
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#include "ws.h"

#define JWT_MAX_LEN 4096

/* base64url without padding (RFC 7515 §2). Returns decoded length or -1. */
static gssize b64url_decode(const char *in, size_t len, unsigned char *out, size_t cap)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		int v;
		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= 'a' && c <= 'z')
			v = c - 'a' + 26;
		else if (c >= '0' && c <= '9')
			v = c - '0' + 52;
		else if (c == '-')
			v = 62;
		else if (c == '_')
			v = 63;
		else
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n >= cap)
				return -1;
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	/* A single leftover character cannot encode a byte, and the unused low bits of the
	 * last one must be zero: otherwise one token has several spellings. */
	if (bits >= 6 || (acc & ((1u << bits) - 1)) != 0)
		return -1;
	return (gssize)n;
}

static void b64url_encode(const unsigned char *in, size_t len, GString *out)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < len; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			g_string_append_c(out, tab[(acc >> bits) & 63]);
		}
	}
	if (bits)
		g_string_append_c(out, tab[(acc << (6 - bits)) & 63]);
}

static bool hs256(const struct secret *key, const char *data, size_t len, unsigned char mac[32])
{
	size_t klen;
	const char *k = secret_reveal(key, &klen);
	unsigned int mlen = 0;
	return HMAC(EVP_sha256(), k, (int)klen, (const unsigned char *)data, len, mac, &mlen) &&
	       mlen == 32;
}

static json_t *decode_json(const char *p, size_t len)
{
	unsigned char buf[JWT_MAX_LEN];
	gssize n = b64url_decode(p, len, buf, sizeof(buf));
	if (n < 0)
		return NULL;
	json_t *j = json_loadb((const char *)buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
	if (j && !json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* "aud" may be a string or an array of strings (RFC 7519 §4.1.3). */
static bool audience_ok(json_t *aud, const char *want)
{
	if (json_is_string(aud))
		return strcmp(json_string_value(aud), want) == 0;
	size_t i;
	json_t *v;
	if (json_is_array(aud))
		json_array_foreach(aud, i, v) if (json_is_string(v) &&
						  strcmp(json_string_value(v), want) == 0) return true;
	return false;
}

static int check_claims(const struct ws_auth_config *cfg, json_t *c, int64_t now,
			struct ws_jwt_claims *out, const char **why)
{
	json_t *exp = json_object_get(c, "exp"), *iat = json_object_get(c, "iat");
	json_t *nbf = json_object_get(c, "nbf"), *sub = json_object_get(c, "sub");
	json_t *jti = json_object_get(c, "jti");
	int64_t skew = cfg->skew_secs;

	memset(out, 0, sizeof(*out));
	if (!json_is_integer(exp))
		return *why = "token has no exp", EPERM;
	out->exp = json_integer_value(exp);
	if (now > out->exp + skew)
		return *why = "token expired", EPERM;
	if (nbf) {
		if (!json_is_integer(nbf) || now + skew < json_integer_value(nbf))
			return *why = "token not yet valid", EPERM;
		out->nbf = json_integer_value(nbf);
	}
	if (iat) {
		if (!json_is_integer(iat) || json_integer_value(iat) > now + skew)
			return *why = "token issued in the future", EPERM;
		out->iat = json_integer_value(iat);
	}
	int64_t start = iat ? out->iat : now;
	if (cfg->max_lifetime_secs && out->exp - start > (int64_t)cfg->max_lifetime_secs)
		return *why = "token lifetime too long", EPERM;
	if (cfg->audience && cfg->audience[0] && !audience_ok(json_object_get(c, "aud"), cfg->audience))
		return *why = "token audience mismatch", EPERM;
	if (cfg->issuer && cfg->issuer[0]) {
		json_t *iss = json_object_get(c, "iss");
		if (!json_is_string(iss) || strcmp(json_string_value(iss), cfg->issuer) != 0)
			return *why = "token issuer mismatch", EPERM;
	}
	if (!json_is_string(sub) || json_string_length(sub) == 0 ||
	    json_string_length(sub) >= sizeof(out->sub))
		return *why = "token has no usable sub", EPERM;
	g_strlcpy(out->sub, json_string_value(sub), sizeof(out->sub));
	if (jti) {
		if (!json_is_string(jti) || json_string_length(jti) >= sizeof(out->jti))
			return *why = "token jti invalid", EPERM;
		g_strlcpy(out->jti, json_string_value(jti), sizeof(out->jti));
	}
	return 0;
}

int ws_jwt_verify(const struct ws_auth_config *cfg, const char *token, size_t len, int64_t now,
		  struct ws_jwt_claims *out, const char **why)
{
	size_t klen = 0;
	secret_reveal(cfg->jwt_key, &klen);
	if (!cfg->jwt_key || klen == 0)
		return *why = "token login is not configured", EPERM;
	if (len == 0 || len > JWT_MAX_LEN)
		return *why = "token length invalid", EBADMSG;
	const char *d1 = memchr(token, '.', len);
	const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
	if (!d1 || !d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)))
		return *why = "token is not a compact JWS", EBADMSG;

	/* Header first: only {"alg":"HS256"} is accepted (no none, no RS/HS confusion). */
	json_t *hdr = decode_json(token, (size_t)(d1 - token));
	if (!hdr)
		return *why = "token header malformed", EBADMSG;
	json_t *alg = json_object_get(hdr, "alg");
	bool alg_ok = json_is_string(alg) && strcmp(json_string_value(alg), "HS256") == 0 &&
		      !json_object_get(hdr, "crit");
	json_decref(hdr);
	if (!alg_ok)
		return *why = "token algorithm not allowed", EPERM;

	unsigned char mac[32], sig[64];
	gssize slen = b64url_decode(d2 + 1, len - (size_t)(d2 + 1 - token), sig, sizeof(sig));
	if (slen != 32)
		return *why = "token signature malformed", EPERM;
	if (!hs256(cfg->jwt_key, token, (size_t)(d2 - token), mac) || CRYPTO_memcmp(mac, sig, 32))
		return *why = "token signature invalid", EPERM;

	json_t *claims = decode_json(d1 + 1, (size_t)(d2 - d1 - 1));
	if (!claims)
		return *why = "token claims malformed", EBADMSG;
	int rc = check_claims(cfg, claims, now, out, why);
	json_decref(claims);
	return rc;
}

char *ws_jwt_sign(const struct secret *key, json_t *claims)
{
	static const char hdr[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	GString *out = g_string_new(NULL);
	unsigned char mac[32];
	char *body = json_dumps(claims, JSON_COMPACT);
	b64url_encode((const unsigned char *)hdr, sizeof(hdr) - 1, out);
	g_string_append_c(out, '.');
	b64url_encode((const unsigned char *)body, strlen(body), out);
	free(body);
	if (!hs256(key, out->str, out->len, mac)) {
		g_string_free(out, TRUE);
		return NULL;
	}
	g_string_append_c(out, '.');
	b64url_encode(mac, sizeof(mac), out);
	return g_string_free(out, FALSE);
}
