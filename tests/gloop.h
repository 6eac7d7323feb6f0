/* Helpers for unit tests that run a GMainContext by hand (test_ws_loop.c, test_fdpoll.c). */
#ifndef GORGEE_TESTS_GLOOP_H
#define GORGEE_TESTS_GLOOP_H

#include <glib.h>
#include <sys/resource.h>

/* Room for a thousand socket pairs. */
static inline void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4096) {
		rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Turns ctx until nothing is ready (at most 100 times). */
static inline void settle(GMainContext *ctx)
{
	for (int i = 0; i < 100 && g_main_context_iteration(ctx, FALSE); i++)
		;
}

#endif
