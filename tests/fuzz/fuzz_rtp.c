/* Fuzz target: the relay's RTP header parser, its RFC 8285 extension lookup and MID rewrite
 * (BUNDLE), RFC 5761 demux and the RTCP compound filter. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "relay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The MID put toward a bundled browser: the packet must still parse, carry exactly that MID
 * under the id, and keep its payload bytes. The id and MID come from the input's first byte. */
static void mid_rewrite(const uint8_t *data, size_t size, const struct relay_rtp *r)
{
	static const char *mids[] = {"0", "audio", "v", "0123456789abcdef"};
	uint8_t id = (uint8_t)(1 + data[0] % 14);
	const char *mid = mids[(data[0] >> 4) & 3];
	size_t cap = size + RELAY_MID_EXT_ROOM + RELAY_SRTP_TRAILER_MAX;
	uint8_t *buf = malloc(cap);
	if (!buf)
		return;
	memcpy(buf, data, size);
	size_t len = size;
	if (!relay_rtp_put_mid(buf, &len, cap, r, id, mid))
		abort(); /* the room above always suffices */
	struct relay_rtp o;
	const uint8_t *v;
	size_t n;
	if (relay_rtp_parse(buf, len, true, &o) != 0 || !relay_rtp_ext_find(&o, id, &v, &n) ||
	    n != strlen(mid) || memcmp(v, mid, n) != 0 || o.payload_len != r->payload_len ||
	    memcmp(o.payload, r->payload, r->payload_len) != 0 || o.ssrc != r->ssrc)
		abort();
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct relay_rtp r;
	if (relay_rtp_parse(data, size, true, &r) == 0) {
		/* every slice lies inside the input */
		if (r.payload < data || r.payload + r.payload_len + r.pad_len != data + size ||
		    r.hdr_len > size || (r.ext && r.ext + r.ext_len > data + size))
			abort();
		/* every element found lies inside the extension block */
		for (unsigned id = 1; id < 256; id++) {
			const uint8_t *v;
			size_t n;
			if (relay_rtp_ext_find(&r, (uint8_t)id, &v, &n) &&
			    (v < r.ext || v + n > r.ext + r.ext_len))
				abort();
		}
		mid_rewrite(data, size, &r);
	}
	(void)relay_rtp_parse(data, size, false, &r);
	(void)relay_is_rtcp(data, size);

	/* the filter rewrites in place: work on a copy of exactly the input's size */
	uint8_t *copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	if (size)
		memcpy(copy, data, size);
	size_t out = 0;
	unsigned dropped = 0;
	int err = relay_rtcp_filter(copy, size, &out, &dropped);
	if (out > size || (err == 0 && out == 0))
		abort();
	/* what survives must survive a second pass unchanged */
	if (err == 0) {
		size_t out2 = 0;
		if (relay_rtcp_filter(copy, out, &out2, &dropped) != 0 || out2 != out || dropped)
			abort();
	}
	free(copy);
	return 0;
}
