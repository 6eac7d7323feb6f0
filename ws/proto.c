/* The JSON protocol: envelope checks, request table dispatch with parameter rules, replies,
 * and the built-in requests (login, resume, logout, ping). See ws/PROTOCOL.md. */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "ws-private.h"

#define MAX_DEPTH 32
#define MAX_ID_LEN 64

static const char *const log_module = "ws";

static const struct {
	enum ws_error code;
	const char *name;
} error_names[] = {
	{WS_E_BAD_REQUEST, "bad_request"},       {WS_E_UNAUTHORIZED, "unauthorized"},
	{WS_E_FORBIDDEN, "forbidden"},           {WS_E_UNKNOWN_REQUEST, "unknown_request"},
	{WS_E_WRONG_STATE, "wrong_state"},       {WS_E_TOO_LARGE, "too_large"},
	{WS_E_INVALID_PARAMS, "invalid_params"}, {WS_E_RATE_LIMITED, "rate_limited"},
	{WS_E_INTERNAL, "internal"},             {WS_E_NOT_AVAILABLE, "not_available"},
	{WS_E_UNAVAILABLE, "unavailable"},
};

const char *ws_error_name(enum ws_error code)
{
	for (size_t i = 0; i < G_N_ELEMENTS(error_names); i++)
		if (error_names[i].code == code)
			return error_names[i].name;
	return "error";
}

char *ws_proto_dumps(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
	char *g = g_strdup(s ? s : "{}");
	free(s);
	return g;
}

static void count(struct ws_server *srv, const char *name, const char *result)
{
	char labels[96];
	g_snprintf(labels, sizeof(labels), "request=\"%s\",result=\"%s\"", name, result);
	metric_add(metrics_series(srv->m_requests, labels), 1);
}

/* ---- requests ---- */

struct ws_req *ws_req_ref(struct ws_req *req)
{
	req->refs++;
	return req;
}

void ws_req_unref(struct ws_req *req)
{
	if (!req || --req->refs > 0)
		return;
	if (req->conn)
		req->conn->reqs = g_list_remove(req->conn->reqs, req);
	if (req->session)
		ws_session_unref(req->session);
	json_decref(req->id);
	g_free(req);
}

struct ws_session *ws_req_session(const struct ws_req *req)
{
	return req->session;
}

json_t *ws_req_id(const struct ws_req *req)
{
	return req->id;
}

/* Replies go to the request's connection; if that one closed, to the session's new one. */
static void req_send(struct ws_req *req, json_t *msg)
{
	char *text = ws_proto_dumps(msg);
	json_decref(msg);
	if (req->conn)
		ws_conn_send_text(req->conn, text);
	else if (req->session)
		ws_session_send_text(req->session, text);
	else
		g_free(text);
}

void ws_req_reply(struct ws_req *req, json_t *result)
{
	if (req->answered) {
		json_decref(result);
		return;
	}
	req->answered = true;
	count(req->srv, req->name, "ok");
	req_send(req, json_pack("{s:s,s:O,s:o}", "reply", req->name, "id", req->id, "result",
				result ? result : json_object()));
}

static void send_error(struct ws_req *req, enum ws_error code, const char *msg)
{
	req->answered = true;
	count(req->srv, req->name[0] ? req->name : "-", ws_error_name(code));
	json_t *err = json_pack("{s:i,s:s,s:s}", "code", (int)code, "name", ws_error_name(code),
				"message", msg);
	json_t *reply = json_pack("{s:s,s:O,s:o}", "reply", req->name[0] ? req->name : "error",
				  "id", req->id ? req->id : json_null(), "error", err);
	req_send(req, reply);
}

void ws_req_error(struct ws_req *req, enum ws_error code, const char *fmt, ...)
{
	if (req->answered)
		return;
	va_list ap;
	va_start(ap, fmt);
	char *msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	send_error(req, code, msg);
	g_free(msg);
}

/* ---- validation ---- */

/* Nesting depth and size checked before jansson builds anything (BI-48). */
static bool depth_ok(const char *p, size_t len)
{
	int depth = 0;
	bool in_str = false;
	for (size_t i = 0; i < len; i++) {
		char ch = p[i];
		if (in_str) {
			if (ch == '\\')
				i++;
			else if (ch == '"')
				in_str = false;
		} else if (ch == '"') {
			in_str = true;
		} else if (ch == '{' || ch == '[') {
			if (++depth > MAX_DEPTH)
				return false;
		} else if (ch == '}' || ch == ']') {
			depth--;
		}
	}
	return true;
}

static const char *type_name(enum ws_ptype t)
{
	static const char *const names[] = {"string", "integer", "boolean", "object", "array", "any"};
	return names[t];
}

static bool type_ok(json_t *v, enum ws_ptype t)
{
	switch (t) {
	case WS_P_STRING: return json_is_string(v);
	case WS_P_INT: return json_is_integer(v);
	case WS_P_BOOL: return json_is_boolean(v);
	case WS_P_OBJECT: return json_is_object(v);
	case WS_P_ARRAY: return json_is_array(v);
	case WS_P_ANY: return true;
	}
	return false;
}

/* Checks params against the table; on failure fills msg and returns false. */
static bool params_ok(const struct ws_param *rules, json_t *params, char *msg, size_t cap)
{
	const char *key;
	json_t *v;
	json_object_foreach(params, key, v) {
		const struct ws_param *r = rules;
		while (r && r->name && strcmp(r->name, key) != 0)
			r++;
		if (!r || !r->name) {
			snprintf(msg, cap, "unknown parameter '%.64s'", key);
			return false;
		}
	}
	for (const struct ws_param *r = rules; r && r->name; r++) {
		v = json_object_get(params, r->name);
		if (!v || json_is_null(v)) {
			if (r->required) {
				snprintf(msg, cap, "missing parameter '%s'", r->name);
				return false;
			}
			continue;
		}
		if (!type_ok(v, r->type)) {
			snprintf(msg, cap, "parameter '%s' must be %s %s", r->name,
				 r->type == WS_P_INT || r->type == WS_P_ARRAY || r->type == WS_P_OBJECT ? "an" : "a",
				 type_name(r->type));
			return false;
		}
		if (r->type == WS_P_INT && (r->min || r->max) &&
		    (json_integer_value(v) < r->min || json_integer_value(v) > r->max)) {
			snprintf(msg, cap, "parameter '%s' out of range %" G_GINT64_FORMAT "..%" G_GINT64_FORMAT,
				 r->name, r->min, r->max);
			return false;
		}
		size_t n = r->type == WS_P_STRING ? json_string_length(v)
			   : r->type == WS_P_ARRAY ? json_array_size(v) : 0;
		if (r->max && (r->type == WS_P_STRING || r->type == WS_P_ARRAY) &&
		    (n > (size_t)r->max || n < (size_t)r->min)) {
			snprintf(msg, cap, "parameter '%s' length out of range %" G_GINT64_FORMAT "..%" G_GINT64_FORMAT,
				 r->name, r->min, r->max);
			return false;
		}
	}
	return true;
}

static bool rate_ok(struct ws_conn *c)
{
	gint64 now = g_get_monotonic_time();
	c->tokens += (double)(now - c->tokens_at_us) / 1e6 * c->srv->lim.rate_per_sec;
	c->tokens_at_us = now;
	if (c->tokens > c->srv->lim.rate_burst)
		c->tokens = c->srv->lim.rate_burst;
	if (c->tokens < 1)
		return false;
	c->tokens -= 1;
	return true;
}

/* Builds the request, or answers a bad envelope itself and returns NULL. */
static struct ws_req *envelope(struct ws_conn *c, json_t *msg, json_t **params)
{
	struct ws_req *req = g_new0(struct ws_req, 1);
	req->refs = 1;
	req->srv = c->srv;
	req->conn = c;
	c->reqs = g_list_prepend(c->reqs, req);
	if (c->session)
		req->session = ws_session_ref(c->session);
	if (!json_is_object(msg)) {
		send_error(req, WS_E_BAD_REQUEST, "message must be a JSON object");
		goto bad;
	}
	json_t *id = json_object_get(msg, "id");
	if ((json_is_string(id) && json_string_length(id) <= MAX_ID_LEN && json_string_length(id)) ||
	    json_is_integer(id))
		req->id = json_incref(id);
	json_t *name = json_object_get(msg, "request");
	if (json_is_string(name) && json_string_length(name) < sizeof(req->name))
		g_strlcpy(req->name, json_string_value(name), sizeof(req->name));
	if (!req->id) {
		send_error(req, WS_E_BAD_REQUEST, "'id' must be a non-empty string (max 64) or an integer");
		goto bad;
	}
	if (!req->name[0]) {
		send_error(req, WS_E_BAD_REQUEST, "'request' must be a string naming the request");
		goto bad;
	}
	const char *key;
	json_t *v;
	json_object_foreach(msg, key, v) {
		if (strcmp(key, "id") && strcmp(key, "request") && strcmp(key, "params")) {
			send_error(req, WS_E_BAD_REQUEST, "unknown envelope field (use 'params')");
			goto bad;
		}
	}
	*params = json_object_get(msg, "params");
	if (*params && !json_is_object(*params)) {
		send_error(req, WS_E_INVALID_PARAMS, "'params' must be an object");
		goto bad;
	}
	return req;
bad:
	ws_req_unref(req);
	return NULL;
}

void ws_proto_handle(struct ws_conn *c, const char *data, size_t len)
{
	struct ws_server *srv = c->srv;
	struct ws_req tmp = {.refs = 1, .srv = srv, .conn = c};
	json_t *params = NULL, *empty = NULL;

	if (!rate_ok(c)) {
		send_error(&tmp, WS_E_RATE_LIMITED, "too many requests");
		return;
	}
	if (!depth_ok(data, len)) {
		send_error(&tmp, WS_E_BAD_REQUEST, "JSON nested too deeply");
		return;
	}
	json_t *msg = json_loadb(data, len, JSON_REJECT_DUPLICATES, NULL);
	if (!msg) {
		send_error(&tmp, WS_E_BAD_REQUEST, "not valid JSON");
		return;
	}
	struct ws_req *req = envelope(c, msg, &params);
	if (!req)
		goto out;
	const struct ws_req_entry *e = g_hash_table_lookup(srv->requests, req->name);
	char why[160];
	if (!e) {
		send_error(req, WS_E_UNKNOWN_REQUEST, "unknown request");
	} else if ((e->def->flags & WS_REQ_NEEDS_LOGIN) && !c->session) {
		send_error(req, WS_E_UNAUTHORIZED, "log in first");
	} else {
		if (!params)
			params = empty = json_object();
		if (!params_ok(e->def->params, params, why, sizeof(why)))
			send_error(req, WS_E_INVALID_PARAMS, why);
		else
			e->def->handler(req, params, e->arg);
	}
	ws_req_unref(req);
out:
	json_decref(empty);
	json_decref(msg);
}

int ws_server_add_requests(struct ws_server *srv, const struct ws_request_def *defs, size_t n,
			   void *arg)
{
	for (size_t i = 0; i < n; i++)
		if (g_hash_table_contains(srv->requests, defs[i].name))
			return EEXIST;
	for (size_t i = 0; i < n; i++) {
		struct ws_req_entry *e = g_new(struct ws_req_entry, 1);
		e->def = &defs[i];
		e->arg = arg;
		g_hash_table_insert(srv->requests, (gpointer)defs[i].name, e);
	}
	return 0;
}

/* ---- built-in requests ---- */

json_t *ws_session_info(struct ws_session *s)
{
	return json_pack("{s:s,s:s,s:s,s:i,s:i}", "session_id", s->id, "user", s->user,
			 "resume_token", s->resume_token, "resume_grace",
			 (int)s->srv->lim.resume_grace_secs, "protocol", WS_PROTOCOL_VERSION);
}

static void h_login(struct ws_req *req, json_t *params, void *arg)
{
	struct ws_server *srv = req->srv;
	struct ws_conn *c = req->conn;
	const char *token = json_string_value(json_object_get(params, "token"));
	struct ws_jwt_claims claims;
	const char *why = "";

	if (!c)
		return;
	if (c->session) {
		ws_req_error(req, WS_E_WRONG_STATE, "already logged in");
		return;
	}
	if (srv->draining) {
		ws_req_error(req, WS_E_UNAVAILABLE, "server is draining");
		return;
	}
	const char *user = json_string_value(json_object_get(params, "username"));
	json_t *pw = json_object_get(params, "password");
	memset(&claims, 0, sizeof(claims));
	if (token && (user || pw)) {
		ws_req_error(req, WS_E_INVALID_PARAMS, "give a token or a username and password");
		return;
	}
	if (!token && (!user || !pw)) {
		ws_req_error(req, WS_E_INVALID_PARAMS, "missing parameter 'token' (or 'username' and 'password')");
		return;
	}
	if (!token && !srv->password_check) {
		ws_req_error(req, WS_E_NOT_AVAILABLE, "password login is not configured; use a token");
		return;
	}
	if (!token) {
		struct secret *p = secret_new(json_string_value(pw), json_string_length(pw));
		bool ok = srv->password_check(user, p, srv->password_arg);
		secret_free(p);
		/* one answer for an unknown user and a wrong password */
		why = ok ? NULL : "wrong username or password";
		g_strlcpy(claims.sub, user, sizeof(claims.sub));
	} else if (ws_jwt_verify(&srv->auth, token, strlen(token), g_get_real_time() / G_USEC_PER_SEC,
				 &claims, &why) == 0 &&
		   claims.jti[0] && g_hash_table_contains(srv->revoked, claims.jti)) {
		why = "token revoked";
	} else if (why[0] == '\0') {
		why = NULL;
	}
	if (why) {
		LOGN(log_module, &(struct log_ctx){.peer = c->peer}, "login refused: %s", why);
		ws_req_error(req, WS_E_UNAUTHORIZED, "%s", why);
		ws_conn_close(c, WS_CLOSE_UNAUTHORIZED, "unauthorized");
		return;
	}
	struct ws_session *s = ws_session_new(srv, claims.sub);
	g_strlcpy(s->jti, claims.jti, sizeof(s->jti));
	s->token_exp = claims.exp;
	ws_session_attach(s, c);
	req->session = ws_session_ref(s);
	ws_req_reply(req, ws_session_info(s));
	ws_session_unref(s);
}

static void h_resume(struct ws_req *req, json_t *params, void *arg)
{
	struct ws_server *srv = req->srv;
	const char *sid = json_string_value(json_object_get(params, "session_id"));
	const char *tok = json_string_value(json_object_get(params, "resume_token"));
	struct ws_session *s = g_hash_table_lookup(srv->sessions, sid);
	if (!req->conn)
		return;
	if (req->conn->session) {
		ws_req_error(req, WS_E_WRONG_STATE, "already logged in");
		return;
	}
	/* Same answer for an unknown session and a wrong token: ids are not secrets. */
	if (!s || s->ended || strlen(tok) != strlen(s->resume_token) ||
	    CRYPTO_memcmp(tok, s->resume_token, strlen(tok)) != 0) {
		ws_req_error(req, WS_E_UNAUTHORIZED, "no such session or wrong resume token");
		return;
	}
	unsigned missed = g_queue_get_length(&s->pending);
	ws_session_attach(s, req->conn);
	req->session = ws_session_ref(s);
	json_t *info = ws_session_info(s);
	json_object_set_new(info, "missed_events", json_integer(missed));
	ws_req_reply(req, info);
	/* events that waited are sent after the reply, in order */
	ws_session_flush(s);
}

static gboolean revoked_expired(gpointer key, gpointer value, gpointer now)
{
	return *(int64_t *)value < *(int64_t *)now;
}

static void h_logout(struct ws_req *req, json_t *params, void *arg)
{
	struct ws_session *s = req->session;
	if (s->jti[0]) {
		/* entries matter only until their token expires: the table stays bounded by the
		 * logout rate times the token lifetime (ws.token_max_lifetime) */
		int64_t now = g_get_real_time() / G_USEC_PER_SEC - (int64_t)req->srv->auth.skew_secs;
		g_hash_table_foreach_remove(req->srv->revoked, revoked_expired, &now);
		g_hash_table_insert(req->srv->revoked, g_strdup(s->jti),
				    g_memdup2(&s->token_exp, sizeof(s->token_exp)));
	}
	ws_req_reply(req, NULL);
	if (req->conn)
		ws_conn_close(req->conn, 1000, "logged out");
	ws_session_end(s, "logout");
}

static void h_ping(struct ws_req *req, json_t *params, void *arg)
{
	ws_req_reply(req, json_pack("{s:I}", "time_ms", (json_int_t)(g_get_real_time() / 1000)));
}

static const struct ws_param p_login[] = {
	{"token", WS_P_STRING, false, 1, 4096},
	{"username", WS_P_STRING, false, 1, 128},
	{"password", WS_P_STRING, false, 1, 256},
	{NULL, 0, false, 0, 0},
};
static const struct ws_param p_resume[] = {
	{"session_id", WS_P_STRING, true, 1, 32},
	{"resume_token", WS_P_STRING, true, 1, 64},
	{NULL, 0, false, 0, 0},
};
static const struct ws_param p_none[] = {{NULL, 0, false, 0, 0}};

static const struct ws_request_def builtins[] = {
	{"login", p_login, h_login, 0},
	{"resume", p_resume, h_resume, 0},
	{"logout", p_none, h_logout, WS_REQ_NEEDS_LOGIN},
	{"ping", p_none, h_ping, 0},
};

void ws_proto_add_builtins(struct ws_server *srv)
{
	ws_server_add_requests(srv, builtins, G_N_ELEMENTS(builtins), NULL);
}
