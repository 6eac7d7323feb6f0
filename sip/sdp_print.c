/* sdp_print: prints a (possibly edited) struct sdp_session as SDP text, CRLF, RFC 8866 order. */
#include <errno.h>

#include "sip.h"

static const char *const hash_names[] = {
	[SDP_HASH_SHA1] = "sha-1",     [SDP_HASH_SHA224] = "sha-224", [SDP_HASH_SHA256] = "sha-256",
	[SDP_HASH_SHA384] = "sha-384", [SDP_HASH_SHA512] = "sha-512",
};

static const char *const cand_types[] = {
	[SDP_CAND_HOST] = "host", [SDP_CAND_SRFLX] = "srflx", [SDP_CAND_PRFLX] = "prflx",
	[SDP_CAND_RELAY] = "relay",
};

static void put(GString *o, const char *s)
{
	g_string_append(o, s);
}

static void put_s(GString *o, struct slice s)
{
	if (s.len)
		g_string_append_len(o, s.p, (gssize)s.len);
}

/* A whole line: prefix, value, CRLF. */
static void line(GString *o, const char *prefix, struct slice v)
{
	put(o, prefix);
	put_s(o, v);
	put(o, "\r\n");
}

/* prefix, v in decimal, suffix: no printf, so no temporary allocation. */
static void num(GString *o, const char *prefix, uint32_t v, const char *suffix)
{
	char buf[10];
	size_t n = sizeof(buf);
	do {
		buf[--n] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put(o, prefix);
	g_string_append_len(o, buf + n, (gssize)(sizeof(buf) - n));
	put(o, suffix);
}

static void conn(GString *o, const struct sdp_conn *c)
{
	put(o, c->addrtype == SDP_ADDR_IP6 ? "IN IP6 " : "IN IP4 ");
	put_s(o, c->address);
	put_s(o, c->suffix);
}

static int common_head(GString *o, const struct sdp_common *c)
{
	if (c->n_bw > SDP_MAX_BANDWIDTHS)
		return EINVAL;
	if (c->info.len)
		line(o, "i=", c->info);
	if (c->conn.present) {
		put(o, "c=");
		conn(o, &c->conn);
		put(o, "\r\n");
	}
	for (size_t i = 0; i < c->n_bw; i++) {
		put(o, "b=");
		put_s(o, c->bw[i].type);
		num(o, ":", c->bw[i].value, "\r\n");
	}
	return 0;
}

static int ice_dtls(GString *o, const struct sdp_common *c)
{
	if (c->n_fp > SDP_MAX_FINGERPRINTS)
		return EINVAL;
	if (c->ice.ufrag.len)
		line(o, "a=ice-ufrag:", c->ice.ufrag);
	if (c->ice.pwd.len)
		line(o, "a=ice-pwd:", c->ice.pwd);
	if (c->ice.options.len)
		line(o, "a=ice-options:", c->ice.options);
	for (size_t i = 0; i < c->n_fp; i++) {
		const struct sdp_fingerprint *f = &c->fp[i];
		if ((unsigned)f->hash >= G_N_ELEMENTS(hash_names))
			return EINVAL;
		put(o, "a=fingerprint:");
		if (f->hash_name.len)
			put_s(o, f->hash_name);
		else
			put(o, hash_names[f->hash]);
		put(o, " ");
		put_s(o, f->value);
		put(o, "\r\n");
	}
	const char *setup = sdp_setup_name(c->setup);
	if (setup)
		line(o, "a=setup:", (struct slice){setup, strlen(setup)});
	return 0;
}

static void dir(GString *o, enum sdp_dir d)
{
	const char *n = sdp_dir_name(d);
	if (n)
		line(o, "a=", (struct slice){n, strlen(n)});
}

static int attrs(GString *o, const struct sdp_common *c)
{
	if (c->n_attrs > SDP_MAX_ATTRS)
		return EINVAL;
	for (size_t i = 0; i < c->n_attrs; i++) {
		put(o, "a=");
		put_s(o, c->attrs[i].name);
		if (c->attrs[i].has_value) {
			put(o, ":");
			put_s(o, c->attrs[i].value);
		}
		put(o, "\r\n");
	}
	return 0;
}

static void candidate(GString *o, const struct sdp_candidate *k)
{
	put(o, "a=candidate:");
	put_s(o, k->foundation);
	num(o, " ", k->component, " ");
	if (k->transport.len)
		put_s(o, k->transport);
	else
		put(o, k->tcp ? "tcp" : "udp");
	num(o, " ", k->priority, " ");
	put_s(o, k->address);
	num(o, " ", k->port, " typ ");
	put(o, cand_types[k->type]);
	if (k->has_rel) {
		put(o, " raddr ");
		put_s(o, k->raddr);
		num(o, " rport ", k->rport, "");
	}
	if (k->tcptype.len) {
		put(o, " tcptype ");
		put_s(o, k->tcptype);
	}
	if (k->has_generation)
		num(o, " generation ", k->generation, "");
	if (k->ext.len) {
		put(o, " ");
		put_s(o, k->ext);
	}
	put(o, "\r\n");
}

static void crypto(GString *o, const struct sdp_crypto *k)
{
	num(o, "a=crypto:", k->tag, " ");
	put_s(o, k->suite_name);
	put(o, " inline:");
	put_s(o, k->key);
	if (k->lifetime.len) {
		put(o, "|");
		put_s(o, k->lifetime);
	}
	if (k->mki.len) {
		put(o, "|");
		put_s(o, k->mki);
	}
	if (k->session_params.len) {
		put(o, " ");
		put_s(o, k->session_params);
	}
	put(o, "\r\n");
}

static void rtpmap(GString *o, const struct sdp_rtpmap *r)
{
	num(o, "a=rtpmap:", r->pt, " ");
	put_s(o, r->encoding);
	num(o, "/", r->clock, "");
	if (r->channels)
		num(o, "/", r->channels, "");
	put(o, "\r\n");
}

static void rtcpfb(GString *o, const struct sdp_rtcpfb *f)
{
	if (f->wildcard)
		put(o, "a=rtcp-fb:* ");
	else
		num(o, "a=rtcp-fb:", f->pt, " ");
	put_s(o, f->value);
	put(o, "\r\n");
}

/* Per payload type in m= order: rtpmap, rtcp-fb, fmtp (the order browsers use). */
static void formats(GString *o, const struct sdp_media *m)
{
	for (size_t i = 0; i < m->n_fmt; i++) {
		uint8_t pt = m->pt[i];
		const struct sdp_rtpmap *r = sdp_media_rtpmap(m, pt);
		const struct sdp_fmtp *f = sdp_media_fmtp(m, pt);
		if (r)
			rtpmap(o, r);
		for (size_t j = 0; j < m->n_rtcpfb; j++)
			if (!m->rtcpfb[j].wildcard && m->rtcpfb[j].pt == pt)
				rtcpfb(o, &m->rtcpfb[j]);
		if (f) {
			num(o, "a=fmtp:", pt, " ");
			put_s(o, f->params);
			put(o, "\r\n");
		}
	}
	for (size_t j = 0; j < m->n_rtcpfb; j++)
		if (m->rtcpfb[j].wildcard)
			rtcpfb(o, &m->rtcpfb[j]);
}

static bool media_ok(const struct sdp_media *m)
{
	if (m->n_fmt == 0 || m->n_fmt > SDP_MAX_FORMATS || m->n_rtpmap > SDP_MAX_FORMATS ||
	    m->n_fmtp > SDP_MAX_FORMATS || m->n_rtcpfb > SDP_MAX_RTCPFB ||
	    m->n_cand > SDP_MAX_CANDIDATES || m->n_crypto > SDP_MAX_CRYPTO ||
	    m->n_extmap > SDP_MAX_EXTMAPS || m->n_msid > SDP_MAX_MSIDS ||
	    m->n_ssrc > SDP_MAX_SSRCS || m->n_ssrc_group > SDP_MAX_SSRC_GROUPS)
		return false;
	for (size_t i = 0; i < m->n_cand; i++)
		if ((unsigned)m->cand[i].type >= G_N_ELEMENTS(cand_types))
			return false;
	for (size_t i = 0; i < m->n_ssrc_group; i++)
		if (m->ssrc_group[i].n_ssrc > SDP_MAX_GROUP_SSRCS)
			return false;
	return true;
}

static int media_attrs(GString *o, const struct sdp_media *m)
{
	for (size_t i = 0; i < m->n_extmap; i++) {
		const struct sdp_extmap *x = &m->extmap[i];
		num(o, "a=extmap:", x->id, "");
		if (x->dir != SDP_DIR_NONE)
			{
			put(o, "/");
			put(o, sdp_dir_name(x->dir));
		}
		put(o, " ");
		put_s(o, x->uri);
		if (x->params.len) {
			put(o, " ");
			put_s(o, x->params);
		}
		put(o, "\r\n");
	}
	dir(o, m->common.dir);
	for (size_t i = 0; i < m->n_msid; i++) {
		put(o, "a=msid:");
		put_s(o, m->msid[i].id);
		if (m->msid[i].appdata.len) {
			put(o, " ");
			put_s(o, m->msid[i].appdata);
		}
		put(o, "\r\n");
	}
	if (m->rtcp_mux)
		put(o, "a=rtcp-mux\r\n");
	if (m->rtcp_rsize)
		put(o, "a=rtcp-rsize\r\n");
	if (m->rtp)
		formats(o, m);
	if (m->ptime)
		num(o, "a=ptime:", m->ptime, "\r\n");
	if (m->maxptime)
		num(o, "a=maxptime:", m->maxptime, "\r\n");
	for (size_t i = 0; i < m->n_crypto; i++)
		crypto(o, &m->crypto[i]);
	for (size_t i = 0; i < m->n_ssrc_group; i++) {
		put(o, "a=ssrc-group:");
		put_s(o, m->ssrc_group[i].semantics);
		for (size_t j = 0; j < m->ssrc_group[i].n_ssrc; j++)
			num(o, " ", m->ssrc_group[i].ssrc[j], "");
		put(o, "\r\n");
	}
	for (size_t i = 0; i < m->n_ssrc; i++) {
		num(o, "a=ssrc:", m->ssrc[i].id, " ");
		put_s(o, m->ssrc[i].attr);
		if (m->ssrc[i].has_value) {
			put(o, ":");
			put_s(o, m->ssrc[i].value);
		}
		put(o, "\r\n");
	}
	return attrs(o, &m->common);
}

static int media(GString *o, const struct sdp_media *m)
{
	if (!media_ok(m))
		return EINVAL;
	put(o, "m=");
	put_s(o, m->type);
	num(o, " ", m->port, "");
	if (m->num_ports)
		num(o, "/", m->num_ports, "");
	put(o, " ");
	put_s(o, m->proto);
	for (size_t i = 0; i < m->n_fmt; i++) {
		if (m->rtp)
			num(o, " ", m->pt[i], "");
		else {
			put(o, " ");
			put_s(o, m->fmt[i]);
		}
	}
	put(o, "\r\n");
	int rc = common_head(o, &m->common);
	if (rc)
		return rc;
	if (m->common.key.len)
		line(o, "k=", m->common.key);
	if (m->rtcp.present) {
		num(o, "a=rtcp:", m->rtcp.port, "");
		if (m->rtcp.conn.present) {
			put(o, " ");
			conn(o, &m->rtcp.conn);
		}
		put(o, "\r\n");
	}
	for (size_t i = 0; i < m->n_cand; i++)
		candidate(o, &m->cand[i]);
	if (m->end_of_candidates)
		put(o, "a=end-of-candidates\r\n");
	rc = ice_dtls(o, &m->common);
	if (rc)
		return rc;
	if (m->mid.len)
		line(o, "a=mid:", m->mid);
	if (m->common.extmap_allow_mixed)
		put(o, "a=extmap-allow-mixed\r\n");
	return media_attrs(o, m);
}

static int session_head(GString *o, const struct sdp_session *s)
{
	const struct sdp_origin *or = &s->origin;
	if (s->n_email > SDP_MAX_CONTACTS || s->n_phone > SDP_MAX_CONTACTS ||
	    s->n_time > SDP_MAX_TIMES || s->n_group > SDP_MAX_GROUPS || s->n_media > SDP_MAX_MEDIA)
		return EINVAL;
	put(o, "v=0\r\no=");
	put_s(o, or->username);
	put(o, " ");
	put_s(o, or->sess_id);
	put(o, " ");
	put_s(o, or->sess_version);
	put(o, " ");
	put_s(o, or->nettype);
	put(o, " ");
	put_s(o, or->addrtype);
	put(o, " ");
	put_s(o, or->address);
	put(o, "\r\n");
	line(o, "s=", s->name);
	if (s->common.info.len)
		line(o, "i=", s->common.info);
	if (s->uri.len)
		line(o, "u=", s->uri);
	for (size_t i = 0; i < s->n_email; i++)
		line(o, "e=", s->email[i]);
	for (size_t i = 0; i < s->n_phone; i++)
		line(o, "p=", s->phone[i]);
	struct sdp_common c = s->common;
	c.info = (struct slice){0};
	int rc = common_head(o, &c);
	if (rc)
		return rc;
	for (size_t i = 0; i < s->n_time; i++) {
		const struct sdp_time *t = &s->time[i];
		if (t->n_repeat > SDP_MAX_REPEATS)
			return EINVAL;
		put(o, "t=");
		put_s(o, t->start);
		put(o, " ");
		put_s(o, t->stop);
		put(o, "\r\n");
		for (size_t j = 0; j < t->n_repeat; j++)
			line(o, "r=", t->repeat[j]);
	}
	if (s->zone.len)
		line(o, "z=", s->zone);
	if (s->common.key.len)
		line(o, "k=", s->common.key);
	return 0;
}

int sdp_print(const struct sdp_session *s, GString *out)
{
	if (!s || !out)
		return EINVAL;
	int rc = session_head(out, s);
	if (rc)
		return rc;
	for (size_t i = 0; i < s->n_group; i++) {
		const struct sdp_group *g = &s->group[i];
		if (g->n_mid > SDP_MAX_GROUP_MIDS)
			return EINVAL;
		put(out, "a=group:");
		put_s(out, g->semantics);
		for (size_t j = 0; j < g->n_mid; j++) {
			put(out, " ");
			put_s(out, g->mid[j]);
		}
		put(out, "\r\n");
	}
	if (s->common.extmap_allow_mixed)
		put(out, "a=extmap-allow-mixed\r\n");
	if (s->msid_semantic.len)
		line(out, "a=msid-semantic:", s->msid_semantic);
	if (s->ice_lite)
		put(out, "a=ice-lite\r\n");
	rc = ice_dtls(out, &s->common);
	if (rc)
		return rc;
	dir(out, s->common.dir);
	rc = attrs(out, &s->common);
	for (size_t i = 0; !rc && i < s->n_media; i++)
		rc = media(out, &s->media[i]);
	return rc;
}
