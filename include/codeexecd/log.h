/* Logging: levels, one line per event, text or JSON lines, to stderr.
 * Thread-safe: each line is written with a single write(2). */
#ifndef CODEEXECD_LOG_H
#define CODEEXECD_LOG_H

#include "codeexecd/config.h"

void log_setup(enum log_level level, enum log_format format);

/* One event. exec_id may be NULL. fmt is printf-style; the message is
 * escaped as needed for the chosen format. */
void log_event(enum log_level level, const char *exec_id, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The access log line of one HTTP request. exec_id may be NULL or "". */
void log_request(const char *method, const char *path, int status, double duration_ms,
		 const char *remote, const char *exec_id);

/* "debug" | "info" | "warn" | "error" -> level; returns 0 or -EINVAL. */
int log_level_parse(const char *name, enum log_level *out);
const char *log_level_name(enum log_level level);

#define log_debug(id, ...) log_event(LOG_DEBUG, (id), __VA_ARGS__)
#define log_info(id, ...)  log_event(LOG_INFO, (id), __VA_ARGS__)
#define log_warn(id, ...)  log_event(LOG_WARN, (id), __VA_ARGS__)
#define log_error(id, ...) log_event(LOG_ERROR, (id), __VA_ARGS__)

#endif
