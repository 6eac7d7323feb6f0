/* sip: serialising parsed messages and building requests and responses (RFC 3261 §7, §8.2.6). */
#include <errno.h>

#include "sip-private.h"

const char *sip_status_phrase(int status)
{
	static const struct {
		int code;
		const char *phrase;
	} t[] = {
		{100, "Trying"}, {180, "Ringing"}, {181, "Call Is Being Forwarded"},
		{182, "Queued"}, {183, "Session Progress"}, {200, "OK"}, {202, "Accepted"},
		{300, "Multiple Choices"}, {301, "Moved Permanently"}, {302, "Moved Temporarily"},
		{305, "Use Proxy"}, {380, "Alternative Service"}, {400, "Bad Request"},
		{401, "Unauthorized"}, {402, "Payment Required"}, {403, "Forbidden"},
		{404, "Not Found"}, {405, "Method Not Allowed"}, {406, "Not Acceptable"},
		{407, "Proxy Authentication Required"}, {408, "Request Timeout"}, {410, "Gone"},
		{412, "Conditional Request Failed"}, {413, "Request Entity Too Large"},
		{414, "Request-URI Too Long"}, {415, "Unsupported Media Type"},
		{416, "Unsupported URI Scheme"}, {420, "Bad Extension"},
		{421, "Extension Required"}, {422, "Session Interval Too Small"},
		{423, "Interval Too Brief"}, {480, "Temporarily Unavailable"},
		{481, "Call/Transaction Does Not Exist"}, {482, "Loop Detected"},
		{483, "Too Many Hops"}, {484, "Address Incomplete"}, {485, "Ambiguous"},
		{486, "Busy Here"}, {487, "Request Terminated"}, {488, "Not Acceptable Here"},
		{489, "Bad Event"}, {491, "Request Pending"}, {493, "Undecipherable"},
		{500, "Server Internal Error"}, {501, "Not Implemented"}, {502, "Bad Gateway"},
		{503, "Service Unavailable"}, {504, "Server Time-out"},
		{505, "Version Not Supported"}, {513, "Message Too Large"},
		{600, "Busy Everywhere"}, {603, "Decline"}, {604, "Does Not Exist Anywhere"},
		{606, "Not Acceptable"},
	};
	for (unsigned i = 0; i < G_N_ELEMENTS(t); i++)
		if (t[i].code == status)
			return t[i].phrase;
	return "Unknown";
}

static void put(GString *out, struct slice s)
{
	g_string_append_len(out, s.p, (gssize)s.len);
}

static void put_hdr(GString *out, const struct sip_hdr *h)
{
	const char *name = sip_hdr_name((enum sip_hdr_id)h->id);
	if (name)
		g_string_append(out, name);
	else
		put(out, h->name);
	g_string_append_len(out, ": ", 2);
	put(out, h->value);
	g_string_append_len(out, "\r\n", 2);
}

static void put_body(GString *out, struct slice body)
{
	g_string_append_len(out, "Content-Length: ", 16);
	sip_append_uint(out, body.len);
	g_string_append_len(out, "\r\n\r\n", 4);
	put(out, body);
}

void sip_msg_print(const struct sip_msg *m, GString *out)
{
	if (m->request) {
		put(out, m->method);
		g_string_append_c(out, ' ');
		put(out, m->ruri);
		g_string_append(out, " SIP/2.0\r\n");
	} else {
		g_string_append_printf(out, "SIP/2.0 %03u ", m->status);
		put(out, m->reason);
		g_string_append_len(out, "\r\n", 2);
	}
	for (unsigned i = 0; i < m->nhdr; i++)
		if (m->hdr[i].id != SIP_HDR_CONTENT_LENGTH)
			put_hdr(out, &m->hdr[i]);
	put_body(out, m->body);
}

int sip_response_build(const struct sip_msg *req, int status, const char *reason,
		       const char *to_tag, const char *extra, struct slice body, GString *out)
{
	if (!req || !req->request || status < 100 || status > 699 || !out)
		return EINVAL;
	g_string_append_len(out, "SIP/2.0 ", 8);
	sip_append_uint(out, (size_t)status);
	g_string_append_c(out, ' ');
	g_string_append(out, reason ? reason : sip_status_phrase(status));
	g_string_append_len(out, "\r\n", 2);
	/* §8.2.6.2: Via (all, in order), From, Call-ID and CSeq copied; To gets our tag */
	static const enum sip_hdr_id copy[] = {SIP_HDR_VIA, SIP_HDR_FROM, SIP_HDR_TO,
					       SIP_HDR_CALL_ID, SIP_HDR_CSEQ};
	for (unsigned i = 0; i < G_N_ELEMENTS(copy); i++) {
		for (const struct sip_hdr *h = sip_msg_hdr(req, copy[i]); h;
		     h = sip_msg_hdr_next(req, h)) {
			if (copy[i] != SIP_HDR_TO || req->to.tag.p || !to_tag || status == 100) {
				put_hdr(out, h);
				continue;
			}
			g_string_append(out, "To: ");
			put(out, h->value);
			g_string_append_len(out, ";tag=", 5);
			g_string_append(out, to_tag);
			g_string_append_len(out, "\r\n", 2);
		}
	}
	if (extra)
		g_string_append(out, extra);
	put_body(out, body);
	return 0;
}

int sip_request_build(const char *method, const char *ruri, const char *headers,
		      struct slice body, GString *out)
{
	if (!method || !*method || !ruri || !*ruri || !out)
		return EINVAL;
	g_string_append_printf(out, "%s %s SIP/2.0\r\n", method, ruri);
	if (headers)
		g_string_append(out, headers);
	put_body(out, body);
	return 0;
}
