/* sdp: the SDP line scanner and the session, connection and m= line parsers (RFC 8866). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>

#include "sdp_int.h"

int sdp_fail(struct sdp_parser *p, const char *what)
{
	if (p->err) {
		p->err->line = p->lineno;
		p->err->what = what;
		if (p->lineno)
			snprintf(p->err->text, sizeof(p->err->text), "line %u: %s", p->lineno, what);
		else
			snprintf(p->err->text, sizeof(p->err->text), "%s", what);
	}
	return EBADMSG;
}

/* ---- token helpers ------------------------------------------------------------------ */

struct slice sdp_tok(struct slice *rest)
{
	struct slice t = {rest->p, 0};
	while (t.len < rest->len && rest->p[t.len] != ' ')
		t.len++;
	size_t skip = t.len < rest->len ? t.len + 1 : t.len;
	rest->p += skip;
	rest->len -= skip;
	return t;
}

bool sdp_tok_req(struct slice *rest, size_t max, struct slice *out)
{
	*out = sdp_tok(rest);
	return out->len > 0 && out->len <= max;
}

bool sdp_digits(struct slice s, size_t max)
{
	if (s.len == 0 || s.len > max)
		return false;
	for (size_t i = 0; i < s.len; i++)
		if (s.p[i] < '0' || s.p[i] > '9')
			return false;
	return true;
}

bool sdp_u32(struct slice s, uint32_t *out)
{
	uint64_t v = 0;
	if (!sdp_digits(s, 10))
		return false;
	for (size_t i = 0; i < s.len; i++)
		v = v * 10 + (uint64_t)(s.p[i] - '0');
	if (v > UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

bool sdp_port(struct slice s, uint16_t *out)
{
	uint32_t v;
	if (!sdp_u32(s, &v) || v > 65535)
		return false;
	*out = (uint16_t)v;
	return true;
}

bool sdp_pt(struct slice s, uint8_t *out)
{
	uint32_t v;
	if (s.len > 3 || !sdp_u32(s, &v) || v > 127)
		return false;
	*out = (uint8_t)v;
	return true;
}

/* RFC 8866 §9 token-char: printable ASCII except the separators below. */
bool sdp_is_token(struct slice s)
{
	if (s.len == 0)
		return false;
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];
		if (c <= 0x20 || c >= 0x7f || strchr("\"(),/:;<=>?@[\\]", c))
			return false;
	}
	return true;
}

bool sdp_slice_find(struct slice s, char c, size_t *at)
{
	const char *q = s.len ? memchr(s.p, c, s.len) : NULL;
	if (!q)
		return false;
	*at = (size_t)(q - s.p);
	return true;
}

enum sdp_dir sdp_dir_from(struct slice s)
{
	if (slice_eqlit(s, "sendrecv"))
		return SDP_DIR_SENDRECV;
	if (slice_eqlit(s, "sendonly"))
		return SDP_DIR_SENDONLY;
	if (slice_eqlit(s, "recvonly"))
		return SDP_DIR_RECVONLY;
	if (slice_eqlit(s, "inactive"))
		return SDP_DIR_INACTIVE;
	return SDP_DIR_NONE;
}

/* ---- connection data ---------------------------------------------------------------- */

static bool is_hostname(struct slice s)
{
	bool alpha = false;
	for (size_t i = 0; i < s.len; i++) {
		char c = s.p[i];
		if (g_ascii_isalpha(c))
			alpha = true;
		else if (!g_ascii_isdigit(c) && c != '-' && c != '.')
			return false;
	}
	return alpha && s.p[0] != '-' && s.p[0] != '.';
}

static unsigned addr_flags4(const unsigned char a[4])
{
	uint32_t v = (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
	if (v == 0)
		return SDP_CONN_UNSPEC;
	if ((v >> 28) == 0xe)
		return SDP_CONN_MULTICAST;
	if ((v >> 28) == 0xf) /* 255.255.255.255 and the reserved class E block */
		return SDP_CONN_BROADCAST;
	return 0;
}

static unsigned addr_flags6(const unsigned char a[16])
{
	static const unsigned char zero[16];
	if (memcmp(a, zero, 16) == 0)
		return SDP_CONN_UNSPEC;
	if (a[0] == 0xff)
		return SDP_CONN_MULTICAST;
	/* ::ffff:a.b.c.d carries the IPv4 meaning. */
	if (memcmp(a, zero, 10) == 0 && a[10] == 0xff && a[11] == 0xff)
		return addr_flags4(a + 12);
	return 0;
}

int sdp_conn_parse(struct sdp_parser *p, struct slice v, struct sdp_conn *c)
{
	struct slice nettype, addrtype, addr;
	if (!sdp_tok_req(&v, 16, &nettype) || !sdp_tok_req(&v, 16, &addrtype) ||
	    !sdp_tok_req(&v, SDP_MAX_TOKEN_LEN, &addr) || v.len)
		return sdp_fail(p, "connection data must be <nettype> <addrtype> <address>");
	if (!slice_eqlit(nettype, "IN"))
		return sdp_fail(p, "connection nettype is not IN");
	if (slice_eqlit(addrtype, "IP4"))
		c->addrtype = SDP_ADDR_IP4;
	else if (slice_eqlit(addrtype, "IP6"))
		c->addrtype = SDP_ADDR_IP6;
	else
		return sdp_fail(p, "connection addrtype is not IP4 or IP6");

	size_t at;
	c->suffix = (struct slice){addr.p + addr.len, 0};
	if (sdp_slice_find(addr, '/', &at)) {
		c->suffix = (struct slice){addr.p + at, addr.len - at};
		addr.len = at;
		for (size_t i = 1; i < c->suffix.len; i++)
			if (!g_ascii_isdigit(c->suffix.p[i]) && c->suffix.p[i] != '/')
				return sdp_fail(p, "bad multicast ttl/count suffix");
		if (c->suffix.len < 2 || c->suffix.p[c->suffix.len - 1] == '/')
			return sdp_fail(p, "bad multicast ttl/count suffix");
	}
	if (addr.len == 0)
		return sdp_fail(p, "empty connection address");
	c->address = addr;
	c->flags = 0;

	char tmp[64];
	unsigned char bin[16];
	int af = c->addrtype == SDP_ADDR_IP4 ? AF_INET : AF_INET6;
	bool literal = false;
	if (addr.len < sizeof(tmp)) {
		memcpy(tmp, addr.p, addr.len);
		tmp[addr.len] = '\0';
		literal = inet_pton(af, tmp, bin) == 1;
	}
	if (literal)
		c->flags = af == AF_INET ? addr_flags4(bin) : addr_flags6(bin);
	else if (is_hostname(addr))
		c->flags = SDP_CONN_FQDN;
	else
		return sdp_fail(p, "connection address is not an address of its addrtype");
	if (c->suffix.len && !(c->flags & SDP_CONN_MULTICAST))
		return sdp_fail(p, "ttl/count suffix on a non-multicast address");
	c->present = true;
	return 0;
}

/* ---- session lines -------------------------------------------------------------------- */

static int parse_origin(struct sdp_parser *p, struct slice v)
{
	struct sdp_origin *o = &p->s->origin;
	if (!sdp_tok_req(&v, SDP_MAX_TOKEN_LEN, &o->username) ||
	    !sdp_tok_req(&v, 20, &o->sess_id) || !sdp_tok_req(&v, 20, &o->sess_version) ||
	    !sdp_tok_req(&v, 16, &o->nettype) || !sdp_tok_req(&v, 16, &o->addrtype) ||
	    !sdp_tok_req(&v, SDP_MAX_TOKEN_LEN, &o->address) || v.len)
		return sdp_fail(p, "o= needs six fields");
	if (!sdp_digits(o->sess_id, 20) || !sdp_digits(o->sess_version, 20))
		return sdp_fail(p, "o= session id and version must be numeric");
	return 0;
}

static int parse_time(struct sdp_parser *p, struct slice v)
{
	struct sdp_session *s = p->s;
	if (s->n_time >= SDP_MAX_TIMES)
		return sdp_fail(p, "too many t= lines");
	struct sdp_time *t = &s->time[s->n_time];
	memset(t, 0, sizeof(*t));
	if (!sdp_tok_req(&v, 20, &t->start) || !sdp_tok_req(&v, 20, &t->stop) || v.len ||
	    !sdp_digits(t->start, 20) || !sdp_digits(t->stop, 20))
		return sdp_fail(p, "t= must be two numbers");
	s->n_time++;
	return 0;
}

static int parse_bw(struct sdp_parser *p, struct sdp_common *c, struct slice v)
{
	size_t at;
	if (c->n_bw >= SDP_MAX_BANDWIDTHS)
		return sdp_fail(p, "too many b= lines");
	if (!sdp_slice_find(v, ':', &at))
		return sdp_fail(p, "b= without ':'");
	struct sdp_bw *b = &c->bw[c->n_bw];
	b->type = (struct slice){v.p, at};
	if (b->type.len > 32 || !sdp_is_token(b->type) ||
	    !sdp_u32((struct slice){v.p + at + 1, v.len - at - 1}, &b->value))
		return sdp_fail(p, "b= must be <type>:<number>");
	c->n_bw++;
	return 0;
}

static int put_list(struct sdp_parser *p, struct slice *arr, size_t *n, struct slice v)
{
	if (*n >= SDP_MAX_CONTACTS)
		return sdp_fail(p, "too many e= or p= lines");
	if (v.len == 0 || v.len > SDP_MAX_ATTR_LEN)
		return sdp_fail(p, "empty or overlong e= or p=");
	arr[(*n)++] = v;
	return 0;
}

/* ---- m= line -------------------------------------------------------------------------- */

static bool is_rtp_proto(struct slice proto)
{
	for (size_t i = 0; i + 4 <= proto.len; i++)
		if (memcmp(proto.p + i, "RTP/", 4) == 0)
			return true;
	return false;
}

static int parse_formats(struct sdp_parser *p, struct sdp_media *m, struct slice v)
{
	if (v.len == 0)
		return sdp_fail(p, "m= without formats");
	while (v.len) {
		struct slice f;
		if (!sdp_tok_req(&v, SDP_MAX_TOKEN_LEN, &f) || !sdp_is_token(f))
			return sdp_fail(p, "m= bad format");
		if (m->n_fmt >= SDP_MAX_FORMATS)
			return sdp_fail(p, "m= has too many formats");
		if (m->rtp) {
			uint8_t pt;
			if (!sdp_pt(f, &pt))
				return sdp_fail(p, "m= payload type is not a number 0-127");
			for (size_t i = 0; i < m->n_fmt; i++)
				if (m->pt[i] == pt)
					return sdp_fail(p, "m= lists a payload type twice");
			m->pt[m->n_fmt] = pt;
		}
		m->fmt[m->n_fmt++] = f;
	}
	return 0;
}

G_STATIC_ASSERT(offsetof(struct sdp_media, cand) < offsetof(struct sdp_media, n_cand));

void sdp_media_clear(struct sdp_media *m)
{
	memset(m, 0, offsetof(struct sdp_media, cand));
	memset((char *)m + offsetof(struct sdp_media, n_cand), 0,
	       sizeof(*m) - offsetof(struct sdp_media, n_cand));
}

static int parse_media(struct sdp_parser *p, struct slice v)
{
	struct sdp_session *s = p->s;
	if (s->n_media >= SDP_MAX_MEDIA)
		return sdp_fail(p, "too many m= sections");
	struct sdp_media *m = &s->media[s->n_media];
	sdp_media_clear(m);
	p->m = m;
	p->seen = 0;
	s->n_media++;

	struct slice port, proto;
	if (v.len && v.p[v.len - 1] == ' ')
		return sdp_fail(p, "m= ends with a space");
	if (!sdp_tok_req(&v, 32, &m->type) || !sdp_is_token(m->type) ||
	    !sdp_tok_req(&v, 16, &port) || !sdp_tok_req(&v, 64, &proto))
		return sdp_fail(p, "m= needs <media> <port> <proto> <fmt>...");
	for (size_t i = 0; i < proto.len; i++)
		if (proto.p[i] != '/' && !sdp_is_token((struct slice){proto.p + i, 1}))
			return sdp_fail(p, "m= bad proto");
	m->proto = proto;
	size_t at;
	if (sdp_slice_find(port, '/', &at)) {
		uint16_t n;
		if (!sdp_port((struct slice){port.p + at + 1, port.len - at - 1}, &n) || n == 0)
			return sdp_fail(p, "m= bad number of ports");
		m->num_ports = n;
		port.len = at;
	}
	if (!sdp_port(port, &m->port))
		return sdp_fail(p, "m= port is not a number 0-65535");
	m->rtp = is_rtp_proto(proto);
	return parse_formats(p, m, v);
}

/* ---- the line scanner ------------------------------------------------------------------ */

/* Lines that may appear once per section, and where. */
#define SESSION_ONLY "vosuetrz"
#define ONCE         "vosuczki"

static int parse_line(struct sdp_parser *p, char type, struct slice v)
{
	struct sdp_session *s = p->s;
	struct sdp_common *c = p->m ? &p->m->common : &s->common;

	if (p->lineno == 1 && type != 'v')
		return sdp_fail(p, "first line must be v=0");
	if (p->m && strchr(SESSION_ONLY, type))
		return sdp_fail(p, "session-level line inside an m-section");
	if (type >= 'a' && type <= 'z' && strchr(ONCE, type)) {
		unsigned bit = 1u << (type - 'a');
		if (p->seen & bit)
			return sdp_fail(p, "line type repeated in one section");
		p->seen |= bit;
	}
	switch (type) {
	case 'v':
		if (p->lineno != 1 || !slice_eqlit(v, "0"))
			return sdp_fail(p, "v= must be the first line and 0");
		return 0;
	case 'o':
		return parse_origin(p, v);
	case 's':
		if (v.len > SDP_MAX_ATTR_LEN)
			return sdp_fail(p, "s= too long");
		s->name = v;
		return 0;
	case 'i':
	case 'k':
	case 'u':
	case 'z':
		if (v.len == 0 || v.len > SDP_MAX_ATTR_LEN)
			return sdp_fail(p, "empty or overlong value");
		*(type == 'i' ? &c->info : type == 'k' ? &c->key : type == 'u' ? &s->uri : &s->zone) = v;
		return 0;
	case 'e':
		return put_list(p, s->email, &s->n_email, v);
	case 'p':
		return put_list(p, s->phone, &s->n_phone, v);
	case 'c':
		return sdp_conn_parse(p, v, &c->conn);
	case 'b':
		return parse_bw(p, c, v);
	case 't':
		return parse_time(p, v);
	case 'r': {
		if (s->n_time == 0)
			return sdp_fail(p, "r= without t=");
		struct sdp_time *t = &s->time[s->n_time - 1];
		if (t->n_repeat >= SDP_MAX_REPEATS)
			return sdp_fail(p, "too many r= lines");
		if (v.len == 0 || v.len > SDP_MAX_ATTR_LEN)
			return sdp_fail(p, "empty or overlong r=");
		t->repeat[t->n_repeat++] = v;
		return 0;
	}
	case 'a':
		return sdp_attr_parse(p, v);
	case 'm':
		return parse_media(p, v);
	default:
		return sdp_fail(p, "unknown line type");
	}
}

/* Trailing blank lines are tolerated; anything after them is not. */
static bool only_line_ends(const char *q, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (q[i] == '\n')
			continue;
		if (q[i] != '\r' || i + 1 >= n || q[i + 1] != '\n')
			return false;
	}
	return true;
}

static int check_session(struct sdp_parser *p)
{
	struct sdp_session *s = p->s;
	p->lineno = 0;
	if (s->origin.username.len == 0)
		return sdp_fail(p, "no o= line");
	if (!s->name.p)
		return sdp_fail(p, "no s= line");
	if (s->n_time == 0)
		return sdp_fail(p, "no t= line");
	for (size_t i = 0; i < s->n_media; i++) {
		const struct sdp_media *m = &s->media[i];
		/* RFC 8866 §5.7: every m-section needs a c=, its own or the session's. */
		if (m->port != 0 && !sdp_media_conn(s, m))
			return sdp_fail(p, "an m-section has no c= line and the session has none");
	}
	return 0;
}

int sdp_parse(const char *buf, size_t len, struct sdp_session *out, struct sdp_error *err)
{
	struct sdp_parser p = {.s = out, .err = err};
	if (!out || !buf)
		return EINVAL;
	if (err)
		memset(err, 0, sizeof(*err));
	/* The media array is cleared one section at a time, as sections are started. */
	memset(out, 0, offsetof(struct sdp_session, media));
	out->n_media = 0;
	if (len > SDP_MAX_BODY)
		return sdp_fail(&p, "body larger than 64 KB");
	if (len == 0)
		return sdp_fail(&p, "empty body");

	size_t pos = 0;
	while (pos < len) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - buf) : len;
		size_t next = nl ? end + 1 : len;
		size_t lend = end;
		if (nl && lend > pos && buf[lend - 1] == '\r')
			lend--;
		if (++p.lineno > SDP_MAX_LINES)
			return sdp_fail(&p, "more than 2000 lines");
		struct slice line = {buf + pos, lend - pos};
		if (line.len == 0) {
			if (!only_line_ends(buf + pos, len - pos))
				return sdp_fail(&p, "empty line");
			break;
		}
		if (memchr(line.p, '\r', line.len) || memchr(line.p, '\0', line.len))
			return sdp_fail(&p, "bare CR or NUL inside a line");
		if (line.len < 2 || line.p[1] != '=' || !g_ascii_islower(line.p[0]))
			return sdp_fail(&p, "line is not <letter>=<value>");
		int rc = parse_line(&p, line.p[0], (struct slice){line.p + 2, line.len - 2});
		if (rc)
			return rc;
		pos = next;
	}
	return check_session(&p);
}

/* ---- accessors ---------------------------------------------------------------------- */

const struct sdp_conn *sdp_media_conn(const struct sdp_session *s, const struct sdp_media *m)
{
	if (m && m->common.conn.present)
		return &m->common.conn;
	return s && s->common.conn.present ? &s->common.conn : NULL;
}

enum sdp_dir sdp_media_dir(const struct sdp_session *s, const struct sdp_media *m)
{
	if (m && m->common.dir != SDP_DIR_NONE)
		return m->common.dir;
	if (s && s->common.dir != SDP_DIR_NONE)
		return s->common.dir;
	return SDP_DIR_SENDRECV;
}

const struct sdp_rtpmap *sdp_media_rtpmap(const struct sdp_media *m, uint8_t pt)
{
	for (size_t i = 0; i < m->n_rtpmap && i < SDP_MAX_FORMATS; i++)
		if (m->rtpmap[i].pt == pt)
			return &m->rtpmap[i];
	return NULL;
}

const struct sdp_fmtp *sdp_media_fmtp(const struct sdp_media *m, uint8_t pt)
{
	for (size_t i = 0; i < m->n_fmtp && i < SDP_MAX_FORMATS; i++)
		if (m->fmtp[i].pt == pt)
			return &m->fmtp[i];
	return NULL;
}

bool sdp_conn_sendable(const struct sdp_conn *c)
{
	return c && c->present &&
	       !(c->flags & (SDP_CONN_UNSPEC | SDP_CONN_MULTICAST | SDP_CONN_BROADCAST));
}

const char *sdp_dir_name(enum sdp_dir d)
{
	switch (d) {
	case SDP_DIR_SENDRECV: return "sendrecv";
	case SDP_DIR_SENDONLY: return "sendonly";
	case SDP_DIR_RECVONLY: return "recvonly";
	case SDP_DIR_INACTIVE: return "inactive";
	case SDP_DIR_NONE: break;
	}
	return NULL;
}

const char *sdp_setup_name(enum sdp_setup s)
{
	switch (s) {
	case SDP_SETUP_ACTIVE: return "active";
	case SDP_SETUP_PASSIVE: return "passive";
	case SDP_SETUP_ACTPASS: return "actpass";
	case SDP_SETUP_HOLDCONN: return "holdconn";
	case SDP_SETUP_NONE: break;
	}
	return NULL;
}
