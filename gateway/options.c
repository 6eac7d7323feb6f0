/* The daemon's option table: the one place where each option, its default and range live. */
#include <errno.h>
#include <stddef.h>

#include "gateway.h"

#define OFF(f) offsetof(struct gw_config, f)

static const char *const log_levels[] = {"error", "warn", "notice", "info", "debug", NULL};
static const char *const log_formats[] = {"text", "json", NULL};
static const char *const store_backends[] = {"sqlite", "redis", NULL};
static const char *const srtp_modes[] = {"off", "sdes", NULL};
static const char *const turn_transports[] = {"udp", "tcp", "tls", NULL};
static const char *const digest_orders[] = {"sha-256,md5", "md5,sha-256", "sha-256", "md5", NULL};

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
	 "Address of the HTTP/WebSocket listener (IPv4 or IPv6 literal; 0.0.0.0 = every IPv4 "
	 "address, :: = every IPv4 and IPv6 address)"},
	{"http", "port", OPT_INT, OFF(http.port), "8080", 1, 65535, NULL, false, NULL,
	 "TCP port for WebSocket signaling, the web demo, /healthz and /metrics"},
	{"http", "web_root", OPT_STRING, OFF(http.web_root), "", 0, 0, NULL, false, NULL,
	 "Directory served at / (empty = the web-demo folder next to the build or installed copy)"},
	{"http", "serve_demo", OPT_BOOL, OFF(http.serve_demo), "true", 0, 0, NULL, false, NULL,
	 "Serve the web demo at / (false leaves only /healthz, /metrics and WebSocket)"},
	{"http", "tls_cert", OPT_STRING, OFF(http.tls_cert), "", 0, 0, NULL, false, NULL,
	 "PEM certificate (chain) file: when set with tls_key, the port serves HTTPS and WSS only "
	 "(TLS 1.2 or newer)"},
	{"http", "tls_key", OPT_STRING, OFF(http.tls_key), "", 0, 0, NULL, false, NULL,
	 "PEM private key file of tls_cert"},
	{"sip", "listen", OPT_STRING, OFF(sip.listen), "0.0.0.0, ::", 0, 0, NULL, false, NULL,
	 "SIP listen addresses, comma-separated IP literals (0.0.0.0 and :: are wildcards; :: is "
	 "skipped on hosts without IPv6)"},
	{"sip", "udp_port", OPT_INT, OFF(sip.udp_port), "5060", 0, 65535, NULL, false, NULL,
	 "SIP over UDP port (0 = off)"},
	{"sip", "tcp_port", OPT_INT, OFF(sip.tcp_port), "5060", 0, 65535, NULL, false, NULL,
	 "SIP over TCP port (0 = off)"},
	{"sip", "tls_port", OPT_INT, OFF(sip.tls_port), "0", 0, 65535, NULL, false, NULL,
	 "SIP over TLS port (0 = off; 5061 is usual); needs tls_cert and tls_key"},
	{"sip", "tls_cert", OPT_STRING, OFF(sip.tls_cert), "", 0, 0, NULL, false, NULL,
	 "PEM certificate chain for SIP over TLS"},
	{"sip", "tls_key", OPT_STRING, OFF(sip.tls_key), "", 0, 0, NULL, false, NULL,
	 "PEM private key for SIP over TLS"},
	{"sip", "tls_ca_file", OPT_STRING, OFF(sip.tls_ca_file), "", 0, 0, NULL, false, NULL,
	 "PEM file of CAs trusted for SIP TLS peers' certificates (empty: with tls_ca_dir also "
	 "empty, the system's CA store)"},
	{"sip", "tls_ca_dir", OPT_STRING, OFF(sip.tls_ca_dir), "", 0, 0, NULL, false, NULL,
	 "Directory of CA certificates (OpenSSL hashed names, c_rehash) trusted for SIP TLS peers"},
	{"sip", "tls_verify", OPT_BOOL, OFF(sip.tls_verify), "true", 0, 0, NULL, false, NULL,
	 "Outbound SIP TLS: the peer's certificate must chain to a trusted CA and name the SIP "
	 "domain (RFC 5922: subjectAltName URI sip:domain or DNS domain, no wildcards); a refused "
	 "certificate fails the request (503) with a log line saying why"},
	{"sip", "tls_verify_client", OPT_BOOL, OFF(sip.tls_verify_client), "false", 0, 0, NULL,
	 false, NULL, "SIP TLS listener: require a client certificate that chains to the trusted "
	 "CAs (mutual TLS)"},
	{"sip", "connect_timeout", OPT_INT, OFF(sip.connect_timeout), "5", 1, 60, NULL, false, "s",
	 "Outbound SIP TCP connect plus TLS handshake; past it the request fails over to the next "
	 "address (RFC 3263 §4.3)"},
	{"sip", "max_udp", OPT_INT, OFF(sip.max_udp), "16384", 1500, 65507, NULL, false, "bytes",
	 "Largest UDP datagram accepted; larger ones are dropped before parsing"},
	{"sip", "max_conns_per_ip", OPT_INT, OFF(sip.max_conns_per_ip), "32", 1, 100000, NULL,
	 false, NULL, "SIP TCP connections accepted from one IP address"},
	{"sip", "header_timeout", OPT_INT, OFF(sip.header_timeout), "10", 1, 600, NULL, false, "s",
	 "A SIP message begun on a TCP connection must complete within this (slowloris)"},
	{"sip", "idle_timeout", OPT_INT, OFF(sip.idle_timeout), "300", 5, 86400, NULL, false, "s",
	 "A SIP TCP connection without traffic (CRLF keep-alives count) is closed after this"},
	{"sip", "max_pending", OPT_INT, OFF(sip.max_pending), "262144", 65536, 67108864, NULL, false,
	 "bytes", "Outbound bytes queued per SIP TCP connection before it is closed"},
	{"sip", "trace_file", OPT_STRING, OFF(sip.trace_file), "", 0, 0, NULL, false, NULL,
	 "Append every SIP message in and out to this file, ngrep-style (sngrep -I reads it); "
	 "empty = off"},
	{"sip", "dns_servers", OPT_STRING, OFF(sip.dns_servers), "", 0, 0, NULL, false, NULL,
	 "DNS servers for RFC 3263 lookups, \"ip:port\" comma-separated; empty = /etc/resolv.conf"},
	{"sip", "t1", OPT_INT, OFF(sip.t1), "500", 10, 10000, NULL, false, "ms",
	 "RFC 3261 T1, the round-trip estimate behind Timers A, B, E, F, G, H, J"},
	{"sip", "t2", OPT_INT, OFF(sip.t2), "4000", 100, 60000, NULL, false, "ms",
	 "RFC 3261 T2, the longest retransmit interval of non-INVITE requests and responses"},
	{"sip", "t4", OPT_INT, OFF(sip.t4), "5000", 100, 60000, NULL, false, "ms",
	 "RFC 3261 T4, how long a message may stay in the network (Timers I, K)"},
	{"sip", "pike_requests", OPT_INT, OFF(sip.pike_requests), "30", 0, 1000000, NULL, false,
	 NULL, "SEC-07: requests one source address may send per pike_window without "
	 "authenticating (digest-authenticated ones do not count); past it the source is banned "
	 "(0 = no limit)"},
	{"sip", "pike_window", OPT_INT, OFF(sip.pike_window), "2", 1, 3600, NULL, false, "s",
	 "SEC-07: the window pike_requests is counted over"},
	{"sip", "auth_failures", OPT_INT, OFF(sip.auth_failures), "10", 0, 100000, NULL, false,
	 NULL, "SEC-07: digest failures for one user from one source address in 60 s before the "
	 "address is banned (0 = no limit)"},
	{"sip", "ban_time", OPT_INT, OFF(sip.ban_time), "300", 1, 86400, NULL, false, "s",
	 "SEC-07: how long a banned source's requests and connections are dropped unanswered"},
	{"sip", "pike_exempt", OPT_STRING, OFF(sip.pike_exempt), "127.0.0.0/8, ::1", 0, 0, NULL,
	 false, NULL, "SEC-07: addresses or CIDRs never limited nor banned (trusted trunks; "
	 "calls.trusted networks are exempt too)"},
	{"sip", "max_server_transactions", OPT_INT, OFF(sip.max_server_transactions), "20000", 0,
	 10000000, NULL, false, NULL, "SEC-07 under load: requests waiting for their final "
	 "response at most; beyond it new requests get a stateless 503 with Retry-After (0 = no "
	 "limit)"},
	{"registrar", "enabled", OPT_BOOL, OFF(registrar.enabled), "true", 0, 0, NULL, false, NULL,
	 "Act as registrar for the domain: REGISTER stores bindings in the location service"},
	{"registrar", "domain", OPT_STRING, OFF(registrar.domain), "", 0, 0, NULL, false, NULL,
	 "Domain served (Request-URI host of REGISTER) and digest realm; empty = any host, realm "
	 "\"gorgee\""},
	{"registrar", "auth", OPT_BOOL, OFF(registrar.auth), "true", 0, 0, NULL, false, NULL,
	 "Require digest authentication (SHA-256 and MD5 offered) for REGISTER"},
	{"registrar", "min_expires", OPT_INT, OFF(registrar.min_expires), "60", 1, 86400, NULL,
	 false, "s", "Shortest registration accepted; shorter ones get 423 Interval Too Brief"},
	{"registrar", "max_expires", OPT_INT, OFF(registrar.max_expires), "7200", 60, 604800, NULL,
	 false, "s", "Longest registration granted; longer requests are shortened"},
	{"registrar", "default_expires", OPT_INT, OFF(registrar.default_expires), "3600", 60,
	 604800, NULL, false, "s", "Registration time when the REGISTER names none"},
	{"registrar", "nonce_secret", OPT_SECRET, OFF(registrar.nonce_secret), "", 0, 0, NULL, false,
	 NULL, "HMAC key for digest nonces (16+ bytes); empty = random at start (nonces then do "
	 "not survive a restart or work across instances)"},
	{"registrar", "nonce_lifetime", OPT_INT, OFF(registrar.nonce_lifetime), "300", 30, 300,
	 NULL, false, "s", "Digest nonce lifetime; older nonces get stale=true"},
	{"registrar", "max_nonces", OPT_INT, OFF(registrar.max_nonces), "65536", 1024, 10000000, NULL,
	 false, NULL, "Digest nonces whose nc is tracked against replay (about 100 bytes each); past "
	 "it the oldest are forgotten, and a client still using one gets stale=true and retries "
	 "with a fresh nonce (size it to the REGISTER rate times the seconds nonces are reused)"},
	{"registrar", "digest_algorithms", OPT_ENUM, OFF(registrar.digest_algorithms), "sha-256,md5",
	 0, 0, digest_orders, false, NULL,
	 "Digest algorithms challenged with, preferred first (RFC 8760). Clients without SHA-256 "
	 "may fail on the offer: sipp 3.6 answers the first challenge (needs md5,sha-256), baresip "
	 "1.0 the last (needs md5)"},
	{"store", "backend", OPT_ENUM, OFF(store.backend), "sqlite", 0, 0, store_backends, false,
	 NULL, "Location and user store: sqlite (embedded, <data_dir>/gorgee.db) or redis (shared "
	 "by several instances)"},
	{"store", "redis_host", OPT_STRING, OFF(store.redis_host), "127.0.0.1", 0, 0, NULL, false,
	 NULL, "Redis server address (backend redis)"},
	{"store", "redis_port", OPT_INT, OFF(store.redis_port), "6379", 1, 65535, NULL, false, NULL,
	 "Redis server port (backend redis)"},
	{"store", "redis_timeout", OPT_INT, OFF(store.redis_timeout), "200", 10, 10000, NULL, false,
	 "ms", "Redis connect and command timeout"},
	{"store", "batch_ms", OPT_INT, OFF(store.batch_ms), "2", 0, 1000, NULL, false, "ms",
	 "SQLite: writes arriving within this time share one commit; REGISTER is answered after "
	 "its commit"},
	{"store", "user_sync", OPT_INT, OFF(store.user_sync), "2", 0, 3600, NULL, false, "s",
	 "SQLite: how often users added or changed by another process (gorgee --add-user) are "
	 "picked up (a cheap PRAGMA data_version check; SIGHUP checks at once; 0 = only on SIGHUP)"},
	{"ws", "origins", OPT_STRING, OFF(ws.origins), "", 0, 0, NULL, false, NULL,
	 "Browser origins allowed to open the WebSocket, comma-separated (\"*\" = any); the "
	 "page's own origin is always allowed; others get 403 at the upgrade"},
	{"ws", "max_message", OPT_INT, OFF(ws.max_message), "65536", 1024, 16777216, NULL, false,
	 "bytes", "Largest JSON message after reassembly; larger closes with 1009"},
	{"ws", "max_conns_per_ip", OPT_INT, OFF(ws.max_conns_per_ip), "20", 1, 100000, NULL, false,
	 NULL, "Open WebSocket connections allowed from one IP address"},
	{"ws", "first_message_timeout", OPT_INT, OFF(ws.first_message_timeout), "5", 1, 300, NULL,
	 false, "s", "Time a new connection has to log in before it is closed with 4401"},
	{"ws", "ping_interval", OPT_INT, OFF(ws.ping_interval), "30", 1, 3600, NULL, false, "s",
	 "Keep-alive ping after this much silence; a connection silent twice as long is closed"},
	{"ws", "queue_messages", OPT_INT, OFF(ws.queue_messages), "256", 8, 100000, NULL, false,
	 NULL, "Outbound messages queued per connection before a slow client is closed (4408)"},
	{"ws", "rate", OPT_INT, OFF(ws.rate), "10", 1, 100000, NULL, false, "requests/s",
	 "Sustained request rate per connection; beyond it requests get error 429"},
	{"ws", "rate_burst", OPT_INT, OFF(ws.rate_burst), "50", 1, 100000, NULL, false, NULL,
	 "Request burst allowed above the sustained rate"},
	{"ws", "resume_grace", OPT_INT, OFF(ws.resume_grace), "60", 0, 3600, NULL, false, "s",
	 "How long a session and its calls outlive a lost connection, waiting for a resume"},
	{"ws", "token_secret", OPT_SECRET, OFF(ws.token_secret), "", 0, 0, NULL, false, NULL,
	 "HMAC-SHA256 key for login tokens (JWT HS256); empty disables token login"},
	{"ws", "token_audience", OPT_STRING, OFF(ws.token_audience), "gorgee", 0, 0, NULL, false,
	 NULL, "Required \"aud\" claim of login tokens (empty = not checked)"},
	{"ws", "token_issuer", OPT_STRING, OFF(ws.token_issuer), "", 0, 0, NULL, false, NULL,
	 "Required \"iss\" claim of login tokens (empty = not checked)"},
	{"ws", "token_max_lifetime", OPT_INT, OFF(ws.token_max_lifetime), "900", 60, 86400, NULL,
	 false, "s", "Longest token lifetime accepted (exp - iat), per RFC 8725 advice"},
	{"media", "workers", OPT_INT, OFF(media.workers), "0", 0, 64, NULL, false, NULL,
	 "Media worker threads, each with its own loop (0 = one per CPU core)"},
	{"media", "address", OPT_STRING, OFF(media.address), "0.0.0.0", 0, 0, NULL, false, NULL,
	 "Local address the relay binds media ports on (IPv4 or IPv6 literal; 0.0.0.0 = every "
	 "IPv4 address)"},
	{"media", "public_address", OPT_STRING, OFF(media.public_address), "", 0, 0, NULL, false,
	 NULL, "Address written into SDP for the relay (1:1 NAT, containers); empty = media.address, "
	 "or when that is a wildcard the host's first non-loopback IPv4 address (127.0.0.1 if none)"},
	{"media", "port_min", OPT_INT, OFF(media.port_min), "20000", 1024, 65534, NULL, false, NULL,
	 "Lowest UDP port of the media relay (RTP on even ports, RTCP on the odd one above)"},
	{"media", "port_max", OPT_INT, OFF(media.port_max), "29999", 1025, 65535, NULL, false, NULL,
	 "Highest UDP port of the media relay"},
	{"media", "rtp_timeout", OPT_INT, OFF(media.rtp_timeout), "60", 0, 86400, NULL, false, "s",
	 "A call with no media in either direction for this long is ended (0 = never)"},
	{"media", "ice_addresses", OPT_STRING, OFF(media.ice_addresses), "", 0, 0, NULL, false,
	 NULL,
	 "Local addresses ICE host candidates are gathered on toward browsers, comma-separated IP "
	 "literals (IPv4 and IPv6; the interface allowlist: nothing else is offered); empty = the "
	 "media address (media.address, or the host's first non-loopback IPv4 address for a "
	 "wildcard)"},
	{"media", "ice_tcp", OPT_BOOL, OFF(media.ice_tcp), "false", 0, 0, NULL, false, NULL,
	 "ICE-TCP (RFC 6544) toward browsers: a passive TCP host candidate on each endpoint's media "
	 "port beside the UDP ones, for browsers whose UDP is blocked (TCP port range = "
	 "media.port_min..port_max)"},
	{"media", "stun_server", OPT_STRING, OFF(media.stun_server), "", 0, 0, NULL, false, NULL,
	 "STUN server (numeric ip:port) for server-reflexive ICE candidates toward browsers; empty "
	 "= host candidates only (enough with a public media address)"},
	{"media", "turn_server", OPT_STRING, OFF(media.turn_server), "", 0, 0, NULL, false, NULL,
	 "TURN server (numeric ip:port) for relayed ICE candidates toward browsers (RFC 8656); "
	 "empty = no TURN. Needs turn_username/turn_password or turn_secret"},
	{"media", "turn_transport", OPT_ENUM, OFF(media.turn_transport), "udp", 0, 0,
	 turn_transports, false, NULL,
	 "Transport to the TURN server (tls does not verify the server's certificate: libnice "
	 "does not)"},
	{"media", "turn_username", OPT_STRING, OFF(media.turn_username), "", 0, 0, NULL, false,
	 NULL, "TURN long-term credential username (at most 63 bytes)"},
	{"media", "turn_password", OPT_SECRET, OFF(media.turn_password), "", 0, 0, NULL, false,
	 NULL, "TURN long-term credential password (never logged)"},
	{"media", "turn_secret", OPT_SECRET, OFF(media.turn_secret), "", 0, 0, NULL, false, NULL,
	 "Key shared with the TURN server for time-limited credentials (coturn use-auth-secret): "
	 "each ICE endpoint uses username \"<expiry>:gorgee\" and password "
	 "base64(HMAC-SHA1(key, username)); instead of turn_username/turn_password"},
	{"media", "turn_ttl", OPT_INT, OFF(media.turn_ttl), "86400", 60, 31536000, NULL, false, "s",
	 "Lifetime of time-limited TURN credentials made from turn_secret"},
	{"media", "ice_relay_only", OPT_BOOL, OFF(media.ice_relay_only), "false", 0, 0, NULL,
	 false, NULL,
	 "Offer and use only TURN-relayed candidates toward browsers (needs turn_server): the "
	 "relay's own addresses are never sent"},
	{"media", "dtls_cert", OPT_STRING, OFF(media.dtls_cert), "", 0, 0, NULL, false, NULL,
	 "PEM certificate for DTLS-SRTP with browsers; empty = an ECDSA P-256 certificate made at "
	 "start"},
	{"media", "dtls_key", OPT_STRING, OFF(media.dtls_key), "", 0, 0, NULL, false, NULL,
	 "PEM private key of media.dtls_cert"},
	{"calls", "enabled", OPT_BOOL, OFF(calls.enabled), "true", 0, 0, NULL, false, NULL,
	 "Bridge calls (B2BUA); false answers INVITE with 405"},
	{"calls", "admins", OPT_STRING, OFF(calls.admins), "", 0, 0, NULL, false, NULL,
	 "Users (comma-separated) whose WebSocket sessions may use the admin requests (the "
	 "\"calls\" dump of every call); empty = nobody"},
	{"calls", "trunk", OPT_STRING, OFF(calls.trunk), "", 0, 0, NULL, false, NULL,
	 "SIP URI of the trunk/PBX that calls to destinations not registered here go to (e.g. "
	 "sip:pbx.example.com:5060); empty = such calls get 404"},
	{"calls", "trusted", OPT_STRING, OFF(calls.trusted), "", 0, 0, NULL, false, NULL,
	 "Networks (comma-separated addresses or CIDRs) whose SIP calls may reach the trunk without "
	 "digest authentication; every other caller must authenticate as a user of the realm (407)"},
	{"calls", "dialplan", OPT_STRING, OFF(calls.dialplan), "", 0, 0, NULL, false, NULL,
	 "Regular expression (PCRE, anchored) the Request-URI user must match to go to the trunk; "
	 "empty = any"},
	{"calls", "srtp", OPT_ENUM, OFF(calls.srtp), "off", 0, 0, srtp_modes, false, NULL,
	 "Media toward SIP peers that did not offer SRTP themselves: off (RTP/AVP) or sdes "
	 "(RTP/SAVP with a=crypto keys, RFC 4568); a peer's own SRTP offer is always kept"},
	{"calls", "session_expires", OPT_INT, OFF(calls.session_expires), "1800", 0, 86400, NULL,
	 false, "s", "Session timer (RFC 4028) asked of callees and granted to callers that support "
	 "it; a session nobody refreshes in time is hung up (0 = off; otherwise at least 90)"},
	{"calls", "follow_redirects", OPT_BOOL, OFF(calls.follow_redirects), "true", 0, 0, NULL,
	 false, NULL, "Follow a 3xx from a callee to its first Contact (at most 3 times per call); "
	 "false passes the 3xx to the caller"},
	{"calls", "redirect", OPT_BOOL, OFF(calls.redirect), "false", 0, 0, NULL, false, NULL,
	 "Redirect server: a SIP call to a registered SIP user gets 302 with the user's contacts "
	 "instead of being bridged (calls to WebSocket users and the trunk are still bridged)"},
	{"calls", "max_calls", OPT_INT, OFF(calls.max_calls), "10000", 0, 1000000, NULL, false, NULL,
	 "Calls in progress at most; more get 503 (0 = no limit)"},
	{"events", "max_per_user", OPT_INT, OFF(events.max_per_user), "50", 1, 100000, NULL, false,
	 NULL, "Subscriptions from SIP peers to one user's presence or dialog state, and PUBLISHed "
	 "states of one user, at most; more get 503 with Retry-After"},
	{"events", "max_per_source", OPT_INT, OFF(events.max_per_source), "1000", 1, 1000000, NULL,
	 false, NULL, "Subscriptions and publications held for one source IP address at most; more "
	 "get 503 with Retry-After (sources in calls.trusted too)"},
	{"events", "min_expires", OPT_INT, OFF(events.min_expires), "60", 1, 3600, NULL, false, "s",
	 "Shortest SUBSCRIBE or PUBLISH expiry accepted; shorter non-zero ones get 423 with "
	 "Min-Expires"},
	{"events", "max_expires", OPT_INT, OFF(events.max_expires), "3600", 60, 86400, NULL, false,
	 "s", "Longest SUBSCRIBE or PUBLISH expiry granted; longer ones are shortened"},
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
