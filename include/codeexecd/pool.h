/* The pool: warm containers created and started ahead of time, each
 * waiting for one job with execution.preload already imported, so that an
 * execution skips the engine's create and start and the imports. Every
 * pooled container is still used once and removed; filler threads keep up
 * to execution.pool_size ready, following recent demand (see pool.c), and
 * replace those older than execution.pool_max_idle_seconds, so a rebuilt
 * image is picked up. */
#ifndef CODEEXECD_POOL_H
#define CODEEXECD_POOL_H

#include <stddef.h>

#include "codeexecd/config.h"
#include "codeexecd/sandbox.h"

struct pool;

/* Called with a slot the pool gives up (too old, dead, shutdown): the
 * callee closes it and removes its container. */
typedef void (*pool_discard_fn)(void *ctx, struct sandbox_slot *slot);

int pool_create(struct pool **out, const struct config *cfg, struct sandbox *sb,
		pool_discard_fn discard, void *ctx, char *err, size_t errlen);
/* A ready slot (the caller owns it), or NULL when none is. Never blocks on
 * the engine. Every call is paired with pool_done() when the execution
 * ends: the pool refills while no execution runs (starting a container
 * would slow the running ones down), or at once when it ran dry. */
struct sandbox_slot *pool_take(struct pool *p);
void pool_done(struct pool *p);
/* An execution that runs on a container of its own (a session's next
 * call) counts as running too: paired with pool_done() like pool_take(). */
void pool_enter(struct pool *p);
/* The number of requests waiting for an execution slot (the executor's
 * queue), for the demand and the rule that nothing preloads while they
 * wait. Takes no lock: callable with the caller's own held. */
void pool_set_queued(struct pool *p, int queued);
/* Ready slots now. */
size_t pool_ready(struct pool *p);
/* Stops the filler and discards every ready slot; pool_take then returns
 * NULL, pool_done still works. Accepts NULL. */
void pool_stop(struct pool *p);
/* Uses cfg from now on (a reload): the ready slots are discarded (made
 * under the old configuration) and the filler follows the new pool_size.
 * cfg must stay valid until pool_destroy. Accepts NULL. */
void pool_reconfigure(struct pool *p, const struct config *cfg);
/* pool_stop, then frees the pool (no call may follow). Accepts NULL. */
void pool_destroy(struct pool *p);

#endif
