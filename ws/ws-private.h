/* ws: private structures shared by the server, protocol and session files. */
#ifndef GORGEE_WS_PRIVATE_H
#define GORGEE_WS_PRIVATE_H

#include "ws.h"

struct ws_conn {
	struct ws_server *srv;
	struct lws *wsi;
	GList link;             /* in ws_server.conns, or .pinged once ping_sent; by last_rx_us */
	char peer[64];          /* "ip:port" for logs */
	char ip[48];            /* per-IP cap key */
	GQueue out;             /* GBytes *, each with LWS_PRE headroom, owned */
	GString *rx;            /* fragment reassembly, capped at limits.max_message */
	struct ws_session *session; /* strong ref once logged in */
	GList *reqs;            /* struct ws_req * awaiting replies (weak) */
	guint first_msg_timer;
	gint64 last_rx_us;
	bool ping_due;          /* a ping waits for the next writable */
	bool ping_sent;         /* pinged since last heard from */
	int close_code;         /* != 0: close on next writable */
	bool close_sent;        /* our Close frame went out; waiting for the peer's */
	char close_reason[64];
	double tokens;          /* request rate token bucket */
	gint64 tokens_at_us;
};

struct ws_session {
	struct ws_server *srv;
	char id[33];
	char resume_token[65]; /* never logged */
	char user[128];
	char jti[64];
	int64_t token_exp;
	struct ws_conn *conn;  /* NULL while detached (resume grace) */
	GQueue pending;        /* char * JSON texts waiting for a resume, bounded */
	guint grace_timer;
	bool ended;
	gint64 created_us;
};

struct ws_req {
	int refs;
	struct ws_server *srv;
	struct ws_conn *conn;       /* weak; NULLed when the connection closes */
	struct ws_session *session; /* strong ref, or NULL before login */
	json_t *id;
	char name[32];
	bool answered;
};

struct ws_req_entry {
	const struct ws_request_def *def;
	void *arg;
};

struct ws_server {
	struct ws_limits lim;
	struct ws_auth_config auth;
	char **origins;           /* allowlist; "*" allows any */
	GHashTable *requests;     /* name -> struct ws_req_entry * (owned) */
	GHashTable *sessions;     /* id -> struct ws_session * (ref held) */
	GHashTable *per_ip;       /* ip -> count */
	GHashTable *revoked;      /* jti -> exp (int64 boxed) */
	GQueue conns;             /* of struct ws_conn *, through ws_conn.link, oldest receipt first */
	GQueue pinged;            /* the same, for connections pinged and not heard from since */
	guint ping_timer;
	bool draining;
	ws_password_check_fn *password_check;
	ws_session_end_fn *on_end;
	void *on_end_arg;
	ws_session_end_fn *on_start;
	void *on_start_arg;
	void *password_arg;
	struct metric *m_conns, *m_sessions;
	struct metric_family *m_requests, *m_closes;
};

/* server.c */
void ws_conn_send_text(struct ws_conn *c, char *text); /* takes text (g_malloc'd) */
void ws_conn_close(struct ws_conn *c, int code, const char *reason);
/* frame_guard.c: the table of watched sockets (ws_server_new / ws_server_free) and whether
 * the client on fd sent an unmasked frame. */
void ws_guard_init(void);
void ws_guard_clear(void);
bool ws_guard_unmasked(int fd);

/* proto.c */
void ws_proto_handle(struct ws_conn *c, const char *data, size_t len);
void ws_proto_add_builtins(struct ws_server *srv);
char *ws_proto_dumps(json_t *j); /* g_malloc'd compact text */

/* session.c */
struct ws_session *ws_session_new(struct ws_server *srv, const char *user);
void ws_session_attach(struct ws_session *s, struct ws_conn *c);
/* What a login reply carries: session_id, user, resume_token, resume_grace, protocol. */
json_t *ws_session_info(struct ws_session *s);
void ws_session_detach(struct ws_session *s); /* connection lost: start the grace timer */
void ws_session_end(struct ws_session *s, const char *why);
void ws_session_send_text(struct ws_session *s, char *text); /* takes text */
void ws_session_flush(struct ws_session *s); /* sends what waited during the grace */

#endif
