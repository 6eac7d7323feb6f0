/* Upstream SIP accounts of WebSocket users: REGISTER with digest, refresh, unregister. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "b2b_int.h"

#define MAX_CUSTOM_HEADERS 8
#define MAX_ACCOUNTS_PER_SESSION 16 /* each makes gorgee send REGISTERs where the user says */
#define MAX_TARGETS 8 /* addresses of the registrar tried in turn (RFC 3263 §4.3 failover) */

static const char *const log_module = "account";

enum acc_state { ACC_REGISTERING, ACC_REGISTERED, ACC_UNREGISTERING, ACC_FAILED };
static const char *const state_names[] = {"registering", "registered", "unregistering", "failed"};

struct account {
	struct b2b *b;
	char id[16];
	struct ws_session *session; /* strong ref */
	json_t *req_id;             /* the register request's id, on every event */
	enum acc_state state;
	char *aor, *username, *registrar_uri, *contact;
	struct secret *password;
	struct sip_src dst;          /* the target in use: targets[cur] */
	char *next_hop;              /* URI whose host is resolved: outbound proxy, proxy or AOR */
	struct sip_resolve_req *resolving;
	struct sip_src targets[MAX_TARGETS];
	unsigned ntargets, cur;
	char *call_id;
	char from_tag[17];
	uint32_t cseq;
	unsigned expires;
	GString *custom;            /* validated extra header lines */
	struct sip_auth_client_state auth;
	struct sip_ctrans *pending;
	unsigned pending_expires;   /* what the pending REGISTER asked for (0 = un-REGISTER) */
	guint refresh;
	bool removing;              /* free once the pending transaction ends */
	bool quiet;                 /* session gone: no more events */
};

static void send_register(struct account *a, const char *authorization);

/* ---- helpers ---- */

static void set_state(struct account *a, enum acc_state s)
{
	LOGI(log_module, &(struct log_ctx){.call_id = a->call_id, .leg = "sip", .peer = a->id},
	     "%s: %s -> %s", a->aor, state_names[a->state], state_names[s]);
	a->state = s;
}

static void event(struct account *a, const char *state, int code, const char *reason, unsigned expires)
{
	if (a->quiet)
		return;
	json_t *d = json_pack("{s:s,s:s}", "account_id", a->id, "state", state);
	if (code)
		json_object_set_new(d, "code", json_integer(code));
	if (reason)
		json_object_set_new(d, "reason", json_string(reason));
	if (expires)
		json_object_set_new(d, "expires", json_integer(expires));
	ws_session_send_event(a->session, "registration", a->req_id, NULL, d);
}

static void account_free(gpointer p)
{
	struct account *a = p;
	if (a->refresh)
		g_source_remove(a->refresh);
	if (a->resolving)
		sip_resolve_cancel(a->resolving);
	g_free(a->next_hop);
	metric_add(a->b->m_accounts, -1);
	ws_session_unref(a->session);
	json_decref(a->req_id);
	g_free(a->aor);
	g_free(a->username);
	g_free(a->registrar_uri);
	g_free(a->contact);
	g_free(a->call_id);
	secret_free(a->password);
	g_string_free(a->custom, TRUE);
	g_free(a);
}

static void count(struct b2b *b, const char *result)
{
	char labels[48];
	g_snprintf(labels, sizeof(labels), "result=\"%s\"", result);
	metric_add(metrics_series(b->m_results, labels), 1);
}

/* ---- the REGISTER exchange ---- */

static void start_resolve(struct account *a);

static gboolean refresh_due(gpointer data)
{
	struct account *a = data;
	a->refresh = 0;
	if (a->pending || a->resolving)
		return G_SOURCE_REMOVE;
	if (a->ntargets == 0)
		start_resolve(a);
	else
		send_register(a, NULL);
	return G_SOURCE_REMOVE;
}

/* Granted expiry: our Contact's expires, else Expires, else what we asked (RFC 3261 §10.2.4). */
static unsigned granted(const struct account *a, const struct sip_msg *m)
{
	for (const struct sip_hdr *h = sip_msg_hdr(m, SIP_HDR_CONTACT); h; h = sip_msg_hdr_next(m, h)) {
		struct sip_contact c;
		if (sip_contact_parse(h->value, &c) == 0 && c.expires >= 0 &&
		    slice_eq(c.addr.uri, a->contact, strlen(a->contact)))
			return (unsigned)c.expires;
	}
	return m->expires >= 0 ? (unsigned)m->expires : a->expires;
}

static void on_response(struct sip_ctrans *ct, const struct sip_msg *m, int status, void *arg)
{
	struct account *a = arg;
	if (status < 200)
		return;
	a->pending = NULL;
	if ((status == 401 || status == 407) && m) {
		struct sip_auth chal;
		struct sip_auth_client_cred cred = {a->username, a->password};
		GString *line = g_string_new(NULL);
		int rc = sip_auth_client_choose(m, &chal);
		if (rc == 0)
			rc = sip_auth_client_answer(&a->auth, &chal, status == 407, &cred, "REGISTER",
						    a->registrar_uri, (struct slice){NULL, 0}, line);
		if (rc == 0) { /* also while removing: the un-REGISTER is challenged too */
			send_register(a, line->str);
			g_string_free(line, TRUE);
			return;
		}
		g_string_free(line, TRUE);
		/* BI-16: a second challenge after our answer means the credentials are wrong */
		LOGN(log_module, &(struct log_ctx){.call_id = a->call_id, .peer = a->id},
		     "%s: giving up on authentication (%s)", a->aor, rc == EPERM ? "rejected" : "unusable challenge");
	}
	/* RFC 3263 §4.3: a timeout, a transport error or a 503 moves on to the next address */
	if ((status == 408 || status == 503) && a->cur + 1 < a->ntargets && !a->removing) {
		a->cur++;
		a->dst = a->targets[a->cur];
		LOGN(log_module, &(struct log_ctx){.call_id = a->call_id, .peer = a->id},
		     "%s: %d from the registrar, trying %s:%u", a->aor, status, a->dst.ip, a->dst.port);
		send_register(a, NULL);
		return;
	}
	bool ok = status >= 200 && status < 300;
	count(a->b, ok ? "ok" : "failed");
	if (ok)
		sip_auth_client_success(&a->auth);
	if ((a->removing || a->state == ACC_UNREGISTERING) && ok && a->pending_expires) {
		/* the registration that was in flight succeeded after all: take it back */
		send_register(a, NULL);
		return;
	}
	if (a->removing || a->state == ACC_UNREGISTERING) {
		event(a, "unregistered", ok ? 0 : status, NULL, 0);
		g_hash_table_remove(a->b->accounts, a->id); /* frees a */
		return;
	}
	if (ok) {
		unsigned g = granted(a, m);
		set_state(a, ACC_REGISTERED);
		event(a, "registered", 0, NULL, g);
		/* refresh well before expiry: at 80 %, but at least 5 s ahead */
		unsigned in = g > 25 ? MIN(g * 4 / 5, g - 5) : MAX(g / 2, 1u);
		a->refresh = g_timeout_add_seconds(in, refresh_due, a);
		return;
	}
	set_state(a, ACC_FAILED);
	char reason[128];
	if (m)
		g_snprintf(reason, sizeof(reason), SLICE_FMT, (int)MIN(m->reason.len, 127), m->reason.p);
	else
		g_strlcpy(reason, status == 408 ? "no response" : "cannot send", sizeof(reason));
	event(a, "failed", status, reason, 0);
	/* try again later: registrars come back */
	a->refresh = g_timeout_add_seconds(60, refresh_due, a);
}

static void send_register(struct account *a, const char *authorization)
{
	struct b2b *b = a->b;
	unsigned expires = a->state == ACC_UNREGISTERING || a->removing ? 0 : a->expires;
	GString *h = g_string_new(NULL);
	g_string_append_printf(h,
			       "Max-Forwards: 70\r\nFrom: <%s>;tag=%s\r\nTo: <%s>\r\nCall-ID: %s\r\n"
			       "CSeq: %u REGISTER\r\nContact: <%s>\r\nExpires: %u\r\nUser-Agent: %s\r\n",
			       a->aor, a->from_tag, a->aor, a->call_id, ++a->cseq, a->contact, expires,
			       b->user_agent);
	if (authorization)
		g_string_append(h, authorization);
	g_string_append(h, a->custom->str);
	a->pending_expires = expires;
	/* TCP/TLS: the connection checked against the registrar's domain (RFC 5922) */
	int rc = sip_transport_connect_uri(sip_stack_transport(b->cfg.stack), &a->dst, a->next_hop);
	if (rc == 0)
		rc = sip_ctrans_send(b->cfg.stack, "REGISTER", a->registrar_uri, h->str,
				     (struct slice){NULL, 0}, &a->dst, on_response, a, &a->pending);
	g_string_free(h, TRUE);
	if (rc) {
		a->pending = NULL;
		on_response(NULL, NULL, 503, a);
	}
}

/* ---- WebSocket requests ---- */

/* RFC 3263: the registrar's addresses (UDP, TCP, TLS), in the order to try. */
static void on_resolved(int err, const struct sip_target *targets, size_t n, void *arg)
{
	struct account *a = arg;
	a->resolving = NULL;
	a->ntargets = a->cur = 0;
	for (size_t i = 0; i < n && a->ntargets < MAX_TARGETS; i++) {
		struct sip_src src;
		if (sip_target_to_src(&targets[i], &src) == 0)
			a->targets[a->ntargets++] = src;
	}
	if (a->ntargets == 0) {
		const char *why = err ? g_strerror(err) : "no address for the registrar";
		LOGN(log_module, &(struct log_ctx){.call_id = a->call_id, .peer = a->id},
		     "%s: cannot resolve %s: %s", a->aor, a->next_hop, why);
		if (a->removing) {
			g_hash_table_remove(a->b->accounts, a->id);
			return;
		}
		set_state(a, ACC_FAILED);
		char reason[96];
		g_snprintf(reason, sizeof(reason), "DNS: %s", why);
		event(a, "failed", 0, reason, 0);
		a->refresh = g_timeout_add_seconds(60, refresh_due, a);
		return;
	}
	a->dst = a->targets[0];
	send_register(a, NULL);
}

static void start_resolve(struct account *a)
{
	struct sip_uri u;
	int rc = sip_uri_parse((struct slice){a->next_hop, strlen(a->next_hop)}, &u);
	if (rc == 0)
		rc = sip_resolve(a->b->cfg.resolver, &u, on_resolved, a, &a->resolving);
	if (rc) {
		a->resolving = NULL;
		on_resolved(rc, NULL, 0, a);
	}
}

/* Custom headers: token names, no CR/LF/NUL in values, and none that the stack owns. */
static bool custom_headers(json_t *headers, GString *out, char *why, size_t cap)
{
	static const char *const reserved[] = {"via", "from", "to", "call-id", "cseq", "contact",
					       "expires", "max-forwards", "content-length",
					       "authorization", "route", NULL};
	const char *name;
	json_t *v;
	if (!headers)
		return true;
	if (json_object_size(headers) > MAX_CUSTOM_HEADERS) {
		g_snprintf(why, cap, "at most %d custom headers", MAX_CUSTOM_HEADERS);
		return false;
	}
	json_object_foreach(headers, name, v) {
		const char *val = json_string_value(v);
		bool ok = val && *name && strlen(name) <= 64 && json_string_length(v) <= 256 &&
			  strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") == strlen(name) &&
			  strcspn(val, "\r\n") == json_string_length(v);
		for (size_t i = 0; ok && reserved[i]; i++)
			ok = g_ascii_strcasecmp(name, reserved[i]) != 0;
		if (!ok) {
			g_snprintf(why, cap, "custom header '%.64s' not allowed", name);
			return false;
		}
		g_string_append_printf(out, "%s: %s\r\n", name, val);
	}
	return true;
}

static unsigned session_accounts(struct b2b *b, struct ws_session *s)
{
	unsigned n = 0;
	GHashTableIter it;
	gpointer v;
	g_hash_table_iter_init(&it, b->accounts);
	while (g_hash_table_iter_next(&it, NULL, &v))
		n += ((struct account *)v)->session == s && !((struct account *)v)->removing;
	return n;
}

static void h_register(struct ws_req *req, json_t *params, void *arg)
{
	struct b2b *b = arg;
	const char *aor = json_string_value(json_object_get(params, "uri"));
	const char *user = json_string_value(json_object_get(params, "username"));
	const char *pw = json_string_value(json_object_get(params, "password"));
	const char *proxy = json_string_value(json_object_get(params, "proxy"));
	const char *outbound = json_string_value(json_object_get(params, "outbound_proxy"));
	const char *transport = json_string_value(json_object_get(params, "transport"));
	json_t *exp = json_object_get(params, "expires");
	struct sip_uri u;
	char why[128];

	if (sip_uri_parse((struct slice){aor, strlen(aor)}, &u) != 0 || u.scheme != SIP_SCHEME_SIP ||
	    !u.user.len) {
		ws_req_error(req, WS_E_INVALID_PARAMS, "parameter 'uri' must be a sip: URI with a user");
		return;
	}
	if (transport && g_ascii_strcasecmp(transport, "udp") != 0 &&
	    g_ascii_strcasecmp(transport, "tcp") != 0 && g_ascii_strcasecmp(transport, "tls") != 0) {
		ws_req_error(req, WS_E_INVALID_PARAMS, "parameter 'transport' must be udp, tcp or tls");
		return;
	}
	if (session_accounts(b, ws_req_session(req)) >= MAX_ACCOUNTS_PER_SESSION) {
		ws_req_error(req, WS_E_WRONG_STATE, "at most %d accounts per session",
			     MAX_ACCOUNTS_PER_SESSION);
		return;
	}
	GString *custom = g_string_new(NULL);
	if (!custom_headers(json_object_get(params, "headers"), custom, why, sizeof(why))) {
		ws_req_error(req, WS_E_INVALID_PARAMS, "%s", why);
		g_string_free(custom, TRUE);
		return;
	}
	const char *hop = outbound ? outbound : proxy ? proxy : aor;
	struct sip_uri hu;
	if (sip_uri_parse((struct slice){hop, strlen(hop)}, &hu) != 0 || !hu.host.len ||
	    hu.scheme != SIP_SCHEME_SIP) {
		ws_req_error(req, WS_E_INVALID_PARAMS, "proxy or outbound_proxy is not a sip: URI");
		g_string_free(custom, TRUE);
		return;
	}
	struct account *a = g_new0(struct account, 1);
	/* transport: the next hop's ;transport= (RFC 3263 §4.1 then uses that one only) */
	if (transport && !sip_params_find(&hu.params, "transport")) {
		const char *q = strchr(hop, '?');
		size_t n = q ? (size_t)(q - hop) : strlen(hop);
		char *lower = g_ascii_strdown(transport, -1);
		a->next_hop = g_strdup_printf("%.*s;transport=%s%s", (int)n, hop, lower, q ? q : "");
		g_free(lower);
	} else {
		a->next_hop = g_strdup(hop);
	}
	/* §10.2: the Request-URI names the registrar's domain, the AOR's unless a proxy is given */
	char *host = u.port ? g_strdup_printf(SLICE_FMT ":%u", SLICE_ARG(u.host), u.port)
			    : g_strndup(u.host.p, u.host.len);
	a->b = b;
	g_snprintf(a->id, sizeof(a->id), "a-%u", ++b->next_id);
	a->session = ws_session_ref(ws_req_session(req));
	a->req_id = json_incref(ws_req_id(req));
	a->aor = g_strdup(aor);
	a->username = g_strdup(user ? user : "");
	a->password = secret_new(pw ? pw : "", pw ? strlen(pw) : 0);
	/* R-URI: the registrar's domain (§10.2: no user part) */
	a->registrar_uri = proxy ? g_strdup(proxy) : g_strdup_printf("sip:%s", host);
	/* One Contact per account (its id in the user part): two sessions registering the same
	 * AOR get two bindings, and a request to the Contact names its account. */
	a->contact = g_strdup_printf("sip:" SLICE_FMT "-%s@%s%s", SLICE_ARG(u.user), a->id,
				     b->contact_host,
				     transport && !g_ascii_strcasecmp(transport, "tcp") ? ";transport=tcp" : "");
	char cid[25];
	core_random_hex(cid, 12);
	a->call_id = g_strdup_printf("%s@gorgee", cid);
	core_random_hex(a->from_tag, 8);
	a->expires = exp ? (unsigned)json_integer_value(exp) : 600;
	a->custom = custom;
	g_free(host);
	g_hash_table_insert(b->accounts, a->id, a);
	metric_add(b->m_accounts, 1);
	ws_req_reply(req, json_pack("{s:s}", "account_id", a->id));
	event(a, "registering", 0, NULL, 0);
	start_resolve(a);
}

static struct account *own_account(struct b2b *b, struct ws_req *req, const char *id)
{
	struct account *a = g_hash_table_lookup(b->accounts, id);
	if (!a || a->removing) {
		ws_req_error(req, WS_E_INVALID_PARAMS, "no such account");
		return NULL;
	}
	if (a->session != ws_req_session(req)) {
		ws_req_error(req, WS_E_FORBIDDEN, "account of another session");
		return NULL;
	}
	return a;
}

static void h_unregister(struct ws_req *req, json_t *params, void *arg)
{
	struct b2b *b = arg;
	struct account *a = own_account(b, req, json_string_value(json_object_get(params, "account_id")));
	if (!a)
		return;
	json_decref(a->req_id);
	a->req_id = json_incref(ws_req_id(req));
	ws_req_reply(req, NULL);
	if (a->refresh) {
		g_source_remove(a->refresh);
		a->refresh = 0;
	}
	if (a->state == ACC_FAILED && !a->pending) {
		event(a, "unregistered", 0, NULL, 0);
		g_hash_table_remove(b->accounts, a->id);
		return;
	}
	set_state(a, ACC_UNREGISTERING);
	if (!a->pending)
		send_register(a, NULL);
}

/* A session that ends takes its accounts with it: unregistered quietly upstream. */
static void on_session_end(struct ws_session *s, void *arg)
{
	struct b2b *b = arg;
	b2b_calls_session_end(b, s);
	b2b_subs_session_end(b, s);
	b2b_presence_session_end(b, s);
	GList *all = g_hash_table_get_values(b->accounts);
	for (GList *l = all; l; l = l->next) {
		struct account *a = l->data;
		if (a->session != s || a->removing)
			continue;
		a->quiet = true;
		a->removing = true;
		if (a->refresh) {
			g_source_remove(a->refresh);
			a->refresh = 0;
		}
		if (a->pending)
			continue; /* freed when its response arrives */
		if (a->state == ACC_REGISTERED)
			send_register(a, NULL);
		else
			g_hash_table_remove(b->accounts, a->id);
	}
	g_list_free(all);
}

static const struct ws_param p_register[] = {
	{"uri", WS_P_STRING, true, 5, 256},
	{"username", WS_P_STRING, false, 1, 128},
	{"password", WS_P_STRING, false, 0, 256},
	{"proxy", WS_P_STRING, false, 5, 256},
	{"outbound_proxy", WS_P_STRING, false, 5, 256},
	{"transport", WS_P_STRING, false, 3, 3},
	{"expires", WS_P_INT, false, 60, 86400},
	{"headers", WS_P_OBJECT, false, 0, 0},
	{NULL, 0, false, 0, 0},
};
static const struct ws_param p_unregister[] = {
	{"account_id", WS_P_STRING, true, 1, 15},
	{NULL, 0, false, 0, 0},
};
static const struct ws_request_def requests[] = {
	{"register", p_register, h_register, WS_REQ_NEEDS_LOGIN},
	{"unregister", p_unregister, h_unregister, WS_REQ_NEEDS_LOGIN},
};

struct b2b *b2b_new(const struct b2b_config *cfg)
{
	struct b2b *b = g_new0(struct b2b, 1);
	b->cfg = *cfg;
	b->contact_host = g_strdup(cfg->contact_host);
	b->user_agent = g_strdup(cfg->user_agent ? cfg->user_agent : "gorgee");
	b->accounts = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, account_free);
	b->m_accounts = metrics_series(metrics_family("gorgee_accounts",
						      "Upstream SIP accounts of WebSocket users.",
						      METRIC_GAUGE), "");
	b->m_results = metrics_family("gorgee_account_registrations_total",
				      "Upstream REGISTER outcomes.", METRIC_COUNTER);
	b->domain = g_strdup(cfg->domain ? cfg->domain : "");
	b->trunk = g_strdup(cfg->trunk ? cfg->trunk : "");
	b->cfg.domain = b->domain;
	b->cfg.trunk = b->trunk;
	b->cfg.realm = NULL; /* copied below */
	b->realm = g_strdup(cfg->realm && *cfg->realm ? cfg->realm : "gorgee");
	b->cfg.realm = b->realm;
	b->cfg.contact_host = b->contact_host;
	b->cfg.user_agent = b->user_agent;
	b->calls = b2b_calls_table_new();
	b->m_calls = metrics_series(metrics_family("gorgee_calls", "Calls in progress (B2BUA).",
						   METRIC_GAUGE), "");
	b->m_call_results = metrics_family("gorgee_calls_total", "Calls ended, by outcome.",
					   METRIC_COUNTER);
	if (b2b_routes_init(b) != 0) {
		b2b_free(b);
		return NULL;
	}
	b->cfg.trusted = b->cfg.dialplan = NULL; /* parsed; the strings are not kept */
	ws_server_add_requests(cfg->ws, requests, G_N_ELEMENTS(requests), b);
	b2b_ws_calls_init(b);
	b2b_messages_init(b);
	b2b_admin_init(b);
	b2b_subs_init(b);
	b2b_presence_init(b);
	ws_server_on_session_end(cfg->ws, on_session_end, b);
	if (cfg->ua)
		sip_ua_set_invite_handler(cfg->ua, b2b_on_invite, b);
	return b;
}

void b2b_stop(struct b2b *b)
{
	b->stopping = true; /* calls in progress go on; new INVITEs get 503 */
	b2b_subs_stop(b);
	b2b_presence_stop(b);
	GList *all = g_hash_table_get_values(b->accounts);
	for (GList *l = all; l; l = l->next) {
		struct account *a = l->data;
		if (a->removing)
			continue;
		a->removing = true;
		if (a->refresh) {
			g_source_remove(a->refresh);
			a->refresh = 0;
		}
		if (!a->pending && a->state == ACC_REGISTERED)
			send_register(a, NULL);
		else if (!a->pending)
			g_hash_table_remove(b->accounts, a->id);
	}
	g_list_free(all);
}

void b2b_free(struct b2b *b)
{
	if (!b)
		return;
	if (b->cfg.ua)
		sip_ua_set_invite_handler(b->cfg.ua, NULL, NULL);
	ws_server_on_session_end(b->cfg.ws, NULL, NULL);
	b2b_subs_free(b); /* first: local subscriptions hold watchers of presence.c */
	b2b_presence_free(b);
	g_hash_table_destroy(b->calls);
	b2b_messages_free(b);
	b2b_routes_free(b);
	sip_user_free(b->looked_up);
	g_free(b->domain);
	g_free(b->trunk);
	g_free(b->realm);
	g_hash_table_destroy(b->accounts);
	g_free(b->contact_host);
	g_free(b->user_agent);
	g_free(b);
}

struct account *b2b_account_of(struct b2b *b, const char *id, struct ws_session *s)
{
	struct account *a = id ? g_hash_table_lookup(b->accounts, id) : NULL;
	return a && !a->removing && a->session == s ? a : NULL;
}

struct account *b2b_account_by_contact_user(struct b2b *b, struct slice user)
{
	/* our Contacts are sip:<aor user>-a-<N>@host: the account id is the "a-N" at the end */
	size_t i = user.len;
	while (i > 0 && g_ascii_isdigit(user.p[i - 1]))
		i--;
	if (i == user.len || i < 3 || user.p[i - 1] != '-' || user.p[i - 2] != 'a' || user.p[i - 3] != '-')
		return NULL;
	char id[16];
	size_t n = user.len - (i - 2);
	if (n >= sizeof(id))
		return NULL;
	memcpy(id, user.p + i - 2, n);
	id[n] = '\0';
	struct account *a = g_hash_table_lookup(b->accounts, id);
	if (!a || a->removing)
		return NULL;
	/* the whole user part must be this account's */
	const char *at = strchr(a->contact, '@');
	size_t cl = at ? (size_t)(at - a->contact) - 4 : 0;
	return at && cl == user.len && memcmp(a->contact + 4, user.p, cl) == 0 ? a : NULL;
}

struct ws_session *b2b_account_session(const struct account *a) { return a->session; }
const char *b2b_account_aor(const struct account *a) { return a->aor; }
const char *b2b_account_id(const struct account *a) { return a->id; }
const char *b2b_account_next_hop(const struct account *a) { return a->next_hop; }
const char *b2b_account_username(const struct account *a) { return a->username; }
const struct secret *b2b_account_password(const struct account *a) { return a->password; }

unsigned b2b_busy(const struct b2b *b)
{
	unsigned n = 0;
	GHashTableIter it;
	gpointer v;
	g_hash_table_iter_init(&it, b->accounts);
	while (g_hash_table_iter_next(&it, NULL, &v))
		n += ((struct account *)v)->pending || ((struct account *)v)->resolving;
	return n + g_hash_table_size(b->calls) + (b->messages ? g_hash_table_size(b->messages) : 0) +
	       (b->subs ? b2b_subs_busy(b) : 0) + b2b_presence_busy(b);
}

unsigned b2b_account_count(const struct b2b *b)
{
	return g_hash_table_size(b->accounts);
}
