/* sip: the store's values — bindings and users (copy, free, identity, order), the caps on
 * their fields, and the text form a binding takes in Redis. */
#include <errno.h>
#include <string.h>

#include "sip_store_int.h"

/* ---- values ---- */

struct sip_binding *sip_binding_copy(const struct sip_binding *b)
{
	struct sip_binding *c = g_new0(struct sip_binding, 1);
	*c = *b;
	c->aor = g_strdup(b->aor);
	c->contact = g_strdup(b->contact);
	c->call_id = g_strdup(b->call_id);
	c->instance = g_strdup(b->instance);
	c->path = g_strdup(b->path);
	c->received = g_strdup(b->received);
	c->user_agent = g_strdup(b->user_agent);
	return c;
}

void sip_binding_free(struct sip_binding *b)
{
	if (!b)
		return;
	g_free(b->aor);
	g_free(b->contact);
	g_free(b->call_id);
	g_free(b->instance);
	g_free(b->path);
	g_free(b->received);
	g_free(b->user_agent);
	g_free(b);
}

static struct secret *secret_dup(const struct secret *s)
{
	size_t n;
	const char *v;

	if (!s)
		return NULL;
	v = secret_reveal(s, &n);
	return secret_new(v, n);
}

struct sip_user *sip_user_copy(const struct sip_user *u)
{
	struct sip_user *c = g_new0(struct sip_user, 1);
	c->username = g_strdup(u->username);
	c->realm = g_strdup(u->realm);
	c->ha1_md5 = secret_dup(u->ha1_md5);
	c->ha1_sha256 = secret_dup(u->ha1_sha256);
	c->enabled = u->enabled;
	return c;
}

void sip_user_free(struct sip_user *u)
{
	if (!u)
		return;
	g_free(u->username);
	g_free(u->realm);
	secret_free(u->ha1_md5);
	secret_free(u->ha1_sha256);
	g_free(u);
}

char *store_binding_key(const struct sip_binding *b)
{
	if (b->instance && b->instance[0] && b->reg_id)
		return g_strdup_printf("i:%s %u", b->instance, b->reg_id);
	return g_strconcat("c:", b->contact, NULL);
}

gint store_binding_cmp(gconstpointer pa, gconstpointer pb)
{
	const struct sip_binding *a = *(struct sip_binding *const *)pa;
	const struct sip_binding *b = *(struct sip_binding *const *)pb;

	if (a->q != b->q)
		return a->q > b->q ? -1 : 1;
	if (a->updated != b->updated)
		return a->updated > b->updated ? -1 : 1;
	return strcmp(a->contact, b->contact);
}

/* ---- validation (caps in sip.h) ---- */

bool store_str_ok(const char *s, size_t cap, bool required)
{
	if (!s)
		return !required;
	size_t n = strnlen(s, cap + 1);
	return n <= cap && (n > 0 || !required);
}

int store_check_binding(const struct sip_binding *b)
{
	if (!b || !store_str_ok(b->aor, SIP_STORE_MAX_AOR, true) ||
	    !store_str_ok(b->contact, SIP_STORE_MAX_CONTACT, true) ||
	    !store_str_ok(b->call_id, SIP_STORE_MAX_FIELD, false) ||
	    !store_str_ok(b->instance, SIP_STORE_MAX_FIELD, false) ||
	    !store_str_ok(b->path, SIP_STORE_MAX_PATH, false) ||
	    !store_str_ok(b->received, SIP_STORE_MAX_FIELD, false) ||
	    !store_str_ok(b->user_agent, SIP_STORE_MAX_FIELD, false) || b->q > SIP_STORE_MAX_Q ||
	    b->expires < 0)
		return EINVAL;
	return 0;
}

int store_check_hex(const struct secret *s, size_t want)
{
	size_t n;
	const char *v;

	if (!s)
		return 0;
	v = secret_reveal(s, &n);
	if (n != want)
		return EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!g_ascii_isxdigit(v[i]))
			return EINVAL;
	return 0;
}

int store_check_user_id(const char *username, const char *realm)
{
	if (!store_str_ok(username, SIP_STORE_MAX_FIELD, true) || !store_str_ok(realm, SIP_STORE_MAX_FIELD, true))
		return EINVAL;
	return 0;
}

/* ---- serialised form (Redis) ---- */

static void put_str(GString *out, const char *s)
{
	if (!s)
		g_string_append_c(out, '-');
	else
		g_string_append_printf(out, "%zu:%s", strlen(s), s);
}

void store_binding_encode(const struct sip_binding *b, GString *out)
{
	g_string_append_printf(out, "%" G_GINT64_FORMAT " %u %u %u %" G_GINT64_FORMAT "|",
			       b->expires, b->q, b->cseq, b->reg_id, b->updated);
	put_str(out, b->contact);
	put_str(out, b->call_id);
	put_str(out, b->instance);
	put_str(out, b->path);
	put_str(out, b->received);
	put_str(out, b->user_agent);
}

static bool get_num(const char **p, const char *end, char stop, int64_t max, int64_t *v)
{
	int64_t n = 0;
	const char *s = *p;

	while (s < end && g_ascii_isdigit(*s) && s - *p < 18) { /* 18 digits cannot overflow */
		n = n * 10 + (*s - '0');
		s++;
	}
	if (s == *p || s >= end || *s != stop || n > max)
		return false;
	*v = n;
	*p = s + 1;
	return true;
}

static bool get_str(const char **p, const char *end, char **out)
{
	int64_t n;

	if (*p < end && **p == '-') {
		(*p)++;
		*out = NULL;
		return true;
	}
	if (!get_num(p, end, ':', SIP_STORE_MAX_PATH, &n) || n > end - *p)
		return false;
	if (memchr(*p, '\0', (size_t)n))
		return false;
	*out = g_strndup(*p, (size_t)n);
	*p += n;
	return true;
}

struct sip_binding *store_binding_decode(const char *aor, const char *p, size_t len)
{
	const char *end = p + len;
	struct sip_binding *b = g_new0(struct sip_binding, 1);
	int64_t q, cseq, reg;

	b->aor = g_strdup(aor);
	if (!get_num(&p, end, ' ', INT64_MAX / 2, &b->expires) ||
	    !get_num(&p, end, ' ', SIP_STORE_MAX_Q, &q) ||
	    !get_num(&p, end, ' ', UINT32_MAX, &cseq) ||
	    !get_num(&p, end, ' ', UINT32_MAX, &reg) ||
	    !get_num(&p, end, '|', INT64_MAX / 2, &b->updated))
		goto bad;
	b->q = (uint16_t)q;
	b->cseq = (uint32_t)cseq;
	b->reg_id = (uint32_t)reg;
	if (!get_str(&p, end, &b->contact) || !b->contact || !get_str(&p, end, &b->call_id) ||
	    !get_str(&p, end, &b->instance) || !get_str(&p, end, &b->path) ||
	    !get_str(&p, end, &b->received) || !get_str(&p, end, &b->user_agent) || p != end)
		goto bad;
	return b;
bad:
	sip_binding_free(b);
	return NULL;
}
