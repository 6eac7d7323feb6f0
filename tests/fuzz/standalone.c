/* Fuzz smoke without libFuzzer: replays a seed corpus, then deterministic mutations of it.
 * Each input sits in a heap block of exactly its size, so ASan/valgrind see any over-read.
 * usage: fuzzsmoke-NAME CORPUS_DIR [ITERATIONS] */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seed {
	uint8_t *data;
	size_t len;
};

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
	/* xorshift64*: fixed seed, so a failure reproduces. */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dull;
}

static void run(const uint8_t *src, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	if (!copy)
		abort();
	if (len)
		memcpy(copy, src, len);
	LLVMFuzzerTestOneInput(copy, len);
	free(copy);
}

static const char *const tokens[] = {"\r\n", ":", ";", ",", "<", ">", "\"", "%", "=", " ",
				     "\r\n\r\n", "0", "4294967296", "-1", "[", "]", "@",
				     "sip:", "\n", "\t"};

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR [ITERATIONS]\n", argv[0]);
		return 2;
	}
	long iters = argc > 2 ? atol(argv[2]) : 10000;
	struct seed seeds[512];
	size_t nseeds = 0;
	DIR *d = opendir(argv[1]);
	if (!d) {
		perror(argv[1]);
		return 2;
	}
	for (struct dirent *e; (e = readdir(d)) && nseeds < 512;) {
		if (e->d_name[0] == '.')
			continue;
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", argv[1], e->d_name);
		FILE *f = fopen(path, "rb");
		if (!f)
			continue;
		struct stat st;
		if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (1 << 20)) {
			fclose(f);
			continue;
		}
		seeds[nseeds].len = (size_t)st.st_size;
		seeds[nseeds].data = malloc(seeds[nseeds].len + 1);
		if (fread(seeds[nseeds].data, 1, seeds[nseeds].len, f) != seeds[nseeds].len) {
			free(seeds[nseeds].data);
			fclose(f);
			continue;
		}
		fclose(f);
		run(seeds[nseeds].data, seeds[nseeds].len);
		/* Every prefix of every seed: the truncation cases. */
		for (size_t k = 0; k < seeds[nseeds].len; k++)
			run(seeds[nseeds].data, k);
		nseeds++;
	}
	closedir(d);
	if (nseeds == 0) {
		fprintf(stderr, "no seeds in %s\n", argv[1]);
		return 2;
	}
	uint8_t *buf = malloc(1 << 17);
	for (long i = 0; i < iters; i++) {
		const struct seed *s = &seeds[next() % nseeds];
		size_t len = s->len;
		memcpy(buf, s->data, len);
		int muts = 1 + (int)(next() % 8);
		for (int m = 0; m < muts; m++) {
			size_t pos = len ? next() % len : 0;
			switch (next() % 6) {
			case 0: /* flip a bit */
				if (len)
					buf[pos] ^= (uint8_t)(1u << (next() % 8));
				break;
			case 1: /* random byte */
				if (len)
					buf[pos] = (uint8_t)next();
				break;
			case 2: /* truncate */
				len = pos;
				break;
			case 3: { /* insert a token */
				const char *t = tokens[next() % (sizeof(tokens) / sizeof(tokens[0]))];
				size_t tl = strlen(t);
				if (len + tl < (1 << 17)) {
					memmove(buf + pos + tl, buf + pos, len - pos);
					memcpy(buf + pos, t, tl);
					len += tl;
				}
				break;
			}
			case 4: { /* delete a run */
				size_t n = next() % 16;
				if (pos + n <= len) {
					memmove(buf + pos, buf + pos + n, len - pos - n);
					len -= n;
				}
				break;
			}
			case 5: { /* duplicate a run */
				size_t n = next() % 64;
				if (pos + n <= len && len + n < (1 << 17)) {
					memmove(buf + pos + n, buf + pos, len - pos);
					len += n;
				}
				break;
			}
			}
		}
		run(buf, len);
	}
	free(buf);
	for (size_t i = 0; i < nseeds; i++)
		free(seeds[i].data);
	printf("fuzz smoke: %zu seeds, %ld mutated inputs, no crash\n", nseeds, iters);
	return 0;
}
