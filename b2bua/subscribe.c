/* Subscriptions gorgee holds for WebSocket users (RFC 6665 subscriber): the `subscribe` and
 * `unsubscribe` requests, SUBSCRIBE with digest, refresh and expiry, NOTIFYs answered and
 * passed on as `notify` events (message-summary bodies parsed, RFC 3842). */
#include <errno.h>
#include <string.h>

#include "b2b_int.h"

static const char *const log_module = "subscribe";

#define MAX_SUBS_PER_USER 32   /* subscriptions of one user, all sessions together */
#define MAX_NOTIFY_BODY   16384 /* bytes of a NOTIFY body passed to the client */
#define UNSUBSCRIBE_WAIT  5     /* s to wait for the final NOTIFY after Expires: 0 */

enum sub_state { SUB_RESOLVING, SUB_SUBSCRIBING, SUB_PENDING, SUB_ACTIVE, SUB_ENDING };
static const char *const state_names[] = {"resolving", "subscribing", "pending", "active", "ending"};

struct sub_out {
	struct b2b *b;
	char id[16];
	struct ws_session *session; /* strong ref */
	json_t *req_id;             /* the subscribe request's id (then unsubscribe's) */
	enum sub_state state;
	char *event, *accept;       /* package and the body type asked for */
	char *ruri, *from, *hop, *contact;
	char *auth_user;
	struct secret *auth_pw;
	struct sip_auth_client_state auth;
	char call_id[40], tag[17];
	uint32_t cseq;              /* CSeq of requests outside the dialog */
	unsigned expires;           /* asked for */
	struct sip_src dst;         /* the notifier: every request of the subscription goes here */
	struct sip_resolve_req *resolving;
	struct sip_ctrans *ct;      /* the SUBSCRIBE in flight */
	unsigned ct_expires;        /* what it asks */
	bool retried_423;
	struct sip_dialog *dialog;  /* registered in the UA's table while it exists */
	struct watcher *local;      /* a user of our domain watched without SIP (presence.c) */
	guint refresh, expiry, ending;
	bool quiet;                 /* the session is gone: no events */
};

static void sub_send(struct sub_out *s, unsigned expires, const char *authorization);

static struct log_ctx lctx(const struct sub_out *s)
{
	return (struct log_ctx){.call_id = s->call_id, .leg = "subscribe", .peer = s->id};
}

static void set_state(struct sub_out *s, enum sub_state to)
{
	struct log_ctx lc = lctx(s);
	LOGI(log_module, &lc, "%s %s: %s -> %s", s->event, s->ruri, state_names[s->state], state_names[to]);
	s->state = to;
}

static void stop_timer(guint *t)
{
	if (*t)
		g_source_remove(*t);
	*t = 0;
}

/* The `subscription` event: state changes, with a code and reason when it ends. */
static void state_event(struct sub_out *s, const char *state, int code, const char *reason,
			int64_t expires)
{
	if (s->quiet)
		return;
	json_t *d = json_pack("{s:s,s:s,s:s}", "subscription_id", s->id, "event", s->event, "state", state);
	if (code)
		json_object_set_new(d, "code", json_integer(code));
	if (reason && *reason)
		json_object_set_new(d, "reason", json_string(reason));
	if (expires >= 0)
		json_object_set_new(d, "expires", json_integer(expires));
	ws_session_send_event(s->session, "subscription", s->req_id, NULL, d);
}

static void sub_free(struct sub_out *s)
{
	metric_add(s->b->m_subs, -1);
	b2b_presence_unwatch_local(s->b, s->local);
	stop_timer(&s->refresh);
	stop_timer(&s->expiry);
	stop_timer(&s->ending);
	if (s->resolving)
		sip_resolve_cancel(s->resolving);
	if (s->ct)
		sip_ctrans_detach(s->ct);
	if (s->dialog) {
		sip_dialogs_remove(sip_ua_dialogs(s->b->cfg.ua), s->dialog);
		sip_dialog_free(s->dialog);
	}
	ws_session_unref(s->session);
	json_decref(s->req_id);
	g_free(s->event);
	g_free(s->accept);
	g_free(s->ruri);
	g_free(s->from);
	g_free(s->hop);
	g_free(s->contact);
	g_free(s->auth_user);
	secret_free(s->auth_pw);
	g_free(s);
}

/* Ends the subscription: the last `subscription` event, then it is freed (at once: every
 * callback that could reach it is detached by sub_free). */
static void sub_end(struct sub_out *s, int code, const char *reason)
{
	state_event(s, "terminated", code, reason, -1);
	g_hash_table_remove(s->b->subs, s->id); /* frees s */
}

/* ---- timers ---- */

static gboolean refresh_due(gpointer data)
{
	struct sub_out *s = data;
	s->refresh = 0;
	if (!s->ct && s->state != SUB_ENDING)
		sub_send(s, s->expires, NULL);
	return G_SOURCE_REMOVE;
}

static gboolean expired(gpointer data)
{
	struct sub_out *s = data;
	s->expiry = 0;
	sub_end(s, 0, "timeout"); /* RFC 6665 §4.1.2.2: not refreshed in time */
	return G_SOURCE_REMOVE;
}

static gboolean ending_over(gpointer data)
{
	struct sub_out *s = data;
	s->ending = 0;
	sub_end(s, 0, "unsubscribed");
	return G_SOURCE_REMOVE;
}

/* The subscription lasts `secs` more: refresh ahead of it (80 %, at least 5 s before). */
static void schedule(struct sub_out *s, unsigned secs)
{
	stop_timer(&s->refresh);
	stop_timer(&s->expiry);
	if (s->state == SUB_ENDING)
		return;
	unsigned in = secs > 25 ? MIN(secs * 4 / 5, secs - 5) : MAX(secs / 2, 1u);
	s->refresh = g_timeout_add_seconds(in, refresh_due, s);
	s->expiry = g_timeout_add_seconds(secs + 1, expired, s);
}

/* ---- NOTIFY ---- */

static void respond(struct sub_out *s, struct sip_strans *st, int code, const char *extra)
{
	GString *h = g_string_new(extra ? extra : "");
	g_string_append_printf(h, "Contact: <%s>\r\nServer: %s\r\n", s->contact, s->b->user_agent);
	sip_strans_respond(st, code, NULL, h->str, (struct slice){NULL, 0}, s->tag);
	g_string_free(h, TRUE);
}

static json_t *mwi_json(struct slice body)
{
	struct sip_mwi m;
	if (sip_mwi_parse(body, &m) != 0)
		return NULL;
	const struct sip_mwi_class *voice = sip_mwi_class(&m, "voice-message");
	json_t *j = json_pack("{s:b,s:I,s:I,s:I,s:I}", "waiting", m.waiting == 1,
			      "new", (json_int_t)(voice ? voice->new_msgs : 0),
			      "old", (json_int_t)(voice ? voice->old_msgs : 0),
			      "new_urgent", (json_int_t)(voice ? voice->new_urgent : 0),
			      "old_urgent", (json_int_t)(voice ? voice->old_urgent : 0));
	if (m.account.p)
		json_object_set_new(j, "account", json_stringn(m.account.p, m.account.len));
	json_t *classes = json_object();
	for (size_t i = 0; i < m.n; i++) {
		char *name = g_ascii_strdown(m.cls[i].name.p, (gssize)m.cls[i].name.len);
		json_object_set_new(classes, name,
				    json_pack("{s:I,s:I,s:I,s:I}", "new", (json_int_t)m.cls[i].new_msgs,
					      "old", (json_int_t)m.cls[i].old_msgs,
					      "new_urgent", (json_int_t)m.cls[i].new_urgent,
					      "old_urgent", (json_int_t)m.cls[i].old_urgent));
		g_free(name);
	}
	json_object_set_new(j, "messages", classes);
	return j;
}

/* A NOTIFY in the subscription's dialog (RFC 6665 §4.1.3). */
static void on_notify(struct sub_out *s, struct sip_strans *st, const struct sip_msg *msg)
{
	const struct sip_hdr *ev = sip_msg_hdr(msg, SIP_HDR_EVENT);
	const struct sip_hdr *ss = sip_msg_hdr(msg, SIP_HDR_SUBSCRIPTION_STATE);
	struct sip_event e;
	struct sip_substate sub;
	if (!ev || sip_event_parse(ev->value, &e) != 0 ||
	    !slice_caseeq(e.type, s->event, strlen(s->event))) {
		GString *h = g_string_new(NULL);
		g_string_append_printf(h, "Allow-Events: %s\r\n", s->event);
		respond(s, st, 489, h->str); /* §8.2.1: missing or another package */
		g_string_free(h, TRUE);
		return;
	}
	if (e.id.p) { /* we never send an id: a NOTIFY with one is for another subscription */
		respond(s, st, 481, NULL);
		return;
	}
	if (!ss || sip_substate_parse(ss->value, &sub) != 0) {
		respond(s, st, 400, NULL);
		return;
	}
	bool terminated = slice_caseeqlit(sub.state, "terminated");
	bool pending = slice_caseeqlit(sub.state, "pending");
	respond(s, st, 200, NULL);

	char state[16];
	g_snprintf(state, sizeof(state), SLICE_FMT, (int)MIN(sub.state.len, 15), sub.state.p);
	json_t *d = json_pack("{s:s,s:s,s:s}", "subscription_id", s->id, "event", s->event, "state",
			      terminated ? "terminated" : pending ? "pending" : "active");
	if (sub.expires >= 0)
		json_object_set_new(d, "expires", json_integer(sub.expires));
	if (sub.reason.p)
		json_object_set_new(d, "reason", json_stringn(sub.reason.p, sub.reason.len));
	if (msg->body.len || msg->content_type.len) {
		json_object_set_new(d, "content_type", json_stringn(msg->content_type.p, msg->content_type.len));
		if (msg->body.len > MAX_NOTIFY_BODY)
			json_object_set_new(d, "body_error", json_string("too large"));
		else if (!g_utf8_validate(msg->body.p, (gssize)msg->body.len, NULL) ||
			 memchr(msg->body.p, '\0', msg->body.len))
			json_object_set_new(d, "body_error", json_string("not UTF-8 text"));
		else
			json_object_set_new(d, "body", json_stringn(msg->body.p, msg->body.len));
		json_t *mwi = NULL;
		if (strcmp(s->event, "message-summary") == 0 && msg->body.len <= MAX_NOTIFY_BODY &&
		    (mwi = mwi_json(msg->body)) == NULL)
			json_object_set_new(d, "body_error", json_string("malformed message-summary"));
		if (mwi)
			json_object_set_new(d, "mwi", mwi);
	}
	if (!s->quiet)
		ws_session_send_event(s->session, "notify", s->req_id, NULL, d);
	else
		json_decref(d);

	if (terminated) {
		char reason[64] = "";
		if (sub.reason.p)
			g_snprintf(reason, sizeof(reason), SLICE_FMT, (int)MIN(sub.reason.len, 63), sub.reason.p);
		sub_end(s, 0, *reason ? reason : s->state == SUB_ENDING ? "unsubscribed" : "terminated by the notifier");
		return;
	}
	if (s->state == SUB_ENDING)
		return;
	enum sub_state to = pending ? SUB_PENDING : SUB_ACTIVE;
	if (s->state != to) {
		set_state(s, to);
		state_event(s, state_names[to], 0, NULL, sub.expires);
	}
	if (sub.expires >= 0) /* the notifier may shorten the subscription (§4.1.3) */
		schedule(s, (unsigned)MIN(sub.expires, (int64_t)s->expires));
}

static void dialog_request(struct sip_dialog *d, struct sip_strans *st, const struct sip_msg *msg,
			   const struct sip_src *src, void *arg)
{
	struct sub_out *s = arg;
	if (!st)
		return;
	if (msg->method_id == SIP_METHOD_NOTIFY)
		on_notify(s, st, msg);
	else
		respond(s, st, 405, "Allow: NOTIFY\r\n");
}

static void attach_dialog(struct sub_out *s, struct sip_dialog *d)
{
	s->dialog = d;
	sip_dialog_set_handler(d, dialog_request, s);
	sip_dialogs_add(sip_ua_dialogs(s->b->cfg.ua), d);
}

bool b2b_subs_on_notify(struct b2b *b, struct sip_strans *st, const struct sip_msg *msg)
{
	/* RFC 6665 §4.1.2.4: the NOTIFY came before the 2xx; its To tag is our From tag */
	GHashTableIter it;
	gpointer v;
	g_hash_table_iter_init(&it, b->subs);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct sub_out *s = v;
		if (s->dialog || !slice_eq(msg->call_id, s->call_id, strlen(s->call_id)) ||
		    !slice_eq(msg->to.tag, s->tag, strlen(s->tag)))
			continue;
		struct sip_dialog *d;
		if (sip_dialog_new_uas(msg, s->tag, &d) != 0) {
			respond(s, st, 400, NULL);
			return true;
		}
		sip_dialog_set_local_cseq(d, s->cseq);
		attach_dialog(s, d);
		on_notify(s, st, msg);
		return true;
	}
	return false;
}

/* ---- SUBSCRIBE ---- */

static void on_response(struct sip_ctrans *ct, const struct sip_msg *m, int status, void *arg)
{
	struct sub_out *s = arg;
	if (status < 200)
		return;
	s->ct = NULL;
	unsigned asked = s->ct_expires;
	if ((status == 401 || status == 407) && m && s->auth_user) {
		struct sip_auth chal;
		struct sip_auth_client_cred cred = {s->auth_user, s->auth_pw};
		GString *line = g_string_new(NULL);
		const struct sip_msg *req = sip_ctrans_request(ct);
		char *ruri = req ? g_strndup(req->ruri.p, req->ruri.len) : g_strdup(s->ruri);
		int rc = sip_auth_client_choose(m, &chal);
		if (rc == 0)
			rc = sip_auth_client_answer(&s->auth, &chal, status == 407, &cred, "SUBSCRIBE",
						    ruri, (struct slice){NULL, 0}, line);
		g_free(ruri);
		if (rc == 0) {
			sub_send(s, asked, line->str);
			g_string_free(line, TRUE);
			return;
		}
		g_string_free(line, TRUE);
	}
	if (status == 423 && m && !s->retried_423 && asked) { /* RFC 6665 §4.1.2.1: Min-Expires */
		const struct sip_hdr *h = sip_msg_hdr_find(m, "Min-Expires");
		uint64_t min;
		if (h && sip_uint_parse(h->value, 86400, &min) == 0 && min > asked) {
			s->retried_423 = true;
			s->expires = (unsigned)min;
			sub_send(s, s->expires, NULL);
			return;
		}
	}
	bool ok = status >= 200 && status < 300;
	if (ok) {
		sip_auth_client_success(&s->auth);
		if (!s->dialog) {
			struct sip_dialog *d;
			if (sip_dialog_new_uac(sip_ctrans_request(ct), m, &d) == 0)
				attach_dialog(s, d);
		}
	}
	char reason[128];
	if (m)
		g_snprintf(reason, sizeof(reason), SLICE_FMT, (int)MIN(m->reason.len, 127), m->reason.p);
	else
		g_strlcpy(reason, status == 408 ? "no response" : "cannot send", sizeof(reason));
	if (s->state == SUB_ENDING) {
		if (!ok || !s->dialog) {
			sub_end(s, ok ? 0 : status, ok ? "unsubscribed" : reason);
		} else if (asked) { /* the SUBSCRIBE in flight when unsubscribe came: now remove it */
			sub_send(s, 0, NULL);
		} else if (!s->ending) {
			s->ending = g_timeout_add_seconds(UNSUBSCRIBE_WAIT, ending_over, s);
		}
		return;
	}
	if (!ok) {
		if (s->state == SUB_SUBSCRIBING || status == 481 || status == 489 || status == 403 ||
		    status == 404) {
			sub_end(s, status, reason); /* refused, or the notifier forgot it (481) */
			return;
		}
		/* a refresh failed for a passing reason: try again later, until expiry */
		struct log_ctx lc = lctx(s);
		LOGN(log_module, &lc, "refresh of %s got %d", s->ruri, status);
		stop_timer(&s->refresh);
		s->refresh = g_timeout_add_seconds(30, refresh_due, s);
		return;
	}
	if (!s->dialog) {
		sub_end(s, 500, "2xx without a usable Contact");
		return;
	}
	unsigned granted = m && m->expires >= 0 ? (unsigned)MIN(m->expires, (int64_t)asked) : asked;
	if (s->state == SUB_SUBSCRIBING) { /* 202/200: pending until the first NOTIFY says */
		set_state(s, SUB_PENDING);
		state_event(s, "pending", status, NULL, granted);
	}
	schedule(s, granted ? granted : 1);
}

static void sub_send(struct sub_out *s, unsigned expires, const char *authorization)
{
	GString *h = g_string_new(NULL);
	char *ruri = NULL;
	if (s->dialog) {
		sip_dialog_request(s->dialog, "SUBSCRIBE", 0, &ruri, h);
	} else {
		ruri = g_strdup(s->ruri);
		g_string_append_printf(h, "From: <%s>;tag=%s\r\nTo: <%s>\r\nCall-ID: %s\r\n"
					  "CSeq: %u SUBSCRIBE\r\nMax-Forwards: 70\r\n",
				       s->from, s->tag, s->ruri, s->call_id, ++s->cseq);
	}
	g_string_append_printf(h, "Contact: <%s>\r\nEvent: %s\r\nAccept: %s\r\nExpires: %u\r\n"
				  "Allow: SUBSCRIBE, NOTIFY\r\nUser-Agent: %s\r\n",
			       s->contact, s->event, s->accept, expires, s->b->user_agent);
	if (authorization)
		g_string_append(h, authorization);
	s->ct_expires = expires;
	int rc = sip_ctrans_send(s->b->cfg.stack, "SUBSCRIBE", ruri, h->str, (struct slice){NULL, 0},
				 &s->dst, on_response, s, &s->ct);
	g_string_free(h, TRUE);
	g_free(ruri);
	if (rc) {
		s->ct = NULL;
		sub_end(s, 503, "cannot send");
	}
}

static void on_resolved(int err, const struct sip_target *t, size_t n, void *arg)
{
	struct sub_out *s = arg;
	s->resolving = NULL;
	for (size_t i = 0; i < n; i++) {
		if (t[i].transport == SIP_TRANSPORT_UDP && sip_target_to_src(&t[i], &s->dst) == 0) {
			set_state(s, SUB_SUBSCRIBING);
			sub_send(s, s->expires, NULL);
			return;
		}
	}
	sub_end(s, err == ENOENT ? 404 : 503, "cannot resolve the notifier");
}

/* A document of a local user's state (presence.c computed it as for SIP watchers). */
static void local_notify(void *arg, const char *ctype, const char *body)
{
	struct sub_out *s = arg;
	if (s->quiet)
		return;
	ws_session_send_event(s->session, "notify", s->req_id, NULL,
			      json_pack("{s:s,s:s,s:s,s:s,s:s}", "subscription_id", s->id, "event",
					s->event, "state", "active", "content_type", ctype, "body", body));
}

/* ---- WebSocket requests ---- */

static const struct {
	const char *event, *accept;
} packages[] = {
	{"message-summary", "application/simple-message-summary"},
	{"presence", "application/pidf+xml"},
	{"dialog", "application/dialog-info+xml"},
};

static unsigned user_subs(struct b2b *b, const char *user)
{
	unsigned n = 0;
	GHashTableIter it;
	gpointer v;
	g_hash_table_iter_init(&it, b->subs);
	while (g_hash_table_iter_next(&it, NULL, &v))
		n += strcmp(ws_session_user(((struct sub_out *)v)->session), user) == 0;
	return n;
}

static void h_subscribe(struct ws_req *req, json_t *params, void *arg)
{
	struct b2b *b = arg;
	const char *to = json_string_value(json_object_get(params, "uri"));
	const char *event = json_string_value(json_object_get(params, "event"));
	const char *account = json_string_value(json_object_get(params, "account_id"));
	json_t *exp = json_object_get(params, "expires");
	struct ws_session *ses = ws_req_session(req);
	size_t pkg;
	for (pkg = 0; pkg < G_N_ELEMENTS(packages); pkg++)
		if (strcmp(event, packages[pkg].event) == 0)
			break;
	if (pkg == G_N_ELEMENTS(packages)) {
		ws_req_error(req, WS_E_INVALID_PARAMS, "parameter 'event' must be message-summary, presence or dialog");
		return;
	}
	if (!b->cfg.ua) {
		ws_req_error(req, WS_E_NOT_AVAILABLE, "SIP is not enabled here");
		return;
	}
	if (user_subs(b, ws_session_user(ses)) >= MAX_SUBS_PER_USER) {
		ws_req_error(req, WS_E_WRONG_STATE, "at most %d subscriptions per user", MAX_SUBS_PER_USER);
		return;
	}
	struct account *acc = NULL;
	if (account && !(acc = b2b_account_of(b, account, ses))) {
		ws_req_error(req, WS_E_INVALID_PARAMS, "no such account in this session");
		return;
	}
	char *uri = strchr(to, ':') ? g_strdup(to)
				    : g_strdup_printf("sip:%s@%s", to, *b->domain ? b->domain : b->contact_host);
	struct sip_uri u;
	if (sip_uri_parse((struct slice){uri, strlen(uri)}, &u) != 0 || u.scheme != SIP_SCHEME_SIP ||
	    !u.host.len) {
		ws_req_error(req, WS_E_INVALID_PARAMS, "parameter 'uri' must be a sip: URI or a user name");
		g_free(uri);
		return;
	}
	/* presence and dialog of a user of our domain: from gorgee's own notifier, no SIP */
	bool local = !acc && pkg != 0 && u.user.len && u.user.len < 256 && !memchr(u.user.p, '%', u.user.len) &&
		     b2b_host_is_ours(b, u.host);
	struct target t;
	memset(&t, 0, sizeof(t));
	if (local) {
		/* nothing to route */
	} else if (acc) {
		t.ruri = g_strdup(uri);
		t.hop = g_strdup(b2b_account_next_hop(acc));
	} else {
		b2b_find_target(b, &u, true, &t);
	}
	if (t.ws) {
		ws_req_error(req, WS_E_NOT_AVAILABLE, "subscribing to a user logged in here is not available yet");
		b2b_target_clear(&t);
		g_free(uri);
		return;
	}
	if (!t.code && t.trunk && !b2b_dialplan_allows(b, &u))
		t.code = 403;
	struct sub_out *s = g_new0(struct sub_out, 1);
	s->b = b;
	g_snprintf(s->id, sizeof(s->id), "s-%u", ++b->next_sub);
	s->session = ws_session_ref(ses);
	s->req_id = json_incref(ws_req_id(req));
	s->event = g_strdup(packages[pkg].event);
	s->accept = g_strdup(packages[pkg].accept);
	s->ruri = g_strdup(t.ruri ? t.ruri : uri);
	s->hop = g_strdup(t.hop ? t.hop : uri);
	s->from = acc ? g_strdup(b2b_account_aor(acc))
		      : g_strdup_printf("sip:%s@%s", ws_session_user(ses), *b->domain ? b->domain : b->contact_host);
	s->contact = g_strdup_printf("sip:%s@%s", s->id, b->contact_host);
	s->expires = exp ? (unsigned)json_integer_value(exp) : 3600;
	if (acc) {
		size_t n = 0;
		const char *pw = secret_reveal(b2b_account_password(acc), &n);
		s->auth_user = g_strdup(b2b_account_username(acc));
		s->auth_pw = secret_new(pw, n);
	}
	core_random_hex(s->call_id, 12);
	g_strlcat(s->call_id, "@gorgee", sizeof(s->call_id));
	core_random_hex(s->tag, 8);
	g_hash_table_insert(b->subs, s->id, s);
	metric_add(b->m_subs, 1);
	ws_req_reply(req, json_pack("{s:s}", "subscription_id", s->id));
	int code = t.code;
	b2b_target_clear(&t);
	if (local) {
		char user[256];
		g_snprintf(user, sizeof(user), SLICE_FMT, SLICE_ARG(u.user));
		code = b2b_presence_watch_local(b, ws_session_user(ses), user, u.host, s->event, local_notify, s,
						&s->local);
		g_free(uri);
		if (code) {
			sub_end(s, code, sip_status_phrase(code));
			return;
		}
		set_state(s, SUB_ACTIVE);
		state_event(s, "active", 0, NULL, -1);
		return;
	}
	g_free(uri);
	if (code) {
		sub_end(s, code, sip_status_phrase(code));
		return;
	}
	struct sip_uri hu;
	int rc = sip_uri_parse((struct slice){s->hop, strlen(s->hop)}, &hu);
	if (rc == 0)
		rc = sip_resolve(b->cfg.resolver, &hu, on_resolved, s, &s->resolving);
	if (rc) {
		s->resolving = NULL;
		sub_end(s, 404, "cannot resolve the notifier");
	}
}

/* Unsubscribe (RFC 6665 §4.1.2.3): SUBSCRIBE with Expires: 0, then the final NOTIFY. */
static void sub_remove(struct sub_out *s)
{
	if (s->state == SUB_ENDING)
		return;
	bool was_resolving = s->state == SUB_RESOLVING;
	set_state(s, SUB_ENDING);
	stop_timer(&s->refresh);
	stop_timer(&s->expiry);
	if (s->local) {
		b2b_presence_unwatch_local(s->b, s->local);
		s->local = NULL;
		sub_end(s, 0, "unsubscribed");
		return;
	}
	if (was_resolving) {
		sub_end(s, 0, "unsubscribed");
		return;
	}
	if (s->ct)
		return; /* on_response goes on from there */
	if (!s->dialog) {
		sub_end(s, 0, "unsubscribed");
		return;
	}
	sub_send(s, 0, NULL);
}

static void h_unsubscribe(struct ws_req *req, json_t *params, void *arg)
{
	struct b2b *b = arg;
	const char *id = json_string_value(json_object_get(params, "subscription_id"));
	struct sub_out *s = g_hash_table_lookup(b->subs, id);
	if (!s || s->state == SUB_ENDING) {
		ws_req_error(req, WS_E_INVALID_PARAMS, "no such subscription");
		return;
	}
	if (s->session != ws_req_session(req)) {
		ws_req_error(req, WS_E_FORBIDDEN, "subscription of another session");
		return;
	}
	json_decref(s->req_id);
	s->req_id = json_incref(ws_req_id(req));
	ws_req_reply(req, NULL);
	sub_remove(s);
}

void b2b_subs_session_end(struct b2b *b, struct ws_session *ses)
{
	GList *all = g_hash_table_get_values(b->subs);
	for (GList *l = all; l; l = l->next) {
		struct sub_out *s = l->data;
		if (s->session != ses)
			continue;
		s->quiet = true;
		sub_remove(s);
	}
	g_list_free(all);
}

void b2b_subs_stop(struct b2b *b)
{
	GList *all = g_hash_table_get_values(b->subs);
	for (GList *l = all; l; l = l->next)
		sub_remove(l->data);
	g_list_free(all);
}

unsigned b2b_subs_busy(const struct b2b *b)
{
	unsigned n = 0;
	GHashTableIter it;
	gpointer v;
	g_hash_table_iter_init(&it, b->subs);
	while (g_hash_table_iter_next(&it, NULL, &v))
		n += ((struct sub_out *)v)->ct || ((struct sub_out *)v)->resolving;
	return n;
}

void b2b_subs_dump(const struct b2b *b, GString *out)
{
	GHashTableIter it;
	gpointer v;
	if (!b->subs)
		return;
	g_hash_table_iter_init(&it, (GHashTable *)b->subs);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		const struct sub_out *s = v;
		g_string_append_printf(out, "subscription %s state=%s event=%s user=%s uri=%s%s\n", s->id,
				       state_names[s->state], s->event, ws_session_user(s->session), s->ruri,
				       s->local ? " local" : "");
		if (s->dialog) {
			g_string_append(out, "  ");
			sip_dialog_dump(s->dialog, out);
		}
	}
}

static const struct ws_param p_subscribe[] = {
	{"uri", WS_P_STRING, true, 1, 256},
	{"event", WS_P_STRING, true, 1, 32},
	{"expires", WS_P_INT, false, 60, 86400},
	{"account_id", WS_P_STRING, false, 1, 15},
	{NULL, 0, false, 0, 0},
};
static const struct ws_param p_unsubscribe[] = {
	{"subscription_id", WS_P_STRING, true, 1, 15},
	{NULL, 0, false, 0, 0},
};
static const struct ws_request_def sub_requests[] = {
	{"subscribe", p_subscribe, h_subscribe, WS_REQ_NEEDS_LOGIN},
	{"unsubscribe", p_unsubscribe, h_unsubscribe, WS_REQ_NEEDS_LOGIN},
};

static void sub_destroy(gpointer p)
{
	sub_free(p);
}

void b2b_subs_init(struct b2b *b)
{
	b->subs = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, sub_destroy);
	struct metric_family *f = metrics_family("gorgee_event_subscriptions",
						 "Event subscriptions (RFC 6665) held: as subscriber for "
						 "WebSocket users, as notifier for SIP watchers.", METRIC_GAUGE);
	b->m_subs = metrics_series(f, "role=\"subscriber\"");
	b->m_watchers = metrics_series(f, "role=\"notifier\"");
	b->m_publications = metrics_series(metrics_family("gorgee_presence_publications",
							  "PUBLISHed presence states held (RFC 3903).",
							  METRIC_GAUGE), "");
	ws_server_add_requests(b->cfg.ws, sub_requests, G_N_ELEMENTS(sub_requests), b);
}

void b2b_subs_free(struct b2b *b)
{
	if (b->subs)
		g_hash_table_destroy(b->subs);
	b->subs = NULL;
}
