/* WebSocket benchmark client (issue 5 item 6), run by bench/ws.sh against gorgee and against
 * the peer server in the same run. One thread, one epoll set, non-blocking sockets and a
 * hand-written RFC 6455 client side (masked frames out, pings answered with pongs), so the
 * client adds microseconds, not a garbage collector's pauses, to the round trips it measures.
 *
 *   1. N sessions log in at the upgrade (JWT HS256 in ?access_token=, like a browser would),
 *      250 handshakes in flight at a time; a session counts once its `session` event arrived.
 *   2. RSS per session: the server's VmRSS growth / N; idle CPU: the server's utime+stime over
 *      an idle window in which only keep-alive pings flow (answered here).
 *   3. Round trips: `ping` requests at a fixed total rate, each sent at its own due time
 *      (timerfd, absolute), spread over the sessions; latency from just before write() to the
 *      parse of its reply; p50/p99/max.
 * Prints one line: SUMMARY {json} with the fields bench/ws.sh reads.
 * usage: ws-client --port P --pid PID --secret S [--host 127.0.0.1] [--local 127.0.0.2]
 *                  [--sessions N] [--rate R] [--secs T] [--idle-secs I]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

enum conn_state { C_CONNECTING, C_UPGRADING, C_WAIT_SESSION, C_OPEN, C_DEAD };

struct conn {
	int fd;
	enum conn_state state;
	size_t in_len;
	char in[4096];
	char *req;		/* the upgrade request, sent once connected */
	double deadline;	/* for the handshake */
};

static struct conn *conns;
static int nconns, epfd;
static double *sent_at;		/* by request id (1-based) */
static double *lat;		/* milliseconds */
static int nlat, failed, opened, open_now;
static const char *secret;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	perror(what);
	exit(2);
}

static size_t b64url(const unsigned char *in, size_t n, char *out)
{
	int len = EVP_EncodeBlock((unsigned char *)out, in, (int)n);
	while (len > 0 && out[len - 1] == '=')
		len--;
	for (int i = 0; i < len; i++) {
		if (out[i] == '+')
			out[i] = '-';
		else if (out[i] == '/')
			out[i] = '_';
	}
	out[len] = '\0';
	return (size_t)len;
}

static void make_jwt(int i, char *out, size_t cap)
{
	char hdr[64], body[256], claims[200], sig[64];
	unsigned char mac[32];
	unsigned maclen = 0;
	long t = (long)time(NULL);
	const char *h = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	b64url((const unsigned char *)h, strlen(h), hdr);
	int n = snprintf(claims, sizeof claims,
			 "{\"sub\":\"user%d\",\"aud\":\"gorgee\",\"iat\":%ld,\"exp\":%ld}", i, t, t + 300);
	b64url((const unsigned char *)claims, (size_t)n, body);
	char signing[400];
	n = snprintf(signing, sizeof signing, "%s.%s", hdr, body);
	HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)signing, (size_t)n, mac,
	     &maclen);
	b64url(mac, maclen, sig);
	snprintf(out, cap, "%s.%s", signing, sig);
}

static void conn_close(struct conn *c, bool count_failed)
{
	if (c->state == C_DEAD)
		return;
	if (c->state == C_OPEN)
		open_now--;
	else if (count_failed)
		failed++;
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->state = C_DEAD;
	free(c->req);
	c->req = NULL;
}

/* One client frame, masked (RFC 6455 §5.3). Small payloads only: the benchmark's are. */
static bool send_frame(struct conn *c, int opcode, const void *payload, size_t n)
{
	unsigned char f[512];
	size_t o = 0;
	if (n > sizeof f - 14)
		return false;
	f[o++] = (unsigned char)(0x80 | opcode);
	if (n < 126) {
		f[o++] = (unsigned char)(0x80 | n);
	} else {
		f[o++] = 0x80 | 126;
		f[o++] = (unsigned char)(n >> 8);
		f[o++] = (unsigned char)n;
	}
	unsigned char mask[4];
	uint32_t r = (uint32_t)random();
	memcpy(mask, &r, 4);
	memcpy(f + o, mask, 4);
	o += 4;
	const unsigned char *p = payload;
	for (size_t i = 0; i < n; i++)
		f[o + i] = p[i] ^ mask[i & 3];
	o += n;
	ssize_t w = write(c->fd, f, o);
	/* A short write on an idle loopback socket with a 512-byte frame means the server
	 * stopped reading: that session is counted as lost, not retried. */
	return w == (ssize_t)o;
}

static void on_text(struct conn *c, const char *p, size_t n)
{
	char tmp[1024];
	if (n >= sizeof tmp)
		n = sizeof tmp - 1;
	memcpy(tmp, p, n);
	tmp[n] = '\0';
	if (c->state == C_WAIT_SESSION) {
		if (strstr(tmp, "\"event\":\"session\"") || strstr(tmp, "\"event\": \"session\"")) {
			c->state = C_OPEN;
			opened++;
			open_now++;
		}
		return;
	}
	if (!strstr(tmp, "\"reply\""))
		return;
	const char *id = strstr(tmp, "\"id\":");
	if (!id)
		return;
	long v = strtol(id + 5, NULL, 10);
	if (v > 0 && sent_at[v] > 0) {
		lat[nlat++] = (now_s() - sent_at[v]) * 1000.0;
		sent_at[v] = 0;
	}
}

/* Parses whole server frames out of c->in; returns false when the connection ended. */
static bool parse_frames(struct conn *c)
{
	size_t off = 0;
	while (c->in_len - off >= 2) {
		unsigned char *f = (unsigned char *)c->in + off;
		int opcode = f[0] & 0x0f;
		uint64_t n = f[1] & 0x7f;
		size_t h = 2;
		if (f[1] & 0x80)
			return false; /* servers never mask */
		if (n == 126) {
			if (c->in_len - off < 4)
				break;
			n = ((uint64_t)f[2] << 8) | f[3];
			h = 4;
		} else if (n == 127) {
			return false; /* nothing in this benchmark is that large */
		}
		if (n > sizeof c->in - 16)
			return false;
		if (c->in_len - off < h + n)
			break;
		const char *payload = (const char *)f + h;
		if (opcode == 0x1)
			on_text(c, payload, (size_t)n);
		else if (opcode == 0x9 && !send_frame(c, 0xA, payload, (size_t)n))
			return false;
		else if (opcode == 0x8)
			return false;
		off += h + (size_t)n;
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
	return true;
}

static void on_readable(struct conn *c)
{
	for (;;) {
		ssize_t r = read(c->fd, c->in + c->in_len, sizeof c->in - c->in_len);
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
			conn_close(c, true);
			return;
		}
		if (r < 0)
			return;
		c->in_len += (size_t)r;
		if (c->state == C_UPGRADING) {
			char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
			if (!end) {
				if (c->in_len == sizeof c->in) {
					conn_close(c, true);
					return;
				}
				continue;
			}
			if (c->in_len < 12 || memcmp(c->in + 9, "101", 3) != 0) {
				conn_close(c, true);
				return;
			}
			size_t hl = (size_t)(end - c->in) + 4;
			memmove(c->in, c->in + hl, c->in_len - hl);
			c->in_len -= hl;
			c->state = C_WAIT_SESSION;
		}
		if (!parse_frames(c)) {
			conn_close(c, true);
			return;
		}
	}
}

static void on_event(struct conn *c, uint32_t ev)
{
	if (c->state == C_CONNECTING) {
		int err = 0;
		socklen_t l = sizeof err;
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
		if (err || (ev & (EPOLLERR | EPOLLHUP))) {
			conn_close(c, true);
			return;
		}
		size_t n = strlen(c->req);
		if (write(c->fd, c->req, n) != (ssize_t)n) {
			conn_close(c, true);
			return;
		}
		free(c->req);
		c->req = NULL;
		c->state = C_UPGRADING;
		struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
		epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &e);
		return;
	}
	on_readable(c);
}

static void start_conn(int i, const char *host, const char *local, int port)
{
	struct conn *c = &conns[i];
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (c->fd < 0)
		die("socket");
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	struct sockaddr_in la = {.sin_family = AF_INET};
	inet_pton(AF_INET, local, &la.sin_addr);
	if (bind(c->fd, (struct sockaddr *)&la, sizeof la) != 0)
		die("bind");
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, host, &sa.sin_addr);
	char jwt[600], key[32];
	unsigned char rnd[16];
	RAND_bytes(rnd, sizeof rnd);
	EVP_EncodeBlock((unsigned char *)key, rnd, sizeof rnd);
	make_jwt(i, jwt, sizeof jwt);
	if (asprintf(&c->req,
		     "GET /?access_token=%s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
		     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
		     "Sec-WebSocket-Protocol: gorgee-v1\r\n\r\n",
		     jwt, host, port, key) < 0)
		die("asprintf");
	c->state = C_CONNECTING;
	c->deadline = now_s() + 30;
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS) {
		conn_close(c, true);
		return;
	}
	struct epoll_event e = {.events = EPOLLOUT, .data.ptr = c};
	epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &e);
}

/* Runs the loop until `until` (monotonic seconds), or until `stop` returns true. */
static void run_loop(double until, bool (*stop)(void), int tfd, void (*on_timer)(void))
{
	struct epoll_event evs[256];
	while (now_s() < until && !(stop && stop())) {
		int ms = (int)((until - now_s()) * 1000) + 1;
		int n = epoll_wait(epfd, evs, 256, ms > 100 ? 100 : ms);
		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		for (int i = 0; i < n; i++) {
			if (evs[i].data.ptr == NULL) {
				uint64_t x;
				if (read(tfd, &x, sizeof x) == sizeof x && on_timer)
					on_timer();
				continue;
			}
			on_event(evs[i].data.ptr, evs[i].events);
		}
	}
}

static int handshakes_in_flight(void)
{
	int k = 0;
	for (int i = 0; i < nconns; i++)
		if (conns[i].state != C_OPEN && conns[i].state != C_DEAD)
			k++;
	return k;
}

static long rss_kb(int pid)
{
	char path[64], line[256];
	long v = -1;
	snprintf(path, sizeof path, "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		die(path);
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld", &v) == 1)
			break;
	fclose(f);
	return v;
}

static double cpu_s(int pid)
{
	char path[64], buf[2048];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		die(path);
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	unsigned long ut = 0, st = 0;
	/* after ") ": state(3) ... utime is field 14, stime 15 */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* request sending, driven by the timerfd */
static int rate, tfd, total, nsent, nopen_list;
static int *open_list;
static double t_start;

static void arm_next(void)
{
	double due = t_start + (double)nsent / rate;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	struct itimerspec its = {0};
	its.it_value.tv_sec = (time_t)due;
	its.it_value.tv_nsec = (long)((due - (double)(time_t)due) * 1e9);
	if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
		its.it_value.tv_nsec = 1;
	timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void send_due(void)
{
	double t = now_s();
	while (nsent < total && t_start + (double)nsent / rate <= t) {
		struct conn *c = &conns[open_list[((long)nsent * 7919) % nopen_list]];
		int id = nsent + 1;
		char msg[96];
		int n = snprintf(msg, sizeof msg, "{\"request\":\"ping\",\"id\":%d,\"params\":{}}", id);
		nsent++;
		if (c->state != C_OPEN)
			continue;
		sent_at[id] = now_s();
		if (!send_frame(c, 0x1, msg, (size_t)n))
			conn_close(c, true);
	}
	if (nsent < total)
		arm_next();
}

static bool all_answered(void)
{
	return nsent == total && nlat == total;
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1", *local = "127.0.0.2";
	int port = 0, pid = 0, sessions = 10000, secs = 10, idle = 20;
	rate = 1000;
	for (int i = 1; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];
		if (!strcmp(k, "--port"))
			port = atoi(v);
		else if (!strcmp(k, "--pid"))
			pid = atoi(v);
		else if (!strcmp(k, "--secret"))
			secret = v;
		else if (!strcmp(k, "--host"))
			host = v;
		else if (!strcmp(k, "--local"))
			local = v;
		else if (!strcmp(k, "--sessions"))
			sessions = atoi(v);
		else if (!strcmp(k, "--rate"))
			rate = atoi(v);
		else if (!strcmp(k, "--secs"))
			secs = atoi(v);
		else if (!strcmp(k, "--idle-secs"))
			idle = atoi(v);
		else {
			fprintf(stderr, "unknown option %s\n", k);
			return 2;
		}
	}
	if (!port || !pid || !secret || sessions <= 0 || rate <= 0 || secs <= 0) {
		fprintf(stderr, "usage: ws-client --port P --pid PID --secret S [--sessions N] [--rate R] "
				"[--secs T] [--idle-secs I] [--host H] [--local L]\n");
		return 2;
	}
	srandom((unsigned)getpid());
	epfd = epoll_create1(0);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	struct epoll_event te = {.events = EPOLLIN, .data.ptr = NULL};
	epoll_ctl(epfd, EPOLL_CTL_ADD, tfd, &te);
	nconns = sessions;
	conns = calloc((size_t)sessions, sizeof *conns);
	total = rate * secs;
	sent_at = calloc((size_t)total + 1, sizeof *sent_at);
	lat = calloc((size_t)total, sizeof *lat);
	open_list = calloc((size_t)sessions, sizeof *open_list);
	if (!conns || !sent_at || !lat || !open_list)
		die("calloc");
	for (int i = 0; i < sessions; i++)
		conns[i].state = C_DEAD, conns[i].fd = -1;

	long rss0 = rss_kb(pid);
	double t0 = now_s();
	for (int i = 0; i < sessions; i += 250) {
		int end = i + 250 < sessions ? i + 250 : sessions;
		for (int k = i; k < end; k++)
			start_conn(k, host, local, port);
		double until = now_s() + 30;
		while (handshakes_in_flight() > 0 && now_s() < until)
			run_loop(now_s() + 0.05, NULL, tfd, NULL);
		for (int k = i; k < end; k++)
			if (conns[k].state != C_OPEN && conns[k].state != C_DEAD)
				conn_close(&conns[k], true);
	}
	double connect_s = now_s() - t0;
	run_loop(now_s() + 2, NULL, tfd, NULL);
	long rss1 = rss_kb(pid);
	int established = open_now;

	double c0 = cpu_s(pid), w0 = now_s();
	run_loop(now_s() + idle, NULL, tfd, NULL);
	double idle_cpu = (cpu_s(pid) - c0) / (now_s() - w0) * 100.0;
	int alive = open_now;

	for (int i = 0; i < nconns; i++)
		if (conns[i].state == C_OPEN)
			open_list[nopen_list++] = i;
	if (nopen_list > 0) {
		t_start = now_s() + 0.01;
		arm_next();
		run_loop(t_start + secs + 5, all_answered, tfd, send_due);
	}
	qsort(lat, (size_t)nlat, sizeof *lat, cmp_d);
#define Q(p) (nlat ? lat[(int)((p) * nlat) < nlat ? (int)((p) * nlat) : nlat - 1] : -1.0)
	printf("SUMMARY {\"sessions\":%d,\"failed\":%d,\"alive_after_idle\":%d,\"connect_s\":%.3f,"
	       "\"rss_per_session_kb\":%.3f,\"rss_kb\":%ld,\"idle_cpu_pct\":%.3f,\"requests\":%d,"
	       "\"answered\":%d,\"lost\":%d,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,"
	       "\"client\":\"c-epoll\"}\n",
	       established, failed, alive, connect_s,
	       (double)(rss1 - rss0) / (established > 0 ? established : 1), rss1, idle_cpu, total, nlat,
	       nsent - nlat, Q(0.5), Q(0.99), nlat ? lat[nlat - 1] : -1.0);
	for (int i = 0; i < nconns; i++)
		conn_close(&conns[i], false);
	return 0;
}
