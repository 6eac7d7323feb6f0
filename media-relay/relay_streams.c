/* A session's streams, signaling side: relay_session_set_streams (extra endpoints per
 * stream and side, their ports, the demultiplexing table of a bundled endpoint),
 * relay_session_map_pts and relay_session_count_by_pt; relay_bundle.c pairs and
 * demultiplexes on the worker. */
#include <errno.h>
#include <openssl/crypto.h>
#include <string.h>
#include <unistd.h>

#include "relay_priv.h"

#define NX (RELAY_MAX_STREAMS - 1)

/* Streams in flight to the worker; the extra endpoints' sockets are owned here until used.
 * [i][k - 1]: stream k's endpoint on side i. */
struct streams_msg {
	struct relay_session *s;
	unsigned n, bundled;
	uint8_t mid_ext;
	struct relay_demux demux[RELAY_MAX_STREAMS];
	struct endpoint cfg[2][NX];
	struct keys keys[2][NX];
	bool fresh[2][NX]; /* new ports: fds carry both sockets */
	int fds[2][NX][2]; /* fresh: RTP and RTCP; else a newly bound RTCP in [1] */
	uint16_t port[2][NX];
};

static void streams_msg_free(gpointer data)
{
	struct streams_msg *m = data;
	OPENSSL_cleanse(m->keys, sizeof(m->keys));
	for (unsigned i = 0; i < 2; i++) {
		for (unsigned k = 0; k < NX; k++) {
			uint16_t base = m->fresh[i][k] ? m->port[i][k] : m->s->xport[i][k];
			for (int j = 0; j < 2; j++)
				relay_ports_close(m->s->relay->ports, (uint16_t)(base + j),
						  m->fds[i][k][j]);
			if (m->fresh[i][k]) /* never reached the worker: the slot is ours to return */
				relay_ports_release(m->s->relay->ports, m->port[i][k]);
		}
	}
	relay_session_unref(m->s);
	g_free(m);
}

/* Worker: stream k's endpoint on side i takes its new configuration (as do_update does). */
static void xep_apply(struct relay_session *s, struct streams_msg *m, unsigned i, unsigned k)
{
	struct endpoint *e = &s->xep[i][k - 1], *c = &m->cfg[i][k - 1];
	int *fds = m->fds[i][k - 1];
	bool fresh = m->fresh[i][k - 1];
	if (fresh) {
		relay_endpoint_clear(s->relay, e);
		e->port = m->port[i][k - 1];
		e->port_held = true;
		m->fresh[i][k - 1] = false;
		e->rtp.fd = fds[0];
		e->rtcp.fd = fds[1];
		fds[0] = fds[1] = -1;
		memset(&e->st, 0, sizeof(e->st));
	} else if (fds[1] >= 0) {
		e->rtcp.fd = fds[1];
		fds[1] = -1;
	}
	bool kept_dtls = e->dtls && c->dtls && e->port_held && !fresh;
	if (!kept_dtls) { /* DTLS keys stay while the association does (as in do_update) */
		relay_udp_dtls_stop(e);
		relay_srtp_free(e->srtp_in);
		relay_srtp_free(e->srtp_out);
		e->srtp_in = e->srtp_out = NULL;
	}
	e->kind = RELAY_EP_UDP;
	e->sig_rtp = c->sig_rtp;
	e->sig_rtcp = c->sig_rtcp;
	e->mux = c->mux;
	e->learn = c->learn;
	e->learn_packets = c->learn_packets;
	e->dtls = c->dtls;
	if (!e->dtls) {
		e->suite = c->suite;
		relay_make_srtp(e, &m->keys[i][k - 1]);
	}
	memcpy(e->pt_allow, c->pt_allow, sizeof(e->pt_allow));
	e->n_pt_allow = c->n_pt_allow;
	e->clock_rate = c->clock_rate;
	memset(&e->l_rtp, 0, sizeof(e->l_rtp));
	memset(&e->l_rtcp, 0, sizeof(e->l_rtcp));
	memset(&e->seq, 0, sizeof(e->seq));
	relay_endpoint_watch(e);
	if (e->dtls) { /* RFC 5764 without BUNDLE: each m-section has its own association */
		struct ice_conf old = e->icec;
		e->icec = c->icec;
		if (kept_dtls)
			relay_udp_dtls_update(e, &old);
		else
			relay_udp_dtls_start(e);
	}
}

static gboolean do_set_streams(gpointer data)
{
	struct streams_msg *m = data;
	struct relay_session *s = m->s;
	if (s->closed)
		return G_SOURCE_REMOVE;
	unsigned was = s->n_streams;
	for (unsigned i = 0; i < 2; i++) {
		for (unsigned k = 1; k < RELAY_MAX_STREAMS; k++) {
			if (k < m->n && i != m->bundled)
				xep_apply(s, m, i, k);
			else
				relay_endpoint_clear(s->relay, &s->xep[i][k - 1]);
		}
	}
	s->n_streams = m->n;
	s->bundled = m->bundled;
	s->mid_ext = m->mid_ext;
	for (unsigned k = 0; k < RELAY_MAX_STREAMS; k++) {
		struct stream *x = &s->sx[k];
		if (k >= m->n || k >= was || strcmp(x->d.mid, m->demux[k].mid))
			memset(x, 0, sizeof(*x)); /* a new stream in this slot */
		x->d = m->demux[k];
	}
	/* MIDs teach SSRCs again under the new mapping (RFC 8843 §9.2) */
	s->n_learned = s->next_learned = 0;
	struct log_ctx lc = {.call_id = s->call_id, .leg = "relay"};
	LOGD("relay", &lc, "%u stream(s) on endpoint %u (MID extension %u)", m->n, m->bundled,
	     m->mid_ext);
	return G_SOURCE_REMOVE;
}

static int check_demux(const struct relay_demux *d)
{
	if (strnlen(d->mid, sizeof(d->mid)) == sizeof(d->mid) || d->n_ssrc > RELAY_MAX_SSRC ||
	    d->n_pt > RELAY_MAX_PT_ALLOW)
		return EINVAL;
	for (unsigned i = 0; i < d->n_pt; i++)
		if (d->pt[i] > 127)
			return EINVAL;
	return 0;
}

static int check_streams(struct relay_session *s, const struct relay_streams *st)
{
	if (st->n < 1 || st->n > RELAY_MAX_STREAMS)
		return EINVAL;
	if (st->n == 1)
		return check_demux(&st->demux[0]);
	if (st->bundled > RELAY_BUNDLE_NONE ||
	    (st->bundled < 2 && s->kind[st->bundled] != RELAY_EP_ICE))
		return EINVAL;
	for (unsigned k = 0; k < st->n; k++) {
		int err = check_demux(&st->demux[k]);
		if (err)
			return err;
		for (unsigned i = 0; k && i < 2 && !err; i++) {
			const struct relay_endpoint_params *p = &st->ep[i][k - 1];
			if (i == st->bundled)
				continue;
			if (p->kind != RELAY_EP_UDP)
				return EINVAL;
			err = relay_check_params(s->relay, p);
		}
		if (err)
			return err;
	}
	return 0;
}

/* Signaling: the ports of stream k's endpoint on side i, new or kept (a newly bound RTCP
 * port when mux was turned off). */
static int xep_ports(struct relay_session *s, struct streams_msg *m, unsigned i, unsigned k,
		     const struct relay_endpoint_params *p)
{
	int err = 0;
	relay_load_params(&m->cfg[i][k - 1], &m->keys[i][k - 1], p);
	if (!s->xport[i][k - 1]) {
		err = relay_ports_alloc_in(s->relay->ports, s->w->idx, !p->rtcp_mux,
					   m->fds[i][k - 1], &m->port[i][k - 1]);
		if (err == EADDRNOTAVAIL) /* another part's slot: watched outside its park */
			err = relay_ports_alloc(s->relay->ports, !p->rtcp_mux, m->fds[i][k - 1],
						&m->port[i][k - 1]);
		m->fresh[i][k - 1] = err == 0;
	} else if (!p->rtcp_mux && !s->xrtcp_bound[i][k - 1]) {
		err = relay_ports_bind_rtcp(s->relay->ports, s->xport[i][k - 1],
					    &m->fds[i][k - 1][1]);
	}
	return err;
}

/* Signaling: what the worker will hold once m is applied, and the ports for local. */
static void xep_commit(struct relay_session *s, const struct streams_msg *m, unsigned i,
		       unsigned k, const struct relay_streams *st, struct relay_local *l)
{
	memset(l, 0, sizeof(*l));
	if (k >= st->n || i == st->bundled) { /* the worker closes it and returns the slot */
		s->xport[i][k - 1] = 0;
		s->xrtcp_bound[i][k - 1] = false;
		return;
	}
	if (m->fresh[i][k - 1]) {
		s->xport[i][k - 1] = m->port[i][k - 1];
		s->xrtcp_bound[i][k - 1] = m->fds[i][k - 1][1] >= 0;
	} else if (m->fds[i][k - 1][1] >= 0) {
		s->xrtcp_bound[i][k - 1] = true;
	}
	l->rtp_port = s->xport[i][k - 1];
	l->rtcp_port = st->ep[i][k - 1].rtcp_mux ? l->rtp_port : (uint16_t)(l->rtp_port + 1);
}

int relay_session_set_streams(struct relay_session *s, const struct relay_streams *st,
			      struct relay_local local[2][RELAY_MAX_STREAMS - 1])
{
	if (!s || s->freed || !st)
		return EINVAL;
	int err = check_streams(s, st);
	if (err)
		return err;
	relay_session_xep_init(s); /* before the message: the worker sees it through the mailbox */
	struct streams_msg *m = g_new0(struct streams_msg, 1);
	m->s = relay_session_ref(s);
	m->n = st->n;
	m->bundled = st->n > 1 ? st->bundled : RELAY_BUNDLE_NONE;
	m->mid_ext = st->mid_ext_id;
	memcpy(m->demux, st->demux, sizeof(m->demux));
	for (unsigned i = 0; i < 2; i++)
		for (unsigned k = 0; k < NX; k++)
			m->fds[i][k][0] = m->fds[i][k][1] = -1;
	/* ports first: on failure nothing changed (streams_msg_free returns the new ones) */
	for (unsigned k = 1; k < st->n && !err; k++)
		for (unsigned i = 0; i < 2 && !err; i++)
			if (i != m->bundled)
				err = xep_ports(s, m, i, k, &st->ep[i][k - 1]);
	if (err) {
		streams_msg_free(m);
		return err;
	}
	for (unsigned i = 0; i < 2; i++)
		for (unsigned k = 1; k < RELAY_MAX_STREAMS; k++)
			xep_commit(s, m, i, k, st, &local[i][k - 1]);
	struct log_ctx lc = {.call_id = s->call_id, .leg = "relay"};
	if (m->bundled < 2)
		LOGI("relay", &lc, "%u stream(s), bundled on endpoint %u", st->n, m->bundled);
	else
		LOGI("relay", &lc, "%u stream(s), none bundled", st->n);
	relay_worker_post(s->w, do_set_streams, m, streams_msg_free);
	return 0;
}

/* ---- payload type translation ---- */

struct ptmap_msg {
	struct relay_session *s;
	unsigned idx, stream;
	struct relay_pt_map map;
};

static gboolean do_map_pts(gpointer data)
{
	struct ptmap_msg *m = data;
	struct relay_session *s = m->s;
	if (s->closed)
		return G_SOURCE_REMOVE;
	struct endpoint *e = relay_stream_ep(s, m->idx, m->stream);
	for (unsigned i = 0; i < 128; i++)
		e->pt_to[i] = (uint8_t)i;
	for (unsigned i = 0; i < m->map.n; i++)
		e->pt_to[m->map.from[i]] = m->map.to[i];
	e->pt_mapped = m->map.n > 0;
	return G_SOURCE_REMOVE;
}

int relay_session_map_pts(struct relay_session *s, unsigned idx, unsigned stream,
			  const struct relay_pt_map *map)
{
	if (!s || s->freed || idx > 1 || stream >= RELAY_MAX_STREAMS || !map ||
	    map->n > RELAY_MAX_PT_ALLOW)
		return EINVAL;
	for (unsigned i = 0; i < map->n; i++)
		if (map->from[i] > 127 || map->to[i] > 127)
			return EINVAL;
	if (stream)
		relay_session_xep_init(s);
	struct ptmap_msg *m = g_new0(struct ptmap_msg, 1);
	m->s = relay_session_ref(s);
	m->idx = idx;
	m->stream = stream;
	m->map = *map;
	relay_worker_post(s->w, do_map_pts, m, relay_session_msg_free);
	return 0;
}

/* ---- counting per stream by PT ---- */

struct kinds_msg {
	struct relay_session *s;
	unsigned idx;
	struct relay_pt_kinds k;
};

static gboolean do_count_by_pt(gpointer data)
{
	struct kinds_msg *m = data;
	if (m->s->closed)
		return G_SOURCE_REMOVE;
	struct endpoint *e = &m->s->ep[m->idx];
	memset(e->kind_of, 0, sizeof(e->kind_of));
	for (unsigned i = 0; i < m->k.n; i++)
		e->kind_of[m->k.pt[i]] = 1;
	if (m->k.n && !e->kinds) /* counting starts now */
		memset(e->kst, 0, sizeof(e->kst));
	e->kinds = m->k.n > 0;
	return G_SOURCE_REMOVE;
}

int relay_session_count_by_pt(struct relay_session *s, unsigned idx,
			      const struct relay_pt_kinds *k)
{
	if (!s || s->freed || idx > 1 || !k || k->n > RELAY_MAX_PT_ALLOW)
		return EINVAL;
	for (unsigned i = 0; i < k->n; i++)
		if (k->pt[i] > 127)
			return EINVAL;
	struct kinds_msg *m = g_new0(struct kinds_msg, 1);
	m->s = relay_session_ref(s);
	m->idx = idx;
	m->k = *k;
	relay_worker_post(s->w, do_count_by_pt, m, relay_session_msg_free);
	return 0;
}
