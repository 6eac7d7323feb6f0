/* Admin requests over the WebSocket: "calls", the dump of every call (the same content as
 * GET /calls, as JSON), for the users named in calls.admins. */
#include <string.h>

#include "b2b_int.h"

static bool is_admin(const struct b2b *b, const char *user)
{
	if (!user || !b->cfg.admins || !*b->cfg.admins)
		return false;
	gchar **names = g_strsplit(b->cfg.admins, ",", -1);
	bool found = false;
	for (gchar **n = names; *n && !found; n++)
		found = strcmp(g_strstrip(*n), user) == 0;
	g_strfreev(names);
	return found;
}

/* A dump line without its trailing newline and indentation. */
static json_t *line(GString *s)
{
	g_strchomp(s->str);
	s->len = strlen(s->str);
	return json_string(g_strchug(s->str));
}

static json_t *call_json(const struct call *c)
{
	gint64 now = g_get_monotonic_time();
	json_t *o = json_pack("{s:s, s:s, s:s?, s:s?, s:I, s:b}", "call_id", c->id, "state",
			      call_state_name(c->state), "from", c->from, "to", c->to, "age_s",
			      (json_int_t)((now - c->started_us) / G_USEC_PER_SEC), "answered",
			      c->answered_us != 0);
	GString *s = g_string_new(NULL);
	for (int i = 0; i < 2; i++) {
		if (!c->leg[i])
			continue;
		g_string_truncate(s, 0);
		c->leg[i]->ops->dump(c->leg[i], s);
		json_object_set_new(o, i == LEG_A ? "leg_a" : "leg_b",
				    json_pack("{s:s, s:o}", "kind", c->leg[i]->ops->kind, "detail", line(s)));
	}
	g_string_truncate(s, 0);
	call_media_dump(c->media, s);
	json_object_set_new(o, "media", line(s));
	g_string_free(s, TRUE);
	return o;
}

static void h_calls(struct ws_req *req, json_t *params, void *arg)
{
	struct b2b *b = arg;
	(void)params;
	if (!is_admin(b, ws_session_user(ws_req_session(req)))) {
		ws_req_error(req, WS_E_FORBIDDEN, "admin requests need a user listed in calls.admins");
		return;
	}
	json_t *calls = json_array();
	GHashTableIter it;
	gpointer v;
	g_hash_table_iter_init(&it, b->calls);
	while (g_hash_table_iter_next(&it, NULL, &v))
		json_array_append_new(calls, call_json(v));
	ws_req_reply(req, json_pack("{s:I, s:o}", "count", (json_int_t)json_array_size(calls),
				    "calls", calls));
}

static const struct ws_param p_none[] = {{NULL}};

static const struct ws_request_def admin_requests[] = {
	{"calls", p_none, h_calls, WS_REQ_NEEDS_LOGIN},
};

void b2b_admin_init(struct b2b *b)
{
	ws_server_add_requests(b->cfg.ws, admin_requests, G_N_ELEMENTS(admin_requests), b);
}
