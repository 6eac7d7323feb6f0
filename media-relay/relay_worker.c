/* Media workers: one thread and GMainContext each; the per-packet path (batched receive,
 * checks in the order size, source, validity, SRTP, PT, then latch and forward). */
#define _GNU_SOURCE /* recvmmsg, sendmmsg */
#include <arpa/inet.h>
#include <errno.h>
#include <nice/agent.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "relay_priv.h"

#define READS_PER_WAKEUP 4 /* batches per socket per wake-up: bounds work under a flood */

static const char *const drop_names[DROP_N] = {
	[DROP_TOO_BIG] = "too_big",
	[DROP_MALFORMED] = "malformed",
	[DROP_SOURCE] = "source",
	[DROP_SRTP_AUTH] = "srtp_auth",
	[DROP_SRTP_REPLAY] = "srtp_replay",
	[DROP_PT] = "pt",
	[DROP_NO_REMOTE] = "no_remote",
	[DROP_SEND] = "send_error",
	[DROP_NOT_READY] = "not_ready",
	[DROP_STREAM] = "unknown_stream",
};

/* ---- addresses ---- */

static bool same_ip(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	if (a->ss_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
			      &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
	return false;
}

static uint16_t port_of(const struct sockaddr_storage *a)
{
	return a->ss_family == AF_INET ? ((const struct sockaddr_in *)a)->sin_port
				       : ((const struct sockaddr_in6 *)a)->sin6_port;
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	return same_ip(a, b) && port_of(a) == port_of(b);
}

static socklen_t addr_len(const struct sockaddr_storage *a)
{
	return a->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
}

/* ---- per-packet checks ---- */

/* Before anything is parsed: may this source talk to this socket at all? */
static bool source_allowed(const struct endpoint *e, const struct latch *l,
			   const struct sockaddr_storage *sig, const struct sockaddr_storage *src)
{
	if (sig->ss_family == AF_UNSPEC)
		return false;
	if (!e->learn)
		return same_addr(src, sig);
	if (!same_ip(src, sig))
		return false;
	if (l->on && l->accepted >= e->learn_packets)
		return same_addr(src, &l->addr);
	return true;
}

/* After the packet proved valid (and authentic): latch or re-latch within the window. */
static void latch_update(struct latch *l, const struct sockaddr_storage *src)
{
	if (!l->on || !same_addr(src, &l->addr)) {
		l->on = true;
		l->addr = *src;
	}
	if (l->accepted < UINT_MAX)
		l->accepted++;
}

static bool pt_allowed(const struct endpoint *e, uint8_t pt)
{
	if (!e->n_pt_allow)
		return true;
	for (unsigned i = 0; i < e->n_pt_allow; i++)
		if (e->pt_allow[i] == pt)
			return true;
	return false;
}

/* RFC 4733 §2.3: event (8), E R volume (8), duration (16) in the event's clock. */
static void map_event(const struct relay_event_map *map, uint8_t *buf, const struct relay_rtp *rtp)
{
	buf[1] = (uint8_t)((buf[1] & 0x80) | map->to_pt);
	if (rtp->payload_len < 4)
		return;
	uint8_t *d = buf + (rtp->payload - buf) + 2;
	uint64_t dur = (uint64_t)((d[0] << 8) | d[1]) * map->to_clock / map->clock;
	if (dur > 0xFFFF)
		dur = 0xFFFF;
	d[0] = (uint8_t)(dur >> 8);
	d[1] = (uint8_t)dur;
}

struct batch_counts {
	uint64_t in_ok, in_drop, out_ok, out_err;
	uint64_t drop[DROP_N];
};

static void drop(struct endpoint *e, struct batch_counts *c, enum drop_reason why)
{
	e->st.dropped++;
	if (why == DROP_SOURCE)
		e->st.dropped_source++;
	c->in_drop++;
	c->drop[why]++;
}

/*
 * Validates one datagram from an allowed source, in place: RTP header or RTCP framing,
 * SRTP unprotect, RTCP sub-packet filter, PT allowlist. Returns DROP_N when it may be
 * forwarded, otherwise why not. *rtp is filled for RTP.
 */
static enum drop_reason validate(struct endpoint *e, bool rtcp, uint8_t *buf, size_t *len,
				 struct relay_rtp *rtp, struct batch_counts *c)
{
	/* an ICE endpoint is SRTP whatever its suite says: before DTLS finished (or after it
	 * failed) it has no contexts, and its packets are dropped, never passed as plain */
	bool srtp = e->suite != RELAY_SRTP_NONE || e->kind == RELAY_EP_ICE || e->dtls;
	struct relay_srtp *in = relay_udp_dtls_ctx(e, rtcp, false);
	if (srtp && !in)
		return e->kind == RELAY_EP_ICE || e->dtls ? DROP_NOT_READY : DROP_SRTP_AUTH;
	if (!rtcp) {
		/* The header is in clear text under SRTP too: check it before SRTP reads it
		 * (libsrtp's CVE-2015-6360 was this); the padding is checked once decrypted. */
		if (relay_rtp_parse(buf, *len, !srtp, rtp))
			return DROP_MALFORMED;
	} else if (*len < 8 || (buf[0] >> 6) != 2) {
		return DROP_MALFORMED;
	}
	if (srtp) {
		int err = relay_srtp_unprotect(in, rtcp, buf, len);
		if (err)
			return err == EALREADY ? DROP_SRTP_REPLAY
			       : err == EACCES ? DROP_SRTP_AUTH
					       : DROP_MALFORMED;
		if (!rtcp && relay_rtp_parse(buf, *len, true, rtp))
			return DROP_MALFORMED;
	}
	if (rtcp) {
		unsigned bad = 0;
		if (relay_rtcp_filter(buf, *len, len, &bad))
			return DROP_MALFORMED;
		c->drop[DROP_MALFORMED] += bad; /* sub-packets only: the rest goes on */
	} else if (e != relay_bundled(e->s) && !pt_allowed(e, rtp->pt)) {
		return DROP_PT; /* a bundled endpoint checks PTs per stream (demux) */
	}
	return DROP_N;
}

#define Q_ICE 2 /* process(): leaves through the other endpoint's ICE agent */

/* Where process() sends a datagram and whose counters its sending adds to. */
struct route {
	struct endpoint *o;          /* the endpoint it leaves by */
	const struct sockaddr_storage *dst; /* not for Q_ICE */
	struct relay_dir_stats *st;  /* the direction it came in on */
	struct relay_dir_stats *kst; /* its stream's share: on the bundled endpoint, or by PT
				      * (relay_session_count_by_pt); NULL */
};

/* BUNDLE: the stream of an accepted packet on the bundled endpoint, its far endpoint in
 * r->o; DROP_N, or why it cannot go anywhere. */
static enum drop_reason demux(struct relay_session *s, bool rtcp, const uint8_t *buf, size_t len,
			      const struct relay_rtp *rtp, struct route *r, struct stream **x)
{
	int k = rtcp ? (int)relay_bundle_rtcp(s, buf, len) : relay_bundle_rtp(s, rtp);
	if (k < 0)
		return DROP_STREAM;
	*x = &s->sx[k];
	if (!rtcp && !relay_stream_pt_ok(*x, rtp->pt))
		return DROP_PT;
	r->o = relay_stream_far(s, (unsigned)k);
	r->kst = &(*x)->st;
	return DROP_N;
}

/*
 * Processes one received datagram in place. Returns the queue (0 RTP, 1 RTCP) it should
 * leave on, Q_ICE, or -1 when dropped; *len becomes the length to send, *dst_out the
 * address (not for Q_ICE). src is NULL for a datagram from an ICE endpoint: libnice
 * delivers only what came over a checked pair, so there is no source to check or latch.
 */
static int process(struct endpoint *e, bool rtcp_sock, uint8_t *buf, size_t *len, size_t cap,
		   const struct sockaddr_storage *src, gint64 now, struct batch_counts *c,
		   struct route *r)
{
	struct relay_session *s = e->s;
	struct endpoint *o = relay_stream_peer(e);
	struct stream *x = NULL;
	bool rtcp = rtcp_sock || (e->mux && relay_is_rtcp(buf, *len));
	struct latch *l = rtcp_sock ? &e->l_rtcp : &e->l_rtp;
	const struct sockaddr_storage *sig = rtcp_sock ? &e->sig_rtcp : &e->sig_rtp;
	struct relay_rtp rtp;

	if (src && !source_allowed(e, l, sig, src)) {
		drop(e, c, DROP_SOURCE);
		return -1;
	}
	if (e->dtls && *len && buf[0] >= 20 && buf[0] <= 63) {
		relay_udp_dtls_input(e, rtcp_sock, buf, *len, src); /* RFC 7983 §7: DTLS */
		return -1;
	}
	enum drop_reason why;
	if (!rtcp_sock && !e->mux && relay_is_rtcp(buf, *len))
		why = DROP_MALFORMED; /* RTCP on a port that is not muxed */
	else
		why = validate(e, rtcp, buf, len, &rtp, c);
	r->o = o;
	r->st = &e->st;
	r->kst = NULL;
	if (why == DROP_N && e == relay_bundled(s))
		why = demux(s, rtcp, buf, *len, &rtp, r, &x);
	if (why != DROP_N) {
		drop(e, c, why);
		if (x)
			x->st.dropped++;
		return -1;
	}
	o = r->o;
	if (!x && e->kinds) /* no streams: counted per stream by PT all the same */
		r->kst = &e->kst[rtcp ? 0 : e->kind_of[rtp.pt]];
	/* valid and authentic: only now may its source latch (SEC-11) */
	if (src)
		latch_update(l, src);
	s->last_rx = now;
	s->timeout_fired = false;
	e->st.packets_in++;
	e->st.bytes_in += *len;
	c->in_ok++;
	if (r->kst) { /* its stream's share (x->st, or e->kst) */
		r->kst->packets_in++;
		r->kst->bytes_in += *len;
		r->kst->rtcp_in += rtcp;
	}
	if (rtcp) {
		e->st.rtcp_in++;
	} else if (x) {
		relay_session_rx_seq(&x->seq, x->d.clock_rate, &rtp, now);
	} else {
		relay_session_rx_seq(&e->seq, e->clock_rate, &rtp, now);
		if (s->n_streams > 1) { /* what this stream's far side sends with (RTCP routing) */
			s->sx[e->stream].far_ssrc = rtp.ssrc;
			s->sx[e->stream].far_ssrc_known = true;
		}
	}
	if (!rtcp && e->evmap.on && rtp.pt == e->evmap.pt)
		map_event(&e->evmap, buf, &rtp);
	else if (!rtcp && e->pt_mapped)
		buf[1] = (uint8_t)((buf[1] & 0x80) | e->pt_to[rtp.pt]); /* RFC 3264 §6.1 */

	if (!rtcp && o == relay_bundled(s) && s->mid_ext &&
	    !relay_rtp_put_mid(buf, len, cap, &rtp, s->mid_ext, s->sx[e->stream].d.mid)) {
		drop(e, c, DROP_SEND);
		return -1;
	}
	if (o->kind == RELAY_EP_ICE) {
		if (!o->srtp_out) {
			drop(e, c, DROP_NOT_READY);
			return -1;
		}
		if (relay_srtp_protect(o->srtp_out, rtcp, buf, len, cap)) {
			drop(e, c, DROP_SEND);
			return -1;
		}
		return Q_ICE;
	}
	const struct sockaddr_storage *dst;
	if (!rtcp || o->mux)
		dst = o->l_rtp.on ? &o->l_rtp.addr : &o->sig_rtp;
	else
		dst = o->l_rtcp.on ? &o->l_rtcp.addr : &o->sig_rtcp;
	int q = rtcp && !o->mux ? 1 : 0;
	int fd = q ? o->rtcp.fd : o->rtp.fd;
	if (dst->ss_family == AF_UNSPEC || fd < 0) {
		drop(e, c, DROP_NO_REMOTE);
		return -1;
	}
	if (o->dtls && !relay_udp_dtls_ctx(o, rtcp, true)) {
		drop(e, c, DROP_NOT_READY); /* no keys toward that peer yet: never plain RTP */
		return -1;
	}
	if ((o->suite != RELAY_SRTP_NONE || o->dtls) &&
	    (!relay_udp_dtls_ctx(o, rtcp, true) ||
	     relay_srtp_protect(relay_udp_dtls_ctx(o, rtcp, true), rtcp, buf, len, cap))) {
		drop(e, c, DROP_SEND);
		return -1;
	}
	r->dst = dst;
	return q;
}

static void count_out(const struct route *r, size_t bytes)
{
	r->st->packets_out++;
	r->st->bytes_out += bytes;
	if (r->kst) {
		r->kst->packets_out++;
		r->kst->bytes_out += bytes;
	}
}

static void count_lost(const struct route *r, unsigned lost)
{
	r->st->dropped += lost;
	if (r->kst)
		r->kst->dropped += lost;
}

static void flush(struct worker *w, const struct route *r, int q, unsigned n,
		  struct batch_counts *c)
{
	struct endpoint *o = r->o;
	int fd = q ? o->rtcp.fd : o->rtp.fd;
	unsigned done = 0;
	while (done < n) {
		int k = sendmmsg(fd, w->tx[q] + done, n - done, MSG_DONTWAIT);
		if (k <= 0) {
			/* A full socket buffer loses the rest of the batch; any other error
			 * (an unroutable address) loses the one datagram it was about. */
			unsigned lost = k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)
						? n - done
						: 1;
			c->out_err += lost;
			c->drop[DROP_SEND] += lost;
			count_lost(r, lost);
			done += lost;
			continue;
		}
		for (int i = 0; i < k; i++)
			count_out(r, w->tx[q][done + i].msg_len);
		c->out_ok += (unsigned)k;
		done += (unsigned)k;
	}
}

/* One protected datagram toward an ICE endpoint's peer (nice_agent_send has no batch). */
static void send_ice(const struct route *r, const uint8_t *buf, size_t len,
		     struct batch_counts *c)
{
	if (relay_ice_send(r->o, buf, len)) {
		c->out_err++;
		c->drop[DROP_SEND]++;
		count_lost(r, 1);
		return;
	}
	count_out(r, len);
	c->out_ok++;
}

static void count(struct relay *r, const struct batch_counts *c)
{
	if (c->in_ok)
		metric_add(r->m_in_ok, (int64_t)c->in_ok);
	if (c->in_drop)
		metric_add(r->m_in_drop, (int64_t)c->in_drop);
	if (c->out_ok)
		metric_add(r->m_out_ok, (int64_t)c->out_ok);
	if (c->out_err)
		metric_add(r->m_out_err, (int64_t)c->out_err);
	for (int i = 0; i < DROP_N; i++)
		if (c->drop[i])
			metric_add(r->m_drop[i], (int64_t)c->drop[i]);
}

/* One recvmmsg batch from a socket. Returns the number of datagrams read. */
static int read_batch(struct worker *w, struct sock *k)
{
	struct endpoint *e = k->ep;
	struct relay *r = w->r;
	unsigned n = r->batch;
	for (unsigned i = 0; i < n; i++) {
		w->rx_iov[i].iov_base = w->bufs + i * w->buf_size;
		w->rx_iov[i].iov_len = r->max_packet + 1; /* one more: a larger datagram shows */
		memset(&w->rx[i].msg_hdr, 0, sizeof(w->rx[i].msg_hdr));
		w->rx[i].msg_hdr.msg_iov = &w->rx_iov[i];
		w->rx[i].msg_hdr.msg_iovlen = 1;
		w->rx[i].msg_hdr.msg_name = &w->rx_addr[i];
		w->rx[i].msg_hdr.msg_namelen = sizeof(w->rx_addr[i]);
	}
	int got = recvmmsg(k->fd, w->rx, n, MSG_DONTWAIT, NULL);
	if (got <= 0)
		return 0;

	struct batch_counts c;
	memset(&c, 0, sizeof(c));
	unsigned nq[2] = {0, 0};
	struct route rt = {0}, last[2] = {{0}, {0}};
	gint64 now = g_get_monotonic_time();
	for (int i = 0; i < got; i++) {
		uint8_t *buf = w->rx_iov[i].iov_base;
		size_t len = w->rx[i].msg_len;
		if (len > r->max_packet || (w->rx[i].msg_hdr.msg_flags & MSG_TRUNC)) {
			drop(e, &c, DROP_TOO_BIG); /* BI-31: before any parsing or SRTP */
			continue;
		}
		int q = process(e, k->is_rtcp, buf, &len, w->buf_size, &w->rx_addr[i], now, &c,
				&rt);
		if (q == Q_ICE)
			send_ice(&rt, buf, len, &c);
		if (q < 0 || q == Q_ICE)
			continue;
		/* a plain endpoint is never bundled: every packet of the batch has one route */
		last[q] = rt;
		const struct sockaddr_storage *dst = rt.dst;
		struct mmsghdr *m = &w->tx[q][nq[q]];
		struct iovec *v = &w->tx_iov[q][nq[q]];
		v->iov_base = buf;
		v->iov_len = len;
		memset(&m->msg_hdr, 0, sizeof(m->msg_hdr));
		m->msg_hdr.msg_iov = v;
		m->msg_hdr.msg_iovlen = 1;
		m->msg_hdr.msg_name = (void *)dst;
		m->msg_hdr.msg_namelen = addr_len(dst);
		nq[q]++;
	}
	for (int q = 0; q < 2; q++)
		if (nq[q])
			flush(w, &last[q], q, nq[q], &c);
	count(r, &c);
	return got;
}

void relay_worker_ice_input(struct endpoint *e, const uint8_t *p, size_t len)
{
	struct worker *w = e->s->w;
	struct relay *r = w->r;
	struct batch_counts c;
	memset(&c, 0, sizeof(c));
	if (len > r->max_packet) {
		drop(e, &c, DROP_TOO_BIG); /* BI-31: before DTLS or SRTP see it */
	} else if (len && p[0] >= 20 && p[0] <= 63) {
		relay_ice_dtls_input(e, p, len); /* RFC 7983 §7: DTLS */
	} else if (len && p[0] >= 128 && p[0] <= 191) {
		/* RFC 7983: RTP/RTCP. libnice's buffer is read-only; unprotect in our own. */
		memcpy(w->ice_buf, p, len);
		struct route rt = {0};
		int q = process(e, false, w->ice_buf, &len, w->buf_size, NULL,
				g_get_monotonic_time(), &c, &rt);
		const struct sockaddr_storage *dst = rt.dst;
		if (q == Q_ICE) {
			send_ice(&rt, w->ice_buf, len, &c);
		} else if (q >= 0) {
			w->tx_iov[q][0].iov_base = w->ice_buf;
			w->tx_iov[q][0].iov_len = len;
			memset(&w->tx[q][0].msg_hdr, 0, sizeof(w->tx[q][0].msg_hdr));
			w->tx[q][0].msg_hdr.msg_iov = &w->tx_iov[q][0];
			w->tx[q][0].msg_hdr.msg_iovlen = 1;
			w->tx[q][0].msg_hdr.msg_name = (void *)dst;
			w->tx[q][0].msg_hdr.msg_namelen = addr_len(dst);
			flush(w, &rt, q, 1, &c);
		}
	} else {
		drop(e, &c, DROP_MALFORMED); /* STUN never gets here (libnice), nor ZRTP/TURN */
	}
	count(r, &c);
}

void relay_worker_readable(struct sock *k)
{
	struct worker *w = k->ep->s->w;
	for (int i = 0; i < READS_PER_WAKEUP; i++)
		if (read_batch(w, k) < (int)w->r->batch)
			break;
}

void relay_endpoint_watch(struct endpoint *e)
{
	relay_loop_watch(e->s->w, &e->rtp);
	relay_loop_watch(e->s->w, &e->rtcp);
}

void relay_endpoint_unwatch(struct endpoint *e)
{
	e->rtp.watched = e->rtcp.watched = false;
}

/* ---- inactivity (SEC-11 media timeout) ---- */

struct timeout_msg {
	struct relay_session *s;
};

static gboolean deliver_timeout(gpointer data)
{
	struct timeout_msg *m = data;
	if (!m->s->freed && m->s->on_timeout)
		m->s->on_timeout(m->s, m->s->arg);
	return G_SOURCE_REMOVE;
}

static gboolean on_tick(gpointer data)
{
	struct relay_session *s = data;
	gint64 now = g_get_monotonic_time();
	if (!s->timeout_fired && now - s->last_rx >= (gint64)s->inactivity_secs * G_USEC_PER_SEC) {
		s->timeout_fired = true;
		struct log_ctx lc = {.call_id = s->call_id, .leg = "relay"};
		LOGI("relay", &lc, "no media for %u s", s->inactivity_secs);
		struct timeout_msg *m = g_new(struct timeout_msg, 1);
		m->s = relay_session_ref(s);
		g_main_context_invoke_full(s->caller, G_PRIORITY_DEFAULT, deliver_timeout, m,
					   relay_session_msg_free);
	}
	return G_SOURCE_CONTINUE;
}

void relay_worker_attach(struct relay_session *s)
{
	struct worker *w = s->w;
	s->attached = true;
	s->last_rx = g_get_monotonic_time();
	g_hash_table_add(w->sessions, relay_session_ref(s));
	for (int i = 0; i < 2; i++) {
		if (s->ep[i].kind == RELAY_EP_ICE)
			relay_ice_start(&s->ep[i]);
		else
			relay_endpoint_watch(&s->ep[i]);
		relay_udp_dtls_start(&s->ep[i]);
	}
	if (s->inactivity_secs) {
		guint64 ms = (guint64)s->inactivity_secs * 1000 / 4;
		s->timer = g_timeout_source_new((guint)CLAMP(ms, 50, 1000));
		g_source_set_callback(s->timer, on_tick, s, NULL);
		g_source_attach(s->timer, w->ctx);
	}
}

void relay_worker_detach(struct relay_session *s)
{
	if (s->closed)
		return;
	s->closed = true;
	if (s->timer) {
		g_source_destroy(s->timer);
		g_source_unref(s->timer);
		s->timer = NULL;
	}
	for (int i = 0; i < 2; i++)
		relay_endpoint_clear(s->relay, &s->ep[i]);
	for (int k = 0; s->xep && k < RELAY_MAX_STREAMS - 1; k++) {
		relay_endpoint_clear(s->relay, &s->xep[0][k]);
		relay_endpoint_clear(s->relay, &s->xep[1][k]);
	}
	metric_add(s->relay->m_sessions, -1);
	g_atomic_int_dec_and_test(&s->w->load);
	g_hash_table_remove(s->w->sessions, s); /* drops the worker's reference */
}

/* ---- threads ---- */

static gpointer worker_main(gpointer data)
{
	struct worker *w = data;
	g_main_context_push_thread_default(w->ctx);
	g_main_loop_run(w->loop);
	/* Messages queued before the stop still run (a session free among them). */
	while (g_main_context_iteration(w->ctx, FALSE))
		;
	relay_loop_drain(w);
	GList *left = g_hash_table_get_keys(w->sessions);
	for (GList *l = left; l; l = l->next) {
		struct relay_session *s = l->data;
		LOGW("relay", NULL, "session %s still open at shutdown", s->call_id ? s->call_id : "-");
		relay_worker_detach(s);
	}
	g_list_free(left);
	/* ICE agents still freeing TURN allocations: a few seconds at most (libnice gives up
	 * on an unanswered Refresh by itself) */
	gint64 end = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
	while (w->closing && g_get_monotonic_time() < end)
		g_main_context_iteration(w->ctx, TRUE);
	if (w->closing)
		LOGW("relay", NULL, "%u ICE agents still freeing TURN allocations at shutdown",
		     w->closing);
	g_main_context_pop_thread_default(w->ctx);
	return NULL;
}

static gboolean stop_worker(gpointer data)
{
	struct worker *w = data;
	g_main_loop_quit(w->loop);
	return G_SOURCE_REMOVE;
}

static int worker_init(struct relay *r, struct worker *w, unsigned idx)
{
	w->r = r;
	w->idx = idx;
	w->epfd = w->mail_fd = -1;
	w->ctx = g_main_context_new();
	w->loop = g_main_loop_new(w->ctx, FALSE);
	w->sessions = g_hash_table_new_full(g_direct_hash, g_direct_equal,
					    (GDestroyNotify)relay_session_unref, NULL);
	/* room for the SRTP trailer added when protecting in place */
	w->buf_size = r->max_packet + 1 + RELAY_SRTP_TRAILER_MAX + RELAY_MID_EXT_ROOM;
	w->bufs = g_malloc(w->buf_size * r->batch);
	w->ice_buf = g_malloc(w->buf_size);
	w->rx = g_new0(struct mmsghdr, r->batch);
	w->rx_iov = g_new0(struct iovec, r->batch);
	w->rx_addr = g_new0(struct sockaddr_storage, r->batch);
	for (int q = 0; q < 2; q++) {
		w->tx[q] = g_new0(struct mmsghdr, r->batch);
		w->tx_iov[q] = g_new0(struct iovec, r->batch);
	}
	return relay_loop_init(w);
}

static void worker_clear(struct worker *w)
{
	if (w->thread) {
		g_main_context_invoke(w->ctx, stop_worker, w);
		g_thread_join(w->thread);
	}
	relay_loop_clear(w);
	g_hash_table_destroy(w->sessions);
	g_main_loop_unref(w->loop);
	g_main_context_unref(w->ctx);
	g_free(w->bufs);
	g_free(w->ice_buf);
	g_free(w->rx);
	g_free(w->rx_iov);
	g_free(w->rx_addr);
	for (int q = 0; q < 2; q++) {
		g_free(w->tx[q]);
		g_free(w->tx_iov[q]);
	}
}

static void metrics_init(struct relay *r)
{
	struct metric_family *f;
	f = metrics_family("gorgee_relay_sessions", "Relay sessions open", METRIC_GAUGE);
	r->m_sessions = metrics_series(f, "");
	f = metrics_family("gorgee_relay_ports_in_use", "Media port pairs held (RTP and RTCP)",
			   METRIC_GAUGE);
	relay_ports_set_gauge(r->ports, metrics_series(f, ""));
	f = metrics_family("gorgee_relay_packets_total", "Relayed packets by direction and result",
			   METRIC_COUNTER);
	r->m_in_ok = metrics_series(f, "direction=\"in\",result=\"accepted\"");
	r->m_in_drop = metrics_series(f, "direction=\"in\",result=\"dropped\"");
	r->m_out_ok = metrics_series(f, "direction=\"out\",result=\"sent\"");
	r->m_out_err = metrics_series(f, "direction=\"out\",result=\"error\"");
	f = metrics_family("gorgee_relay_drops_total", "Dropped media packets by reason",
			   METRIC_COUNTER);
	for (int i = 0; i < DROP_N; i++) {
		char lab[48];
		g_snprintf(lab, sizeof(lab), "reason=\"%s\"", drop_names[i]);
		r->m_drop[i] = metrics_series(f, lab);
	}
}

static bool numeric_ip(const char *s)
{
	uint8_t buf[16];
	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* "ip:port" or "[v6]:port", numeric (nothing resolves here). */
static int parse_server(const char *s, char **ip, unsigned *port)
{
	const char *colon = strrchr(s, ':');
	if (!colon || colon == s)
		return EINVAL;
	char *host = g_strndup(s, (size_t)(colon - s));
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host) - 2);
		host[strlen(host) - 2] = 0;
	}
	char *end = NULL;
	unsigned long p = strtoul(colon + 1, &end, 10);
	if (!numeric_ip(host) || !end || *end || p == 0 || p > 65535 ||
	    !g_ascii_isdigit(colon[1])) {
		g_free(host);
		return EINVAL;
	}
	*ip = host;
	*port = (unsigned)p;
	return 0;
}

static int turn_config(struct relay *r, const struct relay_config *cfg)
{
	if (!cfg->turn_server)
		return cfg->ice_relay_only ? EINVAL : 0; /* relay-only needs a relay */
	static const int types[] = {NICE_RELAY_TYPE_TURN_UDP, NICE_RELAY_TYPE_TURN_TCP,
	                            NICE_RELAY_TYPE_TURN_TLS};
	if ((unsigned)cfg->turn_transport >= G_N_ELEMENTS(types))
		return EINVAL;
	bool fixed = cfg->turn_username && *cfg->turn_username;
	bool keyed = cfg->turn_secret && cfg->turn_secret_len;
	if (fixed == keyed || (fixed && strlen(cfg->turn_username) > 63))
		return EINVAL; /* exactly one kind of credentials */
	if (parse_server(cfg->turn_server, &r->turn_ip, &r->turn_port))
		return EINVAL;
	r->turn_type = types[cfg->turn_transport];
	if (fixed) {
		r->turn_user = g_strdup(cfg->turn_username);
		r->turn_pass = g_strdup(cfg->turn_password ? cfg->turn_password : "");
	} else {
		r->turn_key = g_memdup2(cfg->turn_secret, cfg->turn_secret_len);
		r->turn_key_len = cfg->turn_secret_len;
	}
	r->turn_ttl_secs = cfg->turn_ttl_secs ? cfg->turn_ttl_secs : 86400;
	r->ice_relay_only = cfg->ice_relay_only;
	return 0;
}

/* ICE addresses, 1:1 NAT address, STUN and TURN servers. */
static int ice_config(struct relay *r, const struct relay_config *cfg)
{
	if (cfg->ice_addresses && cfg->ice_addresses[0]) {
		for (const char *const *a = cfg->ice_addresses; *a; a++)
			if (!numeric_ip(*a))
				return EINVAL;
		r->ice_addrs = g_strdupv((char **)cfg->ice_addresses);
	} else {
		r->ice_addrs = g_new0(char *, 2);
		r->ice_addrs[0] = g_strdup(cfg->bind_addr);
	}
	if (cfg->public_addr) {
		if (!numeric_ip(cfg->public_addr))
			return EINVAL;
		r->public_addr = g_strdup(cfg->public_addr);
	}
	if (cfg->stun_server && parse_server(cfg->stun_server, &r->stun_ip, &r->stun_port))
		return EINVAL;
	r->ice_tcp = cfg->ice_tcp;
	return turn_config(r, cfg);
}

int relay_new(const struct relay_config *cfg, struct relay **out)
{
	if (!cfg || cfg->workers < 1 || cfg->workers > 64 || cfg->batch > 64 ||
	    cfg->max_packet > RELAY_MAX_PACKET_HI || (cfg->max_packet && cfg->max_packet < 64))
		return EINVAL;
	if (relay_srtp_init())
		return EIO;
	struct relay_ports *ports;
	int err = relay_ports_new(cfg->bind_addr, cfg->port_min, cfg->port_max, &ports);
	if (err)
		return err;

	struct relay *r = g_new0(struct relay, 1);
	r->ports = ports;
	/* a part of the ports per worker (fewer slots than workers: one part) */
	if (relay_ports_set_parts(ports, (unsigned)cfg->workers) != 0)
		relay_ports_set_parts(ports, 1);
	err = ice_config(r, cfg);
	if (!err)
		err = relay_dtls_init(r, cfg);
	if (err) {
		relay_free(r);
		return err;
	}
	r->max_packet = cfg->max_packet ? cfg->max_packet : RELAY_MAX_PACKET;
	r->batch = cfg->batch ? cfg->batch : 32;
	r->family = strchr(cfg->bind_addr, ':') ? AF_INET6 : AF_INET;
	/* which suites relay_srtp offers (all of them with OpenSSL 3; kept as a check) */
	for (int su = RELAY_SRTP_AES_CM_128_HMAC_SHA1_80; su < RELAY_SRTP_N_SUITES; su++) {
		uint8_t zero[46] = {0};
		struct relay_srtp *probe = NULL;
		r->suite_ok[su] = relay_srtp_new(su, zero, relay_srtp_key_len(su), false, &probe) == 0;
		relay_srtp_free(probe);
	}
	metrics_init(r);
	r->n_workers = cfg->workers;
	r->workers = g_new0(struct worker, r->n_workers);
	for (unsigned i = 0; i < r->n_workers; i++) {
		struct worker *w = &r->workers[i];
		err = worker_init(r, w, i);
		char name[16];
		g_snprintf(name, sizeof(name), "media-%u", i);
		if (!err)
			w->thread = g_thread_try_new(name, worker_main, w, NULL);
		if (err || !w->thread) {
			relay_free(r);
			return err ? err : ENOMEM;
		}
	}
	relay_loop_kicks_start(r);
	LOGI("relay", NULL, "%u media workers, ports %u-%u on %s, cap %zu bytes", r->n_workers,
	     cfg->port_min, cfg->port_max, cfg->bind_addr, r->max_packet);
	*out = r;
	return 0;
}

void relay_free(struct relay *r)
{
	if (!r)
		return;
	relay_loop_kicks_stop(r);
	for (unsigned i = 0; r->workers && i < r->n_workers; i++)
		if (r->workers[i].ctx)
			worker_clear(&r->workers[i]);
	g_free(r->workers);
	relay_ports_free(r->ports);
	relay_dtls_clear(r);
	g_strfreev(r->ice_addrs);
	g_free(r->public_addr);
	g_free(r->stun_ip);
	g_free(r->turn_ip);
	g_free(r->turn_user);
	if (r->turn_pass) {
		OPENSSL_cleanse(r->turn_pass, strlen(r->turn_pass));
		g_free(r->turn_pass);
	}
	if (r->turn_key) {
		OPENSSL_cleanse(r->turn_key, r->turn_key_len);
		g_free(r->turn_key);
	}
	g_free(r);
}

struct relay_ports *relay_get_ports(struct relay *r)
{
	return r->ports;
}

struct worker *relay_pick_worker(struct relay *r)
{
	struct worker *best = &r->workers[0];
	for (unsigned i = 1; i < r->n_workers; i++)
		if (g_atomic_int_get(&r->workers[i].load) < g_atomic_int_get(&best->load))
			best = &r->workers[i];
	g_atomic_int_inc(&best->load);
	return best;
}
