/* Transactions (RFC 3261 §17, with the RFC 6026 Accepted states): matching, retransmission,
 * Timers A-M on the wheel. Server transactions keep the raw request and re-parse it when
 * answering, so a live transaction costs a few hundred bytes, not a parsed message; a
 * completed non-INVITE one shrinks to a Timer J record (key, address, response bytes). */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "sip-private.h"

static const char *const log_module = "sip";

enum tkind { IST, NIST, ICT, NICT };
enum tstate { T_CALLING, T_TRYING, T_PROCEEDING, T_COMPLETED, T_CONFIRMED, T_ACCEPTED };

static const char *const kind_names[] = {"ist", "nist", "ict", "nict"};
static const char *const state_names[] = {"calling", "trying",    "proceeding",
					  "completed", "confirmed", "accepted"};

struct sip_strans {
	struct sip_stack *s;
	enum tkind kind;
	enum tstate state;
	char *key;           /* in data[] */
	const char *req;     /* the request as received, in data[] after the key */
	size_t req_len;
	struct sip_src src;  /* where it came from */
	struct sip_src dst;  /* where responses go (RFC 3581 routing, computed once) */
	GString *last;       /* last response sent, for retransmissions */
	bool has_dst;
	bool pending;        /* no final response yet (counted in the stack's pending) */
	bool acked;          /* Accepted: the ACK for our 2xx came */
	char *akey;          /* key in the stack's accepted table, while in it */
	struct sip_timer retx, end; /* G or 2xx retransmission / H, I, J, L (end) */
	unsigned interval;
	sip_strans_fn *owner_fn; /* the TU that answers it (INVITE): CANCEL, no ACK, end */
	void *owner_arg;
	bool pooled;         /* a STRANS_BLOCK from the stack's free list */
	char data[];         /* key, NUL, request: one allocation per transaction */
};

/* Server transactions that fit (nearly all: a request of a kilobyte or so) take a block of
 * this size from a free list instead of malloc; at most STRANS_POOL idle blocks are kept. */
#define STRANS_BLOCK 2048
#define STRANS_POOL 256

/*
 * A non-INVITE server transaction over UDP in Completed (§17.2.2) keeps only what Timer J
 * needs to absorb retransmissions of its request: the key, where the final response went,
 * and its bytes. The full transaction (request, timers, owner) ends when the final response
 * is sent, as it does over TCP where Timer J is 0. All records last 64*T1, so they expire in
 * the order they were made: a FIFO and one timer for its head, not a timer each.
 *
 * An INVITE server transaction in Accepted (RFC 6026 §8.7) whose 2xx was ACKed has nothing
 * left to do but absorb retransmissions of its INVITE until Timer L (64*T1): it becomes such
 * a record too, with no response (nothing is sent for them), when the ACK has been handled.
 * That frees the request and the 2xx (~3 KB) of every answered call 32 s early.
 */
struct jrec {
	GList link;          /* in sip_stack.jorder, oldest first */
	gint64 due_us;       /* monotonic time Timer J fires */
	union {
		struct sockaddr sa;
		struct sockaddr_in v4;
		struct sockaddr_in6 v6;
	} addr;
	socklen_t addr_len;
	int local_fd;
	uint32_t resp_len;   /* 0: an INVITE's record, which absorbs without answering */
	enum tkind kind;     /* NIST, or IST */
	char data[];         /* key, NUL, the final response */
};

struct sip_ctrans {
	struct sip_stack *s;
	enum tkind kind;
	enum tstate state;
	char *key;
	GString *req;        /* the request as sent */
	struct sip_src dst;
	struct sip_timer retx, end; /* A / E and B / F / D / K / M */
	unsigned interval;
	sip_response_fn *fn;
	void *arg;
	GString *ack;        /* ACK for a non-2xx final (ICT), resent on retransmissions */
};

struct sip_stack {
	struct sip_stack_config cfg;
	char *via_host;
	struct sip_transport *t;
	struct sip_wheel *wheel;
	GHashTable *server; /* key -> struct sip_strans * (owned) */
	GHashTable *client; /* key -> struct sip_ctrans * (owned) */
	GHashTable *accepted; /* Call-ID|From tag|CSeq -> IST in Accepted whose 2xx is resent */
	GHashTable *jrecs;    /* key (in the record) -> struct jrec * (owned): Timer J */
	GQueue jorder;        /* of jrec.link, by due_us */
	struct sip_timer jtimer; /* for the head of jorder */
	GString *keybuf;      /* the key of the request being matched */
	GPtrArray *free_st;   /* idle STRANS_BLOCKs, owned */
	struct sip_strans *cur_st;   /* the transaction whose request is being delivered, */
	const struct sip_msg *cur_msg; /* and that request parsed (no re-parse to answer it) */
	sip_request_fn *on_request;
	void *arg;
	struct sip_guard *guard;
	unsigned max_pending, pending;
	struct metric *m_overload;
	struct sip_msg *scratch;
	struct metric *m_live[4];
	struct metric_family *m_retx, *m_timeout, *m_absorbed;
};

/* ---- helpers ---- */

static bool reliable(const struct sip_src *p)
{
	return p->proto != SIP_PROTO_UDP;
}

static void count(struct metric_family *f, enum tkind k)
{
	char labels[32];
	g_snprintf(labels, sizeof(labels), "kind=\"%s\"", kind_names[k]);
	metric_add(metrics_series(f, labels), 1);
}

static void append_slice(GString *out, struct slice v)
{
	g_string_append_len(out, v.p, (gssize)v.len);
}

/*
 * Server transaction key (§17.2.3): branch + sent-by + method, ACK folded onto INVITE.
 * Without the magic cookie, the RFC 2543 rule: Request-URI, From tag, Call-ID, CSeq number
 * and the top Via (the To tag is left out so ACKs match their INVITE).
 *
 * The key goes into out (reset first): it is built per request, so no malloc and (RFC 3261
 * branches) no printf.
 */
static void server_key_into(const struct sip_msg *m, bool as_invite, GString *out)
{
	struct slice method = as_invite ? SLICE_LIT("INVITE") : m->method;
	const struct sip_via *v = &m->via;
	g_string_truncate(out, 0);
	if (v->branch.len > 7 && memcmp(v->branch.p, "z9hG4bK", 7) == 0) {
		g_string_append(out, "3261|");
		append_slice(out, v->branch);
		g_string_append_c(out, '|');
		append_slice(out, v->host);
		g_string_append_c(out, ':');
		sip_append_uint(out, v->port);
		g_string_append_c(out, '|');
		append_slice(out, method);
		return;
	}
	const struct sip_hdr *via = sip_msg_hdr(m, SIP_HDR_VIA);
	g_string_append_printf(out, "2543|" SLICE_FMT "|" SLICE_FMT "|" SLICE_FMT "|%u|" SLICE_FMT "|" SLICE_FMT,
			       SLICE_ARG(m->ruri), SLICE_ARG(m->from.tag), SLICE_ARG(m->call_id),
			       m->cseq.num, SLICE_ARG(via->value), SLICE_ARG(method));
}

/* The key in the stack's buffer, valid until the next call. */
static const char *server_key(struct sip_stack *s, const struct sip_msg *m, bool as_invite)
{
	server_key_into(m, as_invite, s->keybuf);
	return s->keybuf->str;
}

static char *client_key(struct slice branch, struct slice method)
{
	return g_strdup_printf(SLICE_FMT "|" SLICE_FMT, SLICE_ARG(branch), SLICE_ARG(method));
}

/* ---- server transactions ---- */

static void strans_log(struct sip_strans *st, enum tstate to)
{
	LOGD(log_module, &(struct log_ctx){.leg = kind_names[st->kind]}, "%s: %s -> %s", st->key,
	     state_names[st->state], state_names[to]);
	st->state = to;
}

static void strans_free(gpointer p)
{
	struct sip_strans *st = p;
	if (st->akey) {
		g_hash_table_remove(st->s->accepted, st->akey);
		g_free(st->akey);
	}
	sip_timer_stop(st->s->wheel, &st->retx);
	sip_timer_stop(st->s->wheel, &st->end);
	metric_add(st->s->m_live[st->kind], -1);
	if (st->s->cur_st == st)
		st->s->cur_st = NULL;
	if (st->pending)
		st->s->pending--;
	if (st->last)
		g_string_free(st->last, TRUE);
	if (st->pooled && st->s->free_st->len < STRANS_POOL) {
		g_ptr_array_add(st->s->free_st, st);
		return;
	}
	g_free(st);
}

/* ---- Timer J records ---- */

static void jrec_free(gpointer p)
{
	g_free(p);
}

static void jrec_expire(struct sip_timer *tm, void *arg);

static void jrec_arm(struct sip_stack *s)
{
	GList *l = g_queue_peek_head_link(&s->jorder);
	if (!l) {
		sip_timer_stop(s->wheel, &s->jtimer);
		return;
	}
	gint64 left = ((struct jrec *)l->data)->due_us - g_get_monotonic_time();
	sip_timer_start(s->wheel, &s->jtimer, left > 0 ? (unsigned)((left + 999) / 1000) : 0,
			jrec_expire, s);
}

/* Timer J (§17.2.2): every record that is due goes; the timer moves to the next one. */
static void jrec_expire(struct sip_timer *tm, void *arg)
{
	struct sip_stack *s = arg;
	gint64 now = g_get_monotonic_time();
	GList *l;
	while ((l = g_queue_peek_head_link(&s->jorder)) && ((struct jrec *)l->data)->due_us <= now) {
		struct jrec *j = l->data;
		g_queue_unlink(&s->jorder, l);
		metric_add(s->m_live[j->kind], -1);
		g_hash_table_remove(s->jrecs, j->data); /* frees j */
	}
	jrec_arm(s);
}

/* A NIST's final response went out over UDP (resp: its bytes), or an IST's 2xx was ACKed
 * (resp NULL): keep what absorbs retransmissions. */
static bool jrec_add(struct sip_stack *s, const struct sip_strans *st, const GString *resp)
{
	size_t klen = strlen(st->key), rlen = resp ? resp->len : 0;
	if (st->dst.addr_len > sizeof(((struct jrec *)NULL)->addr) || rlen > UINT32_MAX ||
	    g_hash_table_contains(s->jrecs, st->key))
		return false; /* not an IP address, or (cannot happen) a record already */
	struct jrec *j = g_malloc(sizeof(*j) + klen + 1 + rlen);
	memcpy(&j->addr, &st->dst.addr, st->dst.addr_len);
	j->addr_len = st->dst.addr_len;
	j->local_fd = st->dst.local_fd;
	j->resp_len = (uint32_t)rlen;
	j->kind = st->kind;
	memcpy(j->data, st->key, klen + 1);
	if (rlen)
		memcpy(j->data + klen + 1, resp->str, rlen);
	j->due_us = g_get_monotonic_time() + (gint64)64 * s->cfg.t1_ms * 1000;
	j->link.data = j;
	j->link.prev = j->link.next = NULL;
	g_hash_table_replace(s->jrecs, j->data, j);
	g_queue_push_tail_link(&s->jorder, &j->link);
	metric_add(s->m_live[j->kind], 1);
	if (!s->jtimer.armed)
		jrec_arm(s);
	return true;
}

/* A retransmission of a completed non-INVITE request: its final response again. */
static void jrec_resend(struct sip_stack *s, const struct jrec *j)
{
	count(s->m_absorbed, j->kind);
	if (!j->resp_len) /* an ACKed INVITE's: absorbed, nothing is resent */
		return;
	struct sip_src dst;
	memset(&dst, 0, sizeof(dst));
	dst.proto = SIP_PROTO_UDP;
	memcpy(&dst.addr, &j->addr, j->addr_len);
	dst.addr_len = j->addr_len;
	dst.local_fd = j->local_fd;
	if (j->addr.sa.sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &j->addr.v6.sin6_addr, dst.ip, sizeof(dst.ip));
		dst.port = ntohs(j->addr.v6.sin6_port);
	} else {
		inet_ntop(AF_INET, &j->addr.v4.sin_addr, dst.ip, sizeof(dst.ip));
		dst.port = ntohs(j->addr.v4.sin_port);
	}
	sip_transport_send(s->t, &dst, j->data + strlen(j->data) + 1, j->resp_len);
}

static void strans_terminate(struct sip_strans *st)
{
	if (st->owner_fn) /* the owner forgets st before it goes */
		st->owner_fn(st, SIP_STRANS_ENDED, st->owner_arg);
	g_hash_table_remove(st->s->server, st->key); /* frees st */
}

static void timer_end_server(struct sip_timer *tm, void *arg)
{
	struct sip_strans *st = arg;
	if (st->kind == IST && st->state == T_COMPLETED) { /* Timer H: the ACK never came */
		count(st->s->m_timeout, st->kind);
		LOGI(log_module, NULL, "%s: no ACK for the final response (Timer H)", st->key);
	}
	if (st->kind == IST && st->state == T_ACCEPTED && !st->acked) { /* Timer L, §13.3.1.4 */
		count(st->s->m_timeout, st->kind);
		LOGI(log_module, NULL, "%s: no ACK for the 2xx (Timer L)", st->key);
		if (st->owner_fn)
			st->owner_fn(st, SIP_STRANS_NO_ACK, st->owner_arg);
	}
	strans_terminate(st);
}

/* §13.3.1.4: the UAS core resends its 2xx at T1, doubling up to T2, until the ACK comes. */
static void timer_2xx(struct sip_timer *tm, void *arg)
{
	struct sip_strans *st = arg;
	struct sip_stack *s = st->s;
	if (st->acked)
		return;
	count(s->m_retx, st->kind);
	sip_transport_send(s->t, &st->dst, st->last->str, st->last->len);
	st->interval = MIN(st->interval * 2, s->cfg.t2_ms);
	sip_timer_start(s->wheel, &st->retx, st->interval, timer_2xx, st);
}

int sip_strans_resend(struct sip_strans *st)
{
	if (!st->last || !st->has_dst || st->state != T_PROCEEDING)
		return EALREADY;
	count(st->s->m_retx, st->kind);
	return sip_transport_send(st->s->t, &st->dst, st->last->str, st->last->len);
}

void sip_strans_set_owner(struct sip_strans *st, sip_strans_fn *fn, void *arg)
{
	st->owner_fn = fn;
	st->owner_arg = arg;
}

void sip_strans_acked(struct sip_strans *st)
{
	st->acked = true;
	sip_timer_stop(st->s->wheel, &st->retx);
}

/* The ACK of a 2xx is a new transaction (§17.1.1.3) but names its INVITE by Call-ID, From
 * tag and CSeq number: enough to stop resending that INVITE's 2xx. */
static char *accepted_key(const struct sip_msg *m)
{
	return g_strdup_printf(SLICE_FMT "|" SLICE_FMT "|%u", SLICE_ARG(m->call_id),
			       SLICE_ARG(m->from.tag), m->cseq.num);
}

static void timer_g(struct sip_timer *tm, void *arg)
{
	struct sip_strans *st = arg;
	struct sip_stack *s = st->s;
	count(s->m_retx, st->kind);
	sip_transport_send(s->t, &st->dst, st->last->str, st->last->len);
	st->interval = MIN(st->interval * 2, s->cfg.t2_ms);
	sip_timer_start(s->wheel, &st->retx, st->interval, timer_g, st);
}

const struct sip_msg *sip_strans_request(struct sip_strans *st)
{
	int status;
	const char *why;
	if (st == st->s->cur_st) /* answered while it is delivered: the parse at hand */
		return st->s->cur_msg;
	/* It parsed when it arrived, so it parses again. */
	sip_msg_parse(st->req, st->req_len, SIP_MODE_DATAGRAM, st->s->scratch, &status, &why);
	return st->s->scratch;
}

int sip_strans_respond(struct sip_strans *st, int status, const char *reason, const char *extra,
		       struct slice body, const char *to_tag)
{
	struct sip_stack *s = st->s;
	char tag[17];
	if (status < 100 || status > 699)
		return EINVAL;
	if (st->state == T_COMPLETED || st->state == T_CONFIRMED || st->state == T_ACCEPTED)
		return EALREADY;
	if (!to_tag && status > 100) {
		core_random_hex(tag, 8);
		to_tag = tag;
	}
	const struct sip_msg *req = sip_strans_request(st);
	GString *resp = g_string_sized_new(768); /* a response with a few headers: no regrowth */
	int rc = sip_response_build(req, status, reason, to_tag, extra, body, resp);
	if (rc) {
		g_string_free(resp, TRUE);
		return rc;
	}
	if (!st->has_dst) {
		sip_transport_route_response(req, &st->src, resp, &st->dst);
		st->has_dst = true;
	} else {
		sip_transport_stamp_via(req, &st->src, resp);
	}
	sip_transport_send(s->t, &st->dst, resp->str, resp->len);
	if (st->last)
		g_string_free(st->last, TRUE);
	st->last = resp;
	if (status >= 200 && st->pending) {
		st->pending = false;
		s->pending--;
	}

	unsigned t1 = s->cfg.t1_ms;
	if (status < 200) {
		strans_log(st, T_PROCEEDING);
	} else if (st->kind == NIST) { /* Timer J: 0 over TCP, else a record lasts 64*T1 */
		strans_log(st, T_COMPLETED);
		if (!reliable(&st->src))
			jrec_add(s, st, st->last);
		strans_terminate(st);
	} else if (status < 300) { /* RFC 6026: Accepted, Timer L; the 2xx resent until ACK */
		strans_log(st, T_ACCEPTED);
		st->interval = t1;
		if (!reliable(&st->src) && !st->acked) {
			sip_timer_start(s->wheel, &st->retx, t1, timer_2xx, st);
			if (!st->akey) {
				st->akey = accepted_key(req);
				g_hash_table_replace(s->accepted, st->akey, st);
			}
		}
		sip_timer_start(s->wheel, &st->end, 64 * t1, timer_end_server, st);
	} else { /* Completed: Timer G (unreliable) and H */
		strans_log(st, T_COMPLETED);
		st->interval = t1;
		if (!reliable(&st->src))
			sip_timer_start(s->wheel, &st->retx, t1, timer_g, st);
		sip_timer_start(s->wheel, &st->end, 64 * t1, timer_end_server, st);
	}
	return 0;
}

/* key: the stack's key buffer (copied). */
static struct sip_strans *strans_new(struct sip_stack *s, const struct sip_msg *m,
				     const struct sip_src *src, const GString *key)
{
	size_t size = sizeof(struct sip_strans) + key->len + 1 + src->raw.len;
	struct sip_strans *st = NULL;
	bool pooled = size <= STRANS_BLOCK;
	if (pooled && s->free_st->len) {
		st = g_ptr_array_steal_index_fast(s->free_st, s->free_st->len - 1);
	} else {
		st = g_malloc(pooled ? STRANS_BLOCK : size);
	}
	memset(st, 0, sizeof(*st));
	st->pooled = pooled;
	st->s = s;
	st->kind = m->method_id == SIP_METHOD_INVITE ? IST : NIST;
	st->state = st->kind == IST ? T_PROCEEDING : T_TRYING;
	st->key = st->data;
	memcpy(st->key, key->str, key->len + 1);
	st->req = st->data + key->len + 1;
	memcpy(st->data + key->len + 1, src->raw.p, src->raw.len);
	st->req_len = src->raw.len;
	st->src = *src;
	st->pending = true;
	s->pending++;
	g_hash_table_insert(s->server, st->key, st);
	metric_add(s->m_live[st->kind], 1);
	return st;
}

/* ACK: completes a non-2xx INVITE transaction, or goes to the TU for a 2xx (§17.2.1). */
static void on_ack(struct sip_stack *s, const struct sip_msg *m, const struct sip_src *src)
{
	struct sip_strans *st = g_hash_table_lookup(s->server, server_key(s, m, true));
	if (st && st->state == T_COMPLETED) {
		strans_log(st, T_CONFIRMED);
		sip_timer_stop(s->wheel, &st->retx);
		if (reliable(&st->src)) /* Timer I = 0 */
			strans_terminate(st);
		else
			sip_timer_start(s->wheel, &st->end, s->cfg.t4_ms, timer_end_server, st);
		return;
	}
	if (st && st->state == T_CONFIRMED) {
		count(s->m_absorbed, IST);
		return;
	}
	char *key = accepted_key(m);
	st = g_hash_table_lookup(s->accepted, key);
	if (st)
		sip_strans_acked(st);
	s->on_request(s, NULL, m, src, NULL, s->arg);
	/* the TU has seen the ACK: what is left of the INVITE's transaction is a record (jrec) */
	st = g_hash_table_lookup(s->accepted, key);
	g_free(key);
	if (st && st->acked && st->state == T_ACCEPTED && !reliable(&st->src) &&
	    jrec_add(s, st, NULL))
		strans_terminate(st);
}

/*
 * SEC-07, before a transaction exists: a banned or flooding source is dropped unanswered;
 * past the pending cap a stateless 503 with Retry-After (no state kept, so the load it
 * costs is one parse and one send). CANCEL is never refused by the cap: it ends work.
 */
static bool admit(struct sip_stack *s, const struct sip_msg *m, const struct sip_src *src)
{
	if (s->guard && !sip_guard_admit(s->guard, src->ip))
		return false;
	if (!s->max_pending || s->pending < s->max_pending || m->method_id == SIP_METHOD_CANCEL)
		return true;
	metric_add(s->m_overload, 1);
	char tag[17];
	core_random_hex(tag, 8);
	GString *resp = g_string_new(NULL);
	if (sip_response_build(m, 503, NULL, tag, "Retry-After: 5\r\n", (struct slice){NULL, 0},
			       resp) == 0)
		sip_transport_respond(s->t, m, src, resp);
	g_string_free(resp, TRUE);
	return false;
}

static void server_request(struct sip_stack *s, const struct sip_msg *m, const struct sip_src *src)
{
	if (m->method_id == SIP_METHOD_ACK) {
		on_ack(s, m, src);
		return;
	}
	const char *key = server_key(s, m, false);
	struct sip_strans *st = g_hash_table_lookup(s->server, key);
	if (st) { /* a retransmission: the last response again, or nothing yet (§17.2.1/2) */
		count(s->m_absorbed, st->kind);
		if (st->last && st->state != T_ACCEPTED)
			sip_transport_send(s->t, &st->dst, st->last->str, st->last->len);
		return;
	}
	struct jrec *j = g_hash_table_lookup(s->jrecs, key);
	if (j) { /* §17.2.2: Completed, Timer J running */
		jrec_resend(s, j);
		return;
	}
	if (!admit(s, m, src))
		return;
	st = strans_new(s, m, src, s->keybuf);
	if (m->method_id == SIP_METHOD_CANCEL) { /* §9.2: match the INVITE, answer the CANCEL */
		struct sip_strans *inv = g_hash_table_lookup(s->server, server_key(s, m, true));
		bool pending = inv && (inv->state == T_PROCEEDING);
		sip_strans_respond(st, pending ? 200 : 481, NULL, NULL, (struct slice){NULL, 0}, NULL);
		if (pending && inv->owner_fn)
			inv->owner_fn(inv, SIP_STRANS_CANCELLED, inv->owner_arg);
		else if (pending)
			s->on_request(s, NULL, m, src, inv, s->arg);
		return;
	}
	s->cur_st = st;
	s->cur_msg = m;
	if (st->kind == IST) /* §17.2.1: 100 Trying at once, so the client stops Timer A */
		sip_strans_respond(st, 100, NULL, NULL, (struct slice){NULL, 0}, NULL);
	s->on_request(s, st, m, src, NULL, s->arg);
	s->cur_st = NULL;
}

/* ---- client transactions ---- */

static void ctrans_free(gpointer p)
{
	struct sip_ctrans *ct = p;
	sip_timer_stop(ct->s->wheel, &ct->retx);
	sip_timer_stop(ct->s->wheel, &ct->end);
	metric_add(ct->s->m_live[ct->kind], -1);
	g_string_free(ct->req, TRUE);
	if (ct->ack)
		g_string_free(ct->ack, TRUE);
	g_free(ct->key);
	g_free(ct);
}

static void ctrans_terminate(struct sip_ctrans *ct)
{
	g_hash_table_remove(ct->s->client, ct->key);
}

static void ctrans_log(struct sip_ctrans *ct, enum tstate to)
{
	LOGD(log_module, &(struct log_ctx){.leg = kind_names[ct->kind]}, "%s: %s -> %s", ct->key,
	     state_names[ct->state], state_names[to]);
	ct->state = to;
}

static void timer_end_client(struct sip_timer *tm, void *arg)
{
	struct sip_ctrans *ct = arg;
	if (ct->state == T_CALLING || ct->state == T_TRYING || ct->state == T_PROCEEDING) {
		/* Timer B / F: no final response (§17.1.1.2, §17.1.2.2) */
		count(ct->s->m_timeout, ct->kind);
		ct->fn(ct, NULL, 408, ct->arg);
	} else if (ct->state == T_ACCEPTED) { /* Timer M: no more 2xx can come */
		ct->fn(ct, NULL, 0, ct->arg);
	}
	ctrans_terminate(ct);
}

/* Timer A (INVITE: doubles without bound) and Timer E (non-INVITE: capped at T2). */
static void timer_retx_client(struct sip_timer *tm, void *arg)
{
	struct sip_ctrans *ct = arg;
	struct sip_stack *s = ct->s;
	count(s->m_retx, ct->kind);
	if (sip_transport_send(s->t, &ct->dst, ct->req->str, ct->req->len) != 0) {
		ct->fn(ct, NULL, 503, ct->arg);
		ctrans_terminate(ct);
		return;
	}
	ct->interval = ct->kind == ICT || ct->state == T_TRYING ? ct->interval * 2 : s->cfg.t2_ms;
	if (ct->kind == NICT)
		ct->interval = MIN(ct->interval, s->cfg.t2_ms);
	sip_timer_start(s->wheel, &ct->retx, ct->interval, timer_retx_client, ct);
}

/* Copies "Name: value" lines of one header id from a parsed message into out. */
static void copy_hdr(GString *out, const struct sip_msg *m, enum sip_hdr_id id, const char *name)
{
	for (const struct sip_hdr *h = sip_msg_hdr(m, id); h; h = sip_msg_hdr_next(m, h))
		g_string_append_printf(out, "%s: " SLICE_FMT "\r\n", name, SLICE_ARG(h->value));
}

/* ACK for a non-2xx final (§17.1.1.3), or CANCEL (§9.1): built from the request as sent. */
static GString *build_from_request(struct sip_ctrans *ct, const char *method,
				   const struct sip_msg *resp)
{
	struct sip_msg *req = ct->s->scratch;
	int status;
	const char *why;
	if (sip_msg_parse(ct->req->str, ct->req->len, SIP_MODE_DATAGRAM, req, &status, &why) != 0)
		return NULL;
	GString *out = g_string_new(NULL);
	g_string_append_printf(out, "%s " SLICE_FMT " SIP/2.0\r\n", method, SLICE_ARG(req->ruri));
	const struct sip_hdr *via = sip_msg_hdr(req, SIP_HDR_VIA);
	g_string_append_printf(out, "Via: " SLICE_FMT "\r\n", SLICE_ARG(via->value));
	copy_hdr(out, req, SIP_HDR_ROUTE, "Route");
	copy_hdr(out, req, SIP_HDR_FROM, "From");
	if (resp)
		copy_hdr(out, resp, SIP_HDR_TO, "To");
	else
		copy_hdr(out, req, SIP_HDR_TO, "To");
	copy_hdr(out, req, SIP_HDR_CALL_ID, "Call-ID");
	g_string_append_printf(out, "CSeq: %u %s\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
			       req->cseq.num, method);
	return out;
}

static void client_response(struct sip_stack *s, const struct sip_msg *m)
{
	char *key = client_key(m->via.branch, m->cseq.method);
	struct sip_ctrans *ct = g_hash_table_lookup(s->client, key);
	g_free(key);
	if (!ct) {
		LOGD(log_module, NULL, "response %u matches no transaction, dropped (BI-14)", m->status);
		return;
	}
	unsigned st = m->status;
	switch (ct->state) {
	case T_CALLING:
	case T_TRYING:
	case T_PROCEEDING:
		if (st < 200) {
			if (ct->kind == ICT)
				sip_timer_stop(s->wheel, &ct->retx); /* Timer A stops in Proceeding */
			ctrans_log(ct, T_PROCEEDING);
			ct->fn(ct, m, (int)st, ct->arg);
			return;
		}
		sip_timer_stop(s->wheel, &ct->retx);
		sip_timer_stop(s->wheel, &ct->end);
		if (ct->kind == ICT && st < 300) { /* RFC 6026: Accepted, Timer M */
			ctrans_log(ct, T_ACCEPTED);
			sip_timer_start(s->wheel, &ct->end, 64 * s->cfg.t1_ms, timer_end_client, ct);
			ct->fn(ct, m, (int)st, ct->arg);
			return;
		}
		ctrans_log(ct, T_COMPLETED);
		if (ct->kind == ICT) { /* ACK the failure ourselves; Timer D */
			ct->ack = build_from_request(ct, "ACK", m);
			if (ct->ack)
				sip_transport_send(s->t, &ct->dst, ct->ack->str, ct->ack->len);
		}
		ct->fn(ct, m, (int)st, ct->arg);
		if (reliable(&ct->dst))
			ctrans_terminate(ct);
		else
			sip_timer_start(s->wheel, &ct->end, ct->kind == ICT ? 32000 : s->cfg.t4_ms,
					timer_end_client, ct);
		return;
	case T_ACCEPTED:
		if (st >= 200 && st < 300) /* 2xx retransmissions belong to the TU (dialog) */
			ct->fn(ct, m, (int)st, ct->arg);
		return;
	case T_COMPLETED:
		count(s->m_absorbed, ct->kind);
		if (ct->ack)
			sip_transport_send(s->t, &ct->dst, ct->ack->str, ct->ack->len);
		return;
	default:
		return;
	}
}

static struct sip_ctrans *ctrans_start(struct sip_stack *s, enum tkind kind, GString *req,
				       char *key, const struct sip_src *dst, sip_response_fn *fn,
				       void *arg)
{
	struct sip_ctrans *ct = g_new0(struct sip_ctrans, 1);
	ct->s = s;
	ct->kind = kind;
	ct->state = kind == ICT ? T_CALLING : T_TRYING;
	ct->key = key;
	ct->req = req;
	ct->dst = *dst;
	ct->fn = fn;
	ct->arg = arg;
	ct->interval = s->cfg.t1_ms;
	g_hash_table_insert(s->client, ct->key, ct);
	metric_add(s->m_live[kind], 1);
	/* TCP/TLS: the connection is chosen (or opened) now and kept, so the ACK, a CANCEL and
	 * a failure of that connection all concern this transaction (RFC 3261 §18.1.1). */
	if (sip_transport_connect(s->t, &ct->dst, NULL) != 0 ||
	    sip_transport_send(s->t, &ct->dst, req->str, req->len) != 0) {
		ctrans_terminate(ct);
		return NULL;
	}
	if (!reliable(&ct->dst))
		sip_timer_start(s->wheel, &ct->retx, s->cfg.t1_ms, timer_retx_client, ct);
	sip_timer_start(s->wheel, &ct->end, 64 * s->cfg.t1_ms, timer_end_client, ct);
	return ct;
}

/* A request with our top Via (a fresh branch, written to branch[40]) in front of headers. */
static int build_request(struct sip_stack *s, const char *method, const char *ruri,
			 const char *headers, struct slice body, const struct sip_src *dst,
			 char branch[40], GString *req)
{
	g_strlcpy(branch, "z9hG4bK", 40);
	core_random_hex(branch + 7, 12);
	GString *hdrs = g_string_new(NULL);
	/* Over a stream, ;alias (RFC 5923) lets the peer send its requests back on it. */
	g_string_append_printf(hdrs, "Via: SIP/2.0/%s %s;branch=%s;rport%s\r\n",
			       sip_proto_via(dst->proto), s->via_host, branch,
			       dst->proto == SIP_PROTO_UDP ? "" : ";alias");
	if (headers)
		g_string_append(hdrs, headers);
	int rc = sip_request_build(method, ruri, hdrs->str, body, req);
	g_string_free(hdrs, TRUE);
	return rc;
}

int sip_ctrans_send(struct sip_stack *s, const char *method, const char *ruri, const char *headers,
		    struct slice body, const struct sip_src *dst, sip_response_fn *fn, void *arg,
		    struct sip_ctrans **out)
{
	char branch[40];
	GString *req = g_string_new(NULL);
	int rc = build_request(s, method, ruri, headers, body, dst, branch, req);
	if (rc) {
		g_string_free(req, TRUE);
		return rc;
	}
	enum tkind kind = strcmp(method, "INVITE") == 0 ? ICT : NICT;
	char *key = client_key((struct slice){branch, strlen(branch)},
			       (struct slice){method, strlen(method)});
	struct sip_ctrans *ct = ctrans_start(s, kind, req, key, dst, fn, arg);
	if (!ct)
		return EHOSTUNREACH;
	*out = ct;
	return 0;
}

int sip_stack_send(struct sip_stack *s, const char *method, const char *ruri, const char *headers,
		   struct slice body, const struct sip_src *dst, GString *sent)
{
	char branch[40];
	GString *req = g_string_new(NULL);
	struct sip_src d = *dst;
	int rc = build_request(s, method, ruri, headers, body, dst, branch, req);
	if (rc == 0)
		rc = sip_transport_connect(s->t, &d, NULL);
	if (rc == 0)
		rc = sip_transport_send(s->t, &d, req->str, req->len);
	if (rc == 0 && sent)
		g_string_assign(sent, req->str);
	g_string_free(req, TRUE);
	return rc;
}

const char *sip_stack_via_host(const struct sip_stack *s)
{
	return s->via_host;
}

struct sip_transport *sip_stack_transport(const struct sip_stack *s)
{
	return s->t;
}

static void detached(struct sip_ctrans *ct, const struct sip_msg *m, int status, void *arg)
{
}

void sip_ctrans_detach(struct sip_ctrans *ct)
{
	ct->fn = detached;
	ct->arg = NULL;
	/* Accepted (RFC 6026 §8.4): Timer M keeps the transaction only to hand 2xx
	 * retransmissions to its TU. Detached, it would drop them as a missing transaction does,
	 * so it ends at the next tick (from the wheel: the caller may be its own callback)
	 * rather than hold its request for the rest of the 32 s: ~1.5 KB per answered call. */
	if (ct->state == T_ACCEPTED)
		sip_timer_start(ct->s->wheel, &ct->end, 0, timer_end_client, ct);
}

const struct sip_msg *sip_ctrans_request(struct sip_ctrans *ct)
{
	int status;
	const char *why;
	sip_msg_parse(ct->req->str, ct->req->len, SIP_MODE_DATAGRAM, ct->s->scratch, &status, &why);
	return ct->s->scratch;
}

static void cancel_done(struct sip_ctrans *ct, const struct sip_msg *m, int status, void *arg)
{
	/* The INVITE transaction reports the outcome (487 or a 2xx); nothing to do here. */
}

int sip_ctrans_cancel(struct sip_ctrans *ct)
{
	if (ct->kind != ICT || (ct->state != T_CALLING && ct->state != T_PROCEEDING))
		return EPROTO;
	GString *cancel = build_from_request(ct, "CANCEL", NULL);
	if (!cancel)
		return EPROTO;
	struct sip_msg *m = ct->s->scratch;
	int status;
	const char *why;
	sip_msg_parse(cancel->str, cancel->len, SIP_MODE_DATAGRAM, m, &status, &why);
	char *key = client_key(m->via.branch, SLICE_LIT("CANCEL"));
	return ctrans_start(ct->s, NICT, cancel, key, &ct->dst, cancel_done, NULL) ? 0 : EHOSTUNREACH;
}

/* ---- the stack ---- */

void sip_stack_recv(struct sip_transport *t, const struct sip_msg *msg, const struct sip_src *src,
		    void *arg)
{
	struct sip_stack *s = arg;
	if (msg->request)
		server_request(s, msg, src);
	else
		client_response(s, msg);
}

struct sip_stack *sip_stack_new(const struct sip_stack_config *cfg, sip_request_fn *on_request,
				void *arg)
{
	struct sip_stack *s = g_new0(struct sip_stack, 1);
	s->cfg = *cfg;
	s->via_host = g_strdup(cfg->via_host ? cfg->via_host : "127.0.0.1");
	s->cfg.via_host = s->via_host;
	s->wheel = sip_wheel_new();
	s->server = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, strans_free);
	s->client = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, ctrans_free);
	s->accepted = g_hash_table_new(g_str_hash, g_str_equal);
	s->jrecs = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, jrec_free);
	g_queue_init(&s->jorder);
	s->keybuf = g_string_sized_new(256);
	s->free_st = g_ptr_array_new_with_free_func(g_free);
	s->on_request = on_request;
	s->arg = arg;
	s->scratch = g_new0(struct sip_msg, 1);
	struct metric_family *live = metrics_family(
		"gorgee_sip_transactions", "Live SIP transactions by kind (RFC 3261 §17).", METRIC_GAUGE);
	for (int k = 0; k < 4; k++) {
		char labels[32];
		g_snprintf(labels, sizeof(labels), "kind=\"%s\"", kind_names[k]);
		s->m_live[k] = metrics_series(live, labels);
	}
	s->m_retx = metrics_family("gorgee_sip_retransmissions_total",
				   "SIP retransmissions sent by transactions (Timers A, E, G).",
				   METRIC_COUNTER);
	s->m_timeout = metrics_family("gorgee_sip_transaction_timeouts_total",
				      "SIP transactions ended by Timer B, F or H.", METRIC_COUNTER);
	s->m_overload = metrics_series(
		metrics_family("gorgee_sip_overload_total",
			       "New SIP requests answered with a stateless 503 (server transactions "
			       "pending at sip.max_server_transactions, SEC-07).", METRIC_COUNTER), "");
	s->m_absorbed = metrics_family("gorgee_sip_retransmissions_absorbed_total",
				       "Retransmitted SIP messages absorbed by a transaction.",
				       METRIC_COUNTER);
	return s;
}

/*
 * A TCP or TLS connection closed: client transactions that got no response on it yet
 * (refused, timed out, a certificate refused, closed at once) end now with 503 (RFC 3261
 * §8.1.3.1, a transport error) instead of at Timer B/F, and the TU fails over to its next
 * target (RFC 3263 §4.3). One that got a provisional keeps waiting: the server may send the
 * final response over a new connection to our sent-by (§18.2.2); Timer B/F still bounds it.
 */
static void on_conn_closed(struct sip_transport *t, uint64_t conn_id, void *arg)
{
	struct sip_stack *s = arg;
	GPtrArray *keys = g_ptr_array_new_with_free_func(g_free);
	GHashTableIter it;
	gpointer v;
	g_hash_table_iter_init(&it, s->client);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct sip_ctrans *ct = v;
		if (reliable(&ct->dst) && ct->dst.conn_id == conn_id &&
		    (ct->state == T_CALLING || ct->state == T_TRYING))
			g_ptr_array_add(keys, g_strdup(ct->key));
	}
	/* by key again: a callback may end or start other transactions */
	for (guint i = 0; i < keys->len; i++) {
		struct sip_ctrans *ct = g_hash_table_lookup(s->client, keys->pdata[i]);
		if (!ct || (ct->state != T_CALLING && ct->state != T_TRYING))
			continue;
		LOGI(log_module, &(struct log_ctx){.peer = ct->dst.ip}, "%s: connection lost, 503",
		     ct->key);
		ct->fn(ct, NULL, 503, ct->arg);
		ctrans_terminate(ct);
	}
	g_ptr_array_unref(keys);
}

void sip_stack_set_transport(struct sip_stack *s, struct sip_transport *t)
{
	s->t = t;
	if (t)
		sip_transport_set_conn_handler(t, on_conn_closed, s);
}

void sip_stack_free(struct sip_stack *s)
{
	if (!s)
		return;
	g_hash_table_destroy(s->server);
	g_ptr_array_unref(s->free_st);
	g_hash_table_destroy(s->client);
	g_hash_table_destroy(s->accepted);
	sip_timer_stop(s->wheel, &s->jtimer);
	metric_add(s->m_live[NIST], -(int64_t)g_hash_table_size(s->jrecs));
	g_hash_table_destroy(s->jrecs);
	g_string_free(s->keybuf, TRUE);
	sip_wheel_free(s->wheel);
	g_free(s->via_host);
	g_free(s->scratch);
	g_free(s);
}

void sip_stack_set_guard(struct sip_stack *s, struct sip_guard *g, unsigned max_pending)
{
	s->guard = g;
	s->max_pending = max_pending;
}

unsigned sip_stack_pending(const struct sip_stack *s)
{
	return s->pending;
}

unsigned sip_stack_count(const struct sip_stack *s)
{
	return g_hash_table_size(s->server) + g_hash_table_size(s->jrecs) +
	       g_hash_table_size(s->client);
}
