/* The executor's report of a run (see executor.c): the verdict and the
 * lines of error that explain it, the outcome and phase metrics, and the
 * log lines. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codeexecd/log.h"
#include "codeexecd/metrics.h"
#include "codeexecd/utf8.h"

#include "executor_internal.h"

/* Appends a line to res->error (which ends up shown to the user). */
static void append_error_line(struct exec_result *res, const char *line)
{
	size_t add = strlen(line), sep = res->error_len && res->error[res->error_len - 1] != '\n';
	char *grown = realloc(res->error, res->error_len + sep + add + 2);

	if (!grown)
		return;
	res->error = grown;
	if (sep)
		res->error[res->error_len++] = '\n';
	memcpy(res->error + res->error_len, line, add);
	res->error_len += add;
	res->error[res->error_len++] = '\n';
	res->error[res->error_len] = '\0';
}

static void fmt_bytes(long n, char *out, size_t len)
{
	if (n >= CXD_MIB && n % CXD_MIB == 0)
		(void)snprintf(out, len, "%ld MiB", n / CXD_MIB);
	else if (n >= CXD_KIB && n % CXD_KIB == 0)
		(void)snprintf(out, len, "%ld KiB", n / CXD_KIB);
	else
		(void)snprintf(out, len, "%ld bytes", n);
}

/* The verdict: success, and the lines that explain an abnormal end. */
void executor_verdict(const struct config *cfg, const struct sandbox_run *run, int timeout_s,
		    const char *why, struct exec_result *res)
{
	char line[CXD_ERR_MAX * 3], size[32];

	if (run->notes[0])
		append_error_line(res, run->notes);
	if (why[0])
		append_error_line(res, why);
	if (res->timed_out) {
		res->exit_code = -1;
		(void)snprintf(line, sizeof(line),
			       "Execution timed out: the time limit of %d seconds was reached and "
			       "the code was stopped", timeout_s);
		append_error_line(res, line);
	} else if (res->oom_killed) {
		fmt_bytes(cfg->limits.memory_bytes, size, sizeof(size));
		(void)snprintf(line, sizeof(line),
			       "Execution killed: the memory limit of %s was exceeded", size);
		append_error_line(res, line);
	} else if (res->output_truncated && res->exit_code == -1) {
		fmt_bytes(cfg->output.max_stdout_bytes, size, sizeof(size));
		(void)snprintf(line, sizeof(line),
			       "Execution stopped: the output reached its limit of %s per stream",
			       size);
		append_error_line(res, line);
	}
	res->success = res->exit_code == 0 && !res->timed_out && !res->oom_killed && !why[0];
	/* The notes come from the runner and were cut to size: repair. */
	size_t len;
	char *clean = utf8_sanitize(res->error, res->error_len, &len);
	if (clean) {
		free(res->error);
		res->error = clean;
		res->error_len = len;
	}
}

void executor_log_phases(const char *exec_id, const char *container, const struct exec_phases *ph)
{
	log_debug(exec_id, "phases: queue %ld ms, container %.12s %s in %ld ms (create %ld, "
		  "attach %ld, start %ld, %d modules preloaded in %ld), job sent %ld ms, code ran "
		  "%ld ms, outputs collected %ld ms, status after %ld ms",
		  ph->queue_ms, container, ph->pooled ? "from the pool" : "started for it",
		  ph->acquire_ms, ph->create_ms, ph->attach_ms, ph->start_ms, ph->preloaded,
		  ph->preload_ms, ph->send_ms, ph->run_ms, ph->collect_ms, ph->wait_ms);
}

enum metrics_outcome executor_outcome(int rc, const struct exec_result *res)
{
	if (rc == -EAGAIN || rc == -ETIMEDOUT)
		return METRICS_OUT_REJECTED;
	if (rc == -ECANCELED || rc == -ESHUTDOWN)
		return METRICS_OUT_CANCELLED;
	if (rc != 0)
		return METRICS_OUT_ENGINE_FAILURE;
	if (res->timed_out)
		return METRICS_OUT_TIMEOUT;
	if (res->oom_killed)
		return METRICS_OUT_OOM;
	if (res->output_truncated && res->exit_code == -1)
		return METRICS_OUT_TRUNCATED;
	return res->success ? METRICS_OUT_SUCCESS : METRICS_OUT_ERROR;
}

/* Appends "name=ms" to the phases text (when it fits) and records it. */
static void phase_seen(enum metrics_phase p, long ms, char *text, size_t len, size_t *pos)
{
	int n;

	if (ms < 0)
		ms = 0;
	metrics_observe_phase(p, (double)ms / 1e3);
	if (*pos >= len)
		return;
	n = snprintf(text + *pos, len - *pos, "%s%s=%ld", *pos ? "," : "", metrics_phase_name(p),
		     ms);
	if (n > 0)
		*pos = (size_t)n >= len - *pos ? len : *pos + (size_t)n;
}

/* The phases of a run into the metrics and a log field. The runner's own
 * figures (run, collect) are capped by what the daemon measured around
 * them (job sent to status), as they are hostile data. */
void executor_observe_phases(const struct exec_phases *ph, char *text, size_t len)
{
	long wait = ph->wait_ms > 0 ? ph->wait_ms : 0;
	size_t pos = 0;

	text[0] = '\0';
	phase_seen(METRICS_PHASE_QUEUE_WAIT, ph->queue_ms, text, len, &pos);
	phase_seen(METRICS_PHASE_ACQUIRE, ph->acquire_ms, text, len, &pos);
	if (!ph->pooled) {
		phase_seen(METRICS_PHASE_CREATE, ph->create_ms, text, len, &pos);
		phase_seen(METRICS_PHASE_START, ph->attach_ms + ph->start_ms, text, len, &pos);
	}
	phase_seen(METRICS_PHASE_JOB_SENT, ph->send_ms, text, len, &pos);
	phase_seen(METRICS_PHASE_RUN, ph->run_ms < wait ? ph->run_ms : wait, text, len, &pos);
	phase_seen(METRICS_PHASE_COLLECT, ph->collect_ms < wait ? ph->collect_ms : wait, text, len,
		   &pos);
	text[len - 1] = '\0';
}

void executor_log_outcome(const char *exec_id, const struct exec_request *req,
			const struct exec_result *res, const char *phases)
{
	struct log_fields f = { .exec_id = exec_id, .key = req->key,
				.duration_ms = (double)res->duration_ms, .phases = phases };

	log_with(LOG_INFO, &f, "outcome=%s exit_code=%d success=%s timed_out=%s oom_killed=%s "
		 "output_truncated=%s duration_ms=%ld files=%zu",
		 metrics_outcome_name(executor_outcome(0, res)), res->exit_code,
		 res->success ? "true" : "false", res->timed_out ? "true" : "false",
		 res->oom_killed ? "true" : "false", res->output_truncated ? "true" : "false",
		 res->duration_ms, res->nfiles);
}
