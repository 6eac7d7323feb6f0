/* Timing wheel for transaction timers: O(1) start/stop, one GLib source while armed. */
#include "sip.h"

#define TICK_MS 10u
#define SLOTS 1024u /* 10.24 s per turn; longer timers go round (Timer B/F/H: 32 s) */

struct sip_wheel {
	struct sip_timer *slot[SLOTS];
	uint64_t now_ms;  /* the tick the wheel has processed up to */
	unsigned armed;
	guint source;
	gint64 base_us;
};

static uint64_t clock_ms(const struct sip_wheel *w)
{
	return (uint64_t)((g_get_monotonic_time() - w->base_us) / 1000);
}

static void unlink_timer(struct sip_wheel *w, struct sip_timer *tm)
{
	unsigned s = (unsigned)((tm->due_ms / TICK_MS) % SLOTS);
	if (tm->prev)
		tm->prev->next = tm->next;
	else
		w->slot[s] = tm->next;
	if (tm->next)
		tm->next->prev = tm->prev;
	tm->next = tm->prev = NULL;
	tm->armed = false;
	w->armed--;
}

static gboolean tick(gpointer data);

static void ensure_source(struct sip_wheel *w)
{
	if (!w->source && w->armed)
		w->source = g_timeout_add(TICK_MS, tick, w);
}

/* Fires every timer due up to now, slot by slot; a fired callback may re-arm or stop others. */
static gboolean tick(gpointer data)
{
	struct sip_wheel *w = data;
	uint64_t now = clock_ms(w);
	while (w->now_ms + TICK_MS <= now && w->armed) {
		w->now_ms += TICK_MS;
		unsigned s = (unsigned)((w->now_ms / TICK_MS) % SLOTS);
		struct sip_timer *tm = w->slot[s];
		while (tm) {
			struct sip_timer *next = tm->next;
			if (tm->due_ms <= w->now_ms) {
				unlink_timer(w, tm);
				tm->fn(tm, tm->arg); /* may free tm: next was saved */
				/* the callback may have stopped `next`: restart the slot scan */
				next = w->slot[s];
				while (next && next->due_ms > w->now_ms)
					next = next->next;
			}
			tm = next;
		}
	}
	if (!w->armed) {
		w->now_ms = now - now % TICK_MS;
		w->source = 0;
		return G_SOURCE_REMOVE;
	}
	return G_SOURCE_CONTINUE;
}

struct sip_wheel *sip_wheel_new(void)
{
	struct sip_wheel *w = g_new0(struct sip_wheel, 1);
	w->base_us = g_get_monotonic_time();
	return w;
}

void sip_wheel_free(struct sip_wheel *w)
{
	if (!w)
		return;
	for (unsigned s = 0; s < SLOTS; s++)
		while (w->slot[s])
			unlink_timer(w, w->slot[s]);
	if (w->source)
		g_source_remove(w->source);
	g_free(w);
}

void sip_timer_start(struct sip_wheel *w, struct sip_timer *tm, unsigned delay_ms,
		     sip_timer_fn *fn, void *arg)
{
	if (tm->armed)
		unlink_timer(w, tm);
	if (!w->armed) { /* idle wheel: catch its clock up so it does not replay old ticks */
		uint64_t now = clock_ms(w); /* one reading: two could straddle a tick */
		w->now_ms = now - now % TICK_MS;
	}
	/* rounded up to the next millisecond: a timer may be late by a tick, never early */
	uint64_t now_up = (uint64_t)((g_get_monotonic_time() - w->base_us + 999) / 1000);
	uint64_t due = now_up + MAX(delay_ms, 1u);
	due = (due + TICK_MS - 1) / TICK_MS * TICK_MS; /* never early */
	if (due <= w->now_ms)
		due = w->now_ms + TICK_MS;
	tm->due_ms = due;
	tm->fn = fn;
	tm->arg = arg;
	unsigned s = (unsigned)((due / TICK_MS) % SLOTS);
	tm->prev = NULL;
	tm->next = w->slot[s];
	if (tm->next)
		tm->next->prev = tm;
	w->slot[s] = tm;
	tm->armed = true;
	w->armed++;
	ensure_source(w);
}

void sip_timer_stop(struct sip_wheel *w, struct sip_timer *tm)
{
	if (tm->armed)
		unlink_timer(w, tm);
}

unsigned sip_wheel_count(const struct sip_wheel *w)
{
	return w->armed;
}
