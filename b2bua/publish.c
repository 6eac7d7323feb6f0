/* Published presence: PUBLISH for the presence package (RFC 3903: entity tags, refresh,
 * modify, remove, 412) and the `publish_presence` request of WebSocket sessions. The state
 * a user set last, by either, is what presence documents show (presence.c). */
#include <errno.h>
#include <string.h>

#include "b2b_int.h"

static const char *const log_module = "publish";

#define MAX_NOTE 256 /* bytes of a note kept (longer ones are dropped) */

/* One publication (RFC 3903 §4): an event state with its entity tag. */
struct publication {
	struct b2b *b;
	char etag[24];
	char *user, *source_ip;
	int basic;          /* 1 open, 0 closed */
	char *note;         /* decoded text or NULL */
	gint64 set_us;      /* when the state last changed (the newest state wins) */
	gint64 expires_us;  /* monotonic */
};

/* What a WebSocket session published with publish_presence. */
struct ws_presence {
	char *user;
	int basic;
	char *note;
	gint64 set_us;
};

static void pub_free(gpointer p)
{
	struct publication *x = p;
	metric_add(x->b->m_publications, -1);
	g_free(x->user);
	g_free(x->source_ip);
	g_free(x->note);
	g_free(x);
}

static void wsp_free(gpointer p)
{
	struct ws_presence *x = p;
	g_free(x->user);
	g_free(x->note);
	g_free(x);
}

static gboolean pub_expired(gpointer key, gpointer value, gpointer now)
{
	return ((struct publication *)value)->expires_us <= *(gint64 *)now;
}

static void prune(struct b2b *b)
{
	gint64 now = g_get_monotonic_time();
	if (g_hash_table_foreach_remove(b->publications, pub_expired, &now))
		b2b_presence_touch(b);
}

bool b2b_published_state(struct b2b *b, const char *user, int *basic, const char **note)
{
	prune(b);
	gint64 best = -1;
	GHashTableIter it;
	gpointer v;
	g_hash_table_iter_init(&it, b->publications);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct publication *x = v;
		if (strcmp(x->user, user) == 0 && x->set_us > best)
			best = x->set_us, *basic = x->basic, *note = x->note;
	}
	g_hash_table_iter_init(&it, b->ws_presence);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct ws_presence *x = v;
		if (strcmp(x->user, user) == 0 && x->set_us > best)
			best = x->set_us, *basic = x->basic, *note = x->note;
	}
	return best >= 0;
}

unsigned b2b_publish_count_source(struct b2b *b, const char *ip)
{
	unsigned n = 0;
	GHashTableIter it;
	gpointer v;
	g_hash_table_iter_init(&it, b->publications);
	while (g_hash_table_iter_next(&it, NULL, &v))
		n += strcmp(((struct publication *)v)->source_ip, ip) == 0;
	return n;
}

static unsigned count_user(struct b2b *b, const char *user)
{
	unsigned n = 0;
	GHashTableIter it;
	gpointer v;
	g_hash_table_iter_init(&it, b->publications);
	while (g_hash_table_iter_next(&it, NULL, &v))
		n += strcmp(((struct publication *)v)->user, user) == 0;
	return n;
}

static void reply(struct b2b *b, struct sip_strans *st, int code, const char *extra)
{
	GString *h = g_string_new(extra ? extra : "");
	g_string_append_printf(h, "Server: %s\r\n", b->user_agent);
	sip_strans_respond(st, code, NULL, h->str, (struct slice){NULL, 0}, NULL);
	g_string_free(h, TRUE);
}

/* The body of a PUBLISH that carries state: PIDF, within the cap, with <basic>. Returns 0
 * and fills basic/note (g_free), or the status to answer. */
static int read_state(const struct sip_msg *msg, int *basic, char **note)
{
	struct slice ct = msg->content_type;
	const char *semi = ct.len ? memchr(ct.p, ';', ct.len) : NULL;
	if (semi)
		ct.len = (size_t)(semi - ct.p);
	while (ct.len && (ct.p[ct.len - 1] == ' ' || ct.p[ct.len - 1] == '\t'))
		ct.len--;
	if (!slice_caseeqlit(ct, "application/pidf+xml"))
		return 415;
	if (msg->body.len > SIP_PIDF_MAX_BODY)
		return 413;
	struct sip_pidf pidf;
	if (sip_pidf_scan(msg->body, &pidf) != 0 || pidf.basic < 0)
		return 400;
	*basic = pidf.basic;
	*note = NULL;
	if (pidf.note.p && pidf.note.len <= MAX_NOTE) {
		GString *t = g_string_new(NULL);
		if (sip_xml_text_decode(pidf.note, t) == 0 && g_utf8_validate(t->str, (gssize)t->len, NULL))
			*note = g_string_free(t, FALSE);
		else
			g_string_free(t, TRUE);
	}
	return 0;
}

static void new_etag(struct b2b *b, struct publication *x)
{
	if (x->etag[0])
		g_hash_table_steal(b->publications, x->etag);
	core_random_hex(x->etag, 10);
	g_hash_table_insert(b->publications, x->etag, x);
}

void b2b_on_publish(struct b2b *b, struct sip_strans *st, const struct sip_msg *msg,
		    const struct sip_src *src, const char *user)
{
	struct log_ctx lc = {.leg = "publish", .peer = src->ip};
	unsigned min = b->cfg.ev_min_expires, max = b->cfg.ev_max_expires;
	int64_t expires = msg->expires >= 0 ? msg->expires : 3600;
	char extra[96];
	prune(b);
	if (expires > 0 && expires < min) { /* RFC 3903 §6 step 4 */
		g_snprintf(extra, sizeof(extra), "Min-Expires: %u\r\n", min);
		reply(b, st, 423, extra);
		return;
	}
	if (expires > max)
		expires = max;
	const struct sip_hdr *im = sip_msg_hdr_find(msg, "SIP-If-Match");
	struct publication *x = NULL;
	int basic = -1, code = 0;
	char *note = NULL;
	if (im) {
		char etag[64];
		g_snprintf(etag, sizeof(etag), SLICE_FMT, (int)MIN(im->value.len, 63), im->value.p);
		x = g_hash_table_lookup(b->publications, etag);
		if (!x || strcmp(x->user, user) != 0 || im->value.len >= sizeof(etag)) {
			LOGI(log_module, &lc, "PUBLISH for %s: unknown entity tag, 412", user);
			reply(b, st, 412, NULL); /* §6 step 2 */
			return;
		}
		if (expires == 0) { /* §4.5: removal */
			LOGI(log_module, &lc, "PUBLISH for %s: removed %s", user, x->etag);
			g_hash_table_remove(b->publications, x->etag);
			reply(b, st, 200, "Expires: 0\r\n");
			b2b_presence_touch(b);
			return;
		}
		if (msg->body.len && (code = read_state(msg, &basic, &note)) != 0)
			goto refuse;
		if (msg->body.len) { /* §4.4: modify */
			g_free(x->note);
			x->note = note;
			x->basic = basic;
			x->set_us = g_get_monotonic_time();
		}
	} else {
		if (expires == 0 || !msg->body.len) { /* §6 step 5: nothing to create */
			code = 400;
			goto refuse;
		}
		if ((code = read_state(msg, &basic, &note)) != 0)
			goto refuse;
		if (count_user(b, user) >= b->cfg.ev_max_per_user ||
		    b2b_publish_count_source(b, src->ip) >= b->cfg.ev_max_per_source) {
			g_free(note);
			LOGN(log_module, &lc, "PUBLISH for %s: too many publications, 503", user);
			reply(b, st, 503, "Retry-After: 60\r\n");
			return;
		}
		x = g_new0(struct publication, 1);
		x->b = b;
		metric_add(b->m_publications, 1);
		x->user = g_strdup(user);
		x->source_ip = g_strdup(src->ip);
		x->basic = basic;
		x->note = note;
		x->set_us = g_get_monotonic_time();
	}
	x->expires_us = g_get_monotonic_time() + expires * G_USEC_PER_SEC;
	new_etag(b, x); /* §6 step 7: a new entity tag for every success */
	g_snprintf(extra, sizeof(extra), "SIP-ETag: %s\r\nExpires: %u\r\n", x->etag, (unsigned)expires);
	LOGI(log_module, &lc, "PUBLISH for %s: %s, etag %s, %u s", user,
	     x->basic ? "open" : "closed", x->etag, (unsigned)expires);
	reply(b, st, 200, extra);
	b2b_presence_touch(b);
	return;
refuse:
	LOGI(log_module, &lc, "PUBLISH for %s refused: %d", user, code);
	reply(b, st, code, code == 415 ? "Accept: application/pidf+xml\r\n" : NULL);
}

/* ---- publish_presence ---- */

static void h_publish_presence(struct ws_req *req, json_t *params, void *arg)
{
	struct b2b *b = arg;
	const char *status = json_string_value(json_object_get(params, "status"));
	const char *note = json_string_value(json_object_get(params, "note"));
	struct ws_session *s = ws_req_session(req);
	if (strcmp(status, "open") != 0 && strcmp(status, "closed") != 0) {
		ws_req_error(req, WS_E_INVALID_PARAMS, "parameter 'status' must be open or closed");
		return;
	}
	struct ws_presence *x = g_new0(struct ws_presence, 1);
	x->user = g_strdup(ws_session_user(s));
	x->basic = strcmp(status, "open") == 0;
	x->note = note && *note ? g_strdup(note) : NULL;
	x->set_us = g_get_monotonic_time();
	g_hash_table_replace(b->ws_presence, s, x);
	ws_req_reply(req, NULL);
	b2b_presence_touch(b);
}

void b2b_publish_session_end(struct b2b *b, struct ws_session *s)
{
	if (b->ws_presence && g_hash_table_remove(b->ws_presence, s))
		b2b_presence_touch(b);
}

static const struct ws_param p_publish[] = {
	{"status", WS_P_STRING, true, 1, 16},
	{"note", WS_P_STRING, false, 0, MAX_NOTE},
	{NULL, 0, false, 0, 0},
};
static const struct ws_request_def publish_requests[] = {
	{"publish_presence", p_publish, h_publish_presence, WS_REQ_NEEDS_LOGIN},
};

void b2b_publish_init(struct b2b *b)
{
	b->publications = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, pub_free);
	b->ws_presence = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, wsp_free);
	ws_server_add_requests(b->cfg.ws, publish_requests, G_N_ELEMENTS(publish_requests), b);
}

void b2b_publish_free(struct b2b *b)
{
	if (b->publications)
		g_hash_table_destroy(b->publications);
	if (b->ws_presence)
		g_hash_table_destroy(b->ws_presence);
	b->publications = b->ws_presence = NULL;
}
