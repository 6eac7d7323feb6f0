/* INVITE with Replaces (RFC 3891): a new SIP party takes the place of the peer of one SIP
 * leg of a call; the call's other leg stays and is re-offered toward it on the same relay
 * endpoint, and the replaced dialog gets a BYE. */
#include <errno.h>
#include <string.h>

#include "b2b_int.h"

static const char *const log_module = "replaces";

static struct log_ctx ctx(const struct call *c)
{
	return (struct log_ctx){.call_id = c->id, .leg = "replaces"};
}

static void reply(struct b2b *b, struct sip_strans *st, int code, const char *reason)
{
	char h[128];
	g_snprintf(h, sizeof(h), "Server: %s\r\n", b->user_agent);
	sip_strans_respond(st, code, reason, h, (struct slice){NULL, 0}, NULL);
}

/* The call with a SIP leg whose dialog r names (RFC 3891 §3), and that leg. */
static struct call *find(struct b2b *b, const struct sip_replaces *r, struct leg **lp,
			 bool *early, bool *ours)
{
	GHashTableIter it;
	gpointer v;
	g_hash_table_iter_init(&it, b->calls);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct call *c = v;
		for (int i = 0; i < 2; i++) {
			if (c->leg[i] && leg_sip_dialog_match(c->leg[i], r, early, ours)) {
				*lp = c->leg[i];
				return c;
			}
		}
	}
	return NULL;
}

/* The new leg leaves (refused, cancelled, or its offer unusable): the call goes on as it was. */
static void drop_new(struct call *c)
{
	struct leg *n = c->xfer_new;
	c->xfer_new = NULL;
	call_media_offer_drop(c->media); /* the relay still sends to the party that stays */
	n->ops->release(n);
	n->ops->free(n);
	call_set_state(c, CALL_ACTIVE);
}

/*
 * Checks of RFC 3891 §3, in its order: one well-formed Replaces; a dialog it names (481);
 * not one that ended (603); early-only and a confirmed dialog (486); an early dialog gorgee
 * did not make (481). Returns the status to refuse with, or 0 with the call and leg.
 */
static int match(struct b2b *b, const struct sip_msg *msg, struct call **cp, struct leg **lp,
		 const char **why)
{
	const struct sip_hdr *h = sip_msg_hdr(msg, SIP_HDR_REPLACES);
	struct sip_replaces r;
	bool early = false, ours = false;
	if (sip_msg_hdr_next(msg, h)) {
		*why = "Bad Request (more than one Replaces)";
		return 400;
	}
	if (sip_replaces_parse(h->value, &r) != 0) {
		*why = "Bad Replaces";
		return 400;
	}
	struct call *c = find(b, &r, lp, &early, &ours);
	if (!c)
		return 481;
	/* a UAS dialog counts as confirmed in sip/ from our first tagged 1xx: the call's state
	 * says whether it was answered */
	if (c->state == CALL_ROUTING || c->state == CALL_CALLING || c->state == CALL_EARLY)
		early = true;
	if (c->state == CALL_ENDED)
		return 603;
	if (!early && r.early_only)
		return 486;
	if (early && !ours)
		return 481;
	if (early) { /* our own early dialog (call pickup): not offered by this gateway */
		*why = "Busy Here (replacing a call that is not answered)";
		return 486;
	}
	if (c->state != CALL_ACTIVE) {
		*why = "Busy Here (the call is being renegotiated or transferred)";
		return 486;
	}
	*cp = c;
	return 0;
}

void b2b_on_replaces(struct b2b *b, struct sip_strans *st, const struct sip_msg *msg,
		     const struct sip_src *src)
{
	struct call *c = NULL;
	struct leg *old = NULL;
	const char *why = NULL;
	struct log_ctx lc = {.leg = "replaces", .peer = src->ip};
	/* RFC 3891 §6: taking over a call needs a trusted or authenticated requester (the
	 * dialog identifiers alone are not a secret worth a call); checked first, so that
	 * others cannot learn which dialogs exist from 481 and 486 */
	if (!b2b_may_use_trunk(b, st, msg, src))
		return;
	int code = match(b, msg, &c, &old, &why);
	if (code) {
		LOGN(log_module, &lc, "INVITE with Replaces refused: %d %s", code, why ? why : "");
		reply(b, st, code, why);
		return;
	}
	struct slice sdp = {NULL, 0};
	if (msg->body.len && (code = sip_body_sdp(msg, &sdp)) != 0) { /* BI-12 */
		reply(b, st, code == EBADMSG ? 400 : 415, NULL);
		return;
	}
	enum leg_side side = old->side;
	struct leg *keep = c->leg[!side];
	struct leg *n = leg_sip_new_uas(b, st, msg, src);
	n->call = c;
	n->side = side;
	c->xfer_new = n;
	c->xfer_side = side;
	c->xfer_gone = false;
	g_free(c->xfer_to);
	c->xfer_to = g_strdup(leg_sip_peer_uri(n));
	lc.call_id = c->id;
	LOGI(log_module, &lc, "%s replaces leg %c", c->xfer_to, side == LEG_A ? 'A' : 'B');
	GString *out = g_string_new(NULL);
	if (sdp.len) { /* its offer goes to the party that stays; the answer comes back */
		code = call_media_offer_deferred(c->media, side, sdp.p, sdp.len, out, &why);
		if (!code && (!keep->ops->reoffer || keep->ops->reoffer(keep, out->str) != 0)) {
			code = 500;
			why = "the other party cannot renegotiate now";
		}
		if (!code)
			call_set_state(c, CALL_REPLACING);
	} else if (call_media_hold_offer(c->media, side, false, out) == 0) {
		/* offerless: what the replaced party had, its answer in the ACK */
		n->ops->answer(n, out->str);
		call_set_state(c, CALL_REPLACE_ACK);
	} else {
		code = 500;
		why = "no media to offer";
	}
	if (code) {
		LOGN(log_module, &lc, "offer refused: %s", why ? why : "?");
		n->ops->fail(n, code, why);
		c->xfer_new = NULL;
		n->ops->release(n);
		n->ops->free(n);
	}
	g_string_free(out, TRUE);
}

/* The new party confirmed (ACK): it takes the replaced leg's place, which gets its BYE. */
static void replaced(struct call *c)
{
	struct leg *old = c->leg[c->xfer_side], *n = c->xfer_new, *keep = c->leg[!c->xfer_side];
	struct log_ctx lc = ctx(c);
	if (!c->xfer_gone)
		old->ops->bye(old, 0, NULL);
	old->ops->release(old);
	old->ops->free(old);
	c->leg[c->xfer_side] = n;
	c->xfer_new = NULL;
	c->xfer_gone = false;
	LOGI(log_module, &lc, "replaced by %s", c->xfer_to);
	call_set_state(c, CALL_ACTIVE);
	if (keep->ops->replaced)
		keep->ops->replaced(keep, c->xfer_to);
}

static void on_new_leg(struct call *c, struct leg *n, enum leg_ev ev, int code,
		       const char *reason, const char *sdp, size_t len)
{
	const char *why = NULL;
	switch (ev) {
	case LEG_EV_CANCEL: /* before our 200: the call goes on with the old party */
		n->ops->fail(n, 487, "Request Terminated");
		drop_new(c);
		break;
	case LEG_EV_ACK:
		if (c->state != CALL_REPLACE_ACK)
			break;
		/* an answer in the ACK is the answer to our offer of an offerless INVITE; after
		 * an INVITE with an offer the ACK has none (RFC 3261 §13.2.1) */
		if (len && call_media_hold_answer(c->media, c->xfer_side, sdp, len, &why) != 0) {
			struct log_ctx lc = ctx(c);
			LOGN(log_module, &lc, "the answer in the ACK is unusable (%s)", why ? why : "?");
			call_end(c, 488, "no usable SDP answer");
			break;
		}
		replaced(c);
		break;
	case LEG_EV_HANGUP: /* the new party left (or sent no ACK): media already points at it */
		c->xfer_new = NULL;
		n->ops->release(n);
		n->ops->free(n);
		call_set_state(c, CALL_ACTIVE);
		call_end(c, code ? code : 200, reason);
		break;
	case LEG_EV_REOFFER:
		n->ops->reanswer(n, 491, NULL);
		break;
	default:
		break;
	}
}

void call_replace_event(struct call *c, struct leg *l, enum leg_ev ev, int code,
			const char *reason, const char *sdp, size_t len)
{
	struct leg *n = c->xfer_new, *keep = c->leg[!c->xfer_side];
	if (l == n) {
		on_new_leg(c, n, ev, code, reason, sdp, len);
		return;
	}
	if (ev == LEG_EV_REOFFER) { /* one renegotiation at a time (RFC 3261 §14.2) */
		l->ops->reanswer(l, 491, NULL);
		return;
	}
	if (l != keep) { /* the replaced party may hang up first: nobody is told */
		if (ev == LEG_EV_HANGUP)
			c->xfer_gone = true;
		return;
	}
	if (ev == LEG_EV_REANSWER && c->state == CALL_REPLACING) {
		GString *out = g_string_new(NULL);
		const char *why = NULL;
		if (code >= 200 && code < 300 &&
		    call_media_answer(c->media, keep->side, sdp, len, out, &why) == 0) {
			n->ops->answer(n, out->str);
			call_set_state(c, CALL_REPLACE_ACK);
		} else {
			struct log_ctx lc = ctx(c);
			LOGN(log_module, &lc, "the other party refused the new offer: %d %s", code,
			     why ? why : "");
			n->ops->fail(n, code >= 300 ? code : 488, NULL);
			drop_new(c);
		}
		g_string_free(out, TRUE);
	} else if (ev == LEG_EV_HANGUP) { /* the party that stayed left: everything ends */
		struct leg *old = c->leg[c->xfer_side];
		if (c->state == CALL_REPLACING)
			n->ops->fail(n, 480, "Temporarily Unavailable");
		else
			n->ops->bye(n, 0, NULL);
		if (!c->xfer_gone)
			old->ops->bye(old, code, reason);
		call_finish(c, code ? code : 200, reason);
	}
}
