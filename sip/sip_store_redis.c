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

/* One command, built before it is sent so that a batch can be pipelined. */
struct cmd {
	int argc;
	const char *argv[7];
	size_t len[7];
	char *own[2]; /* keys and fields the argv points into, freed by cmd_clear */
	GString *val;
};

static void arg(struct cmd *c, const char *s, size_t n)
{
	c->argv[c->argc] = s;
	c->len[c->argc++] = n;
}

static void arg_str(struct cmd *c, const char *s)
{
	arg(c, s, strlen(s));
}

static const char *own(struct cmd *c, char *s)
{
	c->own[c->own[0] ? 1 : 0] = s;
	return s;
}

static void arg_eval(struct cmd *c, const char *script, char *key)
{
	arg_str(c, "EVAL");
	arg_str(c, script);
	arg_str(c, "1");
	arg_str(c, own(c, key));
}

static void cmd_clear(struct cmd *c)
{
	g_free(c->own[0]);
	g_free(c->own[1]);
	if (c->val)
		g_string_free(c->val, TRUE);
}

/* The command of every write but JOB_EXPIRE (a SCAN loop, see expire). now: unix time. */
static void cmd_build(struct rd *r, const struct store_job *j, const char *now, struct cmd *c)
{
	size_t n5 = 0, n256 = 0;
	const char *h5, *h256;

	switch (j->kind) {
	case JOB_PUT:
		c->val = g_string_new(NULL);
		store_binding_encode(j->b, c->val);
		arg_eval(c, put_lua, loc_key(r, j->b->aor));
		arg_str(c, now);
		arg_str(c, own(c, store_binding_key(j->b)));
		arg(c, c->val->str, c->val->len);
		break;
	case JOB_REMOVE:
		if (j->b->instance && j->b->instance[0] && j->b->reg_id) {
			arg_str(c, "HDEL");
			arg_str(c, own(c, loc_key(r, j->b->aor)));
			arg_str(c, own(c, store_binding_key(j->b)));
		} else {
			arg_eval(c, remove_contact_lua, loc_key(r, j->b->aor));
			arg_str(c, j->b->contact);
		}
		break;
	case JOB_REMOVE_ALL:
		arg_str(c, "DEL");
		arg_str(c, own(c, loc_key(r, j->b->aor)));
		break;
	case JOB_USER_DELETE:
		arg_str(c, "DEL");
		arg_str(c, own(c, user_key(r, j->u->username, j->u->realm)));
		break;
	case JOB_USER_PUT:
		h5 = j->u->ha1_md5 ? secret_reveal(j->u->ha1_md5, &n5) : "";
		h256 = j->u->ha1_sha256 ? secret_reveal(j->u->ha1_sha256, &n256) : "";
		arg_eval(c, user_put_lua, user_key(r, j->u->username, j->u->realm));
		arg_str(c, j->u->enabled ? "1" : "0");
		arg(c, h5, n5);
		arg(c, h256, n256);
		break;
	case JOB_EXPIRE:
	case JOB_USERS_SYNC:
	case JOB_STOP:
		break;
	}
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

/* Runs the purge script without a new field on one key. */
static int purge_key(struct rd *r, redisContext **c, const char *key, void *now)
{
	struct cmd cmd = {0};
	int err;

	arg_eval(&cmd, put_lua, g_strdup(key));
	arg_str(&cmd, now);
	arg_str(&cmd, "");
	arg_str(&cmd, "");
	err = rcmd(r, c, cmd.argc, cmd.argv, cmd.len, NULL);
	cmd_clear(&cmd);
	return err;
}

/*
 * Writer thread: every command of a run goes out before the first reply is read (one
 * round trip per batch). After a broken connection the rest go again one by one on a new
 * one (every command is idempotent); when no connection can be made they fail with EIO.
 */
static void pipeline(struct rd *r, struct store_job **jobs, size_t n, const char *now)
{
	struct cmd *cmds = g_new0(struct cmd, n);
	bool ok = rconnect(r, &r->wc) == 0;
	size_t got = 0;

	for (size_t i = 0; i < n; i++) {
		cmd_build(r, jobs[i], now, &cmds[i]);
		if (ok && redisAppendCommandArgv(r->wc, cmds[i].argc, cmds[i].argv, cmds[i].len))
			ok = false;
	}
	for (; ok && got < n; got++) {
		redisReply *rep = NULL;

		if (redisGetReply(r->wc, (void **)&rep) != REDIS_OK || !rep) {
			ok = false;
			break;
		}
		if (rep->type == REDIS_REPLY_ERROR) {
			LOGE(log_module, NULL, "redis %s: %s", cmds[got].argv[0], rep->str);
			jobs[got]->err = EIO;
		}
		freeReplyObject(rep);
	}
	if (!ok && r->wc) {
		LOGW(log_module, NULL, "redis %s:%d: %s", r->host, r->port, r->wc->errstr);
		redisFree(r->wc);
		r->wc = NULL;
	}
	for (size_t i = got; i < n; i++) {
		jobs[i]->err = r->wc || i == got
			? rcmd(r, &r->wc, cmds[i].argc, cmds[i].argv, cmds[i].len, NULL) : EIO;
	}
	for (size_t i = 0; i < n; i++)
		cmd_clear(&cmds[i]);
	g_free(cmds);
}

static void rd_apply(void *be, struct store_job **jobs, size_t n)
{
	struct rd *r = be;
	char now[24];
	size_t i = 0;

	snprintf(now, sizeof(now), "%" G_GINT64_FORMAT, g_get_real_time() / G_USEC_PER_SEC);
	while (i < n) {
		size_t end = i;

		if (jobs[i]->kind == JOB_EXPIRE) {
			char t[24];
			snprintf(t, sizeof(t), "%" G_GINT64_FORMAT, jobs[i]->now);
			jobs[i]->err = scan_locs(r, &r->wc, purge_key, t);
			i++;
			continue;
		}
		while (end < n && jobs[end]->kind != JOB_EXPIRE)
			end++;
		pipeline(r, jobs + i, end - i, now);
		i = end;
	}
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
