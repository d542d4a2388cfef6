/* A bounded byte channel from one writer thread to one reader thread: the
 * writer blocks while it is full (a slow reader slows the writer down, the
 * memory stays at its capacity), the reader blocks while it is empty. Either
 * side may close; a write after the reader closed fails, a read after the
 * writer closed returns what is left, then the end. */
#ifndef CODEEXECD_CHAN_H
#define CODEEXECD_CHAN_H

#include <stddef.h>

struct chan;

/* 0, or -ENOMEM. cap: the bytes it holds at most (> 0). */
int chan_new(struct chan **out, size_t cap);
/* Accepts NULL. Both sides must be done with it. */
void chan_free(struct chan *c);

/* Puts all of data in, waiting for room as needed: 0, or -EPIPE when the
 * reader closed, or -ETIMEDOUT when the room did not come before
 * deadline_ms (CLOCK_MONOTONIC milliseconds; 0: no deadline) (some of data
 * may be in). */
int chan_write(struct chan *c, const char *data, size_t len, long deadline_ms);
/* The writer is done: the reader gets the rest, then the end. */
void chan_close_writer(struct chan *c);

/* Takes at most room bytes, waiting until there are some: how many, or 0
 * at the end (the writer closed and all was read). */
size_t chan_read(struct chan *c, char *buf, size_t room);
/* The reader is gone: writes fail from now on (a blocked one wakes). */
void chan_close_reader(struct chan *c);

#endif
