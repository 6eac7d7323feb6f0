/* UA core: answers what the stack serves so far, statelessly (see sip.h). */
#include <openssl/rand.h>
#include <string.h>

#include "sip.h"

#define ALLOW "OPTIONS, ACK"
#define SUPPORTED "path, outbound"

static const char *const log_module = "sip";

struct sip_ua {
	char *user_agent;
	struct metric_family *m_sent;
};

struct sip_ua *sip_ua_new(const char *user_agent)
{
	struct sip_ua *ua = g_new0(struct sip_ua, 1);
	ua->user_agent = g_strdup(user_agent);
	ua->m_sent = metrics_family("gorgee_sip_responses_sent_total",
				    "SIP responses sent by the UA core, by status.", METRIC_COUNTER);
	return ua;
}

void sip_ua_free(struct sip_ua *ua)
{
	if (!ua)
		return;
	g_free(ua->user_agent);
	g_free(ua);
}

static void to_tag(char out[17])
{
	unsigned char b[8];
	if (RAND_bytes(b, sizeof(b)) != 1)
		memset(b, 0x5a, sizeof(b)); /* a tag needs uniqueness, not secrecy */
	for (int i = 0; i < 8; i++)
		g_snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static void respond(struct sip_ua *ua, struct sip_transport *t, const struct sip_msg *req,
		    const struct sip_src *src, int status, const char *extra)
{
	char tag[17], code[8];
	to_tag(tag);
	GString *resp = g_string_new(NULL);
	GString *hdrs = g_string_new(extra ? extra : "");
	g_string_append_printf(hdrs, "Server: %s\r\n", ua->user_agent);
	if (sip_response_build(req, status, NULL, tag, hdrs->str, (struct slice){NULL, 0}, resp) == 0)
		sip_transport_respond(t, req, src, resp);
	g_snprintf(code, sizeof(code), "%d", status);
	char labels[32];
	g_snprintf(labels, sizeof(labels), "status=\"%s\"", code);
	metric_add(metrics_series(ua->m_sent, labels), 1);
	g_string_free(hdrs, TRUE);
	g_string_free(resp, TRUE);
}

/* The first Require token we do not support, for 420 (RFC 3261 §8.2.2.3). */
static bool unsupported_require(const struct sip_msg *req, GString *unsupported)
{
	for (const struct sip_hdr *h = sip_msg_hdr(req, SIP_HDR_REQUIRE); h;
	     h = sip_msg_hdr_next(req, h)) {
		struct slice v = h->value;
		if (!slice_caseeqlit(v, "path") && !slice_caseeqlit(v, "outbound")) {
			g_string_append_printf(unsupported, "Unsupported: " SLICE_FMT "\r\n",
					       SLICE_ARG(v));
			return true;
		}
	}
	return false;
}

void sip_ua_recv(struct sip_transport *t, const struct sip_msg *msg, const struct sip_src *src,
		 void *arg)
{
	struct sip_ua *ua = arg;
	char peer[64];
	g_snprintf(peer, sizeof(peer), "%s:%u", src->ip, src->port);
	char callid[128];
	g_snprintf(callid, sizeof(callid), SLICE_FMT, (int)MIN(msg->call_id.len, 127), msg->call_id.p);
	struct log_ctx ctx = {.call_id = callid, .leg = "sip", .peer = peer};

	if (!msg->request) {
		LOGD(log_module, &ctx, "response %u matches no transaction, dropped", msg->status);
		return;
	}
	if (msg->method_id == SIP_METHOD_ACK)
		return; /* ACKs are never answered */
	GString *extra = g_string_new(NULL);
	int status;
	if (msg->method_id != SIP_METHOD_OPTIONS && msg->max_forwards == 0) {
		status = 483;
	} else if (unsupported_require(msg, extra)) {
		status = 420;
	} else if (msg->method_id == SIP_METHOD_OPTIONS) {
		status = 200;
		g_string_append(extra, "Allow: " ALLOW "\r\nAccept: application/sdp\r\n"
				       "Accept-Language: en\r\nSupported: " SUPPORTED "\r\n");
	} else if (msg->method_id != SIP_METHOD_OTHER) {
		status = 405;
		g_string_append(extra, "Allow: " ALLOW "\r\n");
	} else {
		status = 501;
	}
	LOGD(log_module, &ctx, SLICE_FMT " -> %d", SLICE_ARG(msg->method), status);
	respond(ua, t, msg, src, status, extra->str);
	g_string_free(extra, TRUE);
}
