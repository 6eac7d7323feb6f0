/* sip: URI parsing (sip:, sips:, tel:, any other absoluteURI) and RFC 3261 §19.1.4 comparison. */
#include <errno.h>

#include "sip-private.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Every byte in [a, b) is in cls or starts a complete "%HH" (BI-02: "%", "%4", "%G1"). */
static bool chars_ok(const char *a, const char *b, unsigned cls, const char *extra)
{
	for (const char *p = a; p < b; p++) {
		if (*p == '%') {
			if (b - p < 3 || hexval(p[1]) < 0 || hexval(p[2]) < 0)
				return false;
			p += 2;
			continue;
		}
		if (!CC(*p, cls) && !(extra && *p && strchr(extra, *p)))
			return false;
	}
	return true;
}

static bool esc_eq(struct slice a, struct slice b, bool icase);

/* ;name[=value] ... up to '?' or end, RFC 3261 uri-parameters. Returns past them or NULL. */
/* Advances over characters of cls and complete escapes; NULL on a broken escape. */
static const char *scan_chars(const char *p, const char *end, unsigned cls)
{
	while (p < end) {
		p = run_cls(sip_cc, cls, p, end);
		if (p == end)
			break;
		if (*p == '%') {
			if (end - p < 3 || hexval(p[1]) < 0 || hexval(p[2]) < 0)
				return NULL;
			p += 3;
		} else {
			break;
		}
	}
	return p;
}

static const char *scan_uri_params(const char *p, const char *end, struct sip_params *ps)
{
	unsigned escaped = 0; /* bit i: name i holds a '%' (only those need esc_eq) */
	while (p < end && *p == ';') {
		const char *n = ++p;
		p = scan_chars(p, end, SC_PARAM);
		if (!p || p == n || ps->n >= SIP_MAX_PARAMS ||
		    (p < end && *p != '=' && *p != ';' && *p != '?'))
			return NULL;
		/* RFC 3261 §19.1.1: a parameter name appears at most once ("lr" and "%6Cr" are
		 * the same name, as sip_uri_equal sees it) */
		struct slice name = sl_range(n, p);
		bool esc = sip_find_byte(n, p, '%') != NULL;
		for (unsigned i = 0; i < ps->n; i++) {
			bool slow = esc || (escaped >> i & 1u); /* without '%' esc_eq is this compare */
			if (slow ? esc_eq(ps->p[i].name, name, true) : sl_ieq_sl(ps->p[i].name, name))
				return NULL;
		}
		escaped |= (unsigned)esc << ps->n;
		struct sip_param *pa = &ps->p[ps->n++];
		pa->name = name;
		pa->value = sl(NULL, 0);
		if (p < end && *p == '=') {
			const char *v = ++p;
			p = scan_chars(p, end, SC_PARAM);
			if (!p || p == v || (p < end && *p != ';' && *p != '?'))
				return NULL;
			pa->value = sl_range(v, p);
		}
	}
	return p;
}

/* ?hname=hvalue&... to the end. */
static int scan_uri_headers(const char *p, const char *end, struct sip_params *hs)
{
	do {
		const char *n = ++p;
		while (p < end && *p != '=' && *p != '&')
			p++;
		if (p == n || p == end || *p != '=' || hs->n >= SIP_MAX_PARAMS ||
		    !chars_ok(n, p, SC_HNV, NULL))
			return EBADMSG;
		const char *v = ++p;
		while (p < end && *p != '&')
			p++;
		if (!chars_ok(v, p, SC_HNV, NULL))
			return EBADMSG;
		hs->p[hs->n].name = sl_range(n, v - 1);
		hs->p[hs->n++].value = sl_range(v, p);
	} while (p < end);
	return 0;
}

static int parse_sip(const char *p, const char *end, struct sip_uri *u)
{
	const char *at = sip_find_byte(p, end, '@');
	if (at) {
		/* userinfo = user [":" password] "@": ':' and '@' are not user characters, so one
		 * scan ends the user at the first ':' or at the '@' (or fails before either) */
		const char *ue = scan_chars(p, at, SC_USER);
		if (!ue || ue == p || (ue != at && *ue != ':'))
			return EBADMSG;
		u->user = sl_range(p, ue);
		if (ue != at) {
			if (scan_chars(ue + 1, at, SC_USER) != at)
				return EBADMSG;
			u->password = sl_range(ue + 1, at);
		}
		p = at + 1;
	}
	p = sip_hostport_scan(p, end, &u->host, &u->host_ipv6, &u->has_port, &u->port);
	if (!p || (p < end && *p != ';' && *p != '?'))
		return EBADMSG;
	p = scan_uri_params(p, end, &u->params);
	if (!p)
		return EBADMSG;
	if (p < end && *p == '?')
		return scan_uri_headers(p, end, &u->headers);
	return p == end ? 0 : EBADMSG;
}

/* RFC 3966: global or local number, then parameters. */
static int parse_tel(const char *p, const char *end, struct sip_uri *u)
{
	const char *n = p;
	while (p < end && *p != ';')
		p++;
	if (p == n || !chars_ok(n, p, SC_HEX, "+-.()*#"))
		return EBADMSG;
	u->user = sl_range(n, p);
	p = scan_uri_params(p, end, &u->params);
	return p == end ? 0 : EBADMSG;
}

int sip_uri_parse(struct slice s, struct sip_uri *u)
{
	/* Everything before the parameter arrays, then just their counts: a full memset of
	 * the arrays costs more than parsing a short URI. */
	sip_uri_clear(u);
	if (s.len == 0 || s.len > SIP_MAX_URI)
		return EBADMSG;
	const char *p = s.p, *end = s.p + s.len;
	/* Almost every URI is sip: — same verdict as the generic path below, fewer steps. */
	if (s.len >= 4 && lit_ieq(p, "sip:", 4)) {
		u->scheme_s = sl(p, 3);
		u->scheme = SIP_SCHEME_SIP;
		return parse_sip(p + 4, end, u);
	}
	const char *colon = sip_find_byte(p, p + s.len, ':');
	if (!colon || colon == p || !g_ascii_isalpha(*p))
		return EBADMSG;
	for (const char *q = p; q < colon; q++)
		if (!g_ascii_isalnum(*q) && *q != '+' && *q != '-' && *q != '.')
			return EBADMSG;
	u->scheme_s = sl_range(p, colon);
	p = colon + 1;
	if (SL_IEQ_LIT(u->scheme_s, "sip"))
		u->scheme = SIP_SCHEME_SIP;
	else if (SL_IEQ_LIT(u->scheme_s, "sips"))
		u->scheme = SIP_SCHEME_SIPS;
	else if (SL_IEQ_LIT(u->scheme_s, "tel"))
		u->scheme = SIP_SCHEME_TEL;
	if (u->scheme == SIP_SCHEME_SIP || u->scheme == SIP_SCHEME_SIPS)
		return parse_sip(p, end, u);
	if (u->scheme == SIP_SCHEME_TEL)
		return parse_tel(p, end, u);
	/* No whitespace, controls or raw non-ASCII in any URI (RFC 4475 lwsruri); for sip and
	 * tel the character classes above already exclude them. */
	for (const char *q = p; q < end; q++)
		if ((unsigned char)*q <= 0x20 || (unsigned char)*q >= 0x7f)
			return EBADMSG;
	if (p == end)
		return EBADMSG;
	u->opaque = sl_range(p, end);
	return 0;
}

/* ---- comparison -------------------------------------------------------------------------- */

/* Next character of an escaped string: its value, and whether it was written as %HH. */
static int next_unit(const char **pp, const char *end, bool *escaped)
{
	const char *p = *pp;
	if (*p == '%' && end - p >= 3 && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
		*escaped = true;
		*pp = p + 3;
		return hexval(p[1]) * 16 + hexval(p[2]);
	}
	*escaped = false;
	*pp = p + 1;
	return (unsigned char)*p;
}

/*
 * Compares after unescaping (§19.1.4: "%61lice" is "alice"); a reserved character stays
 * distinct from its escaped form since they mean different things.
 */
static bool esc_eq(struct slice a, struct slice b, bool icase)
{
	/* Without escapes it is a plain compare. */
	if ((!a.len || !memchr(a.p, '%', a.len)) && (!b.len || !memchr(b.p, '%', b.len)))
		return a.len == b.len && (icase ? mem_ieq(a.p, b.p, a.len) : memcmp(a.p, b.p, a.len) == 0);
	const char *p = a.p, *pe = a.p + a.len, *q = b.p, *qe = b.p + b.len;
	while (p < pe && q < qe) {
		bool ea, eb;
		int ca = next_unit(&p, pe, &ea), cb = next_unit(&q, qe, &eb);
		if (icase) {
			ca = sip_lc[ca];
			cb = sip_lc[cb];
		}
		if (ca != cb)
			return false;
		if (ea != eb && ca < 128 && strchr(";/?:@&=+$,", ca) && ca)
			return false;
	}
	return p == pe && q == qe;
}

static bool opt_eq(struct slice a, struct slice b, bool icase)
{
	if ((a.p == NULL) != (b.p == NULL))
		return false;
	return a.p == NULL || esc_eq(a, b, icase);
}

static const struct sip_param *param_find(const struct sip_params *ps, struct slice name)
{
	for (unsigned i = 0; i < ps->n; i++)
		if (esc_eq(ps->p[i].name, name, true))
			return &ps->p[i];
	return NULL;
}

static bool params_eq(const struct sip_params *a, const struct sip_params *b)
{
	static const char *const must[] = {"user", "ttl", "method", "maddr", "transport"};
	for (unsigned i = 0; i < G_N_ELEMENTS(must); i++) {
		const struct sip_param *pa = sip_params_find(a, must[i]);
		const struct sip_param *pb = sip_params_find(b, must[i]);
		if ((pa == NULL) != (pb == NULL))
			return false;
	}
	/* Any parameter present in both must match; one-sided ones are ignored. */
	for (unsigned i = 0; i < a->n; i++) {
		const struct sip_param *pb = param_find(b, a->p[i].name);
		if (pb && !opt_eq(a->p[i].value, pb->value, true))
			return false;
	}
	return true;
}

static unsigned header_count(const struct sip_params *hs, const struct sip_param *h)
{
	unsigned n = 0;
	for (unsigned i = 0; i < hs->n; i++)
		n += esc_eq(hs->p[i].name, h->name, true) && esc_eq(hs->p[i].value, h->value, false);
	return n;
}

/* Same headers, as a multiset: a name may repeat ("?Route=a&Route=b"), order does not matter. */
static bool headers_eq(const struct sip_params *a, const struct sip_params *b)
{
	if (a->n != b->n)
		return false;
	for (unsigned i = 0; i < a->n; i++)
		if (header_count(a, &a->p[i]) != header_count(b, &a->p[i]))
			return false;
	return true;
}

bool sip_uri_equal(const struct sip_uri *a, const struct sip_uri *b)
{
	if (a->scheme != b->scheme)
		return false;
	switch (a->scheme) {
	case SIP_SCHEME_SIP:
	case SIP_SCHEME_SIPS:
		return opt_eq(a->user, b->user, false) && opt_eq(a->password, b->password, false) &&
		       sl_ieq_sl(a->host, b->host) && a->has_port == b->has_port &&
		       a->port == b->port && params_eq(&a->params, &b->params) &&
		       headers_eq(&a->headers, &b->headers);
	case SIP_SCHEME_TEL:
		return esc_eq(a->user, b->user, true) && a->params.n == b->params.n &&
		       params_eq(&a->params, &b->params);
	default:
		return sl_ieq_sl(a->scheme_s, b->scheme_s) &&
		       slice_eq(a->opaque, b->opaque.p, b->opaque.len);
	}
}
