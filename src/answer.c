/* The /execute answer, piece by piece (see answer.h). The answer is a list
 * of parts, each either literal text (formatted into a small scratch
 * buffer), an escaped string or base64 data; answer_read() walks it. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codeexecd/answer.h"
#include "codeexecd/base64.h"

enum part_kind { PART_TEXT, PART_STRING, PART_BASE64, PART_END };

struct answer {
	struct exec_result res;
	char exec_id[CXD_EXEC_ID_LEN + 1];
	size_t size;
	int step;               /* which part comes next (see next_part) */
	size_t file;            /* the file the current parts are about */
	enum part_kind kind;    /* the current part */
	const char *data;
	size_t len, pos;
	char scratch[256];
};

static const char hex[] = "0123456789abcdef";

/* The escape of c (cJSON's choice of escapes), its length in *n. */
static const char *escape_of(unsigned char c, char tmp[7], size_t *n)
{
	*n = 2;
	switch (c) {
	case '"': return "\\\"";
	case '\\': return "\\\\";
	case '\b': return "\\b";
	case '\f': return "\\f";
	case '\n': return "\\n";
	case '\r': return "\\r";
	case '\t': return "\\t";
	default:
		break;
	}
	if (c >= 0x20) {
		*n = 1;
		tmp[0] = (char)c;
		return tmp;
	}
	memcpy(tmp, "\\u00", 4);
	tmp[4] = hex[c >> 4];
	tmp[5] = hex[c & 15];
	*n = 6;
	return tmp;
}

size_t answer_escape(const char *s, size_t len, size_t *pos, char *out, size_t room)
{
	size_t i = *pos, w = 0, n;
	char tmp[7];

	while (i < len) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\') {
			if (w == room)
				break;
			out[w++] = (char)c;
			i++;
			continue;
		}
		const char *e = escape_of(c, tmp, &n);
		if (w + n > room)
			break;
		memcpy(out + w, e, n);
		w += n;
		i++;
	}
	*pos = i;
	return w;
}

size_t answer_escaped_len(const char *s, size_t len)
{
	size_t total = 0, n;
	char tmp[7];

	for (size_t i = 0; i < len; i++) {
		(void)escape_of((unsigned char)s[i], tmp, &n);
		total += n;
	}
	return total;
}

static void set_text(struct answer *a, const char *fmt_result)
{
	a->kind = PART_TEXT;
	a->data = a->scratch;
	a->len = strlen(fmt_result);
	a->pos = 0;
}

static void set_part(struct answer *a, enum part_kind kind, const void *data, size_t len)
{
	a->kind = kind;
	a->data = data;
	a->len = len;
	a->pos = 0;
}

/* Sets up the part after the current one. The steps: 0 head, 1 output,
 * 2 between, 3 error, 4 middle, then per file 5 name, 6 data, 7 its end,
 * and 8 the tail. */
static void next_part(struct answer *a)
{
	const struct exec_result *r = &a->res;

	switch (a->step++) {
	case 0:
		(void)snprintf(a->scratch, sizeof(a->scratch), "{\"success\":%s,\"output\":\"",
			       r->success ? "true" : "false");
		set_text(a, a->scratch);
		return;
	case 1:
		set_part(a, PART_STRING, r->output ? r->output : "", r->output ? r->output_len : 0);
		return;
	case 2:
		(void)snprintf(a->scratch, sizeof(a->scratch), "\",\"error\":\"");
		set_text(a, a->scratch);
		return;
	case 3:
		set_part(a, PART_STRING, r->error ? r->error : "", r->error ? r->error_len : 0);
		return;
	case 4:
		(void)snprintf(a->scratch, sizeof(a->scratch),
			       "\",\"exit_code\":%d,\"execution_id\":\"%s\",\"output_files\":%s",
			       r->exit_code, a->exec_id, r->nfiles ? "{\"" : "null");
		set_text(a, a->scratch);
		if (r->nfiles == 0)
			a->step = 8;
		return;
	case 5:
		set_part(a, PART_STRING, r->files[a->file].name, strlen(r->files[a->file].name));
		return;
	case 6:
		(void)snprintf(a->scratch, sizeof(a->scratch), "\":\"");
		set_text(a, a->scratch);
		return;
	case 7:
		set_part(a, PART_BASE64, r->files[a->file].data, r->files[a->file].len);
		return;
	case 8: {
		bool more = a->file + 1 < r->nfiles;
		if (r->nfiles) {
			/* the file is written: its memory goes now */
			free(a->res.files[a->file].data);
			a->res.files[a->file].data = NULL;
		}
		(void)snprintf(a->scratch, sizeof(a->scratch), "%s", more ? "\",\"" : r->nfiles ? "\"}" : "");
		set_text(a, a->scratch);
		if (more) {
			a->file++;
			a->step = 5;
		}
		return;
	}
	case 9:
		(void)snprintf(a->scratch, sizeof(a->scratch),
			       ",\"timed_out\":%s,\"oom_killed\":%s,\"output_truncated\":%s,"
			       "\"duration_ms\":%ld}",
			       r->timed_out ? "true" : "false", r->oom_killed ? "true" : "false",
			       r->output_truncated ? "true" : "false", r->duration_ms);
		set_text(a, a->scratch);
		return;
	default:
		set_part(a, PART_END, NULL, 0);
		return;
	}
}

/* The fixed parts' text, measured by producing it once. */
static size_t text_parts_len(struct answer *a)
{
	size_t total = 0;
	struct answer copy = *a;

	copy.res.files = NULL; /* step 8 must not free anything here */
	copy.res.nfiles = a->res.nfiles;
	for (copy.step = 0;;) {
		int step = copy.step;
		if (step == 5 || step == 7) {
			copy.step++;
			continue;
		}
		if (step == 1 || step == 3) {
			copy.step++;
			continue;
		}
		if (step == 8) {
			bool more = copy.file + 1 < copy.res.nfiles;
			total += more ? 3 : copy.res.nfiles ? 2 : 0;
			copy.step = more ? 5 : 9;
			copy.file += more;
			continue;
		}
		next_part(&copy);
		if (copy.kind == PART_END)
			return total;
		total += copy.len;
	}
}

struct answer *answer_new(struct exec_result *res, const char *exec_id)
{
	struct answer *a = calloc(1, sizeof(*a));

	if (!a) {
		exec_result_free(res);
		return NULL;
	}
	a->res = *res;
	memset(res, 0, sizeof(*res));
	(void)snprintf(a->exec_id, sizeof(a->exec_id), "%s", exec_id);
	a->size = text_parts_len(a);
	if (a->res.output)
		a->size += answer_escaped_len(a->res.output, a->res.output_len);
	if (a->res.error)
		a->size += answer_escaped_len(a->res.error, a->res.error_len);
	for (size_t i = 0; i < a->res.nfiles; i++)
		a->size += answer_escaped_len(a->res.files[i].name, strlen(a->res.files[i].name)) +
			   base64_encoded_len(a->res.files[i].len);
	a->step = 0;
	a->file = 0;
	next_part(a);
	return a;
}

size_t answer_size(const struct answer *a)
{
	return a->size;
}

size_t answer_read(struct answer *a, char *buf, size_t room)
{
	size_t w = 0;

	while (w + 8 <= room && a->kind != PART_END) {
		size_t n;
		if (a->pos >= a->len) {
			next_part(a);
			continue;
		}
		switch (a->kind) {
		case PART_TEXT:
			n = a->len - a->pos < room - w ? a->len - a->pos : room - w;
			memcpy(buf + w, a->data + a->pos, n);
			a->pos += n;
			break;
		case PART_STRING:
			n = answer_escape(a->data, a->len, &a->pos, buf + w, room - w);
			break;
		case PART_BASE64:
			n = base64_encode_part((const unsigned char *)a->data, a->len, &a->pos, buf + w,
					       room - w);
			break;
		default:
			n = 0;
			break;
		}
		w += n;
		if (n == 0)
			break;
	}
	return w;
}

void answer_free(struct answer *a)
{
	if (!a)
		return;
	exec_result_free(&a->res);
	free(a);
}
