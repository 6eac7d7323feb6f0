/* Per-source limits (BAD-INPUTS SEC-07, pike-like): requests without authentication per
 * window and digest failures per (source, user) ban an address; exempt networks; a bounded
 * table swept by a timer. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sip.h"

#define MAX_SOURCES    100000 /* tracked addresses (and address/user pairs) at most */
#define MAX_EXEMPT     64
#define AUTH_WINDOW_US (60 * G_USEC_PER_SEC)

static const char *const log_module = "sip";

struct net {
	int family;
	uint8_t addr[16];
	unsigned bits;
};

struct source {
	gint64 window_start, banned_until;
	unsigned count;
};

struct sip_guard {
	struct sip_guard_config cfg;
	struct net exempt[MAX_EXEMPT];
	unsigned nexempt;
	GHashTable *sources; /* address key -> struct source (owned) */
	GHashTable *fails;   /* "key|user" -> struct source (count in the 60 s window) */
	guint sweep;
	bool full_logged;
	struct metric_family *m_drops, *m_bans;
};

/* "192.0.2.1" or "2001:db8::/32"; false when it is neither. */
static bool net_parse(const char *s, struct net *n)
{
	char buf[64];
	g_strlcpy(buf, s, sizeof(buf));
	char *slash = strchr(buf, '/');
	if (slash)
		*slash++ = '\0';
	memset(n, 0, sizeof(*n));
	if (inet_pton(AF_INET, buf, n->addr) == 1) {
		n->family = AF_INET;
		n->bits = 32;
	} else if (inet_pton(AF_INET6, buf, n->addr) == 1) {
		n->family = AF_INET6;
		n->bits = 128;
	} else {
		return false;
	}
	if (slash) {
		char *end;
		unsigned long b = strtoul(slash, &end, 10);
		if (*end || !*slash || b > n->bits)
			return false;
		n->bits = (unsigned)b;
	}
	return true;
}

static bool net_has(const struct net *n, int family, const uint8_t *a)
{
	if (n->family != family)
		return false;
	unsigned full = n->bits / 8, rest = n->bits % 8;
	if (memcmp(n->addr, a, full) != 0)
		return false;
	return rest == 0 || ((n->addr[full] ^ a[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

/* The key of a source: the IPv4 address, or the /64 of an IPv6 one (one host owns a /64;
 * counting single addresses there would let it rotate through 2^64). NULL: not an IP. */
static bool source_key(const char *ip, char *key, size_t cap, int *family, uint8_t addr[16])
{
	if (inet_pton(AF_INET, ip, addr) == 1) {
		*family = AF_INET;
		inet_ntop(AF_INET, addr, key, (socklen_t)cap);
		return true;
	}
	if (inet_pton(AF_INET6, ip, addr) != 1)
		return false;
	*family = AF_INET6;
	uint8_t p[16] = {0};
	memcpy(p, addr, 8);
	inet_ntop(AF_INET6, p, key, (socklen_t)cap);
	g_strlcat(key, "/64", cap);
	return true;
}

static bool exempt(const struct sip_guard *g, int family, const uint8_t *a)
{
	for (unsigned i = 0; i < g->nexempt; i++)
		if (net_has(&g->exempt[i], family, a))
			return true;
	return false;
}

static void count(struct metric_family *f, const char *reason)
{
	char labels[48];
	g_snprintf(labels, sizeof(labels), "reason=\"%s\"", reason);
	metric_add(metrics_series(f, labels), 1);
}

/* The entry of key, created when there is room; NULL when the table is full. */
static struct source *entry(struct sip_guard *g, GHashTable *t, const char *key)
{
	struct source *e = g_hash_table_lookup(t, key);
	if (e)
		return e;
	if (g_hash_table_size(g->sources) + g_hash_table_size(g->fails) >= MAX_SOURCES) {
		if (!g->full_logged)
			LOGW(log_module, NULL,
			     "SEC-07: %u sources tracked, new ones are not limited until "
			     "old ones expire",
			     MAX_SOURCES);
		g->full_logged = true;
		count(g->m_drops, "table_full");
		return NULL;
	}
	e = g_new0(struct source, 1);
	g_hash_table_insert(t, g_strdup(key), e);
	return e;
}

static gboolean sweep(gpointer data)
{
	struct sip_guard *g = data;
	gint64 now = g_get_monotonic_time();
	gint64 window = (gint64)g->cfg.window_secs * G_USEC_PER_SEC;
	GHashTableIter it;
	gpointer v;
	g_hash_table_iter_init(&it, g->sources);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct source *e = v;
		if (e->banned_until <= now && e->window_start + window <= now)
			g_hash_table_iter_remove(&it);
	}
	g_hash_table_iter_init(&it, g->fails);
	while (g_hash_table_iter_next(&it, NULL, &v))
		if (((struct source *)v)->window_start + AUTH_WINDOW_US <= now)
			g_hash_table_iter_remove(&it);
	g->full_logged = false;
	return G_SOURCE_CONTINUE;
}

int sip_guard_new(const struct sip_guard_config *cfg, struct sip_guard **out)
{
	struct sip_guard *g = g_new0(struct sip_guard, 1);
	g->cfg = *cfg;
	g->cfg.exempt = NULL;
	if (!g->cfg.window_secs)
		g->cfg.window_secs = 2;
	if (!g->cfg.ban_secs)
		g->cfg.ban_secs = 300;
	char **parts = g_strsplit(cfg->exempt ? cfg->exempt : "", ",", 0);
	for (char **p = parts; *p; p++) {
		char *s = g_strstrip(*p);
		if (!*s)
			continue;
		if (g->nexempt == MAX_EXEMPT || !net_parse(s, &g->exempt[g->nexempt])) {
			LOGE(log_module, NULL,
			     "SEC-07 exempt list: '%s' is not an address or CIDR (or more "
			     "than %d entries)",
			     s, MAX_EXEMPT);
			g_strfreev(parts);
			g_free(g);
			return EINVAL;
		}
		g->nexempt++;
	}
	g_strfreev(parts);
	g->sources = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	g->fails = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	g->sweep = g_timeout_add_seconds(10, sweep, g);
	g->m_drops =
	        metrics_family("gorgee_sip_guard_drops_total",
	                       "SIP requests dropped by SEC-07 limits (banned source) or answered "
	                       "503 statelessly (overload), by reason.",
	                       METRIC_COUNTER);
	g->m_bans = metrics_family("gorgee_sip_guard_bans_total",
	                           "Source addresses banned by SEC-07, by reason.", METRIC_COUNTER);
	*out = g;
	return 0;
}

void sip_guard_free(struct sip_guard *g)
{
	if (!g)
		return;
	g_source_remove(g->sweep);
	g_hash_table_destroy(g->sources);
	g_hash_table_destroy(g->fails);
	g_free(g);
}

static void ban(struct sip_guard *g, struct source *e, const char *key, const char *reason,
                const char *why)
{
	e->banned_until = g_get_monotonic_time() + (gint64)g->cfg.ban_secs * G_USEC_PER_SEC;
	count(g->m_bans, reason);
	LOGN(log_module, &(struct log_ctx){.peer = key}, "SEC-07: %s banned for %u s: %s", key,
	     g->cfg.ban_secs, why);
}

/* The source entry of ip when it is limited (not exempt, an IP), else NULL. */
static struct source *limited(struct sip_guard *g, const char *ip, bool create, char key[64])
{
	int family;
	uint8_t a[16];
	if (!g || !source_key(ip, key, 64, &family, a) || exempt(g, family, a))
		return NULL;
	return create ? entry(g, g->sources, key) : g_hash_table_lookup(g->sources, key);
}

bool sip_guard_banned(struct sip_guard *g, const char *ip)
{
	char key[64];
	struct source *e = limited(g, ip, false, key);
	return e && e->banned_until > g_get_monotonic_time();
}

bool sip_guard_admit(struct sip_guard *g, const char *ip)
{
	char key[64];
	struct source *e = limited(g, ip, true, key);
	if (!e)
		return true;
	gint64 now = g_get_monotonic_time();
	if (e->banned_until > now) {
		count(g->m_drops, "banned");
		return false;
	}
	if (!g->cfg.requests)
		return true;
	if (e->window_start + (gint64)g->cfg.window_secs * G_USEC_PER_SEC <= now) {
		e->window_start = now;
		e->count = 0;
	}
	if (++e->count <= g->cfg.requests)
		return true;
	char why[96];
	g_snprintf(why, sizeof(why), "more than %u requests in %u s without authenticating",
	           g->cfg.requests, g->cfg.window_secs);
	ban(g, e, key, "rate", why);
	count(g->m_drops, "banned");
	return false;
}

void sip_guard_auth_result(struct sip_guard *g, const char *ip, const char *user,
                           enum sip_auth_result r)
{
	char key[64];
	struct source *e = limited(g, ip, r == SIP_AUTH_FAIL, key);
	if (!e)
		return;
	if (r == SIP_AUTH_OK) { /* authenticated traffic does not count toward the rate */
		if (e->count)
			e->count--;
		return;
	}
	if (r != SIP_AUTH_FAIL || !g->cfg.auth_failures || !user)
		return;
	char *fk = g_strdup_printf("%s|%s", key, user);
	struct source *f = entry(g, g->fails, fk);
	gint64 now = g_get_monotonic_time();
	if (f && f->window_start + AUTH_WINDOW_US <= now) {
		f->window_start = now;
		f->count = 0;
	}
	if (f && ++f->count >= g->cfg.auth_failures) {
		char why[128], shown[33];
		/* The user name is what the client sent: shortened and printable, never a secret.
		 */
		g_strlcpy(shown, user, sizeof(shown));
		for (char *p = shown; *p; p++)
			if (!g_ascii_isprint(*p))
				*p = '?';
		g_snprintf(why, sizeof(why), "%u digest failures for user '%s' in 60 s", f->count,
		           shown);
		ban(g, e, key, "auth", why);
		g_hash_table_remove(g->fails, fk);
	}
	g_free(fk);
}

unsigned sip_guard_count(const struct sip_guard *g)
{
	return g ? g_hash_table_size(g->sources) + g_hash_table_size(g->fails) : 0;
}
