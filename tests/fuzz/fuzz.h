/* Shared by the libFuzzer targets in tests/fuzz/: an assertion that stays on
 * in every build (a broken invariant is a crash libFuzzer keeps), exact-size
 * heap copies (so that ASan sees one byte of over-read), and a cursor that
 * takes parameters (split points, caps) from the front of the input. */
#ifndef CODEEXECD_FUZZ_H
#define CODEEXECD_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(cond, ...)                                                        \
	do {                                                                          \
		if (!(cond)) {                                                        \
			fprintf(stderr, "%s:%d: invariant broken: %s: ", __FILE__,    \
				__LINE__, #cond);                                     \
			fprintf(stderr, __VA_ARGS__);                                 \
			fputc('\n', stderr);                                          \
			abort();                                                      \
		}                                                                     \
	} while (0)

/* A malloc'ed copy of exactly len bytes (never NULL: aborts when out of
 * memory; malloc(0) is made malloc(1) but only len bytes are meant). */
static inline uint8_t *fuzz_dup(const uint8_t *data, size_t len)
{
	uint8_t *p = malloc(len ? len : 1);

	if (!p)
		abort();
	if (len)
		memcpy(p, data, len);
	return p;
}

/* The same with a NUL after the len bytes (len + 1 allocated). */
static inline char *fuzz_strdup(const uint8_t *data, size_t len)
{
	char *p = malloc(len + 1);

	if (!p)
		abort();
	if (len)
		memcpy(p, data, len);
	p[len] = '\0';
	return p;
}

struct fuzz_cursor {
	const uint8_t *data;
	size_t len;
};

/* Takes one byte from the front (0 when none is left). */
static inline uint8_t fuzz_byte(struct fuzz_cursor *c)
{
	uint8_t b = 0;

	if (c->len) {
		b = c->data[0];
		c->data++;
		c->len--;
	}
	return b;
}

/* Takes a 16-bit value from the front. */
static inline size_t fuzz_u16(struct fuzz_cursor *c)
{
	size_t hi = fuzz_byte(c);

	return (hi << 8) | fuzz_byte(c);
}

/* A relative path that is safe by the rules of archive.h and api.c: not
 * empty, no leading '/', no empty, "." or ".." segment, no control byte;
 * segments at most seg_max bytes, at most name_max in all. */
static inline bool fuzz_safe_name(const char *name, size_t seg_max, size_t name_max)
{
	size_t len = strlen(name);
	const char *seg = name;

	if (len == 0 || len > name_max || name[0] == '/')
		return false;
	for (const char *p = name; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return false;
	for (;;) {
		size_t n = strcspn(seg, "/");
		if (n == 0 || n > seg_max || (n == 1 && seg[0] == '.') ||
		    (n == 2 && seg[0] == '.' && seg[1] == '.'))
			return false;
		if (seg[n] == '\0')
			return true;
		seg += n + 1;
	}
}

#endif

/* Piece sizes for feeding a stream in arbitrary splits: a small generator
 * seeded from the input, sizes 1..max. */
struct fuzz_splitter {
	uint32_t state;
	size_t max;
};

static inline void fuzz_splitter_init(struct fuzz_splitter *s, uint8_t seed)
{
	s->state = 0x9e3779b9u ^ seed;
	/* seed 0: one piece; otherwise pieces of 1..2^(seed%13) bytes */
	s->max = seed == 0 ? SIZE_MAX : (size_t)1 << (seed % 13);
}

static inline size_t fuzz_split_next(struct fuzz_splitter *s, size_t left)
{
	size_t n;

	if (s->max == SIZE_MAX)
		return left;
	s->state = s->state * 1103515245u + 12345u;
	n = 1 + (size_t)(s->state >> 8) % s->max;
	return n < left ? n : left;
}
