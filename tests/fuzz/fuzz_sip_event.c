/* libFuzzer target: the event package body scanners (message-summary, PIDF, XML text
 * decode). The first byte picks the scanner; results are checked for consistency. */
#include <glib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool inside(struct slice s, struct slice in)
{
	return !s.p || (s.p >= in.p && s.p + s.len <= in.p + in.len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct slice in = {(const char *)data + 1, size - 1};
	if (data[0] & 1) {
		struct sip_mwi m;
		if (sip_mwi_parse(in, &m) == 0) {
			if (m.waiting != 0 && m.waiting != 1)
				abort();
			if (m.n > SIP_MWI_MAX_CLASSES || !inside(m.account, in))
				abort();
			for (size_t i = 0; i < m.n; i++)
				if (!inside(m.cls[i].name, in) || !m.cls[i].name.len)
					abort();
		}
	} else {
		struct sip_pidf p;
		if (sip_pidf_scan(in, &p) == 0) {
			if (p.basic < -1 || p.basic > 1 || !inside(p.note, in))
				abort();
			if (p.note.p) {
				GString *t = g_string_new(NULL);
				if (sip_xml_text_decode(p.note, t) == 0) {
					/* escaping what was decoded and decoding it again gives it back */
					GString *e = g_string_new(NULL), *back = g_string_new(NULL);
					sip_xml_text_escape(t->str, t->len, e);
					if (sip_xml_text_decode((struct slice){e->str, e->len}, back) != 0)
						abort();
					g_string_free(e, TRUE);
					g_string_free(back, TRUE);
				}
				g_string_free(t, TRUE);
			}
		}
	}
	return 0;
}
