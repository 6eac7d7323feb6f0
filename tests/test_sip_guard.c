/* Unit tests for the SEC-07 guard (sip_guard.c): exempt lists, the per-window limit, the
 * credit of authenticated requests, digest failures per (source, user), IPv6 /64 sources. */
#include <errno.h>

#include "sip.h"
#include "tap.h"

static struct sip_guard *guard(unsigned requests, unsigned failures, const char *exempt)
{
	struct sip_guard_config c = {.requests = requests,
	                             .window_secs = 60,
	                             .auth_failures = failures,
	                             .ban_secs = 60,
	                             .exempt = exempt};
	struct sip_guard *g = NULL;
	TAP_CHECK_INT(sip_guard_new(&c, &g), 0);
	return g;
}

static void t_exempt_parse(void)
{
	static const char *const bad[] = {"10.0.0.0/33", "2001:db8::/129", "nonsense", "10.0.0.1/",
	                                  "1.2.3.4/x"};
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		struct sip_guard_config c = {.exempt = bad[i]};
		struct sip_guard *g = NULL;
		TAP_CHECK_INT(sip_guard_new(&c, &g), EINVAL);
		TAP_CHECK(g == NULL);
	}
	struct sip_guard *g = guard(1, 0, " 10.0.0.0/8 , 2001:db8::/32,192.0.2.7,, ");
	for (int i = 0; i < 10; i++) {
		TAP_CHECK(sip_guard_admit(g, "10.200.3.4"));
		TAP_CHECK(sip_guard_admit(g, "2001:db8:ffff::1"));
		TAP_CHECK(sip_guard_admit(g, "192.0.2.7"));
	}
	TAP_CHECK_INT(sip_guard_count(g), 0); /* exempt sources are not even tracked */
	TAP_CHECK(sip_guard_admit(g, "192.0.2.8"));
	TAP_CHECK(!sip_guard_admit(g, "192.0.2.8"));
	TAP_CHECK(sip_guard_admit(g, "not an address")); /* nothing to key it by */
	sip_guard_free(g);
}

static void t_rate_ban(void)
{
	struct sip_guard *g = guard(3, 0, NULL);
	TAP_CHECK(!sip_guard_banned(g, "192.0.2.1"));
	for (int i = 0; i < 3; i++)
		TAP_CHECK(sip_guard_admit(g, "192.0.2.1"));
	TAP_CHECK(!sip_guard_admit(g, "192.0.2.1"));
	TAP_CHECK(sip_guard_banned(g, "192.0.2.1"));
	TAP_CHECK(!sip_guard_admit(g, "192.0.2.1")); /* stays banned */
	TAP_CHECK(sip_guard_admit(g, "192.0.2.2"));  /* others are not */
	/* an OK digest after a ban does not lift it */
	sip_guard_auth_result(g, "192.0.2.1", "alice", SIP_AUTH_OK);
	TAP_CHECK(sip_guard_banned(g, "192.0.2.1"));
	sip_guard_free(g);
}

static void t_auth_credit(void)
{
	struct sip_guard *g = guard(3, 0, NULL);
	for (int i = 0; i < 20; i++) { /* every request authenticates: none counts */
		TAP_CHECK(sip_guard_admit(g, "198.51.100.9"));
		sip_guard_auth_result(g, "198.51.100.9", "bob", SIP_AUTH_OK);
	}
	TAP_CHECK(!sip_guard_banned(g, "198.51.100.9"));
	/* challenges and stale nonces are not credited */
	for (int i = 0; i < 3; i++) {
		TAP_CHECK(sip_guard_admit(g, "198.51.100.9"));
		sip_guard_auth_result(g, "198.51.100.9", "bob", SIP_AUTH_STALE);
	}
	TAP_CHECK(!sip_guard_admit(g, "198.51.100.9"));
	sip_guard_free(g);
}

static void t_auth_failures(void)
{
	struct sip_guard *g = guard(0, 3, "192.0.2.0/24");
	sip_guard_auth_result(g, "203.0.113.5", "alice", SIP_AUTH_FAIL);
	sip_guard_auth_result(g, "203.0.113.5", "alice", SIP_AUTH_FAIL);
	sip_guard_auth_result(g, "203.0.113.5", "bob", SIP_AUTH_FAIL); /* another user: own count */
	TAP_CHECK(!sip_guard_banned(g, "203.0.113.5"));
	sip_guard_auth_result(g, "203.0.113.5", "alice", SIP_AUTH_FAIL);
	TAP_CHECK(sip_guard_banned(g, "203.0.113.5"));
	TAP_CHECK(!sip_guard_admit(g, "203.0.113.5"));
	for (int i = 0; i < 10; i++) /* exempt: never */
		sip_guard_auth_result(g, "192.0.2.50", "alice", SIP_AUTH_FAIL);
	TAP_CHECK(!sip_guard_banned(g, "192.0.2.50"));
	sip_guard_auth_result(g, "203.0.113.6", NULL, SIP_AUTH_FAIL); /* no user: nothing */
	TAP_CHECK(!sip_guard_banned(g, "203.0.113.6"));
	sip_guard_free(g);
}

static void t_ipv6_prefix(void)
{
	struct sip_guard *g = guard(2, 0, NULL);
	/* one host owns its /64: rotating addresses inside it does not escape the count */
	TAP_CHECK(sip_guard_admit(g, "2001:db8:1:2::1"));
	TAP_CHECK(sip_guard_admit(g, "2001:db8:1:2:aaaa::7"));
	TAP_CHECK(!sip_guard_admit(g, "2001:db8:1:2:ffff:ffff:ffff:ffff"));
	TAP_CHECK(sip_guard_banned(g, "2001:db8:1:2::99"));
	TAP_CHECK(sip_guard_admit(g, "2001:db8:1:3::1")); /* the next /64 is someone else */
	sip_guard_free(g);
}

static const struct tap_case cases[] = {
        {"guard: exempt list parsing and matching (CIDR v4/v6, bad entries refused)",
         t_exempt_parse, 0},
        {"guard: more than `requests` in the window bans the source", t_rate_ban, 0},
        {"guard: authenticated requests are credited back, challenges are not", t_auth_credit, 0},
        {"guard: digest failures per (source, user) ban the source; exempt never", t_auth_failures,
         0},
        {"guard: IPv6 sources are counted per /64", t_ipv6_prefix, 0},
};

TAP_MAIN(cases)
