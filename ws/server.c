/* WebSocket server on libwebsockets (GLib loop): connections, limits, queues, keep-alive. */
#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>

#include "ws-private.h"

static const char *const log_module = "ws";

/* lws_write()'s opcode for a Close frame: 4 in libwebsockets 4.1 (lws-write.h leaves it out
 * of the public enum, "handled by lws_close_reason()"; see on_writable for why we write it). */
#define WS_WRITE_CLOSE ((enum lws_write_protocol)4)

static struct ws_server *server_of(struct lws *wsi)
{
	const struct lws_protocols *p = lws_get_protocol(wsi);
	return p ? p->user : NULL;
}

static void count_close(struct ws_server *srv, int code)
{
	char labels[32];
	g_snprintf(labels, sizeof(labels), "code=\"%d\"", code);
	metric_add(metrics_series(srv->m_closes, labels), 1);
}

void ws_conn_send_text(struct ws_conn *c, char *text)
{
	size_t n = strlen(text);
	if (c->close_code) { /* closing: what was queued before still goes, nothing new */
		g_free(text);
		return;
	}
	if (g_queue_get_length(&c->out) >= c->srv->lim.queue_messages) {
		/* A slow consumer is closed; nothing else waits for it. */
		g_free(text);
		LOGW(log_module, &(struct log_ctx){.peer = c->peer}, "outbound queue full, closing");
		ws_conn_close(c, WS_CLOSE_SLOW, "outbound queue full");
		return;
	}
	unsigned char *buf = g_malloc(LWS_PRE + n);
	memcpy(buf + LWS_PRE, text, n);
	g_free(text);
	g_queue_push_tail(&c->out, g_bytes_new_take(buf, LWS_PRE + n));
	lws_callback_on_writable(c->wsi);
}

void ws_conn_close(struct ws_conn *c, int code, const char *reason)
{
	if (c->close_code)
		return;
	c->close_code = code;
	g_strlcpy(c->close_reason, reason, sizeof(c->close_reason));
	lws_callback_on_writable(c->wsi);
}

static bool origin_allowed(struct ws_server *srv, struct lws *wsi)
{
	char origin[256] = "", host[256] = "";
	int olen = lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN);
	if (lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) >= (int)sizeof(origin))
		return false;
	if (olen <= 0)
		return true; /* not a browser: Origin protects browsers from cross-site use */
	for (size_t i = 0; srv->origins && srv->origins[i]; i++)
		if (strcmp(srv->origins[i], "*") == 0 || g_ascii_strcasecmp(srv->origins[i], origin) == 0)
			return true;
	/* Same origin is always allowed: http(s)://<Host header>. */
	if (lws_hdr_copy(wsi, host, sizeof(host), WSI_TOKEN_HOST) > 0) {
		const char *o = strstr(origin, "://");
		if (o && g_ascii_strcasecmp(o + 3, host) == 0)
			return true;
	}
	return false;
}

/*
 * SEC-02: a bearer token at the upgrade, in "Authorization: Bearer <jwt>" (other clients) or
 * as the access_token query parameter (RFC 6750 §2.3; browsers cannot set headers on a
 * WebSocket, and libwebsockets refuses subprotocol entries as long as a JWT). Copies it into
 * out; false when there is none.
 */
static bool upgrade_token(struct lws *wsi, char *out, size_t cap)
{
	char buf[4096];
	out[0] = '\0';
	if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION) > 0 &&
	    lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION) < (int)sizeof(buf) &&
	    lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_HTTP_AUTHORIZATION) > 0 &&
	    g_ascii_strncasecmp(buf, "Bearer ", 7) == 0) {
		g_strlcpy(out, g_strstrip(buf + 7), cap);
		return out[0] != '\0';
	}
	const char *v = lws_get_urlarg_by_name(wsi, "access_token=", buf, (int)sizeof(buf));
	if (v)
		g_strlcpy(out, v, cap);
	OPENSSL_cleanse(buf, sizeof(buf));
	return out[0] != '\0';
}

/* A token given at the upgrade: verified (with the logout revocation list); 0 or EPERM. */
static int check_token(struct ws_server *srv, const char *token, struct ws_jwt_claims *claims,
		       const char **why)
{
	memset(claims, 0, sizeof(*claims));
	*why = "";
	if (ws_jwt_verify(&srv->auth, token, strlen(token), g_get_real_time() / G_USEC_PER_SEC, claims,
			  why) != 0)
		return EPERM;
	if (claims->jti[0] && g_hash_table_contains(srv->revoked, claims->jti)) {
		*why = "token revoked";
		return EPERM;
	}
	return 0;
}

int ws_server_check_upgrade(struct ws_server *srv, struct lws *wsi)
{
	char ip[48] = "";
	char token[2048];
	if (!origin_allowed(srv, wsi)) {
		lws_return_http_status(wsi, HTTP_STATUS_FORBIDDEN, "origin not allowed");
		return 1;
	}
	lws_get_peer_simple(wsi, ip, sizeof(ip));
	unsigned n = GPOINTER_TO_UINT(g_hash_table_lookup(srv->per_ip, ip));
	if (n >= srv->lim.max_conns_per_ip) {
		LOGW(log_module, &(struct log_ctx){.peer = ip}, "per-IP connection cap reached (%u)", n);
		lws_return_http_status(wsi, HTTP_STATUS_FORBIDDEN, "too many connections");
		return 1;
	}
	if (srv->draining) {
		lws_return_http_status(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE, "draining");
		return 1;
	}
	char ver[8] = "";
	if (lws_hdr_copy(wsi, ver, sizeof(ver), WSI_TOKEN_VERSION) <= 0 || strcmp(ver, "13") != 0) {
		/* BI-44: RFC 6455 only (libwebsockets would also take the hybi drafts) */
		lws_return_http_status(wsi, HTTP_STATUS_BAD_REQUEST, "Sec-WebSocket-Version must be 13");
		return 1;
	}
	if (upgrade_token(wsi, token, sizeof(token))) { /* BI-47: refused before the upgrade */
		struct ws_jwt_claims claims;
		const char *why;
		if (check_token(srv, token, &claims, &why) != 0) {
			LOGN(log_module, &(struct log_ctx){.peer = ip}, "upgrade refused: %s", why);
			lws_return_http_status(wsi, HTTP_STATUS_UNAUTHORIZED, "bad token");
			return 1;
		}
	}
	return 0;
}

/* After an upgrade that carried a valid token: the session exists at once, announced by a
 * "session" event with what a login reply holds; no login message is needed. */
static void login_at_upgrade(struct ws_server *srv, struct ws_conn *c, struct lws *wsi)
{
	char token[2048];
	struct ws_jwt_claims claims;
	const char *why;
	if (!upgrade_token(wsi, token, sizeof(token)))
		return;
	if (check_token(srv, token, &claims, &why) != 0) { /* expired in between */
		ws_conn_close(c, WS_CLOSE_UNAUTHORIZED, "unauthorized");
		return;
	}
	struct ws_session *s = ws_session_new(srv, claims.sub);
	g_strlcpy(s->jti, claims.jti, sizeof(s->jti));
	s->token_exp = claims.exp;
	ws_session_attach(s, c);
	ws_session_send_event(s, "session", NULL, NULL, ws_session_info(s));
	ws_session_unref(s);
	OPENSSL_cleanse(token, sizeof(token));
}

static gboolean first_message_deadline(gpointer data)
{
	struct ws_conn *c = data;
	c->first_msg_timer = 0;
	if (!c->session) {
		LOGI(log_module, &(struct log_ctx){.peer = c->peer}, "no login in time, closing");
		ws_conn_close(c, WS_CLOSE_UNAUTHORIZED, "login required");
	}
	return G_SOURCE_REMOVE;
}

static void conn_open(struct ws_server *srv, struct ws_conn *c, struct lws *wsi)
{
	char addr[48] = "";
	memset(c, 0, sizeof(*c));
	c->srv = srv;
	c->wsi = wsi;
	lws_get_peer_simple(wsi, addr, sizeof(addr));
	g_strlcpy(c->ip, addr, sizeof(c->ip));
	int port = 0;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getpeername(lws_get_socket_fd(wsi), (struct sockaddr *)&ss, &sl) == 0)
		port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
						: ntohs(((struct sockaddr_in *)&ss)->sin_port);
	g_snprintf(c->peer, sizeof(c->peer), strchr(addr, ':') ? "[%s]:%d" : "%s:%d", addr, port);
	g_queue_init(&c->out);
	c->link.data = c;
	c->rx = g_string_new(NULL);
	c->last_rx_us = g_get_monotonic_time();
	c->tokens = srv->lim.rate_burst;
	c->tokens_at_us = c->last_rx_us;
	unsigned n = GPOINTER_TO_UINT(g_hash_table_lookup(srv->per_ip, c->ip));
	g_hash_table_insert(srv->per_ip, g_strdup(c->ip), GUINT_TO_POINTER(n + 1));
	g_queue_push_tail_link(&srv->conns, &c->link); /* newest receipt last (ping_tick) */
	metric_add(srv->m_conns, 1);
	/* g_timeout_add, not _seconds: deadlines must not slip by up to a second. */
	c->first_msg_timer = g_timeout_add(srv->lim.first_message_secs * 1000u,
					   first_message_deadline, c);
	LOGI(log_module, &(struct log_ctx){.peer = c->peer}, "connected");
}

static void conn_closed(struct ws_server *srv, struct ws_conn *c)
{
	if (!c->srv)
		return; /* never opened */
	if (c->first_msg_timer)
		g_source_remove(c->first_msg_timer);
	for (GList *l = c->reqs; l; l = l->next)
		((struct ws_req *)l->data)->conn = NULL;
	g_list_free(c->reqs);
	g_queue_clear_full(&c->out, (GDestroyNotify)g_bytes_unref);
	g_string_free(c->rx, TRUE);
	unsigned n = GPOINTER_TO_UINT(g_hash_table_lookup(srv->per_ip, c->ip));
	if (n <= 1)
		g_hash_table_remove(srv->per_ip, c->ip);
	else
		g_hash_table_insert(srv->per_ip, g_strdup(c->ip), GUINT_TO_POINTER(n - 1));
	g_queue_unlink(c->ping_sent ? &srv->pinged : &srv->conns, &c->link);
	metric_add(srv->m_conns, -1);
	count_close(srv, c->close_code ? c->close_code : 1000);
	if (c->session) {
		struct ws_session *s = c->session;
		c->session = NULL;
		if (s->conn == c)
			ws_session_detach(s);
		ws_session_unref(s);
	}
	LOGI(log_module, &(struct log_ctx){.peer = c->peer}, "closed (%d)", c->close_code);
	c->srv = NULL;
}

/* The peer was heard from: the keep-alive starts over (ping_tick). */
static void heard(struct ws_conn *c)
{
	c->last_rx_us = g_get_monotonic_time();
	if (c->srv && c->srv->conns.tail != &c->link) {
		g_queue_unlink(c->ping_sent ? &c->srv->pinged : &c->srv->conns, &c->link);
		g_queue_push_tail_link(&c->srv->conns, &c->link);
	}
	c->ping_sent = false;
}

static int on_writable(struct ws_conn *c)
{
	/* Replies queued before a close still go out (a login error, then 4401), except for a
	 * slow consumer, whose queue is the problem. */
	if (c->close_code && (g_queue_is_empty(&c->out) || c->close_code == WS_CLOSE_SLOW)) {
		/* The close frame is written here, not left to libwebsockets by returning -1:
		 * Debian's libwebsockets 4.1 is a debug build, and on libuv that path closes
		 * twice, the second time before the frame it queued went out (1006 at the peer;
		 * docs/websocket-loop.md). RFC 6455 §7.1.2: then wait for the peer's Close, which
		 * ends the connection (LWS_CALLBACK_WS_PEER_INITIATED_CLOSE), or give up. */
		if (!c->close_sent) {
			unsigned char frame[LWS_PRE + 2 + sizeof(c->close_reason)];
			size_t n = strlen(c->close_reason);
			c->close_sent = true;
			frame[LWS_PRE] = (unsigned char)(c->close_code >> 8);
			frame[LWS_PRE + 1] = (unsigned char)c->close_code;
			memcpy(frame + LWS_PRE + 2, c->close_reason, n);
			if (lws_write(c->wsi, frame + LWS_PRE, 2 + n, WS_WRITE_CLOSE) < 0)
				return -1;
			lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_ACK, 5);
		}
		return 0;
	}
	if (c->ping_due) {
		/* A payload, not an empty ping: libwebsockets 4.1 never reports an empty PONG
		 * (LWS_CALLBACK_RECEIVE_PONG), so every live client looked silent and was hung
		 * up after twice ping_secs. RFC 6455 §5.5.3: the pong echoes it. */
		unsigned char ping[LWS_PRE + 4] = {[LWS_PRE] = 'k', 'a'};
		c->ping_due = false;
		if (lws_write(c->wsi, ping + LWS_PRE, 2, LWS_WRITE_PING) < 0)
			return -1;
	} else {
		GBytes *b = g_queue_pop_head(&c->out);
		if (!b)
			return 0;
		gsize n;
		unsigned char *p = (unsigned char *)g_bytes_get_data(b, &n);
		int w = lws_write(c->wsi, p + LWS_PRE, n - LWS_PRE, LWS_WRITE_TEXT);
		g_bytes_unref(b);
		if (w < (int)(n - LWS_PRE))
			return -1;
	}
	if (!g_queue_is_empty(&c->out) || c->ping_due || c->close_code)
		lws_callback_on_writable(c->wsi);
	return 0;
}

/* Reassembles fragments up to the cap; 1009 as soon as a message would cross it. */
static int on_receive(struct ws_conn *c, const void *in, size_t len)
{
	heard(c);
	if (c->close_code)
		return 0;
	if (lws_frame_is_binary(c->wsi)) {
		lws_close_reason(c->wsi, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE,
				 (unsigned char *)"text frames only", 16);
		count_close(c->srv, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE);
		c->close_code = LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE;
		return -1;
	}
	size_t remaining = lws_remaining_packet_payload(c->wsi);
	if (c->rx->len + len + remaining > c->srv->lim.max_message) {
		/* Nothing more is buffered; the close frame goes out on the next writable. */
		g_string_truncate(c->rx, 0);
		ws_conn_close(c, WS_CLOSE_TOO_BIG, "message too large");
		return 0;
	}
	g_string_append_len(c->rx, in, (gssize)len);
	if (remaining || !lws_is_final_fragment(c->wsi))
		return 0;
	ws_proto_handle(c, c->rx->str, c->rx->len);
	g_string_truncate(c->rx, 0);
	return 0;
}

/* BI-45: an unmasked client frame (frame_guard.c) fails the connection with 1002. */
static bool unmasked(struct ws_conn *c)
{
	if (c->close_code == LWS_CLOSE_STATUS_PROTOCOL_ERR)
		return true;
	if (!ws_guard_unmasked(lws_get_socket_fd(c->wsi)))
		return false;
	ws_conn_close(c, LWS_CLOSE_STATUS_PROTOCOL_ERR, "unmasked frame");
	return true;
}

static int ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		       size_t len)
{
	struct ws_server *srv = server_of(wsi);
	struct ws_conn *c = user;
	switch (reason) {
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		/* Second line of defence; the HTTP layer already answered 403 at the upgrade. */
		return srv && ws_server_check_upgrade(srv, wsi) ? -1 : 0;
	case LWS_CALLBACK_ESTABLISHED:
		conn_open(srv, c, wsi);
		login_at_upgrade(srv, c, wsi);
		return 0;
	case LWS_CALLBACK_RECEIVE:
		if (unmasked(c))
			return 0;
		return on_receive(c, in, len);
	case LWS_CALLBACK_RECEIVE_PONG:
		if (unmasked(c))
			return 0;
		heard(c);
		return 0;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return on_writable(c);
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (c->close_sent)
			return 1; /* the answer to our Close: hang up, nothing to echo */
		if (len >= 2)
			c->close_code = ((const unsigned char *)in)[0] << 8 | ((const unsigned char *)in)[1];
		return 0;
	case LWS_CALLBACK_CLOSED:
		ws_guard_forget(lws_get_socket_fd(wsi));
		conn_closed(srv, c);
		return 0;
	default:
		return 0;
	}
}

/*
 * Keep-alive: a ping after ping_secs of silence; silence for twice that hangs up. srv->conns
 * is kept in order of last receipt (heard() moves a connection to its tail) and a pinged
 * connection waits in srv->pinged (same order) until it is heard from, so a tick looks only
 * at the connections that are due, never again at those already pinged.
 *
 * Pacing: sessions that logged in together fall due together (10,000 within two seconds in
 * bench/ws.sh), and a 250 ms tick then wrote ~1,000 pings and read ~1,000 pongs in one go,
 * which requests waited behind (p99 9.8 ms against 0.4 ms without pings). A tick pings at
 * most PING_BURST plus what keeps everyone pinged within half the interval, and while more
 * are due the next tick comes after PING_PACE_MS; otherwise it comes when the oldest falls
 * due (at most PING_TICK_MS later).
 */
#define PING_TICK_MS 250
#define PING_PACE_MS 10
#define PING_BURST 32

static gboolean ping_tick(gpointer data);

static void ping_schedule(struct ws_server *srv, guint ms)
{
	srv->ping_timer = g_timeout_add(ms, ping_tick, srv);
}

static gboolean ping_tick(gpointer data)
{
	struct ws_server *srv = data;
	gint64 now = g_get_monotonic_time();
	gint64 ping_us = (gint64)srv->lim.ping_secs * G_USEC_PER_SEC;
	guint64 all = srv->conns.length + srv->pinged.length;
	guint64 budget = PING_BURST + all * PING_PACE_MS * 2 / ((guint64)srv->lim.ping_secs * 1000);
	guint next_ms = PING_TICK_MS;
	GList *next;
	for (GList *l = srv->pinged.head; l; l = next) {
		struct ws_conn *c = l->data;
		next = l->next;
		if (now - c->last_rx_us <= 2 * ping_us)
			break; /* the rest were heard from later */
		if (!c->close_code) {
			LOGI(log_module, &(struct log_ctx){.peer = c->peer}, "keep-alive timeout");
			ws_conn_close(c, WS_CLOSE_GOING_AWAY, "keep-alive timeout");
		}
	}
	for (GList *l = srv->conns.head; l; l = next) {
		struct ws_conn *c = l->data;
		next = l->next;
		gint64 due = c->last_rx_us + ping_us - now;
		if (due > 0) {
			if (due / 1000 < next_ms)
				next_ms = (guint)(due / 1000) + 1;
			break; /* the rest were heard from later */
		}
		if (c->close_code)
			continue;
		if (budget == 0) {
			next_ms = PING_PACE_MS;
			break;
		}
		budget--;
		c->ping_sent = c->ping_due = true;
		g_queue_unlink(&srv->conns, &c->link);
		g_queue_push_tail_link(&srv->pinged, &c->link);
		lws_callback_on_writable(c->wsi);
	}
	ping_schedule(srv, next_ms);
	return G_SOURCE_REMOVE;
}

struct ws_server *ws_server_new(const struct ws_limits *limits, const struct ws_auth_config *auth,
				const char *const *origins)
{
	struct ws_server *srv = g_new0(struct ws_server, 1);
	srv->lim = *limits;
	srv->auth = *auth;
	srv->origins = g_strdupv((char **)origins);
	srv->requests = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
	srv->sessions = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
					      (GDestroyNotify)ws_session_unref);
	srv->per_ip = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_queue_init(&srv->conns);
	g_queue_init(&srv->pinged);
	srv->revoked = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	srv->m_conns = metrics_series(metrics_family("gorgee_ws_connections",
						     "Open WebSocket connections.", METRIC_GAUGE), "");
	srv->m_sessions = metrics_series(metrics_family("gorgee_ws_sessions",
							"WebSocket sessions (logged in, incl. awaiting resume).",
							METRIC_GAUGE), "");
	srv->m_requests = metrics_family("gorgee_ws_requests_total",
					 "WebSocket requests by name and result.", METRIC_COUNTER);
	srv->m_closes = metrics_family("gorgee_ws_closes_total",
				       "WebSocket connections closed, by close code.", METRIC_COUNTER);
	ping_schedule(srv, PING_TICK_MS);
	ws_proto_add_builtins(srv);
	ws_guard_init();
	return srv;
}

void ws_server_free(struct ws_server *srv)
{
	ws_guard_clear();
	if (!srv)
		return;
	g_source_remove(srv->ping_timer);
	/* end every session, so owners release what the sessions held */
	GList *all = g_hash_table_get_values(srv->sessions);
	for (GList *l = all; l; l = l->next)
		ws_session_end(l->data, "server stopping");
	g_list_free(all);
	g_hash_table_destroy(srv->sessions);
	g_hash_table_destroy(srv->requests);
	g_hash_table_destroy(srv->per_ip);
	g_hash_table_destroy(srv->revoked);
	g_strfreev(srv->origins);
	g_free(srv);
}

struct lws_protocols ws_server_protocol(struct ws_server *srv)
{
	struct lws_protocols p = {WS_PROTOCOL_NAME, ws_callback, sizeof(struct ws_conn), 4096, 0,
				  srv, 0};
	return p;
}

void ws_server_on_session_end(struct ws_server *srv, ws_session_end_fn *fn, void *arg)
{
	srv->on_end = fn;
	srv->on_end_arg = arg;
}

void ws_server_on_session_start(struct ws_server *srv, ws_session_end_fn *fn, void *arg)
{
	srv->on_start = fn;
	srv->on_start_arg = arg;
}

void ws_server_set_password_check(struct ws_server *srv, ws_password_check_fn *fn, void *arg)
{
	srv->password_check = fn;
	srv->password_arg = arg;
}

void ws_server_drain(struct ws_server *srv)
{
	srv->draining = true;
}

unsigned ws_server_connection_count(const struct ws_server *srv)
{
	return srv->conns.length + srv->pinged.length;
}

unsigned ws_server_session_count(const struct ws_server *srv)
{
	return g_hash_table_size(srv->sessions);
}

GPtrArray *ws_server_sessions_of(const struct ws_server *srv, const char *user)
{
	GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)ws_session_unref);
	GHashTableIter it;
	gpointer v;
	g_hash_table_iter_init(&it, srv->sessions);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct ws_session *s = v;
		const char *u = ws_session_user(s);
		if (u && strcmp(u, user) == 0)
			g_ptr_array_add(out, ws_session_ref(s));
	}
	return out;
}

void ws_server_dump(const struct ws_server *srv, json_t *out)
{
	GHashTableIter it;
	gpointer v;
	g_hash_table_iter_init(&it, srv->sessions);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct ws_session *s = v;
		json_array_append_new(out, json_pack("{s:s,s:s,s:b,s:I,s:f}", "session_id", s->id,
						     "user", s->user, "connected", s->conn != NULL,
						     "pending_events", (json_int_t)g_queue_get_length(&s->pending),
						     "age_s", (g_get_monotonic_time() - s->created_us) / 1e6));
	}
}
