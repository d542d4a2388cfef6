/* POST /execute/stream (see api_stream.h).
 *
 * The handler validates the request as /execute does, then runs it on a
 * worker thread whose sink writes NDJSON lines into a bounded channel; the
 * handler waits until the execution has started (or was refused, which is
 * then answered as /execute answers it) and returns a body of unknown
 * length whose read() takes from the channel, blocking until there is
 * something. Memory per stream: the channel's capacity and one record of
 * the run. A slow reader fills the channel and so stalls the run's reading
 * (the runner's writes block in the container). A client that goes away is
 * seen by the run (its socket polled, no interim probe: a half-closed
 * client counts as gone) or by the server failing to write, which closes
 * the channel: the run is then cancelled like an /execute whose client left,
 * and the body's free() waits for the worker, so that nothing outlives the
 * request. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codeexecd/api.h"
#include "codeexecd/api_stream.h"
#include "codeexecd/chan.h"
#include "codeexecd/executor.h"
#include "codeexecd/ndjson.h"

#define NDJSON_TYPE "application/x-ndjson"
#define STREAM_CHAN_BYTES (64 * 1024) /* lines not yet taken by the socket */
#define STREAM_STALL_S 30             /* see chan_out */


struct stream_job {
	struct api *api;
	struct exec_request er;
	struct exec_ticket *ticket;  /* until the worker hands it to executor_run */
	char *key;                   /* a copy: the request's may go before the worker */
	struct exec_client client;
	struct chan *chan;
	struct ndjson nd;            /* the worker's, then (joined) the handler's */
	pthread_t thread;
	bool has_thread;             /* started and not joined */
	pthread_mutex_t mu;
	pthread_cond_t cv;           /* started or ended changed */
	bool started;                /* the execution began: the answer is the stream */
	bool ended;                  /* executor_run returned */
	int rc;                      /* executor_run's */
	int timeout_s;               /* the run's time limit */
	long write_deadline;         /* monotonic ms: a stalled reader is given up */
	char id[CXD_EXEC_ID_LEN + 1];
	char err[CXD_ERR_MAX];
};

static long now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* A reader that takes nothing for the run's whole time limit and then
 * STREAM_STALL_S more is given up: the run is stopped as if it had gone
 * (while the channel is full the run cannot see its own deadline). */
static int chan_out(void *ctx, const char *data, size_t len)
{
	struct stream_job *job = ctx;

	return chan_write(job->chan, data, len, job->write_deadline);
}

/* The sink: the execution has its id and begins; the handler may answer. */
static int on_start(void *ctx, const char *exec_id)
{
	struct stream_job *job = ctx;

	pthread_mutex_lock(&job->mu);
	(void)snprintf(job->id, sizeof(job->id), "%s", exec_id);
	job->write_deadline = now_ms() + (long)(job->timeout_s + STREAM_STALL_S) * 1000L;
	job->started = true;
	pthread_cond_broadcast(&job->cv);
	pthread_mutex_unlock(&job->mu);
	return 0;
}

static int on_chunk(void *ctx, bool is_stderr, const char *data, size_t len)
{
	return ndjson_chunk(&((struct stream_job *)ctx)->nd, is_stderr, data, len);
}

static int on_file(void *ctx, const char *name, const unsigned char *data, size_t len)
{
	return ndjson_file(&((struct stream_job *)ctx)->nd, name, data, len);
}

static int on_note(void *ctx, const char *text, size_t len)
{
	return ndjson_note(&((struct stream_job *)ctx)->nd, text, len);
}

/* A run that ended in a failure after its start (the engine, a shutdown):
 * the result line carries the reason, as /execute's body does. */
static void write_failure(struct stream_job *job, const char *why)
{
	struct exec_result res = { .exit_code = -1 };

	res.error = (char *)(uintptr_t)why; /* only read */
	(void)ndjson_result(&job->nd, &res, job->id);
}

static void *worker_main(void *arg)
{
	struct stream_job *job = arg;
	struct run_sink sink = { on_start, on_chunk, on_file, on_note, job };
	struct exec_result res = { 0 };
	struct exec_ticket *ticket = job->ticket;
	char id[CXD_EXEC_ID_LEN + 1];
	bool started;
	int rc;

	job->ticket = NULL; /* executor_run consumes it */
	rc = executor_run(job->api->executor, ticket, &job->er, id, &job->client, &sink, &res,
			  job->err, sizeof(job->err));
	exec_request_free(&job->er);
	pthread_mutex_lock(&job->mu);
	started = job->started;
	job->rc = rc;
	if (!started) {
		(void)snprintf(job->id, sizeof(job->id), "%s", id);
		job->ended = true; /* the handler answers */
		pthread_cond_broadcast(&job->cv);
	}
	pthread_mutex_unlock(&job->mu);
	if (started) {
		(void)ndjson_flush(&job->nd);
		if (rc == 0)
			(void)ndjson_result(&job->nd, &res, job->id);
		else
			write_failure(job, job->err[0] ? job->err : "Execution failed");
		chan_close_writer(job->chan);
	}
	exec_result_free(&res);
	return NULL;
}

/* Accepts NULL; waits for the worker first. */
static void job_free(struct stream_job *job)
{
	if (!job)
		return;
	if (job->chan)
		chan_close_reader(job->chan); /* a worker blocked on a full channel wakes */
	if (job->has_thread)
		(void)pthread_join(job->thread, NULL);
	executor_ticket_drop(job->ticket);
	exec_request_free(&job->er);
	chan_free(job->chan);
	pthread_cond_destroy(&job->cv);
	pthread_mutex_destroy(&job->mu);
	free(job->key);
	free(job);
}

static size_t body_read(void *ctx, char *buf, size_t room)
{
	return chan_read(((struct stream_job *)ctx)->chan, buf, room);
}

static void body_free(void *ctx)
{
	job_free(ctx);
}

/* A job for a parsed request (er and ticket are taken, also on failure). */
static struct stream_job *job_new(struct api *api, struct exec_request *er,
				  struct exec_ticket *ticket, const struct http_request *req)
{
	struct stream_job *job = calloc(1, sizeof(*job));

	if (!job) {
		exec_request_free(er);
		executor_ticket_drop(ticket);
		return NULL;
	}
	pthread_mutex_init(&job->mu, NULL);
	pthread_cond_init(&job->cv, NULL);
	job->api = api;
	job->er = *er;
	job->ticket = ticket;
	memset(er, 0, sizeof(*er));
	job->er.key = NULL;
	/* No interim probe: it would land inside the streamed body. */
	job->client = (struct exec_client){ req->client_fd, NULL, NULL };
	if ((req->key && !(job->key = strdup(req->key))) ||
	    chan_new(&job->chan, STREAM_CHAN_BYTES) != 0) {
		job_free(job);
		return NULL;
	}
	job->er.key = job->key;
	job->timeout_s = job->er.timeout_seconds > 0 ? job->er.timeout_seconds
			 : atomic_load(&api->cfg)->execution.timeout_seconds;
	ndjson_init(&job->nd, chan_out, job);
	return job;
}

/* The answer to a run that ended before it started: /execute's 429 or 503,
 * else 200 with a result line alone (the reason in its error). */
static void respond_unstarted(struct stream_job *job, struct http_response *resp)
{
	if (api_execute_refused(job->api, job->rc, job->err, resp)) {
		job_free(job);
		return;
	}
	if (!job->id[0])
		exec_id_new(job->id); /* failed before an execution had one */
	memcpy(resp->execution_id, job->id, sizeof(job->id));
	write_failure(job, job->err[0] ? job->err : "Execution failed");
	chan_close_writer(job->chan);
	http_response_stream(resp, 200, NDJSON_TYPE, &(struct http_body_stream){
		body_read, body_free, job, HTTP_LEN_UNKNOWN });
}

void api_execute_stream(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct api *api = ctx;
	struct exec_request er;
	struct exec_ticket *ticket;
	struct stream_job *job;
	bool started;

	ticket = req->admission ? *req->admission : NULL;
	if (req->admission)
		*req->admission = NULL; /* the ticket is ours: the worker's executor_run consumes it */
	if (api_read_request(api, req, true, &er, resp) != 0) {
		executor_ticket_drop(ticket);
		return;
	}
	job = job_new(api, &er, ticket, req);
	if (job && pthread_create(&job->thread, NULL, worker_main, job) == 0)
		job->has_thread = true;
	if (!job || !job->has_thread) {
		job_free(job);
		http_response_detail(resp, 500, "Out of memory");
		return;
	}
	pthread_mutex_lock(&job->mu);
	while (!job->started && !job->ended)
		pthread_cond_wait(&job->cv, &job->mu);
	started = job->started;
	pthread_mutex_unlock(&job->mu);
	if (!started) {
		(void)pthread_join(job->thread, NULL);
		job->has_thread = false;
		respond_unstarted(job, resp);
		return;
	}
	memcpy(resp->execution_id, job->id, sizeof(job->id));
	/* The lines may be apart for as long as the run may last. */
	resp->timeout_seconds = job->timeout_s + STREAM_STALL_S;
	http_response_stream(resp, 200, NDJSON_TYPE, &(struct http_body_stream){
		body_read, body_free, job, HTTP_LEN_UNKNOWN });
	resp->cache_control = "no-store";
}
