/* sip: header names (full and compact forms) and decoders for Via, addresses, Contact, CSeq. */
#include <errno.h>

#include "sip-private.h"

struct hdr_def {
	const char *name;
	uint8_t len;
};

/* c: the compact form, for the reader; lookups use by_compact below. */
#define H(id, n, c) [id] = {n, sizeof(n) - 1}
static const struct hdr_def defs[SIP_HDR_COUNT] = {
	H(SIP_HDR_ACCEPT, "Accept", 0),
	H(SIP_HDR_ACCEPT_ENCODING, "Accept-Encoding", 0),
	H(SIP_HDR_ACCEPT_LANGUAGE, "Accept-Language", 0),
	H(SIP_HDR_ALLOW, "Allow", 0),
	H(SIP_HDR_ALLOW_EVENTS, "Allow-Events", 'u'),
	H(SIP_HDR_AUTHORIZATION, "Authorization", 0),
	H(SIP_HDR_CALL_ID, "Call-ID", 'i'),
	H(SIP_HDR_CONTACT, "Contact", 'm'),
	H(SIP_HDR_CONTENT_ENCODING, "Content-Encoding", 'e'),
	H(SIP_HDR_CONTENT_LENGTH, "Content-Length", 'l'),
	H(SIP_HDR_CONTENT_TYPE, "Content-Type", 'c'),
	H(SIP_HDR_CSEQ, "CSeq", 0),
	H(SIP_HDR_EVENT, "Event", 'o'),
	H(SIP_HDR_EXPIRES, "Expires", 0),
	H(SIP_HDR_FROM, "From", 'f'),
	H(SIP_HDR_MAX_FORWARDS, "Max-Forwards", 0),
	H(SIP_HDR_MIN_SE, "Min-SE", 0),
	H(SIP_HDR_PROXY_AUTHENTICATE, "Proxy-Authenticate", 0),
	H(SIP_HDR_PROXY_AUTHORIZATION, "Proxy-Authorization", 0),
	H(SIP_HDR_PROXY_REQUIRE, "Proxy-Require", 0),
	H(SIP_HDR_RACK, "RAck", 0),
	H(SIP_HDR_RECORD_ROUTE, "Record-Route", 0),
	H(SIP_HDR_REFER_TO, "Refer-To", 'r'),
	H(SIP_HDR_REFERRED_BY, "Referred-By", 'b'),
	H(SIP_HDR_REPLACES, "Replaces", 0),
	H(SIP_HDR_REQUIRE, "Require", 0),
	H(SIP_HDR_ROUTE, "Route", 0),
	H(SIP_HDR_RSEQ, "RSeq", 0),
	H(SIP_HDR_SESSION_EXPIRES, "Session-Expires", 'x'),
	H(SIP_HDR_SUBJECT, "Subject", 's'),
	H(SIP_HDR_SUBSCRIPTION_STATE, "Subscription-State", 0),
	H(SIP_HDR_SUPPORTED, "Supported", 'k'),
	H(SIP_HDR_TO, "To", 't'),
	H(SIP_HDR_UNSUPPORTED, "Unsupported", 0),
	H(SIP_HDR_VIA, "Via", 'v'),
	H(SIP_HDR_WWW_AUTHENTICATE, "WWW-Authenticate", 0),
};
#undef H

const char *sip_hdr_name(enum sip_hdr_id id)
{
	return id > SIP_HDR_OTHER && id < SIP_HDR_COUNT ? defs[id].name : NULL;
}

/*
 * Full names by SIP_HDR_HASH (sip-private.h). The slot holds the id, the length and the name
 * itself: one cache line read per lookup. Not static: hdr_lookup_full reads it inline in the
 * message parser.
 */
const struct sip_hdr_slot sip_hdr_slots[128] = {
	[1] = {SIP_HDR_REPLACES, 8, "Replaces"},
	[2] = {SIP_HDR_WWW_AUTHENTICATE, 16, "WWW-Authenticate"},
	[10] = {SIP_HDR_REFERRED_BY, 11, "Referred-By"},
	[14] = {SIP_HDR_SUPPORTED, 9, "Supported"},
	[24] = {SIP_HDR_SUBSCRIPTION_STATE, 18, "Subscription-State"},
	[28] = {SIP_HDR_SUBJECT, 7, "Subject"},
	[32] = {SIP_HDR_EVENT, 5, "Event"},
	[33] = {SIP_HDR_EXPIRES, 7, "Expires"},
	[35] = {SIP_HDR_SESSION_EXPIRES, 15, "Session-Expires"},
	[45] = {SIP_HDR_TO, 2, "To"},
	[47] = {SIP_HDR_ACCEPT_LANGUAGE, 15, "Accept-Language"},
	[49] = {SIP_HDR_ACCEPT_ENCODING, 15, "Accept-Encoding"},
	[51] = {SIP_HDR_FROM, 4, "From"},
	[53] = {SIP_HDR_ACCEPT, 6, "Accept"},
	[54] = {SIP_HDR_AUTHORIZATION, 13, "Authorization"},
	[55] = {SIP_HDR_ALLOW, 5, "Allow"},
	[58] = {SIP_HDR_ALLOW_EVENTS, 12, "Allow-Events"},
	[66] = {SIP_HDR_PROXY_REQUIRE, 13, "Proxy-Require"},
	[70] = {SIP_HDR_UNSUPPORTED, 11, "Unsupported"},
	[71] = {SIP_HDR_PROXY_AUTHENTICATE, 18, "Proxy-Authenticate"},
	[81] = {SIP_HDR_PROXY_AUTHORIZATION, 19, "Proxy-Authorization"},
	[86] = {SIP_HDR_VIA, 3, "Via"},
	[92] = {SIP_HDR_CALL_ID, 7, "Call-ID"},
	[98] = {SIP_HDR_CONTENT_TYPE, 12, "Content-Type"},
	[102] = {SIP_HDR_CSEQ, 4, "CSeq"},
	[103] = {SIP_HDR_CONTENT_LENGTH, 14, "Content-Length"},
	[104] = {SIP_HDR_CONTENT_ENCODING, 16, "Content-Encoding"},
	[106] = {SIP_HDR_MIN_SE, 6, "Min-SE"},
	[108] = {SIP_HDR_CONTACT, 7, "Contact"},
	[112] = {SIP_HDR_ROUTE, 5, "Route"},
	[114] = {SIP_HDR_REQUIRE, 7, "Require"},
	[117] = {SIP_HDR_RACK, 4, "RAck"},
	[119] = {SIP_HDR_RECORD_ROUTE, 12, "Record-Route"},
	[123] = {SIP_HDR_RSEQ, 4, "RSeq"},
	[125] = {SIP_HDR_REFER_TO, 8, "Refer-To"},
	[126] = {SIP_HDR_MAX_FORWARDS, 12, "Max-Forwards"},
};

/* Compact forms a..z (RFC 3261 §7.3.3 and the IANA registry). */
static const uint8_t by_compact[26] = {
	['b' - 'a'] = SIP_HDR_REFERRED_BY,      ['c' - 'a'] = SIP_HDR_CONTENT_TYPE,
	['e' - 'a'] = SIP_HDR_CONTENT_ENCODING, ['f' - 'a'] = SIP_HDR_FROM,
	['i' - 'a'] = SIP_HDR_CALL_ID,          ['k' - 'a'] = SIP_HDR_SUPPORTED,
	['l' - 'a'] = SIP_HDR_CONTENT_LENGTH,   ['m' - 'a'] = SIP_HDR_CONTACT,
	['o' - 'a'] = SIP_HDR_EVENT,            ['r' - 'a'] = SIP_HDR_REFER_TO,
	['s' - 'a'] = SIP_HDR_SUBJECT,          ['t' - 'a'] = SIP_HDR_TO,
	['u' - 'a'] = SIP_HDR_ALLOW_EVENTS,     ['v' - 'a'] = SIP_HDR_VIA,
	['x' - 'a'] = SIP_HDR_SESSION_EXPIRES,
};

enum sip_hdr_id sip_hdr_lookup(struct slice name)
{
	if (name.len == 1) {
		unsigned c = sip_lc[(unsigned char)name.p[0]] - 'a';
		return c < 26 ? (enum sip_hdr_id)by_compact[c] : SIP_HDR_OTHER;
	}
	return hdr_lookup_full(name);
}

/* ---- Via (RFC 3261 §20.42) ------------------------------------------------------------- */

/* "/" with LWS around it, then a token. */
static const char *via_part(const char *p, const char *end, bool slash, struct slice *out)
{
	p = skip_ws(p, end);
	if (slash) {
		if (p >= end || *p != '/')
			return NULL;
		p = skip_ws(p + 1, end);
	}
	const char *s = p;
	p = scan_token(p, end);
	if (p == s)
		return NULL;
	*out = sl_range(s, p);
	return p;
}

/* received/maddr: a host, an [IPv6] reference, or a bare IPv6 address (RFC 5118 §4.5). */
static bool via_host_ok(struct slice v)
{
	struct slice h;
	bool b6, hp;
	uint16_t port;
	if (v.len && v.p[0] != '[' && memchr(v.p, ':', v.len)) {
		for (size_t i = 0; i < v.len; i++)
			if (!CC(v.p[i], SC_HEX) && v.p[i] != ':' && v.p[i] != '.')
				return false;
		return v.len <= 45;
	}
	return sip_hostport_parse(v.p, v.p + v.len, &h, &b6, &hp, &port) == 0 && !hp;
}

static int via_params(struct sip_via *out)
{
	for (unsigned i = 0; i < out->params.n; i++) {
		const struct sip_param *pa = &out->params.p[i];
		struct slice v = pa->value;
		uint64_t x;
		if (SL_IEQ_LIT(pa->name, "branch")) {
			/* BI-03/BI-05: a bare magic cookie or an empty/huge branch is unusable */
			if (!v.p || v.len == 0 || v.len > SIP_MAX_TOKEN || out->branch.p ||
			    slice_eqlit(v, "z9hG4bK"))
				return EBADMSG;
			out->branch = v;
		} else if (SL_IEQ_LIT(pa->name, "received") || SL_IEQ_LIT(pa->name, "maddr")) {
			if (!v.p || !via_host_ok(v))
				return EBADMSG;
			if (pa->name.len == 5)
				out->maddr = v;
			else
				out->received = v;
		} else if (SL_IEQ_LIT(pa->name, "rport")) {
			out->rport = true;
			if (v.p) {
				if (sip_uint_parse(v, 65535, &x))
					return EBADMSG;
				out->has_rport_value = true;
				out->rport_value = (uint16_t)x;
			}
		} else if (SL_IEQ_LIT(pa->name, "ttl")) {
			if (!v.p || sip_uint_parse(v, 255, &x))
				return EBADMSG;
			out->ttl = (int)x;
		}
	}
	return 0;
}

int sip_via_parse(struct slice v, struct sip_via *out)
{
	const char *p = v.p, *end = v.p + v.len;
	sip_via_clear(out);
	out->ttl = -1;
	if (v.len >= 8 && memcmp(p, "SIP/2.0/", 8) == 0) {
		/* As nearly every Via starts: the slices the general path below makes */
		out->proto = sl(p, 3);
		out->version = sl(p + 4, 3);
		if (!(p = via_part(p + 8, end, false, &out->transport)))
			return EBADMSG;
	} else if (!(p = via_part(p, end, false, &out->proto)) ||
		   !(p = via_part(p, end, true, &out->version)) ||
		   !(p = via_part(p, end, true, &out->transport))) {
		return EBADMSG;
	}
	bool ipv6;
	p = sip_hostport_scan(skip_ws(p, end), end, &out->host, &ipv6, &out->has_port, &out->port);
	if (!p)
		return EBADMSG;
	/* sent-by may carry LWS around ':' (RFC 3261 §25 "COLON", RFC 4475 wsinv) */
	const char *q = skip_ws(p, end);
	if (!out->has_port && q < end && *q == ':') {
		uint64_t x;
		const char *d = q = skip_ws(q + 1, end);
		while (q < end && CC(*q, SC_DIGIT))
			q++;
		if (q - d > 5 || sip_uint_parse(sl_range(d, q), 65535, &x))
			return EBADMSG;
		out->has_port = true;
		out->port = (uint16_t)x;
		p = q;
	}
	if (sip_params_scan(p, end, &out->params, true))
		return EBADMSG;
	return via_params(out);
}

/* ---- name-addr / addr-spec (RFC 3261 §20.10, §25) ---------------------------------------- */

/* Display name before '<': a quoted string or tokens and LWS (RFC 4475 baddn, lwsdisp). */
static const char *addr_display(const char *p, const char *end, struct sip_addr *out)
{
	if (*p == '"') {
		p = sip_scan_quoted(p, end, &out->display);
		if (!p)
			return NULL; /* RFC 4475 quotbal */
		p = skip_ws(p, end);
		return p < end && *p == '<' ? p : NULL;
	}
	const char *s = p;
	p = run_cls(sip_cc, SC_TOKEN | SC_WS, p, end);
	if (p == end || *p != '<')
		return NULL;
	if (p > s)
		out->display = sip_trim(sl_range(s, p));
	return p;
}

/* name-addr when tokens and LWS lead to a '<' (a '<' inside a parameter does not count). */
static bool is_name_addr(const char *p, const char *end)
{
	p = run_cls(sip_cc, SC_TOKEN | SC_WS, p, end);
	return p < end && *p == '<';
}

static bool uri_ok(struct slice u)
{
	struct sip_uri tmp;
	return sip_uri_parse(u, &tmp) == 0;
}

int sip_addr_parse(struct slice v, struct sip_addr *out)
{
	const char *p = v.p, *end = v.p + v.len;
	sip_addr_clear(out);
	p = skip_ws(p, end);
	if (p == end)
		return EBADMSG;
	if (*p == '*') {
		out->star = true;
		p++;
	} else if (*p == '"' || is_name_addr(p, end)) {
		p = addr_display(p, end, out);
		if (!p)
			return EBADMSG;
		const char *gt = sip_find_byte(p, end, '>');
		if (!gt)
			return EBADMSG;
		out->uri = sl_range(p + 1, gt);
		p = gt + 1;
	} else {
		/* addr-spec: the URI ends at ';' and may not hold '?' or ',' (RFC 4475 regbadct) */
		const char *s = p;
		while (p < end && *p != ';' && !CC(*p, SC_WS))
			p++;
		out->uri = sl_range(s, p);
		if (sip_find_byte(s, p, '?') || sip_find_byte(s, p, ','))
			return EBADMSG;
	}
	if (out->display.len > SIP_MAX_TOKEN ||
	    (!out->star && (out->uri.len > SIP_MAX_URI || !uri_ok(out->uri))))
		return EBADMSG;
	if (sip_params_scan(p, end, &out->params, true))
		return EBADMSG;
	for (unsigned i = 0; i < out->params.n; i++) {
		const struct sip_param *pa = &out->params.p[i];
		if (!SL_IEQ_LIT(pa->name, "tag"))
			continue;
		/* BI-04/BI-05: empty, huge or repeated tags are errors */
		if (!pa->value.p || pa->value.len == 0 || pa->value.len > SIP_MAX_TOKEN || out->tag.p)
			return EBADMSG;
		out->tag = pa->value;
	}
	return 0;
}

/* q-value "0", "0.5", "1.000" → 0..1000 (RFC 3261 §25 qvalue). */
static int qvalue_parse(struct slice v, int *q)
{
	if (v.len == 0 || v.len > 5 || (v.p[0] != '0' && v.p[0] != '1'))
		return EBADMSG;
	int x = (v.p[0] - '0') * 1000, scale = 100;
	if (v.len > 1) {
		if (v.p[1] != '.')
			return EBADMSG;
		for (size_t i = 2; i < v.len; i++, scale /= 10) {
			if (!CC(v.p[i], SC_DIGIT))
				return EBADMSG;
			x += (v.p[i] - '0') * scale;
		}
	}
	if (x > 1000)
		return EBADMSG;
	*q = x;
	return 0;
}

int sip_contact_parse(struct slice v, struct sip_contact *out)
{
	uint64_t x;
	out->expires = -1;
	out->q = -1;
	out->reg_id = -1;
	out->instance = sl(NULL, 0);
	if (sip_addr_parse(v, &out->addr))
		return EBADMSG;
	const struct sip_params *ps = &out->addr.params;
	const struct sip_param *pa;
	if ((pa = PARAMS_FIND(ps, "expires"))) {
		/* BI-08: 2^32 and beyond is an error, never truncated */
		if (!pa->value.p || sip_uint_parse(pa->value, UINT32_MAX, &x))
			return EBADMSG;
		out->expires = (int64_t)x;
	}
	if ((pa = PARAMS_FIND(ps, "q")) && (!pa->value.p || qvalue_parse(pa->value, &out->q)))
		return EBADMSG;
	if ((pa = PARAMS_FIND(ps, "reg-id"))) {
		if (!pa->value.p || sip_uint_parse(pa->value, INT32_MAX, &x))
			return EBADMSG;
		out->reg_id = (int)x;
	}
	if ((pa = PARAMS_FIND(ps, "+sip.instance")))
		out->instance = pa->value;
	return 0;
}

int sip_cseq_parse(struct slice v, struct sip_cseq *out)
{
	const char *p = v.p, *end = v.p + v.len;
	uint64_t x;
	p = skip_ws(p, end);
	const char *d = p;
	while (p < end && CC(*p, SC_DIGIT))
		p++;
	/* RFC 3261 §8.1.1.5: less than 2^31 is what we send; up to 2^32-1 is accepted (BI-08) */
	if (p - d > 10 || sip_uint_parse(sl_range(d, p), UINT32_MAX, &x))
		return EBADMSG;
	const char *m = skip_ws(p, end);
	if (m == p)
		return EBADMSG;
	p = scan_token(m, end);
	if (p == m || p - m > SIP_MAX_METHOD || skip_ws(p, end) != end)
		return EBADMSG;
	out->num = (uint32_t)x;
	out->method = sl_range(m, p);
	return 0;
}
