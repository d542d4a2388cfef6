/* The JSON API: /execute, /health, /ready, / and /metrics: admission,
 * answers and refusals (the request's validation is api_parse.c). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codeexecd/answer.h"
#include "codeexecd/api.h"
#include "codeexecd/base64.h"
#include "codeexecd/executor.h"
#include "codeexecd/json_scan.h"
#include "codeexecd/log.h"
#include "codeexecd/metrics.h"
#include "codeexecd/utf8.h"

#define SERVICE_NAME "Ayunis Code Execution Service"
#ifndef CXD_VERSION
#error "CXD_VERSION comes from the build (the Makefile's VERSION)"
#endif
#define SERVICE_VERSION CXD_VERSION
#define JSON "application/json"

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
void api_respond_json(struct http_response *resp, int status, cJSON *obj)
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
	api_respond_json(resp, 422, obj);
}

/* A failed execution as the old service reported it: 200, success false,
 * exit code -1, the reason in error. */
static void respond_failure(struct http_response *resp, const char *exec_id, const char *why)
{
	struct exec_result res = { .exit_code = -1 };

	res.error = (char *)(uintptr_t)why; /* only read by api_render_result */
	api_respond_json(resp, 200, api_render_result(&res, exec_id));
}

int api_execute_admit(void *ctx, void **admission, struct http_response *resp)
{
	struct api *api = ctx;
	struct exec_ticket *t = NULL;
	char err[CXD_ERR_MAX] = "";
	int rc = executor_ticket_take(api->executor, &t, err, sizeof(err));

	if (rc == 0) {
		*admission = t;
		return 0;
	}
	if (rc == -EAGAIN) {
		resp->retry_after = executor_retry_after(api->executor);
		http_response_detail(resp, 429, err);
	} else if (rc == -ESHUTDOWN) {
		resp->retry_after = 5;
		http_response_detail(resp, 503, err);
	} else {
		http_response_detail(resp, 500, "Out of memory");
	}
	return rc;
}

void api_execute_release(void *ctx, void *admission)
{
	(void)ctx;
	executor_ticket_drop(admission);
}


/* A request that is not JSON, as FastAPI validates its raw bytes. */
static void respond_not_json(struct http_response *resp, size_t body_len)
{
	cJSON *errors = api_errors_not_json(body_len);

	if (!errors) {
		http_response_detail(resp, 500, "Out of memory");
		return;
	}
	respond_validation(resp, errors);
}

static size_t answer_read_cb(void *ctx, char *buf, size_t room)
{
	return answer_read(ctx, buf, room);
}

static void answer_free_cb(void *ctx)
{
	answer_free(ctx);
}

/* The result as a streamed answer (res is taken). */
static void respond_result(struct http_response *resp, struct exec_result *res, const char *id)
{
	struct answer *a = answer_new(res, id);
	struct http_body_stream stream = { answer_read_cb, answer_free_cb, a, 0 };

	if (!a) {
		http_response_detail(resp, 500, "Out of memory");
		return;
	}
	stream.len = answer_size(a);
	http_response_stream(resp, 200, JSON, &stream); /* resp owns a */
}

int api_read_request(struct api *api, const struct http_request *req, bool code_required,
		     struct exec_request *er, struct http_response *resp)
{
	cJSON *errors = NULL;
	int rc;

	memset(er, 0, sizeof(*er));
	if (!api_is_json_type(req->content_type)) {
		free(req->body);
		respond_not_json(resp, req->body_len);
		return -EINVAL;
	}
	rc = api_parse_request(req->body, req->body_len, atomic_load(&api->cfg), code_required, er,
			       &errors);
	free(req->body); /* parsed: only the request's values are kept */
	if (rc == 0) {
		er->key = req->key;
		return 0;
	}
	if (!errors)
		http_response_detail(resp, 500, "Out of memory");
	else
		respond_validation(resp, errors);
	return -EINVAL;
}

bool api_execute_refused(struct api *api, int rc, const char *err, struct http_response *resp)
{
	switch (rc) {
	case -EAGAIN:
	case -ETIMEDOUT:
		resp->retry_after = executor_retry_after(api->executor);
		http_response_detail(resp, 429, err[0] ? err : "Too many executions; retry later");
		return true;
	case -ESHUTDOWN:
	case -EHOSTUNREACH:
		resp->retry_after = 5;
		http_response_detail(resp, 503, err[0] ? err : "Service unavailable");
		return true;
	case -ECANCELED:
		http_response_detail(resp, 503, "The client went away; the execution was stopped");
		return true;
	default:
		return false;
	}
}

void api_answer_run(struct api *api, int rc, struct exec_result *res,
		    char id[CXD_EXEC_ID_LEN + 1], const char *err, struct http_response *resp)
{
	memcpy(resp->execution_id, id, CXD_EXEC_ID_LEN + 1);
	if (rc == 0) {
		respond_result(resp, res, id);
	} else if (!api_execute_refused(api, rc, err, resp)) {
		if (!id[0])
			exec_id_new(id); /* failed before an execution had one */
		memcpy(resp->execution_id, id, CXD_EXEC_ID_LEN + 1);
		respond_failure(resp, id, err[0] ? err : "Execution failed");
	}
}

void api_execute(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct api *api = ctx;
	struct exec_request er;
	struct exec_result res = { 0 };
	struct exec_ticket *ticket = req->admission ? *req->admission : NULL;
	struct exec_client client = { req->client_fd, req->client_probe, req->probe_ctx };
	char err[CXD_ERR_MAX] = "", id[CXD_EXEC_ID_LEN + 1];
	int rc;

	if (req->admission)
		*req->admission = NULL; /* the ticket is ours: executor_run consumes it */
	if (api_read_request(api, req, true, &er, resp) != 0) {
		executor_ticket_drop(ticket);
		return;
	}
	rc = executor_run(api->executor, ticket, &er, id, &client, NULL, &res, err,
			  sizeof(err));
	exec_request_free(&er);
	api_answer_run(api, rc, &res, id, err, resp);
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
	api_respond_json(resp, status, obj);
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

void api_metrics(void *ctx, const struct http_request *req, struct http_response *resp)
{
	size_t len = 0;
	char *text = metrics_render(&len);

	(void)ctx;
	(void)req;
	if (!text) {
		http_response_detail(resp, 500, "Out of memory");
		return;
	}
	/* The version of the text exposition format Prometheus asks for. */
	http_response_take(resp, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
	resp->cache_control = "no-store";
}
