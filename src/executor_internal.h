/* What executor.c and executor_report.c share: the executor is one module
 * in two files (admission, lifecycle, reaper and health; the verdict and
 * what is reported of a run). Not a public header. */
#ifndef CODEEXECD_EXECUTOR_INTERNAL_H
#define CODEEXECD_EXECUTOR_INTERNAL_H

#include "codeexecd/config.h"
#include "codeexecd/execution.h"
#include "codeexecd/metrics.h"
#include "codeexecd/sandbox.h"

/* The verdict: success, and the lines of res->error that explain an
 * abnormal end (why: the run's own error text, "" when none). */
void executor_verdict(const struct config *cfg, const struct sandbox_run *run, int timeout_s,
		      const char *why, struct exec_result *res);
/* The outcome label of the metrics for a run that returned rc. */
enum metrics_outcome executor_outcome(int rc, const struct exec_result *res);
/* The debug log line of a run's phases. */
void executor_log_phases(const char *exec_id, const char *container,
			 const struct exec_phases *ph);
/* The phases into the metrics and a log field ("name=ms,..."). */
void executor_observe_phases(const struct exec_phases *ph, char *text, size_t len);
/* The info log line of a run's outcome. */
void executor_log_outcome(const char *exec_id, const struct exec_request *req,
			  const struct exec_result *res, const char *phases);

#endif
