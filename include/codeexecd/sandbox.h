/* What a run needs from a container engine: the hardened container spec, the
 * run protocol (job in through stdin, records out through stdout), health and
 * cleanup. Built on docker.h; knows nothing of HTTP or queues. */
#ifndef CODEEXECD_SANDBOX_H
#define CODEEXECD_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>

#include "codeexecd/config.h"
#include "codeexecd/execution.h"

struct sandbox;

/* instance: the value of the label that tells this daemon's containers
 * from other daemons' (instance.h). Loads the seccomp profile (the built-in
 * one or docker.seccomp_profile's file): a bad one fails here. */
int sandbox_create(struct sandbox **out, const struct config *cfg, const char *instance,
		   char *err, size_t errlen);
void sandbox_destroy(struct sandbox *sb);
/* Containers opened and runs started from now on use cfg (a reload); cfg
 * and every earlier one must stay valid until sandbox_destroy. The engine
 * connection (docker.host, docker.api_timeout_seconds) is kept. */
void sandbox_reconfigure(struct sandbox *sb, const struct config *cfg);

/* 0 when the engine answers and the image is present; -EHOSTUNREACH when the
 * engine does not answer, -ENOENT when the image is missing. msg says which. */
int sandbox_check(struct sandbox *sb, char *msg, size_t msglen);

/* Removes containers that carry this daemon's label (left by a crash). */
int sandbox_cleanup_stale(struct sandbox *sb, int *removed, char *err, size_t errlen);

/* A started container whose runner waits for its job: opened on demand or
 * ahead of time by the pool. It serves one run (a session's slot: one run
 * per job, while the runner says it is alive); then its container is
 * removed (sandbox_remove) and the slot closed. */
struct sandbox_slot;

/* Creates, attaches to and starts a container labelled with exec_id. A
 * warm one (for the pool) imports execution.preload first: this returns
 * once it has (or cancel_fd, -1 for none, became readable); a cold one
 * (made for a request) runs the job at once.
 * -ENOENT: the image is missing. On failure *out is NULL, or, when a
 * container was created and could not be removed (the engine went away), a
 * slot that is not usable and whose container the caller must still have
 * removed, like any other. */
int sandbox_slot_open(struct sandbox *sb, const char *exec_id, bool warm, int cancel_fd,
		      struct sandbox_slot **out, char *err, size_t errlen);
/* False when the container died or the engine closed the stream. */
bool sandbox_slot_usable(const struct sandbox_slot *slot);
const char *sandbox_slot_exec_id(const struct sandbox_slot *slot);
const char *sandbox_slot_container(const struct sandbox_slot *slot);
long sandbox_slot_age_ms(const struct sandbox_slot *slot);
/* The slot's own phases (create, attach, start, preload) into ph. */
void sandbox_slot_phases(const struct sandbox_slot *slot, struct exec_phases *ph);
/* Closes the stream and frees the slot; the container stays. Accepts NULL. */
void sandbox_slot_close(struct sandbox_slot *slot);

/* Where a run's output goes as it comes (NEXT.md: one run protocol, several
 * ways to deliver its output). Without one (/execute) the run buffers the
 * output into its result. The run keeps the caps, the deadline, the
 * cancellation and the verdict; a sink only delivers. Every callback is
 * optional and returns 0, or non-zero when its reader is gone: the run then
 * stops as if the client had gone (-ECANCELED). Pointers are valid during the
 * call only. */
struct run_sink {
	/* The execution starts (its id), before its job is sent. */
	int (*start)(void *ctx, const char *exec_id);
	/* A piece of the code's stdout or stderr, raw bytes within the caps (a
	 * multi-byte character may be cut between two pieces). */
	int (*chunk)(void *ctx, bool is_stderr, const char *data, size_t len);
	/* An output file the request's selection takes: a figure as it is shown,
	 * then the final files not already given with the same name and bytes. */
	int (*file)(void *ctx, const char *name, const unsigned char *data, size_t len);
	/* Text about the output (an output cut at its cap, a file left out by
	 * the runner); hostile bytes, not necessarily UTF-8. */
	int (*note)(void *ctx, const char *text, size_t len);
	void *ctx;
};

struct sandbox_run {
	const struct exec_request *req;
	/* NULL: the output is kept in the result (res->output, res->error,
	 * res->files); else it goes to the sink as it comes, the result's
	 * output and error stay "" (the verdict may add lines to error) and the
	 * job asks the runner for figures as they are shown ("stream"). */
	const struct run_sink *sink;
	int timeout_ms;
	const struct exec_client *client; /* gone: cancels the run; NULL: none */
	int stop_fd;     /* readable here cancels the run (shutdown); -1: none */
	/* out: what the runner reported beside the output (files left out,
	 * its own errors), one per line; "" when nothing */
	char notes[CXD_ERR_MAX * 2];
	/* out, for a session's job (req->session): the runner said its
	 * interpreter lives on for the next job ('X' "alive": true) */
	bool alive;
};

/* The engine's address (for logs; clients are not told it). */
const char *sandbox_engine(const struct sandbox *sb);

/* The instance name in this daemon's container labels. */
const char *sandbox_instance(const struct sandbox *sb);

/* 0 if the image is present; when it is not and docker.pull_missing_image
 * is set, pulls it first (one pull at a time, at most
 * docker.pull_timeout_seconds). For start-up: requests never pull, a run
 * that finds the image missing fails at once and starts a pull in the
 * background. -ENOENT when it is missing, -EHOSTUNREACH. */
int sandbox_ensure_image(struct sandbox *sb, char *err, size_t errlen);

/* The container-create JSON for one execution (malloc'ed; NULL on ENOMEM).
 * seccomp: the profile's JSON for SecurityOpt, or NULL for the engine's.
 * Pure: the unit tests check the hardening in it. */
char *sandbox_container_spec(const struct config *cfg, const char *instance, const char *exec_id,
			     bool warm, const char *seccomp);

/* Runs one execution in the slot's container and fills res. The timeout
 * counts from the moment the job is sent. The caller closes the slot and
 * removes its container afterwards (after answering).
 * On return 0, err holds "" or why the run ended abnormally (protocol error,
 * the sandbox died); res->exit_code is -1 unless the code exited by itself.
 * Returns 0 (res filled, the verdict inside), -ECANCELED (client gone or
 * stop_fd), or another negative code with err. */
int sandbox_run(struct sandbox *sb, struct sandbox_slot *slot, struct sandbox_run *run,
		struct exec_result *res, char *err, size_t errlen);

/* Force-removes a container; 0 when removed or already gone. */
int sandbox_remove(struct sandbox *sb, const char *container_id, char *err, size_t errlen);

#endif
