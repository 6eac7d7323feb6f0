/* sip: character classes and the small scanners every SIP parser here shares. */
#include <errno.h>

#include "sip-private.h"

/* Generated from the RFC 3261 §25.1 sets; one byte of class bits per character. */
const uint8_t sip_cc[256] = {
	['\t'] = SC_WS,
	['\n'] = SC_WS,
	['\r'] = SC_WS,
	[' '] = SC_WS,
	['!'] = SC_TOKEN | SC_USER | SC_PARAM | SC_HNV,
	['$'] = SC_USER | SC_PARAM | SC_HNV,
	['%'] = SC_TOKEN,
	['&'] = SC_USER | SC_PARAM,
	['\''] = SC_TOKEN | SC_USER | SC_PARAM | SC_HNV,
	['('] = SC_USER | SC_PARAM | SC_HNV,
	[')'] = SC_USER | SC_PARAM | SC_HNV,
	['*'] = SC_TOKEN | SC_USER | SC_PARAM | SC_HNV,
	['+'] = SC_TOKEN | SC_USER | SC_PARAM | SC_HNV,
	[','] = SC_USER,
	['-'] = SC_TOKEN | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['.'] = SC_TOKEN | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['/'] = SC_USER | SC_PARAM | SC_HNV,
	['0'] = SC_TOKEN | SC_HEX | SC_DIGIT | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['1'] = SC_TOKEN | SC_HEX | SC_DIGIT | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['2'] = SC_TOKEN | SC_HEX | SC_DIGIT | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['3'] = SC_TOKEN | SC_HEX | SC_DIGIT | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['4'] = SC_TOKEN | SC_HEX | SC_DIGIT | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['5'] = SC_TOKEN | SC_HEX | SC_DIGIT | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['6'] = SC_TOKEN | SC_HEX | SC_DIGIT | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['7'] = SC_TOKEN | SC_HEX | SC_DIGIT | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['8'] = SC_TOKEN | SC_HEX | SC_DIGIT | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['9'] = SC_TOKEN | SC_HEX | SC_DIGIT | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	[':'] = SC_PARAM | SC_HNV,
	[';'] = SC_USER,
	['='] = SC_USER,
	['?'] = SC_USER | SC_HNV,
	['A'] = SC_TOKEN | SC_HEX | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['B'] = SC_TOKEN | SC_HEX | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['C'] = SC_TOKEN | SC_HEX | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['D'] = SC_TOKEN | SC_HEX | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['E'] = SC_TOKEN | SC_HEX | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['F'] = SC_TOKEN | SC_HEX | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['G'] = SC_TOKEN | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['H'] = SC_TOKEN | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['I'] = SC_TOKEN | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['J'] = SC_TOKEN | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['K'] = SC_TOKEN | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['L'] = SC_TOKEN | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['M'] = SC_TOKEN | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['N'] = SC_TOKEN | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['O'] = SC_TOKEN | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['P'] = SC_TOKEN | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['Q'] = SC_TOKEN | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['R'] = SC_TOKEN | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['S'] = SC_TOKEN | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['T'] = SC_TOKEN | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['U'] = SC_TOKEN | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['V'] = SC_TOKEN | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['W'] = SC_TOKEN | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['X'] = SC_TOKEN | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['Y'] = SC_TOKEN | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['Z'] = SC_TOKEN | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['['] = SC_PARAM | SC_HNV,
	[']'] = SC_PARAM | SC_HNV,
	['_'] = SC_TOKEN | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['`'] = SC_TOKEN,
	['a'] = SC_TOKEN | SC_HEX | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['b'] = SC_TOKEN | SC_HEX | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['c'] = SC_TOKEN | SC_HEX | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['d'] = SC_TOKEN | SC_HEX | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['e'] = SC_TOKEN | SC_HEX | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['f'] = SC_TOKEN | SC_HEX | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['g'] = SC_TOKEN | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['h'] = SC_TOKEN | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['i'] = SC_TOKEN | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['j'] = SC_TOKEN | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['k'] = SC_TOKEN | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['l'] = SC_TOKEN | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['m'] = SC_TOKEN | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['n'] = SC_TOKEN | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['o'] = SC_TOKEN | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['p'] = SC_TOKEN | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['q'] = SC_TOKEN | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['r'] = SC_TOKEN | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['s'] = SC_TOKEN | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['t'] = SC_TOKEN | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['u'] = SC_TOKEN | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['v'] = SC_TOKEN | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['w'] = SC_TOKEN | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['x'] = SC_TOKEN | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['y'] = SC_TOKEN | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['z'] = SC_TOKEN | SC_USER | SC_PARAM | SC_HNV | SC_HOST,
	['~'] = SC_TOKEN | SC_USER | SC_PARAM | SC_HNV,
};

/* ASCII lower case of every byte; other bytes map to themselves. */
const uint8_t sip_lc[256] = {
	0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
	0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
	0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23,
	0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f,
	0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x3b,
	0x3c, 0x3d, 0x3e, 0x3f, 0x40, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67,
	0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f, 0x70, 0x71, 0x72, 0x73,
	0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f,
	0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b,
	0x6c, 0x6d, 0x6e, 0x6f, 0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77,
	0x78, 0x79, 0x7a, 0x7b, 0x7c, 0x7d, 0x7e, 0x7f, 0x80, 0x81, 0x82, 0x83,
	0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8b, 0x8c, 0x8d, 0x8e, 0x8f,
	0x90, 0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0x9b,
	0x9c, 0x9d, 0x9e, 0x9f, 0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
	0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf, 0xb0, 0xb1, 0xb2, 0xb3,
	0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf,
	0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xcb,
	0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7,
	0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xe1, 0xe2, 0xe3,
	0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xeb, 0xec, 0xed, 0xee, 0xef,
	0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb,
	0xfc, 0xfd, 0xfe, 0xff,
};

/* Next '"' or '\\' in [p, end), or end; 16 bytes a step like sip_find_byte. */
static inline const char *find_quote_end(const char *p, const char *end)
{
#ifdef __SSE2__
	const __m128i dq = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\');
	for (; end - p >= 16; p += 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
		unsigned mask = (unsigned)_mm_movemask_epi8(
			_mm_or_si128(_mm_cmpeq_epi8(x, dq), _mm_cmpeq_epi8(x, bs)));
		if (mask)
			return p + __builtin_ctz(mask);
	}
#endif
	while (p < end && *p != '"' && *p != '\\')
		p++;
	return p;
}

const char *sip_scan_quoted(const char *p, const char *end, struct slice *out)
{
	const char *start = ++p;
	/* Display names, nonces and +sip.instance run 10..60 bytes: jump between the only two
	 * bytes that matter (a quoted-pair skips the byte after its backslash). */
	for (;;) {
		p = find_quote_end(p, end);
		if (p == end)
			return NULL;
		if (*p == '"') {
			*out = sl_range(start, p);
			return p + 1;
		}
		if (end - p < 2)
			return NULL;
		p += 2;
	}
}

/* token characters plus ':' (a parameter value without quotes); one lookup a byte. */
static const uint8_t pvalue_char[256] = {
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
	['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
	['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
	['y'] = 1, ['z'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
	['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1,
	['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1,
	['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1,
	['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1, ['-'] = 1, ['.'] = 1,
	['!'] = 1, ['%'] = 1, ['*'] = 1, ['_'] = 1, ['+'] = 1, ['`'] = 1, ['\''] = 1, ['~'] = 1,
	[':'] = 1,
};

/* One parameter value: quoted string, IPv6 reference or token. */
static const char *scan_pvalue(const char *p, const char *end, struct slice *v, bool unquote)
{
	if (*p == '"') {
		const char *q = sip_scan_quoted(p, end, v);
		if (q && !unquote)
			*v = sl_range(p, q);
		return q;
	}
	if (*p == '[') {
		const char *q = memchr(p, ']', (size_t)(end - p));
		if (!q)
			return NULL;
		*v = sl_range(p, q + 1);
		return q + 1;
	}
	/* token, plus ':' so host:port style values (received, maddr) survive */
	const char *s = p;
	p = run_cls(pvalue_char, 1, p, end);
	if (p == s)
		return NULL;
	*v = sl_range(s, p);
	return p;
}

int sip_params_scan(const char *p, const char *end, struct sip_params *ps, bool unquote)
{
	p = skip_ws(p, end);
	while (p < end) {
		if (*p != ';')
			return EBADMSG;
		p = skip_ws(p + 1, end);
		const char *n = p;
		p = scan_token(p, end);
		if (p == n || ps->n >= SIP_MAX_PARAMS)
			return EBADMSG;
		struct sip_param *pa = &ps->p[ps->n++];
		pa->name = sl_range(n, p);
		pa->value = sl(NULL, 0);
		p = skip_ws(p, end);
		if (p < end && *p == '=') {
			p = skip_ws(p + 1, end);
			if (p >= end)
				return EBADMSG;
			p = scan_pvalue(p, end, &pa->value, unquote);
			if (!p)
				return EBADMSG;
			p = skip_ws(p, end);
		}
	}
	return 0;
}

const struct sip_param *sip_params_find(const struct sip_params *ps, const char *name)
{
	return params_find_n(ps, name, strlen(name));
}

int sip_uint_parse(struct slice v, uint64_t max, uint64_t *out)
{
	uint64_t x = 0;
	if (v.len == 0)
		return EBADMSG;
	if (v.len <= 19) {
		/* 19 digits stay below 10^19 < 2^64: nothing can wrap, one compare with max at the
		 * end (x only grows, so a prefix above max means the whole is above it) */
		for (size_t i = 0; i < v.len; i++) {
			unsigned d = (unsigned char)v.p[i] - '0';
			if (d > 9)
				return EBADMSG;
			x = x * 10 + d;
		}
		if (x > max)
			return EBADMSG;
		*out = x;
		return 0;
	}
	for (size_t i = 0; i < v.len; i++) {
		unsigned d = (unsigned char)v.p[i] - '0';
		if (d > 9)
			return EBADMSG;
		/* Overflow-checked: never wraps, never truncates (BI-07, BI-08). */
		if (__builtin_mul_overflow(x, 10, &x) || __builtin_add_overflow(x, d, &x) || x > max)
			return EBADMSG;
	}
	*out = x;
	return 0;
}

static bool ipv6_ref_ok(const char *a, const char *b)
{
	/* a/b exclude the brackets; hex digits, ':' and '.' (embedded IPv4), at least "::" */
	if (b - a < 2 || b - a > 45)
		return false;
	for (const char *p = a; p < b; p++)
		if (!CC(*p, SC_HEX) && *p != ':' && *p != '.')
			return false;
	return memchr(a, ':', (size_t)(b - a)) != NULL;
}

const char *sip_hostport_scan(const char *p, const char *end, struct slice *host, bool *ipv6,
			      bool *has_port, uint16_t *port)
{
	const char *h = p;
	*ipv6 = false;
	*has_port = false;
	*port = 0;
	if (p < end && *p == '[') {
		const char *q = memchr(p, ']', (size_t)(end - p));
		if (!q || !ipv6_ref_ok(p + 1, q))
			return NULL;
		p = q + 1;
		*ipv6 = true;
	} else {
		p = run_cls(sip_cc, SC_HOST, p, end);
		if (p == h)
			return NULL;
	}
	*host = sl_range(h, p);
	if (p < end && *p == ':') {
		const char *d = ++p;
		unsigned v = 0;
		while (p < end && CC(*p, SC_DIGIT) && p - d < 6)
			v = v * 10 + (unsigned)(*p++ - '0');
		if (p == d || p - d > 5 || v > 65535)
			return NULL;
		*has_port = true;
		*port = (uint16_t)v;
	}
	return p;
}

int sip_hostport_parse(const char *p, const char *end, struct slice *host, bool *ipv6,
		       bool *has_port, uint16_t *port)
{
	return sip_hostport_scan(p, end, host, ipv6, has_port, port) == end ? 0 : EBADMSG;
}
