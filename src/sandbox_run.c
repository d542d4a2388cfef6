/* The run protocol of one execution in a started container (see sandbox.c
 * for why a stream, and protocol.h for the wire format): send the job,
 * collect the records under caps, enforce the deadline, and turn what came
 * back into a result. The output is kept in the result (/execute) or handed
 * to a sink as it comes (sandbox.h's struct run_sink, /execute/stream); the
 * caps, the deadline and the cancellation are the same either way. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "codeexecd/archive.h"
#include "codeexecd/demux.h"
#include "codeexecd/docker.h"
#include "codeexecd/protocol.h"
#include "codeexecd/sandbox.h"
#include "codeexecd/utf8.h"

#include "sandbox_internal.h"

#define DIAG_MAX 4096          /* the runner's own stderr we keep */
#define NOTES_MAX 4096         /* 'W' notes we keep */
#define READ_CHUNK 65536
#define DRAIN_BURST 64         /* chunks read before looking at the client again */
#define KILL_WAIT_MS 3000      /* for the engine to report a dead runner's state */

/* A buffer that never grows past max; what does not fit is dropped. */
struct capbuf {
	char *data;
	size_t len, cap, max;
};

/* Appends what fits; returns false when something was dropped. */
static bool capbuf_append(struct capbuf *b, const void *data, size_t len)
{
	size_t take = len <= b->max - b->len ? len : b->max - b->len;

	if (take > 0 && b->len + take > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + take)
			cap *= 2;
		if (cap > b->max)
			cap = b->max;
		char *grown = realloc(b->data, cap);
		if (!grown)
			return false;
		b->data = grown;
		b->cap = cap;
	}
	if (take > 0)
		memcpy(b->data + b->len, data, take);
	b->len += take;
	return take == len;
}


/* A file given to the sink while the code ran (a figure), so that the
 * final files do not give it again: its name, length and a hash of its
 * bytes. */
struct given_file {
	char *name;
	size_t len;
	uint64_t hash;
};

struct run_state {
	const struct config *cfg;
	const struct exec_request *req;
	const struct run_sink *sink; /* NULL: the output is buffered (out, err) */
	size_t sent[2];        /* stdout, stderr bytes taken, against their caps */
	bool gone;             /* the sink's reader went away */
	struct given_file *given; /* figures given, at most output.max_files */
	size_t ngiven;
	size_t given_bytes;
	struct demux dm;
	struct proto_reader pr;
	struct capbuf out, err, diag, notes;
	struct exec_result *res;
	bool done;             /* the status record arrived */
	bool capped;           /* stdout or stderr reached its cap */
	bool proto_error;
	int exit_code;
	int signal;
	bool runner_oom;
	bool alive;            /* 'X' said "alive": true (a session's job) */
	char files_err[CXD_ERR_MAX];
};

static int parse_status(struct run_state *st, const uint8_t *data, size_t len)
{
	cJSON *obj = cJSON_ParseWithLength((const char *)data, len);
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(obj, "exit_code");
	const cJSON *sig = cJSON_GetObjectItemCaseSensitive(obj, "signal");
	const cJSON *oom = cJSON_GetObjectItemCaseSensitive(obj, "oom_kill");
	const cJSON *run = cJSON_GetObjectItemCaseSensitive(obj, "run_ms");
	const cJSON *collect = cJSON_GetObjectItemCaseSensitive(obj, "collect_ms");

	if (!cJSON_IsNumber(code) || code->valuedouble < 0 || code->valuedouble > 255) {
		cJSON_Delete(obj);
		return -EPROTO;
	}
	st->exit_code = code->valueint;
	st->signal = cJSON_IsNumber(sig) ? sig->valueint : 0;
	st->runner_oom = cJSON_IsTrue(oom);
	st->alive = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(obj, "alive"));
	/* Only for the logs; clamped, since the runner says what it likes. */
	st->res->phases.run_ms = cJSON_IsNumber(run) && run->valuedouble >= 0 &&
				 run->valuedouble < 1e9 ? (long)run->valuedouble : -1;
	st->res->phases.collect_ms = cJSON_IsNumber(collect) && collect->valuedouble >= 0 &&
				     collect->valuedouble < 1e9 ? (long)collect->valuedouble : -1;
	st->done = true;
	cJSON_Delete(obj);
	return 0;
}

/* Which files come back and under which names: without output_include the
 * old service's (output.include's CSV patterns, keyed by base name), with it
 * the request's patterns within output.allow, keyed by relative path. */
static void output_selection(const struct config *cfg, const struct exec_request *req,
			     struct archive_out_limits *lim, const char **patterns)
{
	const struct string_list *server = req->has_output_include ? &cfg->output.allow
								    : &cfg->output.include;

	lim->max_files = (size_t)cfg->output.max_files;
	lim->max_file_bytes = (size_t)cfg->output.max_file_bytes;
	lim->max_total_bytes = (size_t)cfg->output.max_total_bytes;
	for (size_t i = 0; i < server->n; i++)
		patterns[i] = server->items[i];
	lim->allow = patterns;
	lim->nallow = server->n;
	if (req->has_output_include) {
		lim->include = (const char *const *)req->output_include;
		lim->ninclude = req->noutput_include;
		/* [] selects nothing: a pattern no safe name matches */
		if (req->noutput_include == 0) {
			static const char *const none[] = { "" };
			lim->include = none;
			lim->ninclude = 1;
		}
	}
	lim->by_base_name = !req->has_output_include;
}

static uint64_t fnv1a(const unsigned char *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

/* Hands a sink's verdict on: non-zero means its reader is gone. */
static int sink_said(struct run_state *st, int rc)
{
	if (rc != 0)
		st->gone = true;
	return rc != 0 ? 1 : 0;
}

static bool given_before(const struct run_state *st, const struct exec_file *f)
{
	for (size_t i = 0; i < st->ngiven; i++)
		if (st->given[i].len == f->len && strcmp(st->given[i].name, f->name) == 0 &&
		    st->given[i].hash == fnv1a(f->data, f->len))
			return true;
	return false;
}

/* A figure shown while the code runs ('G'): given to the sink at once when
 * the selection takes it, within output.max_files and max_total_bytes for
 * all figures together (beyond that, figures come with the final files). */
static int read_figure(struct run_state *st, const uint8_t *data, size_t len)
{
	const char *patterns[CXD_INCLUDE_PATTERNS_MAX];
	struct archive_out_limits lim = { 0 };
	struct exec_file *files = NULL;
	size_t n = 0;
	bool truncated = false;
	char err[CXD_ERR_MAX];
	int rc = 0;

	if (!st->sink || !st->sink->file || len == 0)
		return 0;
	output_selection(st->cfg, st->req, &lim, patterns);
	(void)archive_read_outputs(data, len, &lim, &files, &n, &truncated, err, sizeof(err));
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct exec_file *f = &files[i];
		if (st->ngiven >= lim.max_files || f->len > lim.max_total_bytes - st->given_bytes ||
		    given_before(st, f))
			continue;
		if (!st->given && !(st->given = calloc(lim.max_files, sizeof(*st->given))))
			break;
		st->given[st->ngiven] = (struct given_file){ f->name, f->len, fnv1a(f->data, f->len) };
		f->name = NULL; /* st->given owns it now */
		st->given_bytes += st->given[st->ngiven++].len;
		rc = sink_said(st, st->sink->file(st->sink->ctx, st->given[st->ngiven - 1].name,
						  f->data, f->len));
	}
	exec_files_free(files, n);
	return rc;
}

/* The final files to the sink, but those it had already as figures. */
static int give_files(struct run_state *st)
{
	const struct exec_result *r = st->res;
	int rc = 0;

	if (!st->sink || !st->sink->file)
		return 0;
	for (size_t i = 0; i < r->nfiles && rc == 0; i++)
		if (!given_before(st, &r->files[i]))
			rc = sink_said(st, st->sink->file(st->sink->ctx, r->files[i].name,
							  r->files[i].data, r->files[i].len));
	return rc;
}

/* A piece of stdout or stderr, taken within its stream's cap: buffered, or
 * given to the sink. Past the cap the rest is dropped and the run stops
 * (returns 1, st->capped). */
static int take_output(struct run_state *st, bool is_stderr, const uint8_t *data, size_t len)
{
	struct capbuf *b = is_stderr ? &st->err : &st->out;
	size_t *sent = &st->sent[is_stderr], take = len <= b->max - *sent ? len : b->max - *sent;
	char text[160];
	int rc = 0;

	if (take > 0 && st->sink && st->sink->chunk)
		rc = sink_said(st, st->sink->chunk(st->sink->ctx, is_stderr, (const char *)data, take));
	else if (take > 0 && !st->sink && !capbuf_append(b, data, take))
		take = 0; /* no memory: counts as cut */
	*sent += take;
	if (rc != 0 || take == len)
		return rc;
	st->capped = true;
	if (st->sink && st->sink->note) {
		int n = snprintf(text, sizeof(text), "%s reached its limit of %zu bytes: the rest was "
				 "cut and the execution stopped", is_stderr ? "stderr" : "stdout",
				 b->max);
		(void)sink_said(st, st->sink->note(st->sink->ctx, text, (size_t)n));
	}
	return 1;
}

static int read_files(struct run_state *st, const uint8_t *data, size_t len)
{
	const char *patterns[CXD_INCLUDE_PATTERNS_MAX];
	struct archive_out_limits lim = { 0 };
	bool truncated = false;

	if (len == 0 || st->res->files)
		return 0;
	output_selection(st->cfg, st->req, &lim, patterns);
	if (archive_read_outputs(data, len, &lim, &st->res->files, &st->res->nfiles, &truncated,
				 st->files_err, sizeof(st->files_err)) != 0)
		truncated = true;
	if (truncated)
		st->res->output_truncated = true;
	return give_files(st);
}

static int on_record(void *ctx, enum proto_type type, const uint8_t *data, size_t len)
{
	struct run_state *st = ctx;

	switch (type) {
	case PROTO_STDOUT:
	case PROTO_STDERR:
		return take_output(st, type == PROTO_STDERR, data, len);
	case PROTO_NOTE:
		(void)capbuf_append(&st->notes, data, len);
		(void)capbuf_append(&st->notes, "\n", 1);
		st->res->output_truncated = true; /* notes say what was left out */
		if (st->sink && st->sink->note)
			return sink_said(st, st->sink->note(st->sink->ctx, (const char *)data, len));
		return 0;
	case PROTO_FILES:
		return read_files(st, data, len);
	case PROTO_STATUS:
		return parse_status(st, data, len) == 0 ? 0 : -EPROTO;
	case PROTO_READY:
		/* a container made for the run: ready at once, nothing preloaded */
		return 0;
	case PROTO_FIGURE:
		/* shown while it ran: the final 'F' has it too */
		return read_figure(st, data, len);
	}
	return -EPROTO;
}

static int on_frame(void *ctx, enum demux_stream stream, const uint8_t *data, size_t len)
{
	struct run_state *st = ctx;

	if (stream == DEMUX_STDERR) {
		(void)capbuf_append(&st->diag, data, len);
		return 0;
	}
	if (stream != DEMUX_STDOUT)
		return -EPROTO;
	return proto_feed(&st->pr, data, len, on_record, st);
}

enum run_end {
	END_DONE, END_EOF, END_TIMEOUT, END_CAPPED, END_PROTO, END_CANCEL, END_STOP, END_IO
};

/* Feeds a piece of the stream to the run: -EAGAIN to go on, or how the run
 * ended (the reader gone, an output cap, a protocol error, the status). */
static int feed_piece(struct run_state *st, const uint8_t *buf, size_t n)
{
	int rc = demux_feed(&st->dm, buf, n, on_frame, st);

	if (st->gone)
		return END_CANCEL;
	if (st->capped)
		return END_CAPPED;
	if (rc != 0)
		return END_PROTO;
	if (st->done)
		return END_DONE;
	return -EAGAIN;
}

/* Reads what the stream has now, at most DRAIN_BURST chunks, so that a
 * stream that never runs dry (a runner flooding its output) still lets the
 * caller look at the client and the shutdown; the deadline is checked after
 * every chunk. Returns -EAGAIN to keep waiting, or how the run ended. */
static int drain(struct docker_stream *s, struct run_state *st, long deadline)
{
	uint8_t buf[READ_CHUNK];

	for (int i = 0; i < DRAIN_BURST; i++) {
		ssize_t n = docker_stream_read(s, buf, sizeof(buf));
		if (n == -EAGAIN)
			return -EAGAIN;
		if (n == 0)
			return END_EOF;
		if (n < 0)
			return END_IO;
		int end = feed_piece(st, buf, (size_t)n);
		if (end != -EAGAIN)
			return end;
		if (sandbox_now_ms() >= deadline)
			return END_TIMEOUT;
	}
	return -EAGAIN;
}

/* Waits for the run to end: the status record, end of stream, the deadline,
 * an output cap, the client going away or a shutdown. */
static enum run_end wait_run(struct docker_stream *s, struct run_state *st,
			     const struct sandbox_run *run, long deadline)
{
	bool probed = false;
	struct pollfd fds[3] = {
		{ .fd = docker_stream_fd(s), .events = POLLIN },
		{ .fd = run->client ? run->client->fd : -1, .events = exec_client_events(false) },
		{ .fd = run->stop_fd, .events = POLLIN },
	};

	for (;;) {
		int rc = drain(s, st, deadline);
		if (rc != -EAGAIN)
			return (enum run_end)rc;
		long left = deadline - sandbox_now_ms();
		if (left <= 0)
			return END_TIMEOUT;
		rc = poll(fds, 3, (int)(left > 60000 ? 60000 : left));
		if (rc < 0 && errno != EINTR)
			return END_IO;
		if (rc > 0 && exec_client_check(run->client, fds[1].revents, &probed))
			return END_CANCEL;
		fds[1].events = exec_client_events(probed);
		if (fds[2].revents & POLLIN)
			return END_STOP;
	}
}

/* The job: job.json (the output limits, for the runner's own courtesy),
 * main.py, stdin and files/<name>, as a tar behind the 12-byte header. */
static int pack_job(const struct config *cfg, const struct exec_request *req, bool stream,
		    unsigned char **job, size_t *len, char *err, size_t errlen)
{
	struct archive_member *m = calloc(req->nfiles + 3, sizeof(*m));
	char **names = calloc(req->nfiles + 1, sizeof(*names));
	cJSON *params = cJSON_CreateObject(), *inc;
	const char *patterns[CXD_INCLUDE_PATTERNS_MAX];
	struct archive_out_limits sel = { 0 };
	char *params_text = NULL;
	size_t n = 0;
	int rc = -ENOMEM;

	if (!m || !names || !params)
		goto out;
	output_selection(cfg, req, &sel, patterns);
	cJSON_AddNumberToObject(params, "max_files", cfg->output.max_files);
	cJSON_AddNumberToObject(params, "max_file_bytes", (double)cfg->output.max_file_bytes);
	cJSON_AddNumberToObject(params, "max_total_bytes", (double)cfg->output.max_total_bytes);
	/* The runner's own selection spares the stream what the daemon would
	 * drop; the daemon still decides (output_selection). */
	inc = cJSON_AddArrayToObject(params, "include");
	for (size_t i = 0; i < sel.ninclude; i++)
		cJSON_AddItemToArray(inc, cJSON_CreateString(sel.include[i]));
	inc = cJSON_AddArrayToObject(params, "allow");
	for (size_t i = 0; i < sel.nallow; i++)
		cJSON_AddItemToArray(inc, cJSON_CreateString(sel.allow[i]));
	cJSON_AddBoolToObject(params, "by_base_name", sel.by_base_name);
	cJSON_AddBoolToObject(params, "capture_figures",
			      req->capture_figures == EXEC_FIGURES_DEFAULT
			      ? cfg->execution.capture_figures
			      : req->capture_figures == EXEC_FIGURES_ON);
	if (req->session)
		cJSON_AddBoolToObject(params, "session", true);
	if (stream)
		cJSON_AddBoolToObject(params, "stream", true); /* figures as they are shown */
	params_text = cJSON_PrintUnformatted(params);
	if (!params_text)
		goto out;
	m[n++] = (struct archive_member){ "job.json", params_text, strlen(params_text) };
	m[n++] = (struct archive_member){ "main.py", req->code, req->code_len };
	if (req->stdin_data)
		m[n++] = (struct archive_member){ "stdin", req->stdin_data, req->stdin_len };
	for (size_t i = 0; i < req->nfiles; i++) {
		if (asprintf(&names[i], "files/%s", req->files[i].name) < 0) {
			names[i] = NULL;
			goto out;
		}
		m[n++] = (struct archive_member){ names[i], req->files[i].data, req->files[i].len };
	}
	/* Room for the header in front: job and header go out in one write,
	 * so the runner wakes once for them. */
	rc = archive_pack_after(PROTO_JOB_HEADER_LEN, m, n, job, len, err, errlen);
out:
	for (size_t i = 0; names && i < req->nfiles; i++)
		free(names[i]);
	free(names);
	free(m);
	free(params_text);
	cJSON_Delete(params);
	return rc;
}

/* Sends the job; fails only when it cannot be built. */
static int send_job(struct docker_stream *s, const struct config *cfg,
		    const struct exec_request *req, bool stream, int timeout_ms, char *err,
		    size_t errlen)
{
	unsigned char *job = NULL;
	size_t len = 0;
	int rc;

	rc = pack_job(cfg, req, stream, &job, &len, err, errlen);
	if (rc != 0)
		return rc;
	proto_job_header((char *)job, len - PROTO_JOB_HEADER_LEN);
	/* A failed write means the runner is gone: its reason follows on the
	 * stream, which the caller reads next. */
	(void)docker_stream_write_all(s, job, len, timeout_ms);
	free(job);
	return 0;
}

/* Fills res from a finished run state. */
static void fill_result(struct sandbox *sb, const struct sandbox_slot *slot, struct run_state *st,
			enum run_end end, struct exec_result *res)
{
	struct docker_state ds = { 0 };
	char err[CXD_ERR_MAX];

	res->exit_code = -1;
	if (end == END_DONE) {
		res->exit_code = st->exit_code;
		/* SIGKILL from inside: the memory limit, if the engine agrees. */
		if (st->signal == SIGKILL &&
		    (st->runner_oom ||
		     (docker_container_inspect(sb->docker, slot->container_id, &ds, err,
					       sizeof(err)) == 0 && ds.oom_killed)))
			res->oom_killed = true;
	} else if (end == END_EOF) {
		/* The runner itself died: ask the engine why. */
		int code = -1;
		(void)docker_container_wait(sb->docker, slot->container_id, KILL_WAIT_MS, &code, err,
					    sizeof(err));
		if (docker_container_inspect(sb->docker, slot->container_id, &ds, err,
					     sizeof(err)) == 0)
			res->oom_killed = ds.oom_killed;
	}
	res->timed_out = end == END_TIMEOUT;
	if (end == END_CAPPED)
		res->output_truncated = true;
	res->output = utf8_sanitize(st->out.data ? st->out.data : "", st->out.len,
				    &res->output_len);
	res->error = utf8_sanitize(st->err.data ? st->err.data : "", st->err.len,
				   &res->error_len);
}

/* What the runner said about itself and the files it left out, for the
 * executor's error text. */
static void run_notes(const struct run_state *st, char *notes, size_t len)
{
	int n = snprintf(notes, len, "%.*s", (int)st->notes.len, st->notes.data ? st->notes.data : "");

	if (st->files_err[0] && n >= 0 && (size_t)n < len)
		n += snprintf(notes + n, len - (size_t)n, "output files: %s\n", st->files_err);
	if (st->diag.len && n >= 0 && (size_t)n < len)
		(void)snprintf(notes + n, len - (size_t)n, "%.*s", (int)st->diag.len, st->diag.data);
}

static void run_state_init(struct run_state *st, const struct config *cfg,
			   const struct sandbox_run *run, struct exec_result *res)
{
	struct proto_limits lim = {
		.chunk_max = CXD_RECORD_CHUNK_MAX,
		.files_max = (size_t)cfg->output.max_total_bytes + 4 * CXD_MIB,
		.status_max = CXD_RECORD_STATUS_MAX,
	};

	memset(st, 0, sizeof(*st));
	st->cfg = cfg;
	st->req = run->req;
	st->sink = run->sink;
	st->res = res;
	st->out.max = (size_t)cfg->output.max_stdout_bytes;
	st->err.max = (size_t)cfg->output.max_stderr_bytes;
	st->diag.max = DIAG_MAX;
	st->notes.max = NOTES_MAX;
	demux_init(&st->dm);
	proto_reader_init(&st->pr, &lim);
}

static void run_state_free(struct run_state *st)
{
	proto_reader_free(&st->pr);
	free(st->out.data);
	free(st->err.data);
	free(st->diag.data);
	free(st->notes.data);
	for (size_t i = 0; i < st->ngiven; i++)
		free(st->given[i].name);
	free(st->given);
}

/* Reads exactly len bytes before the deadline: 0, -ETIMEDOUT, or -EIO
 * (the stream ended or failed). Never reads past len: what follows stays
 * in the stream for the run. */
static int read_exact(struct docker_stream *s, uint8_t *buf, size_t len, long deadline,
		      int cancel_fd)
{
	size_t have = 0;

	while (have < len) {
		ssize_t n = docker_stream_read(s, buf + have, len - have);
		if (n > 0) {
			have += (size_t)n;
			continue;
		}
		if (n != -EAGAIN)
			return -EIO;
		long left = deadline - sandbox_now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		struct pollfd p[2] = { { .fd = docker_stream_fd(s), .events = POLLIN },
				       { .fd = cancel_fd, .events = POLLIN } };
		if (poll(p, 2, (int)(left > 60000 ? 60000 : left)) < 0 && errno != EINTR)
			return -EIO;
		if (p[1].revents & POLLIN)
			return -ECANCELED;
	}
	return 0;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The 'R' record's payload: how many modules were preloaded, in how long. */
static int parse_ready(struct sandbox_slot *slot, const uint8_t *data, size_t len)
{
	cJSON *obj = cJSON_ParseWithLength((const char *)data, len);
	const cJSON *pre = cJSON_GetObjectItemCaseSensitive(obj, "preloaded");
	const cJSON *errs = cJSON_GetObjectItemCaseSensitive(obj, "preload_errors");

	if (!cJSON_IsArray(pre)) {
		cJSON_Delete(obj);
		return -EPROTO;
	}
	slot->preloaded = cJSON_GetArraySize(pre);
	slot->preload_errors = cJSON_IsArray(errs) ? cJSON_GetArraySize(errs) : 0;
	cJSON_Delete(obj);
	return 0;
}

int sandbox_slot_wait_ready(struct sandbox_slot *slot, int timeout_ms, int cancel_fd, char *err,
			    size_t errlen)
{
	long t0 = sandbox_now_ms(), deadline = t0 + timeout_ms;
	uint8_t rec[5 + CXD_RECORD_STATUS_MAX], head[8], sink[4096];
	size_t have = 0, need = 5, diag = 0;
	int rc = 0;

	/* Frame by frame, reading nothing past the record: the runner's stderr
	 * (import warnings) is dropped, within a cap; its stdout must be the 'R'
	 * record and nothing more. */
	while (rc == 0 && have < need) {
		uint32_t size;

		rc = read_exact(slot->stream, head, sizeof(head), deadline, cancel_fd);
		if (rc != 0)
			break;
		size = be32(head + 4);
		if (head[0] == DEMUX_STDERR && (head[1] | head[2] | head[3]) == 0) {
			diag += size;
			if (diag > CXD_RECORD_CHUNK_MAX) {
				rc = -EPROTO;
				break;
			}
			for (uint32_t left = size; rc == 0 && left > 0;) {
				uint32_t n = left < sizeof(sink) ? left : (uint32_t)sizeof(sink);
				rc = read_exact(slot->stream, sink, n, deadline, cancel_fd);
				left -= n;
			}
			continue;
		}
		if (head[0] != DEMUX_STDOUT || (head[1] | head[2] | head[3]) != 0 ||
		    size > sizeof(rec) - have) {
			rc = -EPROTO;
			break;
		}
		rc = read_exact(slot->stream, rec + have, size, deadline, cancel_fd);
		have += size;
		if (rc == 0 && have >= 5) {
			need = 5 + (size_t)be32(rec + 1);
			if (rec[0] != PROTO_READY || need > sizeof(rec) || have > need)
				rc = -EPROTO;
		}
	}
	if (rc == 0)
		rc = parse_ready(slot, rec + 5, need - 5);
	slot->ms_preload = sandbox_now_ms() - t0;
	if (rc != 0)
		(void)snprintf(err, errlen, "the sandbox's runner %s", rc == -ETIMEDOUT
			       ? "was not ready in time (preloading)" : rc == -ECANCELED
			       ? "was given up (shutting down)" : rc == -EPROTO
			       ? "broke the run protocol before its job" : "ended before its job");
	return rc;
}

int sandbox_run(struct sandbox *sb, struct sandbox_slot *slot, struct sandbox_run *run,
		struct exec_result *res, char *err, size_t errlen)
{
	struct run_state st;
	enum run_end end;
	long started = sandbox_now_ms(), sent;
	int rc;

	memset(res, 0, sizeof(*res));
	run_state_init(&st, sb->cfg, run, res);
	if (run->sink && run->sink->start && run->sink->start(run->sink->ctx, slot->exec_id) != 0) {
		(void)snprintf(err, errlen, "the client went away; the execution was stopped");
		rc = -ECANCELED;
		goto out;
	}
	rc = send_job(slot->stream, sb->cfg, run->req, run->sink != NULL, run->timeout_ms, err,
		      errlen);
	if (rc != 0)
		goto out;
	sent = sandbox_now_ms();
	end = wait_run(slot->stream, &st, run, started + run->timeout_ms);
	res->duration_ms = sandbox_now_ms() - started;
	res->phases.send_ms = sent - started;
	res->phases.wait_ms = sandbox_now_ms() - sent;
	if (end != END_DONE && end != END_EOF)
		(void)docker_container_kill(sb->docker, slot->container_id, err, errlen);
	if (end == END_CANCEL || end == END_STOP) {
		(void)snprintf(err, errlen, "%s", end == END_STOP
			       ? "The service is shutting down; the execution was stopped"
			       : "the client went away; the execution was stopped");
		rc = end == END_STOP ? -ESHUTDOWN : -ECANCELED;
		goto out;
	}
	fill_result(sb, slot, &st, end, res);
	if (!res->output || !res->error) {
		rc = -ENOMEM;
		goto out;
	}
	if (end == END_PROTO || end == END_IO || (end == END_EOF && !res->oom_killed))
		(void)snprintf(err, errlen, "%s", end == END_PROTO
			       ? "the sandbox broke the run protocol"
			       : "the sandbox ended before reporting a result");
	else
		err[0] = '\0';
	run_notes(&st, run->notes, sizeof(run->notes));
	run->alive = end == END_DONE && st.alive;
	rc = 0;
out:
	run_state_free(&st);
	return rc;
}
