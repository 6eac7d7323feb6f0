/* sip: message framing and parsing (RFC 3261 §7, §18.3, §25): start line, header index, checks. */
#include <errno.h>

#include "sip-private.h"

/* Parse state shared by the helpers of one sip_msg_parse() call. */
struct pctx {
	struct sip_msg *m;
	int status;
	const char *reason;
	uint8_t last[SIP_HDR_COUNT];
};

static int fail(struct pctx *c, int status, const char *reason)
{
	c->status = status;
	c->reason = reason;
	return EBADMSG;
}

/* Headers whose values are comma-separated lists (RFC 3261 §7.3.1). */
static const bool is_list[SIP_HDR_COUNT] = {
	[SIP_HDR_ACCEPT] = true,        [SIP_HDR_ACCEPT_ENCODING] = true,
	[SIP_HDR_ACCEPT_LANGUAGE] = true, [SIP_HDR_ALLOW] = true,
	[SIP_HDR_ALLOW_EVENTS] = true,  [SIP_HDR_CONTACT] = true,
	[SIP_HDR_CONTENT_ENCODING] = true, [SIP_HDR_PROXY_REQUIRE] = true,
	[SIP_HDR_RECORD_ROUTE] = true,  [SIP_HDR_REQUIRE] = true,
	[SIP_HDR_ROUTE] = true,         [SIP_HDR_SUPPORTED] = true,
	[SIP_HDR_UNSUPPORTED] = true,   [SIP_HDR_VIA] = true,
};

/* Characters that matter while splitting a list: quotes, escapes, angle brackets, commas. */
static const bool is_split_char[256] = {
	['"'] = true, ['\\'] = true, ['<'] = true, ['>'] = true, [','] = true,
};

enum sip_method sip_method_lookup(struct slice m)
{
#define M(n, id) {n, sizeof(n) - 1, id}
	static const struct {
		const char *name;
		size_t len;
		enum sip_method id;
	} t[] = {
		M("INVITE", SIP_METHOD_INVITE),     M("ACK", SIP_METHOD_ACK),
		M("BYE", SIP_METHOD_BYE),           M("CANCEL", SIP_METHOD_CANCEL),
		M("REGISTER", SIP_METHOD_REGISTER), M("OPTIONS", SIP_METHOD_OPTIONS),
		M("PRACK", SIP_METHOD_PRACK),       M("SUBSCRIBE", SIP_METHOD_SUBSCRIBE),
		M("NOTIFY", SIP_METHOD_NOTIFY),     M("PUBLISH", SIP_METHOD_PUBLISH),
		M("INFO", SIP_METHOD_INFO),         M("REFER", SIP_METHOD_REFER),
		M("MESSAGE", SIP_METHOD_MESSAGE),   M("UPDATE", SIP_METHOD_UPDATE),
	};
#undef M
	for (unsigned i = 0; i < G_N_ELEMENTS(t); i++)
		if (m.len == t[i].len && t[i].name[0] == m.p[0] && memcmp(m.p, t[i].name, m.len) == 0)
			return t[i].id;
	return SIP_METHOD_OTHER;
}

/* ---- start line ----------------------------------------------------------------------------- */

/* "SIP/" 1*DIGIT "." 1*DIGIT */
static bool version_syntax(struct slice v)
{
	if (v.len < 7 || memcmp(v.p, "SIP/", 4) != 0)
		return false;
	size_t i = 4, d = 0;
	for (; i < v.len && CC(v.p[i], SC_DIGIT); i++)
		d++;
	if (!d || i >= v.len || v.p[i] != '.')
		return false;
	for (d = 0, i++; i < v.len && CC(v.p[i], SC_DIGIT); i++)
		d++;
	return d && i == v.len;
}

static int parse_status_line(struct pctx *c, const char *p, const char *end)
{
	struct sip_msg *m = c->m;
	/* Malformed responses are dropped: status 0 (RFC 4475 bigcode, BI-14). */
	if (end - p < 11 || memcmp(p, "SIP/2.0 ", 8) != 0)
		return fail(c, 0, "bad status line");
	p += 8;
	if (!CC(p[0], SC_DIGIT) || !CC(p[1], SC_DIGIT) || !CC(p[2], SC_DIGIT) ||
	    (end - p > 3 && p[3] != ' '))
		return fail(c, 0, "bad status code");
	m->status = (uint16_t)((p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0'));
	if (m->status < 100 || m->status > 699)
		return fail(c, 0, "status code out of range");
	p += end - p > 3 ? 4 : 3;
	if (memchr(p, '\0', (size_t)(end - p)) || memchr(p, '\r', (size_t)(end - p)))
		return fail(c, 0, "bad reason phrase");
	m->reason = sl_range(p, end);
	return 0;
}

static int parse_request_line(struct pctx *c, const char *p, const char *end)
{
	struct sip_msg *m = c->m;
	const char *s = p;
	p = scan_token(p, end);
	if (p == s || p - s > SIP_MAX_METHOD || p == end || *p != ' ')
		return fail(c, 400, "bad request line");
	m->method = sl_range(s, p);
	m->method_id = (uint8_t)sip_method_lookup(m->method);
	s = ++p;
	const char *sp = memchr(p, ' ', (size_t)(end - p));
	if (!sp || sp == s)
		return fail(c, 400, "bad request line");
	m->ruri = sl_range(s, sp);
	struct slice ver = sl_range(sp + 1, end);
	if (!slice_eqlit(ver, "SIP/2.0"))
		return version_syntax(ver) ? fail(c, 505, "SIP version not supported")
					   : fail(c, 400, "bad request line");
	if (m->ruri.len > SIP_MAX_RURI)
		return fail(c, 414, "Request-URI too long");
	if (sip_uri_parse(m->ruri, &m->ruri_parsed))
		return fail(c, 400, "bad Request-URI");
	if (m->ruri_parsed.scheme == SIP_SCHEME_OTHER)
		return fail(c, 416, "unsupported URI scheme");
	/* Headers inside a Request-URI are not allowed (RFC 3261 §19.1.5, RFC 4475 escruri) */
	if (m->ruri_parsed.headers.n)
		return fail(c, 400, "bad Request-URI");
	return 0;
}

static int parse_start_line(struct pctx *c, const char *p, const char *end)
{
	if (end > p && end[-1] == '\r')
		end--;
	c->m->request = !(end - p >= 4 && memcmp(p, "SIP/", 4) == 0);
	return c->m->request ? parse_request_line(c, p, end) : parse_status_line(c, p, end);
}

static inline const char *find_nl(const char *p, const char *end)
{
	return sip_find_byte(p, end, '\n');
}

/*
 * find_nl for a header line that also notes its first ':' before the '\n' in *colon (NULL
 * when there is none): one pass over the line instead of a second search for the colon,
 * which on short lines ("Max-Forwards: 70") went bytewise.
 */
static inline const char *find_nl_colon(const char *p, const char *end, const char **colon)
{
	const char *col = NULL;
#ifdef __SSE2__
	const __m128i nl = _mm_set1_epi8('\n'), cl = _mm_set1_epi8(':');
	for (; end - p >= 16; p += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
		unsigned nm = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, nl));
		unsigned cm = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, cl));
		if (!col && cm)
			col = p + __builtin_ctz(cm);
		if (nm) {
			p += __builtin_ctz(nm);
			*colon = col && col < p ? col : NULL;
			return p;
		}
	}
#endif
	for (; p < end; p++) {
		if (*p == '\n') {
			*colon = col;
			return p;
		}
		if (*p == ':' && !col)
			col = p;
	}
	*colon = NULL;
	return NULL;
}

/* ---- header lines ------------------------------------------------------------------------- */

static inline int hdr_add(struct pctx *c, enum sip_hdr_id id, struct slice name, struct slice v)
{
	struct sip_msg *m = c->m;
	if (m->nhdr >= SIP_MAX_HEADERS)
		return fail(c, 513, "too many headers");
	if (id != SIP_HDR_OTHER &&
	    m->count[id] >= (id == SIP_HDR_VIA ? SIP_MAX_VIA : SIP_MAX_SAME_HEADER))
		return fail(c, 513, "too many headers of one kind");
	uint8_t i = m->nhdr++;
	m->hdr[i] = (struct sip_hdr){name, v, (uint8_t)id, SIP_HDR_NONE};
	if (m->count[id]++ == 0)
		m->first[id] = i;
	else
		m->hdr[c->last[id]].next = i;
	c->last[id] = i;
	return 0;
}

/* Splits a list value at commas outside quotes and <> (RFC 3261 §7.3.1). */
static int hdr_add_list(struct pctx *c, enum sip_hdr_id id, struct slice name, struct slice v)
{
	const char *p = v.p, *end = v.p + v.len, *s = p;
	bool quoted = false;
	int angle = 0;
	/* Most values are one element: no comma, nothing to split (decoders check quotes). */
	const char *comma = sip_find_byte(p, end, ',');
	if (!comma)
		return hdr_add(c, id, name, v);
	/* Token lists (Allow, Supported, ...) have no quotes or <>: every comma splits. Outside
	 * quotes a backslash and a lone '>' change nothing, so only '"' and '<' need the loop. */
	if (!sip_find_byte(p, end, '"') && !sip_find_byte(p, end, '<')) {
		for (; comma; s = comma + 1, comma = sip_find_byte(s, end, ',')) {
			struct slice e = sip_trim(sl_range(s, comma));
			if (e.len == 0)
				return fail(c, 400, "empty list element");
			if (hdr_add(c, id, name, e))
				return EBADMSG;
		}
		struct slice e = sip_trim(sl_range(s, end));
		if (e.len == 0)
			return fail(c, 400, "empty list element");
		return hdr_add(c, id, name, e);
	}
	for (; p < end; p++) {
		if (!quoted && !is_split_char[(unsigned char)*p])
			continue;
		if (quoted) {
			if (*p == '\\' && p + 1 < end)
				p++;
			else if (*p == '"')
				quoted = false;
			continue;
		}
		if (*p == '"') {
			quoted = true;
		} else if (*p == '<') {
			angle++;
		} else if (*p == '>' && angle > 0) {
			angle--;
		} else if (*p == ',' && !angle) {
			struct slice e = sip_trim(sl_range(s, p));
			if (e.len == 0)
				return fail(c, 400, "empty list element");
			if (hdr_add(c, id, name, e))
				return EBADMSG;
			s = p + 1;
		}
	}
	if (quoted)
		return fail(c, 400, "unterminated quoted string");
	struct slice e = sip_trim(sl_range(s, end));
	if (e.len == 0 && s != v.p)
		return fail(c, 400, "empty list element");
	return hdr_add(c, id, name, e);
}

/* colon: the first ':' of the line's first segment when find_nl_colon saw one, else NULL */
static int parse_header_line(struct pctx *c, const char *p, const char *end, const char *colon)
{
	if (end > p && end[-1] == '\r')
		end--;
	/*
	 * name *(SP/HT) ':' (BI-06: "Via :" and "Via\t:" name the same header as "Via:").
	 * The first ':' ends the name; a known name is letters and '-' only, so only an unknown
	 * one needs its token check (same verdict as scanning the token first, fewer branches).
	 */
	if (!colon) /* none before the first line end: a fold may still hold it */
		colon = sip_find_byte(p, end, ':');
	if (!colon)
		return fail(c, 400, "bad header line");
	const char *ne = colon;
	while (ne > p && (ne[-1] == ' ' || ne[-1] == '\t'))
		ne--;
	if (ne == p)
		return fail(c, 400, "bad header line");
	struct slice name = sl_range(p, ne);
	enum sip_hdr_id id = name.len == 1 ? sip_hdr_lookup(name) : hdr_lookup_full(name);
	if (id == SIP_HDR_OTHER && scan_token(p, ne) != ne)
		return fail(c, 400, "bad header line");
	struct slice v = sip_trim(sl_range(colon + 1, end));
	return is_list[id] ? hdr_add_list(c, id, name, v) : hdr_add(c, id, name, v);
}

/* Out of bytes before the headers ended. */
static int need_more(struct pctx *c, size_t have, enum sip_mode mode)
{
	if (have >= SIP_MAX_MSG)
		return fail(c, 513, "message too large");
	if (mode == SIP_MODE_STREAM)
		return EAGAIN;
	return fail(c, 400, "message truncated");
}

/*
 * Indexes every header line; returns 0 with *hdr_end just past the empty line. One pass:
 * memchr finds each line end, a line starting with SP/HT continues the previous one.
 */
static int scan_headers(struct pctx *c, const char *buf, const char *p, const char *end,
			enum sip_mode mode, const char **hdr_end)
{
	const char *limit = end - buf > SIP_MAX_MSG ? buf + SIP_MAX_MSG : end;
	for (;;) {
		if (p >= limit)
			return need_more(c, (size_t)(p - buf), mode);
		if (*p == '\n' || (*p == '\r' && p + 1 < limit && p[1] == '\n')) {
			*hdr_end = p + (*p == '\r' ? 2 : 1);
			return 0;
		}
		if (*p == '\r' && p + 1 >= limit)
			return need_more(c, (size_t)(limit - buf), mode);
		const char *colon;
		const char *eol = find_nl_colon(p, limit, &colon);
		while (eol && eol + 1 < limit && (eol[1] == ' ' || eol[1] == '\t'))
			eol = find_nl(eol + 1, limit);
		/* Without the next byte a fold cannot be told from a new line. */
		if (!eol || eol + 1 >= limit)
			return need_more(c, (size_t)(limit - buf), mode);
		if (parse_header_line(c, p, eol, colon))
			return EBADMSG;
		p = eol + 1;
	}
}

/* ---- checks on the decoded headers ---------------------------------------------------------- */

static const struct sip_hdr *first(const struct sip_msg *m, enum sip_hdr_id id)
{
	return m->count[id] ? &m->hdr[m->first[id]] : NULL;
}

static int check_single(struct pctx *c)
{
	static const struct {
		enum sip_hdr_id id;
		const char *reason;
	} single[] = {
		{SIP_HDR_FROM, "duplicate From header"},
		{SIP_HDR_TO, "duplicate To header"},
		{SIP_HDR_CALL_ID, "duplicate Call-ID header"},
		{SIP_HDR_CSEQ, "duplicate CSeq header"},
		{SIP_HDR_MAX_FORWARDS, "duplicate Max-Forwards header"},
		{SIP_HDR_CONTENT_TYPE, "duplicate Content-Type header"},
	};
	for (unsigned i = 0; i < G_N_ELEMENTS(single); i++)
		if (c->m->count[single[i].id] > 1) /* BI-04, RFC 4475 multi01 */
			return fail(c, 400, single[i].reason);
	return 0;
}

static int decode_lengths(struct pctx *c)
{
	struct sip_msg *m = c->m;
	const struct sip_hdr *h;
	uint64_t x;
	for (h = first(m, SIP_HDR_CONTENT_LENGTH); h; h = sip_msg_hdr_next(m, h)) {
		/* BI-07: "-1", 2^32+32, 20 digits, text: never truncated to 32 bits */
		if (sip_uint_parse(h->value, UINT32_MAX, &x))
			return fail(c, 400, "Content-Length invalid");
		if (m->has_content_length && x != m->content_length)
			return fail(c, 400, "Content-Length values differ");
		m->has_content_length = true;
		m->content_length = (uint32_t)x;
	}
	if (m->content_length > SIP_MAX_BODY)
		return fail(c, 413, "Content-Length too large");
	if ((h = first(m, SIP_HDR_MAX_FORWARDS))) {
		if (sip_uint_parse(h->value, 255, &x))
			return fail(c, 400, "bad Max-Forwards header");
		m->max_forwards = (int)x;
	}
	if ((h = first(m, SIP_HDR_EXPIRES))) {
		if (sip_uint_parse(h->value, UINT32_MAX, &x))
			return fail(c, 400, "bad Expires header");
		m->expires = (int64_t)x;
	}
	return 0;
}

/* No SP, controls or DEL in a Call-ID (RFC 3261 §25 word); 16 bytes a step with SSE2. */
static bool callid_chars_ok(struct slice v)
{
	size_t i = 0;
#ifdef __SSE2__
	const __m128i sp = _mm_set1_epi8(' '), del = _mm_set1_epi8(0x7f);
	for (; v.len - i >= 16; i += 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(v.p + i));
		__m128i bad = _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(x, sp), x), /* x <= ' ' */
					   _mm_cmpeq_epi8(x, del));
		if (_mm_movemask_epi8(bad))
			return false;
	}
#endif
	for (; i < v.len; i++)
		if ((unsigned char)v.p[i] <= ' ' || v.p[i] == 0x7f)
			return false;
	return true;
}

static int decode_ids(struct pctx *c)
{
	struct sip_msg *m = c->m;
	const struct sip_hdr *h;
	if ((h = first(m, SIP_HDR_VIA)) && sip_via_parse(h->value, &m->via))
		return fail(c, 400, "bad Via header");
	for (h = h ? sip_msg_hdr_next(m, h) : NULL; h; h = sip_msg_hdr_next(m, h)) {
		struct sip_via tmp;
		if (sip_via_parse(h->value, &tmp))
			return fail(c, 400, "bad Via header");
	}
	if ((h = first(m, SIP_HDR_FROM)) && (sip_addr_parse(h->value, &m->from) || m->from.star))
		return fail(c, 400, "bad From header");
	if ((h = first(m, SIP_HDR_TO)) && (sip_addr_parse(h->value, &m->to) || m->to.star))
		return fail(c, 400, "bad To header");
	if ((h = first(m, SIP_HDR_CALL_ID))) {
		m->call_id = h->value;
		if (m->call_id.len == 0 || m->call_id.len > SIP_MAX_CALL_ID)
			return fail(c, 400, "bad Call-ID header");
		if (!callid_chars_ok(m->call_id))
			return fail(c, 400, "bad Call-ID header");
	}
	if ((h = first(m, SIP_HDR_CSEQ)) && sip_cseq_parse(h->value, &m->cseq))
		return fail(c, 400, "bad CSeq header");
	if ((h = first(m, SIP_HDR_CONTENT_TYPE)))
		m->content_type = h->value;
	return 0;
}

static int decode_addrs(struct pctx *c)
{
	struct sip_msg *m = c->m;
	const struct sip_hdr *h;
	bool star = false;
	for (h = first(m, SIP_HDR_CONTACT); h; h = sip_msg_hdr_next(m, h)) {
		struct sip_contact ct;
		if (sip_contact_parse(h->value, &ct))
			return fail(c, 400, "bad Contact header");
		star |= ct.addr.star;
	}
	/* BI-11: "*" only in REGISTER, and then alone (RFC 3261 §10.2.2) */
	if (star && m->request && (m->method_id != SIP_METHOD_REGISTER || m->count[SIP_HDR_CONTACT] > 1))
		return fail(c, 400, "bad Contact header");
	static const enum sip_hdr_id routes[] = {SIP_HDR_ROUTE, SIP_HDR_RECORD_ROUTE};
	for (unsigned i = 0; i < G_N_ELEMENTS(routes); i++) {
		for (h = first(m, routes[i]); h; h = sip_msg_hdr_next(m, h)) {
			struct sip_addr a;
			if (sip_addr_parse(h->value, &a) || a.star)
				return fail(c, 400, routes[i] == SIP_HDR_ROUTE ? "bad Route header"
									: "bad Record-Route header");
		}
	}
	return 0;
}

/* BI-13: credentials and challenges are checked here so a crafted one is a 400 up front. */
static int decode_auth(struct pctx *c)
{
	static const struct {
		enum sip_hdr_id id;
		const char *reason;
	} auth[] = {
		{SIP_HDR_AUTHORIZATION, "bad Authorization header"},
		{SIP_HDR_PROXY_AUTHORIZATION, "bad Proxy-Authorization header"},
		{SIP_HDR_WWW_AUTHENTICATE, "bad WWW-Authenticate header"},
		{SIP_HDR_PROXY_AUTHENTICATE, "bad Proxy-Authenticate header"},
	};
	for (unsigned i = 0; i < G_N_ELEMENTS(auth); i++) {
		for (const struct sip_hdr *h = first(c->m, auth[i].id); h;
		     h = sip_msg_hdr_next(c->m, h)) {
			struct sip_auth a;
			if (sip_auth_parse(h->value, &a))
				return fail(c, 400, auth[i].reason);
		}
	}
	return 0;
}

static int check_request(struct pctx *c)
{
	struct sip_msg *m = c->m;
	static const struct {
		enum sip_hdr_id id;
		const char *reason;
	} need[] = {
		{SIP_HDR_VIA, "missing Via header"},     {SIP_HDR_FROM, "missing From header"},
		{SIP_HDR_TO, "missing To header"},       {SIP_HDR_CALL_ID, "missing Call-ID header"},
		{SIP_HDR_CSEQ, "missing CSeq header"},
	};
	for (unsigned i = 0; i < G_N_ELEMENTS(need); i++)
		if (!m->count[need[i].id])
			return fail(c, 400, need[i].reason);
	if (!m->request)
		return 0;
	/* RFC 3261 §8.2: the CSeq method matches the request method (RFC 4475 mismatch01/02) */
	if (!slice_eq(m->cseq.method, m->method.p, m->method.len))
		return fail(c, 400, "CSeq method mismatch");
	/* BI-11: a dialog needs a remote target (RFC 3261 §8.1.1.8) */
	if ((m->method_id == SIP_METHOD_INVITE || m->method_id == SIP_METHOD_SUBSCRIBE) &&
	    !m->count[SIP_HDR_CONTACT])
		return fail(c, 400, "missing Contact header");
	return 0;
}

/* Frames the body: datagram (BI-07 clerr, BI-17 dblreq) or stream (Content-Length). */
static int frame_body(struct pctx *c, const char *buf, const char *hdr_end, const char *end,
		      enum sip_mode mode)
{
	struct sip_msg *m = c->m;
	size_t avail = (size_t)(end - hdr_end), hl = (size_t)(hdr_end - buf);
	size_t blen = m->has_content_length ? m->content_length : avail;
	if (!m->has_content_length && mode == SIP_MODE_STREAM)
		return fail(c, 400, "Content-Length missing"); /* RFC 3261 §18.3 */
	if (hl + blen > SIP_MAX_MSG)
		return fail(c, 513, "message too large");
	if (blen > avail) {
		if (mode == SIP_MODE_STREAM)
			return EAGAIN;
		return fail(c, 400, "Content-Length larger than datagram");
	}
	m->body = sl(hdr_end, blen);
	m->size = hl + blen;
	return 0;
}

static void msg_init(struct sip_msg *m)
{
	m->request = false;
	m->method_id = SIP_METHOD_OTHER;
	m->status = 0;
	/* One slice a statement (see sip_uri_clear: chained ones stall on store forwarding). */
	m->method = sl(NULL, 0);
	m->ruri = sl(NULL, 0);
	m->reason = sl(NULL, 0);
	m->body = sl(NULL, 0);
	m->call_id = sl(NULL, 0);
	m->content_type = sl(NULL, 0);
	sip_uri_clear(&m->ruri_parsed);
	m->size = 0;
	m->nhdr = 0;
	memset(m->first, SIP_HDR_NONE, sizeof(m->first));
	memset(m->count, 0, sizeof(m->count));
	/* The parameter arrays are filled up to their counts; zero the rest only. */
	sip_via_clear(&m->via);
	sip_addr_clear(&m->from);
	sip_addr_clear(&m->to);
	memset(&m->cseq, 0, sizeof(m->cseq));
	m->max_forwards = -1;
	m->has_content_length = false;
	m->content_length = 0;
	m->expires = -1;
}

static int parse(struct pctx *c, const char *buf, size_t len, enum sip_mode mode)
{
	const char *p = buf, *end = buf + len, *hdr_end;
	/* RFC 3261 §7.5: CRLFs before a start line are ignored (keep-alives). */
	while (p < end && (*p == '\r' || *p == '\n'))
		p++;
	if (p == end)
		return mode == SIP_MODE_STREAM ? EAGAIN : fail(c, 0, "empty message");
	/* Known before anything else: errors in a response are never answered. */
	c->m->request = !(end - p >= 4 && memcmp(p, "SIP/", 4) == 0);
	const char *limit = end - buf > SIP_MAX_MSG ? buf + SIP_MAX_MSG : end;
	const char *eol = find_nl(p, limit);
	if (!eol)
		return need_more(c, (size_t)(limit - buf), mode);
	int err = scan_headers(c, buf, eol + 1, end, mode, &hdr_end);
	if (err)
		return err;
	if (parse_start_line(c, p, eol) || check_single(c) || decode_lengths(c) ||
	    decode_ids(c) || decode_addrs(c) || decode_auth(c) || check_request(c))
		return EBADMSG;
	return frame_body(c, buf, hdr_end, end, mode);
}

int sip_msg_parse(const char *buf, size_t len, enum sip_mode mode, struct sip_msg *msg,
		  int *status, const char **reason)
{
	struct pctx c = {.m = msg};
	msg_init(msg);
	int err = buf || !len ? parse(&c, buf ? buf : "", len, mode) : EINVAL;
	if (err == EBADMSG && !msg->request)
		c.status = 0; /* responses are dropped, never answered */
	if (status)
		*status = err == EBADMSG ? c.status : 0;
	if (reason)
		*reason = err == EBADMSG ? c.reason : NULL;
	return err;
}

/* ---- accessors ------------------------------------------------------------------------------ */

const struct sip_hdr *sip_msg_hdr(const struct sip_msg *m, enum sip_hdr_id id)
{
	return id < SIP_HDR_COUNT ? first(m, id) : NULL;
}

const struct sip_hdr *sip_msg_hdr_next(const struct sip_msg *m, const struct sip_hdr *h)
{
	return h->next == SIP_HDR_NONE ? NULL : &m->hdr[h->next];
}

const struct sip_hdr *sip_msg_hdr_find(const struct sip_msg *m, const char *name)
{
	struct slice n = sl(name, strlen(name));
	enum sip_hdr_id id = sip_hdr_lookup(n);
	if (id != SIP_HDR_OTHER)
		return first(m, id);
	for (unsigned i = 0; i < m->nhdr; i++)
		if (m->hdr[i].id == SIP_HDR_OTHER && sl_ieq_sl(m->hdr[i].name, n))
			return &m->hdr[i];
	return NULL;
}

bool sip_msg_has_token(const struct sip_msg *m, enum sip_hdr_id id, const char *tok)
{
	for (const struct sip_hdr *h = sip_msg_hdr(m, id); h; h = sip_msg_hdr_next(m, h))
		if (sl_ieq(h->value, tok))
			return true;
	return false;
}

int sip_msg_via(const struct sip_msg *m, unsigned i, struct sip_via *out)
{
	const struct sip_hdr *h = sip_msg_hdr(m, SIP_HDR_VIA);
	for (; h && i; i--)
		h = sip_msg_hdr_next(m, h);
	if (!h)
		return ENOENT;
	return sip_via_parse(h->value, out);
}
