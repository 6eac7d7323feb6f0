/* Fuzz target: SRTP/SRTCP unprotect (relay_srtp.c) on hostile packets, and round trips.
 *
 * Input: one byte of setup (suite = b % 3, RTCP when b & 4), then records, each an op byte,
 * a length byte and that many bytes. op & 1: the bytes are a packet from the network,
 * unprotected as they are. Otherwise they are a plain packet: protected, then (op & 2) one
 * bit at (op >> 2) is flipped, then unprotected. Invariants: a packet that protected comes
 * back unchanged; a flipped one never authenticates; nothing reads or writes outside the
 * packet (each sits in a heap block of its own size, plus the room protect may use).
 * Fresh contexts per input, so an input reproduces alone.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "relay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t key[30] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15,
                                16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	enum relay_srtp_suite su =
	        (enum relay_srtp_suite)(RELAY_SRTP_AES_CM_128_HMAC_SHA1_80 + data[0] % 3);
	bool rtcp = data[0] & 4;
	struct relay_srtp *tx = NULL, *rx = NULL;
	size_t kl = relay_srtp_key_len(su);
	if (relay_srtp_new(su, key, kl, false, &tx) || relay_srtp_new(su, key, kl, true, &rx))
		abort();
	size_t off = 1;
	bool missed = false;
	while (off + 2 <= size) {
		uint8_t op = data[off];
		size_t n = data[off + 1];
		off += 2;
		if (n > size - off)
			n = size - off;
		uint8_t *b = malloc(n + RELAY_SRTP_TRAILER_MAX);
		if (!b)
			abort();
		memcpy(b, data + off, n);
		off += n;
		size_t len = n;
		if (op & 1) {
			/* exactly n bytes: an over-read past the packet is caught */
			uint8_t *x = malloc(n ? n : 1);
			memcpy(x, b, n);
			if (relay_srtp_unprotect(rx, rtcp, x, &len) == 0 && len > n)
				abort();
			free(x);
		} else if (relay_srtp_protect(tx, rtcp, b, &len, n + RELAY_SRTP_TRAILER_MAX) == 0) {
			if (len <= n || len > n + RELAY_SRTP_TRAILER_MAX)
				abort();
			bool flip = op & 2;
			if (flip)
				b[(op >> 2) % len] ^= (uint8_t)(1u << (op & 7));
			int err = relay_srtp_unprotect(rx, rtcp, b, &len);
			if (flip && err == 0)
				abort();
			if (!flip && (err == 0 || !missed) &&
			    (err != 0 || len != n || memcmp(b, data + off - n, n) != 0))
				abort();
			missed |= flip;
		}
		free(b);
	}
	relay_srtp_free(tx);
	relay_srtp_free(rx);
	return 0;
}
