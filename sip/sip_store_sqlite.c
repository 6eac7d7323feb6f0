/* sip: the store's SQLite backend — schema and migrations, load at open, batched writes. */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "sip_store_int.h"

/*
 * Durability (DESIGN.md "nothing lost on restart"): the database runs in WAL mode with
 * synchronous=NORMAL. A transaction is acknowledged (the job's callback runs) only after
 * COMMIT returned, at which point its frames are in the WAL file in the kernel's page cache:
 * it survives kill -9 of gorgee, but not a power loss or kernel crash (that would need
 * synchronous=FULL, one fsync per commit). Nothing unacknowledged is promised. The writer
 * thread commits one transaction per batch (all writes queued when it wakes, at most
 * BATCH_MAX, or what arrives within batch_ms), so the fsync-free commit cost is shared.
 */

static const char *const log_module = "store";

/* Migration hook: entry v takes the schema from version v to v + 1, in one transaction. */
static const char *const migrations[] = {
	/* 0 -> 1 */
	"CREATE TABLE bindings ("
	"  aor TEXT NOT NULL, bkey TEXT NOT NULL, contact TEXT NOT NULL,"
	"  expires INTEGER NOT NULL, q INTEGER NOT NULL, call_id TEXT, cseq INTEGER NOT NULL,"
	"  instance TEXT, reg_id INTEGER NOT NULL, path TEXT, received TEXT, user_agent TEXT,"
	"  updated INTEGER NOT NULL, PRIMARY KEY (aor, bkey)) WITHOUT ROWID;"
	"CREATE INDEX bindings_expires ON bindings (expires);"
	"CREATE TABLE users ("
	"  realm TEXT NOT NULL, username TEXT NOT NULL, ha1_md5 TEXT, ha1_sha256 TEXT,"
	"  enabled INTEGER NOT NULL, PRIMARY KEY (realm, username)) WITHOUT ROWID;",
};
#define SCHEMA_VERSION ((int)G_N_ELEMENTS(migrations))

enum { ST_PUT, ST_DEL_KEY, ST_DEL_CONTACT, ST_DEL_AOR, ST_EXPIRE, ST_USER_PUT, ST_USER_DEL,
       ST_COUNT };

static const char *const stmt_sql[ST_COUNT] = {
	[ST_PUT] = "INSERT OR REPLACE INTO bindings (aor, bkey, contact, expires, q, call_id,"
		   " cseq, instance, reg_id, path, received, user_agent, updated)"
		   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
	[ST_DEL_KEY] = "DELETE FROM bindings WHERE aor = ?1 AND bkey = ?2",
	[ST_DEL_CONTACT] = "DELETE FROM bindings WHERE aor = ?1 AND contact = ?2",
	[ST_DEL_AOR] = "DELETE FROM bindings WHERE aor = ?1",
	[ST_EXPIRE] = "DELETE FROM bindings WHERE expires <= ?1",
	[ST_USER_PUT] = "INSERT OR REPLACE INTO users (realm, username, ha1_md5, ha1_sha256,"
			" enabled) VALUES (?1, ?2, ?3, ?4, ?5)",
	[ST_USER_DEL] = "DELETE FROM users WHERE realm = ?1 AND username = ?2",
};

struct sq {
	sqlite3 *db;
	char *path;
	sqlite3_stmt *st[ST_COUNT];
	int64_t data_version; /* PRAGMA data_version when users were last read */
};

static char *col_str(sqlite3_stmt *st, int i);
static struct secret *col_secret(sqlite3_stmt *st, int i);

static int64_t data_version(struct sq *q)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	if (sqlite3_prepare_v2(q->db, "PRAGMA data_version", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Every user row into out (struct sip_user *). 0 or EIO. */
static int read_users(struct sq *q, GPtrArray *out)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(q->db, "SELECT realm, username, ha1_md5, ha1_sha256, enabled"
			       " FROM users", -1, &st, NULL))
		return EIO;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct sip_user *u = g_new0(struct sip_user, 1);
		u->realm = col_str(st, 0);
		u->username = col_str(st, 1);
		u->ha1_md5 = col_secret(st, 2);
		u->ha1_sha256 = col_secret(st, 3);
		u->enabled = sqlite3_column_int(st, 4) != 0;
		if (!u->realm || !u->username) {
			sip_user_free(u);
			continue;
		}
		g_ptr_array_add(out, u);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : EIO;
}

static int exec(struct sq *q, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(q->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		LOGE(log_module, NULL, "sqlite %s: %.60s...: %s", q->path, sql,
		     msg ? msg : sqlite3_errmsg(q->db));
		sqlite3_free(msg);
		return EIO;
	}
	return 0;
}

static int schema_version(struct sq *q, int *version)
{
	sqlite3_stmt *st;
	int rc;

	if (exec(q, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"))
		return EIO;
	if (sqlite3_prepare_v2(q->db, "SELECT MAX(version) FROM schema_version", -1, &st, NULL))
		return EIO;
	rc = sqlite3_step(st);
	*version = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : EIO;
}

static int migrate(struct sq *q)
{
	int v;
	char sql[96];

	if (schema_version(q, &v))
		return EIO;
	if (v > SCHEMA_VERSION) {
		LOGE(log_module, NULL, "%s has schema %d, newer than this gorgee's %d", q->path, v,
		     SCHEMA_VERSION);
		return EIO;
	}
	for (; v < SCHEMA_VERSION; v++) {
		snprintf(sql, sizeof(sql), "INSERT INTO schema_version (version) VALUES (%d)", v + 1);
		if (exec(q, "BEGIN IMMEDIATE") || exec(q, migrations[v]) || exec(q, sql) ||
		    exec(q, "COMMIT")) {
			exec(q, "ROLLBACK");
			return EIO;
		}
		LOGN(log_module, NULL, "%s: schema migrated to version %d", q->path, v + 1);
	}
	return 0;
}

/* WAL where the file system allows it. Without it (a rollback journal) a committed
 * transaction is still in the database file's page cache, so the kill -9 promise holds;
 * only concurrent readers (sqlite3 CLI while gorgee runs) lose. */
static int set_wal(struct sq *q)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(q->db, "PRAGMA journal_mode = WAL", -1, &st, NULL))
		return EIO;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && g_ascii_strcasecmp((const char *)sqlite3_column_text(st, 0), "wal"))
		LOGW(log_module, NULL, "%s: journal mode %s, not WAL", q->path,
		     (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW) {
		LOGE(log_module, NULL, "sqlite %s: %s", q->path, sqlite3_errmsg(q->db));
		return EIO;
	}
	return 0;
}

static void sq_close(void *be)
{
	struct sq *q = be;

	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(q->st[i]);
	sqlite3_close(q->db);
	g_free(q->path);
	g_free(q);
}

static int sq_open(const struct sip_store_config *cfg, void **be)
{
	struct sq *q;

	if (!cfg->data_dir || !cfg->data_dir[0])
		return EINVAL;
	if (g_mkdir_with_parents(cfg->data_dir, 0700) != 0) {
		LOGE(log_module, NULL, "data_dir %s: %s", cfg->data_dir, g_strerror(errno));
		return EIO;
	}
	q = g_new0(struct sq, 1);
	*be = q;
	q->path = g_build_filename(cfg->data_dir, "gorgee.db", NULL);
	if (sqlite3_open_v2(q->path, &q->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL)) {
		LOGE(log_module, NULL, "sqlite open %s: %s", q->path, sqlite3_errmsg(q->db));
		return EIO;
	}
	sqlite3_busy_timeout(q->db, 5000);
	if (set_wal(q) || exec(q, "PRAGMA synchronous = NORMAL") || migrate(q))
		return EIO;
	for (int i = 0; i < ST_COUNT; i++)
		if (sqlite3_prepare_v3(q->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &q->st[i],
				       NULL)) {
			LOGE(log_module, NULL, "sqlite prepare: %s", sqlite3_errmsg(q->db));
			return EIO;
		}
	return 0;
}

static char *col_str(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? g_strndup((const char *)t, (gsize)sqlite3_column_bytes(st, i)) : NULL;
}

static struct secret *col_secret(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? secret_new((const char *)t, (size_t)sqlite3_column_bytes(st, i)) : NULL;
}

/* Runs at open, before the writer starts: every row into the store's cache. */
static int sq_load(void *be, struct sip_store *s)
{
	struct sq *q = be;
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(q->db, "SELECT aor, contact, expires, q, call_id, cseq, instance,"
			       " reg_id, path, received, user_agent, updated FROM bindings",
			       -1, &st, NULL))
		return EIO;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct sip_binding *b = g_new0(struct sip_binding, 1);
		b->aor = col_str(st, 0);
		b->contact = col_str(st, 1);
		b->expires = sqlite3_column_int64(st, 2);
		b->q = (uint16_t)CLAMP(sqlite3_column_int(st, 3), 0, SIP_STORE_MAX_Q);
		b->call_id = col_str(st, 4);
		b->cseq = (uint32_t)sqlite3_column_int64(st, 5);
		b->instance = col_str(st, 6);
		b->reg_id = (uint32_t)sqlite3_column_int64(st, 7);
		b->path = col_str(st, 8);
		b->received = col_str(st, 9);
		b->user_agent = col_str(st, 10);
		b->updated = sqlite3_column_int64(st, 11);
		if (!b->aor || !b->contact) {
			sip_binding_free(b);
			continue;
		}
		store_cache_binding(s, b);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return EIO;
	GPtrArray *users = g_ptr_array_new();
	q->data_version = data_version(q);
	rc = read_users(q, users);
	for (guint i = 0; i < users->len; i++)
		store_cache_user(s, users->pdata[i]);
	g_ptr_array_free(users, TRUE);
	return rc;
}

/*
 * Writer thread: users written by another process (gorgee --add-user) since the last read.
 * PRAGMA data_version changes only for commits of other connections, so our own writes
 * never trigger a reload and the check costs no disk read when nothing changed.
 */
static int sq_users_sync(void *be, bool force, GPtrArray **out)
{
	struct sq *q = be;
	int64_t v = data_version(q);

	*out = NULL;
	if (v == q->data_version && !force)
		return 0;
	GPtrArray *users = g_ptr_array_new_with_free_func((GDestroyNotify)sip_user_free);
	if (read_users(q, users) != 0) {
		g_ptr_array_unref(users);
		return EIO;
	}
	q->data_version = v;
	*out = users;
	return 0;
}

static void bind_str(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

static void bind_secret(sqlite3_stmt *st, int i, const struct secret *s)
{
	size_t n;
	const char *v;

	if (!s) {
		sqlite3_bind_null(st, i);
		return;
	}
	v = secret_reveal(s, &n);
	sqlite3_bind_text(st, i, v, (int)n, SQLITE_STATIC);
}

/* Binds the job's values to its statement; returns the statement. */
static sqlite3_stmt *bind_job(struct sq *q, const struct store_job *j, char *key)
{
	const struct sip_binding *b = j->b;
	sqlite3_stmt *st;

	switch (j->kind) {
	case JOB_PUT:
		st = q->st[ST_PUT];
		bind_str(st, 1, b->aor);
		bind_str(st, 2, key);
		bind_str(st, 3, b->contact);
		sqlite3_bind_int64(st, 4, b->expires);
		sqlite3_bind_int(st, 5, b->q);
		bind_str(st, 6, b->call_id);
		sqlite3_bind_int64(st, 7, b->cseq);
		bind_str(st, 8, b->instance);
		sqlite3_bind_int64(st, 9, b->reg_id);
		bind_str(st, 10, b->path);
		bind_str(st, 11, b->received);
		bind_str(st, 12, b->user_agent);
		sqlite3_bind_int64(st, 13, b->updated);
		return st;
	case JOB_REMOVE:
		st = q->st[b->instance && b->instance[0] && b->reg_id ? ST_DEL_KEY : ST_DEL_CONTACT];
		bind_str(st, 1, b->aor);
		bind_str(st, 2, st == q->st[ST_DEL_KEY] ? key : b->contact);
		return st;
	case JOB_REMOVE_ALL:
		st = q->st[ST_DEL_AOR];
		bind_str(st, 1, b->aor);
		return st;
	case JOB_EXPIRE:
		st = q->st[ST_EXPIRE];
		sqlite3_bind_int64(st, 1, j->now);
		return st;
	case JOB_USER_PUT:
		st = q->st[ST_USER_PUT];
		bind_str(st, 1, j->u->realm);
		bind_str(st, 2, j->u->username);
		bind_secret(st, 3, j->u->ha1_md5);
		bind_secret(st, 4, j->u->ha1_sha256);
		sqlite3_bind_int(st, 5, j->u->enabled);
		return st;
	case JOB_USER_DELETE:
		st = q->st[ST_USER_DEL];
		bind_str(st, 1, j->u->realm);
		bind_str(st, 2, j->u->username);
		return st;
	case JOB_USERS_SYNC:
	case JOB_STOP:
		break;
	}
	return NULL;
}

/* Writer thread: the batch in one transaction; a failed COMMIT fails every job in it. */
static void sq_apply(void *be, struct store_job **jobs, size_t n)
{
	struct sq *q = be;
	int err = exec(q, "BEGIN IMMEDIATE");

	for (size_t i = 0; i < n && !err; i++) {
		struct store_job *j = jobs[i];
		char *key = j->b ? store_binding_key(j->b) : NULL;
		sqlite3_stmt *st = bind_job(q, j, key);

		if (st && sqlite3_step(st) != SQLITE_DONE) {
			LOGE(log_module, NULL, "sqlite write: %s", sqlite3_errmsg(q->db));
			j->err = EIO;
			/* FULL, IOERR, NOMEM roll the whole transaction back: stop here */
			if (sqlite3_get_autocommit(q->db))
				err = EIO;
		}
		if (st) {
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
		}
		g_free(key);
	}
	if (!err && exec(q, "COMMIT"))
		err = EIO;
	if (err && !sqlite3_get_autocommit(q->db))
		exec(q, "ROLLBACK");
	for (size_t i = 0; i < n && err; i++)
		jobs[i]->err = err;
}

const struct store_ops store_sqlite_ops = {
	.name = "sqlite",
	.cached = true,
	.open = sq_open,
	.close = sq_close,
	.load = sq_load,
	.apply = sq_apply,
	.users_sync = sq_users_sync,
};
