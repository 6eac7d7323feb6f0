/* The fixture of the relay unit tests that run sessions on a relay of their own
 * (test_relay_udp.c, test_relay_streams.c): a context made thread-default, a relay with two
 * workers on a 100-port block of the test range, a pump that turns the context, and a
 * session's counters. */
#ifndef GORGEE_TESTS_RELAYFX_H
#define GORGEE_TESTS_RELAYFX_H

#include <glib.h>

#include "relay.h"
#include "tap.h"
#include "testnet.h"

struct fx {
	GMainContext *ctx;
	struct relay *r;
};

static inline void fx_init(struct fx *f)
{
	f->ctx = g_main_context_new();
	g_main_context_push_thread_default(f->ctx);
	uint16_t base = test_port_range_base();
	struct relay_config cfg = {.workers = 2, .bind_addr = "127.0.0.1", .port_min = base,
				   .port_max = (uint16_t)(base + 99)};
	f->r = NULL;
	TAP_CHECK_INT(relay_new(&cfg, &f->r), 0);
}

static inline void pump(struct fx *f, int ms)
{
	gint64 end = g_get_monotonic_time() + ms * 1000;
	while (g_get_monotonic_time() < end) {
		while (g_main_context_iteration(f->ctx, FALSE))
			;
		g_usleep(2000);
	}
}

static inline void fx_done(struct fx *f)
{
	relay_free(f->r);
	while (g_main_context_iteration(f->ctx, FALSE))
		;
	g_main_context_pop_thread_default(f->ctx);
	g_main_context_unref(f->ctx);
}

/* A session's counters, as the worker snapshots them (pumps the context until they come). */
struct stats_box {
	bool done;
	struct relay_session_stats st;
};

static inline void on_stats(struct relay_session *s, const struct relay_session_stats *st,
			    void *arg)
{
	struct stats_box *b = arg;
	b->st = *st;
	b->done = true;
}

static inline struct relay_session_stats stats(struct fx *f, struct relay_session *s)
{
	struct stats_box b = {0};
	relay_session_stats(s, on_stats, &b);
	for (int i = 0; i < 500 && !b.done; i++)
		pump(f, 4);
	TAP_CHECK(b.done);
	return b.st;
}

#endif
