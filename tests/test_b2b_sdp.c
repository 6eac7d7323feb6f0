/*
 * Tests for b2b_sdp: golden SDP in → SDP out cases (tests/data/b2b-sdp/<case>/), and unit
 * cases for the remote reader, the decoders and the checks on local values.
 *
 * A case directory holds `params` ("offer <profile>", "default <profile>" or "answer
 * <profile>"; profiles webrtc, rtp, sdes, dtls), in.sdp (not for default), answer.sdp
 * (answer only: the other leg's answer to our translated offer) and either out.sdp or
 * out.err ("EPROTO: <reason>"). GORGEE_REGEN=1 rewrites out.sdp/out.err from the code.
 */
#include <arpa/inet.h>
#include <errno.h>

#include "b2b_sdp.h"
#include "tap.h"

#ifndef B2B_SDP_DATA_DIR
#error "B2B_SDP_DATA_DIR must name tests/data/b2b-sdp"
#endif

/* ---- the relay's side, fixed for every case ------------------------------------------------- */

static const char *const webrtc_cands[] = {
	"candidate:3442447574 1 udp 2122260223 203.0.113.1 40000 typ host generation 0",
};
/* Our SDES key: as many of these bytes as the suite needs. */
static const uint8_t sdes_key[46] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
				     17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32,
				     33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46};
/* The video's own SDES key. */
static const uint8_t sdes_video_key[46] = {
	101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115, 116,
	117, 118, 119, 120, 121, 122, 123, 124, 125, 126, 127, 128, 129, 130, 131, 132,
	133, 134, 135, 136, 137, 138, 139, 140, 141, 142, 143, 144, 145, 146};
#define LOCAL_FP                                                                              \
	"sha-256 6F:1A:2B:3C:4D:5E:6F:70:81:92:A3:B4:C5:D6:E7:F8:09:1A:2B:3C:4D:5E:6F:70:81:92:A3:" \
	"B4:C5:D6:E7:F8"

static struct b2b_media_local local_for(enum b2b_profile p)
{
	struct b2b_media_local l = {
		.addr = "203.0.113.1",
		.sess_id = 7316549320958261,
		.sess_version = 2,
		.username = "gorgee",
	};
	switch (p) {
	case B2B_PROFILE_WEBRTC:
		l.rtp_port = 40000;
		l.video_rtp_port = 40000; /* bundled */
		l.rtcp_mux = true;
		l.ice_ufrag = "gR9e";
		l.ice_pwd = "w2Zk7LqPx4MvT8sNc3HbYf6D";
		l.cand = webrtc_cands;
		l.n_cand = G_N_ELEMENTS(webrtc_cands);
		l.end_of_candidates = true;
		l.fingerprint = LOCAL_FP;
		break;
	case B2B_PROFILE_DTLS:
		l.rtp_port = 40002;
		l.rtcp_port = 40003;
		l.rtcp_mux = true;
		l.video_rtp_port = 40004; /* an association of its own (RFC 5764, no BUNDLE) */
		l.video_rtcp_port = 40005;
		l.fingerprint = LOCAL_FP;
		break;
	case B2B_PROFILE_SDES:
		l.crypto_tag = 1;
		l.crypto_suite = SDP_SUITE_AES_CM_128_HMAC_SHA1_80;
		l.crypto_key = sdes_key;
		l.crypto_key_len = 30;
		l.video_crypto_key = sdes_video_key;
		/* fall through */
	case B2B_PROFILE_RTP:
		l.rtp_port = 40002;
		l.rtcp_port = 40003;
		l.video_rtp_port = 40004;
		l.video_rtcp_port = 40005;
		break;
	}
	return l;
}

static bool profile_parse(const char *s, enum b2b_profile *p)
{
	static const enum b2b_profile all[] = {B2B_PROFILE_WEBRTC, B2B_PROFILE_RTP,
					       B2B_PROFILE_SDES, B2B_PROFILE_DTLS};
	for (size_t i = 0; i < G_N_ELEMENTS(all); i++)
		if (strcmp(s, b2b_profile_name(all[i])) == 0) {
			*p = all[i];
			return true;
		}
	return false;
}

/* ---- helpers ---------------------------------------------------------------------------------- */

static struct sdp_session *parse_new(const char *text, size_t len)
{
	struct sdp_session *s = g_new0(struct sdp_session, 1);
	struct sdp_error e;
	if (sdp_parse(text, len, s, &e) != 0) {
		printf("#   sdp_parse: %s\n", e.text);
		tap_fails++;
		g_free(s);
		return NULL;
	}
	return s;
}

static char *read_file(const char *dir, const char *name, gsize *len)
{
	char *path = g_build_filename(B2B_SDP_DATA_DIR, dir, name, NULL);
	char *text = NULL;
	if (!g_file_get_contents(path, &text, len, NULL))
		text = NULL;
	g_free(path);
	return text;
}

static void write_file(const char *dir, const char *name, const char *text, gsize len)
{
	char *path = g_build_filename(B2B_SDP_DATA_DIR, dir, name, NULL);
	if (!g_file_set_contents(path, text, (gssize)len, NULL)) {
		printf("#   cannot write %s\n", path);
		tap_fails++;
	}
	g_free(path);
}

static void remove_file(const char *dir, const char *name)
{
	char *path = g_build_filename(B2B_SDP_DATA_DIR, dir, name, NULL);
	(void)remove(path);
	g_free(path);
}

/* First differing line, for the TAP log. */
static void show_diff(const char *want, const char *got)
{
	unsigned line = 1;
	size_t i = 0;
	while (want[i] && want[i] == got[i]) {
		if (want[i] == '\n')
			line++;
		i++;
	}
	size_t w0 = i, g0 = i;
	while (w0 && want[w0 - 1] != '\n')
		w0--;
	while (g0 && got[g0 - 1] != '\n')
		g0--;
	printf("#   differs at line %u:\n#   want: %.*s\n#   got:  %.*s\n", line,
	       (int)strcspn(want + w0, "\r\n"), want + w0, (int)strcspn(got + g0, "\r\n"), got + g0);
}

/*
 * What every output must satisfy: sdp_parse accepts it, prints it back identically, and
 * b2b_sdp_remote finds a relayable audio stream of the expected profile in it.
 */
static void check_output(const GString *out, enum b2b_profile want)
{
	struct sdp_session *s = parse_new(out->str, out->len);
	if (!s)
		return;
	GString *again = g_string_new(NULL);
	TAP_CHECK_INT(sdp_print(s, again), 0);
	TAP_CHECK(g_string_equal(out, again));
	struct b2b_media_remote *r = g_new0(struct b2b_media_remote, 1);
	char err[128] = "";
	TAP_CHECK_INT(b2b_sdp_remote(s, r, err), 0);
	if (err[0])
		printf("#   output: %s\n", err);
	TAP_CHECK(r->present);
	TAP_CHECK_INT(r->profile, want);
	if (want == B2B_PROFILE_WEBRTC)
		TAP_CHECK(r->rtcp_mux && r->ice_ufrag[0] && r->fp_len == 32);
	TAP_CHECK_STR(r->addr, "203.0.113.1");
	g_string_free(again, TRUE);
	g_free(r);
	g_free(s);
}

/* ---- golden cases ----------------------------------------------------------------------------- */

#define MAX_GOLDEN 48
static char *golden_names[MAX_GOLDEN];
static size_t n_golden;

struct golden_run {
	char *params, *in, *answer, *want_sdp, *want_err;
	gsize in_len, answer_len, want_len;
	struct sdp_session *in_s, *answer_s;
};

static int golden_op(const char *dir, struct golden_run *g, enum b2b_profile *prof,
		     GString *out, char *err)
{
	char op[16] = "", pname[16] = "";
	if (!g->params || sscanf(g->params, "%15s %15s", op, pname) != 2 ||
	    !profile_parse(pname, prof)) {
		printf("#   %s: bad or missing params\n", dir);
		tap_fails++;
		return -1;
	}
	struct b2b_media_local l = local_for(*prof);
	if (strcmp(op, "default") == 0)
		return b2b_sdp_offer_default(*prof, &l, out);
	if (!g->in || !(g->in_s = parse_new(g->in, g->in_len)))
		return -1;
	if (strcmp(op, "offer") == 0)
		return b2b_sdp_offer(g->in_s, *prof, &l, out, err);
	if (strcmp(op, "answer") != 0 || !g->answer ||
	    !(g->answer_s = parse_new(g->answer, g->answer_len)))
		return -1;
	if (*prof == B2B_PROFILE_SDES) {
		/* As the call code does: our key is for the suite the offer's chosen line uses. */
		struct b2b_media_remote *r = g_new0(struct b2b_media_remote, 1);
		const struct b2b_suite *su = NULL;
		if (b2b_sdp_remote(g->in_s, r, err) == 0)
			su = b2b_suite_find(r->crypto_suite);
		if (su) {
			l.crypto_suite = su->suite;
			l.crypto_key_len = su->key_len;
		}
		/* ... and the video's for the suite of the offer's video line (its own) */
		int vidx = b2b_sdp_video_index(g->in_s);
		if (vidx >= 0 && b2b_sdp_remote_at(g->in_s, (unsigned)vidx, r, NULL) == 0 &&
		    b2b_suite_find(r->crypto_suite))
			l.video_crypto_suite = r->crypto_suite;
		g_free(r);
	}
	return b2b_sdp_answer(g->in_s, g->answer_s, *prof, &l, out, err);
}

static void run_golden(size_t k)
{
	const char *dir = golden_names[k];
	struct golden_run g = {0};
	gsize n;
	g.params = read_file(dir, "params", &n);
	g.in = read_file(dir, "in.sdp", &g.in_len);
	g.answer = read_file(dir, "answer.sdp", &g.answer_len);
	g.want_sdp = read_file(dir, "out.sdp", &g.want_len);
	g.want_err = read_file(dir, "out.err", &n);
	GString *out = g_string_new(NULL);
	char err[128] = "";
	enum b2b_profile prof = B2B_PROFILE_RTP;
	int rc = golden_op(dir, &g, &prof, out, err);
	char *got_err = rc > 0 ? g_strdup_printf("%s: %s\n", rc == EPROTO ? "EPROTO" : "errno",
						err)
			       : NULL;
	if (rc >= 0 && getenv("GORGEE_REGEN")) {
		if (rc == 0) {
			write_file(dir, "out.sdp", out->str, out->len);
			remove_file(dir, "out.err");
		} else {
			write_file(dir, "out.err", got_err, strlen(got_err));
			remove_file(dir, "out.sdp");
		}
	} else if (rc == 0) {
		if (!g.want_sdp) {
			printf("#   %s: succeeded, but there is no out.sdp\n", dir);
			tap_fails++;
		} else if (strcmp(g.want_sdp, out->str) != 0) {
			show_diff(g.want_sdp, out->str);
			tap_fails++;
		}
		check_output(out, prof);
	} else if (rc > 0) {
		if (!g.want_err)
			printf("#   %s: failed: %s", dir, got_err);
		TAP_CHECK_STR(got_err, g.want_err);
	}
	g_free(got_err);
	g_string_free(out, TRUE);
	g_free(g.in_s);
	g_free(g.answer_s);
	g_free(g.params);
	g_free(g.in);
	g_free(g.answer);
	g_free(g.want_sdp);
	g_free(g.want_err);
}

#define GOLDEN(n)                            \
	static void golden_##n(void)         \
	{                                    \
		run_golden(n);               \
	}
GOLDEN(0) GOLDEN(1) GOLDEN(2) GOLDEN(3) GOLDEN(4) GOLDEN(5) GOLDEN(6) GOLDEN(7)
GOLDEN(8) GOLDEN(9) GOLDEN(10) GOLDEN(11) GOLDEN(12) GOLDEN(13) GOLDEN(14) GOLDEN(15)
GOLDEN(16) GOLDEN(17) GOLDEN(18) GOLDEN(19) GOLDEN(20) GOLDEN(21) GOLDEN(22) GOLDEN(23)
GOLDEN(24) GOLDEN(25) GOLDEN(26) GOLDEN(27) GOLDEN(28) GOLDEN(29) GOLDEN(30) GOLDEN(31)
GOLDEN(32) GOLDEN(33) GOLDEN(34) GOLDEN(35) GOLDEN(36) GOLDEN(37) GOLDEN(38) GOLDEN(39)
GOLDEN(40) GOLDEN(41) GOLDEN(42) GOLDEN(43) GOLDEN(44) GOLDEN(45) GOLDEN(46) GOLDEN(47)
static tap_case_fn *const golden_fns[MAX_GOLDEN] = {
	golden_0,  golden_1,  golden_2,  golden_3,  golden_4,  golden_5,  golden_6,  golden_7,
	golden_8,  golden_9,  golden_10, golden_11, golden_12, golden_13, golden_14, golden_15,
	golden_16, golden_17, golden_18, golden_19, golden_20, golden_21, golden_22, golden_23,
	golden_24, golden_25, golden_26, golden_27, golden_28, golden_29, golden_30, golden_31,
	golden_32, golden_33, golden_34, golden_35, golden_36, golden_37, golden_38, golden_39,
	golden_40, golden_41, golden_42, golden_43, golden_44, golden_45, golden_46, golden_47,
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void golden_list(void)
{
	GDir *d = g_dir_open(B2B_SDP_DATA_DIR, 0, NULL);
	const char *name;
	while (d && (name = g_dir_read_name(d))) {
		if (n_golden == MAX_GOLDEN) {
			printf("# more than %d golden cases: raise MAX_GOLDEN\n", MAX_GOLDEN);
			exit(1);
		}
		golden_names[n_golden++] = g_strdup(name);
	}
	if (d)
		g_dir_close(d);
	qsort(golden_names, n_golden, sizeof(golden_names[0]), cmp_str);
}

/* ---- unit cases: the remote reader ------------------------------------------------------------ */

#define SIP_HEAD "v=0\r\no=- 1 1 IN IP4 192.0.2.5\r\ns=-\r\n"

/* Parses text and reads its audio: returns b2b_sdp_remote's result, fills *r and err. */
static int remote_of(const char *text, struct b2b_media_remote *r, char *err)
{
	struct sdp_session *s = parse_new(text, strlen(text));
	if (!s)
		return -1;
	int rc = b2b_sdp_remote(s, r, err);
	g_free(s);
	return rc;
}

static void test_remote_ipv4(void)
{
	struct b2b_media_remote *r = g_new0(struct b2b_media_remote, 1);
	char err[128] = "";
	TAP_CHECK_INT(remote_of(SIP_HEAD "c=IN IP4 192.0.2.5\r\nt=0 0\r\n"
				"m=video 5000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
				"m=audio 4000 RTP/AVP 0 8 18\r\na=ptime:30\r\n",
				r, err),
		      0);
	TAP_CHECK(r->present);
	TAP_CHECK_INT(r->m_index, 1);
	TAP_CHECK_INT(r->profile, B2B_PROFILE_RTP);
	TAP_CHECK_STR(r->addr, "192.0.2.5");
	TAP_CHECK_INT(r->family, AF_INET);
	TAP_CHECK_INT(r->rtp_port, 4000);
	TAP_CHECK_INT(r->rtcp_port, 4001); /* RFC 3605 default */
	TAP_CHECK(!r->rtcp_mux);
	TAP_CHECK_INT(r->dir, SDP_DIR_SENDRECV);
	TAP_CHECK_INT(r->n_codecs, 3); /* static PTs named without rtpmap */
	TAP_CHECK_STR(r->codecs[2].name, "G729");
	TAP_CHECK_INT(r->clock_rate, 8000);
	TAP_CHECK_INT(r->dtmf_pt, -1);
	TAP_CHECK_INT(r->ptime, 30);
	TAP_CHECK_STR(r->mid, "");
	g_free(r);
}

static void test_remote_ipv6_rtcp(void)
{
	struct b2b_media_remote *r = g_new0(struct b2b_media_remote, 1);
	char err[128] = "";
	TAP_CHECK_INT(remote_of(SIP_HEAD "t=0 0\r\nm=audio 6000 RTP/AVP 9 101 102\r\n"
				"c=IN IP6 2001:db8::7\r\na=rtcp:6011 IN IP6 2001:db8::7\r\n"
				"a=rtpmap:101 telephone-event/8000\r\n"
				"a=rtpmap:102 telephone-event/16000\r\na=recvonly\r\n",
				r, err),
		      0);
	TAP_CHECK_STR(r->addr, "2001:db8::7");
	TAP_CHECK_INT(r->family, AF_INET6);
	TAP_CHECK_INT(r->rtcp_port, 6011);
	TAP_CHECK_INT(r->dir, SDP_DIR_RECVONLY);
	TAP_CHECK_INT(r->dtmf_pt, 101); /* G722's RTP clock is 8000 (RFC 3551 §4.5.2) */
	TAP_CHECK_INT(r->n_codecs, 3);
	g_free(r);
}

static void test_remote_hold_forms(void)
{
	struct b2b_media_remote *r = g_new0(struct b2b_media_remote, 1);
	char err[128] = "";
	/* RFC 2543 hold: c=0.0.0.0 takes the receive half away. */
	TAP_CHECK_INT(remote_of(SIP_HEAD "c=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n",
				r, err),
		      0);
	TAP_CHECK_STR(r->addr, "");
	TAP_CHECK_INT(r->dir, SDP_DIR_SENDONLY);
	TAP_CHECK_INT(remote_of(SIP_HEAD "c=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
				"a=recvonly\r\n",
				r, err),
		      0);
	TAP_CHECK_INT(r->dir, SDP_DIR_INACTIVE);
	/* With ICE, 0.0.0.0 is "no candidate yet" (trickle), not hold. */
	TAP_CHECK_INT(remote_of(SIP_HEAD "t=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
				"c=IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\n"
				"a=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
				"a=fingerprint:sha-1 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:"
				"00:11:22:33\r\na=setup:actpass\r\na=rtcp-mux\r\n"
				"a=rtpmap:111 opus/48000/2\r\n",
				r, err),
		      0);
	TAP_CHECK_INT(r->dir, SDP_DIR_SENDRECV);
	TAP_CHECK_INT(r->profile, B2B_PROFILE_WEBRTC);
	TAP_CHECK_INT(r->rtcp_port, 9);
	TAP_CHECK_STR(r->fp_hash, "sha-1");
	TAP_CHECK_INT(r->fp_len, 20);
	TAP_CHECK_INT(r->fp[10], 0xAA);
	TAP_CHECK_INT(r->setup, SDP_SETUP_ACTPASS);
	g_free(r);
}

/* BI-21: never a multicast, broadcast or (unresolved) host name as a media target. */
static void test_remote_bad_conn(void)
{
	static const char *const bad[] = {"224.2.1.1/127", "255.255.255.255", "pbx.example.com"};
	struct b2b_media_remote *r = g_new0(struct b2b_media_remote, 1);
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		char err[128] = "", *t = g_strdup_printf(
			SIP_HEAD "c=IN IP4 %s\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n", bad[i]);
		TAP_CHECK_INT(remote_of(t, r, err), EPROTO);
		TAP_CHECK(strstr(err, "c=") != NULL);
		g_free(t);
	}
	g_free(r);
}

static void test_remote_no_audio(void)
{
	struct b2b_media_remote *r = g_new0(struct b2b_media_remote, 1);
	char err[128] = "";
	TAP_CHECK_INT(remote_of(SIP_HEAD "c=IN IP4 192.0.2.5\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\n"
				"m=video 5000 RTP/AVP 31\r\n",
				r, err),
		      0);
	TAP_CHECK(!r->present);
	TAP_CHECK_INT(r->dtmf_pt, -1);
	/* A dynamic PT without rtpmap names nothing (BI-22): no codec at all. */
	TAP_CHECK_INT(remote_of(SIP_HEAD "c=IN IP4 192.0.2.5\r\nt=0 0\r\nm=audio 4000 RTP/AVP 96\r\n",
				r, err),
		      EPROTO);
	TAP_CHECK_INT(remote_of(SIP_HEAD "c=IN IP4 192.0.2.5\r\nt=0 0\r\nm=audio 4000 TCP/RTP/AVP 0\r\n",
				r, err),
		      EPROTO);
	g_free(r);
}

static void test_remote_crypto(void)
{
	struct b2b_media_remote *r = g_new0(struct b2b_media_remote, 1);
	char err[128] = "";
	/* a 192-bit suite (no SRTP profile has it), an MKI line and a session parameter are
	 * skipped; the fourth line is used. Key: bytes 0x00..0x1d. */
	TAP_CHECK_INT(remote_of(SIP_HEAD "c=IN IP4 192.0.2.5\r\nt=0 0\r\n"
				"m=audio 4000 RTP/SAVP 0\r\n"
				"a=crypto:1 AES_192_CM_HMAC_SHA1_80 "
				"inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCU=\r\n"
				"a=crypto:2 AES_CM_128_HMAC_SHA1_80 "
				"inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd|2^31|1:4\r\n"
				"a=crypto:3 AES_CM_128_HMAC_SHA1_80 "
				"inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd UNENCRYPTED_SRTP\r\n"
				"a=crypto:4 AES_CM_128_HMAC_SHA1_32 "
				"inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd|2^31\r\n",
				r, err),
		      0);
	TAP_CHECK_INT(r->profile, B2B_PROFILE_SDES);
	TAP_CHECK_INT(r->crypto_tag, 4);
	TAP_CHECK_INT(r->crypto_suite, SDP_SUITE_AES_CM_128_HMAC_SHA1_32);
	TAP_CHECK_INT(r->crypto_key_len, 30);
	bool seq = true;
	for (size_t i = 0; i < 30; i++)
		seq = seq && r->crypto_key[i] == i;
	TAP_CHECK(seq);
	/* RFC 6188: AES_256_CM_HMAC_SHA1_80 offered first is taken, with its 46-byte key (a key
	 * of another length is malformed SDP: sdp.c refuses it) */
	TAP_CHECK_INT(remote_of(SIP_HEAD "c=IN IP4 192.0.2.5\r\nt=0 0\r\nm=audio 4000 RTP/SAVP 0\r\n"
				"a=crypto:8 AES_256_CM_HMAC_SHA1_80 "
				"inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLQ==\r\n"
				"a=crypto:9 AES_CM_128_HMAC_SHA1_80 "
				"inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd\r\n",
				r, err),
		      0);
	TAP_CHECK_INT(r->crypto_tag, 8);
	TAP_CHECK_INT(r->crypto_suite, SDP_SUITE_AES_256_CM_HMAC_SHA1_80);
	TAP_CHECK_INT(r->crypto_key_len, 46);
	TAP_CHECK_INT(r->crypto_key[45], 45);
	/* BI-24: SAVP with nothing usable is refused, not downgraded to RTP. */
	TAP_CHECK_INT(remote_of(SIP_HEAD "c=IN IP4 192.0.2.5\r\nt=0 0\r\nm=audio 4000 RTP/SAVP 0\r\n"
				"a=crypto:1 AES_CM_128_HMAC_SHA1_80 "
				"inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd|1:4\r\n",
				r, err),
		      EPROTO);
	TAP_CHECK(strstr(err, "crypto") != NULL);
	TAP_CHECK_INT(r->crypto_key_len, 0);
	g_free(r);
}

static void test_remote_dtmf(void)
{
	struct b2b_media_remote *r = g_new0(struct b2b_media_remote, 1);
	char err[128] = "";
	const char *opus_first = SIP_HEAD "c=IN IP4 192.0.2.5\r\nt=0 0\r\n"
				 "m=audio 4000 RTP/AVP 111 0 126 110\r\n"
				 "a=rtpmap:111 opus/48000/2\r\na=rtpmap:126 telephone-event/8000\r\n"
				 "a=rtpmap:110 telephone-event/48000\r\n";
	TAP_CHECK_INT(remote_of(opus_first, r, err), 0);
	TAP_CHECK_INT(r->dtmf_pt, 110);
	TAP_CHECK_INT(r->clock_rate, 48000);
	TAP_CHECK_INT(r->codecs[0].channels, 2);
	TAP_CHECK_INT(remote_of(SIP_HEAD "c=IN IP4 192.0.2.5\r\nt=0 0\r\n"
				"m=audio 4000 RTP/AVP 126 0 110\r\n"
				"a=rtpmap:126 telephone-event/8000\r\n"
				"a=rtpmap:110 telephone-event/48000\r\n",
				r, err),
		      0);
	TAP_CHECK_INT(r->clock_rate, 8000); /* the first codec that is not DTMF */
	TAP_CHECK_INT(r->dtmf_pt, 126);
	g_free(r);
}

static void test_remote_fingerprint(void)
{
	const char *text = SIP_HEAD "c=IN IP4 192.0.2.5\r\nt=0 0\r\n"
			   "a=fingerprint:SHA-256 2B:08:B7:EE:E9:14:3B:61:93:68:C3:12:1A:6A:ED:0E:"
			   "88:03:EB:A0:03:9E:EA:35:40:4E:25:3E:34:08:97:93\r\n"
			   "m=audio 4000 UDP/TLS/RTP/SAVP 0\r\na=setup:passive\r\n";
	struct sdp_session *s = parse_new(text, strlen(text));
	struct b2b_media_remote *r = g_new0(struct b2b_media_remote, 1);
	char err[128] = "";
	if (!s) {
		g_free(r);
		return;
	}
	TAP_CHECK_INT(b2b_sdp_remote(s, r, err), 0);
	TAP_CHECK_INT(r->profile, B2B_PROFILE_DTLS);
	TAP_CHECK_STR(r->fp_hash, "sha-256"); /* session level, name canonical */
	TAP_CHECK_INT(r->fp_len, 32);
	TAP_CHECK_INT(r->fp[0], 0x2B);
	TAP_CHECK_INT(r->fp[31], 0x93);
	TAP_CHECK_INT(r->setup, SDP_SETUP_PASSIVE);
	/* A caller-edited session is checked again: bad hex is refused. */
	s->common.fp[0].value = SLICE_LIT("2B:08:B7:EE:E9:14:3B:61:93:68:C3:12:1A:6A:ED:0E:"
					  "88:03:EB:A0:03:9E:EA:35:40:4E:25:3E:34:08:97:G3");
	TAP_CHECK_INT(b2b_sdp_remote(s, r, err), EPROTO);
	TAP_CHECK(strstr(err, "fingerprint") != NULL);
	/* BI-24: DTLS without a=setup. */
	s->common.fp[0].value = SLICE_LIT("2B:08:B7:EE:E9:14:3B:61:93:68:C3:12:1A:6A:ED:0E:"
					  "88:03:EB:A0:03:9E:EA:35:40:4E:25:3E:34:08:97:93");
	s->media[0].common.setup = SDP_SETUP_NONE;
	TAP_CHECK_INT(b2b_sdp_remote(s, r, err), EPROTO);
	TAP_CHECK(strstr(err, "setup") != NULL);
	s->common.n_fp = 0;
	s->media[0].common.setup = SDP_SETUP_ACTIVE;
	TAP_CHECK_INT(b2b_sdp_remote(s, r, err), EPROTO);
	g_free(r);
	g_free(s);
}

static void test_fp_decode(void)
{
	uint8_t b[64];
	size_t n;
	TAP_CHECK(b2b_fp_decode(SLICE_LIT("0a:FF"), b, sizeof(b), &n) && n == 2 && b[0] == 10 &&
		  b[1] == 255);
	TAP_CHECK(!b2b_fp_decode(SLICE_LIT("0a:F"), b, sizeof(b), &n));
	TAP_CHECK(!b2b_fp_decode(SLICE_LIT("0a-FF"), b, sizeof(b), &n));
	TAP_CHECK(!b2b_fp_decode(SLICE_LIT("0x:FF"), b, sizeof(b), &n));
	TAP_CHECK(!b2b_fp_decode(SLICE_LIT(""), b, sizeof(b), &n));
	TAP_CHECK(!b2b_fp_decode(SLICE_LIT("00:11:22"), b, 2, &n)); /* over the cap */
}

static void test_b64_decode(void)
{
	uint8_t b[8];
	size_t n;
	TAP_CHECK(b2b_b64_decode(SLICE_LIT("TWFu"), b, sizeof(b), &n) && n == 3 &&
		  memcmp(b, "Man", 3) == 0);
	TAP_CHECK(b2b_b64_decode(SLICE_LIT("TWE="), b, sizeof(b), &n) && n == 2);
	TAP_CHECK(b2b_b64_decode(SLICE_LIT("TWE"), b, sizeof(b), &n) && n == 2);
	TAP_CHECK(!b2b_b64_decode(SLICE_LIT("TWF"), b, sizeof(b), &n)); /* non-zero tail bits */
	TAP_CHECK(!b2b_b64_decode(SLICE_LIT("T"), b, sizeof(b), &n));
	TAP_CHECK(!b2b_b64_decode(SLICE_LIT("TW-u"), b, sizeof(b), &n));
	TAP_CHECK(!b2b_b64_decode(SLICE_LIT("TWFuTWFuTWFu"), b, sizeof(b), &n)); /* 9 > 8 */
}

static void test_remote_candidates_cap(void)
{
	GString *t = g_string_new(SIP_HEAD "t=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\n"
				  "c=IN IP4 192.0.2.5\r\na=ice-ufrag:abcd\r\n"
				  "a=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
				  "a=fingerprint:sha-1 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:"
				  "FF:00:11:22:33\r\na=setup:actpass\r\na=rtcp-mux\r\n"
				  "a=end-of-candidates\r\n");
	for (unsigned i = 0; i < 20; i++)
		g_string_append_printf(t, "a=candidate:%u 1 UDP %u 192.0.2.%u %u typ srflx raddr "
					  "10.0.0.1 rport 9%s\r\n",
				       i, 100 + i, i + 1, 5000 + i,
				       i == 0 ? " generation 0 network-id 1" : "");
	struct b2b_media_remote *r = g_new0(struct b2b_media_remote, 1);
	char err[128] = "";
	TAP_CHECK_INT(remote_of(t->str, r, err), 0);
	TAP_CHECK_INT(r->n_cand, B2B_MAX_CANDIDATES);
	TAP_CHECK_STR(r->cand[0], "candidate:0 1 UDP 100 192.0.2.1 5000 typ srflx raddr 10.0.0.1 "
				  "rport 9 generation 0 network-id 1");
	TAP_CHECK_STR(r->cand[15], "candidate:15 1 UDP 115 192.0.2.16 5015 typ srflx raddr "
				   "10.0.0.1 rport 9");
	TAP_CHECK(r->end_of_candidates);
	TAP_CHECK_STR(r->ice_ufrag, "abcd");
	TAP_CHECK_STR(r->ice_pwd, "abcdefghijklmnopqrstuvwx");
	g_string_free(t, TRUE);
	g_free(r);
}

/* ---- unit cases: local values and error paths of the builders ---------------------------------- */

static const char *const plain_offer =
	SIP_HEAD "c=IN IP4 192.0.2.5\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 101\r\n"
		 "a=rtpmap:101 telephone-event/8000\r\n";

static void test_local_checks(void)
{
	struct sdp_session *s = parse_new(plain_offer, strlen(plain_offer));
	if (!s)
		return;
	GString *out = g_string_new(NULL);
	char err[128];
	struct b2b_media_local l = local_for(B2B_PROFILE_WEBRTC);
	TAP_CHECK_INT(b2b_sdp_offer(s, B2B_PROFILE_WEBRTC, &l, out, err), 0);
	l.addr = "host.example";
	TAP_CHECK_INT(b2b_sdp_offer(s, B2B_PROFILE_WEBRTC, &l, out, err), EINVAL);
	l = local_for(B2B_PROFILE_WEBRTC);
	l.ice_ufrag = "ab\r\na=x";
	TAP_CHECK_INT(b2b_sdp_offer(s, B2B_PROFILE_WEBRTC, &l, out, err), EINVAL);
	l = local_for(B2B_PROFILE_WEBRTC);
	const char *const inject[] = {"candidate:1 1 udp 1 203.0.113.1 4 typ host\r\na=x:y"};
	l.cand = inject;
	TAP_CHECK_INT(b2b_sdp_offer(s, B2B_PROFILE_WEBRTC, &l, out, err), EINVAL);
	const char *const notcand[] = {"ice-lite"};
	l.cand = notcand;
	TAP_CHECK_INT(b2b_sdp_offer(s, B2B_PROFILE_WEBRTC, &l, out, err), EINVAL);
	l = local_for(B2B_PROFILE_WEBRTC);
	l.fingerprint = "sha-256 00:11";
	TAP_CHECK_INT(b2b_sdp_offer(s, B2B_PROFILE_WEBRTC, &l, out, err), EINVAL);
	l.fingerprint = NULL;
	TAP_CHECK_INT(b2b_sdp_offer_default(B2B_PROFILE_WEBRTC, &l, out), EINVAL);
	l = local_for(B2B_PROFILE_SDES);
	l.crypto_key_len = 16;
	TAP_CHECK_INT(b2b_sdp_offer(s, B2B_PROFILE_SDES, &l, out, err), EINVAL);
	l = local_for(B2B_PROFILE_RTP);
	l.addr = "2001:db8::1";
	g_string_truncate(out, 0);
	TAP_CHECK_INT(b2b_sdp_offer(s, B2B_PROFILE_RTP, &l, out, err), 0);
	TAP_CHECK(strstr(out->str, "o=gorgee 7316549320958261 2 IN IP6 2001:db8::1\r\n") != NULL);
	TAP_CHECK(strstr(out->str, "c=IN IP6 2001:db8::1\r\n") != NULL);
	g_string_free(out, TRUE);
	g_free(s);
}

static void test_answer_errors(void)
{
	const char *rejected = SIP_HEAD "c=IN IP4 192.0.2.9\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\n";
	const char *actpass = SIP_HEAD "c=IN IP4 192.0.2.9\r\nt=0 0\r\n"
			      "m=audio 5000 UDP/TLS/RTP/SAVP 0\r\na=setup:actpass\r\n"
			      "a=fingerprint:sha-1 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:"
			      "FF:00:11:22:33\r\n";
	struct sdp_session *o = parse_new(plain_offer, strlen(plain_offer));
	struct sdp_session *a1 = parse_new(rejected, strlen(rejected));
	struct sdp_session *a2 = parse_new(actpass, strlen(actpass));
	GString *out = g_string_new(NULL);
	char err[128];
	struct b2b_media_local l = local_for(B2B_PROFILE_RTP);
	if (o && a1 && a2) {
		TAP_CHECK_INT(b2b_sdp_answer(o, a1, B2B_PROFILE_RTP, &l, out, err), EPROTO);
		TAP_CHECK_STR(err, "the peer rejected the audio stream");
		TAP_CHECK_INT(b2b_sdp_answer(o, a2, B2B_PROFILE_RTP, &l, out, err), EPROTO);
		TAP_CHECK(strstr(err, "actpass") != NULL);
		TAP_CHECK_INT(b2b_sdp_answer(o, o, B2B_PROFILE_RTP, NULL, out, err), EINVAL);
	}
	TAP_CHECK_INT(out->len, 0);
	g_string_free(out, TRUE);
	g_free(o);
	g_free(a1);
	g_free(a2);
}

/* The answer keeps the offer's proto as written and never sends where the offer said not
 * to, even when the peer answers sendrecv to a sendonly offer (RFC 3264 §6.1). */
static void test_answer_proto_dir(void)
{
	const char *offer = SIP_HEAD "c=IN IP4 192.0.2.5\r\nt=0 0\r\nm=audio 4000 RTP/AVPF 8 0\r\n"
				     "a=rtcp-fb:* nack\r\na=sendonly\r\na=rtcp-mux\r\n";
	const char *peer = SIP_HEAD "c=IN IP4 192.0.2.9\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0 8\r\n"
				    "a=sendrecv\r\na=ptime:30\r\n";
	struct sdp_session *o = parse_new(offer, strlen(offer));
	struct sdp_session *a = parse_new(peer, strlen(peer));
	GString *out = g_string_new(NULL);
	char err[128];
	struct b2b_media_local l = local_for(B2B_PROFILE_RTP);
	l.rtcp_mux = true;
	if (o && a) {
		TAP_CHECK_INT(b2b_sdp_answer(o, a, B2B_PROFILE_RTP, &l, out, err), 0);
		TAP_CHECK(strstr(out->str, "m=audio 40002 RTP/AVPF 0 8\r\n") != NULL);
		TAP_CHECK(strstr(out->str, "a=recvonly\r\n") != NULL);
		TAP_CHECK(strstr(out->str, "a=rtcp-mux\r\n") != NULL);
		TAP_CHECK(strstr(out->str, "a=rtcp:") == NULL); /* muxed */
		TAP_CHECK(strstr(out->str, "a=ptime:30\r\n") != NULL);
		TAP_CHECK(strstr(out->str, "rtcp-fb") == NULL); /* toward WebRTC only */
		TAP_CHECK_INT(b2b_sdp_answer(o, a, B2B_PROFILE_WEBRTC, &l, out, err), EINVAL);
	}
	g_string_free(out, TRUE);
	g_free(o);
	g_free(a);
}

static void test_helpers(void)
{
	TAP_CHECK_INT(b2b_sdp_dir_toward(SDP_DIR_NONE), SDP_DIR_SENDRECV);
	TAP_CHECK_INT(b2b_sdp_dir_toward(SDP_DIR_SENDONLY), SDP_DIR_SENDONLY);
	TAP_CHECK_INT(b2b_sdp_dir_toward(SDP_DIR_INACTIVE), SDP_DIR_INACTIVE);
	struct b2b_media_remote r = {.present = true, .profile = B2B_PROFILE_DTLS};
	TAP_CHECK_INT(b2b_sdp_sip_profile(&r, false, false), B2B_PROFILE_DTLS);
	TAP_CHECK_INT(b2b_sdp_sip_profile(NULL, false, false), B2B_PROFILE_RTP);
	TAP_CHECK_INT(b2b_sdp_sip_profile(NULL, true, false), B2B_PROFILE_SDES);
	r.present = false;
	TAP_CHECK_INT(b2b_sdp_sip_profile(&r, true, false), B2B_PROFILE_SDES);
	TAP_CHECK_INT(b2b_sdp_sip_profile(NULL, false, true), B2B_PROFILE_DTLS);
	TAP_CHECK_INT(b2b_sdp_sip_profile(NULL, true, true), B2B_PROFILE_DTLS);
	r.present = true;
	r.profile = B2B_PROFILE_RTP;
	TAP_CHECK_INT(b2b_sdp_sip_profile(&r, false, true), B2B_PROFILE_RTP);
}

/* What BUNDLE demultiplexing needs from a browser's video m-section; the video index. */
static void test_remote_bundle(void)
{
	gsize n;
	char *text = read_file("offer-chrome-to-rtp", "in.sdp", &n);
	struct sdp_session *s = parse_new(text, n);
	struct b2b_media_remote *r = g_new0(struct b2b_media_remote, 1);
	TAP_CHECK(s != NULL);
	TAP_CHECK_INT(b2b_sdp_video_index(s), 1);
	TAP_CHECK_INT(b2b_sdp_remote_at(s, 1, r, NULL), 0);
	TAP_CHECK_INT(r->mid_ext, 4);
	TAP_CHECK_STR(r->mid, "1");
	TAP_CHECK_INT(r->n_ssrc, 2); /* the FID pair, each once */
	TAP_CHECK(r->ssrc[0] == 1170396012u && r->ssrc[1] == 3392657811u);
	s->media[1].port = 0; /* a rejected video is not relayed */
	TAP_CHECK_INT(b2b_sdp_video_index(s), -1);
	TAP_CHECK_INT(b2b_sdp_video_index(NULL), -1);
	g_free(r);
	g_free(s);
	g_free(text);
}

static const struct tap_case unit_cases[] = {
	{"remote: MID extension id, SSRCs, video index (BUNDLE)", test_remote_bundle, 0},
	{"remote: IPv4, static PTs, RFC 3605 default RTCP port", test_remote_ipv4, 0},
	{"remote: IPv6, a=rtcp, telephone-event at the codec clock", test_remote_ipv6_rtcp, 0},
	{"remote: c=0.0.0.0 hold forms, ICE trickle is not hold", test_remote_hold_forms, 0},
	{"remote: multicast, broadcast, host name c= (BI-21)", test_remote_bad_conn, 0},
	{"remote: no audio, unknown dynamic PT, unknown proto", test_remote_no_audio, 0},
	{"remote: a=crypto choice and key decode (BI-24)", test_remote_crypto, 0},
	{"remote: DTMF PT and clock", test_remote_dtmf, 0},
	{"remote: fingerprint decode, bad hex, missing setup", test_remote_fingerprint, 0},
	{"fingerprint hex decoder", test_fp_decode, 0},
	{"base64 decoder", test_b64_decode, 0},
	{"remote: candidates capped at 16", test_remote_candidates_cap, 0},
	{"local values are checked", test_local_checks, 0},
	{"answer: peer rejected audio, actpass answer", test_answer_errors, 0},
	{"answer: offer's proto kept, direction limited by the offer", test_answer_proto_dir, 0},
	{"dir_toward and sip_profile", test_helpers, 0},
};

int main(int argc, char **argv)
{
	(void)argc;
	tap_exact_heap(argv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	golden_list();
	size_t n_unit = G_N_ELEMENTS(unit_cases);
	struct tap_case *cases = calloc(n_unit + n_golden, sizeof(*cases));
	char **names = calloc(n_golden + 1, sizeof(*names));
	memcpy(cases, unit_cases, sizeof(unit_cases));
	for (size_t i = 0; i < n_golden; i++) {
		names[i] = g_strdup_printf("golden %s", golden_names[i]);
		cases[n_unit + i] = (struct tap_case){names[i], golden_fns[i], 0};
	}
	int rc = tap_run(cases, n_unit + n_golden);
	for (size_t i = 0; i < n_golden; i++) {
		g_free(names[i]);
		g_free(golden_names[i]);
	}
	free(names);
	free(cases);
	return rc;
}
