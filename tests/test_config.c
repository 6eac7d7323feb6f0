/* Unit tests: the option table machinery with the daemon's real table, and logging. */
#include <stdio.h>
#include <unistd.h>

#include "core.h"
#include "gateway.h"
#include "tap.h"

static char *write_temp(const char *text)
{
	char *path = g_strdup("/tmp/gorgee-test-conf-XXXXXX");
	int fd = g_mkstemp(path);
	if (fd < 0)
		return path;
	ssize_t w = write(fd, text, strlen(text));
	(void)w;
	close(fd);
	return path;
}

/* Builds from a file body (or none), an env list and --set list; returns rc, fills err. */
static int build(struct gw_config *cfg, const char *file, char **env, const char **sets,
		 GString *err, char **path_out)
{
	char *path = file ? write_temp(file) : NULL;
	int rc = gw_config_build(cfg, path, env, sets, err);
	if (path_out)
		*path_out = path;
	else if (path) {
		unlink(path);
		g_free(path);
	}
	return rc;
}

static void t_defaults(void)
{
	struct gw_config cfg;
	TAP_CHECK_INT(config_defaults(&gw_options, &cfg), 0);
	TAP_CHECK_INT(cfg.http.port, 8080);
	TAP_CHECK_STR(cfg.http.listen, "0.0.0.0");
	TAP_CHECK_INT(cfg.general.log_level, LOG_NOTICE);
	TAP_CHECK_INT(cfg.general.drain_timeout, 30);
	TAP_CHECK(cfg.http.serve_demo);
	config_clear(&gw_options, &cfg);
}

static void t_file_good(void)
{
	struct gw_config cfg;
	GString *err = g_string_new(NULL);
	int rc = build(&cfg,
		       "# comment\n; also a comment\n\n[general]\nlog_level = DEBUG\n"
		       "data_dir = \"/var/lib/gor gee # not a comment\"\n"
		       "[http]\n  port=9000   # trailing comment\nserve_demo = off\n"
		       "web_root = \"a \\\"quoted\\\" dir\"\n",
		       NULL, NULL, err, NULL);
	TAP_CHECK_INT(rc, 0);
	TAP_CHECK_STR(err->str, "");
	TAP_CHECK_INT(cfg.general.log_level, LOG_DEBUG);
	TAP_CHECK_STR(cfg.general.data_dir, "/var/lib/gor gee # not a comment");
	TAP_CHECK_INT(cfg.http.port, 9000);
	TAP_CHECK(!cfg.http.serve_demo);
	TAP_CHECK_STR(cfg.http.web_root, "a \"quoted\" dir");
	config_clear(&gw_options, &cfg);
	g_string_free(err, TRUE);
}

/* Each bad file must name its file, line and key. */
static void t_file_bad(void)
{
	static const struct {
		const char *text;
		int line;
		const char *needle;
	} cases[] = {
		{"[http]\nport = 99999\n", 2, "http.port: '99999' is not valid"},
		{"[http]\nport = 80x\n", 2, "http.port"},
		{"[general]\n\nlog_level = loud\n", 3, "general.log_level"},
		{"[http]\nlisten = 1.2.3.4\nprot = 1\n", 3, "unknown key 'prot' in section [http]"},
		{"[htp]\nport = 1\n", 1, "unknown section [htp]"},
		{"port = 1\n", 1, "key 'port' is outside any [section]"},
		{"[http]\nthis line has no equals sign\n", 2, "expected 'key = value'"},
		{"[http]\nweb_root = \"open\n", 2, "http.web_root: unterminated"},
		{"[http\n", 1, "bad section header"},
		{"[http]\nserve_demo = maybe\n", 2, "http.serve_demo"},
	};
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct gw_config cfg;
		GString *err = g_string_new(NULL);
		char *path = NULL;
		int rc = build(&cfg, cases[i].text, NULL, NULL, err, &path);
		char *where = g_strdup_printf("%s:%d:", path, cases[i].line);
		TAP_CHECK(rc != 0);
		if (!strstr(err->str, where) || !strstr(err->str, cases[i].needle)) {
			printf("#   case %zu: error '%s' lacks '%s' / '%s'\n", i, err->str, where,
			       cases[i].needle);
			tap_fails++;
		}
		unlink(path);
		g_free(path);
		g_free(where);
		config_clear(&gw_options, &cfg);
		g_string_free(err, TRUE);
	}
}

static void t_missing_file(void)
{
	struct gw_config cfg;
	GString *err = g_string_new(NULL);
	TAP_CHECK(gw_config_build(&cfg, "/nonexistent/gorgee.conf", NULL, NULL, err) != 0);
	TAP_CHECK(strstr(err->str, "/nonexistent/gorgee.conf: cannot read") != NULL);
	config_clear(&gw_options, &cfg);
	g_string_free(err, TRUE);
}

static void t_env_override(void)
{
	struct gw_config cfg;
	GString *err = g_string_new(NULL);
	char *env[] = {"PATH=/bin", "GORGEE_HTTP_PORT=9090", "GORGEE_GENERAL_LOG_FORMAT=json",
		       "GORGEE_CONFIG=/x", "GORGEE_SOMETHING_ELSE=1", NULL};
	TAP_CHECK_INT(build(&cfg, "[http]\nport = 7000\n", env, NULL, err, NULL), 0);
	TAP_CHECK_INT(cfg.http.port, 9090);
	TAP_CHECK_INT(cfg.general.log_format, GW_LOG_JSON);
	config_clear(&gw_options, &cfg);

	char *bad[] = {"GORGEE_HTTP_PROT=1", "GORGEE_HTTP_PORT=0", NULL};
	g_string_truncate(err, 0);
	TAP_CHECK(build(&cfg, NULL, bad, NULL, err, NULL) != 0);
	TAP_CHECK(strstr(err->str, "environment GORGEE_HTTP_PROT: no such option") != NULL);
	TAP_CHECK(strstr(err->str, "environment GORGEE_HTTP_PORT: http.port: '0'") != NULL);
	config_clear(&gw_options, &cfg);
	g_string_free(err, TRUE);
}

static void t_set_args(void)
{
	struct gw_config cfg;
	GString *err = g_string_new(NULL);
	char *env[] = {"GORGEE_HTTP_PORT=2000", NULL};
	const char *sets[] = {"http.port=3000", "general.drain_timeout=5", NULL};
	/* Precedence: defaults < file < environment < --set. */
	TAP_CHECK_INT(build(&cfg, "[http]\nport = 1000\n", env, sets, err, NULL), 0);
	TAP_CHECK_INT(cfg.http.port, 3000);
	TAP_CHECK_INT(cfg.general.drain_timeout, 5);
	config_clear(&gw_options, &cfg);

	const char *bad[] = {"nodot=1", "http.port", ".port=1", "http.=1", "http.port=abc",
			     "nosuch.nothing=1", NULL};
	g_string_truncate(err, 0);
	TAP_CHECK(build(&cfg, NULL, NULL, bad, err, NULL) != 0);
	TAP_CHECK(strstr(err->str, "--set: 'nodot=1' is not section.key=value") != NULL);
	TAP_CHECK(strstr(err->str, "--set: 'http.port' is not section.key=value") != NULL);
	TAP_CHECK(strstr(err->str, "--set: http.port: 'abc' is not valid") != NULL);
	TAP_CHECK(strstr(err->str, "--set: unknown section [nosuch]") != NULL);
	config_clear(&gw_options, &cfg);
	g_string_free(err, TRUE);
}

/* --print-default-config output is itself a valid file giving the defaults back. */
static void t_print_roundtrip(void)
{
	struct gw_config def, back;
	GString *out = g_string_new(NULL), *err = g_string_new(NULL), *diff = g_string_new(NULL);
	config_defaults(&gw_options, &def);
	config_print(&gw_options, &def, true, out);
	TAP_CHECK_INT(build(&back, out->str, NULL, NULL, err, NULL), 0);
	TAP_CHECK_STR(err->str, "");
	config_reload(&gw_options, &back, &def, diff);
	TAP_CHECK_STR(diff->str, "");
	config_clear(&gw_options, &def);
	config_clear(&gw_options, &back);
	g_string_free(out, TRUE);
	g_string_free(err, TRUE);
	g_string_free(diff, TRUE);
}

static void t_reload(void)
{
	struct gw_config live, fresh;
	GString *restart = g_string_new(NULL), *err = g_string_new(NULL);
	const char *sets[] = {"general.log_level=debug", "http.port=9999",
			      "general.drain_timeout=1", NULL};
	config_defaults(&gw_options, &live);
	TAP_CHECK_INT(gw_config_build(&fresh, NULL, NULL, sets, err), 0);
	config_reload(&gw_options, &live, &fresh, restart);
	TAP_CHECK_INT(live.general.log_level, LOG_DEBUG);
	TAP_CHECK_INT(live.general.drain_timeout, 1);
	TAP_CHECK_INT(live.http.port, 8080); /* not reloadable */
	TAP_CHECK_STR(restart->str, "http.port");
	config_clear(&gw_options, &live);
	config_clear(&gw_options, &fresh);
	g_string_free(restart, TRUE);
	g_string_free(err, TRUE);
}

/* A table with a secret, as the SIP and WS layers will have. */
struct sec_cfg {
	struct secret *token_key;
};
static const struct opt_def sec_defs[] = {
	{"auth", "token_key", OPT_SECRET, 0, "", 0, 0, NULL, false, NULL, "HMAC key for tokens"},
};
static const struct opt_table sec_table = {sec_defs, 1, sizeof(struct sec_cfg)};

static void t_secret_never_printed(void)
{
	struct sec_cfg cfg;
	GString *out = g_string_new(NULL), *err = g_string_new(NULL);
	config_defaults(&sec_table, &cfg);
	TAP_CHECK_INT(config_set_arg(&sec_table, &cfg, "auth.token_key=hunter2-very-secret", "--set",
				     err), 0);
	size_t n;
	TAP_CHECK_STR(secret_reveal(cfg.token_key, &n), "hunter2-very-secret");
	TAP_CHECK_INT(n, 19);
	config_print(&sec_table, &cfg, false, out);
	TAP_CHECK(strstr(out->str, "hunter2") == NULL);
	TAP_CHECK(strstr(out->str, "[redacted]") != NULL);
	g_string_truncate(out, 0);
	config_print(&sec_table, &cfg, true, out);
	TAP_CHECK(strstr(out->str, "hunter2") == NULL);
	TAP_CHECK_STR(secret_print(cfg.token_key), "[redacted]");
	config_clear(&sec_table, &cfg);
	g_string_free(out, TRUE);
	g_string_free(err, TRUE);
}

static void t_doc_lists_every_option(void)
{
	GString *doc = g_string_new(NULL);
	config_print_doc(&gw_options, doc);
	for (size_t i = 0; i < gw_options.n; i++) {
		char *row = g_strdup_printf("| `%s` |", gw_options.defs[i].key);
		char *sect = g_strdup_printf("## [%s]", gw_options.defs[i].section);
		TAP_CHECK(strstr(doc->str, row) && strstr(doc->str, sect));
		g_free(row);
		g_free(sect);
	}
	TAP_CHECK(strstr(doc->str, "`GORGEE_HTTP_PORT`") != NULL);
	g_string_free(doc, TRUE);
}

/* ---- logging ---- */

static GString *captured;

static void capture(enum log_level level, const char *line, size_t len, void *arg)
{
	g_string_append_len(captured, line, (gssize)len);
	g_string_append_c(captured, '\n');
}

static void t_log_text_and_levels(void)
{
	captured = g_string_new(NULL);
	log_set_sink(capture, NULL);
	log_setup(LOG_INFO, LOG_FORMAT_TEXT);
	struct log_ctx ctx = {.call_id = "abc@host", .leg = "sip", .peer = "10.0.0.1:5060"};
	LOGI("sip", &ctx, "INVITE from %s", "alice\r\nInjected: line");
	LOGD("sip", &ctx, "not shown");
	TAP_CHECK(strstr(captured->str, "info   [sip] INVITE from alice\\x0d\\x0aInjected: line "
					"call_id=abc@host leg=sip peer=10.0.0.1:5060\n") != NULL);
	TAP_CHECK(strstr(captured->str, "not shown") == NULL);
	/* one line per message, even with CR/LF in the arguments */
	TAP_CHECK_INT(strchr(captured->str, '\n') - captured->str + 1, (long long)captured->len);
	log_set_sink(NULL, NULL);
	log_setup(LOG_NOTICE, LOG_FORMAT_TEXT);
	g_string_free(captured, TRUE);
}

static void t_log_json(void)
{
	captured = g_string_new(NULL);
	log_set_sink(capture, NULL);
	log_setup(LOG_DEBUG, LOG_FORMAT_JSON);
	struct log_ctx ctx = {.call_id = "c\"1", .peer = "[::1]:5060"};
	LOGW("ws", &ctx, "bad \\ frame\t%d", 7);
	TAP_CHECK(g_str_has_prefix(captured->str, "{\"ts\":\""));
	TAP_CHECK(strstr(captured->str, "\"level\":\"warn\",\"module\":\"ws\",\"msg\":"
					"\"bad \\\\ frame\\t7\",\"call_id\":\"c\\\"1\","
					"\"peer\":\"[::1]:5060\"}\n") != NULL);
	log_set_sink(NULL, NULL);
	log_setup(LOG_NOTICE, LOG_FORMAT_TEXT);
	g_string_free(captured, TRUE);
}

static void t_log_level_parse(void)
{
	enum log_level l;
	TAP_CHECK_INT(log_level_parse("Warn", &l), 0);
	TAP_CHECK_INT(l, LOG_WARN);
	TAP_CHECK(log_level_parse("verbose", &l) != 0);
	TAP_CHECK_STR(log_level_name(LOG_DEBUG), "debug");
}

static void t_metrics_render(void)
{
	struct metric_family *f = metrics_family("test_things_total", "Things.", METRIC_COUNTER);
	metric_add(metrics_series(f, "kind=\"a\""), 2);
	metric_add(metrics_series(f, "kind=\"a\""), 3);
	metric_set(metrics_series(metrics_family("test_level", "Level.", METRIC_GAUGE), ""), -4);
	GString *s = metrics_render();
	TAP_CHECK(strstr(s->str, "# HELP test_things_total Things.\n# TYPE test_things_total "
				 "counter\ntest_things_total{kind=\"a\"} 5\n") != NULL);
	TAP_CHECK(strstr(s->str, "# TYPE test_level gauge\ntest_level -4\n") != NULL);
	g_string_free(s, TRUE);
	metrics_reset();
}

static const struct tap_case cases[] = {
	{"config defaults", t_defaults, 0},
	{"config file good", t_file_good, 0},
	{"config file bad names file:line and key", t_file_bad, 0},
	{"config missing file", t_missing_file, 0},
	{"config environment override", t_env_override, 0},
	{"config --set and precedence", t_set_args, 0},
	{"config printed defaults parse back", t_print_roundtrip, 0},
	{"config reload applies only reloadable", t_reload, 0},
	{"config secret never printed", t_secret_never_printed, 0},
	{"config doc lists every option", t_doc_lists_every_option, 0},
	{"log text, context, levels, no line injection", t_log_text_and_levels, 0},
	{"log json lines", t_log_json, 0},
	{"log level names", t_log_level_parse, 0},
	{"metrics render prometheus text", t_metrics_render, 0},
};

TAP_MAIN(cases)
