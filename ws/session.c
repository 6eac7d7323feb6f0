/* Sessions: a logged-in client that outlives its WebSocket for a grace period (resume). */
#include <openssl/crypto.h>
#include <string.h>

#include "ws-private.h"

static const char *const log_module = "ws";

struct ws_session *ws_session_new(struct ws_server *srv, const char *user)
{
	struct ws_session *s = g_rc_box_new0(struct ws_session);
	s->srv = srv;
	core_random_hex(s->id, 16);
	core_random_hex(s->resume_token, 32);
	g_strlcpy(s->user, user, sizeof(s->user));
	g_queue_init(&s->pending);
	s->created_us = g_get_monotonic_time();
	g_hash_table_insert(srv->sessions, s->id, s); /* the table's reference */
	metric_add(srv->m_sessions, 1);
	LOGN(log_module, &(struct log_ctx){.peer = s->id}, "session for %s", s->user);
	if (srv->on_start)
		srv->on_start(s, srv->on_start_arg);
	return ws_session_ref(s);
}

struct ws_session *ws_session_ref(struct ws_session *s)
{
	return g_rc_box_acquire(s);
}

static void session_clear(gpointer p)
{
	struct ws_session *s = p;
	if (s->grace_timer)
		g_source_remove(s->grace_timer);
	g_queue_clear_full(&s->pending, g_free);
	OPENSSL_cleanse(s->resume_token, sizeof(s->resume_token));
}

void ws_session_unref(struct ws_session *s)
{
	if (s)
		g_rc_box_release_full(s, session_clear);
}

const char *ws_session_id(const struct ws_session *s)
{
	return s->id;
}

const char *ws_session_user(const struct ws_session *s)
{
	return s->user;
}

void ws_session_attach(struct ws_session *s, struct ws_conn *c)
{
	if (s->grace_timer) {
		g_source_remove(s->grace_timer);
		s->grace_timer = 0;
	}
	if (s->conn && s->conn != c) {
		/* A resume from another connection replaces the old one. */
		struct ws_conn *old = s->conn;
		old->session = NULL;
		ws_conn_close(old, WS_CLOSE_REPLACED, "session resumed elsewhere");
		ws_session_unref(s);
	}
	s->conn = c;
	c->session = ws_session_ref(s);
	if (c->first_msg_timer) {
		g_source_remove(c->first_msg_timer);
		c->first_msg_timer = 0;
	}
}

static gboolean grace_over(gpointer data)
{
	struct ws_session *s = data;
	s->grace_timer = 0;
	ws_session_end(s, "resume grace expired");
	return G_SOURCE_REMOVE;
}

void ws_session_detach(struct ws_session *s)
{
	s->conn = NULL;
	if (s->ended)
		return;
	LOGI(log_module, &(struct log_ctx){.peer = s->id}, "connection lost, %u s to resume",
	     s->srv->lim.resume_grace_secs);
	s->grace_timer = g_timeout_add(s->srv->lim.resume_grace_secs * 1000u, grace_over, s);
}

void ws_session_end(struct ws_session *s, const char *why)
{
	if (s->ended)
		return;
	s->ended = true;
	LOGN(log_module, &(struct log_ctx){.peer = s->id}, "session of %s ended: %s", s->user, why);
	if (s->grace_timer) {
		g_source_remove(s->grace_timer);
		s->grace_timer = 0;
	}
	metric_add(s->srv->m_sessions, -1);
	if (s->srv->on_end)
		s->srv->on_end(s, s->srv->on_end_arg);
	g_hash_table_remove(s->srv->sessions, s->id); /* drops the table's reference */
}

void ws_session_send_text(struct ws_session *s, char *text)
{
	if (s->conn) {
		ws_conn_send_text(s->conn, text);
		return;
	}
	if (s->ended) {
		g_free(text);
		return;
	}
	/* Detached: keep a bounded backlog for the resume; the oldest goes first. */
	if (g_queue_get_length(&s->pending) >= s->srv->lim.queue_messages)
		g_free(g_queue_pop_head(&s->pending));
	g_queue_push_tail(&s->pending, text);
}

void ws_session_flush(struct ws_session *s)
{
	char *text;
	while (s->conn && (text = g_queue_pop_head(&s->pending)))
		ws_conn_send_text(s->conn, text);
}

void ws_session_send_event(struct ws_session *s, const char *name, json_t *req_id,
			   const char *call_id, json_t *data)
{
	json_t *ev = json_pack("{s:s}", "event", name);
	if (req_id)
		json_object_set(ev, "id", req_id);
	if (call_id)
		json_object_set_new(ev, "call_id", json_string(call_id));
	json_object_set_new(ev, "data", data ? data : json_object());
	char *text = ws_proto_dumps(ev);
	json_decref(ev);
	ws_session_send_text(s, text);
}
