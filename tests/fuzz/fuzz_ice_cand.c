/* Fuzz target: the relay's parser of trickled ICE candidate lines (RFC 8839, RFC 6544). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "relay_priv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a candidate line arrives as a NUL-terminated JSON string */
	char *line = malloc(size + 1);
	if (!line)
		return 0;
	if (size)
		memcpy(line, data, size);
	line[size] = 0;
	struct ice_cand c;
	memset(&c, 0xa5, sizeof(c));
	if (relay_ice_cand_parse(line, &c) == 0) {
		/* what the parser accepted is complete and in range */
		if ((c.addr.ss_family != AF_INET && c.addr.ss_family != AF_INET6) ||
		    (unsigned)c.type > CAND_RELAY || (unsigned)c.transport > CAND_TCP_SO ||
		    !memchr(c.foundation, 0, sizeof(c.foundation)) || !c.foundation[0])
			abort();
	}
	free(line);
	return 0;
}
