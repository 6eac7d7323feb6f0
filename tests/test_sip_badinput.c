/* BAD-INPUTS.md items for the SIP message parser (BI-01 … BI-14, BI-17), one case per id.
 * Every input is parsed from a buffer that ends right before an unreadable page. */
#include <errno.h>

#include "guard.h"
#include "sip.h"
/* tap.h leaves a variable unused when built with ASan; keep -Werror builds green. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-variable"
#include "tap.h"
#pragma GCC diagnostic pop

#define RL_INV "INVITE sip:bob@example.com SIP/2.0\r\n"
#define RL_REG "REGISTER sip:example.com SIP/2.0\r\n"
#define VIA    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds\r\n"
#define TO     "To: <sip:bob@example.com>\r\n"
#define FROM   "From: <sip:alice@example.com>;tag=1928301774\r\n"
#define CID    "Call-ID: a84b4c76e66710@pc33.example.com\r\n"
#define CSEQ   "CSeq: 314159 INVITE\r\n"
#define CSEQR  "CSeq: 1 REGISTER\r\n"
#define CT     "Contact: <sip:alice@192.0.2.1>\r\n"
#define MF     "Max-Forwards: 70\r\n"
#define CL0    "Content-Length: 0\r\n"
#define END    "\r\n"
#define GOOD_INV RL_INV VIA MF TO FROM CID CSEQ CT CL0 END

static struct sip_msg msg;
/* One guarded buffer for the whole run, so msg's slices stay readable after run(). */
static struct guard g;
static bool g_ready;

/* Parses s (datagram unless stream) at the end of a guarded buffer; returns rc. */
static int run(const char *s, size_t len, enum sip_mode mode, int *status)
{
	if (!g_ready) {
		guard_init(&g);
		g_ready = true;
	}
	const char *p = guard_place(&g, s, len);
	int st = -1;
	const char *reason = NULL;
	int rc = sip_msg_parse(p, len, mode, &msg, &st, &reason);
	if (rc == EBADMSG && !reason)
		rc = -1; /* every error names its reason */
	if (status)
		*status = st;
	return rc;
}

/* Scratch strings are sized past every input up front: no reallocation, so the heap-delta
 * leak check in tap.h sees no allocator cache noise. */
static GString *scratch(void)
{
	return g_string_sized_new(300000);
}

/* Expects datagram rc/status; a stream parse of the same bytes must not succeed either. */
#define EXPECT(s, want_rc, want_status)                                                  \
	do {                                                                             \
		int st_;                                                                 \
		int rc_ = run((s), strlen(s), SIP_MODE_DATAGRAM, &st_);                  \
		TAP_CHECK_INT(rc_, (want_rc));                                           \
		if ((want_rc) == EBADMSG)                                                \
			TAP_CHECK_INT(st_, (want_status));                               \
		if ((want_rc) == EBADMSG)                                                \
			TAP_CHECK(run((s), strlen(s), SIP_MODE_STREAM, NULL) != 0);      \
	} while (0)

static void bi01(void)
{
	int st;
	TAP_CHECK_INT(run("INV", 3, SIP_MODE_STREAM, NULL), EAGAIN);
	TAP_CHECK_INT(run("REGIST", 6, SIP_MODE_STREAM, NULL), EAGAIN);
	TAP_CHECK_INT(run("INV", 3, SIP_MODE_DATAGRAM, &st), EBADMSG);
	TAP_CHECK_INT(st, 400);
	TAP_CHECK_INT(run("REGIST", 6, SIP_MODE_DATAGRAM, &st), EBADMSG);
	TAP_CHECK_INT(st, 400);
	TAP_CHECK_INT(run("INVITE", 6, SIP_MODE_DATAGRAM, &st), EBADMSG);
	/* a truncated keyword as a whole request line is an unknown method: CSeq mismatch */
	EXPECT("INV sip:bob@example.com SIP/2.0\r\n" VIA MF TO FROM CID CSEQ CT CL0 END, EBADMSG, 400);
	EXPECT(GOOD_INV, 0, 0);
}

static void bi02(void)
{
	EXPECT("INVITE sip:bob%@example.com SIP/2.0\r\n" VIA MF TO FROM CID CSEQ CT CL0 END, EBADMSG, 400);
	EXPECT("INVITE sip:bob%4@example.com SIP/2.0\r\n" VIA MF TO FROM CID CSEQ CT CL0 END, EBADMSG, 400);
	EXPECT("INVITE sip:bob%G1@example.com SIP/2.0\r\n" VIA MF TO FROM CID CSEQ CT CL0 END, EBADMSG, 400);
	EXPECT("INVITE sip:example.com;x=% SIP/2.0\r\n" VIA MF TO FROM CID CSEQ CT CL0 END, EBADMSG, 400);
	EXPECT(RL_INV VIA MF "To: <sip:bob@example.com;p=%4>\r\n" FROM CID CSEQ CT CL0 END, EBADMSG, 400);
	EXPECT(RL_INV VIA MF TO FROM CID CSEQ "Contact: <sip:a%@b>\r\n" CL0 END, EBADMSG, 400);
	/* %00 is kept exactly as written */
	EXPECT("INVITE sip:bo%00b@example.com SIP/2.0\r\n" VIA MF TO FROM CID CSEQ CT CL0 END, 0, 0);
	TAP_CHECK_SLICE(msg.ruri_parsed.user.p, msg.ruri_parsed.user.len, "bo%00b");
}

static void bi03(void)
{
	EXPECT(RL_INV "Via: SIP/2.0/UDP :]\r\n" MF TO FROM CID CSEQ CT CL0 END, EBADMSG, 400);
	EXPECT(RL_INV "Via: SIP/2.0/UDP [\r\n" MF TO FROM CID CSEQ CT CL0 END, EBADMSG, 400);
	EXPECT(RL_INV "Via: SIP/2.0/UDP \r\n" MF TO FROM CID CSEQ CT CL0 END, EBADMSG, 400);
	EXPECT(RL_INV "Via: SIP/2.0/UDP ;branch=z9hG4bKa\r\n" MF TO FROM CID CSEQ CT CL0 END, EBADMSG, 400);
	EXPECT(RL_INV "Via: SIP/2.0/UDP h;branch=z9hG4bK\r\n" MF TO FROM CID CSEQ CT CL0 END, EBADMSG, 400);
	EXPECT(RL_INV "Via: SIP/2.0/UDP h;branch=\r\n" MF TO FROM CID CSEQ CT CL0 END, EBADMSG, 400);
	EXPECT(RL_INV "Via: SIP/2.0 h;branch=z9hG4bKa\r\n" MF TO FROM CID CSEQ CT CL0 END, EBADMSG, 400);
	EXPECT(RL_INV "Via: SIP/2.0/UDP [::1;branch=z9hG4bKa\r\n" MF TO FROM CID CSEQ CT CL0 END, EBADMSG, 400);
	/* a bad Via lower in the list is found too */
	EXPECT(RL_INV VIA "Via: SIP/2.0/UDP :]\r\n" MF TO FROM CID CSEQ CT CL0 END, EBADMSG, 400);
	EXPECT(RL_INV "Via: SIP/2.0/UDP [::1]:5060;branch=z9hG4bKa;rport\r\n" MF TO FROM CID CSEQ CT CL0 END, 0, 0);
	TAP_CHECK(msg.via.rport && !msg.via.has_rport_value);
	TAP_CHECK_INT(msg.via.port, 5060);
}

static void bi04(void)
{
	EXPECT(RL_INV VIA MF TO "To: <sip:bob@example.com>;tag=\r\n" FROM CID CSEQ CT CL0 END, EBADMSG, 400);
	EXPECT(RL_INV VIA MF "To: <sip:bob@example.com>;tag=\r\n" FROM CID CSEQ CT CL0 END, EBADMSG, 400);
	EXPECT(RL_INV VIA MF TO FROM FROM CID CSEQ CT CL0 END, EBADMSG, 400);
	EXPECT(RL_INV VIA MF TO FROM "f: <sip:eve@example.com>;tag=2\r\n" CID CSEQ CT CL0 END, EBADMSG, 400);
	EXPECT(RL_INV VIA MF TO FROM CID "i: other@x\r\n" CSEQ CT CL0 END, EBADMSG, 400);
	EXPECT(RL_INV VIA MF TO FROM CID CSEQ "CSeq: 314160 INVITE\r\n" CT CL0 END, EBADMSG, 400);
	EXPECT(RL_INV VIA MF MF TO FROM CID CSEQ CT CL0 END, EBADMSG, 400);
}

/* Builds a REGISTER with a branch and a From tag of the given lengths into s. */
static void reg_with(GString *s, size_t branch_len, size_t tag_len)
{
	g_string_assign(s, RL_REG "Via: SIP/2.0/UDP 192.0.2.1;branch=");
	for (size_t i = 0; i < branch_len; i++)
		g_string_append_c(s, 'b');
	g_string_append(s, "\r\n" MF TO "From: <sip:alice@example.com>;tag=");
	for (size_t i = 0; i < tag_len; i++)
		g_string_append_c(s, 't');
	g_string_append(s, "\r\n" CID CSEQR CT CL0 END);
}

static void bi05(void)
{
	static const struct {
		size_t branch, tag;
		int rc;
	} t[] = {
		{0, 8, EBADMSG}, {1, 8, 0}, {SIP_MAX_TOKEN, 8, 0}, {SIP_MAX_TOKEN + 1, 8, EBADMSG},
		{65535, 8, EBADMSG}, {8, 0, EBADMSG}, {8, 1, 0}, {8, SIP_MAX_TOKEN, 0},
		{8, SIP_MAX_TOKEN + 1, EBADMSG}, {8, 65535, EBADMSG},
	};
	GString *s = scratch();
	for (unsigned i = 0; i < G_N_ELEMENTS(t); i++) {
		reg_with(s, t[i].branch, t[i].tag);
		int st;
		int rc = run(s->str, s->len, SIP_MODE_DATAGRAM, &st);
		TAP_CHECK_INT(rc, t[i].rc);
		if (rc == EBADMSG)
			TAP_CHECK(st == 400 || st == 513);
		if (rc == 0) {
			TAP_CHECK_INT(msg.via.branch.len, t[i].branch);
			TAP_CHECK_INT(msg.from.tag.len, t[i].tag);
		}
	}
	g_string_free(s, TRUE);
}

static void bi06(void)
{
	EXPECT(RL_INV "Via\t: SIP/2.0/UDP h1;branch=z9hG4bKa\r\nvIA : SIP/2.0/UDP h2;branch=z9hG4bKb\r\n"
		      "v: SIP/2.0/UDP h3;branch=z9hG4bKc\r\nX-Foo : bar\r\n" MF TO FROM CID CSEQ CT CL0 END,
	       0, 0);
	TAP_CHECK_INT(msg.count[SIP_HDR_VIA], 3);
	TAP_CHECK_SLICE(msg.via.host.p, msg.via.host.len, "h1");
	const struct sip_hdr *h = sip_msg_hdr_find(&msg, "x-foo");
	TAP_CHECK(h != NULL);
	if (h)
		TAP_CHECK_SLICE(h->value.p, h->value.len, "bar");
	/* compact and mixed-case names count as the same header for duplicate checks */
	EXPECT(RL_INV VIA MF TO "t : <sip:x@y>\r\n" FROM CID CSEQ CT CL0 END, EBADMSG, 400);
	EXPECT(RL_INV VIA MF TO FROM "CALL-ID : other\r\n" CID CSEQ CT CL0 END, EBADMSG, 400);
	/* no colon at all, or a name that is not a token */
	EXPECT(RL_INV VIA MF TO FROM CID CSEQ CT "X-Foo bar\r\n" CL0 END, EBADMSG, 400);
	EXPECT(RL_INV VIA MF TO FROM CID CSEQ CT "X Foo: bar\r\n" CL0 END, EBADMSG, 400);
	EXPECT(RL_INV VIA MF TO FROM CID CSEQ CT ": bar\r\n" CL0 END, EBADMSG, 400);
	/* the name ends at the first ':', known or not; a CR or NUL inside it is no token
	 * ('\r' | 0x20 is '-': the word compare of known names must not fold it) */
	EXPECT(RL_INV VIA MF TO FROM CID CSEQ CT "Call\rID: x\r\n" CL0 END, EBADMSG, 400);
	EXPECT(RL_INV VIA MF TO FROM CID CSEQ CT "Max\rForwards: 1\r\n" CL0 END, EBADMSG, 400);
	EXPECT(RL_INV VIA MF TO FROM CID CSEQ CT "X-F\0o: bar\r\n" CL0 END, EBADMSG, 400);
	EXPECT(RL_INV VIA MF TO FROM CID CSEQ CT "X-Foo:: bar\r\n" CL0 END, 0, 0);
	EXPECT(RL_INV VIA MF TO FROM CID CSEQ CT "X-Foo:\r\n" CL0 END, 0, 0);
	/* token lists split at every comma without the quote/<> loop; empty elements stay errors */
	EXPECT(RL_INV VIA MF TO FROM CID CSEQ CT "Allow: INVITE ,ACK,\tBYE\r\n" CL0 END, 0, 0);
	TAP_CHECK_INT(msg.count[SIP_HDR_ALLOW], 3);
	h = sip_msg_hdr(&msg, SIP_HDR_ALLOW);
	TAP_CHECK(h && slice_eqlit(h->value, "INVITE"));
	h = h ? sip_msg_hdr_next(&msg, h) : NULL;
	TAP_CHECK(h && slice_eqlit(h->value, "ACK"));
	h = h ? sip_msg_hdr_next(&msg, h) : NULL;
	TAP_CHECK(h && slice_eqlit(h->value, "BYE"));
	EXPECT(RL_INV VIA MF TO FROM CID CSEQ CT "Allow: INVITE, , ACK\r\n" CL0 END, EBADMSG, 400);
	EXPECT(RL_INV VIA MF TO FROM CID CSEQ CT "Allow: INVITE,\r\n" CL0 END, EBADMSG, 400);
	EXPECT(RL_INV VIA MF TO FROM CID CSEQ CT "Allow: ,INVITE\r\n" CL0 END, EBADMSG, 400);
	EXPECT(RL_INV VIA MF TO FROM CID CSEQ CT "Supported: a\\, b\r\n" CL0 END, 0, 0);
	TAP_CHECK_INT(msg.count[SIP_HDR_SUPPORTED], 2);
	/* a Call-ID with a control byte or DEL past the first 16 bytes (the SSE2 step) */
	EXPECT(RL_INV VIA MF TO FROM "Call-ID: 0123456789abcdef0123\x01x@h\r\n" CSEQ CT CL0 END,
	       EBADMSG, 400);
	EXPECT(RL_INV VIA MF TO FROM "Call-ID: 0123456789abcdef0123\x7fx@h\r\n" CSEQ CT CL0 END,
	       EBADMSG, 400);
	EXPECT(RL_INV VIA MF TO FROM "Call-ID: 0123456789abcdef0123456789abcdef\xc3\xa9@h\r\n" CSEQ
	       CT CL0 END, 0, 0);
}

static void bi07(void)
{
	EXPECT(RL_INV VIA MF TO FROM CID CSEQ CT "Content-Length: -1\r\n" END, EBADMSG, 400);
	EXPECT(RL_INV VIA MF TO FROM CID CSEQ CT "Content-Length: 4294967328\r\n" END, EBADMSG, 400);
	EXPECT(RL_INV VIA MF TO FROM CID CSEQ CT "Content-Length: 99999999999999999999\r\n" END, EBADMSG, 400);
	EXPECT(RL_INV VIA MF TO FROM CID CSEQ CT "Content-Length: 0\r\nl: 4\r\n" END "abcd", EBADMSG, 400);
	EXPECT(RL_INV VIA MF TO FROM CID CSEQ CT "Content-Length: zero\r\n" END, EBADMSG, 400);
	EXPECT(RL_INV VIA MF TO FROM CID CSEQ CT "Content-Length: 4 4\r\n" END "abcd", EBADMSG, 400);
	EXPECT(RL_INV VIA MF TO FROM CID CSEQ CT "Content-Length: 5\r\n" END "abcd", EBADMSG, 400);
	EXPECT(RL_INV VIA MF TO FROM CID CSEQ CT "Content-Length: 65537\r\n" END, EBADMSG, 413);
	/* stream: the same bytes are an error (close), never a 32-bit truncation */
	static const char s[] = RL_INV VIA MF TO FROM CID CSEQ CT "Content-Length: 4294967296\r\n" END;
	TAP_CHECK_INT(run(s, sizeof(s) - 1, SIP_MODE_STREAM, NULL), EBADMSG);
	/* equal duplicates are harmless */
	EXPECT(RL_INV VIA MF TO FROM CID CSEQ CT "Content-Length: 4\r\nl: 4\r\n" END "abcd", 0, 0);
	TAP_CHECK_INT(msg.body.len, 4);
}

static void bi08(void)
{
	EXPECT(RL_INV VIA MF TO FROM CID "CSeq: 36893488147419103232 INVITE\r\n" CT CL0 END, EBADMSG, 400);
	EXPECT(RL_INV VIA MF TO FROM CID "CSeq: 4294967296 INVITE\r\n" CT CL0 END, EBADMSG, 400);
	EXPECT(RL_INV VIA "Max-Forwards: 300\r\n" TO FROM CID CSEQ CT CL0 END, EBADMSG, 400);
	EXPECT(RL_INV VIA "Max-Forwards: 256\r\n" TO FROM CID CSEQ CT CL0 END, EBADMSG, 400);
	EXPECT(RL_INV VIA "Max-Forwards: 255\r\n" TO FROM CID CSEQ CT CL0 END, 0, 0);
	EXPECT(RL_INV VIA MF TO FROM CID CSEQ CT "Expires: 4294967296\r\n" CL0 END, EBADMSG, 400);
	EXPECT(RL_INV VIA MF TO FROM CID CSEQ CT "Expires: 4294967295\r\n" CL0 END, 0, 0);
	TAP_CHECK_INT(msg.expires, 4294967295LL);
	EXPECT("INVITE sip:bob@example.com:99999 SIP/2.0\r\n" VIA MF TO FROM CID CSEQ CT CL0 END, EBADMSG, 400);
	EXPECT(RL_INV "Via: SIP/2.0/UDP h:99999;branch=z9hG4bKa\r\n" MF TO FROM CID CSEQ CT CL0 END, EBADMSG, 400);
	EXPECT(RL_INV VIA MF TO FROM CID CSEQ "Contact: <sip:a@b>;q=7.0\r\n" CL0 END, EBADMSG, 400);
	EXPECT(RL_INV VIA MF TO FROM CID CSEQ "Contact: <sip:a@b>;expires=4294967296\r\n" CL0 END, EBADMSG, 400);
}

/* A request with n extra lines of the given header text. */
static char *with_many(const char *line, int n)
{
	GString *s = scratch();
	g_string_assign(s, RL_INV VIA MF TO FROM CID CSEQ CT);
	for (int i = 0; i < n; i++)
		g_string_append(s, line);
	g_string_append(s, CL0 END);
	return g_string_free(s, FALSE);
}

static void bi09(void)
{
	static const struct {
		const char *line;
		int n, rc, status;
	} t[] = {
		{"Accept: application/sdp\r\n", 300, EBADMSG, 513},
		{"Accept: application/sdp\r\n", SIP_MAX_SAME_HEADER - 1, 0, 0},
		{"Via: SIP/2.0/UDP h;branch=z9hG4bKx\r\n", 1000, EBADMSG, 513},
		{"Route: <sip:p.example.com;lr>\r\n", 1000, EBADMSG, 513},
		{"X-A: y\r\n", 10000, EBADMSG, 513},
		{"X-A: y\r\n", SIP_MAX_HEADERS - 8, 0, 0},
		{"X-A: y\r\n", SIP_MAX_HEADERS - 7, EBADMSG, 513},
		{"Supported: a, b, c, d, e, f, g, h, i, j\r\n", 4, EBADMSG, 513},
	};
	for (unsigned i = 0; i < G_N_ELEMENTS(t); i++) {
		char *s = with_many(t[i].line, t[i].n);
		int st;
		int rc = run(s, strlen(s), SIP_MODE_DATAGRAM, &st);
		if (rc != t[i].rc || (rc && st != t[i].status))
			printf("#   %d x %s", t[i].n, t[i].line);
		TAP_CHECK_INT(rc, t[i].rc);
		if (rc == EBADMSG)
			TAP_CHECK_INT(st, t[i].status);
		g_free(s);
	}
	/* list splitting counts toward the caps: one line with 1,000 Vias */
	GString *s = scratch();
	g_string_assign(s, RL_INV "Via: SIP/2.0/UDP h;branch=z9hG4bKx");
	for (int i = 0; i < 1000; i++)
		g_string_append(s, ", SIP/2.0/UDP h;branch=z9hG4bKx");
	g_string_append(s, "\r\n" MF TO FROM CID CSEQ CT CL0 END);
	int st;
	TAP_CHECK_INT(run(s->str, s->len, SIP_MODE_DATAGRAM, &st), EBADMSG);
	TAP_CHECK_INT(st, 513);
	/* memory stays bounded: struct sip_msg is all there is */
	TAP_CHECK(sizeof(struct sip_msg) < 16384);
	g_string_free(s, TRUE);
}

static char *long_field(const char *before, size_t n, char fill, const char *after, const char *rest)
{
	GString *s = scratch();
	g_string_assign(s, before);
	for (size_t i = 0; i < n; i++)
		g_string_append_c(s, fill);
	g_string_append(s, after);
	g_string_append(s, rest);
	return g_string_free(s, FALSE);
}

static void bi10(void)
{
	static const struct {
		const char *before;
		size_t n;
		const char *after, *rest;
		int status;
	} t[] = {
		{"INVITE sip:", 8192, "@example.com SIP/2.0\r\n", VIA MF TO FROM CID CSEQ CT CL0 END, 414},
		{"INVITE sip:", SIP_MAX_RURI, " SIP/2.0\r\n", VIA MF TO FROM CID CSEQ CT CL0 END, 414},
		{RL_INV VIA MF TO FROM CID CSEQ "Contact: <sip:", 8192, "@b>\r\n", CL0 END, 400},
		{RL_INV VIA MF TO FROM "Call-ID: ", 4096, "\r\n", CSEQ CT CL0 END, 400},
		{RL_INV VIA MF TO FROM "Call-ID: ", SIP_MAX_CALL_ID + 1, "\r\n", CSEQ CT CL0 END, 400},
		{RL_INV VIA MF TO "From: \"", 4096, "\" <sip:a@b>;tag=1\r\n", CID CSEQ CT CL0 END, 400},
		{RL_INV VIA MF TO "From: \"", 65536, "\" <sip:a@b>;tag=1\r\n", CID CSEQ CT CL0 END, 513},
	};
	for (unsigned i = 0; i < G_N_ELEMENTS(t); i++) {
		char *s = long_field(t[i].before, t[i].n, 'a', t[i].after, t[i].rest);
		int st;
		TAP_CHECK_INT(run(s, strlen(s), SIP_MODE_DATAGRAM, &st), EBADMSG);
		TAP_CHECK_INT(st, t[i].status);
		g_free(s);
	}
	/* just under the R-URI cap is fine: "sip:" + 508 bytes = 512 */
	char *s = long_field("INVITE sip:", SIP_MAX_RURI - 4, 'a', " SIP/2.0\r\n",
			     VIA MF TO FROM CID CSEQ CT CL0 END);
	TAP_CHECK_INT(run(s, strlen(s), SIP_MODE_DATAGRAM, NULL), 0);
	g_free(s);
	/* 64 KB of headers without an end: 513 in both modes */
	s = long_field(RL_INV "X-Big: ", 70000, 'x', "", "");
	int st;
	TAP_CHECK_INT(run(s, strlen(s), SIP_MODE_STREAM, &st), EBADMSG);
	TAP_CHECK_INT(st, 513);
	g_free(s);
}

static void bi11(void)
{
	EXPECT(RL_INV VIA MF TO FROM CID CSEQ CL0 END, EBADMSG, 400);
	EXPECT("SUBSCRIBE sip:bob@example.com SIP/2.0\r\n" VIA MF TO FROM CID
	       "CSeq: 1 SUBSCRIBE\r\nEvent: presence\r\n" CL0 END, EBADMSG, 400);
	EXPECT(RL_INV VIA MF TO FROM CID CSEQ "Contact: *\r\n" CL0 END, EBADMSG, 400);
	EXPECT("OPTIONS sip:bob@example.com SIP/2.0\r\n" VIA MF TO FROM CID
	       "CSeq: 1 OPTIONS\r\nContact: *\r\n" CL0 END, EBADMSG, 400);
	EXPECT(RL_REG VIA MF TO FROM CID CSEQR "Contact: *\r\nExpires: 0\r\n" CL0 END, 0, 0);
	EXPECT(RL_REG VIA MF TO FROM CID CSEQR "Contact: *, <sip:a@b>\r\n" CL0 END, EBADMSG, 400);
	EXPECT(RL_REG VIA MF TO FROM CID CSEQR CL0 END, 0, 0); /* a registration query */
	EXPECT(RL_INV VIA MF TO FROM CID CSEQ "Contact: <\r\n" CL0 END, EBADMSG, 400);
}

/* BI-12: the message layer frames a malformed multipart body exactly and never reads past
 * it; splitting multipart bodies belongs to the body layer (not part of the parser). */
static void bi12(void)
{
	EXPECT(RL_INV VIA MF TO FROM CID CSEQ CT
	       "Content-Type: multipart/mixed;boundary=0123456789012345678901234567890123456789\r\n"
	       "Content-Length: 9\r\n" END "--0123456", 0, 0);
	TAP_CHECK_INT(msg.body.len, 9);
	EXPECT(RL_INV VIA MF TO FROM CID CSEQ CT "Content-Type: multipart/mixed;boundary=b\r\n"
	       "Content-Length: 7\r\n" END "--b\r\n\r\n", 0, 0);
	EXPECT(RL_INV VIA MF TO FROM CID CSEQ CT "Content-Type: multipart/related;boundary=\"b\r\n"
	       "Content-Length: 0\r\n" END, 0, 0);
	/* a cid: URI that is only "<" where an address is expected */
	EXPECT(RL_INV VIA MF TO FROM CID CSEQ CT "Route: <\r\n" CL0 END, EBADMSG, 400);
}

static void bi13(void)
{
	struct sip_auth a;
	TAP_CHECK_INT(sip_auth_parse(SLICE_LIT("Digest username=\"bob, realm=\"x\""), &a), EBADMSG);
	TAP_CHECK_INT(sip_auth_parse(SLICE_LIT("Digest username=\"bob"), &a), EBADMSG);
	TAP_CHECK_INT(sip_auth_parse(SLICE_LIT("Digest nc=00000001, nc=00000002"), &a), EBADMSG);
	TAP_CHECK_INT(sip_auth_parse(SLICE_LIT("Digest response=\"a\", RESPONSE=\"b\""), &a), EBADMSG);
	TAP_CHECK_INT(sip_auth_parse(SLICE_LIT("Digest username=\"a\\"), &a), EBADMSG);
	/* unknown algorithm and a uri that differs from the R-URI parse; the auth layer
	 * answers 401/403 for them */
	TAP_CHECK_INT(sip_auth_parse(SLICE_LIT("Digest algorithm=ROT13, uri=\"sip:other@x\""), &a), 0);
	TAP_CHECK_SLICE(a.algorithm.p, a.algorithm.len, "ROT13");
	TAP_CHECK_SLICE(a.uri.p, a.uri.len, "sip:other@x");
	/* a 10 KB nonce, in a whole REGISTER: 400 */
	char *s = long_field(RL_REG VIA MF TO FROM CID CSEQR CT
			     "Authorization: Digest username=\"bob\", realm=\"example.com\", nonce=\"",
			     10240, 'n', "\", uri=\"sip:example.com\", response=\"0\"\r\n", CL0 END);
	int st;
	TAP_CHECK_INT(run(s, strlen(s), SIP_MODE_DATAGRAM, &st), EBADMSG);
	TAP_CHECK_INT(st, 400);
	g_free(s);
	EXPECT(RL_REG VIA MF TO FROM CID CSEQR CT "Authorization: Digest username=\"bob\r\n" CL0 END,
	       EBADMSG, 400);
	EXPECT(RL_REG VIA MF TO FROM CID CSEQR CT
	       "Proxy-Authorization: Digest nc=00000001, nc=00000001\r\n" CL0 END, EBADMSG, 400);
	EXPECT(RL_REG VIA MF TO FROM CID CSEQR CT
	       "Authorization: Digest username=\"bob\", nonce=\"abc\"\r\n" CL0 END, 0, 0);
}

/* BI-14: the parser half. "Responses matching no transaction" and the broadcast Via are
 * dropped by the transaction layer (stateful); here the parser only has to hand it the
 * Via host. */
static void bi14(void)
{
	static const char tail[] = VIA TO FROM CID CSEQ CL0 END;
	char *s;
	int st;
	s = g_strconcat("SIP/2.0 10000 Big\r\n", tail, NULL);
	TAP_CHECK_INT(run(s, strlen(s), SIP_MODE_DATAGRAM, &st), EBADMSG);
	TAP_CHECK_INT(st, 0);
	g_free(s);
	s = g_strconcat("SIP/2.0 099 Small\r\n", tail, NULL);
	TAP_CHECK_INT(run(s, strlen(s), SIP_MODE_DATAGRAM, &st), EBADMSG);
	TAP_CHECK_INT(st, 0);
	g_free(s);
	s = g_strconcat("SIP/2.0 700 Big\r\n", tail, NULL);
	TAP_CHECK_INT(run(s, strlen(s), SIP_MODE_DATAGRAM, &st), EBADMSG);
	g_free(s);
	static const char nul[] = "SIP/2.0 200 O\0K\r\n" VIA TO FROM CID CSEQ CL0 END;
	TAP_CHECK_INT(run(nul, sizeof(nul) - 1, SIP_MODE_DATAGRAM, &st), EBADMSG);
	TAP_CHECK_INT(st, 0);
	static const char bcast[] = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 255.255.255.255;branch=z9hG4bKb\r\n"
				    TO FROM CID CSEQ CL0 END;
	TAP_CHECK_INT(run(bcast, sizeof(bcast) - 1, SIP_MODE_DATAGRAM, NULL), 0);
	TAP_CHECK_SLICE(msg.via.host.p, msg.via.host.len, "255.255.255.255");
	/* a response without the headers a transaction needs is dropped */
	static const char bare[] = "SIP/2.0 200 OK\r\n" VIA CL0 END;
	TAP_CHECK_INT(run(bare, sizeof(bare) - 1, SIP_MODE_DATAGRAM, &st), EBADMSG);
	TAP_CHECK_INT(st, 0);
	static const char ver[] = "SIP/3.0 200 OK\r\n" VIA TO FROM CID CSEQ CL0 END;
	TAP_CHECK_INT(run(ver, sizeof(ver) - 1, SIP_MODE_DATAGRAM, &st), EBADMSG);
	TAP_CHECK_INT(st, 0);
}

static void bi17(void)
{
	static const char junk[] = RL_REG VIA MF TO FROM CID CSEQR CT CL0 END "\x01\xff garbage";
	TAP_CHECK_INT(run(junk, sizeof(junk) - 1, SIP_MODE_DATAGRAM, NULL), 0);
	TAP_CHECK_INT(msg.size, sizeof(junk) - 1 - 10);
	TAP_CHECK_INT(msg.body.len, 0);
	static const char two[] = RL_REG VIA MF TO FROM CID CSEQR CT CL0 END GOOD_INV;
	TAP_CHECK_INT(run(two, sizeof(two) - 1, SIP_MODE_DATAGRAM, NULL), 0);
	TAP_CHECK_INT(msg.method_id, SIP_METHOD_REGISTER);
	TAP_CHECK_INT(msg.size, sizeof(two) - 1 - (sizeof(GOOD_INV) - 1));
	/* Content-Length shorter than the datagram: the body is what it says */
	static const char shortcl[] = RL_INV VIA MF TO FROM CID CSEQ CT "l: 2\r\n" END "hi there";
	TAP_CHECK_INT(run(shortcl, sizeof(shortcl) - 1, SIP_MODE_DATAGRAM, NULL), 0);
	TAP_CHECK_SLICE(msg.body.p, msg.body.len, "hi");
}

static const struct tap_case cases[] = {
	{"BI-01 truncated method keyword at the buffer end", bi01, 0},
	{"BI-02 URI escapes %, %4, %G1 and %00", bi02, 0},
	{"BI-03 broken Via sent-by and bare branch cookie", bi03, 0},
	{"BI-04 duplicate To/From/Call-ID/CSeq, empty tag", bi04, 0},
	{"BI-05 branch and From-tag of length 0, 1, cap, 65535", bi05, 0},
	{"BI-06 whitespace before colon, mixed case, compact forms", bi06, 0},
	{"BI-07 content-length overflow, negative, duplicate, too large", bi07, 0},
	{"BI-08 CSeq, Max-Forwards, Expires, port, q overflow", bi08, 0},
	{"BI-09 caps on list headers and header count", bi09, 0},
	{"BI-10 long R-URI, Contact URI, Call-ID, display name", bi10, 0},
	{"BI-11 INVITE/SUBSCRIBE without Contact, Contact * outside REGISTER", bi11, 0},
	{"BI-12 malformed multipart bodies are framed exactly (parser half)", bi12, 0},
	{"BI-13 crafted Authorization", bi13, 0},
	{"BI-14 bad response codes, NUL in reason, broadcast Via (parser half)", bi14, 0},
	{"BI-17 trailing junk and two messages in one datagram", bi17, 0},
};

TAP_MAIN(cases)
