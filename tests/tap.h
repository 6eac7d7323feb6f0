/* Minimal case-table test runner: TAP output for meson, a leak check per case. */
#ifndef GORGEE_TESTS_TAP_H
#define GORGEE_TESTS_TAP_H

#include <malloc.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define TAP_HAVE_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TAP_HAVE_LSAN 1
#endif
#endif
#ifdef TAP_HAVE_LSAN
int __lsan_do_recoverable_leak_check(void);
#endif

typedef void tap_case_fn(void);

struct tap_case {
	const char *name;
	tap_case_fn *fn;
	int no_leak_check; /* for cases with deliberate one-time process state */
};

/* Failures recorded by the current case. */
static int tap_fails;

#define TAP_CHECK(cond)                                                                  \
	do {                                                                             \
		if (!(cond)) {                                                           \
			tap_fails++;                                                     \
			printf("#   %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
		}                                                                        \
	} while (0)

#define TAP_CHECK_INT(a, b)                                                               \
	do {                                                                              \
		long long tap_a_ = (long long)(a), tap_b_ = (long long)(b);               \
		if (tap_a_ != tap_b_) {                                                   \
			tap_fails++;                                                      \
			printf("#   %s:%d: %s == %lld, expected %s == %lld\n", __FILE__,     \
			       __LINE__, #a, tap_a_, #b, tap_b_);                         \
		}                                                                         \
	} while (0)

#define TAP_CHECK_STR(a, b)                                                               \
	do {                                                                              \
		const char *tap_a_ = (a), *tap_b_ = (b);                                  \
		if (!tap_a_ || !tap_b_ || strcmp(tap_a_, tap_b_) != 0) {                  \
			tap_fails++;                                                      \
			printf("#   %s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__,       \
			       __LINE__, #a, tap_a_ ? tap_a_ : "(null)",                  \
			       tap_b_ ? tap_b_ : "(null)");                               \
		}                                                                         \
	} while (0)

/* Compare a (pointer, length) slice with a C string. */
#define TAP_CHECK_SLICE(p, n, s)                                                          \
	do {                                                                              \
		const char *tap_p_ = (const char *)(p);                                   \
		size_t tap_n_ = (size_t)(n);                                              \
		const char *tap_s_ = (s);                                                 \
		if (tap_n_ != strlen(tap_s_) || (tap_n_ && memcmp(tap_p_, tap_s_, tap_n_))) { \
			tap_fails++;                                                      \
			printf("#   %s:%d: %s == \"%.*s\", expected \"%s\"\n", __FILE__,     \
			       __LINE__, #p, (int)tap_n_, tap_p_ ? tap_p_ : "", tap_s_);   \
		}                                                                         \
	} while (0)

static inline size_t tap_heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
}

/*
 * Runs every case, prints TAP. The leak check: under ASan, LeakSanitizer after each case;
 * otherwise each case runs twice and the second run must leave the heap as it found it
 * (the first run absorbs one-time initialisation such as GLib's quark tables). Under
 * valgrind (GORGEE_UNDER_VALGRIND) cases run once and memcheck does the counting.
 */
static inline int tap_run(const struct tap_case *cases, size_t n)
{
	int failed = 0;
	const char *only = getenv("TAP_ONLY");

	printf("1..%zu\n", n);
	for (size_t i = 0; i < n; i++) {
		if (only && strcmp(only, cases[i].name) != 0) {
			printf("ok %zu - %s # SKIP TAP_ONLY\n", i + 1, cases[i].name);
			continue;
		}
		tap_fails = 0;
		size_t leaked = 0;
#ifdef TAP_HAVE_LSAN
		cases[i].fn();
		fflush(stdout);
		if (!cases[i].no_leak_check && __lsan_do_recoverable_leak_check())
			leaked = 1;
#else
		if (getenv("GORGEE_UNDER_VALGRIND") || cases[i].no_leak_check) {
			cases[i].fn();
		} else {
			cases[i].fn();
			int first_fails = tap_fails;
			size_t before = tap_heap_in_use();
			cases[i].fn();
			size_t after = tap_heap_in_use();
			tap_fails = first_fails ? first_fails : tap_fails;
			if (after > before)
				leaked = after - before;
		}
#endif
		if (leaked) {
			printf("#   leak check: %zu bytes still allocated after the case\n", leaked);
			tap_fails++;
		}
		if (tap_fails) {
			failed++;
			printf("not ok %zu - %s\n", i + 1, cases[i].name);
		} else {
			printf("ok %zu - %s\n", i + 1, cases[i].name);
		}
		fflush(stdout);
	}
	return failed ? 1 : 0;
}

/*
 * Two allocator caches would blur the heap delta of the leak check: glibc's per-thread
 * cache keeps freed chunks counted as in use, and GLib 2.74's GSlice keeps per-thread
 * magazines whose fill depends on thread timing. Both are read when the process starts, so
 * the runner re-executes itself once with both turned off (the valgrind and asan setups
 * set G_SLICE themselves).
 */
static inline void tap_exact_heap(char **argv)
{
#ifndef TAP_HAVE_LSAN
	const char *t = getenv("GLIBC_TUNABLES");
	bool tcache_off = t && strstr(t, "glibc.malloc.tcache_count=0");
	if (getenv("GORGEE_UNDER_VALGRIND") || (tcache_off && getenv("G_SLICE")))
		return;
	if (!getenv("G_SLICE"))
		setenv("G_SLICE", "always-malloc", 1);
	if (!tcache_off) {
		char *v = malloc(256);
		snprintf(v, 256, "%s%sglibc.malloc.tcache_count=0", t ? t : "", t ? ":" : "");
		setenv("GLIBC_TUNABLES", v, 1);
		free(v);
	}
	execv("/proc/self/exe", argv);
#else
	(void)argv;
#endif
}

#define TAP_MAIN(table)                                                       \
	int main(int argc, char **argv)                                       \
	{                                                                     \
		(void)argc;                                                   \
		tap_exact_heap(argv);                                         \
		setvbuf(stdout, NULL, _IOLBF, 0);                            \
		return tap_run(table, sizeof(table) / sizeof(table[0]));      \
	}

#endif
