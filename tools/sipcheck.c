/* sipcheck: parses SIP message files (one datagram each) and prints one JSON line per file. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sip.h"

/* JSON string: quotes, backslash and controls escaped; invalid UTF-8 bytes as \u00XX. */
static void json_str(GString *o, const char *p, size_t n)
{
	g_string_append_c(o, '"');
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)p[i];
		if (c == '"' || c == '\\') {
			g_string_append_c(o, '\\');
			g_string_append_c(o, (char)c);
		} else if (c == '\n') {
			g_string_append(o, "\\n");
		} else if (c == '\r') {
			g_string_append(o, "\\r");
		} else if (c == '\t') {
			g_string_append(o, "\\t");
		} else if (c < 0x20 || c == 0x7f) {
			g_string_append_printf(o, "\\u%04x", c);
		} else if (c >= 0x80) {
			gunichar u = g_utf8_get_char_validated(p + i, (gssize)(n - i));
			if (u == (gunichar)-1 || u == (gunichar)-2) {
				g_string_append_printf(o, "\\u%04x", c);
			} else {
				const char *nx = g_utf8_next_char(p + i);
				g_string_append_len(o, p + i, nx - (p + i));
				i = (size_t)(nx - p);
				continue;
			}
		} else {
			g_string_append_c(o, (char)c);
		}
		i++;
	}
	g_string_append_c(o, '"');
}

static void field_str(GString *o, const char *key, struct slice v)
{
	if (!v.p)
		return;
	g_string_append_printf(o, ",\"%s\":", key);
	json_str(o, v.p, v.len);
}

static bool body_is_sdp(struct slice ct)
{
	const char *semi = ct.p ? memchr(ct.p, ';', ct.len) : NULL;
	size_t n = semi ? (size_t)(semi - ct.p) : ct.len;
	while (n && (ct.p[n - 1] == ' ' || ct.p[n - 1] == '\t'))
		n--;
	return n == 15 && g_ascii_strncasecmp(ct.p, "application/sdp", 15) == 0;
}

static void print_valid(GString *o, const struct sip_msg *m)
{
	g_string_append_printf(o, ",\"valid\":true,\"kind\":\"%s\"",
			       m->request ? "request" : "response");
	if (m->request) {
		field_str(o, "method", m->method);
		field_str(o, "ruri", m->ruri);
	} else {
		g_string_append_printf(o, ",\"status\":%u", m->status);
	}
	field_str(o, "call_id", m->call_id);
	if (m->cseq.method.p) {
		g_string_append_printf(o, ",\"cseq\":%" G_GUINT32_FORMAT, m->cseq.num);
		field_str(o, "cseq_method", m->cseq.method);
	}
	const struct sip_hdr *h = sip_msg_hdr(m, SIP_HDR_VIA);
	g_string_append_printf(o, ",\"via_count\":%u", h ? m->count[SIP_HDR_VIA] : 0);
	field_str(o, "branch", m->via.branch);
	field_str(o, "from_tag", m->from.tag);
	field_str(o, "to_tag", m->to.tag);
	g_string_append_printf(o, ",\"content_length\":%zu", m->body.len);
	g_string_append_printf(o, ",\"body_sdp\":%s", body_is_sdp(m->content_type) ? "true" : "false");
}

/* Returns 0 valid, 1 invalid, 2 unreadable. */
static int check_file(const char *path, GString *o)
{
	gchar *data = NULL;
	gsize len = 0;
	GError *err = NULL;
	int rc;
	g_string_append(o, "{\"file\":");
	json_str(o, path, strlen(path));
	if (!g_file_get_contents(path, &data, &len, &err)) {
		g_string_append(o, ",\"valid\":false,\"reason\":");
		json_str(o, err->message, strlen(err->message));
		g_error_free(err);
		rc = 2;
		goto out;
	}
	struct sip_msg *m = g_new(struct sip_msg, 1);
	int status = 0;
	const char *reason = NULL;
	rc = sip_msg_parse(data, len, SIP_MODE_DATAGRAM, m, &status, &reason);
	if (rc == 0) {
		print_valid(o, m);
	} else {
		g_string_append(o, ",\"valid\":false");
		if (status)
			g_string_append_printf(o, ",\"status\":%d", status);
		if (!reason)
			reason = rc == EAGAIN ? "message truncated" : "malformed message";
		g_string_append(o, ",\"reason\":");
		json_str(o, reason, strlen(reason));
		rc = 1;
	}
	g_free(m);
	g_free(data);
out:
	g_string_append(o, "}\n");
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		fprintf(stderr, "usage: %s FILE...\n"
				"Parses each file as one SIP message (datagram framing) and prints\n"
				"one JSON line per file. Exit 0 all valid, 1 some invalid, 2 error.\n",
			argv[0]);
		return 2;
	}
	int worst = 0;
	GString *o = g_string_new(NULL);
	for (int i = 1; i < argc; i++) {
		g_string_truncate(o, 0);
		int rc = check_file(argv[i], o);
		fwrite(o->str, 1, o->len, stdout);
		if (rc > worst)
			worst = rc;
	}
	g_string_free(o, TRUE);
	return worst;
}
