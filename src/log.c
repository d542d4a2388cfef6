/* Logging: one line per event, text or JSON lines, on stderr.
 *
 * The level and format are atomics: main() sets them at start-up and again
 * on a reload while other threads log. Each line is built in a local buffer
 * and written with one write(2), so lines from concurrent threads never
 * interleave. */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "codeexecd/log.h"

#define LOG_LINE_MAX 2048
#define LOG_FIELD_MAX 512   /* bytes of a method or path we log */

static atomic_int min_level = LOG_INFO;
static atomic_int line_format = LOG_FORMAT_TEXT;
static atomic_bool journal;   /* stderr is the journal's stream */

static const char *const level_names[] = { "debug", "info", "warn", "error" };
static const int syslog_priority[] = { 7, 6, 4, 3 }; /* debug, info, warning, err */

/* True when JOURNAL_STREAM ("device:inode") names the file on stderr, as
 * systemd sets it for a service whose output goes to the journal. */
static bool stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) != 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_setup(enum log_level level, enum log_format format)
{
	atomic_store(&min_level, (int)level);
	atomic_store(&line_format, (int)format);
	atomic_store(&journal, stderr_is_journal());
}

const char *log_level_name(enum log_level level)
{
	if ((int)level < 0 || (size_t)level >= sizeof(level_names) / sizeof(level_names[0]))
		return "info";
	return level_names[level];
}

int log_level_parse(const char *name, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* Appends to buf at *pos, never past cap-1; keeps the line NUL-terminated. */
static void append(char *buf, size_t cap, size_t *pos, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t cap, size_t *pos, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*pos >= cap - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *pos, cap - *pos, fmt, ap);
	va_end(ap);
	if (n > 0)
		*pos = ((size_t)n >= cap - *pos) ? cap - 1 : *pos + (size_t)n;
}

/* Appends at most max bytes of s as the inside of a JSON string (or, for
 * text, with control characters escaped so one event stays one line), and
 * "..." when it was cut. Room is always left for the rest of the line. In
 * JSON, bytes outside ASCII become \u00XX: a path or a message may hold
 * bytes that are not UTF-8, and a line must stay valid JSON. */
static void append_escaped(char *buf, size_t cap, size_t *pos, const char *s, size_t max,
			   bool json)
{
	const size_t reserve = 200; /* for what follows the field */
	size_t used = 0;

	for (; *s; s++, used++) {
		unsigned char c = (unsigned char)*s;
		if (used >= max || *pos + reserve + 8 >= cap) {
			append(buf, cap, pos, "...");
			break;
		}
		if (c == '"' && json)
			append(buf, cap, pos, "\\\"");
		else if (c == '\\' && json)
			append(buf, cap, pos, "\\\\");
		else if (c == '\n')
			append(buf, cap, pos, "\\n");
		else if (c < 0x20 || c == 0x7f || (c >= 0x80 && json))
			append(buf, cap, pos, "\\u%04x", c);
		else
			buf[(*pos)++] = (char)c;
	}
	buf[*pos] = '\0';
}

static void append_prefix(char *buf, size_t cap, size_t *pos, enum log_level level, bool json)
{
	struct timespec ts;
	struct tm tm;
	char when[32];

	(void)clock_gettime(CLOCK_REALTIME, &ts);
	(void)gmtime_r(&ts.tv_sec, &tm);
	(void)strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	if (atomic_load(&journal))
		append(buf, cap, pos, "<%d>", syslog_priority[level]);
	if (json)
		append(buf, cap, pos, "{\"time\":\"%s.%03ldZ\",\"level\":\"%s\"", when,
		       ts.tv_nsec / 1000000L, log_level_name(level));
	else
		append(buf, cap, pos, "%s.%03ldZ %-5s", when, ts.tv_nsec / 1000000L,
		       log_level_name(level));
}

/* The optional fields: JSON members; in text only key= and phases= (the
 * execution id is in brackets after the level, and text messages already
 * say the route, status and duration). */
static void append_fields(char *buf, size_t cap, size_t *pos, const struct log_fields *f,
			  bool json)
{
	if (!f)
		return;
	if (f->key && *f->key) {
		append(buf, cap, pos, json ? ",\"key\":\"" : " key=");
		append_escaped(buf, cap, pos, f->key, 64, json);
		append(buf, cap, pos, json ? "\"" : "");
	}
	if (f->route && *f->route && json) {
		append(buf, cap, pos, json ? ",\"route\":\"" : " route=");
		append_escaped(buf, cap, pos, f->route, 64, json);
		append(buf, cap, pos, json ? "\"" : "");
	}
	if (f->status && json)
		append(buf, cap, pos, ",\"status\":%d", f->status);
	if (f->duration_ms > 0 && json)
		append(buf, cap, pos, ",\"duration_ms\":%.1f", f->duration_ms);
	if (f->phases && *f->phases && json) {
		/* "a=1.0,b=2.5" -> {"a":1.0,"b":2.5}; names are ours, values numbers */
		char copy[256], *save = NULL, *tok;
		bool first = true;
		(void)snprintf(copy, sizeof(copy), "%s", f->phases);
		append(buf, cap, pos, ",\"phases\":{");
		for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			char *eq = strchr(tok, '=');
			if (!eq)
				continue;
			*eq = '\0';
			append(buf, cap, pos, "%s\"%s\":%g", first ? "" : ",", tok, atof(eq + 1));
			first = false;
		}
		append(buf, cap, pos, "}");
	} else if (f->phases && *f->phases) {
		append(buf, cap, pos, " phases=%s", f->phases);
	}
}

static void emit(char *buf, size_t cap, size_t pos, bool json)
{
	if (json)
		append(buf, cap, &pos, "}");
	if (pos >= cap - 1)
		pos = cap - 2;
	buf[pos++] = '\n';
	(void)!write(STDERR_FILENO, buf, pos);
}

static void vlog(enum log_level level, const struct log_fields *f, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
static void vlog(enum log_level level, const struct log_fields *f, const char *fmt, va_list ap)
{
	char msg[LOG_LINE_MAX], line[LOG_LINE_MAX + 512];
	bool json = atomic_load(&line_format) == LOG_FORMAT_JSON;
	const char *exec_id = f ? f->exec_id : NULL;
	size_t pos = 0;

	if ((int)level < atomic_load(&min_level))
		return;
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	append_prefix(line, sizeof(line), &pos, level, json);
	if (json) {
		if (exec_id && *exec_id)
			append(line, sizeof(line), &pos, ",\"execution_id\":\"%s\"", exec_id);
		append_fields(line, sizeof(line), &pos, f, json);
		append(line, sizeof(line), &pos, ",\"msg\":\"");
		append_escaped(line, sizeof(line), &pos, msg, LOG_LINE_MAX, json);
		append(line, sizeof(line), &pos, "\"");
	} else {
		if (exec_id && *exec_id)
			append(line, sizeof(line), &pos, " [%s]", exec_id);
		append(line, sizeof(line), &pos, " ");
		append_escaped(line, sizeof(line), &pos, msg, LOG_LINE_MAX, json);
		append_fields(line, sizeof(line), &pos, f, json);
	}
	emit(line, sizeof(line), pos, json);
}

void log_with(enum log_level level, const struct log_fields *f, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, f, fmt, ap);
	va_end(ap);
}

void log_event(enum log_level level, const char *exec_id, const char *fmt, ...)
{
	struct log_fields f = { .exec_id = exec_id };
	va_list ap;

	va_start(ap, fmt);
	vlog(level, &f, fmt, ap);
	va_end(ap);
}

void log_request(const char *method, const char *path, int status, double duration_ms,
		 const char *remote, const char *exec_id, const char *route, const char *key)
{
	char line[LOG_LINE_MAX];
	bool json = atomic_load(&line_format) == LOG_FORMAT_JSON;
	size_t pos = 0;

	if (LOG_INFO < atomic_load(&min_level))
		return;
	append_prefix(line, sizeof(line), &pos, LOG_INFO, json);
	if (json) {
		append(line, sizeof(line), &pos, ",\"msg\":\"request\",\"event\":\"request\","
		       "\"method\":\"");
		append_escaped(line, sizeof(line), &pos, method, LOG_FIELD_MAX, json);
		append(line, sizeof(line), &pos, "\",\"path\":\"");
		append_escaped(line, sizeof(line), &pos, path, LOG_FIELD_MAX, json);
		append(line, sizeof(line), &pos,
		       "\",\"status\":%d,\"duration_ms\":%.1f,\"remote\":\"%s\"", status,
		       duration_ms, remote ? remote : "");
		if (exec_id && *exec_id)
			append(line, sizeof(line), &pos, ",\"execution_id\":\"%s\"", exec_id);
		append_fields(line, sizeof(line), &pos,
			      &(struct log_fields){ .route = route, .key = key }, json);
	} else {
		if (exec_id && *exec_id)
			append(line, sizeof(line), &pos, " [%s]", exec_id);
		append(line, sizeof(line), &pos, " ");
		append_escaped(line, sizeof(line), &pos, method, LOG_FIELD_MAX, json);
		append(line, sizeof(line), &pos, " ");
		append_escaped(line, sizeof(line), &pos, path, LOG_FIELD_MAX, json);
		append(line, sizeof(line), &pos, " %d %.1fms %s", status, duration_ms,
		       remote ? remote : "-");
		if (key && *key)
			append_fields(line, sizeof(line), &pos, &(struct log_fields){ .key = key },
				      json);
	}
	emit(line, sizeof(line), pos, json);
}
