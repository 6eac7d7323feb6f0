/* SIP transports: UDP, TCP and TLS on the GLib loop (listeners and outbound connections),
 * stream framing, keep-alive, caps and timeouts before parsing, connection reuse (RFC 3261
 * §18, RFC 5923 aliases), RFC 5922 peer identity, RFC 3581 response routing, and a trace. */
#define _GNU_SOURCE /* accept4, recvmmsg, sendmmsg */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <glib-unix.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "sip.h"

#define UDP_BATCH 64         /* datagrams read per wake-up */
#define UDP_RECV_BATCH 16    /* datagrams per recvmmsg(2) */
#define UDP_SEND_BATCH 32    /* queued responses per sendmmsg(2) */
#define TCP_READ_CHUNK 16384
#define MAX_NAMES 4096       /* remembered TLS names per address (sip_transport_connect) */

static const char *const log_module = "sip";

struct listener {
	struct sip_transport *t;
	enum sip_proto proto;
	int fd;
	int family;     /* of the bound address: picks the socket a request leaves by */
	guint src;
	char local[64]; /* "ip:port" for the trace */
};

struct tconn {
	struct sip_transport *t;
	uint64_t id;
	int fd;
	guint in_src, out_src, hdr_timer;
	struct sip_src src;
	char peer[64];
	char local[64];
	SSL *ssl;  /* TLS connections: the session; NULL for TCP */
	bool handshaken;
	bool outbound;   /* we opened it (no per-IP slot) */
	bool connecting; /* outbound: connect() not finished; writes are queued */
	bool requests;   /* chosen for requests (sip_transport_connect): its close is reported */
	char *key;       /* "proto|ip|port" of the peer in t->by_addr */
	char *alias;     /* RFC 5923: "proto|ip|port" of the peer's sent-by, or NULL */
	char *tls_name;  /* outbound TLS: the name its certificate was checked against (NULL: IP) */
	char *buf; /* NULL while idle; else SIP_MAX_MSG + 1 bytes: one message and one byte more */
	size_t len;
	GString *out;
	gint64 last_io_us;
};

struct sip_transport {
	struct sip_transport_config cfg;
	char **listen;
	char *trace_path;
	SSL_CTX *tls;           /* server context when a TLS port is configured */
	SSL_CTX *tls_client;    /* outbound TLS: verification per cfg */
	char *ca_file, *ca_dir;
	sip_recv_fn *recv;
	void *arg;
	GPtrArray *listeners;   /* struct listener *, owned */
	GHashTable *conns;      /* id (uint64 *) -> struct tconn *, owned */
	GHashTable *per_ip;     /* ip -> count */
	GHashTable *by_addr;    /* "proto|ip|port" -> struct tconn * (borrowed): reuse */
	GHashTable *names;      /* "proto|ip|port" -> TLS name last asked for that address */
	sip_accept_fn *accept_fn;
	void *accept_arg;
	sip_conn_closed_fn *closed_fn;
	void *closed_arg;
	GArray *closed;         /* uint64 ids waiting to be reported (from an idle source) */
	guint closed_idle;
	uint64_t next_id;
	FILE *trace;
	guint idle_timer;
	char *udp_buf;          /* UDP_RECV_BATCH buffers of max_udp + 1 bytes */
	/* UDP responses waiting for one sendmmsg: bytes in out_bytes, one entry each */
	struct udp_out {
		int fd;
		socklen_t addr_len;
		union {
			struct sockaddr sa;
			struct sockaddr_in v4;
			struct sockaddr_in6 v6;
		} addr;
		size_t off, len;
	} out[UDP_SEND_BATCH];
	unsigned n_out;
	GString *out_bytes;
	GSource *flush_src;     /* flushes the queue before the loop polls */
	struct sip_msg *msg;    /* one parse at a time on this thread: reused */
	struct metric_family *m_in, *m_bad, *m_drop;
	struct metric *m_in_known[2][SIP_METHOD_UPDATE + 1]; /* [request][method]: found once */
	struct metric *m_tcp;
};

/* ---- small helpers ---- */

const char *sip_proto_name(enum sip_proto p)
{
	return p == SIP_PROTO_UDP ? "udp" : p == SIP_PROTO_TCP ? "tcp" : "tls";
}

const char *sip_proto_via(enum sip_proto p)
{
	return p == SIP_PROTO_UDP ? "UDP" : p == SIP_PROTO_TCP ? "TCP" : "TLS";
}

/* Dotted quad without sprintf (inet_ntop's, once per datagram, showed in profiles). */
static void ipv4_text(const struct in_addr *a, char *out)
{
	const uint8_t *b = (const uint8_t *)&a->s_addr;
	for (int i = 0; i < 4; i++) {
		unsigned v = b[i];
		if (v >= 100)
			*out++ = (char)('0' + v / 100);
		if (v >= 10)
			*out++ = (char)('0' + v / 10 % 10);
		*out++ = (char)('0' + v % 10);
		*out++ = i < 3 ? '.' : '\0';
	}
}

static void addr_text(const struct sockaddr_storage *ss, char *ip, size_t iplen, uint16_t *port)
{
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, ip, (socklen_t)iplen);
		*port = ntohs(s6->sin6_port);
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
		if (iplen >= INET_ADDRSTRLEN)
			ipv4_text(&s4->sin_addr, ip);
		else
			inet_ntop(AF_INET, &s4->sin_addr, ip, (socklen_t)iplen);
		*port = ntohs(s4->sin_port);
	}
}

static void fill_src(struct sip_src *src, enum sip_proto proto, const struct sockaddr_storage *ss,
		     socklen_t len)
{
	memset(src, 0, sizeof(*src));
	src->proto = proto;
	memcpy(&src->addr, ss, len);
	src->addr_len = len;
	addr_text(ss, src->ip, sizeof(src->ip), &src->port);
}

static void hostport(char *out, size_t n, const char *ip, uint16_t port)
{
	g_snprintf(out, n, strchr(ip, ':') ? "[%s]:%u" : "%s:%u", ip, port);
}

static void count(struct metric_family *f, const char *fmt, const char *a, const char *b)
{
	char labels[128];
	g_snprintf(labels, sizeof(labels), fmt, a, b);
	metric_add(metrics_series(f, labels), 1);
}

/* SEC-13: SDES keys (a=crypto ... inline:KEY|...) never reach the trace: each key is
 * replaced, up to the next '|', space or line end. */
static void trace_redact(GString *m)
{
	static const char mark[] = "inline:";
	for (gsize at = 0; at < m->len;) {
		char *hit = g_strstr_len(m->str + at, (gssize)(m->len - at), mark);
		if (!hit)
			break;
		gsize start = (gsize)(hit - m->str) + sizeof(mark) - 1, end = start;
		while (end < m->len && !strchr("| \t\r\n", m->str[end]))
			end++;
		g_string_erase(m, (gssize)start, (gssize)(end - start));
		g_string_insert(m, (gssize)start, "[redacted]");
		at = start + 10;
	}
}

/* Trace in ngrep's text layout ("U 2026/11/22 14:30:00.123456 a:p -> b:p"), which sngrep
 * reads with -I; lines of the message follow, then a blank line. */
static void trace(struct sip_transport *t, enum sip_proto proto, const char *from, const char *to,
		  const char *data, size_t len)
{
	if (!t->trace)
		return;
	struct timeval tv;
	struct tm tm;
	char ts[32];
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y/%m/%d %H:%M:%S", &tm);
	fprintf(t->trace, "%c %s.%06ld %s -> %s\n", proto == SIP_PROTO_UDP ? 'U' : 'T', ts,
		(long)tv.tv_usec, from, to);
	GString *clean = g_string_new_len(data, (gssize)len);
	trace_redact(clean);
	fwrite(clean->str, 1, clean->len, t->trace);
	g_string_free(clean, TRUE);
	fputs("\n\n", t->trace);
	fflush(t->trace);
}

/* ---- stateless error answers for requests that did not parse ---- */

static bool name_is(const char *p, size_t n, const char *full, char compact)
{
	return (n == strlen(full) && g_ascii_strncasecmp(p, full, n) == 0) ||
	       (n == 1 && g_ascii_tolower(p[0]) == compact);
}

/*
 * Builds "SIP/2.0 <status> ..." for a request the parser refused, copying the Via, From,
 * To, Call-ID and CSeq lines as received (RFC 3261 §8.2.6.2 as far as they can be read).
 * Returns false when there is no Via to route an answer by.
 */
static bool raw_error(const char *buf, size_t len, int status, const char *why, GString *out)
{
	bool via = false, to_tagged = false;
	g_string_append_printf(out, "SIP/2.0 %d %s (%s)\r\n", status, sip_status_phrase(status), why);
	const char *p = memchr(buf, '\n', len), *end = buf + len;
	while (p && ++p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t n = eol ? (size_t)(eol - p) : (size_t)(end - p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n == 0)
			break; /* end of headers */
		const char *colon = memchr(p, ':', n);
		size_t nl = colon ? (size_t)(colon - p) : 0;
		while (nl && (p[nl - 1] == ' ' || p[nl - 1] == '\t'))
			nl--;
		bool is_via = nl && name_is(p, nl, "via", 'v');
		bool is_to = nl && name_is(p, nl, "to", 't');
		if (n < 2048 && nl && (is_via || is_to || name_is(p, nl, "from", 'f') ||
				       name_is(p, nl, "call-id", 'i') || name_is(p, nl, "cseq", 0))) {
			g_string_append_len(out, p, (gssize)n);
			if (is_to && !g_strstr_len(colon, (gssize)(n - (size_t)(colon - p)), ";tag=") &&
			    !to_tagged) {
				g_string_append(out, ";tag=gorgee-err");
				to_tagged = true;
			}
			g_string_append(out, "\r\n");
			via |= is_via;
		}
		p = eol;
	}
	g_string_append(out, "Content-Length: 0\r\n\r\n");
	return via;
}

/* ---- delivery ---- */

static void note_alias(struct sip_transport *t, const struct sip_src *src, const struct sip_msg *m);

/* Returns false when the stream must close (stream parse error). from: the peer as text,
 * or NULL to print it from src only when a trace or a log line needs it. */
static bool deliver(struct sip_transport *t, const char *data, size_t len, enum sip_mode mode,
		    struct sip_src *src, const char *from, const char *local, size_t *used)
{
	int status = 0;
	const char *why = "";
	int rc = sip_msg_parse(data, len, mode, t->msg, &status, &why);
	if (rc == EAGAIN) {
		*used = 0;
		return true;
	}
	char from_buf[64];
	if (!from && (t->trace || rc != 0)) { /* UDP: printed only when it is needed */
		hostport(from_buf, sizeof(from_buf), src->ip, src->port);
		from = from_buf;
	}
	trace(t, src->proto, from, local, data, rc == 0 ? t->msg->size : len);
	if (rc != 0) {
		char code[8];
		g_snprintf(code, sizeof(code), "%d", status);
		count(t->m_bad, "transport=\"%s\",status=\"%s\"",
		      sip_proto_name(src->proto), status ? code : "dropped");
		LOGI(log_module, &(struct log_ctx){.peer = from}, "malformed %s: %s",
		     status ? "request" : "message", why);
		if (status) {
			GString *resp = g_string_new(NULL);
			if (raw_error(data, len, status, why, resp))
				sip_transport_send(t, src, resp->str, resp->len);
			g_string_free(resp, TRUE);
		}
		*used = len;
		return mode == SIP_MODE_DATAGRAM;
	}
	*used = t->msg->size;
	src->raw = (struct slice){data, t->msg->size};
	/* Label values are method names the parser recognised, never raw input. */
	struct slice m = t->msg->request ? t->msg->method : t->msg->cseq.method;
	enum sip_method id = sip_method_lookup(m);
	struct metric **in = &t->m_in_known[t->msg->request ? 1 : 0][id];
	if (!*in) {
		char name[16] = "other", labels[64];
		if (id != SIP_METHOD_OTHER && m.len < sizeof(name))
			g_strlcpy(name, m.p, m.len + 1);
		g_snprintf(labels, sizeof(labels), "kind=\"%s\",method=\"%s\"",
			   t->msg->request ? "request" : "response", name);
		*in = metrics_series(t->m_in, labels);
	}
	metric_add(*in, 1);
	if (src->proto != SIP_PROTO_UDP && t->msg->request)
		note_alias(t, src, t->msg);
	t->recv(t, t->msg, src, t->arg);
	return true;
}

/* ---- UDP ---- */

/* One datagram of a recvmmsg batch; buf is its own buffer in t->udp_buf. */
static void udp_datagram(struct sip_transport *t, struct listener *l, char *buf, size_t n,
			 int flags, const struct sockaddr_storage *ss, socklen_t sl)
{
	struct sip_src src;
	fill_src(&src, SIP_PROTO_UDP, ss, sl);
	src.local_fd = l->fd;
	if (n > t->cfg.max_udp || (flags & MSG_TRUNC)) {
		/* SEC-08: refused before parsing; nothing learned from it. */
		count(t->m_drop, "reason=\"%s\"%s", "udp_too_large", "");
		return;
	}
	/* Keep-alives (CRLF, CRLFCRLF) need no answer over UDP. */
	bool crlf = n <= 4;
	for (size_t i = 0; i < n && crlf; i++)
		crlf = buf[i] == '\r' || buf[i] == '\n';
	if (crlf)
		return;
	size_t used;
	deliver(t, buf, n, SIP_MODE_DATAGRAM, &src, NULL, l->local, &used);
}

static void udp_flush(struct sip_transport *t);

/*
 * Up to UDP_BATCH datagrams per wake-up, UDP_RECV_BATCH per system call (a system call
 * costs several microseconds on a paravirtualised VM). The responses they cause leave
 * together at the end (udp_flush).
 */
static gboolean on_udp(gint fd, GIOCondition cond, gpointer data)
{
	struct listener *l = data;
	struct sip_transport *t = l->t;
	size_t cap = t->cfg.max_udp + 1;
	struct mmsghdr mm[UDP_RECV_BATCH];
	struct iovec iov[UDP_RECV_BATCH];
	struct sockaddr_storage ss[UDP_RECV_BATCH];
	for (int got = 0; got < UDP_BATCH;) {
		for (int i = 0; i < UDP_RECV_BATCH; i++) {
			iov[i] = (struct iovec){t->udp_buf + (size_t)i * cap, cap};
			mm[i].msg_hdr = (struct msghdr){.msg_name = &ss[i], .msg_namelen = sizeof(ss[i]),
							.msg_iov = &iov[i], .msg_iovlen = 1};
			mm[i].msg_len = 0;
		}
		/* MSG_TRUNC: a datagram's real length, so one past max_udp is seen and dropped */
		int n = recvmmsg(fd, mm, UDP_RECV_BATCH, MSG_TRUNC, NULL);
		if (n <= 0)
			break; /* EAGAIN: drained */
		for (int i = 0; i < n; i++)
			udp_datagram(t, l, iov[i].iov_base, mm[i].msg_len, mm[i].msg_hdr.msg_flags,
				     &ss[i], mm[i].msg_hdr.msg_namelen);
		got += n;
		if (n < UDP_RECV_BATCH)
			break;
	}
	udp_flush(t);
	return G_SOURCE_CONTINUE;
}

static int udp_fd_for(struct sip_transport *t, const struct sip_src *dst)
{
	int fd = dst->local_fd;
	for (guint i = 0; i < t->listeners->len && fd <= 0; i++) { /* a UDP listener of the family */
		struct listener *l = t->listeners->pdata[i];
		if (l->proto == SIP_PROTO_UDP && l->family == dst->addr.ss_family)
			fd = l->fd;
	}
	return fd;
}

/* Sends the queued responses, one sendmmsg per run of the same socket. A datagram the
 * kernel refuses is dropped (UDP may lose it anyway; the client retransmits) and counted. */
static void udp_flush(struct sip_transport *t)
{
	struct mmsghdr mm[UDP_SEND_BATCH];
	struct iovec iov[UDP_SEND_BATCH];
	unsigned n = t->n_out;
	for (unsigned i = 0; i < n; i++) {
		struct udp_out *o = &t->out[i];
		iov[i] = (struct iovec){t->out_bytes->str + o->off, o->len};
		mm[i].msg_hdr = (struct msghdr){.msg_name = &o->addr, .msg_namelen = o->addr_len,
						.msg_iov = &iov[i], .msg_iovlen = 1};
	}
	for (unsigned i = 0; i < n;) {
		unsigned run = 1;
		while (i + run < n && t->out[i + run].fd == t->out[i].fd)
			run++;
		int sent = sendmmsg(t->out[i].fd, mm + i, run, 0);
		if (sent < 0 && errno == EINTR)
			continue;
		if (sent <= 0) { /* the first of the run failed: drop it, go on with the next */
			LOGD(log_module, NULL, "UDP send: %s", g_strerror(errno));
			count(t->m_drop, "reason=\"%s\"%s", "udp_send_failed", "");
			sent = 1;
		}
		i += (unsigned)sent;
	}
	t->n_out = 0;
	g_string_truncate(t->out_bytes, 0);
}

struct flush_source {
	GSource src;
	struct sip_transport *t;
};

static gboolean flush_prepare(GSource *src, gint *timeout)
{
	udp_flush(((struct flush_source *)src)->t);
	*timeout = -1;
	return FALSE;
}

static gboolean flush_check(GSource *src)
{
	return FALSE;
}

static gboolean flush_dispatch(GSource *src, GSourceFunc fn, gpointer data)
{
	return G_SOURCE_CONTINUE;
}

static GSourceFuncs flush_funcs = {flush_prepare, flush_check, flush_dispatch, NULL, NULL, NULL};

/*
 * Responses are queued and leave in one sendmmsg when the batch of datagrams that caused
 * them is done, when the queue is full, before any request (so nothing overtakes what was
 * sent before it), or when the loop is about to sleep (flush_prepare): never later than
 * the end of the current loop iteration. Requests are sent at once, so their errors reach
 * the transaction (RFC 3263 failover).
 */
static int udp_send(struct sip_transport *t, const struct sip_src *dst, const char *data,
		    size_t len)
{
	int fd = udp_fd_for(t, dst);
	if (fd <= 0)
		return ENOTCONN;
	bool response = len > 8 && memcmp(data, "SIP/2.0 ", 8) == 0;
	if (response && dst->addr_len <= sizeof(t->out[0].addr)) {
		if (t->n_out == UDP_SEND_BATCH)
			udp_flush(t);
		struct udp_out *o = &t->out[t->n_out++];
		o->fd = fd;
		o->addr_len = dst->addr_len;
		memcpy(&o->addr, &dst->addr, dst->addr_len);
		o->off = t->out_bytes->len;
		o->len = len;
		g_string_append_len(t->out_bytes, data, (gssize)len);
	} else {
		udp_flush(t);
		if (sendto(fd, data, len, 0, (const struct sockaddr *)&dst->addr, dst->addr_len) < 0)
			return errno;
	}
	if (t->trace) {
		char to[64], local[64] = "?";
		hostport(to, sizeof(to), dst->ip, dst->port);
		for (guint i = 0; i < t->listeners->len; i++) {
			struct listener *l = t->listeners->pdata[i];
			if (l->fd == fd)
				g_strlcpy(local, l->local, sizeof(local));
		}
		trace(t, SIP_PROTO_UDP, local, to, data, len);
	}
	return 0;
}

/* ---- TCP and TLS connections ---- */

static char *addr_key(enum sip_proto proto, const char *ip, uint16_t port)
{
	return g_strdup_printf("%s|%s|%u", sip_proto_name(proto), ip, port);
}

/* Reports a closed connection to the stack from an idle source, never from inside the
 * code that closed it (which may be deep in a parse or a send). */
static gboolean report_closed(gpointer data)
{
	struct sip_transport *t = data;
	t->closed_idle = 0;
	GArray *ids = t->closed;
	t->closed = g_array_new(FALSE, FALSE, sizeof(uint64_t));
	for (guint i = 0; i < ids->len && t->closed_fn; i++)
		t->closed_fn(t, g_array_index(ids, uint64_t, i), t->closed_arg);
	g_array_free(ids, TRUE);
	return G_SOURCE_REMOVE;
}

static void conn_close(struct tconn *c, const char *why)
{
	struct sip_transport *t = c->t;
	LOGI(log_module, &(struct log_ctx){.peer = c->peer}, "%s closed: %s",
	     sip_proto_name(c->src.proto), why);
	/* Only connections that carried requests can leave client transactions waiting: the
	 * stack scans its transactions per report, so 10,000 closing inbound ones cost nothing. */
	if (t->closed_fn && c->requests) {
		g_array_append_val(t->closed, c->id);
		if (!t->closed_idle)
			t->closed_idle = g_idle_add(report_closed, t);
	}
	g_hash_table_remove(t->conns, &c->id); /* frees c */
}

static void unmap(struct sip_transport *t, const char *key, struct tconn *c)
{
	if (key && g_hash_table_lookup(t->by_addr, key) == c)
		g_hash_table_remove(t->by_addr, key);
}

static void conn_free(gpointer p)
{
	struct tconn *c = p;
	struct sip_transport *t = c->t;
	if (c->in_src)
		g_source_remove(c->in_src);
	if (c->out_src)
		g_source_remove(c->out_src);
	if (c->hdr_timer)
		g_source_remove(c->hdr_timer);
	if (c->ssl) {
		if (c->handshaken)
			SSL_shutdown(c->ssl); /* best effort close_notify; never waits */
		SSL_free(c->ssl);
	}
	close(c->fd);
	unmap(t, c->key, c);
	unmap(t, c->alias, c);
	if (!c->outbound) {
		unsigned n = GPOINTER_TO_UINT(g_hash_table_lookup(t->per_ip, c->src.ip));
		if (n <= 1)
			g_hash_table_remove(t->per_ip, c->src.ip);
		else
			g_hash_table_insert(t->per_ip, g_strdup(c->src.ip), GUINT_TO_POINTER(n - 1));
	}
	metric_add(t->m_tcp, -1);
	g_string_free(c->out, TRUE);
	g_free(c->key);
	g_free(c->alias);
	g_free(c->tls_name);
	g_free(c->buf);
	g_free(c);
}

static gboolean header_timeout(gpointer data)
{
	struct tconn *c = data;
	c->hdr_timer = 0;
	if (c->connecting || (c->ssl && !c->handshaken && c->outbound)) {
		count(c->t->m_drop, "reason=\"%s\"%s", "connect_timeout", "");
		LOGW(log_module, &(struct log_ctx){.peer = c->peer}, "%s connection to %s timed out",
		     sip_proto_name(c->src.proto), c->peer);
		conn_close(c, "connect timed out");
		return G_SOURCE_REMOVE;
	}
	count(c->t->m_drop, "reason=\"%s\"%s", "tcp_header_timeout", "");
	conn_close(c, "message not complete in time");
	return G_SOURCE_REMOVE;
}

/* Ready for application bytes: connected, and for TLS past the handshake. */
static bool conn_ready(const struct tconn *c)
{
	return !c->connecting && (!c->ssl || c->handshaken);
}

/* One write of up to len bytes: plain send, or SSL_write. Returns bytes, 0 (try later), -1. */
static ssize_t conn_write(struct tconn *c, const char *data, size_t len)
{
	if (!conn_ready(c))
		return 0; /* queued until connected and past the handshake */
	if (!c->ssl) {
		ssize_t w = send(c->fd, data, len, MSG_NOSIGNAL);
		return w >= 0 ? w : (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
	}
	int w = SSL_write(c->ssl, data, (int)MIN(len, (size_t)INT_MAX));
	if (w > 0)
		return w;
	int e = SSL_get_error(c->ssl, w);
	return e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ ? 0 : -1;
}

static gboolean on_tcp_out(gint fd, GIOCondition cond, gpointer data)
{
	struct tconn *c = data;
	ssize_t w = conn_write(c, c->out->str, c->out->len);
	if (w < 0) {
		c->out_src = 0;
		conn_close(c, "write failed");
		return G_SOURCE_REMOVE;
	}
	if (w > 0)
		g_string_erase(c->out, 0, w);
	if (c->out->len)
		return G_SOURCE_CONTINUE;
	c->out_src = 0;
	return G_SOURCE_REMOVE;
}

static int tcp_write(struct tconn *c, const char *data, size_t len)
{
	if (c->out->len == 0) {
		ssize_t w = conn_write(c, data, len);
		if (w < 0)
			return EPIPE;
		data += w;
		len -= (size_t)w;
	}
	if (len == 0)
		return 0;
	if (c->out->len + len > c->t->cfg.max_pending) {
		count(c->t->m_drop, "reason=\"%s\"%s", "tcp_pending_cap", "");
		return ENOBUFS; /* the caller closes: a peer that does not read */
	}
	g_string_append_len(c->out, data, (gssize)len);
	/* Not before the connection is ready: a writable socket would wake the loop for
	 * nothing; the connect and handshake code start the flush. */
	if (!c->out_src && conn_ready(c))
		c->out_src = g_unix_fd_add(c->fd, G_IO_OUT, on_tcp_out, c);
	return 0;
}

/* RFC 5923 §5: a request whose top Via carries ;alias lets us send requests for its
 * sent-by over this connection. Only when sent-by names the very address the connection
 * comes from, so a peer cannot capture traffic meant for another host. */
static void note_alias(struct sip_transport *t, const struct sip_src *src, const struct sip_msg *m)
{
	struct tconn *c = g_hash_table_lookup(t->conns, &src->conn_id);
	if (!c || c->alias || c->outbound || !sip_params_find(&m->via.params, "alias"))
		return;
	char host[64];
	struct slice h = m->via.host;
	if (h.len >= 2 && h.p[0] == '[') {
		h.p++;
		h.len -= 2;
	}
	if (h.len >= sizeof(host))
		return;
	memcpy(host, h.p, h.len);
	host[h.len] = '\0';
	unsigned char a[16], b[16];
	int fam = c->src.addr.ss_family == AF_INET6 ? AF_INET6 : AF_INET;
	if (inet_pton(fam, host, a) != 1 || inet_pton(fam, c->src.ip, b) != 1 ||
	    memcmp(a, b, fam == AF_INET6 ? 16 : 4) != 0)
		return;
	uint16_t port = m->via.has_port ? m->via.port : c->src.proto == SIP_PROTO_TLS ? 5061 : 5060;
	c->alias = addr_key(c->src.proto, c->src.ip, port);
	g_hash_table_replace(t->by_addr, g_strdup(c->alias), c);
	LOGD(log_module, &(struct log_ctx){.peer = c->peer}, "alias %s for this connection", c->alias);
}

/* Frames and delivers every complete message in the buffer. false: connection closed. */
static bool tcp_process(struct tconn *c)
{
	struct sip_transport *t = c->t;
	size_t off = 0;
	while (off < c->len) {
		/* RFC 5626 §4.4.1: a CRLFCRLF ping is answered with a CRLF pong. */
		if (c->len - off >= 4 && memcmp(c->buf + off, "\r\n\r\n", 4) == 0) {
			off += 4;
			if (tcp_write(c, "\r\n", 2) != 0) {
				conn_close(c, "pong failed");
				return false;
			}
			continue;
		}
		if (c->len - off < 4 && strspn(c->buf + off, "\r\n") >= c->len - off &&
		    memchr(c->buf + off, '\r', c->len - off))
			break; /* a partial ping, or a peer's pong: wait */
		if (c->len - off <= 2 && strspn(c->buf + off, "\r\n") >= c->len - off) {
			off = c->len; /* a pong (CRLF) to our ping, or stray line ends */
			break;
		}
		size_t used = 0;
		uint64_t id = c->id;
		if (!deliver(t, c->buf + off, c->len - off, SIP_MODE_STREAM, &c->src, c->peer,
			     c->local, &used)) {
			if (g_hash_table_contains(t->conns, &id))
				conn_close(c, "malformed message");
			return false;
		}
		if (!g_hash_table_contains(t->conns, &id))
			return false; /* the upper layer closed it */
		if (used == 0)
			break;
		off += used;
	}
	memmove(c->buf, c->buf + off, c->len - off);
	c->len -= off;
	/* Slowloris: a message that has begun must complete within header_timeout. */
	if (c->len && !c->hdr_timer)
		c->hdr_timer = g_timeout_add(t->cfg.header_timeout_secs * 1000u, header_timeout, c);
	else if (!c->len && c->hdr_timer) {
		g_source_remove(c->hdr_timer);
		c->hdr_timer = 0;
	}
	if (!c->len) { /* idle connections keep no buffer: 10,000 of them cost little */
		g_free(c->buf);
		c->buf = NULL;
	}
	return true;
}

/* The host part of a sip: URI in a subjectAltName, or NULL (RFC 5922 §7.1: no user part). */
static bool uri_names(const char *uri, size_t n, const char *name)
{
	if (n < 4 || g_ascii_strncasecmp(uri, "sip:", 4) != 0)
		return false;
	uri += 4;
	n -= 4;
	return n == strlen(name) && g_ascii_strncasecmp(uri, name, n) == 0;
}

/*
 * RFC 5922 §7.1-7.2: the SIP domain must be a subjectAltName URI "sip:<domain>" or a DNS
 * name equal to it; wildcards never match; the CN counts only when the certificate has
 * neither kind of subjectAltName. An IP literal target must be an IP subjectAltName.
 */
static bool peer_identity_ok(X509 *cert, const char *name)
{
	unsigned char ip[16];
	if (inet_pton(AF_INET, name, ip) == 1 || inet_pton(AF_INET6, name, ip) == 1)
		return X509_check_ip_asc(cert, name, 0) == 1;
	GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	bool ok = false, any = false;
	for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans) && !ok; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
		if (g->type != GEN_URI && g->type != GEN_DNS)
			continue;
		any = true;
		const ASN1_IA5STRING *v = g->type == GEN_URI ? g->d.uniformResourceIdentifier : g->d.dNSName;
		const char *p = (const char *)ASN1_STRING_get0_data(v);
		size_t n = (size_t)ASN1_STRING_length(v);
		if (memchr(p, '\0', n))
			continue; /* an embedded NUL is an attack, never a name */
		if (g->type == GEN_URI)
			ok = uri_names(p, n, name);
		else
			ok = n == strlen(name) && g_ascii_strncasecmp(p, name, n) == 0;
	}
	GENERAL_NAMES_free(sans);
	if (any || ok)
		return ok;
	char cn[256];
	int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof(cn));
	return n > 0 && (size_t)n == strlen(cn) && g_ascii_strcasecmp(cn, name) == 0;
}

/* After an outbound handshake: the chain (OpenSSL checked it against the CAs) and the
 * name. Logs why not, once, clearly. */
static bool tls_peer_ok(struct tconn *c)
{
	struct sip_transport *t = c->t;
	if (!t->cfg.tls_verify)
		return true;
	const char *name = c->tls_name ? c->tls_name : c->src.ip;
	X509 *cert = SSL_get1_peer_certificate(c->ssl);
	long vr = SSL_get_verify_result(c->ssl);
	const char *why = !cert ? "no certificate"
			  : vr != X509_V_OK ? X509_verify_cert_error_string(vr)
			  : !peer_identity_ok(cert, name) ? "it does not name the SIP domain (RFC 5922)"
							  : NULL;
	X509_free(cert);
	if (why) {
		count(t->m_drop, "reason=\"%s\"%s", "tls_verify_failed", "");
		LOGW(log_module, &(struct log_ctx){.peer = c->peer},
		     "TLS to %s (%s): certificate refused: %s", c->peer, name, why);
	}
	return why == NULL;
}

/* The handshake just finished: check the peer, stop the timer, flush what was queued. */
static bool tls_established(struct tconn *c)
{
	if (c->outbound && !tls_peer_ok(c))
		return false;
	c->handshaken = true;
	if (c->hdr_timer) {
		g_source_remove(c->hdr_timer);
		c->hdr_timer = 0;
	}
	if (c->out->len && !c->out_src) /* anything queued meanwhile */
		c->out_src = g_unix_fd_add(c->fd, G_IO_OUT, on_tcp_out, c);
	return true;
}

/* One step of the handshake: 0 done, 1 going on, -1 failed (logged). */
static int tls_handshake(struct tconn *c)
{
	int rc = SSL_do_handshake(c->ssl);
	if (rc == 1)
		return tls_established(c) ? 0 : -1;
	int e = SSL_get_error(c->ssl, rc);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 1;
	unsigned long err = ERR_get_error();
	const char *why = err ? ERR_reason_error_string(err) : NULL;
	if (c->outbound)
		LOGW(log_module, &(struct log_ctx){.peer = c->peer}, "TLS handshake with %s (%s) failed: %s",
		     c->peer, c->tls_name ? c->tls_name : c->src.ip, why ? why : "peer closed");
	else
		LOGI(log_module, &(struct log_ctx){.peer = c->peer}, "TLS handshake failed: %s",
		     why ? why : "peer closed");
	ERR_clear_error();
	return -1;
}

/*
 * Drives the TLS handshake, then decrypts into the buffer. Returns 0 with *n bytes read,
 * 1 when there is nothing to process yet, -1 when the connection must close. A handshake
 * that does not finish within header_timeout (connect_timeout outbound) is cut by a timer.
 */
static int tls_read(struct tconn *c, size_t room, ssize_t *n)
{
	if (!c->handshaken) {
		int rc = tls_handshake(c);
		if (rc != 0)
			return rc;
	}
	int r = SSL_read(c->ssl, c->buf + c->len, (int)MIN(room, TCP_READ_CHUNK));
	if (r > 0) {
		*n = r;
		return 0;
	}
	int e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 1;
	ERR_clear_error();
	return -1;
}

static gboolean on_tcp_in(gint fd, GIOCondition cond, gpointer data)
{
	struct tconn *c = data;
	if (!c->buf)
		c->buf = g_malloc(SIP_MAX_MSG + 1);
	size_t room = SIP_MAX_MSG + 1 - c->len;
	if (room == 0) {
		count(c->t->m_drop, "reason=\"%s\"%s", "tcp_message_too_large", "");
		c->in_src = 0;
		conn_close(c, "message larger than the cap");
		return G_SOURCE_REMOVE;
	}
	ssize_t n;
	if (c->ssl) {
		int rc = tls_read(c, room, &n);
		if (rc > 0)
			return G_SOURCE_CONTINUE; /* handshake going on, or nothing decrypted yet */
		if (rc < 0) {
			c->in_src = 0;
			conn_close(c, c->handshaken ? "TLS error or peer closed" : "TLS handshake failed");
			return G_SOURCE_REMOVE;
		}
	} else {
		n = recv(fd, c->buf + c->len, MIN(room, TCP_READ_CHUNK), 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
			c->in_src = 0;
			conn_close(c, n == 0 ? "peer closed" : g_strerror(errno));
			return G_SOURCE_REMOVE;
		}
		if (n < 0)
			return G_SOURCE_CONTINUE;
	}
	c->len += (size_t)n;
	c->last_io_us = g_get_monotonic_time();
	struct sip_transport *t = c->t;
	uint64_t id = c->id;
	if (!tcp_process(c) && !g_hash_table_contains(t->conns, &id))
		return G_SOURCE_REMOVE; /* c is gone (its source was removed with it) */
	return G_SOURCE_CONTINUE;
}

static struct tconn *conn_new(struct sip_transport *t, int fd, const struct sip_src *src,
			      const char *local)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct tconn *c = g_new0(struct tconn, 1);
	c->t = t;
	c->id = ++t->next_id;
	c->fd = fd;
	c->src = *src;
	c->src.conn_id = c->id;
	hostport(c->peer, sizeof(c->peer), src->ip, src->port);
	g_strlcpy(c->local, local, sizeof(c->local));
	c->out = g_string_new(NULL);
	c->last_io_us = g_get_monotonic_time();
	c->key = addr_key(src->proto, src->ip, src->port);
	g_hash_table_insert(t->conns, &c->id, c);
	g_hash_table_replace(t->by_addr, g_strdup(c->key), c);
	metric_add(t->m_tcp, 1);
	return c;
}

static gboolean on_accept(gint fd, GIOCondition cond, gpointer data)
{
	struct listener *l = data;
	struct sip_transport *t = l->t;
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int cfd = accept4(fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0)
			break;
		struct sip_src src;
		fill_src(&src, l->proto, &ss, sl);
		if (t->accept_fn && !t->accept_fn(src.ip, t->accept_arg)) {
			count(t->m_drop, "reason=\"%s\"%s", "banned", ""); /* SEC-07 */
			close(cfd);
			continue;
		}
		unsigned n = GPOINTER_TO_UINT(g_hash_table_lookup(t->per_ip, src.ip));
		if (n >= t->cfg.max_conns_per_ip) {
			/* BI-18: per-IP cap, no state kept for the refused one. */
			count(t->m_drop, "reason=\"%s\"%s", "tcp_per_ip_cap", "");
			close(cfd);
			continue;
		}
		g_hash_table_insert(t->per_ip, g_strdup(src.ip), GUINT_TO_POINTER(n + 1));
		struct tconn *c = conn_new(t, cfd, &src, l->local);
		if (l->proto == SIP_PROTO_TLS) {
			c->ssl = SSL_new(t->tls);
			if (!c->ssl || SSL_set_fd(c->ssl, cfd) != 1) {
				conn_close(c, "cannot start TLS");
				continue;
			}
			SSL_set_accept_state(c->ssl);
			/* the handshake counts as a started message: header_timeout bounds it */
			c->hdr_timer = g_timeout_add(t->cfg.header_timeout_secs * 1000u, header_timeout, c);
		}
		c->in_src = g_unix_fd_add(cfd, G_IO_IN, on_tcp_in, c);
		LOGD(log_module, &(struct log_ctx){.peer = c->peer}, "%s connected", sip_proto_name(l->proto));
	}
	return G_SOURCE_CONTINUE;
}

/* Outbound: connect() finished (or failed). TCP is ready; TLS starts its handshake. */
static gboolean on_connected(gint fd, GIOCondition cond, gpointer data)
{
	struct tconn *c = data;
	int err = 0;
	socklen_t el = sizeof(err);
	c->out_src = 0;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
		err = errno;
	if (err) {
		count(c->t->m_drop, "reason=\"%s\"%s", "connect_failed", "");
		LOGW(log_module, &(struct log_ctx){.peer = c->peer}, "%s connection to %s failed: %s",
		     sip_proto_name(c->src.proto), c->peer, g_strerror(err));
		conn_close(c, "connect failed");
		return G_SOURCE_REMOVE;
	}
	c->connecting = false;
	c->last_io_us = g_get_monotonic_time();
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
		char ip[48];
		uint16_t port;
		addr_text(&ss, ip, sizeof(ip), &port);
		hostport(c->local, sizeof(c->local), ip, port);
	}
	c->in_src = g_unix_fd_add(fd, G_IO_IN, on_tcp_in, c);
	if (c->ssl) {
		if (tls_handshake(c) < 0) /* sends the ClientHello; the rest comes on G_IO_IN */
			conn_close(c, "TLS handshake failed");
		return G_SOURCE_REMOVE;
	}
	if (c->hdr_timer) {
		g_source_remove(c->hdr_timer);
		c->hdr_timer = 0;
	}
	LOGD(log_module, &(struct log_ctx){.peer = c->peer}, "tcp connected to %s", c->peer);
	if (c->out->len)
		c->out_src = g_unix_fd_add(fd, G_IO_OUT, on_tcp_out, c);
	return G_SOURCE_REMOVE;
}

/* A live connection for dst that may carry a request checked against name. */
static struct tconn *reusable(struct sip_transport *t, struct tconn *c, const char *name)
{
	if (!c || c->src.proto == SIP_PROTO_UDP)
		return NULL;
	if (c->src.proto != SIP_PROTO_TLS || !t->cfg.tls_verify)
		return c;
	/* With verification on, only a connection whose certificate we checked for this name:
	 * a peer's own TLS connection proved nothing about its identity (RFC 5923 §5). */
	if (!c->outbound)
		return NULL;
	const char *have = c->tls_name ? c->tls_name : c->src.ip;
	const char *want = name ? name : c->src.ip;
	return g_ascii_strcasecmp(have, want) == 0 ? c : NULL;
}

static int conn_open(struct sip_transport *t, const struct sip_src *dst, const char *name,
		     struct tconn **out)
{
	if (dst->proto == SIP_PROTO_TLS && !t->tls_client)
		return ENOTSUP;
	int fd = socket(dst->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	if (connect(fd, (const struct sockaddr *)&dst->addr, dst->addr_len) != 0 &&
	    errno != EINPROGRESS) {
		int err = errno;
		close(fd);
		return err;
	}
	struct sip_src src;
	fill_src(&src, dst->proto, &dst->addr, dst->addr_len);
	struct tconn *c = conn_new(t, fd, &src, "?");
	c->outbound = true;
	c->connecting = true;
	if (dst->proto == SIP_PROTO_TLS) {
		c->tls_name = name ? g_strdup(name) : NULL;
		c->ssl = SSL_new(t->tls_client);
		unsigned char ip[16];
		bool literal = name && (inet_pton(AF_INET, name, ip) == 1 || inet_pton(AF_INET6, name, ip) == 1);
		if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1 ||
		    (name && !literal && SSL_set_tlsext_host_name(c->ssl, name) != 1)) {
			ERR_clear_error();
			conn_close(c, "cannot start TLS");
			return ENOMEM;
		}
		SSL_set_connect_state(c->ssl);
	}
	c->out_src = g_unix_fd_add(fd, G_IO_OUT, on_connected, c);
	c->hdr_timer = g_timeout_add(MAX(t->cfg.connect_timeout_secs, 1u) * 1000u, header_timeout, c);
	LOGD(log_module, &(struct log_ctx){.peer = c->peer}, "%s connecting to %s%s%s",
	     sip_proto_name(dst->proto), c->peer, name ? " as " : "", name ? name : "");
	*out = c;
	return 0;
}

int sip_transport_connect(struct sip_transport *t, struct sip_src *dst, const char *tls_name)
{
	if (dst->proto == SIP_PROTO_UDP)
		return 0;
	char ip[48];
	uint16_t port;
	addr_text(&dst->addr, ip, sizeof(ip), &port);
	char *key = addr_key(dst->proto, ip, port);
	if (tls_name && *tls_name && dst->proto == SIP_PROTO_TLS) {
		if (g_hash_table_size(t->names) >= MAX_NAMES)
			g_hash_table_remove_all(t->names);
		g_hash_table_replace(t->names, g_strdup(key), g_strdup(tls_name));
	} else {
		tls_name = g_hash_table_lookup(t->names, key); /* an in-dialog request, a retry */
	}
	struct tconn *c = NULL;
	if (dst->conn_id)
		c = reusable(t, g_hash_table_lookup(t->conns, &dst->conn_id), tls_name);
	if (!c)
		c = reusable(t, g_hash_table_lookup(t->by_addr, key), tls_name);
	int rc = 0;
	if (!c)
		rc = conn_open(t, dst, tls_name, &c);
	g_free(key);
	if (rc) {
		LOGW(log_module, &(struct log_ctx){.peer = ip}, "cannot connect to %s port %u: %s", ip,
		     port, g_strerror(rc));
		return rc;
	}
	c->requests = true;
	dst->conn_id = c->id;
	return 0;
}

int sip_transport_connect_uri(struct sip_transport *t, struct sip_src *dst, const char *uri)
{
	struct sip_uri u;
	if (dst->proto == SIP_PROTO_UDP)
		return 0;
	if (!uri || sip_uri_parse((struct slice){uri, strlen(uri)}, &u) != 0 || !u.host.len)
		return sip_transport_connect(t, dst, NULL);
	struct slice h = u.host;
	if (u.host_ipv6 && h.len >= 2) {
		h.p++;
		h.len -= 2;
	}
	char *name = g_strndup(h.p, h.len);
	int rc = sip_transport_connect(t, dst, name);
	g_free(name);
	return rc;
}

void sip_transport_set_accept_filter(struct sip_transport *t, sip_accept_fn *fn, void *arg)
{
	t->accept_fn = fn;
	t->accept_arg = arg;
}

void sip_transport_set_conn_handler(struct sip_transport *t, sip_conn_closed_fn *fn, void *arg)
{
	t->closed_fn = fn;
	t->closed_arg = arg;
}

static gboolean idle_sweep(gpointer data)
{
	struct sip_transport *t = data;
	gint64 limit = g_get_monotonic_time() - (gint64)t->cfg.idle_timeout_secs * G_USEC_PER_SEC;
	GHashTableIter it;
	gpointer v;
	GSList *idle = NULL;
	g_hash_table_iter_init(&it, t->conns);
	while (g_hash_table_iter_next(&it, NULL, &v))
		if (((struct tconn *)v)->last_io_us < limit)
			idle = g_slist_prepend(idle, v);
	for (GSList *s = idle; s; s = s->next)
		conn_close(s->data, "idle");
	g_slist_free(idle);
	return G_SOURCE_CONTINUE;
}

/* ---- sending ---- */

int sip_transport_send(struct sip_transport *t, const struct sip_src *dst, const char *data,
		       size_t len)
{
	if (dst->proto == SIP_PROTO_UDP)
		return udp_send(t, dst, data, len);
	struct tconn *c = g_hash_table_lookup(t->conns, &dst->conn_id);
	if (!c && dst->conn_id == 0) { /* a request with no connection named: find or open one */
		struct sip_src d = *dst;
		int rc = sip_transport_connect(t, &d, NULL);
		if (rc)
			return rc;
		c = g_hash_table_lookup(t->conns, &d.conn_id);
	}
	if (!c)
		return ENOTCONN; /* a response whose connection is gone */
	trace(t, c->src.proto, c->local, c->peer, data, len);
	int rc = tcp_write(c, data, len);
	if (rc)
		conn_close(c, rc == ENOBUFS ? "peer does not read (pending cap)" : "write failed");
	return rc;
}

/* Rewrites the first Via line of a response: received= and rport=<port> (RFC 3581 §4). */
void sip_transport_stamp_via(const struct sip_msg *req, const struct sip_src *src, GString *resp)
{
	char *line = strstr(resp->str, "\r\nVia: ");
	if (!line)
		return;
	size_t vstart = (size_t)(line - resp->str) + 7;
	char *eol = strstr(resp->str + vstart, "\r\n");
	if (!eol)
		return;
	GString *v = g_string_new_len(resp->str + vstart, eol - (resp->str + vstart));
	if (req->via.rport && !req->via.has_rport_value) {
		/* the bare ";rport" token gets the source port */
		for (char *p = v->str; (p = g_strstr_len(p, -1, ";rport"));) {
			char nx = p[6];
			if (nx == '\0' || nx == ';' || nx == ' ' || nx == ',' || nx == '\t') {
				char port[16];
				g_snprintf(port, sizeof(port), "=%u", src->port);
				g_string_insert(v, (p - v->str) + 6, port);
				break;
			}
			p += 6;
		}
	}
	struct slice h = req->via.host;
	bool same = h.len == strlen(src->ip) && g_ascii_strncasecmp(h.p, src->ip, h.len) == 0;
	if (h.len > 2 && h.p[0] == '[')
		same = h.len - 2 == strlen(src->ip) && g_ascii_strncasecmp(h.p + 1, src->ip, h.len - 2) == 0;
	if (!same && !req->via.received.p)
		g_string_append_printf(v, ";received=%s", src->ip);
	g_string_erase(resp, (gssize)vstart, eol - (resp->str + vstart));
	g_string_insert(resp, (gssize)vstart, v->str);
	g_string_free(v, TRUE);
}

void sip_transport_route_response(const struct sip_msg *req, const struct sip_src *src,
				  GString *response, struct sip_src *dst)
{
	sip_transport_stamp_via(req, src, response);
	*dst = *src;
	dst->raw = (struct slice){NULL, 0};
	/* §18.2.2 with RFC 3581: always the source address (never maddr: no multicast, and no
	 * third party can be made a target); the source port with rport, else the sent-by port.
	 * Streams answer on the connection the request came on. */
	if (src->proto != SIP_PROTO_UDP || req->via.rport)
		return;
	uint16_t port = req->via.has_port ? req->via.port : 5060;
	dst->port = port;
	if (dst->addr.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&dst->addr)->sin6_port = htons(port);
	else
		((struct sockaddr_in *)&dst->addr)->sin_port = htons(port);
}

int sip_transport_respond(struct sip_transport *t, const struct sip_msg *req,
			  const struct sip_src *src, GString *response)
{
	struct sip_src dst;
	sip_transport_route_response(req, src, response, &dst);
	return sip_transport_send(t, &dst, response->str, response->len);
}

unsigned sip_transport_connection_count(const struct sip_transport *t)
{
	return g_hash_table_size(t->conns);
}

/* ---- setup ---- */

static int open_listener(struct sip_transport *t, const char *ip, enum sip_proto proto,
			 uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		sl = sizeof(*s4);
	} else if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		sl = sizeof(*s6);
	} else {
		LOGE(log_module, NULL, "sip.listen: '%s' is not an IP address", ip);
		return EINVAL;
	}
	int fd = socket(ss.ss_family, (proto == SIP_PROTO_UDP ? SOCK_DGRAM : SOCK_STREAM) |
					      SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6) /* IPv4 has its own socket: keep the families apart */
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (proto == SIP_PROTO_UDP) {
		/* A burst while the loop is busy elsewhere must queue, not drop (the default 208 KB
		 * dropped ~5 % of REGISTERs at 6,000/s); the kernel caps it at net.core.rmem_max. */
		int buf = 4 << 20;
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	}
	if (bind(fd, (struct sockaddr *)&ss, sl) != 0 ||
	    (proto != SIP_PROTO_UDP && listen(fd, SOMAXCONN) != 0)) {
		int err = errno;
		close(fd);
		return err;
	}
	struct listener *l = g_new0(struct listener, 1);
	l->t = t;
	l->proto = proto;
	l->fd = fd;
	struct sockaddr_storage bound;
	socklen_t bl = sizeof(bound);
	uint16_t bport = port;
	char bip[48];
	if (getsockname(fd, (struct sockaddr *)&bound, &bl) != 0)
		memset(&bound, 0, sizeof(bound)); /* AF_UNSPEC: no request leaves by it */
	l->family = bound.ss_family;
	addr_text(&bound, bip, sizeof(bip), &bport);
	hostport(l->local, sizeof(l->local), bip, bport);
	l->src = g_unix_fd_add(fd, G_IO_IN, proto == SIP_PROTO_UDP ? on_udp : on_accept, l);
	g_ptr_array_add(t->listeners, l);
	LOGN(log_module, NULL, "listening on %s %s", sip_proto_name(proto), l->local);
	return 0;
}

static void listener_free(gpointer p)
{
	struct listener *l = p;
	g_source_remove(l->src);
	close(l->fd);
	g_free(l);
}

static int load_cas(struct sip_transport *t, SSL_CTX *ctx);

/* The server TLS context: TLS 1.2 or newer, the configured certificate and key. */
static int tls_setup(struct sip_transport *t, const struct sip_transport_config *cfg)
{
	if (!cfg->tls_cert || !cfg->tls_cert[0] || !cfg->tls_key || !cfg->tls_key[0]) {
		LOGE(log_module, NULL, "sip.tls_port needs sip.tls_cert and sip.tls_key");
		return EINVAL;
	}
	t->tls = SSL_CTX_new(TLS_server_method());
	if (!t->tls || SSL_CTX_set_min_proto_version(t->tls, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_use_certificate_chain_file(t->tls, cfg->tls_cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(t->tls, cfg->tls_key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(t->tls) != 1) {
		unsigned long err = ERR_get_error();
		LOGE(log_module, NULL, "SIP TLS certificate %s / key %s: %s", cfg->tls_cert, cfg->tls_key,
		     err ? ERR_reason_error_string(err) : "unusable");
		ERR_clear_error();
		return EINVAL;
	}
	SSL_CTX_set_options(t->tls, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(t->tls, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE);
	if (cfg->tls_verify_client) {
		/* Mutual TLS: a client without a certificate from our CAs fails the handshake. */
		if (load_cas(t, t->tls) != 0)
			return EINVAL;
		if (t->ca_file[0])
			SSL_CTX_set_client_CA_list(t->tls, SSL_load_client_CA_file(t->ca_file));
		SSL_CTX_set_verify(t->tls, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	return 0;
}

/* The trust anchors: tls_ca_file and/or tls_ca_dir, else the system's default store. */
static int load_cas(struct sip_transport *t, SSL_CTX *ctx)
{
	const char *file = t->ca_file[0] ? t->ca_file : NULL, *dir = t->ca_dir[0] ? t->ca_dir : NULL;
	int ok = file || dir ? SSL_CTX_load_verify_locations(ctx, file, dir)
			     : SSL_CTX_set_default_verify_paths(ctx);
	if (ok != 1) {
		unsigned long err = ERR_get_error();
		LOGE(log_module, NULL, "SIP TLS CA file '%s' / directory '%s': %s", t->ca_file, t->ca_dir,
		     err ? ERR_reason_error_string(err) : "unusable");
		ERR_clear_error();
		return EINVAL;
	}
	return 0;
}

/*
 * The client context for outbound TLS: TLS 1.2 or newer; the chain checked against the
 * CAs when tls_verify (the name is checked after the handshake, RFC 5922); our own
 * certificate offered when one is configured (peers that ask for mutual TLS).
 */
static int tls_client_setup(struct sip_transport *t, const struct sip_transport_config *cfg)
{
	t->tls_client = SSL_CTX_new(TLS_client_method());
	if (!t->tls_client || SSL_CTX_set_min_proto_version(t->tls_client, TLS1_2_VERSION) != 1)
		return ENOMEM;
	SSL_CTX_set_mode(t->tls_client, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
						SSL_MODE_ENABLE_PARTIAL_WRITE);
	SSL_CTX_set_options(t->tls_client, SSL_OP_NO_RENEGOTIATION);
	if (cfg->tls_verify && load_cas(t, t->tls_client) != 0)
		return EINVAL;
	/* The outcome is checked after the handshake, so the log can say why (tls_peer_ok). */
	SSL_CTX_set_verify(t->tls_client, SSL_VERIFY_NONE, NULL);
	if (cfg->tls_cert && cfg->tls_cert[0] && cfg->tls_key && cfg->tls_key[0] &&
	    (SSL_CTX_use_certificate_chain_file(t->tls_client, cfg->tls_cert) != 1 ||
	     SSL_CTX_use_PrivateKey_file(t->tls_client, cfg->tls_key, SSL_FILETYPE_PEM) != 1)) {
		LOGE(log_module, NULL, "SIP TLS client certificate %s: unusable", cfg->tls_cert);
		ERR_clear_error();
		return EINVAL;
	}
	return 0;
}

int sip_transport_new(const struct sip_transport_config *cfg, sip_recv_fn *recv, void *arg,
		      struct sip_transport **out)
{
	struct sip_transport *t = g_new0(struct sip_transport, 1);
	int rc = 0;
	t->cfg = *cfg;
	t->listen = g_strdupv((char **)cfg->listen);
	t->trace_path = g_strdup(cfg->trace_file ? cfg->trace_file : "");
	t->cfg.listen = (const char *const *)t->listen;
	t->cfg.trace_file = t->trace_path;
	t->recv = recv;
	t->arg = arg;
	t->listeners = g_ptr_array_new_with_free_func(listener_free);
	t->conns = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, conn_free);
	t->per_ip = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	t->by_addr = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	t->names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	t->closed = g_array_new(FALSE, FALSE, sizeof(uint64_t));
	t->ca_file = g_strdup(cfg->tls_ca_file ? cfg->tls_ca_file : "");
	t->ca_dir = g_strdup(cfg->tls_ca_dir ? cfg->tls_ca_dir : "");
	t->cfg.tls_ca_file = t->ca_file;
	t->cfg.tls_ca_dir = t->ca_dir;
	t->cfg.tls_cert = t->cfg.tls_key = NULL; /* not kept: read at start */
	t->udp_buf = g_malloc((cfg->max_udp + 1) * UDP_RECV_BATCH);
	t->out_bytes = g_string_sized_new(UDP_SEND_BATCH * 1024);
	t->flush_src = g_source_new(&flush_funcs, sizeof(struct flush_source));
	((struct flush_source *)t->flush_src)->t = t;
	g_source_set_priority(t->flush_src, G_PRIORITY_HIGH);
	g_source_attach(t->flush_src, NULL);
	t->msg = g_new0(struct sip_msg, 1);
	t->m_in = metrics_family("gorgee_sip_messages_received_total",
				 "SIP messages received and parsed, by kind and method.", METRIC_COUNTER);
	t->m_bad = metrics_family("gorgee_sip_malformed_total",
				  "SIP messages refused by the parser, by transport and the status answered.",
				  METRIC_COUNTER);
	t->m_drop = metrics_family("gorgee_sip_transport_drops_total",
				   "Datagrams and connections dropped by transport caps, by reason.",
				   METRIC_COUNTER);
	t->m_tcp = metrics_series(metrics_family("gorgee_sip_tcp_connections",
						 "Open SIP TCP connections.", METRIC_GAUGE), "");
	if (t->trace_path[0] && !(t->trace = fopen(t->trace_path, "a"))) {
		LOGE(log_module, NULL, "sip.trace_file %s: %s", t->trace_path, g_strerror(errno));
		rc = errno;
		goto fail;
	}
	if (cfg->tls_port && (rc = tls_setup(t, cfg)) != 0)
		goto fail;
	if ((rc = tls_client_setup(t, cfg)) != 0)
		goto fail;
	for (size_t i = 0; t->listen[i]; i++) {
		const char *ip = g_strstrip(t->listen[i]);
		if (!*ip)
			continue;
		for (int p = 0; p < 3; p++) {
			static const enum sip_proto protos[] = {SIP_PROTO_UDP, SIP_PROTO_TCP, SIP_PROTO_TLS};
			uint16_t port = p == 0 ? cfg->udp_port : p == 1 ? cfg->tcp_port : cfg->tls_port;
			if (!port)
				continue;
			int err = open_listener(t, ip, protos[p], port);
			/* The IPv6 wildcard is optional: hosts and containers without IPv6 exist. */
			if (err && strcmp(ip, "::") == 0 && (err == EAFNOSUPPORT || err == EADDRNOTAVAIL)) {
				LOGW(log_module, NULL, "no IPv6 here, skipping [::]: %s", g_strerror(err));
				continue;
			}
			if (err) {
				LOGE(log_module, NULL, "cannot listen on %s %s port %u: %s",
				     sip_proto_name(protos[p]), ip, port, g_strerror(err));
				rc = err;
				goto fail;
			}
		}
	}
	t->idle_timer = g_timeout_add_seconds(MAX(1u, MIN(cfg->idle_timeout_secs / 4, 30u)),
					      idle_sweep, t);
	*out = t;
	return 0;
fail:
	sip_transport_free(t);
	return rc;
}

void sip_transport_free(struct sip_transport *t)
{
	if (!t)
		return;
	if (t->idle_timer)
		g_source_remove(t->idle_timer);
	if (t->flush_src) {
		udp_flush(t); /* what was answered goes out (a SIGTERM drain) */
		g_source_destroy(t->flush_src);
		g_source_unref(t->flush_src);
	}
	t->closed_fn = NULL;
	g_hash_table_destroy(t->conns);
	g_hash_table_destroy(t->per_ip);
	g_hash_table_destroy(t->by_addr);
	g_hash_table_destroy(t->names);
	if (t->closed_idle)
		g_source_remove(t->closed_idle);
	g_array_free(t->closed, TRUE);
	g_ptr_array_free(t->listeners, TRUE);
	if (t->tls)
		SSL_CTX_free(t->tls);
	if (t->tls_client)
		SSL_CTX_free(t->tls_client);
	g_free(t->ca_file);
	g_free(t->ca_dir);
	if (t->trace)
		fclose(t->trace);
	g_strfreev(t->listen);
	g_free(t->trace_path);
	g_free(t->udp_buf);
	if (t->out_bytes)
		g_string_free(t->out_bytes, TRUE);
	g_free(t->msg);
	g_free(t);
}
