/* The notifier for users of our domain (RFC 6665): SUBSCRIBE from SIP peers for presence
 * (PIDF, RFC 3856/3863: open while the user has a WebSocket session or a registered contact,
 * unless a published state says otherwise) and dialog (RFC 4235 dialog-info from the
 * user's calls); NOTIFY on change, refresh, expiry, unsubscribe, caps per user and per
 * source. Also the UA core's event handler: SUBSCRIBE, NOTIFY and PUBLISH outside a dialog. */
#include <errno.h>
#include <string.h>

#include "b2b_int.h"

static const char *const log_module = "presence";

#define DEFAULT_EXPIRES 3600
#define TICK_SECS       2   /* registrations and publication expiry are looked at this often */
#define ENDED_KEEP_SECS 30  /* an ended call stays in dialog documents as terminated */
#define MAX_ENDED       256

enum pkg { PKG_PRESENCE, PKG_DIALOG };
static const char *const pkg_names[] = {"presence", "dialog"};
static const char *const pkg_types[] = {"application/pidf+xml", "application/dialog-info+xml"};
#define ALLOW_EVENTS "presence, dialog"

/* A call that ended lately, kept for dialog documents. */
struct ended_call {
	char id[24];
	char *from, *to;
	gint64 ended_us;
};

struct presence {
	GHashTable *watchers; /* id -> struct watcher * (owned) */
	unsigned next_id;
	guint idle, tick;
	GQueue ended;         /* struct ended_call *, oldest first */
};

/* A subscription held for a SIP peer: active; ending (the final NOTIFY is due, after the one
 * in flight); done (the final NOTIFY is sent: freed on its response). */
enum w_state { W_ACTIVE, W_ENDING, W_DONE };
static const char *const w_state_names[] = {"active", "ending", "done"};

/* One subscription of a SIP peer to a user's state. */
struct watcher {
	struct b2b *b;
	char id[16];
	enum pkg pkg;
	char *user, *aor, *entity, *source_ip, *contact;
	struct sip_dialog *dialog;
	char tag[17];
	struct sip_src dst;     /* the subscriber, where its SUBSCRIBE came from */
	guint expiry;
	gint64 expires_us;      /* monotonic */
	unsigned version;       /* dialog-info version of the next document (RFC 4235 §4.1) */
	char *last;             /* the content last sent (compared without the version) */
	struct sip_ctrans *ct;  /* the NOTIFY in flight: one at a time */
	bool again;             /* the state changed while it was in flight */
	enum w_state state;
	/* a WebSocket user's subscription to a local user (no dialog): documents go here */
	b2b_local_notify_fn *local_fn;
	void *local_arg;
	char end_reason[24];
};

static struct log_ctx lctx(const struct watcher *w)
{
	return (struct log_ctx){.call_id = w->dialog ? sip_dialog_call_id(w->dialog) : NULL,
				.leg = "notifier", .peer = w->source_ip};
}

static void reply(struct b2b *b, struct sip_strans *st, int code, const char *extra,
		  const char *to_tag)
{
	GString *h = g_string_new(extra ? extra : "");
	g_string_append_printf(h, "Server: %s\r\n", b->user_agent);
	sip_strans_respond(st, code, NULL, h->str, (struct slice){NULL, 0}, to_tag);
	g_string_free(h, TRUE);
}

static void watcher_free(gpointer p)
{
	struct watcher *w = p;
	metric_add(w->b->m_watchers, -1);
	if (w->expiry)
		g_source_remove(w->expiry);
	if (w->ct)
		sip_ctrans_detach(w->ct);
	if (w->dialog) {
		sip_dialogs_remove(sip_ua_dialogs(w->b->cfg.ua), w->dialog);
		sip_dialog_free(w->dialog);
	}
	g_free(w->user);
	g_free(w->aor);
	g_free(w->entity);
	g_free(w->source_ip);
	g_free(w->contact);
	g_free(w->last);
	g_free(w);
}

static void set_state(struct watcher *w, enum w_state to)
{
	struct log_ctx lc = lctx(w);
	LOGD(log_module, &lc, "%s of %s: %s -> %s", pkg_names[w->pkg], w->user, w_state_names[w->state],
	     w_state_names[to]);
	w->state = to;
}

static void watcher_remove(struct watcher *w)
{
	g_hash_table_remove(w->b->presence->watchers, w->id);
}

/* ---- documents ---- */

static bool online(struct b2b *b, const struct watcher *w)
{
	GPtrArray *ws = ws_server_sessions_of(b->cfg.ws, w->user);
	bool on = ws->len > 0;
	g_ptr_array_unref(ws);
	GPtrArray *found = NULL;
	if (!on && b->cfg.store &&
	    sip_store_lookup(b->cfg.store, w->aor, g_get_real_time() / G_USEC_PER_SEC, &found) == 0)
		on = found->len > 0;
	if (found)
		g_ptr_array_unref(found);
	return on;
}

/* PIDF (RFC 3863) with one tuple. */
static void presence_doc(struct watcher *w, GString *out)
{
	int basic;
	const char *note = NULL;
	if (!b2b_published_state(w->b, w->user, &basic, &note))
		basic = online(w->b, w);
	g_string_append(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"
			     "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"");
	sip_xml_text_escape(w->entity, strlen(w->entity), out);
	g_string_append_printf(out, "\">\r\n <tuple id=\"gorgee\">\r\n  <status><basic>%s</basic></status>\r\n"
				    " </tuple>\r\n", basic ? "open" : "closed");
	if (note) {
		g_string_append(out, " <note>");
		sip_xml_text_escape(note, strlen(note), out);
		g_string_append(out, "</note>\r\n");
	}
	g_string_append(out, "</presence>\r\n");
}

/* The user part of uri when it names a user of our domain, else false. */
static bool local_user(const struct b2b *b, const char *uri, const char *user)
{
	struct sip_uri u;
	return uri && sip_uri_parse((struct slice){uri, strlen(uri)}, &u) == 0 && u.user.len &&
	       slice_eq(u.user, user, strlen(user)) && b2b_host_is_ours(b, u.host);
}

static const char *dialog_state(enum call_state s, bool initiator)
{
	switch (s) {
	case CALL_ROUTING:
	case CALL_CALLING:
		return initiator ? "trying" : "early";
	case CALL_EARLY:
		return "early";
	case CALL_ENDED:
	case CALL_CANCELLING:
		return "terminated";
	default:
		return "confirmed";
	}
}

static void dialog_entry(GString *out, const char *id, const char *suffix, bool initiator,
			 const char *state, const char *remote)
{
	g_string_append_printf(out, " <dialog id=\"%s%s\" direction=\"%s\"><state>%s</state>", id, suffix,
			       initiator ? "initiator" : "recipient", state);
	if (remote) {
		g_string_append(out, "<remote><identity>");
		sip_xml_text_escape(remote, strlen(remote), out);
		g_string_append(out, "</identity></remote>");
	}
	g_string_append(out, "</dialog>\r\n");
}

/* The dialogs of the user (RFC 4235 full state), without the enclosing element. */
static void dialog_content(struct watcher *w, GString *out)
{
	struct b2b *b = w->b;
	GHashTableIter it;
	gpointer v;
	g_hash_table_iter_init(&it, b->calls);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		const struct call *c = v;
		if (c->state == CALL_ENDED)
			continue; /* in the ended list */
		if (local_user(b, c->from, w->user))
			dialog_entry(out, c->id, "", true, dialog_state(c->state, true), c->to);
		if (local_user(b, c->to, w->user))
			dialog_entry(out, c->id, local_user(b, c->from, w->user) ? "-r" : "", false,
				     dialog_state(c->state, false), c->from);
	}
	for (GList *l = b->presence->ended.head; l; l = l->next) {
		const struct ended_call *e = l->data;
		if (local_user(b, e->from, w->user))
			dialog_entry(out, e->id, "", true, "terminated", e->to);
		if (local_user(b, e->to, w->user))
			dialog_entry(out, e->id, local_user(b, e->from, w->user) ? "-r" : "", false,
				     "terminated", e->from);
	}
}

static void content(struct watcher *w, GString *out)
{
	if (w->pkg == PKG_PRESENCE)
		presence_doc(w, out);
	else
		dialog_content(w, out);
}

/* ---- NOTIFY ---- */

static void notify(struct watcher *w);

static void on_notify_response(struct sip_ctrans *ct, const struct sip_msg *m, int status,
			       void *arg)
{
	struct watcher *w = arg;
	if (status < 200)
		return;
	w->ct = NULL;
	if (w->state == W_DONE || status >= 300) {
		/* done, or the subscriber refused or is gone (RFC 6665 §4.2.2: 481, 408, ...) */
		if (status >= 300) {
			struct log_ctx lc = lctx(w);
			LOGI(log_module, &lc, "%s of %s: NOTIFY got %d, subscription removed",
			     pkg_names[w->pkg], w->user, status);
		}
		watcher_remove(w);
		return;
	}
	if (w->again || w->state == W_ENDING) {
		w->again = false;
		notify(w);
	}
}

/* Sends the current state if it changed since the last NOTIFY (always for the first and
 * the final one). At most one NOTIFY is in flight; a change meanwhile is sent after it. */
static void notify(struct watcher *w)
{
	if (w->state == W_DONE)
		return;
	if (w->ct) {
		w->again = true;
		return;
	}
	GString *c = g_string_new(NULL);
	content(w, c);
	if (w->state == W_ACTIVE && w->last && strcmp(w->last, c->str) == 0) {
		g_string_free(c, TRUE);
		return;
	}
	GString *body = g_string_new(NULL);
	if (w->pkg == PKG_DIALOG) {
		g_string_append(body, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"
				      "<dialog-info xmlns=\"urn:ietf:params:xml:ns:dialog-info\" ");
		g_string_append_printf(body, "version=\"%u\" state=\"full\" entity=\"", w->version++);
		sip_xml_text_escape(w->entity, strlen(w->entity), body);
		g_string_append_printf(body, "\">\r\n%s</dialog-info>\r\n", c->str);
	} else {
		g_string_append(body, c->str);
	}
	g_free(w->last);
	w->last = g_string_free(c, FALSE);
	if (w->local_fn) { /* no SIP: the document goes to the subscriber in gorgee */
		w->local_fn(w->local_arg, pkg_types[w->pkg], body->str);
		g_string_free(body, TRUE);
		return;
	}

	char *ruri = NULL;
	GString *h = g_string_new(NULL);
	sip_dialog_request(w->dialog, "NOTIFY", 0, &ruri, h);
	g_string_append_printf(h, "Contact: <%s>\r\nEvent: %s\r\n", w->contact, pkg_names[w->pkg]);
	if (w->state == W_ENDING) {
		g_string_append_printf(h, "Subscription-State: terminated;reason=%s\r\n", w->end_reason);
		set_state(w, W_DONE);
	} else {
		gint64 left = (w->expires_us - g_get_monotonic_time()) / G_USEC_PER_SEC;
		g_string_append_printf(h, "Subscription-State: active;expires=%u\r\n",
				       (unsigned)CLAMP(left, 0, 86400));
	}
	g_string_append_printf(h, "Content-Type: %s\r\nUser-Agent: %s\r\n", pkg_types[w->pkg],
			       w->b->user_agent);
	int rc = sip_ctrans_send(w->b->cfg.stack, "NOTIFY", ruri, h->str,
				 (struct slice){body->str, body->len}, &w->dst, on_notify_response, w, &w->ct);
	g_free(ruri);
	g_string_free(h, TRUE);
	g_string_free(body, TRUE);
	if (rc) {
		w->ct = NULL;
		watcher_remove(w);
	}
}

/* Ends a subscription with a final NOTIFY (terminated, with the reason). */
static void watcher_end(struct watcher *w, const char *reason)
{
	if (w->state != W_ACTIVE)
		return;
	set_state(w, W_ENDING);
	g_strlcpy(w->end_reason, reason, sizeof(w->end_reason));
	if (w->expiry)
		g_source_remove(w->expiry);
	w->expiry = 0;
	if (!w->ct)
		notify(w);
}

static gboolean expired(gpointer data)
{
	struct watcher *w = data;
	w->expiry = 0;
	watcher_end(w, "timeout"); /* RFC 6665 §4.2.2: not refreshed */
	return G_SOURCE_REMOVE;
}

static void set_expiry(struct watcher *w, unsigned secs)
{
	if (w->expiry)
		g_source_remove(w->expiry);
	w->expires_us = g_get_monotonic_time() + (gint64)secs * G_USEC_PER_SEC;
	w->expiry = g_timeout_add_seconds(secs, expired, w);
}

static void update_all(struct b2b *b)
{
	GList *all = g_hash_table_get_values(b->presence->watchers);
	for (GList *l = all; l; l = l->next)
		notify(l->data); /* may free it: NOTIFY not sendable */
	g_list_free(all);
}

static gboolean idle_update(gpointer data)
{
	struct b2b *b = data;
	b->presence->idle = 0;
	update_all(b);
	return G_SOURCE_REMOVE;
}

static gboolean tick(gpointer data)
{
	struct b2b *b = data;
	struct presence *p = b->presence;
	gint64 old = g_get_monotonic_time() - ENDED_KEEP_SECS * G_USEC_PER_SEC;
	struct ended_call *e;
	while ((e = g_queue_peek_head(&p->ended)) && e->ended_us < old) {
		g_queue_pop_head(&p->ended);
		g_free(e->from);
		g_free(e->to);
		g_free(e);
	}
	if (g_hash_table_size(p->watchers))
		update_all(b);
	return G_SOURCE_CONTINUE;
}

void b2b_presence_touch(struct b2b *b)
{
	if (b->presence && !b->presence->idle && g_hash_table_size(b->presence->watchers))
		b->presence->idle = core_defer(idle_update, b);
}

void b2b_presence_call_changed(struct b2b *b, const struct call *c)
{
	struct presence *p = b->presence;
	if (!p)
		return;
	if (c->state == CALL_ENDED) {
		struct ended_call *e = g_new0(struct ended_call, 1);
		g_strlcpy(e->id, c->id, sizeof(e->id));
		e->from = g_strdup(c->from);
		e->to = g_strdup(c->to);
		e->ended_us = g_get_monotonic_time();
		g_queue_push_tail(&p->ended, e);
		while (g_queue_get_length(&p->ended) > MAX_ENDED) {
			e = g_queue_pop_head(&p->ended);
			g_free(e->from);
			g_free(e->to);
			g_free(e);
		}
	}
	b2b_presence_touch(b);
}

/* ---- SUBSCRIBE ---- */

/* Watchers of a user (by_source false) or from a source address (true). */
static unsigned count_watchers(struct b2b *b, const char *key, bool by_source)
{
	unsigned n = 0;
	GHashTableIter it;
	gpointer v;
	g_hash_table_iter_init(&it, b->presence->watchers);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct watcher *w = v;
		n += strcmp(by_source ? w->source_ip : w->user, key) == 0;
	}
	return n;
}

/* Expires of a SUBSCRIBE: default, 423 below the minimum (0 stays 0), clamped above the
 * maximum. Returns the value, or -1 after answering 423. */
static int64_t sub_expires(struct b2b *b, struct sip_strans *st, const struct sip_msg *msg)
{
	int64_t e = msg->expires >= 0 ? msg->expires : DEFAULT_EXPIRES;
	if (e > 0 && e < b->cfg.ev_min_expires) { /* RFC 6665 §4.2.1.1 */
		char extra[48];
		g_snprintf(extra, sizeof(extra), "Min-Expires: %u\r\n", b->cfg.ev_min_expires);
		reply(b, st, 423, extra, NULL);
		return -1;
	}
	return MIN(e, (int64_t)b->cfg.ev_max_expires);
}

static bool event_is(const struct sip_msg *msg, enum pkg pkg)
{
	const struct sip_hdr *h = sip_msg_hdr(msg, SIP_HDR_EVENT);
	struct sip_event e;
	return h && sip_event_parse(h->value, &e) == 0 && slice_caseeq(e.type, pkg_names[pkg], strlen(pkg_names[pkg]));
}

static void in_dialog(struct sip_dialog *d, struct sip_strans *st, const struct sip_msg *msg,
		      const struct sip_src *src, void *arg)
{
	struct watcher *w = arg;
	struct b2b *b = w->b;
	if (!st)
		return;
	if (msg->method_id != SIP_METHOD_SUBSCRIBE) {
		reply(b, st, 405, "Allow: SUBSCRIBE\r\n", NULL);
		return;
	}
	if (!event_is(msg, w->pkg)) {
		reply(b, st, 489, "Allow-Events: " ALLOW_EVENTS "\r\n", NULL);
		return;
	}
	if (w->state != W_ACTIVE) {
		reply(b, st, 481, NULL, NULL);
		return;
	}
	int64_t e = sub_expires(b, st, msg);
	if (e < 0)
		return;
	char extra[96];
	g_snprintf(extra, sizeof(extra), "Expires: %u\r\nContact: <%s>\r\n", (unsigned)e, w->contact);
	reply(b, st, 200, extra, NULL);
	struct log_ctx lc = lctx(w);
	LOGI(log_module, &lc, "%s of %s: %s", pkg_names[w->pkg], w->user, e ? "refreshed" : "unsubscribed");
	if (e == 0) { /* RFC 6665 §4.2.1.4: unsubscribe, with a final NOTIFY */
		watcher_end(w, "timeout");
		return;
	}
	set_expiry(w, (unsigned)e);
	g_free(w->last); /* §4.2.1.2: a refresh is followed by a NOTIFY */
	w->last = NULL;
	notify(w);
}

/* Accept (RFC 6665 §4.2.1.1): when present, it must name the package's body type. */
static bool accepts(const struct sip_msg *msg, enum pkg pkg)
{
	const struct sip_hdr *h = sip_msg_hdr(msg, SIP_HDR_ACCEPT);
	if (!h)
		return true;
	for (; h; h = sip_msg_hdr_next(msg, h)) {
		struct slice v = h->value;
		const char *semi = memchr(v.p, ';', v.len);
		if (semi)
			v.len = (size_t)(semi - v.p);
		while (v.len && (v.p[v.len - 1] == ' ' || v.p[v.len - 1] == '\t'))
			v.len--;
		if (slice_caseeq(v, pkg_types[pkg], strlen(pkg_types[pkg])) || slice_eqlit(v, "*/*"))
			return true;
	}
	return false;
}

static void on_subscribe(struct b2b *b, struct sip_strans *st, const struct sip_msg *msg,
			 const struct sip_src *src, enum pkg pkg, const char *user)
{
	struct log_ctx lc = {.leg = "notifier", .peer = src->ip};
	if (!accepts(msg, pkg)) {
		char extra[96];
		g_snprintf(extra, sizeof(extra), "Accept: %s\r\n", pkg_types[pkg]);
		reply(b, st, 406, extra, NULL);
		return;
	}
	int64_t e = sub_expires(b, st, msg);
	if (e < 0)
		return;
	/* caps: floods get 503 with Retry-After (SEC-07 style), subscriptions held stay */
	if (count_watchers(b, user, false) >= b->cfg.ev_max_per_user ||
	    count_watchers(b, src->ip, true) + b2b_publish_count_source(b, src->ip) >= b->cfg.ev_max_per_source) {
		LOGN(log_module, &lc, "SUBSCRIBE %s for %s: cap reached, 503", pkg_names[pkg], user);
		reply(b, st, 503, "Retry-After: 60\r\n", NULL);
		return;
	}
	struct watcher *w = g_new0(struct watcher, 1);
	w->b = b;
	w->pkg = pkg;
	core_random_hex(w->tag, 8);
	if (sip_dialog_new_uas(msg, w->tag, &w->dialog) != 0) { /* BI-11: no usable Contact */
		g_free(w);
		reply(b, st, 400, NULL, NULL);
		return;
	}
	g_snprintf(w->id, sizeof(w->id), "w-%u", ++b->presence->next_id);
	w->user = g_strdup(user);
	char *host = g_ascii_strdown(msg->ruri_parsed.host.p, (gssize)msg->ruri_parsed.host.len);
	w->aor = g_strdup_printf("sip:%s@%s", user, host);
	w->entity = g_strdup(w->aor);
	g_free(host);
	w->source_ip = g_strdup(src->ip);
	w->contact = g_strdup_printf("sip:%s@%s", w->id, b->contact_host);
	w->dst = *src;
	w->dst.raw = (struct slice){NULL, 0};
	sip_dialog_set_handler(w->dialog, in_dialog, w);
	sip_dialogs_add(sip_ua_dialogs(b->cfg.ua), w->dialog);
	g_hash_table_insert(b->presence->watchers, w->id, w);
	metric_add(b->m_watchers, 1);
	char extra[96];
	g_snprintf(extra, sizeof(extra), "Expires: %u\r\nContact: <%s>\r\n", (unsigned)e, w->contact);
	reply(b, st, 200, extra, w->tag);
	LOGI(log_module, &lc, "SUBSCRIBE %s for %s: %u s", pkg_names[pkg], user, (unsigned)e);
	if (e == 0) { /* RFC 6665 §4.4.3: a fetch, one NOTIFY that ends it */
		watcher_end(w, "timeout");
		return;
	}
	set_expiry(w, (unsigned)e);
	notify(w); /* §4.2.1.2: the initial NOTIFY at once */
}

/* A user of the registrar (or one logged in here). */
static bool user_known(struct b2b *b, const char *user)
{
	struct sip_user *u = NULL;
	bool known = b->cfg.store && sip_store_user_get(b->cfg.store, user, b->cfg.realm, &u) == 0 && u;
	sip_user_free(u);
	if (!known) {
		GPtrArray *ws = ws_server_sessions_of(b->cfg.ws, user);
		known = ws->len > 0;
		g_ptr_array_unref(ws);
	}
	return known;
}

void b2b_on_event_request(struct sip_strans *st, const struct sip_msg *msg,
			  const struct sip_src *src, void *arg)
{
	struct b2b *b = arg;
	struct log_ctx lc = {.leg = "events", .peer = src->ip};
	if (msg->method_id == SIP_METHOD_NOTIFY) {
		if (!b2b_subs_on_notify(b, st, msg)) {
			LOGI(log_module, &lc, "NOTIFY for no subscription: 481");
			reply(b, st, 481, NULL, NULL);
		}
		return;
	}
	if (msg->to.tag.len) { /* in a dialog that does not exist (any more) */
		reply(b, st, 481, NULL, NULL);
		return;
	}
	if (b->stopping) {
		reply(b, st, 503, "Retry-After: 30\r\n", NULL);
		return;
	}
	bool publish = msg->method_id == SIP_METHOD_PUBLISH;
	enum pkg pkg;
	if (event_is(msg, PKG_PRESENCE))
		pkg = PKG_PRESENCE;
	else if (!publish && event_is(msg, PKG_DIALOG))
		pkg = PKG_DIALOG;
	else { /* RFC 6665 §8.2.1 (also a missing Event), RFC 3903 §6 step 1 */
		LOGI(log_module, &lc, SLICE_FMT " with a missing or unknown Event: 489", SLICE_ARG(msg->method));
		reply(b, st, 489, publish ? "Allow-Events: presence\r\n" : "Allow-Events: " ALLOW_EVENTS "\r\n", NULL);
		return;
	}
	const struct sip_uri *u = &msg->ruri_parsed;
	char user[SIP_AUTH_MAX_USER + 1], authed[SIP_AUTH_MAX_USER + 1];
	if ((u->scheme != SIP_SCHEME_SIP && u->scheme != SIP_SCHEME_SIPS) || !u->user.len ||
	    u->user.len > SIP_AUTH_MAX_USER || memchr(u->user.p, '%', u->user.len) ||
	    !b2b_host_is_ours(b, u->host)) {
		reply(b, st, 404, NULL, NULL);
		return;
	}
	g_snprintf(user, sizeof(user), SLICE_FMT, SLICE_ARG(u->user));
	/* SEC-10 pattern: sources outside calls.trusted authenticate as a user of the realm */
	if (!b2b_authorize(b, st, msg, src, false, authed, sizeof(authed)))
		return;
	if (publish && *authed && strcmp(authed, user) != 0) {
		LOGN(log_module, &lc, "PUBLISH for %s by %s: 403", user, authed);
		reply(b, st, 403, NULL, NULL);
		return;
	}
	if (!user_known(b, user)) {
		reply(b, st, 404, NULL, NULL);
		return;
	}
	if (publish)
		b2b_on_publish(b, st, msg, src, user);
	else
		on_subscribe(b, st, msg, src, pkg, user);
}

/* ---- WebSocket users watching local users ---- */

int b2b_presence_watch_local(struct b2b *b, const char *owner, const char *user,
			     struct slice host, const char *event, b2b_local_notify_fn *fn, void *arg,
			     struct watcher **out)
{
	enum pkg pkg;
	*out = NULL;
	if (strcmp(event, "presence") == 0)
		pkg = PKG_PRESENCE;
	else if (strcmp(event, "dialog") == 0)
		pkg = PKG_DIALOG;
	else
		return 489;
	if (!b->presence || !user_known(b, user))
		return 404;
	char *source = g_strdup_printf("ws:%s", owner);
	if (count_watchers(b, user, false) >= b->cfg.ev_max_per_user ||
	    count_watchers(b, source, true) >= b->cfg.ev_max_per_source) {
		g_free(source);
		return 503;
	}
	struct watcher *w = g_new0(struct watcher, 1);
	w->b = b;
	w->pkg = pkg;
	g_snprintf(w->id, sizeof(w->id), "w-%u", ++b->presence->next_id);
	w->user = g_strdup(user);
	char *h = g_ascii_strdown(host.p, (gssize)host.len);
	w->aor = g_strdup_printf("sip:%s@%s", user, h);
	g_free(h);
	w->entity = g_strdup(w->aor);
	w->source_ip = source;
	w->local_fn = fn;
	w->local_arg = arg;
	g_hash_table_insert(b->presence->watchers, w->id, w);
	metric_add(b->m_watchers, 1);
	*out = w;
	notify(w); /* the current state at once */
	return 0;
}

void b2b_presence_unwatch_local(struct b2b *b, struct watcher *w)
{
	if (b->presence && w)
		watcher_remove(w);
}

void b2b_presence_dump(const struct b2b *b, GString *out)
{
	GHashTableIter it;
	gpointer v;
	if (!b->presence)
		return;
	g_hash_table_iter_init(&it, b->presence->watchers);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		const struct watcher *w = v;
		g_string_append_printf(out, "watcher %s state=%s event=%s user=%s from=%s%s\n", w->id,
				       w_state_names[w->state], pkg_names[w->pkg], w->user, w->source_ip,
				       w->ct ? " notify-pending" : "");
	}
	unsigned n = b->publications ? g_hash_table_size(b->publications) : 0;
	if (n)
		g_string_append_printf(out, "publications %u\n", n);
}

/* ---- life ---- */

static void session_started(struct ws_session *s, void *arg)
{
	b2b_presence_touch(arg);
}

void b2b_presence_session_end(struct b2b *b, struct ws_session *s)
{
	b2b_publish_session_end(b, s);
	b2b_presence_touch(b);
}

void b2b_presence_init(struct b2b *b)
{
	struct presence *p = g_new0(struct presence, 1);
	p->watchers = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, watcher_free);
	g_queue_init(&p->ended);
	b->presence = p;
	if (!b->cfg.ev_max_per_user)
		b->cfg.ev_max_per_user = 50;
	if (!b->cfg.ev_max_per_source)
		b->cfg.ev_max_per_source = 1000;
	if (!b->cfg.ev_min_expires)
		b->cfg.ev_min_expires = 60;
	if (b->cfg.ev_max_expires < b->cfg.ev_min_expires)
		b->cfg.ev_max_expires = MAX(b->cfg.ev_min_expires, 3600u);
	b2b_publish_init(b);
	if (b->cfg.ua) {
		p->tick = g_timeout_add_seconds(TICK_SECS, tick, b);
		sip_ua_set_event_handler(b->cfg.ua, b2b_on_event_request, b, ALLOW_EVENTS);
		ws_server_on_session_start(b->cfg.ws, session_started, b);
	}
}

void b2b_presence_stop(struct b2b *b)
{
	if (!b->presence)
		return;
	GList *all = g_hash_table_get_values(b->presence->watchers);
	for (GList *l = all; l; l = l->next)
		if (!((struct watcher *)l->data)->local_fn)
			watcher_end(l->data, "deactivated"); /* RFC 6665 §4.2.2: subscribe again (elsewhere) */
	g_list_free(all);
}

unsigned b2b_presence_busy(const struct b2b *b)
{
	unsigned n = 0;
	GHashTableIter it;
	gpointer v;
	if (!b->presence)
		return 0;
	g_hash_table_iter_init(&it, b->presence->watchers);
	while (g_hash_table_iter_next(&it, NULL, &v))
		n += !((struct watcher *)v)->local_fn;
	return n;
}

void b2b_presence_free(struct b2b *b)
{
	struct presence *p = b->presence;
	if (!p)
		return;
	if (b->cfg.ua) {
		sip_ua_set_event_handler(b->cfg.ua, NULL, NULL, NULL);
		ws_server_on_session_start(b->cfg.ws, NULL, NULL);
	}
	if (p->idle)
		g_source_remove(p->idle);
	if (p->tick)
		g_source_remove(p->tick);
	g_hash_table_destroy(p->watchers);
	struct ended_call *e;
	while ((e = g_queue_pop_head(&p->ended))) {
		g_free(e->from);
		g_free(e->to);
		g_free(e);
	}
	b2b_publish_free(b);
	g_free(p);
	b->presence = NULL;
}
