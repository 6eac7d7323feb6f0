/* gorgee daemon entry: command line, configuration, the signaling loop, signals and drain. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <malloc.h>
#include <openssl/crypto.h>
#include <getopt.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "b2bua.h"
#include "gateway.h"
#include "relay.h"
#include "sip.h"
#include "ws.h"
#include "gorgee-build.h"

extern char **environ;

struct busy_source {
	gw_busy_fn *fn;
	void *arg;
};

struct gw {
	GMainLoop *loop;
	struct gw_config cfg;
	const char *config_path;
	const char *const *sets;
	enum gw_state state;
	gint64 started_us;
	gint64 drain_deadline_us;
	struct gw_http *http;
	struct ws_server *ws;
	struct sip_ua *ua;
	struct sip_store *store;
	struct sip_auth_server *auth;
	struct sip_registrar *registrar;
	struct sip_stack *stack;
	struct sip_transport *sip;
	struct b2b *b2b;
	struct sip_resolver *resolver;
	struct sip_guard *guard;
	struct relay *relay;
	char media_addr[64]; /* the relay's address as SDP gives it */
	GArray *busy; /* struct busy_source */
	guint drain_poll;
	struct metric *reloads;
};

static const char *const log_module = "gateway";
static const char *const state_names[] = {"starting", "running", "draining", "stopping"};

const char *gw_state_name(enum gw_state s)
{
	return (unsigned)s < G_N_ELEMENTS(state_names) ? state_names[s] : "?";
}

void gw_dump_calls(const struct gw *gw, GString *out)
{
	if (gw->b2b)
		b2b_dump_calls(gw->b2b, out);
	g_string_append_printf(out, "%u calls\n", gw->b2b ? b2b_call_count(gw->b2b) : 0);
}

enum gw_state gw_get_state(const struct gw *gw)
{
	return gw->state;
}

double gw_uptime(const struct gw *gw)
{
	return (double)(g_get_monotonic_time() - gw->started_us) / 1e6;
}

static void set_state(struct gw *gw, enum gw_state s)
{
	LOGI(log_module, NULL, "state %s -> %s", gw_state_name(gw->state), gw_state_name(s));
	gw->state = s;
}

static unsigned busy_count(struct gw *gw)
{
	unsigned n = 0;
	for (guint i = 0; i < gw->busy->len; i++) {
		struct busy_source *b = &g_array_index(gw->busy, struct busy_source, i);
		n += b->fn(b->arg);
	}
	return n;
}

static void stop_now(struct gw *gw)
{
	set_state(gw, GW_STOPPING);
	if (gw->drain_poll) {
		g_source_remove(gw->drain_poll);
		gw->drain_poll = 0;
	}
	b2b_free(gw->b2b); /* before the stack it sends through */
	gw->b2b = NULL;
	sip_resolver_free(gw->resolver);
	gw->resolver = NULL;
	sip_transport_free(gw->sip); /* stop taking SIP work */
	gw->sip = NULL;
	sip_stack_free(gw->stack);
	gw->stack = NULL;
	if (gw->auth)
		sip_auth_server_set_observer(gw->auth, NULL, NULL);
	sip_guard_free(gw->guard);
	gw->guard = NULL;
	gw_http_stop(gw->http); /* from a GLib callback, never inside an lws one */
	gw->http = NULL;
	ws_server_free(gw->ws); /* after lws: its close callbacks still use the server */
	gw->ws = NULL;
	g_main_loop_quit(gw->loop);
}

static gboolean drain_check(gpointer data)
{
	struct gw *gw = data;
	unsigned busy = busy_count(gw);
	if (busy == 0 || g_get_monotonic_time() >= gw->drain_deadline_us) {
		if (busy)
			LOGW(log_module, NULL, "drain time over with %u still in progress", busy);
		else
			LOGN(log_module, NULL, "drained, exiting");
		gw->drain_poll = 0;
		stop_now(gw);
		return G_SOURCE_REMOVE;
	}
	return G_SOURCE_CONTINUE;
}

/* SIGTERM/SIGINT: stop taking new work, let calls finish within drain_timeout, exit 0.
 * A second signal stops at once. */
static gboolean on_terminate(gpointer data)
{
	struct gw *gw = data;
	if (gw->state == GW_DRAINING) {
		LOGN(log_module, NULL, "second stop signal: stopping now");
		stop_now(gw);
		return G_SOURCE_CONTINUE;
	}
	if (gw->state != GW_RUNNING)
		return G_SOURCE_CONTINUE;
	set_state(gw, GW_DRAINING);
	ws_server_drain(gw->ws);
	if (gw->b2b)
		b2b_stop(gw->b2b);
	gw->drain_deadline_us =
		g_get_monotonic_time() + gw->cfg.general.drain_timeout * G_USEC_PER_SEC;
	LOGN(log_module, NULL, "draining: %u in progress, up to %" G_GINT64_FORMAT " s",
	     busy_count(gw), gw->cfg.general.drain_timeout);
	if (drain_check(gw) == G_SOURCE_CONTINUE)
		gw->drain_poll = g_timeout_add(100, drain_check, gw);
	return G_SOURCE_CONTINUE;
}

static void apply_logging(const struct gw_config *cfg)
{
	log_setup((enum log_level)cfg->general.log_level,
		  cfg->general.log_format == GW_LOG_JSON ? LOG_FORMAT_JSON : LOG_FORMAT_TEXT);
}

/* SIGHUP: re-read file, environment and --set; apply what is reloadable. */
static gboolean on_reload(gpointer data)
{
	struct gw *gw = data;
	struct gw_config fresh;
	GString *err = g_string_new(NULL);
	sip_store_sync_users(gw->store); /* the user store too, whatever the file says */
	if (gw_config_build(&fresh, gw->config_path, environ, gw->sets, err)) {
		LOGE(log_module, NULL, "reload rejected, configuration kept: %s", err->str);
	} else {
		GString *restart = g_string_new(NULL);
		config_reload(&gw_options, &gw->cfg, &fresh, restart);
		apply_logging(&gw->cfg);
		metric_add(gw->reloads, 1);
		if (restart->len)
			LOGW(log_module, NULL, "reloaded; these changes need a restart: %s",
			     restart->str);
		else
			LOGN(log_module, NULL, "configuration reloaded");
		g_string_free(restart, TRUE);
	}
	config_clear(&gw_options, &fresh);
	g_string_free(err, TRUE);
	return G_SOURCE_CONTINUE;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: gorgee [OPTION]...\n"
		"SIP-to-WebSocket gateway with a B2BUA core.\n\n"
		"  -c, --config FILE          read FILE (INI: [section] key = value); also GORGEE_CONFIG\n"
		"  -s, --set SECTION.KEY=VAL  set one option (repeatable; wins over file and env)\n"
		"      --print-default-config print the default configuration and exit\n"
		"      --check-config         validate the configuration and exit (0 ok, 2 bad)\n"
		"      --add-user USER        add or update a SIP/WebSocket user of the registrar's\n"
		"                             realm; the password is read from standard input\n"
		"  -V, --version              print the version and exit\n"
		"  -h, --help                 print this help and exit\n\n"
		"Every option may also come from the environment as GORGEE_<SECTION>_<KEY>.\n"
		"Precedence: defaults < file < environment < --set. Options: docs/configuration.md\n"
		"Signals: SIGTERM/SIGINT drain and exit 0; SIGHUP reloads reloadable options.\n");
}

enum { OPT_PRINT_DEFAULT = 256, OPT_CHECK, OPT_PRINT_DOC, OPT_ADD_USER };

struct cmdline {
	const char *config;
	const char *add_user;
	GPtrArray *sets;
	int action; /* 0 = run */
};

static int parse_cmdline(int argc, char **argv, struct cmdline *cl)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"set", required_argument, NULL, 's'},
		{"print-default-config", no_argument, NULL, OPT_PRINT_DEFAULT},
		{"check-config", no_argument, NULL, OPT_CHECK},
		{"print-config-doc", no_argument, NULL, OPT_PRINT_DOC},
		{"add-user", required_argument, NULL, OPT_ADD_USER},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	cl->config = getenv("GORGEE_CONFIG");
	while ((c = getopt_long(argc, argv, "c:s:Vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': cl->config = optarg; break;
		case 's': g_ptr_array_add(cl->sets, optarg); break;
		case OPT_ADD_USER: cl->add_user = optarg; cl->action = c; break;
		case 'V':
		case 'h':
		case OPT_PRINT_DEFAULT:
		case OPT_CHECK:
		case OPT_PRINT_DOC: cl->action = c; break;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "gorgee: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	g_ptr_array_add(cl->sets, NULL);
	return 0;
}

/* Handles the actions that print and exit. Returns -1 to go on and run. */
static int run_action(const struct cmdline *cl, struct gw_config *cfg)
{
	GString *out = g_string_new(NULL);
	int rc = -1;
	switch (cl->action) {
	case 'V': printf("gorgee %s\n", GORGEE_VERSION); rc = 0; break;
	case 'h': usage(stdout); rc = 0; break;
	case OPT_PRINT_DEFAULT:
		config_defaults(&gw_options, cfg);
		g_string_append_printf(out, "# gorgee %s default configuration\n\n", GORGEE_VERSION);
		config_print(&gw_options, cfg, true, out);
		fputs(out->str, stdout);
		rc = 0;
		break;
	case OPT_PRINT_DOC:
		g_string_append(out, "# gorgee configuration reference\n\n"
				     "Generated by `gorgee --print-config-doc` from the option table in "
				     "`gateway/options.c`; a test keeps this file in step.\n\n"
				     "Options come from defaults, then the file given with `--config` "
				     "(INI: `[section]`, `key = value`, `#` comments, values may be "
				     "\"quoted\"), then `GORGEE_<SECTION>_<KEY>` environment variables, "
				     "then `--set section.key=value`. Options marked SIGHUP are applied "
				     "on reload; the others need a restart. An invalid file is reported "
				     "with its file, line and key, and gorgee exits with status 2.\n");
		config_print_doc(&gw_options, out);
		fputs(out->str, stdout);
		rc = 0;
		break;
	}
	g_string_free(out, TRUE);
	return rc;
}

static struct ws_server *ws_start(const struct gw_config *cfg)
{
	const struct gw_config *c = cfg;
	struct ws_limits lim = {
		.max_message = (size_t)c->ws.max_message,
		.queue_messages = (size_t)c->ws.queue_messages,
		.max_conns_per_ip = (unsigned)c->ws.max_conns_per_ip,
		.first_message_secs = (unsigned)c->ws.first_message_timeout,
		.ping_secs = (unsigned)c->ws.ping_interval,
		.rate_per_sec = (unsigned)c->ws.rate,
		.rate_burst = (unsigned)c->ws.rate_burst,
		.resume_grace_secs = (unsigned)c->ws.resume_grace,
	};
	struct ws_auth_config auth = {
		.jwt_key = c->ws.token_secret,
		.audience = c->ws.token_audience,
		.issuer = c->ws.token_issuer,
		.max_lifetime_secs = (unsigned)c->ws.token_max_lifetime,
		.skew_secs = 60,
	};
	char **origins = g_strsplit_set(c->ws.origins, ", ", -1);
	struct ws_server *srv = ws_server_new(&lim, &auth, (const char *const *)origins);
	g_strfreev(origins);
	return srv;
}

static int store_open(const struct gw_config *c, struct sip_store **out)
{
	struct sip_store_config sc = {
		.kind = c->store.backend == 1 ? SIP_STORE_REDIS : SIP_STORE_SQLITE,
		.data_dir = c->general.data_dir,
		.redis_host = c->store.redis_host,
		.redis_port = (uint16_t)c->store.redis_port,
		.redis_timeout_ms = (unsigned)c->store.redis_timeout,
		.batch_ms = (unsigned)c->store.batch_ms,
	};
	int rc = sip_store_open(&sc, out);
	if (rc)
		LOGE(log_module, NULL, "cannot open the %s store: %s",
		     c->store.backend == 1 ? "redis" : "sqlite", g_strerror(rc));
	return rc;
}

static const char *realm_of(const struct gw_config *c)
{
	return c->registrar.domain[0] ? c->registrar.domain : "gorgee";
}

static unsigned registrar_busy(void *arg)
{
	return sip_registrar_pending(arg);
}

static int registrar_start(struct gw *gw)
{
	const struct gw_config *c = &gw->cfg;
	if (store_open(c, &gw->store))
		return 1;
	/* users added by gorgee --add-user while running (SQLite: another process's commit) */
	sip_store_set_user_sync(gw->store, (unsigned)c->store.user_sync);
	if (!c->registrar.enabled)
		return 0;
	size_t klen = 0;
	secret_reveal(c->registrar.nonce_secret, &klen);
	struct sip_auth_server_config ac = {
		.realm = realm_of(c),
		.nonce_secret = klen ? c->registrar.nonce_secret : NULL,
		.nonce_lifetime = (unsigned)c->registrar.nonce_lifetime,
		.max_nonces = (unsigned)c->registrar.max_nonces,
	};
	static const struct {
		enum sip_digest_alg algs[2];
		unsigned n;
	} orders[] = {{{SIP_DIGEST_SHA256, SIP_DIGEST_MD5}, 2}, {{SIP_DIGEST_MD5, SIP_DIGEST_SHA256}, 2},
		      {{SIP_DIGEST_SHA256}, 1}, {{SIP_DIGEST_MD5}, 1}};
	ac.algs[0] = orders[c->registrar.digest_algorithms].algs[0];
	ac.algs[1] = orders[c->registrar.digest_algorithms].algs[1];
	ac.nalgs = orders[c->registrar.digest_algorithms].n;
	if (c->registrar.auth && sip_auth_server_new(&ac, &gw->auth) != 0) {
		LOGE(log_module, NULL, "cannot set up digest authentication (realm %s)", ac.realm);
		return 1;
	}
	struct sip_registrar_config rc = {
		.domain = c->registrar.domain,
		.auth = c->registrar.auth,
		.min_expires = (unsigned)c->registrar.min_expires,
		.max_expires = (unsigned)c->registrar.max_expires,
		.default_expires = (unsigned)c->registrar.default_expires,
	};
	gw->registrar = sip_registrar_new(&rc, gw->store, gw->auth);
	/* drain waits for REGISTERs whose bindings are being committed */
	struct busy_source b = {registrar_busy, gw->registrar};
	g_array_append_val(gw->busy, b);
	return 0;
}

/* --add-user USER: the password comes from stdin (one line); only HA1 values are stored. */
static int add_user(const struct gw_config *c, const char *user)
{
	char line[512];
	if (!fgets(line, sizeof(line), stdin)) {
		fprintf(stderr, "gorgee: --add-user reads the password from standard input\n");
		return 2;
	}
	line[strcspn(line, "\r\n")] = '\0';
	struct secret *pw = secret_new(line, strlen(line));
	memset(line, 0, sizeof(line));
	char md5[SIP_DIGEST_HEX_MAX], sha[SIP_DIGEST_HEX_MAX];
	struct sip_store *store = NULL;
	int rc = 1;
	if (sip_auth_ha1(SIP_DIGEST_MD5, user, realm_of(c), pw, md5) == 0 &&
	    sip_auth_ha1(SIP_DIGEST_SHA256, user, realm_of(c), pw, sha) == 0 &&
	    g_mkdir_with_parents(c->general.data_dir, 0750) == 0 && store_open(c, &store) == 0) {
		struct sip_user u = {.username = (char *)user, .realm = (char *)realm_of(c),
				     .ha1_md5 = secret_new(md5, strlen(md5)),
				     .ha1_sha256 = secret_new(sha, strlen(sha)), .enabled = true};
		rc = sip_store_user_put(store, &u, NULL, NULL) ? 1 : 0;
		secret_free(u.ha1_md5);
		secret_free(u.ha1_sha256);
		sip_store_close(store); /* flushes the write */
		printf(rc ? "failed to store user %s\n" : "user %s added in realm %s\n", user,
		       realm_of(c));
	}
	memset(md5, 0, sizeof(md5));
	memset(sha, 0, sizeof(sha));
	secret_free(pw);
	return rc;
}

/*
 * WebSocket username/password login against the registrar's user store: the SHA-256 HA1 of
 * what was typed, compared in constant time with the stored one. Unknown users go through
 * the same hashing and comparison against a dummy value (SEC-06).
 */
static bool ws_password_ok(const char *user, const struct secret *password, void *arg)
{
	struct gw *gw = arg;
	const char *realm = realm_of(&gw->cfg);
	char typed[SIP_DIGEST_HEX_MAX];
	static const char dummy[] = "0000000000000000000000000000000000000000000000000000000000000000";
	struct sip_user *u = NULL;
	if (sip_auth_ha1(SIP_DIGEST_SHA256, user, realm, password, typed) != 0)
		return false;
	bool known = sip_store_user_get(gw->store, user, realm, &u) == 0 && u && u->enabled &&
		     u->ha1_sha256;
	size_t n = 0;
	const char *stored = known ? secret_reveal(u->ha1_sha256, &n) : dummy;
	if (!known)
		n = sizeof(dummy) - 1;
	bool ok = n == strlen(typed) && CRYPTO_memcmp(stored, typed, n) == 0 && known;
	OPENSSL_cleanse(typed, sizeof(typed));
	sip_user_free(u);
	return ok;
}

static unsigned b2b_busy_fn(void *arg)
{
	return b2b_busy(arg);
}

static bool accept_ok(const char *ip, void *guard)
{
	return !sip_guard_banned(guard, ip);
}

static void auth_seen(enum sip_auth_result r, const char *ip, const char *user, void *guard)
{
	sip_guard_auth_result(guard, ip, user, r);
}

/* SEC-07: the guard in front of the stack, fed by digest outcomes; calls.trusted networks
 * are exempt like sip.pike_exempt. */
static int guard_start(struct gw *gw)
{
	const struct gw_config *c = &gw->cfg;
	char *exempt = g_strdup_printf("%s,%s", c->sip.pike_exempt, c->calls.trusted);
	struct sip_guard_config gc = {.requests = (unsigned)c->sip.pike_requests,
				      .window_secs = (unsigned)c->sip.pike_window,
				      .auth_failures = (unsigned)c->sip.auth_failures,
				      .ban_secs = (unsigned)c->sip.ban_time,
				      .exempt = exempt};
	int rc = sip_guard_new(&gc, &gw->guard);
	g_free(exempt);
	if (rc)
		return rc;
	sip_stack_set_guard(gw->stack, gw->guard, (unsigned)c->sip.max_server_transactions);
	sip_transport_set_accept_filter(gw->sip, accept_ok, gw->guard);
	if (gw->auth)
		sip_auth_server_set_observer(gw->auth, auth_seen, gw->guard);
	return 0;
}

static int sip_start(struct gw *gw)
{
	const struct gw_config *c = &gw->cfg;
	char **listen = g_strsplit(c->sip.listen, ",", 16);
	struct sip_transport_config tc = {
		.listen = (const char *const *)listen,
		.udp_port = (uint16_t)c->sip.udp_port,
		.tcp_port = (uint16_t)c->sip.tcp_port,
		.tls_port = (uint16_t)c->sip.tls_port,
		.tls_cert = c->sip.tls_cert,
		.tls_key = c->sip.tls_key,
		.max_udp = (size_t)c->sip.max_udp,
		.max_conns_per_ip = (unsigned)c->sip.max_conns_per_ip,
		.header_timeout_secs = (unsigned)c->sip.header_timeout,
		.idle_timeout_secs = (unsigned)c->sip.idle_timeout,
		.max_pending = (size_t)c->sip.max_pending,
		.trace_file = c->sip.trace_file,
		.tls_ca_file = c->sip.tls_ca_file,
		.tls_ca_dir = c->sip.tls_ca_dir,
		.tls_verify = c->sip.tls_verify,
		.tls_verify_client = c->sip.tls_verify_client,
		.connect_timeout_secs = (unsigned)c->sip.connect_timeout,
	};
	/* sent-by of requests gorgee sends: the first listen address that is not a wildcard */
	const char *host = "127.0.0.1";
	for (size_t i = 0; listen[i]; i++) {
		char *a = g_strstrip(listen[i]);
		if (*a && strcmp(a, "0.0.0.0") && strcmp(a, "::")) {
			host = a;
			break;
		}
	}
	char *via = g_strdup_printf(strchr(host, ':') ? "[%s]:%u" : "%s:%u", host,
				    (unsigned)(c->sip.udp_port ? c->sip.udp_port : c->sip.tcp_port));
	struct sip_stack_config sc = {.t1_ms = (unsigned)c->sip.t1, .t2_ms = (unsigned)c->sip.t2,
				      .t4_ms = (unsigned)c->sip.t4, .via_host = via};
	gw->stack = sip_stack_new(&sc, sip_ua_on_request, gw->ua);
	int rc = sip_transport_new(&tc, sip_stack_recv, gw->stack, &gw->sip);
	sip_stack_set_transport(gw->stack, gw->sip);
	if (rc == 0)
		rc = guard_start(gw);
	struct sip_resolver_config rc_dns = {.servers = c->sip.dns_servers};
	if (rc == 0 && (rc = sip_resolver_new(&rc_dns, &gw->resolver)) != 0)
		LOGE(log_module, NULL, "cannot start the DNS resolver (sip.dns_servers)");
	struct b2b_config bc = {.stack = gw->stack, .ws = gw->ws, .resolver = gw->resolver,
				.contact_host = via,
				.user_agent = "gorgee/" GORGEE_VERSION,
				.ua = c->calls.enabled ? gw->ua : NULL,
				.admins = c->calls.admins,
				.relay = gw->relay,
				.media_addr = gw->media_addr,
				.store = gw->store,
				.auth = gw->auth,
				.domain = c->registrar.domain,
				.realm = realm_of(c),
				.trunk = c->calls.trunk,
				.trusted = c->calls.trusted,
				.dialplan = c->calls.dialplan,
				.max_calls = (unsigned)c->calls.max_calls,
				.sdes = c->calls.srtp == 1,
				.dtls = c->calls.srtp == 2,
				.follow_redirects = c->calls.follow_redirects,
				.session_expires = c->calls.session_expires >= 90 ? (unsigned)c->calls.session_expires : 0,
				.redirect = c->calls.redirect,
				.rtp_timeout = (unsigned)c->media.rtp_timeout,
				.ev_max_per_user = (unsigned)c->events.max_per_user,
				.ev_max_per_source = (unsigned)c->events.max_per_source,
				.ev_min_expires = (unsigned)c->events.min_expires,
				.ev_max_expires = (unsigned)c->events.max_expires};
	gw->b2b = b2b_new(&bc);
	if (!gw->b2b)
		rc = rc ? rc : EINVAL;
	if (gw->b2b) {
		struct busy_source busy = {b2b_busy_fn, gw->b2b};
		g_array_append_val(gw->busy, busy);
	}
	g_free(via);
	g_strfreev(listen);
	return rc;
}

/* The relay's local address: the bind address, or for a wildcard bind the host's first
 * non-loopback IPv4 address (127.0.0.1 when there is none). */
static void media_local_address(const struct gw_config *c, char *out, size_t cap)
{
	const char *a = c->media.address;
	g_strlcpy(out, "127.0.0.1", cap);
	if (strcmp(a, "0.0.0.0") != 0 && strcmp(a, "::") != 0) {
		g_strlcpy(out, a, cap);
		return;
	}
	struct ifaddrs *ifs = NULL;
	if (getifaddrs(&ifs) != 0)
		return;
	for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
			continue;
		const struct sockaddr_in *sin = (const void *)i->ifa_addr;
		if ((ntohl(sin->sin_addr.s_addr) >> 24) == 127)
			continue;
		inet_ntop(AF_INET, &sin->sin_addr, out, (socklen_t)cap);
		break;
	}
	freeifaddrs(ifs);
}

static int media_start(struct gw *gw)
{
	const struct gw_config *c = &gw->cfg;
	if (c->media.port_min >= c->media.port_max) {
		LOGE(log_module, NULL, "media.port_min must be below media.port_max");
		return 1;
	}
	size_t turn_keyed = 0;
	secret_reveal(c->media.turn_secret, &turn_keyed);
	if (c->media.ice_relay_only && !*c->media.turn_server) {
		LOGE(log_module, NULL, "media.ice_relay_only needs media.turn_server");
		return 1;
	}
	if (*c->media.turn_server && !*c->media.turn_username == !turn_keyed) {
		LOGE(log_module, NULL,
		     "media.turn_server needs either turn_username (with turn_password) or "
		     "turn_secret");
		return 1;
	}
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	struct relay_config rc = {
		.workers = c->media.workers ? (unsigned)c->media.workers
					    : (unsigned)CLAMP(cores, 1, 64),
		.bind_addr = c->media.address,
		.port_min = (uint16_t)c->media.port_min,
		.port_max = (uint16_t)c->media.port_max,
	};
	/* libnice gathers on explicit addresses only (it skips loopback otherwise) */
	char local[64];
	media_local_address(c, local, sizeof(local));
	const char *ice[2] = {local, NULL};
	char **listed = g_strsplit(c->media.ice_addresses, ",", -1);
	guint n_listed = 0;
	for (char **a = listed; *a; a++) {
		g_strstrip(*a);
		if (**a)
			listed[n_listed++] = *a;
		else
			g_free(*a);
	}
	listed[n_listed] = NULL;
	rc.ice_addresses = n_listed ? (const char *const *)listed : ice;
	g_strlcpy(gw->media_addr, *c->media.public_address ? c->media.public_address : local,
		  sizeof(gw->media_addr));
	rc.public_addr = *c->media.public_address ? c->media.public_address : NULL;
	rc.stun_server = *c->media.stun_server ? c->media.stun_server : NULL;
	if (*c->media.turn_server) {
		size_t klen = 0, plen = 0;
		const char *key = secret_reveal(c->media.turn_secret, &klen);
		const char *pass = secret_reveal(c->media.turn_password, &plen);
		rc.turn_server = c->media.turn_server;
		rc.turn_transport = (enum relay_turn_transport)c->media.turn_transport;
		rc.turn_username = *c->media.turn_username ? c->media.turn_username : NULL;
		rc.turn_password = plen ? pass : NULL;
		rc.turn_secret = klen ? (const uint8_t *)key : NULL;
		rc.turn_secret_len = klen;
		rc.turn_ttl_secs = (unsigned)c->media.turn_ttl;
	}
	rc.ice_relay_only = c->media.ice_relay_only;
	rc.ice_tcp = c->media.ice_tcp;
	rc.cert_file = *c->media.dtls_cert ? c->media.dtls_cert : NULL;
	rc.key_file = *c->media.dtls_key ? c->media.dtls_key : NULL;
	int err = relay_new(&rc, &gw->relay);
	g_strfreev(listed);
	if (err) {
		LOGE(log_module, NULL,
		     "cannot start the media relay on %s: %s (check media.ice_addresses, "
		     "media.stun_server and media.turn_server: numeric addresses)",
		     c->media.address, g_strerror(err));
		return 1;
	}
	LOGN(log_module, NULL, "media relay: %u workers, ports %u-%u on %s, SDP address %s",
	     rc.workers, rc.port_min, rc.port_max, rc.bind_addr, gw->media_addr);
	return 0;
}

static int run(struct gw *gw)
{
	int rc = 0;
	GError *err = NULL;
	if (g_mkdir_with_parents(gw->cfg.general.data_dir, 0750) != 0) {
		LOGE(log_module, NULL, "cannot create data_dir %s: %s", gw->cfg.general.data_dir,
		     g_strerror(errno));
		return 1;
	}
	(void)err;
	metrics_register_process();
	gw->reloads = metrics_series(metrics_family("gorgee_config_reloads_total",
						    "Configuration reloads applied (SIGHUP).",
						    METRIC_COUNTER), "");
	gw->loop = g_main_loop_new(NULL, FALSE);
	gw->ws = ws_start(&gw->cfg);
	if (registrar_start(gw)) {
		rc = 1;
		goto out;
	}
	ws_server_set_password_check(gw->ws, ws_password_ok, gw);
	gw->ua = sip_ua_new("gorgee/" GORGEE_VERSION, gw->registrar);
	if (media_start(gw) || sip_start(gw) || gw_http_start(gw, &gw->cfg, gw->loop, gw->ws, &gw->http)) {
		rc = 1;
		goto out;
	}
	guint sig[3] = {
		g_unix_signal_add(SIGTERM, on_terminate, gw),
		g_unix_signal_add(SIGINT, on_terminate, gw),
		g_unix_signal_add(SIGHUP, on_reload, gw),
	};
	set_state(gw, GW_RUNNING);
#ifdef GORGEE_JEMALLOC
	const char *allocator = "jemalloc";
#else
	const char *allocator = "glibc malloc";
#endif
	LOGN(log_module, NULL, "gorgee %s running (pid %d, %s)", GORGEE_VERSION, (int)getpid(),
	     allocator);
	g_main_loop_run(gw->loop);
	for (size_t i = 0; i < G_N_ELEMENTS(sig); i++)
		g_source_remove(sig[i]);
	LOGN(log_module, NULL, "stopped");
out:
	b2b_free(gw->b2b);
	relay_free(gw->relay);
	sip_resolver_free(gw->resolver);
	sip_transport_free(gw->sip);
	sip_stack_free(gw->stack);
	sip_guard_free(gw->guard);
	sip_ua_free(gw->ua);
	sip_registrar_free(gw->registrar);
	sip_auth_server_free(gw->auth);
	sip_store_close(gw->store);
	gw_http_stop(gw->http);
	ws_server_free(gw->ws);
	g_main_loop_unref(gw->loop);
	return rc;
}

int main(int argc, char **argv)
{
	struct cmdline cl = {.sets = g_ptr_array_new()};
	struct gw gw = {.state = GW_STARTING, .started_us = g_get_monotonic_time()};
	int rc = parse_cmdline(argc, argv, &cl);
	if (rc)
		goto out;
	if ((rc = run_action(&cl, &gw.cfg)) >= 0)
		goto out;

	GString *err = g_string_new(NULL);
	gw.config_path = cl.config;
	gw.sets = (const char *const *)cl.sets->pdata;
	if (gw_config_build(&gw.cfg, cl.config, environ, gw.sets, err)) {
		fprintf(stderr, "gorgee: invalid configuration:\n%s", err->str);
		g_string_free(err, TRUE);
		rc = 2;
		goto out;
	}
	g_string_free(err, TRUE);
	if (cl.action == OPT_ADD_USER) {
		apply_logging(&gw.cfg);
		rc = add_user(&gw.cfg, cl.add_user);
		goto out;
	}
	if (cl.action == OPT_CHECK) {
		printf("configuration OK%s%s\n", cl.config ? ": " : " (defaults)",
		       cl.config ? cl.config : "");
		rc = 0;
		goto out;
	}
	apply_logging(&gw.cfg);
	/* SEC-13: keys live in this process's memory; keep them out of core files. */
	struct rlimit nocore = {0, 0};
	setrlimit(RLIMIT_CORE, &nocore);
	/* Four media sockets a SIP-to-SIP call, plus connections: the soft descriptor limit
	 * (often 1,024) goes up to the hard one, as servers do. */
	struct rlimit files;
	if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
		files.rlim_cur = files.rlim_max;
		setrlimit(RLIMIT_NOFILE, &files);
	}
#ifndef GORGEE_JEMALLOC
	/* glibc malloc (builds without jemalloc): a call parses and builds SDP sessions of
	 * ~300 KB (fixed arrays, no allocation per line): keep such blocks in the heap and the
	 * heap from shrinking after each call, or brk/munmap and the page faults after them
	 * dominate a call's CPU (measured: 1.3 ms -> see bench/README.md). */
	mallopt(M_MMAP_THRESHOLD, 4 << 20);
	mallopt(M_TRIM_THRESHOLD, 32 << 20);
#endif
	gw.busy = g_array_new(FALSE, FALSE, sizeof(struct busy_source));
	rc = run(&gw);
	g_array_free(gw.busy, TRUE);
out:
	config_clear(&gw_options, &gw.cfg);
	metrics_reset();
	g_ptr_array_free(cl.sets, TRUE);
	return rc;
}
