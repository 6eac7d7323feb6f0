/* sip: the RFC 3261 stack — message parse/print (zero-copy slices), URIs, header decoders. */
#ifndef GORGEE_SIP_H
#define GORGEE_SIP_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core.h"

/* ---- caps (BAD-INPUTS.md SEC-08, BI-05, BI-09, BI-10) ---------------------------------- */

#define SIP_MAX_MSG          65536 /* whole message, headers + body         → 513 */
#define SIP_MAX_BODY         65536 /* Content-Length                        → 413 */
#define SIP_MAX_HEADERS      100   /* header values after comma splitting   → 513 */
#define SIP_MAX_SAME_HEADER  32    /* values of any one known header        → 513 */
#define SIP_MAX_VIA          70    /* Via values: one per hop of Max-Forwards 70 (RFC 4475
				    * longreq carries 34), so Via gets its own cap → 513 */
#define SIP_MAX_RURI         512   /* Request-URI bytes                     → 414 */
#define SIP_MAX_URI          2048  /* any other URI                         → 400 */
#define SIP_MAX_CALL_ID      256   /* Call-ID bytes                         → 400 */
#define SIP_MAX_METHOD       64    /* method name (request line, CSeq)      → 400 */
#define SIP_MAX_TOKEN        256   /* tags, branch, method, display name    → 400 */
#define SIP_MAX_PARAMS       16    /* parameters of one URI or header value → 400 */
#define SIP_MAX_AUTH_VALUE   1024  /* one Authorization parameter (BI-13)   → 400 */
#define SIP_MAX_PARTS        8     /* multipart body parts, nested ones included (BI-12) */
#define SIP_MAX_BOUNDARY     70    /* multipart boundary bytes (RFC 2046 §5.1.1) */

/* ---- header index ------------------------------------------------------------------ */

/* Headers the parser recognises by full or compact name (IANA SIP parameters registry). */
enum sip_hdr_id {
	SIP_HDR_OTHER = 0,
	SIP_HDR_ACCEPT,
	SIP_HDR_ACCEPT_ENCODING,
	SIP_HDR_ACCEPT_LANGUAGE,
	SIP_HDR_ALLOW,
	SIP_HDR_ALLOW_EVENTS,
	SIP_HDR_AUTHORIZATION,
	SIP_HDR_CALL_ID,
	SIP_HDR_CONTACT,
	SIP_HDR_CONTENT_ENCODING,
	SIP_HDR_CONTENT_LENGTH,
	SIP_HDR_CONTENT_TYPE,
	SIP_HDR_CSEQ,
	SIP_HDR_EVENT,
	SIP_HDR_EXPIRES,
	SIP_HDR_FROM,
	SIP_HDR_MAX_FORWARDS,
	SIP_HDR_MIN_SE,
	SIP_HDR_PROXY_AUTHENTICATE,
	SIP_HDR_PROXY_AUTHORIZATION,
	SIP_HDR_PROXY_REQUIRE,
	SIP_HDR_RACK,
	SIP_HDR_RECORD_ROUTE,
	SIP_HDR_REFER_TO,
	SIP_HDR_REFERRED_BY,
	SIP_HDR_REPLACES,
	SIP_HDR_REQUIRE,
	SIP_HDR_ROUTE,
	SIP_HDR_RSEQ,
	SIP_HDR_SESSION_EXPIRES,
	SIP_HDR_SUBJECT,
	SIP_HDR_SUBSCRIPTION_STATE,
	SIP_HDR_SUPPORTED,
	SIP_HDR_TO,
	SIP_HDR_UNSUPPORTED,
	SIP_HDR_VIA,
	SIP_HDR_WWW_AUTHENTICATE,
	SIP_HDR_COUNT
};

/* One header value. A list header (Via, Contact, Route, ...) gives one entry per element. */
struct sip_hdr {
	struct slice name;  /* as received (full or compact form, any case) */
	struct slice value; /* trimmed; may contain folded line breaks (CRLF + WSP) */
	uint8_t id;         /* enum sip_hdr_id */
	uint8_t next;       /* index of the next entry with the same id, SIP_HDR_NONE at the end */
};
#define SIP_HDR_NONE 0xff

/* Canonical name ("Call-ID") of a known id; NULL for SIP_HDR_OTHER. */
const char *sip_hdr_name(enum sip_hdr_id id);
/* Recognises a header name (full or compact, case-insensitive). SIP_HDR_OTHER if unknown. */
enum sip_hdr_id sip_hdr_lookup(struct slice name);

/* ---- generic parameters -------------------------------------------------------------- */

/* name[=value]; value.p == NULL when there is no '='. Slices keep escapes and quotes. */
struct sip_param {
	struct slice name;
	struct slice value;
};

struct sip_params {
	uint8_t n;
	struct sip_param p[SIP_MAX_PARAMS];
};

/* Finds a parameter by name (case-insensitive). Returns it or NULL. */
const struct sip_param *sip_params_find(const struct sip_params *ps, const char *name);

/* ---- URI (RFC 3261 §19.1, RFC 3966) ----------------------------------------------------- */

enum sip_scheme { SIP_SCHEME_OTHER, SIP_SCHEME_SIP, SIP_SCHEME_SIPS, SIP_SCHEME_TEL };

struct sip_uri {
	uint8_t scheme;       /* enum sip_scheme */
	bool has_port;
	bool host_ipv6;       /* host is an IPv6 reference; host keeps the brackets */
	uint16_t port;
	struct slice scheme_s; /* as written */
	struct slice user;     /* escaped as written; tel: the number */
	struct slice password; /* p == NULL when absent */
	struct slice host;
	struct slice opaque;   /* SIP_SCHEME_OTHER: everything after "scheme:" */
	struct sip_params params;
	struct sip_params headers; /* ?h=v&... */
};

/*
 * Parses a URI. All slices point into s. Returns 0, or EBADMSG on malformed input (bad
 * escape such as "%", "%4", "%G1"; port > 65535; more than SIP_MAX_PARAMS parameters or
 * headers; whitespace). "%00" is kept exactly as written (BI-02). Unknown schemes parse
 * as SIP_SCHEME_OTHER with an opaque part.
 */
int sip_uri_parse(struct slice s, struct sip_uri *u);
/* URI equality per RFC 3261 §19.1.4 (sip/sips only; other schemes compare bytes). */
bool sip_uri_equal(const struct sip_uri *a, const struct sip_uri *b);

/* ---- header values ------------------------------------------------------------------- */

struct sip_via {
	struct slice proto;     /* "SIP" */
	struct slice version;   /* "2.0" */
	struct slice transport; /* "UDP", "TCP", "TLS", "WS", ... */
	struct slice host;      /* IPv6 keeps its brackets */
	uint16_t port;
	bool has_port;
	bool rport;             /* ;rport present */
	bool has_rport_value;
	uint16_t rport_value;
	int ttl;                /* -1 when absent */
	struct slice branch, received, maddr; /* p == NULL when absent */
	struct sip_params params;
};

/* From, To, Contact, Route, Record-Route, Refer-To, Referred-By. */
struct sip_addr {
	struct slice display; /* without quotes; p == NULL when absent */
	struct slice uri;     /* inside the <>, or the bare addr-spec */
	struct slice tag;     /* p == NULL when absent */
	bool star;            /* Contact: * */
	struct sip_params params; /* header parameters after the URI */
};

struct sip_contact {
	struct sip_addr addr;
	int64_t expires;       /* -1 when absent */
	int q;                 /* 0..1000, -1 when absent */
	int reg_id;            /* -1 when absent */
	struct slice instance; /* +sip.instance without quotes; p == NULL when absent */
};

struct sip_cseq {
	uint32_t num;
	struct slice method;
};

/* Authorization, Proxy-Authorization, WWW-Authenticate, Proxy-Authenticate. */
struct sip_auth {
	struct slice scheme; /* "Digest" */
	struct sip_params params; /* every parameter, quotes stripped */
	struct slice username, realm, nonce, uri, response, algorithm, cnonce, opaque, qop, nc,
		stale;
};

struct sip_replaces {
	struct slice call_id, to_tag, from_tag;
	bool early_only;
};

struct sip_session_expires {
	uint32_t delta;
	struct slice refresher; /* "uac" / "uas"; p == NULL when absent */
};

struct sip_rack {
	uint32_t rseq, cseq;
	struct slice method;
};

struct sip_event {
	struct slice type; /* event package with its template, e.g. "presence.winfo" */
	struct slice id;
	struct sip_params params;
};

struct sip_substate {
	struct slice state; /* active / pending / terminated */
	struct slice reason;
	int64_t expires, retry_after; /* -1 when absent */
	struct sip_params params;
};

/*
 * Header value decoders. Each takes one header value (one element of a list header) and
 * fills out with slices into it. Return 0 or EBADMSG. They never allocate.
 */
int sip_via_parse(struct slice v, struct sip_via *out);
int sip_addr_parse(struct slice v, struct sip_addr *out);
int sip_contact_parse(struct slice v, struct sip_contact *out);
int sip_cseq_parse(struct slice v, struct sip_cseq *out);
/* Unquoted auth param values longer than SIP_MAX_AUTH_VALUE, unterminated quotes and
 * duplicate parameters are EBADMSG (BI-13). */
int sip_auth_parse(struct slice v, struct sip_auth *out);
int sip_replaces_parse(struct slice v, struct sip_replaces *out);
int sip_session_expires_parse(struct slice v, struct sip_session_expires *out);
int sip_rack_parse(struct slice v, struct sip_rack *out);
int sip_event_parse(struct slice v, struct sip_event *out);
int sip_substate_parse(struct slice v, struct sip_substate *out);
/* Decimal 0..max with no sign, no spaces around (callers trim). 0 or EBADMSG. */
int sip_uint_parse(struct slice v, uint64_t max, uint64_t *out);

/* ---- message --------------------------------------------------------------------------- */

enum sip_method {
	SIP_METHOD_OTHER = 0,
	SIP_METHOD_INVITE,
	SIP_METHOD_ACK,
	SIP_METHOD_BYE,
	SIP_METHOD_CANCEL,
	SIP_METHOD_REGISTER,
	SIP_METHOD_OPTIONS,
	SIP_METHOD_PRACK,
	SIP_METHOD_SUBSCRIBE,
	SIP_METHOD_NOTIFY,
	SIP_METHOD_PUBLISH,
	SIP_METHOD_INFO,
	SIP_METHOD_REFER,
	SIP_METHOD_MESSAGE,
	SIP_METHOD_UPDATE,
};

/* Recognises a method name (case-sensitive, RFC 3261 §7.1). */
enum sip_method sip_method_lookup(struct slice m);

enum sip_mode {
	SIP_MODE_DATAGRAM, /* body = rest of the datagram; Content-Length may shorten it (BI-17) */
	SIP_MODE_STREAM,   /* body framed by Content-Length; EAGAIN until it has arrived */
};

/*
 * A parsed message. Every slice points into the caller's buffer, which must outlive it.
 * Large (about 7 KB) and self-contained: no allocation, nothing to free. Keep it off small
 * stacks (embed it or allocate it once and reuse it for every parse).
 */
struct sip_msg {
	bool request;
	uint8_t method_id;   /* enum sip_method (requests) */
	uint16_t status;     /* responses: 100..699 */
	struct slice method; /* requests */
	struct slice ruri;   /* requests */
	struct sip_uri ruri_parsed;
	struct slice reason; /* responses; may be empty */
	struct slice body;
	size_t size;         /* bytes this message took, leading CRLFs + headers + body */

	uint8_t nhdr;
	struct sip_hdr hdr[SIP_MAX_HEADERS];
	uint8_t first[SIP_HDR_COUNT]; /* index of the first entry of an id, or SIP_HDR_NONE */
	uint8_t count[SIP_HDR_COUNT];

	/* Decoded at parse time (validated; missing ones are zero / -1). */
	struct sip_via via;      /* topmost */
	struct sip_addr from, to;
	struct slice call_id;
	struct sip_cseq cseq;
	int max_forwards;        /* -1 when absent */
	bool has_content_length;
	uint32_t content_length;
	struct slice content_type;
	int64_t expires;         /* -1 when absent */
};

/*
 * Parses one message from buf[0..len).
 *   mode     datagram or stream framing (see enum sip_mode).
 *   msg      filled on success; on failure only the fields parsed so far are meaningful.
 *   status   on EBADMSG, the status a server would answer a request with (400, 413, 414,
 *            416, 505, 513); 0 when the input is a response (malformed responses are dropped).
 *   reason   on EBADMSG, a short static English reason ("bad Via header"). May be NULL.
 * Returns 0 (msg->size bytes consumed), EAGAIN (stream: need more bytes; datagram never),
 * or EBADMSG. Never reads outside buf[0..len). Never allocates.
 */
int sip_msg_parse(const char *buf, size_t len, enum sip_mode mode, struct sip_msg *msg,
		  int *status, const char **reason);

/* First entry of a header id, or NULL. */
const struct sip_hdr *sip_msg_hdr(const struct sip_msg *m, enum sip_hdr_id id);
/* The entry after h with the same id, or NULL. */
const struct sip_hdr *sip_msg_hdr_next(const struct sip_msg *m, const struct sip_hdr *h);
/* First entry whose name matches (case-insensitive, compact forms resolved), or NULL. */
const struct sip_hdr *sip_msg_hdr_find(const struct sip_msg *m, const char *name);
/* True when a token list header (Supported, Require, Allow, ...) holds tok (case-insens.). */
bool sip_msg_has_token(const struct sip_msg *m, enum sip_hdr_id id, const char *tok);
/* Decodes the i-th Via (0 = topmost). Returns 0, ENOENT or EBADMSG. */
int sip_msg_via(const struct sip_msg *m, unsigned i, struct sip_via *out);

/* ---- bodies (sip_body.c) ------------------------------------------------------------- */

/*
 * The SDP of a message body (BI-12). A plain body is the SDP when Content-Type is
 * application/sdp (parameters ignored) or absent; a multipart body (RFC 2046 §5.1: mixed,
 * alternative, related, ...) is checked whole — every delimiter, the close delimiter, each
 * part's header block — and its first non-empty application/sdp part is the SDP. One level
 * of nested multipart is followed; at most SIP_MAX_PARTS parts in all; the boundary is 1 to
 * SIP_MAX_BOUNDARY bchars.
 *   out  set to a slice of m->body on success; {NULL, 0} otherwise.
 * Returns 0, ENOENT (no body, another type, or no SDP part) or EBADMSG (bad Content-Type or
 * boundary, missing or unclosed delimiters, a part without a header block, too many parts,
 * multipart nested twice): a server answers 400 to a request with EBADMSG.
 */
int sip_body_sdp(const struct sip_msg *m, struct slice *out);

/* ---- event package bodies (sip_event.c) ------------------------------------------- */

#define SIP_MWI_MAX_BODY      8192 /* bytes of a message-summary body */
#define SIP_MWI_MAX_LINES     64
#define SIP_MWI_MAX_CLASSES   8
#define SIP_PIDF_MAX_BODY     8192 /* bytes of a PIDF document gorgee reads (PUBLISH) */
#define SIP_PIDF_MAX_ELEMENTS 256
#define SIP_PIDF_MAX_DEPTH    16

/* One message-context-class line, "Voice-Message: 2/8 (0/2)". */
struct sip_mwi_class {
	struct slice name; /* as written ("Voice-Message") */
	uint32_t new_msgs, old_msgs, new_urgent, old_urgent;
	bool has_urgent;
};

/* A message-summary body (RFC 3842 §5.2). */
struct sip_mwi {
	int waiting;          /* Messages-Waiting: 1 yes, 0 no */
	struct slice account; /* Message-Account; p == NULL when absent */
	struct sip_mwi_class cls[SIP_MWI_MAX_CLASSES];
	size_t n;
};

/*
 * Parses a message-summary body: lines end in CRLF or LF; the summary ends at the first
 * empty line (message headers after it are not read). Messages-Waiting is required;
 * unknown extension lines are skipped; a known class with malformed counts, a duplicate
 * line, counts above 2^32-1, a bare CR or NUL, or more than the caps is EBADMSG. Slices
 * point into body. Returns 0 or EBADMSG. Never allocates.
 */
int sip_mwi_parse(struct slice body, struct sip_mwi *out);
/* The class named name (case-insensitive, "voice-message"), or NULL. */
const struct sip_mwi_class *sip_mwi_class(const struct sip_mwi *m, const char *name);

/* What a presence server reads of a PIDF document (RFC 3863). */
struct sip_pidf {
	int basic;         /* first <basic>: 1 open, 0 closed, -1 absent */
	struct slice note; /* text of the first <note> (entities still escaped); p == NULL absent */
};

/*
 * Scans a PIDF document: a well-nested element tree (prolog, comments and processing
 * instructions skipped) whose root's local name is "presence", of at most the caps, with
 * no NUL; namespace prefixes are ignored. Not a validating XML parser: it finds the first
 * <basic> (open/closed, else EBADMSG) and <note>. Returns 0 or EBADMSG. Never allocates.
 */
int sip_pidf_scan(struct slice body, struct sip_pidf *out);
/* Appends XML character data s with the five predefined entities decoded; any other '&'
 * reference or a '<' is EBADMSG (out then holds a partial result). */
int sip_xml_text_decode(struct slice s, GString *out);
/* Appends s escaped for XML character data or an attribute value; control characters other
 * than TAB and LF are dropped. */
void sip_xml_text_escape(const char *s, size_t len, GString *out);

/* ---- printing and building (sip_print.c) ----------------------------------------------- */

/*
 * Appends a serialisation of m to out: start line, one line per header entry with
 * canonical names, a Content-Length that matches the body, then the body. The result
 * parses to the same fields (in stream or datagram mode), except that a message at a cap
 * (SIP_MAX_HEADERS entries without a Content-Length, or near SIP_MAX_MSG) may print past
 * it. out is owned by the caller.
 */
void sip_msg_print(const struct sip_msg *m, GString *out);

/*
 * Appends a response to request req (RFC 3261 §8.2.6): status line, every Via, From,
 * To (with ;tag=to_tag added when To has no tag and to_tag is not NULL), Call-ID, CSeq,
 * then extra (CRLF-terminated header lines, may be NULL), Content-Length and body
 * (may be NULL). reason NULL picks the standard phrase. Returns 0 or EINVAL (req is a
 * response, status out of 100..699).
 */
int sip_response_build(const struct sip_msg *req, int status, const char *reason,
		       const char *to_tag, const char *extra, struct slice body, GString *out);

/*
 * Appends a request: start line, headers (CRLF-terminated lines, may be NULL), a
 * Content-Length for body, and the body. Returns 0 or EINVAL (empty method or URI).
 */
int sip_request_build(const char *method, const char *ruri, const char *headers,
		      struct slice body, GString *out);

/* Standard reason phrase of a status code ("Not Found"), or "Unknown". */
const char *sip_status_phrase(int status);

/* ---- transports (sip_transport.c): UDP, TCP and TLS on the GLib main context ---------- */

enum sip_proto { SIP_PROTO_UDP, SIP_PROTO_TCP, SIP_PROTO_TLS };
/* "udp", "tcp", "tls"; sip_proto_via gives "UDP", "TCP", "TLS" for Via headers. */
const char *sip_proto_name(enum sip_proto p);
const char *sip_proto_via(enum sip_proto p);

/* Where a message came from, or where one goes. Plain data; copy it freely. */
struct sip_src {
	enum sip_proto proto;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	uint64_t conn_id; /* TCP: the connection (0 = any / open one); UDP: 0 */
	int local_fd;     /* UDP: the socket it arrived on (replies leave from it) */
	char ip[48];      /* source address as text, no brackets */
	uint16_t port;
	struct slice raw; /* received: the message's bytes, valid during the callback only */
};

struct sip_transport;

/* A message that parsed. msg and src are borrowed for the call. */
typedef void sip_recv_fn(struct sip_transport *t, const struct sip_msg *msg,
			 const struct sip_src *src, void *arg);

struct sip_transport_config {
	const char *const *listen;   /* IP literals; "0.0.0.0" and "::" are wildcards */
	uint16_t udp_port;           /* 0 = no UDP */
	uint16_t tcp_port;           /* 0 = no TCP */
	uint16_t tls_port;           /* 0 = no TLS (server side; needs tls_cert and tls_key) */
	const char *tls_cert;        /* PEM certificate chain (also offered as a TLS client) */
	const char *tls_key;         /* PEM private key */
	const char *tls_ca_file;     /* PEM CAs trusted for peers' certificates ("" = none) */
	const char *tls_ca_dir;      /* hashed CA directory ("" = none); both empty = system store */
	bool tls_verify;             /* outbound TLS: check the chain and the name (RFC 5922) */
	bool tls_verify_client;      /* TLS listener: require a client certificate from the CAs */
	unsigned connect_timeout_secs; /* outbound TCP connect + TLS handshake; 0 = 1 s */
	size_t max_udp;              /* larger datagrams are dropped before parsing (SEC-08) */
	unsigned max_conns_per_ip;   /* TCP connections from one address (BI-18) */
	unsigned header_timeout_secs; /* a started message must complete within this (slowloris) */
	unsigned idle_timeout_secs;  /* a TCP connection with no traffic is closed */
	size_t max_pending;          /* outbound bytes queued per TCP connection */
	const char *trace_file;      /* "" = off; else every message in and out, ngrep style */
};

/*
 * Opens the listeners and attaches them to the thread-default GMainContext. Malformed
 * requests are answered here with 400/413/414/505/513 and a reason; malformed responses
 * are dropped. Returns 0 or an errno (EADDRINUSE, EACCES, EINVAL) with a log line.
 */
int sip_transport_new(const struct sip_transport_config *cfg, sip_recv_fn *recv, void *arg,
		      struct sip_transport **out);
void sip_transport_free(struct sip_transport *t);
/*
 * Sends bytes to dst. UDP: from dst->local_fd (0: a listener of the family). TCP/TLS: on
 * dst->conn_id; with conn_id 0, on a connection found or opened as sip_transport_connect()
 * does. Bytes for a connection still connecting are queued (up to max_pending). 0 or an
 * errno (ENOTCONN: the connection named is gone).
 */
int sip_transport_send(struct sip_transport *t, const struct sip_src *dst, const char *data,
		       size_t len);
/*
 * The connection a request to dst (TCP or TLS) goes on, in dst->conn_id: dst->conn_id if
 * it is still open, else an open one to the same address and transport (ours, or the
 * peer's when aliased by RFC 5923 ;alias), else a new one: a non-blocking connect on the
 * loop, then for TLS a handshake with SNI tls_name; what is sent meanwhile is queued.
 * With tls_verify the peer's chain must lead to a configured CA and its certificate must
 * name tls_name (RFC 5922: subjectAltName URI sip:<name> or DNS <name>, no wildcards; an
 * IP literal must be an IP subjectAltName); a TLS connection is reused only for the name
 * it was checked against. tls_name NULL: the last name given for this address (in-dialog
 * requests, retries), else the address itself. Failures after this returns (refused,
 * timed out after connect_timeout, a certificate refused: all logged with the reason)
 * close the connection and are reported to the handler of sip_transport_set_conn_handler.
 * UDP: nothing to do. Returns 0, or an errno of socket()/connect() (EMFILE, ENETUNREACH),
 * ENOTSUP (no TLS client context), ENOMEM.
 */
int sip_transport_connect(struct sip_transport *t, struct sip_src *dst, const char *tls_name);
/* sip_transport_connect() naming the host of a sip:/sips: URI, the domain that was resolved
 * (RFC 5922 §4); the URI is not kept. UDP: 0. */
int sip_transport_connect_uri(struct sip_transport *t, struct sip_src *dst, const char *uri);
/* A TCP or TLS connection closed (peer, error, timeout, failed connect or handshake).
 * Called from an idle source, after the close; the id is no longer valid. */
typedef void sip_conn_closed_fn(struct sip_transport *t, uint64_t conn_id, void *arg);
void sip_transport_set_conn_handler(struct sip_transport *t, sip_conn_closed_fn *fn, void *arg);
/*
 * Sends a response to a request received from src, routed per RFC 3261 §18.2.2 and
 * RFC 3581: the top Via gets received= when the host differs from the source address and
 * rport=<source port> when the request asked for it; UDP goes to the source address when
 * rport or received applies, else to the sent-by; TCP uses the connection it came on.
 */
int sip_transport_respond(struct sip_transport *t, const struct sip_msg *req,
			  const struct sip_src *src, GString *response);
/* The two halves of sip_transport_respond: stamp the top Via of response (received/rport),
 * and that plus the destination, for a transaction that resends the response later. */
void sip_transport_stamp_via(const struct sip_msg *req, const struct sip_src *src,
			     GString *response);
void sip_transport_route_response(const struct sip_msg *req, const struct sip_src *src,
				  GString *response, struct sip_src *dst);
/* Number of open TCP connections. */
unsigned sip_transport_connection_count(const struct sip_transport *t);
/* Connections from sources this refuses are closed at accept (SEC-07 bans). NULL: none. */
typedef bool sip_accept_fn(const char *ip, void *arg);
void sip_transport_set_accept_filter(struct sip_transport *t, sip_accept_fn *fn, void *arg);

/* ---- timers (sip_timer.c): one hashed wheel per thread, one GLib source ------------------ */

/*
 * Transaction timers (RFC 3261 Timers A-K) are many and short: a hashed timing wheel with
 * 10 ms ticks keeps arming and cancelling O(1) at 100,000 live transactions, and wakes
 * the loop only while a timer is armed. Embed a struct sip_timer in the owning object.
 */
struct sip_timer;
typedef void sip_timer_fn(struct sip_timer *tm, void *arg);
struct sip_timer {
	struct sip_timer *next, *prev; /* wheel slot list; NULL when not armed */
	uint64_t due_ms;
	sip_timer_fn *fn;
	void *arg;
	bool armed;
};
struct sip_wheel;
/* Attaches to the thread-default GMainContext. */
struct sip_wheel *sip_wheel_new(void);
/* Frees the wheel; timers still armed are disarmed, not fired. */
void sip_wheel_free(struct sip_wheel *w);
/* (Re)arms tm to fire once after delay_ms. */
void sip_timer_start(struct sip_wheel *w, struct sip_timer *tm, unsigned delay_ms,
		     sip_timer_fn *fn, void *arg);
void sip_timer_stop(struct sip_wheel *w, struct sip_timer *tm);
unsigned sip_wheel_count(const struct sip_wheel *w);

/* ---- transactions (sip_trans.c): RFC 3261 §17 with RFC 6026 ----------------------------- */

struct sip_stack;
struct sip_guard;  /* per-source limits (sip_guard.c, below) */
struct sip_strans; /* server transaction */
struct sip_ctrans; /* client transaction */

struct sip_stack_config {
	unsigned t1_ms, t2_ms, t4_ms; /* RFC 3261 defaults 500, 4000, 5000 */
	const char *via_host;         /* sent-by host[:port] for requests gorgee sends */
};

/*
 * A new request for the transaction user. st is its server transaction (answer with
 * sip_strans_respond); st is NULL for an ACK to a 2xx, which belongs to the dialog layer.
 * A retransmission never reaches the TU. A CANCEL that matches a pending INVITE is answered
 * 200 here and reported as cancelled_invite (the TU answers that INVITE 487).
 * msg, src borrowed for the call; st stays valid until its final response is sent.
 */
typedef void sip_request_fn(struct sip_stack *s, struct sip_strans *st, const struct sip_msg *msg,
			    const struct sip_src *src, struct sip_strans *cancelled_invite,
			    void *arg);
/*
 * A response for a client transaction, or its end: msg NULL with status 408 (Timer B/F) or
 * 503 (transport error). Called once per final response; 2xx retransmissions of an INVITE
 * (RFC 6026 Accepted state) come again with the same ct, and when such a transaction ends
 * (Timer M) it is called once more with msg NULL and status 0; ct is invalid after that.
 */
typedef void sip_response_fn(struct sip_ctrans *ct, const struct sip_msg *msg, int status,
			     void *arg);

struct sip_stack *sip_stack_new(const struct sip_stack_config *cfg, sip_request_fn *on_request,
				void *arg);
void sip_stack_free(struct sip_stack *s);
void sip_stack_set_transport(struct sip_stack *s, struct sip_transport *t);
/* The sip_recv_fn to give sip_transport_new, with the stack as its argument. */
void sip_stack_recv(struct sip_transport *t, const struct sip_msg *msg, const struct sip_src *src,
		    void *stack);
/* Live transactions (server + client). */
unsigned sip_stack_count(const struct sip_stack *s);
/*
 * SEC-07 before any transaction exists: requests from sources the guard refuses are dropped
 * unanswered, and with max_pending > 0, a new request while that many server transactions
 * wait for their final response gets a stateless 503 with Retry-After (ACK and CANCEL are
 * never refused). guard may be NULL; borrowed.
 */
void sip_stack_set_guard(struct sip_stack *s, struct sip_guard *g, unsigned max_pending);
/* Server transactions waiting for their final response. */
unsigned sip_stack_pending(const struct sip_stack *s);

/*
 * Answers the request of st. extra: CRLF-terminated header lines (may be NULL); body may be
 * empty; to_tag is added to To when it has none (NULL: a random one for non-100). A final
 * response completes the transaction (its retransmissions are absorbed here). A final
 * response to a non-INVITE request ends st before this returns (its owner hears ENDED):
 * over UDP a record of the key and the response bytes absorbs retransmissions of the
 * request for 64*T1 (Timer J, RFC 3261 §17.2.2); over TCP Timer J is 0.
 * Returns 0, EINVAL (status) or EALREADY (a final response was sent).
 */
int sip_strans_respond(struct sip_strans *st, int status, const char *reason, const char *extra,
		       struct slice body, const char *to_tag);
/* The request of st, re-parsed into a scratch message valid until the next stack call. */
const struct sip_msg *sip_strans_request(struct sip_strans *st);
/* Sends the last (provisional) response again: a reliable 1xx until its PRACK (RFC 3262
 * §3). 0, EALREADY (a final response was sent) or a transport errno. */
int sip_strans_resend(struct sip_strans *st);

/*
 * The owner of a server transaction (the TU that will answer it, e.g. a call leg) hears:
 * CANCELLED: a CANCEL matched it while pending (the CANCEL got 200; the owner answers the
 *            INVITE 487); without an owner the request callback gets cancelled_invite;
 * NO_ACK:    Timer L fired with no ACK for our 2xx (§13.3.1.4: the owner ends the dialog);
 * ENDED:     the transaction is going away; st is invalid after the callback returns.
 * Not called from sip_stack_free (free the owners first). fn NULL detaches.
 */
enum sip_strans_event { SIP_STRANS_CANCELLED, SIP_STRANS_NO_ACK, SIP_STRANS_ENDED };
typedef void sip_strans_fn(struct sip_strans *st, enum sip_strans_event ev, void *arg);
void sip_strans_set_owner(struct sip_strans *st, sip_strans_fn *fn, void *arg);
/*
 * A 2xx to an INVITE is resent by the stack over UDP (T1 doubling to T2, §13.3.1.4)
 * until the TU, which receives the ACK (it matches no transaction), calls this.
 */
void sip_strans_acked(struct sip_strans *st);

/*
 * Sends a request in a new client transaction. headers: CRLF-terminated lines without Via
 * (the stack adds the top Via with a fresh branch). dst: where to send it.
 * Returns 0 and *out (valid until the final response callback returns), or an errno.
 */
int sip_ctrans_send(struct sip_stack *s, const char *method, const char *ruri, const char *headers,
		    struct slice body, const struct sip_src *dst, sip_response_fn *fn, void *arg,
		    struct sip_ctrans **out);
/* The callback will not run again (its owner is going away); the transaction finishes
 * its work (ACK of a failure, absorbing retransmissions) on its own. An INVITE one in
 * Accepted (2xx received) has none left and ends at the next timer tick. */
void sip_ctrans_detach(struct sip_ctrans *ct);
/* The request of ct as sent, parsed into a scratch message valid until the next stack call. */
const struct sip_msg *sip_ctrans_request(struct sip_ctrans *ct);
/* Sends CANCEL for a pending INVITE client transaction (§9.1). 0, or EPROTO if not pending. */
int sip_ctrans_cancel(struct sip_ctrans *ct);
/*
 * Sends a request outside any transaction (the ACK for a 2xx, §13.2.2.4): a top Via with
 * a fresh branch is added. sent (may be NULL) receives the bytes, to resend them when the
 * 2xx comes again. Returns 0 or an errno.
 */
int sip_stack_send(struct sip_stack *s, const char *method, const char *ruri, const char *headers,
		   struct slice body, const struct sip_src *dst, GString *sent);
/* The sent-by host[:port] of our Via headers. */
const char *sip_stack_via_host(const struct sip_stack *s);
struct sip_transport *sip_stack_transport(const struct sip_stack *s);

/* ---- dialogs (sip_dialog.c): RFC 3261 §12 ------------------------------------------------ */

enum sip_dialog_state { SIP_DIALOG_EARLY, SIP_DIALOG_CONFIRMED };

/*
 * A dialog: Call-ID, tags, CSeq numbers, route set and remote target, copied out of the
 * messages that made it (they outlive no buffer). Owned by its creator; the dialog table
 * only indexes it.
 */
struct sip_dialog;

/*
 * UAS side (§12.1.1): from a dialog-creating request (INVITE, SUBSCRIBE, REFER) and the To
 * tag of our response. The route set is the request's Record-Route in order; the remote
 * target its Contact. Returns 0, EINVAL (no From tag), EBADMSG (no usable Contact).
 */
int sip_dialog_new_uas(const struct sip_msg *req, const char *local_tag, struct sip_dialog **out);
/*
 * UAC side (§12.1.2): from our request and a 1xx with a To tag (early) or a 2xx
 * (confirmed). The route set is the response's Record-Route reversed.
 */
int sip_dialog_new_uac(const struct sip_msg *req, const struct sip_msg *resp,
		       struct sip_dialog **out);
void sip_dialog_free(struct sip_dialog *d);

enum sip_dialog_state sip_dialog_state(const struct sip_dialog *d);
const char *sip_dialog_call_id(const struct sip_dialog *d);
const char *sip_dialog_local_tag(const struct sip_dialog *d);
const char *sip_dialog_remote_tag(const struct sip_dialog *d);
const char *sip_dialog_remote_target(const struct sip_dialog *d);

/* A 2xx (UAC) confirms an early dialog; its Contact and Record-Route take over (§12.1.2,
 * §13.2.2.4). Returns 0 or EBADMSG. */
int sip_dialog_confirm(struct sip_dialog *d, const struct sip_msg *resp);
/*
 * An in-dialog request received (§12.2.2): returns 0 and records its CSeq, or 500 for a
 * CSeq lower than (or, except ACK/CANCEL, equal to) the last one — a status to answer.
 * A target refresh (re-INVITE, UPDATE, SUBSCRIBE, NOTIFY) with a Contact updates the
 * remote target.
 */
int sip_dialog_receive(struct sip_dialog *d, const struct sip_msg *req);
/* The remote target of a 2xx to a target-refresh request we sent (§12.2.1.2). */
int sip_dialog_refresh_target(struct sip_dialog *d, const struct sip_msg *resp);
/*
 * Builds an in-dialog request (§12.2.1.1): *ruri (g_free) is the remote target, headers
 * (appended) hold Route (the route set; loose routing), From, To with both tags, Call-ID,
 * CSeq (the next local number, or cseq_override when non-zero, for ACK and CANCEL),
 * Max-Forwards. The caller adds Contact, body headers and sends with sip_ctrans_send.
 */
void sip_dialog_request(struct sip_dialog *d, const char *method, uint32_t cseq_override,
			char **ruri, GString *headers);
/* Appends a one-line description (no secrets), for the admin dump. */
void sip_dialog_dump(const struct sip_dialog *d, GString *out);
/* The CSeq number of the last request we sent in it (an INVITE's, for its ACK). */
uint32_t sip_dialog_local_cseq(const struct sip_dialog *d);
/* Sets it: a dialog made from a NOTIFY (RFC 6665 §4.1.2.4, with sip_dialog_new_uas) goes on
 * from the CSeq of the SUBSCRIBE that created it. */
void sip_dialog_set_local_cseq(struct sip_dialog *d, uint32_t cseq);
/* Where in-dialog requests go first (§12.2.1.1 with loose routing): the first route-set
 * URI, else the remote target. New string (g_free). */
char *sip_dialog_next_hop(const struct sip_dialog *d);
/*
 * The dialog's user (a call leg) receives its in-dialog requests from the UA core, after
 * the CSeq check of sip_dialog_receive: st is NULL for an ACK. msg and src are borrowed.
 */
typedef void sip_dialog_request_fn(struct sip_dialog *d, struct sip_strans *st,
				   const struct sip_msg *msg, const struct sip_src *src, void *arg);
void sip_dialog_set_handler(struct sip_dialog *d, sip_dialog_request_fn *fn, void *arg);
/* Hands a request to the dialog's user; false when it has none. */
bool sip_dialog_dispatch(struct sip_dialog *d, struct sip_strans *st, const struct sip_msg *req,
			 const struct sip_src *src);

/* Dialogs indexed by (Call-ID, local tag, remote tag). */
struct sip_dialogs;
struct sip_dialogs *sip_dialogs_new(void);
void sip_dialogs_free(struct sip_dialogs *t); /* does not free the dialogs */
void sip_dialogs_add(struct sip_dialogs *t, struct sip_dialog *d);
void sip_dialogs_remove(struct sip_dialogs *t, struct sip_dialog *d);
/* The dialog of an incoming request (To tag = local, From tag = remote) or NULL. */
struct sip_dialog *sip_dialogs_find_request(struct sip_dialogs *t, const struct sip_msg *req);
/* The dialog of an incoming response (From tag = local, To tag = remote) or NULL. */
struct sip_dialog *sip_dialogs_find_response(struct sip_dialogs *t, const struct sip_msg *resp);
unsigned sip_dialogs_count(const struct sip_dialogs *t);

/* ---- registrar (sip_registrar.c): RFC 3261 §10.3, RFC 3327 Path, RFC 5626 ------------- */

struct sip_registrar_config {
	const char *domain;        /* domain served ("" = any Request-URI host) */
	bool auth;                 /* digest authentication required */
	unsigned min_expires;      /* shorter non-zero expiries get 423 (§10.3 step 7) */
	unsigned max_expires;      /* longer ones are shortened */
	unsigned default_expires;  /* when neither the Contact nor Expires says */
};

struct sip_registrar;
struct sip_auth_server;
struct sip_store;

/* auth may be NULL when cfg->auth is false; store and auth are borrowed and must outlive it. */
struct sip_registrar *sip_registrar_new(const struct sip_registrar_config *cfg,
					struct sip_store *store, struct sip_auth_server *auth);
void sip_registrar_free(struct sip_registrar *r);
/* Handles a REGISTER: answers st now (401/400/403/423) or once the store has committed
 * the bindings (200 with every live Contact). */
void sip_registrar_handle(struct sip_registrar *r, struct sip_strans *st, const struct sip_msg *req,
			  const struct sip_src *src);
/* REGISTERs waiting for the store to commit (drain). */
unsigned sip_registrar_pending(const struct sip_registrar *r);

/* ---- UA core (sip_ua.c) ---------------------------------------------------------------- */

/*
 * The transaction user behind the stack: OPTIONS is answered with the capabilities
 * (RFC 3261 §11), Require with unknown extensions gets 420, a Max-Forwards of 0 gets 483,
 * methods known but not served yet get 405 with Allow, unknown methods 501. ACKs for 2xx
 * and responses matching no transaction (BI-14) end here. Dialogs and the registrar plug
 * in here as they land.
 */
struct sip_ua;
/* registrar may be NULL (REGISTER then gets 405). Borrowed. */
struct sip_ua *sip_ua_new(const char *user_agent, struct sip_registrar *registrar);
/*
 * The B2BUA: INVITEs and MESSAGEs outside a dialog (past the checks above: 483, 482, 420)
 * go to fn, which must answer st. With a handler INVITE, BYE, CANCEL, INFO, UPDATE, PRACK, MESSAGE are allowed.
 * In-dialog requests go to the dialog's handler (sip_dialog_set_handler).
 */
typedef void sip_ua_invite_fn(struct sip_strans *st, const struct sip_msg *msg,
			      const struct sip_src *src, void *arg);
void sip_ua_set_invite_handler(struct sip_ua *ua, sip_ua_invite_fn *fn, void *arg);
/*
 * Event packages (RFC 6665, RFC 3903): SUBSCRIBE, NOTIFY and PUBLISH outside a known
 * dialog (past 483, 482, 420) go to fn, which must answer st — among them a NOTIFY with a
 * To tag whose dialog does not exist yet (it may precede the 2xx of its SUBSCRIBE) or
 * never existed (481). allow_events (copied, may be NULL) is sent as Allow-Events with
 * Allow. fn NULL detaches.
 */
void sip_ua_set_event_handler(struct sip_ua *ua, sip_ua_invite_fn *fn, void *arg,
			      const char *allow_events);
void sip_ua_free(struct sip_ua *ua);
/* The UA's dialog table, where call legs register their dialogs. */
struct sip_dialogs *sip_ua_dialogs(struct sip_ua *ua);
/* The sip_request_fn to give sip_stack_new, with the ua as its argument. */
void sip_ua_on_request(struct sip_stack *s, struct sip_strans *st, const struct sip_msg *msg,
		       const struct sip_src *src, struct sip_strans *cancelled_invite, void *ua);

/* ---- digest authentication (sip_auth.c) ---- */
/*
 * RFC 3261 §22 digest with the RFC 7616 / RFC 8760 algorithms (SHA-256 preferred, MD5
 * fallback), qop=auth. Server side: stateless keyed nonces bound to the source IP
 * (BAD-INPUTS SEC-05), nc replay tracking, no user enumeration (SEC-06, BI-42). Client
 * side: answers 401/407 from an upstream and gives up after one retry (BI-16). HA1s and
 * passwords travel as struct secret and never reach a log (SEC-13).
 *
 * A registrar:
 *   r = sip_auth_server_check(srv, req, src->ip, false, lookup_ha1, db, &cred);
 *   if (r != SIP_AUTH_OK)
 *           sip_auth_server_respond(srv, req, src->ip, false, r, to_tag, out);
 *   and counts SIP_AUTH_FAIL per (src->ip, cred.username) for bans (SEC-07).
 * A UAC, on a 401/407 to a request it sends (st kept with the request or registration):
 *   sip_auth_client_choose(resp, &chal), then sip_auth_client_answer(&st, &chal, ...);
 *   EPERM means give up and fail the call or registration.
 */

enum sip_digest_alg { SIP_DIGEST_MD5, SIP_DIGEST_SHA256 };

#define SIP_DIGEST_HEX_MAX     65  /* SHA-256 hex digest + NUL */
#define SIP_AUTH_MAX_USER      255 /* username bytes after unquoting → 400 */
#define SIP_AUTH_MAX_REALM     255
#define SIP_AUTH_LIFETIME_MIN  30  /* nonce lifetime bounds in seconds (SEC-05) */
#define SIP_AUTH_LIFETIME_MAX  300
#define SIP_AUTH_CLIENT_REALMS 4   /* realms one client state follows (proxy + UAS, ...) */

/* "MD5" / "SHA-256". */
const char *sip_digest_alg_name(enum sip_digest_alg alg);
/* Recognises an algorithm= value (case-insensitive); an absent value (p == NULL) is MD5
 * (RFC 7616 §3.3). Returns 0, or ENOTSUP for anything else (-sess variants included). */
int sip_digest_alg_parse(struct slice s, enum sip_digest_alg *out);
/* Hex length of a digest of alg (32 or 64). */
size_t sip_digest_hex_len(enum sip_digest_alg alg);

/*
 * HA1 = H(user ":" realm ":" password) as lowercase hex (RFC 7616 §3.4.2). out receives
 * sip_digest_hex_len(alg) characters and a NUL; it is HA1 material: wrap it in a
 * struct secret and cleanse the buffer (OPENSSL_cleanse) after use. Returns 0 or EINVAL.
 */
int sip_auth_ha1(enum sip_digest_alg alg, const char *user, const char *realm,
		 const struct secret *password, char out[SIP_DIGEST_HEX_MAX]);

/*
 * The request-digest of RFC 7616 §3.4.1 from an HA1 given in hex (its -sess form already
 * applied): qop "auth" or "auth-int" (body_hash = hex H(entity-body)), or an empty qop for
 * the RFC 2069 form H(HA1:nonce:HA2). All slices are the unquoted values. out receives hex
 * and a NUL. Returns 0 or EINVAL (HA1 of the wrong length, unknown qop).
 */
int sip_auth_response_compute(enum sip_digest_alg alg, struct slice ha1, struct slice nonce,
			      struct slice nc, struct slice cnonce, struct slice qop,
			      struct slice method, struct slice uri, struct slice body_hash,
			      char out[SIP_DIGEST_HEX_MAX]);

/* What a server verification decided, and what the caller answers. */
enum sip_auth_result {
	SIP_AUTH_OK,        /* authenticated as cred->username */
	SIP_AUTH_CHALLENGE, /* no credentials for our realm: 401/407 with a challenge */
	SIP_AUTH_STALE,     /* right digest, but the nonce expired or is not valid here (other
			     * source IP, other key): 401/407 with stale=true (RFC 7616 §3.3) */
	SIP_AUTH_FAIL,      /* wrong password, unknown user, replayed nc: 401/407 again (or 403
			     * at the caller's choice); count it per (IP, user) */
	SIP_AUTH_BAD,       /* malformed credentials (BI-13): 400 */
};

/* "ok", "challenge", "stale", "fail", "bad": for logs and metric labels. */
const char *sip_auth_result_name(enum sip_auth_result r);

/* Credentials from one Authorization/Proxy-Authorization value, checked for syntax. */
struct sip_auth_cred {
	struct sip_auth a;              /* slices into the header value (quoted-pairs kept) */
	enum sip_digest_alg alg;
	uint32_t nc;
	char username[SIP_AUTH_MAX_USER + 1]; /* unquoted, NUL-terminated: the lookup key */
};

/*
 * Parses one credentials value for realm. Returns 0; ENOENT when it is not Digest or names
 * another realm (not ours to judge); EBADMSG when malformed: syntax (BI-13), a missing
 * username/nonce/uri/response/nc/cnonce/qop, qop other than auth, an unsupported
 * algorithm, nc not 8 hex digits, a response of the wrong length, a username too long.
 */
int sip_auth_cred_parse(struct slice value, const char *realm, struct sip_auth_cred *out);

struct sip_auth_server;

struct sip_auth_server_config {
	const char *realm;                 /* required; no '"', '\\' or control characters */
	const struct secret *nonce_secret; /* HMAC key (≥ 16 bytes); NULL = random per process */
	unsigned nonce_lifetime;           /* seconds, 30..300; 0 = 300 (SEC-05) */
	unsigned max_nonces;               /* nc table cap; 0 = 8192 */
	/* Algorithms challenged with, in order of preference (RFC 8760 §2.4); nalgs 0 = SHA-256
	 * then MD5. Old clients that answer only the first challenge need MD5 first. */
	enum sip_digest_alg algs[2];
	unsigned nalgs;
};

/* Time source in seconds (tests inject one); default g_get_real_time() / 1e6. */
typedef int64_t sip_auth_clock_fn(void *arg);
/* Fills the 8-byte nonce salt (tests inject one); default RAND_bytes. 0 or an errno. */
typedef int sip_auth_salt_fn(uint8_t salt[8], void *arg);

/*
 * Creates a server for one realm. The config is copied (the secret too). Returns 0,
 * EINVAL (bad realm, lifetime out of range, secret too short) or EIO (no randomness).
 * *out is owned by the caller: sip_auth_server_free().
 */
int sip_auth_server_new(const struct sip_auth_server_config *cfg, struct sip_auth_server **out);
/* Frees the server, its nc table and its key material (cleansed). NULL is fine. */
void sip_auth_server_free(struct sip_auth_server *s);
/* Replaces the clock and the salt source (NULL restores the default). For tests. */
void sip_auth_server_set_clock(struct sip_auth_server *s, sip_auth_clock_fn *fn, void *arg);
void sip_auth_server_set_salt(struct sip_auth_server *s, sip_auth_salt_fn *fn, void *arg);

/*
 * Appends the challenge header lines for a 401 (proxy false: WWW-Authenticate) or a 407
 * (Proxy-Authenticate): one SHA-256 value, then one MD5 value (RFC 8760 §2.4), both with
 * realm, qop="auth", a fresh nonce bound to src_ip, and stale=true when stale. The bytes
 * depend only on realm, src_ip, time and salt, never on a user (SEC-06). Returns 0,
 * EINVAL or EIO.
 */
int sip_auth_server_challenge(struct sip_auth_server *s, const char *src_ip, bool proxy,
			      bool stale, GString *out);

/*
 * Finds the credentials for our realm in req (Authorization, or Proxy-Authorization when
 * proxy). Returns 0 with *cred filled, ENOENT when there are none for our realm, or
 * EBADMSG when one is malformed. cred slices point into req's buffer.
 */
int sip_auth_server_credentials(struct sip_auth_server *s, const struct sip_msg *req,
				bool proxy, struct sip_auth_cred *cred);

/*
 * Verifies credentials of a request (method, Request-URI) received from src_ip against
 * the HA1 stored for cred->username and cred->alg, in hex; NULL for an unknown user, which
 * goes through the same computations with a dummy HA1 (SEC-06). Checks that uri equals
 * the Request-URI (BI-13), the response (constant time), the nonce's HMAC, source IP and
 * age (STALE only when the response was right), and that nc grows per nonce (replays
 * fail). ha1 is borrowed for the call.
 */
enum sip_auth_result sip_auth_server_verify(struct sip_auth_server *s, struct slice method,
					    struct slice ruri, const char *src_ip,
					    const struct sip_auth_cred *cred,
					    const struct secret *ha1);

/* Gives the stored HA1 (hex) of user for alg, or NULL when unknown. Borrowed until the
 * calling function returns. */
typedef const struct secret *sip_auth_lookup_fn(const char *user, enum sip_digest_alg alg,
						void *arg);

/*
 * The whole check for a registrar or proxy: credentials, lookup, verify. cred receives the
 * credentials (username for failure counting) when the result is OK, STALE or FAIL.
 */
enum sip_auth_result sip_auth_server_check(struct sip_auth_server *s, const struct sip_msg *req,
					   const char *src_ip, bool proxy,
					   sip_auth_lookup_fn *lookup, void *arg,
					   struct sip_auth_cred *cred);

/*
 * Appends the response a result asks for: 401/407 with a challenge (stale=true for STALE)
 * for CHALLENGE, STALE and FAIL; 400 for BAD. Same bytes for unknown and known users.
 * Returns 0, EINVAL for SIP_AUTH_OK, or an error of sip_response_build.
 */
int sip_auth_server_respond(struct sip_auth_server *s, const struct sip_msg *req,
			    const char *src_ip, bool proxy, enum sip_auth_result r,
			    const char *to_tag, GString *out);

/* Hears the outcome of each sip_auth_server_check that got as far as verifying (OK, STALE,
 * FAIL) with the source and the user named: SEC-07 counts failures and credits successes. */
typedef void sip_auth_observer_fn(enum sip_auth_result r, const char *src_ip, const char *user,
				  void *arg);
void sip_auth_server_set_observer(struct sip_auth_server *s, sip_auth_observer_fn *fn, void *arg);

/* Nonces in the nc table (tests, dump). */
unsigned sip_auth_server_nonce_count(const struct sip_auth_server *s);
/* Appends one line of state (realm, lifetime, nc table use); never a key or an HA1. */
void sip_auth_server_dump(const struct sip_auth_server *s, GString *out);

/*
 * Client state, kept by the caller per request or registration; zero-initialise it. It
 * tracks per realm the nonce in use (by hash), its nc, and how many times we answered, so
 * that a second challenge after an answer gives up (BI-16): one retry is allowed only when
 * the server says stale=true. Plain data, nothing to free.
 */
struct sip_auth_client_realm {
	uint8_t realm_id[32], nonce_id[32]; /* SHA-256 of realm and nonce */
	uint32_t nc;                        /* last nc sent with that nonce */
	uint8_t answers;                    /* answers sent since the last success */
	bool used;
};

struct sip_auth_client_state {
	struct sip_auth_client_realm realm[SIP_AUTH_CLIENT_REALMS];
};

struct sip_auth_client_cred {
	const char *username;
	const struct secret *password;
};

/*
 * Picks the challenge to answer among the WWW-Authenticate (401) or Proxy-Authenticate
 * (407) values of resp: Digest with SHA-256 if offered, else MD5; other algorithms and
 * schemes are skipped. Returns 0 with *out filled (slices into resp), ENOENT when nothing
 * usable is offered, EBADMSG when resp is not a 401/407.
 */
int sip_auth_client_choose(const struct sip_msg *resp, struct sip_auth *out);

/*
 * Answers one challenge: appends "Authorization: Digest ...\r\n" (or Proxy-Authorization
 * when proxy) for method and uri, qop=auth when offered (auth-int when it is the only one,
 * hashing body; body may be empty), a random cnonce, and nc counted per nonce. Returns 0;
 * EPERM when this realm was already answered for this request and the server is not just
 * saying stale=true (give up: BI-16); ENOTSUP for an algorithm or qop we do not speak;
 * EINVAL for bad arguments; EIO without randomness.
 */
int sip_auth_client_answer(struct sip_auth_client_state *st, const struct sip_auth *chal,
			   bool proxy, const struct sip_auth_client_cred *cred, const char *method,
			   const char *uri, struct slice body, GString *out);

/* After a final non-401/407 response: the next challenge may be answered again (nonce and
 * nc are kept for reuse). */
void sip_auth_client_success(struct sip_auth_client_state *st);

/* ---- per-source limits (sip_guard.c): BAD-INPUTS SEC-07 ------------------------------- */

/*
 * Pike-like limits on the signaling loop. A source is an IPv4 address or an IPv6 /64. Each
 * new request (not a retransmission, not an ACK) counts; one that authenticates with digest
 * is credited back, so the limit is on unauthenticated traffic. More than `requests` in
 * `window_secs`, or `auth_failures` digest failures for one user in 60 s, bans the source
 * for `ban_secs`: its requests are dropped unanswered before any transaction exists, and
 * its new TCP/TLS connections are closed at accept. Exempt networks are never counted.
 * At most 100,000 sources are tracked; past that, new ones go unlimited (logged, counted).
 */
struct sip_guard_config {
	unsigned requests;      /* per window; 0 = no rate limit */
	unsigned window_secs;   /* 0 = 2 */
	unsigned auth_failures; /* per (source, user) in 60 s; 0 = no limit */
	unsigned ban_secs;      /* 0 = 300 */
	const char *exempt;     /* "192.0.2.1, 10.0.0.0/8, 2001:db8::/32"; copied */
};
struct sip_guard;
/* Returns 0 or EINVAL (a bad exempt entry, logged). Attaches a sweep timer to the
 * thread-default context. */
int sip_guard_new(const struct sip_guard_config *cfg, struct sip_guard **out);
void sip_guard_free(struct sip_guard *g);
/* A new request from ip: counts it; false when the source is (or just got) banned. */
bool sip_guard_admit(struct sip_guard *g, const char *ip);
/* Whether ip is banned now (counts nothing): for accept(). */
bool sip_guard_banned(struct sip_guard *g, const char *ip);
/* A digest outcome (sip_auth_observer_fn shape): OK credits the request, FAIL counts. */
void sip_guard_auth_result(struct sip_guard *g, const char *ip, const char *user,
			   enum sip_auth_result r);
/* Entries tracked (tests). */
unsigned sip_guard_count(const struct sip_guard *g);

/* ---- location and user store (sip_store*.c) ---------------------------------------- */

/*
 * The location service (RFC 3261 §10, RFC 5626 §6, RFC 3327) and the user store behind the
 * registrar, with two backends of the same semantics: SQLite (embedded default, reads from
 * an in-memory cache, writes batched on a writer thread) and Redis (several instances; every
 * read goes to Redis). Strings are compared byte for byte: callers normalise AORs and
 * contact URIs before they get here. Every string is stored verbatim (bound parameters).
 *
 * Write policy. A write is queued to the store's writer thread, which commits what is
 * queued as one batch (one SQLite transaction, one Redis pipeline) and then calls each
 * write's done callback: the registrar answers 200 only from there. SQLite runs in WAL
 * mode with synchronous=NORMAL: a committed transaction survives kill -9 of gorgee, not a
 * power loss. What a crash can lose: writes not yet acknowledged (at most max_queue plus
 * one batch), never an acknowledged one. The SQLite cache takes a write when it is
 * submitted, so reads see it before it is durable; if its commit fails, done gets EIO and
 * the cache stays ahead of the file until a restart (the registrar answers 500; the UA's
 * retry writes the same binding again). The SQLite file belongs to one gorgee process (its
 * cache is the truth for reads); several instances share Redis instead.
 */

#define SIP_STORE_MAX_AOR      512  /* bytes of an address-of-record             → EINVAL */
#define SIP_STORE_MAX_CONTACT  SIP_MAX_URI /* contact URI bytes                  → EINVAL */
#define SIP_STORE_MAX_PATH     4096 /* Path values, comma-joined                  → EINVAL */
#define SIP_STORE_MAX_FIELD    256  /* Call-ID, +sip.instance, received, UA, user, realm */
#define SIP_STORE_MAX_Q        1000 /* q is kept in thousandths (q=0.5 → 500) */

/* One registered contact of an AOR. As an argument it is borrowed; from a lookup every
 * string is owned by the binding (free with sip_binding_free). NULL strings mean absent. */
struct sip_binding {
	char *aor;        /* normalised address-of-record, "sip:alice@example.com" */
	char *contact;    /* contact URI, as the registrar normalised it */
	int64_t expires;  /* absolute unix time (seconds); live while expires > now */
	uint16_t q;       /* 0..1000 */
	char *call_id;
	uint32_t cseq;
	char *instance;   /* +sip.instance (RFC 5626 §4.1), e.g. "<urn:uuid:...>" */
	uint32_t reg_id;  /* RFC 5626 reg-id; 0 = none */
	char *path;       /* RFC 3327 Path values, comma-joined, in received order */
	char *received;   /* where the REGISTER came from, "udp:192.0.2.1:5060" (NAT) */
	char *user_agent;
	int64_t updated;  /* unix time of the last put; 0 on input = now */
};

/* A user of the registrar's domain. Only HA1 values are kept (RFC 7616 §3.4.2): hex of
 * MD5(user:realm:password) and SHA-256(user:realm:password); never a password. */
struct sip_user {
	char *username;
	char *realm;
	struct secret *ha1_md5;    /* 32 hex digits, or NULL */
	struct secret *ha1_sha256; /* 64 hex digits, or NULL */
	bool enabled;
};

enum sip_store_kind { SIP_STORE_SQLITE, SIP_STORE_REDIS };

struct sip_store_config {
	enum sip_store_kind kind;
	const char *data_dir;       /* SQLite: the database is <data_dir>/gorgee.db */
	const char *redis_host;     /* Redis: "127.0.0.1" when NULL */
	uint16_t redis_port;        /* Redis: 6379 when 0 */
	unsigned redis_timeout_ms;  /* Redis: connect and command timeout; 200 when 0 */
	const char *redis_prefix;   /* Redis: key prefix, "gorgee" when NULL */
	unsigned batch_ms;          /* writer: wait this long for more writes to share one
				     * commit (0: commit whatever is queued at once) */
	unsigned max_queue;         /* writes waiting for the writer before new ones get
				     * EAGAIN (a stalled disk or server); 65536 when 0 */
};

struct sip_store;

/*
 * Completion of a write, called on the GMainContext that was thread-default when the
 * write was submitted, after the write is durable (SQLite: committed in WAL mode, so it
 * survives kill -9 of the process; Redis: acknowledged by the server). err is 0 or errno.
 */
typedef void sip_store_done_fn(int err, void *arg);

/*
 * Opens a store and starts its writer thread. SQLite: creates data_dir/gorgee.db when
 * missing, migrates the schema, loads every binding and user into memory. Redis: connects
 * (two connections: one for reads on the calling thread, one for the writer).
 * Returns 0, EINVAL (bad config), EIO (database or server error). *out owned by the caller.
 * All other calls must come from the thread that opened the store.
 */
int sip_store_open(const struct sip_store_config *cfg, struct sip_store **out);
/* Waits for queued writes, stops the writer, frees. Pending callbacks are still invoked
 * when their context next runs. NULL is fine. */
void sip_store_close(struct sip_store *s);
/* "sqlite" or "redis". */
const char *sip_store_backend_name(const struct sip_store *s);
/* Appends one line of state (backend, queued writes; SQLite: cached AORs, bindings and
 * users) for the admin dump. Never prints an HA1. Store thread. */
void sip_store_dump(const struct sip_store *s, GString *out);

/*
 * Writes. Each returns 0 once the write is queued (done is then called exactly once),
 * EINVAL for a bad argument or EAGAIN when max_queue writes are already waiting (done is
 * not called; the registrar answers 500 with Retry-After). With done == NULL the call blocks until
 * the write is durable and returns its result (tools and tests; never on a loop thread).
 * Arguments are copied.
 *
 * sip_store_put: inserts or replaces the binding identified by (AOR, +sip.instance,
 * reg-id) when both are present (RFC 5626 §6), else by (AOR, contact URI) (RFC 3261
 * §10.3 step 7). updated == 0 is set to now.
 */
int sip_store_put(struct sip_store *s, const struct sip_binding *b, sip_store_done_fn *done,
		  void *arg);
static inline int sip_store_put_sync(struct sip_store *s, const struct sip_binding *b)
{
	return sip_store_put(s, b, NULL, NULL);
}
/* Removes the binding (AOR, instance, reg_id) when instance and reg_id are given (contact
 * may then be NULL), else every binding of the AOR with that contact URI (Expires: 0).
 * Removing nothing is not an error. */
int sip_store_remove(struct sip_store *s, const char *aor, const char *contact,
		     const char *instance, uint32_t reg_id, sip_store_done_fn *done, void *arg);
/* Removes every binding of the AOR (Contact: *, RFC 3261 §10.3 step 6). */
int sip_store_remove_all(struct sip_store *s, const char *aor, sip_store_done_fn *done,
			 void *arg);
/* Purges bindings with expires <= now (a timer calls it; lookups filter on their own). */
int sip_store_expire(struct sip_store *s, int64_t now, sip_store_done_fn *done, void *arg);

/*
 * The live bindings of an AOR (expires > now), highest q first, then most recently
 * updated, then by contact. *out is a new array of struct sip_binding * that frees its
 * elements; the caller unrefs it. SQLite: from memory. Redis: one HGETALL (blocks up to
 * redis_timeout_ms). Returns 0 (possibly empty), EINVAL, EIO.
 */
int sip_store_lookup(struct sip_store *s, const char *aor, int64_t now, GPtrArray **out);
/* Number of live bindings of every AOR. Redis: scans the keyspace (admin use only). */
int sip_store_count(struct sip_store *s, int64_t now, size_t *out);

/* Users: put inserts or replaces (username, realm). HA1 values must be hex of the right
 * length (32 for MD5, 64 for SHA-256) or NULL. Same done conventions as above. */
int sip_store_user_put(struct sip_store *s, const struct sip_user *u, sip_store_done_fn *done,
		       void *arg);
int sip_store_user_delete(struct sip_store *s, const char *username, const char *realm,
			  sip_store_done_fn *done, void *arg);
/* Returns 0 and a new user (free with sip_user_free), ENOENT, EINVAL or EIO. */
int sip_store_user_get(struct sip_store *s, const char *username, const char *realm,
		       struct sip_user **out);

/*
 * Users written by another process into the same SQLite file (gorgee --add-user while the
 * daemon runs) are read back by the writer thread when PRAGMA data_version says another
 * connection committed (a check without disk reads when nothing changed); the user cache is
 * then replaced on the store's thread. sip_store_sync_users asks for one check now (SIGHUP):
 * 0, EALREADY (one is in flight) or EAGAIN (queue full); sip_store_set_user_sync checks
 * every secs seconds (0 = never). Redis reads users from the server: nothing to do there.
 */
int sip_store_sync_users(struct sip_store *s);
void sip_store_set_user_sync(struct sip_store *s, unsigned secs);

/* Deep copies and frees. NULL is fine for the frees. */
struct sip_binding *sip_binding_copy(const struct sip_binding *b);
void sip_binding_free(struct sip_binding *b);
struct sip_user *sip_user_copy(const struct sip_user *u);
void sip_user_free(struct sip_user *u);

/* ---- RFC 3263 resolution (sip_dns.c) ---- */
/*
 * Locating a SIP server (RFC 3263 §4): c-ares on the thread-default GMainContext, so a
 * lookup never blocks the signaling loop. For a target URI:
 *   numeric IP           → that address; port from the URI or 5060 (5061 for sips)
 *   explicit port        → A + AAAA of the host; transport= or UDP (sip) / TLS (sips)
 *   transport= given     → SRV for that transport only (§4.2), else A + AAAA, port 5060/5061
 *   otherwise            → NAPTR (SIP+D2U, SIP+D2T, SIPS+D2T; only SIPS+D2T for sips),
 *                          sorted by order then preference, each "S" record's replacement
 *                          queried for SRV; without NAPTR, SRV for _sip._udp, _sip._tcp,
 *                          _sips._tcp (sips: _sips._tcp only); without SRV, A + AAAA.
 * SRV records are ordered by priority, and within a priority by weighted random selection
 * (RFC 2782). Every SRV target contributes all of its A and AAAA addresses, in SRV order.
 *
 * Failover (RFC 3263 §4.3): the list handed to the callback is in the order to try. A
 * caller sends to targets[0]; on a transport error, a transaction timeout (Timer B/F) or a
 * 503 without Retry-After it moves to the next entry with a new transaction (new branch),
 * and gives up after the last one. The list is a snapshot; keep it for the whole request.
 *
 * Everything runs on the thread that created the resolver; nothing here is thread-safe.
 */

enum sip_transport_type { SIP_TRANSPORT_UDP, SIP_TRANSPORT_TCP, SIP_TRANSPORT_TLS };

#define SIP_RESOLVE_MAX_TARGETS 32 /* addresses handed to a callback; the rest are dropped */
#define SIP_RESOLVE_MAX_SRV     16 /* SRV targets (hosts) followed per resolution */
#define SIP_RESOLVE_MAX_NAPTR   8  /* usable NAPTR records followed */

/* One place to send to. Plain data; copy it freely. */
struct sip_target {
	enum sip_transport_type transport;
	struct sockaddr_storage addr; /* port set */
	socklen_t addr_len;
	char ip[48]; /* no brackets */
	uint16_t port;
};

struct sip_resolver_config {
	const char *servers;  /* "ip:port,[ipv6]:port,..."; NULL or "" = /etc/resolv.conf */
	unsigned timeout_ms;  /* one attempt at one server; 0 = 2000 */
	unsigned tries;       /* attempts per query (c-ares doubles the wait each round); 0 = 2 */
	unsigned deadline_ms; /* the callback always runs within this; 0 = 3 * timeout * tries */
	bool prefer_ipv6;     /* per SRV target, AAAA addresses before A ones (default: A first) */
};

struct sip_resolver;
struct sip_resolve_req;

/*
 * The outcome of one resolution. err 0: n >= 1 targets in the order to try. Otherwise
 * n == 0 and err is ENOENT (the name does not exist or has no usable address), ETIMEDOUT
 * (no answer within the configured time), ECONNREFUSED (no server would answer: nothing
 * listening, or SERVFAIL from each, which c-ares 1.18 reports so), EIO (other server
 * failure or refusal), EBADMSG (malformed answer) or ENOMEM.
 * targets is borrowed for the call: copy what must outlive it. The request handle is
 * freed after the callback returns (do not cancel it then). The callback may start new
 * resolutions and may free the resolver.
 */
typedef void sip_resolve_fn(int err, const struct sip_target *targets, size_t n, void *arg);

/* A host to resolve without a URI. Slices are copied by sip_resolve_host(). */
struct sip_resolve_spec {
	struct slice host;      /* name or IP literal; IPv6 with or without brackets */
	uint16_t port;          /* 0 = none */
	struct slice transport; /* transport= value ("udp", "tcp", "tls"); p == NULL = absent */
	bool sips;
};

/*
 * Creates a resolver on the thread-default GMainContext of the calling thread. cfg is
 * copied. Returns 0, EINVAL (bad servers list), ENOMEM, or EIO (c-ares could not
 * initialise, e.g. unreadable resolv.conf) with a log line; *out is set on success only.
 */
int sip_resolver_new(const struct sip_resolver_config *cfg, struct sip_resolver **out);
/*
 * Frees the resolver and its sockets. Resolutions still running are dropped without a
 * callback and their handles become invalid: free the resolver after its users. NULL is
 * fine. Same thread as sip_resolver_new().
 */
void sip_resolver_free(struct sip_resolver *r);

/*
 * Resolves the target of a SIP or SIPS URI (its maddr if present, else its host), with the
 * URI's port and transport= parameter. fn runs later from the main loop, never from inside
 * this call, exactly once unless the request is cancelled. *out (may be NULL) receives a
 * handle valid until fn returns or sip_resolve_cancel(). The URI is not kept.
 * Returns 0; EINVAL (not sip/sips, empty host); EPROTONOSUPPORT (transport= other than
 * udp, tcp, tls, or udp with sips).
 */
int sip_resolve(struct sip_resolver *r, const struct sip_uri *uri, sip_resolve_fn *fn,
		void *arg, struct sip_resolve_req **out);
/* Same from the parts of a target; the same returns. */
int sip_resolve_host(struct sip_resolver *r, const struct sip_resolve_spec *spec,
		     sip_resolve_fn *fn, void *arg, struct sip_resolve_req **out);
/*
 * Stops a resolution: its callback will never run and the handle is freed (DNS answers
 * still in flight are absorbed later). Call it only before the callback has run. NULL is
 * fine.
 */
void sip_resolve_cancel(struct sip_resolve_req *q);

/* Appends one line per resolution in flight (name, stage, queries pending) to out. */
void sip_resolver_dump(const struct sip_resolver *r, GString *out);

/* "UDP", "TCP", "TLS" (the Via transport token). */
const char *sip_transport_type_name(enum sip_transport_type t);
/*
 * Fills a struct sip_src (proto, addr, addr_len, ip, port; conn_id and local_fd 0 = any) to
 * send to t. For TLS, call sip_transport_connect() with the name of the SIP domain that
 * was resolved (RFC 5922 §4: the URI's host, not the SRV target) before sending.
 * Returns 0 or EINVAL.
 */
int sip_target_to_src(const struct sip_target *t, struct sip_src *out);

/* ---- SDP (RFC 8866): sdp.c, sdp_attr.c, sdp_print.c ---------------------------------- */
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
/* Zeroes m but its candidate array (9 of its 19 KB), which is only read below n_cand: how
 * the parser starts an m-section, and how a builder should. */
void sdp_media_clear(struct sdp_media *m);

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
