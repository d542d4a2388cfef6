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

/* Runs req (waiting for a slot if need be); exec_id receives the
 * execution's id ("" when it was refused before one was given). Returns 0
 * with res filled (the
 * verdict inside res), or: -EAGAIN queue full, -ETIMEDOUT no slot within the
 * queue timeout (both: answer 429), -ESHUTDOWN shutting down, -EHOSTUNREACH
 * engine down (both: 503), -ECANCELED client gone, other codes with err. */
int executor_run(struct executor *ex, const struct exec_request *req,
		 char exec_id[CXD_EXEC_ID_LEN + 1], int client_fd, struct exec_result *res,
		 char *err, size_t errlen);

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

/* The sandbox health check (engine answers, image present), cached briefly. */
int executor_health(struct executor *ex, char *msg, size_t msglen);

#endif
