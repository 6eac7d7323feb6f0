/* sip: the store's Redis backend — one location service shared by several gorgee instances. */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>

#include "sip_store_int.h"

/*
 * Keys: <prefix>:loc:<aor> is a hash from the binding's identity (store_binding_key) to
 * its serialised form (store_binding_encode), whose first field is the absolute expiry;
 * every write purges the expired fields of its key and sets the key's EXPIREAT to the
 * latest expiry left, in one Lua script, so an abandoned AOR disappears on its own.
 * <prefix>:user:<realm>:<username> is a hash {ha1_md5, ha1_sha256, enabled}; ':' and '%'
 * in the realm are %-escaped so the key stays unambiguous.
 *
 * Every read goes to Redis (other instances write too), so nothing is cached here. This
 * first version uses synchronous hiredis calls bounded by redis_timeout_ms: reads block
 * the calling (signaling) thread for at most that long per command; writes run on the
 * writer thread on their own connection. A write is acknowledged when Redis replied: its
 * durability beyond a Redis restart is Redis's own (appendonly, replicas).
 */

static const char *const log_module = "store";

static const char put_lua[] =
	"local now = tonumber(ARGV[1])\n"
	"if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], ARGV[2], ARGV[3]) end\n"
	"local all = redis.call('HGETALL', KEYS[1])\n"
	"local max = 0\n"
	"for i = 1, #all, 2 do\n"
	"  local e = tonumber(string.match(all[i + 1], '^(%d+)')) or 0\n"
	"  if e <= now then redis.call('HDEL', KEYS[1], all[i])\n"
	"  elseif e > max then max = e end\n"
	"end\n"
	"if max > 0 then redis.call('EXPIREAT', KEYS[1], max) end\n"
	"return max\n";

static const char remove_contact_lua[] =
	"local all = redis.call('HGETALL', KEYS[1])\n"
	"local n = 0\n"
	"for i = 1, #all, 2 do\n"
	"  local len, rest = string.match(all[i + 1], '|(%d+):(.*)$')\n"
	"  if len and tonumber(len) == #ARGV[1] and string.sub(rest, 1, #ARGV[1]) == ARGV[1] then\n"
	"    redis.call('HDEL', KEYS[1], all[i]); n = n + 1\n"
	"  end\n"
	"end\n"
	"return n\n";

static const char user_put_lua[] =
	"redis.call('DEL', KEYS[1])\n"
	"redis.call('HSET', KEYS[1], 'enabled', ARGV[1])\n"
	"if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'ha1_md5', ARGV[2]) end\n"
	"if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'ha1_sha256', ARGV[3]) end\n"
	"return 1\n";

struct rd {
	char *host;
	int port;
	struct timeval tv;
	char *prefix;
	redisContext *rc; /* reads, on the store's thread */
	redisContext *wc; /* writes, on the writer thread */
};

static int rconnect(struct rd *r, redisContext **c)
{
	if (*c && !(*c)->err)
		return 0;
	if (*c)
		redisFree(*c);
	*c = redisConnectWithTimeout(r->host, r->port, r->tv);
	if (!*c || (*c)->err) {
		LOGE(log_module, NULL, "redis %s:%d: %s", r->host, r->port,
		     *c ? (*c)->errstr : "out of memory");
		if (*c)
			redisFree(*c);
		*c = NULL;
		return EIO;
	}
	redisSetTimeout(*c, r->tv);
	return 0;
}

/* One command; reconnects and retries once after a connection error (every command
 * here is idempotent). *out is NULL or a reply the caller frees; error replies are EIO. */
static int rcmd(struct rd *r, redisContext **c, int argc, const char **argv, const size_t *lens,
		redisReply **out)
{
	redisReply *rep = NULL;

	for (int attempt = 0; attempt < 2 && !rep; attempt++) {
		if (rconnect(r, c))
			return EIO;
		rep = redisCommandArgv(*c, argc, argv, lens);
		if (!rep) {
			LOGW(log_module, NULL, "redis %s:%d: %s", r->host, r->port, (*c)->errstr);
			redisFree(*c);
			*c = NULL;
		}
	}
	if (!rep)
		return EIO;
	if (rep->type == REDIS_REPLY_ERROR) {
		LOGE(log_module, NULL, "redis %s: %s", argv[0], rep->str);
		freeReplyObject(rep);
		return EIO;
	}
	if (out)
		*out = rep;
	else
		freeReplyObject(rep);
	return 0;
}

static char *loc_key(const struct rd *r, const char *aor)
{
	return g_strconcat(r->prefix, ":loc:", aor, NULL);
}

static char *user_key(const struct rd *r, const char *username, const char *realm)
{
	GString *k = g_string_new(r->prefix);

	g_string_append(k, ":user:");
	for (const char *p = realm; *p; p++) {
		if (*p == ':' || *p == '%')
			g_string_append_printf(k, "%%%02X", (unsigned char)*p);
		else
			g_string_append_c(k, *p);
	}
	g_string_append_c(k, ':');
	g_string_append(k, username);
	return g_string_free(k, FALSE);
}

static void rd_close(void *be)
{
	struct rd *r = be;

	if (r->rc)
		redisFree(r->rc);
	if (r->wc)
		redisFree(r->wc);
	g_free(r->host);
	g_free(r->prefix);
	g_free(r);
}

static int rd_open(const struct sip_store_config *cfg, void **be)
{
	struct rd *r = g_new0(struct rd, 1);
	unsigned ms = cfg->redis_timeout_ms ? cfg->redis_timeout_ms : 200;

	*be = r;
	r->host = g_strdup(cfg->redis_host ? cfg->redis_host : "127.0.0.1");
	r->port = cfg->redis_port ? cfg->redis_port : 6379;
	r->prefix = g_strdup(cfg->redis_prefix ? cfg->redis_prefix : "gorgee");
	r->tv.tv_sec = ms / 1000;
	r->tv.tv_usec = (ms % 1000) * 1000;
	if (rconnect(r, &r->rc) || rconnect(r, &r->wc))
		return EIO;
	return 0;
}

/* Runs one Lua script with one key. */
static int reval(struct rd *r, redisContext **c, const char *script, const char *key, int nargs,
		 const char **args, const size_t *arglens)
{
	const char *argv[8] = {"EVAL", script, "1", key};
	size_t lens[8] = {4, strlen(script), 1, strlen(key)};

	for (int i = 0; i < nargs && i < 4; i++) {
		argv[4 + i] = args[i];
		lens[4 + i] = arglens[i];
	}
	return rcmd(r, c, 4 + nargs, argv, lens, NULL);
}

static int put_binding(struct rd *r, const struct sip_binding *b)
{
	char *key = loc_key(r, b->aor), *field = store_binding_key(b);
	char now[24];
	GString *v = g_string_new(NULL);
	int err;

	snprintf(now, sizeof(now), "%" G_GINT64_FORMAT, g_get_real_time() / G_USEC_PER_SEC);
	store_binding_encode(b, v);
	err = reval(r, &r->wc, put_lua, key, 3, (const char *[]){now, field, v->str},
		    (const size_t[]){strlen(now), strlen(field), v->len});
	g_string_free(v, TRUE);
	g_free(field);
	g_free(key);
	return err;
}

static int remove_binding(struct rd *r, const struct sip_binding *id)
{
	char *key = loc_key(r, id->aor);
	int err;

	if (id->instance && id->instance[0] && id->reg_id) {
		char *field = store_binding_key(id);
		err = rcmd(r, &r->wc, 3, (const char *[]){"HDEL", key, field},
			   (const size_t[]){4, strlen(key), strlen(field)}, NULL);
		g_free(field);
	} else {
		err = reval(r, &r->wc, remove_contact_lua, key, 1, (const char *[]){id->contact},
			    (const size_t[]){strlen(id->contact)});
	}
	g_free(key);
	return err;
}

/* Visits every location key (SCAN, so Redis is never blocked by one long command). */
typedef int key_fn(struct rd *r, redisContext **c, const char *key, void *arg);

static int scan_locs(struct rd *r, redisContext **c, key_fn *fn, void *arg)
{
	char *pattern = g_strconcat(r->prefix, ":loc:*", NULL);
	char cursor[32] = "0";
	int err = 0;

	do {
		redisReply *rep;
		const char *argv[] = {"SCAN", cursor, "MATCH", pattern, "COUNT", "500"};
		size_t lens[] = {4, strlen(cursor), 5, strlen(pattern), 5, 3};

		err = rcmd(r, c, 6, argv, lens, &rep);
		if (err)
			break;
		if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
		    rep->element[0]->type != REDIS_REPLY_STRING ||
		    rep->element[1]->type != REDIS_REPLY_ARRAY) {
			freeReplyObject(rep);
			err = EIO;
			break;
		}
		g_strlcpy(cursor, rep->element[0]->str, sizeof(cursor));
		for (size_t i = 0; i < rep->element[1]->elements && !err; i++)
			err = fn(r, c, rep->element[1]->element[i]->str, arg);
		freeReplyObject(rep);
	} while (!err && strcmp(cursor, "0") != 0);
	g_free(pattern);
	return err;
}

static int purge_key(struct rd *r, redisContext **c, const char *key, void *arg)
{
	const char *now = arg;
	return reval(r, c, put_lua, key, 3, (const char *[]){now, "", ""},
		     (const size_t[]){strlen(now), 0, 0});
}

static int user_put(struct rd *r, const struct sip_user *u)
{
	char *key = user_key(r, u->username, u->realm);
	size_t n5 = 0, n256 = 0;
	const char *h5 = u->ha1_md5 ? secret_reveal(u->ha1_md5, &n5) : "";
	const char *h256 = u->ha1_sha256 ? secret_reveal(u->ha1_sha256, &n256) : "";
	int err = reval(r, &r->wc, user_put_lua, key, 3,
			(const char *[]){u->enabled ? "1" : "0", h5, h256},
			(const size_t[]){1, n5, n256});
	g_free(key);
	return err;
}

static int apply_one(struct rd *r, const struct store_job *j)
{
	char *key;
	char now[24];
	int err;

	switch (j->kind) {
	case JOB_PUT:
		return put_binding(r, j->b);
	case JOB_REMOVE:
		return remove_binding(r, j->b);
	case JOB_REMOVE_ALL:
	case JOB_USER_DELETE:
		key = j->kind == JOB_REMOVE_ALL ? loc_key(r, j->b->aor)
						: user_key(r, j->u->username, j->u->realm);
		err = rcmd(r, &r->wc, 2, (const char *[]){"DEL", key},
			   (const size_t[]){3, strlen(key)}, NULL);
		g_free(key);
		return err;
	case JOB_EXPIRE:
		snprintf(now, sizeof(now), "%" G_GINT64_FORMAT, j->now);
		return scan_locs(r, &r->wc, purge_key, now);
	case JOB_USER_PUT:
		return user_put(r, j->u);
	case JOB_STOP:
		break;
	}
	return 0;
}

/* Writer thread. Commands go one by one, in order (pipelining them is a later step). */
static void rd_apply(void *be, struct store_job **jobs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		jobs[i]->err = apply_one(be, jobs[i]);
}

static int hgetall(struct rd *r, redisContext **c, const char *key, redisReply **out)
{
	int err = rcmd(r, c, 2, (const char *[]){"HGETALL", key}, (const size_t[]){7, strlen(key)},
		       out);
	if (!err && ((*out)->type != REDIS_REPLY_ARRAY || (*out)->elements % 2)) {
		freeReplyObject(*out);
		return EIO;
	}
	return err;
}

static int rd_lookup(void *be, const char *aor, int64_t now, GPtrArray *out)
{
	struct rd *r = be;
	char *key = loc_key(r, aor);
	redisReply *rep;
	int err = hgetall(r, &r->rc, key, &rep);

	g_free(key);
	if (err)
		return err;
	for (size_t i = 1; i < rep->elements; i += 2) {
		redisReply *v = rep->element[i];
		struct sip_binding *b = v->type == REDIS_REPLY_STRING
			? store_binding_decode(aor, v->str, v->len) : NULL;

		if (!b) {
			LOGW(log_module, NULL, "redis: malformed binding of %s skipped", aor);
			continue;
		}
		if (b->expires > now)
			g_ptr_array_add(out, b);
		else
			sip_binding_free(b);
	}
	freeReplyObject(rep);
	return 0;
}

struct count_arg {
	int64_t now;
	size_t n;
};

static int count_key(struct rd *r, redisContext **c, const char *key, void *arg)
{
	struct count_arg *ca = arg;
	redisReply *rep;
	int err = hgetall(r, c, key, &rep);

	if (err)
		return err;
	for (size_t i = 1; i < rep->elements; i += 2)
		if (rep->element[i]->type == REDIS_REPLY_STRING &&
		    g_ascii_strtoll(rep->element[i]->str, NULL, 10) > ca->now)
			ca->n++;
	freeReplyObject(rep);
	return 0;
}

static int rd_count(void *be, int64_t now, size_t *out)
{
	struct rd *r = be;
	struct count_arg ca = {now, 0};
	int err = scan_locs(r, &r->rc, count_key, &ca);

	if (!err)
		*out = ca.n;
	return err;
}

static int rd_user_get(void *be, const char *username, const char *realm, struct sip_user **out)
{
	struct rd *r = be;
	char *key = user_key(r, username, realm);
	redisReply *rep;
	struct sip_user *u;
	int err = hgetall(r, &r->rc, key, &rep);

	g_free(key);
	if (err)
		return err;
	if (rep->elements == 0) {
		freeReplyObject(rep);
		return ENOENT;
	}
	u = g_new0(struct sip_user, 1);
	u->username = g_strdup(username);
	u->realm = g_strdup(realm);
	for (size_t i = 0; i + 1 < rep->elements; i += 2) {
		redisReply *k = rep->element[i], *v = rep->element[i + 1];
		if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
			continue;
		if (strcmp(k->str, "ha1_md5") == 0 && !u->ha1_md5)
			u->ha1_md5 = secret_new(v->str, v->len);
		else if (strcmp(k->str, "ha1_sha256") == 0 && !u->ha1_sha256)
			u->ha1_sha256 = secret_new(v->str, v->len);
		else if (strcmp(k->str, "enabled") == 0)
			u->enabled = strcmp(v->str, "1") == 0;
	}
	freeReplyObject(rep);
	*out = u;
	return 0;
}

const struct store_ops store_redis_ops = {
	.name = "redis",
	.cached = false,
	.open = rd_open,
	.close = rd_close,
	.apply = rd_apply,
	.lookup = rd_lookup,
	.count = rd_count,
	.user_get = rd_user_get,
};
