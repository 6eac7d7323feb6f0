/* bench adapter: gorgee's zero-copy SIP parser for the shared parser benchmark (../shared/bench/parser). */
#include "../sipparse.h"
#include "sip.h"

/* One message at a time: a static result struct, nothing allocated per parse. */
static struct sip_msg msg;

static int gorgee_parse(const char *buf, size_t len, sp_fields *out)
{
	if (sip_msg_parse(buf, len, SIP_MODE_DATAGRAM, &msg, NULL, NULL) != 0 ||
	    !msg.via.branch.p || !msg.from.tag.p)
		return -1;
	sp_copy(out->call_id, SP_FIELD_MAX, msg.call_id.p, msg.call_id.len);
	out->cseq = msg.cseq.num;
	sp_copy(out->cseq_method, sizeof out->cseq_method, msg.cseq.method.p, msg.cseq.method.len);
	sp_copy(out->via_branch, SP_FIELD_MAX, msg.via.branch.p, msg.via.branch.len);
	sp_copy(out->from_tag, SP_FIELD_MAX, msg.from.tag.p, msg.from.tag.len);
	return 0;
}

const sp_parser SP_PARSER_gorgee = {"gorgee-0.1", NULL, gorgee_parse, NULL};
