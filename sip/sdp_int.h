/* sdp private: the parser state and the token helpers shared by sdp.c and sdp_attr.c. */
#ifndef GORGEE_SIP_SDP_INT_H
#define GORGEE_SIP_SDP_INT_H

#include "sip.h"

struct sdp_parser {
	struct sdp_session *s;
	struct sdp_media *m; /* current m-section, NULL in the session section */
	struct sdp_error *err;
	unsigned lineno;
	unsigned seen; /* bit per line letter already seen in the current section */
};

/* Records the reason (a static string, never input bytes) and returns EBADMSG. */
int sdp_fail(struct sdp_parser *p, const char *what);

/* Splits off the text before the next single space; advances past that space. */
struct slice sdp_tok(struct slice *rest);
/* Like sdp_tok, but the token must be non-empty and at most max bytes. */
bool sdp_tok_req(struct slice *rest, size_t max, struct slice *out);
bool sdp_u32(struct slice s, uint32_t *out);
bool sdp_port(struct slice s, uint16_t *out);
bool sdp_pt(struct slice s, uint8_t *out);
bool sdp_is_token(struct slice s);
bool sdp_digits(struct slice s, size_t max);
bool sdp_slice_find(struct slice s, char c, size_t *at);
/* "IN IP4 addr" as in c= and a=rtcp (RFC 8866 §5.7). */
int sdp_conn_parse(struct sdp_parser *p, struct slice v, struct sdp_conn *c);
/* sendrecv/sendonly/recvonly/inactive, or SDP_DIR_NONE. */
enum sdp_dir sdp_dir_from(struct slice s);

/* An a= line: the typed handlers, falling back to the generic list. */
int sdp_attr_parse(struct sdp_parser *p, struct slice v);

#endif
