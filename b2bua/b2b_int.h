/* b2bua private: the B2BUA object, the call model (a call owns two legs and one relay
 * session) and the leg interface that SIP and WebSocket legs implement. */
#ifndef GORGEE_B2B_INT_H
#define GORGEE_B2B_INT_H

#include "b2bua.h"
#include "relay.h"

struct b2b {
	struct b2b_config cfg;
	char *contact_host, *user_agent, *domain, *trunk, *realm;
	GHashTable *accounts; /* id -> struct account * (owned) */
	unsigned next_id;
	GHashTable *calls;    /* id -> struct call * (owned) */
	GHashTable *messages; /* struct msg_out * in flight (message.c) */
	GHashTable *subs;     /* id -> struct sub_out * (owned; subscribe.c) */
	unsigned next_sub;
	struct presence *presence; /* the notifier (presence.c) */
	GHashTable *publications;  /* etag -> PUBLISHed state (publish.c) */
	GHashTable *ws_presence;   /* struct ws_session * -> its publish_presence state */
	unsigned next_call;
	GPtrArray *trusted;   /* struct b2b_net *: sources that may use the trunk without auth */
	GRegex *dialplan;     /* Request-URI users allowed toward the trunk; NULL = any */
	struct sip_user *looked_up; /* keeps the HA1 a digest check borrows */
	bool stopping;
	struct metric *m_accounts, *m_calls;
	struct metric *m_subs, *m_watchers, *m_publications; /* events (subscribe.c, presence.c, publish.c) */
	struct metric_family *m_results, *m_call_results;
};

/* ---- legs ---- */

enum leg_side { LEG_A, LEG_B }; /* A: the caller's leg; B: the leg gorgee places */

/* What a leg reports to its call (call_leg_event). sdp may be empty. */
enum leg_ev {
	LEG_EV_PROGRESS, /* B: 18x (code), early SDP maybe */
	LEG_EV_ANSWER,   /* B: 2xx with SDP (the answer, or an offer for an offerless call) */
	LEG_EV_FAILED,   /* B: final non-2xx, timeout or transport error (code, reason) */
	LEG_EV_CANCEL,   /* A: the caller gave up before the answer */
	LEG_EV_ACK,      /* A: ACK for our 2xx (SIP) */
	LEG_EV_HANGUP,   /* either: BYE received, WS hangup, no ACK, session gone (code, reason) */
	LEG_EV_REOFFER,  /* either: a re-INVITE/UPDATE with an offer (sdp) after the answer */
	LEG_EV_REANSWER, /* either: the answer to our re-offer (code: 2xx or failure) */
};

struct leg;

/* What a call asks of a leg. Unused entries may be NULL (the call then does without). */
struct leg_ops {
	const char *kind; /* "sip", "ws" */
	/* B side: place the call with an offer */
	int (*invite)(struct leg *l, const char *sdp);
	/* A side: provisional (180/183) with optional early-media SDP; final 2xx; failure */
	void (*progress)(struct leg *l, int code, const char *sdp);
	void (*answer)(struct leg *l, const char *sdp);
	void (*fail)(struct leg *l, int code, const char *reason);
	/* B side before the answer */
	void (*cancel)(struct leg *l);
	/* either, after the answer: end it (BYE) */
	void (*bye)(struct leg *l, int code, const char *reason);
	/* renegotiation: send an offer (re-INVITE), or answer the peer's (code 200 or 488…) */
	int (*reoffer)(struct leg *l, const char *sdp);
	void (*reanswer)(struct leg *l, int code, const char *sdp);
	/* an in-dialog INFO or MESSAGE from the other leg's peer, to pass on */
	void (*request)(struct leg *l, const char *method, const char *ctype, const char *body,
			size_t len);
	/* a transfer the other party asks of this leg's user (RFC 3515 REFER received) */
	void (*transfer_request)(struct leg *l, const char *to, const char *by,
				 const char *replaces);
	/* the party on the other side was replaced (RFC 3891): `party` is the new one's URI */
	void (*replaced)(struct leg *l, const char *party);
	/* progress of a transfer this leg asked for (RFC 3515 NOTIFY sipfrag status) */
	void (*transfer_progress)(struct leg *l, int code, bool final);
	/* the outcome of call_hold() this leg asked for: code 200 or the failure */
	void (*held)(struct leg *l, bool hold, int code);
	/* one of our ICE candidates for this leg ("candidate:..."), NULL = end of candidates */
	void (*trickle)(struct leg *l, const char *cand);
	/* detach from everything that could call back (transactions, dialogs, sessions) */
	void (*release)(struct leg *l);
	void (*dump)(const struct leg *l, GString *out);
	void (*free)(struct leg *l);
};

struct leg {
	const struct leg_ops *ops;
	struct call *call;
	enum leg_side side;
};

/* ---- calls ---- */

enum call_state {
	CALL_ROUTING,   /* A's INVITE is in; B is being chosen */
	CALL_CALLING,   /* B invited, no answer yet */
	CALL_EARLY,     /* B sent a provisional: ringing or early media */
	CALL_ANSWERED,  /* B answered, A got its 2xx; waiting for A's ACK */
	CALL_ACTIVE,
	CALL_REOFFER_A, /* active; an offer from A is at B, waiting for B's answer */
	CALL_REOFFER_B, /* the same from B */
	CALL_HOLD_A,    /* active; A asked gorgee to hold or resume B: our re-offer is at B */
	CALL_HOLD_B,    /* the same for B */
	CALL_REFERRED,  /* a SIP party sent REFER: its peer (a browser) is asked to accept */
	CALL_TRANSFERRING, /* accepted: a new leg calls the Refer-To target in its place */
	CALL_REPLACING, /* an INVITE with Replaces (RFC 3891) matched a SIP leg: its offer is
			 * at the other party, whose answer goes in the new leg's 200 */
	CALL_REPLACE_ACK, /* the new leg got its 200: its ACK puts it in the replaced leg's place */
	CALL_CANCELLING,/* A gave up; B is being cancelled */
	CALL_ENDED,
};

struct call_media; /* media.c */

struct call {
	struct b2b *b;
	char id[24];
	enum call_state state;
	struct leg *leg[2];
	struct call_media *media;
	gint64 started_us, answered_us;
	bool hold_wanted;     /* what the hold in progress (CALL_HOLD_x) asks */
	/* a REFER received (transfer.c): the referring leg, its target, the leg calling it */
	struct leg *xfer_new;
	enum leg_side xfer_side;
	char *xfer_to, *xfer_by;
	char *xfer_replaces;  /* Replaces value (unescaped) for the INVITE to xfer_to, or NULL */
	char *xfer_join;      /* attended transfer asked here: the other call (its id) whose
			       * dialog the REFER's Replaces names, ended with this one */
	bool xfer_gone;       /* the transferor hung up already (RFC 5589 allows it) */
	int end_code;
	char *end_reason;
	char *from, *to;      /* for the dump */
	guint free_source;
};

/* A new call with its A leg attached later (call_set_leg); registered in b->calls. */
struct call *call_new(struct b2b *b, const char *from, const char *to);
/* admin.c: the "calls" WebSocket request (calls.admins). */
void b2b_admin_init(struct b2b *b);
void call_set_leg(struct call *c, enum leg_side side, struct leg *l);
/*
 * A's offer arrived: sets up the relay and returns the offer toward B in out (SDP), or an
 * SIP status to refuse with (488, 500, 503) and a reason.
 */
int call_offer_from_a(struct call *c, const char *sdp, size_t len, GString *out,
		      const char **why);
/* Starts the B leg (already attached) with the offer made by call_offer_from_a. */
void call_start(struct call *c, const char *offer);
/* Everything a leg reports. May end the call; the call and its legs stay allocated until
 * the loop runs again, but legs are released (detached) at once. */
void call_leg_event(struct call *c, struct leg *l, enum leg_ev ev, int code, const char *reason,
		    const char *sdp, size_t sdp_len);
/*
 * The leg on `side` (a browser) holds or resumes the other party: gorgee re-offers toward it
 * (sendonly / sendrecv) and reports the outcome with the leg's held() op.
 * 0, EBUSY (not active, or a renegotiation in progress) or EINVAL.
 */
int call_hold(struct call *c, enum leg_side side, bool hold);
/*
 * Blind transfer (RFC 3515) asked by the leg on `side`: the other leg (SIP) gets a REFER to
 * `to`, Referred-By `by`. done(code, arg) reports the REFER's final response; NOTIFYs come
 * back as call_leg_notify(). 0, or EINVAL when the other leg cannot be transferred.
 */
typedef void call_transfer_fn(int code, void *arg);
int call_transfer(struct call *c, enum leg_side side, const char *to, const char *by,
		  call_transfer_fn *done, void *arg);
/* A NOTIFY of the refer subscription from leg l's peer: the sipfrag status. A final 2xx
 * ends the call (the peer is now talking to the transfer target). */
void call_leg_notify(struct call *c, struct leg *l, int code, bool final);
/*
 * A REFER from leg l's peer (transfer.c): answered 202 by the leg; the other leg (a browser)
 * is asked (transfer_request), then transfer_accept/transfer_reject decide. Returns the
 * status to answer the REFER with (202, or 403/491/501).
 */
int call_leg_refer(struct call *c, struct leg *l, const char *to, const char *by,
		   const char *replaces);
/*
 * Attended transfer asked by the leg on `side` (RFC 3891 with RFC 3515): the other leg (SIP)
 * gets a REFER whose Refer-To is the SIP party of call `with` (reached directly, with
 * Replaces naming its dialog with gorgee); on a final 2xx NOTIFY both calls end.
 * 0, EINVAL (a party that is not SIP, a dialog not confirmed) or an errno.
 */
int call_transfer_attended(struct call *c, enum leg_side side, struct call *with,
			   enum leg_side with_side, const char *by, call_transfer_fn *done,
			   void *arg);
/*
 * An INVITE with a Replaces header (RFC 3891 §3), before any routing: matched against the
 * SIP legs of every call; answers st itself (400, 481, 486, 603, 407 or the new call's 200).
 */
void b2b_on_replaces(struct b2b *b, struct sip_strans *st, const struct sip_msg *msg,
		     const struct sip_src *src);
/* Events of the calls in CALL_REPLACING (replaces.c). */
void call_replace_event(struct call *c, struct leg *l, enum leg_ev ev, int code,
			const char *reason, const char *sdp, size_t len);
/* After the 202 of a REFER: with nobody to ask (the other party is SIP too), gorgee
 * accepts it itself. */
void call_transfer_auto(struct call *c);
/* The browser's decision on a transfer_request. 0 or EINVAL (none pending). */
int call_transfer_decide(struct call *c, bool accept);
/* Events of the leg calling the transfer target, and of the others while it does. */
void call_transfer_event(struct call *c, struct leg *l, enum leg_ev ev, int code,
			 const char *reason, const char *sdp, size_t len);
void call_transfer_free(struct call *c);
void call_set_state(struct call *c, enum call_state to);
void call_finish(struct call *c, int code, const char *reason);
/* An INFO or MESSAGE from leg l's peer inside the call: passed to the other leg. */
void call_leg_request(struct call *c, struct leg *l, const char *method, const char *ctype,
		      const char *body, size_t len);
/* Ends the call from outside (admin, drain): both legs hung up. */
void call_end(struct call *c, int code, const char *reason);
const char *call_state_name(enum call_state s);
void call_dump(const struct call *c, GString *out);

/* ---- media (media.c): the relay session and SDP rewriting of one call ---- */

struct call_media *call_media_new(struct b2b *b, struct call *c);
/* The leg on `side` speaks WebRTC (a WebSocket leg): offers toward it are WebRTC offers. */
void call_media_set_webrtc(struct call_media *m, int side, bool webrtc);
/* Relay statistics of the call (cb later, on this thread); nothing without a session. */
void call_media_stats(struct call_media *m, relay_stats_fn *fn, void *arg);
bool call_media_has_session(const struct call_media *m);
/*
 * Offerless INVITE (RFC 3261 §13.2.1): gorgee offers its default codecs toward `to`; the
 * answer from `to` (call_media_offerless_answer) yields gorgee's offer to the other leg,
 * whose answer comes last (in the ACK: call_media_late_answer).
 */
int call_media_offer_default(struct call_media *m, int to, GString *out, const char **why);
bool call_media_offerless(const struct call_media *m);
int call_media_offerless_answer(struct call_media *m, int from, const char *sdp, size_t len,
				GString *out, const char **why);
int call_media_late_answer(struct call_media *m, int from, const char *sdp, size_t len,
			   const char **why);
/* The SDP we last sent to `side` (an offerless re-INVITE is answered with it), or NULL. */
const char *call_media_last_sent(const struct call_media *m, int side);
/* Hold/unhold re-offer toward `side`: the SDP last sent to it with the direction changed
 * (sendonly / sendrecv) and a new version. 0 or EINVAL (nothing sent to it yet). */
int call_media_hold_offer(struct call_media *m, int side, bool hold, GString *out);
/* The answer of `side` to that offer: the relay follows it. 0 or a SIP status. */
int call_media_hold_answer(struct call_media *m, int side, const char *sdp, size_t len,
			   const char **why);
/* A remote ICE candidate from the leg on `side` (trickle); NULL = end of candidates. */
int call_media_trickle(struct call_media *m, int side, const char *cand);
void call_media_free(struct call_media *m);
/*
 * An offer from side `from` (0 = A, 1 = B): parsed, the relay told where that side
 * receives, and the offer toward the other side written to out. Returns 0, or a SIP
 * status (488: unusable SDP, 503: no media ports) with *why.
 */
int call_media_offer(struct call_media *m, int from, const char *sdp, size_t len, GString *out,
		     const char **why);
/*
 * The same for an offer from a party that is not yet in the call (an INVITE with Replaces,
 * replaces.c): the relay keeps sending to the current party of side `from` until
 * call_media_answer takes the other side's answer; call_media_offer_drop forgets such an
 * offer (the new party left first), so media stays with the current party.
 */
int call_media_offer_deferred(struct call_media *m, int from, const char *sdp, size_t len,
			      GString *out, const char **why);
void call_media_offer_drop(struct call_media *m);
/* The answer from side `from` to the offer we sent it; the answer for the other side in out. */
int call_media_answer(struct call_media *m, int from, const char *sdp, size_t len, GString *out,
		      const char **why);
void call_media_dump(struct call_media *m, GString *out);

/* ---- SIP legs (leg_sip.c) and routing (route.c) ---- */

/* The A leg of a call from a SIP INVITE. The leg owns nothing of st but its answer. */
struct leg *leg_sip_new_uas(struct b2b *b, struct sip_strans *st, const struct sip_msg *req,
			    const struct sip_src *src);
/* A B leg toward ruri through next_hop (a URI whose host is resolved, RFC 3263), with the
 * caller's identity from the A leg. */
struct leg *leg_sip_new_uac(struct b2b *b, const char *ruri, const char *next_hop,
			    const char *from_uri, const char *from_display, const char *to_uri);
/* WebSocket legs (leg_ws.c): the caller's browser, or every session of the called user. */
struct leg *leg_ws_new_caller(struct b2b *b, struct ws_session *s, json_t *req_id);
struct leg *leg_ws_new_callee(struct b2b *b, GPtrArray *sessions, const char *from, const char *to,
			      const char *account);
bool leg_is_ws(const struct leg *l);
/* The session in the call (NULL while ringing several). */
struct ws_session *leg_ws_session(const struct leg *l);
void b2b_ws_calls_init(struct b2b *b);
/* A session ended: its calls are hung up (or stop ringing there). */
void b2b_calls_session_end(struct b2b *b, struct ws_session *s);
/* The `call` request (leg_ws.c validated it): routes `to` and starts the call. */
void b2b_call_from_ws(struct b2b *b, struct ws_req *req, const char *to, const char *account,
		      const char *sdp);
bool leg_is_sip(const struct leg *l);
/* Sends INFO or MESSAGE in the leg's confirmed dialog; fn (may be NULL) gets the final
 * response with arg, which must not be the leg (it may go first). 0, EAGAIN (no confirmed
 * dialog) or an errno. */
int leg_sip_request(struct leg *l, const char *method, const char *ctype, const char *body,
		    size_t len, sip_response_fn *fn, void *arg);
/* The same with extra header lines (CRLF-terminated). */
int leg_sip_request_x(struct leg *l, const char *method, const char *ctype, const char *body,
		      size_t len, const char *extra, sip_response_fn *fn, void *arg);
/* Sends REFER in the leg's dialog (Refer-To, Referred-By); fn gets the final response with
 * arg (not the leg). 0, EAGAIN or an errno. */
int leg_sip_refer(struct leg *l, const char *to, const char *by, sip_response_fn *fn, void *arg);
/* Whether the leg's dialog is the one r names, as seen from gorgee (RFC 3891 §3: to-tag is
 * our tag, from-tag the peer's). *early: the dialog is not confirmed; *ours: gorgee sent
 * the INVITE that made it (a B leg). */
bool leg_sip_dialog_match(const struct leg *l, const struct sip_replaces *r, bool *early,
			  bool *ours);
/* The peer's target URI with ?Replaces= naming this leg's confirmed dialog as the peer
 * sees it (to-tag: the peer's tag), for the Refer-To of an attended transfer (RFC 3891 §5).
 * 0 or EAGAIN (no confirmed dialog). */
int leg_sip_replaces_uri(const struct leg *l, GString *out);
/* A B leg's INVITE carries this Replaces value (RFC 3891 §4). Copied. */
void leg_sip_set_replaces(struct leg *l, const char *replaces);
/* The peer's URI (From or To of the dialog's other end) for events; "" when unknown. */
const char *leg_sip_peer_uri(const struct leg *l);
/* The source of REFERs and in-dialog requests of this leg is in calls.trusted (SEC-10). */
bool leg_sip_peer_trusted(const struct leg *l);
/* Another contact to try when this one fails (serial forking by q, RFC 3261 §16.6). */
void leg_sip_add_alternative(struct leg *l, const char *ruri, const char *hop);
/* Digest credentials the B leg answers 401/407 with (once per challenge, BI-16). Copied. */
void leg_sip_set_credentials(struct leg *l, const char *user, const struct secret *pw);
/* Accounts (account.c) for calls: the account of id if it belongs to session s; the
 * account whose Contact user part is user (an INVITE to a registered browser). */
struct account;
struct account *b2b_account_of(struct b2b *b, const char *id, struct ws_session *s);
struct account *b2b_account_by_contact_user(struct b2b *b, struct slice user);
struct ws_session *b2b_account_session(const struct account *a);
const char *b2b_account_aor(const struct account *a);
const char *b2b_account_id(const struct account *a);
const char *b2b_account_next_hop(const struct account *a);
const char *b2b_account_username(const struct account *a);
const struct secret *b2b_account_password(const struct account *a);
/* Where a call or message goes (route.c): the logged-in WebSocket sessions of a local user,
 * a registered SIP contact (location service), the trunk, or a SIP URI of another domain. */
struct target {
	GPtrArray *ws;    /* sessions (refs) */
	char *ruri, *hop;
	int code;         /* when nothing: 404, 480 */
	bool trunk;       /* through the trunk: SEC-10 and the dial plan apply */
	char account[16]; /* to a browser's upstream account (its Contact was called) */
	GPtrArray *alts;  /* further contacts of the AOR, "ruri\nhop" strings, tried in turn */
};
void b2b_find_target(struct b2b *b, const struct sip_uri *u, bool from_ws, struct target *t);
void b2b_target_clear(struct target *t);
/*
 * A SIP request from a source that is not in calls.trusted must carry digest credentials of
 * a user of our realm (SEC-10 pattern): true when trusted or authenticated (user, when
 * user_cap > 0, receives the authenticated name, "" when trusted); otherwise st is answered
 * (401/407 challenge with proxy, 400 for malformed credentials, 403 without digest).
 */
bool b2b_authorize(struct b2b *b, struct sip_strans *st, const struct sip_msg *msg,
		   const struct sip_src *src, bool proxy, char *user, size_t user_cap);
/* A host of the domain served (registrar.domain; with none, every host unless a trunk). */
bool b2b_host_is_ours(const struct b2b *b, struct slice host);
/* SEC-10 for a SIP request toward the trunk: trusted source or digest (answers st if not). */
bool b2b_may_use_trunk(struct b2b *b, struct sip_strans *st, const struct sip_msg *msg,
		       const struct sip_src *src);
bool b2b_dialplan_allows(const struct b2b *b, const struct sip_uri *u);
/* The address is in calls.trusted. */
bool b2b_trusted(const struct b2b *b, const char *ip);
/* MESSAGE (message.c): out of dialog from SIP; the WebSocket `message` request. */
void b2b_on_message(struct b2b *b, struct sip_strans *st, const struct sip_msg *msg,
		    const struct sip_src *src);
void b2b_messages_init(struct b2b *b);
void b2b_messages_free(struct b2b *b);
/* Subscriptions for WebSocket users (subscribe.c, RFC 6665 subscriber). */
void b2b_subs_init(struct b2b *b);
void b2b_subs_free(struct b2b *b);
void b2b_subs_session_end(struct b2b *b, struct ws_session *s);
/* Drain: every subscription is removed upstream (Expires: 0). */
void b2b_subs_stop(struct b2b *b);
unsigned b2b_subs_busy(const struct b2b *b);
/* One line per subscription / watcher / publication, for the admin dump (GET /calls). */
void b2b_subs_dump(const struct b2b *b, GString *out);
void b2b_presence_dump(const struct b2b *b, GString *out);
/* A NOTIFY whose dialog does not exist yet (before the 2xx of our SUBSCRIBE): true when it
 * belongs to one of our subscriptions (then answered). */
bool b2b_subs_on_notify(struct b2b *b, struct sip_strans *st, const struct sip_msg *msg);
/* The notifier for users of our domain (presence.c: presence and dialog packages) and
 * published presence (publish.c: PUBLISH, RFC 3903, and `publish_presence`). */
void b2b_presence_init(struct b2b *b);
void b2b_presence_free(struct b2b *b);
void b2b_presence_stop(struct b2b *b);
/* Subscriptions held for SIP peers (drain waits for their final NOTIFYs). */
unsigned b2b_presence_busy(const struct b2b *b);
/* Something that presence or dialog documents show changed: documents are recomputed from
 * the loop (coalesced) and watchers whose document differs get a NOTIFY. */
void b2b_presence_touch(struct b2b *b);
/* A call changed state (call.c's transition function). */
void b2b_presence_call_changed(struct b2b *b, const struct call *c);
void b2b_presence_session_end(struct b2b *b, struct ws_session *s);
/*
 * A WebSocket user (owner) watching user@host of our domain: presence.c computes the same
 * documents it NOTIFYs to SIP watchers and hands each changed one to fn (body type and
 * body, borrowed for the call), the first one before this returns. No expiry: the watch
 * lasts until b2b_presence_unwatch_local. Returns 0 with *out, or a SIP-style code: 489
 * (event other than presence or dialog), 404 (unknown user), 503 (over a cap).
 */
struct watcher;
typedef void b2b_local_notify_fn(void *arg, const char *ctype, const char *body);
int b2b_presence_watch_local(struct b2b *b, const char *owner, const char *user,
			     struct slice host, const char *event, b2b_local_notify_fn *fn, void *arg,
			     struct watcher **out);
void b2b_presence_unwatch_local(struct b2b *b, struct watcher *w);
/* The event handler given to the UA core: SUBSCRIBE, NOTIFY, PUBLISH outside a dialog. */
void b2b_on_event_request(struct sip_strans *st, const struct sip_msg *msg,
			  const struct sip_src *src, void *arg);
/* publish.c: the state a user published last (PUBLISH or a session's publish_presence),
 * if any: basic 1 open / 0 closed, note (borrowed until the next call into b2bua) or NULL.
 * False when nothing is published. Expired publications are dropped here. */
bool b2b_published_state(struct b2b *b, const char *user, int *basic, const char **note);
/* publish.c: a PUBLISH for a user of our domain (auth and Event checked by the caller). */
void b2b_on_publish(struct b2b *b, struct sip_strans *st, const struct sip_msg *msg,
		    const struct sip_src *src, const char *user);
void b2b_publish_init(struct b2b *b);
void b2b_publish_free(struct b2b *b);
void b2b_publish_session_end(struct b2b *b, struct ws_session *s);
/* publish.c: publications of a source address (the per-source cap counts them too). */
unsigned b2b_publish_count_source(struct b2b *b, const char *ip);
/* The invite handler given to the UA core. */
void b2b_on_invite(struct sip_strans *st, const struct sip_msg *msg, const struct sip_src *src,
		   void *arg);
int b2b_routes_init(struct b2b *b);
void b2b_routes_free(struct b2b *b);
GHashTable *b2b_calls_table_new(void);

#endif
