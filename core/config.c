/* Option tables: defaults, validation, file/env/argument loading, printing and docs. */
#include "core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIELD(cfg, d, type) ((type *)((char *)(cfg) + (d)->offset))
#define CFIELD(cfg, d, type) ((const type *)((const char *)(cfg) + (d)->offset))

const struct opt_def *config_find(const struct opt_table *t, const char *section, const char *key)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->defs[i].section, section) == 0 && strcmp(t->defs[i].key, key) == 0)
			return &t->defs[i];
	return NULL;
}

static bool section_known(const struct opt_table *t, const char *section)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->defs[i].section, section) == 0)
			return true;
	return false;
}

static int parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};
	for (size_t i = 0; i < G_N_ELEMENTS(yes); i++) {
		if (g_ascii_strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (g_ascii_strcasecmp(v, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return EINVAL;
}

/* Decimal integer, optional sign; rejects trailing junk and overflow. */
static int parse_int(const char *v, int64_t *out)
{
	char *end;
	if (!*v)
		return EINVAL;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	if (errno || *end || end == v)
		return EINVAL;
	*out = x;
	return 0;
}

static void describe(const struct opt_def *d, GString *s)
{
	switch (d->type) {
	case OPT_BOOL: g_string_append(s, "true or false"); break;
	case OPT_INT:
		g_string_append_printf(s, "an integer in %" G_GINT64_FORMAT "..%" G_GINT64_FORMAT,
				       d->min, d->max);
		break;
	case OPT_ENUM:
		g_string_append(s, "one of ");
		for (size_t i = 0; d->choices[i]; i++)
			g_string_append_printf(s, "%s%s", i ? ", " : "", d->choices[i]);
		break;
	default: g_string_append(s, "text"); break;
	}
}

/* Validates and stores one value. The value of a secret is never echoed in errors. */
static int store(const struct opt_def *d, void *cfg, const char *value, const char *origin,
		 GString *err)
{
	int64_t n;
	bool b;
	switch (d->type) {
	case OPT_BOOL:
		if (parse_bool(value, &b))
			goto bad;
		*FIELD(cfg, d, bool) = b;
		return 0;
	case OPT_INT:
		if (parse_int(value, &n) || n < d->min || n > d->max)
			goto bad;
		*FIELD(cfg, d, int64_t) = n;
		return 0;
	case OPT_STRING:
		g_free(*FIELD(cfg, d, char *));
		*FIELD(cfg, d, char *) = g_strdup(value);
		return 0;
	case OPT_SECRET:
		secret_free(*FIELD(cfg, d, struct secret *));
		*FIELD(cfg, d, struct secret *) = secret_new(value, strlen(value));
		return 0;
	case OPT_ENUM:
		for (int i = 0; d->choices[i]; i++) {
			if (g_ascii_strcasecmp(value, d->choices[i]) == 0) {
				*FIELD(cfg, d, int) = i;
				return 0;
			}
		}
		goto bad;
	}
bad:
	g_string_append_printf(err, "%s: %s.%s: '%s' is not valid (expected ", origin,
			       d->section, d->key, value);
	describe(d, err);
	g_string_append(err, ")\n");
	return EINVAL;
}

int config_defaults(const struct opt_table *t, void *cfg)
{
	int rc = 0;
	GString *err = g_string_new(NULL);
	memset(cfg, 0, t->struct_size);
	for (size_t i = 0; i < t->n; i++)
		if (store(&t->defs[i], cfg, t->defs[i].def, "default", err))
			rc = EINVAL;
	g_string_free(err, TRUE);
	return rc;
}

int config_set(const struct opt_table *t, void *cfg, const char *section, const char *key,
	       const char *value, const char *origin, GString *err)
{
	const struct opt_def *d = config_find(t, section, key);
	if (!d) {
		if (section_known(t, section))
			g_string_append_printf(err, "%s: unknown key '%s' in section [%s]\n",
					       origin, key, section);
		else
			g_string_append_printf(err, "%s: unknown section [%s] (key '%s')\n", origin,
					       section, key);
		return ENOENT;
	}
	return store(d, cfg, value, origin, err);
}

int config_set_arg(const struct opt_table *t, void *cfg, const char *arg, const char *origin,
		   GString *err)
{
	const char *eq = strchr(arg, '=');
	const char *dot = eq ? memchr(arg, '.', (size_t)(eq - arg)) : NULL;
	if (!eq || !dot || dot == arg || dot + 1 == eq) {
		g_string_append_printf(err, "%s: '%s' is not section.key=value\n", origin, arg);
		return EINVAL;
	}
	char *section = g_strndup(arg, (size_t)(dot - arg));
	char *key = g_strndup(dot + 1, (size_t)(eq - dot - 1));
	int rc = config_set(t, cfg, section, key, eq + 1, origin, err);
	g_free(section);
	g_free(key);
	return rc;
}

/* A value may be "quoted" (with \" and \\ escapes) to keep spaces or a '#'. */
static int unquote(char *v, char **out)
{
	v = g_strchug(v);
	if (*v != '"') {
		char *hash = strchr(v, '#');
		if (hash)
			*hash = '\0';
		*out = g_strstrip(v);
		return 0;
	}
	char *w = v, *r = v + 1;
	for (; *r && *r != '"'; r++) {
		if (*r == '\\' && (r[1] == '"' || r[1] == '\\'))
			r++;
		*w++ = *r;
	}
	if (*r != '"')
		return EINVAL;
	char *rest = g_strstrip(r + 1);
	if (*rest && *rest != '#')
		return EINVAL;
	*w = '\0';
	*out = v;
	return 0;
}

int config_load_file(const struct opt_table *t, void *cfg, const char *path, GString *err)
{
	char *text = NULL;
	gsize len = 0;
	GError *gerr = NULL;
	if (!g_file_get_contents(path, &text, &len, &gerr)) {
		g_string_append_printf(err, "%s: cannot read: %s\n", path, gerr->message);
		g_error_free(gerr);
		return ENOENT;
	}
	int rc = 0;
	char section[64] = "";
	char **lines = g_strsplit(text, "\n", -1);
	for (size_t i = 0; lines[i]; i++) {
		char origin[512];
		snprintf(origin, sizeof(origin), "%s:%zu", path, i + 1);
		char *line = g_strstrip(lines[i]);
		if (!*line || *line == '#' || *line == ';')
			continue;
		if (*line == '[') {
			char *close = strchr(line, ']');
			if (!close || close[1] || close - line - 1 >= (long)sizeof(section) ||
			    close == line + 1) {
				g_string_append_printf(err, "%s: bad section header '%s'\n", origin, line);
				rc = EINVAL;
				continue;
			}
			memcpy(section, line + 1, (size_t)(close - line - 1));
			section[close - line - 1] = '\0';
			if (!section_known(t, section)) {
				g_string_append_printf(err, "%s: unknown section [%s]\n", origin, section);
				rc = EINVAL;
			}
			continue;
		}
		char *eq = strchr(line, '=');
		if (!eq) {
			g_string_append_printf(err, "%s: expected 'key = value', got '%s'\n", origin, line);
			rc = EINVAL;
			continue;
		}
		*eq = '\0';
		char *key = g_strstrip(line), *value;
		if (!section[0]) {
			g_string_append_printf(err, "%s: key '%s' is outside any [section]\n", origin, key);
			rc = EINVAL;
			continue;
		}
		if (unquote(eq + 1, &value)) {
			g_string_append_printf(err, "%s: %s.%s: unterminated or malformed quoted value\n",
					       origin, section, key);
			rc = EINVAL;
			continue;
		}
		if (config_set(t, cfg, section, key, value, origin, err))
			rc = EINVAL;
	}
	g_strfreev(lines);
	g_free(text);
	return rc;
}

int config_apply_env(const struct opt_table *t, void *cfg, char *const *envp, GString *err)
{
	int rc = 0;
	for (size_t i = 0; envp && envp[i]; i++) {
		if (strncmp(envp[i], "GORGEE_", 7) != 0)
			continue;
		const char *eq = strchr(envp[i], '=');
		if (!eq)
			continue;
		char *name = g_ascii_strdown(envp[i] + 7, eq - envp[i] - 7);
		bool matched = false, section_matched = false;
		for (size_t k = 0; k < t->n && !matched; k++) {
			const struct opt_def *d = &t->defs[k];
			size_t sl = strlen(d->section);
			if (strncmp(name, d->section, sl) != 0 || name[sl] != '_')
				continue;
			section_matched = true;
			if (strcmp(name + sl + 1, d->key) == 0) {
				matched = true;
				char origin[160];
				snprintf(origin, sizeof(origin), "environment %.*s",
					 (int)(eq - envp[i]), envp[i]);
				if (store(d, cfg, eq + 1, origin, err))
					rc = EINVAL;
			}
		}
		/* GORGEE_<known section>_<unknown key> is a typo; other GORGEE_* are not ours. */
		if (!matched && section_matched) {
			g_string_append_printf(err, "environment %.*s: no such option\n",
					       (int)(eq - envp[i]), envp[i]);
			rc = EINVAL;
		}
		g_free(name);
	}
	return rc;
}

static void print_value(const struct opt_def *d, const void *cfg, bool as_defaults, GString *out)
{
	switch (d->type) {
	case OPT_BOOL: g_string_append(out, *CFIELD(cfg, d, bool) ? "true" : "false"); break;
	case OPT_INT: g_string_append_printf(out, "%" G_GINT64_FORMAT, *CFIELD(cfg, d, int64_t)); break;
	case OPT_ENUM: g_string_append(out, d->choices[*CFIELD(cfg, d, int)]); break;
	case OPT_SECRET:
		g_string_append_printf(out, "\"%s\"",
				       as_defaults ? "" : secret_print(*CFIELD(cfg, d, struct secret *)));
		break;
	case OPT_STRING: {
		const char *s = *CFIELD(cfg, d, char *);
		g_string_append_c(out, '"');
		for (; s && *s; s++) {
			if (*s == '"' || *s == '\\')
				g_string_append_c(out, '\\');
			g_string_append_c(out, *s);
		}
		g_string_append_c(out, '"');
		break;
	}
	}
}

void config_print(const struct opt_table *t, const void *cfg, bool as_defaults, GString *out)
{
	const char *section = NULL;
	for (size_t i = 0; i < t->n; i++) {
		const struct opt_def *d = &t->defs[i];
		if (!section || strcmp(section, d->section) != 0) {
			g_string_append_printf(out, "%s[%s]\n", section ? "\n" : "", d->section);
			section = d->section;
		}
		g_string_append_printf(out, "# %s (", d->help);
		describe(d, out);
		if (d->unit)
			g_string_append_printf(out, ", %s", d->unit);
		g_string_append_printf(out, "%s)\n", d->reloadable ? "; reloadable" : "");
		g_string_append_printf(out, "%s = ", d->key);
		print_value(d, cfg, as_defaults, out);
		g_string_append_c(out, '\n');
	}
}

void config_print_doc(const struct opt_table *t, GString *out)
{
	const char *section = NULL;
	for (size_t i = 0; i < t->n; i++) {
		const struct opt_def *d = &t->defs[i];
		if (!section || strcmp(section, d->section) != 0) {
			g_string_append_printf(out, "\n## [%s]\n\n", d->section);
			g_string_append(out, "| key | type | default | reload | description |\n"
					     "|---|---|---|---|---|\n");
			section = d->section;
		}
		GString *type = g_string_new(NULL);
		describe(d, type);
		if (d->unit)
			g_string_append_printf(type, " (%s)", d->unit);
		g_string_append_printf(out, "| `%s` | %s | `%s` | %s | %s. Environment: `GORGEE_",
				       d->key, type->str, d->def[0] ? d->def : "\"\"",
				       d->reloadable ? "SIGHUP" : "restart", d->help);
		for (const char *p = d->section; *p; p++)
			g_string_append_c(out, g_ascii_toupper(*p));
		g_string_append_c(out, '_');
		for (const char *p = d->key; *p; p++)
			g_string_append_c(out, g_ascii_toupper(*p));
		g_string_append(out, "` |\n");
		g_string_free(type, TRUE);
	}
}

static bool same_value(const struct opt_def *d, const void *a, const void *b)
{
	switch (d->type) {
	case OPT_BOOL: return *CFIELD(a, d, bool) == *CFIELD(b, d, bool);
	case OPT_INT: return *CFIELD(a, d, int64_t) == *CFIELD(b, d, int64_t);
	case OPT_ENUM: return *CFIELD(a, d, int) == *CFIELD(b, d, int);
	case OPT_STRING: return g_strcmp0(*CFIELD(a, d, char *), *CFIELD(b, d, char *)) == 0;
	case OPT_SECRET:
		return secret_equal(*CFIELD(a, d, struct secret *), *CFIELD(b, d, struct secret *));
	}
	return false;
}

void config_reload(const struct opt_table *t, void *dst, const void *src, GString *restart_needed)
{
	for (size_t i = 0; i < t->n; i++) {
		const struct opt_def *d = &t->defs[i];
		if (same_value(d, dst, src))
			continue;
		if (!d->reloadable) {
			g_string_append_printf(restart_needed, "%s%s.%s",
					       restart_needed->len ? ", " : "", d->section, d->key);
			continue;
		}
		switch (d->type) {
		case OPT_BOOL: *FIELD(dst, d, bool) = *CFIELD(src, d, bool); break;
		case OPT_INT: *FIELD(dst, d, int64_t) = *CFIELD(src, d, int64_t); break;
		case OPT_ENUM: *FIELD(dst, d, int) = *CFIELD(src, d, int); break;
		case OPT_STRING:
			g_free(*FIELD(dst, d, char *));
			*FIELD(dst, d, char *) = g_strdup(*CFIELD(src, d, char *));
			break;
		case OPT_SECRET: {
			size_t n;
			const char *v = secret_reveal(*CFIELD(src, d, struct secret *), &n);
			secret_free(*FIELD(dst, d, struct secret *));
			*FIELD(dst, d, struct secret *) = secret_new(v, n);
			break;
		}
		}
	}
}

void config_clear(const struct opt_table *t, void *cfg)
{
	for (size_t i = 0; i < t->n; i++) {
		const struct opt_def *d = &t->defs[i];
		if (d->type == OPT_STRING) {
			g_free(*FIELD(cfg, d, char *));
			*FIELD(cfg, d, char *) = NULL;
		} else if (d->type == OPT_SECRET) {
			secret_free(*FIELD(cfg, d, struct secret *));
			*FIELD(cfg, d, struct secret *) = NULL;
		}
	}
}
