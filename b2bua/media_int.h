/* The media of one call, shared by media.c (the relay session, audio, offer/answer) and
 * media_video.c (video: the relay's stream 1, payload type translation). */
#ifndef GORGEE_MEDIA_INT_H
#define GORGEE_MEDIA_INT_H

#include "b2b_int.h"
#include "b2b_sdp.h"

#define MEDIA_KEY_MAX 46 /* master key || salt of the longest SDES suite */

struct call_media {
	struct b2b *b;
	struct call *call;
	struct relay_session *rs;
	struct relay_local local[2];         /* relay ports facing leg A (0) and leg B (1) */
	struct relay_endpoint_params ep[2];  /* what each endpoint was last told (no keys) */
	bool webrtc[2];                      /* the leg speaks WebRTC (a WebSocket leg) */
	enum b2b_profile prof[2];            /* the profile of the SDP exchanged with each leg */
	/* SDES: our outbound key toward each leg (never logged, cleansed on free) */
	enum sdp_crypto_suite suite_out[2];
	uint8_t key_out[2][MEDIA_KEY_MAX];
	size_t key_out_len[2];
	uint32_t tag_out[2];
	char *last_sent[2];                  /* the SDP we last sent to each leg (hold re-offers) */
	bool offerless;                      /* A sent no offer: gorgee offered to B, and offers
					      * to A in A's 2xx with B's answer (A answers in ACK) */
	char *offer;                         /* the offer in progress, as received */
	int offer_from;
	bool offer_unapplied;                /* the relay follows it only with the answer */
	uint8_t offer_pt[RELAY_MAX_PT_ALLOW];
	unsigned n_offer_pt;
	GPtrArray *cand[2];                  /* our ICE candidates per leg ("candidate:...") */
	bool gathered[2], sdp_sent[2];
	uint64_t sess_id, version[2];
	bool timed_out;
	/* the telephone-event each leg sends, from the codecs agreed with it (pt -1: none or
	 * not known yet); the relay translates when they differ (relay_session_map_events) */
	int ev_pt[2];
	uint32_t ev_clock[2];
	guint closed_timer;                  /* the browser closed DTLS: end unless signaling does */
	bool dtls_role_set[2];               /* the relay's DTLS role toward the leg is decided */
	/*
	 * Video (media_video.c). Between a browser and a SIP leg: stream 1 of the relay session,
	 * bundled with the audio on the browser's ICE endpoint, on ports of its own toward SIP.
	 * Between two SIP legs: stream 1 with ports of its own on both sides (no bundle).
	 * Between two browsers: no stream; both ICE endpoints carry audio and video as is.
	 */
	bool video;                          /* relayed now */
	bool streams_set;                    /* the relay was told about streams once */
	struct relay_endpoint_params vep[2]; /* each SIP leg's video endpoint (keys below) */
	uint8_t vkey_in[2][MEDIA_KEY_MAX];   /* each SIP peer's video SDES key (cleansed) */
	size_t vkey_in_len[2];
	/* SDES: the video's own outbound key and suite toward each leg (RFC 3711 §9.1: a
	 * master key serves several streams only while their SSRCs differ, which the relay
	 * does not choose; RFC 4568 §6: each m-section has its own a=crypto) */
	enum sdp_crypto_suite vsuite_out[2];
	uint8_t vkey_out[2][MEDIA_KEY_MAX];
	size_t vkey_out_len[2];
	uint8_t voffer_pt[RELAY_MAX_PT_ALLOW]; /* the video PTs of the offer in progress */
	unsigned n_voffer_pt;
	struct relay_demux dmx[2];           /* audio, video as the WebRTC leg signals them */
	uint8_t mid_ext;
	struct relay_local vlocal[2];        /* the relay's video ports toward each SIP leg */
	struct relay_session_stats last;     /* the last stats snapshot (call_media_dump) */
	bool have_last;
};

/* media.c */
bool media_set_addr(struct sockaddr_storage *ss, int family, const char *ip, uint16_t port);
/* A relay error (errno) as a SIP status with *why: 503 for a shortage, else 500. */
int media_relay_status(int rc, const char **why);
enum relay_srtp_suite media_relay_suite(enum sdp_crypto_suite s);
/* Our DTLS role toward leg side given its a=setup (RFC 5763 §5; kept in renegotiations). */
enum relay_dtls_role media_dtls_role(const struct call_media *m, int side, enum sdp_setup peer);
/* The peer's DTLS fingerprint from r into ice. */
void media_set_fingerprint(struct relay_ice_params *ice, const struct b2b_media_remote *r);

/* media_video.c: video follows each offer and answer (0, or a SIP status with *why) */
int media_video_on_offer(struct call_media *m, int from, const struct sdp_session *s,
			 const char **why);
int media_video_offer_sent(struct call_media *m, int to, const GString *sent,
			   const char **why);
int media_video_on_answer(struct call_media *m, int from, const struct sdp_session *s,
			  const char **why);
/* The video ports, suite and key of the SDP toward leg side. */
void media_video_local(struct call_media *m, int side, struct b2b_media_local *l);
/* Two browsers: the video PTs of s (and of the offer, when s answers) join ep's allowlist. */
void media_video_allow(struct call_media *m, const struct sdp_session *s, bool answer,
		       struct relay_endpoint_params *ep);
/* After an answer from leg !offerer: PTs the answer numbers otherwise than the offer are
 * translated by the relay both ways (relay_session_map_pts), for audio and video. */
void media_map_pts(struct call_media *m, int offerer, const struct sdp_session *offer,
		   const struct sdp_session *answer);
void media_video_dump(const struct call_media *m, GString *out);
/* One endpoint of the calls dump: " <name> [<profile>] local=<port> remote=<ip>:<port>[ mux]
 * [ suite=<s>]"; profile NULL: not named. */
void media_dump_ep(GString *out, const char *name, const char *profile,
		   const struct relay_local *l, const struct relay_endpoint_params *ep);
void media_video_clear(struct call_media *m);

#endif
