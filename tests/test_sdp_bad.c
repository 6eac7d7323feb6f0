/* BAD-INPUTS BI-19..BI-25 for the SDP parser; included by test_sdp.c (not built on its own). */

#define HDR "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
#define HDR_NOC "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n"
#define AUDIO "m=audio 49170 RTP/AVP 0 96\r\n"

/* HDR + AUDIO + the given attribute lines (CRLF added after each '\n'-free line). */
static GString *with_lines(const char *first, const char *line, size_t times)
{
	GString *g = buf_new(first);
	for (size_t i = 0; i < times; i++)
		g_string_append(g, line);
	return g;
}

static void bad_g(GString *g, const char *why)
{
	parse_bad(g->str, g->len, why);
	buf_free(g);
}

/* A line "<prefix><n x fill><suffix>\r\n" after HDR + AUDIO. */
static GString *long_line(const char *prefix, char fill, size_t n, const char *suffix)
{
	GString *g = buf_new(HDR AUDIO);
	g_string_append(g, prefix);
	for (size_t i = 0; i < n; i++)
		g_string_append_c(g, fill);
	g_string_append(g, suffix);
	g_string_append(g, "\r\n");
	return g;
}

static void bi19(void)
{
	bad_g(long_line("a=rtpmap:96 ", 'x', 4096, "/8000"), "encoding name");
	bad_g(long_line("a=rtpmap:96 ", 'x', 33, "/8000"), "encoding name");
	bad_g(long_line("a=extmap:1 urn:", 'x', 4096, ""), "URI");
	bad_g(long_line("a=fmtp:96 a=", 'x', 2048, ""), "1 KB");
	bad_g(long_line("a=fmtp:96 a=", 'x', 65536, ""), "64 KB");
	bad_g(long_line("a=x-long:", 'x', 4096, ""), "2 KB");
	bad_g(long_line("a=candidate:", 'x', 4096, " 1 udp 1 192.0.2.1 1 typ host"), "foundation");
	bad_g(long_line("a=ice-ufrag:", 'x', 4096, ""), "too long");
	/* Exactly at the caps is fine. */
	GString *g = long_line("a=rtpmap:96 ", 'x', 32, "/8000");
	struct sdp_session *s = parse_ok(g->str, g->len);
	TAP_CHECK(s && s->media[0].rtpmap[0].encoding.len == 32);
	session_put(s);
	buf_free(g);
	g = long_line("a=fmtp:96 ", 'x', 1024, "");
	s = parse_ok(g->str, g->len);
	TAP_CHECK(s && s->media[0].fmtp[0].params.len == 1024);
	session_put(s);
	buf_free(g);
}

static void bi20(void)
{
	BAD(HDR "m\r\n", "<letter>=<value>");
	BAD(HDR AUDIO "a\r\n", "<letter>=<value>");
	BAD(HDR AUDIO "c\r\n", "<letter>=<value>");
	BAD(HDR AUDIO "a", "<letter>=<value>");
	BAD(HDR AUDIO "a=", "attribute name");
	BAD(HDR AUDIO "c=", "connection data");
	BAD(HDR "m=", "m= needs");
	BAD(HDR AUDIO "a=rtcp-mux\rb=AS:64\r\n", "bare CR");
	BAD(HDR AUDIO "a=rtcp-mux\r", "bare CR");
	BAD("v=0\ro=- 1 1 IN IP4 192.0.2.1\rs=-\rc=IN IP4 192.0.2.1\rt=0 0\r", "bare CR");
	parse_bad(HDR AUDIO "a=mid:a\0b\r\n", sizeof(HDR AUDIO "a=mid:a\0b\r\n") - 1, "NUL");
	parse_bad(HDR "\0", sizeof(HDR), "NUL");
	BAD(HDR AUDIO "\r\na=rtcp-mux\r\n", "empty line");
	BAD(HDR AUDIO "x=1\r\n", "unknown line type");
	BAD(HDR AUDIO "A=1\r\n", "<letter>=<value>");
	BAD("o=- 1 1 IN IP4 192.0.2.1\r\nv=0\r\n", "first line");
	BAD("v=1\r\n", "v=");

	/* Bare LF is accepted (RFC 8866 §5) and prints as CRLF; trailing blank lines too. */
	GString *crlf = load("chrome-offer", ".sdp");
	TAP_CHECK(crlf != NULL);
	if (!crlf)
		return;
	GString *lf = buf_new("");
	for (size_t i = 0; i < crlf->len; i++)
		if (crlf->str[i] != '\r')
			g_string_append_c(lf, crlf->str[i]);
	g_string_append(lf, "\n\r\n");
	struct sdp_session *s = parse_ok(lf->str, lf->len);
	GString *out = buf_new("");
	if (s) {
		TAP_CHECK_INT(sdp_print(s, out), 0);
		TAP_CHECK(g_string_equal(out, crlf));
	}
	session_put(s);
	/* The last line may lack its line end. */
	s = parse_ok(crlf->str, crlf->len - 2);
	session_put(s);
	buf_free(out);
	buf_free(lf);
}

static void bi21(void)
{
	/* No c= anywhere, or c= only after an m-section that lacks one. */
	BAD(HDR_NOC AUDIO, "no c=");
	BAD(HDR_NOC AUDIO "m=video 5000 RTP/AVP 31\r\nc=IN IP4 192.0.2.1\r\n", "no c=");
	/* m= first, then its own c=: fine. */
	struct sdp_session *s = parse_str(HDR_NOC AUDIO "c=IN IP4 192.0.2.7\r\n");
	TAP_CHECK(s && sdp_conn_sendable(sdp_media_conn(s, &s->media[0])));
	session_put(s);
	/* A rejected stream (port 0) needs no c=. */
	s = parse_str(HDR_NOC "m=audio 0 RTP/AVP 0\r\n");
	TAP_CHECK(s && sdp_media_conn(s, &s->media[0]) == NULL);
	session_put(s);

	static const struct {
		const char *c;
		unsigned flags;
	} addrs[] = {
		{"c=IN IP4 255.255.255.255", SDP_CONN_BROADCAST},
		{"c=IN IP4 240.0.0.1", SDP_CONN_BROADCAST},
		{"c=IN IP4 224.2.1.1/127", SDP_CONN_MULTICAST},
		{"c=IN IP4 239.255.255.250/16/3", SDP_CONN_MULTICAST},
		{"c=IN IP4 0.0.0.0", SDP_CONN_UNSPEC},
		{"c=IN IP6 ::", SDP_CONN_UNSPEC},
		{"c=IN IP6 ff02::1", SDP_CONN_MULTICAST},
		{"c=IN IP6 ::ffff:255.255.255.255", SDP_CONN_BROADCAST},
		{"c=IN IP6 2001:db8::42", 0},
		{"c=IN IP4 media.example.com", SDP_CONN_FQDN},
	};
	for (size_t i = 0; i < G_N_ELEMENTS(addrs); i++) {
		GString *g = buf_new(HDR_NOC AUDIO);
		appendf(g, "%s\r\n", addrs[i].c);
		s = parse_ok(g->str, g->len);
		if (s) {
			const struct sdp_conn *c = sdp_media_conn(s, &s->media[0]);
			if (c->flags != addrs[i].flags) {
				printf("#   %s: flags %u, expected %u\n", addrs[i].c, c->flags,
				       addrs[i].flags);
				tap_fails++;
			}
			bool want = !(addrs[i].flags & ~(unsigned)SDP_CONN_FQDN);
			TAP_CHECK(sdp_conn_sendable(c) == want);
		}
		session_put(s);
		buf_free(g);
	}
	BAD(HDR_NOC AUDIO "c=IN IP6 [2001:db8::1]\r\n", "address");
	BAD(HDR_NOC AUDIO "c=IN IP6 192.0.2.1\r\n", "address");
	BAD(HDR_NOC AUDIO "c=IN IP4 2001:db8::1\r\n", "address");
	BAD(HDR_NOC AUDIO "c=IN IP4 192.0.2.1/127\r\n", "non-multicast");
	BAD(HDR_NOC AUDIO "c=IN IP4 224.2.1.1/\r\n", "suffix");
	BAD(HDR_NOC AUDIO "c=IN IP5 192.0.2.1\r\n", "addrtype");
	BAD(HDR_NOC AUDIO "c=ATM NSAP 47.0005\r\n", "nettype");
	BAD(HDR_NOC AUDIO "c=IN IP4\r\n", "connection data");
	BAD(HDR AUDIO "c=IN IP4 192.0.2.1\r\nc=IN IP4 192.0.2.2\r\n", "repeated");
}

static void bi22(void)
{
	static const char *const pts[] = {"abc", "128", "-1", "999", "0x60", "1000", "", "+5"};
	for (size_t i = 0; i < G_N_ELEMENTS(pts); i++) {
		GString *g = buf_new(HDR);
		appendf(g, "m=audio 5000 RTP/AVP 0 %s\r\n", pts[i]);
		bad_g(g, pts[i][0] ? "payload type" : "space");
	}
	BAD(HDR AUDIO "a=rtpmap:abc PCMU/8000\r\n", "payload type");
	BAD(HDR AUDIO "a=rtpmap:128 PCMU/8000\r\n", "payload type");
	BAD(HDR AUDIO "a=fmtp:-1 0-15\r\n", "payload type");
	BAD(HDR AUDIO "a=rtpmap:96 opus\r\n", "clock rate");
	BAD(HDR AUDIO "a=rtpmap:96 opus/0\r\n", "clock rate");
	BAD(HDR AUDIO "a=rtpmap:96 opus/48000/0\r\n", "channels");
	BAD(HDR AUDIO "a=rtpmap:96 opus/4294967296\r\n", "clock rate");
	BAD(HDR AUDIO "a=rtpmap:96 opus/48000\r\na=rtpmap:96 PCMU/8000\r\n", "two a=rtpmap");
	BAD(HDR "m=audio 5000 RTP/AVP 0 0\r\n", "twice");
	BAD(HDR "m=audio 70000 RTP/AVP 0\r\n", "port");
	BAD(HDR "m=audio 65536 RTP/AVP 0\r\n", "port");
	BAD(HDR "m=audio -1 RTP/AVP 0\r\n", "port");
	BAD(HDR "m=audio 5000/0 RTP/AVP 0\r\n", "number of ports");
	BAD(HDR "m=audio 5000 RTP/AVP\r\n", "without formats");

	/* An rtpmap/fmtp/rtcp-fb for a PT not in m= is dropped and counted. */
	struct sdp_session *s = parse_str(HDR AUDIO "a=rtpmap:97 opus/48000/2\r\n"
					  "a=fmtp:97 x=1\r\na=rtcp-fb:97 nack\r\n"
					  "a=rtpmap:96 opus/48000/2\r\n");
	TAP_CHECK(s != NULL);
	if (s) {
		TAP_CHECK_INT(s->media[0].n_ignored, 3);
		TAP_CHECK_INT(s->media[0].n_rtpmap, 1);
		TAP_CHECK(sdp_media_rtpmap(&s->media[0], 97) == NULL);
		GString *out = buf_new("");
		TAP_CHECK_INT(sdp_print(s, out), 0);
		TAP_CHECK(strstr(out->str, ":97") == NULL);
		buf_free(out);
	}
	session_put(s);
	/* m=audio 0 with a dynamic PT and no rtpmap; port 65535; non-RTP formats. */
	s = parse_str(HDR "m=audio 0 RTP/AVP 96\r\nm=audio 65535/2 RTP/AVP 127\r\n"
			  "m=image 6000 udptl t38\r\n");
	TAP_CHECK(s && s->n_media == 3 && s->media[1].port == 65535 && s->media[1].num_ports == 2);
	TAP_CHECK(s && !s->media[2].rtp && slice_eqlit(s->media[2].fmt[0], "t38"));
	session_put(s);
}

static void bi23(void)
{
	/* 10,000 candidates: the 64 KB body cap; 65 fit in it and meet the candidate cap. */
	bad_g(with_lines(HDR AUDIO, "a=candidate:1 1 udp 1 192.0.2.1 1 typ host\r\n", 10000),
	      "64 KB");
	bad_g(with_lines(HDR AUDIO, "a=candidate:1 1 udp 1 192.0.2.1 1 typ host\r\n", 65),
	      "too many a=candidate");
	GString *g = with_lines(HDR AUDIO, "a=candidate:1 1 udp 1 192.0.2.1 1 typ host\r\n", 64);
	struct sdp_session *s = parse_ok(g->str, g->len);
	TAP_CHECK(s && s->media[0].n_cand == 64);
	session_put(s);
	buf_free(g);
	/* 1,000 m-lines (21 KB): the m-section cap. */
	bad_g(with_lines(HDR, "m=audio 0 RTP/AVP 0\r\n", 1000), "too many m=");
	bad_g(with_lines(HDR, "m=audio 0 RTP/AVP 0\r\n", 17), "too many m=");
	/* 50,000 lines: the body cap, before any line is looked at. */
	bad_g(with_lines(HDR AUDIO, "a=x\r\n", 50000), "64 KB");
	/* 2,001 short lines that each fit their own caps: the line cap. */
	g = buf_new(HDR);
	for (int m = 0; m < 16; m++) {
		g_string_append(g, "m=audio 0 RTP/AVP 0\r\n");
		for (int i = 0; i < 64; i++)
			g_string_append(g, "a=rtcp-fb:* x\r\n");
		for (int i = 0; i < 32; i++)
			g_string_append(g, "a=ssrc:1 x\r\n");
		for (int i = 0; i < 32; i++)
			g_string_append(g, "a=x\r\n");
	}
	bad_g(g, "more than 2000 lines");
	/* Other per-section caps. */
	bad_g(with_lines(HDR AUDIO, "a=rtcp-fb:* nack\r\n", 65), "too many a=rtcp-fb");
	bad_g(with_lines(HDR AUDIO, "a=ssrc:1 cname:x\r\n", 33), "too many a=ssrc");
	bad_g(with_lines(HDR AUDIO, "a=x-foo\r\n", 33), "too many other");
	bad_g(with_lines(HDR AUDIO, "b=AS:1\r\n", 5), "too many b=");
	g = buf_new(HDR "m=audio 5000 RTP/AVP");
	for (int i = 0; i < 33; i++)
		appendf(g, " %d", i + 90);
	g_string_append(g, "\r\n");
	bad_g(g, "too many formats");
	BAD(HDR AUDIO "a=ssrc-group:FID 1 2 3 4 5 6 7 8 9\r\n", "too many SSRCs");
	BAD(HDR "a=group:BUNDLE 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\r\n" AUDIO, "too many mids");
}

static void bi24(void)
{
	const char *key30 = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";
	GString *g = buf_new(HDR AUDIO "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:");
	for (int i = 0; i < 200; i++)
		g_string_append_c(g, 'A');
	g_string_append(g, "\r\n");
	bad_g(g, "longer than 128");
	BAD(HDR AUDIO "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:QUJDREVGR0hJSktMTU5PUFFSU1RVVldY\r\n",
	    "does not match the suite");
	g = buf_new(HDR AUDIO);
	appendf(g, "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:%s\r\n", key30);
	appendf(g, "a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:%s\r\n", key30);
	bad_g(g, "tag repeated");
	BAD(HDR AUDIO "a=crypto:abc AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n",
	    "tag");
	BAD(HDR AUDIO "a=crypto:0 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n",
	    "tag");
	BAD(HDR AUDIO "a=crypto:1000000000 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n",
	    "tag");
	BAD(HDR AUDIO "a=crypto:1 AES_CM_128_HMAC_SHA1_80 WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n",
	    "inline:");
	BAD(HDR AUDIO "a=crypto:1 AES_CM_128_HMAC_SHA1_80\r\n", "inline:");
	BAD(HDR AUDIO "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|\r\n",
	    "lifetime or MKI");
	BAD(HDR AUDIO "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNf!X19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGV\r\n",
	    "base64");
	/* An unknown suite is kept, flagged, and printed back. */
	g = buf_new(HDR AUDIO);
	appendf(g, "a=crypto:7 F8_128_HMAC_SHA1_80 inline:%s|2^20\r\n", key30);
	struct sdp_session *s = parse_ok(g->str, g->len);
	TAP_CHECK(s && s->media[0].n_crypto == 1 && s->media[0].crypto[0].suite == SDP_SUITE_UNKNOWN);
	session_put(s);
	buf_free(g);

	/* Fingerprints: hash list and value length. */
	g = buf_new(HDR AUDIO "a=fingerprint:sha-256 ");
	for (int i = 0; i < 31; i++)
		g_string_append(g, "AB:");
	g_string_append(g, "AB\r\n");
	s = parse_ok(g->str, g->len);
	TAP_CHECK(s && s->media[0].common.n_fp == 1);
	session_put(s);
	g_string_truncate(g, g->len - 2);
	g_string_append(g, ":CD\r\n");
	bad_g(g, "length does not match");
	BAD(HDR AUDIO "a=fingerprint:sha-1 AB:CD\r\n", "length does not match");
	BAD(HDR AUDIO "a=fingerprint:md5 AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89\r\n",
	    "hash function unknown");
	BAD(HDR AUDIO "a=fingerprint:sha-1 AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:GG\r\n",
	    "hex");
	BAD(HDR AUDIO "a=fingerprint:sha-1\r\n", "needs a hash and a value");
	s = parse_str(HDR AUDIO
		      "a=fingerprint:SHA-1 AB:CD:EF:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:AB:CD:EF:00\r\n");
	TAP_CHECK(s && s->media[0].common.fp[0].hash == SDP_HASH_SHA1);
	session_put(s);
	/* setup: unknown or conflicting values. */
	BAD(HDR AUDIO "a=setup:both\r\n", "a=setup is not");
	BAD(HDR AUDIO "a=setup:\r\n", "without value");
	BAD(HDR AUDIO "a=setup:active\r\na=setup:passive\r\n", "repeated");
	BAD(HDR "a=setup:actpass\r\na=setup:active\r\n" AUDIO, "repeated");
	s = parse_str(HDR "a=setup:actpass\r\n" AUDIO "a=setup:active\r\n");
	TAP_CHECK(s && s->common.setup == SDP_SETUP_ACTPASS &&
		  s->media[0].common.setup == SDP_SETUP_ACTIVE);
	session_put(s);
}

static void bi25(void)
{
	static const struct {
		const char *v;
		uint32_t want;
	} cases[] = {
		{"0", SDP_PTIME_MIN},          {"1", SDP_PTIME_MIN},
		{"10", 10},                    {"20", 20},
		{"120", 120},                  {"300", 300},
		{"301", SDP_PTIME_MAX},        {"4294967295", SDP_PTIME_MAX},
		{"4294967296", SDP_PTIME_MAX}, {"99999999999999999999999", SDP_PTIME_MAX},
	};
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		GString *g = buf_new(HDR AUDIO);
		appendf(g, "a=ptime:%s\r\na=maxptime:%s\r\n", cases[i].v, cases[i].v);
		struct sdp_session *s = parse_ok(g->str, g->len);
		if (s) {
			TAP_CHECK_INT(s->media[0].ptime, cases[i].want);
			TAP_CHECK_INT(s->media[0].maxptime, cases[i].want);
		}
		session_put(s);
		buf_free(g);
	}
	/* Asymmetric offer/answer values are each kept as written. */
	struct sdp_session *o = parse_str(HDR AUDIO "a=ptime:10\r\n");
	struct sdp_session *a = parse_str(HDR AUDIO "a=ptime:120\r\n");
	TAP_CHECK(o && a && o->media[0].ptime == 10 && a->media[0].ptime == 120);
	session_put(o);
	session_put(a);
	BAD(HDR AUDIO "a=ptime:-1\r\n", "not a number");
	BAD(HDR AUDIO "a=ptime:20.5\r\n", "not a number");
	BAD(HDR AUDIO "a=ptime:\r\n", "without value");
	BAD(HDR AUDIO "a=ptime:20\r\na=ptime:30\r\n", "repeated");
}

#define BAD_CASES                                                           \
	{"BI-19 overlong rtpmap, extmap URI, fmtp rejected at caps", bi19, 0}, \
	{"BI-20 lines without '=', x= at the end, CR/NUL inside", bi20, 0},   \
	{"BI-21 missing c=, broadcast, multicast, 0.0.0.0, IPv6", bi21, 0},   \
	{"BI-22 bad payload types, orphan rtpmap, port 70000", bi22, 0},      \
	{"BI-23 10k candidates, 1000 m-lines, 50k lines fail at caps", bi23, 0}, \
	{"BI-24 bad a=crypto, a=fingerprint, a=setup", bi24, 0},              \
	{"BI-25 ptime 0 and 4294967295 clamp without overflow", bi25, 0},
