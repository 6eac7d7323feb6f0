/* sip: lexical helpers shared by the message, header and URI parsers (not public). */
#ifndef GORGEE_SIP_PRIVATE_H
#define GORGEE_SIP_PRIVATE_H

#include "sip.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* Character classes (RFC 3261 §25.1), one table lookup each. */
enum {
	SC_TOKEN = 1 << 0,  /* token: alphanum - . ! % * _ + ` ' ~ */
	SC_WS = 1 << 1,     /* SP HT CR LF: LWS inside a value (folds keep their CRLF) */
	SC_HEX = 1 << 2,
	SC_DIGIT = 1 << 3,
	SC_USER = 1 << 4,   /* unreserved + user-unreserved (& = + $ , ; ? /) */
	SC_PARAM = 1 << 5,  /* unreserved + param-unreserved ([ ] / : & + $) */
	SC_HNV = 1 << 6,    /* unreserved + hnv-unreserved ([ ] / ? : + $) */
	SC_HOST = 1 << 7,   /* alphanum - . (and _ seen in the wild) */
};

extern const uint8_t sip_cc[256];

#define CC(c, cls) ((sip_cc[(unsigned char)(c)] & (cls)) != 0)

/* Decimal digits of v (no printf: this runs for every message gorgee sends). */
static inline void sip_append_uint(GString *out, uint64_t v)
{
	char d[24];
	size_t n = sizeof(d);
	do {
		d[--n] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	g_string_append_len(out, d + n, (gssize)(sizeof(d) - n));
}

static inline struct slice sl(const char *p, size_t n)
{
	return (struct slice){p, n};
}

static inline struct slice sl_range(const char *a, const char *b)
{
	return (struct slice){a, (size_t)(b - a)};
}

/*
 * Next byte c in [p, end) or NULL. Header lines and URIs are short, so an inlined 16-byte
 * compare beats a call to memchr. The loads never pass end: from 16 bytes on, the last block
 * is the 16 bytes ending at end (overlapping ones already seen to hold no c) instead of a
 * byte loop over up to 15 (perf: that tail was a quarter of the search time); only a span
 * under 16 bytes is scanned bytewise.
 */
static inline const char *sip_find_byte(const char *p, const char *end, char c)
{
#ifdef __SSE2__
	const __m128i b = _mm_set1_epi8(c);
	if (end - p >= 16) {
		for (; end - p > 16; p += 16) {
			__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
			unsigned mask = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, b));
			if (mask)
				return p + __builtin_ctz(mask);
		}
		p = end - 16;
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
		unsigned mask = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, b));
		return mask ? p + __builtin_ctz(mask) : NULL;
	}
#endif
	for (; p < end; p++)
		if (*p == c)
			return p;
	return NULL;
}

/* Skips LWS (SP, HT and CRLF folds) in [p, end). */
static inline const char *skip_ws(const char *p, const char *end)
{
	while (p < end && CC(*p, SC_WS))
		p++;
	return p;
}

/* Trims LWS on both sides (inline: every header value and list element goes through it). */
static inline struct slice sip_trim(struct slice s)
{
	const char *a = s.p, *b = s.p + s.len;
	while (a < b && CC(*a, SC_WS))
		a++;
	while (b > a && CC(b[-1], SC_WS))
		b--;
	return sl_range(a, b);
}
/*
 * End of the run of bytes whose table entry has a bit of cls, from p within [p, end). Four
 * lookups ANDed a step: one branch per four bytes instead of two per byte, and the lookups
 * are independent loads. Runs here (names, hosts, tags, branches) are 3..40 bytes.
 */
static inline const char *run_cls(const uint8_t *t, unsigned cls, const char *p, const char *end)
{
	const unsigned char *u = (const unsigned char *)p;
	for (; end - p >= 4; p += 4, u += 4)
		if (!(t[u[0]] & t[u[1]] & t[u[2]] & t[u[3]] & cls))
			break;
	while (p < end && (t[(unsigned char)*p] & cls))
		p++;
	return p;
}

/* Scans a token in [p, end); returns its end (== p when none). */
static inline const char *scan_token(const char *p, const char *end)
{
	return run_cls(sip_cc, SC_TOKEN, p, end);
}

/*
 * Scans a quoted-string starting at p (*p == '"'). On success *out is the content without
 * the quotes (quoted-pairs kept) and the return is past the closing quote; NULL when the
 * quote is unterminated.
 */
const char *sip_scan_quoted(const char *p, const char *end, struct slice *out);

/*
 * Parses generic ";name[=value]" parameters from [p, end) into ps (appending). Values
 * may be tokens, quoted strings (quotes stripped when unquote) or IPv6 references.
 * Returns 0 or EBADMSG (syntax, more than SIP_MAX_PARAMS).
 */
int sip_params_scan(const char *p, const char *end, struct sip_params *ps, bool unquote);

extern const uint8_t sip_lc[256];

/* ASCII case-insensitive equality of n bytes (inlined: the hot path compares short names). */
static inline bool mem_ieq(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (sip_lc[(unsigned char)a[i]] != sip_lc[(unsigned char)b[i]])
			return false;
	return true;
}

/* Case-insensitive compare of a slice with a C string. */
static inline bool sl_ieq(struct slice s, const char *lit)
{
	size_t n = strlen(lit);
	return s.len == n && mem_ieq(s.p, lit, n);
}

static inline bool sl_ieq_sl(struct slice a, struct slice b)
{
	return a.len == b.len && mem_ieq(a.p, b.p, a.len);
}

/*
 * Case-insensitive compare of n bytes at s with lit, a literal of letters and bytes below
 * 0x40 only (digits, "-+.:": every header, parameter and scheme name compared here):
 * overlapping word loads instead of a byte loop. Bit 6 marks a letter in lit, so
 * (c >> 1) & 0x20 is the case bit to ignore there and nothing at a digit or "-+.:": exactly
 * mem_ieq for such literals (test_sip_msg checks it byte by byte).
 */
static inline uint64_t load_n(const char *p, size_t w)
{
	/* One load of exactly w bytes, widened: a w-byte memcpy into a zeroed uint64_t makes GCC
	 * store a constant literal's bytes to the stack and reload them 8 wide, a
	 * store-forwarding stall (perf annotate). */
	uint64_t x8;
	uint32_t x4;
	uint16_t x2;
	switch (w) {
	case 8:
		memcpy(&x8, p, 8);
		return x8;
	case 4:
		memcpy(&x4, p, 4);
		return x4;
	case 2:
		memcpy(&x2, p, 2);
		return x2;
	default:
		return (unsigned char)*p;
	}
}

static inline bool lit_word_ieq(const char *s, const char *lit, size_t off, size_t w)
{
	uint64_t x = load_n(s + off, w), c = load_n(lit + off, w);
	uint64_t fold = (c >> 1) & 0x2020202020202020u;
	return (x | fold) == (c | fold);
}

static inline bool lit_ieq(const char *s, const char *lit, size_t n)
{
	if (n >= 8) {
		for (size_t i = 0; i + 8 < n; i += 8)
			if (!lit_word_ieq(s, lit, i, 8))
				return false;
		return lit_word_ieq(s, lit, n - 8, 8);
	}
	if (n >= 4)
		return lit_word_ieq(s, lit, 0, 4) && lit_word_ieq(s, lit, n - 4, 4);
	if (n >= 2)
		return lit_word_ieq(s, lit, 0, 2) && lit_word_ieq(s, lit, n - 2, 2);
	return n == 0 || lit_word_ieq(s, lit, 0, 1);
}

/* sl_ieq for a literal as lit_ieq describes: its length is known at compile time. */
#define SL_IEQ_LIT(s, lit) ((s).len == sizeof(lit) - 1 && lit_ieq((s).p, "" lit, sizeof(lit) - 1))

/*
 * Full header names by a perfect hash of (length, first and last letter): one compare per
 * lookup. SIP_HDR_HASH gives every known name its own slot (checked by the unit tests, which
 * look up each name); an unknown name lands anywhere and fails the compare. The table is in
 * sip_hdr.c; the lookup is here so the message parser's line loop has no call.
 */
#define SIP_HDR_HASH(len, f, l) (((len) + (unsigned)(f) * 27u + (unsigned)(l)) & 127u)
struct sip_hdr_slot {
	uint8_t id, len;
	char name[20];
};
extern const struct sip_hdr_slot sip_hdr_slots[128];

/* sip_hdr_lookup without the compact forms (a one-letter name is SIP_HDR_OTHER here). */
static inline enum sip_hdr_id hdr_lookup_full(struct slice name)
{
	if (name.len < 2 || name.len > 19) /* "" must not read name.p[-1] below */
		return SIP_HDR_OTHER;
	/* Every known name starts and ends with a letter, so | 0x20 is its lower case; any other
	 * byte lands in some slot and fails the compare. No table lookup before the slot's.
	 * Known names are letters and '-' only, as lit_ieq needs. */
	unsigned f = (unsigned char)name.p[0] | 0x20u, l = (unsigned char)name.p[name.len - 1] | 0x20u;
	const struct sip_hdr_slot *s = &sip_hdr_slots[SIP_HDR_HASH(name.len, f, l)];
	if (s->len == name.len && lit_ieq(name.p, s->name, name.len))
		return (enum sip_hdr_id)s->id;
	return SIP_HDR_OTHER;
}

/* sip_params_find for a literal name: its length is known at compile time (no strlen). */
static inline const struct sip_param *params_find_n(const struct sip_params *ps,
						   const char *name, size_t n)
{
	for (unsigned i = 0; i < ps->n; i++)
		if (ps->p[i].name.len == n && mem_ieq(ps->p[i].name.p, name, n))
			return &ps->p[i];
	return NULL;
}
static inline const struct sip_param *params_find_lit(const struct sip_params *ps,
						     const char *lit, size_t n)
{
	for (unsigned i = 0; i < ps->n; i++)
		if (ps->p[i].name.len == n && lit_ieq(ps->p[i].name.p, lit, n))
			return &ps->p[i];
	return NULL;
}
#define PARAMS_FIND(ps, lit) params_find_lit((ps), "" lit, sizeof(lit) - 1)

/*
 * Clear everything before the parameter arrays, and the arrays' counts. Field by field on
 * purpose: a memset of offsetof(..., params) bytes compiles to "rep stos", whose start-up
 * cost was 4% of a whole message parse (perf); the arrays are only read up to their counts.
 * One statement a slice, never "a = b = sl(NULL, 0)": with -fno-strict-aliasing GCC reloads
 * the chained value as one 16-byte load over two 8-byte stores, a store-forwarding stall
 * that cost 36% of sip_uri_parse (perf annotate).
 */
static inline void sip_uri_clear(struct sip_uri *u)
{
	u->scheme = SIP_SCHEME_OTHER;
	u->has_port = u->host_ipv6 = false;
	u->port = 0;
	u->scheme_s = sl(NULL, 0);
	u->user = sl(NULL, 0);
	u->password = sl(NULL, 0);
	u->host = sl(NULL, 0);
	u->opaque = sl(NULL, 0);
	u->params.n = u->headers.n = 0;
}

static inline void sip_via_clear(struct sip_via *v)
{
	v->proto = sl(NULL, 0);
	v->version = sl(NULL, 0);
	v->transport = sl(NULL, 0);
	v->host = sl(NULL, 0);
	v->port = v->rport_value = 0;
	v->has_port = v->rport = v->has_rport_value = false;
	v->ttl = 0;
	v->branch = sl(NULL, 0);
	v->received = sl(NULL, 0);
	v->maddr = sl(NULL, 0);
	v->params.n = 0;
}

static inline void sip_addr_clear(struct sip_addr *a)
{
	a->display = sl(NULL, 0);
	a->uri = sl(NULL, 0);
	a->tag = sl(NULL, 0);
	a->star = false;
	a->params.n = 0;
}

/* Scans a host (hostname, IPv4 or [IPv6]) and optional ":port" (0..65535) from p; returns
 * where it stopped, or NULL when there is none or the port is bad. */
const char *sip_hostport_scan(const char *p, const char *end, struct slice *host, bool *ipv6,
			      bool *has_port, uint16_t *port);
/* The same, but [p, end) must hold exactly a hostport. 0 or EBADMSG. */
int sip_hostport_parse(const char *p, const char *end, struct slice *host, bool *ipv6,
		       bool *has_port, uint16_t *port);

#endif
