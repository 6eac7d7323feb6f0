/*
 * Many file descriptors behind one GSource: an epoll set whose own descriptor is the only
 * thing GLib polls. GLib walks every attached source in prepare and check and hands the
 * kernel one pollfd per source on every wake-up, so 10,000 idle SIP TCP connections with a
 * g_unix_fd source each cost ~3.4 ms of CPU per UDP request that woke the loop (measured:
 * docs/websocket-loop.md). Here a wake-up costs the ready descriptors only.
 *
 * Level-triggered, like g_unix_fd_add. A callback may change any watch's interest or free
 * any watch, its own included: a freed watch leaves the epoll set at once and its memory
 * goes at the end of the dispatch, so events already read for it are skipped.
 */
#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "core.h"

#define FDPOLL_BATCH 128

struct fdpoll {
	GSource src;
	int epfd;
	gpointer tag;
	unsigned depth;  /* dispatches running (a callback may iterate the context) */
	GPtrArray *dead; /* watches freed while dispatching */
};

struct fdwatch {
	struct fdpoll *p;
	int fd;
	GIOCondition interest; /* G_IO_IN and/or G_IO_OUT */
	fdwatch_fn *fn;
	void *arg;
	bool dead;
};

static uint32_t to_epoll(GIOCondition c)
{
	return (c & G_IO_IN ? EPOLLIN : 0) | (c & G_IO_OUT ? EPOLLOUT : 0);
}

static GIOCondition from_epoll(uint32_t e)
{
	return (e & EPOLLIN ? G_IO_IN : 0) | (e & EPOLLOUT ? G_IO_OUT : 0) |
	       (e & EPOLLERR ? G_IO_ERR : 0) | (e & EPOLLHUP ? G_IO_HUP : 0);
}

static gboolean fp_check(GSource *src)
{
	struct fdpoll *p = (struct fdpoll *)src;
	return (g_source_query_unix_fd(src, p->tag) & G_IO_IN) != 0;
}

static gboolean fp_dispatch(GSource *src, GSourceFunc fn, gpointer data)
{
	struct fdpoll *p = (struct fdpoll *)src;
	struct epoll_event ev[FDPOLL_BATCH];
	(void)fn;
	(void)data;
	int n = epoll_wait(p->epfd, ev, FDPOLL_BATCH, 0);
	p->depth++;
	for (int i = 0; i < n; i++) {
		struct fdwatch *w = ev[i].data.ptr;
		if (w->dead)
			continue;
		/* errors and hang-ups always; readiness only for what is wanted now (an earlier
		 * callback in this batch may have changed it) */
		GIOCondition c = from_epoll(ev[i].events) & (w->interest | G_IO_ERR | G_IO_HUP);
		if (c)
			w->fn(w, w->fd, c, w->arg);
	}
	if (--p->depth == 0 && p->dead->len)
		g_ptr_array_remove_range(p->dead, 0, p->dead->len); /* frees them */
	return G_SOURCE_CONTINUE;
}

static void fp_finalize(GSource *src)
{
	struct fdpoll *p = (struct fdpoll *)src;
	close(p->epfd);
	g_ptr_array_free(p->dead, TRUE);
}

static GSourceFuncs fp_funcs = {
	.check = fp_check,
	.dispatch = fp_dispatch,
	.finalize = fp_finalize,
};

GSource *core_source_unblocked(GSource *s)
{
	g_source_set_can_recurse(s, TRUE);
	return s;
}

guint core_defer(GSourceFunc fn, gpointer data)
{
	return g_idle_add_full(G_PRIORITY_DEFAULT, fn, data, NULL);
}

struct fdpoll *fdpoll_new(GMainContext *ctx)
{
	int epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		return NULL;
	GSource *src = g_source_new(&fp_funcs, sizeof(struct fdpoll));
	struct fdpoll *p = (struct fdpoll *)src;
	p->epfd = epfd;
	p->dead = g_ptr_array_new_with_free_func(g_free);
	p->tag = g_source_add_unix_fd(src, epfd, G_IO_IN);
	g_source_set_name(src, "fdpoll");
	core_source_unblocked(src);
	g_source_attach(src, ctx);
	return p;
}

void fdpoll_free(struct fdpoll *p)
{
	if (!p)
		return;
	g_source_destroy(&p->src);
	g_source_unref(&p->src);
}

struct fdwatch *fdwatch_new(struct fdpoll *p, int fd, GIOCondition interest, fdwatch_fn *fn,
			    void *arg)
{
	struct fdwatch *w = g_new0(struct fdwatch, 1);
	w->p = p;
	w->fd = fd;
	w->interest = interest & (G_IO_IN | G_IO_OUT);
	w->fn = fn;
	w->arg = arg;
	struct epoll_event ev = {.events = to_epoll(w->interest), .data.ptr = w};
	if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
		int err = errno;
		g_free(w);
		errno = err;
		return NULL;
	}
	return w;
}

void fdwatch_set(struct fdwatch *w, GIOCondition interest)
{
	interest &= G_IO_IN | G_IO_OUT;
	if (interest == w->interest)
		return;
	w->interest = interest;
	struct epoll_event ev = {.events = to_epoll(interest), .data.ptr = w};
	/* cannot fail for a descriptor in the set; a failure would show as a stalled socket */
	if (epoll_ctl(w->p->epfd, EPOLL_CTL_MOD, w->fd, &ev) != 0)
		LOGW("core", NULL, "fdpoll: epoll_ctl MOD fd %d: %s", w->fd, g_strerror(errno));
}

GIOCondition fdwatch_interest(const struct fdwatch *w)
{
	return w->interest;
}

void fdwatch_free(struct fdwatch *w)
{
	if (!w)
		return;
	epoll_ctl(w->p->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	if (w->p->depth) {
		w->dead = true;
		g_ptr_array_add(w->p->dead, w);
	} else {
		g_free(w);
	}
}
