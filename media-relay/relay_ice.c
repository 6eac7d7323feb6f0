/* ICE endpoints: one libnice full agent per endpoint on the session's worker (RFC 8445,
 * trickle RFC 8838, consent RFC 7675), the DTLS-SRTP association over its selected pair,
 * and the parser for the remote candidates signaling trickles in. */
#include <arpa/inet.h>
#include <errno.h>
#include <nice/agent.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

#include "relay_priv.h"

#define EARLY_DTLS_MAX 4 /* DTLS datagrams held until ICE reports connected */

/*
 * Where libnice stands, as the relay sees it. libnice hands data up only from pairs it has
 * validated (its receive path drops datagrams from addresses that are not a checked remote
 * candidate of the component, verified in tests/test_relay_ice.c), so nothing here learns
 * anything from an unchecked source (SEC-11, BI-29, BI-34).
 */
enum ice_state { ICE_NEW, ICE_CHECKING, ICE_CONNECTED, ICE_FAILED };

struct ice_ep {
	struct endpoint *e;
	enum ice_state state;
	NiceAgent *agent;
	guint stream;
	bool have_creds;    /* remote credentials given to libnice */
	bool eoc_pending;   /* end-of-candidates arrived before the credentials */
	bool was_connected; /* for the reason of a failure: consent lost vs checks failed */
	bool got_relayed;   /* a TURN candidate was gathered */
	GSList *pending;    /* NiceCandidate *: remote candidates waiting for credentials */
	GQueue early;       /* GBytes *: DTLS that arrived before ICE connected */
	struct dtls *dtls;
};

static const char *state_name(enum ice_state s)
{
	switch (s) {
	case ICE_NEW:
		return "new";
	case ICE_CHECKING:
		return "checking";
	case ICE_CONNECTED:
		return "connected";
	case ICE_FAILED:
		return "failed";
	}
	return "?";
}

static struct log_ctx log_ctx(const struct endpoint *e)
{
	struct log_ctx lc = {.call_id = e->s->call_id, .leg = "ice"};
	return lc;
}

static void set_state(struct ice_ep *ie, enum ice_state to, const char *why)
{
	struct endpoint *e = ie->e;
	if (ie->state == to)
		return;
	struct log_ctx lc = log_ctx(e);
	LOGI("relay", &lc, "endpoint %u ICE %s -> %s%s%s", e->idx, state_name(ie->state),
	     state_name(to), why ? ": " : "", why ? why : "");
	ie->state = to;
}

/* ---- candidates out ---- */

static const char *type_name(NiceCandidateType t)
{
	switch (t) {
	case NICE_CANDIDATE_TYPE_HOST:
		return "host";
	case NICE_CANDIDATE_TYPE_SERVER_REFLEXIVE:
		return "srflx";
	case NICE_CANDIDATE_TYPE_PEER_REFLEXIVE:
		return "prflx";
	default:
		return "relay";
	}
}

/* RFC 8839 §5.1 candidate-attribute value. A host candidate carries public_addr when set
 * and of the same family (1:1 NAT): the NAT maps public_addr:port to our local address with
 * the same port. */
static char *cand_sdp(struct relay *r, const NiceCandidate *c)
{
	char ip[NICE_ADDRESS_STRING_LEN];
	nice_address_to_string(&c->addr, ip);
	bool v6 = nice_address_ip_version(&c->addr) == 6;
	const char *addr = c->type == NICE_CANDIDATE_TYPE_HOST && r->public_addr &&
	                                   (strchr(r->public_addr, ':') != NULL) == v6
	                           ? r->public_addr
	                           : ip;
	GString *s = g_string_new(NULL);
	bool tcp = c->transport == NICE_CANDIDATE_TRANSPORT_TCP_PASSIVE;
	g_string_printf(s, "candidate:%s 1 %s %u %s %u typ %s", c->foundation, tcp ? "tcp" : "udp",
	                c->priority, addr, nice_address_get_port(&c->addr), type_name(c->type));
	if (c->type != NICE_CANDIDATE_TYPE_HOST) {
		char base[NICE_ADDRESS_STRING_LEN];
		nice_address_to_string(&c->base_addr, base);
		g_string_append_printf(s, " raddr %s rport %u", base,
		                       nice_address_get_port(&c->base_addr));
	}
	if (tcp) /* an extension: after raddr/rport (RFC 8839 §5.1) */
		g_string_append(s, " tcptype passive");
	return g_string_free(s, FALSE);
}

static void emit_candidate(struct ice_ep *ie, const NiceCandidate *c)
{
	/* TCP: only passive candidates are useful to a browser (it connects, RFC 6544 §4.1) */
	if (c->component_id != 1 || (c->transport != NICE_CANDIDATE_TRANSPORT_UDP &&
	                             c->transport != NICE_CANDIDATE_TRANSPORT_TCP_PASSIVE))
		return;
	char *sdp = cand_sdp(ie->e->s->relay, c);
	relay_session_emit(ie->e->s, ie->e->idx, RELAY_EV_CANDIDATE, sdp);
	g_free(sdp);
}

static void on_new_candidate(NiceAgent *agent, NiceCandidate *c, gpointer data)
{
	struct ice_ep *ie = data;
	(void)agent;
	if (c->type == NICE_CANDIDATE_TYPE_RELAYED)
		ie->got_relayed = true;
	emit_candidate(ie, c);
}

static void on_gathering_done(NiceAgent *agent, guint stream, gpointer data)
{
	struct ice_ep *ie = data;
	(void)agent;
	(void)stream;
	struct relay *r = ie->e->s->relay;
	if (r->turn_ip && !ie->got_relayed) {
		struct log_ctx lc = log_ctx(ie->e);
		LOGW("relay", &lc,
		     "endpoint %u: no relayed candidate from TURN server %s:%u (unreachable, or "
		     "credentials refused)",
		     ie->e->idx, r->turn_ip, r->turn_port);
	}
	relay_session_emit(ie->e->s, ie->e->idx, RELAY_EV_GATHERING_DONE, NULL);
}

/* After an ICE restart: the same local candidates, reported again for the new offer. */
static void emit_all(struct ice_ep *ie)
{
	GSList *l = nice_agent_get_local_candidates(ie->agent, ie->stream, 1);
	for (GSList *i = l; i; i = i->next)
		emit_candidate(ie, i->data);
	g_slist_free_full(l, (GDestroyNotify)nice_candidate_free);
	relay_session_emit(ie->e->s, ie->e->idx, RELAY_EV_GATHERING_DONE, NULL);
}

/* ---- DTLS over the selected pair ---- */

static void dtls_send(const uint8_t *p, size_t len, void *arg)
{
	struct ice_ep *ie = arg;
	if (ie->state == ICE_CONNECTED)
		nice_agent_send(ie->agent, ie->stream, 1, (guint)len, (const gchar *)p);
}

static void drop_srtp(struct endpoint *e)
{
	relay_srtp_free(e->srtp_in);
	relay_srtp_free(e->srtp_out);
	e->srtp_in = e->srtp_out = NULL;
	e->suite = RELAY_SRTP_NONE;
}

static void dtls_done(bool ok, const char *reason, void *arg)
{
	struct ice_ep *ie = arg;
	struct endpoint *e = ie->e;
	struct log_ctx lc = log_ctx(e);
	drop_srtp(e);
	if (ok) {
		int err = relay_dtls_srtp(ie->dtls, &e->suite, &e->srtp_in, &e->srtp_out);
		if (!err) {
			LOGI("relay", &lc, "endpoint %u DTLS-SRTP up: %s", e->idx,
			     relay_dtls_profile(ie->dtls));
			relay_session_emit(e->s, e->idx, RELAY_EV_DTLS_CONNECTED,
			                   relay_dtls_profile(ie->dtls));
			return;
		}
		drop_srtp(e); /* the suite was set: never leave it without contexts */
		reason = "SRTP context failed";
	}
	relay_session_emit(e->s, e->idx, RELAY_EV_DTLS_FAILED, reason);
}

static void new_dtls(struct ice_ep *ie)
{
	struct endpoint *e = ie->e;
	relay_dtls_free(ie->dtls);
	drop_srtp(e);
	ie->dtls = relay_dtls_new(e->s->relay, &e->icec, e->s->w->ctx, dtls_send, dtls_done, ie,
	                          e->s->call_id);
}

static void flush_early(struct ice_ep *ie)
{
	GBytes *b;
	while ((b = g_queue_pop_head(&ie->early))) {
		gsize n;
		const uint8_t *p = g_bytes_get_data(b, &n);
		relay_dtls_input(ie->dtls, p, n);
		g_bytes_unref(b);
	}
}

void relay_ice_dtls_input(struct endpoint *e, const uint8_t *p, size_t len)
{
	struct ice_ep *ie = e->ice;
	if (!ie)
		return;
	if (ie->state != ICE_CONNECTED) {
		/* A peer whose checks finished first may speak DTLS before our agent reports
		 * the pair; keep a few datagrams (bounded) rather than wait for a resend. */
		if (g_queue_get_length(&ie->early) < EARLY_DTLS_MAX)
			g_queue_push_tail(&ie->early, g_bytes_new(p, len));
		return;
	}
	relay_dtls_input(ie->dtls, p, len);
}

/* ---- libnice signals ---- */

static void on_recv(NiceAgent *agent, guint stream, guint comp, guint len, gchar *buf,
		    gpointer data)
{
	(void)agent;
	(void)stream;
	(void)comp;
	struct ice_ep *ie = data;
	relay_worker_ice_input(ie->e, (const uint8_t *)buf, len);
}

static void on_selected_pair(NiceAgent *agent, guint stream, guint comp, NiceCandidate *lc,
			     NiceCandidate *rc, gpointer data)
{
	(void)agent;
	(void)stream;
	(void)comp;
	(void)lc;
	struct ice_ep *ie = data;
	struct endpoint *e = ie->e;
	memset(&e->l_rtp, 0, sizeof(e->l_rtp));
	nice_address_copy_to_sockaddr(&rc->addr, (struct sockaddr *)&e->l_rtp.addr);
	e->l_rtp.on = true;
}

static void on_state(NiceAgent *agent, guint stream, guint comp, guint state, gpointer data)
{
	(void)agent;
	(void)stream;
	struct ice_ep *ie = data;
	struct endpoint *e = ie->e;
	if (comp != 1)
		return;
	switch (state) {
	case NICE_COMPONENT_STATE_CONNECTED:
	case NICE_COMPONENT_STATE_READY: {
		if (ie->state == ICE_CONNECTED)
			return;
		set_state(ie, ICE_CONNECTED, NULL);
		ie->was_connected = true;
		char peer[INET6_ADDRSTRLEN + 8] = "";
		if (e->l_rtp.on) {
			char ip[INET6_ADDRSTRLEN];
			const struct sockaddr_storage *a = &e->l_rtp.addr;
			const void *src =
			        a->ss_family == AF_INET
			                ? (const void *)&((const struct sockaddr_in *)a)->sin_addr
			                : (const void *)&((const struct sockaddr_in6 *)a)
			                          ->sin6_addr;
			uint16_t port = a->ss_family == AF_INET
			                        ? ((const struct sockaddr_in *)a)->sin_port
			                        : ((const struct sockaddr_in6 *)a)->sin6_port;
			if (inet_ntop(a->ss_family, src, ip, sizeof(ip)))
				g_snprintf(peer, sizeof(peer),
				           a->ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip,
				           ntohs(port));
		}
		relay_session_emit(e->s, e->idx, RELAY_EV_ICE_CONNECTED, peer);
		relay_dtls_start(ie->dtls);
		flush_early(ie);
		return;
	}
	case NICE_COMPONENT_STATE_FAILED: {
		if (ie->state == ICE_FAILED)
			return;
		/* RFC 7675 §5.1: with consent-freshness on, libnice 0.1.21 fails the
		 * component once ~10 s pass without an authenticated consent response
		 * (its own constant; the RFC's bound is 30 s); stop sending at once. */
		const char *why = ie->was_connected ? "consent lost" : "connectivity checks failed";
		set_state(ie, ICE_FAILED, why);
		relay_session_emit(e->s, e->idx, RELAY_EV_ICE_FAILED, why);
		return;
	}
	default:
		if (ie->state == ICE_NEW)
			set_state(ie, ICE_CHECKING, NULL);
		return;
	}
}

/* ---- the agent's life ---- */

static void set_remote_creds(struct ice_ep *ie)
{
	struct endpoint *e = ie->e;
	if (!e->icec.remote_ufrag[0] || !e->icec.remote_pwd[0])
		return;
	nice_agent_set_remote_credentials(ie->agent, ie->stream, e->icec.remote_ufrag,
	                                  e->icec.remote_pwd);
	ie->have_creds = true;
	if (ie->pending) {
		ie->pending = g_slist_reverse(ie->pending);
		nice_agent_set_remote_candidates(ie->agent, ie->stream, 1, ie->pending);
		g_slist_free_full(ie->pending, (GDestroyNotify)nice_candidate_free);
		ie->pending = NULL;
	}
	if (ie->eoc_pending) {
		ie->eoc_pending = false;
		nice_agent_peer_candidate_gathering_done(ie->agent, ie->stream);
	}
}

/* TURN credentials for one endpoint: the fixed pair, or the time-limited pair made from the
 * shared key (username "<expiry>:gorgee", password base64(HMAC-SHA1(key, username))). */
static void set_turn(struct ice_ep *ie)
{
	struct relay *r = ie->e->s->relay;
	char user[64];
	char *pass;
	if (r->turn_key) {
		g_snprintf(user, sizeof(user), "%" G_GINT64_FORMAT ":gorgee",
		           g_get_real_time() / G_USEC_PER_SEC + r->turn_ttl_secs);
		uint8_t mac[EVP_MAX_MD_SIZE];
		unsigned mac_len = 0;
		HMAC(EVP_sha1(), r->turn_key, (int)r->turn_key_len, (const uint8_t *)user,
		     strlen(user), mac, &mac_len);
		pass = g_base64_encode(mac, mac_len);
		OPENSSL_cleanse(mac, sizeof(mac));
	} else {
		g_strlcpy(user, r->turn_user, sizeof(user));
		pass = g_strdup(r->turn_pass);
	}
	if (!nice_agent_set_relay_info(ie->agent, ie->stream, 1, r->turn_ip, r->turn_port, user,
	                               pass, (NiceRelayType)r->turn_type)) {
		struct log_ctx lc = log_ctx(ie->e);
		LOGW("relay", &lc, "endpoint %u: TURN server %s:%u refused by libnice", ie->e->idx,
		     r->turn_ip, r->turn_port);
	}
	OPENSSL_cleanse(pass, strlen(pass));
	g_free(pass);
}

static void fail_now(struct ice_ep *ie, const char *why)
{
	set_state(ie, ICE_FAILED, why);
	relay_session_emit(ie->e->s, ie->e->idx, RELAY_EV_ICE_FAILED, why);
}

void relay_ice_start(struct endpoint *e)
{
	struct relay *r = e->s->relay;
	struct ice_ep *ie = g_new0(struct ice_ep, 1);
	ie->e = e;
	g_queue_init(&ie->early);
	e->ice = ie;
	/* Regular nomination is libnice's RFC 5245 default (RFC 8445 §8.1.1); trickle and
	 * consent freshness (RFC 7675) are opt-in. */
	ie->agent = nice_agent_new_full(e->s->w->ctx, NICE_COMPATIBILITY_RFC5245,
	                                NICE_AGENT_OPTION_REGULAR_NOMINATION |
	                                        NICE_AGENT_OPTION_ICE_TRICKLE |
	                                        NICE_AGENT_OPTION_CONSENT_FRESHNESS);
	g_object_set(ie->agent, "controlling-mode", (gboolean)e->icec.controlling, "upnp", FALSE,
	             "ice-tcp", (gboolean)r->ice_tcp, "force-relay", (gboolean)r->ice_relay_only,
	             NULL);
	if (r->stun_ip)
		g_object_set(ie->agent, "stun-server", r->stun_ip, "stun-server-port", r->stun_port,
		             NULL);
	for (char **a = r->ice_addrs; *a; a++) {
		NiceAddress na;
		nice_address_init(&na);
		if (nice_address_set_from_string(&na, *a))
			nice_agent_add_local_address(ie->agent, &na);
	}
	ie->stream = nice_agent_add_stream(ie->agent, 1);
	if (r->turn_ip)
		set_turn(ie);
	/* the pool slot this endpoint holds: libnice binds exactly that port */
	nice_agent_set_port_range(ie->agent, ie->stream, 1, e->port, e->port);
	nice_agent_set_local_credentials(ie->agent, ie->stream, e->icec.local_ufrag,
	                                 e->icec.local_pwd);
	g_signal_connect(ie->agent, "new-candidate-full", G_CALLBACK(on_new_candidate), ie);
	g_signal_connect(ie->agent, "candidate-gathering-done", G_CALLBACK(on_gathering_done), ie);
	g_signal_connect(ie->agent, "component-state-changed", G_CALLBACK(on_state), ie);
	g_signal_connect(ie->agent, "new-selected-pair-full", G_CALLBACK(on_selected_pair), ie);
	nice_agent_attach_recv(ie->agent, ie->stream, 1, e->s->w->ctx, on_recv, ie);
	new_dtls(ie);
	set_remote_creds(ie);
	/* may report candidates and gathering-done before it returns (LIBRARY-NOTES.md) */
	if (!nice_agent_gather_candidates(ie->agent, ie->stream))
		fail_now(ie, "no local address to gather on (port in use?)");
}

static void on_recv_closing(NiceAgent *a, guint stream, guint comp, guint len, gchar *buf,
			    gpointer data)
{
	(void)a, (void)stream, (void)comp, (void)len, (void)buf, (void)data; /* dropped */
}

struct closing {
	struct worker *w;
	guint stream;
	uint16_t port; /* 0: the slot was not held */
};

static void on_agent_closed(GObject *agent, GAsyncResult *res, gpointer data)
{
	struct closing *c = data;
	(void)res;
	nice_agent_remove_stream(NICE_AGENT(agent), c->stream);
	g_object_unref(agent); /* closes the socket on the port */
	if (c->port)
		relay_ports_release(c->w->r->ports, c->port);
	c->w->closing--;
	g_free(c);
}

bool relay_ice_stop(struct endpoint *e)
{
	struct ice_ep *ie = e->ice;
	if (!ie)
		return false;
	e->ice = NULL;
	g_signal_handlers_disconnect_by_data(ie->agent, ie);
	bool later = ie->got_relayed;
	/* libnice reads its sockets only while a receive callback is attached: the TURN
	 * server's answers must still be read while the allocations are freed */
	nice_agent_attach_recv(ie->agent, ie->stream, 1, e->s->w->ctx,
	                       later ? on_recv_closing : NULL, NULL);
	if (later) {
		/* TURN allocations are freed first (a Refresh with lifetime 0), else they stay on
		 * the server until they expire; the agent, its socket and then the port slot go
		 * when that is done (or timed out), on this worker's context. */
		struct closing *c = g_new0(struct closing, 1);
		c->w = e->s->w;
		c->stream = ie->stream;
		c->port = e->port_held ? e->port : 0;
		c->w->closing++;
		nice_agent_close_async(ie->agent, on_agent_closed, c);
	} else {
		nice_agent_remove_stream(ie->agent, ie->stream); /* closes the stream's sockets */
		g_object_unref(ie->agent);
	}
	relay_dtls_free(ie->dtls);
	drop_srtp(e);
	g_slist_free_full(ie->pending, (GDestroyNotify)nice_candidate_free);
	g_queue_clear_full(&ie->early, (GDestroyNotify)g_bytes_unref);
	g_free(ie);
	return later;
}

static bool dtls_changed(const struct ice_conf *a, const struct ice_conf *b)
{
	return a->role != b->role || a->fp_len != b->fp_len || strcmp(a->fp_hash, b->fp_hash) ||
	       memcmp(a->fp, b->fp, a->fp_len);
}

void relay_ice_update(struct endpoint *e, const struct ice_conf *c)
{
	struct ice_ep *ie = e->ice;
	if (!ie)
		return;
	struct ice_conf old = e->icec;
	struct log_ctx lc = log_ctx(e);
	e->icec = *c;
	if (!c->restart) {
		memcpy(e->icec.local_ufrag, old.local_ufrag, sizeof(old.local_ufrag));
		memcpy(e->icec.local_pwd, old.local_pwd, sizeof(old.local_pwd));
	}
	if (old.controlling != c->controlling)
		g_object_set(ie->agent, "controlling-mode", (gboolean)c->controlling, NULL);
	if (c->restart) {
		/* RFC 8445 §9: new credentials, checks start over; remote candidates come again */
		LOGI("relay", &lc, "endpoint %u ICE restart", e->idx);
		nice_agent_restart_stream(ie->agent, ie->stream);
		nice_agent_set_local_credentials(ie->agent, ie->stream, c->local_ufrag,
		                                 c->local_pwd);
		ie->have_creds = false;
		ie->eoc_pending = false;
		set_state(ie, ICE_CHECKING, "restart");
		ie->was_connected = false;
		emit_all(ie);
	}
	if (!ie->have_creds || strcmp(old.remote_ufrag, c->remote_ufrag) ||
	    strcmp(old.remote_pwd, c->remote_pwd))
		set_remote_creds(ie);
	if (dtls_changed(&old, c)) {
		/* RFC 8842 §5: a new fingerprint or role is a new association */
		new_dtls(ie);
		if (ie->state == ICE_CONNECTED)
			relay_dtls_start(ie->dtls);
	}
}

void relay_ice_add_candidate(struct endpoint *e, const struct ice_cand *c)
{
	struct ice_ep *ie = e->ice;
	if (!ie)
		return;
	static const NiceCandidateType types[] = {
	        [CAND_HOST] = NICE_CANDIDATE_TYPE_HOST,
	        [CAND_SRFLX] = NICE_CANDIDATE_TYPE_SERVER_REFLEXIVE,
	        [CAND_PRFLX] = NICE_CANDIDATE_TYPE_PEER_REFLEXIVE,
	        [CAND_RELAY] = NICE_CANDIDATE_TYPE_RELAYED,
	};
	NiceCandidate *nc = nice_candidate_new(types[c->type]);
	nc->stream_id = ie->stream;
	nc->component_id = 1;
	static const NiceCandidateTransport transports[] = {
	        [CAND_UDP] = NICE_CANDIDATE_TRANSPORT_UDP,
	        [CAND_TCP_ACTIVE] = NICE_CANDIDATE_TRANSPORT_TCP_ACTIVE,
	        [CAND_TCP_PASSIVE] = NICE_CANDIDATE_TRANSPORT_TCP_PASSIVE,
	        [CAND_TCP_SO] = NICE_CANDIDATE_TRANSPORT_TCP_SO,
	};
	nc->transport = transports[c->transport];
	nc->priority = c->priority;
	g_strlcpy(nc->foundation, c->foundation, sizeof(nc->foundation));
	nice_address_set_from_sockaddr(&nc->addr, (const struct sockaddr *)&c->addr);
	if (c->raddr.ss_family != AF_UNSPEC)
		nice_address_set_from_sockaddr(&nc->base_addr, (const struct sockaddr *)&c->raddr);
	if (!ie->have_creds) {
		ie->pending = g_slist_prepend(ie->pending, nc);
		return;
	}
	GSList one = {.data = nc, .next = NULL};
	nice_agent_set_remote_candidates(ie->agent, ie->stream, 1, &one);
	nice_candidate_free(nc);
}

void relay_ice_end_of_candidates(struct endpoint *e)
{
	struct ice_ep *ie = e->ice;
	if (!ie)
		return;
	if (!ie->have_creds)
		ie->eoc_pending = true;
	else
		nice_agent_peer_candidate_gathering_done(ie->agent, ie->stream);
}

int relay_ice_send(struct endpoint *e, const uint8_t *p, size_t len)
{
	struct ice_ep *ie = e->ice;
	/* RFC 7675 §5.1: without consent nothing is sent */
	if (!ie || ie->state != ICE_CONNECTED)
		return EIO;
	return nice_agent_send(ie->agent, ie->stream, 1, (guint)len, (const gchar *)p) == (gint)len
	               ? 0
	               : EIO;
}
