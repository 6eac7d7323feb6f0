/* b2b_sdp: builds the offers and answers gorgee sends to each leg (RFC 3264, 8829, 8843). */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <string.h>

#include "b2b_sdp.h"

/* One translation's scratch: the session being built and everything its slices point at. */
struct build {
	struct sdp_session *s;     /* the output */
	struct sdp_session *cands; /* local candidates, parsed (NULL when there are none) */
	GString *cand_text;        /* what cands points into */
	GStringChunk *strs;        /* other strings the output points at */
	struct b2b_media_remote *rem; /* the offer (or source) leg's audio */
	struct b2b_media_remote *ans; /* the peer's answer (b2b_sdp_answer) */
	struct b2b_codec codecs[B2B_MAX_CODECS]; /* what the audio m-section carries */
	unsigned n_codecs;
	/* the relayed video m-section: its index (-1 none), both peers' view, its codecs */
	int vidx;
	struct b2b_media_remote *vrem, *vans;
	struct b2b_codec vcodecs[B2B_MAX_CODECS];
	unsigned n_vcodecs;
	uint8_t mid_ext; /* toward WebRTC with video: the MID extension's id (RFC 8843) */
	enum b2b_profile profile; /* of the leg the output goes to */
	const struct b2b_media_local *local;
	bool ip6;
	struct sdp_fingerprint fp; /* local->fingerprint, split */
	char key_b64[72];          /* local SDES key: wiped on free */
	char vkey_b64[72];         /* the video's (local->video_crypto_key or the same) */
	const struct b2b_suite *vsuite; /* the video's SDES suite */
	char *err;
};

/* The large parts come from the thread's scratch blocks (core_scratch_get). */
static struct build *build_new(enum b2b_profile profile, const struct b2b_media_local *local,
			       char *err)
{
	struct build *b = core_scratch_get(sizeof(*b));
	memset(b, 0, sizeof(*b));
	/* an sdp_session is 300 KB of arrays: zero the header here and each m-section as it is
	 * filled (zeroing it all made memset the top of a call's CPU profile) */
	b->s = b2b_sdp_session_new();
	memset(b->s, 0, offsetof(struct sdp_session, media));
	b->s->n_media = 0;
	b->rem = b2b_media_remote_new();
	b->ans = b2b_media_remote_new();
	b->vrem = b2b_media_remote_new();
	b->vans = b2b_media_remote_new();
	b->vidx = -1;
	b->strs = g_string_chunk_new(256);
	b->profile = profile;
	b->local = local;
	b->err = err;
	if (err)
		err[0] = '\0';
	return b;
}

static void build_free(struct build *b)
{
	b2b_media_remote_free(b->rem);
	b2b_media_remote_free(b->ans);
	b2b_media_remote_free(b->vrem);
	b2b_media_remote_free(b->vans);
	memset(b->key_b64, 0, sizeof(b->key_b64));
	memset(b->vkey_b64, 0, sizeof(b->vkey_b64));
	b2b_sdp_session_free(b->s);
	b2b_sdp_session_free(b->cands);
	if (b->cand_text)
		g_string_free(b->cand_text, TRUE);
	g_string_chunk_free(b->strs);
	core_scratch_put(b, sizeof(*b));
}

static struct slice str(struct build *b, const char *s)
{
	const char *p = g_string_chunk_insert(b->strs, s);
	return (struct slice){p, strlen(p)};
}

static struct slice strnum(struct build *b, uint64_t v)
{
	char tmp[24];
	g_snprintf(tmp, sizeof(tmp), "%" PRIu64, v);
	return str(b, tmp);
}

static bool is_dtls(enum b2b_profile p)
{
	return p == B2B_PROFILE_WEBRTC || p == B2B_PROFILE_DTLS;
}

static struct slice profile_proto(enum b2b_profile p)
{
	switch (p) {
	case B2B_PROFILE_WEBRTC: return SLICE_LIT("UDP/TLS/RTP/SAVPF");
	case B2B_PROFILE_SDES: return SLICE_LIT("RTP/SAVP");
	case B2B_PROFILE_DTLS: return SLICE_LIT("UDP/TLS/RTP/SAVP");
	case B2B_PROFILE_RTP: break;
	}
	return SLICE_LIT("RTP/AVP");
}

/* ---- local values: checked, since they end up in SDP text ------------------------------- */

/* ice-char = ALPHA / DIGIT / "+" / "/" (RFC 8839 §5.4), min..256 of them. */
static bool ice_chars(const char *s, size_t min)
{
	size_t n = s ? strlen(s) : 0;
	if (n < min || n > 256)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!g_ascii_isalnum(s[i]) && s[i] != '+' && s[i] != '/')
			return false;
	return true;
}

static bool token_ok(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!g_ascii_isgraph(s[i]))
			return false;
	return true;
}

/* "sha-256 AB:CD:..." (RFC 8122 §5) into b->fp, pointing into local->fingerprint. */
static int fingerprint_split(struct build *b)
{
	static const struct {
		const char *name;
		enum sdp_hash hash;
		size_t bytes;
	} hashes[] = {{"sha-1", SDP_HASH_SHA1, 20},     {"sha-224", SDP_HASH_SHA224, 28},
		      {"sha-256", SDP_HASH_SHA256, 32}, {"sha-384", SDP_HASH_SHA384, 48},
		      {"sha-512", SDP_HASH_SHA512, 64}};
	const char *f = b->local->fingerprint, *sp = f ? strchr(f, ' ') : NULL;
	uint8_t bin[64];
	size_t len;
	if (!sp)
		return EINVAL;
	struct slice name = {f, (size_t)(sp - f)}, value = {sp + 1, strlen(sp + 1)};
	for (size_t i = 0; i < G_N_ELEMENTS(hashes); i++) {
		if (!slice_caseeq(name, hashes[i].name, strlen(hashes[i].name)))
			continue;
		if (!b2b_fp_decode(value, bin, sizeof(bin), &len) || len != hashes[i].bytes)
			return EINVAL;
		b->fp = (struct sdp_fingerprint){hashes[i].hash, name, value};
		return 0;
	}
	return EINVAL;
}

/*
 * The local candidates, parsed by sdp_parse itself from a stub description: the strings
 * come from the relay, but a CR or LF in one would otherwise become SDP lines of its own.
 */
static int candidates_parse(struct build *b)
{
	const struct b2b_media_local *l = b->local;
	if (l->n_cand == 0)
		return 0;
	if (!l->cand || l->n_cand > SDP_MAX_CANDIDATES)
		return EINVAL;
	b->cand_text = g_string_new("v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
				    "m=audio 9 RTP/AVP 0\r\nc=IN IP4 0.0.0.0\r\n");
	for (unsigned i = 0; i < l->n_cand; i++) {
		const char *c = l->cand[i];
		if (!c || strpbrk(c, "\r\n"))
			return EINVAL;
		if (g_str_has_prefix(c, "a="))
			c += 2;
		if (!g_str_has_prefix(c, "candidate:"))
			return EINVAL;
		g_string_append_printf(b->cand_text, "a=%s\r\n", c);
	}
	b->cands = b2b_sdp_session_new(); /* sdp_parse zeroes what it fills */
	if (sdp_parse(b->cand_text->str, b->cand_text->len, b->cands, NULL) != 0 ||
	    b->cands->n_media != 1 || b->cands->media[0].n_cand != l->n_cand)
		return EINVAL;
	return 0;
}

static void b64_encode(const uint8_t *in, size_t n, char *out)
{
	static const char abc[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = abc[v >> 18 & 63];
		out[o++] = abc[v >> 12 & 63];
		out[o++] = i + 1 < n ? abc[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? abc[v & 63] : '=';
	}
	out[o] = '\0';
}

static int local_check(struct build *b)
{
	const struct b2b_media_local *l = b->local;
	unsigned char bin[16];
	if (!l->addr || l->rtp_port == 0)
		return EINVAL;
	if (inet_pton(AF_INET, l->addr, bin) == 1)
		b->ip6 = false;
	else if (inet_pton(AF_INET6, l->addr, bin) == 1)
		b->ip6 = true;
	else
		return EINVAL;
	if (l->username && !token_ok(l->username, 64))
		return EINVAL;
	if (b->profile == B2B_PROFILE_WEBRTC && (!l->ice_ufrag || !l->ice_pwd))
		return EINVAL;
	if (l->ice_ufrag && (!ice_chars(l->ice_ufrag, 4) || !ice_chars(l->ice_pwd, 22)))
		return EINVAL;
	if (is_dtls(b->profile) && fingerprint_split(b) != 0)
		return EINVAL;
	if (b->profile == B2B_PROFILE_SDES) {
		const struct b2b_suite *su = b2b_suite_find(l->crypto_suite);
		if (!su || !l->crypto_key || l->crypto_key_len != su->key_len)
			return EINVAL;
		b64_encode(l->crypto_key, l->crypto_key_len, b->key_b64);
		b->vsuite = l->video_crypto_suite ? b2b_suite_find(l->video_crypto_suite) : su;
		if (!b->vsuite || (b->vsuite != su && !l->video_crypto_key))
			return EINVAL;
		b64_encode(l->video_crypto_key ? l->video_crypto_key : l->crypto_key,
			   b->vsuite->key_len, b->vkey_b64);
	}
	return candidates_parse(b);
}

/* ---- building blocks ------------------------------------------------------------------------ */

static void set_conn(struct build *b, struct sdp_conn *c, bool unspec)
{
	c->present = true;
	c->addrtype = b->ip6 ? SDP_ADDR_IP6 : SDP_ADDR_IP4;
	if (unspec)
		c->address = b->ip6 ? SLICE_LIT("::") : SLICE_LIT("0.0.0.0");
	else
		c->address = str(b, b->local->addr);
	c->suffix = (struct slice){c->address.p + c->address.len, 0};
	c->flags = unspec ? SDP_CONN_UNSPEC : 0;
}

/* v=, o=, s=, t=; toward SIP the c= too (session level, as phones write it). */
static void session_init(struct build *b)
{
	const struct b2b_media_local *l = b->local;
	struct sdp_session *s = b->s;
	s->origin.username = l->username ? str(b, l->username) : SLICE_LIT("-");
	s->origin.sess_id = strnum(b, l->sess_id);
	s->origin.sess_version = strnum(b, l->sess_version);
	s->origin.nettype = SLICE_LIT("IN");
	s->origin.addrtype = b->ip6 ? SLICE_LIT("IP6") : SLICE_LIT("IP4");
	s->origin.address = str(b, l->addr);
	s->name = SLICE_LIT("-");
	s->time[0] = (struct sdp_time){.start = SLICE_LIT("0"), .stop = SLICE_LIT("0")};
	s->n_time = 1;
	if (b->profile != B2B_PROFILE_WEBRTC)
		set_conn(b, &s->common.conn, false);
}

/* rtcp-fb for the kept PTs, toward WebRTC only; transport-cc and goog-remb need header
 * extensions gorgee does not negotiate (draft-holmer-rmcat-transport-wide-cc §4). */
static void copy_rtcpfb(struct sdp_media *m, const struct sdp_media *src)
{
	for (size_t i = 0; src && i < src->n_rtcpfb && i < SDP_MAX_RTCPFB; i++) {
		const struct sdp_rtcpfb *f = &src->rtcpfb[i];
		bool kept = f->wildcard;
		for (size_t j = 0; j < m->n_fmt && !kept; j++)
			kept = m->pt[j] == f->pt;
		if (!kept || slice_eqlit(f->value, "transport-cc") ||
		    slice_eqlit(f->value, "goog-remb"))
			continue;
		m->rtcpfb[m->n_rtcpfb++] = *f;
	}
}

static void put_codecs(struct build *b, struct sdp_media *m, const struct sdp_media *fb_src,
		       const struct b2b_codec *codecs, unsigned n_codecs)
{
	m->rtp = true;
	for (unsigned i = 0; i < n_codecs; i++) {
		const struct b2b_codec *c = &codecs[i];
		m->pt[m->n_fmt] = c->pt;
		m->fmt[m->n_fmt++] = (struct slice){"", 0};
		m->rtpmap[m->n_rtpmap++] = (struct sdp_rtpmap){
			c->pt, (struct slice){c->name, strlen(c->name)}, c->clock, c->channels};
		if (c->fmtp[0])
			m->fmtp[m->n_fmtp++] =
				(struct sdp_fmtp){c->pt, (struct slice){c->fmtp, strlen(c->fmtp)}};
	}
	if (b->profile == B2B_PROFILE_WEBRTC)
		copy_rtcpfb(m, fb_src);
}

/* c=, ports, ICE, DTLS, SDES and rtcp-mux of a relayed m-section. Video toward SIP has
 * its own ports; toward WebRTC it shares the audio's (BUNDLE) and names the MID extension. */
static void put_transport(struct build *b, struct sdp_media *m, bool ice, bool mux,
			  enum sdp_setup setup, uint32_t crypto_tag, bool video)
{
	const struct b2b_media_local *l = b->local;
	bool own = video && b->profile != B2B_PROFILE_WEBRTC;
	m->port = own ? l->video_rtp_port : l->rtp_port;
	if (b->profile == B2B_PROFILE_WEBRTC)
		set_conn(b, &m->common.conn, false);
	m->rtcp_mux = mux;
	uint16_t rtcp = own ? l->video_rtcp_port : l->rtcp_port;
	if (!mux && rtcp) {
		m->rtcp.present = true;
		m->rtcp.port = rtcp;
	}
	if (b->mid_ext && b->profile == B2B_PROFILE_WEBRTC) {
		m->extmap[0] = (struct sdp_extmap){.id = b->mid_ext,
						   .uri = SLICE_LIT(B2B_MID_EXT_URI)};
		m->n_extmap = 1;
	}
	if (ice) {
		m->common.ice.ufrag = str(b, l->ice_ufrag);
		m->common.ice.pwd = str(b, l->ice_pwd);
		if (b->cands) {
			const struct sdp_media *cm = &b->cands->media[0];
			memcpy(m->cand, cm->cand, cm->n_cand * sizeof(cm->cand[0]));
			m->n_cand = cm->n_cand;
		}
		m->end_of_candidates = l->end_of_candidates;
	}
	if (is_dtls(b->profile)) {
		m->common.fp[0] = b->fp;
		m->common.n_fp = 1;
		m->common.setup = setup;
	}
	if (b->profile == B2B_PROFILE_SDES) {
		const struct b2b_suite *su = video ? b->vsuite : b2b_suite_find(l->crypto_suite);
		m->crypto[0] = (struct sdp_crypto){
			.tag = crypto_tag ? crypto_tag : 1,
			.suite_name = (struct slice){su->name, strlen(su->name)},
			.suite = su->suite,
			.key = video ? (struct slice){b->vkey_b64, strlen(b->vkey_b64)}
				     : (struct slice){b->key_b64, strlen(b->key_b64)},
		};
		m->n_crypto = 1;
	}
}

/* A rejected m-section (RFC 3264 §6, §8.2): port 0, one format, no attributes but mid. */
static int put_rejected(struct build *b, struct sdp_media *m, const struct sdp_media *src,
			struct slice proto, struct slice mid)
{
	if (src->n_fmt == 0)
		return EINVAL;
	m->type = src->type;
	m->port = 0;
	m->proto = proto;
	m->rtp = src->rtp;
	m->fmt[0] = src->fmt[0];
	m->pt[0] = src->pt[0];
	m->n_fmt = 1;
	m->mid = mid;
	/* Firefox wants a c= in every m-section when the session has none. */
	if (b->profile == B2B_PROFILE_WEBRTC)
		set_conn(b, &m->common.conn, true);
	return 0;
}

/* Adds mid to the session's BUNDLE group (RFC 8843 §7), made on first use. */
static void put_bundle(struct sdp_session *s, struct slice mid)
{
	s->group[0].semantics = SLICE_LIT("BUNDLE");
	if (s->group[0].n_mid < SDP_MAX_GROUP_MIDS)
		s->group[0].mid[s->group[0].n_mid++] = mid;
	s->n_group = 1;
}

static bool has_media_in(const struct b2b_codec *codecs, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (b2b_codec_is_media(&codecs[i]))
			return true;
	return false;
}

static bool has_media_codec(const struct build *b)
{
	return has_media_in(b->codecs, b->n_codecs);
}

static bool is_event(const struct b2b_codec *c)
{
	return g_ascii_strcasecmp(c->name, "telephone-event") == 0;
}

/* The clock of the first media codec of b's list (what the leg will send), 0 = none. */
static uint32_t media_clock(const struct build *b)
{
	for (unsigned i = 0; i < b->n_codecs; i++)
		if (b2b_codec_is_media(&b->codecs[i]))
			return b->codecs[i].clock;
	return 0;
}

/* Whether b's list has a telephone-event at clock (0: at any clock). */
static bool has_event(const struct build *b, uint32_t clock)
{
	for (unsigned i = 0; i < b->n_codecs; i++)
		if (is_event(&b->codecs[i]) && (!clock || b->codecs[i].clock == clock))
			return true;
	return false;
}

static bool pt_used(const struct build *b, unsigned pt)
{
	for (unsigned i = 0; i < b->n_codecs; i++)
		if (b->codecs[i].pt == pt)
			return true;
	return false;
}

/*
 * Toward a browser: when the offer has telephone-event only at other clocks than its first
 * codec's (a phone's opus with telephone-event/8000), also offer telephone-event at that
 * clock on a free dynamic PT. Chrome sends events with the telephone-event matching its
 * send codec's clock and sends end-only events at a mismatched one; the relay translates
 * (relay_session_map_events).
 */
static void add_browser_event(struct build *b)
{
	uint32_t clock = media_clock(b);
	if (b->profile != B2B_PROFILE_WEBRTC || !clock || !has_event(b, 0) ||
	    has_event(b, clock) || b->n_codecs >= B2B_MAX_CODECS)
		return;
	unsigned pt = clock == 48000 && !pt_used(b, 110) ? 110 : 96;
	while (pt < 128 && pt_used(b, pt))
		pt++;
	if (pt >= 128)
		return;
	b->codecs[b->n_codecs++] = (struct b2b_codec){(uint8_t)pt, "telephone-event", clock, 0, "0-16"};
}

/* Toward a browser only the telephone-event at the clock of its send codec, when there is
 * one: Chrome picks among several by its own rules, not always that one. */
static void drop_other_events(struct build *b)
{
	uint32_t clock = media_clock(b);
	if (b->profile != B2B_PROFILE_WEBRTC || !has_event(b, clock))
		return;
	unsigned n = 0;
	for (unsigned i = 0; i < b->n_codecs; i++)
		if (!is_event(&b->codecs[i]) || b->codecs[i].clock == clock)
			b->codecs[n++] = b->codecs[i];
	b->n_codecs = n;
}

/*
 * An answer's telephone-event: each leg keeps its own and the relay translates PT and clock
 * (media.c). When the peer answered telephone-event only at a clock the offerer did not
 * offer or will not send with (a phone's /8000 with a browser's opus, a browser's /48000
 * toward a phone's /8000), the answer to the offerer keeps the offer's telephone-event at
 * the clock of its send codec, else the offer's first one.
 */
static void keep_events(struct build *b, const struct b2b_media_remote *o,
			const struct b2b_media_remote *a)
{
	bool peer_events = false;
	for (unsigned i = 0; i < a->n_codecs; i++)
		peer_events = peer_events || is_event(&a->codecs[i]);
	uint32_t clock = media_clock(b);
	if (!peer_events || !clock)
		return;
	const struct b2b_codec *pick = NULL;
	for (unsigned j = 0; j < o->n_codecs && !has_event(b, clock); j++)
		if (is_event(&o->codecs[j]) && o->codecs[j].clock == clock)
			pick = &o->codecs[j];
	for (unsigned j = 0; j < o->n_codecs && !pick && !has_event(b, 0); j++)
		if (is_event(&o->codecs[j]))
			pick = &o->codecs[j];
	if (pick && !pt_used(b, pick->pt) && b->n_codecs < B2B_MAX_CODECS)
		b->codecs[b->n_codecs++] = *pick;
	drop_other_events(b);
}

/* ---- offers ------------------------------------------------------------------------------- */

/*
 * The video m-section of src to relay toward b->profile (b->vidx, else -1: rejected): the
 * codecs the target can carry whose PTs the audio does not use (toward a browser one
 * BUNDLE transport is demultiplexed by PT last, RFC 8843 §9.2). Toward DTLS-SRTP SIP peers
 * the video has its own ports and its own association (RFC 5764 without BUNDLE).
 */
static void video_offer(struct build *b, const struct sdp_session *src)
{
	int idx = b2b_sdp_video_index(src);
	if (idx < 0 || !b->local->video_rtp_port ||
	    b2b_sdp_remote_at(src, (unsigned)idx, b->vrem, NULL) != 0)
		return;
	for (unsigned i = 0; i < b->vrem->n_codecs; i++) {
		const struct b2b_codec *c = &b->vrem->codecs[i];
		if (b2b_codec_carried(c, b->profile) &&
		    !(b->profile == B2B_PROFILE_WEBRTC && pt_used(b, c->pt)))
			b->vcodecs[b->n_vcodecs++] = *c;
	}
	if (!has_media_in(b->vcodecs, b->n_vcodecs))
		return;
	b->vidx = idx;
	if (b->profile == B2B_PROFILE_WEBRTC)
		b->mid_ext = b->rem->mid_ext ? b->rem->mid_ext : b->vrem->mid_ext ? b->vrem->mid_ext : 1;
}

/*
 * The offer's m-sections mirror src's one to one (src NULL: one audio m-section). Toward
 * WebRTC every m-section needs a mid (RFC 8829 §5.2.1): src's when all have one, else the
 * index.
 */
static int build_offer(struct build *b, const struct sdp_session *src, unsigned audio,
		       enum sdp_dir dir, uint32_t ptime, uint32_t maxptime)
{
	const struct b2b_media_local *l = b->local;
	struct sdp_session *s = b->s;
	size_t n = src ? src->n_media : 1;
	bool src_mids = src != NULL;
	for (size_t i = 0; src && i < n; i++)
		src_mids = src_mids && src->media[i].mid.len;
	session_init(b);
	for (size_t i = 0; i < n; i++) {
		struct sdp_media *m = &s->media[i];
		sdp_media_clear(m);
		const struct sdp_media *sm = src ? &src->media[i] : NULL;
		struct slice mid = {"", 0};
		if (b->profile == B2B_PROFILE_WEBRTC)
			mid = src_mids ? sm->mid : strnum(b, i);
		s->n_media++;
		bool video = (int)i == b->vidx;
		if (i != audio && !video) {
			int rc = put_rejected(b, m, sm, sm->rtp ? profile_proto(b->profile) : sm->proto,
					      mid);
			if (rc)
				return rc;
			continue;
		}
		m->type = video ? SLICE_LIT("video") : SLICE_LIT("audio");
		m->proto = profile_proto(b->profile);
		m->mid = mid;
		if (video)
			put_codecs(b, m, sm, b->vcodecs, b->n_vcodecs);
		else
			put_codecs(b, m, sm, b->codecs, b->n_codecs);
		bool ice = l->ice_ufrag && is_dtls(b->profile);
		bool mux = b->profile == B2B_PROFILE_WEBRTC ||
			   (video ? l->video_rtcp_mux : l->rtcp_mux);
		/* RFC 5763 §5: the offerer says actpass unless it keeps an established role. */
		enum sdp_setup setup = l->setup == SDP_SETUP_NONE ? SDP_SETUP_ACTPASS : l->setup;
		put_transport(b, m, ice, mux, setup, l->crypto_tag, video);
		m->common.dir = b2b_sdp_dir_toward(video ? b->vrem->dir : dir);
		if (!video) {
			m->ptime = ptime ? ptime : b->profile == B2B_PROFILE_WEBRTC ? 0 : 20;
			m->maxptime = maxptime;
		}
		if (b->profile == B2B_PROFILE_WEBRTC)
			put_bundle(s, mid);
	}
	return 0;
}

int b2b_sdp_offer(const struct sdp_session *in_offer, enum b2b_profile target,
		  const struct b2b_media_local *local, GString *out, char err[128])
{
	if (!in_offer || !local || !out || in_offer->n_media > SDP_MAX_MEDIA)
		return EINVAL;
	struct build *b = build_new(target, local, err);
	int rc = local_check(b);
	if (!rc)
		rc = b2b_sdp_remote(in_offer, b->rem, err);
	if (!rc && !b->rem->present)
		rc = b2b_fail(err, "no audio m-section with a port to offer");
	for (unsigned i = 0; !rc && i < b->rem->n_codecs; i++)
		if (b2b_codec_carried(&b->rem->codecs[i], target))
			b->codecs[b->n_codecs++] = b->rem->codecs[i];
	if (!rc && !has_media_codec(b))
		rc = b2b_fail(err, "no offered codec can be carried to a %s leg",
			      b2b_profile_name(target));
	if (!rc) {
		add_browser_event(b);
		drop_other_events(b);
		video_offer(b, in_offer);
	}
	if (!rc) {
		const struct sdp_media *am = &in_offer->media[b->rem->m_index];
		rc = build_offer(b, in_offer, b->rem->m_index, b->rem->dir, am->ptime,
				 am->maxptime);
	}
	if (!rc)
		rc = sdp_print(b->s, out);
	build_free(b);
	return rc;
}

int b2b_sdp_offer_default(enum b2b_profile target, const struct b2b_media_local *local,
			  GString *out)
{
	/* Chrome's numbers, so a browser leg keeps the PTs it would have chosen itself. */
	static const struct b2b_codec defaults[] = {
		{111, "opus", 48000, 2, "minptime=10;useinbandfec=1"},
		{9, "G722", 8000, 0, ""},
		{0, "PCMU", 8000, 0, ""},
		{8, "PCMA", 8000, 0, ""},
		{110, "telephone-event", 48000, 0, "0-16"},
		{101, "telephone-event", 8000, 0, "0-16"},
	};
	if (!local || !out)
		return EINVAL;
	struct build *b = build_new(target, local, NULL);
	int rc = local_check(b);
	memcpy(b->codecs, defaults, sizeof(defaults));
	b->n_codecs = G_N_ELEMENTS(defaults);
	if (!rc)
		rc = build_offer(b, NULL, 0, SDP_DIR_SENDRECV, 0, 0);
	if (!rc)
		rc = sdp_print(b->s, out);
	build_free(b);
	return rc;
}

/* ---- answers ------------------------------------------------------------------------------- */

static bool sends(enum sdp_dir d)
{
	return d == SDP_DIR_SENDRECV || d == SDP_DIR_SENDONLY;
}

static bool recvs(enum sdp_dir d)
{
	return d == SDP_DIR_SENDRECV || d == SDP_DIR_RECVONLY;
}

/*
 * What gorgee answers the offering leg: it sends what the peer sends if the offerer
 * receives, and receives what the offerer sends if the peer receives (RFC 3264 §6.1).
 */
static enum sdp_dir answer_dir(enum sdp_dir offer, enum sdp_dir peer)
{
	bool snd = recvs(offer) && sends(peer), rcv = sends(offer) && recvs(peer);
	return snd && rcv ? SDP_DIR_SENDRECV
	       : snd	  ? SDP_DIR_SENDONLY
	       : rcv	  ? SDP_DIR_RECVONLY
			  : SDP_DIR_INACTIVE;
}

/* RFC 5763 §5 / RFC 4145 §4.1: the answerer takes the role the offer leaves it. */
static enum sdp_setup answer_setup(enum sdp_setup offered, enum sdp_setup mine)
{
	switch (offered) {
	case SDP_SETUP_ACTIVE: return SDP_SETUP_PASSIVE;
	case SDP_SETUP_PASSIVE: return SDP_SETUP_ACTIVE;
	case SDP_SETUP_HOLDCONN: return SDP_SETUP_HOLDCONN;
	default: break;
	}
	return mine == SDP_SETUP_PASSIVE ? SDP_SETUP_PASSIVE : SDP_SETUP_ACTIVE;
}

/* The answer's codecs, in its order, as the offer named them (PT, rtpmap), into out. */
static void intersect_codecs(const struct b2b_media_remote *o, const struct b2b_media_remote *a,
			     enum b2b_profile profile, struct b2b_codec *out, unsigned *n)
{
	*n = 0;
	for (unsigned i = 0; i < a->n_codecs; i++) {
		const struct b2b_codec *ac = &a->codecs[i], *oc = NULL;
		for (unsigned j = 0; j < o->n_codecs && !oc; j++)
			if (o->codecs[j].pt == ac->pt && b2b_codec_same(&o->codecs[j], ac))
				oc = &o->codecs[j];
		/* RFC 3264 §6.1 only says SHOULD keep the offer's PT: match by name too. */
		for (unsigned j = 0; j < o->n_codecs && !oc; j++)
			if (b2b_codec_same(&o->codecs[j], ac))
				oc = &o->codecs[j];
		if (!oc || !b2b_codec_carried(oc, profile))
			continue;
		bool dup = false;
		for (unsigned j = 0; j < *n; j++)
			dup = dup || out[j].pt == oc->pt;
		if (dup)
			continue;
		struct b2b_codec *c = &out[(*n)++];
		*c = *oc;
		if (ac->fmtp[0])
			memcpy(c->fmtp, ac->fmtp, sizeof(c->fmtp));
	}
}

static int intersect(struct build *b)
{
	const struct b2b_media_remote *o = b->rem, *a = b->ans;
	intersect_codecs(o, a, b->profile, b->codecs, &b->n_codecs);
	if (!has_media_codec(b))
		return b2b_fail(b->err, "no common codec");
	keep_events(b, o, a);
	return 0;
}

static bool in_bundle(const struct sdp_session *s, struct slice mid)
{
	for (size_t i = 0; mid.len && i < s->n_group && i < SDP_MAX_GROUPS; i++) {
		if (!slice_eqlit(s->group[i].semantics, "BUNDLE"))
			continue;
		for (size_t j = 0; j < s->group[i].n_mid && j < SDP_MAX_GROUP_MIDS; j++)
			if (slice_eq(s->group[i].mid[j], mid.p, mid.len))
				return true;
	}
	return false;
}

/*
 * The video of an answer (b->vidx, else -1: answered with port 0): the offer's relayed
 * video m-section when the peer accepted it with a codec in common.
 */
static void video_answer(struct build *b, const struct sdp_session *offer,
			 const struct sdp_session *peer)
{
	int idx = b2b_sdp_video_index(offer);
	if (idx < 0 || !b->local->video_rtp_port || (unsigned)idx >= peer->n_media)
		return;
	const struct sdp_media *pm = &peer->media[idx];
	if (!slice_eqlit(pm->type, "video") || pm->port == 0 || !pm->rtp ||
	    b2b_sdp_remote_at(offer, (unsigned)idx, b->vrem, NULL) != 0 ||
	    b2b_sdp_remote_at(peer, (unsigned)idx, b->vans, NULL) != 0 ||
	    b->vrem->profile != b->rem->profile)
		return;
	intersect_codecs(b->vrem, b->vans, b->profile, b->vcodecs, &b->n_vcodecs);
	if (!has_media_in(b->vcodecs, b->n_vcodecs))
		return;
	b->vidx = idx;
	if (b->profile == B2B_PROFILE_WEBRTC)
		b->mid_ext = b->rem->mid_ext ? b->rem->mid_ext : b->vrem->mid_ext;
}

static int build_answer(struct build *b, const struct sdp_session *offer,
			const struct sdp_media *peer_m)
{
	const struct b2b_media_local *l = b->local;
	const struct b2b_media_remote *o = b->rem, *a = b->ans;
	struct sdp_session *s = b->s;
	session_init(b);
	for (size_t i = 0; i < offer->n_media; i++) {
		struct sdp_media *m = &s->media[i];
		sdp_media_clear(m);
		const struct sdp_media *om = &offer->media[i];
		s->n_media++;
		bool video = (int)i == b->vidx;
		if (i != o->m_index && !video) {
			int rc = put_rejected(b, m, om, om->proto, om->mid);
			if (rc)
				return rc;
			continue;
		}
		const struct b2b_media_remote *ro = video ? b->vrem : o, *ra = video ? b->vans : a;
		m->type = om->type;
		m->proto = om->proto; /* RFC 3264 §6: the answer keeps the offer's transport */
		m->mid = om->mid;
		if (video)
			put_codecs(b, m, om, b->vcodecs, b->n_vcodecs);
		else
			put_codecs(b, m, om, b->codecs, b->n_codecs);
		bool ice = b->profile == B2B_PROFILE_WEBRTC || (ro->ice_ufrag[0] && l->ice_ufrag);
		bool mux = ro->rtcp_mux && (b->profile == B2B_PROFILE_WEBRTC ||
					    (video ? l->video_rtcp_mux : l->rtcp_mux));
		put_transport(b, m, ice, mux, answer_setup(ro->setup, l->setup), ro->crypto_tag,
			      video);
		m->common.dir = answer_dir(ro->dir, ra->dir);
		if (!video) {
			m->ptime = a->ptime;
			if (!m->ptime && b->profile != B2B_PROFILE_WEBRTC)
				m->ptime = o->ptime ? o->ptime : 20;
			m->maxptime = peer_m->maxptime;
		}
		if (in_bundle(offer, om->mid))
			put_bundle(s, om->mid);
	}
	return 0;
}

int b2b_sdp_answer(const struct sdp_session *in_offer, const struct sdp_session *peer_answer,
		   enum b2b_profile offer_profile, const struct b2b_media_local *local,
		   GString *out, char err[128])
{
	if (!in_offer || !peer_answer || !local || !out || in_offer->n_media > SDP_MAX_MEDIA ||
	    peer_answer->n_media > SDP_MAX_MEDIA)
		return EINVAL;
	struct build *b = build_new(offer_profile, local, err);
	const struct sdp_media *pm = NULL;
	int rc = local_check(b);
	if (!rc)
		rc = b2b_sdp_remote(in_offer, b->rem, err);
	if (!rc && !b->rem->present)
		rc = b2b_fail(err, "the offer has no audio m-section with a port");
	/* The answer keeps the offer's transport (RFC 3264 §6): no other profile fits. */
	if (!rc && offer_profile != b->rem->profile)
		rc = EINVAL;
	if (!rc) {
		unsigned idx = b->rem->m_index;
		pm = idx < peer_answer->n_media ? &peer_answer->media[idx] : NULL;
		if (!pm || !slice_eqlit(pm->type, "audio") || pm->port == 0 || !pm->rtp)
			rc = b2b_fail(err, "the peer rejected the audio stream");
	}
	if (!rc)
		rc = b2b_sdp_remote_at(peer_answer, b->rem->m_index, b->ans, err);
	if (!rc && is_dtls(b->ans->profile) && b->ans->setup == SDP_SETUP_ACTPASS)
		rc = b2b_fail(err, "the peer answered a=setup:actpass (RFC 5763 §5)");
	if (!rc && b->rem->profile == B2B_PROFILE_SDES && offer_profile == B2B_PROFILE_SDES &&
	    local->crypto_suite != b->rem->crypto_suite)
		rc = EINVAL; /* the local key must be for the suite the offer chose */
	if (!rc)
		rc = intersect(b);
	if (!rc)
		video_answer(b, in_offer, peer_answer);
	if (!rc)
		rc = build_answer(b, in_offer, pm);
	if (!rc)
		rc = sdp_print(b->s, out);
	build_free(b);
	return rc;
}
