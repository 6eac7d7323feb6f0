/* sip: message bodies — the SDP of a plain or multipart (RFC 2046 §5.1) body (BI-12). */
#include <errno.h>

#include "sip-private.h"

/* RFC 2046 §5.1.1 bchars, space allowed but not last (checked by the caller). */
static bool bchar(char c)
{
	return g_ascii_isalnum(c) || (c && strchr("'()+_,-./:=? ", c));
}

/*
 * Splits a Content-Type value into its media type ("type/subtype", trimmed) and, for
 * multipart, its boundary (quotes stripped). 0, or EBADMSG for a bad type or boundary.
 */
static int content_type(struct slice ct, struct slice *type, struct slice *boundary)
{
	const char *p = ct.p, *end = ct.p + ct.len;
	p = skip_ws(p, end);
	const char *s = p;
	while (p < end && *p != ';' && !CC(*p, SC_WS))
		p++;
	*type = sl_range(s, p);
	*boundary = sl(NULL, 0);
	const char *slash = sip_find_byte(s, p, '/');
	if (!slash || slash == s || slash + 1 == p || scan_token(s, slash) != slash ||
	    scan_token(slash + 1, p) != p)
		return EBADMSG;
	if (!(type->len > 10 && mem_ieq(type->p, "multipart/", 10)))
		return 0;
	struct sip_params ps = {.n = 0};
	if (sip_params_scan(p, end, &ps, true))
		return EBADMSG;
	const struct sip_param *b = PARAMS_FIND(&ps, "boundary");
	/* RFC 2046 §5.1.1: 1..70 bchars, not ending in a space */
	if (!b || !b->value.p || b->value.len == 0 || b->value.len > SIP_MAX_BOUNDARY ||
	    b->value.p[b->value.len - 1] == ' ')
		return EBADMSG;
	for (size_t i = 0; i < b->value.len; i++)
		if (!bchar(b->value.p[i]))
			return EBADMSG;
	*boundary = b->value;
	return 0;
}

/* Next line in [p, end): its end (before CRLF or LF) in *eol; returns the next line's start. */
static const char *next_line(const char *p, const char *end, const char **eol)
{
	const char *nl = sip_find_byte(p, end, '\n');
	if (!nl) {
		*eol = end;
		return end;
	}
	*eol = nl > p && nl[-1] == '\r' ? nl - 1 : nl;
	return nl + 1;
}

/*
 * Finds the next delimiter line ("--" boundary at a line start, §5.1.1) at or after p. On
 * success *part_end is where the preceding part ends (before the CRLF that belongs to the
 * delimiter), *close tells "--boundary--", and the return is the start of the next line.
 * NULL when there is none.
 */
static const char *find_delim(const char *body, const char *p, const char *end,
			      struct slice bnd, const char **part_end, bool *close)
{
	while (p < end) {
		const char *eol, *next = next_line(p, end, &eol);
		if ((size_t)(eol - p) >= bnd.len + 2 && p[0] == '-' && p[1] == '-' &&
		    memcmp(p + 2, bnd.p, bnd.len) == 0) {
			const char *q = p + 2 + bnd.len;
			*close = eol - q >= 2 && q[0] == '-' && q[1] == '-';
			if (*close)
				q += 2;
			while (q < eol && (*q == ' ' || *q == '\t')) /* transport padding */
				q++;
			if (q == eol) {
				/* The CRLF before a delimiter belongs to it, not to the part. */
				const char *pe = p;
				if (pe > body && pe[-1] == '\n')
					pe--;
				if (pe > body && pe[-1] == '\r')
					pe--;
				*part_end = pe;
				return next;
			}
		}
		p = next;
	}
	return NULL;
}

/*
 * One body part: its headers (RFC 2045; no folding) up to an empty line, then its content.
 * A part with no header block at all is malformed (BI-12 zero-length part). The media type
 * defaults to text/plain (RFC 2046 §5.1).
 */
static int part_parse(struct slice part, struct slice *ct, struct slice *content)
{
	const char *p = part.p, *end = part.p + part.len;
	*ct = sl(NULL, 0);
	while (p < end) {
		const char *eol, *next = next_line(p, end, &eol);
		if (eol == p) {
			*content = sl_range(next, end);
			return 0;
		}
		const char *colon = sip_find_byte(p, eol, ':');
		if (!colon || colon == p || scan_token(p, colon) != colon)
			return EBADMSG;
		if (colon - p == 12 && mem_ieq(p, "Content-Type", 12)) {
			if (ct->p)
				return EBADMSG;
			*ct = sip_trim(sl_range(colon + 1, eol));
		}
		if (next == end && eol == end)
			break; /* headers never ended */
		p = next;
	}
	return EBADMSG;
}

static int multipart_sdp(struct slice body, struct slice bnd, int depth, unsigned *parts,
			 struct slice *out)
{
	const char *end = body.p + body.len, *pe;
	bool close = false;
	/* Anything before the first delimiter is preamble, ignored (§5.1.1). */
	const char *p = find_delim(body.p, body.p, end, bnd, &pe, &close);
	if (!p || close)
		return EBADMSG;
	while (!close) {
		const char *start = p;
		p = find_delim(body.p, start, end, bnd, &pe, &close);
		if (!p)
			return EBADMSG; /* no closing boundary (BI-12) */
		if (++*parts > SIP_MAX_PARTS)
			return EBADMSG;
		struct slice ct, content, type, nb;
		if (part_parse(sl_range(start, pe > start ? pe : start), &ct, &content))
			return EBADMSG;
		if (!ct.p)
			continue;
		if (content_type(ct, &type, &nb))
			return EBADMSG;
		if (nb.p) {
			if (depth >= 1)
				return EBADMSG; /* multipart inside multipart inside multipart */
			int err = multipart_sdp(content, nb, depth + 1, parts, out);
			if (err)
				return err;
		} else if (!out->p && slice_caseeqlit(type, "application/sdp") && content.len) {
			*out = content;
		}
	}
	/* Whatever follows the close delimiter is epilogue, ignored. */
	return 0;
}

int sip_body_sdp(const struct sip_msg *m, struct slice *out)
{
	*out = sl(NULL, 0);
	if (!m->body.len)
		return ENOENT;
	/* No Content-Type with a body: SDP is all we accept (RFC 3261 §20.15 asks for one) */
	if (!m->content_type.len) {
		*out = m->body;
		return 0;
	}
	struct slice type, bnd;
	if (content_type(m->content_type, &type, &bnd))
		return EBADMSG;
	if (!bnd.p) {
		if (!slice_caseeqlit(type, "application/sdp"))
			return ENOENT;
		*out = m->body;
		return 0;
	}
	unsigned parts = 0;
	struct slice sdp = sl(NULL, 0);
	int err = multipart_sdp(m->body, bnd, 0, &parts, &sdp);
	if (err)
		return err;
	if (!sdp.p)
		return ENOENT;
	*out = sdp;
	return 0;
}
