/* b2bua: bridges WebSocket sessions and SIP. Today: upstream SIP accounts registered on
 * behalf of WebSocket users (ws/PROTOCOL.md "Accounts"). Calls come next. */
#ifndef GORGEE_B2BUA_H
#define GORGEE_B2BUA_H

#include "sip.h"
#include "ws.h"

struct b2b_config {
	struct sip_stack *stack; /* borrowed; sends and receives SIP */
	struct ws_server *ws;    /* borrowed; the B2BUA adds its requests to it */
	struct sip_resolver *resolver; /* borrowed; RFC 3263 for registrar and proxy names */
	const char *contact_host; /* host:port put in the Contact of upstream registrations */
	const char *user_agent;
};

struct b2b;

/* Registers the account requests (register, unregister) with the WebSocket server. */
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

#endif
