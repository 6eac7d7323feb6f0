/* Unit tests: JWT HS256 verification rules (RFC 7519, RFC 8725). */
#include "tap.h"
#include "ws.h"

#define NOW 1800000000

static struct secret *key;

static struct ws_auth_config cfg(void)
{
	struct ws_auth_config c = {.jwt_key = key, .audience = "gorgee", .issuer = "",
				   .max_lifetime_secs = 900, .skew_secs = 60};
	return c;
}

static char *sign(const char *claims_json)
{
	json_t *c = json_loads(claims_json, 0, NULL);
	char *t = ws_jwt_sign(key, c);
	json_decref(c);
	return t;
}

static int verify(const struct ws_auth_config *c, const char *tok, const char **why)
{
	struct ws_jwt_claims cl;
	return ws_jwt_verify(c, tok, strlen(tok), NOW, &cl, why);
}

static void setup(void)
{
	key = secret_new("k3y", 3);
}

static void teardown(void)
{
	secret_free(key);
}

static void t_good(void)
{
	setup();
	struct ws_auth_config c = cfg();
	char *t = sign("{\"sub\":\"alice\",\"aud\":\"gorgee\",\"iat\":1800000000,\"exp\":1800000300,"
		       "\"jti\":\"j1\"}");
	struct ws_jwt_claims cl;
	const char *why = NULL;
	TAP_CHECK_INT(ws_jwt_verify(&c, t, strlen(t), NOW, &cl, &why), 0);
	TAP_CHECK_STR(cl.sub, "alice");
	TAP_CHECK_STR(cl.jti, "j1");
	TAP_CHECK_INT(cl.exp, 1800000300);
	g_free(t);
	/* aud as an array holding ours */
	t = sign("{\"sub\":\"a\",\"aud\":[\"x\",\"gorgee\"],\"exp\":1800000300}");
	TAP_CHECK_INT(verify(&c, t, &why), 0);
	g_free(t);
	teardown();
}

static void t_claims(void)
{
	setup();
	struct ws_auth_config c = cfg();
	static const struct {
		const char *claims, *why;
	} bad[] = {
		{"{\"sub\":\"a\",\"aud\":\"gorgee\",\"exp\":1799999900}", "token expired"},
		{"{\"sub\":\"a\",\"aud\":\"gorgee\"}", "token has no exp"},
		{"{\"sub\":\"a\",\"aud\":\"gorgee\",\"exp\":\"1800000300\"}", "token has no exp"},
		{"{\"sub\":\"a\",\"aud\":\"other\",\"exp\":1800000300}", "token audience mismatch"},
		{"{\"sub\":\"a\",\"exp\":1800000300}", "token audience mismatch"},
		{"{\"sub\":\"a\",\"aud\":\"gorgee\",\"exp\":1800000300,\"nbf\":1800000100}",
		 "token not yet valid"},
		{"{\"sub\":\"a\",\"aud\":\"gorgee\",\"exp\":1800003000,\"iat\":1800000000}",
		 "token lifetime too long"},
		{"{\"sub\":\"a\",\"aud\":\"gorgee\",\"exp\":1800000300,\"iat\":1800000500}",
		 "token issued in the future"},
		{"{\"aud\":\"gorgee\",\"exp\":1800000300}", "token has no usable sub"},
		{"{\"sub\":\"\",\"aud\":\"gorgee\",\"exp\":1800000300}", "token has no usable sub"},
		{"{\"sub\":5,\"aud\":\"gorgee\",\"exp\":1800000300}", "token has no usable sub"},
	};
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		char *t = sign(bad[i].claims);
		const char *why = "";
		TAP_CHECK_INT(verify(&c, t, &why), EPERM);
		TAP_CHECK_STR(why, bad[i].why);
		g_free(t);
	}
	/* within the 60 s skew: accepted */
	char *t = sign("{\"sub\":\"a\",\"aud\":\"gorgee\",\"exp\":1799999950}");
	const char *why;
	TAP_CHECK_INT(verify(&c, t, &why), 0);
	g_free(t);
	/* issuer, when configured */
	c.issuer = "idp";
	t = sign("{\"sub\":\"a\",\"aud\":\"gorgee\",\"exp\":1800000300,\"iss\":\"other\"}");
	TAP_CHECK_INT(verify(&c, t, &why), EPERM);
	TAP_CHECK_STR(why, "token issuer mismatch");
	g_free(t);
	teardown();
}

/* BI-47: alg none, other algorithms, crit, tampering, malformed encodings. */
static void t_algorithms_and_format(void)
{
	setup();
	struct ws_auth_config c = cfg();
	const char *why;
	/* {"alg":"none"}.{"sub":"a","aud":"gorgee","exp":1800000300}. */
	TAP_CHECK_INT(verify(&c, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIiwiYXVkIjoiZ29yZ2VlIiwiZXhwIjoxODAwMDAwMzAwfQ.", &why), EPERM);
	TAP_CHECK_STR(why, "token algorithm not allowed");
	/* {"alg":"HS512"} */
	TAP_CHECK_INT(verify(&c, "eyJhbGciOiJIUzUxMiJ9.eyJzdWIiOiJhIn0.AAAA", &why), EPERM);
	/* {"alg":"HS256","crit":["x"]} */
	TAP_CHECK_INT(verify(&c, "eyJhbGciOiJIUzI1NiIsImNyaXQiOlsieCJdfQ.eyJzdWIiOiJhIn0.AAAA", &why), EPERM);
	char *t = sign("{\"sub\":\"a\",\"aud\":\"gorgee\",\"exp\":1800000300}");
	size_t n = strlen(t);
	/* flip the last signature character */
	t[n - 1] = t[n - 1] == 'A' ? 'B' : 'A';
	TAP_CHECK_INT(verify(&c, t, &why), EPERM);
	TAP_CHECK(strcmp(why, "token signature invalid") == 0 || strcmp(why, "token signature malformed") == 0);
	g_free(t);
	static const char *const malformed[] = {"", "a", "a.b", "a.b.c.d", "..", "eyJ!.e.e",
						"e30.e30.e30", "eyJhbGciOiJIUzI1NiJ9.=.abc"};
	for (size_t i = 0; i < G_N_ELEMENTS(malformed); i++)
		TAP_CHECK(verify(&c, malformed[i], &why) != 0);
	/* another key signs: refused */
	struct secret *other = secret_new("other", 5);
	json_t *cl = json_pack("{s:s,s:s,s:i}", "sub", "a", "aud", "gorgee", "exp", 1800000300);
	t = ws_jwt_sign(other, cl);
	TAP_CHECK_INT(verify(&c, t, &why), EPERM);
	g_free(t);
	json_decref(cl);
	secret_free(other);
	/* no key configured: token login off */
	c.jwt_key = NULL;
	TAP_CHECK_INT(verify(&c, "a.b.c", &why), EPERM);
	TAP_CHECK_STR(why, "token login is not configured");
	teardown();
}

static const struct tap_case cases[] = {
	{"jwt good tokens", t_good, 0},
	{"jwt claim rules", t_claims, 0},
	{"BI-47 jwt algorithm pinning and malformed tokens", t_algorithms_and_format, 0},
};

TAP_MAIN(cases)
