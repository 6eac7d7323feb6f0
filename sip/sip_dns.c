/* sip: RFC 3263 server location — NAPTR, SRV and A/AAAA through c-ares on the GLib loop. */
#include <ares.h>
#include <arpa/inet.h>
#include <errno.h>
#include <glib-unix.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip.h"

/* RR types and class (ares_nameser.h spells them differently across versions) */
#define RR_A     1
#define RR_AAAA  28
#define RR_SRV   33
#define RR_NAPTR 35
#define CLASS_IN 1

#define MAX_NAME      253 /* presentation form of a domain name, no trailing dot */
#define MAX_HOST_ADDR 16  /* A or AAAA records taken from one answer */
#define MAX_SVC       SIP_RESOLVE_MAX_NAPTR

static const char *const log_module = "dns";

/*
 * A request walks NAPTR → SRV → ADDR → DONE; any stage may be skipped (§4: an IP literal
 * goes straight to DONE, an explicit port to ADDR, transport= to SRV).
 */
enum state { ST_NAPTR, ST_SRV, ST_ADDR, ST_DONE };

static const char *state_name(enum state s)
{
	static const char *const names[] = {"naptr", "srv", "addr", "done"};
	return names[s];
}

struct sip_resolve_req;
static void set_state(struct sip_resolve_req *q, enum state s);

enum { MQ_NAPTR, MQ_SRV, MQ_A, MQ_AAAA, MQ_N };

struct sip_resolver {
	ares_channel ch;
	GMainContext *ctx;
	GHashTable *watches; /* fd -> GSource * (g_unix_fd_source), owned */
	GSource *timer;      /* next c-ares timeout, NULL when nothing is in flight */
	GQueue reqs;         /* struct sip_resolve_req * not yet delivered nor cancelled */
	GRand *rng;          /* RFC 2782 weighted selection */
	unsigned deadline_ms;
	bool prefer_ipv6;
	bool closing;
	struct metric *m_queries[MQ_N];
	struct metric *m_resolutions, *m_fail_timeout, *m_fail_nxdomain, *m_fail_other;
};

/* One host whose addresses are wanted: an SRV target, or the name itself (§4.2 fallback). */
struct hop {
	char *name;
	uint16_t port;
	enum sip_transport_type transport;
	GArray *addr[2]; /* struct sip_target: [0] A answers, [1] AAAA answers */
};

/* One SRV owner name to query: from a NAPTR replacement or a default service. */
struct svc {
	char *name;
	enum sip_transport_type transport;
	GPtrArray *hops; /* struct hop *, RFC 2782 order */
};

struct sip_resolve_req {
	struct sip_resolver *r;
	GList link; /* in r->reqs while live */
	enum state state;
	unsigned refs;    /* 1 held until delivery or cancel, + 1 per query in flight */
	unsigned pending; /* queries of the current stage not yet answered */
	bool delivering;
	sip_resolve_fn *fn; /* NULL once cancelled */
	void *arg;
	char *host;    /* NUL-terminated copy, brackets removed */
	uint16_t port; /* 0 = none in the URI */
	int transport; /* enum sip_transport_type, -1 = no transport= parameter */
	bool sips;
	int err; /* most telling error met so far, 0 = none */
	struct svc svc[MAX_SVC];
	unsigned nsvc;
	GPtrArray *hops;  /* struct hop *, in the order to try */
	GArray *targets;  /* struct sip_target: the result */
	GSource *deliver; /* idle source that runs the callback */
	GSource *deadline;
};

/* What an answer callback needs: c-ares keeps only one pointer. */
struct query {
	struct sip_resolve_req *q;
	int type;
	unsigned slot; /* svc index (SRV) or hop index (A/AAAA) */
};

/* ---- small helpers ---- */

const char *sip_transport_type_name(enum sip_transport_type t)
{
	switch (t) {
	case SIP_TRANSPORT_UDP:
		return "UDP";
	case SIP_TRANSPORT_TCP:
		return "TCP";
	case SIP_TRANSPORT_TLS:
		return "TLS";
	}
	return "?";
}

int sip_target_to_src(const struct sip_target *t, struct sip_src *out)
{
	if (!t || !out)
		return EINVAL;
	memset(out, 0, sizeof(*out));
	out->proto = t->transport == SIP_TRANSPORT_TLS   ? SIP_PROTO_TLS
		     : t->transport == SIP_TRANSPORT_TCP ? SIP_PROTO_TCP
							 : SIP_PROTO_UDP;
	out->addr = t->addr;
	out->addr_len = t->addr_len;
	g_strlcpy(out->ip, t->ip, sizeof(out->ip));
	out->port = t->port;
	return 0;
}

static uint16_t default_port(enum sip_transport_type t)
{
	return t == SIP_TRANSPORT_TLS ? 5061 : 5060; /* RFC 3261 §19.1.2 */
}

/* c-ares status → errno; 0 for "no such records", which is an answer, not a failure. */
static int map_status(int status)
{
	switch (status) {
	case ARES_SUCCESS:
	case ARES_ENODATA:
	case ARES_ENOTFOUND:
		return 0;
	case ARES_ETIMEOUT:
		return ETIMEDOUT;
	case ARES_ECONNREFUSED:
		return ECONNREFUSED;
	case ARES_ENOMEM:
		return ENOMEM;
	case ARES_EBADRESP:
		return EBADMSG;
	case ARES_EDESTRUCTION:
	case ARES_ECANCELLED:
		return ECANCELED;
	default: /* SERVFAIL, REFUSED, FORMERR, NOTIMP, ... */
		return EIO;
	}
}

/* Keeps the error that explains the outcome best: a timeout beats anything else. */
static void note_err(struct sip_resolve_req *q, int err)
{
	if (err && (!q->err || err == ETIMEDOUT))
		q->err = err;
}

static void hop_free(gpointer p)
{
	struct hop *h = p;
	g_free(h->name);
	g_array_unref(h->addr[0]);
	g_array_unref(h->addr[1]);
	g_free(h);
}

static struct hop *hop_new(const char *name, uint16_t port, enum sip_transport_type t)
{
	struct hop *h = g_new0(struct hop, 1);
	h->name = g_strdup(name);
	h->port = port;
	h->transport = t;
	h->addr[0] = g_array_new(FALSE, TRUE, sizeof(struct sip_target));
	h->addr[1] = g_array_new(FALSE, TRUE, sizeof(struct sip_target));
	return h;
}

static void make_target(struct sip_target *t, enum sip_transport_type tp, int family, const void *a,
                        uint16_t port)
{
	memset(t, 0, sizeof(*t));
	t->transport = tp;
	t->port = port;
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&t->addr;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		memcpy(&sin->sin_addr, a, sizeof(sin->sin_addr));
		t->addr_len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&t->addr;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		memcpy(&sin6->sin6_addr, a, sizeof(sin6->sin6_addr));
		t->addr_len = sizeof(*sin6);
	}
	inet_ntop(family, a, t->ip, sizeof(t->ip));
}

static bool same_target(const struct sip_target *a, const struct sip_target *b)
{
	return a->transport == b->transport && a->port == b->port && strcmp(a->ip, b->ip) == 0;
}

static void add_target(struct sip_resolve_req *q, const struct sip_target *t)
{
	if (q->targets->len >= SIP_RESOLVE_MAX_TARGETS)
		return;
	for (guint i = 0; i < q->targets->len; i++)
		if (same_target(&g_array_index(q->targets, struct sip_target, i), t))
			return;
	g_array_append_vals(q->targets, t, 1);
}

/* ---- request lifetime ---- */

/* Every state change goes through here (and the debug log). */
static void set_state(struct sip_resolve_req *q, enum state s)
{
	if (q->state == s)
		return;
	struct log_ctx ctx = {.leg = "dns", .peer = q->host};
	LOGD(log_module, &ctx, "%s -> %s%s%s", state_name(q->state), state_name(s),
	     s == ST_DONE && q->err ? ": " : "", s == ST_DONE && q->err ? g_strerror(q->err) : "");
	q->state = s;
}

static void drop_source(GSource **s)
{
	if (*s) {
		g_source_destroy(*s);
		g_source_unref(*s);
		*s = NULL;
	}
}

static void req_unref(struct sip_resolve_req *q)
{
	if (--q->refs)
		return;
	for (unsigned i = 0; i < q->nsvc; i++) {
		g_free(q->svc[i].name);
		if (q->svc[i].hops)
			g_ptr_array_unref(q->svc[i].hops);
	}
	if (q->hops)
		g_ptr_array_unref(q->hops);
	g_array_unref(q->targets);
	g_free(q->host);
	g_free(q);
}

/* Leaves r->reqs and stops both timers; the caller drops the owner's reference. */
static void req_detach(struct sip_resolve_req *q)
{
	if (q->link.data) {
		g_queue_unlink(&q->r->reqs, &q->link);
		q->link.data = NULL;
	}
	drop_source(&q->deliver);
	drop_source(&q->deadline);
	set_state(q, ST_DONE);
}

static void count_result(struct sip_resolver *r, int err)
{
	metric_add(r->m_resolutions, 1);
	if (err == ETIMEDOUT)
		metric_add(r->m_fail_timeout, 1);
	else if (err == ENOENT)
		metric_add(r->m_fail_nxdomain, 1);
	else if (err)
		metric_add(r->m_fail_other, 1);
}

static gboolean on_deliver(gpointer data)
{
	struct sip_resolve_req *q = data;
	struct sip_resolver *r = q->r;
	g_source_unref(q->deliver);
	q->deliver = NULL;
	req_detach(q);
	int err = q->targets->len ? 0 : (q->err ? q->err : ENOENT);
	count_result(r, err);
	LOGD(log_module, NULL, "%s: %u target(s), %s", q->host, q->targets->len,
	     err ? g_strerror(err) : "ok");
	q->delivering = true;
	/* r may be freed by the callback: touch only q afterwards */
	q->fn(err, err ? NULL : (const struct sip_target *)(void *)q->targets->data,
	      err ? 0 : q->targets->len, q->arg);
	req_unref(q);
	return G_SOURCE_REMOVE;
}

/* Ends the resolution: the callback runs from the loop, never from the caller's stack. */
static void finish(struct sip_resolve_req *q, int err)
{
	if (q->state == ST_DONE)
		return;
	note_err(q, err);
	set_state(q, ST_DONE);
	drop_source(&q->deadline);
	q->deliver = g_idle_source_new();
	g_source_set_priority(q->deliver, G_PRIORITY_DEFAULT); /* not starved by busy I/O */
	g_source_set_callback(q->deliver, on_deliver, q, NULL);
	g_source_attach(q->deliver, q->r->ctx);
}

/* ---- c-ares on the GLib loop ---- */

static void rearm_timer(struct sip_resolver *r);

static gboolean on_fd(gint fd, GIOCondition cond, gpointer data)
{
	struct sip_resolver *r = data;
	ares_socket_t rfd = (cond & (G_IO_IN | G_IO_HUP | G_IO_ERR)) ? fd : ARES_SOCKET_BAD;
	ares_socket_t wfd = (cond & G_IO_OUT) ? fd : ARES_SOCKET_BAD;
	ares_process_fd(r->ch, rfd, wfd);
	rearm_timer(r);
	return G_SOURCE_CONTINUE; /* sock_state_cb removes the watch when c-ares is done */
}

static gboolean on_timer(gpointer data)
{
	struct sip_resolver *r = data;
	g_source_unref(r->timer);
	r->timer = NULL;
	ares_process_fd(r->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	rearm_timer(r);
	return G_SOURCE_REMOVE;
}

static void rearm_timer(struct sip_resolver *r)
{
	struct timeval tv;
	drop_source(&r->timer);
	if (r->closing || !ares_timeout(r->ch, NULL, &tv))
		return;
	guint ms = (guint)tv.tv_sec * 1000u + (guint)(tv.tv_usec + 999) / 1000u;
	r->timer = g_timeout_source_new(ms ? ms : 1);
	g_source_set_callback(r->timer, on_timer, r, NULL);
	g_source_attach(r->timer, r->ctx);
}

/* c-ares tells which sockets it wants watched; one GLib fd source per socket. */
static void on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct sip_resolver *r = data;
	g_hash_table_remove(r->watches, GINT_TO_POINTER(fd));
	if (!readable && !writable)
		return;
	GIOCondition cond = (readable ? G_IO_IN : 0) | (writable ? G_IO_OUT : 0);
	GSource *s = core_source_unblocked(g_unix_fd_source_new(fd, cond | G_IO_HUP | G_IO_ERR));
	g_source_set_callback(s, (GSourceFunc)(void (*)(void))on_fd, r, NULL);
	g_source_attach(s, r->ctx);
	g_hash_table_insert(r->watches, GINT_TO_POINTER(fd), s);
}

static void watch_free(gpointer p)
{
	GSource *s = p;
	g_source_destroy(s);
	g_source_unref(s);
}

/* ---- stages ---- */

static void on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen);
static void stage_done(struct sip_resolve_req *q);

static void send_query(struct sip_resolve_req *q, const char *name, int type, unsigned slot)
{
	struct sip_resolver *r = q->r;
	struct query *qc = g_new(struct query, 1);
	*qc = (struct query){q, type, slot};
	q->refs++;
	q->pending++;
	unsigned m = type == RR_NAPTR ? MQ_NAPTR
	             : type == RR_SRV ? MQ_SRV
	             : type == RR_A   ? MQ_A
	                              : MQ_AAAA;
	metric_add(r->m_queries[m], 1);
	LOGD(log_module, NULL, "query %s type %d", name, type);
	ares_query(r->ch, name, CLASS_IN, type, on_answer, qc); /* may answer at once */
}

/* A stage sends its queries between begin() and end() so that an answer arriving while
 * the stage is still sending cannot complete it early. */
static void stage_begin(struct sip_resolve_req *q, enum state s)
{
	set_state(q, s);
	q->pending++;
}

static void stage_end(struct sip_resolve_req *q)
{
	if (--q->pending == 0 && q->state != ST_DONE)
		stage_done(q);
}

static void start_addr(struct sip_resolve_req *q)
{
	stage_begin(q, ST_ADDR);
	for (guint i = 0; i < q->hops->len; i++) {
		const struct hop *h = q->hops->pdata[i];
		send_query(q, h->name, RR_A, i);
		send_query(q, h->name, RR_AAAA, i);
	}
	stage_end(q);
}

static void start_srv(struct sip_resolve_req *q)
{
	stage_begin(q, ST_SRV);
	for (unsigned i = 0; i < q->nsvc; i++)
		send_query(q, q->svc[i].name, RR_SRV, i);
	stage_end(q);
}

static void add_svc(struct sip_resolve_req *q, const char *name, enum sip_transport_type t)
{
	if (q->nsvc >= MAX_SVC || strlen(name) > MAX_NAME)
		return;
	for (unsigned i = 0; i < q->nsvc; i++)
		if (q->svc[i].transport == t && g_ascii_strcasecmp(q->svc[i].name, name) == 0)
			return;
	q->svc[q->nsvc].name = g_strdup(name);
	q->svc[q->nsvc].transport = t;
	q->nsvc++;
}

/* §4.1: without NAPTR, the SRV names of the transports we support (sips: TLS only). */
static void add_default_svcs(struct sip_resolve_req *q)
{
	static const struct {
		const char *prefix;
		enum sip_transport_type t;
	} def[] = {
	        {"_sip._udp.", SIP_TRANSPORT_UDP},
	        {"_sip._tcp.", SIP_TRANSPORT_TCP},
	        {"_sips._tcp.", SIP_TRANSPORT_TLS},
	};
	for (size_t i = 0; i < G_N_ELEMENTS(def); i++) {
		if (q->transport >= 0 && (int)def[i].t != q->transport)
			continue;
		if (q->sips && def[i].t != SIP_TRANSPORT_TLS)
			continue;
		char *name = g_strconcat(def[i].prefix, q->host, NULL);
		add_svc(q, name, def[i].t);
		g_free(name);
	}
}

/* §4.2 last resort: the host itself with the default port of the chosen transport. */
static void add_host_hop(struct sip_resolve_req *q)
{
	enum sip_transport_type t = q->transport >= 0 ? (enum sip_transport_type)q->transport
	                            : q->sips         ? SIP_TRANSPORT_TLS
	                                              : SIP_TRANSPORT_UDP;
	g_ptr_array_add(q->hops, hop_new(q->host, q->port ? q->port : default_port(t), t));
}

/* ---- NAPTR (RFC 3263 §4.1, RFC 3403) ---- */

struct naptr_pick {
	const struct ares_naptr_reply *rr;
	enum sip_transport_type t;
	unsigned idx;
};

static int naptr_cmp(const void *a, const void *b)
{
	const struct naptr_pick *x = a, *y = b;
	if (x->rr->order != y->rr->order)
		return x->rr->order < y->rr->order ? -1 : 1;
	if (x->rr->preference != y->rr->preference)
		return x->rr->preference < y->rr->preference ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static bool naptr_service(const struct sip_resolve_req *q, const char *svc,
                          enum sip_transport_type *t)
{
	if (g_ascii_strcasecmp(svc, "SIPS+D2T") == 0)
		*t = SIP_TRANSPORT_TLS;
	else if (q->sips) /* a SIPS URI needs TLS (RFC 3263 §4.1) */
		return false;
	else if (g_ascii_strcasecmp(svc, "SIP+D2U") == 0)
		*t = SIP_TRANSPORT_UDP;
	else if (g_ascii_strcasecmp(svc, "SIP+D2T") == 0)
		*t = SIP_TRANSPORT_TCP;
	else
		return false;
	return true;
}

static void got_naptr(struct sip_resolve_req *q, int status, const unsigned char *abuf, int alen)
{
	if (status == ARES_ENOTFOUND) { /* NXDOMAIN: nothing below the name exists either */
		finish(q, ENOENT);
		return;
	}
	int err = map_status(status);
	if (err == ETIMEDOUT || err == ENOMEM) {
		finish(q, err); /* the next stages would only wait for the same servers again */
		return;
	}
	/* other errors are not fatal: some servers fail NAPTR only (c-ares 1.18 reports a
	 * SERVFAIL from every server as ECONNREFUSED), and SRV or A may still work */
	note_err(q, err);
	struct ares_naptr_reply *list = NULL;
	if (status == ARES_SUCCESS && ares_parse_naptr_reply(abuf, alen, &list) == ARES_SUCCESS) {
		struct naptr_pick pick[32];
		unsigned n = 0;
		for (const struct ares_naptr_reply *rr = list; rr && n < G_N_ELEMENTS(pick);
		     rr = rr->next) {
			enum sip_transport_type t;
			/* only "S" records (the replacement names an SRV owner) are followed */
			if (!rr->flags || !rr->service ||
			    g_ascii_strcasecmp((const char *)rr->flags, "s") != 0 ||
			    !naptr_service(q, (const char *)rr->service, &t) || !rr->replacement ||
			    !rr->replacement[0] || strcmp(rr->replacement, ".") == 0)
				continue;
			pick[n] = (struct naptr_pick){rr, t, n};
			n++;
		}
		qsort(pick, n, sizeof(pick[0]), naptr_cmp);
		for (unsigned i = 0; i < n; i++)
			add_svc(q, pick[i].rr->replacement, pick[i].t);
		ares_free_data(list);
	}
	if (q->nsvc == 0)
		add_default_svcs(q);
}

/* ---- SRV (RFC 2782) ---- */

struct srv_pick {
	const struct ares_srv_reply *rr;
	unsigned idx;
};

static int srv_cmp(const void *a, const void *b)
{
	const struct srv_pick *x = a, *y = b;
	if (x->rr->priority != y->rr->priority)
		return x->rr->priority < y->rr->priority ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/*
 * RFC 2782: lowest priority first; within a priority, repeatedly pick a record with
 * probability proportional to its weight (weight 0 records first in the running sum, so
 * they are chosen only when the draw is 0 or nothing else is left).
 */
static void srv_order(GRand *rng, struct srv_pick *v, unsigned n)
{
	qsort(v, n, sizeof(v[0]), srv_cmp);
	for (unsigned i = 0; i < n;) {
		unsigned j = i;
		while (j < n && v[j].rr->priority == v[i].rr->priority)
			j++;
		for (unsigned k = i; k + 1 < j; k++) {
			guint32 sum = 0;
			for (unsigned m = k; m < j; m++)
				sum += v[m].rr->weight;
			guint32 draw = sum ? (guint32)g_rand_int_range(rng, 0, (gint32)sum + 1) : 0;
			guint32 run = 0;
			unsigned chosen = k;
			bool found = false;
			for (int zero = 1; zero >= 0 && !found; zero--) {
				for (unsigned m = k; m < j; m++) {
					if ((v[m].rr->weight == 0) != (zero == 1))
						continue;
					run += v[m].rr->weight;
					if (run >= draw) {
						chosen = m;
						found = true;
						break;
					}
				}
			}
			struct srv_pick tmp = v[k];
			v[k] = v[chosen];
			v[chosen] = tmp;
		}
		i = j;
	}
}

static void got_srv(struct sip_resolve_req *q, unsigned slot, int status, const unsigned char *abuf,
                    int alen)
{
	struct svc *s = &q->svc[slot];
	struct ares_srv_reply *list = NULL;
	note_err(q, map_status(status));
	if (status != ARES_SUCCESS || ares_parse_srv_reply(abuf, alen, &list) != ARES_SUCCESS)
		return;
	struct srv_pick pick[SIP_RESOLVE_MAX_SRV];
	unsigned n = 0;
	for (const struct ares_srv_reply *rr = list; rr && n < G_N_ELEMENTS(pick); rr = rr->next) {
		/* target "." means "not offered here" (RFC 2782) */
		if (!rr->host || !rr->host[0] || strcmp(rr->host, ".") == 0 || rr->port == 0 ||
		    strlen(rr->host) > MAX_NAME)
			continue;
		pick[n] = (struct srv_pick){rr, n};
		n++;
	}
	srv_order(q->r->rng, pick, n);
	s->hops = g_ptr_array_new_with_free_func(hop_free);
	for (unsigned i = 0; i < n; i++)
		g_ptr_array_add(s->hops, hop_new(pick[i].rr->host, pick[i].rr->port, s->transport));
	ares_free_data(list);
}

static bool hop_known(const GPtrArray *hops, const struct hop *h)
{
	for (guint i = 0; i < hops->len; i++) {
		const struct hop *o = hops->pdata[i];
		if (o->port == h->port && o->transport == h->transport &&
		    g_ascii_strcasecmp(o->name, h->name) == 0)
			return true;
	}
	return false;
}

/* All SRV answers are in: their targets, service by service, become the hops. */
static void srv_done(struct sip_resolve_req *q)
{
	for (unsigned i = 0; i < q->nsvc; i++) {
		GPtrArray *hs = q->svc[i].hops;
		for (guint k = 0; hs && k < hs->len && q->hops->len < SIP_RESOLVE_MAX_SRV; k++) {
			struct hop *h = hs->pdata[k];
			if (hop_known(q->hops, h))
				continue;
			g_ptr_array_add(q->hops, hop_new(h->name, h->port, h->transport));
		}
	}
	if (q->hops->len == 0) {
		if (q->err == ETIMEDOUT) {
			finish(q, q->err);
			return;
		}
		add_host_hop(q);
	}
	start_addr(q);
}

/* ---- A / AAAA ---- */

static void got_addr(struct sip_resolve_req *q, unsigned slot, int type, int status,
                     const unsigned char *abuf, int alen)
{
	struct hop *h = q->hops->pdata[slot];
	note_err(q, map_status(status));
	if (status != ARES_SUCCESS)
		return;
	struct sip_target t;
	int n = MAX_HOST_ADDR;
	if (type == RR_A) {
		struct ares_addrttl a[MAX_HOST_ADDR];
		if (ares_parse_a_reply(abuf, alen, NULL, a, &n) != ARES_SUCCESS)
			return;
		for (int i = 0; i < n; i++) {
			make_target(&t, h->transport, AF_INET, &a[i].ipaddr, h->port);
			g_array_append_vals(h->addr[0], &t, 1);
		}
	} else {
		struct ares_addr6ttl a6[MAX_HOST_ADDR];
		if (ares_parse_aaaa_reply(abuf, alen, NULL, a6, &n) != ARES_SUCCESS)
			return;
		for (int i = 0; i < n; i++) {
			make_target(&t, h->transport, AF_INET6, &a6[i].ip6addr, h->port);
			g_array_append_vals(h->addr[1], &t, 1);
		}
	}
}

/* Hop by hop, in order, both families of each (also used with partial answers). */
static void collect_targets(struct sip_resolve_req *q)
{
	unsigned first = q->r->prefer_ipv6 ? 1 : 0;
	g_array_set_size(q->targets, 0);
	for (guint i = 0; q->hops && i < q->hops->len; i++) {
		const struct hop *h = q->hops->pdata[i];
		for (unsigned f = 0; f < 2; f++) {
			const GArray *a = h->addr[f ^ first];
			for (guint k = 0; k < a->len; k++)
				add_target(q, &g_array_index(a, struct sip_target, k));
		}
	}
}

static void stage_done(struct sip_resolve_req *q)
{
	switch (q->state) {
	case ST_NAPTR:
		start_srv(q);
		break;
	case ST_SRV:
		srv_done(q);
		break;
	case ST_ADDR:
		collect_targets(q);
		finish(q, q->targets->len ? 0 : (q->err ? q->err : ENOENT));
		break;
	case ST_DONE:
		break;
	}
}

static void on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct query *qc = arg;
	struct sip_resolve_req *q = qc->q;
	(void)timeouts;
	if (q->state != ST_DONE && !q->r->closing && status != ARES_EDESTRUCTION) {
		LOGD(log_module, NULL, "%s: type %d answer: %s", q->host, qc->type,
		     ares_strerror(status));
		switch (qc->type) {
		case RR_NAPTR:
			got_naptr(q, status, abuf, alen);
			break;
		case RR_SRV:
			got_srv(q, qc->slot, status, abuf, alen);
			break;
		default:
			got_addr(q, qc->slot, qc->type, status, abuf, alen);
			break;
		}
		stage_end(q); /* a no-op once finished */
	}
	g_free(qc);
	req_unref(q);
}

static gboolean on_deadline(gpointer data)
{
	struct sip_resolve_req *q = data;
	g_source_unref(q->deadline);
	q->deadline = NULL;
	LOGI(log_module, NULL, "%s: no complete answer within %u ms (%s stage)", q->host,
	     q->r->deadline_ms, state_name(q->state));
	/* addresses already known are still worth trying */
	if (q->state == ST_ADDR)
		collect_targets(q);
	note_err(q, ETIMEDOUT);
	finish(q, q->targets->len ? 0 : ETIMEDOUT);
	return G_SOURCE_REMOVE;
}

/* ---- public API ---- */

int sip_resolver_new(const struct sip_resolver_config *cfg, struct sip_resolver **out)
{
	struct sip_resolver_config def = {0};
	if (!out)
		return EINVAL;
	if (!cfg)
		cfg = &def;
	unsigned timeout = cfg->timeout_ms ? cfg->timeout_ms : 2000;
	unsigned tries = cfg->tries ? cfg->tries : 2;
	int rc = ares_library_init(ARES_LIB_INIT_ALL);
	if (rc != ARES_SUCCESS) {
		LOGE(log_module, NULL, "c-ares library init: %s", ares_strerror(rc));
		return EIO;
	}
	struct sip_resolver *r = g_new0(struct sip_resolver, 1);
	r->ctx = g_main_context_ref_thread_default();
	r->watches = g_hash_table_new_full(NULL, NULL, NULL, watch_free);
	r->rng = g_rand_new();
	r->prefer_ipv6 = cfg->prefer_ipv6;
	r->deadline_ms = cfg->deadline_ms ? cfg->deadline_ms : 3 * timeout * tries;
	g_queue_init(&r->reqs);

	struct ares_options o = {0};
	o.flags = ARES_FLAG_NOSEARCH;
	o.timeout = (int)timeout;
	o.tries = (int)tries;
	o.sock_state_cb = on_sock_state;
	o.sock_state_cb_data = r;
	int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB;
	rc = ares_init_options(&r->ch, &o, mask);
	if (rc != ARES_SUCCESS) {
		LOGE(log_module, NULL, "c-ares init: %s", ares_strerror(rc));
		r->ch = NULL;
		sip_resolver_free(r);
		return rc == ARES_ENOMEM ? ENOMEM : EIO;
	}
	if (cfg->servers && cfg->servers[0]) {
		rc = ares_set_servers_ports_csv(r->ch, cfg->servers);
		if (rc != ARES_SUCCESS) {
			LOGE(log_module, NULL, "DNS servers \"%s\": %s", cfg->servers,
			     ares_strerror(rc));
			sip_resolver_free(r);
			return rc == ARES_ENOMEM ? ENOMEM : EINVAL;
		}
	}

	static const char *const types[MQ_N] = {"NAPTR", "SRV", "A", "AAAA"};
	struct metric_family *fq =
	        metrics_family("gorgee_sip_dns_queries_total",
	                       "DNS queries sent for RFC 3263 resolution, by type", METRIC_COUNTER);
	for (unsigned i = 0; i < MQ_N; i++) {
		char labels[32];
		snprintf(labels, sizeof(labels), "type=\"%s\"", types[i]);
		r->m_queries[i] = metrics_series(fq, labels);
	}
	r->m_resolutions = metrics_series(
	        metrics_family("gorgee_sip_dns_resolutions_total",
	                       "RFC 3263 resolutions completed (cancelled ones excluded)",
	                       METRIC_COUNTER),
	        "");
	struct metric_family *ff = metrics_family(
	        "gorgee_sip_dns_failures_total",
	        "RFC 3263 resolutions that found no target, by reason", METRIC_COUNTER);
	r->m_fail_timeout = metrics_series(ff, "reason=\"timeout\"");
	r->m_fail_nxdomain = metrics_series(ff, "reason=\"nxdomain\"");
	r->m_fail_other = metrics_series(ff, "reason=\"other\"");
	*out = r;
	return 0;
}

void sip_resolver_free(struct sip_resolver *r)
{
	if (!r)
		return;
	r->closing = true;
	struct sip_resolve_req *q;
	while ((q = g_queue_peek_head(&r->reqs))) {
		req_detach(q);
		q->fn = NULL;
		req_unref(q); /* queries in flight hold the rest, dropped by ares_destroy */
	}
	if (r->ch)
		ares_destroy(r->ch); /* answers every query with ARES_EDESTRUCTION */
	drop_source(&r->timer);
	g_hash_table_destroy(r->watches);
	g_rand_free(r->rng);
	g_main_context_unref(r->ctx);
	g_free(r);
	ares_library_cleanup();
}

static int parse_transport(struct slice s, bool sips, int *out)
{
	if (!s.p) {
		*out = -1;
		return 0;
	}
	if (slice_caseeqlit(s, "udp")) {
		if (sips)
			return EPROTONOSUPPORT; /* SIPS needs TLS (RFC 3261 §26.2.2) */
		*out = SIP_TRANSPORT_UDP;
	} else if (slice_caseeqlit(s, "tcp")) {
		*out = sips ? SIP_TRANSPORT_TLS : SIP_TRANSPORT_TCP;
	} else if (slice_caseeqlit(s, "tls")) {
		*out = SIP_TRANSPORT_TLS;
	} else {
		return EPROTONOSUPPORT;
	}
	return 0;
}

/* §4: an IP literal needs no DNS at all. */
static bool literal_target(struct sip_resolve_req *q)
{
	unsigned char buf[sizeof(struct in6_addr)];
	int family;
	if (inet_pton(AF_INET, q->host, buf) == 1)
		family = AF_INET;
	else if (inet_pton(AF_INET6, q->host, buf) == 1)
		family = AF_INET6;
	else
		return false;
	enum sip_transport_type t = q->transport >= 0 ? (enum sip_transport_type)q->transport
	                            : q->sips         ? SIP_TRANSPORT_TLS
	                                              : SIP_TRANSPORT_UDP;
	struct sip_target tg;
	make_target(&tg, t, family, buf, q->port ? q->port : default_port(t));
	add_target(q, &tg);
	return true;
}

int sip_resolve_host(struct sip_resolver *r, const struct sip_resolve_spec *spec,
                     sip_resolve_fn *fn, void *arg, struct sip_resolve_req **out)
{
	if (out)
		*out = NULL;
	if (!r || !spec || !fn || r->closing)
		return EINVAL;
	struct slice h = spec->host;
	if (h.len >= 2 && h.p[0] == '[' && h.p[h.len - 1] == ']') {
		h.p++;
		h.len -= 2;
	}
	while (h.p && h.len > 1 && h.p[h.len - 1] == '.') /* "example.com." is absolute anyway */
		h.len--;
	if (!h.p || h.len == 0 || h.len > MAX_NAME || memchr(h.p, '\0', h.len))
		return EINVAL;
	int transport;
	int err = parse_transport(spec->transport, spec->sips, &transport);
	if (err)
		return err;

	struct sip_resolve_req *q = g_new0(struct sip_resolve_req, 1);
	q->r = r;
	q->refs = 1;
	q->fn = fn;
	q->arg = arg;
	q->host = g_strndup(h.p, h.len);
	q->port = spec->port;
	q->transport = transport;
	q->sips = spec->sips;
	q->state = ST_NAPTR; /* initial state, before any transition */
	q->hops = g_ptr_array_new_with_free_func(hop_free);
	q->targets = g_array_new(FALSE, TRUE, sizeof(struct sip_target));
	q->link.data = q;
	g_queue_push_tail_link(&r->reqs, &q->link);
	if (out)
		*out = q;

	if (r->deadline_ms) {
		q->deadline = g_timeout_source_new(r->deadline_ms);
		g_source_set_callback(q->deadline, on_deadline, q, NULL);
		g_source_attach(q->deadline, r->ctx);
	}
	if (literal_target(q)) {
		finish(q, 0);
	} else if (q->port) { /* §4.2: explicit port, A/AAAA only */
		add_host_hop(q);
		start_addr(q);
	} else if (q->transport >= 0) { /* §4.2: transport known, SRV for it */
		add_default_svcs(q);
		start_srv(q);
	} else {
		stage_begin(q, ST_NAPTR);
		send_query(q, q->host, RR_NAPTR, 0);
		stage_end(q);
	}
	rearm_timer(r);
	return 0;
}

int sip_resolve(struct sip_resolver *r, const struct sip_uri *uri, sip_resolve_fn *fn, void *arg,
                struct sip_resolve_req **out)
{
	if (out)
		*out = NULL;
	if (!uri || (uri->scheme != SIP_SCHEME_SIP && uri->scheme != SIP_SCHEME_SIPS))
		return EINVAL;
	struct sip_resolve_spec spec = {
	        .host = uri->host,
	        .port = uri->has_port ? uri->port : 0,
	        .sips = uri->scheme == SIP_SCHEME_SIPS,
	};
	/* §4.1: maddr, when present, is the target instead of the host */
	const struct sip_param *p = sip_params_find(&uri->params, "maddr");
	if (p && p->value.p && p->value.len)
		spec.host = p->value;
	p = sip_params_find(&uri->params, "transport");
	if (p)
		spec.transport = p->value.p ? p->value : (struct slice){"", 0};
	return sip_resolve_host(r, &spec, fn, arg, out);
}

void sip_resolve_cancel(struct sip_resolve_req *q)
{
	if (!q || q->delivering || !q->fn)
		return;
	LOGD(log_module, NULL, "%s: cancelled in %s stage", q->host, state_name(q->state));
	req_detach(q);
	q->fn = NULL;
	req_unref(q);
}

void sip_resolver_dump(const struct sip_resolver *r, GString *out)
{
	g_string_append_printf(out, "resolver: %u resolution(s) in flight, %u socket(s)\n",
	                       r->reqs.length, g_hash_table_size(r->watches));
	for (const GList *l = r->reqs.head; l; l = l->next) {
		const struct sip_resolve_req *q = l->data;
		g_string_append_printf(out, "  %s%s port %u: %s, %u quer%s pending, %u target(s)\n",
		                       q->sips ? "sips:" : "sip:", q->host, q->port,
		                       state_name(q->state), q->pending,
		                       q->pending == 1 ? "y" : "ies", q->targets->len);
	}
}
