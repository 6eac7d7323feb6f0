/* SIP legs: the UAS side of a call that arrived by INVITE (A), what both sides share (in-dialog
 * requests, REFER, session timers, the ops tables), each one INVITE dialog (RFC 3261
 * §13-§15). The UAC side gorgee places (B) is in leg_sip_uac.c. */
#include <errno.h>
#include <string.h>

#include "leg_sip_int.h"

static const char *const log_module = "leg-sip";


struct log_ctx sip_leg_ctx(const struct sip_leg *l)
{
	return (struct log_ctx){.call_id = l->base.call ? l->base.call->id : NULL,
				.leg = l->uas ? "sip-a" : "sip-b", .peer = l->dst.ip};
}

void sip_leg_event(struct sip_leg *l, enum leg_ev ev, int code, const char *reason,
		  struct slice body)
{
	if (l->released || !l->base.call)
		return;
	call_leg_event(l->base.call, &l->base, ev, code, reason, body.p, body.len);
}

struct slice sip_leg_sdp(const struct sip_msg *m)
{
	struct slice sdp;
	if (!m || !m->body.len || sip_body_sdp(m, &sdp) != 0)
		return (struct slice){NULL, 0};
	return sdp;
}

void sip_leg_headers(struct sip_leg *l, GString *h, bool with_body)
{
	g_string_append_printf(h, "Contact: <%s>\r\nUser-Agent: %s\r\n", l->contact,
			       l->b->user_agent);
	if (with_body)
		g_string_append(h, "Content-Type: application/sdp\r\n");
}

/* ---- requests inside the dialog ---- */

void sip_leg_forget(struct sip_ctrans *ct, const struct sip_msg *m, int status, void *arg)
{
	/* BYE and CANCEL outcomes change nothing: the call is gone already */
}

static int send_in_dialog(struct sip_leg *l, const char *method, const char *body,
			  const char *extra, sip_response_fn *fn, void *arg, struct sip_ctrans **out)
{
	char *ruri = NULL;
	GString *h = g_string_new(NULL);
	sip_dialog_request(l->dialog, method, 0, &ruri, h);
	sip_leg_headers(l, h, body != NULL);
	if (extra)
		g_string_append(h, extra);
	struct sip_ctrans *ct = NULL;
	int rc = sip_ctrans_send(l->b->cfg.stack, method, ruri, h->str,
				 body ? (struct slice){body, strlen(body)} : (struct slice){NULL, 0},
				 &l->dst, fn ? fn : sip_leg_forget, arg, &ct);
	if (out)
		*out = rc ? NULL : ct;
	g_free(ruri);
	g_string_free(h, TRUE);
	return rc;
}

static void on_reinvite_response(struct sip_ctrans *ct, const struct sip_msg *m, int status,
				 void *arg)
{
	struct sip_leg *l = arg;
	if (status < 200)
		return;
	if (status < 300 && m) {
		/* ACK now; the transaction is detached, so a retransmitted 2xx (our ACK lost)
		 * goes unanswered and the peer ends the call after 64*T1: rare, and safe */
		sip_ctrans_detach(ct);
		char *ruri = NULL;
		GString *h = g_string_new(NULL);
		sip_dialog_refresh_target(l->dialog, m);
		sip_dialog_request(l->dialog, "ACK", m->cseq.num, &ruri, h);
		sip_stack_send(l->b->cfg.stack, "ACK", ruri, h->str, (struct slice){NULL, 0},
			       &l->dst, NULL);
		g_free(ruri);
		g_string_free(h, TRUE);
	}
	l->re_ct = NULL;
	struct slice body = sip_leg_sdp(m);
	sip_leg_event(l, LEG_EV_REANSWER, status, NULL, body);
}

/* ---- the UAS side (leg A) ---- */

static void respond_x(struct sip_leg *l, struct sip_strans *st, int code, const char *reason,
		      const char *sdp, const char *extra)
{
	GString *h = g_string_new(extra ? extra : "");
	if (code > 100 && code < 300)
		sip_leg_headers(l, h, sdp != NULL);
	else
		g_string_append_printf(h, "Server: %s\r\n", l->b->user_agent);
	if (code == 488 || code == 606)
		g_string_append(h, "Warning: 399 gorgee \"media not acceptable\"\r\n");
	sip_strans_respond(st, code, reason, h->str,
			   sdp ? (struct slice){sdp, strlen(sdp)} : (struct slice){NULL, 0},
			   l->local_tag);
	g_string_free(h, TRUE);
}

static void respond(struct sip_leg *l, struct sip_strans *st, int code, const char *reason,
		    const char *sdp)
{
	respond_x(l, st, code, reason, sdp, NULL);
}

/* A header (Supported, Require) naming option tag tok. */
bool sip_leg_has_option(const struct sip_msg *m, enum sip_hdr_id id, const char *tok)
{
	for (const struct sip_hdr *h = sip_msg_hdr(m, id); h; h = sip_msg_hdr_next(m, h))
		if (slice_caseeq(h->value, tok, strlen(tok)))
			return true;
	return false;
}

/* RFC 4028 §10: nobody refreshed within the interval: BYE and end the call. */
static gboolean se_due(gpointer data)
{
	struct sip_leg *l = data;
	l->se_timer = 0;
	if (l->released || !l->dialog)
		return G_SOURCE_REMOVE;
	if (l->we_refresh) { /* a bodyless UPDATE refreshes (RFC 4028 §9: no new offer) */
		char extra[64];
		g_snprintf(extra, sizeof(extra), "Session-Expires: %u;refresher=%s\r\n", l->se,
			   l->uas ? "uas" : "uac");
		if (leg_sip_request_x(&l->base, "UPDATE", NULL, NULL, 0, extra, NULL, NULL) == 0) {
			sip_leg_se_arm(l);
			return G_SOURCE_REMOVE;
		}
	}
	struct log_ctx c = sip_leg_ctx(l);
	LOGN(log_module, &c, "session timer expired (%u s without a refresh): hanging up", l->se);
	char extra[96];
	g_snprintf(extra, sizeof(extra), "Reason: SIP;cause=408;text=\"session expired\"\r\n");
	leg_sip_request_x(&l->base, "BYE", NULL, NULL, 0, extra, NULL, NULL);
	sip_leg_event(l, LEG_EV_HANGUP, 408, "session expired", (struct slice){NULL, 0});
	return G_SOURCE_REMOVE;
}

/* The refresher refreshes at half the interval; the other side gives up a little before
 * the interval ends (§10: SE - min(32, SE/3)). */
void sip_leg_se_arm(struct sip_leg *l)
{
	if (l->se_timer)
		g_source_remove(l->se_timer);
	l->se_timer = 0;
	if (!l->se)
		return;
	unsigned in = l->we_refresh ? l->se / 2 : l->se - MIN(32u, l->se / 3);
	l->se_timer = g_timeout_add_seconds(in, se_due, l);
}

/* Session-Expires of a message (request or 2xx): 0 when absent. */
unsigned sip_leg_se_of(const struct sip_msg *m, bool *refresher_uac, bool *has_refresher)
{
	const struct sip_hdr *h = sip_msg_hdr(m, SIP_HDR_SESSION_EXPIRES);
	struct sip_session_expires se;
	if (!h || sip_session_expires_parse(h->value, &se) != 0)
		return 0;
	*has_refresher = se.refresher.p != NULL;
	*refresher_uac = se.refresher.p && slice_caseeqlit(se.refresher, "uac");
	return se.delta;
}

static void rel_stop(struct sip_leg *l)
{
	if (l->rel_timer)
		g_source_remove(l->rel_timer);
	l->rel_timer = 0;
}

/* RFC 3262 §3: the reliable provisional is resent at T1, doubling, until its PRACK or
 * 64*T1. */
static void send_answer(struct sip_leg *l, const char *sdp);

static gboolean rel_resend(gpointer data)
{
	struct sip_leg *l = data;
	l->rel_elapsed += l->rel_interval;
	if (!l->st || l->rel_elapsed >= 32000 || sip_strans_resend(l->st) != 0) {
		l->rel_timer = 0;
		if (l->held_answer) { /* no PRACK came: answer anyway rather than lose the call */
			char *sdp = l->held_answer;
			l->held_answer = NULL;
			send_answer(l, sdp);
			g_free(sdp);
		}
		return G_SOURCE_REMOVE;
	}
	l->rel_interval *= 2;
	l->rel_timer = g_timeout_add(l->rel_interval, rel_resend, l);
	return G_SOURCE_REMOVE;
}

/* §12.1.1: the dialog exists from our first response with a tag. */
static void uas_make_dialog(struct sip_leg *l)
{
	if (l->dialog || !l->st)
		return;
	const struct sip_msg *req = sip_strans_request(l->st);
	if (sip_dialog_new_uas(req, l->local_tag, &l->dialog) != 0)
		return;
	sip_dialog_set_handler(l->dialog, sip_leg_dialog_request, l);
	sip_dialogs_add(sip_ua_dialogs(l->b->cfg.ua), l->dialog);
}

static void uas_progress(struct leg *base, int code, const char *sdp)
{
	struct sip_leg *l = (struct sip_leg *)base;
	if (!l->st)
		return;
	uas_make_dialog(l);
	if (l->rel100 && !l->rel_timer) { /* reliable (RFC 3262), one at a time */
		char extra[64];
		g_snprintf(extra, sizeof(extra), "Require: 100rel\r\nRSeq: %u\r\n", ++l->rseq);
		respond_x(l, l->st, code, NULL, sdp, extra);
		l->rel_sdp = sdp != NULL;
		l->rel_interval = 500;
		l->rel_elapsed = 0;
		l->rel_timer = g_timeout_add(l->rel_interval, rel_resend, l);
		return;
	}
	respond(l, l->st, code, NULL, sdp);
}

static void uas_answer(struct leg *base, const char *sdp)
{
	struct sip_leg *l = (struct sip_leg *)base;
	if (!l->st)
		return;
	uas_make_dialog(l);
	if (l->rel_timer && l->rel_sdp) { /* RFC 3262 §3: not before that 18x is PRACKed */
		g_free(l->held_answer);
		l->held_answer = g_strdup(sdp);
		return;
	}
	send_answer(l, sdp);
}

static void send_answer(struct sip_leg *l, const char *sdp)
{
	if (!l->st)
		return;
	rel_stop(l);
	char extra[96] = "";
	if (l->se) { /* RFC 4028 §9: the caller refreshes when it can, else we do */
		g_snprintf(extra, sizeof(extra), "Session-Expires: %u;refresher=%s\r\n%s", l->se,
			   l->we_refresh ? "uas" : "uac", l->peer_timer ? "Require: timer\r\n" : "");
		sip_leg_se_arm(l);
	}
	respond_x(l, l->st, 200, NULL, sdp, extra);
}

static void uas_fail(struct leg *base, int code, const char *reason)
{
	struct sip_leg *l = (struct sip_leg *)base;
	if (!l->st)
		return;
	if (code < 300 || code > 699)
		code = 500;
	rel_stop(l);
	respond(l, l->st, code, reason && *reason ? reason : NULL, NULL);
}

static void on_strans(struct sip_strans *st, enum sip_strans_event ev, void *arg)
{
	struct sip_leg *l = arg;
	switch (ev) {
	case SIP_STRANS_CANCELLED:
		sip_leg_event(l, LEG_EV_CANCEL, 487, NULL, (struct slice){NULL, 0});
		break;
	case SIP_STRANS_NO_ACK: /* §13.3.1.4: no ACK for our 2xx: the dialog ends with a BYE */
		if (l->dialog && !l->released) {
			struct log_ctx c = sip_leg_ctx(l);
			LOGN(log_module, &c, "no ACK for the 2xx: hanging up");
			send_in_dialog(l, "BYE", NULL, NULL, NULL, NULL, NULL);
			sip_leg_event(l, LEG_EV_HANGUP, 408, "no ACK", (struct slice){NULL, 0});
		}
		break;
	case SIP_STRANS_ENDED:
		if (l->st == st)
			l->st = NULL;
		if (l->re_st == st)
			l->re_st = NULL;
		break;
	}
}

static void reanswer(struct leg *base, int code, const char *sdp)
{
	struct sip_leg *l = (struct sip_leg *)base;
	if (!l->re_st)
		return;
	struct sip_strans *st = l->re_st;
	respond(l, st, code, NULL, code < 300 ? sdp : NULL);
	if (l->re_st == st) { /* still ours until the transaction ends; no more answers */
		sip_strans_set_owner(st, NULL, NULL);
		l->re_st = NULL;
	}
}

/* %XX decoding of a URI header value (RFC 3261 §19.1.1) into out (NUL-terminated); false
 * when it does not fit or decodes to a control character (%00, CR, LF: BI-02). */
static bool unescape(struct slice in, char *out, size_t cap)
{
	size_t n = 0;
	for (size_t i = 0; i < in.len; i++) {
		unsigned char ch = (unsigned char)in.p[i];
		if (ch == '%') {
			int hi = i + 2 < in.len ? g_ascii_xdigit_value(in.p[i + 1]) : -1;
			int lo = hi >= 0 ? g_ascii_xdigit_value(in.p[i + 2]) : -1;
			if (lo < 0)
				return false;
			ch = (unsigned char)(hi * 16 + lo);
			i += 2;
		}
		if (ch < 0x20 || ch == 0x7f || n + 1 >= cap)
			return false;
		out[n++] = (char)ch;
	}
	out[n] = '\0';
	return true;
}

/*
 * The Replaces header embedded in a Refer-To URI (RFC 3891 §5: "?Replaces=" escaped), checked
 * as a Replaces header would be. *value gets it unescaped (g_free) or stays NULL without one.
 * Returns NULL or the reason phrase of a 400 (malformed, or two of them: RFC 3891 §3).
 */
static const char *refer_replaces(const struct sip_uri *u, char **value)
{
	for (unsigned i = 0; i < u->headers.n; i++) {
		const struct sip_param *h = &u->headers.p[i];
		if (!slice_caseeqlit(h->name, "Replaces"))
			continue; /* other embedded headers are not passed on */
		char buf[SIP_MAX_CALL_ID + 256];
		struct sip_replaces r;
		if (*value)
			return "Bad Refer-To (two Replaces)";
		if (!unescape(h->value, buf, sizeof(buf)) ||
		    sip_replaces_parse((struct slice){buf, strlen(buf)}, &r) != 0)
			return "Bad Replaces in Refer-To";
		*value = g_strdup(buf);
	}
	return NULL;
}

/* A REFER from the peer (RFC 3515): one Refer-To with a URI, which may embed a Replaces
 * header (attended transfer, RFC 3891 §5) that the INVITE to the target carries. */
static void refer_received(struct sip_leg *l, struct sip_strans *st, const struct sip_msg *msg)
{
	const struct sip_hdr *rt = sip_msg_hdr(msg, SIP_HDR_REFER_TO);
	const struct sip_hdr *rb = sip_msg_hdr(msg, SIP_HDR_REFERRED_BY);
	struct sip_addr to, by;
	struct sip_uri u;
	char *replaces = NULL;
	const char *bad = NULL;
	if (!rt || sip_msg_hdr_next(msg, rt))
		bad = "Bad Refer-To (one is required)";
	else if (sip_addr_parse(rt->value, &to) != 0 || !to.uri.len || to.uri.len > SIP_MAX_URI ||
		 sip_uri_parse(to.uri, &u) != 0) /* BI-02: bad escapes fail here */
		bad = "Bad Refer-To";
	else
		bad = refer_replaces(&u, &replaces);
	struct log_ctx c = sip_leg_ctx(l);
	if (bad) {
		LOGN(log_module, &c, "REFER refused: %s", bad);
		respond(l, st, 400, bad, NULL);
		g_free(replaces);
		return;
	}
	/* the target without its embedded headers (the '?' before the first one) */
	size_t tlen = u.headers.n ? (size_t)(u.headers.p[0].name.p - 1 - to.uri.p) : to.uri.len;
	char *target = g_strndup(to.uri.p, tlen);
	char *referrer = rb && sip_addr_parse(rb->value, &by) == 0 && by.uri.len <= SIP_MAX_URI
				 ? g_strndup(by.uri.p, by.uri.len)
				 : g_strdup("");
	int code = l->base.call && !l->released
			   ? call_leg_refer(l->base.call, &l->base, target, referrer, replaces)
			   : 481;
	respond(l, st, code, NULL, NULL);
	if (code == 202) { /* the implicit subscription's first NOTIFY (§2.4.4) */
		static const char frag[] = "SIP/2.0 100 Trying\r\n";
		leg_sip_request_x(&l->base, "NOTIFY", "message/sipfrag", frag, sizeof(frag) - 1,
				  "Event: refer\r\nSubscription-State: active;expires=60\r\n", NULL, NULL);
		if (l->base.call)
			call_transfer_auto(l->base.call);
	}
	g_free(target);
	g_free(referrer);
	g_free(replaces);
}

/* In-dialog requests, for both sides (UAS and UAC differ little). */
void sip_leg_dialog_request(struct sip_dialog *d, struct sip_strans *st,
			       const struct sip_msg *msg, const struct sip_src *src, void *arg)
{
	struct sip_leg *l = arg;
	if (!st) { /* ACK */
		if (l->st && l->uas && msg->cseq.num == l->st_cseq) {
			sip_strans_acked(l->st);
			sip_leg_event(l, LEG_EV_ACK, 0, NULL, sip_leg_sdp(msg));
		} else if (l->re_st == NULL) {
			/* the ACK of a re-INVITE we answered: nothing to do */
		}
		return;
	}
	switch (msg->method_id) {
	case SIP_METHOD_BYE:
		respond(l, st, 200, NULL, NULL);
		sip_leg_event(l, LEG_EV_HANGUP, 200, "BYE", (struct slice){NULL, 0});
		return;
	case SIP_METHOD_INVITE:
	case SIP_METHOD_UPDATE: {
		struct slice body = sip_leg_sdp(msg);
		if (l->re_st || l->re_ct) { /* §14.2: one offer at a time */
			respond(l, st, msg->method_id == SIP_METHOD_INVITE ? 491 : 500, NULL, NULL);
			return;
		}
		if (l->se) /* any re-INVITE or UPDATE refreshes the session (RFC 4028 §7.4) */
			sip_leg_se_arm(l);
		if (!body.len) { /* a session refresh: UPDATE, or a re-INVITE answered with our
				  * current SDP (its answer in the ACK changes nothing) */
			char extra[96] = "";
			if (l->se)
				g_snprintf(extra, sizeof(extra), "Session-Expires: %u;refresher=%s\r\n",
					   l->se, l->we_refresh ? (l->uas ? "uas" : "uac") : (l->uas ? "uac" : "uas"));
			const char *cur = msg->method_id == SIP_METHOD_INVITE && l->base.call
						  ? call_media_last_sent(l->base.call->media, l->base.side)
						  : NULL;
			respond_x(l, st, msg->method_id == SIP_METHOD_UPDATE || cur ? 200 : 488, NULL, cur,
				  extra);
			return;
		}
		l->re_st = st;
		sip_strans_set_owner(st, on_strans, l);
		sip_leg_event(l, LEG_EV_REOFFER, 0, NULL, body);
		return;
	}
	case SIP_METHOD_INFO:
	case SIP_METHOD_MESSAGE: {
		/* answered here and passed on (DTMF INFO is not worth a round trip through the
		 * other leg; its peer's answer could not change ours anyway) */
		char ctype[128];
		g_snprintf(ctype, sizeof(ctype), SLICE_FMT, (int)MIN(msg->content_type.len, 127),
			   msg->content_type.p ? msg->content_type.p : "");
		respond(l, st, 200, NULL, NULL);
		if (!l->released && l->base.call)
			call_leg_request(l->base.call, &l->base, msg->method_id == SIP_METHOD_INFO ? "INFO" : "MESSAGE",
					 ctype, msg->body.p, msg->body.len);
		return;
	}
	case SIP_METHOD_PRACK: { /* RFC 3262 §3: acknowledges our reliable provisional */
		const struct sip_hdr *h = sip_msg_hdr(msg, SIP_HDR_RACK);
		struct sip_rack rack;
		bool ok = h && sip_rack_parse(h->value, &rack) == 0 && l->rel_timer && l->st &&
			  rack.rseq == l->rseq && rack.cseq == l->st_cseq;
		if (ok)
			rel_stop(l);
		respond(l, st, ok ? 200 : 481, NULL, NULL);
		if (ok && l->held_answer) {
			char *sdp = l->held_answer;
			l->held_answer = NULL;
			send_answer(l, sdp);
			g_free(sdp);
		}
		return;
	}
	case SIP_METHOD_REFER: /* the peer transfers its other party (RFC 3515) */
		refer_received(l, st, msg);
		return;
	case SIP_METHOD_NOTIFY: { /* the implicit subscription of our REFER (RFC 3515 §2.4.4) */
		const struct sip_hdr *ev = sip_msg_hdr(msg, SIP_HDR_EVENT);
		if (!ev || !(slice_caseeqlit(ev->value, "refer") ||
			     (ev->value.len > 6 && g_ascii_strncasecmp(ev->value.p, "refer;", 6) == 0))) {
			respond(l, st, 489, NULL, NULL); /* RFC 6665 §8.2.1: Bad Event */
			return;
		}
		const struct sip_hdr *ss = sip_msg_hdr(msg, SIP_HDR_SUBSCRIPTION_STATE);
		bool terminated = ss && ss->value.len >= 10 &&
				  g_ascii_strncasecmp(ss->value.p, "terminated", 10) == 0;
		/* message/sipfrag: "SIP/2.0 180 Ringing" */
		int code = 0;
		if (msg->body.len >= 11 && memcmp(msg->body.p, "SIP/2.0 ", 8) == 0 &&
		    g_ascii_isdigit(msg->body.p[8]) && g_ascii_isdigit(msg->body.p[9]) &&
		    g_ascii_isdigit(msg->body.p[10]))
			code = (msg->body.p[8] - '0') * 100 + (msg->body.p[9] - '0') * 10 + (msg->body.p[10] - '0');
		respond(l, st, code ? 200 : 400, NULL, NULL);
		if (code && !l->released && l->base.call)
			call_leg_notify(l->base.call, &l->base, code, terminated || code >= 200);
		return;
	}
	case SIP_METHOD_OPTIONS:
		respond(l, st, 200, NULL, NULL);
		return;
	default:
		respond(l, st, msg->method_id == SIP_METHOD_OTHER ? 501 : 405, NULL, NULL);
		return;
	}
}

static int reoffer(struct leg *base, const char *sdp)
{
	struct sip_leg *l = (struct sip_leg *)base;
	if (!l->dialog || l->re_ct)
		return EBUSY;
	return send_in_dialog(l, "INVITE", sdp, NULL, on_reinvite_response, l, &l->re_ct);
}

static void bye(struct leg *base, int code, const char *reason)
{
	struct sip_leg *l = (struct sip_leg *)base;
	if (!l->dialog || l->released)
		return;
	if (l->uas && l->st) /* BYE before the ACK: stop resending the 2xx */
		sip_strans_acked(l->st);
	char extra[160] = "";
	if (code >= 300 && reason && *reason) /* RFC 3326 */
		g_snprintf(extra, sizeof(extra), "Reason: SIP;cause=%d;text=\"%.100s\"\r\n", code, reason);
	send_in_dialog(l, "BYE", NULL, extra, NULL, NULL, NULL);
}

/* ---- both ---- */

static void release(struct leg *base)
{
	struct sip_leg *l = (struct sip_leg *)base;
	l->released = true;
	rel_stop(l);
	if (l->se_timer)
		g_source_remove(l->se_timer);
	l->se_timer = 0;
	if (l->dialog)
		sip_dialogs_remove(sip_ua_dialogs(l->b->cfg.ua), l->dialog);
	if (l->st)
		sip_strans_set_owner(l->st, NULL, NULL);
	if (l->re_st) {
		respond(l, l->re_st, 487, NULL, NULL);
		if (l->re_st)
			sip_strans_set_owner(l->re_st, NULL, NULL);
	}
	l->st = l->re_st = NULL;
	if (l->resolving)
		sip_resolve_cancel(l->resolving);
	l->resolving = NULL;
	/* client transactions may still answer: their callbacks see released. The leg is
	 * freed only after the call, and transactions end within 64*T1; keep them pointing
	 * at nothing by detaching now. */
	if (l->ct)
		sip_ctrans_detach(l->ct);
	if (l->re_ct)
		sip_ctrans_detach(l->re_ct);
	l->ct = l->re_ct = NULL;
}

static void dump(const struct leg *base, GString *out)
{
	const struct sip_leg *l = (const struct sip_leg *)base;
	g_string_append_printf(out, "%s peer=%s:%u ", l->uas ? "uas" : "uac", l->dst.ip, l->dst.port);
	if (l->dialog)
		sip_dialog_dump(l->dialog, out);
	else
		g_string_append_printf(out, "no dialog%s\n", l->resolving ? " (resolving)" : "");
}

static void leg_free(struct leg *base)
{
	struct sip_leg *l = (struct sip_leg *)base;
	if (!l->released)
		release(base);
	sip_dialog_free(l->dialog);
	if (l->ack)
		g_string_free(l->ack, TRUE);
	g_free(l->contact);
	g_free(l->call_id);
	g_free(l->peer_uri);
	g_free(l->replaces);
	g_free(l->ruri);
	g_free(l->next_hop);
	g_free(l->from_uri);
	g_free(l->from_display);
	g_free(l->to_uri);
	g_free(l->offer);
	g_free(l->auth_user);
	secret_free(l->auth_pw);
	g_free(l->held_answer);
	g_queue_clear_full(&l->alts, g_free);
	g_free(l->targets);
	g_free(l);
}

int leg_sip_request(struct leg *base, const char *method, const char *ctype, const char *body,
		    size_t len, sip_response_fn *fn, void *arg)
{
	return leg_sip_request_x(base, method, ctype, body, len, NULL, fn, arg);
}

int leg_sip_request_x(struct leg *base, const char *method, const char *ctype, const char *body,
		      size_t len, const char *extra, sip_response_fn *fn, void *arg)
{
	struct sip_leg *l = (struct sip_leg *)base;
	if (!l->dialog || l->released || sip_dialog_state(l->dialog) != SIP_DIALOG_CONFIRMED)
		return EAGAIN;
	char *ruri = NULL;
	GString *h = g_string_new(NULL);
	sip_dialog_request(l->dialog, method, 0, &ruri, h);
	g_string_append_printf(h, "User-Agent: %s\r\n%s", l->b->user_agent, extra ? extra : "");
	if (len)
		g_string_append_printf(h, "Content-Type: %s\r\n", ctype && *ctype ? ctype : "text/plain");
	struct sip_ctrans *ct;
	int rc = sip_ctrans_send(l->b->cfg.stack, method, ruri, h->str, (struct slice){body, len},
				 &l->dst, fn ? fn : sip_leg_forget, arg, &ct);
	g_free(ruri);
	g_string_free(h, TRUE);
	return rc;
}

static void sip_pass_request(struct leg *base, const char *method, const char *ctype,
			     const char *body, size_t len)
{
	if (leg_sip_request(base, method, ctype, body, len, NULL, NULL) != 0) {
		struct sip_leg *l = (struct sip_leg *)base;
		struct log_ctx c = sip_leg_ctx(l);
		LOGI(log_module, &c, "%s not passed on: no confirmed dialog", method);
	}
}

static const struct leg_ops uas_ops = {
	.kind = "sip",
	.progress = uas_progress,
	.answer = uas_answer,
	.fail = uas_fail,
	.bye = bye,
	.reoffer = reoffer,
	.reanswer = reanswer,
	.request = sip_pass_request,
	.release = release,
	.dump = dump,
	.free = leg_free,
};

static const struct leg_ops uac_ops = {
	.kind = "sip",
	.invite = sip_leg_uac_invite,
	.cancel = sip_leg_uac_cancel,
	.bye = bye,
	.reoffer = reoffer,
	.reanswer = reanswer,
	.request = sip_pass_request,
	.release = release,
	.dump = dump,
	.free = leg_free,
};

static struct sip_leg *leg_new(struct b2b *b, bool uas)
{
	struct sip_leg *l = g_new0(struct sip_leg, 1);
	l->base.ops = uas ? &uas_ops : &uac_ops;
	l->b = b;
	l->uas = uas;
	char user[17];
	core_random_hex(user, 8);
	l->contact = g_strdup_printf("sip:b2b-%s@%s", user, b->contact_host);
	return l;
}

bool leg_is_sip(const struct leg *l)
{
	return l && (l->ops == &uas_ops || l->ops == &uac_ops);
}

struct leg *leg_sip_new_uas(struct b2b *b, struct sip_strans *st, const struct sip_msg *req,
			    const struct sip_src *src)
{
	struct sip_leg *l = leg_new(b, true);
	l->st = st;
	l->st_cseq = req->cseq.num;
	/* Symmetric signalling: requests in this dialog go back where the INVITE came from
	 * (the source address and, for TCP, the connection), which also works behind NAT. */
	l->dst = *src;
	l->dst.raw = (struct slice){NULL, 0};
	l->call_id = g_strndup(req->call_id.p, req->call_id.len);
	l->peer_uri = g_strndup(req->from.uri.p, req->from.uri.len);
	core_random_hex(l->local_tag, 8);
	l->rel100 = sip_leg_has_option(req, SIP_HDR_SUPPORTED, "100rel") || sip_leg_has_option(req, SIP_HDR_REQUIRE, "100rel");
	l->peer_timer = sip_leg_has_option(req, SIP_HDR_SUPPORTED, "timer") || sip_leg_has_option(req, SIP_HDR_REQUIRE, "timer");
	bool uac_refresh = false, named = false;
	unsigned se = sip_leg_se_of(req, &uac_refresh, &named);
	if (se >= 90 || (!se && l->peer_timer && b->cfg.session_expires)) {
		/* the caller's interval (ours when it only supports timers); it refreshes when it
		 * supports timers and did not hand the job to us */
		l->se = se ? se : b->cfg.session_expires;
		l->we_refresh = !l->peer_timer || (named && !uac_refresh);
	}
	sip_strans_set_owner(st, on_strans, l);
	return &l->base;
}

int leg_sip_refer(struct leg *base, const char *to, const char *by, sip_response_fn *fn, void *arg)
{
	struct sip_leg *l = (struct sip_leg *)base;
	char *extra = g_strdup_printf("Refer-To: <%s>\r\nReferred-By: <%s>\r\nContact: <%s>\r\n", to,
				      by, l->contact);
	int rc = leg_sip_request_x(base, "REFER", NULL, NULL, 0, extra, fn, arg);
	g_free(extra);
	return rc;
}

bool leg_sip_dialog_match(const struct leg *base, const struct sip_replaces *r, bool *early,
			  bool *ours)
{
	if (!leg_is_sip(base))
		return false;
	const struct sip_leg *l = (const struct sip_leg *)base;
	if (!l->dialog)
		return false;
	const char *cid = sip_dialog_call_id(l->dialog), *lt = sip_dialog_local_tag(l->dialog),
		   *rt = sip_dialog_remote_tag(l->dialog);
	if (!slice_eq(r->call_id, cid, strlen(cid)) || !slice_eq(r->to_tag, lt, strlen(lt)) ||
	    !slice_eq(r->from_tag, rt, strlen(rt)))
		return false;
	*early = sip_dialog_state(l->dialog) != SIP_DIALOG_CONFIRMED;
	*ours = !l->uas;
	return true;
}

/* RFC 3261 §19.1.1 hvalue: what is not unreserved or hnv-unreserved is %XX. */
static void escape_hvalue(GString *out, const char *s)
{
	for (; *s; s++) {
		if (g_ascii_isalnum(*s) || strchr("-_.!~*'()[]/?:+$", *s))
			g_string_append_c(out, *s);
		else
			g_string_append_printf(out, "%%%02X", (unsigned char)*s);
	}
}

int leg_sip_replaces_uri(const struct leg *base, GString *out)
{
	const struct sip_leg *l = (const struct sip_leg *)base;
	struct sip_uri u;
	if (!leg_is_sip(base) || !l->dialog || l->released ||
	    sip_dialog_state(l->dialog) != SIP_DIALOG_CONFIRMED)
		return EAGAIN;
	const char *target = sip_dialog_remote_target(l->dialog);
	if (sip_uri_parse((struct slice){target, strlen(target)}, &u) != 0)
		return EINVAL;
	size_t tlen = u.headers.n ? (size_t)(u.headers.p[0].name.p - 1 - target) : strlen(target);
	g_string_append_len(out, target, (gssize)tlen);
	g_string_append(out, "?Replaces=");
	/* as the peer sees the dialog: its tag is the to-tag (RFC 3891 §3) */
	char *v = g_strdup_printf("%s;to-tag=%s;from-tag=%s", sip_dialog_call_id(l->dialog),
				  sip_dialog_remote_tag(l->dialog), sip_dialog_local_tag(l->dialog));
	escape_hvalue(out, v);
	g_free(v);
	return 0;
}

void leg_sip_set_replaces(struct leg *base, const char *replaces)
{
	struct sip_leg *l = (struct sip_leg *)base;
	g_free(l->replaces);
	l->replaces = g_strdup(replaces);
}

const char *leg_sip_peer_uri(const struct leg *base)
{
	const struct sip_leg *l = (const struct sip_leg *)base;
	return l->uas ? (l->peer_uri ? l->peer_uri : "") : (l->to_uri ? l->to_uri : "");
}

bool leg_sip_peer_trusted(const struct leg *base)
{
	const struct sip_leg *l = (const struct sip_leg *)base;
	return b2b_trusted(l->b, l->dst.ip);
}

void leg_sip_add_alternative(struct leg *base, const char *ruri, const char *hop)
{
	struct sip_leg *l = (struct sip_leg *)base;
	g_queue_push_tail(&l->alts, g_strdup_printf("%s\n%s", ruri, hop));
}

void leg_sip_set_credentials(struct leg *base, const char *user, const struct secret *pw)
{
	struct sip_leg *l = (struct sip_leg *)base;
	size_t n = 0;
	const char *p = secret_reveal(pw, &n);
	l->auth_user = g_strdup(user);
	l->auth_pw = secret_new(p, n);
}

struct leg *leg_sip_new_uac(struct b2b *b, const char *ruri, const char *next_hop,
			    const char *from_uri, const char *from_display, const char *to_uri)
{
	struct sip_leg *l = leg_new(b, false);
	l->ruri = g_strdup(ruri);
	l->next_hop = g_strdup(next_hop);
	l->from_uri = g_strdup(from_uri);
	l->from_display = g_strdup(from_display);
	l->to_uri = g_strdup(to_uri);
	return &l->base;
}
