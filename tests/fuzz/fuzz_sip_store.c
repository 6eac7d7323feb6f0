/* libFuzzer target: the store's serialised binding as read back from Redis (decode, then
 * encode + decode must give the same text). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sip_store_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sip_binding *b = store_binding_decode("sip:f@example.com", (const char *)data, size);
	GString *once, *twice;
	struct sip_binding *c;

	if (!b)
		return 0;
	once = g_string_new(NULL);
	store_binding_encode(b, once);
	c = store_binding_decode("sip:f@example.com", once->str, once->len);
	if (!c)
		abort();
	twice = g_string_new(NULL);
	store_binding_encode(c, twice);
	if (!g_string_equal(once, twice))
		abort();
	g_string_free(once, TRUE);
	g_string_free(twice, TRUE);
	sip_binding_free(b);
	sip_binding_free(c);
	return 0;
}
