/* The run protocol's framing (see protocol.h): the job header going in, the
 * records coming out. Pure; every length read here was written by hostile
 * code and is checked against its type's cap before anything is allocated. */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codeexecd/protocol.h"

#define HEAD_LEN 5          /* type (1) + big-endian length (4) */
#define FIRST_ALLOC 4096    /* the payload buffer's first size */

void proto_job_header(char out[PROTO_JOB_HEADER_LEN], size_t job_len)
{
	static const char hex[] = "0123456789abcdef";
	uint32_t n = (uint32_t)job_len;
	int i;

	assert(job_len <= UINT32_MAX);
	memcpy(out, PROTO_MAGIC, 4);
	for (i = 0; i < 8; i++)
		out[4 + i] = hex[(n >> (28 - 4 * i)) & 0xf];
}

void proto_reader_init(struct proto_reader *r, const struct proto_limits *lim)
{
	memset(r, 0, sizeof(*r));
	r->lim = *lim;
}

void proto_reader_free(struct proto_reader *r)
{
	if (!r)
		return;
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

/* The cap of a record type, or -EPROTO for a type the protocol lacks. */
static int type_cap(const struct proto_limits *lim, uint8_t type, size_t *cap)
{
	switch (type) {
	case PROTO_STDOUT:
	case PROTO_STDERR:
	case PROTO_NOTE:
		*cap = lim->chunk_max;
		return 0;
	case PROTO_FILES:
	case PROTO_FIGURE:
		*cap = lim->files_max;
		return 0;
	case PROTO_STATUS:
	case PROTO_READY:
		*cap = lim->status_max;
		return 0;
	default:
		return -EPROTO;
	}
}

/* Takes up to the rest of a record header from data; *used says how much.
 * When the header is complete, checks it and starts the record. */
static int take_head(struct proto_reader *r, const uint8_t *data, size_t len, size_t *used)
{
	size_t n = HEAD_LEN - r->head_have;
	size_t cap, need;
	int rc;

	if (n > len)
		n = len;
	memcpy(r->head + r->head_have, data, n);
	r->head_have += n;
	*used = n;
	if (r->head_have < HEAD_LEN)
		return 0;
	rc = type_cap(&r->lim, r->head[0], &cap);
	if (rc != 0)
		return rc;
	need = (size_t)r->head[1] << 24 | (size_t)r->head[2] << 16 |
	       (size_t)r->head[3] << 8 | (size_t)r->head[4];
	if (need > cap)
		return -EPROTO;
	r->type = (enum proto_type)r->head[0];
	r->need = need;
	r->have = 0;
	return 0;
}

/* Makes room for want bytes of payload (want <= r->need): doubles, but never
 * past the record's declared length, itself within its cap. */
static int grow(struct proto_reader *r, size_t want)
{
	size_t n;
	uint8_t *p;

	if (want <= r->alloc)
		return 0;
	n = r->alloc > SIZE_MAX / 2 ? SIZE_MAX : r->alloc * 2;
	if (n < FIRST_ALLOC)
		n = FIRST_ALLOC;
	if (n < want)
		n = want;
	if (n > r->need)
		n = r->need;
	p = realloc(r->buf, n);
	if (!p)
		return -ENOMEM;
	r->buf = p;
	r->alloc = n;
	return 0;
}

/* Hands a complete record to the sink and gets ready for the next one. */
static int deliver(struct proto_reader *r, const uint8_t *payload, size_t len, proto_sink sink,
		   void *ctx)
{
	r->head_have = 0;
	r->need = 0;
	r->have = 0;
	if (r->type == PROTO_STATUS)
		r->done = 1;
	return sink(ctx, r->type, payload ? payload : (const uint8_t *)"", len);
}

/* Takes payload bytes from data; *used says how much. A record that arrives
 * whole in data goes to the sink without a copy. */
static int take_payload(struct proto_reader *r, const uint8_t *data, size_t len, size_t *used,
			proto_sink sink, void *ctx)
{
	size_t n = r->need - r->have;
	int rc;

	if (n > len)
		n = len;
	*used = n;
	if (r->have == 0 && n == r->need)
		return deliver(r, data, n, sink, ctx);
	rc = grow(r, r->have + n);
	if (rc != 0)
		return rc;
	memcpy(r->buf + r->have, data, n);
	r->have += n;
	if (r->have < r->need)
		return 0;
	return deliver(r, r->buf, r->have, sink, ctx);
}

int proto_feed(struct proto_reader *r, const uint8_t *data, size_t len, proto_sink sink,
	       void *ctx)
{
	size_t used = 0;
	int rc = 0;

	while (len > 0) {
		if (r->done)
			return -EPROTO;         /* nothing may follow the status */
		if (r->head_have < HEAD_LEN) {
			rc = take_head(r, data, len, &used);
			if (rc == 0 && r->head_have == HEAD_LEN && r->need == 0)
				rc = deliver(r, NULL, 0, sink, ctx);
		} else {
			rc = take_payload(r, data, len, &used, sink, ctx);
		}
		if (rc != 0)
			return rc;
		data += used;
		len -= used;
	}
	return 0;
}
