/* Secrets: bytes that are used but never printed, and zeroed when freed; random tokens. */
#include "core.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

struct secret {
	size_t len;
	char value[]; /* NUL-terminated for the libraries that want C strings */
};

struct secret *secret_new(const char *value, size_t len)
{
	struct secret *s = g_malloc(sizeof(*s) + len + 1);
	s->len = len;
	if (len)
		memcpy(s->value, value, len);
	s->value[len] = '\0';
	return s;
}

/* A volatile function pointer keeps the compiler from dropping the memset as dead. */
static void *(*const volatile wipe)(void *, int, size_t) = memset;

void secret_free(struct secret *s)
{
	if (!s)
		return;
	wipe(s->value, 0, s->len);
	g_free(s);
}

const char *secret_reveal(const struct secret *s, size_t *len)
{
	if (len)
		*len = s ? s->len : 0;
	return s ? s->value : "";
}

bool secret_equal(const struct secret *a, const struct secret *b)
{
	size_t la = a ? a->len : 0, lb = b ? b->len : 0;
	if (la != lb)
		return false;
	unsigned char diff = 0;
	for (size_t i = 0; i < la; i++)
		diff |= (unsigned char)(a->value[i] ^ b->value[i]);
	return diff == 0;
}

const char *secret_print(const struct secret *s)
{
	return s && s->len ? "[redacted]" : "";
}

/*
 * Kernel randomness fetched 512 bytes per getrandom(2) call and handed out once each: the
 * bytes are the kernel CSPRNG's own (no user-space generator in between), each is wiped
 * as it is taken, and the pool is per thread, so no lock. One system call per ~30 tags
 * instead of one per tag (a system call costs several microseconds on this kind of VM).
 */
#define POOL_BYTES 512
struct rand_pool {
	unsigned char buf[POOL_BYTES];
	size_t left; /* unused bytes at the end of buf */
};
static __thread struct rand_pool pool;

static void pool_fill(void)
{
	size_t got = 0;
	while (got < POOL_BYTES) {
		ssize_t n = getrandom(pool.buf + got, POOL_BYTES - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			g_error("getrandom failed: %s", g_strerror(errno));
		got += (size_t)n;
	}
	pool.left = POOL_BYTES;
}

void core_random_bytes(void *out, size_t n)
{
	unsigned char *o = out;
	while (n > 0) {
		if (pool.left == 0)
			pool_fill();
		size_t take = MIN(n, pool.left);
		unsigned char *from = pool.buf + POOL_BYTES - pool.left;
		memcpy(o, from, take);
		wipe(from, 0, take);
		pool.left -= take;
		o += take;
		n -= take;
	}
}

void core_random_hex(char *out, size_t nbytes)
{
	unsigned char buf[64];
	if (nbytes > sizeof(buf))
		g_error("core_random_hex: %zu bytes asked, 64 at most", nbytes);
	core_random_bytes(buf, nbytes);
	for (size_t i = 0; i < nbytes; i++) {
		out[2 * i] = "0123456789abcdef"[buf[i] >> 4];
		out[2 * i + 1] = "0123456789abcdef"[buf[i] & 15];
	}
	out[2 * nbytes] = '\0';
	wipe(buf, 0, sizeof(buf));
}
