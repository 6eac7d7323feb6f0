/* core: what every layer shares — logging with context, secrets that never print,
 * the metrics registry, and the option-table machinery behind the configuration. */
#ifndef GORGEE_CORE_H
#define GORGEE_CORE_H

#include <glib.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- slices ------------------------------------------------------------------------- */

/* A (pointer, length) view into a buffer someone else owns. Never NUL-terminated. */
struct slice {
	const char *p;
	size_t len;
};

#define SLICE_LIT(s) ((struct slice){(s), sizeof(s) - 1})
#define SLICE_FMT    "%.*s"
#define SLICE_ARG(s) (int)(s).len, (s).p

static inline bool slice_eq(struct slice a, const char *s, size_t n)
{
	return a.len == n && (n == 0 || memcmp(a.p, s, n) == 0);
}

static inline bool slice_caseeq(struct slice a, const char *s, size_t n)
{
	return a.len == n && (n == 0 || g_ascii_strncasecmp(a.p, s, n) == 0);
}

#define slice_eqlit(a, lit)     slice_eq((a), (lit), sizeof(lit) - 1)
#define slice_caseeqlit(a, lit) slice_caseeq((a), (lit), sizeof(lit) - 1)

/* ---- many descriptors, one GSource (fdpoll.c) ------------------------------------ */

/*
 * Marks a source that polls descriptors so that dispatching it does not wake its own
 * loop. GLib (2.74) takes a source's descriptors out of the context's poll set while its
 * callback runs and puts them back after ("blocking" it against recursion), and each of
 * those signals the context's wake-up eventfd, even from the thread that runs the loop: two
 * write()s per dispatch, then a read() and one more poll() round that finds nothing to do.
 * Allowed because no callback of ours iterates its own context. Returns s.
 */
GSource *core_source_unblocked(GSource *s);

/*
 * Runs fn(data) from the loop once the current dispatch is over, at the priority of the
 * descriptor sources (G_PRIORITY_DEFAULT); returns the source id. Not g_idle_add: an idle
 * source (G_PRIORITY_DEFAULT_IDLE) runs only in a loop iteration where no default-priority
 * source is ready, which under load (a SIP socket readable on every iteration) is never —
 * ended calls were not freed and held their media ports until the port pool ran out.
 */
guint core_defer(GSourceFunc fn, gpointer data);


/* An epoll set attached to a GMainContext as one source: for the thousands of connections
 * a loop may hold, where a GSource each would make every wake-up walk them all. */
struct fdpoll;
struct fdwatch;
/* cond: what happened, within the watch's interest, plus G_IO_ERR / G_IO_HUP. The callback
 * may change or free any watch, its own included. */
typedef void fdwatch_fn(struct fdwatch *w, int fd, GIOCondition cond, void *arg);

struct fdpoll *fdpoll_new(GMainContext *ctx); /* NULL ctx: the global default; NULL: errno */
void fdpoll_free(struct fdpoll *p);           /* after its watches */
/* interest: G_IO_IN and/or G_IO_OUT (0: errors and hang-ups only). NULL with errno. */
struct fdwatch *fdwatch_new(struct fdpoll *p, int fd, GIOCondition interest, fdwatch_fn *fn,
			    void *arg);
void fdwatch_set(struct fdwatch *w, GIOCondition interest);
GIOCondition fdwatch_interest(const struct fdwatch *w);
void fdwatch_free(struct fdwatch *w); /* before the descriptor is closed */

/* ---- logging ---------------------------------------------------------------------- */

enum log_level { LOG_ERROR, LOG_WARN, LOG_NOTICE, LOG_INFO, LOG_DEBUG };
enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

/* Context printed with a line; every field may be NULL. Borrowed for the call only. */
struct log_ctx {
	const char *call_id; /* SIP Call-ID or gorgee call id */
	const char *leg;     /* "ws", "sip", "relay", ... */
	const char *peer;    /* "ip:port" or session id */
};

/* Receives each finished line (without newline). Used by tests to capture output. */
typedef void log_sink_fn(enum log_level level, const char *line, size_t len, void *arg);

void log_setup(enum log_level level, enum log_format format);
/* sink NULL restores stderr. */
void log_set_sink(log_sink_fn *sink, void *arg);
bool log_enabled(enum log_level level);
const char *log_level_name(enum log_level level);
/* Returns 0 or EINVAL. */
int log_level_parse(const char *s, enum log_level *out);

void log_write(enum log_level level, const char *module, const struct log_ctx *ctx,
	       const char *fmt, ...) G_GNUC_PRINTF(4, 5);

#define LOG_AT(lvl, mod, ctx, ...)                                   \
	do {                                                        \
		if (log_enabled(lvl))                               \
			log_write(lvl, mod, ctx, __VA_ARGS__);      \
	} while (0)
#define LOGE(mod, ctx, ...) LOG_AT(LOG_ERROR, mod, ctx, __VA_ARGS__)
#define LOGW(mod, ctx, ...) LOG_AT(LOG_WARN, mod, ctx, __VA_ARGS__)
#define LOGN(mod, ctx, ...) LOG_AT(LOG_NOTICE, mod, ctx, __VA_ARGS__)
#define LOGI(mod, ctx, ...) LOG_AT(LOG_INFO, mod, ctx, __VA_ARGS__)
#define LOGD(mod, ctx, ...) LOG_AT(LOG_DEBUG, mod, ctx, __VA_ARGS__)

/* ---- secrets ----------------------------------------------------------------------- */

/*
 * A password, HA1, token or key. Opaque, so it cannot be handed to a printf format by
 * mistake (-Wformat rejects a struct secret * for %s); secret_print() always gives
 * "[redacted]". Only secret_reveal() gives the bytes, for the code that uses them.
 */
struct secret;
struct secret *secret_new(const char *value, size_t len);
/* Zeroes the bytes (OPENSSL_cleanse-style, not optimised away) and frees. NULL is fine. */
void secret_free(struct secret *s);
const char *secret_reveal(const struct secret *s, size_t *len);
bool secret_equal(const struct secret *a, const struct secret *b);
const char *secret_print(const struct secret *s);

/* ---- randomness --------------------------------------------------------------------- */

/*
 * Writes 2*nbytes lowercase hex digits and a NUL to out, from the kernel's CSPRNG
 * (getrandom(2)): tags, branches, session ids and tokens. nbytes at most 64. Aborts if the
 * kernel cannot give randomness: nothing may go on with guessable tokens. The kernel's
 * bytes are fetched in blocks into a per-thread pool and each is used once.
 */
void core_random_hex(char *out, size_t nbytes);
/* n bytes from the same pool (nonce salts). Aborts like core_random_hex. */
void core_random_bytes(void *out, size_t n);

/* ---- scratch blocks ------------------------------------------------------------------ */

/*
 * A block of size bytes (contents undefined) for the calling thread's use until it gives
 * it back with core_scratch_put(p, size): one the thread gave back before, else new. For
 * the large structures a message needs for a moment (SDP sessions); a few are kept per
 * thread, freed at thread exit. Wipe what must not linger (keys) before giving it back.
 */
void *core_scratch_get(size_t size);
/* p: from core_scratch_get(size) on this thread, or NULL. */
void core_scratch_put(void *p, size_t size);

/* ---- metrics (Prometheus text format) ------------------------------------------------ */

enum metric_type { METRIC_COUNTER, METRIC_GAUGE };
struct metric_family;
struct metric;

/* Registers (or finds) a family. name/help must be string literals or outlive the process. */
struct metric_family *metrics_family(const char *name, const char *help, enum metric_type type);
/*
 * Finds or creates the series of a family. labels is the text between the braces,
 * e.g. "method=\"INVITE\"" ("" for none); it is copied. Safe from any thread.
 */
struct metric *metrics_series(struct metric_family *f, const char *labels);
void metric_add(struct metric *m, int64_t delta);
void metric_set(struct metric *m, int64_t value);
int64_t metric_get(const struct metric *m);

/* A gauge computed at scrape time, e.g. process figures. */
typedef double metric_read_fn(void *arg);
void metrics_gauge_fn(const char *name, const char *help, metric_read_fn *fn, void *arg);

/* Renders every family; the caller frees with g_string_free(s, TRUE). */
GString *metrics_render(void);
/* Registers process_* figures (CPU, RSS, fds, start time). Idempotent. */
void metrics_register_process(void);
/* Drops every family (tests, shutdown). */
void metrics_reset(void);

/* ---- option tables (configuration) ---------------------------------------------------- */

enum opt_type { OPT_BOOL, OPT_INT, OPT_STRING, OPT_SECRET, OPT_ENUM };

/*
 * One configuration option. Tables of these produce the defaults, the validation, the
 * printed default configuration and docs/configuration.md, so nothing drifts apart.
 * Storage at `offset` in the caller's struct: bool, int64_t, char * (g_malloc'd),
 * struct secret *, int (index into choices).
 */
struct opt_def {
	const char *section;
	const char *key;
	enum opt_type type;
	size_t offset;
	const char *def; /* default as text, parsed like a file value */
	int64_t min, max; /* OPT_INT range, inclusive */
	const char *const *choices; /* OPT_ENUM: NULL-terminated */
	bool reloadable; /* applied on SIGHUP without a restart */
	const char *unit; /* "s", "ms", "bytes", ... or NULL */
	const char *help;
};

struct opt_table {
	const struct opt_def *defs;
	size_t n;
	size_t struct_size;
};

/* Fills every option with its default. Returns 0, or EINVAL if a default is invalid. */
int config_defaults(const struct opt_table *t, void *cfg);
/*
 * Sets "section.key" to a textual value. `origin` names where it came from for the error
 * ("gorgee.conf:12", "--set", "environment GORGEE_SIP_UDP_PORT"). On failure returns
 * EINVAL/ENOENT and appends one line to err naming origin, key and reason.
 */
int config_set(const struct opt_table *t, void *cfg, const char *section, const char *key,
	       const char *value, const char *origin, GString *err);
/* Same with "section.key=value". */
int config_set_arg(const struct opt_table *t, void *cfg, const char *arg, const char *origin,
		   GString *err);
/* Reads an INI-style file ([section], key = value, # comments). Errors name file:line:key. */
int config_load_file(const struct opt_table *t, void *cfg, const char *path, GString *err);
/* Applies GORGEE_<SECTION>_<KEY> variables from envp (NULL-terminated). */
int config_apply_env(const struct opt_table *t, void *cfg, char *const *envp, GString *err);
/* Prints the configuration as a file (secrets as "" with defaults, "[redacted]" otherwise). */
void config_print(const struct opt_table *t, const void *cfg, bool as_defaults, GString *out);
/* Prints the Markdown reference of every option. */
void config_print_doc(const struct opt_table *t, GString *out);
/* Copies reloadable options from src to dst; appends "section.key" of every changed option
 * that needs a restart to restart_needed (comma-separated). */
void config_reload(const struct opt_table *t, void *dst, const void *src, GString *restart_needed);
/* Frees the strings and secrets held by cfg (not cfg itself). */
void config_clear(const struct opt_table *t, void *cfg);
const struct opt_def *config_find(const struct opt_table *t, const char *section, const char *key);

#endif
