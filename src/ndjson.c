/* The NDJSON lines of /execute/stream (see ndjson.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "codeexecd/answer.h"
#include "codeexecd/base64.h"
#include "codeexecd/ndjson.h"
#include "codeexecd/utf8.h"

void ndjson_init(struct ndjson *w, ndjson_out out, void *ctx)
{
	memset(w, 0, sizeof(*w));
	w->out = out;
	w->ctx = ctx;
}

/* Hands the buffered bytes to out(). */
static int emit(struct ndjson *w)
{
	if (w->len > 0 && !w->failed)
		w->failed = w->out(w->ctx, w->buf, w->len);
	w->len = 0;
	return w->failed;
}

static int put(struct ndjson *w, const char *s, size_t n)
{
	while (n > 0 && !w->failed) {
		size_t take = n < sizeof(w->buf) - w->len ? n : sizeof(w->buf) - w->len;
		memcpy(w->buf + w->len, s, take);
		w->len += take;
		s += take;
		n -= take;
		if (w->len == sizeof(w->buf))
			(void)emit(w);
	}
	return w->failed;
}

/* s[0..len) (valid UTF-8) as a JSON string's inside. */
static int put_escaped(struct ndjson *w, const char *s, size_t len)
{
	size_t pos = 0;

	while (pos < len && !w->failed) {
		if (sizeof(w->buf) - w->len < 8)
			(void)emit(w);
		w->len += answer_escape(s, len, &pos, w->buf + w->len, sizeof(w->buf) - w->len);
	}
	return w->failed;
}

/* Repairs raw bytes and writes them escaped. */
static int put_text(struct ndjson *w, const char *s, size_t len)
{
	size_t n;
	char *clean = utf8_sanitize(s, len, &n);

	if (!clean)
		return w->failed = -ENOMEM;
	(void)put_escaped(w, clean, n);
	free(clean);
	return w->failed;
}

/* {"type":"<type>","data":"<text>"} */
static int text_line(struct ndjson *w, const char *type, const char *s, size_t len)
{
	char head[64];
	int n = snprintf(head, sizeof(head), "{\"type\":\"%s\",\"data\":\"", type);

	if (put(w, head, (size_t)n) == 0 && put_text(w, s, len) == 0 && put(w, "\"}\n", 3) == 0)
		(void)emit(w);
	return w->failed;
}

size_t ndjson_incomplete_tail(const unsigned char *s, size_t len)
{
	for (size_t back = 1; back <= 3 && back <= len; back++) {
		unsigned char c = s[len - back];
		size_t need;
		if ((c & 0xc0) == 0x80)
			continue; /* a continuation byte: look further back */
		need = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 && c <= 0xef ? 3
			: c >= 0xc2 && c <= 0xdf ? 2 : 0;
		return need > back ? back : 0;
	}
	return 0;
}

int ndjson_chunk(struct ndjson *w, bool is_stderr, const char *data, size_t len)
{
	size_t held = w->nheld[is_stderr], all = held + len, keep;
	unsigned char *joined;

	if (w->failed)
		return w->failed;
	joined = malloc(all ? all : 1);
	if (!joined)
		return w->failed = -ENOMEM;
	memcpy(joined, w->held[is_stderr], held);
	memcpy(joined + held, data, len);
	keep = ndjson_incomplete_tail(joined, all);
	memcpy(w->held[is_stderr], joined + all - keep, keep);
	w->nheld[is_stderr] = keep;
	if (all > keep)
		(void)text_line(w, is_stderr ? "stderr" : "stdout", (const char *)joined, all - keep);
	free(joined);
	return w->failed;
}

int ndjson_flush(struct ndjson *w)
{
	for (int i = 0; i < 2 && !w->failed; i++) {
		if (w->nheld[i] == 0)
			continue;
		(void)text_line(w, i ? "stderr" : "stdout", (const char *)w->held[i], w->nheld[i]);
		w->nheld[i] = 0;
	}
	return w->failed;
}

int ndjson_note(struct ndjson *w, const char *text, size_t len)
{
	return text_line(w, "note", text, len);
}

int ndjson_file(struct ndjson *w, const char *name, const unsigned char *data, size_t len)
{
	static const char head[] = "{\"type\":\"file\",\"name\":\"", mid[] = "\",\"data\":\"";
	size_t pos = 0;

	if (put(w, head, sizeof(head) - 1) != 0 || put_text(w, name, strlen(name)) != 0 ||
	    put(w, mid, sizeof(mid) - 1) != 0)
		return w->failed;
	while (pos < len && !w->failed) {
		if (sizeof(w->buf) - w->len < 8)
			(void)emit(w);
		w->len += base64_encode_part(data, len, &pos, w->buf + w->len,
					     sizeof(w->buf) - w->len);
	}
	if (put(w, "\"}\n", 3) == 0)
		(void)emit(w);
	return w->failed;
}

int ndjson_result(struct ndjson *w, const struct exec_result *res, const char *exec_id)
{
	cJSON *obj = cJSON_CreateObject();
	char *text;

	if (!obj)
		return w->failed = -ENOMEM;
	cJSON_AddStringToObject(obj, "type", "result");
	cJSON_AddBoolToObject(obj, "success", res->success);
	cJSON_AddNumberToObject(obj, "exit_code", res->exit_code);
	cJSON_AddStringToObject(obj, "execution_id", exec_id);
	cJSON_AddStringToObject(obj, "error", res->error ? res->error : "");
	cJSON_AddBoolToObject(obj, "timed_out", res->timed_out);
	cJSON_AddBoolToObject(obj, "oom_killed", res->oom_killed);
	cJSON_AddBoolToObject(obj, "output_truncated", res->output_truncated);
	cJSON_AddNumberToObject(obj, "duration_ms", (double)res->duration_ms);
	text = cJSON_PrintUnformatted(obj);
	cJSON_Delete(obj);
	if (!text)
		return w->failed = -ENOMEM;
	if (put(w, text, strlen(text)) == 0 && put(w, "\n", 1) == 0)
		(void)emit(w);
	free(text);
	return w->failed;
}
