/* The JSON API: /execute, /health, /ready and /. Validation follows FastAPI's
 * error shape; the parse and render steps are pure and unit-tested. */
#ifndef CODEEXECD_API_H
#define CODEEXECD_API_H

#include <cjson/cJSON.h>

#include "codeexecd/config.h"
#include "codeexecd/execution.h"
#include "codeexecd/http.h"

struct executor;
struct sessions;

struct api {
	/* Replaced by a reload (main keeps every generation alive); each
	 * handler reads it once. */
	const struct config *_Atomic cfg;
	struct executor *executor;
	struct sessions *sessions;  /* NULL: no sessions (tests) */
};

/* /execute: admission when its headers arrive (a ticket from the executor,
 * or 429/503 before the body is read), then the request. */
int api_execute_admit(void *ctx, void **admission, struct http_response *resp);
void api_execute_release(void *ctx, void *admission);
void api_execute(void *ctx, const struct http_request *req, struct http_response *resp);
/* An execution executor_run refused (429: no place or slot in time; 503:
 * shutting down, engine down, client gone): true with resp filled; false
 * for the other failures, which are answered 200 with success false. */
bool api_execute_refused(struct api *api, int rc, const char *err, struct http_response *resp);
void api_health(void *ctx, const struct http_request *req, struct http_response *resp);
void api_ready(void *ctx, const struct http_request *req, struct http_response *resp);
void api_root(void *ctx, const struct http_request *req, struct http_response *resp);
/* GET /metrics: the Prometheus text exposition (metrics.h). */
void api_metrics(void *ctx, const struct http_request *req, struct http_response *resp);

/* Parses and validates an /execute body. Returns 0 with out filled, or
 * -EINVAL with *errors set to the FastAPI "detail" array (caller frees). */
int api_parse_execute(const char *body, size_t len, const struct config *cfg,
		      struct exec_request *out, cJSON **errors);

/* As api_parse_execute; code_required false: "code" may be absent (the
 * body of POST /sessions), and is then "". */
int api_parse_request(const char *body, size_t len, const struct config *cfg, bool code_required,
		      struct exec_request *out, cJSON **errors);

/* An /execute-shaped request (also a session's call) from req: 0 with er
 * filled (its key set), or -EINVAL with resp filled (422). Frees req->body
 * either way. */
int api_read_request(struct api *api, const struct http_request *req, bool code_required,
		     struct exec_request *er, struct http_response *resp);

/* The answer to an execution (executor_run's rc, res taken when 0, its id
 * and error text), as /execute gives it. */
void api_answer_run(struct api *api, int rc, struct exec_result *res,
		    char id[CXD_EXEC_ID_LEN + 1], const char *err, struct http_response *resp);

/* FastAPI's errors for a body that is not JSON (empty: "missing"; else
 * "model_attributes_type"), or NULL on ENOMEM. */
cJSON *api_errors_not_json(size_t body_len);

/* True for a Content-Type FastAPI decodes as JSON (application/json,
 * application/<x>+json); false for none. */
bool api_is_json_type(const char *content_type);

/* Serializes obj (consumed; NULL: 500 out of memory) into resp as JSON. */
void api_respond_json(struct http_response *resp, int status, cJSON *obj);

/* The ExecutionResponse object for a result (caller frees). */
cJSON *api_render_result(const struct exec_result *res, const char *exec_id);

#endif
