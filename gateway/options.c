/* The daemon's option table: the one place where each option, its default and range live. */
#include <errno.h>
#include <stddef.h>

#include "gateway.h"

#define OFF(f) offsetof(struct gw_config, f)

static const char *const log_levels[] = {"error", "warn", "notice", "info", "debug", NULL};
static const char *const log_formats[] = {"text", "json", NULL};

static const struct opt_def defs[] = {
	{"general", "log_level", OPT_ENUM, OFF(general.log_level), "notice", 0, 0, log_levels,
	 true, NULL, "Least severe level logged"},
	{"general", "log_format", OPT_ENUM, OFF(general.log_format), "text", 0, 0, log_formats,
	 true, NULL, "Log line format on stderr: plain text or one JSON object per line"},
	{"general", "data_dir", OPT_STRING, OFF(general.data_dir), "data", 0, 0, NULL, false, NULL,
	 "Directory for persistent state (SQLite location store); created if missing"},
	{"general", "drain_timeout", OPT_INT, OFF(general.drain_timeout), "30", 0, 3600, NULL, true,
	 "s", "On SIGTERM/SIGINT, how long calls in progress may go on before gorgee exits"},
	{"http", "listen", OPT_STRING, OFF(http.listen), "0.0.0.0", 0, 0, NULL, false, NULL,
	 "Address of the HTTP/WebSocket listener (IPv4 or IPv6 literal; 0.0.0.0 = every address)"},
	{"http", "port", OPT_INT, OFF(http.port), "8080", 1, 65535, NULL, false, NULL,
	 "TCP port for WebSocket signaling, the web demo, /healthz and /metrics"},
	{"http", "web_root", OPT_STRING, OFF(http.web_root), "", 0, 0, NULL, false, NULL,
	 "Directory served at / (empty = the web-demo folder next to the build or installed copy)"},
	{"http", "serve_demo", OPT_BOOL, OFF(http.serve_demo), "true", 0, 0, NULL, false, NULL,
	 "Serve the web demo at / (false leaves only /healthz, /metrics and WebSocket)"},
};

const struct opt_table gw_options = {defs, sizeof(defs) / sizeof(defs[0]), sizeof(struct gw_config)};

int gw_config_build(struct gw_config *cfg, const char *path, char *const *envp,
		    const char *const *sets, GString *err)
{
	int rc = config_defaults(&gw_options, cfg);
	if (path && config_load_file(&gw_options, cfg, path, err))
		rc = EINVAL;
	if (config_apply_env(&gw_options, cfg, envp, err))
		rc = EINVAL;
	for (size_t i = 0; sets && sets[i]; i++)
		if (config_set_arg(&gw_options, cfg, sets[i], "--set", err))
			rc = EINVAL;
	return rc;
}
