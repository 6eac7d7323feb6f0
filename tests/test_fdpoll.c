/* Unit tests: fdpoll, many descriptors behind one GSource (core/fdpoll.c). */
#include <sys/socket.h>
#include <unistd.h>

#include "core.h"
#include "gloop.h"
#include "tap.h"

#define NPAIRS 1000

struct pair {
	int fd[2];
	struct fdwatch *w;
	unsigned fired;
	GIOCondition last;
	struct pair *victim; /* its watch is freed by this one's callback */
	bool free_self;
};

static unsigned fired_total;

static void on_io(struct fdwatch *w, int fd, GIOCondition cond, void *arg)
{
	struct pair *p = arg;
	char buf[16];
	p->fired++;
	p->last = cond;
	fired_total++;
	if ((cond & G_IO_IN) && read(fd, buf, sizeof(buf)) < 0)
		TAP_CHECK(!"read");
	if (p->victim) {
		fdwatch_free(p->victim->w);
		p->victim->w = NULL;
		p->victim = NULL;
	}
	if (p->free_self) {
		fdwatch_free(w);
		p->w = NULL;
	}
}

static struct pair *pairs_new(struct fdpoll *fp, size_t n)
{
	struct pair *p = g_new0(struct pair, n);
	for (size_t i = 0; i < n; i++) {
		TAP_CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p[i].fd), 0);
		p[i].w = fdwatch_new(fp, p[i].fd[0], G_IO_IN, on_io, &p[i]);
		TAP_CHECK(p[i].w != NULL);
	}
	return p;
}

static void pairs_free(struct pair *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		fdwatch_free(p[i].w);
		close(p[i].fd[0]);
		if (p[i].fd[1] >= 0)
			close(p[i].fd[1]);
	}
	g_free(p);
}

/* GLib polls one descriptor however many are watched, and only the ready one is called. */
static void t_many_fds_one_ready(void)
{
	raise_fd_limit();
	GMainContext *ctx = g_main_context_new();
	struct fdpoll *fp = fdpoll_new(ctx);
	struct pair *p = pairs_new(fp, NPAIRS);
	fired_total = 0;
	settle(ctx);
	gint prio;
	GPollFD fds[8];
	g_main_context_prepare(ctx, &prio);
	gint timeout;
	/* the context's own wake-up descriptor and the epoll set */
	gint nfds = g_main_context_query(ctx, G_MAXINT, &timeout, fds, 8);
	TAP_CHECK_INT(nfds, 2);
	g_main_context_check(ctx, prio, fds, 0);
	TAP_CHECK_INT(write(p[NPAIRS / 2].fd[1], "x", 1), 1);
	settle(ctx);
	TAP_CHECK_INT(fired_total, 1);
	TAP_CHECK_INT(p[NPAIRS / 2].fired, 1);
	TAP_CHECK(p[NPAIRS / 2].last & G_IO_IN);
	pairs_free(p, NPAIRS);
	fdpoll_free(fp);
	g_main_context_unref(ctx);
}

/* Two ready in one batch, the first frees the other's watch (and itself): the other is not
 * called, nothing is touched after it is freed (ASan and valgrind run this case). */
static void t_free_during_dispatch(void)
{
	GMainContext *ctx = g_main_context_new();
	struct fdpoll *fp = fdpoll_new(ctx);
	struct pair *p = pairs_new(fp, 2);
	p[0].victim = &p[1];
	p[1].victim = &p[0];
	p[0].free_self = p[1].free_self = true;
	fired_total = 0;
	TAP_CHECK_INT(write(p[0].fd[1], "x", 1), 1);
	TAP_CHECK_INT(write(p[1].fd[1], "x", 1), 1);
	settle(ctx);
	TAP_CHECK_INT(fired_total, 1);
	TAP_CHECK(p[0].w == NULL && p[1].w == NULL);
	pairs_free(p, 2);
	fdpoll_free(fp);
	g_main_context_unref(ctx);
}

/* Interest: OUT only while asked for; a hang-up is reported with interest IN. */
static void t_interest_and_hangup(void)
{
	GMainContext *ctx = g_main_context_new();
	struct fdpoll *fp = fdpoll_new(ctx);
	struct pair *p = pairs_new(fp, 1);
	settle(ctx);
	TAP_CHECK_INT(p->fired, 0);
	fdwatch_set(p->w, G_IO_IN | G_IO_OUT);
	TAP_CHECK_INT(fdwatch_interest(p->w), G_IO_IN | G_IO_OUT);
	TAP_CHECK(g_main_context_iteration(ctx, FALSE));
	TAP_CHECK(p->fired >= 1 && (p->last & G_IO_OUT));
	fdwatch_set(p->w, G_IO_IN);
	settle(ctx);
	unsigned before = p->fired;
	settle(ctx);
	TAP_CHECK_INT(p->fired, before);
	close(p->fd[1]);
	p->fd[1] = -1;
	p->free_self = true; /* level-triggered: the hang-up would be reported again */
	settle(ctx);
	TAP_CHECK_INT(p->fired, before + 1);
	TAP_CHECK(p->last & G_IO_HUP);
	pairs_free(p, 1);
	fdpoll_free(fp);
	g_main_context_unref(ctx);
}

/* Idle: watched but nothing ready, the source does not make GLib spin. */
static void t_idle_does_not_spin(void)
{
	GMainContext *ctx = g_main_context_new();
	struct fdpoll *fp = fdpoll_new(ctx);
	struct pair *p = pairs_new(fp, 4);
	settle(ctx);
	TAP_CHECK(!g_main_context_iteration(ctx, FALSE));
	pairs_free(p, 4);
	fdpoll_free(fp);
	fdpoll_free(NULL);
	g_main_context_unref(ctx);
}

/* A source that is ready on every iteration, as a SIP socket is under load. */
static gboolean busy_prepare(GSource *s, gint *timeout)
{
	(void)s;
	*timeout = 0;
	return TRUE;
}

static gboolean busy_dispatch(GSource *s, GSourceFunc cb, gpointer data)
{
	(void)s;
	(void)cb;
	(*(unsigned *)data)++;
	return G_SOURCE_CONTINUE;
}

static gboolean deferred(gpointer data)
{
	(*(unsigned *)data)++;
	return G_SOURCE_REMOVE;
}

/* core_defer runs while a default-priority source is ready on every iteration (an idle
 * source never would: calls ended under load were not freed). */
static void t_defer_runs_under_load(void)
{
	static GSourceFuncs busy_funcs = {.prepare = busy_prepare, .dispatch = busy_dispatch};
	unsigned busy = 0, ran = 0;
	GSource *b = g_source_new(&busy_funcs, sizeof(GSource));
	g_source_set_callback(b, NULL, &busy, NULL);
	g_source_attach(b, NULL);
	core_defer(deferred, &ran);
	for (int i = 0; i < 5 && !ran; i++)
		g_main_context_iteration(NULL, FALSE);
	TAP_CHECK(ran == 1);
	TAP_CHECK(busy >= 1);
	g_source_destroy(b);
	g_source_unref(b);
}

static const struct tap_case cases[] = {
	{"1,000 sockets, one ready: one fd polled, one callback", t_many_fds_one_ready, 0},
	{"a watch freed by an earlier callback of the batch is not called", t_free_during_dispatch, 0},
	{"OUT only while wanted; a hang-up is reported", t_interest_and_hangup, 0},
	{"an idle set does not spin", t_idle_does_not_spin, 0},
	{"deferred work runs while a source is ready on every iteration", t_defer_runs_under_load, 0},
};

TAP_MAIN(cases)
