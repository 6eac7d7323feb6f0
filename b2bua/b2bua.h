/* b2bua: bridges WebSocket sessions and SIP: upstream SIP accounts registered on behalf of
 * WebSocket users (ws/PROTOCOL.md "Accounts") and calls, each with two legs and a relay
 * session. */
#ifndef GORGEE_B2BUA_H
#define GORGEE_B2BUA_H

#include "sip.h"
#include "ws.h"

struct relay;

struct b2b_config {
	struct sip_stack *stack; /* borrowed; sends and receives SIP */
	struct ws_server *ws;    /* borrowed; the B2BUA adds its requests to it */
	struct sip_resolver *resolver; /* borrowed; RFC 3263 for registrar and proxy names */
	const char *contact_host; /* host:port put in the Contact of upstream registrations */
	const char *user_agent;
	/* calls (all may be NULL/0 when calls are off) */
	struct sip_ua *ua;          /* borrowed; INVITEs and dialogs */
	struct relay *relay;        /* borrowed; one relay session per call */
	const char *media_addr;     /* the relay's address as SDP gives it (public address) */
	struct sip_store *store;    /* borrowed; location service lookups */
	struct sip_auth_server *auth; /* borrowed; digest for callers toward the trunk (SEC-10) */
	const char *domain;         /* the domain served ("" = every domain, unless a trunk is set) */
	const char *realm;          /* digest realm of its users */
	const char *trunk;          /* next hop for other destinations (URI, "" = none) */
	const char *trusted;        /* CIDRs that may use the trunk without digest ("" = none) */
	const char *dialplan;       /* regex the R-URI user must match toward the trunk ("" = any) */
	unsigned max_calls;         /* 0 = no limit */
	const char *admins;         /* users allowed the admin requests, comma-separated */
	bool sdes;                  /* offer RTP/SAVP with SDES keys to SIP peers */
	bool dtls;                  /* offer UDP/TLS/RTP/SAVP (DTLS-SRTP, no ICE) to SIP peers */
	unsigned session_expires;   /* RFC 4028 interval asked of callees, s (0 = no timers) */
	bool follow_redirects;      /* a 3xx to a B leg is followed (else passed to the caller) */
	bool redirect;              /* calls to registered SIP users get 302 with their
				     * contacts instead of being bridged (redirect server) */
	unsigned rtp_timeout;       /* s without media before a call is ended; 0 = never */
	/* event packages (RFC 6665) as notifier, and PUBLISH (RFC 3903); 0 = defaults */
	unsigned ev_max_per_user;   /* subscriptions to one user's state (and publications) */
	unsigned ev_max_per_source; /* subscriptions and publications from one IP address */
	unsigned ev_min_expires;    /* shorter non-zero Expires get 423 with Min-Expires */
	unsigned ev_max_expires;    /* longer ones are shortened */
};

struct b2b;

/* Registers the account and call requests with the WebSocket server and, when cfg->ua is
 * set, takes INVITEs from the UA core. Returns NULL with a log line on a bad trusted or
 * dialplan setting. */
struct b2b *b2b_new(const struct b2b_config *cfg);
/* Drain: unregisters every account upstream (REGISTER with Expires: 0); b2b_busy falls to
 * zero as they complete. */
void b2b_stop(struct b2b *b);
/* Frees everything at once (no SIP sent); detaches from the WebSocket server. */
void b2b_free(struct b2b *b);
/* Work in flight (REGISTER transactions), for the drain. */
unsigned b2b_busy(const struct b2b *b);
/* Live accounts (registered or registering). */
unsigned b2b_account_count(const struct b2b *b);
/* Calls in progress. */
unsigned b2b_call_count(const struct b2b *b);
/* Appends every call, one line per leg, for the admin dump. */
void b2b_dump_calls(const struct b2b *b, GString *out);

#endif
