/*
 * BI-45, unmasked client frames. RFC 6455 §5.1: a server MUST close the connection when a
 * client frame is not masked. Debian's libwebsockets 4.1 unmasks what is masked and accepts
 * the rest, and no callback sees the mask bit. So gorgee watches the bytes libwebsockets
 * reads on each of its connections: recv() (ws://) and SSL_read() (wss://) are defined here,
 * and because libwebsockets calls them through the dynamic linker, the executable's
 * definitions are the ones it gets (ELF symbol interposition). Both pass everything through
 * unchanged; on the signaling thread, for a socket being watched, they also walk the frame
 * headers and remember an unmasked one. server.c closes such a connection with 1002 at its
 * next receive callback.
 *
 * A watched socket starts in HTTP mode (the upgrade request, read by libwebsockets before
 * the connection is a WebSocket, may be followed at once by frames in the same read) and
 * enters frame mode after a request head naming "websocket". Only the signaling thread
 * touches the table: other threads' reads (media workers, libnice) pass straight through.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <glib.h>
#include <openssl/ssl.h>

#include "ws-private.h"

struct guard {
	bool frames;        /* past the upgrade request */
	bool unmasked;      /* a client frame without a mask was seen */
	unsigned crlf;      /* HTTP: how much of "\r\n\r\n" matched */
	unsigned ws_match;  /* HTTP: how much of "websocket" matched */
	bool ws_named;      /* HTTP: this request head named websocket */
	uint8_t hdr[14];    /* frames: the header being collected */
	unsigned have, need;
	uint64_t skip;      /* frames: payload bytes left in the current frame */
};

static GHashTable *guards; /* fd → struct guard, signaling thread only */
static GThread *owner;

void ws_guard_init(void)
{
	if (!guards)
		guards = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
	owner = g_thread_self();
}

void ws_guard_clear(void)
{
	if (guards)
		g_hash_table_destroy(guards);
	guards = NULL;
	owner = NULL;
}

void ws_guard_watch(int fd)
{
	if (guards && fd >= 0 && g_thread_self() == owner)
		g_hash_table_insert(guards, GINT_TO_POINTER(fd), g_new0(struct guard, 1));
}

void ws_guard_forget(int fd)
{
	if (guards && g_thread_self() == owner)
		g_hash_table_remove(guards, GINT_TO_POINTER(fd));
}

bool ws_guard_unmasked(int fd)
{
	if (!guards || g_thread_self() != owner)
		return false;
	const struct guard *g = g_hash_table_lookup(guards, GINT_TO_POINTER(fd));
	return g && g->unmasked;
}

static void http_byte(struct guard *g, uint8_t c)
{
	static const char crlf2[] = "\r\n\r\n", ws[] = "websocket";
	g->ws_match = g_ascii_tolower((char)c) == ws[g->ws_match] ? g->ws_match + 1
		      : g_ascii_tolower((char)c) == ws[0]	 ? 1
								 : 0;
	if (g->ws_match == sizeof(ws) - 1) {
		g->ws_named = true;
		g->ws_match = 0;
	}
	g->crlf = c == (uint8_t)crlf2[g->crlf] ? g->crlf + 1 : c == '\r' ? 1 : 0;
	if (g->crlf == 4) { /* end of a request head */
		g->frames = g->ws_named;
		g->ws_named = false;
		g->crlf = 0;
	}
}

/* Walks the client's frame headers (RFC 6455 §5.2) across reads. */
static void feed(struct guard *g, const uint8_t *p, size_t n)
{
	while (n && !g->unmasked) {
		if (!g->frames) {
			http_byte(g, *p++);
			n--;
			continue;
		}
		if (g->skip) {
			size_t k = g->skip < n ? (size_t)g->skip : n;
			g->skip -= k;
			p += k;
			n -= k;
			continue;
		}
		g->hdr[g->have++] = *p++;
		n--;
		if (g->have == 2) {
			if (!(g->hdr[1] & 0x80)) {
				g->unmasked = true;
				return;
			}
			unsigned len7 = g->hdr[1] & 0x7f;
			g->need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4;
		}
		if (g->have < 2 || g->have < g->need)
			continue;
		unsigned len7 = g->hdr[1] & 0x7f;
		uint64_t len = len7;
		if (len7 >= 126) {
			len = 0;
			for (unsigned i = 0; i < (len7 == 126 ? 2u : 8u); i++)
				len = len << 8 | g->hdr[2 + i];
		}
		g->skip = len;
		g->have = g->need = 0;
	}
}

static void observe(int fd, const void *buf, ssize_t n)
{
	if (n <= 0 || !guards || g_thread_self() != owner)
		return;
	struct guard *g = g_hash_table_lookup(guards, GINT_TO_POINTER(fd));
	if (g)
		feed(g, buf, (size_t)n);
}

/* Interposed: the system call itself, then a look at what it read. */
ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	ssize_t n = syscall(SYS_recvfrom, fd, buf, len, flags, NULL, NULL);
	if (!(flags & MSG_PEEK))
		observe(fd, buf, n);
	return n;
}

typedef int ssl_read_fn(SSL *ssl, void *buf, int num);

/* Interposed: OpenSSL's SSL_read (found past this executable), then a look at the plain
 * text it returned. */
int SSL_read(SSL *ssl, void *buf, int num)
{
	static ssl_read_fn *real;
	ssl_read_fn *f = __atomic_load_n(&real, __ATOMIC_ACQUIRE);
	if (!f) {
		f = (ssl_read_fn *)dlsym(RTLD_NEXT, "SSL_read");
		if (!f) {
			errno = ENOSYS;
			return -1;
		}
		__atomic_store_n(&real, f, __ATOMIC_RELEASE);
	}
	int n = f(ssl, buf, num);
	if (n > 0)
		observe(SSL_get_fd(ssl), buf, n);
	return n;
}
