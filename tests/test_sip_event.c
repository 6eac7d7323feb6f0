/* Tests for the event package body scanners (sip_event.c): message-summary (RFC 3842 §5.2
 * examples and malformed ones), PIDF <basic>/<note> (RFC 3863), XML text decode/escape;
 * every truncated prefix of valid input read at a guard page. */
#include <errno.h>

#include "guard.h"
#include "sip.h"
/* tap.h leaves a variable unused when built with ASan; keep -Werror builds green. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-variable"
#include "tap.h"
#pragma GCC diagnostic pop

static struct guard g;
static bool g_ready;

static struct slice at_guard(const char *s, size_t n)
{
	if (!g_ready) {
		guard_init(&g);
		g_ready = true;
	}
	return (struct slice){guard_place(&g, s, n), n};
}

static int mwi(const char *s, struct sip_mwi *m)
{
	return sip_mwi_parse(at_guard(s, strlen(s)), m);
}

static int pidf(const char *s, struct sip_pidf *p)
{
	return sip_pidf_scan(at_guard(s, strlen(s)), p);
}

/* RFC 3842 §5.2 and §7 examples */
#define MWI_EXAMPLE                                                                     \
	"Messages-Waiting: yes\r\nMessage-Account: sip:alice@vmail.example.com\r\n"      \
	"Voice-Message: 4/8 (1/2)\r\nFax-Message: 0/1\r\n\r\n"                           \
	"To: <alice@atlanta.example.com>\r\nFrom: <bob@biloxi.example.com>\r\n"

static void test_mwi(void)
{
	struct sip_mwi m;
	TAP_CHECK_INT(mwi(MWI_EXAMPLE, &m), 0);
	TAP_CHECK_INT(m.waiting, 1);
	TAP_CHECK_SLICE(m.account.p, m.account.len, "sip:alice@vmail.example.com");
	TAP_CHECK_INT((int)m.n, 2);
	const struct sip_mwi_class *v = sip_mwi_class(&m, "voice-message");
	TAP_CHECK(v && v->new_msgs == 4 && v->old_msgs == 8 && v->has_urgent && v->new_urgent == 1 &&
		  v->old_urgent == 2);
	const struct sip_mwi_class *f = sip_mwi_class(&m, "fax-message");
	TAP_CHECK(f && f->new_msgs == 0 && f->old_msgs == 1 && !f->has_urgent);
	TAP_CHECK(sip_mwi_class(&m, "pager-message") == NULL);
	/* LF line ends, no final newline, spacing, case, extension headers skipped */
	TAP_CHECK_INT(mwi("messages-waiting:no\nX-Ext: whatever\nvoice-message:  0 / 0  ( 0 / 0 )", &m), 0);
	TAP_CHECK_INT(m.waiting, 0);
	TAP_CHECK(sip_mwi_class(&m, "Voice-Message") != NULL);
	TAP_CHECK_INT(mwi("Messages-Waiting: yes\r\nVoice-Message: 4294967295/0\r\n", &m), 0);
	TAP_CHECK(m.cls[0].new_msgs == 4294967295u);
}

static void test_mwi_bad(void)
{
	struct sip_mwi m;
	static const char *const bad[] = {
		"",                                                /* Messages-Waiting is required */
		"Voice-Message: 1/2\r\n",
		"Messages-Waiting: maybe\r\n",
		"Messages-Waiting: yes\r\nMessages-Waiting: no\r\n", /* twice */
		"Messages-Waiting: yes\r\nVoice-Message: 1\r\n",
		"Messages-Waiting: yes\r\nVoice-Message: 1/\r\n",
		"Messages-Waiting: yes\r\nVoice-Message: /1\r\n",
		"Messages-Waiting: yes\r\nVoice-Message: 1/2 (3)\r\n",
		"Messages-Waiting: yes\r\nVoice-Message: 1/2 (3/4\r\n",
		"Messages-Waiting: yes\r\nVoice-Message: 1/2 3/4)\r\n",
		"Messages-Waiting: yes\r\nVoice-Message: -1/2\r\n",
		"Messages-Waiting: yes\r\nVoice-Message: 4294967296/0\r\n", /* > 2^32-1 */
		"Messages-Waiting: yes\r\nVoice-Message: 99999999999999999999/0\r\n",
		"Messages-Waiting: yes\r\nVoice-Message: 1/2\r\nvoice-message: 1/2\r\n",
		"Messages-Waiting: yes\rVoice-Message: 1/2\r\n",    /* bare CR */
		"Messages-Waiting: yes\r\nno colon here\r\n",
		"Messages-Waiting: yes\r\n: 1/2\r\n",
		"Messages-Waiting: yes\r\nMessage-Account:\r\n",
	};
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		int rc = mwi(bad[i], &m);
		if (rc != EBADMSG)
			printf("# bad[%zu] gave %d\n", i, rc);
		TAP_CHECK_INT(rc, EBADMSG);
	}
	/* NUL inside, and the caps: 65 lines, 9 classes, a body over 8192 bytes */
	TAP_CHECK_INT(sip_mwi_parse(at_guard("Messages-Waiting: y\0es\r\n", 24), &m), EBADMSG);
	GString *s = g_string_new("Messages-Waiting: yes\r\n");
	for (int i = 0; i < 64; i++)
		g_string_append_printf(s, "X-E%d: x\r\n", i);
	TAP_CHECK_INT(sip_mwi_parse(at_guard(s->str, s->len), &m), EBADMSG);
	g_string_assign(s, "Messages-Waiting: yes\r\n");
	for (int i = 0; i < 9; i++)
		g_string_append_printf(s, "c%d-message: 1/1\r\n", i);
	TAP_CHECK_INT(sip_mwi_parse(at_guard(s->str, s->len), &m), EBADMSG);
	g_string_assign(s, "Messages-Waiting: yes\r\nMessage-Account: sip:");
	while (s->len <= SIP_MWI_MAX_BODY)
		g_string_append_c(s, 'a');
	TAP_CHECK_INT(sip_mwi_parse(at_guard(s->str, s->len), &m), EBADMSG);
	g_string_free(s, TRUE);
}

#define PIDF_EXAMPLE                                                                        \
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"                                       \
	"<!-- a comment with <basic>closed</basic> inside -->\n"                             \
	"<impp:presence xmlns:impp=\"urn:ietf:params:xml:ns:pidf\" entity=\"pres:a@b.c\">\n" \
	" <impp:tuple id=\"x&gt;1\"><impp:status><impp:basic> open </impp:basic></impp:status>" \
	"<impp:contact priority='0.8'>tel:+09012345678</impp:contact></impp:tuple>\n"        \
	" <impp:note xml:lang=\"en\">at lunch &amp; back</impp:note>\n"                      \
	" <impp:note>second</impp:note><x/>\n</impp:presence>\n"

static void test_pidf(void)
{
	struct sip_pidf p;
	TAP_CHECK_INT(pidf(PIDF_EXAMPLE, &p), 0);
	TAP_CHECK_INT(p.basic, 1);
	TAP_CHECK_SLICE(p.note.p, p.note.len, "at lunch &amp; back");
	GString *t = g_string_new(NULL);
	TAP_CHECK_INT(sip_xml_text_decode(p.note, t), 0);
	TAP_CHECK_STR(t->str, "at lunch & back");
	TAP_CHECK_INT(pidf("<presence><tuple><status><basic>closed</basic></status></tuple></presence>", &p), 0);
	TAP_CHECK(p.basic == 0 && p.note.p == NULL);
	TAP_CHECK_INT(pidf("<presence entity='x'/>", &p), 0);
	TAP_CHECK_INT(p.basic, -1);
	/* decode and escape */
	g_string_truncate(t, 0);
	TAP_CHECK_INT(sip_xml_text_decode((struct slice){"a&lt;b&gt;&quot;&apos;", 22}, t), 0);
	TAP_CHECK_STR(t->str, "a<b>\"'");
	g_string_truncate(t, 0);
	TAP_CHECK_INT(sip_xml_text_decode((struct slice){"&#60;", 5}, t), EBADMSG);
	TAP_CHECK_INT(sip_xml_text_decode((struct slice){"&amp", 4}, t), EBADMSG);
	g_string_truncate(t, 0);
	sip_xml_text_escape("<a href=\"x\">&'\x01\n", 16, t);
	TAP_CHECK_STR(t->str, "&lt;a href=&quot;x&quot;&gt;&amp;&apos;\n");
	g_string_free(t, TRUE);
}

static void test_pidf_bad(void)
{
	struct sip_pidf p;
	static const char *const bad[] = {
		"",
		"just text",
		"<presence>",                                          /* unclosed */
		"<presence></presence><presence></presence>",          /* two roots */
		"<pidf></pidf>",                                       /* another root */
		"<presence><basic>maybe</basic></presence>",
		"<presence></tuple></presence>",
		"</presence>",
		"<presence><!-- unterminated </presence>",
		"<presence a=\"unterminated></presence>",
		"<presence><basic>open</basic></presence>junk",
		"<presence><<basic>open</basic></presence>",
		"<presence></presence/>",
		"< presence></presence>",
		"<presence><?pi</presence>",
	};
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		int rc = pidf(bad[i], &p);
		if (rc != EBADMSG)
			printf("# bad[%zu] gave %d\n", i, rc);
		TAP_CHECK_INT(rc, EBADMSG);
	}
	/* caps: depth, element count, size */
	GString *s = g_string_new("<presence>");
	for (int i = 0; i < SIP_PIDF_MAX_DEPTH; i++)
		g_string_append(s, "<a>");
	for (int i = 0; i < SIP_PIDF_MAX_DEPTH; i++)
		g_string_append(s, "</a>");
	g_string_append(s, "</presence>");
	TAP_CHECK_INT(sip_pidf_scan(at_guard(s->str, s->len), &p), EBADMSG);
	g_string_assign(s, "<presence>");
	for (int i = 0; i < SIP_PIDF_MAX_ELEMENTS; i++)
		g_string_append(s, "<a/>");
	g_string_append(s, "</presence>");
	TAP_CHECK_INT(sip_pidf_scan(at_guard(s->str, s->len), &p), EBADMSG);
	g_string_assign(s, "<presence>");
	while (s->len <= SIP_PIDF_MAX_BODY)
		g_string_append_c(s, ' ');
	g_string_append(s, "</presence>");
	TAP_CHECK_INT(sip_pidf_scan(at_guard(s->str, s->len), &p), EBADMSG);
	TAP_CHECK_INT(sip_pidf_scan(at_guard("<presence>\0</presence>", 22), &p), EBADMSG);
	g_string_free(s, TRUE);
}

/* Every truncated prefix of valid input: a clean answer, no read past it (guard page). */
static void test_truncated(void)
{
	static const char m[] = MWI_EXAMPLE, x[] = PIDF_EXAMPLE;
	struct sip_mwi mm;
	struct sip_pidf pp;
	unsigned ok = 0;
	for (size_t k = 0; k < sizeof(m) - 1; k++) {
		int rc = sip_mwi_parse(at_guard(m, k), &mm);
		TAP_CHECK(rc == 0 || rc == EBADMSG);
		ok += rc == 0;
	}
	TAP_CHECK(ok > 0);
	for (size_t k = 0; k < sizeof(x) - 1; k++) {
		int rc = sip_pidf_scan(at_guard(x, k), &pp);
		/* only the prefixes that hold the whole closing root tag are valid */
		TAP_CHECK(rc == (k >= sizeof(x) - 2 ? 0 : EBADMSG));
	}
}

static const struct tap_case cases[] = {
	{"message-summary: RFC 3842 example, LF lines, spacing, extensions", test_mwi, 0},
	{"message-summary: malformed counts, duplicates, caps -> EBADMSG", test_mwi_bad, 0},
	{"PIDF: prefixes, comments, first basic and note; XML text decode/escape", test_pidf, 0},
	{"PIDF: malformed trees and caps -> EBADMSG", test_pidf_bad, 0},
	{"every truncated prefix before a guard page", test_truncated, 0},
};

TAP_MAIN(cases)
