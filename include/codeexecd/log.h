/* Logging: levels, one line per event, text or JSON lines, to stderr.
 * Thread-safe: each line is written with a single write(2). JSON lines have
 * stable field names: time, level, msg, and when known execution_id, key,
 * route, status, duration_ms, phases. Under systemd (JOURNAL_STREAM names
 * our stderr) every line starts with its syslog priority ("<3>") so that
 * journalctl -p works. */
#ifndef CODEEXECD_LOG_H
#define CODEEXECD_LOG_H

#include "codeexecd/config.h"

/* Sets the level and format; may be called again at any time (reload). */
void log_setup(enum log_level level, enum log_format format);

/* Optional fields of one line; NULL or 0 members are left out. */
struct log_fields {
	const char *exec_id;
	const char *key;          /* the API key's name */
	const char *route;
	int status;
	double duration_ms;       /* 0 = none */
	const char *phases;       /* "queue_wait=1.2,acquire=0.3" (ms) */
};

void log_with(enum log_level level, const struct log_fields *f, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* One event. exec_id may be NULL. fmt is printf-style; the message is
 * escaped as needed for the chosen format. */
void log_event(enum log_level level, const char *exec_id, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The access log line of one HTTP request. exec_id, route and key may be
 * NULL or "". */
void log_request(const char *method, const char *path, int status, double duration_ms,
		 const char *remote, const char *exec_id, const char *route, const char *key);

/* "debug" | "info" | "warn" | "error" -> level; returns 0 or -EINVAL. */
int log_level_parse(const char *name, enum log_level *out);
const char *log_level_name(enum log_level level);

#define log_debug(id, ...) log_event(LOG_DEBUG, (id), __VA_ARGS__)
#define log_info(id, ...)  log_event(LOG_INFO, (id), __VA_ARGS__)
#define log_warn(id, ...)  log_event(LOG_WARN, (id), __VA_ARGS__)
#define log_error(id, ...) log_event(LOG_ERROR, (id), __VA_ARGS__)

#endif
