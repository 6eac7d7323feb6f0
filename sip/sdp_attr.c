/* sdp_attr: the a= attribute parsers (RFC 8866 §6, ICE, DTLS, SDES, RTP extensions). */
#include <errno.h>

#include "sdp_int.h"

enum { AT_SESSION = 1, AT_MEDIA = 2, AT_RTP = 4 };

struct attr_ctx {
	struct sdp_parser *p;
	struct sdp_common *c;
	struct sdp_media *m; /* NULL at session level */
	struct slice name;
	struct slice v;
	bool has_value;
};

typedef int attr_fn(struct attr_ctx *a);

struct attr_def {
	const char *name;
	attr_fn *fn;
	unsigned where;
};

static bool in_m(const struct sdp_media *m, uint8_t pt)
{
	for (size_t i = 0; i < m->n_fmt; i++)
		if (m->pt[i] == pt)
			return true;
	return false;
}

/* Splits "<pt> <rest>"; rest must not be empty. msgs: no pt, bad pt, nothing after it. */
static int pt_and_rest(struct attr_ctx *a, uint8_t *pt, struct slice *rest,
		       const char *const msgs[3])
{
	struct slice v = a->v;
	struct slice t = sdp_tok(&v);
	if (t.len == 0)
		return sdp_fail(a->p, msgs[0]);
	if (!sdp_pt(t, pt))
		return sdp_fail(a->p, msgs[1]);
	if (v.len == 0)
		return sdp_fail(a->p, msgs[2]);
	*rest = v;
	return 0;
}

static const char *const rtpmap_msgs[3] = {
	"a=rtpmap without payload type", "a=rtpmap payload type is not a number 0-127",
	"a=rtpmap without encoding"};
static const char *const fmtp_msgs[3] = {
	"a=fmtp without payload type", "a=fmtp payload type is not a number 0-127",
	"a=fmtp without parameters"};
static const char *const rtcpfb_msgs[3] = {
	"a=rtcp-fb without payload type", "a=rtcp-fb payload type is not a number 0-127",
	"a=rtcp-fb without a feedback type"};

/* a=rtpmap:<pt> <encoding>/<clock>[/<channels>] (RFC 8866 §6.6) */
static int a_rtpmap(struct attr_ctx *a)
{
	struct sdp_media *m = a->m;
	struct sdp_rtpmap r = {0};
	struct slice v;
	int rc = pt_and_rest(a, &r.pt, &v, rtpmap_msgs);
	if (rc)
		return rc;
	size_t at;
	if (!sdp_slice_find(v, '/', &at))
		return sdp_fail(a->p, "a=rtpmap without clock rate");
	r.encoding = (struct slice){v.p, at};
	if (r.encoding.len > SDP_MAX_ENCODING_LEN || !sdp_is_token(r.encoding))
		return sdp_fail(a->p, "a=rtpmap encoding name empty, overlong or bad");
	v.p += at + 1;
	v.len -= at + 1;
	struct slice clock = v, chan = {0};
	if (sdp_slice_find(v, '/', &at)) {
		clock.len = at;
		chan = (struct slice){v.p + at + 1, v.len - at - 1};
	}
	uint32_t ch = 0;
	if (!sdp_u32(clock, &r.clock) || r.clock == 0)
		return sdp_fail(a->p, "a=rtpmap clock rate is not a positive number");
	if (chan.p && (!sdp_u32(chan, &ch) || ch == 0 || ch > 255))
		return sdp_fail(a->p, "a=rtpmap channels is not a number 1-255");
	r.channels = (uint8_t)ch;
	if (!in_m(m, r.pt)) {
		m->n_ignored++;
		return 0;
	}
	if (sdp_media_rtpmap(m, r.pt))
		return sdp_fail(a->p, "two a=rtpmap lines for one payload type");
	if (m->n_rtpmap >= SDP_MAX_FORMATS)
		return sdp_fail(a->p, "too many a=rtpmap lines");
	m->rtpmap[m->n_rtpmap++] = r;
	return 0;
}

/* a=fmtp:<pt> <params> */
static int a_fmtp(struct attr_ctx *a)
{
	struct sdp_media *m = a->m;
	struct sdp_fmtp f;
	int rc = pt_and_rest(a, &f.pt, &f.params, fmtp_msgs);
	if (rc)
		return rc;
	if (f.params.len > SDP_MAX_FMTP_LEN)
		return sdp_fail(a->p, "a=fmtp parameters longer than 1 KB");
	if (!in_m(m, f.pt)) {
		m->n_ignored++;
		return 0;
	}
	if (sdp_media_fmtp(m, f.pt))
		return sdp_fail(a->p, "two a=fmtp lines for one payload type");
	if (m->n_fmtp >= SDP_MAX_FORMATS)
		return sdp_fail(a->p, "too many a=fmtp lines");
	m->fmtp[m->n_fmtp++] = f;
	return 0;
}

/* a=rtcp-fb:<pt>|* <type> [<param>] (RFC 4585 §4.2) */
static int a_rtcpfb(struct attr_ctx *a)
{
	struct sdp_media *m = a->m;
	struct sdp_rtcpfb f = {0};
	if (a->v.len >= 2 && a->v.p[0] == '*' && a->v.p[1] == ' ') {
		f.wildcard = true;
		f.value = (struct slice){a->v.p + 2, a->v.len - 2};
		if (f.value.len == 0)
			return sdp_fail(a->p, "a=rtcp-fb without a feedback type");
	} else {
		int rc = pt_and_rest(a, &f.pt, &f.value, rtcpfb_msgs);
		if (rc)
			return rc;
	}
	if (f.value.len > SDP_MAX_TOKEN_LEN || f.value.p[0] == ' ')
		return sdp_fail(a->p, "a=rtcp-fb value overlong or bad");
	if (!f.wildcard && !in_m(m, f.pt)) {
		m->n_ignored++;
		return 0;
	}
	if (m->n_rtcpfb >= SDP_MAX_RTCPFB)
		return sdp_fail(a->p, "too many a=rtcp-fb lines");
	m->rtcpfb[m->n_rtcpfb++] = f;
	return 0;
}

static bool is_ice_chars(struct slice s)
{
	for (size_t i = 0; i < s.len; i++)
		if (!g_ascii_isalnum(s.p[i]) && s.p[i] != '+' && s.p[i] != '/')
			return false;
	return s.len > 0;
}

static bool is_addr_chars(struct slice s)
{
	for (size_t i = 0; i < s.len; i++)
		if (!g_ascii_isalnum(s.p[i]) && !strchr(".:-_%", s.p[i]))
			return false;
	return s.len > 0;
}

static int cand_ext(struct attr_ctx *a, struct sdp_candidate *k, struct slice v)
{
	bool raddr = false, rport = false;
	while (v.len) {
		struct slice start = v, name, val;
		if (!sdp_tok_req(&v, SDP_MAX_TOKEN_LEN, &name) ||
		    !sdp_tok_req(&v, SDP_MAX_TOKEN_LEN, &val))
			return sdp_fail(a->p, "a=candidate extension is not a name-value pair");
		if (slice_eqlit(name, "raddr") && !raddr && is_addr_chars(val)) {
			k->raddr = val;
			raddr = true;
		} else if (slice_eqlit(name, "rport") && !rport) {
			if (!sdp_port(val, &k->rport))
				return sdp_fail(a->p, "a=candidate rport is not a port");
			rport = true;
		} else if (slice_eqlit(name, "tcptype") && !k->tcptype.len) {
			if (!slice_eqlit(val, "active") && !slice_eqlit(val, "passive") &&
			    !slice_eqlit(val, "so"))
				return sdp_fail(a->p, "a=candidate tcptype unknown");
			k->tcptype = val;
		} else if (slice_eqlit(name, "generation") && !k->has_generation) {
			if (!sdp_u32(val, &k->generation))
				return sdp_fail(a->p, "a=candidate generation is not a number");
			k->has_generation = true;
		} else {
			k->ext = start;
			break;
		}
	}
	if (raddr != rport)
		return sdp_fail(a->p, "a=candidate raddr and rport must come together");
	k->has_rel = raddr;
	return 0;
}

/* a=candidate (RFC 8839 §5.1) */
static int a_candidate(struct attr_ctx *a)
{
	struct sdp_media *m = a->m;
	struct sdp_candidate k = {0};
	struct slice v = a->v, comp, prio, port, typ, type;
	uint32_t n;
	if (!sdp_tok_req(&v, 32, &k.foundation) || !is_ice_chars(k.foundation))
		return sdp_fail(a->p, "a=candidate bad foundation");
	if (!sdp_tok_req(&v, 3, &comp) || !sdp_u32(comp, &n) || n < 1 || n > 256)
		return sdp_fail(a->p, "a=candidate component is not 1-256");
	k.component = (uint16_t)n;
	if (!sdp_tok_req(&v, 3, &k.transport))
		return sdp_fail(a->p, "a=candidate without transport");
	if (slice_caseeqlit(k.transport, "tcp"))
		k.tcp = true;
	else if (!slice_caseeqlit(k.transport, "udp"))
		return sdp_fail(a->p, "a=candidate transport is not UDP or TCP");
	if (!sdp_tok_req(&v, 10, &prio) || !sdp_u32(prio, &k.priority))
		return sdp_fail(a->p, "a=candidate priority is not a 32-bit number");
	if (!sdp_tok_req(&v, SDP_MAX_TOKEN_LEN, &k.address) || !is_addr_chars(k.address))
		return sdp_fail(a->p, "a=candidate bad address");
	if (!sdp_tok_req(&v, 5, &port) || !sdp_port(port, &k.port))
		return sdp_fail(a->p, "a=candidate port is not 0-65535");
	if (!sdp_tok_req(&v, 3, &typ) || !slice_eqlit(typ, "typ") || !sdp_tok_req(&v, 5, &type))
		return sdp_fail(a->p, "a=candidate without typ");
	if (slice_eqlit(type, "host"))
		k.type = SDP_CAND_HOST;
	else if (slice_eqlit(type, "srflx"))
		k.type = SDP_CAND_SRFLX;
	else if (slice_eqlit(type, "prflx"))
		k.type = SDP_CAND_PRFLX;
	else if (slice_eqlit(type, "relay"))
		k.type = SDP_CAND_RELAY;
	else
		return sdp_fail(a->p, "a=candidate type unknown");
	int rc = cand_ext(a, &k, v);
	if (rc)
		return rc;
	if (m->n_cand >= SDP_MAX_CANDIDATES)
		return sdp_fail(a->p, "too many a=candidate lines");
	m->cand[m->n_cand++] = k;
	return 0;
}

static int set_once(struct attr_ctx *a, struct slice *dst, size_t min, bool ice_chars)
{
	if (dst->len)
		return sdp_fail(a->p, "attribute repeated");
	if (a->v.len < min || a->v.len > SDP_MAX_TOKEN_LEN)
		return sdp_fail(a->p, "attribute value too short or too long");
	if (ice_chars ? !is_ice_chars(a->v) : a->v.p[0] == ' ')
		return sdp_fail(a->p, "attribute value has bad characters");
	*dst = a->v;
	return 0;
}

/* RFC 8839 §5.4: ufrag 4-256 ice-chars, pwd 22-256. */
static int a_ufrag(struct attr_ctx *a)
{
	return set_once(a, &a->c->ice.ufrag, 4, true);
}

static int a_pwd(struct attr_ctx *a)
{
	return set_once(a, &a->c->ice.pwd, 22, true);
}

static int a_iceopt(struct attr_ctx *a)
{
	return set_once(a, &a->c->ice.options, 1, false);
}

static int a_mid(struct attr_ctx *a)
{
	if (!sdp_is_token(a->v))
		return sdp_fail(a->p, "a=mid is not a token");
	return set_once(a, &a->m->mid, 1, false);
}

static const struct {
	const char *name;
	enum sdp_hash hash;
	size_t bytes;
} hashes[] = {
	{"sha-1", SDP_HASH_SHA1, 20},     {"sha-224", SDP_HASH_SHA224, 28},
	{"sha-256", SDP_HASH_SHA256, 32}, {"sha-384", SDP_HASH_SHA384, 48},
	{"sha-512", SDP_HASH_SHA512, 64},
};

/* a=fingerprint:<hash> XX:XX:... (RFC 8122 §5): the value length must fit the hash. */
static int a_fingerprint(struct attr_ctx *a)
{
	struct sdp_common *c = a->c;
	struct sdp_fingerprint f;
	struct slice v = a->v;
	size_t bytes = 0;
	if (!sdp_tok_req(&v, 16, &f.hash_name) || v.len == 0)
		return sdp_fail(a->p, "a=fingerprint needs a hash and a value");
	for (size_t i = 0; i < G_N_ELEMENTS(hashes); i++)
		if (slice_caseeq(f.hash_name, hashes[i].name, strlen(hashes[i].name))) {
			f.hash = hashes[i].hash;
			bytes = hashes[i].bytes;
		}
	if (!bytes)
		return sdp_fail(a->p, "a=fingerprint hash function unknown");
	if (v.len != bytes * 3 - 1)
		return sdp_fail(a->p, "a=fingerprint value length does not match the hash");
	for (size_t i = 0; i < v.len; i++)
		if (i % 3 == 2 ? v.p[i] != ':' : !g_ascii_isxdigit(v.p[i]))
			return sdp_fail(a->p, "a=fingerprint value is not colon-separated hex");
	f.value = v;
	if (c->n_fp >= SDP_MAX_FINGERPRINTS)
		return sdp_fail(a->p, "too many a=fingerprint lines");
	c->fp[c->n_fp++] = f;
	return 0;
}

/* a=setup (RFC 4145 §4); a second one conflicts or is redundant: reject (BI-24). */
static int a_setup(struct attr_ctx *a)
{
	static const char *const names[] = {
		[SDP_SETUP_ACTIVE] = "active", [SDP_SETUP_PASSIVE] = "passive",
		[SDP_SETUP_ACTPASS] = "actpass", [SDP_SETUP_HOLDCONN] = "holdconn"};
	if (a->c->setup != SDP_SETUP_NONE)
		return sdp_fail(a->p, "a=setup repeated");
	for (size_t i = 1; i < G_N_ELEMENTS(names); i++)
		if (slice_eq(a->v, names[i], strlen(names[i]))) {
			a->c->setup = (enum sdp_setup)i;
			return 0;
		}
	return sdp_fail(a->p, "a=setup is not active, passive, actpass or holdconn");
}

static int a_dir(struct attr_ctx *a)
{
	if (a->has_value)
		return sdp_fail(a->p, "direction attribute with a value");
	if (a->c->dir != SDP_DIR_NONE)
		return sdp_fail(a->p, "more than one direction attribute");
	a->c->dir = sdp_dir_from(a->name);
	return 0;
}

static int flag(struct attr_ctx *a, bool *dst)
{
	if (a->has_value)
		return sdp_fail(a->p, "flag attribute with a value");
	*dst = true;
	return 0;
}

static int a_rtcpmux(struct attr_ctx *a) { return flag(a, &a->m->rtcp_mux); }
static int a_rtcprsize(struct attr_ctx *a) { return flag(a, &a->m->rtcp_rsize); }
static int a_eoc(struct attr_ctx *a) { return flag(a, &a->m->end_of_candidates); }
static int a_icelite(struct attr_ctx *a) { return flag(a, &a->p->s->ice_lite); }
static int a_mixed(struct attr_ctx *a) { return flag(a, &a->c->extmap_allow_mixed); }

static const struct {
	const char *name;
	enum sdp_crypto_suite suite;
	size_t key_bytes; /* master key + salt */
} suites[] = {
	{"AES_CM_128_HMAC_SHA1_80", SDP_SUITE_AES_CM_128_HMAC_SHA1_80, 30},
	{"AES_CM_128_HMAC_SHA1_32", SDP_SUITE_AES_CM_128_HMAC_SHA1_32, 30},
	{"AES_192_CM_HMAC_SHA1_80", SDP_SUITE_AES_192_CM_HMAC_SHA1_80, 38},
	{"AES_192_CM_HMAC_SHA1_32", SDP_SUITE_AES_192_CM_HMAC_SHA1_32, 38},
	{"AES_256_CM_HMAC_SHA1_80", SDP_SUITE_AES_256_CM_HMAC_SHA1_80, 46},
	{"AES_256_CM_HMAC_SHA1_32", SDP_SUITE_AES_256_CM_HMAC_SHA1_32, 46},
	{"AEAD_AES_128_GCM", SDP_SUITE_AEAD_AES_128_GCM, 28},
	{"AEAD_AES_256_GCM", SDP_SUITE_AEAD_AES_256_GCM, 44},
};

/* Decoded length of base64 text, or 0 if it is not base64 (padding optional). */
static size_t b64_len(struct slice s)
{
	size_t n = s.len, pad = 0;
	while (n && s.p[n - 1] == '=' && pad < 2) {
		n--;
		pad++;
	}
	if (n == 0 || n % 4 == 1 || (pad && s.len % 4))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!g_ascii_isalnum(s.p[i]) && s.p[i] != '+' && s.p[i] != '/')
			return 0;
	return n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
}

/* key-info after "inline:": key||salt ["|" lifetime] ["|" MKI ":" length] */
static int crypto_key(struct attr_ctx *a, struct sdp_crypto *k, struct slice v, size_t want)
{
	size_t at;
	if (sdp_slice_find(v, ';', &at))
		return sdp_fail(a->p, "a=crypto with several key-params is not supported");
	k->key = v;
	if (sdp_slice_find(v, '|', &at)) {
		k->key.len = at;
		struct slice rest = {v.p + at + 1, v.len - at - 1};
		for (;;) {
			struct slice part = rest;
			bool more = sdp_slice_find(rest, '|', &at);
			if (more)
				part.len = at;
			size_t colon;
			if (!k->mki.len && sdp_slice_find(part, ':', &colon) &&
			    sdp_digits((struct slice){part.p, colon}, 10) &&
			    sdp_digits((struct slice){part.p + colon + 1, part.len - colon - 1}, 3)) {
				k->mki = part;
			} else if (!k->lifetime.len && !k->mki.len &&
				   (sdp_digits(part, 20) ||
				    (part.len > 2 && part.p[0] == '2' && part.p[1] == '^' &&
				     sdp_digits((struct slice){part.p + 2, part.len - 2}, 2)))) {
				k->lifetime = part;
			} else {
				return sdp_fail(a->p, "a=crypto bad lifetime or MKI");
			}
			if (!more)
				break;
			rest.p += at + 1;
			rest.len -= at + 1;
		}
	}
	if (k->key.len > SDP_MAX_KEY_LEN)
		return sdp_fail(a->p, "a=crypto key longer than 128 characters");
	size_t bytes = b64_len(k->key);
	if (bytes == 0)
		return sdp_fail(a->p, "a=crypto key is not base64");
	if (want && bytes != want)
		return sdp_fail(a->p, "a=crypto key length does not match the suite");
	return 0;
}

/* a=crypto:<tag> <suite> inline:<key-info> [<session-params>] (RFC 4568 §9.1) */
static int a_crypto(struct attr_ctx *a)
{
	struct sdp_media *m = a->m;
	struct sdp_crypto k = {0};
	struct slice v = a->v, tag, params;
	size_t want = 0;
	if (!sdp_tok_req(&v, 9, &tag) || !sdp_u32(tag, &k.tag) || k.tag == 0)
		return sdp_fail(a->p, "a=crypto tag is not a number 1-999999999");
	if (!sdp_tok_req(&v, 64, &k.suite_name) || !sdp_is_token(k.suite_name))
		return sdp_fail(a->p, "a=crypto without suite");
	for (size_t i = 0; i < G_N_ELEMENTS(suites); i++)
		if (slice_eq(k.suite_name, suites[i].name, strlen(suites[i].name))) {
			k.suite = suites[i].suite;
			want = suites[i].key_bytes;
		}
	if (!sdp_tok_req(&v, SDP_MAX_ATTR_LEN, &params) || params.len < 7 ||
	    memcmp(params.p, "inline:", 7) != 0)
		return sdp_fail(a->p, "a=crypto without inline: key");
	int rc = crypto_key(a, &k, (struct slice){params.p + 7, params.len - 7}, want);
	if (rc)
		return rc;
	if (v.len && v.p[0] == ' ')
		return sdp_fail(a->p, "a=crypto bad session parameters");
	k.session_params = v;
	for (size_t i = 0; i < m->n_crypto; i++)
		if (m->crypto[i].tag == k.tag)
			return sdp_fail(a->p, "a=crypto tag repeated");
	if (m->n_crypto >= SDP_MAX_CRYPTO)
		return sdp_fail(a->p, "too many a=crypto lines");
	m->crypto[m->n_crypto++] = k;
	return 0;
}

/* a=rtcp:<port> [IN IP4 <address>] (RFC 3605) */
static int a_rtcp(struct attr_ctx *a)
{
	struct sdp_rtcp *r = &a->m->rtcp;
	struct slice v = a->v, port;
	if (r->present)
		return sdp_fail(a->p, "a=rtcp repeated");
	if (!sdp_tok_req(&v, 5, &port) || !sdp_port(port, &r->port))
		return sdp_fail(a->p, "a=rtcp port is not 0-65535");
	if (v.len) {
		int rc = sdp_conn_parse(a->p, v, &r->conn);
		if (rc)
			return rc;
	}
	r->present = true;
	return 0;
}

/* a=ssrc:<id> <attribute>[:<value>] (RFC 5576 §4.1) */
static int a_ssrc(struct attr_ctx *a)
{
	struct sdp_media *m = a->m;
	struct sdp_ssrc x = {0};
	struct slice v = a->v, id;
	if (!sdp_tok_req(&v, 10, &id) || !sdp_u32(id, &x.id))
		return sdp_fail(a->p, "a=ssrc id is not a 32-bit number");
	size_t at;
	x.attr = v;
	if (sdp_slice_find(v, ':', &at)) {
		x.attr.len = at;
		x.value = (struct slice){v.p + at + 1, v.len - at - 1};
		x.has_value = true;
	}
	if (!sdp_is_token(x.attr) || x.attr.len > 64 || x.value.len > SDP_MAX_ATTR_LEN)
		return sdp_fail(a->p, "a=ssrc bad attribute");
	if (m->n_ssrc >= SDP_MAX_SSRCS)
		return sdp_fail(a->p, "too many a=ssrc lines");
	m->ssrc[m->n_ssrc++] = x;
	return 0;
}

/* a=ssrc-group:<semantics> <ssrc>... (RFC 5576 §4.2) */
static int a_ssrc_group(struct attr_ctx *a)
{
	struct sdp_media *m = a->m;
	struct sdp_ssrc_group g = {0};
	struct slice v = a->v, id;
	if (!sdp_tok_req(&v, 32, &g.semantics) || !sdp_is_token(g.semantics) || v.len == 0)
		return sdp_fail(a->p, "a=ssrc-group needs semantics and SSRCs");
	while (v.len) {
		if (g.n_ssrc >= SDP_MAX_GROUP_SSRCS)
			return sdp_fail(a->p, "a=ssrc-group has too many SSRCs");
		if (!sdp_tok_req(&v, 10, &id) || !sdp_u32(id, &g.ssrc[g.n_ssrc++]))
			return sdp_fail(a->p, "a=ssrc-group SSRC is not a 32-bit number");
	}
	if (m->n_ssrc_group >= SDP_MAX_SSRC_GROUPS)
		return sdp_fail(a->p, "too many a=ssrc-group lines");
	m->ssrc_group[m->n_ssrc_group++] = g;
	return 0;
}

/* a=msid:<id> [<appdata>] (RFC 8830 §2) */
static int a_msid(struct attr_ctx *a)
{
	struct sdp_media *m = a->m;
	struct sdp_msid x = {0};
	struct slice v = a->v;
	if (!sdp_tok_req(&v, 64, &x.id) || !sdp_is_token(x.id))
		return sdp_fail(a->p, "a=msid bad id");
	if (v.len && (v.len > 64 || !sdp_is_token(v)))
		return sdp_fail(a->p, "a=msid bad appdata");
	x.appdata = v;
	if (m->n_msid >= SDP_MAX_MSIDS)
		return sdp_fail(a->p, "too many a=msid lines");
	m->msid[m->n_msid++] = x;
	return 0;
}

/* a=extmap:<id>[/<direction>] <URI> [<attributes>] (RFC 8285 §7) */
static int a_extmap(struct attr_ctx *a)
{
	struct sdp_media *m = a->m;
	struct sdp_extmap x = {0};
	struct slice v = a->v, id;
	uint32_t n;
	size_t at;
	if (!sdp_tok_req(&v, 16, &id))
		return sdp_fail(a->p, "a=extmap without id");
	if (sdp_slice_find(id, '/', &at)) {
		x.dir = sdp_dir_from((struct slice){id.p + at + 1, id.len - at - 1});
		if (x.dir == SDP_DIR_NONE)
			return sdp_fail(a->p, "a=extmap bad direction");
		id.len = at;
	}
	if (!sdp_u32(id, &n) || !((n >= 1 && n <= 255) || (n >= 4096 && n <= 4351)))
		return sdp_fail(a->p, "a=extmap id is not 1-255 or 4096-4351");
	x.id = (uint16_t)n;
	if (!sdp_tok_req(&v, SDP_MAX_URI_LEN, &x.uri))
		return sdp_fail(a->p, "a=extmap URI missing or longer than 256");
	if (v.len > SDP_MAX_ATTR_LEN || (v.len && v.p[0] == ' '))
		return sdp_fail(a->p, "a=extmap bad attributes");
	x.params = v;
	for (size_t i = 0; i < m->n_extmap; i++)
		if (m->extmap[i].id == x.id)
			return sdp_fail(a->p, "a=extmap id repeated");
	if (m->n_extmap >= SDP_MAX_EXTMAPS)
		return sdp_fail(a->p, "too many a=extmap lines");
	m->extmap[m->n_extmap++] = x;
	return 0;
}

/* ptime/maxptime in ms: any digit string, saturated, then clamped (BI-25). */
static int ptime(struct attr_ctx *a, uint32_t *dst)
{
	uint32_t v = 0;
	if (*dst)
		return sdp_fail(a->p, "ptime or maxptime repeated");
	if (!sdp_digits(a->v, 64))
		return sdp_fail(a->p, "ptime or maxptime is not a number");
	for (size_t i = 0; i < a->v.len; i++)
		v = v > SDP_PTIME_MAX ? v : v * 10 + (uint32_t)(a->v.p[i] - '0');
	*dst = v < SDP_PTIME_MIN ? SDP_PTIME_MIN : v > SDP_PTIME_MAX ? SDP_PTIME_MAX : v;
	return 0;
}

static int a_ptime(struct attr_ctx *a) { return ptime(a, &a->m->ptime); }
static int a_maxptime(struct attr_ctx *a) { return ptime(a, &a->m->maxptime); }

/* a=group:<semantics> <mid>... (RFC 5888 §5) */
static int a_group(struct attr_ctx *a)
{
	struct sdp_session *s = a->p->s;
	struct slice v = a->v;
	if (s->n_group >= SDP_MAX_GROUPS)
		return sdp_fail(a->p, "too many a=group lines");
	struct sdp_group *g = &s->group[s->n_group];
	memset(g, 0, sizeof(*g));
	if (!sdp_tok_req(&v, 32, &g->semantics) || !sdp_is_token(g->semantics))
		return sdp_fail(a->p, "a=group without semantics");
	while (v.len) {
		if (g->n_mid >= SDP_MAX_GROUP_MIDS)
			return sdp_fail(a->p, "a=group has too many mids");
		struct slice *mid = &g->mid[g->n_mid++];
		if (!sdp_tok_req(&v, SDP_MAX_TOKEN_LEN, mid) || !sdp_is_token(*mid))
			return sdp_fail(a->p, "a=group bad mid");
	}
	s->n_group++;
	return 0;
}

static int a_msid_semantic(struct attr_ctx *a)
{
	if (a->p->s->msid_semantic.p)
		return sdp_fail(a->p, "a=msid-semantic repeated");
	if (a->v.len == 0 || a->v.len > SDP_MAX_ATTR_LEN)
		return sdp_fail(a->p, "a=msid-semantic empty or overlong");
	a->p->s->msid_semantic = a->v;
	return 0;
}

static const struct attr_def defs[] = {
	{"rtpmap", a_rtpmap, AT_MEDIA | AT_RTP},
	{"fmtp", a_fmtp, AT_MEDIA | AT_RTP},
	{"rtcp-fb", a_rtcpfb, AT_MEDIA | AT_RTP},
	{"candidate", a_candidate, AT_MEDIA},
	{"end-of-candidates", a_eoc, AT_MEDIA},
	{"ice-ufrag", a_ufrag, AT_SESSION | AT_MEDIA},
	{"ice-pwd", a_pwd, AT_SESSION | AT_MEDIA},
	{"ice-options", a_iceopt, AT_SESSION | AT_MEDIA},
	{"ice-lite", a_icelite, AT_SESSION},
	{"fingerprint", a_fingerprint, AT_SESSION | AT_MEDIA},
	{"setup", a_setup, AT_SESSION | AT_MEDIA},
	{"crypto", a_crypto, AT_MEDIA},
	{"mid", a_mid, AT_MEDIA},
	{"rtcp-mux", a_rtcpmux, AT_MEDIA},
	{"rtcp-rsize", a_rtcprsize, AT_MEDIA},
	{"rtcp", a_rtcp, AT_MEDIA},
	{"sendrecv", a_dir, AT_SESSION | AT_MEDIA},
	{"sendonly", a_dir, AT_SESSION | AT_MEDIA},
	{"recvonly", a_dir, AT_SESSION | AT_MEDIA},
	{"inactive", a_dir, AT_SESSION | AT_MEDIA},
	{"ssrc", a_ssrc, AT_MEDIA},
	{"ssrc-group", a_ssrc_group, AT_MEDIA},
	{"msid", a_msid, AT_MEDIA},
	{"extmap", a_extmap, AT_MEDIA},
	{"extmap-allow-mixed", a_mixed, AT_SESSION | AT_MEDIA},
	{"ptime", a_ptime, AT_MEDIA},
	{"maxptime", a_maxptime, AT_MEDIA},
	{"group", a_group, AT_SESSION},
	{"msid-semantic", a_msid_semantic, AT_SESSION},
};

static int generic(struct attr_ctx *a, struct slice name)
{
	struct sdp_common *c = a->c;
	if (a->v.len > SDP_MAX_ATTR_LEN)
		return sdp_fail(a->p, "attribute value longer than 2 KB");
	if (c->n_attrs >= SDP_MAX_ATTRS)
		return sdp_fail(a->p, "too many other attributes");
	c->attrs[c->n_attrs++] = (struct sdp_attr){name, a->v, a->has_value};
	return 0;
}

int sdp_attr_parse(struct sdp_parser *p, struct slice v)
{
	struct attr_ctx a = {.p = p, .m = p->m, .c = p->m ? &p->m->common : &p->s->common};
	struct slice name = v;
	size_t at;
	if (sdp_slice_find(v, ':', &at)) {
		name.len = at;
		a.v = (struct slice){v.p + at + 1, v.len - at - 1};
		a.has_value = true;
	} else {
		a.v = (struct slice){v.p + v.len, 0};
	}
	if (name.len == 0 || name.len > 64 || !sdp_is_token(name))
		return sdp_fail(p, "attribute name empty or bad");
	a.name = name;
	unsigned where = p->m ? AT_MEDIA : AT_SESSION;
	for (size_t i = 0; i < G_N_ELEMENTS(defs); i++) {
		if (!slice_eq(name, defs[i].name, strlen(defs[i].name)))
			continue;
		if (!(defs[i].where & where) || ((defs[i].where & AT_RTP) && !p->m->rtp))
			break;
		bool flagged = defs[i].fn == a_dir || defs[i].fn == a_rtcpmux ||
			       defs[i].fn == a_rtcprsize || defs[i].fn == a_eoc ||
			       defs[i].fn == a_icelite || defs[i].fn == a_mixed;
		if (!flagged && (!a.has_value || a.v.len == 0))
			return sdp_fail(p, "attribute without value");
		return defs[i].fn(&a);
	}
	return generic(&a, name);
}
