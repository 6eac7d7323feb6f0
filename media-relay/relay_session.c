/* Relay sessions as the signaling thread sees them: create, renegotiate, stats, free, all by
 * messages to the owning worker; and the RFC 3550 receiver statistics kept on the worker. */
#include <arpa/inet.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <string.h>
#include <unistd.h>

#include "relay_priv.h"

struct relay_session *relay_session_ref(struct relay_session *s)
{
	g_atomic_ref_count_inc(&s->ref);
	return s;
}

void relay_session_msg_free(gpointer data)
{
	struct relay_session **s = data; /* the first member */
	relay_session_unref(*s);
	g_free(data);
}

void relay_session_xep_init(struct relay_session *s)
{
	if (s->xep)
		return;
	s->xep = g_malloc0(2 * sizeof(*s->xep));
	for (unsigned i = 0; i < 2; i++) {
		for (unsigned k = 1; k < RELAY_MAX_STREAMS; k++) {
			struct endpoint *e = &s->xep[i][k - 1];
			e->s = s;
			e->idx = i;
			e->stream = k;
			e->rtp.ep = e->rtcp.ep = e;
			e->rtcp.is_rtcp = true;
			e->rtp.fd = e->rtcp.fd = -1;
		}
	}
}

void relay_session_unref(struct relay_session *s)
{
	if (!s || !g_atomic_ref_count_dec(&s->ref))
		return;
	g_main_context_unref(s->caller);
	g_free(s->call_id);
	g_free(s->xep);
	g_free(s);
}

/* ---- RFC 3550 A.1 (sequence), A.3 (loss), A.8 (jitter) ---- */

#define MAX_DROPOUT  3000
#define MAX_MISORDER 100
#define SEQ_MOD      (1u << 16)

static void seq_init(struct rx_seq *q, const struct relay_rtp *rtp)
{
	memset(q, 0, sizeof(*q));
	q->init = true;
	q->ssrc = rtp->ssrc;
	q->base_seq = rtp->seq;
	q->max_seq = rtp->seq;
	q->bad_seq = SEQ_MOD + 1;
}

void relay_session_rx_seq(struct rx_seq *q, uint32_t clock_rate, const struct relay_rtp *rtp,
			  gint64 now_us)
{
	if (!q->init || q->ssrc != rtp->ssrc) {
		seq_init(q, rtp);
	} else {
		uint16_t udelta = (uint16_t)(rtp->seq - q->max_seq);
		if (udelta < MAX_DROPOUT) {
			if (rtp->seq < q->max_seq)
				q->cycles += SEQ_MOD; /* wrapped */
			q->max_seq = rtp->seq;
		} else if (udelta <= SEQ_MOD - MAX_MISORDER) {
			/* A big jump: accept it only if the next packet confirms it. */
			if (rtp->seq != q->bad_seq) {
				q->bad_seq = (rtp->seq + 1u) & (SEQ_MOD - 1);
				return;
			}
			seq_init(q, rtp);
		}
		/* else: duplicate or reordered, counted as received */
	}
	q->received++;

	uint32_t rate = clock_rate ? clock_rate : 8000;
	uint32_t arrival = (uint32_t)((uint64_t)now_us * rate / G_USEC_PER_SEC);
	uint32_t transit = arrival - rtp->ts;
	if (q->have_transit) {
		int32_t d = (int32_t)(transit - q->transit);
		double ad = d < 0 ? -(double)d : (double)d;
		q->jitter += (ad - q->jitter) / 16.0;
	}
	q->transit = transit;
	q->have_transit = true;
}

static void seq_snapshot(const struct rx_seq *q, uint32_t clock_rate, struct relay_dir_stats *out)
{
	if (q->init) {
		int64_t expected = (int64_t)q->cycles + q->max_seq - (int64_t)q->base_seq + 1;
		out->lost = expected - (int64_t)q->received;
		out->jitter = (uint32_t)q->jitter;
		uint32_t rate = clock_rate ? clock_rate : 8000;
		out->jitter_us = (uint32_t)(q->jitter * 1e6 / rate);
	}
}

static void snapshot(const struct endpoint *e, struct relay_dir_stats *out)
{
	*out = e->st;
	seq_snapshot(&e->seq, e->clock_rate, out);
	out->latched = e->l_rtp.on;
	if (e->l_rtp.on)
		out->latch = e->l_rtp.addr;
}

/* Per stream: the bundled endpoint's share of stream k, and stream k's own endpoints. */
static void snapshot_streams(struct relay_session *s, struct relay_session_stats *out)
{
	out->n_streams = s->n_streams > 1 ? s->n_streams : 1;
	if (s->n_streams <= 1 && (s->ep[0].kinds || s->ep[1].kinds)) { /* counted by PT */
		out->n_streams = 2;
		for (unsigned k = 0; k < 2; k++) {
			for (unsigned i = 0; i < 2; i++) {
				out->stream[k][i] = s->ep[i].kst[k];
				out->stream[k][i].latched = out->ep[i].latched;
				out->stream[k][i].latch = out->ep[i].latch;
			}
		}
		return;
	}
	if (s->n_streams <= 1 || s->bundled > 1) {
		out->stream[0][0] = out->ep[0];
		out->stream[0][1] = out->ep[1];
		for (unsigned k = 1; k < out->n_streams; k++)
			for (unsigned i = 0; i < 2; i++)
				snapshot(relay_stream_ep(s, i, k), &out->stream[k][i]);
		return;
	}
	unsigned b = s->bundled;
	seq_snapshot(&s->sx[0].seq, s->sx[0].d.clock_rate, &out->ep[b]);
	for (unsigned k = 0; k < s->n_streams; k++) {
		struct relay_dir_stats *bs = &out->stream[k][b];
		*bs = s->sx[k].st;
		seq_snapshot(&s->sx[k].seq, s->sx[k].d.clock_rate, bs);
		bs->latched = out->ep[b].latched;
		bs->latch = out->ep[b].latch;
		snapshot(relay_stream_far(s, k), &out->stream[k][b ^ 1]);
	}
}

/* ---- endpoint configuration (built on the signaling thread, applied on the worker) ---- */

static int check_addr(const struct relay *r, const struct sockaddr_storage *a)
{
	return a->ss_family == AF_UNSPEC || a->ss_family == r->family ? 0 : EINVAL;
}

/* RFC 8839 §5.4: ice-char = ALPHA / DIGIT / "+" / "/"; ufrag 4..256, pwd 22..256. */
static bool ice_str_ok(const char *s, size_t cap, size_t min)
{
	size_t n = strnlen(s, cap);
	if (n == cap)
		return false; /* not terminated */
	if (n == 0)
		return true; /* not known yet */
	if (n < min)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!g_ascii_isalnum(s[i]) && s[i] != '+' && s[i] != '/')
			return false;
	return true;
}

static int check_ice(const struct relay *r, const struct relay_ice_params *p)
{
	if (!r->dtls_ctx)
		return ENOTSUP;
	if (!ice_str_ok(p->remote_ufrag, sizeof(p->remote_ufrag), 4) ||
	    !ice_str_ok(p->remote_pwd, sizeof(p->remote_pwd), 22) ||
	    !p->remote_ufrag[0] != !p->remote_pwd[0])
		return EINVAL;
	if (p->dtls_role != RELAY_DTLS_ACTIVE && p->dtls_role != RELAY_DTLS_PASSIVE)
		return EINVAL;
	if (p->remote_fp_len == 0)
		return 0;
	static const struct {
		const char *name;
		size_t len;
	} hashes[] = {{"sha-1", 20}, {"sha-256", 32}, {"sha-384", 48}, {"sha-512", 64}};
	if (strnlen(p->remote_fp_hash, sizeof(p->remote_fp_hash)) == sizeof(p->remote_fp_hash))
		return EINVAL;
	for (size_t i = 0; i < G_N_ELEMENTS(hashes); i++)
		if (!g_ascii_strcasecmp(p->remote_fp_hash, hashes[i].name))
			return p->remote_fp_len == hashes[i].len ? 0 : EINVAL;
	return EINVAL; /* BI-24: an unknown hash is refused, not ignored */
}

int relay_check_params(const struct relay *r, const struct relay_endpoint_params *p)
{
	if (p->n_pt_allow > RELAY_MAX_PT_ALLOW || p->learn_packets > RELAY_LEARN_MAX)
		return EINVAL;
	for (unsigned i = 0; i < p->n_pt_allow; i++)
		if (p->pt_allow[i] > 127)
			return EINVAL;
	if (p->kind == RELAY_EP_ICE)
		return check_ice(r, &p->ice);
	if (p->kind != RELAY_EP_UDP)
		return EINVAL;
	if (check_addr(r, &p->remote_rtp) || check_addr(r, &p->remote_rtcp))
		return EINVAL;
	if (p->dtls)
		return check_ice(r, &p->ice); /* role and fingerprint; the suite comes from DTLS */
	if (p->srtp != RELAY_SRTP_NONE) {
		size_t want = relay_srtp_key_len(p->srtp);
		size_t a = 0, b = 0;
		if (!want || !p->key_in || !p->key_out)
			return EINVAL;
		if (!r->suite_ok[p->srtp])
			return ENOTSUP;
		secret_reveal(p->key_in, &a);
		secret_reveal(p->key_out, &b);
		if (a != want || b != want)
			return EINVAL;
	}
	return 0;
}

/* The ICE part: what the worker's agent and DTLS need (local credentials set by caller). */
static void load_ice(struct ice_conf *c, const struct relay_ice_params *p)
{
	memset(c, 0, sizeof(*c));
	c->controlling = p->controlling;
	g_strlcpy(c->remote_ufrag, p->remote_ufrag, sizeof(c->remote_ufrag));
	g_strlcpy(c->remote_pwd, p->remote_pwd, sizeof(c->remote_pwd));
	c->role = p->dtls_role;
	g_strlcpy(c->fp_hash, p->remote_fp_hash, sizeof(c->fp_hash));
	c->fp_len = p->remote_fp_len;
	memcpy(c->fp, p->remote_fp, p->remote_fp_len);
}

/* Fills the signalled part of e (no sockets, no SRTP contexts) and copies the keys to k. */
void relay_load_params(struct endpoint *e, struct keys *k, const struct relay_endpoint_params *p)
{
	e->kind = p->kind;
	if (p->kind == RELAY_EP_ICE) {
		/* the pair comes from ICE, RTCP is muxed, the suite and keys come from DTLS */
		memset(&e->sig_rtp, 0, sizeof(e->sig_rtp));
		memset(&e->sig_rtcp, 0, sizeof(e->sig_rtcp));
		e->mux = true;
		e->learn = false;
		e->learn_packets = RELAY_LEARN_MAX;
		e->suite = RELAY_SRTP_NONE;
		memcpy(e->pt_allow, p->pt_allow, sizeof(e->pt_allow));
		e->n_pt_allow = p->n_pt_allow;
		e->clock_rate = p->clock_rate;
		e->srtp_in = e->srtp_out = NULL;
		memset(k, 0, sizeof(*k));
		load_ice(&e->icec, &p->ice);
		return;
	}
	e->sig_rtp = p->remote_rtp;
	e->mux = p->rtcp_mux;
	memset(&e->sig_rtcp, 0, sizeof(e->sig_rtcp));
	if (!p->rtcp_mux) {
		e->sig_rtcp = p->remote_rtcp;
		if (e->sig_rtcp.ss_family == AF_UNSPEC && e->sig_rtp.ss_family != AF_UNSPEC) {
			/* RFC 3550 §11: RTCP on the next port up unless a=rtcp said otherwise */
			e->sig_rtcp = e->sig_rtp;
			uint16_t *port = e->sig_rtp.ss_family == AF_INET
						 ? &((struct sockaddr_in *)&e->sig_rtcp)->sin_port
						 : &((struct sockaddr_in6 *)&e->sig_rtcp)->sin6_port;
			*port = htons((uint16_t)(ntohs(*port) + 1));
		}
	}
	e->learn = p->learn;
	e->learn_packets = p->learn_packets ? p->learn_packets : RELAY_LEARN_MAX;
	e->dtls = p->dtls;
	e->suite = p->dtls ? RELAY_SRTP_NONE : p->srtp;
	memcpy(e->pt_allow, p->pt_allow, sizeof(e->pt_allow));
	e->n_pt_allow = p->n_pt_allow;
	e->clock_rate = p->clock_rate;
	e->srtp_in = e->srtp_out = NULL;
	memset(k, 0, sizeof(*k));
	if (p->dtls) {
		load_ice(&e->icec, &p->ice); /* role and fingerprint; keys come from DTLS */
		return;
	}
	k->suite = p->srtp;
	if (p->srtp == RELAY_SRTP_NONE)
		return;
	/* relay_check_params() verified both lengths against the suite */
	const char *in = secret_reveal(p->key_in, &k->len);
	const char *out = secret_reveal(p->key_out, &k->len);
	if (k->len > sizeof(k->in)) { /* cannot pass the check; never copy past the buffers */
		k->len = 0;
		return;
	}
	memcpy(k->in, in, k->len);
	memcpy(k->out, out, k->len);
}

/* Worker thread: builds e's SRTP contexts from k and wipes k. On failure the endpoint keeps
 * its suite with no contexts, so every packet is dropped: never a fallback to plain RTP. */
void relay_make_srtp(struct endpoint *e, struct keys *k)
{
	e->srtp_in = e->srtp_out = NULL;
	if (k->suite != RELAY_SRTP_NONE) {
		int err = relay_srtp_new(k->suite, k->in, k->len, true, &e->srtp_in);
		if (!err)
			err = relay_srtp_new(k->suite, k->out, k->len, false, &e->srtp_out);
		if (err) {
			struct log_ctx lc = {.call_id = e->s->call_id, .leg = "relay"};
			LOGE("relay", &lc, "endpoint %u: SRTP context failed: %s", e->idx,
			     g_strerror(err));
			relay_srtp_free(e->srtp_in);
			e->srtp_in = NULL;
		}
	}
	OPENSSL_cleanse(k, sizeof(*k));
}

/* A plain UDP endpoint's socket stays open for the slot's next holder (relay_ports_keep),
 * still registered in the worker's epoll set under its port's park (relay_loop.c); any
 * other is closed, which takes it out of the set. */
static void sock_give_back(struct relay *r, struct endpoint *e, struct sock *k, uint16_t port)
{
	if (k->fd < 0)
		return;
	bool keep = e->kind == RELAY_EP_UDP && !e->dtls && e->port_held;
	if (k->watched && relay_loop_unwatch(e->s->w, k) != 0)
		keep = false;
	if (keep)
		relay_ports_keep(r->ports, port, k->fd);
	else
		relay_ports_close(r->ports, port, k->fd);
	k->fd = -1;
}

void relay_endpoint_clear(struct relay *r, struct endpoint *e)
{
	/* before the slot goes back: libnice's socket is closed first */
	bool later = relay_ice_stop(e);
	relay_udp_dtls_stop(e);
	sock_give_back(r, e, &e->rtp, e->port);
	sock_give_back(r, e, &e->rtcp, (uint16_t)(e->port + 1));
	relay_endpoint_unwatch(e);
	if (e->port_held && !later)
		relay_ports_release(r->ports, e->port);
	e->port_held = false;
	e->rtp.fd = e->rtcp.fd = -1;
	relay_srtp_free(e->srtp_in);
	relay_srtp_free(e->srtp_out);
	e->srtp_in = e->srtp_out = NULL;
	relay_srtp_free(e->srtcp_in);
	relay_srtp_free(e->srtcp_out);
	e->srtcp_in = e->srtcp_out = NULL;
}

/* ---- messages to the worker ---- */

struct msg {
	struct relay_session *s;
	struct keys keys[2]; /* attach: both endpoints; update: keys[0] */
	/* update (cfg is allocated for that message only: a message is allocated and zeroed
	 * three times per call, and an endpoint or a stats snapshot is ~2 KB) */
	unsigned idx;
	struct endpoint *cfg;
	int rtcp_fd;
	/* stats */
	relay_stats_fn *cb;
	void *arg;
	struct relay_session_stats *stats;
	/* telephone-event translation */
	struct relay_event_map evmap;
	/* ICE: a remote candidate; an event back to signaling */
	struct ice_cand cand;
	enum relay_event ev;
	char *detail;
};

static struct msg *msg_new(struct relay_session *s)
{
	struct msg *m = g_new0(struct msg, 1);
	m->s = relay_session_ref(s);
	m->rtcp_fd = -1;
	return m;
}

static void msg_free(gpointer data)
{
	struct msg *m = data;
	/* a message the worker never ran still holds keys and maybe a socket */
	OPENSSL_cleanse(m->keys, sizeof(m->keys));
	if (m->rtcp_fd >= 0)
		relay_ports_close(m->s->relay->ports, (uint16_t)(m->s->port[m->idx] + 1), m->rtcp_fd);
	g_free(m->detail);
	if (m->cfg)
		OPENSSL_cleanse(m->cfg, sizeof(*m->cfg));
	g_free(m->cfg);
	g_free(m->stats);
	relay_session_unref(m->s);
	g_free(m);
}

static void post(struct relay_session *s, GSourceFunc fn, struct msg *m)
{
	relay_worker_post(s->w, fn, m, msg_free);
}

static gboolean do_attach(gpointer data)
{
	struct msg *m = data;
	for (int i = 0; i < 2; i++)
		relay_make_srtp(&m->s->ep[i], &m->keys[i]);
	relay_worker_attach(m->s);
	return G_SOURCE_REMOVE;
}

static gboolean do_detach(gpointer data)
{
	struct msg *m = data;
	relay_worker_detach(m->s);
	return G_SOURCE_REMOVE;
}

static gboolean do_update(gpointer data)
{
	struct msg *m = data;
	struct relay_session *s = m->s;
	if (s->closed)
		return G_SOURCE_REMOVE;
	struct endpoint *e = &s->ep[m->idx];
	if (e->kind == RELAY_EP_ICE) {
		memcpy(e->pt_allow, m->cfg->pt_allow, sizeof(e->pt_allow));
		e->n_pt_allow = m->cfg->n_pt_allow;
		e->clock_rate = m->cfg->clock_rate;
		memset(&e->seq, 0, sizeof(e->seq));
		relay_ice_update(e, &m->cfg->icec);
		return G_SOURCE_REMOVE;
	}
	if (!e->dtls) { /* DTLS keys stay unless the association changes */
		relay_srtp_free(e->srtp_in);
		relay_srtp_free(e->srtp_out);
		e->srtp_in = e->srtp_out = NULL;
	}
	e->sig_rtp = m->cfg->sig_rtp;
	e->sig_rtcp = m->cfg->sig_rtcp;
	e->mux = m->cfg->mux;
	e->learn = m->cfg->learn;
	e->learn_packets = m->cfg->learn_packets;
	if (!e->dtls) {
		e->suite = m->cfg->suite;
		relay_make_srtp(e, &m->keys[0]);
	}
	memcpy(e->pt_allow, m->cfg->pt_allow, sizeof(e->pt_allow));
	e->n_pt_allow = m->cfg->n_pt_allow;
	e->clock_rate = m->cfg->clock_rate;
	memset(&e->l_rtp, 0, sizeof(e->l_rtp));
	memset(&e->l_rtcp, 0, sizeof(e->l_rtcp));
	memset(&e->seq, 0, sizeof(e->seq));
	if (m->rtcp_fd >= 0) {
		e->rtcp.fd = m->rtcp_fd;
		m->rtcp_fd = -1;
		relay_endpoint_watch(e);
	}
	if (e->dtls) {
		struct ice_conf old = e->icec;
		e->icec = m->cfg->icec;
		relay_udp_dtls_update(e, &old);
	}
	struct log_ctx lc = {.call_id = s->call_id, .leg = "relay"};
	LOGD("relay", &lc, "endpoint %u renegotiated (%s%s)", m->idx,
	     relay_srtp_suite_name(e->suite), e->mux ? ", rtcp-mux" : "");
	return G_SOURCE_REMOVE;
}

static gboolean deliver_stats(gpointer data)
{
	struct msg *m = data;
	if (!m->s->freed)
		m->cb(m->s, m->stats, m->arg);
	return G_SOURCE_REMOVE;
}

static gboolean do_stats(gpointer data)
{
	struct msg *m = data;
	struct msg *back = msg_new(m->s);
	back->cb = m->cb;
	back->arg = m->arg;
	back->stats = g_new0(struct relay_session_stats, 1);
	for (int i = 0; i < 2; i++)
		snapshot(&m->s->ep[i], &back->stats->ep[i]);
	snapshot_streams(m->s, back->stats);
	g_main_context_invoke_full(m->s->caller, G_PRIORITY_DEFAULT, deliver_stats, back,
				   msg_free);
	return G_SOURCE_REMOVE;
}

static gboolean do_add_candidate(gpointer data)
{
	struct msg *m = data;
	if (!m->s->closed)
		relay_ice_add_candidate(&m->s->ep[m->idx], &m->cand);
	return G_SOURCE_REMOVE;
}

static gboolean do_end_of_candidates(gpointer data)
{
	struct msg *m = data;
	if (!m->s->closed)
		relay_ice_end_of_candidates(&m->s->ep[m->idx]);
	return G_SOURCE_REMOVE;
}

static gboolean deliver_event(gpointer data)
{
	struct msg *m = data;
	if (!m->s->freed && m->s->on_event)
		m->s->on_event(m->s, m->idx, m->ev, m->detail, m->s->arg);
	return G_SOURCE_REMOVE;
}

void relay_session_emit(struct relay_session *s, unsigned idx, enum relay_event ev,
			const char *detail)
{
	if (s->closed || !s->on_event)
		return;
	struct msg *m = msg_new(s);
	m->idx = idx;
	m->ev = ev;
	m->detail = g_strdup(detail);
	g_main_context_invoke_full(s->caller, G_PRIORITY_DEFAULT, deliver_event, m, msg_free);
}

/* Our credentials (RFC 8445 §5.3): ufrag 32 bits, pwd 128 bits of randomness, in hex (a
 * subset of ice-char). */
static void new_credentials(struct relay_session *s, unsigned i, struct ice_conf *c)
{
	core_random_hex(s->local_ufrag[i], 4);
	core_random_hex(s->local_pwd[i], 16);
	memcpy(c->local_ufrag, s->local_ufrag[i], sizeof(c->local_ufrag));
	memcpy(c->local_pwd, s->local_pwd[i], sizeof(c->local_pwd));
}

static void fill_local(struct relay_session *s, unsigned i, struct relay_local *l)
{
	memset(l->ice_ufrag, 0, sizeof(l->ice_ufrag));
	memset(l->ice_pwd, 0, sizeof(l->ice_pwd));
	if (s->kind[i] == RELAY_EP_ICE) {
		g_strlcpy(l->ice_ufrag, s->local_ufrag[i], sizeof(l->ice_ufrag));
		g_strlcpy(l->ice_pwd, s->local_pwd[i], sizeof(l->ice_pwd));
	}
}

/* ---- public API (signaling thread) ---- */

int relay_session_new(struct relay *r, const struct relay_session_params *p,
		      struct relay_local local[2], struct relay_session **out)
{
	if (!r || !p || !local || !out)
		return EINVAL;
	for (int i = 0; i < 2; i++) {
		int err = relay_check_params(r, &p->ep[i]);
		if (err)
			return err;
	}
	struct relay_session *s = g_new0(struct relay_session, 1);
	g_atomic_ref_count_init(&s->ref);
	s->relay = r;
	s->call_id = g_strdup(p->call_id);
	s->caller = g_main_context_ref_thread_default();
	s->on_timeout = p->on_timeout;
	s->on_event = p->on_event;
	s->arg = p->arg;
	s->inactivity_secs = p->inactivity_secs;
	int err = 0;
	for (unsigned i = 0; i < 2; i++) {
		struct endpoint *e = &s->ep[i];
		e->s = s;
		e->idx = i;
		e->rtp.ep = e->rtcp.ep = e;
		e->rtcp.is_rtcp = true;
		e->rtp.fd = e->rtcp.fd = -1;
	}
	/* the worker first: its part of the pool gives the ports, whose sockets it keeps
	 * watching between calls (relay_ports_set_parts) */
	s->w = relay_pick_worker(r);
	struct msg *m = msg_new(s);
	for (unsigned i = 0; i < 2 && !err; i++) {
		struct endpoint *e = &s->ep[i];
		int fds[2] = {-1, -1};
		relay_load_params(e, &m->keys[i], &p->ep[i]);
		bool ice = p->ep[i].kind == RELAY_EP_ICE;
		bool rtcp = !ice && !p->ep[i].rtcp_mux;
		err = relay_ports_alloc_in(r->ports, s->w->idx, rtcp, fds, &e->port);
		for (unsigned t = 1; i == 0 && err == EADDRNOTAVAIL && t < r->n_workers; t++) {
			struct worker *o = &r->workers[(s->w->idx + t) % r->n_workers];
			err = relay_ports_alloc_in(r->ports, o->idx, rtcp, fds, &e->port);
			if (!err) { /* that worker's part still had a slot: the session goes there */
				g_atomic_int_dec_and_test(&s->w->load);
				g_atomic_int_inc(&o->load);
				s->w = o;
			}
		}
		if (err == EADDRNOTAVAIL && i > 0) /* another part's slot: watched outside its park */
			err = relay_ports_alloc(r->ports, rtcp, fds, &e->port);
		if (err)
			break;
		e->port_held = true;
		s->kind[i] = p->ep[i].kind;
		s->dtls[i] = p->ep[i].kind == RELAY_EP_UDP && p->ep[i].dtls;
		if (ice) {
			/* The slot is ours; libnice binds its even port on each ICE address
			 * (nice_agent_set_port_range to exactly that port) once the agent starts
			 * on the worker. The probe socket only proved the port free. */
			relay_ports_close(r->ports, e->port, fds[0]);
			fds[0] = -1;
			new_credentials(s, i, &e->icec);
			g_strlcpy(s->remote_ufrag[i], p->ep[i].ice.remote_ufrag,
				  sizeof(s->remote_ufrag[i]));
		}
		e->rtp.fd = fds[0];
		e->rtcp.fd = fds[1];
		s->port[i] = e->port;
		s->rtcp_bound[i] = fds[1] >= 0;
		local[i].rtp_port = e->port;
		local[i].rtcp_port = fds[1] >= 0 ? (uint16_t)(e->port + 1) : e->port;
		fill_local(s, i, &local[i]);
	}
	struct log_ctx lc = {.call_id = s->call_id, .leg = "relay"};
	if (err) {
		LOGW("relay", &lc, "session setup failed: %s", g_strerror(err));
		for (int i = 0; i < 2; i++)
			relay_endpoint_clear(r, &s->ep[i]);
		msg_free(m);
		g_atomic_int_dec_and_test(&s->w->load);
		relay_session_unref(s);
		return err;
	}
	metric_add(r->m_sessions, 1);
	LOGI("relay", &lc, "session on worker %u: ports %u/%u (%s) and %u/%u (%s)", s->w->idx,
	     local[0].rtp_port, local[0].rtcp_port,
	     s->kind[0] == RELAY_EP_ICE ? "ICE"
	     : s->dtls[0]                  ? "DTLS"
					     : relay_srtp_suite_name(s->ep[0].suite),
	     local[1].rtp_port, local[1].rtcp_port,
	     s->kind[1] == RELAY_EP_ICE ? "ICE"
	     : s->dtls[1]                  ? "DTLS"
					     : relay_srtp_suite_name(s->ep[1].suite));
	post(s, do_attach, m);
	*out = s;
	return 0;
}

int relay_session_update(struct relay_session *s, unsigned idx,
			 const struct relay_endpoint_params *ep, struct relay_local *local)
{
	if (!s || s->freed || idx > 1 || !ep)
		return EINVAL;
	int err = relay_check_params(s->relay, ep);
	if (err)
		return err;
	if (ep->kind != s->kind[idx] || (ep->kind == RELAY_EP_UDP && ep->dtls != s->dtls[idx]))
		return EINVAL;
	struct msg *m = msg_new(s);
	m->idx = idx;
	m->cfg = g_new0(struct endpoint, 1);
	relay_load_params(m->cfg, &m->keys[0], ep);
	if (ep->kind == RELAY_EP_ICE) {
		/* RFC 8445 §9: a new remote ufrag after one was known means a restart */
		const char *was = s->remote_ufrag[idx];
		if (was[0] && ep->ice.remote_ufrag[0] && strcmp(was, ep->ice.remote_ufrag)) {
			m->cfg->icec.restart = true;
			new_credentials(s, idx, &m->cfg->icec);
			s->n_cands[idx] = 0;
		}
		if (ep->ice.remote_ufrag[0])
			g_strlcpy(s->remote_ufrag[idx], ep->ice.remote_ufrag,
				  sizeof(s->remote_ufrag[idx]));
		if (local) {
			local->rtp_port = local->rtcp_port = s->port[idx];
			fill_local(s, idx, local);
		}
		post(s, do_update, m);
		return 0;
	}
	if (!ep->rtcp_mux && !s->rtcp_bound[idx]) {
		err = relay_ports_bind_rtcp(s->relay->ports, s->port[idx], &m->rtcp_fd);
		if (!err)
			s->rtcp_bound[idx] = true;
	}
	if (err) {
		msg_free(m);
		return err;
	}
	if (local) {
		local->rtp_port = s->port[idx];
		local->rtcp_port = ep->rtcp_mux ? s->port[idx] : (uint16_t)(s->port[idx] + 1);
		fill_local(s, idx, local);
	}
	post(s, do_update, m);
	return 0;
}

int relay_session_add_candidate(struct relay_session *s, unsigned idx, const char *cand)
{
	if (!s || s->freed || idx > 1 || s->kind[idx] != RELAY_EP_ICE)
		return EINVAL;
	struct ice_cand c;
	int err = relay_ice_cand_parse(cand, &c);
	if (!err && c.transport != CAND_UDP && !s->relay->ice_tcp)
		err = ENOENT;
	struct log_ctx lc = {.call_id = s->call_id, .leg = "ice"};
	if (err == ENOENT) {
		LOGD("relay", &lc, "endpoint %u: candidate not used (RTCP, TCP or hostname)", idx);
		return 0;
	}
	if (err) {
		LOGN("relay", &lc, "endpoint %u: malformed candidate refused", idx);
		return err;
	}
	if (s->n_cands[idx] >= RELAY_MAX_REMOTE_CANDS)
		return ENOSPC;
	s->n_cands[idx]++;
	struct msg *m = msg_new(s);
	m->idx = idx;
	m->cand = c;
	post(s, do_add_candidate, m);
	return 0;
}

void relay_session_end_of_candidates(struct relay_session *s, unsigned idx)
{
	if (!s || s->freed || idx > 1 || s->kind[idx] != RELAY_EP_ICE)
		return;
	struct msg *m = msg_new(s);
	m->idx = idx;
	post(s, do_end_of_candidates, m);
}

static gboolean do_map_events(gpointer data)
{
	struct msg *m = data;
	if (!m->s->closed)
		m->s->ep[m->idx].evmap = m->evmap;
	return G_SOURCE_REMOVE;
}

int relay_session_map_events(struct relay_session *s, unsigned idx,
			     const struct relay_event_map *map)
{
	if (!s || s->freed || idx > 1 || !map)
		return EINVAL;
	if (map->on && (map->pt > 127 || map->to_pt > 127 || !map->clock || !map->to_clock))
		return EINVAL;
	struct msg *m = msg_new(s);
	m->idx = idx;
	m->evmap = *map;
	post(s, do_map_events, m);
	return 0;
}

void relay_session_stats(struct relay_session *s, relay_stats_fn *cb, void *arg)
{
	if (!s || s->freed || !cb)
		return;
	struct msg *m = msg_new(s);
	m->cb = cb;
	m->arg = arg;
	post(s, do_stats, m);
}

void relay_session_free(struct relay_session *s)
{
	if (!s || s->freed)
		return;
	s->freed = true;
	post(s, do_detach, msg_new(s));
	relay_session_unref(s);
}
