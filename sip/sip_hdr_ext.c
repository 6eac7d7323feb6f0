/* sip: decoders for digest authentication and extension headers (Replaces, timers, events). */
#include <errno.h>

#include "sip-private.h"

/* ---- Authorization and challenges (RFC 3261 §25, RFC 7616) ------------------------------- */

static const char *auth_value(const char *p, const char *end, struct slice *v)
{
	if (p < end && *p == '"')
		return sip_scan_quoted(p, end, v); /* NULL: unterminated quote (BI-13) */
	const char *s = p;
	while (p < end && (CC(*p, SC_TOKEN) || *p == '/' || *p == ':'))
		p++;
	if (p == s)
		return NULL;
	*v = sl_range(s, p);
	return p;
}

static int auth_param_add(struct sip_auth *out, struct slice name, struct slice v)
{
	if (v.len > SIP_MAX_AUTH_VALUE || out->params.n >= SIP_MAX_PARAMS)
		return EBADMSG;
	for (unsigned i = 0; i < out->params.n; i++)
		if (sl_ieq_sl(out->params.p[i].name, name))
			return EBADMSG; /* duplicate nc, response, ... (BI-13) */
	out->params.p[out->params.n].name = name;
	out->params.p[out->params.n++].value = v;
#define K(n) {#n, sizeof(#n) - 1, offsetof(struct sip_auth, n)}
	static const struct {
		const char *name;
		size_t len, off;
	} known[] = {
		K(username), K(realm), K(nonce), K(uri), K(response), K(algorithm),
		K(cnonce), K(opaque), K(qop), K(nc), K(stale),
	};
#undef K
	for (unsigned i = 0; i < G_N_ELEMENTS(known); i++) {
		if (name.len == known[i].len && mem_ieq(name.p, known[i].name, name.len)) {
			*(struct slice *)((char *)out + known[i].off) = v;
			break;
		}
	}
	return 0;
}

int sip_auth_parse(struct slice v, struct sip_auth *out)
{
	const char *p = v.p, *end = v.p + v.len;
	/* Not a memset of the whole struct: its parameter array is read only up to params.n.
	 * One slice a statement (see sip_uri_clear: chained ones stall on store forwarding). */
	struct slice *clear[] = {&out->scheme, &out->username, &out->realm, &out->nonce,
				 &out->uri, &out->response, &out->algorithm, &out->cnonce,
				 &out->opaque, &out->qop, &out->nc, &out->stale};
	for (unsigned i = 0; i < G_N_ELEMENTS(clear); i++)
		*clear[i] = sl(NULL, 0);
	out->params.n = 0;
	p = skip_ws(p, end);
	const char *s = p;
	p = scan_token(p, end);
	if (p == s)
		return EBADMSG;
	out->scheme = sl_range(s, p);
	p = skip_ws(p, end);
	while (p < end) {
		struct slice name, val;
		s = p;
		p = scan_token(p, end);
		if (p == s)
			return EBADMSG;
		name = sl_range(s, p);
		p = skip_ws(p, end);
		if (p >= end || *p != '=')
			return EBADMSG;
		p = auth_value(skip_ws(p + 1, end), end, &val);
		if (!p || auth_param_add(out, name, val))
			return EBADMSG;
		p = skip_ws(p, end);
		if (p < end) {
			if (*p != ',')
				return EBADMSG;
			p = skip_ws(p + 1, end);
			if (p == end)
				return EBADMSG;
		}
	}
	return 0;
}

/* ---- Replaces (RFC 3891) ------------------------------------------------------------------ */

int sip_replaces_parse(struct slice v, struct sip_replaces *out)
{
	const char *p = v.p, *end = v.p + v.len;
	struct sip_params ps = {0};
	memset(out, 0, sizeof(*out));
	p = skip_ws(p, end);
	const char *s = p;
	while (p < end && *p != ';' && !CC(*p, SC_WS))
		p++;
	if (p == s || p - s > SIP_MAX_CALL_ID || sip_params_scan(p, end, &ps, true))
		return EBADMSG;
	out->call_id = sl_range(s, p);
	for (unsigned i = 0; i < ps.n; i++) {
		const struct sip_param *pa = &ps.p[i];
		if (SL_IEQ_LIT(pa->name, "to-tag") && pa->value.p)
			out->to_tag = pa->value;
		else if (SL_IEQ_LIT(pa->name, "from-tag") && pa->value.p)
			out->from_tag = pa->value;
		else if (SL_IEQ_LIT(pa->name, "early-only"))
			out->early_only = true;
	}
	return out->to_tag.p && out->from_tag.p ? 0 : EBADMSG;
}

/* ---- session timers, reliable provisionals (RFC 4028, RFC 3262) -------------------------- */

/* Leading number, returns past it (no LWS skipped after). */
static const char *lead_uint(const char *p, const char *end, uint64_t max, uint64_t *x)
{
	p = skip_ws(p, end);
	const char *d = p;
	while (p < end && CC(*p, SC_DIGIT))
		p++;
	if (p - d > 20 || sip_uint_parse(sl_range(d, p), max, x))
		return NULL;
	return p;
}

int sip_session_expires_parse(struct slice v, struct sip_session_expires *out)
{
	const char *end = v.p + v.len;
	struct sip_params ps = {0};
	uint64_t x;
	memset(out, 0, sizeof(*out));
	const char *p = lead_uint(v.p, end, UINT32_MAX, &x);
	if (!p || sip_params_scan(p, end, &ps, true))
		return EBADMSG;
	out->delta = (uint32_t)x;
	const struct sip_param *r = sip_params_find(&ps, "refresher");
	if (r) {
		if (!SL_IEQ_LIT(r->value, "uac") && !SL_IEQ_LIT(r->value, "uas"))
			return EBADMSG;
		out->refresher = r->value;
	}
	return 0;
}

int sip_rack_parse(struct slice v, struct sip_rack *out)
{
	const char *end = v.p + v.len;
	uint64_t a, b;
	const char *p = lead_uint(v.p, end, UINT32_MAX, &a);
	if (!p || p == end || !CC(*p, SC_WS))
		return EBADMSG;
	p = lead_uint(p, end, UINT32_MAX, &b);
	if (!p || p == end || !CC(*p, SC_WS))
		return EBADMSG;
	p = skip_ws(p, end);
	const char *m = p;
	p = scan_token(p, end);
	if (p == m || skip_ws(p, end) != end)
		return EBADMSG;
	out->rseq = (uint32_t)a;
	out->cseq = (uint32_t)b;
	out->method = sl_range(m, p);
	return 0;
}

/* ---- events (RFC 6665) --------------------------------------------------------------------- */

int sip_event_parse(struct slice v, struct sip_event *out)
{
	const char *p = v.p, *end = v.p + v.len;
	memset(out, 0, sizeof(*out));
	p = skip_ws(p, end);
	const char *s = p;
	p = scan_token(p, end);
	if (p == s || sip_params_scan(p, end, &out->params, true))
		return EBADMSG;
	out->type = sl_range(s, p);
	const struct sip_param *id = sip_params_find(&out->params, "id");
	if (id) {
		if (!id->value.p)
			return EBADMSG;
		out->id = id->value;
	}
	return 0;
}

int sip_substate_parse(struct slice v, struct sip_substate *out)
{
	const char *p = v.p, *end = v.p + v.len;
	uint64_t x;
	memset(out, 0, sizeof(*out));
	out->expires = out->retry_after = -1;
	p = skip_ws(p, end);
	const char *s = p;
	p = scan_token(p, end);
	if (p == s || sip_params_scan(p, end, &out->params, true))
		return EBADMSG;
	out->state = sl_range(s, p);
	const struct sip_param *pa;
	if ((pa = sip_params_find(&out->params, "reason")) && pa->value.p)
		out->reason = pa->value;
	if ((pa = sip_params_find(&out->params, "expires"))) {
		if (!pa->value.p || sip_uint_parse(pa->value, UINT32_MAX, &x))
			return EBADMSG;
		out->expires = (int64_t)x;
	}
	if ((pa = sip_params_find(&out->params, "retry-after"))) {
		if (!pa->value.p || sip_uint_parse(pa->value, UINT32_MAX, &x))
			return EBADMSG;
		out->retry_after = (int64_t)x;
	}
	return 0;
}
