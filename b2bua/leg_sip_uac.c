/* SIP legs, the UAC side (leg B): the INVITE gorgee places, its targets (RFC 3263 failover,
 * serial forking, 3xx), digest answers, 100rel/PRACK, the 2xx and its ACK (RFC 3261 §13). */
#include <errno.h>
#include <string.h>

#include "leg_sip_int.h"

static const char *const log_module = "leg-sip";

static void send_ack_2xx(struct sip_leg *l, uint32_t cseq)
{
	char *ruri = NULL;
	GString *h = g_string_new(NULL);
	sip_dialog_request(l->dialog, "ACK", cseq, &ruri, h);
	if (!l->ack)
		l->ack = g_string_new(NULL);
	sip_stack_send(l->b->cfg.stack, "ACK", ruri, h->str, (struct slice){NULL, 0}, &l->dst, l->ack);
	g_free(ruri);
	g_string_free(h, TRUE);
}

/* A 2xx: confirm (or make) the dialog and ACK it (§13.2.2.4); a second 2xx from another
 * fork is ACKed and hung up at once. */
static void uac_2xx(struct sip_leg *l, struct sip_ctrans *ct, const struct sip_msg *m)
{
	const struct sip_msg *req = sip_ctrans_request(ct);
	if (l->dialog && sip_dialog_state(l->dialog) == SIP_DIALOG_CONFIRMED) {
		if (slice_eq(m->to.tag, sip_dialog_remote_tag(l->dialog),
			     strlen(sip_dialog_remote_tag(l->dialog)))) {
			if (l->ack) /* a retransmission of the 2xx we have: ACK again */
				sip_transport_send(sip_stack_transport(l->b->cfg.stack), &l->dst,
						   l->ack->str, l->ack->len);
			return;
		}
		struct sip_dialog *other = NULL;
		if (sip_dialog_new_uac(req, m, &other) == 0) { /* another fork answered */
			char *ruri = NULL;
			GString *h = g_string_new(NULL);
			sip_dialog_request(other, "ACK", m->cseq.num, &ruri, h);
			sip_stack_send(l->b->cfg.stack, "ACK", ruri, h->str, (struct slice){NULL, 0},
				       &l->dst, NULL);
			g_free(ruri);
			g_string_truncate(h, 0);
			sip_dialog_request(other, "BYE", 0, &ruri, h);
			struct sip_ctrans *bct;
			sip_ctrans_send(l->b->cfg.stack, "BYE", ruri, h->str, (struct slice){NULL, 0},
					&l->dst, sip_leg_forget, NULL, &bct);
			g_free(ruri);
			g_string_free(h, TRUE);
			sip_dialog_free(other);
		}
		return;
	}
	if (l->dialog && !slice_eq(m->to.tag, sip_dialog_remote_tag(l->dialog),
				   strlen(sip_dialog_remote_tag(l->dialog)))) {
		/* the early dialog was another fork's: this one wins */
		sip_dialogs_remove(sip_ua_dialogs(l->b->cfg.ua), l->dialog);
		sip_dialog_free(l->dialog);
		l->dialog = NULL;
	}
	if (l->dialog) {
		sip_dialog_confirm(l->dialog, m);
	} else if (sip_dialog_new_uac(req, m, &l->dialog) == 0) {
		sip_dialog_set_handler(l->dialog, sip_leg_dialog_request, l);
		sip_dialogs_add(sip_ua_dialogs(l->b->cfg.ua), l->dialog);
	} else {
		struct log_ctx c = sip_leg_ctx(l);
		LOGN(log_module, &c, "2xx without a usable Contact: ignored");
		return;
	}
	send_ack_2xx(l, m->cseq.num);
	bool uac_refresh = false, named = false;
	unsigned se = sip_leg_se_of(m, &uac_refresh, &named);
	if (se) { /* RFC 4028 §7.2: the 2xx says who refreshes; absent = the callee ignores it */
		l->se = se;
		l->we_refresh = uac_refresh;
		sip_leg_se_arm(l);
	}
	sip_leg_event(l, LEG_EV_ANSWER, m->status, NULL, sip_leg_sdp(m));
}

static bool answer_challenge(struct sip_leg *l, const struct sip_msg *m, int status);

/* RFC 3262 §4: a reliable provisional (Require: 100rel, RSeq) gets a PRACK in its early
 * dialog. Returns false for a retransmission (an RSeq already PRACKed). */
static bool prack(struct sip_leg *l, const struct sip_msg *m)
{
	const struct sip_hdr *h = sip_msg_hdr(m, SIP_HDR_RSEQ);
	if (!h || !sip_leg_has_option(m, SIP_HDR_REQUIRE, "100rel") || !l->dialog ||
	    !slice_eq(m->to.tag, sip_dialog_remote_tag(l->dialog), strlen(sip_dialog_remote_tag(l->dialog))))
		return true;
	char buf[16];
	g_snprintf(buf, sizeof(buf), SLICE_FMT, (int)MIN(h->value.len, 15), h->value.p);
	char *end;
	unsigned long rseq = strtoul(buf, &end, 10);
	if (*end || rseq == 0 || rseq > 0xffffffffUL)
		return true;
	if (l->rseq && rseq <= l->rseq)
		return false;
	l->rseq = (uint32_t)rseq;
	char *ruri = NULL;
	GString *hdr = g_string_new(NULL);
	sip_dialog_request(l->dialog, "PRACK", 0, &ruri, hdr);
	g_string_append_printf(hdr, "RAck: %u %u INVITE\r\nUser-Agent: %s\r\n", l->rseq, m->cseq.num,
			       l->b->user_agent);
	struct sip_ctrans *pct;
	sip_ctrans_send(l->b->cfg.stack, "PRACK", ruri, hdr->str, (struct slice){NULL, 0}, &l->dst,
			sip_leg_forget, NULL, &pct);
	g_free(ruri);
	g_string_free(hdr, TRUE);
	return true;
}

static void on_resolved(int err, const struct sip_target *t, size_t n, void *arg);
static bool next_target(struct sip_leg *l, const struct sip_msg *m, int status);

#define MAX_REDIRECTS 3

/* A new target for the same INVITE: the early dialog of the old one is dropped. */
static bool retarget(struct sip_leg *l, const char *ruri, const char *hop)
{
	struct sip_uri u;
	if (sip_uri_parse((struct slice){hop, strlen(hop)}, &u) != 0)
		return false;
	if (l->dialog) {
		sip_dialogs_remove(sip_ua_dialogs(l->b->cfg.ua), l->dialog);
		sip_dialog_free(l->dialog);
		l->dialog = NULL;
	}
	l->provisional = false;
	l->rseq = 0;
	g_free(l->ruri);
	g_free(l->next_hop);
	l->ruri = g_strdup(ruri);
	l->next_hop = g_strdup(hop);
	if (sip_resolve(l->b->cfg.resolver, &u, on_resolved, l, &l->resolving) != 0) {
		l->resolving = NULL;
		return false;
	}
	return true;
}

/* Serial forking: the next contact of the AOR after a failure that another contact might
 * not give (not a 6xx, not after our CANCEL). */
static bool next_alternative(struct sip_leg *l, int status)
{
	if (l->cancel_wanted || status >= 600 || status == 487 || g_queue_is_empty(&l->alts))
		return false;
	char *next = g_queue_pop_head(&l->alts);
	char **rh = g_strsplit(next, "\n", 2);
	struct log_ctx lc = sip_leg_ctx(l);
	LOGI(log_module, &lc, "%d from %s: trying %s", status, l->ruri, rh[0]);
	bool ok = rh[0] && rh[1] && retarget(l, rh[0], rh[1]);
	g_strfreev(rh);
	g_free(next);
	return ok;
}

/* A 3xx: the first Contact becomes the target (same Call-ID and tags, next CSeq), when
 * calls.follow_redirects allows and no more than MAX_REDIRECTS were followed (loops). */
static bool follow_redirect(struct sip_leg *l, const struct sip_msg *m, int status)
{
	if (!m || status < 300 || status > 399 || !l->b->cfg.follow_redirects ||
	    l->redirects >= MAX_REDIRECTS)
		return false;
	const struct sip_hdr *h = sip_msg_hdr(m, SIP_HDR_CONTACT);
	struct sip_contact c;
	struct sip_uri u;
	if (!h || sip_contact_parse(h->value, &c) != 0 || c.addr.star ||
	    sip_uri_parse(c.addr.uri, &u) != 0 || u.scheme != SIP_SCHEME_SIP)
		return false;
	l->redirects++;
	char *target = g_strndup(c.addr.uri.p, c.addr.uri.len);
	struct log_ctx lc = sip_leg_ctx(l);
	LOGI(log_module, &lc, "%d: following the redirect to %s", status, target);
	bool ok = retarget(l, target, target);
	g_free(target);
	return ok;
}

static void on_invite_response(struct sip_ctrans *ct, const struct sip_msg *m, int status,
			       void *arg)
{
	struct sip_leg *l = arg;
	if (status == 0) { /* the transaction is gone (Timer M) */
		l->ct = NULL;
		return;
	}
	if (status < 200) {
		if (status == 100 || !m)
			return;
		l->provisional = true;
		if (l->cancel_wanted) {
			sip_ctrans_cancel(ct);
			return;
		}
		if (m->to.tag.len && !l->dialog &&
		    sip_dialog_new_uac(sip_ctrans_request(ct), m, &l->dialog) == 0) {
			sip_dialog_set_handler(l->dialog, sip_leg_dialog_request, l);
			sip_dialogs_add(sip_ua_dialogs(l->b->cfg.ua), l->dialog);
		}
		if (!prack(l, m))
			return; /* a retransmitted reliable provisional: already passed on */
		sip_leg_event(l, LEG_EV_PROGRESS, status, NULL, sip_leg_sdp(m));
		return;
	}
	if (status < 300 && m) {
		uac_2xx(l, ct, m);
		return;
	}
	l->ct = NULL;
	if (next_target(l, m, status))
		return;
	if (answer_challenge(l, m, status))
		return;
	if (follow_redirect(l, m, status))
		return;
	if (next_alternative(l, status))
		return;
	char reason[128] = "";
	if (m)
		g_snprintf(reason, sizeof(reason), SLICE_FMT, (int)MIN(m->reason.len, 127), m->reason.p);
	else
		g_strlcpy(reason, status == 408 ? "no response" : "cannot send", sizeof(reason));
	sip_leg_event(l, LEG_EV_FAILED, status, reason, (struct slice){NULL, 0});
}

static void send_invite(struct sip_leg *l, const char *authorization)
{
	GString *h = g_string_new(NULL);
	if (!l->cseq) { /* the first INVITE: a new dialog identity; a digest retry keeps it */
		char cid[25];
		core_random_hex(cid, 12);
		g_free(l->call_id);
		l->call_id = g_strdup_printf("%s@gorgee", cid);
		core_random_hex(l->from_tag, 8);
	}
	l->cseq++;
	if (l->from_display && *l->from_display)
		g_string_append_printf(h, "From: \"%s\" <%s>;tag=%s\r\n", l->from_display, l->from_uri,
				       l->from_tag);
	else
		g_string_append_printf(h, "From: <%s>;tag=%s\r\n", l->from_uri, l->from_tag);
	g_string_append_printf(h, "To: <%s>\r\nCall-ID: %s\r\nCSeq: %u INVITE\r\nMax-Forwards: 70\r\n"
			       "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE, PRACK\r\n"
			       "Supported: 100rel, timer, replaces\r\n",
			       l->to_uri, l->call_id, l->cseq);
	if (l->replaces) /* RFC 3891 §4; Require: a target that ignored it would ring anew */
		g_string_append_printf(h, "Replaces: %s\r\nRequire: replaces\r\n", l->replaces);
	if (authorization)
		g_string_append(h, authorization);
	if (l->b->cfg.session_expires) /* RFC 4028 §7.1: we ask; the callee's 2xx decides */
		g_string_append_printf(h, "Session-Expires: %u\r\nMin-SE: 90\r\n", l->b->cfg.session_expires);
	sip_leg_headers(l, h, l->offer != NULL);
	int rc = sip_ctrans_send(l->b->cfg.stack, "INVITE", l->ruri, h->str,
				 l->offer ? (struct slice){l->offer, strlen(l->offer)}
					  : (struct slice){NULL, 0},
				 &l->dst, on_invite_response, l, &l->ct);
	g_string_free(h, TRUE);
	if (rc) {
		l->ct = NULL;
		sip_leg_event(l, LEG_EV_FAILED, 503, "cannot send", (struct slice){NULL, 0});
	}
}

/* 401/407 to our INVITE: with credentials, one answer per challenge (RFC 3261 §22.2); a
 * second challenge after our answer means they are wrong (BI-16). */
static bool answer_challenge(struct sip_leg *l, const struct sip_msg *m, int status)
{
	struct sip_auth chal;
	if (!l->auth_user || !m || (status != 401 && status != 407))
		return false;
	struct sip_auth_client_cred cred = {l->auth_user, l->auth_pw};
	GString *line = g_string_new(NULL);
	int rc = sip_auth_client_choose(m, &chal);
	if (rc == 0)
		rc = sip_auth_client_answer(&l->auth, &chal, status == 407, &cred, "INVITE", l->ruri,
					    l->offer ? (struct slice){l->offer, strlen(l->offer)}
						     : (struct slice){NULL, 0},
					    line);
	if (rc == 0)
		send_invite(l, line->str);
	else {
		struct log_ctx c = sip_leg_ctx(l);
		LOGN(log_module, &c, "giving up on authentication (%s)", rc == EPERM ? "rejected" : "unusable challenge");
	}
	g_string_free(line, TRUE);
	return rc == 0;
}

/* Sends the INVITE to the first target from cur on that can be connected to (TCP/TLS:
 * opened now, checked against the domain, RFC 5922). false when none is left. */
static bool try_targets(struct sip_leg *l)
{
	struct sip_transport *t = sip_stack_transport(l->b->cfg.stack);
	for (; l->cur < l->ntargets; l->cur++) {
		l->dst = l->targets[l->cur];
		if (sip_transport_connect_uri(t, &l->dst, l->next_hop) == 0) {
			send_invite(l, NULL);
			return true;
		}
	}
	return false;
}

/* RFC 3263 §4.3: no answer (408), a transport error or a failed connection (503 without a
 * message) or a 503 without Retry-After, before any provisional: the next address. */
static bool next_target(struct sip_leg *l, const struct sip_msg *m, int status)
{
	if (l->cancel_wanted || l->provisional || l->cur + 1 >= l->ntargets ||
	    (status != 408 && status != 503) ||
	    (m && (status != 503 || sip_msg_hdr_find(m, "Retry-After"))))
		return false;
	struct log_ctx c = sip_leg_ctx(l);
	LOGI(log_module, &c, "%d from %s:%u, trying the next address of %s", status, l->dst.ip,
	     l->dst.port, l->next_hop);
	l->cur++;
	return try_targets(l);
}

static void on_resolved(int err, const struct sip_target *t, size_t n, void *arg)
{
	struct sip_leg *l = arg;
	l->resolving = NULL;
	g_free(l->targets);
	l->targets = g_new0(struct sip_src, MAX(n, 1));
	l->ntargets = l->cur = 0;
	for (size_t i = 0; i < n; i++)
		if (sip_target_to_src(&t[i], &l->targets[l->ntargets]) == 0)
			l->ntargets++;
	if (try_targets(l))
		return;
	struct log_ctx c = sip_leg_ctx(l);
	LOGN(log_module, &c, "cannot resolve %s: %s", l->next_hop,
	     err ? g_strerror(err) : "no usable target");
	sip_leg_event(l, LEG_EV_FAILED, err == ENOENT ? 404 : 503, "cannot resolve the destination",
	      (struct slice){NULL, 0});
}

int sip_leg_uac_invite(struct leg *base, const char *sdp)
{
	struct sip_leg *l = (struct sip_leg *)base;
	struct sip_uri u;
	l->offer = sdp ? g_strdup(sdp) : NULL;
	int rc = sip_uri_parse((struct slice){l->next_hop, strlen(l->next_hop)}, &u);
	if (rc == 0)
		rc = sip_resolve(l->b->cfg.resolver, &u, on_resolved, l, &l->resolving);
	return rc;
}

void sip_leg_uac_cancel(struct leg *base)
{
	struct sip_leg *l = (struct sip_leg *)base;
	if (l->resolving) {
		sip_resolve_cancel(l->resolving);
		l->resolving = NULL;
		return;
	}
	if (!l->ct)
		return;
	if (l->provisional)
		sip_ctrans_cancel(l->ct);
	else
		l->cancel_wanted = true; /* §9.1: not before a provisional response */
}
