/* Transfers a SIP party asks for (RFC 3515 REFER received): the other party, a browser, is
 * asked (a SIP party is not: gorgee accepts for it); if accepted, a new leg calls the
 * Refer-To target (with its Replaces, RFC 3891 §4, for an attended transfer) and takes the
 * referrer's place on the same relay endpoint; the referrer hears the progress by NOTIFY
 * (sipfrag). */
#include <string.h>

#include "b2b_int.h"

static const char *const log_module = "transfer";

static struct log_ctx ctx(const struct call *c)
{
	return (struct log_ctx){.call_id = c->id, .leg = "transfer"};
}

/* NOTIFY of the refer subscription to the referrer (RFC 3515 §2.4.4). */
static void notify(struct call *c, int code, bool final)
{
	struct leg *x = c->leg[c->xfer_side];
	if (c->xfer_gone || !leg_is_sip(x))
		return;
	char frag[64], extra[96];
	g_snprintf(frag, sizeof(frag), "SIP/2.0 %d %s\r\n", code, sip_status_phrase(code));
	g_snprintf(extra, sizeof(extra), "Event: refer\r\nSubscription-State: %s\r\n",
		   final ? "terminated;reason=noresource" : "active;expires=60");
	leg_sip_request_x(x, "NOTIFY", "message/sipfrag", frag, strlen(frag), extra, NULL, NULL);
}

int call_leg_refer(struct call *c, struct leg *l, const char *to, const char *by,
		   const char *replaces)
{
	struct leg *other = c->leg[l->side == LEG_A ? LEG_B : LEG_A];
	if (c->state != CALL_ACTIVE)
		return 491;
	if (!other || (!other->ops->transfer_request && !leg_is_sip(other)))
		return 501;
	c->xfer_side = l->side;
	g_free(c->xfer_to);
	g_free(c->xfer_by);
	g_free(c->xfer_replaces);
	c->xfer_to = g_strdup(to);
	c->xfer_by = g_strdup(by);
	c->xfer_replaces = g_strdup(replaces);
	call_set_state(c, CALL_REFERRED);
	if (other->ops->transfer_request)
		other->ops->transfer_request(other, to, by, replaces);
	return 202;
}

void call_transfer_auto(struct call *c)
{
	struct leg *other = c->leg[!c->xfer_side];
	if (c->state == CALL_REFERRED && other && !other->ops->transfer_request) {
		struct log_ctx lc = ctx(c);
		LOGI(log_module, &lc, "SIP-to-SIP transfer to %s: accepted by gorgee", c->xfer_to);
		call_transfer_decide(c, true);
	}
}

/* The referrer's place: the relay endpoint it used, offered afresh to the target. */
int call_transfer_decide(struct call *c, bool accept)
{
	if (c->state != CALL_REFERRED)
		return EINVAL;
	struct log_ctx lc = ctx(c);
	if (!accept) {
		notify(c, 603, true);
		call_set_state(c, CALL_ACTIVE);
		return 0;
	}
	struct sip_uri u;
	struct target t = {0};
	GString *offer = g_string_new(NULL);
	int code = 0;
	if (sip_uri_parse((struct slice){c->xfer_to, strlen(c->xfer_to)}, &u) != 0)
		code = 400;
	struct leg *keep = c->leg[!c->xfer_side];
	if (!code) {
		/* accepted by the browser's user: routed as that user's own call would be; for a
		 * SIP party, as a SIP caller's call, the trunk only for a trusted referrer (SEC-10) */
		bool ws = leg_is_ws(keep);
		b2b_find_target(c->b, &u, ws, &t);
		if (!t.code && t.ws)
			t.code = 501; /* a WebRTC leg toward a browser in a SIP party's place: not yet */
		else if (!t.code && t.trunk &&
			 (!b2b_dialplan_allows(c->b, &u) || (!ws && !leg_sip_peer_trusted(c->leg[c->xfer_side]))))
			t.code = 403;
		code = t.code;
	}
	if (!code && call_media_hold_offer(c->media, c->xfer_side, false, offer) != 0)
		code = 500;
	if (code) {
		LOGN(log_module, &lc, "transfer to %s not placed: %d", c->xfer_to, code);
		notify(c, code, true);
		call_set_state(c, CALL_ACTIVE);
		b2b_target_clear(&t);
		g_string_free(offer, TRUE);
		return 0;
	}
	/* the new party sees the transferee as the caller */
	struct leg *n = leg_sip_new_uac(c->b, t.ruri, t.hop, c->xfer_side == LEG_A ? c->to : c->from,
					NULL, c->xfer_to);
	if (c->xfer_replaces)
		leg_sip_set_replaces(n, c->xfer_replaces);
	n->call = c;
	n->side = c->xfer_side;
	c->xfer_new = n;
	call_set_state(c, CALL_TRANSFERRING); /* the leg sent "100 Trying" with its 202 */
	LOGI(log_module, &lc, "calling the transfer target %s", c->xfer_to);
	if (n->ops->invite(n, offer->str) != 0)
		call_transfer_event(c, n, LEG_EV_FAILED, 503, "cannot reach the target", NULL, 0);
	b2b_target_clear(&t);
	g_string_free(offer, TRUE);
	return 0;
}

/* The new leg replaces the referrer: its answer moves the relay endpoint, the referrer is
 * told (NOTIFY 200) and hung up. */
static void transferred(struct call *c, const char *sdp, size_t len)
{
	struct leg *x = c->leg[c->xfer_side], *n = c->xfer_new, *keep = c->leg[!c->xfer_side];
	const char *why = NULL;
	struct log_ctx lc = ctx(c);
	if (call_media_hold_answer(c->media, c->xfer_side, sdp, len, &why) != 0) {
		LOGN(log_module, &lc, "the target's answer is unusable (%s)", why ? why : "?");
		n->ops->bye(n, 488, "no usable SDP answer");
		n->ops->release(n);
		n->ops->free(n);
		c->xfer_new = NULL;
		notify(c, 488, true);
		call_set_state(c, CALL_ACTIVE);
		return;
	}
	notify(c, 200, true);
	if (!c->xfer_gone)
		x->ops->bye(x, 0, NULL);
	x->ops->release(x);
	x->ops->free(x);
	c->leg[c->xfer_side] = n;
	c->xfer_new = NULL;
	c->xfer_gone = false;
	LOGI(log_module, &lc, "transferred to %s", c->xfer_to);
	if (keep->ops->transfer_progress) /* the browser's call goes on with the new party */
		keep->ops->transfer_progress(keep, 200, true);
	call_set_state(c, CALL_ACTIVE);
}

void call_transfer_event(struct call *c, struct leg *l, enum leg_ev ev, int code,
			 const char *reason, const char *sdp, size_t len)
{
	struct leg *keep = c->leg[!c->xfer_side];
	if (l == c->xfer_new) {
		switch (ev) {
		case LEG_EV_PROGRESS:
			notify(c, code, false);
			break;
		case LEG_EV_ANSWER:
			transferred(c, sdp, len);
			break;
		case LEG_EV_FAILED:
			notify(c, code, true);
			l->ops->release(l);
			l->ops->free(l);
			c->xfer_new = NULL;
			if (keep->ops->transfer_progress)
				keep->ops->transfer_progress(keep, code, true);
			if (c->xfer_gone) /* nobody left on that side */
				call_end(c, code, "transfer failed");
			else
				call_set_state(c, CALL_ACTIVE);
			break;
		default:
			break;
		}
		return;
	}
	if (ev != LEG_EV_HANGUP)
		return; /* renegotiations wait until the transfer is over */
	if (l->side == c->xfer_side) { /* the referrer may leave before the end (RFC 5589) */
		c->xfer_gone = true;
		if (c->state == CALL_REFERRED)
			call_end(c, code, reason);
		return;
	}
	/* the browser hung up: everything ends */
	if (c->xfer_new)
		c->xfer_new->ops->cancel(c->xfer_new);
	if (!c->xfer_gone)
		c->leg[c->xfer_side]->ops->bye(c->leg[c->xfer_side], code, reason);
	call_finish(c, code ? code : 200, reason);
}

void call_transfer_free(struct call *c)
{
	if (c->xfer_new)
		c->xfer_new->ops->free(c->xfer_new);
	c->xfer_new = NULL;
	g_free(c->xfer_to);
	g_free(c->xfer_by);
	g_free(c->xfer_replaces);
	g_free(c->xfer_join);
}
