/* Calls: two legs and a relay session, one state enum, one transition function. */
#include <string.h>

#include "b2b_int.h"

static const char *const log_module = "call";

static const char *const state_names[] = {
	[CALL_ROUTING] = "routing",       [CALL_CALLING] = "calling",
	[CALL_EARLY] = "early",           [CALL_ANSWERED] = "answered",
	[CALL_ACTIVE] = "active",         [CALL_REOFFER_A] = "reoffer-a",
	[CALL_REOFFER_B] = "reoffer-b",   [CALL_HOLD_A] = "hold-a",
	[CALL_HOLD_B] = "hold-b",         [CALL_CANCELLING] = "cancelling",
	[CALL_REFERRED] = "referred",     [CALL_TRANSFERRING] = "transferring",
	[CALL_REPLACING] = "replacing",   [CALL_REPLACE_ACK] = "replace-ack",
	[CALL_ENDED] = "ended",
};

const char *call_state_name(enum call_state s)
{
	return s <= CALL_ENDED ? state_names[s] : "?";
}

static struct log_ctx ctx(const struct call *c)
{
	return (struct log_ctx){.call_id = c->id};
}

/* The one place a call changes state. */
static void set_state(struct call *c, enum call_state to);
void call_set_state(struct call *c, enum call_state to)
{
	set_state(c, to);
}

static void set_state(struct call *c, enum call_state to)
{
	struct log_ctx lc = ctx(c);
	LOGI(log_module, &lc, "%s -> %s", call_state_name(c->state), call_state_name(to));
	c->state = to;
	b2b_presence_call_changed(c->b, c); /* dialog package (RFC 4235) watchers */
}

struct call *call_new(struct b2b *b, const char *from, const char *to)
{
	struct call *c = g_new0(struct call, 1);
	c->b = b;
	g_snprintf(c->id, sizeof(c->id), "c-%u", ++b->next_call);
	c->state = CALL_ROUTING;
	c->started_us = g_get_monotonic_time();
	c->from = g_strdup(from);
	c->to = g_strdup(to);
	c->media = call_media_new(b, c);
	g_hash_table_insert(b->calls, c->id, c);
	metric_add(b->m_calls, 1);
	struct log_ctx lc = ctx(c);
	LOGI(log_module, &lc, "new call %s -> %s", from, to);
	return c;
}

void call_set_leg(struct call *c, enum leg_side side, struct leg *l)
{
	c->leg[side] = l;
	l->call = c;
	l->side = side;
}

static void call_free(gpointer p)
{
	struct call *c = p;
	for (int i = 0; i < 2; i++)
		if (c->leg[i])
			c->leg[i]->ops->free(c->leg[i]);
	call_transfer_free(c);
	call_media_free(c->media);
	if (c->free_source)
		g_source_remove(c->free_source);
	metric_add(c->b->m_calls, -1);
	g_free(c->end_reason);
	g_free(c->from);
	g_free(c->to);
	g_free(c);
}

static gboolean free_later(gpointer data)
{
	struct call *c = data;
	c->free_source = 0;
	g_hash_table_remove(c->b->calls, c->id); /* frees c */
	return G_SOURCE_REMOVE;
}

static void count_result(struct call *c, const char *result)
{
	char labels[48];
	g_snprintf(labels, sizeof(labels), "result=\"%s\"", result);
	metric_add(metrics_series(c->b->m_call_results, labels), 1);
}

/* ENDED: legs are detached now (no callback can reach the call) and freed from the loop,
 * since the event that ended the call is still on the stack. */
static void finish(struct call *c, int code, const char *reason)
{
	if (c->state == CALL_ENDED)
		return;
	c->end_code = code;
	c->end_reason = g_strdup(reason ? reason : "");
	count_result(c, c->answered_us ? "answered" : code == 487 ? "cancelled" : "failed");
	set_state(c, CALL_ENDED);
	for (int i = 0; i < 2; i++)
		if (c->leg[i])
			c->leg[i]->ops->release(c->leg[i]);
	if (c->xfer_new)
		c->xfer_new->ops->release(c->xfer_new);
	c->free_source = core_defer(free_later, c);
}

void call_finish(struct call *c, int code, const char *reason)
{
	finish(c, code, reason);
}

int call_offer_from_a(struct call *c, const char *sdp, size_t len, GString *out, const char **why)
{
	if (!len) /* offerless: gorgee offers toward B */
		return call_media_offer_default(c->media, LEG_B, out, why);
	return call_media_offer(c->media, LEG_A, sdp, len, out, why);
}

void call_start(struct call *c, const char *offer)
{
	struct leg *b = c->leg[LEG_B];
	set_state(c, CALL_CALLING);
	if (b->ops->invite(b, offer) != 0) {
		c->leg[LEG_A]->ops->fail(c->leg[LEG_A], 503, "cannot reach the destination");
		finish(c, 503, "cannot reach the destination");
	}
}

void call_end(struct call *c, int code, const char *reason)
{
	switch (c->state) {
	case CALL_ROUTING:
	case CALL_CALLING:
	case CALL_EARLY:
		if (c->leg[LEG_B] && c->state != CALL_ROUTING)
			c->leg[LEG_B]->ops->cancel(c->leg[LEG_B]);
		c->leg[LEG_A]->ops->fail(c->leg[LEG_A], code, reason);
		break;
	case CALL_ENDED:
		return;
	default:
		for (int i = 0; i < 2; i++)
			if (c->leg[i] && !(c->xfer_gone && i == (int)c->xfer_side))
				c->leg[i]->ops->bye(c->leg[i], code, reason);
		if (c->xfer_new && c->state == CALL_REPLACING) /* a new UAS leg, not answered */
			c->xfer_new->ops->fail(c->xfer_new, code >= 300 ? code : 480, reason);
		else if (c->xfer_new && c->state == CALL_REPLACE_ACK)
			c->xfer_new->ops->bye(c->xfer_new, code, reason);
		else if (c->xfer_new)
			c->xfer_new->ops->cancel(c->xfer_new);
		break;
	}
	finish(c, code, reason);
}

/* An SDP from B before or with its answer: the answer to A's offer, translated for A. */
static bool answer_for_a(struct call *c, const char *sdp, size_t len, GString *out)
{
	const char *why = NULL;
	if (!len)
		return true;
	int st = call_media_offerless(c->media)
			 ? call_media_offerless_answer(c->media, LEG_B, sdp, len, out, &why)
			 : call_media_answer(c->media, LEG_B, sdp, len, out, &why);
	if (st) {
		struct log_ctx lc = ctx(c);
		LOGN(log_module, &lc, "answer from B unusable (%s)", why ? why : "?");
		return false;
	}
	return true;
}

static void on_b_before_answer(struct call *c, enum leg_ev ev, int code, const char *reason,
			       const char *sdp, size_t len)
{
	struct leg *a = c->leg[LEG_A], *b = c->leg[LEG_B];
	GString *out = g_string_new(NULL);
	switch (ev) {
	case LEG_EV_PROGRESS:
		if (call_media_offerless(c->media)) /* the offer to A goes in its 2xx */
			len = 0;
		if (answer_for_a(c, sdp, len, out)) {
			a->ops->progress(a, code, out->len ? out->str : NULL);
			if (c->state == CALL_CALLING)
				set_state(c, CALL_EARLY);
		}
		break;
	case LEG_EV_ANSWER:
		if (!len || !answer_for_a(c, sdp, len, out)) {
			/* B answered without a usable answer: end it on both sides */
			b->ops->bye(b, 488, "no usable SDP answer");
			a->ops->fail(a, 488, "no usable SDP answer");
			finish(c, 488, "no usable SDP answer");
			break;
		}
		c->answered_us = g_get_monotonic_time();
		a->ops->answer(a, out->str);
		/* a SIP caller confirms with its ACK; a browser has nothing to confirm */
		set_state(c, leg_is_ws(a) ? CALL_ACTIVE : CALL_ANSWERED);
		break;
	case LEG_EV_FAILED:
		if (code == 401 || code == 407) { /* a challenge we cannot answer (BI-16): the
						    * caller cannot answer it for us either */
			code = 403;
			reason = "Forbidden (the destination requires authentication)";
		}
		a->ops->fail(a, code, reason);
		finish(c, code, reason);
		break;
	case LEG_EV_CANCEL: /* A gave up */
		b->ops->cancel(b);
		a->ops->fail(a, 487, "Request Terminated");
		set_state(c, CALL_CANCELLING);
		break;
	case LEG_EV_HANGUP: /* A's session went away before the answer (WS) */
		b->ops->cancel(b);
		finish(c, code, reason);
		break;
	default:
		break;
	}
	g_string_free(out, TRUE);
}

/* A renegotiation: an offer from one side goes to the other; its answer comes back. */
static void on_reoffer(struct call *c, struct leg *from, const char *sdp, size_t len)
{
	struct leg *other = c->leg[from->side == LEG_A ? LEG_B : LEG_A];
	if (c->state != CALL_ACTIVE) { /* glare (RFC 3261 §14.2): one at a time */
		from->ops->reanswer(from, 491, NULL);
		return;
	}
	GString *out = g_string_new(NULL);
	const char *why = NULL;
	int st = call_media_offer(c->media, from->side, sdp, len, out, &why);
	if (st || !other->ops->reoffer || other->ops->reoffer(other, out->str) != 0)
		from->ops->reanswer(from, st ? st : 488, NULL);
	else
		set_state(c, from->side == LEG_A ? CALL_REOFFER_A : CALL_REOFFER_B);
	g_string_free(out, TRUE);
}

int call_hold(struct call *c, enum leg_side side, bool hold)
{
	struct leg *other = c->leg[side == LEG_A ? LEG_B : LEG_A];
	if (c->state != CALL_ACTIVE || !other || !other->ops->reoffer)
		return EBUSY;
	GString *out = g_string_new(NULL);
	int rc = call_media_hold_offer(c->media, other->side, hold, out);
	if (rc == 0)
		rc = other->ops->reoffer(other, out->str);
	if (rc == 0) {
		c->hold_wanted = hold;
		set_state(c, side == LEG_A ? CALL_HOLD_A : CALL_HOLD_B);
	}
	g_string_free(out, TRUE);
	return rc;
}

/* The answer to our hold re-offer: the relay follows it; the asking leg hears the result. */
static void on_hold_answer(struct call *c, struct leg *from, int code, const char *sdp, size_t len)
{
	enum leg_side asker = c->state == CALL_HOLD_A ? LEG_A : LEG_B;
	if (from->side == asker)
		return;
	const char *why = NULL;
	if (code >= 200 && code < 300 && call_media_hold_answer(c->media, from->side, sdp, len, &why) != 0)
		code = 488;
	set_state(c, CALL_ACTIVE);
	if (c->leg[asker]->ops->held)
		c->leg[asker]->ops->held(c->leg[asker], c->hold_wanted, code);
}

static void on_reanswer(struct call *c, struct leg *from, int code, const char *sdp, size_t len)
{
	if (c->state == CALL_HOLD_A || c->state == CALL_HOLD_B) {
		on_hold_answer(c, from, code, sdp, len);
		return;
	}
	enum leg_side offerer = c->state == CALL_REOFFER_A ? LEG_A : LEG_B;
	if ((c->state != CALL_REOFFER_A && c->state != CALL_REOFFER_B) || from->side == offerer)
		return;
	struct leg *o = c->leg[offerer];
	GString *out = g_string_new(NULL);
	const char *why = NULL;
	if (code >= 200 && code < 300 &&
	    call_media_answer(c->media, from->side, sdp, len, out, &why) == 0)
		o->ops->reanswer(o, 200, out->str);
	else
		o->ops->reanswer(o, code >= 300 ? code : 488, NULL);
	set_state(c, CALL_ACTIVE);
	g_string_free(out, TRUE);
}

void call_leg_event(struct call *c, struct leg *l, enum leg_ev ev, int code, const char *reason,
		    const char *sdp, size_t sdp_len)
{
	struct log_ctx lc = ctx(c);
	LOGD(log_module, &lc, "%s leg %c: event %d code %d in %s", l->ops->kind,
	     l->side == LEG_A ? 'A' : 'B', ev, code, call_state_name(c->state));
	struct leg *other = c->leg[l->side == LEG_A ? LEG_B : LEG_A];
	if (c->state == CALL_REFERRED || c->state == CALL_TRANSFERRING) {
		call_transfer_event(c, l, ev, code, reason, sdp, sdp_len);
		return;
	}
	if (c->state == CALL_REPLACING || c->state == CALL_REPLACE_ACK) {
		call_replace_event(c, l, ev, code, reason, sdp, sdp_len);
		return;
	}
	switch (c->state) {
	case CALL_ROUTING:
		if (ev == LEG_EV_CANCEL || ev == LEG_EV_HANGUP) {
			if (ev == LEG_EV_CANCEL)
				l->ops->fail(l, 487, "Request Terminated");
			finish(c, 487, "cancelled");
		}
		break;
	case CALL_CALLING:
	case CALL_EARLY:
		if ((l->side == LEG_B && ev != LEG_EV_CANCEL) ||
		    (l->side == LEG_A && (ev == LEG_EV_CANCEL || ev == LEG_EV_HANGUP)))
			on_b_before_answer(c, ev, code, reason, sdp, sdp_len);
		break;
	case CALL_CANCELLING:
		if (l->side != LEG_B)
			break;
		if (ev == LEG_EV_ANSWER) /* the answer crossed our CANCEL: end it (§9.1) */
			l->ops->bye(l, 487, "cancelled");
		if (ev == LEG_EV_ANSWER || ev == LEG_EV_FAILED)
			finish(c, 487, "cancelled");
		break;
	case CALL_ANSWERED:
		if (ev == LEG_EV_ACK && l->side == LEG_A) {
			const char *why = NULL;
			if (call_media_offerless(c->media) &&
			    call_media_late_answer(c->media, LEG_A, sdp, sdp_len, &why) != 0) {
				LOGN(log_module, &lc, "answer in the ACK unusable (%s)", why ? why : "none");
				for (int i = 0; i < 2; i++)
					c->leg[i]->ops->bye(c->leg[i], 488, "no usable SDP answer");
				finish(c, 488, "no usable SDP answer");
				break;
			}
			set_state(c, CALL_ACTIVE);
			break;
		}
		/* BYE before ACK ends the call as well */
		G_GNUC_FALLTHROUGH;
	case CALL_ACTIVE:
	case CALL_REOFFER_A:
	case CALL_REOFFER_B:
	case CALL_HOLD_A:
	case CALL_HOLD_B:
		if (ev == LEG_EV_HANGUP) {
			other->ops->bye(other, code, reason);
			finish(c, code ? code : 200, reason ? reason : "hangup");
		} else if (ev == LEG_EV_REOFFER) {
			on_reoffer(c, l, sdp, sdp_len);
		} else if (ev == LEG_EV_REANSWER) {
			on_reanswer(c, l, code, sdp, sdp_len);
		}
		break;
	case CALL_ENDED:
	case CALL_REFERRED:
	case CALL_TRANSFERRING:
	case CALL_REPLACING:
	case CALL_REPLACE_ACK:
		break;
	}
}

struct transfer_req {
	call_transfer_fn *done;
	void *arg;
};

static void on_refer(struct sip_ctrans *ct, const struct sip_msg *m, int status, void *arg)
{
	struct transfer_req *t = arg;
	if (status < 200)
		return;
	t->done(status, t->arg);
	g_free(t);
}

int call_transfer(struct call *c, enum leg_side side, const char *to, const char *by,
		  call_transfer_fn *done, void *arg)
{
	struct leg *other = c->leg[side == LEG_A ? LEG_B : LEG_A];
	if (c->state != CALL_ACTIVE || !leg_is_sip(other))
		return EINVAL;
	struct transfer_req *t = g_new0(struct transfer_req, 1);
	t->done = done;
	t->arg = arg;
	int rc = leg_sip_refer(other, to, by, on_refer, t);
	if (rc) {
		g_free(t);
	} else { /* a blind transfer joins nothing */
		g_free(c->xfer_join);
		c->xfer_join = NULL;
	}
	return rc;
}

int call_transfer_attended(struct call *c, enum leg_side side, struct call *with,
			   enum leg_side with_side, const char *by, call_transfer_fn *done,
			   void *arg)
{
	struct leg *other = c->leg[side == LEG_A ? LEG_B : LEG_A];
	struct leg *party = with->leg[with_side == LEG_A ? LEG_B : LEG_A];
	if (c == with || c->state != CALL_ACTIVE || with->state != CALL_ACTIVE || !leg_is_sip(other) ||
	    !leg_is_sip(party))
		return EINVAL;
	GString *to = g_string_new(NULL);
	struct transfer_req *t = g_new0(struct transfer_req, 1);
	t->done = done;
	t->arg = arg;
	/* RFC 3891 §5 / RFC 5589 §7: the transferee calls the target directly, replacing the
	 * target's dialog with gorgee; gorgee leaves both calls once that worked */
	int rc = leg_sip_replaces_uri(party, to);
	if (rc == 0)
		rc = leg_sip_refer(other, to->str, by, on_refer, t);
	if (rc) {
		g_free(t);
	} else {
		g_free(c->xfer_join);
		c->xfer_join = g_strdup(with->id);
		struct log_ctx lc = ctx(c);
		LOGI(log_module, &lc, "attended transfer: REFER to join call %s", with->id);
	}
	g_string_free(to, TRUE);
	return rc;
}

void call_leg_notify(struct call *c, struct leg *l, int code, bool final)
{
	struct leg *other = c->leg[l->side == LEG_A ? LEG_B : LEG_A];
	if (c->state == CALL_ENDED || !other)
		return;
	if (other->ops->transfer_progress)
		other->ops->transfer_progress(other, code, final);
	if (final && (code < 200 || code >= 300)) { /* failed: the calls stay as they were */
		g_free(c->xfer_join);
		c->xfer_join = NULL;
	}
	if (final && code >= 200 && code < 300) { /* transferred: this call is over */
		struct log_ctx lc = ctx(c);
		LOGI(log_module, &lc, "transferred (NOTIFY %d): ending the call", code);
		l->ops->bye(l, 0, NULL);
		finish(c, 200, "transferred");
		struct call *j = c->xfer_join ? g_hash_table_lookup(c->b->calls, c->xfer_join) : NULL;
		if (j && j != c) /* attended: the other call was replaced at its SIP party */
			call_end(j, 200, "transferred");
	}
}

void call_leg_request(struct call *c, struct leg *l, const char *method, const char *ctype,
		      const char *body, size_t len)
{
	struct leg *other = c->leg[l->side == LEG_A ? LEG_B : LEG_A];
	if (c->state == CALL_ENDED || !other || !other->ops->request)
		return;
	other->ops->request(other, method, ctype, body, len);
}

void call_dump(const struct call *c, GString *out)
{
	gint64 now = g_get_monotonic_time();
	g_string_append_printf(out, "call %s state=%s from=%s to=%s age=%llds%s\n", c->id,
			       call_state_name(c->state), c->from, c->to,
			       (long long)((now - c->started_us) / G_USEC_PER_SEC),
			       c->answered_us ? " answered" : "");
	for (int i = 0; i < 2; i++) {
		if (!c->leg[i])
			continue;
		g_string_append_printf(out, "  leg %c %s: ", i == LEG_A ? 'A' : 'B', c->leg[i]->ops->kind);
		c->leg[i]->ops->dump(c->leg[i], out);
	}
	call_media_dump(c->media, out);
}

unsigned b2b_call_count(const struct b2b *b)
{
	return g_hash_table_size(b->calls);
}

void b2b_dump_calls(const struct b2b *b, GString *out)
{
	GHashTableIter it;
	gpointer v;
	g_hash_table_iter_init(&it, b->calls);
	while (g_hash_table_iter_next(&it, NULL, &v))
		call_dump(v, out);
	b2b_subs_dump(b, out);
	b2b_presence_dump(b, out);
}

GHashTable *b2b_calls_table_new(void)
{
	return g_hash_table_new_full(g_str_hash, g_str_equal, NULL, call_free);
}
