/* Routing of INVITEs from SIP: users of our domain through the location service, other
 * destinations through the trunk, which only authenticated or trusted callers reach
 * (BAD-INPUTS SEC-10). */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "b2b_int.h"

static const char *const log_module = "route";

/* A trusted network, "192.0.2.0/24" or "2001:db8::/32". */
struct b2b_net {
	int family;
	uint8_t addr[16];
	unsigned prefix;
};

static bool net_parse(const char *text, struct b2b_net *n)
{
	char buf[64];
	g_strlcpy(buf, text, sizeof(buf));
	char *slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	n->family = strchr(buf, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(n->family, buf, n->addr) != 1)
		return false;
	unsigned max = n->family == AF_INET ? 32 : 128;
	n->prefix = max;
	if (slash) {
		char *end;
		unsigned long p = strtoul(slash + 1, &end, 10);
		if (*end || end == slash + 1 || p > max)
			return false;
		n->prefix = (unsigned)p;
	}
	return true;
}

static bool net_match(const struct b2b_net *n, const char *ip)
{
	uint8_t a[16];
	int fam = strchr(ip, ':') ? AF_INET6 : AF_INET;
	if (fam != n->family || inet_pton(fam, ip, a) != 1)
		return false;
	unsigned full = n->prefix / 8, rest = n->prefix % 8;
	if (memcmp(a, n->addr, full) != 0)
		return false;
	return !rest || ((a[full] ^ n->addr[full]) & (0xffu << (8 - rest)) & 0xffu) == 0;
}

int b2b_routes_init(struct b2b *b)
{
	b->trusted = g_ptr_array_new_with_free_func(g_free);
	if (b->cfg.trusted && *b->cfg.trusted) {
		char **parts = g_strsplit(b->cfg.trusted, ",", 64);
		for (size_t i = 0; parts[i]; i++) {
			char *t = g_strstrip(parts[i]);
			if (!*t)
				continue;
			struct b2b_net *n = g_new0(struct b2b_net, 1);
			if (!net_parse(t, n)) {
				LOGE(log_module, NULL, "calls.trusted: '%s' is not an address or CIDR", t);
				g_free(n);
				g_strfreev(parts);
				return EINVAL;
			}
			g_ptr_array_add(b->trusted, n);
		}
		g_strfreev(parts);
	}
	if (b->cfg.dialplan && *b->cfg.dialplan) {
		GError *err = NULL;
		char *anchored = g_strdup_printf("^(?:%s)$", b->cfg.dialplan);
		b->dialplan = g_regex_new(anchored, G_REGEX_OPTIMIZE, 0, &err);
		g_free(anchored);
		if (!b->dialplan) {
			LOGE(log_module, NULL, "calls.dialplan: %s", err->message);
			g_error_free(err);
			return EINVAL;
		}
	}
	return 0;
}

void b2b_routes_free(struct b2b *b)
{
	if (b->trusted)
		g_ptr_array_free(b->trusted, TRUE);
	if (b->dialplan)
		g_regex_unref(b->dialplan);
}

static bool trusted(const struct b2b *b, const char *ip)
{
	for (guint i = 0; i < b->trusted->len; i++)
		if (net_match(b->trusted->pdata[i], ip))
			return true;
	return false;
}

bool b2b_trusted(const struct b2b *b, const char *ip)
{
	return trusted(b, ip);
}

static void reply(struct b2b *b, struct sip_strans *st, int code, const char *extra)
{
	GString *h = g_string_new(extra ? extra : "");
	g_string_append_printf(h, "Server: %s\r\n", b->user_agent);
	sip_strans_respond(st, code, NULL, h->str, (struct slice){NULL, 0}, NULL);
	g_string_free(h, TRUE);
}

static const struct secret *lookup_ha1(const char *user, enum sip_digest_alg alg, void *arg)
{
	struct b2b *b = arg;
	sip_user_free(b->looked_up);
	b->looked_up = NULL;
	if (!b->cfg.store || sip_store_user_get(b->cfg.store, user, b->cfg.realm, &b->looked_up) != 0 ||
	    !b->looked_up || !b->looked_up->enabled)
		return NULL;
	return alg == SIP_DIGEST_SHA256 ? b->looked_up->ha1_sha256 : b->looked_up->ha1_md5;
}

bool b2b_authorize(struct b2b *b, struct sip_strans *st, const struct sip_msg *msg,
		   const struct sip_src *src, bool proxy, char *user, size_t user_cap)
{
	struct log_ctx lc = {.leg = "route", .peer = src->ip};
	if (user_cap)
		user[0] = '\0';
	if (trusted(b, src->ip))
		return true;
	if (!b->cfg.auth) {
		LOGN(log_module, &lc, "untrusted source, no digest configured: 403");
		reply(b, st, 403, NULL);
		return false;
	}
	struct sip_auth_cred cred;
	enum sip_auth_result r = sip_auth_server_check(b->cfg.auth, msg, src->ip, proxy, lookup_ha1, b,
						       &cred);
	sip_user_free(b->looked_up);
	b->looked_up = NULL;
	if (r == SIP_AUTH_OK) {
		if (user_cap)
			g_strlcpy(user, cred.username, user_cap);
		return true;
	}
	if (r == SIP_AUTH_BAD) {
		reply(b, st, 400, NULL);
		return false;
	}
	if (r == SIP_AUTH_FAIL)
		LOGN(log_module, &lc, "digest failed for " SLICE_FMT, SLICE_ARG(msg->method));
	GString *extra = g_string_new(NULL);
	sip_auth_server_challenge(b->cfg.auth, src->ip, proxy, r == SIP_AUTH_STALE, extra);
	reply(b, st, proxy ? 407 : 401, extra->str);
	g_string_free(extra, TRUE);
	return false;
}

/* SEC-10: a caller reaches the trunk only from a trusted network or with digest
 * credentials of a user of our realm (407 challenge, RFC 3261 §22.3). */
bool b2b_may_use_trunk(struct b2b *b, struct sip_strans *st, const struct sip_msg *msg,
			  const struct sip_src *src)
{
	return b2b_authorize(b, st, msg, src, true, NULL, 0);
}

void b2b_target_clear(struct target *t)
{
	if (t->ws)
		g_ptr_array_unref(t->ws);
	if (t->alts)
		g_ptr_array_unref(t->alts);
	g_free(t->ruri);
	g_free(t->hop);
	memset(t, 0, sizeof(*t));
}

/* The address-of-record the registrar stores for user@host: scheme, user and lower-case
 * host (as sip_registrar.c's aor_of). */
static char *aor_of(struct slice user, struct slice host)
{
	char *h = g_ascii_strdown(host.p, (gssize)host.len);
	char *aor = g_strdup_printf("sip:" SLICE_FMT "@%s", SLICE_ARG(user), h);
	g_free(h);
	return aor;
}

static bool our_host(const struct b2b *b, struct slice host)
{
	if (b->domain && *b->domain)
		return slice_caseeq(host, b->domain, strlen(b->domain));
	return !(b->trunk && *b->trunk); /* no domain set: everything is ours unless a trunk exists */
}

bool b2b_host_is_ours(const struct b2b *b, struct slice host)
{
	return our_host(b, host);
}

/*
 * Local destinations first: WebSocket sessions of the user (all of them ring; they are
 * preferred over SIP contacts of the same name), then the first binding of the AOR. From
 * a SIP caller, a host that is not ours goes to the trunk only; a WebSocket user (logged in,
 * so authenticated) may also reach a SIP URI of another domain directly.
 */
void b2b_find_target(struct b2b *b, const struct sip_uri *u, bool from_ws, struct target *t)
{
	char user[SIP_MAX_URI];
	g_snprintf(user, sizeof(user), SLICE_FMT, SLICE_ARG(u->user));
	memset(t, 0, sizeof(*t));
	/* a browser registered upstream through an account: the PBX calls its Contact */
	struct account *acc = b2b_account_by_contact_user(b, u->user);
	if (acc) {
		t->ws = g_ptr_array_new_with_free_func((GDestroyNotify)ws_session_unref);
		g_ptr_array_add(t->ws, ws_session_ref(b2b_account_session(acc)));
		g_strlcpy(t->account, b2b_account_id(acc), sizeof(t->account));
		return;
	}
	bool ours = our_host(b, u->host);
	if (*user && (ours || !(b->domain && *b->domain))) {
		t->ws = ws_server_sessions_of(b->cfg.ws, user);
		if (t->ws->len)
			return;
		g_ptr_array_unref(t->ws);
		t->ws = NULL;
	}
	if (*user && b->cfg.store) {
		char *aor = aor_of(u->user, u->host);
		GPtrArray *found = NULL;
		if (sip_store_lookup(b->cfg.store, aor, g_get_real_time() / G_USEC_PER_SEC, &found) == 0 &&
		    found->len) {
			for (guint i = 0; i < found->len && i < 8; i++) {
				const struct sip_binding *bd = found->pdata[i];
				/* NAT: the address the REGISTER came from, "udp:ip:port", beats the
				 * Contact */
				char *hop = bd->received && g_str_has_prefix(bd->received, "udp:")
						    ? g_strdup_printf("sip:%s", bd->received + 4) /* v6 bracketed */
						    : g_strdup(bd->contact);
				if (i == 0) {
					t->ruri = g_strdup(bd->contact);
					t->hop = hop;
					continue;
				}
				if (!t->alts)
					t->alts = g_ptr_array_new_with_free_func(g_free);
				g_ptr_array_add(t->alts, g_strdup_printf("%s\n%s", bd->contact, hop));
				g_free(hop);
			}
		}
		if (found)
			g_ptr_array_unref(found);
		g_free(aor);
		if (t->ruri)
			return;
	}
	if (ours && (!b->trunk || !*b->trunk || (b->domain && *b->domain))) {
		t->code = *user ? 480 : 404;
		return;
	}
	if (b->trunk && *b->trunk) {
		struct sip_uri tu;
		if (sip_uri_parse((struct slice){b->trunk, strlen(b->trunk)}, &tu) != 0) {
			t->code = 500;
			return;
		}
		t->ruri = tu.port ? g_strdup_printf("sip:%s@" SLICE_FMT ":%u", user, SLICE_ARG(tu.host), tu.port)
				  : g_strdup_printf("sip:%s@" SLICE_FMT, user, SLICE_ARG(tu.host));
		t->hop = g_strdup(b->trunk);
		t->trunk = true;
		return;
	}
	if (from_ws && u->scheme == SIP_SCHEME_SIP && u->host.len) {
		char *uri = u->port ? g_strdup_printf("sip:" SLICE_FMT "%s" SLICE_FMT ":%u", SLICE_ARG(u->user),
						     u->user.len ? "@" : "", SLICE_ARG(u->host), u->port)
				    : g_strdup_printf("sip:" SLICE_FMT "%s" SLICE_FMT, SLICE_ARG(u->user),
						      u->user.len ? "@" : "", SLICE_ARG(u->host));
		t->ruri = uri;
		t->hop = g_strdup(uri);
		return;
	}
	t->code = 404;
}

/* SEC-10: only Request-URI users the dial plan allows go to the trunk. */
bool b2b_dialplan_allows(const struct b2b *b, const struct sip_uri *u)
{
	char user[SIP_MAX_URI];
	g_snprintf(user, sizeof(user), SLICE_FMT, SLICE_ARG(u->user));
	return !b->dialplan || g_regex_match(b->dialplan, user, 0, NULL);
}

/* Attaches the B leg the target names. */
static void attach_b(struct b2b *b, struct call *c, struct target *t, const char *from_uri,
		     const char *display, const char *to)
{
	if (t->ws) {
		char *from = display && *display ? g_strdup_printf("\"%s\" <%s>", display, from_uri)
						 : g_strdup_printf("<%s>", from_uri);
		call_media_set_webrtc(c->media, LEG_B, true);
		call_set_leg(c, LEG_B, leg_ws_new_callee(b, t->ws, from, to, t->account[0] ? t->account : NULL));
		g_free(from);
	} else {
		call_set_leg(c, LEG_B, leg_sip_new_uac(b, t->ruri, t->hop, from_uri, display, to));
		for (guint i = 0; t->alts && i < t->alts->len; i++) {
			char **rh = g_strsplit(t->alts->pdata[i], "\n", 2);
			if (rh[0] && rh[1])
				leg_sip_add_alternative(c->leg[LEG_B], rh[0], rh[1]);
			g_strfreev(rh);
		}
	}
}

/* Redirect server: 302 with every live contact of the AOR, with its q (RFC 3261 §21.3.3). */
static bool redirect(struct b2b *b, struct sip_strans *st, const struct sip_msg *msg)
{
	char *aor = aor_of(msg->ruri_parsed.user, msg->ruri_parsed.host);
	GPtrArray *found = NULL;
	bool done = false;
	if (b->cfg.store &&
	    sip_store_lookup(b->cfg.store, aor, g_get_real_time() / G_USEC_PER_SEC, &found) == 0 &&
	    found->len) {
		GString *h = g_string_new(NULL);
		for (guint i = 0; i < found->len; i++) {
			const struct sip_binding *bd = found->pdata[i];
			g_string_append_printf(h, "Contact: <%s>;q=%u.%03u\r\n", bd->contact, bd->q / 1000,
					       bd->q % 1000);
		}
		reply(b, st, 302, h->str);
		g_string_free(h, TRUE);
		done = true;
	}
	if (found)
		g_ptr_array_unref(found);
	g_free(aor);
	return done;
}

/* A display name and URI of From, for the B leg's From (the caller's identity). */
static void caller_identity(const struct sip_msg *msg, char **uri, char **display)
{
	*uri = g_strndup(msg->from.uri.p, msg->from.uri.len);
	*display = g_strndup(msg->from.display.p ? msg->from.display.p : "", msg->from.display.len);
	g_strdelimit(*display, "\"\\\r\n", ' ');
}

void b2b_on_invite(struct sip_strans *st, const struct sip_msg *msg, const struct sip_src *src,
		   void *arg)
{
	struct b2b *b = arg;
	char *from_uri = NULL, *display = NULL;
	struct target t = {0};
	struct log_ctx lc = {.leg = "route", .peer = src->ip};
	if (b->stopping) {
		reply(b, st, 503, "Retry-After: 30\r\n");
		return;
	}
	if (b->cfg.max_calls && b2b_call_count(b) >= b->cfg.max_calls) {
		reply(b, st, 503, "Retry-After: 5\r\n");
		return;
	}
	if (msg->method_id == SIP_METHOD_MESSAGE) {
		b2b_on_message(b, st, msg, src);
		return;
	}
	if (sip_msg_hdr(msg, SIP_HDR_REPLACES)) { /* RFC 3891: a call of ours, not a route */
		b2b_on_replaces(b, st, msg, src);
		return;
	}
	b2b_find_target(b, &msg->ruri_parsed, false, &t);
	if (t.code) {
		LOGI(log_module, &lc, "INVITE for " SLICE_FMT ": %d", SLICE_ARG(msg->ruri), t.code);
		reply(b, st, t.code, NULL);
		goto out;
	}
	if (b->cfg.redirect && !t.ws && !t.trunk && redirect(b, st, msg)) /* RFC 3261 §8.3 */
		goto out;
	/* SEC-10: the trunk only for trusted or authenticated callers, then the dial plan */
	if (t.trunk && !b2b_may_use_trunk(b, st, msg, src))
		goto out;
	if (t.trunk && !b2b_dialplan_allows(b, &msg->ruri_parsed)) {
		LOGN(log_module, &lc, "INVITE for " SLICE_FMT " refused by the dial plan", SLICE_ARG(msg->ruri));
		reply(b, st, 403, NULL);
		goto out;
	}
	caller_identity(msg, &from_uri, &display);
	char to[SIP_MAX_URI + 8];
	g_snprintf(to, sizeof(to), SLICE_FMT, SLICE_ARG(msg->to.uri));
	struct call *c = call_new(b, from_uri, to);
	call_set_leg(c, LEG_A, leg_sip_new_uas(b, st, msg, src));
	attach_b(b, c, &t, from_uri, display, to);
	GString *offer = g_string_new(NULL);
	const char *why = NULL;
	struct slice sdp = {NULL, 0};
	int code = 0;
	if (msg->body.len && (code = sip_body_sdp(msg, &sdp)) != 0) { /* BI-12 */
		why = code == EBADMSG ? "malformed multipart body" : "no SDP in the body";
		code = code == EBADMSG ? 400 : 415;
	}
	if (!code)
		code = call_offer_from_a(c, sdp.p, sdp.len, offer, &why);
	if (code) {
		lc.call_id = c->id;
		LOGN(log_module, &lc, "offer refused: %s", why ? why : "?");
		call_end(c, code, why);
	} else {
		call_start(c, offer->str);
	}
	g_string_free(offer, TRUE);
out:
	b2b_target_clear(&t);
	g_free(from_uri);
	g_free(display);
}

void b2b_call_from_ws(struct b2b *b, struct ws_req *req, const char *to, const char *account,
		      const char *sdp)
{
	struct sip_uri u;
	char *uri = strchr(to, ':') ? g_strdup(to)
				    : g_strdup_printf("sip:%s@%s", to, *b->domain ? b->domain : b->contact_host);
	if (sip_uri_parse((struct slice){uri, strlen(uri)}, &u) != 0 || u.scheme != SIP_SCHEME_SIP) {
		ws_req_error(req, WS_E_INVALID_PARAMS, "parameter 'to' must be a sip: URI or a user name");
		g_free(uri);
		return;
	}
	struct ws_session *s = ws_req_session(req);
	struct account *acc = NULL;
	if (account && !(acc = b2b_account_of(b, account, s))) {
		ws_req_error(req, WS_E_INVALID_PARAMS, "no such account in this session");
		g_free(uri);
		return;
	}
	const char *user = ws_session_user(s);
	char *from_uri = acc ? g_strdup(b2b_account_aor(acc))
			     : g_strdup_printf("sip:%s@%s", user, *b->domain ? b->domain : b->contact_host);
	struct target t;
	if (acc) { /* through the account's registrar or proxy, as its user */
		memset(&t, 0, sizeof(t));
		t.ruri = g_strdup(uri);
		t.hop = g_strdup(b2b_account_next_hop(acc));
	} else {
		b2b_find_target(b, &u, true, &t);
	}
	struct call *c = call_new(b, from_uri, uri);
	call_media_set_webrtc(c->media, LEG_A, true);
	call_set_leg(c, LEG_A, leg_ws_new_caller(b, s, ws_req_id(req)));
	ws_req_reply(req, json_pack("{s:s}", "call_id", c->id));
	if (!t.code && t.trunk && !b2b_dialplan_allows(b, &u))
		t.code = 403;
	if (t.code) {
		call_end(c, t.code, sip_status_phrase(t.code));
		goto out;
	}
	attach_b(b, c, &t, from_uri, user, uri);
	if (acc)
		leg_sip_set_credentials(c->leg[LEG_B], b2b_account_username(acc), b2b_account_password(acc));
	GString *offer = g_string_new(NULL);
	const char *why = NULL;
	int code = call_offer_from_a(c, sdp, strlen(sdp), offer, &why);
	if (code) {
		struct log_ctx lc = {.call_id = c->id, .leg = "route"};
		LOGN(log_module, &lc, "offer refused: %s", why ? why : "?");
		call_end(c, code, why);
	} else {
		ws_session_send_event(s, "call_state", ws_req_id(req), c->id,
				      json_pack("{s:s}", "state", "calling"));
		call_start(c, offer->str);
	}
	g_string_free(offer, TRUE);
out:
	b2b_target_clear(&t);
	g_free(from_uri);
	g_free(uri);
}
