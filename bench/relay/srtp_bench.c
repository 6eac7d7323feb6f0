/* Micro-benchmark: protect + unprotect of one 172-byte RTP packet with gorgee's SRTP
 * (media-relay/relay_srtp.c) and with libsrtp2, in the same run, over 1 and N streams.
 *
 *   srtp-bench [-n STREAMS (500)] [-p PACKETS per figure (200000)]
 *
 * A stream is a pair of contexts (one protects, one unprotects) with its own key and SSRC;
 * packets go to the streams round-robin, as a relay worker's do. Every packet is checked
 * after the round trip. CPU time of this thread (CLOCK_THREAD_CPUTIME_ID) per packet, the
 * best of two runs each, the two sides taking turns.
 * One line per suite and stream count:
 *   srtp-bench suite=AES_CM_128_HMAC_SHA1_80 streams=500 gorgee_ns=<x> libsrtp2_ns=<y>
 * speedup=<y/x>
 */
#include <errno.h>
#include <srtp2/srtp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "relay.h"

#define PKT 172

static double cpu_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static size_t mkrtp(uint8_t *b, uint16_t seq, uint32_t ssrc)
{
	memset(b, 0, PKT);
	b[0] = 0x80;
	b[2] = (uint8_t)(seq >> 8);
	b[3] = (uint8_t)seq;
	b[8] = (uint8_t)(ssrc >> 24), b[9] = (uint8_t)(ssrc >> 16);
	b[10] = (uint8_t)(ssrc >> 8), b[11] = (uint8_t)ssrc;
	for (int i = 12; i < PKT; i++)
		b[i] = (uint8_t)(i + seq);
	return PKT;
}

static void key_for(unsigned i, uint8_t *k, size_t n)
{
	for (size_t j = 0; j < n; j++)
		k[j] = (uint8_t)(i * 31 + j * 7 + 1);
}

static double run_ours(enum relay_srtp_suite su, unsigned n, unsigned packets)
{
	struct relay_srtp **tx = calloc(n, sizeof(*tx)), **rx = calloc(n, sizeof(*rx));
	size_t kl = relay_srtp_key_len(su);
	for (unsigned i = 0; i < n; i++) {
		uint8_t k[32];
		key_for(i, k, kl);
		if (relay_srtp_new(su, k, kl, false, &tx[i]) ||
		    relay_srtp_new(su, k, kl, true, &rx[i]))
			exit(1);
	}
	uint8_t b[PKT + RELAY_SRTP_TRAILER_MAX];
	double t0 = cpu_now();
	for (unsigned p = 0; p < packets; p++) {
		unsigned s = p % n;
		size_t len = mkrtp(b, (uint16_t)(p / n), 0x1000 + s);
		if (relay_srtp_protect(tx[s], false, b, &len, sizeof(b)) ||
		    relay_srtp_unprotect(rx[s], false, b, &len) || len != PKT ||
		    b[PKT - 1] != (uint8_t)(PKT - 1 + p / n)) {
			fprintf(stderr, "gorgee: packet %u failed\n", p);
			exit(1);
		}
	}
	double dt = cpu_now() - t0;
	for (unsigned i = 0; i < n; i++) {
		relay_srtp_free(tx[i]);
		relay_srtp_free(rx[i]);
	}
	free(tx);
	free(rx);
	return dt / packets * 1e9;
}

static srtp_t lib_ctx(enum relay_srtp_suite su, const uint8_t *k, bool inbound)
{
	srtp_policy_t pol;
	memset(&pol, 0, sizeof(pol));
	if (su == RELAY_SRTP_AEAD_AES_128_GCM) {
		srtp_crypto_policy_set_aes_gcm_128_16_auth(&pol.rtp);
		srtp_crypto_policy_set_aes_gcm_128_16_auth(&pol.rtcp);
	} else {
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtp);
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtcp);
	}
	uint8_t kk[32];
	memcpy(kk, k, sizeof(kk));
	pol.key = kk;
	pol.ssrc.type = inbound ? ssrc_any_inbound : ssrc_any_outbound;
	pol.window_size = 128;
	srtp_t c = NULL;
	if (srtp_create(&c, &pol) != srtp_err_status_ok)
		exit(1);
	return c;
}

static double run_lib(enum relay_srtp_suite su, unsigned n, unsigned packets)
{
	srtp_t *tx = calloc(n, sizeof(*tx)), *rx = calloc(n, sizeof(*rx));
	for (unsigned i = 0; i < n; i++) {
		uint8_t k[32];
		key_for(i, k, sizeof(k));
		tx[i] = lib_ctx(su, k, false);
		rx[i] = lib_ctx(su, k, true);
	}
	uint8_t b[PKT + RELAY_SRTP_TRAILER_MAX];
	double t0 = cpu_now();
	for (unsigned p = 0; p < packets; p++) {
		unsigned s = p % n;
		int len = (int)mkrtp(b, (uint16_t)(p / n), 0x1000 + s);
		if (srtp_protect(tx[s], b, &len) != srtp_err_status_ok ||
		    srtp_unprotect(rx[s], b, &len) != srtp_err_status_ok || len != PKT) {
			fprintf(stderr, "libsrtp2: packet %u failed\n", p);
			exit(1);
		}
	}
	double dt = cpu_now() - t0;
	for (unsigned i = 0; i < n; i++) {
		srtp_dealloc(tx[i]);
		srtp_dealloc(rx[i]);
	}
	free(tx);
	free(rx);
	return dt / packets * 1e9;
}

int main(int argc, char **argv)
{
	unsigned n = 500, packets = 200000;
	int opt;
	while ((opt = getopt(argc, argv, "n:p:")) != -1) {
		if (opt == 'n')
			n = (unsigned)atoi(optarg);
		else if (opt == 'p')
			packets = (unsigned)atoi(optarg);
		else {
			fprintf(stderr, "usage: srtp-bench [-n STREAMS] [-p PACKETS]\n");
			return 2;
		}
	}
	if (n < 1 || packets < n || srtp_init() != srtp_err_status_ok)
		return 2;
	/* keeps NSS up between the runs (it starts with the first context, stops with the last) */
	uint8_t zero[32] = {0};
	srtp_t keeper = lib_ctx(RELAY_SRTP_AES_CM_128_HMAC_SHA1_80, zero, false);
	enum relay_srtp_suite suites[] = {RELAY_SRTP_AES_CM_128_HMAC_SHA1_80,
	                                  RELAY_SRTP_AEAD_AES_128_GCM};
	unsigned counts[] = {1, n};
	for (int s = 0; s < 2; s++)
		for (int c = 0; c < 2; c++) {
			/* two runs each, taking turns; the best of each side */
			double ours = 1e18, lib = 1e18;
			for (int r = 0; r < 2; r++) {
				double a = run_ours(suites[s], counts[c], packets);
				double b = run_lib(suites[s], counts[c], packets);
				ours = a < ours ? a : ours;
				lib = b < lib ? b : lib;
			}
			printf("srtp-bench suite=%s streams=%u gorgee_ns=%.0f libsrtp2_ns=%.0f "
			       "speedup=%.2f\n",
			       relay_srtp_suite_name(suites[s]), counts[c], ours, lib, lib / ours);
			fflush(stdout);
		}
	srtp_dealloc(keeper);
	return 0;
}
