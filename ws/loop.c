/* The event loop libwebsockets runs on: a libuv loop (epoll) embedded in a GMainContext as one GSource. */
#include <errno.h>

#include "ws.h"

static const char *const log_module = "ws";

/*
 * Why not libwebsockets' glib event-loop plugin: it gives every connection its own GSource,
 * and GLib prepares, polls and checks every source on every wake-up of the loop, so with
 * 10,000 connections each wake-up of the signaling thread cost O(10,000) (docs/websocket-loop.md).
 * Debian's libwebsockets is built without external-poll callbacks (LWS_WITH_EXTERNAL_POLL),
 * so it cannot hand its sockets to a poller of ours either. Its libuv plugin keeps them in
 * libuv's epoll set instead, and libuv documents how to embed a loop in another one:
 * uv_backend_fd() (the epoll fd), uv_backend_timeout() and uv_run(UV_RUN_NOWAIT). GLib then
 * polls one fd whatever the number of connections, and a wake-up costs what is ready.
 */
struct ws_loop {
	GSource source;
	uv_loop_t uv;
	gpointer fd_tag;
	void *foreign[1]; /* lws_context_creation_info.foreign_loops */
	bool uv_open;
};

/*
 * Milliseconds until libuv has work (0: now), -1 when it has nothing that could wake it.
 * libuv applies epoll changes lazily (uv_poll_start() queues the watcher; uv_run() hands
 * it to epoll_ctl() before it waits), and uv_backend_timeout() answers 0 while that queue
 * is not empty, so a poll started outside uv_run() (lws_callback_on_writable() from a GLib
 * callback) is served at once: tests/test_ws_loop.c checks it. A loop with no active handle
 * is not alive and uv_run() does nothing, so its queue (libuv's internal watchers, queued by
 * uv_loop_init) must not make the source ready.
 */
static int uv_due_ms(uv_loop_t *uv)
{
	if (!uv_loop_alive(uv))
		return -1;
	uv_update_time(uv); /* uv_backend_timeout() measures from the loop's cached time */
	return uv_backend_timeout(uv);
}

static gboolean loop_prepare(GSource *s, gint *timeout)
{
	struct ws_loop *l = (struct ws_loop *)s;
	*timeout = uv_due_ms(&l->uv);
	return *timeout == 0;
}

static gboolean loop_check(GSource *s)
{
	struct ws_loop *l = (struct ws_loop *)s;
	if (g_source_query_unix_fd(s, l->fd_tag) & (G_IO_IN | G_IO_ERR | G_IO_HUP))
		return TRUE;
	return uv_due_ms(&l->uv) == 0;
}

static gboolean loop_dispatch(GSource *s, GSourceFunc cb, gpointer data)
{
	struct ws_loop *l = (struct ws_loop *)s;
	(void)cb;
	(void)data;
	uv_run(&l->uv, UV_RUN_NOWAIT); /* epoll_wait(…, 0): only what is ready, and due timers */
	return G_SOURCE_CONTINUE;
}

static GSourceFuncs loop_funcs = {
	.prepare = loop_prepare,
	.check = loop_check,
	.dispatch = loop_dispatch,
};

struct ws_loop *ws_loop_new(GMainContext *ctx)
{
	struct ws_loop *l = (struct ws_loop *)g_source_new(&loop_funcs, sizeof(struct ws_loop));
	int rc = uv_loop_init(&l->uv);
	if (rc) {
		LOGE(log_module, NULL, "cannot create the event loop: %s", uv_strerror(rc));
		g_source_unref(&l->source);
		return NULL;
	}
	l->uv_open = true;
	l->foreign[0] = &l->uv;
	l->fd_tag = g_source_add_unix_fd(&l->source, uv_backend_fd(&l->uv), G_IO_IN);
	g_source_set_name(&l->source, "ws-loop");
	core_source_unblocked(&l->source);
	g_source_attach(&l->source, ctx);
	return l;
}

uv_loop_t *ws_loop_uv(struct ws_loop *l)
{
	return &l->uv;
}

void ws_loop_setup_lws(struct ws_loop *l, struct lws_context_creation_info *info)
{
	info->options |= LWS_SERVER_OPTION_LIBUV;
	info->foreign_loops = l->foreign;
}

static void report_open(uv_handle_t *h, void *arg)
{
	unsigned *n = arg;
	if (!uv_is_closing(h))
		(*n)++;
}

void ws_loop_settle(struct ws_loop *l)
{
	/* Bounded: a handle left open is reported by ws_loop_free. */
	for (unsigned i = 0; l && i < 1000 && uv_loop_alive(&l->uv); i++)
		uv_run(&l->uv, UV_RUN_NOWAIT);
}

void ws_loop_free(struct ws_loop *l)
{
	if (!l)
		return;
	ws_loop_settle(l);
	int rc = uv_loop_close(&l->uv);
	if (rc == UV_EBUSY) {
		unsigned open = 0;
		uv_walk(&l->uv, report_open, &open);
		LOGW(log_module, NULL, "event loop closed with %u handles still open", open);
	}
	g_source_destroy(&l->source);
	g_source_unref(&l->source);
}
