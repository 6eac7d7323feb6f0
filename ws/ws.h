/* ws: the WebSocket signaling server and its JSON protocol (ws/PROTOCOL.md). */
#ifndef GORGEE_WS_H
#define GORGEE_WS_H

#include <jansson.h>
#include <libwebsockets.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core.h"

#define WS_PROTOCOL_NAME    "gorgee-v1"
#define WS_PROTOCOL_VERSION 1

/* Error codes sent to clients (data, never C return values). See PROTOCOL.md. */
enum ws_error {
	WS_E_BAD_REQUEST = 400,    /* not JSON, not an object, no id or request */
	WS_E_UNAUTHORIZED = 401,   /* login needed, or bad credentials */
	WS_E_FORBIDDEN = 403,      /* not yours */
	WS_E_UNKNOWN_REQUEST = 404,
	WS_E_WRONG_STATE = 409,
	WS_E_TOO_LARGE = 413,
	WS_E_INVALID_PARAMS = 422, /* missing, wrong type, out of range, unknown */
	WS_E_RATE_LIMITED = 429,
	WS_E_INTERNAL = 500,
	WS_E_NOT_AVAILABLE = 501,  /* known request this deployment does not offer */
	WS_E_UNAVAILABLE = 503,    /* draining */
};
const char *ws_error_name(enum ws_error code);

/* Close codes (RFC 6455 §7.4 plus our 4xxx). */
#define WS_CLOSE_TOO_BIG      1009
#define WS_CLOSE_POLICY       1008
#define WS_CLOSE_GOING_AWAY   1001
#define WS_CLOSE_UNAUTHORIZED 4401
#define WS_CLOSE_SLOW         4408 /* outbound queue overflow: a slow consumer */
#define WS_CLOSE_REPLACED     4409 /* the session was resumed on another connection */

struct ws_limits {
	size_t max_message;          /* bytes; larger closes with 1009 */
	size_t queue_messages;       /* outbound queue; overflow closes with 4408 */
	unsigned max_conns_per_ip;
	unsigned first_message_secs; /* login must arrive in this time, else close 4401 */
	unsigned ping_secs;          /* keep-alive ping interval; hang up after twice that */
	unsigned rate_per_sec;       /* requests per second per connection ... */
	unsigned rate_burst;         /* ... with this burst */
	unsigned resume_grace_secs;  /* a session outlives its connection this long */
};

struct ws_auth_config {
	const struct secret *jwt_key; /* HS256 key; NULL or empty disables token login */
	const char *audience;         /* required "aud" (empty = not checked) */
	const char *issuer;           /* required "iss" (empty = not checked) */
	unsigned max_lifetime_secs;   /* exp - iat (or exp - now) may not exceed this */
	unsigned skew_secs;
};

/* ---- the event loop libwebsockets runs on (loop.c) ---- */

/*
 * A libuv loop embedded in a GMainContext as one GSource: GLib polls its one epoll fd and
 * the source runs uv_run(UV_RUN_NOWAIT) when it is readable or a libuv timer is due, so a
 * wake-up costs what is ready, not the number of connections. libwebsockets runs on it
 * through its libuv plugin (ws_loop_setup_lws). Only the thread of ctx may use it.
 */
struct ws_loop;
/* Attaches to ctx (NULL: the default context). NULL if libuv cannot make a loop (logged). */
struct ws_loop *ws_loop_new(GMainContext *ctx);
uv_loop_t *ws_loop_uv(struct ws_loop *l);
/* Sets LWS_SERVER_OPTION_LIBUV and foreign_loops (valid while l lives) in info. */
void ws_loop_setup_lws(struct ws_loop *l, struct lws_context_creation_info *info);
/* Turns the loop until the handles being closed are gone (their close callbacks run only
 * in a turn of the loop). From a GLib callback, never from inside the loop. */
void ws_loop_settle(struct ws_loop *l);
/* Settles, then frees. From a GLib callback, never from inside the loop. NULL is fine. */
void ws_loop_free(struct ws_loop *l);

struct ws_server;
struct ws_session;
struct ws_req;

/* ---- request tables: what the B2BUA plugs in ---- */

enum ws_ptype { WS_P_STRING, WS_P_INT, WS_P_BOOL, WS_P_OBJECT, WS_P_ARRAY, WS_P_ANY };

/* One parameter rule: type, presence, and a range (integers) or a maximum length (strings,
 * arrays; 0 = no limit). */
struct ws_param {
	const char *name;
	enum ws_ptype type;
	bool required;
	int64_t min, max;
};

/*
 * Handles a validated request. It answers now or later with ws_req_reply()/ws_req_error();
 * to answer later it keeps the request with ws_req_ref(). params is borrowed.
 */
typedef void ws_handler_fn(struct ws_req *req, json_t *params, void *arg);

#define WS_REQ_NEEDS_LOGIN 1u

struct ws_request_def {
	const char *name;
	const struct ws_param *params; /* terminated by a {NULL} entry */
	ws_handler_fn *handler;
	unsigned flags;
};

/* Adds a table of requests (names must be new). The table and arg must outlive the server. */
int ws_server_add_requests(struct ws_server *srv, const struct ws_request_def *defs, size_t n,
			   void *arg);

/* ---- the server ---- */

struct ws_server *ws_server_new(const struct ws_limits *limits, const struct ws_auth_config *auth,
				const char *const *origins);
void ws_server_free(struct ws_server *srv);
/* The lws protocol entry to put in the vhost's protocol list; its user pointer is srv. */
struct lws_protocols ws_server_protocol(struct ws_server *srv);
/* Origin allowlist, per-IP cap and drain check for an upgrade request; call it from the HTTP
 * protocol's LWS_CALLBACK_HTTP_CONFIRM_UPGRADE. Returns 0 to allow, 1 when it has answered
 * (403/503) and the upgrade must stop. */
int ws_server_check_upgrade(struct ws_server *srv, struct lws *wsi);
/*
 * BI-45 (frame_guard.c): watches what libwebsockets reads on socket fd for unmasked client
 * frames (RFC 6455 §5.1), which libwebsockets 4.1 accepts; the WebSocket then closes 1002.
 * Call ws_guard_watch from the HTTP protocol's LWS_CALLBACK_FILTER_NETWORK_CONNECTION (in =
 * the new socket) and ws_guard_forget at LWS_CALLBACK_CLOSED_HTTP. Signaling thread; a
 * no-op before ws_server_new or after ws_server_free.
 */
void ws_guard_watch(int fd);
void ws_guard_forget(int fd);
/*
 * Username/password login: returns true when the password is right. Called on the
 * signaling thread; password is borrowed for the call and must not be kept or logged.
 * Implementations should take the same time for unknown users as for wrong passwords.
 */
typedef bool ws_password_check_fn(const char *user, const struct secret *password, void *arg);
void ws_server_set_password_check(struct ws_server *srv, ws_password_check_fn *fn, void *arg);
/* Called when a session ends (logout, resume grace over, server freed) so that what it owns
 * (accounts, calls) can go. Signaling thread. */
typedef void ws_session_end_fn(struct ws_session *s, void *arg);
void ws_server_on_session_end(struct ws_server *srv, ws_session_end_fn *fn, void *arg);
/* Called when a session opens (login), once it is among ws_server_sessions_of(), before
 * the login reply is sent (presence of its user). Signaling thread. */
void ws_server_on_session_start(struct ws_server *srv, ws_session_end_fn *fn, void *arg);
/* Stop taking logins (drain): new connections get close 1001, requests 503. */
void ws_server_drain(struct ws_server *srv);
unsigned ws_server_connection_count(const struct ws_server *srv);
unsigned ws_server_session_count(const struct ws_server *srv);
/* The live sessions logged in as user, each with a reference (the array unrefs them). */
GPtrArray *ws_server_sessions_of(const struct ws_server *srv, const char *user);
/* Appends every session as JSON to out (admin dump). */
void ws_server_dump(const struct ws_server *srv, json_t *out);

/* ---- requests and sessions ---- */

struct ws_req *ws_req_ref(struct ws_req *req);
void ws_req_unref(struct ws_req *req);
struct ws_session *ws_req_session(const struct ws_req *req);
/* The request's id as sent by the client (borrowed). */
json_t *ws_req_id(const struct ws_req *req);
/* Sends the reply; result is stolen (NULL = {}). One reply per request. */
void ws_req_reply(struct ws_req *req, json_t *result);
void ws_req_error(struct ws_req *req, enum ws_error code, const char *fmt, ...)
	G_GNUC_PRINTF(3, 4);

/* Sessions are refcounted; a holder (an account, a call) keeps one with ws_session_ref. */
struct ws_session *ws_session_ref(struct ws_session *s);
void ws_session_unref(struct ws_session *s);
const char *ws_session_id(const struct ws_session *s);
const char *ws_session_user(const struct ws_session *s);
/*
 * Sends an event: {"event":name,"id":req_id,"call_id":call_id,"data":data}. req_id links it
 * to the request that caused it (NULL for none); data is stolen. While the session has no
 * connection (within the resume grace), events wait in a bounded queue.
 */
void ws_session_send_event(struct ws_session *s, const char *name, json_t *req_id,
			   const char *call_id, json_t *data);

/* ---- JWT (RFC 7519, HS256 only: RFC 8725 §3.1 algorithm pinning) ---- */

struct ws_jwt_claims {
	char sub[128];
	char jti[64];
	int64_t exp, iat, nbf;
};
/* Verifies a compact JWS. Returns 0, or EPERM (bad signature/algorithm/claims) or EBADMSG
 * (malformed), with a human-readable reason (static string) in *why. */
int ws_jwt_verify(const struct ws_auth_config *cfg, const char *token, size_t len, int64_t now,
		  struct ws_jwt_claims *out, const char **why);
/* Signs claims (a JSON object, borrowed) with HS256; caller g_free()s. For tests and tools. */
char *ws_jwt_sign(const struct secret *key, json_t *claims);

#endif
