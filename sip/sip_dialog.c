/* Dialogs (RFC 3261 §12): identity, CSeq rules, route set, remote target, and the table
 * that finds the dialog of an in-dialog request or response. */
#include <errno.h>
#include <string.h>

#include "sip.h"

struct sip_dialog {
	enum sip_dialog_state state;
	char *call_id, *local_tag, *remote_tag;
	char *local_uri, *remote_uri;   /* the From/To header values without tags, as received */
	char *remote_target;            /* Contact URI */
	GPtrArray *route;               /* char * route-set entries ("<sip:...;lr>"), in use order */
	uint32_t local_cseq, remote_cseq;
	bool remote_cseq_set;
	char *key;                      /* Call-ID \x01 local tag \x01 remote tag */
	sip_dialog_request_fn *fn;      /* the dialog's user: in-dialog requests */
	void *fn_arg;
};

struct sip_dialogs {
	GHashTable *by_key; /* key -> struct sip_dialog * (not owned) */
};

static char *dup_slice(struct slice s)
{
	return g_strndup(s.p ? s.p : "", s.len);
}

/* From/To header value without its tag parameter, for the From/To of later requests. */
static char *addr_without_tag(const struct sip_msg *m, enum sip_hdr_id id)
{
	const struct sip_hdr *h = sip_msg_hdr(m, id);
	if (!h)
		return g_strdup("");
	GString *out = g_string_new_len(h->value.p, (gssize)h->value.len);
	/* drop ";tag=..." (case-insensitive name), keeping every other parameter */
	char *lower = g_ascii_strdown(out->str, (gssize)out->len);
	char *gt = strrchr(lower, '>');
	char *t = strstr(gt ? gt : lower, ";tag=");
	if (t) {
		size_t start = (size_t)(t - lower), end = start + 5;
		while (end < out->len && out->str[end] != ';' && out->str[end] != ' ')
			end++;
		g_string_erase(out, (gssize)start, (gssize)(end - start));
	}
	g_free(lower);
	return g_string_free(out, FALSE);
}

static void make_key(struct sip_dialog *d)
{
	g_free(d->key);
	d->key = g_strdup_printf("%s\x01%s\x01%s", d->call_id, d->local_tag, d->remote_tag);
}

/* The first Contact URI of a message, or NULL. */
static char *contact_uri(const struct sip_msg *m)
{
	const struct sip_hdr *h = sip_msg_hdr(m, SIP_HDR_CONTACT);
	struct sip_contact c;
	if (!h || sip_contact_parse(h->value, &c) != 0 || c.addr.star || !c.addr.uri.len)
		return NULL;
	return dup_slice(c.addr.uri);
}

/* Route set from Record-Route, in order or reversed (UAC, §12.1.2). */
static GPtrArray *route_set(const struct sip_msg *m, bool reverse)
{
	GPtrArray *r = g_ptr_array_new_with_free_func(g_free);
	for (const struct sip_hdr *h = sip_msg_hdr(m, SIP_HDR_RECORD_ROUTE); h;
	     h = sip_msg_hdr_next(m, h)) {
		if (reverse)
			g_ptr_array_insert(r, 0, dup_slice(h->value));
		else
			g_ptr_array_add(r, dup_slice(h->value));
	}
	return r;
}

int sip_dialog_new_uas(const struct sip_msg *req, const char *local_tag, struct sip_dialog **out)
{
	if (!req->request || !req->from.tag.len || !local_tag || !*local_tag)
		return EINVAL;
	char *target = contact_uri(req);
	if (!target)
		return EBADMSG;
	struct sip_dialog *d = g_new0(struct sip_dialog, 1);
	d->state = SIP_DIALOG_CONFIRMED; /* a UAS dialog exists once our 2xx (or 1xx) is sent */
	d->call_id = dup_slice(req->call_id);
	d->local_tag = g_strdup(local_tag);
	d->remote_tag = dup_slice(req->from.tag);
	d->local_uri = addr_without_tag(req, SIP_HDR_TO);
	d->remote_uri = addr_without_tag(req, SIP_HDR_FROM);
	d->remote_target = target;
	d->route = route_set(req, false);
	d->remote_cseq = req->cseq.num;
	d->remote_cseq_set = true;
	d->local_cseq = 0; /* §12.1.1: empty until we send a request */
	make_key(d);
	*out = d;
	return 0;
}

int sip_dialog_new_uac(const struct sip_msg *req, const struct sip_msg *resp,
		       struct sip_dialog **out)
{
	if (!req->request || resp->request || !resp->to.tag.len || !req->from.tag.len ||
	    resp->status < 101 || resp->status >= 300)
		return EINVAL;
	char *target = contact_uri(resp);
	if (!target && resp->status >= 200)
		return EBADMSG;
	struct sip_dialog *d = g_new0(struct sip_dialog, 1);
	d->state = resp->status < 200 ? SIP_DIALOG_EARLY : SIP_DIALOG_CONFIRMED;
	d->call_id = dup_slice(req->call_id);
	d->local_tag = dup_slice(req->from.tag);
	d->remote_tag = dup_slice(resp->to.tag);
	d->local_uri = addr_without_tag(req, SIP_HDR_FROM);
	d->remote_uri = addr_without_tag(req, SIP_HDR_TO);
	d->remote_target = target ? target : dup_slice(req->ruri);
	d->route = route_set(resp, true);
	d->local_cseq = req->cseq.num;
	make_key(d);
	*out = d;
	return 0;
}

void sip_dialog_free(struct sip_dialog *d)
{
	if (!d)
		return;
	g_free(d->call_id);
	g_free(d->local_tag);
	g_free(d->remote_tag);
	g_free(d->local_uri);
	g_free(d->remote_uri);
	g_free(d->remote_target);
	g_ptr_array_free(d->route, TRUE);
	g_free(d->key);
	g_free(d);
}

enum sip_dialog_state sip_dialog_state(const struct sip_dialog *d) { return d->state; }
const char *sip_dialog_call_id(const struct sip_dialog *d) { return d->call_id; }
const char *sip_dialog_local_tag(const struct sip_dialog *d) { return d->local_tag; }
const char *sip_dialog_remote_tag(const struct sip_dialog *d) { return d->remote_tag; }
const char *sip_dialog_remote_target(const struct sip_dialog *d) { return d->remote_target; }

int sip_dialog_confirm(struct sip_dialog *d, const struct sip_msg *resp)
{
	char *target = contact_uri(resp);
	if (!target)
		return EBADMSG;
	g_free(d->remote_target);
	d->remote_target = target;
	g_ptr_array_free(d->route, TRUE); /* §13.2.2.4: the 2xx's route set replaces the early one */
	d->route = route_set(resp, true);
	d->state = SIP_DIALOG_CONFIRMED;
	return 0;
}

static bool is_target_refresh(const struct sip_msg *m)
{
	switch (m->method_id) {
	case SIP_METHOD_INVITE:
	case SIP_METHOD_UPDATE:
	case SIP_METHOD_SUBSCRIBE:
	case SIP_METHOD_NOTIFY:
		return true;
	default:
		return false;
	}
}

int sip_dialog_receive(struct sip_dialog *d, const struct sip_msg *req)
{
	/* §12.2.2: ACK and CANCEL carry the CSeq of the request they belong to */
	bool same_ok = req->method_id == SIP_METHOD_ACK || req->method_id == SIP_METHOD_CANCEL;
	if (d->remote_cseq_set &&
	    (req->cseq.num < d->remote_cseq || (req->cseq.num == d->remote_cseq && !same_ok)))
		return 500;
	d->remote_cseq = req->cseq.num;
	d->remote_cseq_set = true;
	if (is_target_refresh(req)) {
		char *target = contact_uri(req);
		if (target) {
			g_free(d->remote_target);
			d->remote_target = target;
		}
	}
	return 0;
}

int sip_dialog_refresh_target(struct sip_dialog *d, const struct sip_msg *resp)
{
	char *target = contact_uri(resp);
	if (!target)
		return EBADMSG;
	g_free(d->remote_target);
	d->remote_target = target;
	return 0;
}

void sip_dialog_request(struct sip_dialog *d, const char *method, uint32_t cseq_override,
			char **ruri, GString *headers)
{
	uint32_t cseq = cseq_override;
	if (!cseq) {
		/* §12.2.1.1: one more than the last; a UAS that never sent one starts anywhere */
		if (d->local_cseq == 0)
			d->local_cseq = g_random_int_range(1, 1 << 20);
		cseq = ++d->local_cseq;
	}
	/* Loose routing (RFC 3261 §16.12): R-URI = remote target, the route set as Route. */
	*ruri = g_strdup(d->remote_target);
	for (guint i = 0; i < d->route->len; i++)
		g_string_append_printf(headers, "Route: %s\r\n", (char *)d->route->pdata[i]);
	g_string_append_printf(headers,
			       "Max-Forwards: 70\r\nFrom: %s;tag=%s\r\nTo: %s;tag=%s\r\n"
			       "Call-ID: %s\r\nCSeq: %u %s\r\n",
			       d->local_uri, d->local_tag, d->remote_uri, d->remote_tag, d->call_id,
			       cseq, method);
}

uint32_t sip_dialog_local_cseq(const struct sip_dialog *d)
{
	return d->local_cseq;
}

void sip_dialog_set_local_cseq(struct sip_dialog *d, uint32_t cseq)
{
	d->local_cseq = cseq;
}

char *sip_dialog_next_hop(const struct sip_dialog *d)
{
	if (d->route->len == 0)
		return g_strdup(d->remote_target);
	/* a route-set entry is a name-addr: "<sip:p.example.com;lr>" (display name allowed) */
	const char *r = d->route->pdata[0];
	const char *lt = strchr(r, '<'), *gt = lt ? strchr(lt, '>') : NULL;
	return lt && gt ? g_strndup(lt + 1, (gsize)(gt - lt - 1)) : g_strdup(r);
}

void sip_dialog_set_handler(struct sip_dialog *d, sip_dialog_request_fn *fn, void *arg)
{
	d->fn = fn;
	d->fn_arg = arg;
}

bool sip_dialog_dispatch(struct sip_dialog *d, struct sip_strans *st, const struct sip_msg *req,
			 const struct sip_src *src)
{
	if (!d->fn)
		return false;
	d->fn(d, st, req, src, d->fn_arg);
	return true;
}

void sip_dialog_dump(const struct sip_dialog *d, GString *out)
{
	g_string_append_printf(out,
			       "dialog %s state=%s local_tag=%s remote_tag=%s target=%s routes=%u "
			       "cseq=%u/%u\n",
			       d->call_id, d->state == SIP_DIALOG_EARLY ? "early" : "confirmed",
			       d->local_tag, d->remote_tag, d->remote_target, d->route->len,
			       d->local_cseq, d->remote_cseq);
}

/* ---- the table ---- */

struct sip_dialogs *sip_dialogs_new(void)
{
	struct sip_dialogs *t = g_new0(struct sip_dialogs, 1);
	t->by_key = g_hash_table_new(g_str_hash, g_str_equal);
	return t;
}

void sip_dialogs_free(struct sip_dialogs *t)
{
	if (!t)
		return;
	g_hash_table_destroy(t->by_key);
	g_free(t);
}

void sip_dialogs_add(struct sip_dialogs *t, struct sip_dialog *d)
{
	g_hash_table_insert(t->by_key, d->key, d);
}

void sip_dialogs_remove(struct sip_dialogs *t, struct sip_dialog *d)
{
	if (g_hash_table_lookup(t->by_key, d->key) == d)
		g_hash_table_remove(t->by_key, d->key);
}

static struct sip_dialog *find(struct sip_dialogs *t, struct slice call_id, struct slice local,
			       struct slice remote)
{
	if (!local.len || call_id.len > SIP_MAX_CALL_ID || local.len > SIP_MAX_TOKEN ||
	    remote.len > SIP_MAX_TOKEN)
		return NULL;
	char key[SIP_MAX_CALL_ID + 2 * SIP_MAX_TOKEN + 3];
	g_snprintf(key, sizeof(key), SLICE_FMT "\x01" SLICE_FMT "\x01" SLICE_FMT,
		   SLICE_ARG(call_id), SLICE_ARG(local), SLICE_ARG(remote));
	return g_hash_table_lookup(t->by_key, key);
}

struct sip_dialog *sip_dialogs_find_request(struct sip_dialogs *t, const struct sip_msg *req)
{
	return find(t, req->call_id, req->to.tag, req->from.tag);
}

struct sip_dialog *sip_dialogs_find_response(struct sip_dialogs *t, const struct sip_msg *resp)
{
	return find(t, resp->call_id, resp->from.tag, resp->to.tag);
}

unsigned sip_dialogs_count(const struct sip_dialogs *t)
{
	return g_hash_table_size(t->by_key);
}
