/* sip: the location and user store — the public API, the read cache, and the batching writer
 * thread in front of the SQLite and Redis backends (sip_store_sqlite.c, sip_store_redis.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip_store_int.h"

#define BATCH_MAX 512 /* writes per commit; the queue beyond it waits for the next one */

static const char *const log_module = "store";

struct sip_store {
	const struct store_ops *ops;
	void *be;
	unsigned batch_ms;
	unsigned max_queue;
	GThread *writer;
	GAsyncQueue *queue;    /* struct store_job *, from this thread to the writer */
	/* cached backends only: the source of truth for reads */
	GHashTable *locs;      /* aor -> GHashTable (key -> struct sip_binding *), owned */
	GHashTable *users;     /* "<len>:<realm><username>" -> struct sip_user *, owned */
	uint64_t user_gen;     /* user writes submitted here (a sync result older than one is stale) */
	bool syncing, force_sync;
	guint sync_timer;
	struct sip_store **cell; /* g_rc_box: points here until close; sync jobs hold refs */
	struct metric *m_writes, *m_batches, *m_errors;
};

/* ---- cache (cached backends) ---- */

static char *user_key(const char *username, const char *realm)
{
	return g_strdup_printf("%zu:%s%s", strlen(realm), realm, username);
}

void store_cache_binding(struct sip_store *s, struct sip_binding *b)
{
	GHashTable *set = g_hash_table_lookup(s->locs, b->aor);

	if (!set) {
		set = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					    (GDestroyNotify)sip_binding_free);
		g_hash_table_insert(s->locs, g_strdup(b->aor), set);
	}
	g_hash_table_replace(set, store_binding_key(b), b);
}

void store_cache_user(struct sip_store *s, struct sip_user *u)
{
	g_hash_table_replace(s->users, user_key(u->username, u->realm), u);
}

static void cache_remove(struct sip_store *s, const struct sip_binding *id)
{
	GHashTable *set = g_hash_table_lookup(s->locs, id->aor);
	GHashTableIter it;
	gpointer k, v;

	if (!set)
		return;
	if (id->instance && id->instance[0] && id->reg_id) {
		char *key = store_binding_key(id);
		g_hash_table_remove(set, key);
		g_free(key);
	} else {
		g_hash_table_iter_init(&it, set);
		while (g_hash_table_iter_next(&it, &k, &v))
			if (strcmp(((struct sip_binding *)v)->contact, id->contact) == 0)
				g_hash_table_iter_remove(&it);
	}
	if (g_hash_table_size(set) == 0)
		g_hash_table_remove(s->locs, id->aor);
}

static void cache_expire(struct sip_store *s, int64_t now)
{
	GHashTableIter it, jt;
	gpointer k, v, bk, bv;

	g_hash_table_iter_init(&it, s->locs);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		g_hash_table_iter_init(&jt, v);
		while (g_hash_table_iter_next(&jt, &bk, &bv))
			if (((struct sip_binding *)bv)->expires <= now)
				g_hash_table_iter_remove(&jt);
		if (g_hash_table_size(v) == 0)
			g_hash_table_iter_remove(&it);
	}
}

/* Mirrors a write in memory before it is queued: readers see writes in submission order. */
static void cache_apply(struct sip_store *s, const struct store_job *j)
{
	switch (j->kind) {
	case JOB_PUT:
		store_cache_binding(s, sip_binding_copy(j->b));
		break;
	case JOB_REMOVE:
		cache_remove(s, j->b);
		break;
	case JOB_REMOVE_ALL:
		g_hash_table_remove(s->locs, j->b->aor);
		break;
	case JOB_EXPIRE:
		cache_expire(s, j->now);
		break;
	case JOB_USER_PUT:
		store_cache_user(s, sip_user_copy(j->u));
		break;
	case JOB_USER_DELETE: {
		char *key = user_key(j->u->username, j->u->realm);
		g_hash_table_remove(s->users, key);
		g_free(key);
		break;
	}
	case JOB_USERS_SYNC:
	case JOB_STOP:
		break;
	}
}

/* ---- writer thread ---- */

static void job_free(struct store_job *j)
{
	if (j->sync) {
		g_mutex_clear(&j->mu);
		g_cond_clear(&j->cond);
	}
	if (j->ctx)
		g_main_context_unref(j->ctx);
	sip_binding_free(j->b);
	sip_user_free(j->u);
	if (j->users)
		g_ptr_array_unref(j->users);
	if (j->store)
		g_rc_box_release(j->store);
	g_free(j);
}

/* Store thread: a sync result replaces the user cache, unless a user write of ours was
 * submitted meanwhile (the result may predate it): then the next sync reads again. */
static void users_synced(struct store_job *j)
{
	struct sip_store *s = *j->store;

	if (!s)
		return; /* closed meanwhile */
	s->syncing = false;
	if (j->err || !j->users)
		return;
	if (j->user_gen != s->user_gen) {
		s->force_sync = true;
		return;
	}
	g_hash_table_remove_all(s->users);
	for (guint i = 0; i < j->users->len; i++)
		store_cache_user(s, j->users->pdata[i]);
	g_ptr_array_set_free_func(j->users, NULL); /* the cache owns them now */
	LOGN(log_module, NULL, "users changed in the database: %u users loaded", j->users->len);
}

static void job_complete(struct store_job *j)
{
	if (j->kind == JOB_USERS_SYNC)
		users_synced(j);
	else
		j->done(j->err, j->arg);
	job_free(j);
}

/* Submitter's context: the completions of one batch, in submission order. */
static gboolean batch_complete(gpointer data)
{
	GPtrArray *batch = data;

	for (guint i = 0; i < batch->len; i++)
		job_complete(batch->pdata[i]);
	g_ptr_array_free(batch, TRUE);
	return G_SOURCE_REMOVE;
}

/*
 * Writer thread: hands the jobs of a batch back to their submitters. Synchronous callers are
 * woken one by one; asynchronous jobs go back as one idle source per context and batch, so
 * the loop thread is woken once per commit, not once per write (each wake-up costs several
 * microseconds on a paravirtualised VM).
 */
static void finish_batch(struct store_job **jobs, size_t n)
{
	GPtrArray *batches = g_ptr_array_new();

	for (size_t i = 0; i < n; i++) {
		struct store_job *j = jobs[i];
		GPtrArray *batch = NULL;

		if (j->sync) {
			g_mutex_lock(&j->mu);
			j->finished = true;
			g_cond_signal(&j->cond);
			g_mutex_unlock(&j->mu);
			continue;
		}
		for (guint k = 0; k < batches->len && !batch; k++)
			if (((struct store_job *)((GPtrArray *)batches->pdata[k])->pdata[0])->ctx == j->ctx)
				batch = batches->pdata[k];
		if (!batch) {
			batch = g_ptr_array_new();
			g_ptr_array_add(batches, batch);
		}
		g_ptr_array_add(batch, j);
	}
	for (guint k = 0; k < batches->len; k++) {
		GPtrArray *batch = batches->pdata[k];
		/* Not g_main_context_invoke: it would run the callbacks right here on the writer
		 * thread whenever the context happens to be free. */
		GSource *src = g_idle_source_new();
		g_source_set_priority(src, G_PRIORITY_DEFAULT);
		g_source_set_callback(src, batch_complete, batch, NULL);
		g_source_attach(src, ((struct store_job *)batch->pdata[0])->ctx);
		g_source_unref(src);
	}
	g_ptr_array_free(batches, TRUE);
}

static void job_finish(struct store_job *j)
{
	finish_batch(&j, 1);
}

/*
 * Collects one batch, blocking for the first job: then it sleeps batch_ms and takes what
 * queued meanwhile, up to BATCH_MAX, ending early at a JOB_STOP. Sleeping instead of
 * waiting on the queue means producers never wake this thread during the window: one
 * wake-up per commit instead of one per write.
 */
static size_t collect(struct sip_store *s, struct store_job **jobs)
{
	size_t n = 0;

	jobs[n++] = g_async_queue_pop(s->queue);
	if (s->batch_ms && jobs[0]->kind != JOB_STOP)
		g_usleep((gulong)s->batch_ms * 1000);
	while (n < BATCH_MAX && jobs[n - 1]->kind != JOB_STOP) {
		struct store_job *j = g_async_queue_try_pop(s->queue);

		if (!j)
			break;
		jobs[n++] = j;
	}
	return n;
}

static const char *const job_names[] = {
	[JOB_PUT] = "put", [JOB_REMOVE] = "remove", [JOB_REMOVE_ALL] = "remove_all",
	[JOB_EXPIRE] = "expire", [JOB_USER_PUT] = "user_put", [JOB_USER_DELETE] = "user_delete",
	[JOB_USERS_SYNC] = "users_sync", [JOB_STOP] = "stop",
};

/* Names the write and what it was about (never an HA1). */
static void log_failure(struct sip_store *s, const struct store_job *j)
{
	const char *what = j->b ? j->b->aor : j->u ? j->u->username : "";

	metric_add(s->m_errors, 1);
	LOGW(log_module, NULL, "%s %s %s%s%s failed: %s", s->ops->name, job_names[j->kind], what,
	     j->u ? "@" : "", j->u ? j->u->realm : "", g_strerror(j->err));
}

static gpointer writer_main(gpointer data)
{
	struct sip_store *s = data;
	struct store_job **jobs = g_new(struct store_job *, BATCH_MAX);
	GPtrArray *syncs = g_ptr_array_new();
	bool stop = false;

	while (!stop) {
		size_t n = collect(s, jobs);

		if (jobs[n - 1]->kind == JOB_STOP) {
			stop = true;
			job_finish(jobs[--n]);
		}
		/* syncs read after the writes of their batch, outside the write transaction */
		size_t nw = 0;
		for (size_t i = 0; i < n; i++)
			if (jobs[i]->kind != JOB_USERS_SYNC)
				jobs[nw++] = jobs[i];
			else
				g_ptr_array_add(syncs, jobs[i]);
		n = nw;
		if (n)
			s->ops->apply(s->be, jobs, n);
		for (guint i = 0; i < syncs->len; i++) {
			struct store_job *j = syncs->pdata[i];
			j->err = s->ops->users_sync(s->be, j->force, &j->users);
			if (j->err)
				log_failure(s, j);
			job_finish(j);
		}
		g_ptr_array_set_size(syncs, 0);
		if (n == 0)
			continue;
		metric_add(s->m_batches, 1);
		metric_add(s->m_writes, (int64_t)n);
		for (size_t i = 0; i < n; i++)
			if (jobs[i]->err)
				log_failure(s, jobs[i]);
		finish_batch(jobs, n);
	}
	g_free(jobs);
	g_ptr_array_free(syncs, TRUE);
	return NULL;
}

/* Takes j. Async: 0 and done runs later. Sync (done NULL): waits and returns the result. */
static int submit(struct sip_store *s, struct store_job *j, sip_store_done_fn *done, void *arg)
{
	int err;

	/* The bound on memory while the disk or Redis stalls: refuse before touching the
	 * cache, so readers never see a write that was refused. */
	if (j->kind != JOB_STOP && g_async_queue_length(s->queue) >= (gint)s->max_queue) {
		job_free(j);
		return EAGAIN;
	}
	j->done = done;
	j->arg = arg;
	j->sync = done == NULL;
	if (j->sync) {
		g_mutex_init(&j->mu);
		g_cond_init(&j->cond);
	} else {
		j->ctx = g_main_context_ref_thread_default();
	}
	if (s->ops->cached)
		cache_apply(s, j);
	if (j->kind == JOB_USER_PUT || j->kind == JOB_USER_DELETE)
		s->user_gen++;
	g_async_queue_push(s->queue, j);
	if (!j->sync)
		return 0;
	g_mutex_lock(&j->mu);
	while (!j->finished)
		g_cond_wait(&j->cond, &j->mu);
	g_mutex_unlock(&j->mu);
	err = j->err;
	job_free(j);
	return err;
}

static struct store_job *job_new(enum store_job_kind kind)
{
	struct store_job *j = g_new0(struct store_job, 1);
	j->kind = kind;
	return j;
}

/* Only marks the job asynchronous: job_complete hands sync results to users_synced. */
static void users_sync_done(int err, void *arg)
{
}

/* ---- public API ---- */

int sip_store_open(const struct sip_store_config *cfg, struct sip_store **out)
{
	const struct store_ops *ops;
	struct sip_store *s;
	struct metric_family *f;
	char labels[64];
	int err;

	if (!cfg || !out)
		return EINVAL;
	switch (cfg->kind) {
	case SIP_STORE_SQLITE:
		ops = &store_sqlite_ops;
		break;
	case SIP_STORE_REDIS:
		ops = &store_redis_ops;
		break;
	default:
		return EINVAL;
	}
	s = g_new0(struct sip_store, 1);
	s->ops = ops;
	s->batch_ms = cfg->batch_ms;
	s->max_queue = cfg->max_queue ? MIN(cfg->max_queue, (unsigned)G_MAXINT) : 65536;
	if (ops->cached) {
		s->locs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
						(GDestroyNotify)g_hash_table_unref);
		s->users = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
						 (GDestroyNotify)sip_user_free);
	}
	err = ops->open(cfg, &s->be);
	if (!err && ops->cached)
		err = ops->load(s->be, s);
	if (err) {
		if (s->be)
			ops->close(s->be);
		if (s->locs)
			g_hash_table_unref(s->locs);
		if (s->users)
			g_hash_table_unref(s->users);
		g_free(s);
		return err;
	}
	snprintf(labels, sizeof(labels), "backend=\"%s\"", ops->name);
	f = metrics_family("gorgee_store_writes_total", "Store writes applied", METRIC_COUNTER);
	s->m_writes = metrics_series(f, labels);
	f = metrics_family("gorgee_store_commits_total", "Store write batches (one commit each)",
			   METRIC_COUNTER);
	s->m_batches = metrics_series(f, labels);
	f = metrics_family("gorgee_store_write_errors_total", "Store writes that failed",
			   METRIC_COUNTER);
	s->m_errors = metrics_series(f, labels);
	s->cell = g_rc_box_new(struct sip_store *);
	*s->cell = s;
	s->queue = g_async_queue_new();
	s->writer = g_thread_new("store-writer", writer_main, s);
	*out = s;
	return 0;
}

int sip_store_sync_users(struct sip_store *s)
{
	if (!s || !s->ops->cached || !s->ops->users_sync)
		return 0;
	if (s->syncing)
		return EALREADY;
	struct store_job *j = job_new(JOB_USERS_SYNC);
	j->store = g_rc_box_acquire(s->cell);
	j->user_gen = s->user_gen;
	j->force = s->force_sync;
	s->force_sync = false;
	s->syncing = true;
	int err = submit(s, j, users_sync_done, NULL);
	if (err)
		s->syncing = false;
	return err;
}

static gboolean sync_due(gpointer data)
{
	sip_store_sync_users(data);
	return G_SOURCE_CONTINUE;
}

void sip_store_set_user_sync(struct sip_store *s, unsigned secs)
{
	if (s->sync_timer)
		g_source_remove(s->sync_timer);
	s->sync_timer = secs && s->ops->cached ? g_timeout_add_seconds(secs, sync_due, s) : 0;
}

void sip_store_close(struct sip_store *s)
{
	if (!s)
		return;
	if (s->sync_timer)
		g_source_remove(s->sync_timer);
	*s->cell = NULL;
	g_rc_box_release(s->cell);
	submit(s, job_new(JOB_STOP), NULL, NULL);
	g_thread_join(s->writer);
	g_async_queue_unref(s->queue);
	s->ops->close(s->be);
	if (s->locs)
		g_hash_table_unref(s->locs);
	if (s->users)
		g_hash_table_unref(s->users);
	g_free(s);
}

const char *sip_store_backend_name(const struct sip_store *s)
{
	return s->ops->name;
}

void sip_store_dump(const struct sip_store *s, GString *out)
{
	GHashTableIter it;
	gpointer k, v;
	size_t bindings = 0;

	/* the length is negative while the writer waits on an empty queue */
	g_string_append_printf(out, "store backend=%s queued=%d", s->ops->name,
			       MAX(g_async_queue_length(s->queue), 0));
	if (!s->ops->cached) {
		g_string_append_c(out, '\n');
		return;
	}
	g_hash_table_iter_init(&it, s->locs);
	while (g_hash_table_iter_next(&it, &k, &v))
		bindings += g_hash_table_size(v);
	g_string_append_printf(out, " aors=%u bindings=%zu users=%u\n", g_hash_table_size(s->locs),
			       bindings, g_hash_table_size(s->users));
}

int sip_store_put(struct sip_store *s, const struct sip_binding *b, sip_store_done_fn *done,
		  void *arg)
{
	struct store_job *j;

	if (!s || store_check_binding(b))
		return EINVAL;
	j = job_new(JOB_PUT);
	j->b = sip_binding_copy(b);
	if (!j->b->updated)
		j->b->updated = (int64_t)(g_get_real_time() / G_USEC_PER_SEC);
	return submit(s, j, done, arg);
}

int sip_store_remove(struct sip_store *s, const char *aor, const char *contact,
		     const char *instance, uint32_t reg_id, sip_store_done_fn *done, void *arg)
{
	struct sip_binding id = {
		.aor = (char *)aor, .contact = (char *)contact,
		.instance = (char *)instance, .reg_id = reg_id,
	};
	struct store_job *j;

	/* by flow, the contact is not needed (RFC 5626 §6) */
	if (instance && instance[0] && reg_id && !contact)
		id.contact = (char *)"-";
	if (!s || store_check_binding(&id))
		return EINVAL;
	j = job_new(JOB_REMOVE);
	j->b = sip_binding_copy(&id);
	return submit(s, j, done, arg);
}

int sip_store_remove_all(struct sip_store *s, const char *aor, sip_store_done_fn *done,
			 void *arg)
{
	struct store_job *j;

	if (!s || !store_str_ok(aor, SIP_STORE_MAX_AOR, true))
		return EINVAL;
	j = job_new(JOB_REMOVE_ALL);
	j->b = g_new0(struct sip_binding, 1);
	j->b->aor = g_strdup(aor);
	return submit(s, j, done, arg);
}

int sip_store_expire(struct sip_store *s, int64_t now, sip_store_done_fn *done, void *arg)
{
	struct store_job *j;

	if (!s)
		return EINVAL;
	j = job_new(JOB_EXPIRE);
	j->now = now;
	return submit(s, j, done, arg);
}

int sip_store_lookup(struct sip_store *s, const char *aor, int64_t now, GPtrArray **out)
{
	GPtrArray *a;
	int err = 0;

	if (!s || !out || !store_str_ok(aor, SIP_STORE_MAX_AOR, true))
		return EINVAL;
	a = g_ptr_array_new_with_free_func((GDestroyNotify)sip_binding_free);
	if (s->ops->cached) {
		GHashTable *set = g_hash_table_lookup(s->locs, aor);
		GHashTableIter it;
		gpointer k, v;

		if (set) {
			g_hash_table_iter_init(&it, set);
			while (g_hash_table_iter_next(&it, &k, &v))
				if (((struct sip_binding *)v)->expires > now)
					g_ptr_array_add(a, sip_binding_copy(v));
		}
	} else {
		err = s->ops->lookup(s->be, aor, now, a);
		for (guint i = a->len; i-- > 0;)
			if (((struct sip_binding *)a->pdata[i])->expires <= now)
				g_ptr_array_remove_index_fast(a, i);
	}
	if (err) {
		g_ptr_array_unref(a);
		return err;
	}
	g_ptr_array_sort(a, store_binding_cmp);
	*out = a;
	return 0;
}

int sip_store_count(struct sip_store *s, int64_t now, size_t *out)
{
	GHashTableIter it, jt;
	gpointer k, v, bk, bv;
	size_t n = 0;

	if (!s || !out)
		return EINVAL;
	if (!s->ops->cached)
		return s->ops->count(s->be, now, out);
	g_hash_table_iter_init(&it, s->locs);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		g_hash_table_iter_init(&jt, v);
		while (g_hash_table_iter_next(&jt, &bk, &bv))
			n += ((struct sip_binding *)bv)->expires > now;
	}
	*out = n;
	return 0;
}

int sip_store_user_put(struct sip_store *s, const struct sip_user *u, sip_store_done_fn *done,
		       void *arg)
{
	struct store_job *j;

	if (!s || !u || store_check_user_id(u->username, u->realm) || store_check_hex(u->ha1_md5, 32) ||
	    store_check_hex(u->ha1_sha256, 64))
		return EINVAL;
	j = job_new(JOB_USER_PUT);
	j->u = sip_user_copy(u);
	return submit(s, j, done, arg);
}

int sip_store_user_delete(struct sip_store *s, const char *username, const char *realm,
			  sip_store_done_fn *done, void *arg)
{
	struct store_job *j;

	if (!s || store_check_user_id(username, realm))
		return EINVAL;
	j = job_new(JOB_USER_DELETE);
	j->u = g_new0(struct sip_user, 1);
	j->u->username = g_strdup(username);
	j->u->realm = g_strdup(realm);
	return submit(s, j, done, arg);
}

int sip_store_user_get(struct sip_store *s, const char *username, const char *realm,
		       struct sip_user **out)
{
	if (!s || !out || store_check_user_id(username, realm))
		return EINVAL;
	if (s->ops->cached) {
		char *key = user_key(username, realm);
		struct sip_user *u = g_hash_table_lookup(s->users, key);

		g_free(key);
		if (!u)
			return ENOENT;
		*out = sip_user_copy(u);
		return 0;
	}
	return s->ops->user_get(s->be, username, realm, out);
}
