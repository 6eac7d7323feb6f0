/* Registrar (RFC 3261 §10.3): digest auth, bindings with expiry and q, Contact: *, 423,
 * Path (RFC 3327) and +sip.instance/reg-id (RFC 5626), answered after the store commits. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sip.h"

static const char *const log_module = "registrar";

struct sip_registrar {
	struct sip_registrar_config cfg;
	char *domain;
	struct sip_store *store;
	struct sip_auth_server *auth;
	unsigned pending;
	struct sip_user *looked_up; /* keeps the HA1 the auth check borrows */
	struct metric_family *m_result;
	struct {
		const char *result; /* a string literal */
		struct metric *m;
	} m_known[16];          /* series found once per result */
	time_t date_at;         /* the second date_line was printed for */
	char date_line[64];     /* "Date: ...\r\n" (RFC 3261 §10.3 step 8) */
};

/* One REGISTER waiting for its writes to commit. */
struct reg_job {
	struct sip_registrar *r;
	struct sip_strans *st;
	char *aor;
	unsigned writes;
	int err;
	bool path;   /* Supported: path — echo Path in the 200 */
	GString *path_lines;
};

static void count(struct sip_registrar *r, const char *result)
{
	size_t i = 0;
	while (i < G_N_ELEMENTS(r->m_known) && r->m_known[i].result &&
	       strcmp(r->m_known[i].result, result) != 0)
		i++;
	if (i < G_N_ELEMENTS(r->m_known) && r->m_known[i].result) {
		metric_add(r->m_known[i].m, 1);
		return;
	}
	char labels[48];
	g_snprintf(labels, sizeof(labels), "result=\"%s\"", result);
	struct metric *m = metrics_series(r->m_result, labels);
	if (i < G_N_ELEMENTS(r->m_known)) {
		r->m_known[i].result = result;
		r->m_known[i].m = m;
	}
	metric_add(m, 1);
}

static const struct secret *lookup_ha1(const char *user, enum sip_digest_alg alg, void *arg)
{
	struct sip_registrar *r = arg;
	sip_user_free(r->looked_up);
	r->looked_up = NULL;
	if (sip_store_user_get(r->store, user, r->cfg.domain[0] ? r->cfg.domain : "gorgee",
			       &r->looked_up) != 0 || !r->looked_up || !r->looked_up->enabled)
		return NULL;
	return alg == SIP_DIGEST_SHA256 ? r->looked_up->ha1_sha256 : r->looked_up->ha1_md5;
}

/* The address-of-record of a To URI: scheme, user and lower-case host (§10.3 step 5). */
static char *aor_of(struct slice to_uri)
{
	struct sip_uri u;
	if (sip_uri_parse(to_uri, &u) != 0 || u.scheme == SIP_SCHEME_TEL || !u.host.len)
		return NULL;
	char *host = g_ascii_strdown(u.host.p, (gssize)u.host.len);
	char *aor = g_strdup_printf("%s:" SLICE_FMT "%s%s", u.scheme == SIP_SCHEME_SIPS ? "sips" : "sip",
				    SLICE_ARG(u.user), u.user.len ? "@" : "", host);
	g_free(host);
	return aor;
}

static void respond(struct sip_registrar *r, struct sip_strans *st, int status, const char *extra,
		    const char *result)
{
	count(r, result);
	sip_strans_respond(st, status, NULL, extra, (struct slice){NULL, 0}, NULL);
}

/* The 200 lists every live binding with its remaining time (§10.3 step 8). */
static void answer_ok(struct reg_job *j)
{
	GPtrArray *list = NULL;
	int64_t now = (int64_t)time(NULL);
	GString *extra = g_string_sized_new(256);
	if (sip_store_lookup(j->r->store, j->aor, now, &list) == 0) {
		for (guint i = 0; i < list->len; i++) {
			struct sip_binding *b = list->pdata[i];
			g_string_append_printf(extra, "Contact: <%s>;expires=%" G_GINT64_FORMAT, b->contact,
					       b->expires - now);
			if (b->q != 1000)
				g_string_append_printf(extra, ";q=%u.%03u", b->q / 1000, b->q % 1000);
			if (b->instance && b->instance[0])
				g_string_append_printf(extra, ";+sip.instance=\"%s\"", b->instance);
			if (b->reg_id)
				g_string_append_printf(extra, ";reg-id=%u", b->reg_id);
			g_string_append(extra, "\r\n");
		}
		g_ptr_array_unref(list);
	}
	struct sip_registrar *r = j->r;
	if (r->date_at != (time_t)now || !r->date_line[0]) { /* printed once a second */
		struct tm tm;
		time_t t = (time_t)now;
		gmtime_r(&t, &tm);
		strftime(r->date_line, sizeof(r->date_line), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n",
			 &tm);
		r->date_at = t;
	}
	g_string_append(extra, r->date_line);
	if (j->path && j->path_lines)
		g_string_append(extra, j->path_lines->str);
	respond(j->r, j->st, 200, extra->str, "ok");
	g_string_free(extra, TRUE);
}

static void job_free(struct reg_job *j)
{
	j->r->pending--;
	if (j->path_lines)
		g_string_free(j->path_lines, TRUE);
	g_free(j->aor);
	g_free(j);
}

static void write_done(int err, void *arg)
{
	struct reg_job *j = arg;
	if (err)
		j->err = err;
	if (--j->writes > 0)
		return;
	if (j->err) {
		LOGE(log_module, NULL, "store write for %s failed: %s", j->aor, g_strerror(j->err));
		respond(j->r, j->st, 500, "Retry-After: 5\r\n", "store_error");
	} else {
		answer_ok(j);
	}
	job_free(j);
}

static int64_t contact_expiry(const struct sip_registrar *r, const struct sip_contact *c,
			      const struct sip_msg *req)
{
	int64_t e = c->expires >= 0 ? c->expires : req->expires >= 0 ? req->expires
							      : (int64_t)r->cfg.default_expires;
	return e > (int64_t)r->cfg.max_expires ? (int64_t)r->cfg.max_expires : e;
}

/* Checks every Contact before writing any (§10.3 step 6-7): all or nothing. */
static int check_contacts(struct sip_registrar *r, const struct sip_msg *req, bool *star,
			  GString *extra)
{
	*star = false;
	unsigned n = 0;
	for (const struct sip_hdr *h = sip_msg_hdr(req, SIP_HDR_CONTACT); h; h = sip_msg_hdr_next(req, h)) {
		struct sip_contact c;
		if (sip_contact_parse(h->value, &c) != 0)
			return 400;
		n++;
		if (c.addr.star) {
			*star = true;
			continue;
		}
		int64_t e = contact_expiry(r, &c, req);
		if (e > 0 && e < (int64_t)r->cfg.min_expires) {
			g_string_append_printf(extra, "Min-Expires: %u\r\n", r->cfg.min_expires);
			return 423;
		}
	}
	/* "*" only alone and with Expires: 0 (§10.2.2) */
	if (*star && (n != 1 || req->expires != 0))
		return 400;
	return 0;
}

static void store_contacts(struct sip_registrar *r, struct reg_job *j, const struct sip_msg *req,
			   const struct sip_src *src)
{
	int64_t now = (int64_t)time(NULL);
	char received[80], callid[SIP_STORE_MAX_FIELD];
	g_snprintf(received, sizeof(received), "%s:%s%s%s:%u", sip_proto_name(src->proto),
		   strchr(src->ip, ':') ? "[" : "", src->ip, strchr(src->ip, ':') ? "]" : "", src->port);
	g_snprintf(callid, sizeof(callid), SLICE_FMT, (int)MIN(req->call_id.len, sizeof(callid) - 1),
		   req->call_id.p);
	GString *path = g_string_new(NULL);
	for (const struct sip_hdr *h = sip_msg_hdr_find(req, "Path"); h; h = sip_msg_hdr_next(req, h)) {
		g_string_append_printf(path, "%s" SLICE_FMT, path->len ? "," : "", SLICE_ARG(h->value));
		if (!j->path_lines)
			j->path_lines = g_string_new(NULL);
		g_string_append_printf(j->path_lines, "Path: " SLICE_FMT "\r\n", SLICE_ARG(h->value));
	}
	const struct sip_hdr *ua = sip_msg_hdr_find(req, "User-Agent");
	char *ua_s = ua ? g_strndup(ua->value.p, MIN(ua->value.len, 200)) : NULL;
	j->writes = 1; /* held until every write is queued */
	for (const struct sip_hdr *h = sip_msg_hdr(req, SIP_HDR_CONTACT); h; h = sip_msg_hdr_next(req, h)) {
		struct sip_contact c;
		sip_contact_parse(h->value, &c);
		int64_t e = contact_expiry(r, &c, req);
		char *contact = g_strndup(c.addr.uri.p, c.addr.uri.len);
		char *instance = c.instance.p ? g_strndup(c.instance.p, c.instance.len) : NULL;
		j->writes++;
		int rc;
		if (e == 0) {
			rc = sip_store_remove(r->store, j->aor, contact, instance,
					      c.reg_id > 0 ? (uint32_t)c.reg_id : 0, write_done, j);
		} else {
			struct sip_binding b = {
				.aor = j->aor, .contact = contact, .expires = now + e,
				.q = c.q >= 0 ? (uint16_t)c.q : 1000, .call_id = callid,
				.cseq = req->cseq.num, .instance = instance,
				.reg_id = c.reg_id > 0 ? (uint32_t)c.reg_id : 0,
				.path = path->len ? path->str : NULL, .received = received,
				.user_agent = ua_s, .updated = now,
			};
			rc = sip_store_put(r->store, &b, write_done, j);
		}
		if (rc) { /* refused before queueing: counts as done with an error */
			j->writes--;
			j->err = rc;
		}
		g_free(contact);
		g_free(instance);
	}
	g_free(ua_s);
	g_string_free(path, TRUE);
	write_done(0, j); /* releases the hold; answers if nothing is queued */
}

void sip_registrar_handle(struct sip_registrar *r, struct sip_strans *st, const struct sip_msg *req,
			  const struct sip_src *src)
{
	struct sip_uri ruri = req->ruri_parsed;
	if (r->cfg.domain[0] && (ruri.host.len != strlen(r->cfg.domain) ||
				 g_ascii_strncasecmp(ruri.host.p, r->cfg.domain, ruri.host.len))) {
		respond(r, st, 404, NULL, "not_our_domain"); /* §10.3 step 1 */
		return;
	}
	char *aor = aor_of(req->to.uri);
	if (!aor) {
		respond(r, st, 400, NULL, "bad_to");
		return;
	}
	if (r->cfg.auth) {
		struct sip_auth_cred cred;
		enum sip_auth_result res =
			sip_auth_server_check(r->auth, req, src->ip, false, lookup_ha1, r, &cred);
		sip_user_free(r->looked_up);
		r->looked_up = NULL;
		if (res != SIP_AUTH_OK) {
			GString *extra = g_string_sized_new(256);
			if (res == SIP_AUTH_BAD) {
				respond(r, st, 400, NULL, "bad_credentials");
			} else {
				sip_auth_server_challenge(r->auth, src->ip, false, res == SIP_AUTH_STALE, extra);
				respond(r, st, 401, extra->str, sip_auth_result_name(res));
			}
			g_string_free(extra, TRUE);
			g_free(aor);
			return;
		}
		/* §10.3 step 4: the authenticated user may register only its own AOR */
		struct sip_uri to;
		if (sip_uri_parse(req->to.uri, &to) != 0 || to.user.len != strlen(cred.username) ||
		    memcmp(to.user.p, cred.username, to.user.len) != 0) {
			respond(r, st, 403, NULL, "foreign_aor");
			g_free(aor);
			return;
		}
	}
	bool star;
	GString *extra = g_string_new(NULL);
	int bad = check_contacts(r, req, &star, extra);
	if (bad) {
		respond(r, st, bad, extra->str, bad == 423 ? "interval_too_brief" : "bad_contact");
		g_string_free(extra, TRUE);
		g_free(aor);
		return;
	}
	g_string_free(extra, TRUE);
	struct reg_job *j = g_new0(struct reg_job, 1);
	j->r = r;
	j->st = st;
	j->aor = aor;
	j->path = sip_msg_has_token(req, SIP_HDR_SUPPORTED, "path");
	r->pending++;
	if (star) {
		j->writes = 1;
		if (sip_store_remove_all(r->store, aor, write_done, j) != 0)
			write_done(EIO, j);
		return;
	}
	store_contacts(r, j, req, src); /* no Contact at all: a query, answered with the list */
}

struct sip_registrar *sip_registrar_new(const struct sip_registrar_config *cfg,
					struct sip_store *store, struct sip_auth_server *auth)
{
	struct sip_registrar *r = g_new0(struct sip_registrar, 1);
	r->cfg = *cfg;
	r->domain = g_strdup(cfg->domain ? cfg->domain : "");
	r->cfg.domain = r->domain;
	r->store = store;
	r->auth = auth;
	r->m_result = metrics_family("gorgee_registrar_requests_total",
				     "REGISTER requests by outcome.", METRIC_COUNTER);
	return r;
}

void sip_registrar_free(struct sip_registrar *r)
{
	if (!r)
		return;
	sip_user_free(r->looked_up);
	g_free(r->domain);
	g_free(r);
}

unsigned sip_registrar_pending(const struct sip_registrar *r)
{
	return r->pending;
}
