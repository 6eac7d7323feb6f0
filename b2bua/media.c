/* The media of one call: its relay session and the SDP each leg gets (b2b_sdp), with the
 * relay's addresses, ICE credentials, DTLS fingerprint and SDES keys in place of the
 * other leg's. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/crypto.h>

#include "media_int.h"

static const char *const log_module = "media";

struct call_media *call_media_new(struct b2b *b, struct call *c)
{
	struct call_media *m = g_new0(struct call_media, 1);
	m->b = b;
	m->call = c;
	m->sess_id = (uint64_t)g_get_real_time() / G_USEC_PER_SEC;
	for (int i = 0; i < 2; i++) {
		m->cand[i] = g_ptr_array_new_with_free_func(g_free);
		m->ev_pt[i] = -1;
	}
	return m;
}

void call_media_set_webrtc(struct call_media *m, int side, bool webrtc)
{
	m->webrtc[side] = webrtc;
}

void call_media_free(struct call_media *m)
{
	if (!m)
		return;
	relay_session_free(m->rs);
	if (m->closed_timer)
		g_source_remove(m->closed_timer);
	OPENSSL_cleanse(m->key_out, sizeof(m->key_out));
	media_video_clear(m);
	for (int i = 0; i < 2; i++)
		g_ptr_array_free(m->cand[i], TRUE);
	g_free(m->offer);
	g_free(m->last_sent[0]);
	g_free(m->last_sent[1]);
	g_free(m);
}

enum relay_srtp_suite media_relay_suite(enum sdp_crypto_suite s)
{
	switch (s) {
	case SDP_SUITE_AES_CM_128_HMAC_SHA1_80: return RELAY_SRTP_AES_CM_128_HMAC_SHA1_80;
	case SDP_SUITE_AES_CM_128_HMAC_SHA1_32: return RELAY_SRTP_AES_CM_128_HMAC_SHA1_32;
	case SDP_SUITE_AEAD_AES_128_GCM: return RELAY_SRTP_AEAD_AES_128_GCM;
	case SDP_SUITE_AES_256_CM_HMAC_SHA1_80: return RELAY_SRTP_AES_256_CM_HMAC_SHA1_80;
	case SDP_SUITE_AES_256_CM_HMAC_SHA1_32: return RELAY_SRTP_AES_256_CM_HMAC_SHA1_32;
	case SDP_SUITE_AEAD_AES_256_GCM: return RELAY_SRTP_AEAD_AES_256_GCM;
	default: return RELAY_SRTP_NONE;
	}
}

/* A relay error as a SIP status: out of ports or descriptors is an overload that passes
 * (503), anything else 500. */
int media_relay_status(int rc, const char **why)
{
	bool busy = rc == EADDRNOTAVAIL || rc == EMFILE || rc == ENFILE || rc == ENOBUFS ||
		    rc == ENOMEM;
	*why = rc == EADDRNOTAVAIL ? "no free media ports"
	       : busy		   ? "out of media resources"
				   : "relay error";
	return busy ? 503 : 500;
}

bool media_set_addr(struct sockaddr_storage *ss, int family, const char *ip, uint16_t port)
{
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
	if (family == AF_INET && inet_pton(AF_INET, ip, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons(port);
		return true;
	}
	if (family == AF_INET6 && inet_pton(AF_INET6, ip, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(port);
		return true;
	}
	return false;
}

/* The profile toward a SIP leg: an offerer's own SRTP (SDES or DTLS) carries over ("a peer's
 * own SRTP offer is always kept"), otherwise calls.srtp decides; WebRTC legs are WebRTC. */
static enum b2b_profile profile_toward(const struct call_media *m, int side,
				       enum b2b_profile offered)
{
	if (m->webrtc[side])
		return B2B_PROFILE_WEBRTC;
	if (offered == B2B_PROFILE_SDES || offered == B2B_PROFILE_DTLS)
		return offered;
	return b2b_sdp_sip_profile(NULL, m->b->cfg.sdes, m->b->cfg.dtls);
}

/* RFC 5763 §5: the peer's a=setup decides our role; actpass (or none) is answered active,
 * except in a renegotiation: the role of the association in place is kept (RFC 8842 §5.5:
 * a new role would mean a new DTLS association; Chrome refuses the change). */
enum relay_dtls_role media_dtls_role(const struct call_media *m, int side, enum sdp_setup peer)
{
	if ((peer == SDP_SETUP_ACTPASS || peer == SDP_SETUP_NONE) && m->dtls_role_set[side])
		return m->ep[side].ice.dtls_role;
	return peer == SDP_SETUP_ACTIVE ? RELAY_DTLS_PASSIVE : RELAY_DTLS_ACTIVE;
}

void media_set_fingerprint(struct relay_ice_params *ice, const struct b2b_media_remote *r)
{
	g_strlcpy(ice->remote_fp_hash, r->fp_hash, sizeof(ice->remote_fp_hash));
	memcpy(ice->remote_fp, r->fp, MIN(r->fp_len, sizeof(ice->remote_fp)));
	ice->remote_fp_len = MIN(r->fp_len, sizeof(ice->remote_fp));
}

/* A fresh outbound SDES key toward a leg, once per call and leg (RFC 4568 §6.1). */
static void make_key(struct call_media *m, int side, enum sdp_crypto_suite suite, uint32_t tag)
{
	const struct b2b_suite *bs = b2b_suite_find(suite);
	if (m->key_out_len[side] && m->suite_out[side] == suite) {
		m->tag_out[side] = tag;
		return;
	}
	m->suite_out[side] = suite;
	m->tag_out[side] = tag;
	m->key_out_len[side] = bs ? bs->key_len : 30;
	if (getrandom(m->key_out[side], m->key_out_len[side], 0) != (ssize_t)m->key_out_len[side])
		g_error("getrandom failed"); /* the kernel's CSPRNG does not fail for 46 bytes */
}

/*
 * What a leg's SDP asks of its relay endpoint. SDES keys go into secrets the caller frees
 * (*kin, *kout) once the relay has read them. Answers also allow the offer's payload
 * types (an answerer may send any of them; sipp's uas echoes PCMA after answering PCMU).
 */
static int endpoint_from(struct call_media *m, int side, const struct b2b_media_remote *r,
			 bool answer, struct relay_endpoint_params *ep, struct secret **kin,
			 struct secret **kout, const char **why)
{
	memset(ep, 0, sizeof(*ep));
	for (unsigned i = 0; i < r->n_codecs && ep->n_pt_allow < RELAY_MAX_PT_ALLOW; i++)
		ep->pt_allow[ep->n_pt_allow++] = r->codecs[i].pt;
	if (answer) {
		for (unsigned i = 0; i < m->n_offer_pt; i++) {
			bool have = false;
			for (unsigned j = 0; j < ep->n_pt_allow && !have; j++)
				have = ep->pt_allow[j] == m->offer_pt[i];
			if (!have && ep->n_pt_allow < RELAY_MAX_PT_ALLOW)
				ep->pt_allow[ep->n_pt_allow++] = m->offer_pt[i];
		}
	}
	ep->clock_rate = r->clock_rate ? r->clock_rate : 8000;
	if (r->profile == B2B_PROFILE_WEBRTC) {
		ep->kind = RELAY_EP_ICE;
		ep->ice.controlling = answer; /* RFC 8445 §6.1.1: the offerer controls (we offered) */
		g_strlcpy(ep->ice.remote_ufrag, r->ice_ufrag, sizeof(ep->ice.remote_ufrag));
		g_strlcpy(ep->ice.remote_pwd, r->ice_pwd, sizeof(ep->ice.remote_pwd));
		media_set_fingerprint(&ep->ice, r);
		ep->ice.dtls_role = media_dtls_role(m, side, r->setup);
		ep->rtcp_mux = true;
		return 0;
	}
	ep->kind = RELAY_EP_UDP;
	if (r->profile == B2B_PROFILE_DTLS) {
		/* UDP/TLS/RTP/SAVP without ICE (RFC 5763/5764): the relay runs DTLS on its own
		 * sockets and latches to the peer only once the handshake authenticated it */
		ep->dtls = true;
		media_set_fingerprint(&ep->ice, r);
		ep->ice.dtls_role = media_dtls_role(m, side, r->setup);
	}
	ep->learn = true; /* symmetric RTP (NAT): latch on the signalled IP, see relay.h */
	ep->rtcp_mux = r->rtcp_mux;
	if (r->addr[0]) { /* "" = hold (c=0.0.0.0): accept nothing from this side */
		if (!media_set_addr(&ep->remote_rtp, r->family, r->addr, r->rtp_port) ||
		    !media_set_addr(&ep->remote_rtcp, r->family, r->addr, r->rtcp_port)) {
			*why = "c= is not a usable address";
			return 488;
		}
	}
	if (r->profile == B2B_PROFILE_SDES) {
		ep->srtp = media_relay_suite(r->crypto_suite);
		if (ep->srtp == RELAY_SRTP_NONE) {
			*why = "no SRTP crypto suite in common";
			return 488;
		}
		make_key(m, side, r->crypto_suite, r->crypto_tag);
		*kin = secret_new((const char *)r->crypto_key, r->crypto_key_len);
		*kout = secret_new((const char *)m->key_out[side], m->key_out_len[side]);
		ep->key_in = *kin;
		ep->key_out = *kout;
	}
	return 0;
}

/* The endpoint toward the leg we are about to offer to, before it answered. */
static void endpoint_pending(struct call_media *m, int side, struct relay_endpoint_params *ep)
{
	memset(ep, 0, sizeof(*ep));
	if (m->prof[side] == B2B_PROFILE_WEBRTC) {
		ep->kind = RELAY_EP_ICE;
		ep->ice.controlling = true; /* we offer */
		ep->ice.dtls_role = RELAY_DTLS_PASSIVE; /* fixed by the answer's a=setup */
		ep->rtcp_mux = true;
	}
	/* UDP: no address yet, so nothing is accepted from that side until the answer; with
	 * DTLS, no handshake starts before the answer gives the address and fingerprint */
	if (m->prof[side] == B2B_PROFILE_DTLS) {
		ep->dtls = true;
		ep->ice.dtls_role = RELAY_DTLS_PASSIVE; /* fixed by the answer's a=setup */
	}
}

static void emit_candidates(struct call_media *m, int side, unsigned from)
{
	struct leg *l = m->call->leg[side];
	if (!l || !l->ops->trickle)
		return;
	for (guint i = from; i < m->cand[side]->len; i++)
		l->ops->trickle(l, m->cand[side]->pdata[i]);
	if (m->gathered[side])
		l->ops->trickle(l, NULL);
}

static gboolean peer_closed(gpointer data)
{
	struct call_media *m = data;
	m->closed_timer = 0;
	call_end(m->call, 200, "media closed by the browser");
	return G_SOURCE_REMOVE;
}

static void on_event(struct relay_session *rs, unsigned idx, enum relay_event ev,
		     const char *detail, void *arg)
{
	struct call_media *m = arg;
	struct log_ctx lc = {.call_id = m->call->id, .leg = idx == 0 ? "media-a" : "media-b"};
	switch (ev) {
	case RELAY_EV_CANDIDATE:
		g_ptr_array_add(m->cand[idx], g_strdup(detail));
		if (m->sdp_sent[idx]) /* trickle what the SDP could not carry (RFC 8838) */
			emit_candidates(m, (int)idx, m->cand[idx]->len - 1);
		break;
	case RELAY_EV_GATHERING_DONE:
		m->gathered[idx] = true;
		if (m->sdp_sent[idx] && m->call->leg[idx] && m->call->leg[idx]->ops->trickle)
			m->call->leg[idx]->ops->trickle(m->call->leg[idx], NULL);
		break;
	case RELAY_EV_ICE_CONNECTED:
	case RELAY_EV_DTLS_CONNECTED:
		LOGI(log_module, &lc, "%s (%s)", ev == RELAY_EV_ICE_CONNECTED ? "ICE connected"
									: "DTLS-SRTP up", detail ? detail : "");
		break;
	case RELAY_EV_DTLS_FAILED:
		if (detail && strcmp(detail, "closed by peer") == 0) {
			/* a close_notify: the browser closed its peer connection, normally with a
			 * hangup racing on the WebSocket; let that end the call, else end it here */
			LOGI(log_module, &lc, "the browser closed DTLS");
			if (!m->closed_timer)
				m->closed_timer = g_timeout_add(2000, peer_closed, m);
			break;
		}
		G_GNUC_FALLTHROUGH;
	case RELAY_EV_ICE_FAILED:
		LOGN(log_module, &lc, "%s: %s; ending the call",
		     ev == RELAY_EV_ICE_FAILED ? "ICE failed" : "DTLS failed", detail ? detail : "");
		call_end(m->call, 488, ev == RELAY_EV_ICE_FAILED ? "ICE failed" : "DTLS failed");
		break;
	}
}

static void on_timeout(struct relay_session *rs, void *arg)
{
	struct call_media *m = arg;
	struct log_ctx lc = {.call_id = m->call->id};
	m->timed_out = true;
	LOGN(log_module, &lc, "no media for %u s: ending the call", m->b->cfg.rtp_timeout);
	call_end(m->call, 408, "media timeout");
}

/* Tells the relay about endpoint `side` (creating the session on first use) and hands it
 * the remote candidates the SDP carried. */
static int apply(struct call_media *m, int side, const struct relay_endpoint_params *ep,
		 const struct b2b_media_remote *r, const char **why)
{
	int rc;
	if (!m->rs) {
		if (!m->b->cfg.relay) {
			*why = "media relay not running";
			return 503;
		}
		struct relay_session_params p = {.inactivity_secs = m->b->cfg.rtp_timeout,
						 .on_timeout = on_timeout, .on_event = on_event,
						 .arg = m, .call_id = m->call->id};
		p.ep[side] = *ep;
		endpoint_pending(m, !side, &p.ep[!side]);
		rc = relay_session_new(m->b->cfg.relay, &p, m->local, &m->rs);
		if (rc == 0)
			m->ep[!side] = p.ep[!side];
	} else {
		struct relay_local loc;
		rc = relay_session_update(m->rs, (unsigned)side, ep, &loc);
		if (rc == 0)
			m->local[side] = loc;
	}
	if (rc)
		return media_relay_status(rc, why);
	m->ep[side] = *ep;
	m->ep[side].key_in = m->ep[side].key_out = NULL; /* read during the call only */
	m->dtls_role_set[side] = ep->kind == RELAY_EP_ICE || ep->dtls;
	if (ep->kind == RELAY_EP_ICE) {
		for (unsigned i = 0; i < r->n_cand; i++)
			relay_session_add_candidate(m->rs, (unsigned)side, r->cand[i]);
		if (r->end_of_candidates)
			relay_session_end_of_candidates(m->rs, (unsigned)side);
	}
	return 0;
}

/* Notes the telephone-event leg `side` sends given the codecs agreed with it (r: its
 * answer, or the answer gorgee sent it): the one at its send codec's clock, else the
 * first (b2b_sdp_remote's dtmf_pt). */
static void note_events(struct call_media *m, int side, const struct b2b_media_remote *r)
{
	m->ev_pt[side] = r->dtmf_pt;
	m->ev_clock[side] = 0;
	for (unsigned i = 0; i < r->n_codecs; i++)
		if (r->codecs[i].pt == r->dtmf_pt)
			m->ev_clock[side] = r->codecs[i].clock;
	if (!m->ev_clock[side])
		m->ev_pt[side] = -1;
}

/* Once both legs' telephone-events are known, each endpoint translates what its leg sends
 * into what the other leg agreed to (PT and clock), or passes it unchanged. */
static void map_events(struct call_media *m)
{
	if (!m->rs || m->ev_pt[0] < 0 || m->ev_pt[1] < 0)
		return;
	for (int i = 0; i < 2; i++) {
		int o = !i;
		struct relay_event_map map = {0};
		if (m->ev_pt[i] != m->ev_pt[o] || m->ev_clock[i] != m->ev_clock[o])
			map = (struct relay_event_map){true, (uint8_t)m->ev_pt[i], (uint8_t)m->ev_pt[o],
						       m->ev_clock[i], m->ev_clock[o]};
		relay_session_map_events(m->rs, (unsigned)i, &map);
	}
}

/* Our a=setup toward a DTLS leg: none (actpass in offers, active toward actpass) until an
 * association's role is set, then that role (RFC 8842 §5.5). */
static enum sdp_setup setup_of(const struct call_media *m, int side)
{
	if (!m->dtls_role_set[side])
		return SDP_SETUP_NONE;
	return m->ep[side].ice.dtls_role == RELAY_DTLS_PASSIVE ? SDP_SETUP_PASSIVE : SDP_SETUP_ACTIVE;
}

/* The SDP values of the relay endpoint facing `side`. */
static void local_of(struct call_media *m, int side, struct b2b_media_local *l)
{
	memset(l, 0, sizeof(*l));
	l->addr = m->b->cfg.media_addr;
	l->rtp_port = m->local[side].rtp_port;
	l->rtcp_port = m->local[side].rtcp_port;
	l->rtcp_mux = m->ep[side].rtcp_mux || m->prof[side] == B2B_PROFILE_WEBRTC;
	if (m->prof[side] == B2B_PROFILE_WEBRTC) {
		l->ice_ufrag = m->local[side].ice_ufrag;
		l->ice_pwd = m->local[side].ice_pwd;
		l->cand = (const char *const *)m->cand[side]->pdata;
		l->n_cand = m->cand[side]->len;
		l->end_of_candidates = m->gathered[side];
		l->fingerprint = relay_dtls_fingerprint(m->b->cfg.relay);
		l->setup = setup_of(m, side);
	}
	if (m->prof[side] == B2B_PROFILE_DTLS) {
		l->fingerprint = relay_dtls_fingerprint(m->b->cfg.relay);
		l->setup = setup_of(m, side); /* first: actpass in offers, active toward actpass */
	}
	if (m->prof[side] == B2B_PROFILE_SDES) {
		l->crypto_tag = m->tag_out[side];
		l->crypto_suite = m->suite_out[side];
		l->crypto_key = m->key_out[side];
		l->crypto_key_len = m->key_out_len[side];
	}
	media_video_local(m, side, l);
	l->sess_id = m->sess_id;
	l->sess_version = ++m->version[side];
	l->username = "gorgee";
}

static int parse(const char *sdp, size_t len, struct sdp_session *s, struct b2b_media_remote *r,
		 const char **why)
{
	static char err[128];
	struct sdp_error perr;
	if (!len || sdp_parse(sdp, len, s, &perr) != 0) {
		*why = "malformed SDP";
		return 400;
	}
	if (b2b_sdp_remote(s, r, err) != 0) {
		*why = err;
		return 488;
	}
	if (!r->present) {
		*why = "no audio stream";
		return 488;
	}
	return 0;
}

/*
 * An answer from leg `side` to an offer gorgee sent it: parsed into s/r, its profile must be
 * the one offered (BI-24), and the relay endpoint follows it. controlling: our ICE role.
 */
static int take_answer(struct call_media *m, int side, const char *sdp, size_t len,
		       struct sdp_session *s, struct b2b_media_remote *r, bool controlling,
		       struct relay_endpoint_params *ep, const char **why)
{
	struct secret *kin = NULL, *kout = NULL;
	int st = parse(sdp, len, s, r, why);
	if (st == 0 && r->profile != m->prof[side]) {
		*why = "the answer's media profile is not the one offered";
		st = 488;
	}
	if (st == 0)
		st = endpoint_from(m, side, r, true, ep, &kin, &kout, why);
	if (st == 0) {
		media_video_allow(m, s, true, ep);
		if (ep->kind == RELAY_EP_ICE)
			ep->ice.controlling = controlling;
		st = apply(m, side, ep, r, why);
	}
	if (st == 0) {
		note_events(m, side, r);
		map_events(m);
	}
	secret_free(kin);
	secret_free(kout);
	return st;
}

static int offer(struct call_media *m, int from, const char *sdp, size_t len, bool defer,
		 GString *out, const char **why)
{
	static char err[128];
	int to = !from;
	struct sdp_session *s = b2b_sdp_session_new();
	struct b2b_media_remote *r = b2b_media_remote_new();
	struct relay_endpoint_params ep;
	struct secret *kin = NULL, *kout = NULL;
	int st = parse(sdp, len, s, r, why);
	if (st)
		goto out;
	if (m->rs && (m->ep[from].kind != (r->profile == B2B_PROFILE_WEBRTC ? RELAY_EP_ICE : RELAY_EP_UDP) ||
		      (m->ep[from].kind == RELAY_EP_UDP && m->ep[from].dtls != (r->profile == B2B_PROFILE_DTLS)))) {
		*why = "a renegotiation may not change the transport";
		st = 488;
		goto out;
	}
	m->prof[from] = r->profile;
	if (!m->rs) /* the profile toward the other leg is chosen once */
		m->prof[to] = profile_toward(m, to, r->profile);
	if ((st = endpoint_from(m, from, r, false, &ep, &kin, &kout, why)) != 0)
		goto out;
	media_video_allow(m, s, false, &ep);
	memcpy(m->offer_pt, ep.pt_allow, sizeof(m->offer_pt));
	m->n_offer_pt = ep.n_pt_allow;
	defer = defer && m->rs;
	if (!defer && (st = apply(m, from, &ep, r, why)) != 0)
		goto out;
	if (m->prof[to] == B2B_PROFILE_SDES && !m->key_out_len[to])
		make_key(m, to, SDP_SUITE_AES_CM_128_HMAC_SHA1_80, 1);
	if ((st = media_video_on_offer(m, from, s, why)) != 0)
		goto out;
	struct b2b_media_local l;
	local_of(m, to, &l);
	if (b2b_sdp_offer(s, m->prof[to], &l, out, err) != 0) {
		*why = err;
		st = 488;
		goto out;
	}
	if ((st = media_video_offer_sent(m, to, out, why)) != 0)
		goto out;
	m->sdp_sent[to] = true;
	g_free(m->last_sent[to]);
	m->last_sent[to] = g_strdup(out->str);
	g_free(m->offer);
	m->offer = g_strndup(sdp, len);
	m->offer_from = from;
	m->offer_unapplied = defer;
out:
	secret_free(kin);
	secret_free(kout);
	b2b_media_remote_free(r);
	b2b_sdp_session_free(s);
	return st;
}

int call_media_offer(struct call_media *m, int from, const char *sdp, size_t len, GString *out,
		     const char **why)
{
	return offer(m, from, sdp, len, false, out, why);
}

int call_media_offer_deferred(struct call_media *m, int from, const char *sdp, size_t len,
			      GString *out, const char **why)
{
	return offer(m, from, sdp, len, true, out, why);
}

void call_media_offer_drop(struct call_media *m)
{
	if (m->offer_unapplied) {
		g_free(m->offer);
		m->offer = NULL;
		m->offer_unapplied = false;
	}
}

/* A deferred offer (call_media_offer_deferred) reaches the relay now that it is answered. */
static int apply_offer(struct call_media *m, const char **why)
{
	struct sdp_session *s = b2b_sdp_session_new();
	struct b2b_media_remote *r = b2b_media_remote_new();
	struct relay_endpoint_params ep;
	struct secret *kin = NULL, *kout = NULL;
	int st = parse(m->offer, strlen(m->offer), s, r, why);
	if (st == 0)
		st = endpoint_from(m, m->offer_from, r, false, &ep, &kin, &kout, why);
	if (st == 0) {
		media_video_allow(m, s, false, &ep);
		st = apply(m, m->offer_from, &ep, r, why);
	}
	if (st == 0)
		m->offer_unapplied = false;
	secret_free(kin);
	secret_free(kout);
	b2b_media_remote_free(r);
	b2b_sdp_session_free(s);
	return st;
}

int call_media_answer(struct call_media *m, int from, const char *sdp, size_t len, GString *out,
		      const char **why)
{
	static char err[128];
	int to = !from; /* the leg that offered */
	struct sdp_session *s = b2b_sdp_session_new(), *o = b2b_sdp_session_new();
	struct b2b_media_remote *r = b2b_media_remote_new();
	struct relay_endpoint_params ep;
	struct sdp_error perr;
	int st;
	if (!m->offer || m->offer_from != to) {
		*why = "an answer without an offer";
		st = 500;
		goto out;
	}
	if ((st = take_answer(m, from, sdp, len, s, r, true, &ep, why)) != 0)
		goto out;
	if (m->offer_unapplied && (st = apply_offer(m, why)) != 0)
		goto out;
	if ((st = media_video_on_answer(m, from, s, why)) != 0)
		goto out;
	if (sdp_parse(m->offer, strlen(m->offer), o, &perr) != 0) {
		*why = "offer lost";
		st = 500;
		goto out;
	}
	struct b2b_media_local l;
	local_of(m, to, &l);
	if (b2b_sdp_answer(o, s, m->prof[to], &l, out, err) != 0) {
		*why = err;
		st = 488;
		goto out;
	}
	m->sdp_sent[to] = true;
	g_free(m->last_sent[to]);
	m->last_sent[to] = g_strdup(out->str);
	media_map_pts(m, to, o, s);
	/* what the offerer will send is in the answer it gets */
	if (sdp_parse(out->str, out->len, o, &perr) == 0 && b2b_sdp_remote(o, r, NULL) == 0) {
		note_events(m, to, r);
		map_events(m);
	}
	/* the offer is kept: an early answer (18x) may be followed by the final one (2xx) */
out:
	b2b_media_remote_free(r);
	b2b_sdp_session_free(s);
	b2b_sdp_session_free(o);
	return st;
}

int call_media_hold_offer(struct call_media *m, int side, bool hold, GString *out)
{
	struct sdp_session *s = b2b_sdp_session_new();
	struct sdp_error err;
	char ver[24];
	int rc = EINVAL;
	const char *last = m->last_sent[side];
	if (!last || sdp_parse(last, strlen(last), s, &err) != 0)
		goto out;
	/* RFC 3264 §8.4: sendonly toward the held party (inactive if it was sendonly itself
	 * is not needed: gorgee keeps sending what the holder sends, e.g. music on hold) */
	s->common.dir = SDP_DIR_NONE;
	for (size_t i = 0; i < s->n_media; i++)
		if (s->media[i].port)
			s->media[i].common.dir = hold ? SDP_DIR_SENDONLY : SDP_DIR_SENDRECV;
	g_snprintf(ver, sizeof(ver), "%llu", (unsigned long long)++m->version[side]);
	s->origin.sess_version = (struct slice){ver, strlen(ver)};
	rc = sdp_print(s, out);
out:
	b2b_sdp_session_free(s);
	return rc;
}

int call_media_hold_answer(struct call_media *m, int side, const char *sdp, size_t len,
			   const char **why)
{
	struct sdp_session *s = b2b_sdp_session_new();
	struct b2b_media_remote *r = b2b_media_remote_new();
	struct relay_endpoint_params ep;
	int st = take_answer(m, side, sdp, len, s, r, m->ep[side].ice.controlling, &ep, why);
	b2b_media_remote_free(r);
	b2b_sdp_session_free(s);
	return st;
}

int call_media_offer_default(struct call_media *m, int to, GString *out, const char **why)
{
	int from = !to;
	m->prof[to] = profile_toward(m, to, B2B_PROFILE_RTP);
	m->prof[from] = profile_toward(m, from, B2B_PROFILE_RTP);
	if (!m->b->cfg.relay) {
		*why = "media relay not running";
		return 503;
	}
	struct relay_session_params p = {.inactivity_secs = m->b->cfg.rtp_timeout,
					 .on_timeout = on_timeout, .on_event = on_event,
					 .arg = m, .call_id = m->call->id};
	endpoint_pending(m, 0, &p.ep[0]);
	endpoint_pending(m, 1, &p.ep[1]);
	int rc = relay_session_new(m->b->cfg.relay, &p, m->local, &m->rs);
	if (rc)
		return media_relay_status(rc, why);
	m->ep[0] = p.ep[0];
	m->ep[1] = p.ep[1];
	for (int i = 0; i < 2; i++)
		if (m->prof[i] == B2B_PROFILE_SDES)
			make_key(m, i, SDP_SUITE_AES_CM_128_HMAC_SHA1_80, 1);
	struct b2b_media_local l;
	local_of(m, to, &l);
	if (b2b_sdp_offer_default(m->prof[to], &l, out) != 0) {
		*why = "cannot make an offer";
		return 500;
	}
	m->sdp_sent[to] = true;
	g_free(m->last_sent[to]);
	m->last_sent[to] = g_strdup(out->str);
	m->offerless = true;
	return 0;
}

const char *call_media_last_sent(const struct call_media *m, int side)
{
	return m->last_sent[side];
}

bool call_media_offerless(const struct call_media *m)
{
	return m->offerless;
}

int call_media_offerless_answer(struct call_media *m, int from, const char *sdp, size_t len,
				GString *out, const char **why)
{
	static char err[128];
	int to = !from;
	struct sdp_session *s = b2b_sdp_session_new();
	struct b2b_media_remote *r = b2b_media_remote_new();
	struct relay_endpoint_params ep;
	int st = take_answer(m, from, sdp, len, s, r, true, &ep, why);
	if (st == 0) { /* offer to the other leg what this one accepted */
		memcpy(m->offer_pt, ep.pt_allow, sizeof(m->offer_pt));
		m->n_offer_pt = ep.n_pt_allow;
		struct b2b_media_local l;
		local_of(m, to, &l);
		if (b2b_sdp_offer(s, m->prof[to], &l, out, err) != 0) {
			*why = err;
			st = 488;
		} else {
			m->sdp_sent[to] = true;
			g_free(m->last_sent[to]);
			m->last_sent[to] = g_strdup(out->str);
		}
	}
	b2b_media_remote_free(r);
	b2b_sdp_session_free(s);
	return st;
}

int call_media_late_answer(struct call_media *m, int from, const char *sdp, size_t len,
			   const char **why)
{
	int st = call_media_hold_answer(m, from, sdp, len, why);
	if (st == 0 && m->offerless && m->last_sent[from]) {
		/* our offer in the 2xx numbered codecs as the other leg's answer did: the ACK's
		 * answer may number them otherwise */
		struct sdp_session *o = b2b_sdp_session_new(), *a = b2b_sdp_session_new();
		struct sdp_error perr;
		const char *off = m->last_sent[from];
		if (sdp_parse(off, strlen(off), o, &perr) == 0 && sdp_parse(sdp, len, a, &perr) == 0)
			media_map_pts(m, !from, o, a);
		b2b_sdp_session_free(o);
		b2b_sdp_session_free(a);
	}
	if (st == 0)
		m->offerless = false;
	return st;
}

int call_media_trickle(struct call_media *m, int side, const char *cand)
{
	if (!m->rs || m->ep[side].kind != RELAY_EP_ICE)
		return EINVAL;
	if (!cand) {
		relay_session_end_of_candidates(m->rs, (unsigned)side);
		return 0;
	}
	return relay_session_add_candidate(m->rs, (unsigned)side, cand);
}

void call_media_stats(struct call_media *m, relay_stats_fn *fn, void *arg)
{
	if (m->rs)
		relay_session_stats(m->rs, fn, arg);
}

bool call_media_has_session(const struct call_media *m)
{
	return m->rs != NULL;
}

void media_dump_ep(GString *out, const char *name, const char *profile,
		   const struct relay_local *l, const struct relay_endpoint_params *ep)
{
	char ip[64] = "-";
	uint16_t port = 0;
	if (ep->remote_rtp.ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)&ep->remote_rtp;
		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
		port = ntohs(a->sin_port);
	} else if (ep->remote_rtp.ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)&ep->remote_rtp;
		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
		port = ntohs(a->sin6_port);
	}
	g_string_append_printf(out, " %s%s%s local=%u remote=%s:%u%s", name, profile ? " " : "",
			       profile ? profile : "", l->rtp_port, ip, port,
			       ep->rtcp_mux ? " mux" : "");
	if (ep->srtp != RELAY_SRTP_NONE) /* SDES: the suite agreed (DTLS: set at the handshake) */
		g_string_append_printf(out, " suite=%s", relay_srtp_suite_name(ep->srtp));
}

static void on_dump_stats(struct relay_session *rs, const struct relay_session_stats *st,
			  void *arg)
{
	struct call_media *m = arg;
	m->last = *st;
	m->have_last = true;
}

void call_media_dump(struct call_media *m, GString *out)
{
	g_string_append(out, "  media:");
	if (!m->rs) {
		g_string_append(out, " none\n");
		return;
	}
	media_dump_ep(out, "A", b2b_profile_name(m->prof[0]), &m->local[0], &m->ep[0]);
	media_dump_ep(out, "B", b2b_profile_name(m->prof[1]), &m->local[1], &m->ep[1]);
	media_video_dump(m, out);
	g_string_append(out, m->timed_out ? " timed-out\n" : "\n");
	/* the packet counters shown are the last snapshot's: each dump asks for the next */
	relay_session_stats(m->rs, on_dump_stats, m);
}
