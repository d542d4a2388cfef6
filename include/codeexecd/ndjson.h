/* The lines of POST /execute/stream (application/x-ndjson), one JSON object
 * per line, written as the run delivers its output:
 *   {"type":"stdout","data":"..."}   {"type":"stderr","data":"..."}
 *   {"type":"note","data":"..."}     {"type":"file","name":"...","data":"<base64>"}
 *   {"type":"result", ...}           the last line, exactly one
 * Output is repaired as /execute repairs it (utf8_sanitize): the pieces of
 * one stream, put together, are exactly /execute's "output" (or "error"
 * before its explanation lines); a multi-byte character cut between two
 * pieces is held back until its end comes. Lines are written through out()
 * in pieces of at most NDJSON_BUF bytes, each line ending with a write. Pure. */
#ifndef CODEEXECD_NDJSON_H
#define CODEEXECD_NDJSON_H

#include <stdbool.h>
#include <stddef.h>

#include "codeexecd/execution.h"

#define NDJSON_BUF 4096

/* Takes len bytes; 0, or non-zero (the reader is gone) which the writer
 * returns from then on. */
typedef int (*ndjson_out)(void *ctx, const char *data, size_t len);

struct ndjson {
	ndjson_out out;
	void *ctx;
	int failed;            /* out()'s first non-zero */
	unsigned char held[2][4]; /* the start of a character cut at the end of stdout, stderr */
	size_t nheld[2];
	char buf[NDJSON_BUF];  /* the line being written */
	size_t len;
};

void ndjson_init(struct ndjson *w, ndjson_out out, void *ctx);
/* A piece of stdout or stderr (raw bytes). Nothing is written when all of
 * it is held back. */
int ndjson_chunk(struct ndjson *w, bool is_stderr, const char *data, size_t len);
/* Writes what is held back (an incomplete character: U+FFFD per byte). */
int ndjson_flush(struct ndjson *w);
int ndjson_note(struct ndjson *w, const char *text, size_t len);
int ndjson_file(struct ndjson *w, const char *name, const unsigned char *data, size_t len);
/* The result line: every field of /execute's answer but output, error and
 * output_files, and "error": the lines /execute adds after the code's
 * stderr (res->error of a streamed run: why it ended, notes), "" if none. */
int ndjson_result(struct ndjson *w, const struct exec_result *res, const char *exec_id);

/* How many bytes at the end of s[0..len) start a character that is not
 * complete yet (0..3): those a later piece may finish. */
size_t ndjson_incomplete_tail(const unsigned char *s, size_t len);

#endif
