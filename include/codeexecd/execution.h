/* Plain data of one execution: what was asked, what came back. */
#ifndef CODEEXECD_EXECUTION_H
#define CODEEXECD_EXECUTION_H

#include <stdbool.h>
#include <stddef.h>

#include "codeexecd/limits.h"

struct exec_file {
	char *name;           /* relative path, validated */
	unsigned char *data;
	size_t len;
};

/* Whether matplotlib figures are saved as output files (figure-N.png). */
enum exec_figures {
	EXEC_FIGURES_DEFAULT = 0, /* not asked: execution.capture_figures */
	EXEC_FIGURES_ON,
	EXEC_FIGURES_OFF,
};

struct exec_request {
	char *code;
	size_t code_len;
	struct exec_file *files;
	size_t nfiles;
	char *stdin_data;     /* NULL: the code's stdin is empty */
	size_t stdin_len;
	int timeout_seconds;  /* 0: the configured default */
	const char *key;      /* the API key's name (borrowed, for logs and metrics); NULL: none */
	/* output_include: sent (even as []) means every regular file whose
	 * relative path matches one of these (and output.allow) comes back
	 * keyed by that path; not sent means the old service's CSV files. */
	bool has_output_include;
	char **output_include;
	size_t noutput_include;
	enum exec_figures capture_figures;
	/* A session's job (the executor sets it, never the request): the
	 * runner keeps its interpreter for the next job (protocol.h). */
	bool session;
};

/* Where the time of one execution went (milliseconds), for the logs and
 * metrics. The runner's own figures (run, collect) are hostile data: shown,
 * never used for a decision. */
struct exec_phases {
	long queue_ms;        /* waiting for an execution slot */
	long acquire_ms;      /* getting a container (from the pool or new) */
	bool pooled;          /* a warm container from the pool */
	long create_ms;       /* of that container: create, attach, start */
	long attach_ms;       /*   (ahead of time when pooled) */
	long start_ms;
	long preload_ms;      /*   and its imports (ahead of time, in the pool) */
	long send_ms;         /* the job written to the container */
	long wait_ms;         /* job sent -> the status record */
	long run_ms;          /* the runner: the code ran */
	long collect_ms;      /* the runner: output files collected */
	int preloaded;        /* modules the runner had imported when the job came */
};

struct exec_result {
	bool success;
	int exit_code;        /* -1 when the run did not end by itself */
	char *output;         /* valid UTF-8, NUL-terminated, never NULL after a run */
	size_t output_len;
	char *error;          /* idem */
	size_t error_len;
	struct exec_file *files; /* output files; NULL when none */
	size_t nfiles;
	bool timed_out;
	bool oom_killed;
	bool output_truncated;
	long duration_ms;
	struct exec_phases phases;
};

/* The client of a request, watched while it waits and runs: a client that
 * goes away cancels its execution. A peer's FIN alone does not tell a client
 * that left (close) from one that only half-closed (shutdown(SHUT_WR)) and
 * waits for its answer; so on a FIN, probe (when set) writes something the
 * client must accept (an interim HTTP answer): a peer that closed answers it
 * with a reset (POLLHUP/POLLERR), one that half-closed reads it. Without
 * probe, a FIN counts as gone. */
struct exec_client {
	int fd;                    /* -1: not watched */
	void (*probe)(void *ctx);
	void *ctx;
};

/* The poll(2) events to watch on c->fd, given *probed (false at first). */
short exec_client_events(bool probed);
/* Reads the revents of a poll on c->fd: true when the client is gone (a
 * reset or an error, or a FIN without a probe). On the first FIN it probes
 * and sets *probed, after which only a reset counts. */
bool exec_client_check(const struct exec_client *c, short revents, bool *probed);
/* Polls c without waiting; true when the client is gone. NULL: false. */
bool exec_client_gone(const struct exec_client *c, bool *probed);

/* Free every owned pointer and zero the struct; accept NULL. */
void exec_request_free(struct exec_request *req);
void exec_result_free(struct exec_result *res);
/* Frees n files (names and data) and the array itself; accepts NULL. */
void exec_files_free(struct exec_file *files, size_t n);

/* Fills id with CXD_EXEC_ID_LEN random lowercase hex characters and a NUL
 * (getrandom(2), else /dev/urandom, else the clocks: never fails). */
void exec_id_new(char id[CXD_EXEC_ID_LEN + 1]);
/* Fills out with n random lowercase hex characters and a NUL, from the
 * kernel's randomness only (for ids that are credentials): 0, or a
 * negative errno when there is none. */
int exec_random_hex(char *out, size_t n);

#endif
