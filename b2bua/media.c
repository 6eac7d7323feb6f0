/* The media of one call: its relay session and the SDP each leg gets, with the relay's
 * address in place of the other leg's. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "b2b_int.h"

static const char *const log_module = "media";

struct call_media {
	struct b2b *b;
	char *call_id;
	struct relay_session *rs;
	struct relay_local local[2];   /* relay ports facing leg A (0) and leg B (1) */
	struct relay_endpoint_params ep[2];
	uint64_t sess_id;
	uint64_t version[2];           /* o= version of the SDP we send to each leg */
	uint8_t offer_pt[RELAY_MAX_PT_ALLOW]; /* payload types of the offer in progress */
	unsigned n_offer_pt;
	bool timed_out;
};

struct call_media *call_media_new(struct b2b *b, const char *call_id)
{
	struct call_media *m = g_new0(struct call_media, 1);
	m->b = b;
	m->call_id = g_strdup(call_id);
	m->sess_id = g_get_real_time() / G_USEC_PER_SEC;
	return m;
}

void call_media_free(struct call_media *m)
{
	if (!m)
		return;
	relay_session_free(m->rs);
	g_free(m->call_id);
	g_free(m);
}

/* The relayed stream: the first audio m-section with a port (RFC 3264 §6: port 0 = off). */
static struct sdp_media *audio_of(struct sdp_session *s)
{
	for (size_t i = 0; i < s->n_media; i++)
		if (slice_eqlit(s->media[i].type, "audio") && s->media[i].port)
			return &s->media[i];
	return NULL;
}

static bool set_addr(struct sockaddr_storage *ss, const struct sdp_conn *c, uint16_t port)
{
	char ip[64];
	memset(ss, 0, sizeof(*ss));
	if (c->address.len >= sizeof(ip))
		return false;
	g_snprintf(ip, sizeof(ip), SLICE_FMT, SLICE_ARG(c->address));
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
	if (c->addrtype == SDP_ADDR_IP4 && inet_pton(AF_INET, ip, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons(port);
		return true;
	}
	if (c->addrtype == SDP_ADDR_IP6 && inet_pton(AF_INET6, ip, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(port);
		return true;
	}
	return false;
}

/*
 * What one leg's SDP asks of the relay: where it receives RTP and RTCP, mux, its payload
 * types. A hold address (0.0.0.0) leaves the address unknown (the relay then accepts
 * nothing from that side). Host names are refused (no DNS on the media path).
 */
static int endpoint_from_sdp(const struct sdp_session *s, struct sdp_media *am,
			     struct relay_endpoint_params *ep, const char **why)
{
	memset(ep, 0, sizeof(*ep));
	ep->learn = true; /* symmetric RTP (NAT): latch on the signalled IP, see relay.h */
	ep->rtcp_mux = am->rtcp_mux;
	const struct sdp_conn *c = sdp_media_conn(s, am);
	if (!c) {
		*why = "no c= line";
		return 488;
	}
	if (!slice_eqlit(am->proto, "RTP/AVP") && !slice_eqlit(am->proto, "RTP/AVPF")) {
		*why = "only RTP/AVP media can be relayed to this leg";
		return 488;
	}
	if (!(c->flags & SDP_CONN_UNSPEC)) {
		if (!sdp_conn_sendable(c) || (c->flags & SDP_CONN_FQDN) || !set_addr(&ep->remote_rtp, c, am->port)) {
			*why = "c= is not a unicast address";
			return 488;
		}
		uint16_t rport = am->rtcp.present ? am->rtcp.port : (uint16_t)(am->port + 1);
		const struct sdp_conn *rc = am->rtcp.present && am->rtcp.conn.present ? &am->rtcp.conn : c;
		if (!set_addr(&ep->remote_rtcp, rc, rport))
			ep->remote_rtcp = ep->remote_rtp;
	}
	for (size_t i = 0; i < am->n_fmt && ep->n_pt_allow < RELAY_MAX_PT_ALLOW; i++)
		ep->pt_allow[ep->n_pt_allow++] = am->pt[i];
	const struct sdp_rtpmap *rm = am->n_fmt ? sdp_media_rtpmap(am, am->pt[0]) : NULL;
	ep->clock_rate = rm ? rm->clock : 8000;
	return 0;
}

/* The SDP toward leg `to`: the other leg's, with the relay's address and port and our o=. */
static int rewrite(struct call_media *m, int to, struct sdp_session *s, struct sdp_media *am,
		   GString *out)
{
	char addr[64], ver[24], id[24];
	const char *bind = m->b->cfg.media_addr;
	bool v6 = strchr(bind, ':') != NULL;
	g_strlcpy(addr, bind, sizeof(addr));
	g_snprintf(id, sizeof(id), "%llu", (unsigned long long)m->sess_id);
	g_snprintf(ver, sizeof(ver), "%llu", (unsigned long long)++m->version[to]);
	s->origin.username = SLICE_LIT("gorgee");
	s->origin.sess_id = (struct slice){id, strlen(id)};
	s->origin.sess_version = (struct slice){ver, strlen(ver)};
	s->origin.addrtype = v6 ? SLICE_LIT("IP6") : SLICE_LIT("IP4");
	s->origin.address = (struct slice){addr, strlen(addr)};
	struct sdp_conn conn = {.present = true, .addrtype = v6 ? SDP_ADDR_IP6 : SDP_ADDR_IP4,
				.address = {addr, strlen(addr)}};
	bool hold = false;
	const struct sdp_conn *orig = sdp_media_conn(s, am);
	if (orig && (orig->flags & SDP_CONN_UNSPEC))
		hold = true; /* keep the RFC 2543 hold form: the other side may rely on it */
	s->common.conn = conn;
	if (hold)
		s->common.conn.address = v6 ? SLICE_LIT("::") : SLICE_LIT("0.0.0.0");
	for (size_t i = 0; i < s->n_media; i++) {
		struct sdp_media *mm = &s->media[i];
		mm->common.conn.present = false;
		if (mm != am)
			mm->port = 0; /* only the first audio stream is relayed (yet) */
	}
	am->port = m->local[to].rtp_port;
	am->rtcp.present = !m->ep[to].rtcp_mux && m->local[to].rtcp_port != am->port + 1;
	am->rtcp.port = m->local[to].rtcp_port;
	am->rtcp.conn.present = false;
	return sdp_print(s, out);
}

static void on_timeout(struct relay_session *rs, void *arg)
{
	struct call_media *m = arg;
	struct call *c = g_hash_table_lookup(m->b->calls, m->call_id);
	m->timed_out = true;
	if (c) {
		struct log_ctx lc = {.call_id = m->call_id};
		LOGN(log_module, &lc, "no media for %u s: ending the call", m->b->cfg.rtp_timeout);
		call_end(c, 408, "media timeout");
	}
}

static int ensure_session(struct call_media *m, const char **why)
{
	if (m->rs)
		return 0;
	if (!m->b->cfg.relay) {
		*why = "media relay not running";
		return 503;
	}
	struct relay_session_params p = {.inactivity_secs = m->b->cfg.rtp_timeout,
					 .on_timeout = on_timeout, .arg = m,
					 .call_id = m->call_id};
	p.ep[0] = m->ep[0];
	p.ep[1] = m->ep[1];
	int rc = relay_session_new(m->b->cfg.relay, &p, m->local, &m->rs);
	if (rc) {
		*why = rc == EADDRNOTAVAIL ? "no free media ports" : "relay error";
		return rc == EADDRNOTAVAIL ? 503 : 500;
	}
	return 0;
}

/* Parses sdp and applies it to endpoint `from` (an offer or an answer from that leg). */
/* BI-35 allows what was negotiated: an answerer may also send the payload types of the
 * offer it answered (sipp's uas echoes PCMA after answering PCMU), so its allowlist is
 * the union of both. */
static void allow_offer_pts(struct call_media *m, struct relay_endpoint_params *ep)
{
	for (unsigned i = 0; i < m->n_offer_pt; i++) {
		bool have = false;
		for (unsigned j = 0; j < ep->n_pt_allow && !have; j++)
			have = ep->pt_allow[j] == m->offer_pt[i];
		if (!have && ep->n_pt_allow < RELAY_MAX_PT_ALLOW)
			ep->pt_allow[ep->n_pt_allow++] = m->offer_pt[i];
	}
}

static int take(struct call_media *m, int from, bool answer, const char *sdp, size_t len,
		struct sdp_session *s, struct sdp_media **am, const char **why)
{
	struct sdp_error err;
	if (sdp_parse(sdp, len, s, &err) != 0) {
		*why = "malformed SDP";
		return 400;
	}
	*am = audio_of(s);
	if (!*am) {
		*why = "no audio stream";
		return 488;
	}
	struct relay_endpoint_params ep;
	int st = endpoint_from_sdp(s, *am, &ep, why);
	if (st)
		return st;
	if (answer) {
		allow_offer_pts(m, &ep);
	} else {
		memcpy(m->offer_pt, ep.pt_allow, sizeof(m->offer_pt));
		m->n_offer_pt = ep.n_pt_allow;
	}
	m->ep[from] = ep;
	if (!m->rs)
		return ensure_session(m, why);
	struct relay_local loc;
	if (relay_session_update(m->rs, (unsigned)from, &ep, &loc) != 0) {
		*why = "relay update failed";
		return 500;
	}
	m->local[from] = loc;
	return 0;
}

static int offer_answer(struct call_media *m, int from, bool answer, const char *sdp, size_t len,
			GString *out, const char **why)
{
	struct sdp_session *s = g_new0(struct sdp_session, 1);
	struct sdp_media *am = NULL;
	int st = take(m, from, answer, sdp, len, s, &am, why);
	if (st == 0 && rewrite(m, !from, s, am, out) != 0) {
		*why = "cannot print SDP";
		st = 500;
	}
	g_free(s);
	return st;
}

int call_media_offer(struct call_media *m, int from, const char *sdp, size_t len, GString *out,
		     const char **why)
{
	return offer_answer(m, from, false, sdp, len, out, why);
}

int call_media_answer(struct call_media *m, int from, const char *sdp, size_t len, GString *out,
		      const char **why)
{
	return offer_answer(m, from, true, sdp, len, out, why);
}

static void dump_ep(GString *out, const char *name, const struct relay_local *l,
		    const struct relay_endpoint_params *ep)
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
	g_string_append_printf(out, " %s local=%u remote=%s:%u%s", name, l->rtp_port, ip, port,
			       ep->rtcp_mux ? " mux" : "");
}

void call_media_dump(const struct call_media *m, GString *out)
{
	g_string_append(out, "  media:");
	if (!m->rs) {
		g_string_append(out, " none\n");
		return;
	}
	dump_ep(out, "A", &m->local[0], &m->ep[0]);
	dump_ep(out, "B", &m->local[1], &m->ep[1]);
	g_string_append(out, m->timed_out ? " timed-out\n" : "\n");
}
