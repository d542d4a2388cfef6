/* Admission (concurrency slots and a bounded queue), one execution's
 * lifecycle, the container reaper and orderly shutdown. */
#ifndef CODEEXECD_EXECUTOR_H
#define CODEEXECD_EXECUTOR_H

#include <stdbool.h>
#include <stddef.h>

#include "codeexecd/config.h"
#include "codeexecd/execution.h"
#include "codeexecd/sandbox.h"

struct executor;

int executor_create(struct executor **out, const struct config *cfg, struct sandbox *sb,
		    char *err, size_t errlen);
/* Call after server_stop() (no request can be running): removes the ready
 * containers and waits until every queued container is removed. Accepts
 * NULL. */
void executor_destroy(struct executor *ex);

/* A place reserved for one request, taken when its headers arrive and
 * before its body is read, so that a request that would be refused costs no
 * memory: at most execution.max_concurrent + execution.queue_size tickets
 * are out (running, queued, or with their body still coming). Returns 0, or
 * -EAGAIN (all places taken: answer 429) or -ESHUTDOWN, with text in err. */
struct exec_ticket;
int executor_ticket_take(struct executor *ex, struct exec_ticket **out, char *err,
			 size_t errlen);
/* Gives back a ticket that executor_run did not consume. Accepts NULL. */
void executor_ticket_drop(struct exec_ticket *ticket);

/* Runs req on ticket (consumed, whatever the outcome; NULL: one is taken
 * here), waiting for a slot if need be; client is watched meanwhile (NULL:
 * not). sink: where the output goes as it comes (sandbox.h; NULL: into
 * res). exec_id receives the execution's id ("" when it was refused before
 * one was given). Returns 0 with res filled (the verdict inside res), or:
 * -EAGAIN no place, -ETIMEDOUT no slot within the queue timeout (both:
 * answer 429), -ESHUTDOWN shutting down, -EHOSTUNREACH engine down (both:
 * 503), -ECANCELED client gone, other codes with err. Texts never name the
 * engine's address (the log does). */
int executor_run(struct executor *ex, struct exec_ticket *ticket, const struct exec_request *req,
		 char exec_id[CXD_EXEC_ID_LEN + 1], const struct exec_client *client,
		 const struct run_sink *sink, struct exec_result *res, char *err, size_t errlen);

/* A session's call: as executor_run (the same admission, limits, metrics
 * and logs), with req sent as a session job (protocol.h) on *slot, a
 * session's open slot, or, when *slot is NULL, on a slot taken as
 * executor_run takes one. On return *slot is the slot that lives on for
 * the next call, or NULL when it is gone (the runner's interpreter ended,
 * the call timed out, ran out of memory, was stopped or broke the
 * protocol: its container is being removed). A call refused before it ran
 * (-EAGAIN, -ETIMEDOUT, -ESHUTDOWN, a client gone while queued) leaves
 * *slot as it was. */
int executor_run_session(struct executor *ex, struct exec_ticket *ticket,
			 const struct exec_request *req, struct sandbox_slot **slot,
			 char exec_id[CXD_EXEC_ID_LEN + 1], const struct exec_client *client,
			 struct exec_result *res, char *err, size_t errlen);

/* Closes slot and has its container removed (after the answers on their
 * way, by the reaper); ctx is the executor. A session's end. Accepts a
 * NULL slot. */
void executor_discard_slot(void *ctx, struct sandbox_slot *slot);

/* Seconds a refused client should wait before retrying. */
int executor_retry_after(struct executor *ex);

/* Admission, runs and the pool use cfg from now on (a reload): a larger
 * max_concurrent lets queued requests in at once; the pool's ready
 * containers, made under the old configuration, are replaced. cfg and
 * every earlier one must stay valid until executor_destroy. */
void executor_reconfigure(struct executor *ex, const struct config *cfg);

/* Stops admitting and starting ready containers, lets running executions
 * finish for grace_seconds, then cancels the rest (waiting a little more for
 * them to end). Call before server_stop(). */
void executor_shutdown(struct executor *ex, int grace_seconds);

/* True when the executor's state can be locked within timeout_ms (the
 * watchdog's check that admission is not stuck). */
bool executor_alive(struct executor *ex, int timeout_ms);

/* The sandbox health check (engine answers, image present) from a cache
 * that a background thread refreshes when it is over a second old: never
 * waits on the engine. The text does not name the engine's address. */
int executor_health(struct executor *ex, char *msg, size_t msglen);

#endif
