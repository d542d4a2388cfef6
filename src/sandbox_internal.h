/* Shared by sandbox.c (containers) and sandbox_run.c (the run protocol);
 * not part of the module's public interface. */
#ifndef CODEEXECD_SANDBOX_INTERNAL_H
#define CODEEXECD_SANDBOX_INTERNAL_H

#include "codeexecd/docker.h"
#include "codeexecd/sandbox.h"

struct sandbox {
	const struct config *cfg;
	struct docker *docker;
	char instance[160];
};

/* A started container whose runner waits for its job on stdin. */
struct sandbox_slot {
	char container_id[CXD_CONTAINER_ID_MAX + 1];
	char exec_id[CXD_EXEC_ID_LEN + 1];
	struct docker_stream *stream;
	long opened_ms;          /* monotonic */
	long ms_create, ms_attach, ms_start, ms_preload;
	int preloaded;           /* modules the runner imported before its job */
	int preload_errors;      /* and those it could not */
};

long sandbox_now_ms(void);

/* Waits for the runner's 'R' record (it preloaded and waits for its job),
 * reading nothing past it; cancel_fd readable gives up (-1: none). 0, or
 * -ETIMEDOUT, -ECANCELED, -EPROTO, -EIO with err. */
int sandbox_slot_wait_ready(struct sandbox_slot *slot, int timeout_ms, int cancel_fd, char *err,
			    size_t errlen);

#endif
