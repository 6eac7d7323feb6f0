/* libFuzzer target: SIP message parser in datagram and stream mode, decoders, print round trip. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "sip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void decode_all(const struct sip_msg *m)
{
	for (unsigned i = 0; i < m->nhdr; i++) {
		const struct sip_hdr *h = &m->hdr[i];
		union {
			struct sip_via via;
			struct sip_contact ct;
			struct sip_auth auth;
			struct sip_addr addr;
			struct sip_event ev;
			struct sip_substate ss;
			struct sip_replaces rp;
			struct sip_session_expires se;
			struct sip_rack rk;
			struct sip_uri uri;
		} u;
		uint64_t x;
		switch (h->id) {
		case SIP_HDR_VIA: sip_via_parse(h->value, &u.via); break;
		case SIP_HDR_CONTACT: sip_contact_parse(h->value, &u.ct); break;
		case SIP_HDR_AUTHORIZATION:
		case SIP_HDR_PROXY_AUTHORIZATION:
		case SIP_HDR_WWW_AUTHENTICATE:
		case SIP_HDR_PROXY_AUTHENTICATE: sip_auth_parse(h->value, &u.auth); break;
		case SIP_HDR_REFER_TO:
		case SIP_HDR_REFERRED_BY:
			if (sip_addr_parse(h->value, &u.addr) == 0 && !u.addr.star)
				sip_uri_parse(u.addr.uri, &u.uri);
			break;
		case SIP_HDR_EVENT: sip_event_parse(h->value, &u.ev); break;
		case SIP_HDR_SUBSCRIPTION_STATE: sip_substate_parse(h->value, &u.ss); break;
		case SIP_HDR_REPLACES: sip_replaces_parse(h->value, &u.rp); break;
		case SIP_HDR_SESSION_EXPIRES:
		case SIP_HDR_MIN_SE: sip_session_expires_parse(h->value, &u.se); break;
		case SIP_HDR_RACK: sip_rack_parse(h->value, &u.rk); break;
		case SIP_HDR_RSEQ: sip_uint_parse(h->value, UINT32_MAX, &x); break;
		default: break;
		}
	}
}

/* A valid message must print to something that parses to the same key fields. */
static void round_trip(const struct sip_msg *m)
{
	static struct sip_msg m2;
	GString *out = g_string_new(NULL);
	sip_msg_print(m, out);
	/* Printing adds a Content-Length entry and canonical (longer) names: a message at the
	 * header or size cap may legitimately print past it. */
	bool at_cap = !m->has_content_length && m->nhdr >= SIP_MAX_HEADERS;
	if (out->len <= SIP_MAX_MSG && !at_cap) {
		int rc = sip_msg_parse(out->str, out->len, SIP_MODE_STREAM, &m2, NULL, NULL);
		if (rc != 0 || m2.size != out->len || m2.nhdr > m->nhdr + 1 ||
		    m2.request != m->request || m2.status != m->status ||
		    m2.cseq.num != m->cseq.num || m2.body.len != m->body.len ||
		    !slice_eq(m2.call_id, m->call_id.p, m->call_id.len) ||
		    !slice_eq(m2.via.branch, m->via.branch.p, m->via.branch.len) ||
		    !slice_eq(m2.from.tag, m->from.tag.p, m->from.tag.len) ||
		    !slice_eq(m2.to.tag, m->to.tag.p, m->to.tag.len))
			abort();
	}
	g_string_free(out, TRUE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sip_msg m;
	const char *buf = (const char *)data;
	int status;
	const char *reason;
	int rc = sip_msg_parse(buf, size, SIP_MODE_DATAGRAM, &m, &status, &reason);
	if (rc == 0) {
		if (m.size > size)
			abort();
		decode_all(&m);
		/* BI-12: the SDP of a plain or multipart body lies inside the body */
		struct slice sdp;
		int brc = sip_body_sdp(&m, &sdp);
		if ((brc == 0) != (sdp.p != NULL) || (brc && brc != ENOENT && brc != EBADMSG) ||
		    (sdp.p && (sdp.p < m.body.p || sdp.p + sdp.len > m.body.p + m.body.len)))
			abort();
		struct sip_via v;
		for (unsigned i = 0; sip_msg_via(&m, i, &v) == 0; i++)
			;
		round_trip(&m);
		if (m.request) {
			GString *resp = g_string_new(NULL);
			if (sip_response_build(&m, 200, NULL, "tag1", NULL, m.body, resp) != 0)
				abort();
			g_string_free(resp, TRUE);
		}
	} else if (rc != EBADMSG || !reason) {
		abort();
	}
	/* Stream mode: take messages one after another until an error or need-more. */
	size_t off = 0;
	while (off < size) {
		rc = sip_msg_parse(buf + off, size - off, SIP_MODE_STREAM, &m, NULL, NULL);
		if (rc != 0)
			break;
		if (m.size == 0 || m.size > size - off)
			abort();
		off += m.size;
	}
	return 0;
}
