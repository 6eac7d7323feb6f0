/* media-relay: relay sessions (two endpoints on one media worker), RTP/RTCP validation,
 * SDES-SRTP, port allocation and stats. Knows nothing of SIP or SDP. */
#ifndef GORGEE_RELAY_H
#define GORGEE_RELAY_H

#include <glib.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core.h"

/* ---- RTP / RTCP validation (relay_rtp.c): pure functions, any thread ------------------ */

#define RELAY_RTP_HDR_MIN   12
#define RELAY_MAX_PACKET    1500 /* default cap (BI-31); relay_config.max_packet overrides */
#define RELAY_MAX_PACKET_HI 8192 /* highest cap a configuration may choose */

/* A parsed RTP packet; every pointer points into the caller's buffer (zero copy). */
struct relay_rtp {
	uint8_t pt;
	bool marker;
	uint8_t cc;            /* CSRC count */
	uint16_t seq;
	uint32_t ts;
	uint32_t ssrc;
	bool has_ext;
	uint16_t ext_profile;  /* 0xBEDE one-byte, 0x100x two-byte (RFC 8285), or other */
	const uint8_t *ext;    /* extension body (ext_len bytes), NULL when absent */
	size_t ext_len;
	size_t hdr_len;        /* fixed header + CSRCs + extension */
	const uint8_t *payload;
	size_t payload_len;    /* without padding */
	uint8_t pad_len;       /* RFC 3550 §5.1 padding count, 0 when P is clear */
};

/*
 * Parses an RTP header (RFC 3550 §5.1) checking version 2, the CSRC list, the extension
 * length, RFC 8285 extension elements (one-byte ID 15 is rejected) and the padding count
 * against len (BI-30). With check_padding false the padding
 * is not examined (an SRTP packet, whose padding is encrypted). Returns 0 or EBADMSG.
 */
int relay_rtp_parse(const uint8_t *p, size_t len, bool check_padding, struct relay_rtp *out);

/* RFC 5761 §4 demultiplexing on a muxed port: true when the second byte (M+PT) is 192..223,
 * i.e. the RTP PT would be 64..95; those are RTCP packet types 192..223. */
bool relay_is_rtcp(const uint8_t *p, size_t len);

/* Extension element id's value in a parsed packet's header extension (RFC 8285), or false. */
bool relay_rtp_ext_find(const struct relay_rtp *rtp, uint8_t id, const uint8_t **val,
			size_t *len);
/* Room a MID header extension may add to a packet: 4 + 4 * words(1 + 16). */
#define RELAY_MID_EXT_ROOM 24
/* Replaces the header extension of the parsed packet in buf (*len bytes) with a one-byte MID
 * element (RFC 8843 §9.1); cap must leave RELAY_SRTP_TRAILER_MAX after it. */
bool relay_rtp_put_mid(uint8_t *buf, size_t *len, size_t cap, const struct relay_rtp *rtp,
		       uint8_t id, const char *mid);

/*
 * Walks an RTCP compound packet (RFC 3550 §6.1) in place and drops bad sub-packets (BI-32):
 * each must be version 2 with a length inside the buffer; SR/RR report counts, SDES chunks,
 * BYE reasons, APP, RTPFB/PSFB (RFC 4585) and XR block lengths (RFC 3611) must fit. Good
 * sub-packets are moved together; *out_len is the new length. The first sub-packet need
 * not be SR/RR (RFC 5506 reduced-size RTCP). A sub-packet whose length
 * runs past the buffer ends the walk (nothing after it can be trusted). Returns 0 when at
 * least one sub-packet is left, EBADMSG otherwise. *dropped (may be NULL) counts drops.
 */
int relay_rtcp_filter(uint8_t *p, size_t len, size_t *out_len, unsigned *dropped);

/* ---- SDES-SRTP (relay_srtp.c) ------------------------------------------------------------ */

enum relay_srtp_suite {
	RELAY_SRTP_NONE = 0,
	RELAY_SRTP_AES_CM_128_HMAC_SHA1_80, /* 30-byte master key||salt */
	RELAY_SRTP_AES_CM_128_HMAC_SHA1_32, /* 30 bytes */
	RELAY_SRTP_AEAD_AES_128_GCM,        /* 28 bytes (RFC 7714) */
	RELAY_SRTP_AES_256_CM_HMAC_SHA1_80, /* 46 bytes (RFC 6188) */
	RELAY_SRTP_AES_256_CM_HMAC_SHA1_32, /* 46 bytes */
	RELAY_SRTP_AEAD_AES_256_GCM,        /* 44 bytes (RFC 7714) */
	RELAY_SRTP_N_SUITES
};

/* Master key || salt length for a suite; 0 for RELAY_SRTP_NONE or unknown. */
size_t relay_srtp_key_len(enum relay_srtp_suite suite);
/* Name as in RFC 4568 a=crypto ("AES_CM_128_HMAC_SHA1_80"); "none" for unknown. */
const char *relay_srtp_suite_name(enum relay_srtp_suite suite);

struct relay_srtp;

/*
 * Makes one direction of an SRTP context (relay_srtp.c: RFC 3711 and RFC 7714 on OpenSSL).
 * key holds master key||salt; it is only read during the call and never logged (SEC-13):
 * the context keeps the derived session keys, wiped by relay_srtp_free(). inbound:
 * unprotects; otherwise protects. Like libsrtp's ssrc_any_inbound/outbound templates, one
 * context serves every SSRC it meets, each with its own ROC and replay list (up to 64; a
 * packet of a further SSRC is refused), and an inbound SSRC counts as met once one of its
 * packets authenticated. Returns 0, EINVAL (bad suite or key length), ENOTSUP, ENOMEM or
 * EIO. The context belongs to one thread at a time; free with relay_srtp_free().
 */
int relay_srtp_new(enum relay_srtp_suite suite, const uint8_t *key, size_t key_len, bool inbound,
		   struct relay_srtp **out);
void relay_srtp_free(struct relay_srtp *s);
/* Nothing left to initialise process-wide (it was libsrtp's srtp_init()); returns 0. */
int relay_srtp_init(void);

/* Room an SRTP/SRTCP trailer may need past the packet (tag, SRTCP index, MKI). */
#define RELAY_SRTP_TRAILER_MAX 144

/*
 * Protect/unprotect an RTP (rtcp false) or RTCP packet in place. *len is updated. Protect
 * needs cap >= *len + RELAY_SRTP_TRAILER_MAX. Returns 0; unprotect returns EACCES for an
 * authentication failure, EALREADY for a replayed or too old index (RFC 3711 §3.3.2),
 * EBADMSG for a malformed packet or a 65th SSRC; protect returns EMSGSIZE, or EIO (also for
 * an index already sent or too old to send: a keystream is never used twice). No
 * allocation per packet, except once per new SSRC.
 */
int relay_srtp_protect(struct relay_srtp *s, bool rtcp, uint8_t *buf, size_t *len, size_t cap);
int relay_srtp_unprotect(struct relay_srtp *s, bool rtcp, uint8_t *buf, size_t *len);

/* ---- port allocator (relay_ports.c): thread-safe ----------------------------------------- */

struct relay_ports;

/*
 * A pool of even ports in [min, max] on bind_addr (numeric IPv4 or IPv6). Each slot is the
 * pair (even, even+1): RTP on the even port, RTCP on the odd one when not muxed. Returns 0,
 * EINVAL (bad address or a range with no even port whose pair fits) or ENOMEM.
 */
int relay_ports_new(const char *bind_addr, uint16_t min, uint16_t max, struct relay_ports **out);
/* Frees the pool; every slot should have been released (leftovers are logged). */
void relay_ports_free(struct relay_ports *p);

/*
 * Takes a free slot and binds non-blocking UDP sockets (or hands out the ones kept open for
 * it, drained): fds[0] on the even port, fds[1] on port+1 when rtcp is true (else -1). A
 * port someone else holds (EADDRINUSE) is skipped. Freed slots are reused, oldest released
 * first. Returns 0 (the caller owns the fds and the slot), EADDRNOTAVAIL when no slot is
 * free, or the socket errno. Any thread.
 */
int relay_ports_alloc(struct relay_ports *p, bool rtcp, int fds[2], uint16_t *port);
/* Binds the odd port of a slot the caller holds (rtcp-mux turned off). Returns 0 or errno. */
int relay_ports_bind_rtcp(struct relay_ports *p, uint16_t port, int *fd);
/* Returns a slot to the pool (the caller closes its fds or gives them to relay_ports_keep
 * first). Any thread. */
void relay_ports_release(struct relay_ports *p, uint16_t port);
/* Gives back fd, the caller's socket bound to port (a slot's even or odd port, from
 * relay_ports_alloc or _bind_rtcp) and in no epoll set or GSource: kept open for the slot's
 * next holder, whose alloc then drains and reuses it, or closed when the pool keeps enough
 * (or port is not the pool's). Any thread. */
void relay_ports_keep(struct relay_ports *p, uint16_t port, int fd);
/* Closes fd, the caller's socket bound to port, and forgets its epoll registration. */
void relay_ports_close(struct relay_ports *p, uint16_t port, int fd);

/*
 * Parts: the slots are dealt to `parts` FIFO rings (slot i to part i % parts), one per media
 * worker, so a slot's sockets are always watched by the same worker: a socket kept between
 * calls stays in that worker's epoll set, under its park (below), and costs no epoll_ctl
 * per call. Set before the first alloc (EINVAL otherwise, or parts not in 1..slots).
 * relay_ports_alloc takes from part 0, then 1, ...; relay_ports_alloc_in from one part
 * (part modulo the parts).
 */
int relay_ports_set_parts(struct relay_ports *p, unsigned parts);
unsigned relay_ports_part(const struct relay_ports *p, uint16_t port);
int relay_ports_alloc_in(struct relay_ports *p, unsigned part, bool rtcp, int fds[2],
			 uint16_t *port);

/*
 * A park per port of the pool: the epoll data of its socket in its worker's set, whatever
 * the socket's holder. owner: the endpoint socket reading it (the worker's own field; NULL
 * between holders). reg_fd/armed (under the pool's lock): the descriptor registered in the
 * worker's set (-1 none) and whether it asks for EPOLLIN.
 */
struct relay_park {
	void *owner;
	int reg_fd;
	bool armed;
};
/* The park of a port of the pool, else NULL. */
struct relay_park *relay_ports_park(struct relay_ports *p, uint16_t port);
bool relay_ports_is_park(const struct relay_ports *p, const void *ptr);
/* Registers fd under park k in epfd (ADD; MOD when it was registered and disarmed; nothing
 * when it is registered and armed). 0 or the epoll_ctl errno. */
int relay_ports_register(struct relay_ports *p, struct relay_park *k, int fd, int epfd);
/* k's socket signalled with no owner: what a kept socket holds is dropped; a socket taken
 * by a new holder and not yet registered by it is disarmed (relay_ports_register arms it). */
void relay_ports_idle(struct relay_ports *p, struct relay_park *k, int epfd);
/* Counts the slots in use into gauge (a metric series) from now on. */
void relay_ports_set_gauge(struct relay_ports *p, struct metric *gauge);
unsigned relay_ports_capacity(const struct relay_ports *p);
unsigned relay_ports_in_use(struct relay_ports *p);

/* ---- the relay: M media workers ---------------------------------------------------------- */

struct relay_config {
	unsigned workers;      /* media worker threads, 1..64 */
	const char *bind_addr; /* local media address, numeric ("127.0.0.1", "::") */
	uint16_t port_min, port_max;
	size_t max_packet;     /* bytes; larger datagrams are dropped before SRTP (BI-31); 0 =
				* RELAY_MAX_PACKET; at most RELAY_MAX_PACKET_HI */
	unsigned batch;        /* recvmmsg/sendmmsg batch, 1..64; 0 = 32 */
	/* ICE endpoints (relay_ice.c, relay_dtls.c) */
	const char *const *ice_addresses; /* NULL-terminated local addresses libnice gathers
					   * host candidates on (nice_agent_add_local_address:
					   * libnice skips loopback otherwise); NULL = {bind_addr} */
	const char *public_addr; /* 1:1 NAT: host candidates are reported (RELAY_EV_CANDIDATE)
				  * with this address instead of the local one, same port; libnice
				  * still binds the local address. NULL = report the local address */
	const char *stun_server; /* "ip:port" (numeric) for server-reflexive candidates; NULL */
	/* TURN (RFC 8656) relayed candidates, gathered by libnice on every ICE endpoint. */
	const char *turn_server; /* "ip:port" (numeric); NULL = no TURN */
	enum relay_turn_transport {
		RELAY_TURN_UDP,
		RELAY_TURN_TCP,
		RELAY_TURN_TLS,
	} turn_transport;
	/* Long-term credentials (RFC 8489 §9.2): either a fixed username and password, or
	 * turn_secret, a key shared with the server for time-limited credentials (the TURN REST
	 * scheme coturn calls use-auth-secret: username "<expiry>:gorgee", password
	 * base64(HMAC-SHA1(secret, username)), made for each endpoint, valid turn_ttl_secs).
	 * Copied by relay_new; never logged. */
	const char *turn_username, *turn_password;
	const uint8_t *turn_secret;
	size_t turn_secret_len;
	unsigned turn_ttl_secs; /* 0 = 86400 */
	bool ice_tcp;           /* ICE-TCP (RFC 6544): also a passive TCP host candidate on the
				 * endpoint's port, and the browser's TCP candidates used */
	bool ice_relay_only;    /* offer and use relayed candidates only (libnice force-relay):
				 * the relay's own addresses never reach the browser */
	const char *cert_file, *key_file; /* PEM DTLS certificate and key; NULL = an ECDSA
					   * P-256 self-signed certificate made by relay_new */
	unsigned dtls_timeout_secs; /* DTLS handshake deadline from ICE connected; 0 = 10 */
};

struct relay;

/*
 * Starts the relay: srtp_init(), the port pool, the metrics families and cfg->workers
 * threads, each running its own GMainContext. Returns 0, EINVAL, ENOMEM or EIO. Call from
 * the signaling thread; the relay is used from that thread only.
 */
int relay_new(const struct relay_config *cfg, struct relay **out);
/* Stops the workers and frees. Free every session first: one still open is closed and its
 * ports returned, but its handle may no longer be used (and its memory is lost). */
void relay_free(struct relay *r);
/* The port pool (for tests and /metrics). */
struct relay_ports *relay_get_ports(struct relay *r);
/* The DTLS certificate's fingerprint for SDP a=fingerprint (RFC 8122), e.g.
 * "sha-256 AB:CD:...". Owned by the relay. */
const char *relay_dtls_fingerprint(struct relay *r);

/* ---- relay sessions ---------------------------------------------------------------------- */

#define RELAY_MAX_PT_ALLOW 32
#define RELAY_LEARN_MAX    5

/*
 * One side of a session as signalling sees it. Addresses are copied; keys are read during
 * the call only (the relay keeps SRTP contexts, never the key bytes).
 *
 * Which sources a plain RTP endpoint accepts (symmetric RTP latching, BI-34, SEC-11):
 *  - A packet is checked (size cap, RTP/RTCP validity, SRTP authentication and replay, PT
 *    allowlist) BEFORE its source may latch; an invalid packet never latches anything.
 *  - learn false: only packets from exactly remote_rtp (remote_rtcp for the RTCP socket)
 *    are accepted; that address is the latch.
 *  - learn true (NAT): packets from the IP of remote_rtp, any port, are candidates; the
 *    first valid one latches its source. While fewer than learn_packets (1..5) packets
 *    have been accepted, a valid packet from another port of the same IP re-latches (a NAT
 *    binding that moved at call start). After that the latch is fixed.
 *  - Packets from any other source are dropped and counted (reason "source"). The relay
 *    sends to the latched address, or to the signalled one until something latched.
 *  - relay_session_update() with new addresses resets the latch and the learning window.
 *    Nothing else re-latches; a peer whose address changes needs a renegotiation.
 *  - An endpoint with no signalled address (family AF_UNSPEC) accepts nothing.
 * An SRTP endpoint never accepts or sends plain RTP: a packet that fails to unprotect is
 * dropped, whatever it looks like.
 */
enum relay_ep_kind {
	RELAY_EP_UDP = 0, /* plain RTP or SDES-SRTP on our own sockets */
	RELAY_EP_ICE,     /* libnice full agent, one component (rtcp-mux), DTLS-SRTP */
};

enum relay_dtls_role { RELAY_DTLS_ACTIVE, RELAY_DTLS_PASSIVE }; /* OUR role (client / server) */

#define RELAY_FP_MAX 64 /* SHA-512 */

/*
 * The ICE and DTLS side of an RELAY_EP_ICE endpoint (RFC 8445, RFC 5763/5764, RFC 8842).
 * remote_ufrag/pwd may be empty at creation (we made the offer) and set by
 * relay_session_update() when the answer arrives; a later update whose non-empty ufrag
 * differs restarts ICE (RFC 8445 §9). A changed fingerprint or role starts a new DTLS
 * association. Until a fingerprint is known no handshake can succeed (fail closed).
 */
struct relay_ice_params {
	bool controlling;
	char remote_ufrag[257], remote_pwd[257]; /* NUL-terminated ice-chars; may be empty */
	enum relay_dtls_role dtls_role;
	char remote_fp_hash[16];                 /* "sha-1", "sha-256", "sha-384", "sha-512" */
	uint8_t remote_fp[RELAY_FP_MAX];         /* the fingerprint bytes (decoded from hex) */
	size_t remote_fp_len;                    /* 0 = not known yet */
};

struct relay_endpoint_params {
	enum relay_ep_kind kind;
	/* RELAY_EP_ICE only. remote_rtp/rtcp, rtcp_mux, learn, srtp and keys are ignored for
	 * ICE endpoints: the pair comes from ICE, the suite and keys from DTLS, and RTCP is
	 * always muxed (RFC 8843 bundle-only browsers require it). */
	struct relay_ice_params ice;
	struct sockaddr_storage remote_rtp;  /* the peer's RTP address; AF_UNSPEC = unknown */
	struct sockaddr_storage remote_rtcp; /* ignored when rtcp_mux */
	bool rtcp_mux;                       /* RFC 5761 on this side */
	bool learn;                          /* latch to the first valid source on that IP */
	unsigned learn_packets;              /* learning window, 1..RELAY_LEARN_MAX (0 = 5) */
	/* RELAY_EP_UDP with DTLS-SRTP (RFC 5763/5764 without ICE, UDP/TLS/RTP/SAVP): the
	 * handshake runs on our RTP socket and, without rtcp-mux, a second one on the RTCP
	 * socket whose keys protect SRTCP (RFC 5764 §4.1). ice.dtls_role and ice.remote_fp*
	 * give our role and the peer's fingerprint (the rest of ice is ignored), srtp and keys
	 * are ignored. DTLS comes only from sources the latch rules allow; a server answers a
	 * ClientHello with a cookie bound to its source and talks to that source only once
	 * the cookie came back (BI-37); the latch is set to the peer that completed the
	 * handshake, and nothing is accepted or forwarded before the SRTP keys exist. The
	 * handshake starts once both the remote address and the fingerprint are known, with
	 * the deadline of relay_config.dtls_timeout_secs; events as for ICE endpoints
	 * (RELAY_EV_DTLS_CONNECTED, RELAY_EV_DTLS_FAILED), one per association. */
	bool dtls;
	enum relay_srtp_suite srtp;          /* RELAY_SRTP_NONE = plain RTP */
	const struct secret *key_in;         /* what the peer protects with (we unprotect) */
	const struct secret *key_out;        /* what we protect with toward the peer */
	/* RTP payload types this side may send (BI-35); n_pt_allow 0 = any. Others dropped. */
	uint8_t pt_allow[RELAY_MAX_PT_ALLOW];
	unsigned n_pt_allow;
	uint32_t clock_rate;                 /* RTP clock of this side's media, for jitter
					      * (RFC 3550 A.8); 0 = 8000 */
};

struct relay_session;

/* What an ICE endpoint reports, on the creator's thread-default context. */
enum relay_event {
	RELAY_EV_CANDIDATE,      /* detail: a local candidate, SDP value "candidate:..." */
	RELAY_EV_GATHERING_DONE, /* every local candidate was reported (a=end-of-candidates) */
	RELAY_EV_ICE_CONNECTED,  /* a pair passed its checks; detail: "ip:port" of the peer */
	RELAY_EV_ICE_FAILED,     /* checks failed, or consent lost (RFC 7675: libnice 0.1.21
				  * gives up ~10 s after the last consent response, inside the
				  * RFC's 30 s); nothing is sent any more; detail: why */
	RELAY_EV_DTLS_CONNECTED, /* detail: SRTP profile name ("SRTP_AEAD_AES_128_GCM") */
	RELAY_EV_DTLS_FAILED,    /* detail: reason; nothing is forwarded on this endpoint */
};

/* detail is borrowed for the call (never key material, SEC-13). Not called after
 * relay_session_free(). */
typedef void relay_event_fn(struct relay_session *s, unsigned idx, enum relay_event ev,
			    const char *detail, void *arg);

/* Called on the signaling thread (the thread-default context of relay_session_new's
 * caller) when no valid packet arrived on either endpoint for inactivity_secs. Fires once
 * per silence; activity re-arms it. Not called after relay_session_free(). */
typedef void relay_timeout_fn(struct relay_session *s, void *arg);

struct relay_session_params {
	struct relay_endpoint_params ep[2];
	unsigned inactivity_secs; /* 0 = no timeout */
	relay_timeout_fn *on_timeout;
	relay_event_fn *on_event; /* ICE endpoints' events; may be NULL */
	void *arg;                /* for on_timeout and on_event */
	const char *call_id;      /* for log lines; copied; may be NULL */
};

struct relay_local {
	uint16_t rtp_port;
	uint16_t rtcp_port; /* == rtp_port when muxed */
	/* ICE endpoints: our credentials (a=ice-ufrag, a=ice-pwd), new at creation and at
	 * each ICE restart; rtp_port == rtcp_port is the port of every host candidate. An
	 * ICE endpoint takes one slot of the same port pool (probed free by a bind at
	 * creation); libnice binds its even port on each ICE address (port range set to
	 * exactly that port) and the slot returns only after the agent is gone. */
	char ice_ufrag[64], ice_pwd[64];
};

/*
 * Life of a session: relay_session_new() (signaling) posts it to a worker, which watches
 * its sockets and forwards; update/stats/free are messages to that worker; replies and the
 * timeout come back as callbacks on the creator's thread-default GMainContext.
 *
 * Per datagram, in this order: size cap (BI-31), source (latch rules above), RTP header or
 * RTCP framing (BI-30), SRTP/SRTCP unprotect (BI-33), RTCP sub-packet filter (BI-32), PT
 * allowlist (BI-35); then latch, stats, protect toward an SRTP peer, send (sendmmsg).
 * Every drop is counted per endpoint and in gorgee_relay_drops_total{reason}.
 *
 * Creates a session on the least-loaded worker. Ports are allocated and bound, SRTP
 * contexts made, synchronously: local[0..1] receives the local ports of endpoints 0 and 1.
 * Returns 0 (*out is the caller's handle until relay_session_free), EINVAL (bad params or
 * key length), ENOTSUP (suite), EADDRNOTAVAIL (no ports) or errno. Signaling thread.
 */
int relay_session_new(struct relay *r, const struct relay_session_params *p,
		      struct relay_local local[2], struct relay_session **out);

/*
 * Renegotiation of endpoint idx (0 or 1): new remote addresses, mux, keys, PT allowlist.
 * The latch and learning window restart; SRTP contexts are replaced (replay state resets).
 * local gets the ports (RTCP may be bound now if mux was turned off). Returns 0 or errno;
 * on error nothing changed. Applied asynchronously on the worker. Signaling thread.
 *
 * An ICE endpoint stays an ICE endpoint (EINVAL otherwise). The update sets the remote
 * credentials, fingerprint, role and controlling flag and the PT allowlist; when the
 * remote ufrag changes from one non-empty value to another the stream restarts (new local
 * credentials in local->ice_ufrag/pwd, the local candidates are reported again, remote
 * candidates must be trickled again). The DTLS association survives an ICE restart unless
 * the fingerprint or role changed. local->ice_ufrag/pwd always receive the current ones.
 */
int relay_session_update(struct relay_session *s, unsigned idx,
			 const struct relay_endpoint_params *ep, struct relay_local *local);

/*
 * Trickle ICE (RFC 8838) in: a remote candidate of endpoint idx as in SDP
 * ("candidate:1 1 udp 2122260223 192.0.2.1 50000 typ host ...", with or without the "a="
 * and "candidate:" prefixes). Component 2 (RTCP) and TCP candidates are accepted and
 * ignored (rtcp-mux, no ICE-TCP), as are hostnames (mDNS ".local"): returns 0 for them.
 * Returns 0, EINVAL (not an ICE endpoint, freed), EBADMSG (malformed) or ENOSPC (more than
 * RELAY_MAX_REMOTE_CANDS, BI-23). Signaling thread.
 */
#define RELAY_MAX_REMOTE_CANDS 64
int relay_session_add_candidate(struct relay_session *s, unsigned idx, const char *cand);
/*
 * Telephone-event translation (RFC 4733). Each leg negotiates its own telephone-event: a
 * browser sending opus sends events at 48000 (Chrome uses the telephone-event whose clock
 * matches its send codec, and at a mismatched clock it sends malformed end-only events),
 * while many phones accept telephone-event/8000 only. Events endpoint idx sends with
 * payload type pt (clock) leave toward the other endpoint as to_pt (to_clock): the PT is
 * rewritten and the event duration (RFC 4733 §2.3.5, in the event's clock) rescaled,
 * saturating at 0xFFFF. The RTP timestamp is the stream's and stays. on false removes the
 * mapping. Applied on the worker; the latch, SRTP and allowlist are untouched.
 * Signaling thread.
 */
struct relay_event_map {
	bool on;
	uint8_t pt, to_pt;          /* 0..127 */
	uint32_t clock, to_clock;   /* > 0 */
};
int relay_session_map_events(struct relay_session *s, unsigned idx,
			     const struct relay_event_map *map);

/* The peer has no more candidates (a=end-of-candidates): libnice may declare failure once
 * its checks are done. Signaling thread. */
void relay_session_end_of_candidates(struct relay_session *s, unsigned idx);

/*
 * Streams: a session carries up to RELAY_MAX_STREAMS RTP streams (one per m-section:
 * audio, video). Stream 0 is the pair ep[0]/ep[1] of the session; stream k >= 1 pairs
 * stream k's endpoint on side 0 with its endpoint on side 1, where a side is either
 * bundled or not:
 *  - a bundled side (RFC 8843 BUNDLE) is one ICE endpoint, the session's ep[bundled], that
 *    carries every stream over its one transport;
 *  - a side that is not bundled has an endpoint of its own per stream (plain UDP, RTP and
 *    RTCP ports of its own, as a SIP peer has per m-section): ep[side] for stream 0, an
 *    extra endpoint for each stream k >= 1.
 * At most one side is bundled (a browser and a SIP peer), or none (RELAY_BUNDLE_NONE: two
 * SIP peers, every packet of an extra endpoint goes to the same stream's endpoint on the
 * other side). Two browsers need no streams: their ICE endpoints pass every stream through
 * unchanged when both legs number them alike (mids, PTs, MID extension id).
 *
 * An authenticated RTP packet on the bundled endpoint goes to a stream by (RFC 8843 §9.2):
 * its MID header extension (RFC 8285 element with id mid_ext_id, the a=extmap of
 * urn:ietf:params:rtp-hdrext:sdes:mid), which also teaches the relay its SSRC; else its SSRC
 * (signalled with a=ssrc or learned from a MID); else its PT, first stream listing it. A
 * packet matching no stream, or a PT its stream does not list, is dropped. An RTCP
 * compound goes whole to the stream one of its SSRCs names: a report block or feedback
 * target that is the SSRC the stream's other side sends with, else the sender's SSRC as
 * known from its RTP; else stream 0. Packets from a stream's own endpoint leave on the
 * bundled transport (SRTP with the DTLS keys), RTP with the stream's MID header extension
 * in place of any extension it had (RFC 8843 §9.1: a browser that negotiated MID in every
 * m-section does not demultiplex by PT, and SIP peers signal no SSRC). Nothing is learned
 * before a packet is authenticated. The bundled endpoint's own pt_allow is not used: each
 * stream's demux PTs are its allowlist (BI-35).
 */
#define RELAY_MAX_STREAMS 4
#define RELAY_MAX_SSRC    8
#define RELAY_MID_MAX     32
#define RELAY_BUNDLE_NONE 2 /* relay_streams.bundled: no side is bundled */

struct relay_demux {
	char mid[RELAY_MID_MAX];       /* a=mid; "" = none (no MID match) */
	uint32_t ssrc[RELAY_MAX_SSRC]; /* a=ssrc the bundled peer sends with */
	unsigned n_ssrc;
	uint8_t pt[RELAY_MAX_PT_ALLOW]; /* PTs of the m-section on the bundled side; 0 = any */
	unsigned n_pt;
	uint32_t clock_rate;           /* for jitter; 0 = 8000 */
};

struct relay_streams {
	unsigned n;         /* streams, 1..RELAY_MAX_STREAMS; 1 = stream 0 alone */
	unsigned bundled;   /* index (0 or 1) of the bundled endpoint (an RELAY_EP_ICE one), or
			     * RELAY_BUNDLE_NONE */
	uint8_t mid_ext_id; /* 1..14 (one-byte) or 1..255 (two-byte) ; 0 = no MID extension */
	struct relay_demux demux[RELAY_MAX_STREAMS]; /* the bundled side's view of each stream */
	/* ep[side][k - 1]: stream k's endpoint on a side that is not bundled (RELAY_EP_UDP;
	 * with dtls, an association of its own on its ports, RFC 5764 without BUNDLE, events
	 * with the side's idx), as in relay_session_update(); the bundled side's entries are
	 * not read */
	struct relay_endpoint_params ep[2][RELAY_MAX_STREAMS - 1];
};

/*
 * Sets the streams of a session (at creation with n > 1, and at each renegotiation). An
 * extra endpoint that existed keeps its ports and is updated (latch reset, SRTP replaced);
 * a new one gets ports from the pool; one no longer listed (k >= n) is closed and its
 * ports return. local[side][k - 1] receives the ports of stream k's endpoint on that side
 * (zero on a bundled side). Returns 0, EINVAL (bad parameters, the bundled endpoint is not
 * ICE), EADDRNOTAVAIL (no ports) or errno; on error nothing changed. Signaling thread;
 * applied on the worker.
 */
int relay_session_set_streams(struct relay_session *s, const struct relay_streams *st,
			      struct relay_local local[2][RELAY_MAX_STREAMS - 1]);

/*
 * Payload type translation (RFC 3264 §6.1: an answerer may number a codec otherwise than
 * the offer did, and each side sends with the receiver's numbers). RTP that the endpoint of
 * stream `stream` on side idx receives with PT from[i] leaves toward the other side with
 * PT to[i]; other PTs pass unchanged. A bundled endpoint has one table for all its streams
 * (give stream 0; the PTs of one BUNDLE are distinct). Telephone-events mapped by
 * relay_session_map_events are left to that map. n 0 removes the mapping. Applied on the
 * worker; nothing else changes. Returns 0 or EINVAL. Signaling thread.
 */
struct relay_pt_map {
	unsigned n;                          /* 0..RELAY_MAX_PT_ALLOW */
	uint8_t from[RELAY_MAX_PT_ALLOW], to[RELAY_MAX_PT_ALLOW]; /* 0..127 */
};
int relay_session_map_pts(struct relay_session *s, unsigned idx, unsigned stream,
			  const struct relay_pt_map *map);

/*
 * Counting per stream without streams (two browsers: their ICE endpoints pass audio and
 * video through as they are): RTP endpoint idx receives with PT pt[i] counts as stream 1
 * (video), any other RTP and all RTCP as stream 0, in relay_session_stats' stream[][]
 * (packets and bytes, in and out; no loss or jitter per stream). Ignored while the session
 * has streams (relay_session_set_streams). n 0 stops it. Returns 0 or EINVAL. Signaling
 * thread.
 */
struct relay_pt_kinds {
	unsigned n;                       /* 0..RELAY_MAX_PT_ALLOW */
	uint8_t pt[RELAY_MAX_PT_ALLOW];   /* 0..127: stream 1's PTs */
};
int relay_session_count_by_pt(struct relay_session *s, unsigned idx,
			      const struct relay_pt_kinds *k);

/* Per direction: what arrived on endpoint i from its peer (and went toward the other). */
struct relay_dir_stats {
	uint64_t packets_in, bytes_in;   /* accepted (valid, authenticated, from the latch) */
	uint64_t packets_out, bytes_out; /* sent toward the other endpoint's peer */
	uint64_t rtcp_in;
	uint64_t dropped;                /* every drop on this endpoint's sockets */
	uint64_t dropped_source;         /* of which: wrong source (BI-34) */
	int64_t lost;                    /* RFC 3550 A.3: expected - received (may be < 0) */
	uint32_t jitter;                 /* RFC 3550 A.8, timestamp units */
	uint32_t jitter_us;              /* same in µs */
	bool latched;                    /* ICE endpoint: a pair is selected */
	struct sockaddr_storage latch;   /* valid when latched (ICE: the selected remote) */
};

struct relay_session_stats {
	struct relay_dir_stats ep[2]; /* per endpoint: with BUNDLE the bundled one sums streams */
	unsigned n_streams;           /* 1 without streams */
	/* stream k: [bundled] what the bundled endpoint received for it; [other] its own
	 * endpoint (stream 0: the session's endpoint on that side) */
	struct relay_dir_stats stream[RELAY_MAX_STREAMS][2];
};

/* Receives a stats snapshot on the signaling thread; stats is borrowed for the call. */
typedef void relay_stats_fn(struct relay_session *s, const struct relay_session_stats *stats,
			    void *arg);

/* Asks the worker for a snapshot; cb runs later on the caller's thread-default context
 * (not if the session is freed first). Signaling thread. */
void relay_session_stats(struct relay_session *s, relay_stats_fn *cb, void *arg);

/* Closes the session: the worker stops forwarding, closes the sockets and returns the ports
 * to the pool shortly after. No callback runs after this returns. s may be NULL. */
void relay_session_free(struct relay_session *s);

#endif
