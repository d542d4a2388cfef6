/* libFuzzer target: the run protocol reader (proto_feed).
 *
 * Input: a byte choosing how the stream is cut into pieces, a byte for the
 * stop-after-N sink, three bytes for the caps (chunk, files/4, status), then
 * the runner's stdout. Invariants: fed in pieces (each an exact-size heap
 * copy), the reader gives the records a whole-buffer reference parser gives,
 * each in one piece and within its type's cap, and the payload handed to the
 * sink is readable for exactly its length (copied to an exact-size buffer);
 * -EPROTO exactly where the reference finds an unknown type, a length over
 * the cap or bytes after 'X'; the reader's buffer never grows past the
 * largest cap. */
#include <errno.h>

#include "codeexecd/protocol.h"

#include "fuzz.h"

#define MAX_RECORDS 4096

struct record {
	uint8_t type;
	uint8_t *data;
	size_t len;
};

struct records {
	struct record r[MAX_RECORDS];
	size_t n;
	size_t stop_after;
	const struct proto_limits *lim;
};

static size_t cap_of(const struct proto_limits *lim, uint8_t type)
{
	switch (type) {
	case 'O': case 'E': case 'W': return lim->chunk_max;
	case 'F': case 'G': return lim->files_max;
	case 'X': case 'R': return lim->status_max;
	default: return (size_t)-1;
	}
}

static void add(struct records *rs, uint8_t type, const uint8_t *data, size_t len)
{
	if (rs->n == MAX_RECORDS)
		return;
	rs->r[rs->n].type = type;
	rs->r[rs->n].data = fuzz_dup(data, len);
	rs->r[rs->n].len = len;
	rs->n++;
}

static int sink(void *ctx, enum proto_type type, const uint8_t *data, size_t len)
{
	struct records *rs = ctx;
	size_t cap = cap_of(rs->lim, (uint8_t)type);

	FUZZ_ASSERT(cap != (size_t)-1, "unknown type %d delivered", (int)type);
	FUZZ_ASSERT(len <= cap, "record of %zu bytes over its cap %zu", len, cap);
	FUZZ_ASSERT(data != NULL, "NULL payload");
	add(rs, (uint8_t)type, data, len);  /* reads all len bytes */
	return rs->stop_after && rs->n >= rs->stop_after ? 55 : 0;
}

static int reference(const uint8_t *d, size_t len, const struct proto_limits *lim,
		     struct records *rs)
{
	size_t pos = 0;
	bool done = false;

	while (pos < len) {
		if (done)
			return -EPROTO;
		if (len - pos < 5)
			return 0;
		uint8_t type = d[pos];
		size_t need = (size_t)d[pos + 1] << 24 | (size_t)d[pos + 2] << 16 |
			      (size_t)d[pos + 3] << 8 | d[pos + 4];
		size_t cap = cap_of(lim, type);
		if (cap == (size_t)-1 || need > cap)
			return -EPROTO;
		pos += 5;
		if (len - pos < need)
			return 0;
		add(rs, type, d + pos, need);
		pos += need;
		done = type == 'X';
	}
	return 0;
}

static void records_free(struct records *rs)
{
	for (size_t i = 0; i < rs->n; i++)
		free(rs->r[i].data);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct records got, want;
	struct fuzz_cursor c = { data, size };
	struct fuzz_splitter sp;
	struct proto_limits lim;
	struct proto_reader r;
	int rc = 0, ref;

	fuzz_splitter_init(&sp, fuzz_byte(&c));
	memset(&got, 0, sizeof(got));
	memset(&want, 0, sizeof(want));
	got.stop_after = fuzz_byte(&c);
	lim.chunk_max = fuzz_byte(&c);
	lim.files_max = (size_t)fuzz_byte(&c) * 4;
	lim.status_max = fuzz_byte(&c);
	got.lim = want.lim = &lim;
	ref = reference(c.data, c.len, &lim, &want);
	proto_reader_init(&r, &lim);
	for (size_t off = 0; off < c.len && rc == 0;) {
		size_t n = fuzz_split_next(&sp, c.len - off);
		uint8_t *piece = fuzz_dup(c.data + off, n);
		rc = proto_feed(&r, piece, n, sink, &got);
		free(piece);
		off += n;
		FUZZ_ASSERT(r.alloc <= lim.files_max || r.alloc <= lim.chunk_max ||
			    r.alloc <= lim.status_max, "buffer of %zu bytes", r.alloc);
	}
	if (rc == 55) {
		FUZZ_ASSERT(got.n == got.stop_after && got.n <= want.n, "stopped at %zu", got.n);
	} else {
		FUZZ_ASSERT(rc == ref, "rc %d, the reference says %d", rc, ref);
		FUZZ_ASSERT(got.n == want.n, "%zu records, the reference has %zu", got.n, want.n);
	}
	for (size_t i = 0; i < got.n && i < want.n; i++)
		FUZZ_ASSERT(got.r[i].type == want.r[i].type && got.r[i].len == want.r[i].len &&
			    memcmp(got.r[i].data, want.r[i].data, got.r[i].len) == 0,
			    "record %zu differs", i);
	proto_reader_free(&r);
	records_free(&got);
	records_free(&want);
	return 0;
}
