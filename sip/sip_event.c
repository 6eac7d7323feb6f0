/* Event package bodies (RFC 6665 packages): message-summary (RFC 3842) and the few PIDF
 * (RFC 3863) elements a presence server needs, read by careful scanners over slices. */
#include <errno.h>
#include <string.h>

#include "sip.h"

/* ---- message-summary (RFC 3842 §5.2) ---- */

static bool is_ws(char c)
{
	return c == ' ' || c == '\t';
}

static struct slice trim(struct slice s)
{
	while (s.len && is_ws(s.p[0]))
		s.p++, s.len--;
	while (s.len && is_ws(s.p[s.len - 1]))
		s.len--;
	return s;
}

/* One line from *rest: up to CRLF or LF (bare CR is not a line end and fails the caller). */
static struct slice next_line(struct slice *rest)
{
	const char *nl = memchr(rest->p, '\n', rest->len);
	size_t n = nl ? (size_t)(nl - rest->p) : rest->len;
	struct slice line = {rest->p, n};
	if (n && line.p[n - 1] == '\r')
		line.len--;
	rest->p += nl ? n + 1 : n;
	rest->len -= nl ? n + 1 : n;
	return line;
}

/* "3/7" or "3/7 (1/2)": newmsgs SLASH oldmsgs [LPAREN new-urgent SLASH old-urgent RPAREN]. */
static int counts_parse(struct slice v, struct sip_mwi_class *c)
{
	const char *p = v.p, *end = v.p + v.len;
	uint64_t x[4];
	int n = 0;
	bool paren = false;
	while (n < 4) {
		const char *d = p;
		while (p < end && p - d < 11 && *p >= '0' && *p <= '9')
			p++;
		if (sip_uint_parse((struct slice){d, (size_t)(p - d)}, UINT32_MAX, &x[n]) != 0)
			return EBADMSG;
		n++;
		while (p < end && is_ws(*p))
			p++;
		if (n == 1 || n == 3) {
			if (p == end || *p != '/')
				return EBADMSG;
			p++;
		} else if (n == 2) {
			if (p == end)
				break;
			if (*p != '(')
				return EBADMSG;
			paren = true;
			p++;
		} else if (p == end || *p != ')') {
			return EBADMSG;
		} else {
			p++;
		}
		while (p < end && is_ws(*p))
			p++;
	}
	if (p != end || (paren && n != 4))
		return EBADMSG;
	c->new_msgs = (uint32_t)x[0];
	c->old_msgs = (uint32_t)x[1];
	c->has_urgent = n == 4;
	c->new_urgent = n == 4 ? (uint32_t)x[2] : 0;
	c->old_urgent = n == 4 ? (uint32_t)x[3] : 0;
	return 0;
}

static bool token_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '!' || c == '%' || c == '*' || c == '_' || c == '+' ||
	       c == '`' || c == '\'' || c == '~';
}

int sip_mwi_parse(struct slice body, struct sip_mwi *out)
{
	memset(out, 0, sizeof(*out));
	out->waiting = -1;
	if (body.len > SIP_MWI_MAX_BODY || (body.len && !body.p))
		return EBADMSG;
	struct slice rest = body;
	unsigned lines = 0;
	while (rest.len) {
		if (++lines > SIP_MWI_MAX_LINES)
			return EBADMSG;
		struct slice line = next_line(&rest);
		if (memchr(line.p, '\r', line.len) || memchr(line.p, '\0', line.len))
			return EBADMSG;
		if (!line.len)
			break; /* §5.2: what follows the empty line is message headers, opaque here */
		const char *colon = memchr(line.p, ':', line.len);
		if (!colon)
			return EBADMSG;
		struct slice name = trim((struct slice){line.p, (size_t)(colon - line.p)});
		struct slice value = trim((struct slice){colon + 1, line.len - (size_t)(colon - line.p) - 1});
		if (!name.len || name.len > 64)
			return EBADMSG;
		for (size_t i = 0; i < name.len; i++)
			if (!token_char(name.p[i]))
				return EBADMSG;
		if (slice_caseeqlit(name, "Messages-Waiting")) {
			if (out->waiting != -1)
				return EBADMSG;
			if (slice_caseeqlit(value, "yes"))
				out->waiting = 1;
			else if (slice_caseeqlit(value, "no"))
				out->waiting = 0;
			else
				return EBADMSG;
		} else if (slice_caseeqlit(name, "Message-Account")) {
			if (out->account.p || !value.len || value.len > SIP_MAX_URI)
				return EBADMSG;
			out->account = value;
		} else {
			/* a message-context-class (voice-message, fax-message, ...), or an extension
			 * header, which is ignored unless it looks like a class with counts */
			struct sip_mwi_class c = {.name = name};
			if (counts_parse(value, &c) != 0) {
				if (slice_caseeqlit(name, "voice-message") ||
				    slice_caseeqlit(name, "fax-message") ||
				    slice_caseeqlit(name, "pager-message") ||
				    slice_caseeqlit(name, "multimedia-message") ||
				    slice_caseeqlit(name, "text-message") || slice_caseeqlit(name, "none"))
					return EBADMSG;
				continue;
			}
			for (size_t i = 0; i < out->n; i++)
				if (slice_caseeq(out->cls[i].name, name.p, name.len))
					return EBADMSG;
			if (out->n >= SIP_MWI_MAX_CLASSES)
				return EBADMSG;
			out->cls[out->n++] = c;
		}
	}
	return out->waiting == -1 ? EBADMSG : 0;
}

const struct sip_mwi_class *sip_mwi_class(const struct sip_mwi *m, const char *name)
{
	for (size_t i = 0; i < m->n; i++)
		if (slice_caseeq(m->cls[i].name, name, strlen(name)))
			return &m->cls[i];
	return NULL;
}

/* ---- PIDF (RFC 3863): <basic> and <note> ---- */

/* Skips a construct that starts at p ("<?", "<!--", "<![CDATA[", "<!") to past its end.
 * NULL when unterminated. */
static const char *skip_special(const char *p, const char *end)
{
	static const struct {
		const char *open, *close;
	} kinds[] = {{"<?", "?>"}, {"<!--", "-->"}, {"<![CDATA[", "]]>"}, {"<!", ">"}};
	for (size_t k = 0; k < G_N_ELEMENTS(kinds); k++) {
		size_t ol = strlen(kinds[k].open), cl = strlen(kinds[k].close);
		if ((size_t)(end - p) < ol || memcmp(p, kinds[k].open, ol) != 0)
			continue;
		for (const char *q = p + ol; (size_t)(end - q) >= cl; q++)
			if (memcmp(q, kinds[k].close, cl) == 0)
				return q + cl;
		return NULL;
	}
	return NULL;
}

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c == ':' || (unsigned char)c >= 0x80;
}

/* A tag at p ('<'): its local name (prefix dropped), whether it closes (</x>), whether it
 * is empty (<x/>); returns the byte after '>' or NULL when malformed. Attribute values
 * are skipped with their quotes. */
static const char *scan_tag(const char *p, const char *end, struct slice *local, bool *closing,
			    bool *empty)
{
	p++;
	*closing = p < end && *p == '/';
	if (*closing)
		p++;
	const char *n = p;
	while (p < end && name_char(*p))
		p++;
	if (p == n || p - n > 256)
		return NULL;
	const char *colon = memchr(n, ':', (size_t)(p - n));
	*local = colon ? (struct slice){colon + 1, (size_t)(p - colon - 1)}
		       : (struct slice){n, (size_t)(p - n)};
	if (!local->len)
		return NULL;
	*empty = false;
	while (p < end && *p != '>') {
		if (*p == '"' || *p == '\'') {
			const char *q = memchr(p + 1, *p, (size_t)(end - p - 1));
			if (!q)
				return NULL;
			p = q + 1;
			continue;
		}
		if (*p == '<')
			return NULL;
		*empty = *p == '/';
		p++;
	}
	if (p == end || (*closing && *empty))
		return NULL;
	return p + 1;
}

int sip_pidf_scan(struct slice body, struct sip_pidf *out)
{
	memset(out, 0, sizeof(*out));
	out->basic = -1;
	if (!body.p || body.len > SIP_PIDF_MAX_BODY)
		return EBADMSG;
	if (memchr(body.p, '\0', body.len))
		return EBADMSG;
	const char *p = body.p, *end = body.p + body.len;
	unsigned depth = 0, elements = 0;
	bool root_seen = false, root_closed = false;
	/* the element whose text we want: 1 = basic, 2 = note (first of each) */
	int want = 0;
	const char *text = NULL;
	while (p < end) {
		if (*p != '<') {
			if (!depth && !is_ws(*p) && *p != '\r' && *p != '\n')
				return EBADMSG; /* text outside the root */
			p++;
			continue;
		}
		if (end - p >= 2 && (p[1] == '?' || p[1] == '!')) {
			if (end - p >= 9 && memcmp(p, "<![CDATA[", 9) == 0 && want)
				want = 0; /* CDATA in basic/note: not ours to decode; ignore that element */
			if (!(p = skip_special(p, end)))
				return EBADMSG;
			continue;
		}
		struct slice local;
		bool closing, empty;
		const char *tag = p;
		if (!(p = scan_tag(p, end, &local, &closing, &empty)))
			return EBADMSG;
		if (++elements > SIP_PIDF_MAX_ELEMENTS)
			return EBADMSG;
		if (closing) {
			if (!depth)
				return EBADMSG;
			if (want && text) {
				struct slice t = trim((struct slice){text, (size_t)(tag - text)});
				if (want == 1) {
					if (slice_eqlit(t, "open"))
						out->basic = 1;
					else if (slice_eqlit(t, "closed"))
						out->basic = 0;
					else
						return EBADMSG;
				} else {
					out->note = t;
				}
			}
			want = 0;
			text = NULL;
			if (--depth == 0)
				root_closed = true;
			continue;
		}
		if (root_closed)
			return EBADMSG; /* a second root */
		if (!depth) {
			if (!slice_eqlit(local, "presence"))
				return EBADMSG;
			root_seen = true;
			root_closed = empty; /* <presence .../> */
		}
		want = 0;
		text = NULL;
		if (!empty) {
			if (++depth > SIP_PIDF_MAX_DEPTH)
				return EBADMSG;
			if (slice_eqlit(local, "basic") && out->basic == -1)
				want = 1, text = p;
			else if (slice_eqlit(local, "note") && !out->note.p)
				want = 2, text = p;
		}
	}
	if (!root_seen || !root_closed || depth)
		return EBADMSG;
	return 0;
}

int sip_xml_text_decode(struct slice s, GString *out)
{
	static const struct {
		const char *ent;
		char c;
	} ents[] = {{"&lt;", '<'}, {"&gt;", '>'}, {"&amp;", '&'}, {"&quot;", '"'}, {"&apos;", '\''}};
	for (size_t i = 0; i < s.len; i++) {
		if (s.p[i] == '<')
			return EBADMSG;
		if (s.p[i] != '&') {
			g_string_append_c(out, s.p[i]);
			continue;
		}
		size_t k;
		for (k = 0; k < G_N_ELEMENTS(ents); k++) {
			size_t n = strlen(ents[k].ent);
			if (s.len - i >= n && memcmp(s.p + i, ents[k].ent, n) == 0) {
				g_string_append_c(out, ents[k].c);
				i += n - 1;
				break;
			}
		}
		if (k == G_N_ELEMENTS(ents))
			return EBADMSG; /* numeric references and others: not decoded here */
	}
	return 0;
}

void sip_xml_text_escape(const char *s, size_t len, GString *out)
{
	for (size_t i = 0; i < len; i++) {
		switch (s[i]) {
		case '<': g_string_append(out, "&lt;"); break;
		case '>': g_string_append(out, "&gt;"); break;
		case '&': g_string_append(out, "&amp;"); break;
		case '"': g_string_append(out, "&quot;"); break;
		case '\'': g_string_append(out, "&apos;"); break;
		default:
			if ((unsigned char)s[i] >= 0x20 || s[i] == '\t' || s[i] == '\n')
				g_string_append_c(out, s[i]);
		}
	}
}
