/* sip: the store's backend ops table and writer jobs, shared by sip_store*.c (not public). */
#ifndef GORGEE_SIP_STORE_INT_H
#define GORGEE_SIP_STORE_INT_H

#include "sip.h"

enum store_job_kind {
	JOB_PUT,         /* b: the binding (owned) */
	JOB_REMOVE,      /* b: aor, contact, instance, reg_id (owned) */
	JOB_REMOVE_ALL,  /* b->aor */
	JOB_EXPIRE,      /* now */
	JOB_USER_PUT,    /* u (owned) */
	JOB_USER_DELETE, /* u->username, u->realm */
	JOB_USERS_SYNC,  /* reads users changed by another process into users; no write */
	JOB_STOP,        /* ends the writer; never reaches a backend */
};

/* One queued write. Created on the store's thread, applied on the writer thread, completed
 * on the submitter's context (or by waking a synchronous caller). */
struct store_job {
	enum store_job_kind kind;
	struct sip_binding *b;
	struct sip_user *u;
	int64_t now;
	GPtrArray *users;         /* JOB_USERS_SYNC: every user, or NULL when nothing changed */
	uint64_t user_gen;        /* JOB_USERS_SYNC: the store's user write count at submit */
	bool force;               /* JOB_USERS_SYNC: read even when nothing seems changed */
	struct sip_store **store; /* JOB_USERS_SYNC: whose cache takes the result (a ref of the
				   * store's cell; NULL inside once the store is closed) */
	int err; /* set by the backend's apply */
	sip_store_done_fn *done;
	void *arg;
	GMainContext *ctx;
	bool sync, finished;
	GMutex mu;
	GCond cond;
};

/*
 * A backend. cached backends are read from the store's memory (filled by load at open);
 * the others answer lookup, count and user_get themselves on the store's thread. apply runs
 * on the writer thread only and sets each job's err (one transaction per call for SQLite).
 */
struct store_ops {
	const char *name;
	bool cached;
	int (*open)(const struct sip_store_config *cfg, void **be);
	void (*close)(void *be);
	int (*load)(void *be, struct sip_store *s);
	void (*apply)(void *be, struct store_job **jobs, size_t n);
	int (*lookup)(void *be, const char *aor, int64_t now, GPtrArray *out);
	int (*count)(void *be, int64_t now, size_t *out);
	int (*user_get)(void *be, const char *username, const char *realm, struct sip_user **out);
	/* cached backends, writer thread: users changed by others (*out NULL: none) */
	int (*users_sync)(void *be, bool force, GPtrArray **out);
};

extern const struct store_ops store_sqlite_ops;
extern const struct store_ops store_redis_ops;

/* The identity of a binding within its AOR (RFC 5626 §6 / RFC 3261 §10.3): "i:<instance>
 * <reg-id>" with a space between when both are present, else "c:<contact>". g_free it. */
char *store_binding_key(const struct sip_binding *b);
/* For load: adds a binding (taking it) or a user (taking it) to the cache. */
void store_cache_binding(struct sip_store *s, struct sip_binding *b);
void store_cache_user(struct sip_store *s, struct sip_user *u);
/* Sort order of lookups: q desc, updated desc, contact asc. */
gint store_binding_cmp(gconstpointer a, gconstpointer b);
/* Serialised form for Redis: "<expires> <q> <cseq> <reg_id> <updated>|" then
 * "<len>:<bytes>" or "-" for contact, call_id, instance, path, received, user_agent. */
void store_binding_encode(const struct sip_binding *b, GString *out);
/* Returns a new binding (aor set from aor) or NULL when the text is malformed. */
struct sip_binding *store_binding_decode(const char *aor, const char *p, size_t len);
/* 0 when the hex string is NULL or has exactly want hex digits, else EINVAL. */
int store_check_hex(const struct secret *s, size_t want);
/* s is at most cap bytes, and not NULL or empty when required. */
bool store_str_ok(const char *s, size_t cap, bool required);
/* 0 or EINVAL: every field of b within its cap (sip.h), AOR and contact present. */
int store_check_binding(const struct sip_binding *b);
int store_check_user_id(const char *username, const char *realm);

#endif
