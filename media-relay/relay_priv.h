/* media-relay private: the session, endpoint and worker structures shared by
 * relay_session.c (the signaling-side API) and relay_worker.c (threads, packet path). */
#ifndef GORGEE_RELAY_PRIV_H
#define GORGEE_RELAY_PRIV_H

#include <openssl/ssl.h>
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
	DROP_NOT_READY,   /* ICE endpoint: DTLS-SRTP not (or no longer) established */
	DROP_STREAM,      /* BUNDLE: no stream matches (MID, SSRC, PT) */
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
	bool watched; /* in its worker's epoll set (relay_loop.c) */
};

/* ICE and DTLS parameters in flight from signaling to the worker (relay_ice.c). */
struct ice_conf {
	bool controlling;
	char remote_ufrag[257], remote_pwd[257];
	enum relay_dtls_role role;
	char fp_hash[16];
	uint8_t fp[RELAY_FP_MAX];
	size_t fp_len;
	char local_ufrag[64], local_pwd[64];
	bool restart; /* update: restart the stream with the local credentials above */
};

/* A remote candidate, parsed and checked on the signaling thread. */
enum ice_cand_type { CAND_HOST, CAND_SRFLX, CAND_PRFLX, CAND_RELAY };
/* RFC 6544 tcptype for TCP candidates */
enum ice_cand_transport { CAND_UDP, CAND_TCP_ACTIVE, CAND_TCP_PASSIVE, CAND_TCP_SO };
struct ice_cand {
	char foundation[33];
	uint32_t priority;
	enum ice_cand_type type;
	enum ice_cand_transport transport;
	struct sockaddr_storage addr;
	struct sockaddr_storage raddr; /* AF_UNSPEC when absent */
};

struct ice_ep; /* relay_ice.c: the libnice agent and DTLS state, worker thread only */
struct udp_dtls; /* relay_dtls_udp.c: DTLS on one socket of a UDP endpoint, worker only */

struct endpoint {
	struct relay_session *s;
	unsigned idx;    /* the side (0 or 1); a stream's extra endpoint has the side too */
	unsigned stream; /* 0, or k for the extra endpoint of stream k (BUNDLE) */
	enum relay_ep_kind kind;
	bool port_held; /* this endpoint holds the pool slot of port */
	uint16_t port;
	struct ice_conf icec; /* ICE: what signaling said (worker copy) */
	struct ice_ep *ice;   /* ICE: worker state, NULL before attach */
	bool dtls;            /* UDP: DTLS-SRTP on our sockets; icec has role and fingerprint */
	struct udp_dtls *ud[2]; /* UDP+DTLS: the associations on the RTP and RTCP sockets */
	struct relay_srtp *srtcp_in, *srtcp_out; /* UDP+DTLS without rtcp-mux: SRTCP keys of
						   * the RTCP socket's association */
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
	struct relay_event_map evmap; /* telephone-events this side sends, translated */
	bool pt_mapped;               /* pt_to translates the PTs this side sends */
	uint8_t pt_to[128];           /* relay_session_map_pts: PT -> PT toward the other side */
	bool kinds;                   /* relay_session_count_by_pt: kind_of[pt] is the stream */
	uint8_t kind_of[128];
	struct relay_dir_stats kst[2];
	/* what the worker learned */
	struct latch l_rtp, l_rtcp;
	struct rx_seq seq;
	struct relay_dir_stats st;
};

/* Key material in flight from signaling to the worker, which builds the SRTP contexts it
 * alone uses. Zeroed with OPENSSL_cleanse once used or dropped (SEC-13). */
struct keys {
	enum relay_srtp_suite suite;
	size_t len;
	uint8_t in[46], out[46]; /* the longest master key || salt: AES_256_CM (RFC 6188) */
};

#define RELAY_LEARNED_SSRC 16

/* BUNDLE, worker side: a stream as the bundled endpoint sees it (relay_bundle.c). */
struct stream {
	struct relay_demux d;
	uint32_t far_ssrc;     /* what the stream's other side last sent with (RTCP routing) */
	bool far_ssrc_known;
	struct rx_seq seq;     /* the bundled side's RTP of this stream */
	struct relay_dir_stats st;
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
	relay_event_fn *on_event;
	void *arg;
	enum relay_ep_kind kind[2];
	bool dtls[2];              /* UDP endpoints with DTLS-SRTP */
	char remote_ufrag[2][257]; /* ICE: the last remote ufrag signalled (restart detection) */
	char local_ufrag[2][64], local_pwd[2][64];
	unsigned n_cands[2];       /* remote candidates added (BI-23 cap) */
	uint16_t xport[2][RELAY_MAX_STREAMS - 1]; /* slots of the extra endpoints per side, 0 none */
	bool xrtcp_bound[2][RELAY_MAX_STREAMS - 1];
	/* worker thread only, after attach */
	struct endpoint ep[2];
	/* streams (relay_bundle.c): n_streams > 1 when the session carries several; bundled is
	 * the side whose ep carries them all, or RELAY_BUNDLE_NONE */
	unsigned n_streams, bundled;
	uint8_t mid_ext;
	struct stream sx[RELAY_MAX_STREAMS];
	/* stream k's own endpoint on side i is xep[i][k - 1]; NULL until the first
	 * relay_session_set_streams (14 KB most calls, audio only, do without) */
	struct endpoint (*xep)[RELAY_MAX_STREAMS - 1];
	struct {
		uint32_t ssrc;
		unsigned stream;
	} learned[RELAY_LEARNED_SSRC]; /* SSRCs taught by MIDs, oldest replaced first */
	unsigned n_learned, next_learned;
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
	uint8_t *ice_buf; /* buf_size bytes: a datagram from libnice being processed */
	unsigned closing; /* worker thread only: agents freeing TURN allocations */
	/* relay_loop.c: the epoll set of the plain sockets, and the mailbox */
	int epfd, mail_fd;
	GSource *loop_src;
	GMutex mail_lock;
	GArray *mail;       /* struct mail, posted and not yet taken (under mail_lock) */
	GArray *mail_spare; /* worker thread only: the array being run, or empty */
};

struct relay {
	unsigned n_workers;
	struct worker *workers;
	struct relay_ports *ports;
	size_t max_packet;
	unsigned batch;
	int family;
	bool suite_ok[RELAY_SRTP_N_SUITES];
	struct metric *m_sessions;
	struct metric *m_in_ok, *m_in_drop, *m_out_ok, *m_out_err;
	struct metric *m_drop[DROP_N];
	/* ICE endpoints */
	char **ice_addrs;  /* NULL-terminated */
	char *public_addr; /* NULL = none */
	char *stun_ip;     /* NULL = none */
	unsigned stun_port;
	char *turn_ip;     /* NULL = none */
	unsigned turn_port;
	int turn_type;     /* NiceRelayType */
	char *turn_user, *turn_pass; /* fixed credentials; NULL with turn_secret */
	uint8_t *turn_key;           /* time-limited credentials' key; NULL = fixed */
	size_t turn_key_len;
	unsigned turn_ttl_secs;
	bool ice_relay_only;
	bool ice_tcp; /* RFC 6544 candidates: passive ones offered, remote TCP ones used */
	SSL_CTX *dtls_ctx;
	char *fingerprint; /* "sha-256 AB:..." */
	unsigned dtls_timeout_secs;
	/* relay_loop.c: workers to wake when the creating thread's loop iteration ends */
	GMainContext *kick_ctx;
	GSource *kick_src;
	uint64_t kick_pending; /* bit i: worker i (at most 64); kick_ctx's owner only */
	gint64 kick_due;       /* monotonic µs when the pending wake-ups leave */
};

/* relay_worker.c */
void relay_worker_attach(struct relay_session *s);  /* worker thread */
void relay_worker_detach(struct relay_session *s);  /* worker thread; closes fds, ports */
void relay_endpoint_watch(struct endpoint *e);      /* worker thread: sockets not yet watched */
/* The endpoint's sockets are about to be closed (which takes them out of the epoll set). */
void relay_endpoint_unwatch(struct endpoint *e);
/* Worker thread: a watched socket is readable. */
void relay_worker_readable(struct sock *k);
/* Signaling thread: the least-loaded worker; its load is counted up. */
struct worker *relay_pick_worker(struct relay *r);

/* Worker thread: one RTP/RTCP datagram an ICE endpoint received (libnice already checked
 * the pair; DTLS was demultiplexed away): validate, unprotect, forward. */
void relay_worker_ice_input(struct endpoint *e, const uint8_t *p, size_t len);

/* relay_loop.c */
int relay_loop_init(struct worker *w);  /* before the thread starts: 0 or errno */
void relay_loop_clear(struct worker *w); /* after it ended */
void relay_loop_drain(struct worker *w); /* worker thread: runs the messages still queued */
void relay_loop_watch(struct worker *w, struct sock *k); /* worker thread */
/* Worker thread: takes a watched socket out of the epoll set (it stays open). 0 or errno. */
int relay_loop_unwatch(struct worker *w, struct sock *k);
void relay_loop_kicks_start(struct relay *r); /* relay_new, on the signaling thread */
void relay_loop_kicks_stop(struct relay *r);  /* relay_free, on the same thread */
/* Any thread: fn(data) runs on worker w, then free_fn(data); messages run in the order
 * they were posted. A message never run (the worker stopped) only gets free_fn. */
void relay_worker_post(struct worker *w, GSourceFunc fn, void *data, GDestroyNotify free_fn);

/* relay_ice.c, worker thread unless said otherwise */
void relay_ice_start(struct endpoint *e);           /* agent, credentials, gathering */
/* Agent and DTLS gone. Returns true when the endpoint's port slot is released later, by
 * the relay, once libnice has freed its TURN allocations (RFC 8656 §7: Refresh with
 * lifetime 0) and closed the socket on that port. */
bool relay_ice_stop(struct endpoint *e);
void relay_ice_update(struct endpoint *e, const struct ice_conf *c);
void relay_ice_add_candidate(struct endpoint *e, const struct ice_cand *c);
void relay_ice_end_of_candidates(struct endpoint *e);
/* Sends one protected datagram on the selected pair; counts on the other endpoint's
 * stats (the direction it came from). Returns 0 or EIO. */
int relay_ice_send(struct endpoint *e, const uint8_t *p, size_t len);
/* A DTLS record (first byte 20..63, RFC 7983) relay_worker_ice_input demultiplexed. */
void relay_ice_dtls_input(struct endpoint *e, const uint8_t *p, size_t len);
/* Signaling thread: parses an SDP candidate line. 0 (c filled), EBADMSG, or ENOENT for a
 * valid candidate we do not use (component 2, TCP, a hostname). */
int relay_ice_cand_parse(const char *line, struct ice_cand *c);

/* relay_dtls.c */
int relay_dtls_init(struct relay *r, const struct relay_config *cfg); /* relay_new */
void relay_dtls_clear(struct relay *r);
struct dtls;
/* Writes one DTLS datagram toward the peer. */
typedef void dtls_send_fn(const uint8_t *p, size_t len, void *arg);
/* The handshake ended: ok true (keys exportable), or false with a reason. */
typedef void dtls_done_fn(bool ok, const char *reason, void *arg);
struct dtls *relay_dtls_new(struct relay *r, const struct ice_conf *c, GMainContext *ctx,
			    dtls_send_fn *send, dtls_done_fn *done, void *arg,
			    const char *call_id);
void relay_dtls_free(struct dtls *d);
void relay_dtls_start(struct dtls *d); /* ICE connected: the client speaks first */
/* One datagram from the peer. false when it was refused unread: records that are not DTLS
 * 1.0/1.2 with a known content type (BI-38), or, on a server before its cookie came back,
 * anything but a well-formed ClientHello with no cookie or ours (BI-37). */
bool relay_dtls_input(struct dtls *d, const uint8_t *p, size_t len);
/* The source address (bytes the caller chooses) of the datagram about to be input: the
 * HelloVerifyRequest cookie is bound to it. ICE endpoints leave it empty (libnice pins the
 * pair). */
void relay_dtls_set_source(struct dtls *d, const void *src, size_t len);
/* Server: a ClientHello came back with the cookie of the source set at that time. */
bool relay_dtls_peer_verified(const struct dtls *d);
/* After done(ok): makes the SRTP contexts from the exported keying material (RFC 5764
 * §4.2), inbound for what the peer protects. Returns 0 or errno. */
int relay_dtls_srtp(struct dtls *d, enum relay_srtp_suite *suite, struct relay_srtp **in,
		    struct relay_srtp **out);
const char *relay_dtls_profile(const struct dtls *d);

/* relay_dtls_udp.c, worker thread: DTLS-SRTP on a RELAY_EP_UDP endpoint (no ICE) */
void relay_udp_dtls_start(struct endpoint *e);  /* attach: associations, client hello */
void relay_udp_dtls_stop(struct endpoint *e);   /* associations and their SRTP gone */
/* After do_update changed e (addresses, mux) from old (role, fingerprint). */
void relay_udp_dtls_update(struct endpoint *e, const struct ice_conf *old);
/* A datagram whose first byte is 20..63 (RFC 7983) from an allowed source. */
void relay_udp_dtls_input(struct endpoint *e, bool rtcp_sock, const uint8_t *p, size_t len,
			  const struct sockaddr_storage *src);
/* The SRTP contexts for one packet of e: SRTCP of the RTCP socket's association when it
 * has one, else the endpoint's. */
struct relay_srtp *relay_udp_dtls_ctx(const struct endpoint *e, bool rtcp, bool out);

/* relay_session.c */
/* Worker thread: posts an event to the session's creator (detail copied, may be NULL). */
void relay_session_emit(struct relay_session *s, unsigned idx, enum relay_event ev,
			const char *detail);
struct relay_session *relay_session_ref(struct relay_session *s);
void relay_session_unref(struct relay_session *s);
/* Worker thread: an accepted packet; re-arms the inactivity timeout. */
void relay_session_rx_seq(struct rx_seq *q, uint32_t clock_rate, const struct relay_rtp *rtp,
			  gint64 now_us);
void relay_endpoint_clear(struct relay *r, struct endpoint *e); /* worker: frees SRTP, fds */
/* Signaling: 0, or EINVAL for endpoint parameters the relay cannot take. */
int relay_check_params(const struct relay *r, const struct relay_endpoint_params *p);
/* Signaling: the signalled part of e (no sockets, no SRTP contexts); the keys to k. */
void relay_load_params(struct endpoint *e, struct keys *k, const struct relay_endpoint_params *p);
/* Worker: e's SRTP contexts from k, which is wiped (no contexts on failure: all dropped). */
void relay_make_srtp(struct endpoint *e, struct keys *k);

/* relay_bundle.c, worker thread */
/* The bundled endpoint of s when it carries several streams, else NULL. */
static inline struct endpoint *relay_bundled(struct relay_session *s)
{
	return s->n_streams > 1 && s->bundled < 2 ? &s->ep[s->bundled] : NULL;
}
/* Stream k's endpoint on a side that is not bundled (k 0: the session's ep[side]). */
struct endpoint *relay_stream_ep(struct relay_session *s, unsigned side, unsigned k);
/* Frees a message between signaling and a worker that holds nothing but plain values and,
 * as its first member, a reference to its session (struct relay_session *s). */
void relay_session_msg_free(gpointer data);
/* Signaling, before the first streams message: allocates s->xep (once). */
void relay_session_xep_init(struct relay_session *s);
/* The endpoint stream k pairs with the bundled one. */
struct endpoint *relay_stream_far(struct relay_session *s, unsigned k);
/* Where packets of endpoint e leave: the other side's endpoint of e's stream, or the
 * bundled endpoint. */
struct endpoint *relay_stream_peer(struct endpoint *e);
/* The stream of an authenticated RTP packet (-1: none) and of an RTCP compound. */
int relay_bundle_rtp(struct relay_session *s, const struct relay_rtp *rtp);
unsigned relay_bundle_rtcp(struct relay_session *s, const uint8_t *p, size_t len);
bool relay_stream_pt_ok(const struct stream *x, uint8_t pt);

#endif
