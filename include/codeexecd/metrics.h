/* Metrics: counters, gauges and histograms that the layers which know a fact
 * record (server: route and status; executor: outcome, queue wait, running
 * and queued; pool: ready containers; sandbox: phases, containers; docker:
 * engine errors), rendered in the Prometheus text format (0.0.4) by
 * metrics_render. Recording is cheap (atomics, or a short mutex for labelled
 * series) and never calls the engine. Depends on nothing above it.
 *
 * One registry per process: metrics are the daemon's, like its log, and
 * every layer records into it without a handle passed down. Recording
 * before metrics_init (unit tests) is harmless. */
#ifndef CODEEXECD_METRICS_H
#define CODEEXECD_METRICS_H

#include <stddef.h>

enum metrics_outcome {
	METRICS_OUT_SUCCESS,         /* the code exited 0 */
	METRICS_OUT_ERROR,           /* exited non-zero, or the run broke */
	METRICS_OUT_TIMEOUT,
	METRICS_OUT_OOM,
	METRICS_OUT_TRUNCATED,       /* stopped at the output cap */
	METRICS_OUT_ENGINE_FAILURE,  /* no run: the engine failed (503 or 200 failure) */
	METRICS_OUT_REJECTED,        /* 429: queue full, queue timeout, key limit */
	METRICS_OUT_CANCELLED,       /* the client left, or shutdown */
	METRICS_OUT_COUNT
};

/* The phases of one execution (the warm-path timings). */
enum metrics_phase {
	METRICS_PHASE_QUEUE_WAIT,    /* admission: waiting for a slot */
	METRICS_PHASE_ACQUIRE,       /* a container: from the pool or created */
	METRICS_PHASE_CREATE,        /* the engine's create (cold path) */
	METRICS_PHASE_START,         /* the engine's attach and start (cold path) */
	METRICS_PHASE_JOB_SENT,      /* the job written to the runner */
	METRICS_PHASE_RUN,           /* the code ran */
	METRICS_PHASE_COLLECT,       /* outputs collected */
	METRICS_PHASE_ANSWER,        /* the answer written */
	METRICS_PHASE_REMOVE,        /* the container removed */
	METRICS_PHASE_COUNT
};

enum metrics_gauge {
	METRICS_G_RUNNING,           /* executions running */
	METRICS_G_QUEUED,            /* requests waiting for a slot */
	METRICS_G_POOL_READY,        /* started containers waiting for a job */
	METRICS_G_BODY_BYTES,        /* request bytes held in memory */
	METRICS_G_SESSIONS,          /* sessions open (or being opened) */
	METRICS_G_COUNT
};

enum metrics_counter {
	METRICS_C_CONTAINERS_CREATED,
	METRICS_C_CONTAINERS_REMOVED,
	METRICS_C_CONTAINERS_REAPED,  /* left by a crash, removed at start-up */
	METRICS_C_RELOADS,            /* configuration reloads applied */
	METRICS_C_RELOAD_FAILURES,
	METRICS_C_SESSIONS_CREATED,   /* sessions opened */
	METRICS_C_COUNT
};

/* Kinds of engine errors (docker.c's mapping). */
enum metrics_engine_error {
	METRICS_EE_UNREACHABLE,      /* connect failed, socket gone */
	METRICS_EE_TIMEOUT,
	METRICS_EE_SERVER,           /* 5xx */
	METRICS_EE_CLIENT,           /* 4xx other than not-found/conflict */
	METRICS_EE_PROTOCOL,         /* garbage, oversized or truncated answers */
	METRICS_EE_COUNT
};

/* Sets the version shown by codeexecd_build_info; call once at start. */
void metrics_init(const char *version);
/* The engine's API version, shown in build info (copied). */
void metrics_set_engine_api(const char *api_version);

/* route: a static string (the route's path, or "other"); key: the API key's
 * name or NULL. Both are copied into a bounded table: past its size, new
 * label sets are counted under "other". */
void metrics_http_request(const char *route, int status, double seconds);
void metrics_execution(enum metrics_outcome outcome, const char *key);
void metrics_auth_failure(void);
void metrics_observe_duration(double seconds);   /* one execution, end to end */
void metrics_observe_phase(enum metrics_phase phase, double seconds);
void metrics_gauge_set(enum metrics_gauge g, long value);
void metrics_gauge_add(enum metrics_gauge g, long delta);
long metrics_gauge_get(enum metrics_gauge g);
void metrics_count(enum metrics_counter c);
void metrics_count_n(enum metrics_counter c, long n);
void metrics_engine_error(enum metrics_engine_error kind);
/* A session ended; reason: a static string from a small fixed set (past
 * METRICS_SESSION_REASONS_MAX of them, counted as "other"). */
#define METRICS_SESSION_REASONS_MAX 16
void metrics_session_ended(const char *reason);

/* The exposition text (malloc'ed, *len bytes, NUL-terminated) or NULL. */
char *metrics_render(size_t *len);

const char *metrics_outcome_name(enum metrics_outcome o);
const char *metrics_phase_name(enum metrics_phase p);

#endif
