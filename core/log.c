/* Logging: levels, context fields, plain text or JSON lines, one write per line. */
#include "core.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int cur_level = LOG_NOTICE;
static int cur_format = LOG_FORMAT_TEXT;
static log_sink_fn *cur_sink;
static void *cur_sink_arg;

static const char *const level_names[] = {"error", "warn", "notice", "info", "debug"};

void log_setup(enum log_level level, enum log_format format)
{
	g_atomic_int_set(&cur_level, (int)level);
	g_atomic_int_set(&cur_format, (int)format);
}

void log_set_sink(log_sink_fn *sink, void *arg)
{
	cur_sink = sink;
	cur_sink_arg = arg;
}

bool log_enabled(enum log_level level)
{
	return (int)level <= g_atomic_int_get(&cur_level);
}

const char *log_level_name(enum log_level level)
{
	return (unsigned)level < G_N_ELEMENTS(level_names) ? level_names[level] : "?";
}

int log_level_parse(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < G_N_ELEMENTS(level_names); i++) {
		if (g_ascii_strcasecmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return EINVAL;
}

/* JSON string escape (RFC 8259): quotes, backslash, control characters. */
static void json_escape(GString *out, const char *s)
{
	g_string_append_c(out, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"': g_string_append(out, "\\\""); break;
		case '\\': g_string_append(out, "\\\\"); break;
		case '\n': g_string_append(out, "\\n"); break;
		case '\r': g_string_append(out, "\\r"); break;
		case '\t': g_string_append(out, "\\t"); break;
		default:
			if (*p < 0x20)
				g_string_append_printf(out, "\\u%04x", *p);
			else
				g_string_append_c(out, (char)*p);
		}
	}
	g_string_append_c(out, '"');
}

/* Text lines keep control characters out so one log line stays one line. */
static void text_clean(GString *out, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			g_string_append_printf(out, "\\x%02x", *p);
		else
			g_string_append_c(out, (char)*p);
	}
}

static void add_field(GString *line, bool json, const char *key, const char *val)
{
	if (!val)
		return;
	if (json) {
		g_string_append_printf(line, ",\"%s\":", key);
		json_escape(line, val);
	} else {
		g_string_append_printf(line, " %s=", key);
		text_clean(line, val);
	}
}

void log_write(enum log_level level, const char *module, const struct log_ctx *ctx,
	       const char *fmt, ...)
{
	char ts[40];
	struct timespec now;
	struct tm tm;
	va_list ap;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, sizeof(ts) - n, ".%03ldZ", now.tv_nsec / 1000000);

	va_start(ap, fmt);
	char *msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);

	bool json = g_atomic_int_get(&cur_format) == LOG_FORMAT_JSON;
	GString *line = g_string_sized_new(160);
	if (json) {
		g_string_append_printf(line, "{\"ts\":\"%s\",\"level\":\"%s\",\"module\":", ts,
				       log_level_name(level));
		json_escape(line, module ? module : "");
		g_string_append(line, ",\"msg\":");
		json_escape(line, msg);
	} else {
		g_string_append_printf(line, "%s %-6s [%s] ", ts, log_level_name(level),
				       module ? module : "-");
		text_clean(line, msg);
	}
	if (ctx) {
		add_field(line, json, "call_id", ctx->call_id);
		add_field(line, json, "leg", ctx->leg);
		add_field(line, json, "peer", ctx->peer);
	}
	if (json)
		g_string_append_c(line, '}');

	if (cur_sink) {
		cur_sink(level, line->str, line->len, cur_sink_arg);
	} else {
		g_string_append_c(line, '\n');
		/* One write(2) per line keeps lines whole when threads log at once. */
		ssize_t w = write(STDERR_FILENO, line->str, line->len);
		(void)w;
	}
	g_string_free(line, TRUE);
	g_free(msg);
}
