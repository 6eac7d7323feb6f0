/* b2b_sdp_remote: reads what a peer's SDP asks of the relay for its audio stream. */
#include <arpa/inet.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b2b_sdp.h"

int b2b_fail(char *err, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		g_vsnprintf(err, B2B_ERR_LEN, fmt, ap);
		va_end(ap);
	}
	return EPROTO;
}

/* ---- tables ------------------------------------------------------------------------- */

/* RFC 3551 §6: static payload types, which need no rtpmap. */
static const struct {
	uint8_t pt;
	const char *name;
	uint32_t clock;
	uint8_t channels;
} static_pts[] = {
	{0, "PCMU", 8000, 0},   {3, "GSM", 8000, 0},     {4, "G723", 8000, 0},
	{5, "DVI4", 8000, 0},   {6, "DVI4", 16000, 0},   {7, "LPC", 8000, 0},
	{8, "PCMA", 8000, 0},   {9, "G722", 8000, 0},    {10, "L16", 44100, 2},
	{11, "L16", 44100, 0},  {12, "QCELP", 8000, 0},  {13, "CN", 8000, 0},
	{15, "G728", 8000, 0},  {16, "DVI4", 11025, 0},  {17, "DVI4", 22050, 0},
	{18, "G729", 8000, 0},
};

/* Suites the relay's SRTP transform handles (media-relay/relay_srtp.c); master key || salt
 * lengths (RFC 4568, RFC 6188, RFC 7714). An a=crypto line with another suite is skipped. */
const struct b2b_suite b2b_suites[] = {
	{SDP_SUITE_AES_CM_128_HMAC_SHA1_80, "AES_CM_128_HMAC_SHA1_80", 30},
	{SDP_SUITE_AES_CM_128_HMAC_SHA1_32, "AES_CM_128_HMAC_SHA1_32", 30},
	{SDP_SUITE_AES_256_CM_HMAC_SHA1_80, "AES_256_CM_HMAC_SHA1_80", 46},
	{SDP_SUITE_AES_256_CM_HMAC_SHA1_32, "AES_256_CM_HMAC_SHA1_32", 46},
	{SDP_SUITE_AEAD_AES_128_GCM, "AEAD_AES_128_GCM", 28},
	{SDP_SUITE_AEAD_AES_256_GCM, "AEAD_AES_256_GCM", 44},
};
const size_t b2b_n_suites = G_N_ELEMENTS(b2b_suites);

const struct b2b_suite *b2b_suite_find(enum sdp_crypto_suite s)
{
	for (size_t i = 0; i < b2b_n_suites; i++)
		if (b2b_suites[i].suite == s)
			return &b2b_suites[i];
	return NULL;
}

static const char *const hash_names[] = {
	[SDP_HASH_SHA1] = "sha-1",     [SDP_HASH_SHA224] = "sha-224", [SDP_HASH_SHA256] = "sha-256",
	[SDP_HASH_SHA384] = "sha-384", [SDP_HASH_SHA512] = "sha-512",
};

const char *b2b_profile_name(enum b2b_profile p)
{
	switch (p) {
	case B2B_PROFILE_WEBRTC: return "webrtc";
	case B2B_PROFILE_RTP: return "rtp";
	case B2B_PROFILE_SDES: return "sdes";
	case B2B_PROFILE_DTLS: return "dtls";
	}
	return "?";
}

/* ---- codec classes --------------------------------------------------------------------- */

static bool name_is(const char *name, const char *const *list)
{
	for (; *list; list++)
		if (g_ascii_strcasecmp(name, *list) == 0)
			return true;
	return false;
}

bool b2b_codec_is_media(const struct b2b_codec *c)
{
	static const char *const aux[] = {"telephone-event", "CN", "red", "ulpfec", "flexfec-03",
					  "rtx", NULL};
	return !name_is(c->name, aux);
}

bool b2b_codec_carried(const struct b2b_codec *c, enum b2b_profile target)
{
	/* What a browser does for audio (RFC 7874 §3 plus what Chrome and Firefox ship) and
	 * video (RFC 7742 §5: VP8 and H.264; VP9 and AV1 as both browsers ship them). */
	static const char *const webrtc[] = {"opus", "G722", "PCMU", "PCMA", "telephone-event",
					     "CN", "VP8", "VP9", "H264", "AV1", NULL};
	/* Redundancy, FEC and retransmission wrap other payloads: SIP peers cannot use them. */
	static const char *const sip_drop[] = {"red", "ulpfec", "flexfec-03", "rtx", NULL};
	if (target == B2B_PROFILE_WEBRTC)
		return name_is(c->name, webrtc);
	return !name_is(c->name, sip_drop);
}

/* H.264 packetization-mode (RFC 6184 §8.1), 0 when absent. */
static unsigned h264_mode(const char *fmtp)
{
	const char *p = strstr(fmtp, "packetization-mode=");
	return p ? (unsigned)strtoul(p + strlen("packetization-mode="), NULL, 10) : 0;
}

/* Same codec: encoding name (case-insensitive, RFC 4855 §3), clock and channels; for H.264
 * the packetization mode too (RFC 6184 §8.2.2: a different mode is another format). */
bool b2b_codec_same(const struct b2b_codec *a, const struct b2b_codec *b)
{
	if (g_ascii_strcasecmp(a->name, b->name) != 0 || a->clock != b->clock)
		return false;
	if (g_ascii_strcasecmp(a->name, "H264") == 0)
		return h264_mode(a->fmtp) == h264_mode(b->fmtp);
	/* RFC 7587 §7 says opus/48000/2 always; some phones drop the /2. */
	if (g_ascii_strcasecmp(a->name, "opus") == 0)
		return true;
	return (a->channels ? a->channels : 1) == (b->channels ? b->channels : 1);
}

/* m='s payload types as codecs, in m= order; unknown dynamic PTs are skipped (BI-22). */
void b2b_codecs_read(const struct sdp_media *m, struct b2b_codec *out, unsigned *n)
{
	*n = 0;
	for (size_t i = 0; i < m->n_fmt && i < SDP_MAX_FORMATS && *n < B2B_MAX_CODECS; i++) {
		struct b2b_codec *c = &out[*n];
		const struct sdp_rtpmap *r = sdp_media_rtpmap(m, m->pt[i]);
		const struct sdp_fmtp *f = sdp_media_fmtp(m, m->pt[i]);
		memset(c, 0, sizeof(*c));
		c->pt = m->pt[i];
		if (r) {
			if (r->encoding.len == 0 || r->encoding.len >= sizeof(c->name))
				continue;
			memcpy(c->name, r->encoding.p, r->encoding.len);
			c->clock = r->clock;
			c->channels = r->channels;
		} else {
			size_t k = 0;
			while (k < G_N_ELEMENTS(static_pts) && static_pts[k].pt != c->pt)
				k++;
			if (k == G_N_ELEMENTS(static_pts))
				continue;
			g_strlcpy(c->name, static_pts[k].name, sizeof(c->name));
			c->clock = static_pts[k].clock;
			c->channels = static_pts[k].channels;
		}
		if (f) {
			if (f->params.len >= sizeof(c->fmtp))
				continue;
			memcpy(c->fmtp, f->params.p, f->params.len);
		}
		(*n)++;
	}
}

/* ---- decoders -------------------------------------------------------------------------- */

static int hexval(char c)
{
	return g_ascii_xdigit_value(c);
}

/* "AB:CD:..." into out; false if it is not colon-separated hex pairs or too long. */
bool b2b_fp_decode(struct slice v, uint8_t *out, size_t cap, size_t *len)
{
	*len = 0;
	if (v.len == 0 || (v.len + 1) % 3 != 0 || (v.len + 1) / 3 > cap)
		return false;
	for (size_t i = 0; i < v.len; i += 3) {
		int hi = hexval(v.p[i]), lo = hexval(v.p[i + 1]);
		if (hi < 0 || lo < 0 || (i + 2 < v.len && v.p[i + 2] != ':'))
			return false;
		out[(*len)++] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

static int b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Strict base64 (RFC 4648 §4, padding optional) into out; false on anything else. */
bool b2b_b64_decode(struct slice s, uint8_t *out, size_t cap, size_t *len)
{
	size_t n = s.len;
	uint32_t acc = 0;
	unsigned bits = 0;
	*len = 0;
	while (n && s.p[n - 1] == '=' && s.len - n < 2)
		n--;
	if (n % 4 == 1 || (n != s.len && s.len % 4))
		return false;
	for (size_t i = 0; i < n; i++) {
		int v = b64val(s.p[i]);
		if (v < 0)
			return false;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (*len >= cap)
				return false;
			out[(*len)++] = (uint8_t)(acc >> bits);
		}
	}
	/* Leftover bits must be zero (RFC 4648 §3.5 canonical form). */
	return (acc & ((1u << bits) - 1)) == 0;
}

/* ---- the audio m-section ----------------------------------------------------------------- */

static bool profile_of(struct slice proto, enum b2b_profile *p)
{
	if (slice_eqlit(proto, "UDP/TLS/RTP/SAVPF"))
		*p = B2B_PROFILE_WEBRTC;
	else if (slice_eqlit(proto, "UDP/TLS/RTP/SAVP"))
		*p = B2B_PROFILE_DTLS;
	else if (slice_eqlit(proto, "RTP/SAVP") || slice_eqlit(proto, "RTP/SAVPF"))
		*p = B2B_PROFILE_SDES;
	else if (slice_eqlit(proto, "RTP/AVP") || slice_eqlit(proto, "RTP/AVPF"))
		*p = B2B_PROFILE_RTP;
	else
		return false;
	return true;
}

static bool copy_slice(char *dst, size_t cap, struct slice s)
{
	if (s.len >= cap)
		return false;
	if (s.len)
		memcpy(dst, s.p, s.len);
	dst[s.len] = '\0';
	return true;
}

static const char *const cand_types[] = {
	[SDP_CAND_HOST] = "host", [SDP_CAND_SRFLX] = "srflx", [SDP_CAND_PRFLX] = "prflx",
	[SDP_CAND_RELAY] = "relay",
};

/* "candidate:..." as RFC 8839 §5.1 writes it; without the extensions if they do not fit. */
static bool cand_string(const struct sdp_candidate *k, char *buf, size_t cap)
{
	if ((unsigned)k->type >= G_N_ELEMENTS(cand_types))
		return false;
	for (int with_ext = 1; with_ext >= 0; with_ext--) {
		char rel[300] = "", tcp[300] = "", gen[32] = "";
		struct slice ext = with_ext ? k->ext : (struct slice){"", 0};
		if (k->has_rel)
			g_snprintf(rel, sizeof(rel), " raddr " SLICE_FMT " rport %u",
				   SLICE_ARG(k->raddr), k->rport);
		if (k->tcptype.len)
			g_snprintf(tcp, sizeof(tcp), " tcptype " SLICE_FMT, SLICE_ARG(k->tcptype));
		if (k->has_generation)
			g_snprintf(gen, sizeof(gen), " generation %u", k->generation);
		int n = g_snprintf(buf, cap, "candidate:" SLICE_FMT " %u %s %u " SLICE_FMT
				   " %u typ %s%s%s%s%s" SLICE_FMT,
				   SLICE_ARG(k->foundation), k->component,
				   k->transport.len ? "" : (k->tcp ? "tcp" : "udp"), k->priority,
				   SLICE_ARG(k->address), k->port, cand_types[k->type], rel, tcp,
				   gen, ext.len ? " " : "", SLICE_ARG(ext));
		if (k->transport.len && n > 0) {
			/* The transport token as written ("UDP" or "udp"), spliced in. */
			n = g_snprintf(buf, cap, "candidate:" SLICE_FMT " %u " SLICE_FMT
				       " %u " SLICE_FMT " %u typ %s%s%s%s%s" SLICE_FMT,
				       SLICE_ARG(k->foundation), k->component,
				       SLICE_ARG(k->transport), k->priority,
				       SLICE_ARG(k->address), k->port, cand_types[k->type], rel,
				       tcp, gen, ext.len ? " " : "", SLICE_ARG(ext));
		}
		if (n > 0 && (size_t)n < cap)
			return true;
	}
	return false;
}

static int read_conn(const struct sdp_session *s, const struct sdp_media *m, bool ice,
		     struct b2b_media_remote *out, char *err)
{
	const struct sdp_conn *c = sdp_media_conn(s, m);
	if (!c)
		return b2b_fail(err, "audio m-section without c=");
	out->family = c->addrtype == SDP_ADDR_IP6 ? AF_INET6 : AF_INET;
	if (c->flags & (SDP_CONN_MULTICAST | SDP_CONN_BROADCAST))
		return b2b_fail(err, "c= is a multicast or broadcast address");
	if (c->flags & SDP_CONN_FQDN)
		return b2b_fail(err, "c= is a host name; only address literals are supported");
	if (c->flags & SDP_CONN_UNSPEC) {
		if (!ice) { /* RFC 3264 §8.4: do not send to me */
			if (out->dir == SDP_DIR_SENDRECV)
				out->dir = SDP_DIR_SENDONLY;
			else if (out->dir == SDP_DIR_RECVONLY)
				out->dir = SDP_DIR_INACTIVE;
		}
		return 0;
	}
	if (!copy_slice(out->addr, sizeof(out->addr), c->address))
		return b2b_fail(err, "c= address too long");
	return 0;
}

static int read_dtls(const struct sdp_session *s, const struct sdp_media *m,
		     struct b2b_media_remote *out, char *err)
{
	const struct sdp_common *c = m->common.n_fp ? &m->common : &s->common;
	out->setup = m->common.setup != SDP_SETUP_NONE ? m->common.setup : s->common.setup;
	for (size_t i = 0; i < c->n_fp && i < SDP_MAX_FINGERPRINTS && !out->fp_len; i++) {
		const struct sdp_fingerprint *f = &c->fp[i];
		if ((unsigned)f->hash >= G_N_ELEMENTS(hash_names))
			continue;
		if (!b2b_fp_decode(f->value, out->fp, sizeof(out->fp), &out->fp_len))
			return b2b_fail(err, "a=fingerprint is not colon-separated hex");
		g_strlcpy(out->fp_hash, hash_names[f->hash], sizeof(out->fp_hash));
	}
	if (out->profile != B2B_PROFILE_WEBRTC && out->profile != B2B_PROFILE_DTLS)
		return 0;
	if (!out->fp_len)
		return b2b_fail(err, "DTLS-SRTP without a usable a=fingerprint");
	if (out->setup == SDP_SETUP_NONE) /* BI-24 */
		return b2b_fail(err, "DTLS-SRTP without a=setup");
	return 0;
}

/* The first a=crypto we can use: a supported suite, the right key length, no MKI. */
static int read_sdes(const struct sdp_media *m, struct b2b_media_remote *out, char *err)
{
	for (size_t i = 0; i < m->n_crypto && i < SDP_MAX_CRYPTO; i++) {
		const struct sdp_crypto *k = &m->crypto[i];
		const struct b2b_suite *su = b2b_suite_find(k->suite);
		size_t len;
		if (!su || k->mki.len || k->session_params.len)
			continue;
		if (!b2b_b64_decode(k->key, out->crypto_key, sizeof(out->crypto_key), &len) ||
		    len != su->key_len) {
			memset(out->crypto_key, 0, sizeof(out->crypto_key));
			continue;
		}
		out->crypto_tag = k->tag;
		out->crypto_suite = k->suite;
		out->crypto_key_len = len;
		return 0;
	}
	/* Never fall back to RTP when SRTP was asked for (BI-24). */
	return b2b_fail(err, "RTP/SAVP without an a=crypto we support");
}

static int read_ice(const struct sdp_session *s, const struct sdp_media *m,
		    struct b2b_media_remote *out, char *err)
{
	struct slice ufrag = m->common.ice.ufrag.len ? m->common.ice.ufrag : s->common.ice.ufrag;
	struct slice pwd = m->common.ice.pwd.len ? m->common.ice.pwd : s->common.ice.pwd;
	if (!copy_slice(out->ice_ufrag, sizeof(out->ice_ufrag), ufrag) ||
	    !copy_slice(out->ice_pwd, sizeof(out->ice_pwd), pwd))
		return b2b_fail(err, "ICE credentials too long");
	if (out->profile == B2B_PROFILE_WEBRTC && (!ufrag.len || !pwd.len))
		return b2b_fail(err, "WebRTC m-section without a=ice-ufrag and a=ice-pwd");
	out->ice_lite = s->ice_lite;
	out->end_of_candidates = m->end_of_candidates;
	for (size_t i = 0; i < m->n_cand && i < SDP_MAX_CANDIDATES; i++) {
		if (out->n_cand == B2B_MAX_CANDIDATES)
			break;
		if (cand_string(&m->cand[i], out->cand[out->n_cand], B2B_MAX_CAND_LEN))
			out->n_cand++;
	}
	return 0;
}

static void read_codecs(const struct sdp_media *m, struct b2b_media_remote *out)
{
	b2b_codecs_read(m, out->codecs, &out->n_codecs);
	out->dtmf_pt = -1;
	for (unsigned i = 0; i < out->n_codecs && !out->clock_rate; i++)
		if (b2b_codec_is_media(&out->codecs[i]))
			out->clock_rate = out->codecs[i].clock;
	for (unsigned i = 0; i < out->n_codecs; i++) {
		const struct b2b_codec *c = &out->codecs[i];
		if (g_ascii_strcasecmp(c->name, "telephone-event") != 0)
			continue;
		if (out->dtmf_pt < 0 || c->clock == out->clock_rate)
			out->dtmf_pt = c->pt;
		if (c->clock == out->clock_rate)
			break;
	}
}

/* What BUNDLE demultiplexing needs: the MID extension's id and the SSRCs (RFC 8843 §9.2). */
static void read_bundle(const struct sdp_media *m, struct b2b_media_remote *out)
{
	for (size_t i = 0; i < m->n_extmap && i < SDP_MAX_EXTMAPS; i++)
		if (m->extmap[i].id <= 255 && slice_eqlit(m->extmap[i].uri, B2B_MID_EXT_URI))
			out->mid_ext = (uint8_t)m->extmap[i].id;
	for (size_t i = 0; i < m->n_ssrc && i < SDP_MAX_SSRCS && out->n_ssrc < B2B_MAX_SSRC; i++) {
		bool dup = false;
		for (unsigned j = 0; j < out->n_ssrc; j++)
			dup = dup || out->ssrc[j] == m->ssrc[i].id;
		if (!dup)
			out->ssrc[out->n_ssrc++] = m->ssrc[i].id;
	}
}

/*
 * Zeroes r but its candidate and codec arrays, which are only read below n_cand and
 * n_codecs: they are 13 of its 14 KB, and a call zeroed ten or more of these (with their
 * wiping on free, a third of the instructions a SIP-to-SIP call took).
 */
G_STATIC_ASSERT(offsetof(struct b2b_media_remote, cand) <
		offsetof(struct b2b_media_remote, n_cand));
G_STATIC_ASSERT(offsetof(struct b2b_media_remote, n_cand) <
		offsetof(struct b2b_media_remote, codecs));
G_STATIC_ASSERT(offsetof(struct b2b_media_remote, codecs) <
		offsetof(struct b2b_media_remote, n_codecs));
static void remote_reset(struct b2b_media_remote *r)
{
	char *p = (char *)r;
	size_t cand = offsetof(struct b2b_media_remote, cand),
	       n_cand = offsetof(struct b2b_media_remote, n_cand),
	       codecs = offsetof(struct b2b_media_remote, codecs),
	       n_codecs = offsetof(struct b2b_media_remote, n_codecs);
	memset(p, 0, cand);
	memset(p + n_cand, 0, codecs - n_cand);
	memset(p + n_codecs, 0, sizeof(*r) - n_codecs);
}

int b2b_sdp_remote_at(const struct sdp_session *s, unsigned idx, struct b2b_media_remote *out,
		      char *err)
{
	const struct sdp_media *m = &s->media[idx];
	remote_reset(out);
	out->dtmf_pt = -1;
	out->m_index = idx;
	if (!profile_of(m->proto, &out->profile))
		return b2b_fail(err, "audio proto is not RTP/AVP(F), RTP/SAVP(F) or UDP/TLS/RTP/SAVP(F)");
	out->rtp_port = m->port;
	out->rtcp_mux = m->rtcp_mux;
	out->rtcp_port = m->rtcp.present ? m->rtcp.port
			 : m->rtcp_mux	 ? m->port
			 : m->port < 65535 ? (uint16_t)(m->port + 1) : 0; /* RFC 3605 §2.1 */
	out->dir = sdp_media_dir(s, m);
	out->ptime = m->ptime;
	if (!copy_slice(out->mid, sizeof(out->mid), m->mid))
		return b2b_fail(err, "a=mid too long");
	/* RFC 5764 §8 registers UDP/TLS/RTP/SAVPF for DTLS-SRTP with or without ICE: SIP phones
	 * (baresip's dtls_srtp) offer it with a=fingerprint and a=setup alone. Without ICE
	 * credentials it is DTLS-SRTP on the media port, not WebRTC. */
	if (out->profile == B2B_PROFILE_WEBRTC && !m->common.ice.ufrag.len &&
	    !s->common.ice.ufrag.len && !m->common.ice.pwd.len && !s->common.ice.pwd.len)
		out->profile = B2B_PROFILE_DTLS;
	int rc = read_ice(s, m, out, err);
	if (!rc)
		rc = read_conn(s, m, out->ice_ufrag[0] != '\0', out, err);
	if (!rc)
		rc = read_dtls(s, m, out, err);
	if (!rc && out->profile == B2B_PROFILE_SDES)
		rc = read_sdes(m, out, err);
	if (rc)
		return rc;
	read_codecs(m, out);
	read_bundle(m, out);
	if (out->n_codecs == 0)
		return b2b_fail(err, "audio m-section without a codec we can name");
	out->present = true;
	return 0;
}

struct sdp_session *b2b_sdp_session_new(void)
{
	return core_scratch_get(sizeof(struct sdp_session));
}

void b2b_sdp_session_free(struct sdp_session *s)
{
	core_scratch_put(s, sizeof(*s));
}

struct b2b_media_remote *b2b_media_remote_new(void)
{
	struct b2b_media_remote *r = core_scratch_get(sizeof(*r));
	remote_reset(r);
	return r;
}

/* The secrets go (the ICE password, the SDES key); candidates and codecs are not. */
void b2b_media_remote_free(struct b2b_media_remote *r)
{
	if (!r)
		return;
	OPENSSL_cleanse(r->ice_pwd, sizeof(r->ice_pwd));
	OPENSSL_cleanse(r->crypto_key, sizeof(r->crypto_key));
	core_scratch_put(r, sizeof(*r));
}

int b2b_sdp_remote(const struct sdp_session *s, struct b2b_media_remote *out, char err[128])
{
	if (!s || !out || s->n_media > SDP_MAX_MEDIA)
		return EINVAL;
	for (size_t i = 0; i < s->n_media; i++) {
		const struct sdp_media *m = &s->media[i];
		if (slice_eqlit(m->type, "audio") && m->port != 0 && m->rtp)
			return b2b_sdp_remote_at(s, (unsigned)i, out, err);
	}
	remote_reset(out);
	out->dtmf_pt = -1;
	return 0;
}

int b2b_sdp_video_index(const struct sdp_session *s)
{
	for (size_t i = 0; s && i < s->n_media && i < SDP_MAX_MEDIA; i++) {
		const struct sdp_media *m = &s->media[i];
		if (slice_eqlit(m->type, "video") && m->port != 0 && m->rtp)
			return (int)i;
	}
	return -1;
}

enum b2b_profile b2b_sdp_sip_profile(const struct b2b_media_remote *sip_offer, bool sdes,
				     bool dtls)
{
	if (sip_offer && sip_offer->present)
		return sip_offer->profile;
	return dtls ? B2B_PROFILE_DTLS : sdes ? B2B_PROFILE_SDES : B2B_PROFILE_RTP;
}

enum sdp_dir b2b_sdp_dir_toward(enum sdp_dir from_leg)
{
	return from_leg == SDP_DIR_NONE ? SDP_DIR_SENDRECV : from_leg;
}
