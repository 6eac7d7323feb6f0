/* Unit tests: dialogs (RFC 3261 §12) for UAS and UAC, CSeq rules, route sets, the table. */
#include "sip.h"
#include "tap.h"

static const char invite[] =
	"INVITE sip:bob@gw.example.com SIP/2.0\r\n"
	"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa1\r\n"
	"Record-Route: <sip:p1.example.com;lr>\r\n"
	"Record-Route: <sip:p2.example.com;lr>\r\n"
	"Max-Forwards: 70\r\n"
	"From: \"Alice\" <sip:alice@example.com>;tag=ft1\r\n"
	"To: <sip:bob@gw.example.com>\r\n"
	"Call-ID: dlg-1@10.0.0.1\r\n"
	"CSeq: 10 INVITE\r\n"
	"Contact: <sip:alice@10.0.0.1:5060>\r\n"
	"Content-Length: 0\r\n\r\n";

static struct sip_msg *parse(const char *text)
{
	struct sip_msg *m = g_new0(struct sip_msg, 1);
	int status;
	const char *why;
	if (sip_msg_parse(text, strlen(text), SIP_MODE_DATAGRAM, m, &status, &why) != 0) {
		printf("#   parse failed: %s\n", why);
		tap_fails++;
	}
	return m;
}

static void t_uas(void)
{
	struct sip_msg *req = parse(invite);
	struct sip_dialog *d = NULL;
	TAP_CHECK_INT(sip_dialog_new_uas(req, "lt9", &d), 0);
	TAP_CHECK_STR(sip_dialog_call_id(d), "dlg-1@10.0.0.1");
	TAP_CHECK_STR(sip_dialog_local_tag(d), "lt9");
	TAP_CHECK_STR(sip_dialog_remote_tag(d), "ft1");
	TAP_CHECK_STR(sip_dialog_remote_target(d), "sip:alice@10.0.0.1:5060");
	char *ruri = NULL;
	GString *h = g_string_new(NULL);
	sip_dialog_request(d, "BYE", 0, &ruri, h);
	TAP_CHECK_STR(ruri, "sip:alice@10.0.0.1:5060");
	/* UAS: route set in Record-Route order; From is our To with our tag */
	TAP_CHECK(g_str_has_prefix(h->str, "Route: <sip:p1.example.com;lr>\r\n"
					    "Route: <sip:p2.example.com;lr>\r\n"));
	TAP_CHECK(strstr(h->str, "From: <sip:bob@gw.example.com>;tag=lt9\r\n") != NULL);
	TAP_CHECK(strstr(h->str, "To: \"Alice\" <sip:alice@example.com>;tag=ft1\r\n") != NULL);
	TAP_CHECK(strstr(h->str, " BYE\r\n") != NULL);
	/* the next request takes the next CSeq */
	unsigned c1 = 0, c2 = 0;
	sscanf(strstr(h->str, "CSeq: ") + 6, "%u", &c1);
	g_string_truncate(h, 0);
	g_free(ruri);
	sip_dialog_request(d, "INFO", 0, &ruri, h);
	sscanf(strstr(h->str, "CSeq: ") + 6, "%u", &c2);
	TAP_CHECK_INT(c2, c1 + 1);
	/* and the whole thing is a request the parser accepts */
	GString *full = g_string_new(NULL);
	g_string_prepend(h, "Via: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKx\r\n");
	TAP_CHECK_INT(sip_request_build("INFO", ruri, h->str, (struct slice){NULL, 0}, full), 0);
	struct sip_msg *back = parse(full->str);
	TAP_CHECK_SLICE(back->to.tag.p, back->to.tag.len, "ft1");
	g_free(back);
	g_string_free(full, TRUE);
	g_free(ruri);
	g_string_free(h, TRUE);
	sip_dialog_free(d);
	g_free(req);
}

static void t_uac_early_then_confirmed(void)
{
	struct sip_msg *req = parse(invite);
	struct sip_msg *r180 = parse(
		"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa1\r\n"
		"Record-Route: <sip:p2.example.com;lr>\r\nRecord-Route: <sip:p1.example.com;lr>\r\n"
		"From: \"Alice\" <sip:alice@example.com>;tag=ft1\r\nTo: <sip:bob@gw.example.com>;tag=tt2\r\n"
		"Call-ID: dlg-1@10.0.0.1\r\nCSeq: 10 INVITE\r\nContact: <sip:bob@10.0.0.2>\r\n"
		"Content-Length: 0\r\n\r\n");
	struct sip_msg *r200 = parse(
		"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa1\r\n"
		"Record-Route: <sip:p9.example.com;lr>\r\n"
		"From: \"Alice\" <sip:alice@example.com>;tag=ft1\r\nTo: <sip:bob@gw.example.com>;tag=tt2\r\n"
		"Call-ID: dlg-1@10.0.0.1\r\nCSeq: 10 INVITE\r\nContact: <sip:bob@10.0.0.3:5070>\r\n"
		"Content-Length: 0\r\n\r\n");
	struct sip_dialog *d = NULL;
	TAP_CHECK_INT(sip_dialog_new_uac(req, r180, &d), 0);
	TAP_CHECK_INT(sip_dialog_state(d), SIP_DIALOG_EARLY);
	char *ruri;
	GString *h = g_string_new(NULL);
	sip_dialog_request(d, "PRACK", 0, &ruri, h);
	/* UAC: Record-Route reversed */
	TAP_CHECK(g_str_has_prefix(h->str, "Route: <sip:p1.example.com;lr>\r\nRoute: <sip:p2.example.com;lr>\r\n"));
	TAP_CHECK(strstr(h->str, "CSeq: 11 PRACK\r\n") != NULL);
	g_free(ruri);
	g_string_truncate(h, 0);
	TAP_CHECK_INT(sip_dialog_confirm(d, r200), 0);
	TAP_CHECK_INT(sip_dialog_state(d), SIP_DIALOG_CONFIRMED);
	TAP_CHECK_STR(sip_dialog_remote_target(d), "sip:bob@10.0.0.3:5070");
	/* ACK for the 2xx keeps the INVITE's CSeq (§13.2.2.4) */
	sip_dialog_request(d, "ACK", 10, &ruri, h);
	TAP_CHECK_STR(ruri, "sip:bob@10.0.0.3:5070");
	TAP_CHECK(g_str_has_prefix(h->str, "Route: <sip:p9.example.com;lr>\r\nMax-Forwards"));
	TAP_CHECK(strstr(h->str, "CSeq: 10 ACK\r\n") != NULL);
	TAP_CHECK(strstr(h->str, "From: \"Alice\" <sip:alice@example.com>;tag=ft1\r\n") != NULL);
	g_free(ruri);
	g_string_free(h, TRUE);
	sip_dialog_free(d);
	g_free(req);
	g_free(r180);
	g_free(r200);
}

static char *with(const char *base, const char *from, const char *to)
{
	char **parts = g_strsplit(base, from, 2);
	char *out = g_strjoinv(to, parts);
	g_strfreev(parts);
	return out;
}

/* §12.2.2 CSeq rules, target refresh; BI-15 out-of-order requests get 500. */
static void t_cseq_and_refresh(void)
{
	struct sip_msg *req = parse(invite);
	struct sip_dialog *d = NULL;
	TAP_CHECK_INT(sip_dialog_new_uas(req, "lt9", &d), 0);
	char *t1a = with(invite, "CSeq: 10 INVITE", "CSeq: 10 ACK");
	char *t1 = with(t1a, "INVITE sip:", "ACK sip:");
	char *t2a = with(invite, "CSeq: 10 INVITE", "CSeq: 9 BYE");
	char *t2 = with(t2a, "INVITE sip:", "BYE sip:");
	char *t3a = with(invite, "CSeq: 10 INVITE", "CSeq: 11 INVITE");
	char *t3 = with(t3a, "Contact: <sip:alice@10.0.0.1:5060>", "Contact: <sip:alice@10.0.0.7:6000>");
	struct sip_msg *ack = parse(t1), *old = parse(t2), *reinv = parse(t3);
	TAP_CHECK_INT(sip_dialog_receive(d, ack), 0);   /* same CSeq: fine for ACK */
	TAP_CHECK_INT(sip_dialog_receive(d, old), 500); /* lower: 500 */
	TAP_CHECK_INT(sip_dialog_receive(d, reinv), 0);
	TAP_CHECK_STR(sip_dialog_remote_target(d), "sip:alice@10.0.0.7:6000");
	TAP_CHECK_INT(sip_dialog_receive(d, reinv), 500); /* the same again, not ACK: 500 */
	g_free(t1);
	g_free(t1a);
	g_free(t2);
	g_free(t2a);
	g_free(t3a);
	g_free(t3);
	g_free(ack);
	g_free(old);
	g_free(reinv);
	g_free(req);
	sip_dialog_free(d);
}

static void t_errors(void)
{
	struct sip_dialog *d = NULL;
	char *notag = with(invite, ";tag=ft1", "");
	char *nocontact = with(invite, "Contact: <sip:alice@10.0.0.1:5060>\r\n", "");
	struct sip_msg *a = parse(notag), *b = parse(invite);
	TAP_CHECK_INT(sip_dialog_new_uas(a, "x", &d), EINVAL);
	TAP_CHECK_INT(sip_dialog_new_uas(b, "", &d), EINVAL);
	g_free(a);
	g_free(b);
	g_free(notag);
	/* a request without Contact does not even parse (BI-11), so build one from a BYE */
	char *bye = with(nocontact, "INVITE sip", "BYE sip");
	char *bye2 = with(bye, "CSeq: 10 INVITE", "CSeq: 10 BYE");
	struct sip_msg *c = parse(bye2);
	TAP_CHECK_INT(sip_dialog_new_uas(c, "x", &d), EBADMSG);
	g_free(c);
	g_free(bye);
	g_free(bye2);
	g_free(nocontact);
}

static void t_table(void)
{
	struct sip_msg *req = parse(invite);
	struct sip_dialog *d = NULL;
	sip_dialog_new_uas(req, "lt9", &d);
	struct sip_dialogs *t = sip_dialogs_new();
	sip_dialogs_add(t, d);
	char *in_dialog = with(invite, "To: <sip:bob@gw.example.com>", "To: <sip:bob@gw.example.com>;tag=lt9");
	char *other = with(invite, "To: <sip:bob@gw.example.com>", "To: <sip:bob@gw.example.com>;tag=zz");
	struct sip_msg *m1 = parse(in_dialog), *m2 = parse(other);
	TAP_CHECK(sip_dialogs_find_request(t, m1) == d);
	TAP_CHECK(sip_dialogs_find_request(t, m2) == NULL);
	TAP_CHECK(sip_dialogs_find_request(t, req) == NULL); /* no To tag: not in a dialog */
	TAP_CHECK_INT(sip_dialogs_count(t), 1);
	sip_dialogs_remove(t, d);
	TAP_CHECK(sip_dialogs_find_request(t, m1) == NULL); /* BI-15: gone → 481 upstairs */
	GString *dump = g_string_new(NULL);
	sip_dialog_dump(d, dump);
	TAP_CHECK(strstr(dump->str, "dialog dlg-1@10.0.0.1 state=confirmed") != NULL);
	g_string_free(dump, TRUE);
	sip_dialogs_free(t);
	sip_dialog_free(d);
	g_free(m1);
	g_free(m2);
	g_free(in_dialog);
	g_free(other);
	g_free(req);
}

static const struct tap_case cases[] = {
	{"dialog UAS: identity, route set in order, in-dialog requests", t_uas, 0},
	{"dialog UAC: early from 180, confirmed by 200, reversed route set, ACK", t_uac_early_then_confirmed, 0},
	{"dialog CSeq rules and target refresh (BI-15 out of order -> 500)", t_cseq_and_refresh, 0},
	{"dialog creation errors", t_errors, 0},
	{"dialog table lookup and removal", t_table, 0},
};

TAP_MAIN(cases)
