/* Validation of an execution request, as FastAPI and pydantic v2 answered
 * for the old service: 422 with {"detail":[{"loc":[...],"msg":"...",
 * "type":"..."}]}, every error of a body reported together, unknown fields
 * ignored. Where the old service accepted bad input silently (invalid
 * base64 became an empty file), codeexecd refuses it. The body is scanned
 * in place (json_scan.h): only the request's values are copied out. Pure. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codeexecd/api.h"
#include "codeexecd/base64.h"
#include "codeexecd/json_scan.h"
#include "codeexecd/utf8.h"

/* Appends {"loc": loc, "msg": msg, "type": type}; loc is consumed. */
static void append_error(cJSON *errors, cJSON *loc, const char *type, const char *msg)
{
	cJSON *e = cJSON_CreateObject();

	if (!e || !loc) {
		cJSON_Delete(e);
		cJSON_Delete(loc);
		return;
	}
	cJSON_AddItemToObject(e, "loc", loc); /* e owns loc */
	cJSON_AddStringToObject(e, "msg", msg);
	cJSON_AddStringToObject(e, "type", type);
	cJSON_AddItemToArray(errors, e);      /* errors owns e */
}

/* Appends {"loc": ["body", key?, sub?], "msg": msg, "type": type}. key or
 * sub may be NULL; offset >= 0 appends an integer instead of key. */
static void add_error(cJSON *errors, const char *key, const char *sub, long offset,
		      const char *type, const char *msg)
{
	cJSON *loc = cJSON_CreateArray();

	if (loc) {
		cJSON_AddItemToArray(loc, cJSON_CreateString("body"));
		if (offset >= 0)
			cJSON_AddItemToArray(loc, cJSON_CreateNumber((double)offset));
		if (key)
			cJSON_AddItemToArray(loc, cJSON_CreateString(key));
		if (sub)
			cJSON_AddItemToArray(loc, cJSON_CreateString(sub));
	}
	append_error(errors, loc, type, msg);
}

/* Appends {"loc": ["body", key, index], ...}: an item of a list field. */
static void add_error_at(cJSON *errors, const char *key, long index, const char *type,
			 const char *msg)
{
	cJSON *loc = cJSON_CreateArray();

	if (loc) {
		cJSON_AddItemToArray(loc, cJSON_CreateString("body"));
		cJSON_AddItemToArray(loc, cJSON_CreateString(key));
		cJSON_AddItemToArray(loc, cJSON_CreateNumber((double)index));
	}
	append_error(errors, loc, type, msg);
}

/* Checks body as one JSON value, without building it; on failure adds
 * json_invalid with the byte offset, as FastAPI does. */
static int scan_body(const char *body, size_t len, struct json_span *root, cJSON *errors)
{
	size_t bad = 0, skip = 0;

	if (len >= 3 && memcmp(body, "\xef\xbb\xbf", 3) == 0)
		skip = 3; /* a UTF-8 byte order mark, which Python's json accepts */
	if (memchr(body, '\0', len)) {
		bad = (size_t)((const char *)memchr(body, '\0', len) - body);
		goto invalid;
	}
	if (!utf8_valid(body + skip, len - skip, &bad)) {
		bad += skip;
		goto invalid;
	}
	if (json_scan(body + skip, len - skip, root, &bad) != 0) {
		bad += skip;
		goto invalid;
	}
	root->off += skip;
	return 0;
invalid:
	add_error(errors, NULL, NULL, (long)bad, "json_invalid", "JSON decode error");
	return -EINVAL;
}

/* One member of the body or of "files": its decoded key and its value. */
struct member {
	char *key;
	size_t key_len;
	struct json_span value;
};

static void members_free(struct member *m, size_t n)
{
	for (size_t i = 0; m && i < n; i++)
		free(m[i].key);
	free(m);
}

/* A string value decoded; NUL characters (which the runner's files and
 * Python's source cannot hold) are refused at loc. Returns 0, or -EINVAL
 * with the error added. */
static int decode_text(const char *body, const struct json_span *v, char **out, size_t *len,
		       cJSON *errors, const char *key, const char *sub)
{
	if (json_string_decode(body, v, out, len) != 0) {
		add_error(errors, key, sub, -1, "value_error", "Out of memory");
		return -EINVAL;
	}
	if (memchr(*out, '\0', *len)) {
		free(*out);
		*out = NULL;
		add_error(errors, key, sub, -1, "value_error",
			  "Value error, NUL characters (\\u0000) are not allowed in strings");
		return -EINVAL;
	}
	return 0;
}

/* The name of another file that would have to be a directory for name to
 * exist, or the reverse ("a" and "a/b"); NULL when there is none. */
static const char *path_conflict(const struct member *files, size_t n, size_t self)
{
	size_t len = files[self].key_len;

	for (size_t i = 0; i < n; i++) {
		size_t m = files[i].key_len;
		if (i == self || m == len)
			continue;
		const char *shorter = m < len ? files[i].key : files[self].key;
		const char *longer = m < len ? files[self].key : files[i].key;
		size_t k = m < len ? m : len;
		if (memcmp(shorter, longer, k) == 0 && longer[k] == '/')
			return files[i].key;
	}
	return NULL;
}

/* NULL when name is an acceptable relative file name, else the reason. */
static const char *file_name_problem(const char *name, size_t len)
{
	const char *seg = name;

	if (len == 0)
		return "file name is empty";
	if (len > CXD_FILE_NAME_MAX)
		return "file name is longer than 255 bytes";
	if (name[0] == '/')
		return "file name must be relative, not absolute";
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return "file name contains a control character";
	}
	for (;;) {
		size_t n = strcspn(seg, "/");
		if (n == 0)
			return "file name has an empty path segment";
		if (n == 1 && seg[0] == '.')
			return "file name has a '.' path segment";
		if (n == 2 && seg[0] == '.' && seg[1] == '.')
			return "file name has a '..' path segment";
		if (seg[n] == '\0')
			return NULL;
		seg += n + 1;
	}
}

/* A name as it can appear in a loc: a NUL (which a C string cannot hold)
 * is shown as the text \u0000. */
static void loc_name(const struct member *m, char *out, size_t outlen)
{
	size_t w = 0;

	for (size_t i = 0; i < m->key_len && w + 7 < outlen; i++) {
		if (m->key[i] == '\0') {
			memcpy(out + w, "\\u0000", 6);
			w += 6;
		} else {
			out[w++] = m->key[i];
		}
	}
	out[w] = '\0';
}

/* Base64 content: straight from the body when the string has no escapes
 * (the usual case: no copy of the text), else decoded first. */
static int decode_content(const char *body, const struct json_span *v, struct exec_file *out)
{
	char *text = NULL;
	size_t len;
	int rc;

	if (!v->escaped)
		return base64_decode(body + v->off + 1, v->len - 2, &out->data, &out->len);
	if (json_string_decode(body, v, &text, &len) != 0)
		return -ENOMEM;
	rc = memchr(text, '\0', len) ? -EINVAL : base64_decode(text, len, &out->data, &out->len);
	free(text);
	return rc;
}

static void parse_file(const char *body, const struct member *files, size_t n, size_t self,
		       struct exec_file *out, cJSON *errors)
{
	const struct member *item = &files[self];
	const char *problem = file_name_problem(item->key, item->key_len), *other;
	char msg[CXD_FILE_NAME_MAX * 7 + 128], name[CXD_FILE_NAME_MAX * 7 + 8];

	loc_name(item, name, sizeof(name));
	if (problem) {
		(void)snprintf(msg, sizeof(msg), "Value error, %s", problem);
		add_error(errors, "files", name, -1, "value_error", msg);
		return;
	}
	if ((other = path_conflict(files, n, self))) {
		(void)snprintf(msg, sizeof(msg),
			       "Value error, file name conflicts with '%s' (one would have to be a "
			       "file and a directory)", other);
		add_error(errors, "files", name, -1, "value_error", msg);
		return;
	}
	if (item->value.kind != JSON_KIND_STRING) {
		add_error(errors, "files", name, -1, "string_type", "Input should be a valid string");
		return;
	}
	int rc = decode_content(body, &item->value, out);
	if (rc == -ENOMEM) {
		add_error(errors, "files", name, -1, "value_error", "Out of memory");
		return;
	}
	if (rc != 0) {
		add_error(errors, "files", name, -1, "base64_decode",
			  "Base64 decoding error: the content is not valid base64");
		return;
	}
	out->name = strdup(item->key);
	if (!out->name)
		add_error(errors, "files", name, -1, "value_error", "Out of memory");
}

/* The members of an object with their keys decoded (n of them, checked
 * against max first so that a huge object costs nothing). */
static int collect_members(const char *body, const struct json_span *obj, size_t n,
			   struct member **out)
{
	struct member *m = calloc(n ? n : 1, sizeof(*m));
	struct json_span key;
	size_t pos = 0, i = 0;

	if (!m)
		return -ENOMEM;
	while (i < n && json_object_next(body, obj, &pos, &key, &m[i].value)) {
		if (json_string_decode(body, &key, &m[i].key, &m[i].key_len) != 0) {
			members_free(m, i);
			return -ENOMEM;
		}
		i++;
	}
	*out = m;
	return 0;
}

/* True when a later member has the same name (the later one wins, as in
 * Python's json). */
static bool overridden(const struct member *m, size_t n, size_t self)
{
	for (size_t i = self + 1; i < n; i++)
		if (m[i].key_len == m[self].key_len && memcmp(m[i].key, m[self].key, m[i].key_len) == 0)
			return true;
	return false;
}

static void parse_files(const char *body, const struct json_span *files,
			const struct config *cfg, struct exec_request *out, cJSON *errors)
{
	struct member *m = NULL;
	size_t n;
	char msg[128];

	if (!files || files->kind == JSON_KIND_NULL)
		return;
	if (files->kind != JSON_KIND_OBJECT) {
		add_error(errors, "files", NULL, -1, "dict_type", "Input should be a valid dictionary");
		return;
	}
	n = json_object_count(body, files);
	if (n > (size_t)cfg->request.max_files) {
		(void)snprintf(msg, sizeof(msg),
			       "Dictionary should have at most %d items after validation, not %zu",
			       cfg->request.max_files, n);
		add_error(errors, "files", NULL, -1, "too_long", msg);
		return;
	}
	if (n == 0)
		return;
	out->files = calloc(n, sizeof(*out->files));
	if (!out->files || collect_members(body, files, n, &m) != 0) {
		add_error(errors, "files", NULL, -1, "value_error", "Out of memory");
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (!overridden(m, n, i))
			parse_file(body, m, n, i, &out->files[out->nfiles++], errors);
	members_free(m, n);
}

/* A small value (a number) as cJSON reads it. */
static cJSON *parse_small(const char *body, const struct json_span *v)
{
	return cJSON_ParseWithLength(body + v->off, v->len);
}

static void parse_timeout(const char *body, const struct json_span *v, const struct config *cfg,
			  struct exec_request *out, cJSON *errors)
{
	char msg[96];
	cJSON *t;

	if (!v || v->kind == JSON_KIND_NULL)
		return;
	t = v->kind == JSON_KIND_NUMBER ? parse_small(body, v) : NULL;
	if (!cJSON_IsNumber(t) || t->valuedouble != floor(t->valuedouble)) {
		add_error(errors, "timeout", NULL, -1, "int_type", "Input should be a valid integer");
	} else if (t->valuedouble < 1) {
		add_error(errors, "timeout", NULL, -1, "greater_than_equal",
			  "Input should be greater than or equal to 1");
	} else if (t->valuedouble > cfg->execution.max_timeout_seconds) {
		(void)snprintf(msg, sizeof(msg), "Input should be less than or equal to %d",
			       cfg->execution.max_timeout_seconds);
		add_error(errors, "timeout", NULL, -1, "less_than_equal", msg);
	} else {
		out->timeout_seconds = (int)t->valuedouble;
	}
	cJSON_Delete(t);
}

/* capture_figures: a boolean or null (FastAPI's bool: true/false only). */
static void parse_capture_figures(const char *body, const struct json_span *v,
				  struct exec_request *out, cJSON *errors)
{
	if (!v || v->kind == JSON_KIND_NULL)
		return;
	if (v->kind == JSON_KIND_TRUE || v->kind == JSON_KIND_FALSE)
		out->capture_figures = v->kind == JSON_KIND_TRUE ? EXEC_FIGURES_ON
								  : EXEC_FIGURES_OFF;
	else
		add_error(errors, "capture_figures", NULL, -1, "bool_type",
			  "Input should be a valid boolean");
	(void)body;
}

static void parse_stdin(const char *body, const struct json_span *v, const struct config *cfg,
			struct exec_request *out, cJSON *errors)
{
	char msg[96];

	if (!v || v->kind == JSON_KIND_NULL)
		return;
	if (v->kind != JSON_KIND_STRING) {
		add_error(errors, "stdin", NULL, -1, "string_type", "Input should be a valid string");
		return;
	}
	if (decode_text(body, v, &out->stdin_data, &out->stdin_len, errors, "stdin", NULL) != 0)
		return;
	if (out->stdin_len > (size_t)cfg->request.max_stdin_bytes) {
		(void)snprintf(msg, sizeof(msg), "String should have at most %ld bytes",
			       cfg->request.max_stdin_bytes);
		add_error(errors, "stdin", NULL, -1, "string_too_long", msg);
		free(out->stdin_data);
		out->stdin_data = NULL;
		out->stdin_len = 0;
	}
}

static void parse_output_include(const char *body, const struct json_span *v,
				 struct exec_request *out, cJSON *errors)
{
	struct json_span it;
	char msg[96];
	size_t n, pos = 0;

	if (!v || v->kind == JSON_KIND_NULL)
		return;
	if (v->kind != JSON_KIND_ARRAY) {
		add_error(errors, "output_include", NULL, -1, "list_type",
			  "Input should be a valid list");
		return;
	}
	n = json_array_count(body, v);
	if (n > CXD_INCLUDE_PATTERNS_MAX) {
		(void)snprintf(msg, sizeof(msg),
			       "List should have at most %d items after validation, not %zu",
			       CXD_INCLUDE_PATTERNS_MAX, n);
		add_error(errors, "output_include", NULL, -1, "too_long", msg);
		return;
	}
	out->has_output_include = true;
	out->output_include = calloc(n + 1, sizeof(*out->output_include));
	if (!out->output_include) {
		add_error(errors, "output_include", NULL, -1, "value_error", "Out of memory");
		return;
	}
	while (json_array_next(body, v, &pos, &it)) {
		long at = (long)out->noutput_include;
		char *text = NULL;
		size_t len = 0;

		if (it.kind != JSON_KIND_STRING) {
			add_error_at(errors, "output_include", at, "string_type",
				     "Input should be a valid string");
		} else if (json_string_decode(body, &it, &text, &len) != 0) {
			add_error_at(errors, "output_include", at, "value_error", "Out of memory");
		} else if (len == 0) {
			add_error_at(errors, "output_include", at, "string_too_short",
				     "String should have at least 1 character");
		} else if (len >= CXD_PATTERN_MAX) {
			(void)snprintf(msg, sizeof(msg), "String should have at most %d characters",
				       CXD_PATTERN_MAX - 1);
			add_error_at(errors, "output_include", at, "string_too_long", msg);
		} else if (memchr(text, '\0', len)) {
			add_error_at(errors, "output_include", at, "value_error",
				     "Value error, NUL characters (\\u0000) are not allowed in strings");
		} else {
			out->output_include[at] = text;
			text = NULL;
		}
		free(text);
		out->noutput_include++;
	}
}

static void parse_code(const char *body, const struct json_span *v, struct exec_request *out,
		       bool required, cJSON *errors)
{
	if (!v && !required) {
		out->code = strdup(""); /* a session's opening: the files alone */
		if (!out->code)
			add_error(errors, "code", NULL, -1, "value_error", "Out of memory");
		return;
	}
	if (!v) {
		add_error(errors, "code", NULL, -1, "missing", "Field required");
		return;
	}
	if (v->kind != JSON_KIND_STRING) {
		add_error(errors, "code", NULL, -1, "string_type", "Input should be a valid string");
		return;
	}
	(void)decode_text(body, v, &out->code, &out->code_len, errors, "code", NULL);
}

/* The request's known members (the last of each name, as Python's json
 * takes duplicates); the others are skipped unread. */
struct known {
	struct json_span code, files, timeout, stdin_, include, figures;
	bool has_code, has_files, has_timeout, has_stdin, has_include, has_figures;
};

static void find_known(const char *body, const struct json_span *root, struct known *k)
{
	struct json_span key, value;
	size_t pos = 0;

	memset(k, 0, sizeof(*k));
	while (json_object_next(body, root, &pos, &key, &value)) {
		if (json_string_is(body, &key, "code")) {
			k->code = value;
			k->has_code = true;
		} else if (json_string_is(body, &key, "files")) {
			k->files = value;
			k->has_files = true;
		} else if (json_string_is(body, &key, "timeout")) {
			k->timeout = value;
			k->has_timeout = true;
		} else if (json_string_is(body, &key, "stdin")) {
			k->stdin_ = value;
			k->has_stdin = true;
		} else if (json_string_is(body, &key, "output_include")) {
			k->include = value;
			k->has_include = true;
		} else if (json_string_is(body, &key, "capture_figures")) {
			k->figures = value;
			k->has_figures = true;
		}
	}
}

int api_parse_execute(const char *body, size_t len, const struct config *cfg,
		      struct exec_request *out, cJSON **errors_out)
{
	return api_parse_request(body, len, cfg, true, out, errors_out);
}

int api_parse_request(const char *body, size_t len, const struct config *cfg, bool code_required,
		      struct exec_request *out, cJSON **errors_out)
{
	cJSON *errors = cJSON_CreateArray();
	struct json_span root;
	struct known k;
	int rc = -EINVAL;

	memset(out, 0, sizeof(*out));
	if (!errors)
		return -ENOMEM;
	if (!body || len == 0) {
		add_error(errors, NULL, NULL, -1, "missing", "Field required");
		goto out;
	}
	if (scan_body(body, len, &root, errors) != 0)
		goto out;
	if (root.kind != JSON_KIND_OBJECT) {
		add_error(errors, NULL, NULL, -1, "model_attributes_type",
			  "Input should be a valid dictionary or object to extract fields from");
		goto out;
	}
	find_known(body, &root, &k);
	parse_code(body, k.has_code ? &k.code : NULL, out, code_required, errors);
	parse_files(body, k.has_files ? &k.files : NULL, cfg, out, errors);
	parse_timeout(body, k.has_timeout ? &k.timeout : NULL, cfg, out, errors);
	parse_stdin(body, k.has_stdin ? &k.stdin_ : NULL, cfg, out, errors);
	parse_output_include(body, k.has_include ? &k.include : NULL, out, errors);
	parse_capture_figures(body, k.has_figures ? &k.figures : NULL, out, errors);
	if (cJSON_GetArraySize(errors) == 0)
		rc = 0;
out:
	if (rc == 0) {
		cJSON_Delete(errors);
		*errors_out = NULL;
	} else {
		exec_request_free(out);
		*errors_out = errors; /* the caller owns the detail array */
	}
	return rc;
}

/* FastAPI decodes the body as JSON only for application/json or
 * application/<x>+json (as Python's email package splits the type) and
 * validates the raw bytes otherwise. Unlike FastAPI, a missing
 * Content-Type is not JSON either: a browser sends none (or text/plain)
 * in a cross-origin "simple" request, which needs no CORS preflight. */
bool api_is_json_type(const char *content_type)
{
	char type[128];
	const char *slash, *sub;
	size_t n;

	if (!content_type)
		return false;
	n = strcspn(content_type, ";");
	while (n > 0 && (content_type[n - 1] == ' ' || content_type[n - 1] == '\t'))
		n--;
	while (n > 0 && (*content_type == ' ' || *content_type == '\t')) {
		content_type++;
		n--;
	}
	if (n == 0 || n >= sizeof(type))
		return false;
	for (size_t i = 0; i < n; i++)
		type[i] = (char)tolower((unsigned char)content_type[i]);
	type[n] = '\0';
	slash = strchr(type, '/');
	if (!slash || strchr(slash + 1, '/') || strncmp(type, "application/", 12) != 0)
		return false;
	sub = slash + 1;
	n = strlen(sub);
	return strcmp(sub, "json") == 0 || (n >= 5 && strcmp(sub + n - 5, "+json") == 0);
}

cJSON *api_errors_not_json(size_t body_len)
{
	cJSON *errors = cJSON_CreateArray();

	if (!errors)
		return NULL;
	if (body_len == 0)
		add_error(errors, NULL, NULL, -1, "missing", "Field required");
	else
		add_error(errors, NULL, NULL, -1, "model_attributes_type",
			  "Input should be a valid dictionary or object to extract fields from");
	return errors;
}
