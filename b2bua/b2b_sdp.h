/* b2b_sdp: RFC 3264 offer/answer translation between WebRTC SDP and SIP SDP (pure functions). */
#ifndef GORGEE_B2B_SDP_H
#define GORGEE_B2B_SDP_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sip.h"

/*
 * What gorgee relays: the first audio m-section whose port is not 0, and the first video
 * m-section whose port is not 0 when the caller gives video ports (b2b_media_local) and a
 * codec can be carried (VP8, VP9, H.264, AV1 toward a browser; video is never transcoded:
 * PTs and fmtp as the peers negotiate). Toward a browser both ride one BUNDLE transport
 * with the MID header extension (RFC 8843 §9.2); toward SIP each has its own ports and
 * there is no BUNDLE. Every other m-section (application, a second audio or video, a
 * video nobody can carry) is kept in place with port 0 (rejected), so the
 * m-sections of an offer and of its translation correspond one to one (RFC 3264 §8: an
 * answer has as many m-sections as the offer, in the same order) and a rejected mid leaves
 * the BUNDLE group (RFC 8843 §7.3.3). Codecs are never transcoded: they are intersected
 * and an offer keeps the offerer's payload type numbers; an answer gives the offerer its own
 * numbers back (an answerer's other numbers are the relay's to translate,
 * relay_session_map_pts), except telephone-event: a browser
 * gets only the one at its send codec's clock (added when the other leg has none there),
 * an answer keeps one the offerer can use, and the relay translates PT and clock
 * (relay_session_map_events).
 */

#define B2B_MAX_CODECS     16
#define B2B_MAX_CANDIDATES 16 /* remote candidates kept per leg; the rest are dropped */
#define B2B_MAX_CAND_LEN   512
#define B2B_MAX_SSRC       8   /* a=ssrc ids kept per m-section (BUNDLE demultiplexing) */
#define B2B_MID_EXT_URI    "urn:ietf:params:rtp-hdrext:sdes:mid"

enum b2b_profile {
	B2B_PROFILE_WEBRTC, /* UDP/TLS/RTP/SAVPF + ICE + DTLS + rtcp-mux + BUNDLE (RFC 8829) */
	B2B_PROFILE_RTP,    /* RTP/AVP (or RTP/AVPF) */
	B2B_PROFILE_SDES,   /* RTP/SAVP (or RTP/SAVPF) + a=crypto (RFC 4568) */
	B2B_PROFILE_DTLS,   /* UDP/TLS/RTP/SAVP toward DTLS-capable SIP peers, ICE optional
			     * (RFC 5764) */
};

struct b2b_codec {
	uint8_t pt;
	char name[32];    /* as written ("opus", "PCMU", "telephone-event") */
	uint32_t clock;
	uint8_t channels; /* 0 = not written (one channel) */
	char fmtp[256];   /* parameters, "" = none; a codec with longer ones is dropped */
};

/*
 * What a peer's SDP asks of the relay for the audio stream, from its offer or its answer.
 * Holds the peer's SDES key: clear it (explicit_bzero) once the relay has it, never log it.
 */
struct b2b_media_remote {
	bool present;      /* an audio m-section with port != 0 exists */
	unsigned m_index;  /* which m-section */
	enum b2b_profile profile;
	char addr[64];     /* numeric address from c=; "" for 0.0.0.0 (see dir) */
	int family;        /* AF_INET or AF_INET6 */
	uint16_t rtp_port, rtcp_port; /* rtcp_port: a=rtcp, else rtp_port (muxed) or +1 */
	bool rtcp_mux;
	/*
	 * Effective direction (RFC 3264 §5.1): a=<dir> of the m-section, else of the session,
	 * else sendrecv. Outside ICE, c=0.0.0.0 (the RFC 2543 hold form, RFC 3264 §8.4) means
	 * "do not send to me", so the receive half is taken away: sendrecv → sendonly,
	 * recvonly → inactive. With ICE (WebRTC) c=0.0.0.0 only means "no candidate yet"
	 * (RFC 8839 §4.2.1.1) and changes nothing.
	 */
	enum sdp_dir dir;
	char ice_ufrag[257], ice_pwd[257]; /* "" = absent */
	bool ice_lite, end_of_candidates;
	char cand[B2B_MAX_CANDIDATES][B2B_MAX_CAND_LEN]; /* "candidate:..." (RFC 8839 §5.1) */
	unsigned n_cand;
	char fp_hash[16];  /* "sha-256"; "" = no fingerprint */
	uint8_t fp[64];
	size_t fp_len;
	enum sdp_setup setup; /* m-section's, else the session's */
	/* SDES: the first a=crypto with a suite we support, no MKI, no session parameters. */
	uint32_t crypto_tag;
	enum sdp_crypto_suite crypto_suite;
	uint8_t crypto_key[46]; /* master key || salt, decoded from base64 */
	size_t crypto_key_len;
	struct b2b_codec codecs[B2B_MAX_CODECS]; /* m= order; unknown dynamic PTs skipped */
	unsigned n_codecs;
	int dtmf_pt;         /* telephone-event at clock_rate (else the first one), or -1 */
	uint32_t clock_rate; /* clock of the first codec that is not DTMF, CN, RED or FEC */
	uint32_t ptime;      /* a=ptime, 0 = absent */
	char mid[64];        /* "" = absent */
	uint8_t mid_ext;     /* a=extmap id of B2B_MID_EXT_URI (1..255), 0 = absent */
	uint32_t ssrc[B2B_MAX_SSRC]; /* a=ssrc ids, first ones, distinct */
	unsigned n_ssrc;
};

/* What the relay gives for one leg, to put into the SDP sent toward that leg. Borrowed. */
struct b2b_media_local {
	const char *addr; /* numeric IPv4 or IPv6 address, for c= and o= */
	uint16_t rtp_port, rtcp_port; /* rtcp_port 0 = not advertised */
	bool rtcp_mux;    /* always on toward WebRTC */
	const char *ice_ufrag, *ice_pwd;      /* required for WEBRTC; NULL = no ICE */
	const char *const *cand;              /* "candidate:..." values */
	unsigned n_cand;
	bool end_of_candidates;
	const char *fingerprint; /* "sha-256 AB:CD:..."; required for WEBRTC and DTLS */
	enum sdp_setup setup;    /* NONE: actpass in offers, active when answering actpass */
	/* Our outbound SDES key for SDES legs (tag 0 = 1 in offers; answers use the offer's). */
	uint32_t crypto_tag;
	enum sdp_crypto_suite crypto_suite;
	const uint8_t *crypto_key; /* master key || salt, as long as the suite needs */
	size_t crypto_key_len;
	/* Video: the relay's ports for the video m-section; 0 = reject video. Toward WebRTC
	 * video is bundled on rtp_port (any non-zero value says "relay video"). SDES: the
	 * video's own outbound key (RFC 3711 §9.1 lets a master key serve several streams
	 * only while their SSRCs differ, which the relay does not choose) in its own suite
	 * (RFC 4568: each m-section has its own a=crypto; SDP_SUITE_UNKNOWN = crypto_suite),
	 * as many bytes as that suite needs; NULL = crypto_key (then the suite must be the
	 * audio's). */
	uint16_t video_rtp_port, video_rtcp_port;
	bool video_rtcp_mux; /* toward SIP: the video's own (RFC 5761 per m-section) */
	const uint8_t *video_crypto_key;
	enum sdp_crypto_suite video_crypto_suite;
	uint64_t sess_id, sess_version; /* o=; the caller bumps sess_version per new SDP */
	const char *username;           /* o= username; NULL = "-" */
};

/*
 * Reads the relayed audio stream of s (an offer or an answer) into *out. Returns 0 (with
 * out->present false when there is no audio m-section with a port), EINVAL, or EPROTO
 * with a reason in err (never input bytes of secrets): an unsupported or insecure profile
 * (RTP/SAVP without a usable a=crypto, DTLS without a fingerprint or a=setup, WebRTC
 * without ICE credentials — BI-24), a c= that is multicast, broadcast or a host name
 * (BI-21), no codec at all. err may be NULL.
 */
int b2b_sdp_remote(const struct sdp_session *s, struct b2b_media_remote *out, char err[128]);

/* A translation's large scratch structures, from the thread's scratch blocks
 * (core_scratch_get: malloc was slow at this size): an SDP session (~300 KB, contents
 * undefined: sdp_parse and the builders zero what they fill) and a zeroed media view
 * (14 KB), wiped when freed (it may hold SDES keys). Free each on the thread that took it. */
struct sdp_session *b2b_sdp_session_new(void);
void b2b_sdp_session_free(struct sdp_session *s);
struct b2b_media_remote *b2b_media_remote_new(void);
void b2b_media_remote_free(struct b2b_media_remote *r);

/*
 * The profile to use toward a SIP peer: when answering its offer (sip_offer not NULL and
 * present), the profile it offered; otherwise DTLS or SDES when configured (calls.srtp),
 * else RTP/AVP.
 */
/*
 * The index of the video m-section gorgee would relay in s (the first video m-section with
 * an RTP profile and a port), or -1.
 */
int b2b_sdp_video_index(const struct sdp_session *s);

enum b2b_profile b2b_sdp_sip_profile(const struct b2b_media_remote *sip_offer, bool sdes,
				     bool dtls);

/*
 * Appends to out the offer toward the other leg, translated from in_offer (or from any
 * session whose audio codecs should be offered, such as an answer in the offerless flow).
 * Codecs are those the target can carry: toward WEBRTC only opus, G722, PCMU, PCMA,
 * telephone-event and CN; toward SIP profiles everything but RED, FEC and RTX. rtcp-fb
 * lines go only toward WEBRTC, without transport-cc and goog-remb (their header extensions
 * are not offered); extmap, ssrc and msid lines never carry over. ptime and maxptime do
 * (toward SIP ptime defaults to 20). Returns 0, EINVAL (bad local values) or EPROTO with
 * err (no audio, no codec the target can carry).
 */
int b2b_sdp_offer(const struct sdp_session *in_offer, enum b2b_profile target,
		  const struct b2b_media_local *local, GString *out, char err[128]);

/*
 * Appends an offer made from scratch (offerless INVITE, outgoing call without SDP): opus/
 * 48000/2, G722, PCMU, PCMA, telephone-event/48000 and /8000 in the target profile.
 * Returns 0 or EINVAL.
 */
int b2b_sdp_offer_default(enum b2b_profile target, const struct b2b_media_local *local,
			  GString *out);

/*
 * Appends the answer toward the leg that sent in_offer, given peer_answer, the other leg's
 * answer to b2b_sdp_offer(in_offer). Codecs: the intersection in the answer's order with
 * the PTs, rtpmap and rtcp-fb of in_offer, fmtp from the answer when it has one (RFC 7587
 * §7: an answer's fmtp describes what its sender receives) else from in_offer. Direction:
 * the answer's, limited to the mirror of the offer's (RFC 3264 §6.1). DTLS role per RFC
 * 5763 §5: actpass is answered with local->setup or active. The accepted mid stays in
 * BUNDLE; every other m-section is answered with port 0. The answer's proto is the
 * offer's, as written, so offer_profile must be the profile b2b_sdp_remote reads from
 * in_offer (EINVAL otherwise). Returns 0, EINVAL, or EPROTO with err (the peer rejected
 * audio, no common codec: the call code then answers 488).
 */
int b2b_sdp_answer(const struct sdp_session *in_offer, const struct sdp_session *peer_answer,
		   enum b2b_profile offer_profile, const struct b2b_media_local *local,
		   GString *out, char err[128]);

/*
 * The direction to offer or answer toward the other leg given one leg's effective
 * direction. The relay forwards, so what a leg will send is what gorgee will send on: the
 * direction carries over unchanged (sendonly stays sendonly); SDP_DIR_NONE is sendrecv.
 */
enum sdp_dir b2b_sdp_dir_toward(enum sdp_dir from_leg);

const char *b2b_profile_name(enum b2b_profile p);

/* ---- shared by b2b_sdp.c and b2b_sdp_remote.c (and their tests) -------------------------- */

#define B2B_ERR_LEN 128

struct b2b_suite {
	enum sdp_crypto_suite suite;
	const char *name;
	size_t key_len; /* master key || salt */
};
extern const struct b2b_suite b2b_suites[];
extern const size_t b2b_n_suites;
/* The suite's entry if the relay supports it, else NULL. */
const struct b2b_suite *b2b_suite_find(enum sdp_crypto_suite s);

/* Writes a reason into err (may be NULL) and returns EPROTO. */
int b2b_fail(char *err, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/* b2b_sdp_remote for m-section idx (< s->n_media), whatever its type and port. */
int b2b_sdp_remote_at(const struct sdp_session *s, unsigned idx, struct b2b_media_remote *out,
		      char *err);
/* m's payload types as codecs in m= order; static PTs named from RFC 3551. */
void b2b_codecs_read(const struct sdp_media *m, struct b2b_codec *out, unsigned *n);
/* Not DTMF, CN, RED, FEC or RTX. */
bool b2b_codec_is_media(const struct b2b_codec *c);
/* Whether target can carry c (WEBRTC: what browsers do; SIP: no RED, FEC, RTX). */
bool b2b_codec_carried(const struct b2b_codec *c, enum b2b_profile target);
bool b2b_codec_same(const struct b2b_codec *a, const struct b2b_codec *b);
/* Colon-separated hex ("AB:CD") and strict base64 decoders; false on bad input or overflow. */
bool b2b_fp_decode(struct slice v, uint8_t *out, size_t cap, size_t *len);
bool b2b_b64_decode(struct slice s, uint8_t *out, size_t cap, size_t *len);

#endif
