/* sdp: SDP (RFC 8866) session descriptions parsed into slices, and printed back. */
#ifndef GORGEE_SIP_SDP_H
#define GORGEE_SIP_SDP_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"

/*
 * Hard caps (BAD-INPUTS BI-19, BI-23). Anything beyond a cap makes sdp_parse() fail with
 * EBADMSG; nothing is truncated silently.
 */
#define SDP_MAX_BODY        65536 /* bytes */
#define SDP_MAX_LINES       2000
#define SDP_MAX_MEDIA       16
#define SDP_MAX_CANDIDATES  64 /* per m-section */
#define SDP_MAX_FORMATS     32 /* formats, rtpmaps and fmtps per m-section */
#define SDP_MAX_RTCPFB      64
#define SDP_MAX_EXTMAPS     32
#define SDP_MAX_SSRCS       32 /* a=ssrc lines */
#define SDP_MAX_SSRC_GROUPS 8
#define SDP_MAX_GROUP_SSRCS 8
#define SDP_MAX_CRYPTO      8
#define SDP_MAX_FINGERPRINTS 4
#define SDP_MAX_MSIDS       4
#define SDP_MAX_GROUPS      4 /* a=group lines */
#define SDP_MAX_GROUP_MIDS  16
#define SDP_MAX_BANDWIDTHS  4
#define SDP_MAX_ATTRS       32 /* generic a= lines per section */
#define SDP_MAX_TIMES       4  /* t= lines */
#define SDP_MAX_REPEATS     4  /* r= lines per t= */
#define SDP_MAX_CONTACTS    4  /* e= and p= lines each */

#define SDP_MAX_ENCODING_LEN 32   /* rtpmap encoding name */
#define SDP_MAX_FMTP_LEN     1024 /* fmtp parameters */
#define SDP_MAX_URI_LEN      256  /* extmap URI */
#define SDP_MAX_ATTR_LEN     2048 /* value of any other attribute */
#define SDP_MAX_TOKEN_LEN    256  /* ids, ufrag/pwd, addresses, mids, foundations */
#define SDP_MAX_KEY_LEN      128  /* a=crypto inline: key||salt, base64 */

/* ptime/maxptime are clamped to this range (BI-25). */
#define SDP_PTIME_MIN 10
#define SDP_PTIME_MAX 300

/* A generic attribute: a=name or a=name:value. */
struct sdp_attr {
	struct slice name;
	struct slice value;
	bool has_value; /* a colon followed the name (the value may still be empty) */
};

enum sdp_addrtype { SDP_ADDR_IP4, SDP_ADDR_IP6 };

/* What a c= address is; a caller must not send media to anything but UNICAST (BI-21). */
enum sdp_conn_flag {
	SDP_CONN_UNSPEC = 1 << 0,    /* 0.0.0.0 or ::, the RFC 3264 §8.4 hold form */
	SDP_CONN_MULTICAST = 1 << 1, /* 224.0.0.0/4 or ff00::/8 */
	SDP_CONN_BROADCAST = 1 << 2, /* 255.255.255.255 or reserved 240.0.0.0/4 */
	SDP_CONN_FQDN = 1 << 3,      /* a host name, not an address literal */
};

/* c=IN IP4 192.0.2.1, c=IN IP6 2001:db8::1 (no brackets, RFC 8866 §5.7). */
struct sdp_conn {
	bool present;
	enum sdp_addrtype addrtype;
	struct slice address; /* without the multicast /ttl/count suffix */
	struct slice suffix;  /* "/127/3" style suffix including the first '/', or empty */
	unsigned flags;       /* enum sdp_conn_flag */
};

/* b=<type>:<value> */
struct sdp_bw {
	struct slice type; /* AS, CT, TIAS, ... */
	uint32_t value;
};

struct sdp_time {
	struct slice start, stop;
	struct slice repeat[SDP_MAX_REPEATS]; /* r= values, verbatim */
	size_t n_repeat;
};

struct sdp_origin {
	struct slice username, sess_id, sess_version, nettype, addrtype, address;
};

enum sdp_setup { SDP_SETUP_NONE, SDP_SETUP_ACTIVE, SDP_SETUP_PASSIVE, SDP_SETUP_ACTPASS,
		 SDP_SETUP_HOLDCONN };
enum sdp_dir { SDP_DIR_NONE, SDP_DIR_SENDRECV, SDP_DIR_SENDONLY, SDP_DIR_RECVONLY,
	       SDP_DIR_INACTIVE };
enum sdp_hash { SDP_HASH_SHA1, SDP_HASH_SHA224, SDP_HASH_SHA256, SDP_HASH_SHA384,
		SDP_HASH_SHA512 };

/* a=fingerprint (RFC 8122): value is colon-separated hex, its length checked against hash. */
struct sdp_fingerprint {
	enum sdp_hash hash;
	struct slice hash_name; /* as written, e.g. "sha-256" */
	struct slice value;
};

struct sdp_ice {
	struct slice ufrag, pwd, options; /* empty = absent */
};

/* What a session and each m-section can both carry. */
struct sdp_common {
	struct slice info; /* i= */
	struct slice key;  /* k= (obsolete, kept verbatim) */
	struct sdp_conn conn;
	struct sdp_bw bw[SDP_MAX_BANDWIDTHS];
	size_t n_bw;
	struct sdp_ice ice;
	struct sdp_fingerprint fp[SDP_MAX_FINGERPRINTS];
	size_t n_fp;
	enum sdp_setup setup;
	enum sdp_dir dir; /* as written; see sdp_media_dir() for the effective one */
	bool extmap_allow_mixed;
	struct sdp_attr attrs[SDP_MAX_ATTRS]; /* every other a= line, in input order */
	size_t n_attrs;
};

struct sdp_rtpmap {
	uint8_t pt;
	struct slice encoding; /* "opus", "PCMU", "telephone-event" */
	uint32_t clock;
	uint8_t channels; /* 0 = not written */
};

struct sdp_fmtp {
	uint8_t pt;
	struct slice params;
};

struct sdp_rtcpfb {
	bool wildcard; /* a=rtcp-fb:* */
	uint8_t pt;
	struct slice value; /* "nack pli", "transport-cc" */
};

enum sdp_cand_type { SDP_CAND_HOST, SDP_CAND_SRFLX, SDP_CAND_PRFLX, SDP_CAND_RELAY };

/* a=candidate (RFC 8839 §5.1). */
struct sdp_candidate {
	struct slice foundation;
	uint16_t component; /* 1..256 */
	bool tcp;           /* transport TCP, else UDP */
	struct slice transport; /* as written ("udp", "UDP", "tcp") */
	uint32_t priority;
	struct slice address;
	uint16_t port;
	enum sdp_cand_type type;
	bool has_rel;         /* raddr and rport were both given */
	struct slice raddr;
	uint16_t rport;
	struct slice tcptype; /* empty = absent */
	bool has_generation;
	uint32_t generation;
	/*
	 * Extension pairs are parsed until the first unknown name; the rest of the line
	 * from there is kept verbatim here (e.g. "network-id 1 network-cost 10").
	 */
	struct slice ext;
};

enum sdp_crypto_suite {
	SDP_SUITE_UNKNOWN, /* kept, flagged; callers ignore it */
	SDP_SUITE_AES_CM_128_HMAC_SHA1_80,
	SDP_SUITE_AES_CM_128_HMAC_SHA1_32,
	SDP_SUITE_AES_192_CM_HMAC_SHA1_80,
	SDP_SUITE_AES_192_CM_HMAC_SHA1_32,
	SDP_SUITE_AES_256_CM_HMAC_SHA1_80,
	SDP_SUITE_AES_256_CM_HMAC_SHA1_32,
	SDP_SUITE_AEAD_AES_128_GCM,
	SDP_SUITE_AEAD_AES_256_GCM,
};

/*
 * a=crypto (RFC 4568 §9.1), one inline key-param only. key is secret material: never log
 * it (SEC-13).
 */
struct sdp_crypto {
	uint32_t tag; /* 1..999999999, unique in the m-section */
	struct slice suite_name;
	enum sdp_crypto_suite suite;
	struct slice key;      /* base64 key||salt, length checked for known suites */
	struct slice lifetime; /* "2^31" or digits; empty = absent */
	struct slice mki;      /* "1:4"; empty = absent */
	struct slice session_params; /* the rest of the line, verbatim; empty = absent */
};

struct sdp_rtcp {
	bool present;
	uint16_t port;
	struct sdp_conn conn; /* optional address */
};

struct sdp_extmap {
	uint16_t id; /* 1..255 (RFC 8285 §5) or 4096..4351 (offer-only, §6) */
	enum sdp_dir dir; /* NONE = not written */
	struct slice uri;
	struct slice params; /* extension attributes after the URI; empty = absent */
};

struct sdp_ssrc {
	uint32_t id;
	struct slice attr;  /* "cname", "msid", ... */
	struct slice value; /* after ':'; has_value tells whether there was one */
	bool has_value;
};

struct sdp_ssrc_group {
	struct slice semantics; /* "FID", "SIM", "FEC-FR" */
	uint32_t ssrc[SDP_MAX_GROUP_SSRCS];
	size_t n_ssrc;
};

struct sdp_msid {
	struct slice id, appdata; /* appdata empty = absent */
};

/* One m-section. */
struct sdp_media {
	struct slice type; /* audio, video, application, ... */
	uint16_t port;
	uint16_t num_ports; /* 0 = not written */
	struct slice proto; /* RTP/AVP, UDP/TLS/RTP/SAVPF, UDP/DTLS/SCTP, ... */
	bool rtp;           /* proto is an RTP profile: formats are payload types */
	/*
	 * Formats as written, and as payload types when rtp. The printer prints pt[] for RTP
	 * media and fmt[] otherwise; the rtpmap/fmtp/rtcp-fb lines printed are those of the
	 * payload types in pt[], so dropping a PT from pt[] drops its lines too.
	 */
	struct slice fmt[SDP_MAX_FORMATS];
	uint8_t pt[SDP_MAX_FORMATS];
	size_t n_fmt;

	struct sdp_common common;
	struct slice mid; /* empty = absent */
	struct sdp_rtcp rtcp;
	bool rtcp_mux, rtcp_rsize, end_of_candidates;
	uint32_t ptime, maxptime; /* 0 = absent, else clamped to SDP_PTIME_MIN..MAX */

	struct sdp_rtpmap rtpmap[SDP_MAX_FORMATS];
	size_t n_rtpmap;
	struct sdp_fmtp fmtp[SDP_MAX_FORMATS];
	size_t n_fmtp;
	struct sdp_rtcpfb rtcpfb[SDP_MAX_RTCPFB];
	size_t n_rtcpfb;
	/*
	 * rtpmap, fmtp and rtcp-fb lines naming a payload type that is not in m= are
	 * dropped (RFC 8866 §6.6 gives them no meaning) and counted here.
	 */
	size_t n_ignored;

	struct sdp_candidate cand[SDP_MAX_CANDIDATES];
	size_t n_cand;
	struct sdp_crypto crypto[SDP_MAX_CRYPTO];
	size_t n_crypto;
	struct sdp_extmap extmap[SDP_MAX_EXTMAPS];
	size_t n_extmap;
	struct sdp_msid msid[SDP_MAX_MSIDS];
	size_t n_msid;
	struct sdp_ssrc ssrc[SDP_MAX_SSRCS];
	size_t n_ssrc;
	struct sdp_ssrc_group ssrc_group[SDP_MAX_SSRC_GROUPS];
	size_t n_ssrc_group;
};

struct sdp_group {
	struct slice semantics; /* "BUNDLE", "LS" */
	struct slice mid[SDP_MAX_GROUP_MIDS];
	size_t n_mid;
};

/*
 * A parsed session. Large (a few hundred KB with every array): allocate it on the heap
 * (g_new0), not on the stack. Copying it with `*b = *a` gives an independent, editable
 * session whose slices still point into a's buffer.
 */
struct sdp_session {
	struct sdp_origin origin;
	struct slice name; /* s= */
	struct slice uri;  /* u=; empty = absent */
	struct slice email[SDP_MAX_CONTACTS];
	size_t n_email;
	struct slice phone[SDP_MAX_CONTACTS];
	size_t n_phone;
	struct sdp_time time[SDP_MAX_TIMES];
	size_t n_time;
	struct slice zone; /* z=; empty = absent */
	struct sdp_common common;

	struct sdp_group group[SDP_MAX_GROUPS];
	size_t n_group;
	struct slice msid_semantic; /* value after "msid-semantic:", verbatim; empty = absent */
	bool ice_lite;

	struct sdp_media media[SDP_MAX_MEDIA];
	size_t n_media;
};

/* Why a parse failed: "line 7: a=rtpmap without payload type". Never holds input bytes. */
struct sdp_error {
	unsigned line; /* 1-based; 0 = the body as a whole */
	const char *what;
	char text[128];
};

/*
 * Parses an SDP body. Zero-copy and allocation-free: every slice in *out points into buf,
 * which must outlive *out. Accepts CRLF and bare LF line ends (RFC 8866 §5); rejects bare
 * CR, NUL, unknown line types, and anything beyond the SDP_MAX_* caps, in linear time.
 * err may be NULL. Returns 0, EINVAL (NULL argument) or EBADMSG (*out is then unspecified).
 */
int sdp_parse(const char *buf, size_t len, struct sdp_session *out, struct sdp_error *err);

/*
 * Appends s to out as SDP with CRLF line ends, in RFC 8866 order. The printer only reads
 * the session: its slices may point anywhere (the parsed buffer, string literals, a
 * GString the caller owns). Returns 0, or EINVAL if a count exceeds its cap or a value
 * cannot be printed (out may then hold a partial description).
 */
int sdp_print(const struct sdp_session *s, GString *out);

/* The c= that applies to m: its own, else the session's; NULL if neither exists. */
const struct sdp_conn *sdp_media_conn(const struct sdp_session *s, const struct sdp_media *m);
/* The direction in force for m: its own, else the session's, else sendrecv (RFC 3264 §5.1). */
enum sdp_dir sdp_media_dir(const struct sdp_session *s, const struct sdp_media *m);
/* The rtpmap for pt in m, or NULL (static payload types may have none). */
const struct sdp_rtpmap *sdp_media_rtpmap(const struct sdp_media *m, uint8_t pt);
/* The fmtp for pt in m, or NULL. */
const struct sdp_fmtp *sdp_media_fmtp(const struct sdp_media *m, uint8_t pt);
/* True when media may be sent to this address: present, a unicast literal or a host name. */
bool sdp_conn_sendable(const struct sdp_conn *c);

const char *sdp_dir_name(enum sdp_dir d);
const char *sdp_setup_name(enum sdp_setup s);

#endif
