/* SDES-SRTP (RFC 4568, RFC 3711, RFC 7714) on libsrtp2: one context per direction. */
#include <errno.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <srtp2/srtp.h>
#include <string.h>

#include "relay.h"

struct relay_srtp {
	srtp_t ctx;
	bool inbound;
};

size_t relay_srtp_key_len(enum relay_srtp_suite suite)
{
	switch (suite) {
	case RELAY_SRTP_AES_CM_128_HMAC_SHA1_80:
	case RELAY_SRTP_AES_CM_128_HMAC_SHA1_32:
		return SRTP_AES_ICM_128_KEY_LEN_WSALT;
	case RELAY_SRTP_AEAD_AES_128_GCM:
		return SRTP_AES_GCM_128_KEY_LEN_WSALT;
	default:
		return 0;
	}
}

const char *relay_srtp_suite_name(enum relay_srtp_suite suite)
{
	switch (suite) {
	case RELAY_SRTP_AES_CM_128_HMAC_SHA1_80:
		return "AES_CM_128_HMAC_SHA1_80";
	case RELAY_SRTP_AES_CM_128_HMAC_SHA1_32:
		return "AES_CM_128_HMAC_SHA1_32";
	case RELAY_SRTP_AEAD_AES_128_GCM:
		return "AEAD_AES_128_GCM";
	default:
		return "none";
	}
}

static GOnce init_once = G_ONCE_INIT;

/*
 * Debian's libsrtp2 runs on NSS, which initialises itself with the first live context and
 * shuts down with the last. A shutdown on another thread than the init leaks 80 bytes each
 * time (measured), and media workers free contexts that signaling or other workers made
 * the first of. One context kept for the life of the process keeps NSS up once.
 */
static srtp_t nss_keeper;

static gpointer do_init(gpointer arg)
{
	(void)arg;
	if (srtp_init() != srtp_err_status_ok)
		return GINT_TO_POINTER(2);
	srtp_policy_t pol;
	uint8_t zero[SRTP_AES_ICM_128_KEY_LEN_WSALT] = {0};
	memset(&pol, 0, sizeof(pol));
	srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtp);
	srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtcp);
	pol.key = zero;
	pol.ssrc.type = ssrc_any_outbound;
	pol.window_size = 128;
	if (srtp_create(&nss_keeper, &pol) != srtp_err_status_ok)
		return GINT_TO_POINTER(2);
	return GINT_TO_POINTER(1);
}

int relay_srtp_init(void)
{
	return GPOINTER_TO_INT(g_once(&init_once, do_init, NULL)) == 1 ? 0 : EIO;
}

int relay_srtp_new(enum relay_srtp_suite suite, const uint8_t *key, size_t key_len, bool inbound,
		   struct relay_srtp **out)
{
	size_t want = relay_srtp_key_len(suite);
	if (!want || !key || key_len != want)
		return EINVAL;
	if (relay_srtp_init())
		return EIO;

	srtp_policy_t pol;
	memset(&pol, 0, sizeof(pol));
	switch (suite) {
	case RELAY_SRTP_AES_CM_128_HMAC_SHA1_80:
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtp);
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtcp);
		break;
	case RELAY_SRTP_AES_CM_128_HMAC_SHA1_32:
		/* RFC 4568 §6.2.2: the 32-bit tag is for SRTP only; SRTCP keeps 80 bits. */
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&pol.rtp);
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtcp);
		break;
	case RELAY_SRTP_AEAD_AES_128_GCM:
		srtp_crypto_policy_set_aes_gcm_128_16_auth(&pol.rtp);
		srtp_crypto_policy_set_aes_gcm_128_16_auth(&pol.rtcp);
		break;
	default:
		return EINVAL;
	}
	/* libsrtp expands the key in srtp_create and keeps no pointer to ours. */
	uint8_t k[SRTP_MAX_KEY_LEN];
	memcpy(k, key, key_len);
	pol.key = k;
	pol.ssrc.type = inbound ? ssrc_any_inbound : ssrc_any_outbound;
	pol.window_size = 128; /* RFC 3711 §3.3.2: at least 64 */
	pol.allow_repeat_tx = 0;
	pol.next = NULL;

	struct relay_srtp *s = g_new0(struct relay_srtp, 1);
	s->inbound = inbound;
	srtp_err_status_t st = srtp_create(&s->ctx, &pol);
	OPENSSL_cleanse(k, sizeof(k));
	if (st != srtp_err_status_ok) {
		g_free(s);
		return st == srtp_err_status_bad_param || st == srtp_err_status_cipher_fail ||
				       st == srtp_err_status_init_fail
			       ? ENOTSUP
			       : EIO;
	}
	*out = s;
	return 0;
}

void relay_srtp_free(struct relay_srtp *s)
{
	if (!s)
		return;
	srtp_dealloc(s->ctx);
	g_free(s);
}

int relay_srtp_protect(struct relay_srtp *s, bool rtcp, uint8_t *buf, size_t *len, size_t cap)
{
	if (s->inbound || *len > INT_MAX || cap < *len + RELAY_SRTP_TRAILER_MAX)
		return EMSGSIZE;
	int n = (int)*len;
	srtp_err_status_t st = rtcp ? srtp_protect_rtcp(s->ctx, buf, &n)
				    : srtp_protect(s->ctx, buf, &n);
	if (st != srtp_err_status_ok)
		return EIO;
	*len = (size_t)n;
	return 0;
}

int relay_srtp_unprotect(struct relay_srtp *s, bool rtcp, uint8_t *buf, size_t *len)
{
	if (!s->inbound || *len > INT_MAX)
		return EINVAL;
	int n = (int)*len;
	srtp_err_status_t st = rtcp ? srtp_unprotect_rtcp(s->ctx, buf, &n)
				    : srtp_unprotect(s->ctx, buf, &n);
	switch (st) {
	case srtp_err_status_ok:
		*len = (size_t)n;
		return 0;
	case srtp_err_status_replay_fail:
	case srtp_err_status_replay_old:
		return EALREADY;
	case srtp_err_status_auth_fail:
		return EACCES;
	default:
		return EBADMSG;
	}
}
