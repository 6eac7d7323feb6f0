/* sip: what the transport's two files share. sip_transport.c: UDP, delivery to the stack,
 * sending, listeners and setup; sip_transport_tcp.c: TCP and TLS connections. */
#ifndef GORGEE_SIP_TRANSPORT_PRIV_H
#define GORGEE_SIP_TRANSPORT_PRIV_H

#include <openssl/ssl.h>
#include <sys/socket.h>

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
	struct fdwatch *w; /* in t->poll: G_IO_IN once connected, G_IO_OUT while bytes wait */
	guint hdr_timer;
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
	struct fdpoll *poll;    /* the connections' descriptors: one GSource for all of them */
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
	gint64 udp_fail_said_us; /* the last warning about refused responses */
	unsigned udp_fail_quiet; /* refused since */
	struct sip_msg *msg;    /* one parse at a time on this thread: reused */
	struct metric_family *m_in, *m_bad, *m_drop;
	struct metric *m_in_known[2][SIP_METHOD_UPDATE + 1]; /* [request][method]: found once */
	struct metric *m_tcp;
};

/* ---- sip_transport.c ---- */

void tp_addr_text(const struct sockaddr_storage *ss, char *ip, size_t iplen, uint16_t *port);
void tp_fill_src(struct sip_src *src, enum sip_proto proto, const struct sockaddr_storage *ss,
		 socklen_t sl);
void tp_hostport(char *out, size_t n, const char *ip, uint16_t port);
/* one increment of a labelled counter: fmt takes a and b */
void tp_count(struct metric_family *f, const char *fmt, const char *a, const char *b);
void tp_trace(struct sip_transport *t, enum sip_proto proto, const char *from, const char *to,
	      const char *data, size_t len);
/* Parses and hands one message to the stack. false: the stream must close. */
bool tp_deliver(struct sip_transport *t, const char *data, size_t len, enum sip_mode mode,
		struct sip_src *src, const char *from, const char *local, size_t *used);

/* ---- sip_transport_tcp.c ---- */

/* RFC 5923: a request's ;alias on the connection it came on */
void tp_note_alias(struct sip_transport *t, const struct sip_src *src, const struct sip_msg *m);
gboolean tp_on_accept(gint fd, GIOCondition cond, gpointer data); /* a stream listener */
gboolean tp_idle_sweep(gpointer data);
void tp_conn_free(gpointer p); /* t->conns' value destructor */
int tp_tls_setup(struct sip_transport *t, const struct sip_transport_config *cfg);
int tp_tls_client_setup(struct sip_transport *t, const struct sip_transport_config *cfg);
/* sip_transport_send for TCP and TLS: the named connection, or one found or opened */
int tp_stream_send(struct sip_transport *t, const struct sip_src *dst, const char *data,
		   size_t len);

#endif
