/* DTLS-SRTP on a plain UDP endpoint (RFC 5763/5764 without ICE, UDP/TLS/RTP/SAVP toward SIP
 * peers): one association on the RTP socket and, without rtcp-mux, one on the RTCP socket
 * (RFC 5764 §4.1), fed by the worker's receive path; the peer that completes the handshake
 * becomes the socket's latch. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "relay_priv.h"

struct udp_dtls {
	struct endpoint *e;
	bool rtcp;                   /* the RTCP socket's association */
	bool started;
	struct dtls *d;
	struct sockaddr_storage cur; /* source of the datagram being input; AF_UNSPEC outside */
	struct sockaddr_storage peer; /* where flights go: the signalled address, then the
				       * verified (server) or answering (client) source */
	bool peer_fixed;
};

static struct log_ctx log_ctx(const struct udp_dtls *u)
{
	struct log_ctx lc = {.call_id = u->e->s->call_id, .leg = "dtls"};
	return lc;
}

static socklen_t sa_len(const struct sockaddr_storage *a)
{
	return a->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
		return x->sin6_port == y->sin6_port &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	return false;
}

/* family, port, address: the bytes a cookie is bound to (no padding, no scope id) */
static size_t addr_bytes(const struct sockaddr_storage *a, uint8_t out[20])
{
	out[0] = (uint8_t)(a->ss_family >> 8);
	out[1] = (uint8_t)a->ss_family;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *v4 = (const void *)a;
		memcpy(out + 2, &v4->sin_port, 2);
		memcpy(out + 4, &v4->sin_addr, 4);
		return 8;
	}
	const struct sockaddr_in6 *v6 = (const void *)a;
	memcpy(out + 2, &v6->sin6_port, 2);
	memcpy(out + 4, &v6->sin6_addr, 16);
	return 20;
}

static const struct sockaddr_storage *signalled(const struct udp_dtls *u)
{
	return u->rtcp ? &u->e->sig_rtcp : &u->e->sig_rtp;
}

static void send_dtls(const uint8_t *p, size_t len, void *arg)
{
	struct udp_dtls *u = arg;
	struct endpoint *e = u->e;
	int fd = u->rtcp ? e->rtcp.fd : e->rtp.fd;
	/* A reply to a datagram being read goes to its source until the peer is fixed: a
	 * HelloVerifyRequest keeps no state (BI-37); timer retransmissions go to u->peer. */
	const struct sockaddr_storage *to =
	        !u->peer_fixed && u->cur.ss_family != AF_UNSPEC ? &u->cur : &u->peer;
	if (fd < 0 || to->ss_family == AF_UNSPEC)
		return;
	(void)sendto(fd, p, len, MSG_DONTWAIT, (const struct sockaddr *)to, sa_len(to));
}

static void drop_keys(struct udp_dtls *u)
{
	struct endpoint *e = u->e;
	if (u->rtcp) {
		relay_srtp_free(e->srtcp_in);
		relay_srtp_free(e->srtcp_out);
		e->srtcp_in = e->srtcp_out = NULL;
		return;
	}
	relay_srtp_free(e->srtp_in);
	relay_srtp_free(e->srtp_out);
	e->srtp_in = e->srtp_out = NULL;
	e->suite = RELAY_SRTP_NONE;
}

static void dtls_done(bool ok, const char *reason, void *arg)
{
	struct udp_dtls *u = arg;
	struct endpoint *e = u->e;
	struct log_ctx lc = log_ctx(u);
	drop_keys(u);
	if (ok) {
		enum relay_srtp_suite suite;
		struct relay_srtp *in = NULL, *out = NULL;
		int err = relay_dtls_srtp(u->d, &suite, &in, &out);
		if (!err) {
			if (u->rtcp) {
				e->srtcp_in = in;
				e->srtcp_out = out;
			} else {
				e->srtp_in = in;
				e->srtp_out = out;
				e->suite = suite;
			}
			/* the peer proved itself: only now does its source latch (SEC-11) */
			if (u->cur.ss_family != AF_UNSPEC)
				u->peer = u->cur;
			u->peer_fixed = true;
			struct latch *l = u->rtcp ? &e->l_rtcp : &e->l_rtp;
			memset(l, 0, sizeof(*l));
			l->on = true;
			l->addr = u->peer;
			LOGI("relay", &lc, "endpoint %u DTLS-SRTP up on the %s socket: %s", e->idx,
			     u->rtcp ? "RTCP" : "RTP", relay_dtls_profile(u->d));
			relay_session_emit(e->s, e->idx, RELAY_EV_DTLS_CONNECTED,
			                   relay_dtls_profile(u->d));
			return;
		}
		reason = "SRTP context failed";
	}
	relay_session_emit(e->s, e->idx, RELAY_EV_DTLS_FAILED, reason);
}

/* The handshake needs the peer's address and fingerprint (fail closed without one). */
static void maybe_start(struct udp_dtls *u)
{
	struct endpoint *e = u->e;
	if (u->started || !e->icec.fp_len || signalled(u)->ss_family == AF_UNSPEC)
		return;
	u->started = true;
	if (!u->peer_fixed)
		u->peer = *signalled(u);
	relay_dtls_start(u->d); /* a client sends its ClientHello to the signalled address */
}

static struct udp_dtls *assoc_new(struct endpoint *e, bool rtcp)
{
	struct udp_dtls *u = g_new0(struct udp_dtls, 1);
	u->e = e;
	u->rtcp = rtcp;
	u->d = relay_dtls_new(e->s->relay, &e->icec, e->s->w->ctx, send_dtls, dtls_done, u,
	                      e->s->call_id);
	maybe_start(u);
	return u;
}

static void assoc_free(struct udp_dtls *u)
{
	if (!u)
		return;
	drop_keys(u);
	relay_dtls_free(u->d);
	g_free(u);
}

void relay_udp_dtls_start(struct endpoint *e)
{
	if (!e->dtls)
		return;
	e->suite = RELAY_SRTP_NONE;
	if (!e->ud[0])
		e->ud[0] = assoc_new(e, false);
	if (!e->mux && e->rtcp.fd >= 0 && !e->ud[1])
		e->ud[1] = assoc_new(e, true);
}

void relay_udp_dtls_stop(struct endpoint *e)
{
	for (int i = 0; i < 2; i++) {
		assoc_free(e->ud[i]);
		e->ud[i] = NULL;
	}
}

static bool dtls_changed(const struct ice_conf *a, const struct ice_conf *b)
{
	return a->role != b->role || a->fp_len != b->fp_len || strcmp(a->fp_hash, b->fp_hash) ||
	       memcmp(a->fp, b->fp, a->fp_len);
}

void relay_udp_dtls_update(struct endpoint *e, const struct ice_conf *old)
{
	if (!e->dtls)
		return;
	if (dtls_changed(old, &e->icec)) {
		/* RFC 8842 §5: a new fingerprint or role is a new association */
		relay_udp_dtls_stop(e);
	} else if (e->mux && e->ud[1]) {
		assoc_free(e->ud[1]); /* rtcp-mux now: RTCP is keyed by the RTP association */
		e->ud[1] = NULL;
	}
	relay_udp_dtls_start(e);
	for (int i = 0; i < 2; i++)
		if (e->ud[i])
			maybe_start(e->ud[i]);
}

void relay_udp_dtls_input(struct endpoint *e, bool rtcp_sock, const uint8_t *p, size_t len,
			  const struct sockaddr_storage *src)
{
	struct udp_dtls *u = e->ud[rtcp_sock && !e->mux ? 1 : 0];
	if (!u || !u->started)
		return;
	/* once the peer is fixed, DTLS from anyone else is not read (BI-37) */
	if (u->peer_fixed && !same_addr(src, &u->peer))
		return;
	uint8_t ab[20];
	size_t an = addr_bytes(src, ab);
	relay_dtls_set_source(u->d, ab, an);
	u->cur = *src;
	bool verified = relay_dtls_peer_verified(u->d);
	relay_dtls_input(u->d, p, len);
	if (!verified && relay_dtls_peer_verified(u->d) && !u->peer_fixed) {
		/* the cookie came back: this source receives what we send (RFC 6347 §4.2.1) */
		u->peer = *src;
		u->peer_fixed = true;
	}
	u->cur.ss_family = AF_UNSPEC;
}

struct relay_srtp *relay_udp_dtls_ctx(const struct endpoint *e, bool rtcp, bool out)
{
	if (e->dtls && rtcp && !e->mux)
		return out ? e->srtcp_out : e->srtcp_in;
	return out ? e->srtp_out : e->srtp_in;
}
