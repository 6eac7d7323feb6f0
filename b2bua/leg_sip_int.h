/* b2bua private: the SIP leg shared by leg_sip.c (UAS side, in-dialog requests, ops) and
 * leg_sip_uac.c (the UAC side). */
#ifndef GORGEE_LEG_SIP_INT_H
#define GORGEE_LEG_SIP_INT_H

#include "b2b_int.h"

struct sip_leg {
	struct leg base;
	struct b2b *b;
	bool uas;
	struct sip_dialog *dialog;   /* registered in the UA's table while the leg lives */
	struct sip_src dst;          /* where requests in the dialog go (see next_hop_dst) */
	char *contact;               /* our Contact header value */
	char *call_id;               /* for logs */
	char *peer_uri;              /* the peer's From (UAS) or To (UAC) URI, for events */
	char *replaces;              /* UAC: the Replaces header value of our INVITE (RFC 3891) */
	/* UAS: the INVITE we answer (NULL once its transaction ends) and our To tag */
	struct sip_strans *st;
	uint32_t st_cseq;            /* st's CSeq number (ACK and PRACK match it; no re-parse) */
	struct sip_strans *re_st;    /* a re-INVITE/UPDATE from the peer awaiting our answer */
	char local_tag[17];
	/* UAC */
	char *ruri, *next_hop, *from_uri, *from_display, *to_uri;
	char from_tag[17];
	struct sip_ctrans *ct;       /* our INVITE while it may still get responses */
	struct sip_ctrans *re_ct;    /* our re-INVITE */
	struct sip_resolve_req *resolving;
	struct sip_src *targets;     /* RFC 3263 §4.3: addresses of next_hop in order; cur in use */
	unsigned ntargets, cur;
	char *offer;                 /* kept until the INVITE is sent (after DNS) */
	bool provisional;            /* a 1xx arrived: CANCEL may go (§9.1) */
	bool cancel_wanted;
	GString *ack;                /* ACK of the 2xx, resent when the 2xx comes again */
	/* digest credentials toward the peer (an account's), answered once (BI-16) */
	char *auth_user;
	struct secret *auth_pw;
	struct sip_auth_client_state auth;
	uint32_t cseq;
	unsigned redirects;          /* 3xx followed so far (RFC 3261 §8.1.3.4) */
	GQueue alts;                 /* further targets ("ruri\nhop"), tried on failure */
	/* RFC 3262 reliable provisionals: as UAS (rel100: the caller supports them) the RSeq
	 * of the one awaiting PRACK and its resend timer; as UAC the last RSeq PRACKed */
	bool rel100;
	/* RFC 4028 session timer: the interval agreed, who refreshes, and the timer that either
	 * sends our refresh (UPDATE at half the interval) or ends a session nobody refreshed */
	unsigned se;
	bool we_refresh;
	bool peer_timer;            /* the peer supports "timer" (Supported or Require) */
	guint se_timer;
	uint32_t rseq;
	guint rel_timer;
	unsigned rel_interval, rel_elapsed;
	char *held_answer;           /* our 2xx SDP, held until the PRACK of a reliable 18x
				      * that carried SDP (RFC 3262 §3) */
	bool rel_sdp;                /* the unacknowledged reliable 18x carried SDP */
	bool released;
};

struct log_ctx sip_leg_ctx(const struct sip_leg *l);
/* Reports to the call, unless the leg is released or detached. */
void sip_leg_event(struct sip_leg *l, enum leg_ev ev, int code, const char *reason,
		   struct slice body);
/* The SDP of a message: a plain application/sdp body or the SDP part of a multipart one
 * (BI-12); none when absent or malformed. */
struct slice sip_leg_sdp(const struct sip_msg *m);
/* Contact and User-Agent (and Content-Type for SDP) of the requests and responses we send. */
void sip_leg_headers(struct sip_leg *l, GString *h, bool with_body);
/* A client transaction whose outcome changes nothing (BYE, CANCEL). */
void sip_leg_forget(struct sip_ctrans *ct, const struct sip_msg *m, int status, void *arg);
/* Requests inside a leg's dialog (the dialog's callback). */
void sip_leg_dialog_request(struct sip_dialog *d, struct sip_strans *st,
			    const struct sip_msg *msg, const struct sip_src *src, void *arg);
bool sip_leg_has_option(const struct sip_msg *m, enum sip_hdr_id id, const char *tok);
/* RFC 4028: (re)arms the session timer; the interval of a message's Session-Expires. */
void sip_leg_se_arm(struct sip_leg *l);
unsigned sip_leg_se_of(const struct sip_msg *m, bool *refresher_uac, bool *has_refresher);
/* leg_sip_uac.c: the UAC ops of leg B. */
int sip_leg_uac_invite(struct leg *base, const char *sdp);
void sip_leg_uac_cancel(struct leg *base);

#endif
