/* SIP transports on the GLib loop: listeners, UDP (batched receive and responses), delivery
 * of parsed messages to the stack with stateless 400s for what does not parse, RFC 3581
 * response routing, sending, setup, and a trace. TCP and TLS: sip_transport_tcp.c. */
#define _GNU_SOURCE /* recvmmsg, sendmmsg */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <glib-unix.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "sip.h"
#include "sip_transport_priv.h"

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

void tp_addr_text(const struct sockaddr_storage *ss, char *ip, size_t iplen, uint16_t *port)
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

void tp_fill_src(struct sip_src *src, enum sip_proto proto, const struct sockaddr_storage *ss,
		     socklen_t len)
{
	memset(src, 0, sizeof(*src));
	src->proto = proto;
	memcpy(&src->addr, ss, len);
	src->addr_len = len;
	tp_addr_text(ss, src->ip, sizeof(src->ip), &src->port);
}

void tp_hostport(char *out, size_t n, const char *ip, uint16_t port)
{
	g_snprintf(out, n, strchr(ip, ':') ? "[%s]:%u" : "%s:%u", ip, port);
}

void tp_count(struct metric_family *f, const char *fmt, const char *a, const char *b)
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
void tp_trace(struct sip_transport *t, enum sip_proto proto, const char *from, const char *to,
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

/* Returns false when the stream must close (stream parse error). from: the peer as text,
 * or NULL to print it from src only when a tp_trace or a log line needs it. */
bool tp_deliver(struct sip_transport *t, const char *data, size_t len, enum sip_mode mode,
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
		tp_hostport(from_buf, sizeof(from_buf), src->ip, src->port);
		from = from_buf;
	}
	tp_trace(t, src->proto, from, local, data, rc == 0 ? t->msg->size : len);
	if (rc != 0) {
		char code[8];
		g_snprintf(code, sizeof(code), "%d", status);
		tp_count(t->m_bad, "transport=\"%s\",status=\"%s\"",
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
		tp_note_alias(t, src, t->msg);
	t->recv(t, t->msg, src, t->arg);
	return true;
}

/* ---- UDP ---- */

/* One datagram of a recvmmsg batch; buf is its own buffer in t->udp_buf. */
static void udp_datagram(struct sip_transport *t, struct listener *l, char *buf, size_t n,
			 int flags, const struct sockaddr_storage *ss, socklen_t sl)
{
	struct sip_src src;
	tp_fill_src(&src, SIP_PROTO_UDP, ss, sl);
	src.local_fd = l->fd;
	if (n > t->cfg.max_udp || (flags & MSG_TRUNC)) {
		/* SEC-08: refused before parsing; nothing learned from it. */
		tp_count(t->m_drop, "reason=\"%s\"%s", "udp_too_large", "");
		return;
	}
	/* Keep-alives (CRLF, CRLFCRLF) need no answer over UDP. */
	bool crlf = n <= 4;
	for (size_t i = 0; i < n && crlf; i++)
		crlf = buf[i] == '\r' || buf[i] == '\n';
	if (crlf)
		return;
	size_t used;
	tp_deliver(t, buf, n, SIP_MODE_DATAGRAM, &src, NULL, l->local, &used);
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

/* A response the kernel refused: counted, and said at warning level at most once every 10 s
 * with how many went since (a full socket buffer refuses thousands in a burst). */
static void udp_send_failed(struct sip_transport *t, int err)
{
	tp_count(t->m_drop, "reason=\"%s\"%s", "udp_send_failed", "");
	t->udp_fail_quiet++;
	gint64 now = g_get_monotonic_time();
	if (t->udp_fail_said_us && now - t->udp_fail_said_us < 10 * G_USEC_PER_SEC)
		return;
	LOGW(log_module, NULL, "UDP responses dropped: %s (%u since the last warning)",
	     g_strerror(err), t->udp_fail_quiet);
	t->udp_fail_said_us = now;
	t->udp_fail_quiet = 0;
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
			udp_send_failed(t, errno);
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
		tp_hostport(to, sizeof(to), dst->ip, dst->port);
		for (guint i = 0; i < t->listeners->len; i++) {
			struct listener *l = t->listeners->pdata[i];
			if (l->fd == fd)
				g_strlcpy(local, l->local, sizeof(local));
		}
		tp_trace(t, SIP_PROTO_UDP, local, to, data, len);
	}
	return 0;
}

/* ---- sending ---- */

int sip_transport_send(struct sip_transport *t, const struct sip_src *dst, const char *data,
		       size_t len)
{
	if (dst->proto == SIP_PROTO_UDP)
		return udp_send(t, dst, data, len);
	return tp_stream_send(t, dst, data, len);
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
	tp_addr_text(&bound, bip, sizeof(bip), &bport);
	tp_hostport(l->local, sizeof(l->local), bip, bport);
	GSource *src = core_source_unblocked(g_unix_fd_source_new(fd, G_IO_IN));
	g_source_set_callback(src, G_SOURCE_FUNC(proto == SIP_PROTO_UDP ? on_udp : tp_on_accept), l,
			      NULL);
	l->src = g_source_attach(src, NULL);
	g_source_unref(src);
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
	t->conns = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, tp_conn_free);
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
	t->poll = fdpoll_new(NULL);
	if (!t->poll) {
		rc = errno;
		LOGE(log_module, NULL, "epoll: %s", g_strerror(rc));
		goto fail;
	}
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
	if (cfg->tls_port && (rc = tp_tls_setup(t, cfg)) != 0)
		goto fail;
	if ((rc = tp_tls_client_setup(t, cfg)) != 0)
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
					      tp_idle_sweep, t);
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
	fdpoll_free(t->poll);
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
