/* Logging: one line per event, text or JSON lines, on stderr.
 *
 * The level and format are set once by main() before any thread starts and
 * only read afterwards. Each line is built in a local buffer and written with
 * one write(2), so lines from concurrent threads never interleave. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "codeexecd/log.h"

#define LOG_LINE_MAX 2048
#define LOG_FIELD_MAX 512   /* bytes of a method or path we log */

static enum log_level min_level = LOG_INFO;
static enum log_format line_format = LOG_FORMAT_TEXT;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void log_setup(enum log_level level, enum log_format format)
{
	min_level = level;
	line_format = format;
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
static void append_escaped(char *buf, size_t cap, size_t *pos, const char *s, size_t max)
{
	const size_t reserve = 160; /* for what follows the field */
	size_t used = 0;

	for (; *s; s++, used++) {
		unsigned char c = (unsigned char)*s;
		if (used >= max || *pos + reserve + 8 >= cap) {
			append(buf, cap, pos, "...");
			break;
		}
		if (c == '"' && line_format == LOG_FORMAT_JSON)
			append(buf, cap, pos, "\\\"");
		else if (c == '\\' && line_format == LOG_FORMAT_JSON)
			append(buf, cap, pos, "\\\\");
		else if (c == '\n')
			append(buf, cap, pos, "\\n");
		else if (c < 0x20 || c == 0x7f || (c >= 0x80 && line_format == LOG_FORMAT_JSON))
			append(buf, cap, pos, "\\u%04x", c);
		else
			buf[(*pos)++] = (char)c;
	}
	buf[*pos] = '\0';
}

static void append_prefix(char *buf, size_t cap, size_t *pos, enum log_level level)
{
	struct timespec ts;
	struct tm tm;
	char when[32];

	(void)clock_gettime(CLOCK_REALTIME, &ts);
	(void)gmtime_r(&ts.tv_sec, &tm);
	(void)strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	if (line_format == LOG_FORMAT_JSON)
		append(buf, cap, pos, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\"", when,
		       ts.tv_nsec / 1000000L, log_level_name(level));
	else
		append(buf, cap, pos, "%s.%03ldZ %-5s", when, ts.tv_nsec / 1000000L,
		       log_level_name(level));
}

static void emit(char *buf, size_t cap, size_t pos)
{
	if (line_format == LOG_FORMAT_JSON)
		append(buf, cap, &pos, "}");
	if (pos >= cap - 1)
		pos = cap - 2;
	buf[pos++] = '\n';
	(void)!write(STDERR_FILENO, buf, pos);
}

void log_event(enum log_level level, const char *exec_id, const char *fmt, ...)
{
	char msg[LOG_LINE_MAX], line[LOG_LINE_MAX + 256];
	size_t pos = 0;
	va_list ap;

	if (level < min_level)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	append_prefix(line, sizeof(line), &pos, level);
	if (line_format == LOG_FORMAT_JSON) {
		if (exec_id && *exec_id)
			append(line, sizeof(line), &pos, ",\"execution_id\":\"%s\"", exec_id);
		append(line, sizeof(line), &pos, ",\"msg\":\"");
		append_escaped(line, sizeof(line), &pos, msg, LOG_LINE_MAX);
		append(line, sizeof(line), &pos, "\"");
	} else {
		if (exec_id && *exec_id)
			append(line, sizeof(line), &pos, " [%s]", exec_id);
		append(line, sizeof(line), &pos, " ");
		append_escaped(line, sizeof(line), &pos, msg, LOG_LINE_MAX);
	}
	emit(line, sizeof(line), pos);
}

void log_request(const char *method, const char *path, int status, double duration_ms,
		 const char *remote, const char *exec_id)
{
	char line[LOG_LINE_MAX];
	size_t pos = 0;

	if (LOG_INFO < min_level)
		return;
	append_prefix(line, sizeof(line), &pos, LOG_INFO);
	if (line_format == LOG_FORMAT_JSON) {
		append(line, sizeof(line), &pos, ",\"event\":\"request\",\"method\":\"");
		append_escaped(line, sizeof(line), &pos, method, LOG_FIELD_MAX);
		append(line, sizeof(line), &pos, "\",\"path\":\"");
		append_escaped(line, sizeof(line), &pos, path, LOG_FIELD_MAX);
		append(line, sizeof(line), &pos,
		       "\",\"status\":%d,\"duration_ms\":%.1f,\"remote\":\"%s\"", status,
		       duration_ms, remote ? remote : "");
		if (exec_id && *exec_id)
			append(line, sizeof(line), &pos, ",\"execution_id\":\"%s\"", exec_id);
	} else {
		if (exec_id && *exec_id)
			append(line, sizeof(line), &pos, " [%s]", exec_id);
		append(line, sizeof(line), &pos, " ");
		append_escaped(line, sizeof(line), &pos, method, LOG_FIELD_MAX);
		append(line, sizeof(line), &pos, " ");
		append_escaped(line, sizeof(line), &pos, path, LOG_FIELD_MAX);
		append(line, sizeof(line), &pos, " %d %.1fms %s", status, duration_ms,
		       remote ? remote : "-");
	}
	emit(line, sizeof(line), pos);
}
