/* Fuzz target: the relay's RTP header parser, RFC 5761 demux and RTCP compound filter. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "relay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct relay_rtp r;
	if (relay_rtp_parse(data, size, true, &r) == 0) {
		/* every slice lies inside the input */
		if (r.payload < data || r.payload + r.payload_len + r.pad_len != data + size ||
		    r.hdr_len > size || (r.ext && r.ext + r.ext_len > data + size))
			abort();
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
