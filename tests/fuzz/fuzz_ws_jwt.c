/* Fuzz target: the JWT verifier (base64url, JSON header/claims, signature check). */
#include <stdint.h>

#include "ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct secret *key;
	if (!key)
		key = secret_new("fuzz-key", 8);
	struct ws_auth_config cfg = {.jwt_key = key, .audience = "gorgee", .issuer = "",
				     .max_lifetime_secs = 900, .skew_secs = 60};
	struct ws_jwt_claims claims;
	const char *why;
	ws_jwt_verify(&cfg, (const char *)data, size, 1800000000, &claims, &why);
	return 0;
}
