/* HTTP on the WebSocket port (libwebsockets on ws_loop): web demo, /healthz, /metrics. */
#include <errno.h>
#include <gio/gio.h>
#include <libwebsockets.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <string.h>

#include "gateway.h"
#include "ws.h"
#include "gorgee-build.h"

struct gw_http {
	struct gw *gw;
	struct lws_context *ctx;
	struct ws_loop *loop; /* what ctx runs on */
	char *web_root;
	struct lws_http_mount mounts[4];
	struct lws_protocols protocols[3];
	struct ws_server *ws;
	struct metric_family *requests;
};

/* Per-connection state: the response body waits here until the socket is writable. */
struct pss {
	char *body;
	size_t len;
};

static const char *const log_module = "http";

static void lws_log_emit(int level, const char *line)
{
	size_t n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	if (level & LLL_ERR)
		LOGE("lws", NULL, "%.*s", (int)n, line);
	else
		LOGW("lws", NULL, "%.*s", (int)n, line);
}

static void count(struct gw_http *h, const char *path, int status)
{
	char labels[192];
	snprintf(labels, sizeof(labels), "path=\"%s\",status=\"%d\"", path, status);
	metric_add(metrics_series(h->requests, labels), 1);
}

static char *healthz_body(struct gw *gw, int *status)
{
	enum gw_state st = gw_get_state(gw);
	*status = st == GW_RUNNING ? HTTP_STATUS_OK : HTTP_STATUS_SERVICE_UNAVAILABLE;
	return g_strdup_printf("{\"status\":\"%s\",\"version\":\"%s\",\"uptime_s\":%.1f}\n",
			       st == GW_RUNNING ? "ok" : gw_state_name(st), GORGEE_VERSION,
			       gw_uptime(gw));
}

static int begin_response(struct lws *wsi, struct pss *pss, int status, const char *type)
{
	uint8_t buf[LWS_PRE + 512], *start = &buf[LWS_PRE], *p = start, *end = &buf[sizeof(buf) - 1];
	if (lws_add_http_common_headers(wsi, (unsigned)status, type, pss->len, &p, end) ||
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
					 (const unsigned char *)"no-store", 8, &p, end) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
		return 1;
	lws_callback_on_writable(wsi);
	return 0;
}

static int on_http(struct lws *wsi, struct pss *pss)
{
	struct gw_http *h = lws_context_user(lws_get_context(wsi));
	char uri[128];
	int status = HTTP_STATUS_OK;
	const char *type = "text/plain";

	if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0) {
		lws_return_http_status(wsi, HTTP_STATUS_METHOD_NOT_ALLOWED, NULL);
		return -1;
	}
	if (strcmp(uri, "/healthz") == 0) {
		pss->body = healthz_body(h->gw, &status);
		type = "application/json";
	} else if (strcmp(uri, "/calls") == 0) {
		/* the admin dump of every call: loopback only (it names peers and users) */
		char ip[64] = "";
		lws_get_peer_simple(wsi, ip, sizeof(ip));
		if (strcmp(ip, "127.0.0.1") != 0 && strcmp(ip, "::1") != 0 &&
		    strcmp(ip, "::ffff:127.0.0.1") != 0) {
			count(h, "/calls", HTTP_STATUS_FORBIDDEN);
			lws_return_http_status(wsi, HTTP_STATUS_FORBIDDEN, NULL);
			return lws_http_transaction_completed(wsi) ? -1 : 0;
		}
		count(h, "/calls", status);
		GString *s = g_string_new(NULL);
		gw_dump_calls(h->gw, s);
		pss->body = g_string_free(s, FALSE);
	} else if (strcmp(uri, "/metrics") == 0) {
		count(h, "/metrics", status); /* counted before rendering, so it shows itself */
		GString *s = metrics_render();
		pss->body = g_string_free(s, FALSE);
		type = "text/plain; version=0.0.4; charset=utf-8";
	} else {
		count(h, "other", HTTP_STATUS_NOT_FOUND);
		lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL);
		return lws_http_transaction_completed(wsi) ? -1 : 0;
	}
	if (strcmp(uri, "/healthz") == 0)
		count(h, "/healthz", status);
	pss->len = strlen(pss->body);
	return begin_response(wsi, pss, status, type) ? -1 : 0;
}

/* The client must offer our subprotocol (Sec-WebSocket-Protocol: gorgee-v1[, ...]). */
static bool offers_subprotocol(struct lws *wsi)
{
	char list[4096]; /* room for a "bearer.<jwt>" entry (SEC-02) */
	if (lws_hdr_total_length(wsi, WSI_TOKEN_PROTOCOL) >= (int)sizeof(list) ||
	    lws_hdr_copy(wsi, list, sizeof(list), WSI_TOKEN_PROTOCOL) <= 0)
		return false;
	bool found = false;
	char **names = g_strsplit(list, ",", 16);
	for (size_t i = 0; names[i] && !found; i++)
		found = strcmp(g_strstrip(names[i]), WS_PROTOCOL_NAME) == 0;
	g_strfreev(names);
	return found;
}

static int cb_http(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		   size_t len)
{
	struct pss *pss = user;
	switch (reason) {
	case LWS_CALLBACK_HTTP:
		return on_http(wsi, pss);
	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (!pss || !pss->body)
			break;
		if (lws_write(wsi, (unsigned char *)pss->body, pss->len, LWS_WRITE_HTTP_FINAL) !=
		    (int)pss->len)
			return -1;
		g_free(pss->body);
		pss->body = NULL;
		return lws_http_transaction_completed(wsi) ? -1 : 0;
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: {
		struct gw_http *h = lws_context_user(lws_get_context(wsi));
		if (!h->ws || !offers_subprotocol(wsi)) {
			lws_return_http_status(wsi, HTTP_STATUS_BAD_REQUEST,
					       "WebSocket subprotocol must be " WS_PROTOCOL_NAME);
			return 1;
		}
		return ws_server_check_upgrade(h->ws, wsi);
	}
	case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
		ws_guard_watch((int)(intptr_t)in);
		break;
	case LWS_CALLBACK_CLOSED_HTTP:
		ws_guard_forget(lws_get_socket_fd(wsi));
		G_GNUC_FALLTHROUGH;
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		if (pss) {
			g_free(pss->body);
			pss->body = NULL;
		}
		break;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}


/* lws answers 415 for extensions it does not know (LIBRARY-NOTES.md). */
static const struct lws_protocol_vhost_options mime_wav = {NULL, NULL, ".wav", "audio/wav"};
static const struct lws_protocol_vhost_options mime_json = {&mime_wav, NULL, ".json", "application/json"};
static const struct lws_protocol_vhost_options mime_svg = {&mime_json, NULL, ".svg", "image/svg+xml"};
static const struct lws_protocol_vhost_options mime_mjs = {&mime_svg, NULL, ".mjs", "text/javascript"};
static const struct lws_protocol_vhost_options mime_md = {&mime_mjs, NULL, ".md", "text/markdown"};

/* The web demo: the configured folder, else next to the build tree or the installed copy. */
static char *find_web_root(const struct gw_config *cfg)
{
	if (cfg->http.web_root && cfg->http.web_root[0])
		return g_canonicalize_filename(cfg->http.web_root, NULL);
	char *exe = g_file_read_link("/proc/self/exe", NULL);
	char *dir = exe ? g_path_get_dirname(exe) : g_strdup(".");
	char *cands[] = {
		g_build_filename(dir, "..", "..", "web-demo", NULL),      /* build/gateway/gorgee */
		g_build_filename(dir, "..", "share", "gorgee", "web-demo", NULL), /* installed */
		g_build_filename(GORGEE_DATADIR, "web-demo", NULL),
	};
	char *found = NULL;
	for (size_t i = 0; i < G_N_ELEMENTS(cands); i++) {
		char *index = g_build_filename(cands[i], "index.html", NULL);
		if (!found && g_file_test(index, G_FILE_TEST_IS_REGULAR))
			found = g_canonicalize_filename(cands[i], NULL);
		g_free(index);
		g_free(cands[i]);
	}
	g_free(dir);
	g_free(exe);
	return found;
}

static void setup_mounts(struct gw_http *h, const struct gw_config *cfg)
{
	struct lws_http_mount *m = h->mounts;
	m[0] = (struct lws_http_mount){.mountpoint = "/healthz", .mountpoint_len = 8,
				       .origin = "http", .origin_protocol = LWSMPRO_CALLBACK};
	m[1] = (struct lws_http_mount){.mountpoint = "/metrics", .mountpoint_len = 8,
				       .origin = "http", .origin_protocol = LWSMPRO_CALLBACK};
	m[2] = (struct lws_http_mount){.mountpoint = "/calls", .mountpoint_len = 6,
				       .origin = "http", .origin_protocol = LWSMPRO_CALLBACK};
	m[0].mount_next = &m[1];
	m[1].mount_next = &m[2];
	if (cfg->http.serve_demo && h->web_root) {
		m[3] = (struct lws_http_mount){.mountpoint = "/", .mountpoint_len = 1,
					       .origin = h->web_root, .def = "index.html",
					       .origin_protocol = LWSMPRO_FILE,
					       .extra_mimetypes = &mime_md, .cache_revalidate = 1};
		m[2].mount_next = &m[3];
	}
}

/* Binds the address once ourselves: a clear OS error instead of lws's, and lws's failure
 * path (which leaks) is never taken. Returns 0 or the errno of bind(). */
static int probe_listen(const char *listen_addr, int port)
{
	GInetAddress *ia = g_inet_address_new_from_string(listen_addr);
	if (!ia)
		return EINVAL;
	GSocketAddress *sa = g_inet_socket_address_new(ia, (guint16)port);
	GSocket *sock = g_socket_new(g_inet_address_get_family(ia), G_SOCKET_TYPE_STREAM,
				     G_SOCKET_PROTOCOL_TCP, NULL);
	GError *err = NULL;
	int rc = 0;
	if (!sock || !g_socket_bind(sock, sa, TRUE, &err))
		rc = err && err->code == G_IO_ERROR_ADDRESS_IN_USE ? EADDRINUSE : EACCES;
	if (err)
		g_error_free(err);
	if (sock)
		g_object_unref(sock);
	g_object_unref(sa);
	g_object_unref(ia);
	return rc;
}

int gw_http_start(struct gw *gw, const struct gw_config *cfg, GMainLoop *loop,
		  struct ws_server *ws, struct gw_http **out)
{
	struct gw_http *h = g_new0(struct gw_http, 1);
	struct lws_context_creation_info info;

	int rc = probe_listen(cfg->http.listen, (int)cfg->http.port);
	if (rc) {
		LOGE(log_module, NULL, "cannot start HTTP/WebSocket listener on %s port %d: %s",
		     cfg->http.listen, (int)cfg->http.port,
		     rc == EINVAL ? "not an IP address" : g_strerror(rc));
		g_free(h);
		return rc;
	}
	h->gw = gw;
	h->ws = ws;
	h->protocols[0] = (struct lws_protocols){"http", cb_http, sizeof(struct pss), 0, 0, NULL, 0};
	if (ws)
		h->protocols[1] = ws_server_protocol(ws);
	h->requests = metrics_family("gorgee_http_requests_total",
				     "HTTP requests answered by gorgee, by path and status.",
				     METRIC_COUNTER);
	h->web_root = cfg->http.serve_demo ? find_web_root(cfg) : NULL;
	if (cfg->http.serve_demo && !h->web_root)
		LOGW(log_module, NULL, "web demo folder not found; set http.web_root");
	setup_mounts(h, cfg);

	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);
	memset(&info, 0, sizeof(info));
	/* BI-45: invalid UTF-8 in a text frame closes with 1007 */
	info.options = LWS_SERVER_OPTION_VALIDATE_UTF8;
	h->loop = ws_loop_new(g_main_loop_get_context(loop));
	if (!h->loop) {
		g_free(h->web_root);
		g_free(h);
		return ENOMEM;
	}
	ws_loop_setup_lws(h->loop, &info);
	info.port = (int)cfg->http.port;
	if (strcmp(cfg->http.listen, "0.0.0.0") != 0 && strcmp(cfg->http.listen, "::") != 0)
		info.iface = cfg->http.listen;
	/* An IPv4 address (127.0.0.1, 0.0.0.0) on an IPv4 socket: libwebsockets 4.1 otherwise
	 * opens an IPv6 socket and binds it to [::] (the IPv4 iface lands in sin6_flowinfo),
	 * i.e. every address and both families, whatever http.listen says. */
	if (!strchr(cfg->http.listen, ':'))
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	/* No lws validity timers: ws/server.c runs the keep-alive. lws keeps its timers in one
	 * sorted list and re-inserts a connection's validity timer on every message it reads,
	 * a walk past every other connection's (22 % of gorgee's CPU at 10,000 sessions). */
	static const lws_retry_bo_t no_idle_policy = {.secs_since_valid_ping = 0,
						     .secs_since_valid_hangup = 0};
	info.retry_and_idle_policy = &no_idle_policy;
	info.protocols = h->protocols;
	info.timeout_secs = 5; /* handshake deadline (SEC-04) */
	info.mounts = h->mounts;
	info.user = h;
	info.server_string = "gorgee/" GORGEE_VERSION;
	info.max_http_header_data = 8192; /* SEC-04 */
	bool tls = cfg->http.tls_cert[0] || cfg->http.tls_key[0];
	if (tls) {
		if (!cfg->http.tls_cert[0] || !cfg->http.tls_key[0] ||
		    !g_file_test(cfg->http.tls_cert, G_FILE_TEST_IS_REGULAR) ||
		    !g_file_test(cfg->http.tls_key, G_FILE_TEST_IS_REGULAR)) {
			LOGE(log_module, NULL, "http.tls_cert and http.tls_key must both name readable files");
			ws_loop_free(h->loop);
			g_free(h->web_root);
			g_free(h);
			return EINVAL;
		}
		/* SEC-01: TLS 1.2 and newer, modern AEAD suites */
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.ssl_cert_filepath = cfg->http.tls_cert;
		info.ssl_private_key_filepath = cfg->http.tls_key;
		info.ssl_options_set = SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1 | SSL_OP_NO_SSLv3;
		info.ssl_cipher_list = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
				       "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
				       "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
	} else if (strcmp(cfg->http.listen, "127.0.0.1") != 0 && strcmp(cfg->http.listen, "::1") != 0) {
		LOGW(log_module, NULL, "plain HTTP/WS on %s: browsers need WSS outside loopback and "
				       "tokens travel in clear; set http.tls_cert and http.tls_key (SEC-01)",
		     cfg->http.listen);
	}

	h->ctx = lws_create_context(&info);
	if (!h->ctx) {
		LOGE(log_module, NULL, "cannot start HTTP/WebSocket listener on %s port %d",
		     cfg->http.listen, (int)cfg->http.port);
		ws_loop_free(h->loop);
		g_free(h->web_root);
		g_free(h);
		return EADDRINUSE;
	}
	LOGN(log_module, NULL, "listening on %s port %d (%s)%s%s", cfg->http.listen, (int)cfg->http.port,
	     tls ? "https, wss" : "http, ws",
	     h->web_root ? ", web demo from " : "", h->web_root ? h->web_root : "");
	*out = h;
	return 0;
}

void gw_http_stop(struct gw_http *h)
{
	if (!h)
		return;
	/* On a foreign libuv loop lws closes its handles through the loop and finishes only
	 * when destroyed again after that (lws 4.1; once leaves 330 KB behind). */
	lws_context_destroy(h->ctx);
	ws_loop_settle(h->loop);
	lws_context_destroy(h->ctx);
	ws_loop_free(h->loop);
	g_free(h->web_root);
	g_free(h);
}
