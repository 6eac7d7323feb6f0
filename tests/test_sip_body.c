/* Tests for sip_body_sdp (BI-12): plain and multipart bodies, every truncated prefix of a
 * multipart body before a guard page, missing/unclosed boundaries, caps. */
#include <errno.h>

#include "guard.h"
#include "sip.h"
/* tap.h leaves a variable unused when built with ASan; keep -Werror builds green. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-variable"
#include "tap.h"
#pragma GCC diagnostic pop
#include "test-paths.h"

#define HDRS                                                                             \
	"INVITE sip:bob@example.com SIP/2.0\r\n"                                           \
	"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds\r\n"                      \
	"To: <sip:bob@example.com>\r\nFrom: <sip:alice@example.com>;tag=1928301774\r\n"    \
	"Call-ID: a84b4c76e66710@pc33.example.com\r\nCSeq: 314159 INVITE\r\n"              \
	"Contact: <sip:alice@192.0.2.1>\r\n"
#define SDP "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n" \
	    "m=audio 49170 RTP/AVP 0\r\n"

/* A multipart/mixed body: a text part, the SDP, a closing delimiter and an epilogue. */
#define MP_BODY                                                                          \
	"preamble\r\n--b1\r\nContent-Type: text/plain\r\n\r\nhello\r\n"                    \
	"--b1 \t\r\nContent-Type: application/SDP\r\nContent-Disposition: session\r\n\r\n" \
	SDP "\r\n--b1--\r\nepilogue"

static struct sip_msg msg;
static struct guard g;
static bool g_ready;

/* Parses HDRS + content_type + body (datagram, at a guard page) and runs sip_body_sdp. */
static int body_sdp(const char *ct, const char *body, size_t blen, struct slice *out)
{
	if (!g_ready) {
		guard_init(&g);
		g_ready = true;
	}
	GString *s = g_string_new(HDRS);
	if (ct)
		g_string_append_printf(s, "Content-Type: %s\r\n", ct);
	g_string_append(s, "\r\n");
	g_string_append_len(s, body, (gssize)blen);
	const char *p = guard_place(&g, s->str, s->len);
	int rc = sip_msg_parse(p, s->len, SIP_MODE_DATAGRAM, &msg, NULL, NULL);
	g_string_free(s, TRUE);
	if (rc)
		return -1;
	return sip_body_sdp(&msg, out);
}

#define RUN(ct, body, out) body_sdp((ct), (body), sizeof(body) - 1, (out))

static void test_plain(void)
{
	struct slice sdp;
	TAP_CHECK_INT(RUN("application/sdp", SDP, &sdp), 0);
	TAP_CHECK_SLICE(sdp.p, sdp.len, SDP);
	TAP_CHECK_INT(RUN("Application/SDP ; charset=utf-8", SDP, &sdp), 0);
	TAP_CHECK_INT(RUN(NULL, SDP, &sdp), 0); /* no Content-Type: taken as SDP */
	TAP_CHECK_INT(RUN("text/plain", "hi", &sdp), ENOENT);
	TAP_CHECK(sdp.p == NULL);
	TAP_CHECK_INT(RUN("application/sdp", "", &sdp), ENOENT);
	TAP_CHECK_INT(RUN("application", SDP, &sdp), EBADMSG);
	TAP_CHECK_INT(RUN("/sdp", SDP, &sdp), EBADMSG);
}

static void test_multipart(void)
{
	struct slice sdp;
	TAP_CHECK_INT(RUN("multipart/mixed;boundary=b1", MP_BODY, &sdp), 0);
	TAP_CHECK_SLICE(sdp.p, sdp.len, SDP);
	TAP_CHECK_INT(RUN("Multipart/Mixed ; boundary=\"b1\"", MP_BODY, &sdp), 0);
	TAP_CHECK_SLICE(sdp.p, sdp.len, SDP);
	/* LF-only line ends, no part headers (text/plain by default) before the SDP */
	TAP_CHECK_INT(RUN("multipart/alternative; boundary=x",
			  "--x\n\nplain\n--x\nContent-Type: application/sdp\n\nv=0\n--x--\n", &sdp), 0);
	TAP_CHECK_SLICE(sdp.p, sdp.len, "v=0");
	/* a quoted boundary with bchars a token cannot hold */
	TAP_CHECK_INT(RUN("multipart/mixed;boundary=\"a b'()+_,-./:=?\"",
			  "--a b'()+_,-./:=?\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n"
			  "--a b'()+_,-./:=?--\r\n", &sdp), 0);
	/* no SDP part: RFC 4475 mpart01 style */
	TAP_CHECK_INT(RUN("multipart/mixed;boundary=b1",
			  "--b1\r\nContent-Type: text/plain\r\n\r\nHello\r\n--b1--\r\n", &sdp), ENOENT);
	/* a delimiter-like line that is not one: "--b1x" is content */
	TAP_CHECK_INT(RUN("multipart/mixed;boundary=b1",
			  "--b1\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n--b1x\r\n--b1--", &sdp), 0);
	TAP_CHECK_SLICE(sdp.p, sdp.len, "v=0\r\n--b1x");
	/* one level of nesting is followed */
	TAP_CHECK_INT(RUN("multipart/mixed;boundary=o",
			  "--o\r\nContent-Type: multipart/alternative;boundary=i\r\n\r\n"
			  "--i\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n--i--\r\n--o--\r\n", &sdp), 0);
	TAP_CHECK_SLICE(sdp.p, sdp.len, "v=0");
}

static void test_multipart_bad(void)
{
	struct slice sdp;
	/* BI-12: no closing boundary, zero-length part, boundary longer than the body */
	TAP_CHECK_INT(RUN("multipart/mixed;boundary=b1",
			  "--b1\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n", &sdp), EBADMSG);
	TAP_CHECK(sdp.p == NULL);
	TAP_CHECK_INT(RUN("multipart/mixed;boundary=b1", "--b1\r\n--b1--\r\n", &sdp), EBADMSG);
	TAP_CHECK_INT(RUN("multipart/mixed;boundary=b1", "--b1\r\n\r\n--b1--\r\n", &sdp), EBADMSG);
	TAP_CHECK_INT(RUN("multipart/mixed;boundary=0123456789abcdef", "--0123", &sdp), EBADMSG);
	TAP_CHECK_INT(RUN("multipart/mixed;boundary=b1", "no delimiter at all", &sdp), EBADMSG);
	TAP_CHECK_INT(RUN("multipart/mixed;boundary=b1", "--b1--\r\n", &sdp), EBADMSG);
	/* headers that never end, a header line without a colon, two Content-Types */
	TAP_CHECK_INT(RUN("multipart/mixed;boundary=b1",
			  "--b1\r\nContent-Type: application/sdp\r\n--b1--", &sdp), EBADMSG);
	TAP_CHECK_INT(RUN("multipart/mixed;boundary=b1",
			  "--b1\r\nContent-Type application/sdp\r\n\r\nv=0\r\n--b1--", &sdp), EBADMSG);
	TAP_CHECK_INT(RUN("multipart/mixed;boundary=b1",
			  "--b1\r\nContent-Type: text/plain\r\nContent-type: application/sdp\r\n\r\n"
			  "v=0\r\n--b1--", &sdp), EBADMSG);
	/* missing, empty, too long (71), bad-character and trailing-space boundaries */
	TAP_CHECK_INT(RUN("multipart/mixed", "--b1\r\n\r\nx\r\n--b1--", &sdp), EBADMSG);
	TAP_CHECK_INT(RUN("multipart/mixed;boundary", "--b1\r\n\r\nx\r\n--b1--", &sdp), EBADMSG);
	TAP_CHECK_INT(RUN("multipart/mixed;boundary=\"\"", "--\r\n\r\nx\r\n----", &sdp), EBADMSG);
	char b70[71], b71[72];
	memset(b70, 'b', 70);
	b70[70] = 0;
	memset(b71, 'b', 71);
	b71[71] = 0;
	char *ct = g_strdup_printf("multipart/mixed;boundary=%s", b70);
	char *body = g_strdup_printf("--%s\r\n\r\nx\r\n--%s--", b70, b70);
	TAP_CHECK_INT(body_sdp(ct, body, strlen(body), &sdp), ENOENT);
	g_free(ct);
	g_free(body);
	ct = g_strdup_printf("multipart/mixed;boundary=%s", b71);
	body = g_strdup_printf("--%s\r\n\r\nx\r\n--%s--", b71, b71);
	TAP_CHECK_INT(body_sdp(ct, body, strlen(body), &sdp), EBADMSG);
	g_free(ct);
	g_free(body);
	TAP_CHECK_INT(RUN("multipart/mixed;boundary=\"b\x01\"", "--b\x01\r\n\r\nx\r\n--b\x01--", &sdp),
		      EBADMSG);
	TAP_CHECK_INT(RUN("multipart/mixed;boundary=\"b \"", "--b \r\n\r\nx\r\n--b --", &sdp), EBADMSG);
	/* multipart nested twice */
	TAP_CHECK_INT(RUN("multipart/mixed;boundary=o",
			  "--o\r\nContent-Type: multipart/mixed;boundary=i\r\n\r\n"
			  "--i\r\nContent-Type: multipart/mixed;boundary=j\r\n\r\n"
			  "--j\r\n\r\nx\r\n--j--\r\n--i--\r\n--o--\r\n", &sdp), EBADMSG);
	/* a bad nested part is an error even after the SDP was found */
	TAP_CHECK_INT(RUN("multipart/mixed;boundary=o",
			  "--o\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n"
			  "--o\r\nContent-Type: multipart/mixed;boundary=i\r\n\r\n--i\r\n\r\nx\r\n--o--\r\n",
			  &sdp), EBADMSG);
}

/* SIP_MAX_PARTS parts pass, one more fails; nested parts count too. */
static void test_part_cap(void)
{
	struct slice sdp;
	for (unsigned n = SIP_MAX_PARTS; n <= SIP_MAX_PARTS + 1; n++) {
		GString *b = g_string_new(NULL);
		for (unsigned i = 0; i < n; i++)
			g_string_append(b, "--b1\r\nContent-Type: text/plain\r\n\r\nx\r\n");
		g_string_append(b, "--b1--\r\n");
		TAP_CHECK_INT(body_sdp("multipart/mixed;boundary=b1", b->str, b->len, &sdp),
			      n <= SIP_MAX_PARTS ? ENOENT : EBADMSG);
		g_string_free(b, TRUE);
	}
	GString *b = g_string_new("--o\r\nContent-Type: multipart/mixed;boundary=i\r\n\r\n");
	for (unsigned i = 0; i < SIP_MAX_PARTS; i++) /* 1 outer + 8 inner = 9 */
		g_string_append(b, "--i\r\n\r\nx\r\n");
	g_string_append(b, "--i--\r\n--o--\r\n");
	TAP_CHECK_INT(body_sdp("multipart/mixed;boundary=o", b->str, b->len, &sdp), EBADMSG);
	g_string_free(b, TRUE);
}

/* Every truncated prefix of the multipart body fails cleanly (read at a guard page). */
static void test_truncated(void)
{
	static const char body[] = MP_BODY;
	struct slice sdp;
	size_t full = sizeof(body) - 1, ok = 0;
	for (size_t k = 0; k < full; k++) {
		int rc = body_sdp("multipart/mixed;boundary=b1", body, k, &sdp);
		if (!(rc == 0 || rc == EBADMSG || (k == 0 && rc == ENOENT)))
			printf("# prefix %zu: rc %d\n", k, rc);
		TAP_CHECK(rc == 0 || rc == EBADMSG || (k == 0 && rc == ENOENT));
		ok += rc == 0;
	}
	/* only prefixes that still hold the whole close delimiter line succeed */
	TAP_CHECK(ok > 0 && ok <= sizeof("\r\nepilogue"));
	TAP_CHECK_INT(body_sdp("multipart/mixed;boundary=b1", body, full, &sdp), 0);
}

static const struct tap_case cases[] = {
	{"plain bodies: application/sdp, no Content-Type, other types", test_plain, 0},
	{"multipart: mixed/alternative, quoted boundary, LF lines, nesting", test_multipart, 0},
	{"BI-12 malformed multipart: EBADMSG", test_multipart_bad, 0},
	{"caps: SIP_MAX_PARTS parts, nested parts count", test_part_cap, 0},
	{"every truncated prefix of a multipart body before a guard page", test_truncated, 0},
};

TAP_MAIN(cases)
