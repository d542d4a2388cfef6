/* Docker's multiplexed stream: an 8-byte header {stream, 0, 0, 0, size32be}
 * then size bytes of payload, over and over. Bytes arrive in arbitrary
 * pieces; the state in struct demux carries a header or a payload across
 * calls. Pure: no I/O, no allocation. */
#include "codeexecd/demux.h"

#include <errno.h>
#include <string.h>

#define DEMUX_HEADER_LEN 8

void demux_init(struct demux *dm)
{
	memset(dm, 0, sizeof(*dm));
	dm->stream = DEMUX_STDOUT;
}

/* A complete header is in dm->header: check it and start its payload.
 * A bad header stays in place, so every later call fails the same way. */
static int start_frame(struct demux *dm)
{
	const uint8_t *h = dm->header;

	if (h[0] > DEMUX_STDERR || h[1] != 0 || h[2] != 0 || h[3] != 0)
		return -EPROTO;
	dm->stream = (enum demux_stream)h[0];
	dm->remaining = ((size_t)h[4] << 24) | ((size_t)h[5] << 16) | ((size_t)h[6] << 8) |
			(size_t)h[7];
	dm->header_have = 0;
	return 0;
}

/* Bytes handed to the sink are consumed, also when the sink says stop. */
int demux_feed(struct demux *dm, const uint8_t *data, size_t len, demux_sink sink, void *ctx)
{
	while (len > 0 || dm->header_have == DEMUX_HEADER_LEN) {
		size_t take;
		int rc;

		if (dm->remaining == 0) {
			take = DEMUX_HEADER_LEN - dm->header_have;
			if (take > len)
				take = len;
			if (take > 0)
				memcpy(dm->header + dm->header_have, data, take);
			dm->header_have += take;
			data += take;
			len -= take;
			if (dm->header_have < DEMUX_HEADER_LEN)
				return 0;
			rc = start_frame(dm);
			if (rc != 0)
				return rc;
			continue;
		}
		take = dm->remaining < len ? dm->remaining : len;
		dm->remaining -= take;
		rc = sink(ctx, dm->stream, data, take);
		data += take;
		len -= take;
		if (rc != 0)
			return rc;
	}
	return 0;
}

int demux_at_boundary(const struct demux *dm)
{
	return dm->remaining == 0 && dm->header_have == 0;
}
