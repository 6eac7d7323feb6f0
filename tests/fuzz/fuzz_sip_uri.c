/* libFuzzer target: URI parser and comparison (reflexive, symmetric on a split input). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sip_uri a, b;
	struct slice s = {(const char *)data, size};
	int ra = sip_uri_parse(s, &a);
	if (ra == 0 && !sip_uri_equal(&a, &a))
		abort();
	/* Split at the first newline: two URIs, compared both ways. */
	const char *nl = memchr(data, '\n', size);
	if (nl) {
		struct slice x = {(const char *)data, (size_t)(nl - (const char *)data)};
		struct slice y = {nl + 1, size - x.len - 1};
		if (sip_uri_parse(x, &a) == 0 && sip_uri_parse(y, &b) == 0 &&
		    sip_uri_equal(&a, &b) != sip_uri_equal(&b, &a))
			abort();
	}
	return 0;
}
