/*
 * libFuzzer target for b2b_sdp: for whatever sdp_parse accepts, reading the audio stream,
 * translating the offer to every profile and answering it (with itself as the peer's
 * answer) either fails with an errno or prints SDP that sdp_parse accepts back.
 */
#include <stdint.h>
#include <stdlib.h>

#include "b2b_sdp.h"

/* Big structs: static, not on the fuzzer's stack. */
static struct sdp_session in, back;
static struct b2b_media_remote remote;

static const char *const cands[] = {"candidate:1 1 udp 2130706431 192.0.2.1 40000 typ host"};
static const uint8_t key[46] = {1, 2, 3};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int rc, GString *out)
{
	if (rc != 0)
		return;
	if (sdp_parse(out->str, out->len, &back, NULL) != 0)
		abort();
	if (b2b_sdp_remote(&back, &remote, NULL) != 0 || !remote.present)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum b2b_profile profiles[] = {B2B_PROFILE_WEBRTC, B2B_PROFILE_RTP,
						    B2B_PROFILE_SDES, B2B_PROFILE_DTLS};
	char err[128];
	if (sdp_parse((const char *)data, size, &in, NULL) != 0)
		return 0;
	(void)b2b_sdp_remote(&in, &remote, err);
	enum sdp_crypto_suite suite = remote.present && remote.profile == B2B_PROFILE_SDES
					      ? remote.crypto_suite
					      : SDP_SUITE_AES_CM_128_HMAC_SHA1_80;
	const struct b2b_suite *su = b2b_suite_find(suite);
	GString *out = g_string_new(NULL);
	for (size_t i = 0; i < G_N_ELEMENTS(profiles); i++) {
		struct b2b_media_local l = {
			.addr = "192.0.2.1", .rtp_port = 40000, .rtcp_port = 40001,
			.rtcp_mux = i % 2 == 0, .ice_ufrag = "abcd",
			.ice_pwd = "abcdefghijklmnopqrstuvwx", .cand = cands, .n_cand = 1,
			.fingerprint = "sha-1 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:"
				       "00:11:22:33",
			.crypto_suite = suite, .crypto_key = key,
			.crypto_key_len = su ? su->key_len : 30, .sess_id = 1, .sess_version = 2,
		};
		g_string_truncate(out, 0);
		check(b2b_sdp_offer(&in, profiles[i], &l, out, err), out);
		g_string_truncate(out, 0);
		check(b2b_sdp_answer(&in, &in, profiles[i], &l, out, err), out);
	}
	g_string_free(out, TRUE);
	return 0;
}
