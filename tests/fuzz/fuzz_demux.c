/* libFuzzer target: Docker's multiplexed stream reader (demux_feed).
 *
 * Input: a byte choosing how the stream is cut into pieces, a byte saying
 * after how many sink calls the sink asks to stop (0: never), then the
 * stream. Invariants: the pieces fed one by one (each an exact-size heap
 * copy) give exactly what a whole-buffer reference parser gives: the same
 * payload bytes on the same streams in the same order, -EPROTO exactly when
 * the reference meets a bad header and after the same payload, the sink's
 * stop value passed back, a stream id only 0..2, and demux_at_boundary true
 * exactly when the stream ended between frames. */
#include <errno.h>

#include "codeexecd/demux.h"

#include "fuzz.h"

struct transcript {
	uint8_t *bytes;
	uint8_t *streams;
	size_t len;
	size_t calls;
	size_t stop_after;   /* 0: never stop */
};

static void transcript_add(struct transcript *t, int stream, const uint8_t *data, size_t len)
{
	t->bytes = realloc(t->bytes, t->len + len + 1);
	t->streams = realloc(t->streams, t->len + len + 1);
	if (!t->bytes || !t->streams)
		abort();
	memcpy(t->bytes + t->len, data, len);
	memset(t->streams + t->len, stream, len);
	t->len += len;
}

static int sink(void *ctx, enum demux_stream stream, const uint8_t *data, size_t len)
{
	struct transcript *t = ctx;

	FUZZ_ASSERT(stream <= DEMUX_STDERR, "stream %d", (int)stream);
	FUZZ_ASSERT(len > 0, "empty piece");
	transcript_add(t, (int)stream, data, len);
	t->calls++;
	return t->stop_after && t->calls >= t->stop_after ? 77 : 0;
}

/* The reference: frames over the whole buffer. Returns -EPROTO at a bad
 * header, else 0; *boundary when the data ended between frames. */
static int reference(const uint8_t *d, size_t len, struct transcript *t, bool *boundary)
{
	size_t pos = 0;

	*boundary = true;
	while (pos < len) {
		if (len - pos < 8) {
			*boundary = false;
			return 0;
		}
		const uint8_t *h = d + pos;
		if (h[0] > 2 || h[1] || h[2] || h[3])
			return -EPROTO;
		size_t size = (size_t)h[4] << 24 | (size_t)h[5] << 16 | (size_t)h[6] << 8 | h[7];
		pos += 8;
		size_t take = size < len - pos ? size : len - pos;
		if (take)
			transcript_add(t, h[0], d + pos, take);
		pos += take;
		if (take < size)
			*boundary = false;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_cursor c = { data, size };
	struct fuzz_splitter sp;
	struct transcript got = { 0 }, want = { 0 };
	struct demux dm;
	bool boundary;
	int rc = 0, ref;

	fuzz_splitter_init(&sp, fuzz_byte(&c));
	got.stop_after = fuzz_byte(&c);
	ref = reference(c.data, c.len, &want, &boundary);
	demux_init(&dm);
	for (size_t off = 0; off < c.len && rc == 0;) {
		size_t n = fuzz_split_next(&sp, c.len - off);
		uint8_t *piece = fuzz_dup(c.data + off, n);
		rc = demux_feed(&dm, piece, n, sink, &got);
		free(piece);
		off += n;
	}
	if (rc == 77) {
		/* Stopped by the sink: what came so far is a prefix of the reference. */
		FUZZ_ASSERT(got.calls == got.stop_after, "stopped after %zu calls", got.calls);
		FUZZ_ASSERT(got.len <= want.len && memcmp(got.bytes, want.bytes, got.len) == 0 &&
			    memcmp(got.streams, want.streams, got.len) == 0, "prefix differs");
	} else {
		FUZZ_ASSERT(rc == ref, "rc %d, the reference says %d", rc, ref);
		FUZZ_ASSERT(got.len == want.len, "%zu payload bytes, the reference has %zu", got.len,
			    want.len);
		FUZZ_ASSERT(got.len == 0 || (memcmp(got.bytes, want.bytes, got.len) == 0 &&
					     memcmp(got.streams, want.streams, got.len) == 0),
			    "payload differs");
		if (rc == 0)
			FUZZ_ASSERT(!demux_at_boundary(&dm) == !boundary, "boundary %d, reference %d",
				    demux_at_boundary(&dm), boundary);
	}
	free(got.bytes);
	free(got.streams);
	free(want.bytes);
	free(want.streams);
	return 0;
}
