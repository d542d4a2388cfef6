/* The sessions API (see api_sessions.h).
 *
 * POST /sessions reserves a place in the table (429 beyond sessions.max),
 * then runs the session's first job (its files, and its code when given)
 * through the executor like any execution; the slot that lives on is kept
 * in the table. POST /sessions/{id}/execute takes the session (one call at
 * a time: 409 while a call runs), runs the call on its slot and gives the
 * session back, or ends it when the slot did not live on (the answer's
 * error says so; later calls get 404 with the reason). */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codeexecd/api.h"
#include "codeexecd/api_sessions.h"
#include "codeexecd/executor.h"
#include "codeexecd/log.h"

#define JSON "application/json"
#define PREFIX "/sessions/"

enum api_session_path api_sessions_parse_path(const char *path, char id[SESSION_ID_LEN + 1])
{
	const char *p, *rest;
	size_t n;

	if (strncmp(path, PREFIX, sizeof(PREFIX) - 1) != 0)
		return API_SESSION_PATH_NONE;
	p = path + sizeof(PREFIX) - 1;
	n = strcspn(p, "/");
	rest = p + n;
	if (n != SESSION_ID_LEN)
		return API_SESSION_PATH_NONE;
	memcpy(id, p, n);
	id[n] = '\0';
	if (!sessions_id_valid(id))
		return API_SESSION_PATH_NONE;
	if (*rest == '\0')
		return API_SESSION_PATH_SESSION;
	if (strcmp(rest, "/execute") == 0)
		return API_SESSION_PATH_EXECUTE;
	return API_SESSION_PATH_NONE;
}

static void iso_time(long t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		(void)snprintf(out, 32, "%ld", t);
}

cJSON *api_sessions_render(const struct session_info *info)
{
	cJSON *obj = cJSON_CreateObject();
	char when[32];

	if (!obj)
		return NULL;
	cJSON_AddStringToObject(obj, "session_id", info->id);
	cJSON_AddStringToObject(obj, "state", info->busy ? "busy" : "idle");
	iso_time(info->created_at, when);
	cJSON_AddStringToObject(obj, "created_at", when);
	iso_time(info->last_used_at, when);
	cJSON_AddStringToObject(obj, "last_used_at", when);
	iso_time(info->expires_at, when);
	cJSON_AddStringToObject(obj, "expires_at", when);
	cJSON_AddNumberToObject(obj, "calls", (double)info->calls);
	cJSON_AddBoolToObject(obj, "busy", info->busy);
	if (info->timeout_s > 0)
		cJSON_AddNumberToObject(obj, "timeout", info->timeout_s);
	else
		cJSON_AddNullToObject(obj, "timeout");
	return obj;
}


/* The ticket the admit hook took, now the handler's. */
static struct exec_ticket *take_ticket(const struct http_request *req)
{
	struct exec_ticket *t = req->admission ? *req->admission : NULL;

	if (req->admission)
		*req->admission = NULL;
	return t;
}

/* Why a session ends after a call that did not keep its slot. */
static enum session_end end_reason(int rc, const struct exec_result *res, const char *err)
{
	if (rc == -ECANCELED)
		return SESSION_END_CANCELLED;
	if (rc == -ESHUTDOWN)
		return SESSION_END_SHUTDOWN;
	if (rc != 0)
		return SESSION_END_FAILED;
	if (res->timed_out)
		return SESSION_END_TIMEOUT;
	if (res->oom_killed)
		return SESSION_END_OOM;
	if (res->output_truncated && res->exit_code == -1)
		return SESSION_END_OUTPUT;
	return err[0] ? SESSION_END_FAILED : SESSION_END_EXITED;
}

/* Appends the session's end to the answer's error (res->error is owned). */
static void say_ended(struct exec_result *res, const char *sid, enum session_end why)
{
	char line[256];
	int n = snprintf(line, sizeof(line), "%sThe session %s has ended: %s; its id is no "
			 "longer valid\n", res->error_len && res->error[res->error_len - 1] != '\n'
			 ? "\n" : "", sid, sessions_end_text(why));
	char *grown;

	if (n <= 0 || (size_t)n >= sizeof(line))
		return;
	grown = realloc(res->error, res->error_len + (size_t)n + 1);
	if (!grown)
		return;
	memcpy(grown + res->error_len, line, (size_t)n + 1);
	res->error = grown;
	res->error_len += (size_t)n;
	res->success = false;
}

static void respond_sessions_off(struct http_response *resp)
{
	http_response_detail(resp, 404, "Sessions are not enabled on this service");
}

/* The 201 answer: the session, and its first job's answer as "setup". */
static void respond_created(struct api *api, struct http_response *resp, const char *sid,
			    const char *key, const struct exec_result *res, const char *exec_id)
{
	struct session_info info;
	char err[CXD_ERR_MAX];
	cJSON *obj;

	if (sessions_info(api->sessions, sid, key, &info, err, sizeof(err)) != 0) {
		http_response_detail(resp, 404, err); /* ended at once (deleted meanwhile) */
		return;
	}
	obj = api_sessions_render(&info);
	if (obj)
		cJSON_AddItemToObject(obj, "setup", api_render_result(res, exec_id));
	api_respond_json(resp, 201, obj);
}

void api_sessions_create(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct api *api = ctx;
	struct exec_ticket *ticket = take_ticket(req);
	struct exec_client client = { req->client_fd, req->client_probe, req->probe_ctx };
	struct exec_request er = { 0 };
	struct exec_result res = { 0 };
	struct sandbox_slot *slot = NULL;
	char err[CXD_ERR_MAX] = "", id[CXD_EXEC_ID_LEN + 1] = "", sid[SESSION_ID_LEN + 1];
	int rc;

	if (!api->sessions) {
		free(req->body);
		executor_ticket_drop(ticket);
		respond_sessions_off(resp);
		return;
	}
	/* No body: an empty session; still only with a JSON Content-Type, which
	 * a browser's "simple" cross-origin request cannot send. */
	if (req->body_len == 0 && api_is_json_type(req->content_type)) {
		free(req->body);
		er.code = strdup("");
		er.key = req->key;
		rc = er.code ? 0 : -ENOMEM;
		if (rc != 0)
			http_response_detail(resp, 500, "Out of memory");
	} else {
		rc = api_read_request(api, req, false, &er, resp);
	}
	if (rc == 0)
		rc = sessions_begin(api->sessions, req->key, er.timeout_seconds, sid, err,
				    sizeof(err));
	if (rc == -EAGAIN || rc == -EPERM) {
		resp->retry_after = rc == -EAGAIN ? executor_retry_after(api->executor) : 0;
		http_response_detail(resp, rc == -EAGAIN ? 429 : 404, err);
	} else if (rc == -EIO || rc == -ENOMEM) {
		http_response_detail(resp, 500, rc == -EIO ? err : "Out of memory");
	}
	if (rc != 0) {
		executor_ticket_drop(ticket);
		exec_request_free(&er);
		return;
	}
	rc = executor_run_session(api->executor, ticket, &er, &slot, id, &client, &res, err,
				  sizeof(err));
	exec_request_free(&er);
	sessions_release(api->sessions, sid, slot, id[0] != '\0', end_reason(rc, &res, err));
	if (rc == 0 && slot) {
		log_info(id, "session %.8s opened", sid);
		memcpy(resp->execution_id, id, sizeof(id));
		respond_created(api, resp, sid, req->key, &res, id);
	} else if (rc == 0) {
		enum session_end why = end_reason(rc, &res, err);
		log_warn(id, "session %.8s not opened: %s", sid, sessions_end_name(why));
		say_ended(&res, sid, why);
		memcpy(resp->execution_id, id, sizeof(id));
		cJSON *obj = cJSON_CreateObject();
		if (obj) {
			char detail[CXD_ERR_MAX];
			(void)snprintf(detail, sizeof(detail), "The session could not be opened: %s",
				       sessions_end_text(why));
			cJSON_AddStringToObject(obj, "detail", detail);
			cJSON_AddItemToObject(obj, "setup", api_render_result(&res, id));
		}
		/* the setup code's doing (its time, memory, exit) is the client's */
		api_respond_json(resp,
				 why == SESSION_END_FAILED || why == SESSION_END_SHUTDOWN ? 500 : 422,
			     obj);
	} else {
		api_answer_run(api, rc, &res, id, err, resp);
	}
	exec_result_free(&res);
}

void api_sessions_execute(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct api *api = ctx;
	struct exec_ticket *ticket = take_ticket(req);
	struct exec_client client = { req->client_fd, req->client_probe, req->probe_ctx };
	struct exec_request er = { 0 };
	struct exec_result res = { 0 };
	struct sandbox_slot *slot = NULL;
	char err[CXD_ERR_MAX] = "", id[CXD_EXEC_ID_LEN + 1] = "", sid[SESSION_ID_LEN + 1];
	int rc, timeout_s = 0;

	if (!api->sessions || api_sessions_parse_path(req->path, sid) != API_SESSION_PATH_EXECUTE) {
		free(req->body);
		executor_ticket_drop(ticket);
		if (!api->sessions)
			respond_sessions_off(resp);
		else
			http_response_detail(resp, 404, "Not Found");
		return;
	}
	if (api_read_request(api, req, true, &er, resp) != 0) {
		executor_ticket_drop(ticket);
		return;
	}
	rc = sessions_acquire(api->sessions, sid, req->key, &slot, &timeout_s, err, sizeof(err));
	if (rc != 0) {
		executor_ticket_drop(ticket);
		exec_request_free(&er);
		http_response_detail(resp, rc == -EBUSY ? 409 : 404, err);
		return;
	}
	if (er.timeout_seconds == 0)
		er.timeout_seconds = timeout_s;
	rc = executor_run_session(api->executor, ticket, &er, &slot, id, &client, &res, err,
				  sizeof(err));
	exec_request_free(&er);
	if (!slot) {
		enum session_end why = end_reason(rc, &res, err);
		if (rc == 0)
			say_ended(&res, sid, why);
		log_info(id[0] ? id : NULL, "session %.8s: its call ended it (%s)", sid,
			 sessions_end_name(why));
		sessions_release(api->sessions, sid, NULL, id[0] != '\0', why);
	} else {
		log_debug(id[0] ? id : NULL, "session %.8s: call done", sid);
		sessions_release(api->sessions, sid, slot, id[0] != '\0', SESSION_END_FAILED);
	}
	api_answer_run(api, rc, &res, id, err, resp);
	exec_result_free(&res);
}

void api_sessions_get(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct api *api = ctx;
	struct session_info info;
	char err[CXD_ERR_MAX], sid[SESSION_ID_LEN + 1];

	if (!api->sessions) {
		respond_sessions_off(resp);
		return;
	}
	if (api_sessions_parse_path(req->path, sid) != API_SESSION_PATH_SESSION) {
		http_response_detail(resp, 404, "Not Found");
		return;
	}
	if (sessions_info(api->sessions, sid, req->key, &info, err, sizeof(err)) != 0) {
		http_response_detail(resp, 404, err);
		return;
	}
	api_respond_json(resp, 200, api_sessions_render(&info));
	resp->cache_control = "no-store";
}

void api_sessions_delete(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct api *api = ctx;
	char err[CXD_ERR_MAX], sid[SESSION_ID_LEN + 1];

	if (!api->sessions) {
		respond_sessions_off(resp);
		return;
	}
	if (api_sessions_parse_path(req->path, sid) != API_SESSION_PATH_SESSION) {
		http_response_detail(resp, 404, "Not Found");
		return;
	}
	if (sessions_end(api->sessions, sid, req->key, err, sizeof(err)) != 0) {
		http_response_detail(resp, 404, err);
		return;
	}
	log_info(NULL, "session %.8s deleted", sid);
	http_response_static(resp, 204, NULL, "", 0);
}
