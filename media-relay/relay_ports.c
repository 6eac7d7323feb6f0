/* Media port pool: even RTP ports (RTCP on port+1) from a range, shared by every worker. */
#define _GNU_SOURCE /* recvmmsg */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "relay.h"

/*
 * Slots are kept in FIFO rings of free indexes, so a released pair is reused last: a late
 * packet meant for an old call is less likely to reach a new one. There is a ring per part
 * (relay_ports_set_parts: one per media worker; slot i in part i % parts), and a session's
 * ports come from its worker's part, so the same worker always watches a slot's sockets.
 *
 * A slot's sockets may stay open between holders (relay_ports_keep): socket(), bind() and
 * close() were a tenth of the signaling thread's CPU per SIP-to-SIP call (four sockets a
 * call). A kept socket stays in its worker's epoll set under its port's park (the epoll
 * data of that port whatever socket holds it): between holders the worker reads and drops
 * what reaches it (relay_ports_idle), and the next holder's watch only sets the park's
 * owner: no epoll_ctl per call, which had become most of a worker's CPU per call. What came
 * since the worker last looked is still drained when the slot is taken, before its SDP
 * leaves, so no stale packet is taken for the new call's first one; a taken socket that
 * signals before its holder watches it is disarmed until then. At most keep_max stay open
 * (the whole range, within the descriptor limit less a quarter of it, at least 1,024),
 * and when a new socket finds the descriptors used up, kept ones are closed to make room:
 * calls in progress come before the cache. Every close of a pool socket goes through
 * relay_ports_close (or forgets its park's registration under the lock), and a new socket
 * clears a registration recorded under its number, so a park never takes a new socket for
 * one already in the set.
 */
struct relay_ports {
	GMutex lock;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	uint16_t first; /* even port of slot 0 */
	unsigned n;     /* slots */
	unsigned parts; /* slot idx belongs to part idx % parts (one per media worker) */
	unsigned *ring; /* free slot indexes: part q's FIFO in [off[q], off[q] + cap[q]) */
	unsigned *off, *cap, *head, *cnt;
	unsigned count; /* free slots, all parts */
	bool *used;
	struct relay_park *parks; /* 2n: the even and odd socket of each slot */
	struct kept {
		int fd[2]; /* the slot's open even and odd sockets kept, -1 none */
	} *kept;
	unsigned n_kept, keep_max;
	unsigned unkeep_at; /* where the next unkeep() starts looking */
	struct metric *gauge; /* slots in use, or NULL */
};

int relay_ports_new(const char *bind_addr, uint16_t min, uint16_t max, struct relay_ports **out)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	socklen_t sl;
	struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
	if (!bind_addr)
		return EINVAL;
	if (inet_pton(AF_INET, bind_addr, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		sl = sizeof(*v4);
	} else if (inet_pton(AF_INET6, bind_addr, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		sl = sizeof(*v6);
	} else {
		return EINVAL;
	}
	unsigned first = min + (min & 1u);
	if (min == 0 || max < min || first >= max)
		return EINVAL;
	unsigned n = (max - first + 1) / 2; /* pairs (even, even+1) inside [min, max] */
	if (n == 0)
		return EINVAL;

	struct relay_ports *p = g_new0(struct relay_ports, 1);
	g_mutex_init(&p->lock);
	p->addr = ss;
	p->addr_len = sl;
	p->first = (uint16_t)first;
	p->n = n;
	p->ring = g_new(unsigned, n);
	p->used = g_new0(bool, n);
	p->kept = g_new(struct kept, n);
	p->parks = g_new0(struct relay_park, 2 * (size_t)n);
	for (unsigned i = 0; i < n; i++) {
		p->kept[i].fd[0] = p->kept[i].fd[1] = -1;
		for (int k = 0; k < 2; k++)
			p->parks[2 * i + k].reg_fd = -1;
	}
	p->count = n;
	relay_ports_set_parts(p, 1);
	/* A slot's sockets are either kept or in use, never both: the range's 2n sockets are
	 * what media can hold open at most. Kept ones may take every descriptor but a quarter
	 * of the limit (at least 1,024), left to SIP and WebSocket connections. */
	struct rlimit rl;
	rlim_t room = 0;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rlim_t spare = MAX(rl.rlim_cur / 4, (rlim_t)1024);
		room = rl.rlim_cur == RLIM_INFINITY ? 2 * (rlim_t)n
		       : rl.rlim_cur > spare	   ? rl.rlim_cur - spare
						   : 0;
	}
	p->keep_max = (unsigned)MIN(room, 2 * (rlim_t)n);
	*out = p;
	return 0;
}

void relay_ports_free(struct relay_ports *p)
{
	if (!p)
		return;
	if (p->count != p->n)
		LOGW("relay", NULL, "port pool freed with %u slots still in use", p->n - p->count);
	for (unsigned i = 0; i < p->n; i++)
		for (int k = 0; k < 2; k++)
			if (p->kept[i].fd[k] >= 0)
				close(p->kept[i].fd[k]);
	g_mutex_clear(&p->lock);
	g_free(p->ring);
	g_free(p->off);
	g_free(p->cap);
	g_free(p->head);
	g_free(p->cnt);
	g_free(p->used);
	g_free(p->kept);
	g_free(p->parks);
	g_free(p);
}

int relay_ports_set_parts(struct relay_ports *p, unsigned parts)
{
	if (parts < 1 || parts > p->n || p->count != p->n)
		return EINVAL;
	g_free(p->off);
	g_free(p->cap);
	g_free(p->head);
	g_free(p->cnt);
	p->parts = parts;
	p->off = g_new0(unsigned, parts);
	p->cap = g_new0(unsigned, parts);
	p->head = g_new0(unsigned, parts);
	p->cnt = g_new0(unsigned, parts);
	for (unsigned q = 0, at = 0; q < parts; q++) {
		p->off[q] = at;
		for (unsigned i = q; i < p->n; i += parts)
			p->ring[at++] = i;
		p->cap[q] = p->cnt[q] = at - p->off[q];
	}
	return 0;
}

unsigned relay_ports_part(const struct relay_ports *p, uint16_t port)
{
	return (unsigned)(port - p->first) / 2 % p->parts;
}

/* The park of port (even or odd) or NULL if port is not the pool's. */
static struct relay_park *park_of(struct relay_ports *p, uint16_t port)
{
	unsigned off = (unsigned)(port - p->first);
	return port >= p->first && off / 2 < p->n ? &p->parks[off] : NULL;
}

struct relay_park *relay_ports_park(struct relay_ports *p, uint16_t port)
{
	return park_of(p, port);
}

bool relay_ports_is_park(const struct relay_ports *p, const void *ptr)
{
	const char *c = ptr, *a = (const char *)p->parks;
	return c >= a && c < (const char *)(p->parks + 2 * (size_t)p->n);
}

/* Under the lock: fd (port's socket) is about to be closed; it leaves its epoll set with it. */
static void unregister_locked(struct relay_ports *p, uint16_t port, int fd)
{
	struct relay_park *k = park_of(p, port);
	if (k && k->reg_fd == fd)
		k->reg_fd = -1;
}

void relay_ports_close(struct relay_ports *p, uint16_t port, int fd)
{
	if (fd < 0)
		return;
	g_mutex_lock(&p->lock);
	unregister_locked(p, port, fd);
	g_mutex_unlock(&p->lock);
	close(fd);
}

static int bind_one(const struct relay_ports *p, uint16_t port, int *fd)
{
	struct sockaddr_storage ss = p->addr;
	if (ss.ss_family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);
	int s = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0)
		return errno;
	if (bind(s, (struct sockaddr *)&ss, p->addr_len) < 0) {
		int e = errno;
		close(s);
		return e;
	}
	*fd = s;
	return 0;
}

#define DRAIN_MAX 1024

/* Reads and drops what waits on kept sockets (n of them, -1 entries skipped): one poll()
 * for all, a read only on those that hold something (MSG_TRUNC: nothing is copied). */
static void drain(const int *fds, unsigned n)
{
	struct pollfd pfd[2];
	unsigned np = 0;
	for (unsigned i = 0; i < n && np < 2; i++)
		if (fds[i] >= 0)
			pfd[np++] = (struct pollfd){.fd = fds[i], .events = POLLIN};
	if (!np || poll(pfd, np, 0) <= 0)
		return;
	char byte;
	struct mmsghdr mm[16];
	struct iovec iov[16];
	for (int i = 0; i < 16; i++) {
		iov[i] = (struct iovec){&byte, 1};
		mm[i].msg_hdr = (struct msghdr){.msg_iov = &iov[i], .msg_iovlen = 1};
	}
	/* at most DRAIN_MAX datagrams a socket: a flood must not keep the pool's lock (the
	 * worker drains idle ports under it). What is left signals again on an idle port, or
	 * meets the new holder's source checks (BI-34). */
	for (unsigned i = 0; i < np; i++)
		if (pfd[i].revents & POLLIN)
			for (int b = 0; b < DRAIN_MAX / 16 &&
					recvmmsg(pfd[i].fd, mm, 16, MSG_DONTWAIT | MSG_TRUNC, NULL) == 16;
			     b++)
				;
}

/* Closes up to n kept sockets; returns how many. */
static unsigned unkeep(struct relay_ports *p, unsigned n)
{
	unsigned closed = 0;
	g_mutex_lock(&p->lock);
	for (unsigned i = 0; i < p->n && closed < n && p->n_kept; i++) {
		struct kept *k = &p->kept[p->unkeep_at];
		p->unkeep_at = (p->unkeep_at + 1) % p->n;
		for (int j = 0; j < 2; j++) {
			if (k->fd[j] >= 0) {
				unregister_locked(p, (uint16_t)(p->first + 2 * (unsigned)(k - p->kept) + (unsigned)j),
						  k->fd[j]);
				close(k->fd[j]);
				k->fd[j] = -1;
				p->n_kept--;
				closed++;
			}
		}
	}
	g_mutex_unlock(&p->lock);
	return closed;
}

/* The socket kept for slot idx's even (k 0) or odd (k 1) port (*kept set: drain it before
 * use); else a new one bound (after closing some kept ones if the descriptors ran out). */
static int open_one(struct relay_ports *p, unsigned idx, int k, int *fd, bool *kept)
{
	*kept = false;
	g_mutex_lock(&p->lock);
	int s = p->kept[idx].fd[k];
	if (s >= 0) {
		p->kept[idx].fd[k] = -1;
		p->n_kept--;
	}
	g_mutex_unlock(&p->lock);
	if (s < 0) {
		uint16_t port = (uint16_t)(p->first + 2 * idx + (unsigned)k);
		int err = bind_one(p, port, fd);
		if ((err == EMFILE || err == ENFILE) && unkeep(p, 256))
			err = bind_one(p, port, fd);
		if (!err) { /* a registration recorded under this number is not this socket's */
			g_mutex_lock(&p->lock);
			unregister_locked(p, port, *fd);
			g_mutex_unlock(&p->lock);
		}
		return err;
	}
	*kept = true;
	*fd = s;
	return 0;
}

/* Takes the oldest free slot of part q; UINT_MAX when none. */
static unsigned take(struct relay_ports *p, unsigned q)
{
	unsigned idx = UINT_MAX;
	g_mutex_lock(&p->lock);
	if (p->cnt[q]) {
		idx = p->ring[p->off[q] + p->head[q]];
		p->head[q] = (p->head[q] + 1) % p->cap[q];
		p->cnt[q]--;
		p->count--;
		p->used[idx] = true;
		if (p->gauge)
			metric_add(p->gauge, 1);
	}
	g_mutex_unlock(&p->lock);
	return idx;
}

static void give(struct relay_ports *p, unsigned idx)
{
	g_mutex_lock(&p->lock);
	if (idx < p->n && p->used[idx]) {
		unsigned q = idx % p->parts;
		p->used[idx] = false;
		p->ring[p->off[q] + (p->head[q] + p->cnt[q]) % p->cap[q]] = idx;
		p->cnt[q]++;
		p->count++;
		if (p->gauge)
			metric_add(p->gauge, -1);
	} else {
		LOGE("relay", NULL, "port slot %u released twice", idx);
	}
	g_mutex_unlock(&p->lock);
}

int relay_ports_alloc(struct relay_ports *p, bool rtcp, int fds[2], uint16_t *port)
{
	int err = EADDRNOTAVAIL;
	for (unsigned q = 0; q < p->parts && err == EADDRNOTAVAIL; q++)
		err = relay_ports_alloc_in(p, q, rtcp, fds, port);
	return err;
}

int relay_ports_alloc_in(struct relay_ports *p, unsigned part, bool rtcp, int fds[2],
			 uint16_t *port)
{
	/* Each slot is tried at most once per call: ports held by others are skipped, and
	 * the skipped slots go back to the pool (at its tail) once we are done. */
	unsigned *skipped = NULL, nskip = 0;
	int err = EADDRNOTAVAIL;
	part %= p->parts;
	for (unsigned tries = 0; tries < p->cap[part]; tries++) {
		unsigned idx = take(p, part);
		if (idx == UINT_MAX)
			break;
		uint16_t even = (uint16_t)(p->first + 2 * idx);
		int a = -1, b = -1;
		bool ka = false, kb = false;
		int e = open_one(p, idx, 0, &a, &ka);
		if (!e && rtcp)
			e = open_one(p, idx, 1, &b, &kb);
		if (!e) {
			drain((int[2]){ka ? a : -1, kb ? b : -1}, 2);
			fds[0] = a;
			fds[1] = b;
			*port = even;
			err = 0;
			break;
		}
		relay_ports_close(p, even, a);
		if (!skipped)
			skipped = g_new(unsigned, p->n);
		skipped[nskip++] = idx;
		if (e != EADDRINUSE && e != EACCES) {
			err = e;
			break;
		}
	}
	for (unsigned i = 0; i < nskip; i++)
		give(p, skipped[i]);
	g_free(skipped);
	return err;
}

int relay_ports_bind_rtcp(struct relay_ports *p, uint16_t port, int *fd)
{
	if (port < p->first || (port - p->first) % 2 || (unsigned)(port - p->first) / 2 >= p->n)
		return EINVAL;
	bool kept;
	int err = open_one(p, (unsigned)(port - p->first) / 2, 1, fd, &kept);
	if (!err && kept)
		drain(fd, 1);
	return err;
}

void relay_ports_keep(struct relay_ports *p, uint16_t port, int fd)
{
	if (fd < 0)
		return;
	unsigned off = (unsigned)(port - p->first);
	if (port >= p->first && off / 2 < p->n) {
		g_mutex_lock(&p->lock);
		int *slot = &p->kept[off / 2].fd[off % 2];
		bool keep = *slot < 0 && p->n_kept < p->keep_max;
		if (keep) {
			*slot = fd;
			p->n_kept++;
		}
		g_mutex_unlock(&p->lock);
		if (keep)
			return;
	}
	relay_ports_close(p, port, fd);
}

/* A registered socket of port (in the epoll set of the part's worker) signalled while no
 * endpoint owns it: drop what waits if it is kept; if it was taken and is not attached yet,
 * stop its events until relay_loop_watch arms it again (what waits is the new holder's). */
void relay_ports_idle(struct relay_ports *p, struct relay_park *k, int epfd)
{
	unsigned off = (unsigned)(k - p->parks);
	g_mutex_lock(&p->lock);
	int fd = k->reg_fd;
	if (fd >= 0 && p->kept[off / 2].fd[off % 2] == fd) {
		drain(&fd, 1);
	} else if (fd >= 0 && k->armed) {
		struct epoll_event ev = {.events = 0, .data.ptr = k};
		if (epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) == 0)
			k->armed = false;
	}
	g_mutex_unlock(&p->lock);
}

int relay_ports_register(struct relay_ports *p, struct relay_park *k, int fd, int epfd)
{
	int err = 0;
	g_mutex_lock(&p->lock);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = k};
	if (k->reg_fd == fd && !k->armed)
		err = epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? errno : 0;
	else if (k->reg_fd != fd)
		err = epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? errno : 0;
	if (!err) {
		k->reg_fd = fd;
		k->armed = true;
	}
	g_mutex_unlock(&p->lock);
	return err;
}

void relay_ports_release(struct relay_ports *p, uint16_t port)
{
	if (port < p->first || (port - p->first) % 2) {
		LOGE("relay", NULL, "release of port %u outside the pool", port);
		return;
	}
	give(p, (unsigned)(port - p->first) / 2);
}

void relay_ports_set_gauge(struct relay_ports *p, struct metric *gauge)
{
	g_mutex_lock(&p->lock);
	p->gauge = gauge;
	if (gauge)
		metric_add(gauge, (int64_t)(p->n - p->count));
	g_mutex_unlock(&p->lock);
}

unsigned relay_ports_capacity(const struct relay_ports *p)
{
	return p->n;
}

unsigned relay_ports_in_use(struct relay_ports *p)
{
	g_mutex_lock(&p->lock);
	unsigned n = p->n - p->count;
	g_mutex_unlock(&p->lock);
	return n;
}
