/* The JSON API: /execute, /health, /ready and /.
 *
 * Validation mirrors what FastAPI and pydantic v2 answered for the old
 * service: 422 with {"detail":[{"loc":[...],"msg":"...","type":"..."}]},
 * every error of a body reported together, unknown fields ignored. Where the
 * old service accepted bad input silently (invalid base64 became an empty
 * file), codeexecd refuses it. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codeexecd/api.h"
#include "codeexecd/base64.h"
#include "codeexecd/executor.h"
#include "codeexecd/log.h"
#include "codeexecd/utf8.h"

#define SERVICE_NAME "Ayunis Code Execution Service"
#define SERVICE_VERSION "0.1.0"
#define JSON "application/json"

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

/* What cJSON does not check inside JSON strings: a raw control character
 * (Python's json refuses it; *ctrl gets its offset) and the escape \u0000
 * (cJSON's strings are NUL-terminated, so the string would be cut short
 * without notice; *nul is set). */
static void scan_strings(const char *text, size_t len, long *ctrl, bool *nul)
{
	bool in_string = false;

	*ctrl = -1;
	*nul = false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c == '"') {
			in_string = !in_string;
		} else if (in_string && c < 0x20) {
			if (*ctrl < 0)
				*ctrl = (long)i;
		} else if (in_string && c == '\\' && i + 1 < len) {
			if (text[i + 1] == 'u' && i + 5 < len && strncmp(text + i + 2, "0000", 4) == 0)
				*nul = true;
			i++; /* skip the escaped character */
		}
	}
}

/* Parses body as one JSON value; on failure adds json_invalid with the byte
 * offset, as FastAPI does, and returns NULL. */
static cJSON *parse_body(const char *body, size_t len, cJSON *errors, bool *nul)
{
	const char *end = NULL;
	size_t bad = 0, skip = 0;
	long ctrl;
	cJSON *root;

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
	scan_strings(body, len, &ctrl, nul);
	if (ctrl >= 0) {
		bad = (size_t)ctrl;
		goto invalid;
	}
	root = cJSON_ParseWithLengthOpts(body + skip, len - skip, &end, 0);
	if (!root) {
		bad = end ? (size_t)(end - body) : 0;
		goto invalid;
	}
	for (const char *p = end; p < body + len; p++) {
		if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
			cJSON_Delete(root);
			bad = (size_t)(p - body);
			goto invalid;
		}
	}
	return root;
invalid:
	add_error(errors, NULL, NULL, (long)bad, "json_invalid", "JSON decode error");
	return NULL;
}

/* The member called key; with duplicate keys the last one, as Python's json
 * (and so FastAPI) takes it. */
static const cJSON *last_item(const cJSON *obj, const char *key)
{
	const cJSON *found = NULL;

	for (const cJSON *it = obj->child; it; it = it->next)
		if (it->string && strcmp(it->string, key) == 0)
			found = it;
	return found;
}

/* True when a later member has the same name (the later one wins). */
static bool overridden(const cJSON *item)
{
	for (const cJSON *it = item->next; it; it = it->next)
		if (strcmp(it->string, item->string) == 0)
			return true;
	return false;
}

/* The name of another file that would have to be a directory for name to
 * exist, or the reverse ("a" and "a/b"); NULL when there is none. */
static const char *path_conflict(const cJSON *files, const cJSON *item)
{
	size_t n = strlen(item->string);

	for (const cJSON *it = files->child; it; it = it->next) {
		size_t m = strlen(it->string);
		if (it == item || m == n)
			continue;
		const char *shorter = m < n ? it->string : item->string;
		const char *longer = m < n ? item->string : it->string;
		size_t k = m < n ? m : n;
		if (strncmp(shorter, longer, k) == 0 && longer[k] == '/')
			return it->string;
	}
	return NULL;
}

/* NULL when name is an acceptable relative file name, else the reason. */
static const char *file_name_problem(const char *name)
{
	size_t len = strlen(name);
	const char *seg = name;

	if (len == 0)
		return "file name is empty";
	if (len > CXD_FILE_NAME_MAX)
		return "file name is longer than 255 bytes";
	if (name[0] == '/')
		return "file name must be relative, not absolute";
	for (const char *p = name; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
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

static void parse_file(const cJSON *files, const cJSON *item, struct exec_file *out,
		       cJSON *errors)
{
	const char *problem = file_name_problem(item->string), *other;
	char msg[CXD_FILE_NAME_MAX + 128];

	if (problem) {
		(void)snprintf(msg, sizeof(msg), "Value error, %s", problem);
		add_error(errors, "files", item->string, -1, "value_error", msg);
		return;
	}
	if ((other = path_conflict(files, item))) {
		(void)snprintf(msg, sizeof(msg),
			       "Value error, file name conflicts with '%s' (one would have to be a "
			       "file and a directory)", other);
		add_error(errors, "files", item->string, -1, "value_error", msg);
		return;
	}
	if (!cJSON_IsString(item)) {
		add_error(errors, "files", item->string, -1, "string_type",
			  "Input should be a valid string");
		return;
	}
	if (base64_decode(item->valuestring, strlen(item->valuestring), &out->data,
			  &out->len) != 0) {
		add_error(errors, "files", item->string, -1, "base64_decode",
			  "Base64 decoding error: the content is not valid base64");
		return;
	}
	out->name = strdup(item->string);
	if (!out->name)
		add_error(errors, "files", item->string, -1, "value_error", "Out of memory");
}

static void parse_files(const cJSON *files, const struct config *cfg, struct exec_request *out,
			cJSON *errors)
{
	int n;
	char msg[128];

	if (!files || cJSON_IsNull(files))
		return;
	if (!cJSON_IsObject(files)) {
		add_error(errors, "files", NULL, -1, "dict_type", "Input should be a valid dictionary");
		return;
	}
	n = cJSON_GetArraySize(files);
	if (n > cfg->request.max_files) {
		(void)snprintf(msg, sizeof(msg),
			       "Dictionary should have at most %d items after validation, not %d",
			       cfg->request.max_files, n);
		add_error(errors, "files", NULL, -1, "too_long", msg);
		return;
	}
	if (n == 0)
		return;
	out->files = calloc((size_t)n, sizeof(*out->files));
	if (!out->files) {
		add_error(errors, "files", NULL, -1, "value_error", "Out of memory");
		return;
	}
	for (const cJSON *item = files->child; item; item = item->next)
		if (!overridden(item))
			parse_file(files, item, &out->files[out->nfiles++], errors);
}

static void parse_timeout(const cJSON *t, const struct config *cfg, struct exec_request *out,
			  cJSON *errors)
{
	char msg[96];

	if (!t || cJSON_IsNull(t))
		return;
	if (!cJSON_IsNumber(t) || t->valuedouble != floor(t->valuedouble)) {
		add_error(errors, "timeout", NULL, -1, "int_type", "Input should be a valid integer");
		return;
	}
	if (t->valuedouble < 1) {
		add_error(errors, "timeout", NULL, -1, "greater_than_equal",
			  "Input should be greater than or equal to 1");
		return;
	}
	if (t->valuedouble > cfg->execution.max_timeout_seconds) {
		(void)snprintf(msg, sizeof(msg), "Input should be less than or equal to %d",
			       cfg->execution.max_timeout_seconds);
		add_error(errors, "timeout", NULL, -1, "less_than_equal", msg);
		return;
	}
	out->timeout_seconds = (int)t->valuedouble;
}

static void parse_stdin(const cJSON *s, const struct config *cfg, struct exec_request *out,
			cJSON *errors)
{
	char msg[96];
	size_t len;

	if (!s || cJSON_IsNull(s))
		return;
	if (!cJSON_IsString(s)) {
		add_error(errors, "stdin", NULL, -1, "string_type", "Input should be a valid string");
		return;
	}
	len = strlen(s->valuestring);
	if (len > (size_t)cfg->request.max_stdin_bytes) {
		(void)snprintf(msg, sizeof(msg), "String should have at most %ld bytes",
			       cfg->request.max_stdin_bytes);
		add_error(errors, "stdin", NULL, -1, "string_too_long", msg);
		return;
	}
	out->stdin_data = strdup(s->valuestring);
	out->stdin_len = len;
	if (!out->stdin_data)
		add_error(errors, "stdin", NULL, -1, "value_error", "Out of memory");
}

static void parse_output_include(const cJSON *list, struct exec_request *out, cJSON *errors)
{
	char msg[96];
	int n;

	if (!list || cJSON_IsNull(list))
		return;
	if (!cJSON_IsArray(list)) {
		add_error(errors, "output_include", NULL, -1, "list_type",
			  "Input should be a valid list");
		return;
	}
	n = cJSON_GetArraySize(list);
	if (n > CXD_INCLUDE_PATTERNS_MAX) {
		(void)snprintf(msg, sizeof(msg),
			       "List should have at most %d items after validation, not %d",
			       CXD_INCLUDE_PATTERNS_MAX, n);
		add_error(errors, "output_include", NULL, -1, "too_long", msg);
		return;
	}
	out->has_output_include = true;
	out->output_include = calloc((size_t)n + 1, sizeof(*out->output_include));
	if (!out->output_include) {
		add_error(errors, "output_include", NULL, -1, "value_error", "Out of memory");
		return;
	}
	for (const cJSON *it = list->child; it; it = it->next) {
		long at = (long)out->noutput_include;
		size_t len;

		if (!cJSON_IsString(it)) {
			add_error_at(errors, "output_include", at, "string_type",
				     "Input should be a valid string");
		} else if ((len = strlen(it->valuestring)) == 0) {
			add_error_at(errors, "output_include", at, "string_too_short",
				     "String should have at least 1 character");
		} else if (len >= CXD_PATTERN_MAX) {
			(void)snprintf(msg, sizeof(msg), "String should have at most %d characters",
				       CXD_PATTERN_MAX - 1);
			add_error_at(errors, "output_include", at, "string_too_long", msg);
		} else if (!(out->output_include[at] = strdup(it->valuestring))) {
			add_error_at(errors, "output_include", at, "value_error", "Out of memory");
		}
		out->noutput_include++;
	}
}

static void parse_code(const cJSON *code, struct exec_request *out, cJSON *errors)
{
	if (!code) {
		add_error(errors, "code", NULL, -1, "missing", "Field required");
		return;
	}
	if (!cJSON_IsString(code)) {
		add_error(errors, "code", NULL, -1, "string_type", "Input should be a valid string");
		return;
	}
	out->code_len = strlen(code->valuestring);
	out->code = strdup(code->valuestring);
	if (!out->code)
		add_error(errors, "code", NULL, -1, "value_error", "Out of memory");
}

int api_parse_execute(const char *body, size_t len, const struct config *cfg,
		      struct exec_request *out, cJSON **errors_out)
{
	cJSON *errors = cJSON_CreateArray(), *root = NULL;
	bool nul = false;
	int rc = -EINVAL;

	memset(out, 0, sizeof(*out));
	if (!errors)
		return -ENOMEM;
	if (!body || len == 0) {
		add_error(errors, NULL, NULL, -1, "missing", "Field required");
		goto out;
	}
	root = parse_body(body, len, errors, &nul);
	if (!root)
		goto out;
	if (!cJSON_IsObject(root)) {
		add_error(errors, NULL, NULL, -1, "model_attributes_type",
			  "Input should be a valid dictionary or object to extract fields from");
		goto out;
	}
	if (nul) {
		add_error(errors, NULL, NULL, -1, "value_error",
			  "Value error, NUL characters (\\u0000) are not allowed in strings");
		goto out;
	}
	parse_code(last_item(root, "code"), out, errors);
	parse_files(last_item(root, "files"), cfg, out, errors);
	parse_timeout(last_item(root, "timeout"), cfg, out, errors);
	parse_stdin(last_item(root, "stdin"), cfg, out, errors);
	parse_output_include(last_item(root, "output_include"), out, errors);
	if (cJSON_GetArraySize(errors) == 0)
		rc = 0;
out:
	cJSON_Delete(root);
	if (rc == 0) {
		cJSON_Delete(errors);
		*errors_out = NULL;
	} else {
		exec_request_free(out);
		*errors_out = errors; /* the caller owns the detail array */
	}
	return rc;
}

static cJSON *render_files(const struct exec_result *res)
{
	cJSON *files;

	if (res->nfiles == 0)
		return cJSON_CreateNull();
	files = cJSON_CreateObject();
	for (size_t i = 0; files && i < res->nfiles; i++) {
		char *b64 = base64_encode(res->files[i].data, res->files[i].len);
		cJSON *s = b64 ? cJSON_CreateString(b64) : NULL;
		free(b64);
		if (!s) {
			cJSON_Delete(files);
			return NULL;
		}
		cJSON_AddItemToObject(files, res->files[i].name, s); /* files owns s */
	}
	return files;
}

cJSON *api_render_result(const struct exec_result *res, const char *exec_id)
{
	cJSON *obj = cJSON_CreateObject(), *files = render_files(res);

	if (!obj || !files) {
		cJSON_Delete(obj);
		cJSON_Delete(files);
		return NULL;
	}
	cJSON_AddBoolToObject(obj, "success", res->success);
	cJSON_AddStringToObject(obj, "output", res->output ? res->output : "");
	cJSON_AddStringToObject(obj, "error", res->error ? res->error : "");
	cJSON_AddNumberToObject(obj, "exit_code", res->exit_code);
	cJSON_AddStringToObject(obj, "execution_id", exec_id);
	cJSON_AddItemToObject(obj, "output_files", files); /* obj owns files */
	cJSON_AddBoolToObject(obj, "timed_out", res->timed_out);
	cJSON_AddBoolToObject(obj, "oom_killed", res->oom_killed);
	cJSON_AddBoolToObject(obj, "output_truncated", res->output_truncated);
	cJSON_AddNumberToObject(obj, "duration_ms", (double)res->duration_ms);
	return obj;
}

/* Serializes obj (consumed) into resp. */
static void respond_json(struct http_response *resp, int status, cJSON *obj)
{
	char *text = obj ? cJSON_PrintUnformatted(obj) : NULL;

	cJSON_Delete(obj);
	if (!text) {
		http_response_detail(resp, 500, "Out of memory");
		return;
	}
	http_response_take(resp, status, JSON, text, strlen(text)); /* resp owns text */
}

static void respond_validation(struct http_response *resp, cJSON *errors)
{
	cJSON *obj = cJSON_CreateObject();

	if (!obj) {
		cJSON_Delete(errors);
		http_response_detail(resp, 500, "Out of memory");
		return;
	}
	cJSON_AddItemToObject(obj, "detail", errors); /* obj owns errors */
	respond_json(resp, 422, obj);
}

/* A failed execution as the old service reported it: 200, success false,
 * exit code -1, the reason in error. */
static void respond_failure(struct http_response *resp, const char *exec_id, const char *why)
{
	struct exec_result res = { .exit_code = -1 };

	res.error = (char *)(uintptr_t)why; /* only read by api_render_result */
	respond_json(resp, 200, api_render_result(&res, exec_id));
}

void api_execute(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct api *api = ctx;
	struct exec_request er;
	struct exec_result res = { 0 };
	cJSON *errors = NULL;
	char err[CXD_ERR_MAX] = "", id[CXD_EXEC_ID_LEN + 1];
	int rc;

	if (api_parse_execute(req->body, req->body_len, api->cfg, &er, &errors) != 0) {
		if (!errors) {
			http_response_detail(resp, 500, "Out of memory");
			return;
		}
		respond_validation(resp, errors);
		return;
	}
	rc = executor_run(api->executor, &er, id, req->client_fd, &res, err, sizeof(err));
	exec_request_free(&er);
	memcpy(resp->execution_id, id, sizeof(id));
	switch (rc) {
	case 0:
		respond_json(resp, 200, api_render_result(&res, id));
		break;
	case -EAGAIN:
	case -ETIMEDOUT:
		resp->retry_after = executor_retry_after(api->executor);
		http_response_detail(resp, 429, err[0] ? err : "Too many executions; retry later");
		break;
	case -ESHUTDOWN:
	case -EHOSTUNREACH:
		resp->retry_after = 5;
		http_response_detail(resp, 503, err[0] ? err : "Service unavailable");
		break;
	case -ECANCELED:
		http_response_detail(resp, 503, "The client went away; the execution was stopped");
		break;
	default:
		if (!id[0])
			exec_id_new(id); /* failed before an execution had one */
		memcpy(resp->execution_id, id, sizeof(id));
		respond_failure(resp, id, err[0] ? err : "Execution failed");
		break;
	}
	exec_result_free(&res);
}

static void respond_health(struct http_response *resp, int status, const char *state,
			   const char *message)
{
	cJSON *obj = cJSON_CreateObject();

	if (obj) {
		cJSON_AddStringToObject(obj, "status", state);
		cJSON_AddStringToObject(obj, "message", message);
	}
	respond_json(resp, status, obj);
}

void api_health(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct api *api = ctx;
	char msg[CXD_ERR_MAX];
	int rc = executor_health(api->executor, msg, sizeof(msg));

	(void)req;
	respond_health(resp, 200, rc == 0 ? "healthy" : "unhealthy", msg);
}

void api_ready(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct api *api = ctx;
	char msg[CXD_ERR_MAX];
	int rc = executor_health(api->executor, msg, sizeof(msg));

	(void)req;
	respond_health(resp, rc == 0 ? 200 : 503, rc == 0 ? "ready" : "not ready", msg);
}

void api_root(void *ctx, const struct http_request *req, struct http_response *resp)
{
	static const char body[] = "{\"service\":\"" SERVICE_NAME "\",\"version\":\"" SERVICE_VERSION
				   "\",\"status\":\"running\",\"docs\":\"/docs\","
				   "\"health\":\"/health\"}";

	(void)ctx;
	(void)req;
	http_response_static(resp, 200, JSON, body, sizeof(body) - 1);
}
