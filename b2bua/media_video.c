/* A call's video (the relay's stream 1) in each call shape, and payload type translation
 * between legs that number a codec differently. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/crypto.h>

#include "media_int.h"

static const char *const log_module = "media";

/*
 * The call shapes video is relayed in:
 *  - BUNDLE: one browser (its ICE endpoint carries audio and video, RFC 8843) and one SIP
 *    leg (ports of its own per m-section): stream 1, bundled on the browser's side;
 *  - SIP: two SIP legs, each with ports of its own per m-section: stream 1 on both sides,
 *    none bundled (RELAY_BUNDLE_NONE); plain RTP or SDES-SRTP on each side;
 *  - WEBRTC: two browsers: no stream; each ICE endpoint carries both m-sections, which
 *    gorgee's offer numbers as the offerer did (mids, PTs, MID extension id), so packets
 *    pass as they are (PTs an answer renumbers are translated, media_map_pts).
 * A SIP leg's video is plain RTP, SDES-SRTP or DTLS-SRTP (UDP/TLS/RTP/SAVP: an association
 * of its own on the video ports, RFC 5764 without BUNDLE), as its audio.
 */
enum shape { SHAPE_NONE, SHAPE_BUNDLE, SHAPE_SIP, SHAPE_WEBRTC };

static enum shape shape_of(const struct call_media *m)
{
	bool w0 = m->prof[0] == B2B_PROFILE_WEBRTC, w1 = m->prof[1] == B2B_PROFILE_WEBRTC;
	if (m->webrtc[0] && m->webrtc[1])
		return w0 && w1 ? SHAPE_WEBRTC : SHAPE_NONE;
	if (m->webrtc[0] != m->webrtc[1])
		return (m->webrtc[0] ? w0 : w1) ? SHAPE_BUNDLE : SHAPE_NONE;
	return SHAPE_SIP;
}

static int browser_side(const struct call_media *m)
{
	return m->webrtc[0] ? 0 : 1;
}

/* Whether leg `side` has video ports of its own (a SIP leg in the BUNDLE or SIP shape). */
static bool own_ports(const struct call_media *m, int side)
{
	enum shape sh = shape_of(m);
	return sh == SHAPE_SIP || (sh == SHAPE_BUNDLE && side != browser_side(m));
}

static void add_pt(uint8_t *pts, unsigned *n, uint8_t pt)
{
	for (unsigned j = 0; j < *n; j++)
		if (pts[j] == pt)
			return;
	if (*n < RELAY_MAX_PT_ALLOW)
		pts[(*n)++] = pt;
}

/* ---- SDES: the video's own key toward a leg ---- */

/* Makes (or keeps) our outbound video key toward `side` for suite (RFC 4568 §6.1). */
static void vkey_make(struct call_media *m, int side, enum sdp_crypto_suite suite)
{
	const struct b2b_suite *bs = b2b_suite_find(suite);
	if (!bs)
		return;
	if (m->vkey_out_len[side] && m->vsuite_out[side] == suite)
		return;
	m->vsuite_out[side] = suite;
	m->vkey_out_len[side] = bs->key_len;
	if (getrandom(m->vkey_out[side], bs->key_len, 0) != (ssize_t)bs->key_len)
		g_error("getrandom failed"); /* the kernel's CSPRNG does not fail for 46 bytes */
}

void media_video_local(struct call_media *m, int side, struct b2b_media_local *l)
{
	if (m->prof[side] == B2B_PROFILE_SDES) {
		/* an offer toward the leg: the audio's suite unless its own offer chose another */
		if (!m->vkey_out_len[side])
			vkey_make(m, side, m->suite_out[side]);
		if (m->vkey_out_len[side]) { /* else no SDES key yet: b2b_sdp refuses to build */
			l->video_crypto_suite = m->vsuite_out[side];
			l->video_crypto_key = m->vkey_out[side];
		}
	}
	if (!m->video)
		return;
	if (own_ports(m, side)) {
		l->video_rtp_port = m->vlocal[side].rtp_port;
		l->video_rtcp_port = m->vlocal[side].rtcp_port;
		l->video_rtcp_mux = m->vep[side].rtcp_mux;
	} else {
		l->video_rtp_port = l->rtp_port; /* bundled with the audio */
		l->video_rtcp_port = 0;
	}
}

void media_video_clear(struct call_media *m)
{
	OPENSSL_cleanse(m->vkey_out, sizeof(m->vkey_out));
	OPENSSL_cleanse(m->vkey_in, sizeof(m->vkey_in));
}

/* ---- what each leg's SDP says ---- */

static void demux_from(struct relay_demux *d, const struct b2b_media_remote *r)
{
	memset(d, 0, sizeof(*d));
	g_strlcpy(d->mid, r->mid, sizeof(d->mid));
	for (unsigned i = 0; i < r->n_ssrc && i < RELAY_MAX_SSRC; i++)
		d->ssrc[d->n_ssrc++] = r->ssrc[i];
	for (unsigned i = 0; i < r->n_codecs && d->n_pt < RELAY_MAX_PT_ALLOW; i++)
		d->pt[d->n_pt++] = r->codecs[i].pt;
	d->clock_rate = r->clock_rate;
}

/*
 * What the WebRTC leg signalled (its offer or answer, or the offer gorgee sent it): the
 * mids, MID extension, SSRCs and PTs the bundled endpoint demultiplexes by.
 */
static void browser_sdp(struct call_media *m, const struct sdp_session *s)
{
	struct b2b_media_remote *r = b2b_media_remote_new();
	int vidx = b2b_sdp_video_index(s);
	m->mid_ext = 0;
	if (b2b_sdp_remote(s, r, NULL) == 0 && r->present) {
		demux_from(&m->dmx[0], r);
		m->mid_ext = r->mid_ext;
	}
	if (vidx >= 0 && b2b_sdp_remote_at(s, (unsigned)vidx, r, NULL) == 0) {
		demux_from(&m->dmx[1], r);
		m->mid_ext = m->mid_ext ? m->mid_ext : r->mid_ext;
	}
	b2b_media_remote_free(r);
}

/* The SDES part of a SIP leg's video m-section r: its key in, and our key out in the suite
 * it offered, or (answer) the one we offered. */
static bool sip_sdes(struct call_media *m, int side, const struct b2b_media_remote *r,
		     bool answer)
{
	struct relay_endpoint_params *ep = &m->vep[side];
	ep->srtp = media_relay_suite(r->crypto_suite);
	if (m->prof[side] != B2B_PROFILE_SDES || ep->srtp == RELAY_SRTP_NONE)
		return false;
	if (answer && r->crypto_suite != m->vsuite_out[side])
		return false; /* not the suite our offer's a=crypto gave (BI-24) */
	if (!answer)
		vkey_make(m, side, r->crypto_suite);
	memcpy(m->vkey_in[side], r->crypto_key, r->crypto_key_len);
	m->vkey_in_len[side] = r->crypto_key_len;
	return m->vkey_out_len[side] > 0;
}

/*
 * A SIP leg's video m-section (in s, its offer or answer) as its stream 1 endpoint; s NULL:
 * the endpoint waits for an answer with no address. Returns whether video can be relayed.
 */
static bool sip_sdp(struct call_media *m, int side, const struct sdp_session *s, bool answer)
{
	struct relay_endpoint_params *ep = &m->vep[side];
	memset(ep, 0, sizeof(*ep));
	OPENSSL_cleanse(m->vkey_in[side], sizeof(m->vkey_in[side]));
	m->vkey_in_len[side] = 0;
	ep->kind = RELAY_EP_UDP;
	ep->clock_rate = 90000;
	ep->dtls = m->prof[side] == B2B_PROFILE_DTLS;
	ep->ice.dtls_role = RELAY_DTLS_PASSIVE; /* until its SDP says (no handshake before) */
	if (!s)
		return true;
	int vidx = b2b_sdp_video_index(s);
	if (vidx < 0)
		return false;
	struct b2b_media_remote *r = b2b_media_remote_new();
	bool ok = b2b_sdp_remote_at(s, (unsigned)vidx, r, NULL) == 0 &&
		  (r->profile == B2B_PROFILE_DTLS) == ep->dtls && r->profile != B2B_PROFILE_WEBRTC;
	if (ok) {
		for (unsigned i = 0; i < r->n_codecs; i++)
			add_pt(ep->pt_allow, &ep->n_pt_allow, r->codecs[i].pt);
		for (unsigned i = 0; answer && i < m->n_voffer_pt; i++)
			add_pt(ep->pt_allow, &ep->n_pt_allow, m->voffer_pt[i]);
		ep->learn = true;
		ep->rtcp_mux = r->rtcp_mux;
		if (r->addr[0])
			ok = media_set_addr(&ep->remote_rtp, r->family, r->addr, r->rtp_port) &&
			     media_set_addr(&ep->remote_rtcp, r->family, r->addr, r->rtcp_port);
		if (ok && r->profile == B2B_PROFILE_SDES)
			ok = sip_sdes(m, side, r, answer);
		if (ok && ep->dtls) { /* the role our SDP takes for this m-section (b2b_sdp) */
			media_set_fingerprint(&ep->ice, r);
			ep->ice.dtls_role = media_dtls_role(m, side, r->setup);
		}
	}
	b2b_media_remote_free(r);
	return ok;
}

/* Tells the relay the streams: audio alone, or audio and video (stream 1). */
static int streams_sync(struct call_media *m, const char **why)
{
	enum shape sh = shape_of(m);
	if (!m->rs || sh == SHAPE_WEBRTC || sh == SHAPE_NONE || (!m->video && !m->streams_set))
		return 0;
	struct relay_streams st;
	struct relay_local xl[2][RELAY_MAX_STREAMS - 1];
	struct secret *keys[2][2] = {{NULL, NULL}, {NULL, NULL}};
	memset(&st, 0, sizeof(st));
	st.n = m->video ? 2 : 1;
	st.bundled = sh == SHAPE_BUNDLE ? (unsigned)browser_side(m) : RELAY_BUNDLE_NONE;
	st.mid_ext_id = m->mid_ext;
	st.demux[0] = m->dmx[0];
	st.demux[1] = m->dmx[1];
	for (int i = 0; i < 2; i++) {
		if (!own_ports(m, i))
			continue;
		st.ep[i][0] = m->vep[i];
		if (m->video && m->vep[i].srtp != RELAY_SRTP_NONE) {
			keys[i][0] = secret_new((const char *)m->vkey_in[i], m->vkey_in_len[i]);
			keys[i][1] = secret_new((const char *)m->vkey_out[i], m->vkey_out_len[i]);
			st.ep[i][0].key_in = keys[i][0];
			st.ep[i][0].key_out = keys[i][1];
		}
	}
	int rc = relay_session_set_streams(m->rs, &st, xl);
	for (int i = 0; i < 2; i++) {
		secret_free(keys[i][0]);
		secret_free(keys[i][1]);
	}
	if (rc) {
		LOGW(log_module, &(struct log_ctx){.call_id = m->call->id}, "video streams: %s",
		     g_strerror(rc));
		return media_relay_status(rc, why);
	}
	m->streams_set = true;
	m->vlocal[0] = xl[0][0];
	m->vlocal[1] = xl[1][0];
	return 0;
}

/* ---- offer and answer ---- */

int media_video_on_offer(struct call_media *m, int from, const struct sdp_session *s,
			 const char **why)
{
	enum shape sh = shape_of(m);
	if (sh == SHAPE_NONE)
		return 0;
	int vidx = b2b_sdp_video_index(s);
	m->n_voffer_pt = 0;
	if (vidx >= 0) {
		const struct sdp_media *vm = &s->media[vidx];
		for (size_t i = 0; i < vm->n_fmt && m->n_voffer_pt < RELAY_MAX_PT_ALLOW; i++)
			m->voffer_pt[m->n_voffer_pt++] = vm->pt[i];
	}
	if (sh == SHAPE_WEBRTC) {
		m->video = vidx >= 0;
		return 0;
	}
	bool was = m->video;
	if (sh == SHAPE_BUNDLE && from == browser_side(m)) {
		browser_sdp(m, s);
		/* a re-offer keeps the SIP leg's video endpoint until that leg answers */
		m->video = vidx >= 0 && (was || sip_sdp(m, !from, NULL, false));
	} else {
		m->video = sip_sdp(m, from, s, false);
		/* SIP to SIP: the other leg's endpoint is kept through a re-offer, as above */
		if (m->video && sh == SHAPE_SIP && !was)
			sip_sdp(m, !from, NULL, false);
	}
	return streams_sync(m, why);
}

int media_video_offer_sent(struct call_media *m, int to, const GString *sent, const char **why)
{
	enum shape sh = shape_of(m);
	if (sh == SHAPE_NONE || !m->video)
		return 0;
	struct sdp_session *s = b2b_sdp_session_new();
	struct sdp_error perr;
	if (sdp_parse(sent->str, sent->len, s, &perr) != 0 || b2b_sdp_video_index(s) < 0)
		m->video = false;
	else if (sh == SHAPE_BUNDLE && to == browser_side(m))
		browser_sdp(m, s);
	b2b_sdp_session_free(s);
	return streams_sync(m, why);
}

/* Two browsers: no streams in the relay, but its counters per stream all the same, by the
 * video PTs of the offer and of answer s (relay_session_count_by_pt). */
static void count_by_pt(struct call_media *m, const struct sdp_session *s)
{
	struct relay_pt_kinds k = {0};
	int vidx = b2b_sdp_video_index(s);
	m->video = vidx >= 0;
	for (unsigned i = 0; m->video && i < m->n_voffer_pt; i++)
		add_pt(k.pt, &k.n, m->voffer_pt[i]);
	for (size_t i = 0; m->video && i < s->media[vidx].n_fmt; i++)
		add_pt(k.pt, &k.n, s->media[vidx].pt[i]);
	for (unsigned i = 0; m->rs && i < 2; i++)
		relay_session_count_by_pt(m->rs, i, &k);
}

int media_video_on_answer(struct call_media *m, int from, const struct sdp_session *s,
			  const char **why)
{
	enum shape sh = shape_of(m);
	if (sh == SHAPE_WEBRTC && (m->video || b2b_sdp_video_index(s) < 0)) {
		count_by_pt(m, s); /* on, or off once video is gone */
		return 0;
	}
	if (sh == SHAPE_NONE || sh == SHAPE_WEBRTC || !m->video)
		return 0;
	if (sh == SHAPE_BUNDLE && from == browser_side(m)) {
		browser_sdp(m, s);
		m->video = b2b_sdp_video_index(s) >= 0;
	} else {
		m->video = sip_sdp(m, from, s, true);
	}
	return streams_sync(m, why);
}

void media_video_allow(struct call_media *m, const struct sdp_session *s, bool answer,
		       struct relay_endpoint_params *ep)
{
	if (shape_of(m) != SHAPE_WEBRTC || !s)
		return;
	int vidx = b2b_sdp_video_index(s);
	if (vidx < 0)
		return;
	const struct sdp_media *vm = &s->media[vidx];
	for (size_t i = 0; i < vm->n_fmt; i++)
		add_pt(ep->pt_allow, &ep->n_pt_allow, vm->pt[i]);
	for (unsigned i = 0; answer && i < m->n_voffer_pt; i++)
		add_pt(ep->pt_allow, &ep->n_pt_allow, m->voffer_pt[i]);
}

/* ---- payload type translation (RFC 3264 §6.1) ---- */

static bool is_event(const struct b2b_codec *c)
{
	return g_ascii_strcasecmp(c->name, "telephone-event") == 0;
}

/*
 * The codecs answer a numbers otherwise than offer o: into[]: offer PT -> answer PT (what
 * the offerer sends, as the answerer receives it), back[]: answer PT -> offer PT (an
 * answerer that sends with its own numbers). A PT of back that the offer gave another
 * agreed codec stays. Telephone-events are relay_session_map_events' business.
 */
static void pt_pairs(const struct b2b_media_remote *o, const struct b2b_media_remote *a,
		     struct relay_pt_map *into, struct relay_pt_map *back)
{
	for (unsigned i = 0; i < a->n_codecs; i++) {
		const struct b2b_codec *ac = &a->codecs[i], *oc = NULL;
		bool same = false, offered_pt = false;
		for (unsigned j = 0; j < o->n_codecs; j++) {
			bool like = b2b_codec_same(&o->codecs[j], ac);
			same = same || (like && o->codecs[j].pt == ac->pt);
			oc = !oc && like ? &o->codecs[j] : oc;
			offered_pt = offered_pt || o->codecs[j].pt == ac->pt;
		}
		if (same || !oc || is_event(ac) || into->n >= RELAY_MAX_PT_ALLOW)
			continue;
		into->from[into->n] = oc->pt;
		into->to[into->n++] = ac->pt;
		if (!offered_pt) {
			back->from[back->n] = ac->pt;
			back->to[back->n++] = oc->pt;
		}
	}
}

/* The audio (k 0) or video (k 1) m-section of s read into r; false when absent. */
static bool section(const struct sdp_session *s, int k, struct b2b_media_remote *r)
{
	if (k == 0)
		return b2b_sdp_remote(s, r, NULL) == 0 && r->present;
	int vidx = b2b_sdp_video_index(s);
	return vidx >= 0 && b2b_sdp_remote_at(s, (unsigned)vidx, r, NULL) == 0;
}

static void merge(struct relay_pt_map *dst, const struct relay_pt_map *src)
{
	for (unsigned i = 0; i < src->n && dst->n < RELAY_MAX_PT_ALLOW; i++) {
		dst->from[dst->n] = src->from[i];
		dst->to[dst->n++] = src->to[i];
	}
}

void media_map_pts(struct call_media *m, int offerer, const struct sdp_session *offer,
		   const struct sdp_session *answer)
{
	if (!m->rs)
		return;
	int answerer = !offerer;
	struct relay_pt_map map[2][2]; /* [side][stream] */
	memset(map, 0, sizeof(map));
	struct b2b_media_remote *o = b2b_media_remote_new(), *a = b2b_media_remote_new();
	for (int k = 0; k < 2; k++) {
		if (k == 1 && !m->video)
			break;
		if (section(offer, k, o) && section(answer, k, a))
			pt_pairs(o, a, &map[offerer][k], &map[answerer][k]);
	}
	b2b_media_remote_free(o);
	b2b_media_remote_free(a);
	for (int i = 0; i < 2; i++) {
		if (!own_ports(m, i) || !m->video) { /* one endpoint carries both m-sections */
			merge(&map[i][0], &map[i][1]);
			map[i][1].n = 0;
		}
		for (unsigned k = 0; k < 2; k++)
			if (k == 0 || (m->video && own_ports(m, i)))
				relay_session_map_pts(m->rs, (unsigned)i, k, &map[i][k]);
		if (map[i][0].n || map[i][1].n)
			LOGI(log_module, &(struct log_ctx){.call_id = m->call->id},
			     "leg %c: %u audio and %u video payload types renumbered", 'a' + i,
			     map[i][0].n, map[i][1].n);
	}
}

/* ---- dump ---- */

void media_video_dump(const struct call_media *m, GString *out)
{
	if (m->video) {
		static const char *const names[2] = {"video-a", "video-b"};
		for (int i = 0; i < 2; i++)
			if (own_ports(m, i))
				media_dump_ep(out, names[i], NULL, &m->vlocal[i], &m->vep[i]);
		if (shape_of(m) == SHAPE_WEBRTC)
			g_string_append(out, " video=bundled-both");
	}
	/* the counters of the last snapshot, per stream (k 0 audio, 1 video), per leg */
	for (unsigned k = 0; m->have_last && k < m->last.n_streams && k < 2; k++)
		g_string_append_printf(out, " %s-packets=%llu/%llu,%llu/%llu",
				       k ? "video" : "audio",
				       (unsigned long long)m->last.stream[k][0].packets_in,
				       (unsigned long long)m->last.stream[k][0].packets_out,
				       (unsigned long long)m->last.stream[k][1].packets_in,
				       (unsigned long long)m->last.stream[k][1].packets_out);
}
