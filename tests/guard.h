/* Test helper: places bytes so they end exactly at an unreadable page (catches over-reads). */
#ifndef GORGEE_TESTS_GUARD_H
#define GORGEE_TESTS_GUARD_H

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Room for inputs well past the 64 KB message cap, plus one PROT_NONE page after them. */
struct guard {
	char *base;
	size_t size; /* readable bytes before the guard page */
	size_t map;
};

static inline void guard_init(struct guard *g)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	g->size = ((262144 + page - 1) / page) * page;
	g->map = g->size + page;
	g->base = mmap(NULL, g->map, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g->base == MAP_FAILED)
		abort();
	if (mprotect(g->base + g->size, page, PROT_NONE) != 0)
		abort();
}

/* Copies n bytes so the last one is the last readable byte; returns where they start. */
static inline const char *guard_place(struct guard *g, const void *data, size_t n)
{
	if (n > g->size)
		abort();
	char *p = g->base + g->size - n;
	if (n)
		memcpy(p, data, n);
	return p;
}

static inline void guard_free(struct guard *g)
{
	munmap(g->base, g->map);
}

#endif
