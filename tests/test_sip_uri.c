/* Tests for sip_uri_parse and sip_uri_equal (RFC 3261 §19.1, §19.1.4; RFC 3966; BI-02). */
#include <errno.h>

#include "guard.h"
#include "sip.h"
/* tap.h leaves a variable unused when built with ASan; keep -Werror builds green. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-variable"
#include "tap.h"
#pragma GCC diagnostic pop

static int parse(const char *s, struct sip_uri *u)
{
	return sip_uri_parse((struct slice){s, strlen(s)}, u);
}

static void test_parse_full(void)
{
	struct sip_uri u;
	TAP_CHECK_INT(parse("sip:alice:secretword@atlanta.com:5061;transport=tcp;lr?subject=hi&x=1", &u), 0);
	TAP_CHECK_INT(u.scheme, SIP_SCHEME_SIP);
	TAP_CHECK_SLICE(u.user.p, u.user.len, "alice");
	TAP_CHECK_SLICE(u.password.p, u.password.len, "secretword");
	TAP_CHECK_SLICE(u.host.p, u.host.len, "atlanta.com");
	TAP_CHECK(u.has_port);
	TAP_CHECK_INT(u.port, 5061);
	TAP_CHECK_INT(u.params.n, 2);
	TAP_CHECK_SLICE(u.params.p[0].name.p, u.params.p[0].name.len, "transport");
	TAP_CHECK_SLICE(u.params.p[0].value.p, u.params.p[0].value.len, "tcp");
	TAP_CHECK_SLICE(u.params.p[1].name.p, u.params.p[1].name.len, "lr");
	TAP_CHECK(u.params.p[1].value.p == NULL);
	TAP_CHECK_INT(u.headers.n, 2);
	TAP_CHECK_SLICE(u.headers.p[0].name.p, u.headers.p[0].name.len, "subject");
	TAP_CHECK_SLICE(u.headers.p[0].value.p, u.headers.p[0].value.len, "hi");
	TAP_CHECK_SLICE(u.headers.p[1].name.p, u.headers.p[1].name.len, "x");
	TAP_CHECK(sip_params_find(&u.params, "TRANSPORT") != NULL);
}

static void test_parse_forms(void)
{
	struct sip_uri u;
	TAP_CHECK_INT(parse("sips:[2001:db8::10]:5070", &u), 0);
	TAP_CHECK_INT(u.scheme, SIP_SCHEME_SIPS);
	TAP_CHECK(u.host_ipv6);
	TAP_CHECK_SLICE(u.host.p, u.host.len, "[2001:db8::10]");
	TAP_CHECK_INT(u.port, 5070);
	TAP_CHECK_INT(parse("sip:[2001:db8::10:5070]", &u), 0);
	TAP_CHECK(!u.has_port);
	TAP_CHECK_INT(parse("sip:192.0.2.4", &u), 0);
	TAP_CHECK(u.user.p == NULL);
	TAP_CHECK_INT(parse("SIP:user@host", &u), 0);
	TAP_CHECK_INT(u.scheme, SIP_SCHEME_SIP);
	TAP_CHECK_INT(parse("tel:+1-201-555-0123;phone-context=example.com", &u), 0);
	TAP_CHECK_INT(u.scheme, SIP_SCHEME_TEL);
	TAP_CHECK_SLICE(u.user.p, u.user.len, "+1-201-555-0123");
	TAP_CHECK_INT(u.params.n, 1);
	TAP_CHECK_INT(parse("isbn:2983792873", &u), 0);
	TAP_CHECK_INT(u.scheme, SIP_SCHEME_OTHER);
	TAP_CHECK_SLICE(u.opaque.p, u.opaque.len, "2983792873");
	/* semiuri: ';' belongs to the user part when an '@' follows */
	TAP_CHECK_INT(parse("sip:user;par=u%40example.net@example.com", &u), 0);
	TAP_CHECK_SLICE(u.user.p, u.user.len, "user;par=u%40example.net");
	TAP_CHECK_INT(u.params.n, 0);
	TAP_CHECK_INT(parse("sip:host:0", &u), 0);
	TAP_CHECK_INT(parse("sip:host:65535", &u), 0);
	TAP_CHECK_INT(u.port, 65535);
}

static void test_parse_errors(void)
{
	static const char *const bad[] = {
		"", "sip:", "sip:@host", "sip:user@", "sip:host:99999", "sip:host:65536",
		"sip:host:", "sip:host:5060x", "sip:us er@host", "sip:user@ho st", "<sip:a@b>",
		"sip:a@b;", "sip:a@b;=x", "sip:a@b;p=", "sip:a@b?", "sip:a@b?x", "sip:[::1",
		"sip:[zz::1]", "sip:2001:db8::10", "tel:", "tel:xyz", ":opaque", "1sip:a",
		"sip:a@b\r\n", "sip:\x01@b", "sip:a@b;lr;LR", "sip:a@b;x=1;x=2", "sip:a@b;lr;%6Cr",
	};
	struct sip_uri u;
	for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
		int rc = parse(bad[i], &u);
		if (rc != EBADMSG)
			printf("#   accepted bad URI \"%s\"\n", bad[i]);
		TAP_CHECK_INT(rc, EBADMSG);
	}
}

/* BI-02: broken escapes are errors; %00 is kept exactly; nothing past the end is read. */
static void test_bi02_escapes(void)
{
	static const char *const bad[] = {"sip:a%@b", "sip:a%4@b", "sip:a%G1@b", "sip:b;x=%",
					  "sip:b;x=%4", "sip:b?h=%G1", "sip:user%", "sip:user%4"};
	struct sip_uri u;
	struct guard g;
	guard_init(&g);
	for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
		const char *p = guard_place(&g, bad[i], strlen(bad[i]));
		TAP_CHECK_INT(sip_uri_parse((struct slice){p, strlen(bad[i])}, &u), EBADMSG);
	}
	/* ends in '%' right before the guard page */
	const char *p = guard_place(&g, "sip:a@b;p=%", 11);
	TAP_CHECK_INT(sip_uri_parse((struct slice){p, 11}, &u), EBADMSG);
	TAP_CHECK_INT(parse("sip:null-%00-null@example.com", &u), 0);
	TAP_CHECK_SLICE(u.user.p, u.user.len, "null-%00-null");
	guard_free(&g);
}

static void test_param_cap(void)
{
	struct sip_uri u;
	GString *s = g_string_new("sip:host");
	for (int i = 0; i < SIP_MAX_PARAMS; i++)
		g_string_append_printf(s, ";p%d", i);
	TAP_CHECK_INT(parse(s->str, &u), 0);
	TAP_CHECK_INT(u.params.n, SIP_MAX_PARAMS);
	g_string_append(s, ";one-too-many");
	TAP_CHECK_INT(parse(s->str, &u), EBADMSG);
	g_string_free(s, TRUE);
	char big[SIP_MAX_URI + 16];
	memset(big, 'a', sizeof(big));
	memcpy(big, "sip:", 4);
	TAP_CHECK_INT(sip_uri_parse((struct slice){big, sizeof(big)}, &u), EBADMSG);
}

/* Every prefix of a few URIs, each ending at the guard page: no crash, no over-read. */
static void test_prefixes_guarded(void)
{
	static const char *const uris[] = {
		"sip:alice:pw@[2001:db8::1]:5061;transport=tls;maddr=[::1];lr?h=%41&b=c",
		"sips:%61lice@atlanta.com;method=REGISTER?to=sip:bob%40biloxi.com",
		"tel:+1-201-555-0123;phone-context=example.com",
	};
	struct guard g;
	struct sip_uri u;
	guard_init(&g);
	for (unsigned i = 0; i < G_N_ELEMENTS(uris); i++) {
		size_t n = strlen(uris[i]);
		for (size_t k = 0; k <= n; k++) {
			const char *p = guard_place(&g, uris[i], k);
			int rc = sip_uri_parse((struct slice){p, k}, &u);
			TAP_CHECK(rc == 0 || rc == EBADMSG);
		}
		TAP_CHECK_INT(sip_uri_parse((struct slice){guard_place(&g, uris[i], n), n}, &u), 0);
	}
	guard_free(&g);
}

static bool eq(const char *a, const char *b)
{
	struct sip_uri ua, ub;
	if (parse(a, &ua) || parse(b, &ub)) {
		printf("#   parse failed: %s | %s\n", a, b);
		return false;
	}
	bool r = sip_uri_equal(&ua, &ub);
	if (r != sip_uri_equal(&ub, &ua))
		printf("#   not symmetric: %s | %s\n", a, b);
	return r;
}

/* RFC 3261 §19.1.4: every example pair. */
static void test_equal_rfc_examples(void)
{
	TAP_CHECK(eq("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"));
	TAP_CHECK(eq("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"));
	TAP_CHECK(eq("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"));
	TAP_CHECK(eq("sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on"));
	TAP_CHECK(eq("sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
		     "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com"));
	TAP_CHECK(eq("sip:alice@atlanta.com?subject=project%20x&priority=urgent",
		     "sip:alice@atlanta.com?priority=urgent&subject=project%20x"));
	/* not equal */
	TAP_CHECK(!eq("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"));
	TAP_CHECK(!eq("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"));
	TAP_CHECK(!eq("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"));
	TAP_CHECK(!eq("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"));
	TAP_CHECK(!eq("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"));
	TAP_CHECK(!eq("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"));
	/* non-transitive: each equals the bare URI, not each other */
	TAP_CHECK(eq("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"));
	TAP_CHECK(eq("sip:carol@chicago.com", "sip:carol@chicago.com;security=off"));
	TAP_CHECK(!eq("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off"));
}

static void test_equal_more(void)
{
	TAP_CHECK(!eq("sip:alice@atlanta.com", "sips:alice@atlanta.com"));
	TAP_CHECK(!eq("sip:alice@atlanta.com", "sip:atlanta.com"));
	TAP_CHECK(!eq("sip:alice:a@atlanta.com", "sip:alice:b@atlanta.com"));
	TAP_CHECK(eq("sip:alice:%61@atlanta.com", "sip:alice:a@atlanta.com"));
	TAP_CHECK(!eq("sip:a%3bb@h", "sip:a;b@h")); /* reserved: escaped form differs */
	TAP_CHECK(!eq("sip:a@h;user=phone", "sip:a@h"));
	TAP_CHECK(!eq("sip:a@h;ttl=1", "sip:a@h"));
	TAP_CHECK(!eq("sip:a@h;maddr=x", "sip:a@h"));
	TAP_CHECK(!eq("sip:a@h;method=INVITE", "sip:a@h"));
	TAP_CHECK(eq("sip:a@h;lr", "sip:a@h;LR"));
	TAP_CHECK(!eq("sip:a@h;lr", "sip:a@h;lr=on"));
	TAP_CHECK(eq("sip:a@[2001:DB8::1]", "sip:a@[2001:db8::1]"));
	TAP_CHECK(!eq("sip:a@h?x=1", "sip:a@h?x=2"));
	TAP_CHECK(!eq("sip:a@h?x=1&y=2", "sip:a@h?x=1"));
	/* repeated header names compare as a multiset (fuzzer finding: reflexivity) */
	TAP_CHECK(eq("sip:a@h?s=p%81x&s=p%20x", "sip:a@h?s=p%81x&s=p%20x"));
	TAP_CHECK(eq("sip:a@h?r=1&r=2", "sip:a@h?r=2&r=1"));
	TAP_CHECK(!eq("sip:a@h?r=1&r=1", "sip:a@h?r=1&r=2"));
	TAP_CHECK(eq("tel:+1-201-555-0123", "tel:+1-201-555-0123"));
	TAP_CHECK(!eq("tel:+1-201-555-0123", "tel:+1-201-555-0124"));
	TAP_CHECK(eq("isbn:123", "ISBN:123"));
	TAP_CHECK(!eq("isbn:123", "isbn:124"));
}

static const struct tap_case cases[] = {
	{"parse: every component", test_parse_full, 0},
	{"parse: sips, IPv6, IPv4, tel, other schemes, semiuri", test_parse_forms, 0},
	{"parse: malformed URIs are EBADMSG", test_parse_errors, 0},
	{"BI-02 broken escapes, %00 kept exact, guard page", test_bi02_escapes, 0},
	{"caps: parameters and length", test_param_cap, 0},
	{"every prefix before a guard page", test_prefixes_guarded, 0},
	{"equal: RFC 3261 19.1.4 examples", test_equal_rfc_examples, 0},
	{"equal: more rules", test_equal_more, 0},
};

TAP_MAIN(cases)
