/* libFuzzer target for the SDP codec: parse; on success print, re-parse and print again. */
#include <stdint.h>
#include <stdlib.h>

#include "sip.h"

/* Big structs: static, not on the fuzzer's stack. */
static struct sdp_session first, second;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sdp_error err;
	if (sdp_parse((const char *)data, size, &first, &err) != 0)
		return 0;
	GString *out = g_string_new(NULL), *again = g_string_new(NULL);
	/* What the parser accepted, the printer must print... */
	if (sdp_print(&first, out) != 0)
		abort();
	/*
	 * ...and the parser must accept the printed text back, with the same sections, and
	 * print it identically. LF input grows by one byte per line as CRLF, so output past
	 * the body cap is exempt from the re-parse.
	 */
	if (out->len <= SDP_MAX_BODY) {
		if (sdp_parse(out->str, out->len, &second, &err) != 0 ||
		    second.n_media != first.n_media)
			abort();
		if (sdp_print(&second, again) != 0 || !g_string_equal(out, again))
			abort();
	}
	g_string_free(out, TRUE);
	g_string_free(again, TRUE);
	return 0;
}
