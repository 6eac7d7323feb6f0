/* A media worker's event loop: one epoll set for the plain media sockets, and a mailbox for
 * the messages signaling sends, both behind one GLib source on the worker's context. */
#include <errno.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "relay_priv.h"

/*
 * Why not a GSource per socket and g_main_context_invoke per message: GLib polls every
 * source's descriptor on every loop iteration (a worker with 2,000 calls polled 8,000
 * sockets per wake-up), each descriptor added or removed writes the context's wake-up
 * eventfd, and each invoked message is a new source with a wake-up of its own. Here a
 * socket costs one epoll_ctl when it is watched and nothing when it is closed (closing
 * takes it out of the set: our sockets are never duplicated), and a message costs a
 * wake-up only when it finds the mailbox empty.
 */
#define EVENTS_PER_WAKEUP 64

struct mail {
	GSourceFunc fn;
	void *data;
	GDestroyNotify free_fn;
};

/* The mailbox's marker in the epoll set (a struct sock pointer otherwise). */
static char mail_tag;

/* Runs what the mailbox holds, in the order it was posted. */
static void mail_run(struct worker *w)
{
	uint64_t v;
	/* read before taking the queue: a message posted after the take finds the queue
	 * empty and writes again, so it is never left without a wake-up */
	if (read(w->mail_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		LOGW("relay", NULL, "worker %u: mailbox read: %s", w->idx, g_strerror(errno));
	g_mutex_lock(&w->mail_lock);
	GArray *run = w->mail;
	w->mail = w->mail_spare;
	g_mutex_unlock(&w->mail_lock);
	for (guint i = 0; i < run->len; i++) {
		struct mail *m = &g_array_index(run, struct mail, i);
		m->fn(m->data);
		if (m->free_fn)
			m->free_fn(m->data);
	}
	g_array_set_size(run, 0);
	w->mail_spare = run;
}

/*
 * The sockets first, the mailbox after them: a message may close sockets and free their
 * sessions, which must not happen while later events of the same batch still point at
 * them. Nothing on the packet path closes a socket.
 */
static gboolean on_events(gint fd, GIOCondition cond, gpointer data)
{
	struct worker *w = data;
	struct epoll_event ev[EVENTS_PER_WAKEUP];
	(void)fd;
	(void)cond;
	int n = epoll_wait(w->epfd, ev, EVENTS_PER_WAKEUP, 0);
	bool mail = false;
	struct relay_ports *ports = w->r->ports;
	for (int i = 0; i < n; i++) {
		void *ptr = ev[i].data.ptr;
		if (ptr == &mail_tag) {
			mail = true;
		} else if (relay_ports_is_park(ports, ptr)) {
			struct relay_park *k = ptr;
			if (k->owner)
				relay_worker_readable(k->owner);
			else
				relay_ports_idle(ports, k, w->epfd);
		} else {
			relay_worker_readable(ptr);
		}
	}
	if (mail)
		mail_run(w);
	return G_SOURCE_CONTINUE;
}

int relay_loop_init(struct worker *w)
{
	g_mutex_init(&w->mail_lock);
	w->mail = g_array_new(FALSE, FALSE, sizeof(struct mail));
	w->mail_spare = g_array_new(FALSE, FALSE, sizeof(struct mail));
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->mail_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->epfd < 0 || w->mail_fd < 0)
		return errno;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &mail_tag};
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->mail_fd, &ev) < 0)
		return errno;
	w->loop_src = core_source_unblocked(g_unix_fd_source_new(w->epfd, G_IO_IN));
	g_source_set_callback(w->loop_src, G_SOURCE_FUNC(on_events), w, NULL);
	g_source_attach(w->loop_src, w->ctx);
	return 0;
}

void relay_loop_drain(struct worker *w)
{
	g_mutex_lock(&w->mail_lock);
	bool more = w->mail->len > 0;
	g_mutex_unlock(&w->mail_lock);
	if (more)
		mail_run(w);
}

/* After the worker thread ended: messages posted too late are freed unrun (their free
 * functions return what they hold: sockets, port slots, keys). */
void relay_loop_clear(struct worker *w)
{
	if (w->loop_src) {
		g_source_destroy(w->loop_src);
		g_source_unref(w->loop_src);
	}
	for (int k = 0; k < 2 && w->mail; k++) {
		GArray *a = k ? w->mail_spare : w->mail;
		for (guint i = 0; i < a->len; i++) {
			struct mail *m = &g_array_index(a, struct mail, i);
			if (m->free_fn)
				m->free_fn(m->data);
		}
		g_array_free(a, TRUE);
	}
	if (w->epfd >= 0)
		close(w->epfd);
	if (w->mail_fd >= 0)
		close(w->mail_fd);
	g_mutex_clear(&w->mail_lock);
}

static void kick(struct worker *w)
{
	uint64_t one = 1;
	/* EAGAIN cannot lose a wake-up: the counter is then far from zero already */
	if (write(w->mail_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		LOGW("relay", NULL, "worker %u: mailbox write: %s", w->idx, g_strerror(errno));
}

/*
 * Wake-ups posted from a callback the signaling context dispatches are deferred, one per
 * worker, and leave KICK_DELAY_US after the first of them (this source's prepare and check
 * run on every loop iteration and say when the loop must wake for them). A worker whose
 * mailbox is not empty is not woken again, so at 2,500 calls/s (three messages per call) a
 * worker wakes at most ~500 times a second instead of once per message: on a
 * paravirtualised VM each wake-up costs the sender a system call and the worker a
 * poll/epoll round of several microseconds. What waits: a session's sockets are watched up
 * to that much later (packets wait in their socket buffers meanwhile) and a freed
 * session's ports go back to the pool that much later. Elsewhere (another thread, or a
 * context nobody iterates) wake-ups leave at once.
 */
#define KICK_DELAY_US 2000

struct kick_source {
	GSource src;
	struct relay *r;
};

/* Sends the wake-ups deferred in kick_pending. */
static void kick_deferred(struct relay *r)
{
	for (unsigned i = 0; r->kick_pending && i < r->n_workers; i++)
		if (r->kick_pending & (UINT64_C(1) << i))
			kick(&r->workers[i]);
	r->kick_pending = 0;
}

/* Sends the deferred wake-ups if they are due; else returns the milliseconds until they
 * are (-1: none pending). */
static gint kick_if_due(struct relay *r)
{
	if (!r->kick_pending)
		return -1;
	gint64 left = r->kick_due - g_get_monotonic_time();
	if (left > 0)
		return (gint)((left + 999) / 1000);
	kick_deferred(r);
	return -1;
}

static gboolean kick_prepare(GSource *src, gint *timeout)
{
	*timeout = kick_if_due(((struct kick_source *)src)->r);
	return FALSE;
}

static gboolean kick_check(GSource *src)
{
	kick_if_due(((struct kick_source *)src)->r);
	return FALSE;
}

static gboolean kick_dispatch(GSource *src, GSourceFunc fn, gpointer data)
{
	(void)src;
	(void)fn;
	(void)data;
	return G_SOURCE_CONTINUE;
}

static GSourceFuncs kick_funcs = {kick_prepare, kick_check, kick_dispatch, NULL, NULL, NULL};

void relay_loop_kicks_start(struct relay *r)
{
	r->kick_ctx = g_main_context_ref_thread_default();
	r->kick_src = g_source_new(&kick_funcs, sizeof(struct kick_source));
	((struct kick_source *)r->kick_src)->r = r;
	g_source_attach(r->kick_src, r->kick_ctx);
}

void relay_loop_kicks_stop(struct relay *r)
{
	if (!r->kick_src)
		return;
	g_source_destroy(r->kick_src);
	g_source_unref(r->kick_src);
	r->kick_src = NULL;
	kick_deferred(r);
	g_main_context_unref(r->kick_ctx);
}

void relay_worker_post(struct worker *w, GSourceFunc fn, void *data, GDestroyNotify free_fn)
{
	struct mail m = {fn, data, free_fn};
	g_mutex_lock(&w->mail_lock);
	bool wake = w->mail->len == 0;
	g_array_append_val(w->mail, m);
	g_mutex_unlock(&w->mail_lock);
	if (!wake)
		return;
	struct relay *r = w->r;
	GSource *cur = r->kick_src ? g_main_current_source() : NULL;
	if (cur && g_source_get_context(cur) == r->kick_ctx) { /* kick_if_due sends it */
		if (!r->kick_pending)
			r->kick_due = g_get_monotonic_time() + KICK_DELAY_US;
		r->kick_pending |= UINT64_C(1) << w->idx;
	} else
		kick(w);
}

/* The park of k's port when the pool's part of that port is w's (always so for a port
 * allocated for a session of w), else NULL. */
static struct relay_park *park_for(struct worker *w, const struct sock *k)
{
	struct relay_ports *p = w->r->ports;
	uint16_t port = (uint16_t)(k->ep->port + (k->is_rtcp ? 1 : 0));
	struct relay_park *pk = relay_ports_park(p, port);
	return pk && relay_ports_part(p, port) == w->idx ? pk : NULL;
}

/*
 * A pool socket is registered under its port's park and stays registered while it is kept
 * between calls (relay_ports_keep): watching it again only sets the park's owner, with no
 * epoll_ctl (which was most of a worker's CPU per call). Other sockets are added as such.
 */
void relay_loop_watch(struct worker *w, struct sock *k)
{
	if (k->fd < 0 || k->watched)
		return;
	struct relay_park *pk = park_for(w, k);
	int err;
	if (pk) {
		err = relay_ports_register(w->r->ports, pk, k->fd, w->epfd);
	} else {
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = k};
		err = epoll_ctl(w->epfd, EPOLL_CTL_ADD, k->fd, &ev) < 0 ? errno : 0;
	}
	if (err) {
		struct log_ctx lc = {.call_id = k->ep->s->call_id, .leg = "relay"};
		LOGE("relay", &lc, "endpoint %u: cannot watch its socket: %s", k->ep->idx,
		     g_strerror(err));
		return;
	}
	if (pk)
		pk->owner = k;
	k->watched = true;
}

int relay_loop_unwatch(struct worker *w, struct sock *k)
{
	if (!k->watched)
		return 0;
	k->watched = false;
	struct relay_park *pk = park_for(w, k); /* as at watch: port and worker do not change */
	if (pk) { /* stays registered: the park's owner goes */
		if (pk->owner == k)
			pk->owner = NULL;
		return 0;
	}
	return epoll_ctl(w->epfd, EPOLL_CTL_DEL, k->fd, NULL) < 0 ? errno : 0;
}
