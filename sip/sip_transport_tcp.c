/* SIP over TCP and TLS (RFC 3261 §18, RFC 5923 connection reuse, RFC 5922 peer identity,
 * RFC 5626 §4.4.1 CRLF keep-alive): accepted and outbound connections in one epoll set
 * (core/fdpoll.c), stream framing, caps and timeouts before parsing, the TLS contexts. */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <string.h>
#include <unistd.h>

#include "sip.h"
#include "sip_transport_priv.h"

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
			t->closed_idle = core_defer(report_closed, t);
	}
	g_hash_table_remove(t->conns, &c->id); /* frees c */
}

static void unmap(struct sip_transport *t, const char *key, struct tconn *c)
{
	if (key && g_hash_table_lookup(t->by_addr, key) == c)
		g_hash_table_remove(t->by_addr, key);
}

void tp_conn_free(gpointer p)
{
	struct tconn *c = p;
	struct sip_transport *t = c->t;
	fdwatch_free(c->w);
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
		tp_count(c->t->m_drop, "reason=\"%s\"%s", "connect_timeout", "");
		LOGW(log_module, &(struct log_ctx){.peer = c->peer}, "%s connection to %s timed out",
		     sip_proto_name(c->src.proto), c->peer);
		conn_close(c, "connect timed out");
		return G_SOURCE_REMOVE;
	}
	tp_count(c->t->m_drop, "reason=\"%s\"%s", "tcp_header_timeout", "");
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

/* Writability is watched only while bytes wait, else a writable socket wakes the loop. */
static void want_out(struct tconn *c, bool on)
{
	GIOCondition i = fdwatch_interest(c->w);
	fdwatch_set(c->w, on ? i | G_IO_OUT : i & ~G_IO_OUT);
}

/* Writable: what waits goes out. */
static void tcp_flush(struct tconn *c)
{
	ssize_t w = conn_write(c, c->out->str, c->out->len);
	if (w < 0) {
		conn_close(c, "write failed");
		return;
	}
	if (w > 0)
		g_string_erase(c->out, 0, w);
	if (!c->out->len)
		want_out(c, false);
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
		tp_count(c->t->m_drop, "reason=\"%s\"%s", "tcp_pending_cap", "");
		return ENOBUFS; /* the caller closes: a peer that does not read */
	}
	g_string_append_len(c->out, data, (gssize)len);
	/* Not before the connection is ready: a writable socket would wake the loop for
	 * nothing; the connect and handshake code start the flush. */
	if (conn_ready(c))
		want_out(c, true);
	return 0;
}

/* RFC 5923 §5: a request whose top Via carries ;alias lets us send requests for its
 * sent-by over this connection. Only when sent-by names the very address the connection
 * comes from, so a peer cannot capture traffic meant for another host. */
void tp_note_alias(struct sip_transport *t, const struct sip_src *src, const struct sip_msg *m)
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
		if (!tp_deliver(t, c->buf + off, c->len - off, SIP_MODE_STREAM, &c->src, c->peer,
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
		tp_count(t->m_drop, "reason=\"%s\"%s", "tls_verify_failed", "");
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
	if (c->out->len) /* anything queued meanwhile */
		want_out(c, true);
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

/* Readable (or an error or hang-up): reads, then frames what came. false: c is gone. */
static bool tcp_readable(struct tconn *c)
{
	if (!c->buf)
		c->buf = g_malloc(SIP_MAX_MSG + 1);
	size_t room = SIP_MAX_MSG + 1 - c->len;
	if (room == 0) {
		tp_count(c->t->m_drop, "reason=\"%s\"%s", "tcp_message_too_large", "");
		conn_close(c, "message larger than the cap");
		return false;
	}
	ssize_t n;
	if (c->ssl) {
		int rc = tls_read(c, room, &n);
		if (rc > 0)
			return true; /* handshake going on, or nothing decrypted yet */
		if (rc < 0) {
			conn_close(c, c->handshaken ? "TLS error or peer closed" : "TLS handshake failed");
			return false;
		}
	} else {
		n = recv(c->fd, c->buf + c->len, MIN(room, TCP_READ_CHUNK), 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
			conn_close(c, n == 0 ? "peer closed" : g_strerror(errno));
			return false;
		}
		if (n < 0)
			return true;
	}
	c->len += (size_t)n;
	c->last_io_us = g_get_monotonic_time();
	struct sip_transport *t = c->t;
	uint64_t id = c->id;
	return tcp_process(c) || g_hash_table_contains(t->conns, &id);
}

static void on_connected(struct tconn *c);

static void on_conn_io(struct fdwatch *w, int fd, GIOCondition cond, void *data)
{
	struct tconn *c = data;
	(void)w;
	(void)fd;
	if (c->connecting) {
		on_connected(c);
		return;
	}
	if ((cond & (G_IO_IN | G_IO_HUP | G_IO_ERR)) && !tcp_readable(c))
		return;
	if (cond & G_IO_OUT)
		tcp_flush(c);
}

/* NULL (errno set) when the descriptor cannot be watched: epoll's max_user_watches. */
static struct tconn *conn_new(struct sip_transport *t, int fd, const struct sip_src *src,
			      const char *local)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct tconn *c = g_new0(struct tconn, 1);
	c->w = fdwatch_new(t->poll, fd, 0, on_conn_io, c);
	if (!c->w) {
		g_free(c);
		return NULL;
	}
	c->t = t;
	c->id = ++t->next_id;
	c->fd = fd;
	c->src = *src;
	c->src.conn_id = c->id;
	tp_hostport(c->peer, sizeof(c->peer), src->ip, src->port);
	g_strlcpy(c->local, local, sizeof(c->local));
	c->out = g_string_new(NULL);
	c->last_io_us = g_get_monotonic_time();
	c->key = addr_key(src->proto, src->ip, src->port);
	g_hash_table_insert(t->conns, &c->id, c);
	g_hash_table_replace(t->by_addr, g_strdup(c->key), c);
	metric_add(t->m_tcp, 1);
	return c;
}

gboolean tp_on_accept(gint fd, GIOCondition cond, gpointer data)
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
		tp_fill_src(&src, l->proto, &ss, sl);
		if (t->accept_fn && !t->accept_fn(src.ip, t->accept_arg)) {
			tp_count(t->m_drop, "reason=\"%s\"%s", "banned", ""); /* SEC-07 */
			close(cfd);
			continue;
		}
		unsigned n = GPOINTER_TO_UINT(g_hash_table_lookup(t->per_ip, src.ip));
		if (n >= t->cfg.max_conns_per_ip) {
			/* BI-18: per-IP cap, no state kept for the refused one. */
			tp_count(t->m_drop, "reason=\"%s\"%s", "tcp_per_ip_cap", "");
			close(cfd);
			continue;
		}
		struct tconn *c = conn_new(t, cfd, &src, l->local);
		if (!c) {
			tp_count(t->m_drop, "reason=\"%s\"%s", "tcp_no_watch", "");
			LOGW(log_module, NULL, "cannot watch a new %s connection: %s",
			     sip_proto_name(l->proto), g_strerror(errno));
			close(cfd);
			continue;
		}
		g_hash_table_insert(t->per_ip, g_strdup(src.ip), GUINT_TO_POINTER(n + 1));
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
		fdwatch_set(c->w, G_IO_IN);
		LOGD(log_module, &(struct log_ctx){.peer = c->peer}, "%s connected", sip_proto_name(l->proto));
	}
	return G_SOURCE_CONTINUE;
}

/* Outbound: connect() finished (or failed). TCP is ready; TLS starts its handshake. */
static void on_connected(struct tconn *c)
{
	int fd = c->fd;
	int err = 0;
	socklen_t el = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
		err = errno;
	if (err) {
		tp_count(c->t->m_drop, "reason=\"%s\"%s", "connect_failed", "");
		LOGW(log_module, &(struct log_ctx){.peer = c->peer}, "%s connection to %s failed: %s",
		     sip_proto_name(c->src.proto), c->peer, g_strerror(err));
		conn_close(c, "connect failed");
		return;
	}
	c->connecting = false;
	c->last_io_us = g_get_monotonic_time();
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
		char ip[48];
		uint16_t port;
		tp_addr_text(&ss, ip, sizeof(ip), &port);
		tp_hostport(c->local, sizeof(c->local), ip, port);
	}
	fdwatch_set(c->w, G_IO_IN);
	if (c->ssl) {
		if (tls_handshake(c) < 0) /* sends the ClientHello; the rest comes on G_IO_IN */
			conn_close(c, "TLS handshake failed");
		return;
	}
	if (c->hdr_timer) {
		g_source_remove(c->hdr_timer);
		c->hdr_timer = 0;
	}
	LOGD(log_module, &(struct log_ctx){.peer = c->peer}, "tcp connected to %s", c->peer);
	if (c->out->len)
		want_out(c, true);
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
	tp_fill_src(&src, dst->proto, &dst->addr, dst->addr_len);
	struct tconn *c = conn_new(t, fd, &src, "?");
	if (!c) {
		int err = errno;
		close(fd);
		return err;
	}
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
	fdwatch_set(c->w, G_IO_OUT); /* connect() finished, or failed */
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
	tp_addr_text(&dst->addr, ip, sizeof(ip), &port);
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

gboolean tp_idle_sweep(gpointer data)
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


static int load_cas(struct sip_transport *t, SSL_CTX *ctx);

/* The server TLS context: TLS 1.2 or newer, the configured certificate and key. */
int tp_tls_setup(struct sip_transport *t, const struct sip_transport_config *cfg)
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
int tp_tls_client_setup(struct sip_transport *t, const struct sip_transport_config *cfg)
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

/* ---- sending ---- */

int tp_stream_send(struct sip_transport *t, const struct sip_src *dst, const char *data,
		   size_t len)
{
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
	tp_trace(t, c->src.proto, c->local, c->peer, data, len);
	int rc = tcp_write(c, data, len);
	if (rc)
		conn_close(c, rc == ENOBUFS ? "peer does not read (pending cap)" : "write failed");
	return rc;
}
