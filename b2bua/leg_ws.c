/* WebSocket legs: a browser's side of a call (ws/PROTOCOL.md "Calls"), as the caller (A)
 * or as the called user (B, offered to every session of that user: the first answer wins). */
#include <errno.h>
#include <string.h>

#include "b2b_int.h"

static const char *const log_module = "leg-ws";

enum ws_leg_state {
	WSL_CALLING,  /* A: the browser's call is out */
	WSL_RINGING,  /* B: incoming_call sent to the user's sessions */
	WSL_UP,       /* answered */
	WSL_DONE,     /* ended: the final call_state was sent */
};

struct ws_leg {
	struct leg base;
	struct b2b *b;
	enum ws_leg_state state;
	struct ws_session *session; /* the browser in the call (A; B once answered) */
	GPtrArray *ringing;         /* B: sessions offered the call (refs) until one answers */
	json_t *req_id;             /* the request that made the call (A), on all its events */
	char *from, *to;            /* for incoming_call */
	char *account;              /* the account whose Contact was called, or NULL */
	bool remote_offer;          /* a renegotiate event (offer) awaits the browser's answer */
	bool local_offer;           /* the browser's renegotiate offer awaits the other leg */
	json_t *reneg_id;           /* that request's id */
	guint ring_source;
	guint cancel_source;
	json_t *xfer_id;            /* the transfer request's id, on its progress events */
};

static struct log_ctx lctx(const struct ws_leg *l)
{
	return (struct log_ctx){.call_id = l->base.call ? l->base.call->id : NULL,
				.leg = l->base.side == LEG_A ? "ws-a" : "ws-b",
				.peer = l->session ? ws_session_user(l->session) : NULL};
}

static json_t *jsep(const char *type, const char *sdp)
{
	return json_pack("{s:s,s:s}", "type", type, "sdp", sdp);
}

static void send_to(struct ws_leg *l, struct ws_session *s, const char *name, json_t *req_id,
		    json_t *data)
{
	ws_session_send_event(s, name, req_id, l->base.call->id, data);
}

/* An event to the browser in the call, or while ringing to every session offered it. */
static void send_all(struct ws_leg *l, const char *name, json_t *req_id, json_t *data)
{
	if (l->session) {
		send_to(l, l->session, name, req_id, data);
		return;
	}
	for (guint i = 0; l->ringing && i < l->ringing->len; i++)
		send_to(l, l->ringing->pdata[i], name, req_id, i + 1 < l->ringing->len ? json_deep_copy(data) : data);
	if (!l->ringing || !l->ringing->len)
		json_decref(data);
}

static void call_state(struct ws_leg *l, const char *state, int code, const char *reason,
		       const char *by, const char *sdp, const char *sdp_type)
{
	json_t *d = json_pack("{s:s}", "state", state);
	if (code)
		json_object_set_new(d, "code", json_integer(code));
	if (reason && *reason)
		json_object_set_new(d, "reason", json_string(reason));
	if (by)
		json_object_set_new(d, "by", json_string(by));
	if (sdp)
		json_object_set_new(d, "jsep", jsep(sdp_type, sdp));
	send_all(l, "call_state", l->req_id, d);
}

/* ---- what the call asks ---- */

static gboolean ringing(gpointer data)
{
	struct ws_leg *l = data;
	l->ring_source = 0;
	if (l->state == WSL_RINGING)
		call_leg_event(l->base.call, &l->base, LEG_EV_PROGRESS, 180, NULL, NULL, 0);
	return G_SOURCE_REMOVE;
}

static int ws_invite(struct leg *base, const char *sdp)
{
	struct ws_leg *l = (struct ws_leg *)base;
	for (guint i = 0; i < l->ringing->len; i++) {
		json_t *d = json_pack("{s:s,s:s}", "from", l->from, "to", l->to);
		if (l->account)
			json_object_set_new(d, "account_id", json_string(l->account));
		if (sdp)
			json_object_set_new(d, "jsep", jsep("offer", sdp));
		send_to(l, l->ringing->pdata[i], "incoming_call", NULL, d);
	}
	/* the browsers ring: tell the caller (180), from the loop since the call is starting */
	l->ring_source = core_defer(ringing, l);
	return 0;
}

static void ws_progress(struct leg *base, int code, const char *sdp)
{
	struct ws_leg *l = (struct ws_leg *)base;
	call_state(l, sdp ? "early" : "ringing", code, NULL, NULL, sdp, "answer");
}

static void ws_answer(struct leg *base, const char *sdp)
{
	struct ws_leg *l = (struct ws_leg *)base;
	l->state = WSL_UP;
	call_state(l, "answered", 200, NULL, NULL, sdp, "answer");
}

static void end(struct ws_leg *l, int code, const char *reason, const char *by)
{
	if (l->state == WSL_DONE)
		return;
	l->state = WSL_DONE;
	call_state(l, "ended", code, reason, by, NULL, NULL);
}

static void ws_fail(struct leg *base, int code, const char *reason)
{
	end((struct ws_leg *)base, code, reason, "remote");
}

/* The call waits for the cancelled leg's final answer (CALL_CANCELLING) as it would from a
 * SIP callee's 487: reported from the loop, since cancel runs inside the caller's event. */
static gboolean cancelled(gpointer data)
{
	struct ws_leg *l = data;
	l->cancel_source = 0;
	call_leg_event(l->base.call, &l->base, LEG_EV_FAILED, 487, "Request Terminated", NULL, 0);
	return G_SOURCE_REMOVE;
}

static void ws_cancel(struct leg *base)
{
	struct ws_leg *l = (struct ws_leg *)base;
	end(l, 487, "cancelled by the caller", "remote");
	if (!l->cancel_source)
		l->cancel_source = core_defer(cancelled, l);
}

static void ws_bye(struct leg *base, int code, const char *reason)
{
	end((struct ws_leg *)base, code ? code : 200, reason, "remote");
}

static int ws_reoffer(struct leg *base, const char *sdp)
{
	struct ws_leg *l = (struct ws_leg *)base;
	if (!l->session || l->remote_offer || l->local_offer)
		return EBUSY;
	l->remote_offer = true;
	send_to(l, l->session, "renegotiate", NULL, json_pack("{s:o}", "jsep", jsep("offer", sdp)));
	return 0;
}

static void ws_reanswer(struct leg *base, int code, const char *sdp)
{
	struct ws_leg *l = (struct ws_leg *)base;
	if (!l->local_offer)
		return;
	l->local_offer = false;
	json_t *d = code < 300 && sdp ? json_pack("{s:o}", "jsep", jsep("answer", sdp))
				      : json_pack("{s:i,s:s}", "code", code, "reason", "renegotiation refused");
	send_to(l, l->session, "renegotiated", l->reneg_id, d);
	json_decref(l->reneg_id);
	l->reneg_id = NULL;
}

static void ws_held(struct leg *base, bool hold, int code)
{
	struct ws_leg *l = (struct ws_leg *)base;
	if (code >= 200 && code < 300)
		call_state(l, hold ? "held" : "answered", 0, NULL, "local", NULL, NULL);
	else
		send_to(l, l->session, "call_state", l->req_id,
			json_pack("{s:s,s:i,s:s}", "state", hold ? "answered" : "held", "code", code,
				  "reason", hold ? "hold refused" : "resume refused"));
}

/* "Signal=5\r\nDuration=160" (application/dtmf-relay, the common INFO DTMF body) */
static bool dtmf_relay(const char *body, size_t len, char *digit, int *duration)
{
	char buf[256];
	if (len >= sizeof(buf))
		return false;
	memcpy(buf, body, len);
	buf[len] = '\0';
	const char *sig = strstr(buf, "Signal=");
	const char *dur = strstr(buf, "Duration=");
	if (!sig || !strchr("0123456789*#ABCDabcd", sig[7]) || !sig[7])
		return false;
	*digit = (char)g_ascii_toupper(sig[7]);
	*duration = dur ? atoi(dur + 9) : 0;
	return true;
}

static void ws_request(struct leg *base, const char *method, const char *ctype, const char *body,
		       size_t len)
{
	struct ws_leg *l = (struct ws_leg *)base;
	if (!l->session || !g_utf8_validate(body, (gssize)len, NULL) || memchr(body, '\0', len))
		return;
	char digit;
	int duration;
	if (strcmp(method, "INFO") == 0 && g_ascii_strcasecmp(ctype, "application/dtmf-relay") == 0 &&
	    dtmf_relay(body, len, &digit, &duration)) {
		char d[2] = {digit, '\0'};
		send_to(l, l->session, "dtmf", l->req_id,
			json_pack("{s:s,s:i,s:s}", "digits", d, "duration", duration, "method", "info"));
		return;
	}
	send_to(l, l->session, strcmp(method, "INFO") == 0 ? "info" : "message", l->req_id,
		json_pack("{s:s,s:s%}", "content_type", ctype, "body", body, len));
}

static void ws_transfer_request(struct leg *base, const char *to, const char *by,
				const char *replaces)
{
	struct ws_leg *l = (struct ws_leg *)base;
	json_t *d = json_pack("{s:s,s:s}", "to", to, "referred_by", by);
	if (replaces) /* attended: the call to `to` replaces its call with the referrer */
		json_object_set_new(d, "replaces", json_string(replaces));
	if (l->session)
		send_to(l, l->session, "transfer_request", l->req_id, d);
	else
		json_decref(d);
}

/* RFC 3891: another SIP party took the place of the one this browser talked to; the
 * renegotiate offer toward it came first. */
static void ws_replaced(struct leg *base, const char *party)
{
	struct ws_leg *l = (struct ws_leg *)base;
	if (l->session)
		send_to(l, l->session, "replaced", l->req_id, json_pack("{s:s}", "party", party));
}

static void ws_transfer_progress(struct leg *base, int code, bool final)
{
	struct ws_leg *l = (struct ws_leg *)base;
	if (l->session)
		send_to(l, l->session, "transfer_progress", l->xfer_id ? l->xfer_id : l->req_id,
			json_pack("{s:i,s:b}", "code", code, "final", final));
}

static void ws_trickle(struct leg *base, const char *cand)
{
	struct ws_leg *l = (struct ws_leg *)base;
	json_t *d = cand ? json_pack("{s:{s:s,s:s,s:i}}", "candidate", "candidate", cand, "sdpMid", "0",
				     "sdpMLineIndex", 0)
			 : json_pack("{s:b}", "completed", 1);
	send_all(l, "trickle", l->req_id, d);
}

static void ws_release(struct leg *base)
{
	struct ws_leg *l = (struct ws_leg *)base;
	if (l->ring_source)
		g_source_remove(l->ring_source);
	l->ring_source = 0;
	if (l->cancel_source)
		g_source_remove(l->cancel_source);
	l->cancel_source = 0;
	if (l->state != WSL_DONE) /* the call ended some other way: say so */
		end(l, l->base.call->end_code ? l->base.call->end_code : 200, l->base.call->end_reason,
		    "gateway");
}

static void ws_dump(const struct leg *base, GString *out)
{
	const struct ws_leg *l = (const struct ws_leg *)base;
	static const char *const names[] = {"calling", "ringing", "up", "done"};
	g_string_append_printf(out, "session=%s user=%s state=%s ringing=%u\n",
			       l->session ? ws_session_id(l->session) : "-",
			       l->session ? ws_session_user(l->session) : "-", names[l->state],
			       l->ringing ? l->ringing->len : 0);
}

static void ws_free(struct leg *base)
{
	struct ws_leg *l = (struct ws_leg *)base;
	if (l->session)
		ws_session_unref(l->session);
	if (l->ringing)
		g_ptr_array_unref(l->ringing);
	json_decref(l->req_id);
	json_decref(l->reneg_id);
	json_decref(l->xfer_id);
	g_free(l->from);
	g_free(l->to);
	g_free(l->account);
	g_free(l);
}

static const struct leg_ops ws_ops = {
	.kind = "ws",
	.invite = ws_invite,
	.progress = ws_progress,
	.answer = ws_answer,
	.fail = ws_fail,
	.cancel = ws_cancel,
	.bye = ws_bye,
	.reoffer = ws_reoffer,
	.reanswer = ws_reanswer,
	.trickle = ws_trickle,
	.held = ws_held,
	.request = ws_request,
	.transfer_progress = ws_transfer_progress,
	.transfer_request = ws_transfer_request,
	.replaced = ws_replaced,
	.release = ws_release,
	.dump = ws_dump,
	.free = ws_free,
};

struct leg *leg_ws_new_caller(struct b2b *b, struct ws_session *s, json_t *req_id)
{
	struct ws_leg *l = g_new0(struct ws_leg, 1);
	l->base.ops = &ws_ops;
	l->b = b;
	l->state = WSL_CALLING;
	l->session = ws_session_ref(s);
	l->req_id = json_incref(req_id);
	return &l->base;
}

struct leg *leg_ws_new_callee(struct b2b *b, GPtrArray *sessions, const char *from, const char *to,
			      const char *account)
{
	struct ws_leg *l = g_new0(struct ws_leg, 1);
	l->base.ops = &ws_ops;
	l->b = b;
	l->state = WSL_RINGING;
	l->ringing = g_ptr_array_ref(sessions);
	l->from = g_strdup(from);
	l->to = g_strdup(to);
	l->account = g_strdup(account);
	return &l->base;
}

bool leg_is_ws(const struct leg *l)
{
	return l && l->ops == &ws_ops;
}

struct ws_session *leg_ws_session(const struct leg *l)
{
	return ((const struct ws_leg *)l)->session;
}

/* ---- requests ---- */

static bool offered_to(const struct ws_leg *l, const struct ws_session *s)
{
	for (guint i = 0; l->ringing && i < l->ringing->len; i++)
		if (l->ringing->pdata[i] == s)
			return true;
	return false;
}

/* The WS leg of call_id that belongs to the requesting session, or an error reply. */
static struct ws_leg *own_leg(struct b2b *b, struct ws_req *req, json_t *params, struct call **cp)
{
	const char *id = json_string_value(json_object_get(params, "call_id"));
	struct call *c = id ? g_hash_table_lookup(b->calls, id) : NULL;
	if (!c || c->state == CALL_ENDED) {
		ws_req_error(req, WS_E_INVALID_PARAMS, "no such call");
		return NULL;
	}
	struct ws_session *s = ws_req_session(req);
	for (int i = 0; i < 2; i++) {
		struct ws_leg *l = leg_is_ws(c->leg[i]) ? (struct ws_leg *)c->leg[i] : NULL;
		if (l && (l->session == s || (!l->session && offered_to(l, s)))) {
			*cp = c;
			return l;
		}
	}
	ws_req_error(req, WS_E_FORBIDDEN, "call of another session");
	return NULL;
}

static const char *jsep_sdp(json_t *params, const char *type)
{
	json_t *j = json_object_get(params, "jsep");
	const char *t = json_string_value(json_object_get(j, "type"));
	const char *sdp = json_string_value(json_object_get(j, "sdp"));
	return t && sdp && strcmp(t, type) == 0 ? sdp : NULL;
}

static void h_call(struct ws_req *req, json_t *params, void *arg)
{
	struct b2b *b = arg;
	const char *to = json_string_value(json_object_get(params, "to"));
	const char *sdp = jsep_sdp(params, "offer");
	const char *account = json_string_value(json_object_get(params, "account_id"));
	if (!sdp) {
		ws_req_error(req, WS_E_INVALID_PARAMS, "parameter 'jsep' must be an offer with an sdp");
		return;
	}
	if (b->stopping) {
		ws_req_error(req, WS_E_UNAVAILABLE, "gorgee is stopping");
		return;
	}
	if (b->cfg.max_calls && b2b_call_count(b) >= b->cfg.max_calls) {
		ws_req_error(req, WS_E_UNAVAILABLE, "too many calls");
		return;
	}
	b2b_call_from_ws(b, req, to, account, sdp);
}

static void h_answer(struct ws_req *req, json_t *params, void *arg)
{
	struct call *c;
	struct ws_leg *l = own_leg(arg, req, params, &c);
	if (!l)
		return;
	const char *sdp = jsep_sdp(params, "answer");
	if (l->base.side != LEG_B || l->state != WSL_RINGING) {
		ws_req_error(req, WS_E_WRONG_STATE, "the call is not ringing here");
		return;
	}
	if (!sdp) {
		ws_req_error(req, WS_E_INVALID_PARAMS, "parameter 'jsep' must be an answer with an sdp");
		return;
	}
	/* the first answer wins: the other sessions stop ringing */
	struct ws_session *s = ws_req_session(req);
	l->session = ws_session_ref(s);
	for (guint i = 0; i < l->ringing->len; i++)
		if (l->ringing->pdata[i] != s)
			send_to(l, l->ringing->pdata[i], "call_state", NULL,
				json_pack("{s:s,s:i,s:s,s:s}", "state", "ended", "code", 200, "reason",
					  "answered elsewhere", "by", "gateway"));
	g_ptr_array_set_size(l->ringing, 0);
	l->state = WSL_UP;
	ws_req_reply(req, NULL);
	call_leg_event(c, &l->base, LEG_EV_ANSWER, 200, NULL, sdp, strlen(sdp));
}

static void h_decline(struct ws_req *req, json_t *params, void *arg)
{
	struct call *c;
	struct ws_leg *l = own_leg(arg, req, params, &c);
	if (!l)
		return;
	json_t *jc = json_object_get(params, "code");
	const char *reason = json_string_value(json_object_get(params, "reason"));
	int code = jc ? (int)json_integer_value(jc) : 603;
	if (l->base.side != LEG_B || l->state != WSL_RINGING) {
		ws_req_error(req, WS_E_WRONG_STATE, "the call is not ringing here");
		return;
	}
	ws_req_reply(req, NULL);
	/* one session declining ends the offer only for it, unless it was the last one */
	if (l->ringing->len > 1) {
		g_ptr_array_remove(l->ringing, ws_req_session(req));
		return;
	}
	l->state = WSL_DONE;
	call_leg_event(c, &l->base, LEG_EV_FAILED, code, reason ? reason : "Declined", NULL, 0);
}

static void h_hangup(struct ws_req *req, json_t *params, void *arg)
{
	struct call *c;
	struct ws_leg *l = own_leg(arg, req, params, &c);
	if (!l)
		return;
	json_t *jc = json_object_get(params, "code");
	const char *reason = json_string_value(json_object_get(params, "reason"));
	int code = jc ? (int)json_integer_value(jc) : 200;
	ws_req_reply(req, NULL);
	if (l->state == WSL_RINGING) { /* hanging up a ringing call declines it */
		l->state = WSL_DONE;
		call_leg_event(c, &l->base, LEG_EV_FAILED, code >= 400 ? code : 603,
			       reason ? reason : "Declined", NULL, 0);
		return;
	}
	bool before_answer = l->state == WSL_CALLING;
	l->state = WSL_DONE;
	call_state(l, "ended", code, reason, "local", NULL, NULL);
	call_leg_event(c, &l->base, before_answer ? LEG_EV_CANCEL : LEG_EV_HANGUP, code, reason,
		       NULL, 0);
}

static void h_trickle(struct ws_req *req, json_t *params, void *arg)
{
	struct call *c;
	struct ws_leg *l = own_leg(arg, req, params, &c);
	if (!l)
		return;
	json_t *cand = json_object_get(params, "candidate");
	const char *text = json_string_value(json_object_get(cand, "candidate"));
	bool completed = json_is_true(json_object_get(params, "completed"));
	if (!text && !completed) {
		ws_req_error(req, WS_E_INVALID_PARAMS, "give 'candidate' or 'completed'");
		return;
	}
	if (text && !*text) { /* the browser's end-of-candidates */
		text = NULL;
		completed = true;
	}
	int rc = call_media_trickle(c->media, l->base.side, completed ? NULL : text);
	if (rc == EBADMSG || rc == ENOSPC)
		ws_req_error(req, WS_E_INVALID_PARAMS, rc == ENOSPC ? "too many candidates" : "malformed candidate");
	else if (rc)
		ws_req_error(req, WS_E_WRONG_STATE, "the call has no ICE media yet");
	else
		ws_req_reply(req, NULL);
}

static void h_renegotiate(struct ws_req *req, json_t *params, void *arg)
{
	struct call *c;
	struct ws_leg *l = own_leg(arg, req, params, &c);
	if (!l)
		return;
	const char *offer = jsep_sdp(params, "offer"), *answer = jsep_sdp(params, "answer");
	if (l->state != WSL_UP || (!offer && !answer)) {
		ws_req_error(req, offer || answer ? WS_E_WRONG_STATE : WS_E_INVALID_PARAMS,
			     offer || answer ? "the call is not answered" : "parameter 'jsep' needs an offer or answer");
		return;
	}
	if (answer) {
		if (!l->remote_offer) {
			ws_req_error(req, WS_E_WRONG_STATE, "no renegotiation offer to answer");
			return;
		}
		l->remote_offer = false;
		ws_req_reply(req, NULL);
		call_leg_event(c, &l->base, LEG_EV_REANSWER, 200, NULL, answer, strlen(answer));
		return;
	}
	if (l->local_offer || l->remote_offer || c->state != CALL_ACTIVE) {
		ws_req_error(req, WS_E_WRONG_STATE, "a renegotiation is in progress");
		return;
	}
	l->local_offer = true;
	json_decref(l->reneg_id);
	l->reneg_id = json_incref(ws_req_id(req));
	ws_req_reply(req, NULL);
	call_leg_event(c, &l->base, LEG_EV_REOFFER, 0, NULL, offer, strlen(offer));
}

static void hold_request(struct ws_req *req, json_t *params, struct b2b *b, bool hold)
{
	struct call *c;
	struct ws_leg *l = own_leg(b, req, params, &c);
	if (!l)
		return;
	if (l->state != WSL_UP || l->local_offer || l->remote_offer ||
	    call_hold(c, l->base.side, hold) != 0) {
		ws_req_error(req, WS_E_WRONG_STATE, "the call is not answered or is being renegotiated");
		return;
	}
	ws_req_reply(req, NULL);
}

static void h_hold(struct ws_req *req, json_t *params, void *arg)
{
	hold_request(req, params, arg, true);
}

static void h_unhold(struct ws_req *req, json_t *params, void *arg)
{
	hold_request(req, params, arg, false);
}

/* INFO and DTMF toward the other leg; the reply waits for a SIP peer's answer. */
static void on_info_response(struct sip_ctrans *ct, const struct sip_msg *m, int status, void *arg)
{
	struct ws_req *req = arg;
	if (status < 200)
		return;
	ws_req_reply(req, json_pack("{s:i}", "code", status));
	ws_req_unref(req);
}

static void pass_info(struct ws_req *req, struct call *c, struct ws_leg *l, const char *ctype,
		      const char *body, size_t len)
{
	struct leg *other = c->leg[l->base.side == LEG_A ? LEG_B : LEG_A];
	if (l->state != WSL_UP || !other) {
		ws_req_error(req, WS_E_WRONG_STATE, "the call is not answered");
		return;
	}
	if (!leg_is_sip(other)) {
		other->ops->request(other, "INFO", ctype, body, len);
		ws_req_reply(req, json_pack("{s:i}", "code", 200));
		return;
	}
	ws_req_ref(req);
	if (leg_sip_request(other, "INFO", ctype, body, len, on_info_response, req) != 0) {
		ws_req_unref(req);
		ws_req_error(req, WS_E_WRONG_STATE, "the call is not answered");
	}
}

static void h_info(struct ws_req *req, json_t *params, void *arg)
{
	struct call *c;
	struct ws_leg *l = own_leg(arg, req, params, &c);
	if (!l)
		return;
	const char *ctype = json_string_value(json_object_get(params, "content_type"));
	json_t *jb = json_object_get(params, "body");
	if (strcspn(ctype, "\r\n") != strlen(ctype)) {
		ws_req_error(req, WS_E_INVALID_PARAMS, "content_type must be one line");
		return;
	}
	pass_info(req, c, l, ctype, json_string_value(jb), json_string_length(jb));
}

/* DTMF by SIP INFO (application/dtmf-relay); RFC 4733 events come from the browser itself
 * (RTCDTMFSender) and cross the relay like any RTP. */
static void h_dtmf(struct ws_req *req, json_t *params, void *arg)
{
	struct call *c;
	struct ws_leg *l = own_leg(arg, req, params, &c);
	if (!l)
		return;
	const char *digits = json_string_value(json_object_get(params, "digits"));
	const char *method = json_string_value(json_object_get(params, "method"));
	json_t *jd = json_object_get(params, "duration");
	int duration = jd ? (int)json_integer_value(jd) : 100;
	if (strspn(digits, "0123456789*#ABCDabcd") != strlen(digits)) {
		ws_req_error(req, WS_E_INVALID_PARAMS, "digits are 0-9, *, #, A-D");
		return;
	}
	if (!method || strcmp(method, "info") != 0) {
		ws_req_error(req, WS_E_NOT_AVAILABLE,
			     "RFC 4733 DTMF is sent by the browser (RTCRtpSender.dtmf) and relayed; use method 'info' for SIP INFO");
		return;
	}
	if (strlen(digits) != 1) { /* one INFO per digit keeps the order (one transaction each) */
		ws_req_error(req, WS_E_INVALID_PARAMS, "method 'info' sends one digit per request");
		return;
	}
	char body[64];
	g_snprintf(body, sizeof(body), "Signal=%c\r\nDuration=%d\r\n", g_ascii_toupper(digits[0]), duration);
	pass_info(req, c, l, "application/dtmf-relay", body, strlen(body));
}

static void on_transfer(int code, void *arg)
{
	struct ws_req *req = arg;
	ws_req_reply(req, json_pack("{s:i}", "code", code));
	ws_req_unref(req);
}

static char *referred_by(struct b2b *b, struct ws_leg *l)
{
	return g_strdup_printf("sip:%s@%s", ws_session_user(l->session),
			       *b->domain ? b->domain : b->contact_host);
}

/* Attended transfer (RFC 3891 §5): the SIP party of call_id is referred to the SIP party of
 * replaces_call_id, both calls of this session, to replace that call's dialog with gorgee. */
static void attended_transfer(struct ws_req *req, json_t *params, struct b2b *b, struct call *c,
			      struct ws_leg *l)
{
	json_t *p2 = json_pack("{s:O}", "call_id", json_object_get(params, "replaces_call_id"));
	struct call *c2;
	struct ws_leg *l2 = own_leg(b, req, p2, &c2); /* replies the error itself */
	json_decref(p2);
	if (!l2)
		return;
	if (json_object_get(params, "to")) {
		ws_req_error(req, WS_E_INVALID_PARAMS, "give 'to' or 'replaces_call_id', not both");
		return;
	}
	char *by = referred_by(b, l);
	json_decref(l->xfer_id);
	l->xfer_id = json_incref(ws_req_id(req));
	int rc = EINVAL;
	if (l->state == WSL_UP && l2->state == WSL_UP) {
		ws_req_ref(req); /* until on_transfer */
		rc = call_transfer_attended(c, l->base.side, c2, l2->base.side, by, on_transfer, req);
		if (rc)
			ws_req_unref(req);
	}
	if (rc)
		ws_req_error(req, WS_E_WRONG_STATE, "both calls must be answered, with a SIP party each");
	g_free(by);
}

static void h_transfer(struct ws_req *req, json_t *params, void *arg)
{
	struct b2b *b = arg;
	struct call *c;
	struct ws_leg *l = own_leg(b, req, params, &c);
	if (!l)
		return;
	const char *to = json_string_value(json_object_get(params, "to"));
	struct sip_uri u;
	if (json_object_get(params, "replaces_call_id")) {
		attended_transfer(req, params, b, c, l);
		return;
	}
	if (!to || sip_uri_parse((struct slice){to, strlen(to)}, &u) != 0 || u.scheme != SIP_SCHEME_SIP ||
	    strpbrk(to, "<>\"\r\n")) {
		ws_req_error(req, WS_E_INVALID_PARAMS, "parameter 'to' must be a sip: URI");
		return;
	}
	char *by = referred_by(b, l);
	json_decref(l->xfer_id);
	l->xfer_id = json_incref(ws_req_id(req));
	int rc = EINVAL;
	if (l->state == WSL_UP) {
		ws_req_ref(req); /* until on_transfer */
		rc = call_transfer(c, l->base.side, to, by, on_transfer, req);
		if (rc)
			ws_req_unref(req);
	}
	if (rc)
		ws_req_error(req, WS_E_WRONG_STATE, "only an answered call with a SIP party can be transferred");
	g_free(by);
}

static void transfer_decide(struct ws_req *req, json_t *params, struct b2b *b, bool accept)
{
	struct call *c;
	struct ws_leg *l = own_leg(b, req, params, &c);
	if (!l)
		return;
	if (c->state != CALL_REFERRED) {
		ws_req_error(req, WS_E_WRONG_STATE, "no transfer request on this call");
		return;
	}
	ws_req_reply(req, NULL);
	call_transfer_decide(c, accept);
}

static void h_transfer_accept(struct ws_req *req, json_t *params, void *arg)
{
	transfer_decide(req, params, arg, true);
}

static void h_transfer_reject(struct ws_req *req, json_t *params, void *arg)
{
	transfer_decide(req, params, arg, false);
}

static json_t *dir_stats(const struct relay_dir_stats *d)
{
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:f}", "received_packets",
			 (json_int_t)d->packets_in, "sent_packets", (json_int_t)d->packets_out,
			 "dropped", (json_int_t)d->dropped, "bytes_received",
			 (json_int_t)d->bytes_in, "lost", (json_int_t)d->lost, "jitter_ms",
			 d->jitter_us / 1000.0);
}

static void on_stats(struct relay_session *rs, const struct relay_session_stats *st, void *arg)
{
	struct ws_req *req = arg;
	json_t *r = json_object();
	static const char *const names[2] = {"a", "b"};
	for (int i = 0; i < 2; i++)
		json_object_set_new(r, names[i], dir_stats(&st->ep[i]));
	/* stream 1 is the video (media.c); a and b then hold audio and video together on the
	 * browser's bundled side, so the audio and the video are given apart too */
	if (st->n_streams > 1) {
		static const char *const kinds[2] = {"audio", "video"};
		for (int k = 0; k < 2; k++) {
			json_t *o = json_object();
			for (int i = 0; i < 2; i++)
				json_object_set_new(o, names[i], dir_stats(&st->stream[k][i]));
			json_object_set_new(r, kinds[k], o);
		}
	}
	ws_req_reply(req, r);
	ws_req_unref(req);
}

static void h_stats(struct ws_req *req, json_t *params, void *arg)
{
	struct call *c;
	struct ws_leg *l = own_leg(arg, req, params, &c);
	if (!l)
		return;
	if (!call_media_has_session(c->media)) {
		ws_req_reply(req, json_object());
		return;
	}
	call_media_stats(c->media, on_stats, ws_req_ref(req));
}

void b2b_calls_session_end(struct b2b *b, struct ws_session *s)
{
	GList *all = g_hash_table_get_values(b->calls);
	for (GList *i = all; i; i = i->next) {
		struct call *c = i->data;
		for (int k = 0; k < 2 && c->state != CALL_ENDED; k++) {
			struct ws_leg *l = leg_is_ws(c->leg[k]) ? (struct ws_leg *)c->leg[k] : NULL;
			if (!l)
				continue;
			if (l->session == s) {
				struct log_ctx lc = lctx(l);
				LOGI(log_module, &lc, "session ended: hanging up");
				bool early = l->state != WSL_UP;
				l->state = WSL_DONE;
				call_leg_event(c, &l->base, early && k == LEG_A ? LEG_EV_CANCEL
						   : early ? LEG_EV_FAILED : LEG_EV_HANGUP,
					       early && k == LEG_B ? 480 : 200, "session ended", NULL, 0);
			} else if (!l->session && offered_to(l, s)) {
				g_ptr_array_remove(l->ringing, s);
				if (!l->ringing->len) {
					l->state = WSL_DONE;
					call_leg_event(c, &l->base, LEG_EV_FAILED, 480, "session ended", NULL, 0);
				}
			}
		}
	}
	g_list_free(all);
}

static const struct ws_param p_call[] = {
	{"to", WS_P_STRING, true, 1, 256},
	{"jsep", WS_P_OBJECT, true, 0, 0},
	{"account_id", WS_P_STRING, false, 1, 15},
	{"headers", WS_P_OBJECT, false, 0, 0},
	{NULL, 0, false, 0, 0},
};
static const struct ws_param p_answer[] = {
	{"call_id", WS_P_STRING, true, 1, 23},
	{"jsep", WS_P_OBJECT, true, 0, 0},
	{NULL, 0, false, 0, 0},
};
static const struct ws_param p_decline[] = {
	{"call_id", WS_P_STRING, true, 1, 23},
	{"code", WS_P_INT, false, 400, 699},
	{"reason", WS_P_STRING, false, 0, 128},
	{NULL, 0, false, 0, 0},
};
static const struct ws_param p_hangup[] = {
	{"call_id", WS_P_STRING, true, 1, 23},
	{"code", WS_P_INT, false, 200, 699},
	{"reason", WS_P_STRING, false, 0, 128},
	{NULL, 0, false, 0, 0},
};
static const struct ws_param p_trickle[] = {
	{"call_id", WS_P_STRING, true, 1, 23},
	{"candidate", WS_P_OBJECT, false, 0, 0},
	{"completed", WS_P_BOOL, false, 0, 0},
	{NULL, 0, false, 0, 0},
};
static const struct ws_param p_renegotiate[] = {
	{"call_id", WS_P_STRING, true, 1, 23},
	{"jsep", WS_P_OBJECT, true, 0, 0},
	{NULL, 0, false, 0, 0},
};
static const struct ws_param p_call_id[] = {
	{"call_id", WS_P_STRING, true, 1, 23},
	{NULL, 0, false, 0, 0},
};
static const struct ws_param p_info[] = {
	{"call_id", WS_P_STRING, true, 1, 23},
	{"content_type", WS_P_STRING, true, 1, 127},
	{"body", WS_P_STRING, true, 0, 8192},
	{NULL, 0, false, 0, 0},
};
static const struct ws_param p_dtmf[] = {
	{"call_id", WS_P_STRING, true, 1, 23},
	{"digits", WS_P_STRING, true, 1, 32},
	{"method", WS_P_STRING, false, 4, 7},
	{"duration", WS_P_INT, false, 40, 5000},
	{NULL, 0, false, 0, 0},
};
static const struct ws_param p_transfer[] = {
	{"call_id", WS_P_STRING, true, 1, 23},
	{"to", WS_P_STRING, false, 5, 256},
	{"replaces_call_id", WS_P_STRING, false, 1, 23},
	{NULL, 0, false, 0, 0},
};
static const struct ws_request_def call_requests[] = {
	{"transfer", p_transfer, h_transfer, WS_REQ_NEEDS_LOGIN},
	{"transfer_accept", p_call_id, h_transfer_accept, WS_REQ_NEEDS_LOGIN},
	{"transfer_reject", p_call_id, h_transfer_reject, WS_REQ_NEEDS_LOGIN},
	{"info", p_info, h_info, WS_REQ_NEEDS_LOGIN},
	{"dtmf", p_dtmf, h_dtmf, WS_REQ_NEEDS_LOGIN},
	{"call", p_call, h_call, WS_REQ_NEEDS_LOGIN},
	{"answer", p_answer, h_answer, WS_REQ_NEEDS_LOGIN},
	{"decline", p_decline, h_decline, WS_REQ_NEEDS_LOGIN},
	{"hangup", p_hangup, h_hangup, WS_REQ_NEEDS_LOGIN},
	{"trickle", p_trickle, h_trickle, WS_REQ_NEEDS_LOGIN},
	{"renegotiate", p_renegotiate, h_renegotiate, WS_REQ_NEEDS_LOGIN},
	{"stats", p_call_id, h_stats, WS_REQ_NEEDS_LOGIN},
	{"hold", p_call_id, h_hold, WS_REQ_NEEDS_LOGIN},
	{"unhold", p_call_id, h_unhold, WS_REQ_NEEDS_LOGIN},
};

void b2b_ws_calls_init(struct b2b *b)
{
	ws_server_add_requests(b->cfg.ws, call_requests, G_N_ELEMENTS(call_requests), b);
}
