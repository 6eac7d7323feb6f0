/* RTP header parsing and RTCP compound validation on untrusted datagrams (BI-30, BI-32). */
#include <errno.h>
#include <string.h>

#include "relay.h"

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/*
 * RFC 8285 header extension elements: each must fit inside the extension block. In the
 * one-byte form ID 15 is reserved (§4.2) and ends parsing; a receiver that forwarded it
 * would hand the next hop an element it cannot delimit, so we reject it (BI-30).
 */
static bool ext_elements_ok(uint16_t profile, const uint8_t *b, size_t n)
{
	size_t off = 0;
	if (profile == 0xBEDE) {
		while (off < n) {
			uint8_t id = b[off] >> 4;
			if (b[off] == 0) { /* padding */
				off++;
				continue;
			}
			if (id == 15)
				return false;
			size_t el = (size_t)(b[off] & 0x0f) + 1;
			if (el > n - off - 1)
				return false;
			off += 1 + el;
		}
	} else if ((profile & 0xfff0) == 0x1000) {
		while (off < n) {
			if (b[off] == 0) {
				off++;
				continue;
			}
			if (n - off < 2 || (size_t)b[off + 1] > n - off - 2)
				return false;
			off += 2 + b[off + 1];
		}
	}
	return true;
}

int relay_rtp_parse(const uint8_t *p, size_t len, bool check_padding, struct relay_rtp *out)
{
	if (!p || len < RELAY_RTP_HDR_MIN || (p[0] >> 6) != 2)
		return EBADMSG;
	memset(out, 0, sizeof(*out));
	out->cc = p[0] & 0x0f;
	out->marker = (p[1] & 0x80) != 0;
	out->pt = p[1] & 0x7f;
	out->seq = rd16(p + 2);
	out->ts = rd32(p + 4);
	out->ssrc = rd32(p + 8);
	size_t off = RELAY_RTP_HDR_MIN + 4u * out->cc;
	if (off > len)
		return EBADMSG;
	if (p[0] & 0x10) {
		/* RFC 3550 §5.3.1: 16-bit profile, 16-bit length in 32-bit words. */
		if (len - off < 4)
			return EBADMSG;
		out->has_ext = true;
		out->ext_profile = rd16(p + off);
		size_t words = rd16(p + off + 2);
		off += 4;
		if (words * 4 > len - off)
			return EBADMSG;
		out->ext = p + off;
		out->ext_len = words * 4;
		if (!ext_elements_ok(out->ext_profile, out->ext, out->ext_len))
			return EBADMSG;
		off += words * 4;
	}
	out->hdr_len = off;
	size_t body = len - off;
	if (check_padding && (p[0] & 0x20)) {
		/* The last octet counts the padding including itself; 0 is invalid. */
		uint8_t pad = body ? p[len - 1] : 0;
		if (pad == 0 || pad > body)
			return EBADMSG;
		out->pad_len = pad;
		body -= pad;
	}
	out->payload = p + off;
	out->payload_len = body;
	return 0;
}

bool relay_is_rtcp(const uint8_t *p, size_t len)
{
	return len >= 2 && p[1] >= 192 && p[1] <= 223;
}

/* SDES (RFC 3550 §6.5): sc chunks, each an SSRC then items ending with a zero octet, padded
 * to a 32-bit boundary. */
static bool sdes_ok(const uint8_t *b, size_t n, unsigned sc)
{
	size_t off = 0;
	for (unsigned c = 0; c < sc; c++) {
		if (n - off < 4)
			return false;
		off += 4;
		for (;;) {
			if (off >= n)
				return false;
			if (b[off] == 0)
				break;
			if (n - off < 2 || (size_t)b[off + 1] > n - off - 2)
				return false;
			off += 2 + b[off + 1];
		}
		off = (off + 4) & ~(size_t)3; /* the terminator, then the padding */
		if (off > n)
			return false;
	}
	return true;
}

/* XR (RFC 3611 §3): SSRC, then blocks of BT, type-specific, 16-bit length in words. */
static bool xr_ok(const uint8_t *b, size_t n)
{
	if (n < 4)
		return false;
	size_t off = 4;
	while (off < n) {
		if (n - off < 4)
			return false;
		size_t words = rd16(b + off + 2);
		if (words * 4 > n - off - 4)
			return false;
		off += 4 + words * 4;
	}
	return true;
}

/* Checks one sub-packet of total size n (header included, padding removed). */
static bool subpacket_ok(const uint8_t *b, size_t n)
{
	unsigned count = b[0] & 0x1f;
	uint8_t type = b[1];
	const uint8_t *body = b + 4;
	size_t blen = n - 4;

	switch (type) {
	case 200: /* SR: SSRC + 20 octets sender info + RC report blocks */
		return blen >= 24 + 24u * count;
	case 201: /* RR */
		return blen >= 4 + 24u * count;
	case 202:
		return sdes_ok(body, blen, count);
	case 203: /* BYE: SC SSRCs, then an optional length-prefixed reason */
		if (blen < 4u * count)
			return false;
		if (blen > 4u * count) {
			size_t r = 4u * count;
			return (size_t)body[r] <= blen - r - 1;
		}
		return true;
	case 204: /* APP: SSRC + name */
		return blen >= 8;
	case 205: /* RTPFB (RFC 4585 §6.1): sender + media SSRC, then FCI */
	case 206: /* PSFB */
		if (blen < 8)
			return false;
		if (type == 205 && count == 1) /* Generic NACK: 4-octet FCI entries */
			return (blen - 8) % 4 == 0 && blen > 8;
		if (type == 206 && count == 15) /* REMB and other AFB: at least "REMB"+fields */
			return blen >= 8 + 4;
		return true;
	case 207:
		return xr_ok(body, blen);
	default:
		return true; /* unknown types pass if their length is sound */
	}
}

int relay_rtcp_filter(uint8_t *p, size_t len, size_t *out_len, unsigned *dropped)
{
	size_t in = 0, out = 0;
	unsigned drops = 0;

	while (in < len) {
		if (len - in < 4) {
			drops++;
			break;
		}
		uint8_t *b = p + in;
		size_t n = ((size_t)rd16(b + 2) + 1) * 4;
		if (n > len - in) {
			/* Broken framing: nothing after this can be located. */
			drops++;
			break;
		}
		bool ok = (b[0] >> 6) == 2;
		size_t inner = n;
		if (ok && (b[0] & 0x20)) {
			uint8_t pad = b[n - 1];
			ok = pad != 0 && pad <= n - 4;
			inner = ok ? n - pad : n;
		}
		if (ok)
			ok = subpacket_ok(b, inner);
		if (ok) {
			if (out != in)
				memmove(p + out, b, n);
			out += n;
		} else {
			drops++;
		}
		in += n;
	}
	if (dropped)
		*dropped = drops;
	*out_len = out;
	return out ? 0 : EBADMSG;
}

/*
 * RFC 8285 §4.2 (one-byte, profile 0xBEDE: ID 4 bits, L 4 bits = length - 1, ID 0 is
 * padding, ID 15 ends the walk) and §4.3 (two-byte, profile 0x100X: ID, length; ID 0
 * padding). relay_rtp_parse already checked that the elements fit.
 */
bool relay_rtp_ext_find(const struct relay_rtp *rtp, uint8_t id, const uint8_t **val,
			size_t *len)
{
	if (!rtp->has_ext || !rtp->ext || !id)
		return false;
	const uint8_t *p = rtp->ext, *end = rtp->ext + rtp->ext_len;
	bool one = rtp->ext_profile == 0xBEDE;
	if (!one && (rtp->ext_profile & 0xFFF0) != 0x1000)
		return false;
	while (p < end) {
		if (*p == 0) { /* padding */
			p++;
			continue;
		}
		uint8_t eid;
		size_t elen;
		if (one) {
			eid = *p >> 4;
			elen = (size_t)(*p & 0x0F) + 1;
			if (eid == 15)
				return false;
			p++;
		} else {
			if (end - p < 2)
				return false;
			eid = p[0];
			elen = p[1];
			p += 2;
		}
		if ((size_t)(end - p) < elen)
			return false;
		if (eid == id) {
			*val = p;
			*len = elen;
			return true;
		}
		p += elen;
	}
	return false;
}

/*
 * RFC 8843 §9.1: an RTP packet toward the bundled peer names its stream with the MID header
 * extension (RFC 8285 one-byte form). A browser that negotiated the extension in every
 * m-section demultiplexes by MID or signalled SSRC only, never by PT, and SIP peers signal
 * no SSRC. Whatever extension the other side sent is replaced: the bundled peer negotiated
 * none of it. Returns false when the packet cannot grow (it is dropped).
 */
bool relay_rtp_put_mid(uint8_t *buf, size_t *len, size_t cap, const struct relay_rtp *rtp,
		       uint8_t id, const char *mid)
{
	size_t ml = strlen(mid);
	if (!ml || ml > 16 || id < 1 || id > 14)
		return true; /* nothing this form can carry: the packet goes as it is */
	size_t fixed = RELAY_RTP_HDR_MIN + 4u * rtp->cc;
	size_t old_ext = rtp->has_ext ? 4 + rtp->ext_len : 0;
	size_t words = (1 + ml + 3) / 4, new_ext = 4 + 4 * words;
	size_t body = fixed + old_ext, rest = *len - body;
	size_t n = *len - old_ext + new_ext;
	if (n + RELAY_SRTP_TRAILER_MAX > cap)
		return false;
	memmove(buf + fixed + new_ext, buf + body, rest);
	uint8_t *x = buf + fixed;
	x[0] = 0xBE;
	x[1] = 0xDE;
	x[2] = (uint8_t)(words >> 8);
	x[3] = (uint8_t)words;
	x[4] = (uint8_t)(id << 4 | (ml - 1));
	memcpy(x + 5, mid, ml);
	memset(x + 5 + ml, 0, new_ext - 5 - ml); /* padding elements (RFC 8285 §4.2) */
	buf[0] |= 0x10;
	*len = n;
	return true;
}
