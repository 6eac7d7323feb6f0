/* Scratch blocks: a per-thread cache of the large, short-lived structures of one message. */
#include "core.h"

/*
 * An SDP session is ~300 KB of fixed arrays and a call parses or builds a dozen of them
 * (with 14 KB media views beside them). Through malloc, blocks that large were carved from
 * the top of the heap and merged back each time: malloc's own bookkeeping, zeroing and the
 * page faults after it were a fifth of the signaling thread's CPU per call at 2,500
 * calls/s (bench/README.md). A few blocks of each size stay with the thread instead.
 */
#define SCRATCH_KEEP 32

struct scratch {
	size_t size[SCRATCH_KEEP]; /* 0: the entry is empty (block NULL) */
	void *block[SCRATCH_KEEP];
};

static void scratch_destroy(gpointer data)
{
	struct scratch *c = data;
	for (unsigned i = 0; i < SCRATCH_KEEP; i++)
		g_free(c->block[i]);
	g_free(c);
}

static GPrivate cache_key = G_PRIVATE_INIT(scratch_destroy);

static struct scratch *cache(void)
{
	struct scratch *c = g_private_get(&cache_key);
	if (!c) {
		c = g_new0(struct scratch, 1);
		g_private_set(&cache_key, c);
	}
	return c;
}

void *core_scratch_get(size_t size)
{
	struct scratch *c = cache();
	for (unsigned i = 0; i < SCRATCH_KEEP; i++) {
		if (size && c->size[i] == size) {
			void *p = c->block[i];
			c->size[i] = 0;
			c->block[i] = NULL;
			return p;
		}
	}
	return g_malloc(size);
}

void core_scratch_put(void *p, size_t size)
{
	if (!p)
		return;
	struct scratch *c = cache();
	for (unsigned i = 0; i < SCRATCH_KEEP; i++) {
		if (c->size[i] == 0) {
			c->size[i] = size;
			c->block[i] = p;
			return;
		}
	}
	g_free(p);
}
