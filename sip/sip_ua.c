/* UA core: the transaction user that answers what the stack serves so far (see sip.h). */
#include <string.h>

#include "sip.h"

#define ALLOW "OPTIONS, ACK"
#define SUPPORTED "path, outbound"
#define CALL_METHODS "INVITE, BYE, CANCEL, INFO, UPDATE, PRACK, MESSAGE"

static const char *const log_module = "sip";

#define MERGE_WINDOW_US (32 * G_USEC_PER_SEC) /* §8.2.2.2: about Timer J/H */
#define MERGE_CAP 65536 /* requests remembered, the oldest dropped past it; ~130 bytes each */

struct merge_entry {
	char *key;    /* in data[]; also the table's key */
	char *branch; /* in data[] after the key */
	gint64 seen_us;
	GList link; /* in sip_ua.order, oldest first */
	char data[];
};

struct sip_ua {
	char *user_agent;
	struct sip_registrar *registrar;
	struct sip_dialogs *dialogs;
	GHashTable *recent; /* From tag|Call-ID|CSeq -> struct merge_entry (merged requests) */
	GQueue order;       /* the entries of recent by seen_us, oldest at the head */
	GString *keybuf;    /* the merge key of the request at hand */
	struct metric_family *m_sent;
	sip_ua_invite_fn *invite_fn;
	void *invite_arg;
	sip_ua_invite_fn *event_fn; /* SUBSCRIBE, NOTIFY, PUBLISH outside a known dialog */
	void *event_arg;
	char *allow_events;
};

static void merge_free(gpointer p)
{
	g_free(p);
}

/* Drops entries older than the window from the head: O(1) a request, amortised (a scan of
 * the whole table per request once it was full cost a third of the CPU at 2,000 REGISTER/s). */
static void merge_expire(struct sip_ua *ua, gint64 now)
{
	GList *l;
	while ((l = g_queue_peek_head_link(&ua->order)) &&
	       ((struct merge_entry *)l->data)->seen_us < now - MERGE_WINDOW_US) {
		g_queue_unlink(&ua->order, l);
		g_hash_table_remove(ua->recent, ((struct merge_entry *)l->data)->key);
	}
}

/*
 * §8.2.2.2: a request outside a dialog with the From tag, Call-ID and CSeq of one seen
 * lately but another branch reached us twice by forking: the copy gets 482.
 */
static bool merged(struct sip_ua *ua, const struct sip_msg *m)
{
	gint64 now = g_get_monotonic_time();
	merge_expire(ua, now);
	GString *key = ua->keybuf;
	g_string_truncate(key, 0);
	g_string_append_len(key, m->from.tag.p, (gssize)m->from.tag.len);
	g_string_append_c(key, '|');
	g_string_append_len(key, m->call_id.p, (gssize)m->call_id.len);
	g_string_append_printf(key, "|%u|", m->cseq.num);
	g_string_append_len(key, m->method.p, (gssize)m->method.len);
	struct merge_entry *e = g_hash_table_lookup(ua->recent, key->str);
	if (e && !slice_eq(m->via.branch, e->branch, strlen(e->branch)))
		return true; /* live: expired ones were dropped above */
	if (e) { /* the same request again: seen now */
		e->seen_us = now;
		g_queue_unlink(&ua->order, &e->link);
		g_queue_push_tail_link(&ua->order, &e->link);
		return false;
	}
	if (g_hash_table_size(ua->recent) >= MERGE_CAP) {
		/* Past MERGE_CAP / 32 s (~2,000 requests/s) the oldest goes: the window shrinks
		 * under load (6.5 s at 10,000/s) instead of new requests going unrecorded. A forked
		 * copy comes within milliseconds of its twin. */
		GList *old = g_queue_pop_head_link(&ua->order);
		g_hash_table_remove(ua->recent, ((struct merge_entry *)old->data)->key);
	}
	e = g_malloc0(sizeof(*e) + key->len + 1 + m->via.branch.len + 1);
	e->key = e->data;
	memcpy(e->key, key->str, key->len + 1);
	e->branch = e->data + key->len + 1;
	memcpy(e->branch, m->via.branch.p, m->via.branch.len);
	e->branch[m->via.branch.len] = '\0';
	e->seen_us = now;
	e->link.data = e;
	g_hash_table_insert(ua->recent, e->key, e);
	g_queue_push_tail_link(&ua->order, &e->link);
	return false;
}

struct sip_dialogs *sip_ua_dialogs(struct sip_ua *ua)
{
	return ua->dialogs;
}

struct sip_ua *sip_ua_new(const char *user_agent, struct sip_registrar *registrar)
{
	struct sip_ua *ua = g_new0(struct sip_ua, 1);
	ua->registrar = registrar;
	ua->dialogs = sip_dialogs_new();
	ua->recent = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, merge_free);
	g_queue_init(&ua->order);
	ua->keybuf = g_string_sized_new(128);
	ua->user_agent = g_strdup(user_agent);
	ua->m_sent = metrics_family("gorgee_sip_responses_sent_total",
				    "SIP responses sent by the UA core, by status.", METRIC_COUNTER);
	return ua;
}

void sip_ua_free(struct sip_ua *ua)
{
	if (!ua)
		return;
	sip_dialogs_free(ua->dialogs);
	g_hash_table_destroy(ua->recent);
	g_string_free(ua->keybuf, TRUE);
	g_free(ua->user_agent);
	g_free(ua->allow_events);
	g_free(ua);
}

static void respond(struct sip_ua *ua, struct sip_strans *st, int status, const char *extra)
{
	char labels[32];
	GString *hdrs = g_string_new(extra ? extra : "");
	g_string_append_printf(hdrs, "Server: %s\r\n", ua->user_agent);
	sip_strans_respond(st, status, NULL, hdrs->str, (struct slice){NULL, 0}, NULL);
	g_snprintf(labels, sizeof(labels), "status=\"%d\"", status);
	metric_add(metrics_series(ua->m_sent, labels), 1);
	g_string_free(hdrs, TRUE);
}

void sip_ua_set_invite_handler(struct sip_ua *ua, sip_ua_invite_fn *fn, void *arg)
{
	ua->invite_fn = fn;
	ua->invite_arg = arg;
}

void sip_ua_set_event_handler(struct sip_ua *ua, sip_ua_invite_fn *fn, void *arg,
			      const char *allow_events)
{
	ua->event_fn = fn;
	ua->event_arg = arg;
	g_free(ua->allow_events);
	ua->allow_events = fn && allow_events ? g_strdup(allow_events) : NULL;
}

static bool event_method(const struct sip_msg *m)
{
	return m->method_id == SIP_METHOD_SUBSCRIBE || m->method_id == SIP_METHOD_NOTIFY ||
	       m->method_id == SIP_METHOD_PUBLISH;
}

/* Methods served: what is wired in (RFC 3261 §20.5). */
static void allow(const struct sip_ua *ua, GString *out)
{
	g_string_append(out, "Allow: " ALLOW);
	if (ua->invite_fn)
		g_string_append(out, ", " CALL_METHODS);
	if (ua->registrar)
		g_string_append(out, ", REGISTER");
	if (ua->event_fn)
		g_string_append(out, ", SUBSCRIBE, NOTIFY, PUBLISH");
	g_string_append(out, "\r\n");
	if (ua->allow_events) /* RFC 6665 §8.2.2 */
		g_string_append_printf(out, "Allow-Events: %s\r\n", ua->allow_events);
}

/* The first Require token we do not support, for 420 (RFC 3261 §8.2.2.3). */
static bool unsupported_require(const struct sip_ua *ua, const struct sip_msg *req,
				GString *unsupported)
{
	for (const struct sip_hdr *h = sip_msg_hdr(req, SIP_HDR_REQUIRE); h;
	     h = sip_msg_hdr_next(req, h)) {
		struct slice v = h->value;
		/* with calls: reliable provisionals (RFC 3262), Replaces (RFC 3891) */
		bool calls = ua->invite_fn && (slice_caseeqlit(v, "100rel") || slice_caseeqlit(v, "replaces"));
		if (!slice_caseeqlit(v, "path") && !slice_caseeqlit(v, "outbound") && !calls) {
			g_string_append_printf(unsupported, "Unsupported: " SLICE_FMT "\r\n",
					       SLICE_ARG(v));
			return true;
		}
	}
	return false;
}

void sip_ua_on_request(struct sip_stack *s, struct sip_strans *st, const struct sip_msg *msg,
		       const struct sip_src *src, struct sip_strans *cancelled_invite, void *arg)
{
	struct sip_ua *ua = arg;
	char peer[64];
	g_snprintf(peer, sizeof(peer), "%s:%u", src->ip, src->port);
	char callid[128];
	g_snprintf(callid, sizeof(callid), SLICE_FMT, (int)MIN(msg->call_id.len, 127), msg->call_id.p);
	struct log_ctx ctx = {.call_id = callid, .leg = "sip", .peer = peer};

	if (cancelled_invite) { /* §9.2: the CANCEL was answered 200; the INVITE gets 487 */
		respond(ua, cancelled_invite, 487, NULL);
		return;
	}
	bool in_dialog = msg->to.tag.len > 0;
	struct sip_dialog *d = in_dialog ? sip_dialogs_find_request(ua->dialogs, msg) : NULL;
	if (!st) { /* an ACK for a 2xx: its dialog's */
		if (d && sip_dialog_receive(d, msg) == 0)
			sip_dialog_dispatch(d, NULL, msg, src);
		return;
	}
	GString *extra = g_string_new(NULL);
	int status;
	if (msg->method_id != SIP_METHOD_OPTIONS && msg->max_forwards == 0) {
		status = 483;
	} else if (in_dialog && !d && !(ua->event_fn && event_method(msg))) {
		status = 481; /* §12.2.2: no such dialog (BI-15: e.g. after our BYE) */
	} else if (d && unsupported_require(ua, msg, extra)) {
		status = 420;
	} else if (d && (status = sip_dialog_receive(d, msg)) != 0) {
		/* 500: CSeq out of order (§12.2.2) */
	} else if (d && sip_dialog_dispatch(d, st, msg, src)) {
		g_string_free(extra, TRUE);
		return;
	} else if (!in_dialog && msg->from.tag.len && merged(ua, msg)) {
		status = 482;
	} else if (unsupported_require(ua, msg, extra)) {
		status = 420;
	} else if (msg->method_id == SIP_METHOD_REGISTER && ua->registrar) {
		g_string_free(extra, TRUE);
		sip_registrar_handle(ua->registrar, st, msg, src);
		return;
	} else if ((msg->method_id == SIP_METHOD_INVITE || msg->method_id == SIP_METHOD_MESSAGE) &&
		   ua->invite_fn) {
		g_string_free(extra, TRUE);
		ua->invite_fn(st, msg, src, ua->invite_arg);
		return;
	} else if (ua->event_fn && event_method(msg)) {
		/* RFC 6665: a NOTIFY may come before the 2xx of its SUBSCRIBE (§4.1.2.4), so
		 * one with a To tag but no dialog is the handler's to match or answer 481 */
		g_string_free(extra, TRUE);
		ua->event_fn(st, msg, src, ua->event_arg);
		return;
	} else if (msg->method_id == SIP_METHOD_OPTIONS) {
		status = 200;
		allow(ua, extra);
		g_string_append_printf(extra, "Accept: application/sdp\r\n"
				       "Accept-Language: en\r\nSupported: %s\r\n",
				       ua->invite_fn ? SUPPORTED ", 100rel, replaces" : SUPPORTED);
	} else if (msg->method_id != SIP_METHOD_OTHER) {
		status = 405;
		allow(ua, extra);
	} else {
		status = 501;
	}
	LOGD(log_module, &ctx, SLICE_FMT " -> %d", SLICE_ARG(msg->method), status);
	respond(ua, st, status, extra->str);
	g_string_free(extra, TRUE);
}
