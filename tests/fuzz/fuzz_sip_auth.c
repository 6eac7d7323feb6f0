/* libFuzzer target: digest credentials parsed and verified against a fixed HA1; challenges
 * answered by the client side. Neither may crash, over-read or accept a forged response. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sip_auth_server *srv;
static struct secret *ha1, *pw;

static int64_t fixed_clock(void *arg)
{
	(void)arg;
	return 1700000000;
}

static void setup(void)
{
	struct secret *key = secret_new("fuzz-nonce-key-0123456789abcdef", 31);
	struct sip_auth_server_config cfg = {.realm = "example.com", .nonce_secret = key, .nonce_lifetime = 60, .max_nonces = 64};
	char h[SIP_DIGEST_HEX_MAX];
	if (sip_auth_server_new(&cfg, &srv))
		abort();
	secret_free(key);
	sip_auth_server_set_clock(srv, fixed_clock, NULL);
	pw = secret_new("secret", 6);
	if (sip_auth_ha1(SIP_DIGEST_SHA256, "alice", "example.com", pw, h))
		abort();
	ha1 = secret_new(h, strlen(h));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sip_auth_cred cred;
	struct slice v = {(const char *)data, size};
	if (!srv)
		setup();

	/* Server: any value is ok / challenge / fail / bad; a forged one is never ok. */
	if (sip_auth_cred_parse(v, "example.com", &cred) == 0) {
		enum sip_auth_result r =
			sip_auth_server_verify(srv, SLICE_LIT("REGISTER"), SLICE_LIT("sip:example.com"),
					       "192.0.2.1", &cred,
					       cred.alg == SIP_DIGEST_SHA256 ? ha1 : NULL);
		if (r == SIP_AUTH_OK || r == SIP_AUTH_STALE)
			abort(); /* no input can know a valid nonce for this key and time */
	}

	/* Client: the same bytes as a challenge. */
	struct sip_auth chal;
	if (sip_auth_parse(v, &chal) == 0) {
		struct sip_auth_client_state st = {0};
		struct sip_auth_client_cred c = {"alice", pw};
		GString *out = g_string_new(NULL);
		if (sip_auth_client_answer(&st, &chal, false, &c, "INVITE", "sip:bob@example.com",
					   v, out) == 0) {
			/* What we send must parse back as credentials for the challenge's realm. */
			const char *p = strchr(out->str, ':');
			struct sip_auth back;
			if (!p || sip_auth_parse((struct slice){p + 2, out->len - (size_t)(p + 2 - out->str) - 2},
						 &back))
				abort();
		}
		g_string_free(out, TRUE);
	}
	return 0;
}
