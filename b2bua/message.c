/* Instant messages (RFC 3428 MESSAGE) between WebSocket users and SIP: the `message`
 * request (out of a dialog or inside a call), MESSAGE from SIP to logged-in users, and
 * delivery status events. Nothing is stored for users who are offline (480). */
#include <errno.h>
#include <string.h>

#include "b2b_int.h"

static const char *const log_module = "message";

#define MAX_BODY 8192 /* bytes of a message body, either way (well under UDP's limit) */

/* A MESSAGE gorgee sends for a WebSocket user, until its final response. */
struct msg_out {
	struct b2b *b;
	struct ws_session *session;
	json_t *req_id;
	char *ruri, *hop, *from, *ctype, *body;
	char *auth_user;
	struct secret *auth_pw;
	struct sip_auth_client_state auth;
	char call_id[32], tag[17];
	uint32_t cseq;
	struct sip_src dst;
	struct sip_src *targets; /* RFC 3263 order; cur is the one in use */
	size_t ntargets, cur;
	struct sip_resolve_req *resolving;
	struct sip_ctrans *ct;
};

static void msg_free(struct msg_out *m)
{
	if (m->resolving)
		sip_resolve_cancel(m->resolving);
	if (m->ct)
		sip_ctrans_detach(m->ct);
	g_hash_table_remove(m->b->messages, m);
	ws_session_unref(m->session);
	json_decref(m->req_id);
	g_free(m->ruri);
	g_free(m->hop);
	g_free(m->from);
	g_free(m->ctype);
	g_free(m->body);
	g_free(m->auth_user);
	secret_free(m->auth_pw);
	g_free(m->targets);
	g_free(m);
}

static void status_event(struct ws_session *s, json_t *req_id, int code, const char *reason)
{
	json_t *d = json_pack("{s:i,s:b}", "code", code, "delivered", code >= 200 && code < 300);
	if (reason && *reason)
		json_object_set_new(d, "reason", json_string(reason));
	ws_session_send_event(s, "message_status", req_id, NULL, d);
}

static void send_message(struct msg_out *m, const char *authorization);
static bool try_targets(struct msg_out *m);

/* RFC 3263 §4.3: no answer (408), a transport error (503 without a message) or a 503
 * without Retry-After: the next address, if there is one. */
static bool next_target(struct msg_out *m, const struct sip_msg *r, int status)
{
	if (m->cur + 1 >= m->ntargets || (status != 408 && status != 503) ||
	    (r && (status != 503 || sip_msg_hdr_find(r, "Retry-After"))))
		return false;
	LOGI(log_module, NULL, "MESSAGE: %d from %s:%u, trying the next address of %s", status,
	     m->dst.ip, m->dst.port, m->hop);
	m->cur++;
	return try_targets(m);
}

static void on_response(struct sip_ctrans *ct, const struct sip_msg *r, int status, void *arg)
{
	struct msg_out *m = arg;
	if (status < 200)
		return;
	m->ct = NULL;
	if ((status == 401 || status == 407) && r && m->auth_user) {
		struct sip_auth chal;
		struct sip_auth_client_cred cred = {m->auth_user, m->auth_pw};
		GString *line = g_string_new(NULL);
		int rc = sip_auth_client_choose(r, &chal);
		if (rc == 0)
			rc = sip_auth_client_answer(&m->auth, &chal, status == 407, &cred, "MESSAGE", m->ruri,
						    (struct slice){m->body, strlen(m->body)}, line);
		if (rc == 0) {
			send_message(m, line->str);
			g_string_free(line, TRUE);
			return;
		}
		g_string_free(line, TRUE);
	}
	if (next_target(m, r, status))
		return;
	char reason[128] = "";
	if (r)
		g_snprintf(reason, sizeof(reason), SLICE_FMT, (int)MIN(r->reason.len, 127), r->reason.p);
	status_event(m->session, m->req_id, status, r ? reason : status == 408 ? "no response" : "cannot send");
	msg_free(m);
}

static void send_message(struct msg_out *m, const char *authorization)
{
	GString *h = g_string_new(NULL);
	g_string_append_printf(h,
			       "From: <%s>;tag=%s\r\nTo: <%s>\r\nCall-ID: %s\r\nCSeq: %u MESSAGE\r\n"
			       "Max-Forwards: 70\r\nUser-Agent: %s\r\nContent-Type: %s\r\n%s",
			       m->from, m->tag, m->ruri, m->call_id, ++m->cseq, m->b->user_agent, m->ctype,
			       authorization ? authorization : "");
	int rc = sip_ctrans_send(m->b->cfg.stack, "MESSAGE", m->ruri, h->str,
				 (struct slice){m->body, strlen(m->body)}, &m->dst, on_response, m, &m->ct);
	g_string_free(h, TRUE);
	if (rc) {
		m->ct = NULL;
		status_event(m->session, m->req_id, 503, "cannot send");
		msg_free(m);
	}
}

/* Sends to the first target from cur on that can be connected to; false when none is left. */
static bool try_targets(struct msg_out *m)
{
	for (; m->cur < m->ntargets; m->cur++) {
		m->dst = m->targets[m->cur];
		if (sip_transport_connect_uri(sip_stack_transport(m->b->cfg.stack), &m->dst,
		                              m->hop) == 0) {
			send_message(m, NULL);
			return true;
		}
	}
	return false;
}

static void on_resolved(int err, const struct sip_target *t, size_t n, void *arg)
{
	struct msg_out *m = arg;
	m->resolving = NULL;
	m->targets = g_new0(struct sip_src, MAX(n, 1));
	for (size_t i = 0; i < n; i++)
		if (sip_target_to_src(&t[i], &m->targets[m->ntargets]) == 0)
			m->ntargets++;
	if (try_targets(m))
		return;
	status_event(m->session, m->req_id, err == ENOENT ? 404 : 503, "cannot resolve the destination");
	msg_free(m);
}

/* Delivers to WebSocket sessions; true when at least one got it. */
static bool deliver_ws(GPtrArray *sessions, const char *from, const char *to, const char *ctype,
		       const char *body, size_t len, const char *call_id)
{
	for (guint i = 0; i < sessions->len; i++) {
		json_t *d = json_pack("{s:s,s:s,s:s,s:s%}", "from", from, "to", to, "content_type", ctype,
				      "body", body, len);
		ws_session_send_event(sessions->pdata[i], "message", NULL, call_id, d);
	}
	return sessions->len > 0;
}

/* The body must be text a JSON string can carry (UTF-8 without NUL). */
static bool text_body(const char *p, size_t len)
{
	return len <= MAX_BODY && g_utf8_validate(p, (gssize)len, NULL) && !memchr(p, '\0', len);
}

void b2b_on_message(struct b2b *b, struct sip_strans *st, const struct sip_msg *msg,
		    const struct sip_src *src)
{
	char ctype[128], from[SIP_MAX_URI + 1], to[SIP_MAX_URI + 1];
	GString *h = g_string_new(NULL);
	g_string_append_printf(h, "Server: %s\r\n", b->user_agent);
	int code;
	struct target t;
	b2b_find_target(b, &msg->ruri_parsed, false, &t);
	g_snprintf(ctype, sizeof(ctype), SLICE_FMT, (int)MIN(msg->content_type.len, 127),
		   msg->content_type.len ? msg->content_type.p : "text/plain");
	if (!msg->content_type.len)
		g_strlcpy(ctype, "text/plain", sizeof(ctype));
	g_snprintf(from, sizeof(from), SLICE_FMT, SLICE_ARG(msg->from.uri));
	g_snprintf(to, sizeof(to), SLICE_FMT, SLICE_ARG(msg->ruri));
	if (!text_body(msg->body.p, msg->body.len)) {
		code = 415; /* RFC 3428 §7: a type we cannot pass on */
		g_string_append(h, "Accept: text/plain, application/json, text/html\r\n");
	} else if (t.ws) {
		code = deliver_ws(t.ws, from, to, ctype, msg->body.p, msg->body.len, NULL) ? 200 : 480;
	} else {
		/* a SIP destination: gorgee is not a proxy for MESSAGE (yet) */
		code = t.code ? t.code : 404;
	}
	struct log_ctx lc = {.leg = "message", .peer = src->ip};
	LOGI(log_module, &lc, "MESSAGE for %s: %d", to, code);
	sip_strans_respond(st, code, NULL, h->str, (struct slice){NULL, 0}, NULL);
	g_string_free(h, TRUE);
	b2b_target_clear(&t);
}

/* In a call, a MESSAGE goes in the other leg's dialog and its status comes back later. */
struct in_call {
	struct ws_session *session;
	json_t *req_id;
};

static void on_in_call(struct sip_ctrans *ct, const struct sip_msg *r, int status, void *arg)
{
	struct in_call *ic = arg;
	if (status < 200)
		return;
	status_event(ic->session, ic->req_id, status, NULL);
	ws_session_unref(ic->session);
	json_decref(ic->req_id);
	g_free(ic);
}

static void h_message(struct ws_req *req, json_t *params, void *arg)
{
	struct b2b *b = arg;
	const char *to = json_string_value(json_object_get(params, "to"));
	const char *ctype = json_string_value(json_object_get(params, "content_type"));
	const char *body = json_string_value(json_object_get(params, "body"));
	const char *call_id = json_string_value(json_object_get(params, "call_id"));
	const char *account = json_string_value(json_object_get(params, "account_id"));
	size_t len = json_string_length(json_object_get(params, "body"));
	struct ws_session *s = ws_req_session(req);
	ctype = ctype ? ctype : "text/plain";
	if (strcspn(ctype, "\r\n") != strlen(ctype) || !text_body(body, len)) {
		ws_req_error(req, WS_E_INVALID_PARAMS, "content_type or body not usable");
		return;
	}
	if (call_id) { /* inside a call: the other leg's dialog */
		struct call *c = g_hash_table_lookup(b->calls, call_id);
		struct leg *mine = NULL, *other = NULL;
		for (int i = 0; c && i < 2; i++)
			if (leg_is_ws(c->leg[i]) && leg_ws_session(c->leg[i]) == s)
				mine = c->leg[i], other = c->leg[!i];
		if (!mine) {
			ws_req_error(req, c ? WS_E_FORBIDDEN : WS_E_INVALID_PARAMS, c ? "call of another session" : "no such call");
			return;
		}
		if (!leg_is_sip(other)) {
			other->ops->request(other, "MESSAGE", ctype, body, len);
			ws_req_reply(req, NULL);
			status_event(s, ws_req_id(req), 200, NULL);
			return;
		}
		struct in_call *ic = g_new0(struct in_call, 1);
		ic->session = ws_session_ref(s);
		ic->req_id = json_incref(ws_req_id(req));
		if (leg_sip_request(other, "MESSAGE", ctype, body, len, on_in_call, ic) != 0) {
			ws_session_unref(ic->session);
			json_decref(ic->req_id);
			g_free(ic);
			ws_req_error(req, WS_E_WRONG_STATE, "the call is not answered");
			return;
		}
		ws_req_reply(req, NULL);
		return;
	}
	if (!to) {
		ws_req_error(req, WS_E_INVALID_PARAMS, "give 'to' or 'call_id'");
		return;
	}
	struct account *acc = NULL;
	if (account && !(acc = b2b_account_of(b, account, s))) {
		ws_req_error(req, WS_E_INVALID_PARAMS, "no such account in this session");
		return;
	}
	char *uri = strchr(to, ':') ? g_strdup(to)
				    : g_strdup_printf("sip:%s@%s", to, *b->domain ? b->domain : b->contact_host);
	struct sip_uri u;
	if (sip_uri_parse((struct slice){uri, strlen(uri)}, &u) != 0 || u.scheme != SIP_SCHEME_SIP) {
		ws_req_error(req, WS_E_INVALID_PARAMS, "parameter 'to' must be a sip: URI or a user name");
		g_free(uri);
		return;
	}
	char *from = acc ? g_strdup(b2b_account_aor(acc))
			 : g_strdup_printf("sip:%s@%s", ws_session_user(s), *b->domain ? b->domain : b->contact_host);
	struct target t;
	if (acc) {
		memset(&t, 0, sizeof(t));
		t.ruri = g_strdup(uri);
		t.hop = g_strdup(b2b_account_next_hop(acc));
	} else {
		b2b_find_target(b, &u, true, &t);
	}
	if (!t.code && t.trunk && !b2b_dialplan_allows(b, &u))
		t.code = 403;
	ws_req_reply(req, NULL);
	if (t.code) {
		status_event(s, ws_req_id(req), t.code, sip_status_phrase(t.code));
	} else if (t.ws) {
		bool ok = deliver_ws(t.ws, from, uri, ctype, body, len, NULL);
		status_event(s, ws_req_id(req), ok ? 200 : 480, NULL);
	} else {
		struct msg_out *m = g_new0(struct msg_out, 1);
		m->b = b;
		m->session = ws_session_ref(s);
		m->req_id = json_incref(ws_req_id(req));
		m->ruri = g_strdup(t.ruri);
		m->hop = g_strdup(t.hop);
		m->from = g_strdup(from);
		m->ctype = g_strdup(ctype);
		m->body = g_strndup(body, len);
		if (acc) {
			size_t n = 0;
			const char *pw = secret_reveal(b2b_account_password(acc), &n);
			m->auth_user = g_strdup(b2b_account_username(acc));
			m->auth_pw = secret_new(pw, n);
		}
		core_random_hex(m->call_id, 12);
		g_strlcat(m->call_id, "@gorgee", sizeof(m->call_id));
		core_random_hex(m->tag, 8);
		g_hash_table_add(b->messages, m);
		struct sip_uri hu;
		int rc = sip_uri_parse((struct slice){m->hop, strlen(m->hop)}, &hu);
		if (rc == 0)
			rc = sip_resolve(b->cfg.resolver, &hu, on_resolved, m, &m->resolving);
		if (rc) {
			m->resolving = NULL;
			status_event(s, m->req_id, 404, "cannot resolve the destination");
			msg_free(m);
		}
	}
	b2b_target_clear(&t);
	g_free(from);
	g_free(uri);
}

static const struct ws_param p_message[] = {
	{"to", WS_P_STRING, false, 1, 256},
	{"call_id", WS_P_STRING, false, 1, 23},
	{"account_id", WS_P_STRING, false, 1, 15},
	{"content_type", WS_P_STRING, false, 1, 127},
	{"body", WS_P_STRING, true, 0, MAX_BODY},
	{NULL, 0, false, 0, 0},
};
static const struct ws_request_def message_requests[] = {
	{"message", p_message, h_message, WS_REQ_NEEDS_LOGIN},
};

void b2b_messages_init(struct b2b *b)
{
	b->messages = g_hash_table_new(g_direct_hash, g_direct_equal);
	ws_server_add_requests(b->cfg.ws, message_requests, G_N_ELEMENTS(message_requests), b);
}

void b2b_messages_free(struct b2b *b)
{
	if (!b->messages)
		return;
	GList *all = g_hash_table_get_keys(b->messages);
	for (GList *i = all; i; i = i->next)
		msg_free(i->data);
	g_list_free(all);
	g_hash_table_destroy(b->messages);
}
