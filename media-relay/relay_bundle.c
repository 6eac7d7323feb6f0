/* A session's streams: which endpoint pairs with which, and BUNDLE demultiplexing (RFC 8843
 * §9.2) on a bundled endpoint: which stream an authenticated RTP packet or RTCP compound
 * belongs to, by MID, SSRC and PT. */
#include <string.h>

#include "relay_priv.h"

struct endpoint *relay_stream_ep(struct relay_session *s, unsigned side, unsigned k)
{
	return k == 0 ? &s->ep[side] : &s->xep[side][k - 1];
}

struct endpoint *relay_stream_far(struct relay_session *s, unsigned k)
{
	return relay_stream_ep(s, s->bundled ^ 1, k);
}

struct endpoint *relay_stream_peer(struct endpoint *e)
{
	struct relay_session *s = e->s;
	if (e->stream && s->bundled < 2)
		return &s->ep[s->bundled];
	return relay_stream_ep(s, e->idx ^ 1, e->stream);
}

bool relay_stream_pt_ok(const struct stream *x, uint8_t pt)
{
	if (!x->d.n_pt)
		return true;
	for (unsigned i = 0; i < x->d.n_pt; i++)
		if (x->d.pt[i] == pt)
			return true;
	return false;
}

static int stream_of_mid(const struct relay_session *s, const uint8_t *v, size_t n)
{
	for (unsigned k = 0; k < s->n_streams; k++) {
		const char *mid = s->sx[k].d.mid;
		if (mid[0] && strlen(mid) == n && memcmp(mid, v, n) == 0)
			return (int)k;
	}
	return -1;
}

/* The stream an SSRC of the bundled peer belongs to: learned first (a MID said so), then
 * signalled; -1 when unknown. */
static int stream_of_ssrc(const struct relay_session *s, uint32_t ssrc)
{
	for (unsigned i = 0; i < s->n_learned; i++)
		if (s->learned[i].ssrc == ssrc)
			return (int)s->learned[i].stream;
	for (unsigned k = 0; k < s->n_streams; k++)
		for (unsigned i = 0; i < s->sx[k].d.n_ssrc; i++)
			if (s->sx[k].d.ssrc[i] == ssrc)
				return (int)k;
	return -1;
}

static void learn(struct relay_session *s, uint32_t ssrc, unsigned k)
{
	for (unsigned i = 0; i < s->n_learned; i++)
		if (s->learned[i].ssrc == ssrc) {
			s->learned[i].stream = k; /* RFC 8843 §9.2: the latest MID wins */
			return;
		}
	unsigned i = s->n_learned < RELAY_LEARNED_SSRC ? s->n_learned++ : s->next_learned;
	s->next_learned = (i + 1) % RELAY_LEARNED_SSRC;
	s->learned[i].ssrc = ssrc;
	s->learned[i].stream = k;
}

int relay_bundle_rtp(struct relay_session *s, const struct relay_rtp *rtp)
{
	const uint8_t *v;
	size_t n;
	if (s->mid_ext && relay_rtp_ext_find(rtp, s->mid_ext, &v, &n)) {
		int k = stream_of_mid(s, v, n);
		if (k >= 0) {
			learn(s, rtp->ssrc, (unsigned)k);
			return k;
		}
		/* an unknown MID: fall through to the SSRC and PT (a mid being removed) */
	}
	int k = stream_of_ssrc(s, rtp->ssrc);
	if (k >= 0)
		return k;
	for (unsigned i = 0; i < s->n_streams; i++)
		if (s->sx[i].d.n_pt && relay_stream_pt_ok(&s->sx[i], rtp->pt))
			return (int)i;
	return -1;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int stream_of_far(const struct relay_session *s, uint32_t ssrc)
{
	for (unsigned k = 0; k < s->n_streams; k++)
		if (s->sx[k].far_ssrc_known && s->sx[k].far_ssrc == ssrc)
			return (int)k;
	return -1;
}

/*
 * An RTCP compound from the bundled peer (already filtered by relay_rtcp_filter, so every
 * sub-packet's length fits): the media SSRCs it reports on or gives feedback about name
 * the stream best; the sender SSRC is next.
 */
unsigned relay_bundle_rtcp(struct relay_session *s, const uint8_t *p, size_t len)
{
	int by_sender = -1;
	size_t off = 0;
	while (off + 8 <= len) {
		const uint8_t *h = p + off;
		size_t sub = ((size_t)(h[2] << 8 | h[3]) + 1) * 4;
		if (sub > len - off)
			break;
		unsigned count = h[0] & 0x1F, pt = h[1];
		if (by_sender < 0)
			by_sender = stream_of_ssrc(s, rd32(h + 4));
		size_t first = 0;
		if (pt == 200)
			first = 28; /* SR: sender info, then report blocks */
		else if (pt == 201)
			first = 8;  /* RR */
		if (first) {
			for (unsigned i = 0; i < count && first + 24 * i + 4 <= sub; i++) {
				int k = stream_of_far(s, rd32(h + first + 24 * i));
				if (k >= 0)
					return (unsigned)k;
			}
		} else if ((pt == 205 || pt == 206) && sub >= 12) {
			/* RFC 4585 §6.1: media source SSRC (0 for REMB-style app feedback) */
			int k = stream_of_far(s, rd32(h + 8));
			if (k >= 0)
				return (unsigned)k;
		}
		off += sub;
	}
	return by_sender >= 0 ? (unsigned)by_sender : 0;
}
