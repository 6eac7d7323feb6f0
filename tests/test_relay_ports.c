/* Unit tests: the media port pool (even ports, reuse, no leaks, busy ports, threads). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "relay.h"
#include "tap.h"
#include "testnet.h"

static uint16_t local_port(int fd)
{
	struct sockaddr_in a;
	socklen_t l = sizeof(a);
	getsockname(fd, (struct sockaddr *)&a, &l);
	return ntohs(a.sin_port);
}

static void t_bad_config(void)
{
	struct relay_ports *p = NULL;
	TAP_CHECK_INT(relay_ports_new("127.0.0.1", 0, 100, &p), EINVAL);
	TAP_CHECK_INT(relay_ports_new("127.0.0.1", 2000, 1000, &p), EINVAL);
	TAP_CHECK_INT(relay_ports_new("127.0.0.1", 2001, 2001, &p), EINVAL);
	TAP_CHECK_INT(relay_ports_new("not-an-ip", 2000, 3000, &p), EINVAL);
	TAP_CHECK(p == NULL);
	TAP_CHECK_INT(relay_ports_new("127.0.0.1", 2001, 2003, &p), 0); /* one pair: 2002/2003 */
	TAP_CHECK_INT(relay_ports_capacity(p), 1);
	relay_ports_free(p);
	TAP_CHECK_INT(relay_ports_new("::1", 3000, 3009, &p), 0);
	TAP_CHECK_INT(relay_ports_capacity(p), 5);
	relay_ports_free(p);
}

static void t_even_and_pairs(void)
{
	uint16_t base = test_port_range_base();
	struct relay_ports *p;
	TAP_CHECK_INT(relay_ports_new("127.0.0.1", base, (uint16_t)(base + 15), &p), 0);
	TAP_CHECK_INT(relay_ports_capacity(p), 8);
	int fds[2];
	uint16_t port;
	TAP_CHECK_INT(relay_ports_alloc(p, true, fds, &port), 0);
	TAP_CHECK_INT(port % 2, 0);
	TAP_CHECK(port >= base && port + 1 <= base + 15);
	TAP_CHECK_INT(local_port(fds[0]), port);
	TAP_CHECK_INT(local_port(fds[1]), port + 1);
	int fds2[2];
	uint16_t port2;
	TAP_CHECK_INT(relay_ports_alloc(p, false, fds2, &port2), 0);
	TAP_CHECK_INT(fds2[1], -1);
	TAP_CHECK(port2 != port);
	/* rtcp-mux turned off later: the odd port of the slot binds */
	int rfd = -1;
	TAP_CHECK_INT(relay_ports_bind_rtcp(p, port2, &rfd), 0);
	TAP_CHECK_INT(local_port(rfd), port2 + 1);
	TAP_CHECK_INT(relay_ports_bind_rtcp(p, (uint16_t)(port2 + 1), &rfd), EINVAL);
	TAP_CHECK_INT(relay_ports_in_use(p), 2);
	close(rfd);
	close(fds[0]);
	close(fds[1]);
	close(fds2[0]);
	relay_ports_release(p, port);
	relay_ports_release(p, port2);
	TAP_CHECK_INT(relay_ports_in_use(p), 0);
	relay_ports_free(p);
}

static void t_exhaust_and_reuse(void)
{
	uint16_t base = test_port_range_base();
	struct relay_ports *p;
	TAP_CHECK_INT(relay_ports_new("127.0.0.1", base, (uint16_t)(base + 7), &p), 0);
	unsigned cap = relay_ports_capacity(p);
	TAP_CHECK_INT(cap, 4);
	int fds[4][2];
	uint16_t ports[4];
	for (unsigned i = 0; i < cap; i++)
		TAP_CHECK_INT(relay_ports_alloc(p, true, fds[i], &ports[i]), 0);
	int x[2];
	uint16_t xp;
	TAP_CHECK_INT(relay_ports_alloc(p, true, x, &xp), EADDRNOTAVAIL);
	/* a freed slot comes back */
	close(fds[1][0]);
	close(fds[1][1]);
	relay_ports_release(p, ports[1]);
	TAP_CHECK_INT(relay_ports_alloc(p, true, x, &xp), 0);
	TAP_CHECK_INT(xp, ports[1]);
	fds[1][0] = x[0];
	fds[1][1] = x[1];
	for (unsigned i = 0; i < cap; i++) {
		close(fds[i][0]);
		close(fds[i][1]);
		relay_ports_release(p, ports[i]);
	}
	TAP_CHECK_INT(relay_ports_in_use(p), 0);
	relay_ports_free(p);
}

static void t_many_cycles(void)
{
	uint16_t base = test_port_range_base();
	struct relay_ports *p;
	TAP_CHECK_INT(relay_ports_new("127.0.0.1", base, (uint16_t)(base + 39), &p), 0);
	unsigned cap = relay_ports_capacity(p);
	int fds[20][2];
	uint16_t ports[20];
	unsigned got = 0;
	for (int round = 0; round < 200; round++) {
		/* take a varying number, release in a varying order */
		unsigned want = 1 + (unsigned)(round * 7) % cap;
		got = 0;
		for (unsigned i = 0; i < want; i++)
			if (relay_ports_alloc(p, round & 1, fds[got], &ports[got]) == 0)
				got++;
		for (unsigned i = 0; i < got; i++) {
			unsigned j = (i + (unsigned)round) % got; /* a rotation: each once */
			close(fds[j][0]);
			if (fds[j][1] >= 0)
				close(fds[j][1]);
			relay_ports_release(p, ports[j]);
		}
		if (relay_ports_in_use(p) != 0) {
			TAP_CHECK_INT(relay_ports_in_use(p), 0);
			break;
		}
	}
	TAP_CHECK_INT(relay_ports_in_use(p), 0);
	TAP_CHECK_INT(relay_ports_capacity(p), cap);
	relay_ports_free(p);
}

static void t_busy_port_skipped(void)
{
	uint16_t base = test_port_range_base();
	struct relay_ports *p;
	TAP_CHECK_INT(relay_ports_new("127.0.0.1", base, (uint16_t)(base + 5), &p), 0);
	/* someone else holds the first pair's odd port and the second pair's even port */
	int o1 = socket(AF_INET, SOCK_DGRAM, 0), o2 = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	a.sin_port = htons((uint16_t)(base + 1));
	int b1 = bind(o1, (struct sockaddr *)&a, sizeof(a));
	a.sin_port = htons((uint16_t)(base + 2));
	int b2 = bind(o2, (struct sockaddr *)&a, sizeof(a));
	int fds[2];
	uint16_t port;
	if (b1 == 0 && b2 == 0) {
		TAP_CHECK_INT(relay_ports_alloc(p, true, fds, &port), 0);
		TAP_CHECK_INT(port, base + 4);
		int x[2];
		uint16_t xp;
		TAP_CHECK_INT(relay_ports_alloc(p, true, x, &xp), EADDRNOTAVAIL);
		/* the skipped slots went back: only one slot is held */
		TAP_CHECK_INT(relay_ports_in_use(p), 1);
		close(fds[0]);
		close(fds[1]);
		relay_ports_release(p, port);
	} else {
		printf("# could not hold the test ports; skipped\n");
	}
	close(o1);
	close(o2);
	TAP_CHECK_INT(relay_ports_in_use(p), 0);
	relay_ports_free(p);
}

static ino_t inode_of(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 ? st.st_ino : 0;
}

static bool readable_now(int fd)
{
	char b[8];
	return recv(fd, b, sizeof(b), MSG_DONTWAIT | MSG_PEEK) >= 0;
}

static void poke(uint16_t port, const char *text)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	sendto(s, text, strlen(text), 0, (struct sockaddr *)&a, sizeof(a));
	close(s);
}

/* Sockets given back with relay_ports_keep are handed to the slot's next holder, open and
 * bound, with what reached them in between dropped; the odd one also by bind_rtcp. */
static void t_kept_sockets(void)
{
	uint16_t base = test_port_range_base();
	struct relay_ports *p;
	TAP_CHECK_INT(relay_ports_new("127.0.0.1", base, (uint16_t)(base + 1), &p), 0); /* 1 slot */
	int fds[2];
	uint16_t port;
	TAP_CHECK_INT(relay_ports_alloc(p, true, fds, &port), 0);
	ino_t even = inode_of(fds[0]), odd = inode_of(fds[1]);
	relay_ports_keep(p, port, fds[0]);
	relay_ports_keep(p, (uint16_t)(port + 1), fds[1]);
	relay_ports_release(p, port);
	/* late packets of the old call, 40 of them on the even port */
	for (int i = 0; i < 40; i++)
		poke(port, "stale");
	poke((uint16_t)(port + 1), "stale rtcp");
	g_usleep(20000);
	int again[2];
	uint16_t port2;
	TAP_CHECK_INT(relay_ports_alloc(p, false, again, &port2), 0);
	TAP_CHECK_INT(port2, port);
	TAP_CHECK(inode_of(again[0]) == even); /* the same socket, not a new bind */
	TAP_CHECK_INT(again[1], -1);
	TAP_CHECK(!readable_now(again[0])); /* drained */
	TAP_CHECK_INT(local_port(again[0]), port);
	poke(port, "fresh"); /* what comes now is the new holder's */
	g_usleep(20000);
	TAP_CHECK(readable_now(again[0]));
	/* rtcp-mux turned off: the kept odd socket, drained */
	int rfd = -1;
	TAP_CHECK_INT(relay_ports_bind_rtcp(p, port2, &rfd), 0);
	TAP_CHECK(inode_of(rfd) == odd);
	TAP_CHECK(!readable_now(rfd));
	/* a socket of a port outside the pool is closed, not kept */
	int other = socket(AF_INET, SOCK_DGRAM, 0);
	relay_ports_keep(p, (uint16_t)(base + 100), other);
	TAP_CHECK(fcntl(other, F_GETFD) < 0 && errno == EBADF);
	/* a second socket for a port already kept is closed */
	relay_ports_keep(p, port2, again[0]);
	int dup_fd = socket(AF_INET, SOCK_DGRAM, 0);
	relay_ports_keep(p, port2, dup_fd);
	TAP_CHECK(fcntl(dup_fd, F_GETFD) < 0 && errno == EBADF);
	close(rfd);
	relay_ports_release(p, port2);
	TAP_CHECK_INT(relay_ports_in_use(p), 0);
	relay_ports_free(p); /* closes the kept even socket (valgrind: no fd left) */
}

struct thr {
	struct relay_ports *p;
	int fails;
};

static gpointer churn(gpointer data)
{
	struct thr *t = data;
	for (int i = 0; i < 300; i++) {
		int fds[2];
		uint16_t port;
		int err = relay_ports_alloc(t->p, false, fds, &port);
		if (err == EADDRNOTAVAIL)
			continue;
		if (err) {
			t->fails++;
			continue;
		}
		close(fds[0]);
		relay_ports_release(t->p, port);
	}
	return NULL;
}

static void t_threads(void)
{
	uint16_t base = test_port_range_base();
	struct relay_ports *p;
	TAP_CHECK_INT(relay_ports_new("127.0.0.1", base, (uint16_t)(base + 19), &p), 0);
	struct thr t[4];
	GThread *th[4];
	for (int i = 0; i < 4; i++) {
		t[i].p = p;
		t[i].fails = 0;
		th[i] = g_thread_new("churn", churn, &t[i]);
	}
	for (int i = 0; i < 4; i++) {
		g_thread_join(th[i]);
		TAP_CHECK_INT(t[i].fails, 0);
	}
	TAP_CHECK_INT(relay_ports_in_use(p), 0);
	relay_ports_free(p);
}

/* Two parts: slot i belongs to part i % 2; alloc_in takes only from its part, oldest freed
 * first within it; set_parts is refused once a slot is out. */
static void t_parts(void)
{
	uint16_t base = test_port_range_base();
	struct relay_ports *p;
	TAP_CHECK_INT(relay_ports_new("127.0.0.1", base, (uint16_t)(base + 11), &p), 0); /* 6 slots */
	TAP_CHECK_INT(relay_ports_set_parts(p, 0), EINVAL);
	TAP_CHECK_INT(relay_ports_set_parts(p, 7), EINVAL);
	TAP_CHECK_INT(relay_ports_set_parts(p, 2), 0);
	int fds[3][2], x[2];
	uint16_t ports[3], xp;
	for (unsigned i = 0; i < 3; i++) {
		TAP_CHECK_INT(relay_ports_alloc_in(p, 1, false, fds[i], &ports[i]), 0);
		TAP_CHECK_INT(relay_ports_part(p, ports[i]), 1);
		TAP_CHECK_INT((ports[i] - base) / 2 % 2, 1);
	}
	TAP_CHECK_INT(relay_ports_alloc_in(p, 1, false, x, &xp), EADDRNOTAVAIL); /* part 1 is out */
	TAP_CHECK_INT(relay_ports_set_parts(p, 3), EINVAL);
	TAP_CHECK_INT(relay_ports_alloc_in(p, 0, false, x, &xp), 0);
	TAP_CHECK_INT(relay_ports_part(p, xp), 0);
	relay_ports_close(p, xp, x[0]);
	relay_ports_release(p, xp);
	/* FIFO within part 1: the first released comes back first */
	relay_ports_close(p, ports[2], fds[2][0]);
	relay_ports_release(p, ports[2]);
	relay_ports_close(p, ports[0], fds[0][0]);
	relay_ports_release(p, ports[0]);
	TAP_CHECK_INT(relay_ports_alloc_in(p, 1, false, fds[2], &xp), 0);
	TAP_CHECK_INT(xp, ports[2]);
	ports[2] = xp;
	/* relay_ports_alloc (no part) finds part 1's last free slot when part 0 is out too */
	int y[3][2];
	uint16_t yp[3];
	for (unsigned i = 0; i < 3; i++)
		TAP_CHECK_INT(relay_ports_alloc_in(p, 0, false, y[i], &yp[i]), 0);
	TAP_CHECK_INT(relay_ports_alloc(p, false, x, &xp), 0);
	TAP_CHECK_INT(xp, ports[0]);
	TAP_CHECK_INT(relay_ports_in_use(p), 6);
	relay_ports_close(p, xp, x[0]);
	relay_ports_release(p, xp);
	for (unsigned i = 0; i < 3; i++) {
		relay_ports_close(p, yp[i], y[i][0]);
		relay_ports_release(p, yp[i]);
	}
	for (unsigned i = 1; i < 3; i++) {
		relay_ports_close(p, ports[i], fds[i][0]);
		relay_ports_release(p, ports[i]);
	}
	TAP_CHECK_INT(relay_ports_in_use(p), 0);
	TAP_CHECK(relay_ports_park(p, base) != NULL && relay_ports_park(p, (uint16_t)(base + 12)) == NULL);
	TAP_CHECK(relay_ports_is_park(p, relay_ports_park(p, (uint16_t)(base + 11))));
	TAP_CHECK(!relay_ports_is_park(p, p));
	relay_ports_free(p);
}

static const struct tap_case cases[] = {
	{"bad ranges and addresses", t_bad_config, 0},
	{"even RTP port, RTCP on port+1, late RTCP bind", t_even_and_pairs, 0},
	{"exhaustion and reuse of a freed slot", t_exhaust_and_reuse, 0},
	{"200 alloc/free rounds return to full", t_many_cycles, 0},
	{"ports held by others are skipped", t_busy_port_skipped, 0},
	{"kept sockets go to the next holder, drained", t_kept_sockets, 0},
	{"parts: a slot's part, FIFO within a part, alloc across parts", t_parts, 0},
	{"four threads allocate and release concurrently", t_threads, 1},
};

TAP_MAIN(cases)
