/* gateway: private header of the daemon (configuration, HTTP endpoints, lifecycle). */
#ifndef GORGEE_GATEWAY_H
#define GORGEE_GATEWAY_H

#include "core.h"

enum gw_log_format { GW_LOG_TEXT, GW_LOG_JSON };

/* Every option of the daemon. Filled from gw_options (options.c); see docs/configuration.md. */
struct gw_config {
	struct {
		int log_level; /* enum log_level */
		int log_format;
		char *data_dir;
		int64_t drain_timeout;
	} general;
	struct {
		char *listen;
		int64_t port;
		char *web_root;
		bool serve_demo;
		char *tls_cert;
		char *tls_key;
	} http;
	struct {
		char *listen;
		int64_t udp_port;
		int64_t tcp_port;
		int64_t tls_port;
		char *tls_cert;
		char *tls_key;
		int64_t max_udp;
		int64_t max_conns_per_ip;
		int64_t header_timeout;
		int64_t idle_timeout;
		int64_t max_pending;
		char *trace_file;
		char *dns_servers;
		int64_t t1, t2, t4;
		char *tls_ca_file, *tls_ca_dir;
		bool tls_verify, tls_verify_client;
		int64_t connect_timeout;
		int64_t pike_requests, pike_window, ban_time, auth_failures;
		char *pike_exempt;
		int64_t max_server_transactions;
	} sip;
	struct {
		bool enabled;
		char *domain;
		bool auth;
		int64_t min_expires, max_expires, default_expires;
		struct secret *nonce_secret;
		int64_t nonce_lifetime;
		int64_t max_nonces;
		int digest_algorithms;
	} registrar;
	struct {
		int backend;
		char *redis_host;
		int64_t redis_port;
		int64_t redis_timeout;
		int64_t batch_ms;
		int64_t user_sync;
	} store;
	struct {
		char *origins;
		int64_t max_message;
		int64_t max_conns_per_ip;
		int64_t first_message_timeout;
		int64_t ping_interval;
		int64_t queue_messages;
		int64_t rate;
		int64_t rate_burst;
		int64_t resume_grace;
		struct secret *token_secret;
		char *token_audience;
		char *token_issuer;
		int64_t token_max_lifetime;
	} ws;
	struct {
		int64_t workers;
		char *address;
		char *public_address;
		int64_t port_min, port_max;
		int64_t rtp_timeout;
		char *ice_addresses;
		bool ice_tcp;
		char *stun_server;
		char *turn_server;
		int turn_transport;
		char *turn_username;
		struct secret *turn_password, *turn_secret;
		int64_t turn_ttl;
		bool ice_relay_only;
		char *dtls_cert, *dtls_key;
	} media;
	struct {
		bool enabled;
		char *admins;
		char *trunk;
		char *trusted;
		char *dialplan;
		int64_t max_calls;
		int srtp;
		int64_t session_expires;
		bool follow_redirects;
		bool redirect;
	} calls;
	struct {
		int64_t max_per_user;
		int64_t max_per_source;
		int64_t min_expires;
		int64_t max_expires;
	} events;
};

extern const struct opt_table gw_options;

/* Builds a configuration: defaults, then the file (if any), the environment, then --set
 * arguments, in that order. Returns 0 or EINVAL with every problem appended to err. */
int gw_config_build(struct gw_config *cfg, const char *path, char *const *envp,
		    const char *const *sets, GString *err);

enum gw_state { GW_STARTING, GW_RUNNING, GW_DRAINING, GW_STOPPING };
const char *gw_state_name(enum gw_state s);

struct gw;
struct gw_http;
struct sip_stack;

/* Work still in progress (calls, transactions); drain waits until every source says 0. */
typedef unsigned gw_busy_fn(void *arg);

/* HTTP server on libwebsockets, on the GLib loop: web demo files, /healthz, /metrics. */
struct ws_server;
int gw_http_start(struct gw *gw, const struct gw_config *cfg, GMainLoop *loop,
		  struct ws_server *ws, struct gw_http **out);
void gw_http_stop(struct gw_http *h);

enum gw_state gw_get_state(const struct gw *gw);
double gw_uptime(const struct gw *gw);
/* Appends the admin dump of every call (GET /calls, loopback only). */
void gw_dump_calls(const struct gw *gw, GString *out);

#endif
