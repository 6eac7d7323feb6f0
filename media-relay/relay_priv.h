/* media-relay private: the session, endpoint and worker structures shared by
 * relay_session.c (the signaling-side API) and relay_worker.c (threads, packet path). */
#ifndef GORGEE_RELAY_PRIV_H
#define GORGEE_RELAY_PRIV_H

#include <sys/socket.h>

#include "relay.h"

enum drop_reason {
	DROP_TOO_BIG,     /* BI-31 */
	DROP_MALFORMED,   /* BI-30, BI-32, RTCP on a non-muxed RTP port */
	DROP_SOURCE,      /* BI-34 */
	DROP_SRTP_AUTH,   /* BI-33 */
	DROP_SRTP_REPLAY, /* BI-33 */
	DROP_PT,          /* BI-35 */
	DROP_NO_REMOTE,   /* nowhere to send yet */
	DROP_SEND,        /* sendmmsg failed */
	DROP_N
};

/* A latch: where one socket of an endpoint accepts packets from (see relay.h). */
struct latch {
	bool on;
	unsigned accepted; /* valid packets accepted since the latch was reset (saturates) */
	struct sockaddr_storage addr;
};

/* RFC 3550 A.1/A.3/A.8 receiver state for the current SSRC. */
struct rx_seq {
	bool init;
	uint32_t ssrc;
	uint16_t max_seq;
	uint32_t cycles;
	uint32_t base_seq;
	uint32_t bad_seq;
	uint64_t received;
	uint32_t transit;
	bool have_transit;
	double jitter; /* timestamp units, J(i) of A.8 kept unscaled */
};

struct endpoint;

struct sock {
	struct endpoint *ep;
	bool is_rtcp; /* the separate RTCP socket */
	int fd;       /* -1 when not bound */
	GSource *src;
};

struct endpoint {
	struct relay_session *s;
	unsigned idx;
	uint16_t port;
	struct sock rtp, rtcp;
	/* what signaling said */
	struct sockaddr_storage sig_rtp, sig_rtcp;
	bool mux, learn;
	unsigned learn_packets;
	enum relay_srtp_suite suite;
	struct relay_srtp *srtp_in, *srtp_out;
	uint8_t pt_allow[RELAY_MAX_PT_ALLOW];
	unsigned n_pt_allow;
	uint32_t clock_rate;
	/* what the worker learned */
	struct latch l_rtp, l_rtcp;
	struct rx_seq seq;
	struct relay_dir_stats st;
};

/* Key material in flight from signaling to the worker (libsrtp contexts built with NSS must
 * be created and freed on the same thread: freeing elsewhere leaks 80 bytes each). Zeroed
 * with OPENSSL_cleanse once used or dropped (SEC-13). */
struct keys {
	enum relay_srtp_suite suite;
	size_t len;
	uint8_t in[32], out[32];
};

struct worker;

struct relay_session {
	gatomicrefcount ref;
	struct relay *relay;
	struct worker *w;
	char *call_id;
	/* signaling thread only */
	GMainContext *caller;
	bool freed;
	uint16_t port[2];     /* signaling's copy: the slots it holds */
	bool rtcp_bound[2];
	relay_timeout_fn *on_timeout;
	void *arg;
	/* worker thread only, after attach */
	struct endpoint ep[2];
	unsigned inactivity_secs;
	gint64 last_rx;
	bool timeout_fired;
	bool attached;
	bool closed;
	GSource *timer;
};

struct worker {
	struct relay *r;
	unsigned idx;
	GThread *thread;
	GMainContext *ctx;
	GMainLoop *loop;
	gint load;          /* sessions on this worker (read by signaling to balance) */
	GHashTable *sessions; /* worker thread only: attached sessions */
	/* recvmmsg/sendmmsg scratch, worker thread only */
	uint8_t *bufs;
	size_t buf_size;
	struct mmsghdr *rx;
	struct iovec *rx_iov;
	struct sockaddr_storage *rx_addr;
	struct mmsghdr *tx[2];
	struct iovec *tx_iov[2];
};

struct relay {
	unsigned n_workers;
	struct worker *workers;
	struct relay_ports *ports;
	size_t max_packet;
	unsigned batch;
	int family;
	bool suite_ok[RELAY_SRTP_AEAD_AES_128_GCM + 1];
	struct metric *m_sessions;
	struct metric *m_in_ok, *m_in_drop, *m_out_ok, *m_out_err;
	struct metric *m_drop[DROP_N];
};

/* relay_worker.c */
void relay_worker_attach(struct relay_session *s);  /* worker thread */
void relay_worker_detach(struct relay_session *s);  /* worker thread; closes fds, ports */
void relay_endpoint_watch(struct endpoint *e);      /* worker thread: (re)create sources */
void relay_endpoint_unwatch(struct endpoint *e);
/* Signaling thread: the least-loaded worker; its load is counted up. */
struct worker *relay_pick_worker(struct relay *r);

/* relay_session.c */
struct relay_session *relay_session_ref(struct relay_session *s);
void relay_session_unref(struct relay_session *s);
/* Worker thread: an accepted packet; re-arms the inactivity timeout. */
void relay_session_rx_seq(struct endpoint *e, const struct relay_rtp *rtp, gint64 now_us);
void relay_endpoint_clear(struct relay *r, struct endpoint *e); /* worker: frees SRTP, fds */

#endif
