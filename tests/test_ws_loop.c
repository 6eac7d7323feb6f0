/* Unit tests: ws_loop, the libuv loop embedded in a GMainContext as one GSource (ws/loop.c). */
#include <sys/socket.h>
#include <unistd.h>

#include "gloop.h"
#include "tap.h"
#include "ws.h"

#define NPAIRS 1000

struct pair {
	int fd[2];
	uv_poll_t poll;
	unsigned fired;
	struct pair *victim; /* closed by this one's callback */
};

static unsigned fired_total;

static void on_readable(uv_poll_t *h, int status, int events)
{
	struct pair *p = h->data;
	char buf[16];
	(void)status;
	(void)events;
	p->fired++;
	fired_total++;
	if (read(p->fd[0], buf, sizeof(buf)) < 0)
		TAP_CHECK(!"read");
	if (p->victim) {
		uv_close((uv_handle_t *)&p->victim->poll, NULL);
		p->victim = NULL;
	}
}

/* Each pair: a socketpair, fd[0] polled for reading. */
static struct pair *pairs_new(uv_loop_t *uv, size_t n)
{
	struct pair *p = g_new0(struct pair, n);
	for (size_t i = 0; i < n; i++) {
		TAP_CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p[i].fd), 0);
		TAP_CHECK_INT(uv_poll_init(uv, &p[i].poll, p[i].fd[0]), 0);
		p[i].poll.data = &p[i];
		TAP_CHECK_INT(uv_poll_start(&p[i].poll, UV_READABLE, on_readable), 0);
	}
	return p;
}

static void pairs_free(struct pair *p, size_t n, struct ws_loop *l)
{
	for (size_t i = 0; i < n; i++)
		if (!uv_is_closing((uv_handle_t *)&p[i].poll))
			uv_close((uv_handle_t *)&p[i].poll, NULL);
	ws_loop_free(l); /* runs the close callbacks before p goes */
	for (size_t i = 0; i < n; i++) {
		close(p[i].fd[0]);
		close(p[i].fd[1]);
	}
	g_free(p);
}

/* How many fds GLib would poll in the next iteration of ctx. */
static gint polled_fds(GMainContext *ctx)
{
	gint prio, timeout;
	GPollFD fds[16];
	g_main_context_acquire(ctx);
	g_main_context_prepare(ctx, &prio);
	gint n = g_main_context_query(ctx, prio, &timeout, fds, G_N_ELEMENTS(fds));
	g_main_context_check(ctx, prio, fds, MIN(n, (gint)G_N_ELEMENTS(fds)));
	g_main_context_dispatch(ctx);
	g_main_context_release(ctx);
	return n;
}

/* 1,000 watched sockets: GLib polls one fd for all of them, and one ready socket costs one
 * callback. A GSource per socket (libwebsockets' glib plugin) made GLib poll 1,000. */
static void t_many_fds_one_ready(void)
{
	raise_fd_limit();
	GMainContext *ctx = g_main_context_new();
	struct ws_loop *l = ws_loop_new(ctx);
	struct pair *p = pairs_new(ws_loop_uv(l), NPAIRS);
	settle(ctx);
	fired_total = 0;
	TAP_CHECK(polled_fds(ctx) <= 2); /* the epoll fd and GLib's own wake-up fd */
	TAP_CHECK(write(p[NPAIRS / 2].fd[1], "x", 1) == 1);
	g_main_context_iteration(ctx, TRUE);
	settle(ctx);
	TAP_CHECK_INT(p[NPAIRS / 2].fired, 1);
	TAP_CHECK_INT(fired_total, 1);
	pairs_free(p, NPAIRS, l);
	g_main_context_unref(ctx);
}

/* A callback that closes another ready handle: the closed one is not called. */
static void t_close_during_dispatch(void)
{
	GMainContext *ctx = g_main_context_new();
	struct ws_loop *l = ws_loop_new(ctx);
	struct pair *p = pairs_new(ws_loop_uv(l), 2);
	settle(ctx);
	p[0].victim = &p[1];
	p[1].victim = &p[0];
	fired_total = 0;
	TAP_CHECK(write(p[0].fd[1], "x", 1) == 1);
	TAP_CHECK(write(p[1].fd[1], "x", 1) == 1);
	g_main_context_iteration(ctx, TRUE);
	settle(ctx);
	TAP_CHECK_INT(fired_total, 1);
	pairs_free(p, 2, l);
	g_main_context_unref(ctx);
}

static gboolean guard_fired(gpointer data)
{
	*(bool *)data = true;
	return G_SOURCE_REMOVE;
}

static void on_writable(uv_poll_t *h, int status, int events)
{
	(void)status;
	(void)events;
	*(bool *)h->data = true;
	uv_poll_stop(h);
}

/* A poll started outside uv_run() (what lws_callback_on_writable() from a GLib callback
 * does) is served at once: libuv only queues it, and the source must notice the queue. */
static void t_poll_started_from_glib(void)
{
	GMainContext *ctx = g_main_context_new();
	struct ws_loop *l = ws_loop_new(ctx);
	int sv[2];
	TAP_CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	uv_poll_t h;
	bool writable = false, guard = false;
	uv_poll_init(ws_loop_uv(l), &h, sv[0]);
	h.data = &writable;
	settle(ctx);
	uv_poll_start(&h, UV_WRITABLE, on_writable);
	GSource *g = g_timeout_source_new(2000);
	g_source_set_callback(g, guard_fired, &guard, NULL);
	g_source_attach(g, ctx);
	gint64 t0 = g_get_monotonic_time();
	while (!writable && !guard)
		g_main_context_iteration(ctx, TRUE);
	TAP_CHECK(writable);
	TAP_CHECK(g_get_monotonic_time() - t0 < 500000);
	g_source_destroy(g);
	g_source_unref(g);
	uv_close((uv_handle_t *)&h, NULL);
	ws_loop_free(l);
	close(sv[0]);
	close(sv[1]);
	g_main_context_unref(ctx);
}

static void on_timer(uv_timer_t *t)
{
	*(gint64 *)t->data = g_get_monotonic_time();
}

/* A libuv timer fires on time with nothing else going on: the GSource's timeout comes from
 * uv_backend_timeout(). */
static void t_timer_on_time(void)
{
	GMainContext *ctx = g_main_context_new();
	struct ws_loop *l = ws_loop_new(ctx);
	uv_timer_t t;
	gint64 at = 0;
	bool guard = false;
	uv_timer_init(ws_loop_uv(l), &t);
	t.data = &at;
	settle(ctx);
	gint64 t0 = g_get_monotonic_time();
	uv_timer_start(&t, on_timer, 50, 0);
	GSource *g = g_timeout_source_new(2000);
	g_source_set_callback(g, guard_fired, &guard, NULL);
	g_source_attach(g, ctx);
	while (!at && !guard)
		g_main_context_iteration(ctx, TRUE);
	TAP_CHECK(at != 0);
	TAP_CHECK(at - t0 >= 45000 && at - t0 < 500000);
	g_source_destroy(g);
	g_source_unref(g);
	uv_close((uv_handle_t *)&t, NULL);
	ws_loop_free(l);
	g_main_context_unref(ctx);
}

/* Idle: nothing watched, nothing due: the source does not make GLib spin. */
static void t_idle_does_not_spin(void)
{
	GMainContext *ctx = g_main_context_new();
	struct ws_loop *l = ws_loop_new(ctx);
	settle(ctx);
	TAP_CHECK(!g_main_context_iteration(ctx, FALSE));
	ws_loop_free(l);
	ws_loop_free(NULL);
	g_main_context_unref(ctx);
}

static const struct tap_case cases[] = {
	{"1,000 sockets, one ready: one fd polled, one callback", t_many_fds_one_ready, 0},
	{"a handle closed by an earlier callback is not called", t_close_during_dispatch, 0},
	{"a poll started from GLib code is served without another wake-up", t_poll_started_from_glib, 0},
	{"a libuv timer fires on time through GLib", t_timer_on_time, 0},
	{"an idle loop does not spin", t_idle_does_not_spin, 0},
};

TAP_MAIN(cases)
