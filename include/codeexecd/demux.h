/* Docker's multiplexed attach/log stream: frames of an 8-byte header
 * {stream, 0, 0, 0, size32be} then size bytes. Incremental and pure. */
#ifndef CODEEXECD_DEMUX_H
#define CODEEXECD_DEMUX_H

#include <stddef.h>
#include <stdint.h>

enum demux_stream { DEMUX_STDIN = 0, DEMUX_STDOUT = 1, DEMUX_STDERR = 2 };

/* Called for each piece of payload; may be called several times per frame.
 * Return 0 to go on, non-zero to stop (demux_feed returns that value). */
typedef int (*demux_sink)(void *ctx, enum demux_stream stream, const uint8_t *data, size_t len);

struct demux {
	uint8_t header[8];
	size_t header_have;
	size_t remaining;      /* payload bytes left in the current frame */
	enum demux_stream stream;
};

void demux_init(struct demux *dm);
/* Feeds bytes; returns 0, the sink's non-zero value, or -EPROTO on a bad
 * header (stream id not 0..2 or non-zero padding). */
int demux_feed(struct demux *dm, const uint8_t *data, size_t len, demux_sink sink, void *ctx);
/* True when the stream ended on a frame boundary. */
int demux_at_boundary(const struct demux *dm);

#endif
