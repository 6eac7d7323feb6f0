/* Metrics registry: counters and gauges with labels, rendered in Prometheus text format. */
#include "core.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

struct metric {
	int64_t value; /* atomic (__atomic builtins): media workers add from their own threads */
	char labels[];
};

struct metric_family {
	const char *name;
	const char *help;
	enum metric_type type;
	GPtrArray *series;  /* struct metric *, owned */
	metric_read_fn *fn; /* computed gauge when non-NULL */
	void *fn_arg;
};

static GMutex lock;        /* guards registration only, never the values */
static GPtrArray *families; /* struct metric_family *, owned, in registration order */

static void family_free(gpointer p)
{
	struct metric_family *f = p;
	if (f->series)
		g_ptr_array_free(f->series, TRUE);
	g_free(f);
}

static struct metric_family *find_family(const char *name)
{
	if (!families)
		families = g_ptr_array_new_with_free_func(family_free);
	for (guint i = 0; i < families->len; i++) {
		struct metric_family *f = families->pdata[i];
		if (strcmp(f->name, name) == 0)
			return f;
	}
	return NULL;
}

struct metric_family *metrics_family(const char *name, const char *help, enum metric_type type)
{
	g_mutex_lock(&lock);
	struct metric_family *f = find_family(name);
	if (!f) {
		f = g_new0(struct metric_family, 1);
		f->name = name;
		f->help = help;
		f->type = type;
		f->series = g_ptr_array_new_with_free_func(g_free);
		g_ptr_array_add(families, f);
	}
	g_mutex_unlock(&lock);
	return f;
}

struct metric *metrics_series(struct metric_family *f, const char *labels)
{
	struct metric *m = NULL;
	g_mutex_lock(&lock);
	for (guint i = 0; i < f->series->len; i++) {
		struct metric *s = f->series->pdata[i];
		if (strcmp(s->labels, labels) == 0) {
			m = s;
			break;
		}
	}
	if (!m) {
		size_t n = strlen(labels);
		m = g_malloc0(sizeof(*m) + n + 1);
		memcpy(m->labels, labels, n + 1);
		g_ptr_array_add(f->series, m);
	}
	g_mutex_unlock(&lock);
	return m;
}

void metric_add(struct metric *m, int64_t delta)
{
	__atomic_fetch_add(&m->value, delta, __ATOMIC_RELAXED);
}

void metric_set(struct metric *m, int64_t value)
{
	__atomic_store_n(&m->value, value, __ATOMIC_RELAXED);
}

int64_t metric_get(const struct metric *m)
{
	return __atomic_load_n(&m->value, __ATOMIC_RELAXED);
}

void metrics_gauge_fn(const char *name, const char *help, metric_read_fn *fn, void *arg)
{
	struct metric_family *f = metrics_family(name, help, METRIC_GAUGE);
	g_mutex_lock(&lock);
	f->fn = fn;
	f->fn_arg = arg;
	g_mutex_unlock(&lock);
}

GString *metrics_render(void)
{
	GString *out = g_string_sized_new(4096);
	g_mutex_lock(&lock);
	for (guint i = 0; families && i < families->len; i++) {
		struct metric_family *f = families->pdata[i];
		g_string_append_printf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help,
				       f->name, f->type == METRIC_COUNTER ? "counter" : "gauge");
		if (f->fn) {
			g_string_append_printf(out, "%s %.17g\n", f->name, f->fn(f->fn_arg));
			continue;
		}
		if (f->series->len == 0 && f->type == METRIC_GAUGE)
			g_string_append_printf(out, "%s 0\n", f->name);
		for (guint j = 0; j < f->series->len; j++) {
			struct metric *m = f->series->pdata[j];
			if (m->labels[0])
				g_string_append_printf(out, "%s{%s} %" PRId64 "\n",
						       f->name, m->labels, metric_get(m));
			else
				g_string_append_printf(out, "%s %" PRId64 "\n", f->name,
						       metric_get(m));
		}
	}
	g_mutex_unlock(&lock);
	return out;
}

void metrics_reset(void)
{
	g_mutex_lock(&lock);
	if (families)
		g_ptr_array_free(families, TRUE);
	families = NULL;
	g_mutex_unlock(&lock);
}

/* ---- process figures ---- */

static double proc_cpu(void *arg)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

static double proc_rss(void *arg)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return (double)rss * (double)sysconf(_SC_PAGESIZE);
}

static double proc_fds(void *arg)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return 0;
	for (struct dirent *e; (e = readdir(d));)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the DIR's own fd */
}

static double proc_max_fds(void *arg)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 0;
	return (double)rl.rlim_cur;
}

static double start_time;

static double proc_start(void *arg)
{
	return start_time;
}

static double proc_threads(void *arg)
{
	int n = 0;
	DIR *d = opendir("/proc/self/task");
	if (!d)
		return 0;
	for (struct dirent *e; (e = readdir(d));)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

void metrics_register_process(void)
{
	if (start_time == 0)
		start_time = (double)time(NULL);
	metrics_gauge_fn("process_cpu_seconds_total", "User and system CPU time spent in seconds.",
			 proc_cpu, NULL);
	metrics_gauge_fn("process_resident_memory_bytes", "Resident memory size in bytes.",
			 proc_rss, NULL);
	metrics_gauge_fn("process_open_fds", "Number of open file descriptors.", proc_fds, NULL);
	metrics_gauge_fn("process_max_fds", "Maximum number of open file descriptors.",
			 proc_max_fds, NULL);
	metrics_gauge_fn("process_start_time_seconds",
			 "Start time of the process since unix epoch in seconds.", proc_start, NULL);
	metrics_gauge_fn("process_threads", "Number of OS threads in the process.", proc_threads,
			 NULL);
}
