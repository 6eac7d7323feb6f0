/* Remote ICE candidate lines as signaling trickles them in (RFC 8839 §5.1, RFC 6544 for
 * TCP), parsed on the signaling thread into struct ice_cand; nothing here touches libnice.
 * Kept apart from relay_ice.c so that its fuzz target (tests/fuzz/fuzz_ice_cand.c) builds
 * without the rest of the relay. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "relay_priv.h"

#define CAND_LINE_MAX 1024
#define CAND_TOKENS   32

static bool ice_chars(const char *s, size_t min, size_t max)
{
	size_t n = strlen(s);
	if (n < min || n > max)
		return false;
	for (; *s; s++)
		if (!g_ascii_isalnum(*s) && *s != '+' && *s != '/')
			return false;
	return true;
}

static bool parse_u32(const char *s, unsigned maxdigits, uint64_t max, uint32_t *out)
{
	size_t n = strlen(s);
	if (n == 0 || n > maxdigits)
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (!g_ascii_isdigit(s[i]))
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > max)
		return false;
	*out = (uint32_t)v;
	return true;
}

/* 0, EBADMSG, or ENOENT: a well-formed address we do not use (a hostname, e.g. mDNS). */
static int parse_addr(const char *ip, const char *port, struct sockaddr_storage *out)
{
	uint32_t pn;
	if (!parse_u32(port, 5, 65535, &pn))
		return EBADMSG;
	memset(out, 0, sizeof(*out));
	struct sockaddr_in *v4 = (struct sockaddr_in *)out;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;
	if (inet_pton(AF_INET, ip, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)pn);
		return 0;
	}
	if (inet_pton(AF_INET6, ip, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)pn);
		return 0;
	}
	for (const char *p = ip; *p; p++)
		if (!g_ascii_isalnum(*p) && *p != '-' && *p != '.')
			return EBADMSG;
	return *ip ? ENOENT : EBADMSG;
}

static int parse_tokens(char **t, unsigned n, struct ice_cand *c)
{
	/* foundation component transport priority address port "typ" type [name value]... */
	uint32_t comp;
	if (n < 8 || (n - 8) % 2 || !ice_chars(t[0], 1, 32) || !parse_u32(t[1], 3, 256, &comp) ||
	    comp == 0 || !parse_u32(t[3], 10, UINT32_MAX, &c->priority) || strcmp(t[6], "typ"))
		return EBADMSG;
	static const char *const types[] = {"host", "srflx", "prflx", "relay"};
	unsigned ty = 0;
	while (ty < 4 && strcmp(t[7], types[ty]))
		ty++;
	if (ty == 4)
		return EBADMSG;
	c->type = (enum ice_cand_type)ty;
	bool udp = !g_ascii_strcasecmp(t[2], "udp");
	if (!udp && g_ascii_strcasecmp(t[2], "tcp"))
		return EBADMSG;
	int err = parse_addr(t[4], t[5], &c->addr);
	if (err == EBADMSG)
		return err;
	const char *raddr = NULL, *rport = NULL, *tcptype = NULL;
	for (unsigned i = 8; i < n; i += 2) {
		if (!strcmp(t[i], "raddr"))
			raddr = t[i + 1];
		else if (!strcmp(t[i], "rport"))
			rport = t[i + 1];
		else if (!strcmp(t[i], "tcptype"))
			tcptype = t[i + 1];
	}
	c->transport = CAND_UDP;
	if (!udp) { /* RFC 6544 §4.5: a TCP candidate says which end connects */
		static const char *const tt[] = {"active", "passive", "so"};
		unsigned k = 0;
		while (tcptype && k < 3 && strcmp(tcptype, tt[k]))
			k++;
		if (!tcptype || k == 3)
			return EBADMSG;
		c->transport = (enum ice_cand_transport)(CAND_TCP_ACTIVE + k);
	}
	memset(&c->raddr, 0, sizeof(c->raddr));
	if (raddr && rport) {
		int e2 = parse_addr(raddr, rport, &c->raddr);
		if (e2 == EBADMSG)
			return e2;
		if (e2)
			memset(&c->raddr, 0, sizeof(c->raddr));
	}
	g_strlcpy(c->foundation, t[0], sizeof(c->foundation));
	/* well-formed but unused here: RTCP component (rtcp-mux), hostnames (ICE-TCP is the
	 * caller's choice: relay_session_add_candidate) */
	if (comp != 1 || err)
		return ENOENT;
	if (((struct sockaddr_in *)&c->addr)->sin_port == 0)
		return EBADMSG;
	return 0;
}

int relay_ice_cand_parse(const char *line, struct ice_cand *c)
{
	if (!line)
		return EBADMSG;
	size_t len = strnlen(line, CAND_LINE_MAX + 1);
	if (len > CAND_LINE_MAX)
		return EBADMSG;
	if (!strncmp(line, "a=", 2))
		line += 2;
	if (!strncmp(line, "candidate:", 10))
		line += 10;
	char buf[CAND_LINE_MAX + 1];
	g_strlcpy(buf, line, sizeof(buf));
	/* a trailing CRLF from an SDP line is tolerated; any other control byte is not */
	size_t n = strlen(buf);
	while (n && (buf[n - 1] == '\r' || buf[n - 1] == '\n'))
		buf[--n] = 0;
	char *t[CAND_TOKENS];
	unsigned nt = 0;
	for (char *p = buf; *p;) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return EBADMSG;
		if (*p == ' ') {
			if (p == buf || p[-1] == ' ' || p[-1] == 0)
				return EBADMSG; /* RFC 8839 grammar: single spaces only */
			*p++ = 0;
			continue;
		}
		if (p == buf || p[-1] == 0) {
			if (nt == CAND_TOKENS)
				return EBADMSG;
			t[nt++] = p;
		}
		p++;
	}
	if (n && buf[n - 1] == 0)
		return EBADMSG; /* trailing space */
	return parse_tokens(t, nt, c);
}
