/* Tests for the SDP parser and printer: golden round trips, fields, truncation, BI-19..BI-25. */
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sip.h"
#include "tap.h"

#ifndef SDP_DATA_DIR
#error "SDP_DATA_DIR must name tests/data/sdp"
#endif

static const char *const golden[] = {
	"chrome-offer", "firefox-offer", "phone-offer",     "sdes-offer",
	"ipv6-offer",   "hold-offer",    "asterisk-answer",
};

/*
 * The tap.h leak check compares heap use between two runs of a case, and glibc's tcache
 * makes that noisy for cases that allocate a lot; so golden files are read once and kept,
 * and sessions come from a static ring instead of the heap.
 */
struct cached {
	char key[64];
	GString *text; /* NULL: the file does not exist */
};
static struct cached file_cache[32];

/* Reads tests/data/sdp/<name><ext> once; NULL if it does not exist. Do not free. */
static GString *load(const char *name, const char *ext)
{
	char key[64];
	snprintf(key, sizeof(key), "%s%s", name, ext);
	size_t i = 0;
	for (; i < G_N_ELEMENTS(file_cache) && file_cache[i].key[0]; i++)
		if (strcmp(file_cache[i].key, key) == 0)
			return file_cache[i].text;
	if (i == G_N_ELEMENTS(file_cache))
		abort();
	char *path = g_strdup_printf("%s/%s", SDP_DATA_DIR, key);
	gchar *text = NULL;
	gsize len = 0;
	memcpy(file_cache[i].key, key, sizeof(key));
	if (g_file_get_contents(path, &text, &len, NULL)) {
		file_cache[i].text = g_string_new_len(text, (gssize)len);
		g_free(text);
	}
	g_free(path);
	return file_cache[i].text;
}

static struct sdp_session ring[8];
static size_t ring_next;

static struct sdp_session *session_get(void)
{
	return &ring[ring_next++ % G_N_ELEMENTS(ring)];
}

/* Sessions live in the ring; nothing to free. */
static void session_put(struct sdp_session *s)
{
	(void)s;
}

/* Scratch strings from a static ring, kept across cases (see the comment above). */
static GString *buf_ring[8];
static size_t buf_next;

static GString *buf_new(const char *init)
{
	if (!buf_ring[0])
		for (size_t i = 0; i < G_N_ELEMENTS(buf_ring); i++)
			buf_ring[i] = g_string_sized_new(1 << 20);
	GString *g = buf_ring[buf_next++ % G_N_ELEMENTS(buf_ring)];
	g_string_assign(g, init);
	return g;
}

/* g_string_append_printf without its temporary heap string. */
static void G_GNUC_PRINTF(2, 3) appendf(GString *g, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		g_string_append_len(g, tmp, n < (int)sizeof(tmp) ? n : (int)sizeof(tmp) - 1);
}

static void buf_free(GString *g)
{
	(void)g;
}

static struct sdp_session *parse_ok(const char *buf, size_t len)
{
	struct sdp_session *s = session_get();
	struct sdp_error err;
	int rc = sdp_parse(buf, len, s, &err);
	if (rc) {
		printf("#   parse failed: %s\n", err.text);
		TAP_CHECK_INT(rc, 0);
		return NULL;
	}
	return s;
}

static struct sdp_session *parse_str(const char *text)
{
	return parse_ok(text, strlen(text));
}

/* Parses text, expects EBADMSG, returns the reason. */
static void parse_bad(const char *text, size_t len, const char *why_part)
{
	struct sdp_session *s = session_get();
	struct sdp_error err;
	int rc = sdp_parse(text, len, s, &err);
	TAP_CHECK_INT(rc, EBADMSG);
	if (rc == EBADMSG && why_part && !strstr(err.text, why_part)) {
		printf("#   reason \"%s\" does not mention \"%s\"\n", err.text, why_part);
		tap_fails++;
	}
}

#define BAD(text, why) parse_bad((text), strlen(text), (why))

static size_t count_lines(const char *p, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		k += p[i] == '\n';
	return k;
}

/*
 * Golden round trip: print(parse(in)) equals <name>.out when that exists, else the input
 * itself; printing is idempotent; no a= line is lost.
 */
static void roundtrip(const char *name)
{
	GString *in = load(name, ".sdp"), *want = load(name, ".out");
	TAP_CHECK(in != NULL);
	if (!in)
		return;
	struct sdp_session *s = parse_ok(in->str, in->len);
	GString *out = buf_new(""), *out2 = buf_new("");
	if (s) {
		TAP_CHECK_INT(sdp_print(s, out), 0);
		const GString *expect = want ? want : in;
		if (!g_string_equal(out, expect)) {
			printf("#   %s: printed SDP differs from %s\n", name, want ? ".out" : "input");
			printf("# ---\n%s# ---\n", out->str);
			tap_fails++;
		}
		struct sdp_session *s2 = parse_ok(out->str, out->len);
		if (s2) {
			TAP_CHECK_INT(sdp_print(s2, out2), 0);
			TAP_CHECK(g_string_equal(out, out2));
			TAP_CHECK_INT(s2->n_media, s->n_media);
			session_put(s2);
		}
		TAP_CHECK_INT(count_lines(out->str, out->len), count_lines(in->str, in->len));
		session_put(s);
	}
	buf_free(out);
	buf_free(out2);
}

static void t_rt_chrome(void) { roundtrip("chrome-offer"); }
static void t_rt_firefox(void) { roundtrip("firefox-offer"); }
static void t_rt_phone(void) { roundtrip("phone-offer"); }
static void t_rt_sdes(void) { roundtrip("sdes-offer"); }
static void t_rt_ipv6(void) { roundtrip("ipv6-offer"); }
static void t_rt_hold(void) { roundtrip("hold-offer"); }
static void t_rt_asterisk(void) { roundtrip("asterisk-answer"); }

#define CHECK_SL(sl, str) TAP_CHECK_SLICE((sl).p, (sl).len, (str))

static void t_chrome_fields(void)
{
	GString *in = load("chrome-offer", ".sdp");
	struct sdp_session *s = in ? parse_ok(in->str, in->len) : NULL;
	TAP_CHECK(s != NULL);
	if (!s)
		return;
	CHECK_SL(s->origin.sess_id, "4611731400430051336");
	TAP_CHECK_INT(s->n_group, 1);
	CHECK_SL(s->group[0].semantics, "BUNDLE");
	TAP_CHECK_INT(s->group[0].n_mid, 2);
	CHECK_SL(s->group[0].mid[1], "1");
	TAP_CHECK(s->common.extmap_allow_mixed);
	CHECK_SL(s->msid_semantic, " WMS 3b2f1c4e-6f0a-4a57-9c0e-2b1d6f3e8a11");
	TAP_CHECK_INT(s->n_media, 2);
	const struct sdp_media *a = &s->media[0], *v = &s->media[1];
	CHECK_SL(a->type, "audio");
	TAP_CHECK_INT(a->port, 54321);
	CHECK_SL(a->proto, "UDP/TLS/RTP/SAVPF");
	TAP_CHECK(a->rtp);
	TAP_CHECK_INT(a->n_fmt, 8);
	TAP_CHECK_INT(a->pt[0], 111);
	TAP_CHECK_INT(a->pt[7], 126);
	TAP_CHECK(a->rtcp.present && a->rtcp.port == 9 && a->rtcp.conn.flags == SDP_CONN_UNSPEC);
	TAP_CHECK_INT(a->n_cand, 4);
	CHECK_SL(a->cand[0].foundation, "1467250027");
	TAP_CHECK_INT(a->cand[0].priority, 2122260223u);
	TAP_CHECK(a->cand[0].has_generation && a->cand[0].generation == 0);
	CHECK_SL(a->cand[0].ext, "network-id 1 network-cost 10");
	TAP_CHECK_INT(a->cand[1].type, SDP_CAND_SRFLX);
	TAP_CHECK(a->cand[1].has_rel);
	CHECK_SL(a->cand[1].raddr, "192.168.1.23");
	TAP_CHECK_INT(a->cand[1].rport, 54321);
	TAP_CHECK(a->cand[2].tcp);
	CHECK_SL(a->cand[2].tcptype, "active");
	TAP_CHECK_INT(a->cand[2].port, 9);
	TAP_CHECK_INT(a->cand[3].type, SDP_CAND_RELAY);
	CHECK_SL(a->common.ice.ufrag, "Vq3b");
	CHECK_SL(a->common.ice.pwd, "sT6pCmqBZ0xUj4XKdb5zLh3c");
	CHECK_SL(a->common.ice.options, "trickle");
	TAP_CHECK_INT(a->common.n_fp, 1);
	TAP_CHECK_INT(a->common.fp[0].hash, SDP_HASH_SHA256);
	TAP_CHECK_INT(a->common.fp[0].value.len, 95);
	TAP_CHECK_INT(a->common.setup, SDP_SETUP_ACTPASS);
	CHECK_SL(a->mid, "0");
	TAP_CHECK_INT(a->n_extmap, 4);
	TAP_CHECK_INT(a->extmap[3].id, 4);
	CHECK_SL(a->extmap[3].uri, "urn:ietf:params:rtp-hdrext:sdes:mid");
	TAP_CHECK_INT(a->common.dir, SDP_DIR_SENDRECV);
	TAP_CHECK(a->rtcp_mux && a->rtcp_rsize);
	TAP_CHECK_INT(a->n_msid, 1);
	CHECK_SL(a->msid[0].appdata, "7c1a2d3e-0b4f-4e65-8a9d-1f2e3d4c5b6a");
	const struct sdp_rtpmap *opus = sdp_media_rtpmap(a, 111);
	TAP_CHECK(opus != NULL);
	if (opus) {
		CHECK_SL(opus->encoding, "opus");
		TAP_CHECK_INT(opus->clock, 48000);
		TAP_CHECK_INT(opus->channels, 2);
	}
	const struct sdp_fmtp *f = sdp_media_fmtp(a, 111);
	TAP_CHECK(f != NULL);
	if (f)
		CHECK_SL(f->params, "minptime=10;useinbandfec=1");
	TAP_CHECK(sdp_media_rtpmap(a, 0) != NULL && sdp_media_rtpmap(a, 0)->channels == 0);
	TAP_CHECK_INT(a->n_rtcpfb, 1);
	TAP_CHECK_INT(a->n_ssrc, 2);
	TAP_CHECK_INT(a->ssrc[0].id, 1001234567u);
	CHECK_SL(a->ssrc[0].attr, "cname");
	CHECK_SL(a->ssrc[0].value, "f0Kx3PpQ8v2Lm9Tz");
	TAP_CHECK_INT(v->n_ssrc_group, 1);
	CHECK_SL(v->ssrc_group[0].semantics, "FID");
	TAP_CHECK_INT(v->ssrc_group[0].n_ssrc, 2);
	TAP_CHECK_INT(v->ssrc_group[0].ssrc[1], 3185734412u);
	TAP_CHECK_INT(v->n_extmap, 8);
	TAP_CHECK_INT(v->n_rtcpfb, 15);
	TAP_CHECK_INT(v->n_ignored, 0);
	TAP_CHECK(sdp_conn_sendable(sdp_media_conn(s, v)));
	session_put(s);
}

static void t_firefox_fields(void)
{
	GString *in = load("firefox-offer", ".sdp");
	struct sdp_session *s = in ? parse_ok(in->str, in->len) : NULL;
	TAP_CHECK(s != NULL);
	if (!s)
		return;
	TAP_CHECK_INT(s->n_media, 3);
	TAP_CHECK_INT(s->common.dir, SDP_DIR_SENDRECV);
	TAP_CHECK_INT(s->common.n_fp, 1);
	CHECK_SL(s->common.ice.options, "trickle");
	const struct sdp_media *a = &s->media[0], *d = &s->media[2];
	TAP_CHECK(a->end_of_candidates);
	TAP_CHECK_INT(a->n_cand, 3);
	CHECK_SL(a->cand[2].transport, "TCP");
	TAP_CHECK(a->cand[2].tcp);
	TAP_CHECK_INT(a->extmap[1].dir, SDP_DIR_RECVONLY);
	TAP_CHECK_INT(sdp_media_rtpmap(a, 9)->channels, 1);
	CHECK_SL(a->msid[0].id, "{5b0e3b61-7a9f-4d23-a3f1-4c3b7e11a2b9}");
	TAP_CHECK(!d->rtp);
	TAP_CHECK_INT(d->n_fmt, 1);
	CHECK_SL(d->fmt[0], "webrtc-datachannel");
	TAP_CHECK_INT(d->common.n_attrs, 2);
	CHECK_SL(d->common.attrs[0].name, "sctp-port");
	CHECK_SL(d->common.attrs[0].value, "5000");
	TAP_CHECK_INT(sdp_media_dir(s, &s->media[1]), SDP_DIR_SENDRECV);
	session_put(s);
}

static void t_sip_fields(void)
{
	GString *in = load("sdes-offer", ".sdp");
	struct sdp_session *s = in ? parse_ok(in->str, in->len) : NULL;
	TAP_CHECK(s != NULL);
	if (s) {
		const struct sdp_media *m = &s->media[0];
		TAP_CHECK_INT(s->common.n_bw, 1);
		TAP_CHECK_INT(s->common.bw[0].value, 512);
		TAP_CHECK_INT(m->n_crypto, 3);
		TAP_CHECK_INT(m->crypto[0].tag, 1);
		TAP_CHECK_INT(m->crypto[0].suite, SDP_SUITE_AES_CM_128_HMAC_SHA1_80);
		CHECK_SL(m->crypto[0].lifetime, "2^31");
		CHECK_SL(m->crypto[0].mki, "1:1");
		TAP_CHECK_INT(m->crypto[1].suite, SDP_SUITE_AES_CM_128_HMAC_SHA1_32);
		CHECK_SL(m->crypto[1].session_params, "UNENCRYPTED_SRTCP");
		TAP_CHECK_INT(m->crypto[1].mki.len, 0);
		TAP_CHECK_INT(m->crypto[2].suite, SDP_SUITE_AES_256_CM_HMAC_SHA1_80);
		session_put(s);
	}

	in = load("phone-offer", ".sdp");
	s = in ? parse_ok(in->str, in->len) : NULL;
	TAP_CHECK(s != NULL);
	if (s) {
		const struct sdp_media *m = &s->media[0];
		TAP_CHECK_INT(m->ptime, 20);
		TAP_CHECK_INT(m->n_rtpmap, 5);
		CHECK_SL(sdp_media_rtpmap(m, 101)->encoding, "telephone-event");
		CHECK_SL(sdp_media_fmtp(m, 18)->params, "annexb=no");
		TAP_CHECK(sdp_media_conn(s, m) == &s->common.conn);
		TAP_CHECK(sdp_conn_sendable(sdp_media_conn(s, m)));
		session_put(s);
	}

	in = load("asterisk-answer", ".sdp");
	s = in ? parse_ok(in->str, in->len) : NULL;
	TAP_CHECK(s != NULL);
	if (s) {
		TAP_CHECK_INT(s->n_media, 2);
		TAP_CHECK_INT(s->media[0].maxptime, 150);
		TAP_CHECK_INT(s->media[1].port, 0);
		TAP_CHECK(sdp_media_rtpmap(&s->media[1], 96) == NULL);
		session_put(s);
	}
}

static void t_ipv6_hold_fields(void)
{
	GString *in = load("ipv6-offer", ".sdp");
	struct sdp_session *s = in ? parse_ok(in->str, in->len) : NULL;
	TAP_CHECK(s != NULL);
	if (s) {
		const struct sdp_conn *c = sdp_media_conn(s, &s->media[1]);
		TAP_CHECK_INT(s->common.conn.addrtype, SDP_ADDR_IP6);
		CHECK_SL(c->address, "2001:db8:0:1::a");
		TAP_CHECK_INT(c->flags, 0);
		TAP_CHECK(sdp_conn_sendable(c));
		TAP_CHECK_INT(s->media[1].rtcp.port, 51373);
		TAP_CHECK_INT(s->media[1].rtcp.conn.addrtype, SDP_ADDR_IP6);
		session_put(s);
	}

	in = load("hold-offer", ".sdp");
	s = in ? parse_ok(in->str, in->len) : NULL;
	TAP_CHECK(s != NULL);
	if (s) {
		const struct sdp_conn *c = sdp_media_conn(s, &s->media[0]);
		TAP_CHECK(c->flags & SDP_CONN_UNSPEC);
		TAP_CHECK(!sdp_conn_sendable(c));
		TAP_CHECK_INT(sdp_media_dir(s, &s->media[0]), SDP_DIR_SENDONLY);
		session_put(s);
	}
}

/* The B2BUA's way of building an answer: copy, point slices elsewhere, drop things. */
static void t_edit_and_print(void)
{
	GString *in = load("chrome-offer", ".sdp");
	struct sdp_session *s = in ? parse_ok(in->str, in->len) : NULL;
	TAP_CHECK(s != NULL);
	if (!s)
		return;
	struct sdp_session *e = session_get();
	*e = *s;
	GString *own = buf_new("gorgee");
	struct sdp_media *m = &e->media[0];
	e->origin.username = (struct slice){own->str, own->len};
	m->common.conn.address = SLICE_LIT("198.51.100.77");
	m->port = 40000;
	m->proto = SLICE_LIT("RTP/AVP");
	m->n_cand = 0;
	m->n_fmt = 2;
	m->pt[0] = 0;
	m->pt[1] = 8;
	m->common.n_fp = 0;
	m->common.ice = (struct sdp_ice){0};
	m->common.setup = SDP_SETUP_NONE;
	e->n_media = 1;
	e->n_group = 0;
	GString *out = buf_new("");
	TAP_CHECK_INT(sdp_print(e, out), 0);
	struct sdp_session *r = parse_ok(out->str, out->len);
	if (r) {
		CHECK_SL(r->origin.username, "gorgee");
		CHECK_SL(r->media[0].common.conn.address, "198.51.100.77");
		TAP_CHECK_INT(r->media[0].port, 40000);
		TAP_CHECK(r->media[0].rtp);
		TAP_CHECK_INT(r->media[0].n_cand, 0);
		TAP_CHECK_INT(r->media[0].n_fmt, 2);
		TAP_CHECK_INT(r->media[0].n_rtpmap, 2);
		TAP_CHECK(strstr(out->str, "a=rtpmap:111") == NULL);
		TAP_CHECK(strstr(out->str, "m=audio 40000 RTP/AVP 0 8\r\n") != NULL);
		session_put(r);
	}
	/* The original is untouched. */
	TAP_CHECK_INT(s->media[0].n_cand, 4);
	/* Counts beyond a cap are refused, not read past the array. */
	e->media[0].n_cand = SDP_MAX_CANDIDATES + 1;
	g_string_truncate(out, 0);
	TAP_CHECK_INT(sdp_print(e, out), EINVAL);
	buf_free(out);
	buf_free(own);
	session_put(s);
}

/*
 * Every prefix of every golden SDP, placed so that its last byte is the last readable byte
 * before a PROT_NONE page: parses or fails with EBADMSG, never reads past the end.
 */
static void t_truncated_prefixes(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	size_t span = 4 * (size_t)pg; /* 3 readable pages fit every golden file */
	char *map = mmap(NULL, span + (size_t)pg, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	TAP_CHECK(map != MAP_FAILED);
	if (map == MAP_FAILED)
		return;
	TAP_CHECK_INT(mprotect(map + span, (size_t)pg, PROT_NONE), 0);
	struct sdp_session *s = session_get();
	for (size_t g = 0; g < G_N_ELEMENTS(golden); g++) {
		GString *in = load(golden[g], ".sdp");
		TAP_CHECK(in && in->len <= span);
		if (!in || in->len > span) {
			continue;
		}
		size_t ok = 0;
		for (size_t k = 0; k <= in->len; k++) {
			char *p = map + span - k;
			memcpy(p, in->str, k);
			int rc = sdp_parse(p, k, s, NULL);
			if (rc != 0 && rc != EBADMSG) {
				printf("#   %s prefix %zu: rc %d\n", golden[g], k, rc);
				tap_fails++;
			}
			ok += rc == 0;
		}
		/* The full text parses, and so does at least the prefix without the final LF. */
		TAP_CHECK(ok >= 2);
	}
	session_put(s);
	munmap(map, span + (size_t)pg);
}

static void t_error_text(void)
{
	struct sdp_session *s = session_get();
	struct sdp_error err;
	const char *t = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
			"m=audio 1000 RTP/AVP 0\r\na=rtpmap:\r\n";
	TAP_CHECK_INT(sdp_parse(t, strlen(t), s, &err), EBADMSG);
	TAP_CHECK_INT(err.line, 7);
	TAP_CHECK_STR(err.text, "line 7: attribute without value");
	t = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
	    "m=audio 1000 RTP/AVP 0\r\na=rtpmap: PCMU/8000\r\n";
	TAP_CHECK_INT(sdp_parse(t, strlen(t), s, &err), EBADMSG);
	TAP_CHECK_STR(err.text, "line 7: a=rtpmap without payload type");
	TAP_CHECK_INT(sdp_parse(NULL, 0, s, NULL), EINVAL);
	TAP_CHECK_INT(sdp_parse("v=0", 3, NULL, NULL), EINVAL);
	session_put(s);
}

/* Typed attributes outside their level, or on non-RTP media, land in the generic list. */
static void t_generic_fallback(void)
{
	const char *t = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
			"a=rtpmap:0 PCMU/8000\r\na=candidate:x\r\na=x-flag\r\na=x-empty:\r\n"
			"m=application 5000 DTLS/SCTP 5000\r\na=rtpmap:5000 x/1\r\n"
			"a=fmtp:5000 y\r\na=sctpmap:5000 webrtc-datachannel 1024\r\n"
			"a=group:BUNDLE 0\r\na=ice-lite\r\n";
	struct sdp_session *s = parse_str(t);
	TAP_CHECK(s != NULL);
	if (!s)
		return;
	TAP_CHECK_INT(s->common.n_attrs, 4);
	CHECK_SL(s->common.attrs[1].name, "candidate");
	TAP_CHECK(!s->common.attrs[2].has_value);
	TAP_CHECK(s->common.attrs[3].has_value && s->common.attrs[3].value.len == 0);
	const struct sdp_media *m = &s->media[0];
	TAP_CHECK(!m->rtp);
	TAP_CHECK_INT(m->n_rtpmap, 0);
	TAP_CHECK_INT(m->common.n_attrs, 5);
	CHECK_SL(m->common.attrs[1].value, "5000 y");
	CHECK_SL(m->common.attrs[3].name, "group");
	TAP_CHECK(!s->ice_lite);
	GString *out = buf_new("");
	TAP_CHECK_INT(sdp_print(s, out), 0);
	TAP_CHECK(strstr(out->str, "t=0 0\r\na=rtpmap:0 PCMU/8000\r\na=candidate:x\r\n"
				"a=x-flag\r\na=x-empty:\r\nm=") != NULL);
	TAP_CHECK(strstr(out->str, "a=sctpmap:5000 webrtc-datachannel 1024\r\na=group:BUNDLE 0\r\n"
				"a=ice-lite\r\n") != NULL);
}

#include "test_sdp_bad.c"

static const struct tap_case cases[] = {
	{"round trip: Chrome offer (canonical, byte-identical)", t_rt_chrome, 0},
	{"round trip: Firefox offer", t_rt_firefox, 0},
	{"round trip: SIP phone offer", t_rt_phone, 0},
	{"round trip: SDES-SRTP offer", t_rt_sdes, 0},
	{"round trip: IPv6 offer", t_rt_ipv6, 0},
	{"round trip: hold offer", t_rt_hold, 0},
	{"round trip: Asterisk answer", t_rt_asterisk, 0},
	{"fields: Chrome offer", t_chrome_fields, 0},
	{"fields: Firefox offer", t_firefox_fields, 0},
	{"fields: SDES, phone, Asterisk", t_sip_fields, 0},
	{"fields: IPv6 and hold", t_ipv6_hold_fields, 0},
	{"edit a copied session and print it", t_edit_and_print, 0},
	{"every truncated prefix before a PROT_NONE page", t_truncated_prefixes, 0},
	{"error reasons name the line", t_error_text, 0},
	{"typed attributes out of place are kept as generic", t_generic_fallback, 0},
	BAD_CASES
};

TAP_MAIN(cases)
