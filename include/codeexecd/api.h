/* The JSON API: /execute, /health, /ready and /. Validation follows FastAPI's
 * error shape; the parse and render steps are pure and unit-tested. */
#ifndef CODEEXECD_API_H
#define CODEEXECD_API_H

#include <cjson/cJSON.h>

#include "codeexecd/config.h"
#include "codeexecd/execution.h"
#include "codeexecd/http.h"

struct executor;

struct api {
	/* Replaced by a reload (main keeps every generation alive); each
	 * handler reads it once. */
	const struct config *_Atomic cfg;
	struct executor *executor;
};

/* /execute: admission when its headers arrive (a ticket from the executor,
 * or 429/503 before the body is read), then the request. */
int api_execute_admit(void *ctx, void **admission, struct http_response *resp);
void api_execute_release(void *ctx, void *admission);
void api_execute(void *ctx, const struct http_request *req, struct http_response *resp);
/* The first half of /execute, shared with /execute/stream: the route's
 * ticket taken over, the body checked and parsed. 0 with er and *ticket
 * (the caller's, for executor_run; er->key borrows req->key); else resp
 * holds the answer (422, 500), and req->body and the ticket are freed. */
struct exec_ticket;
int api_execute_prepare(struct api *api, const struct http_request *req,
			struct exec_request *er, struct exec_ticket **ticket,
			struct http_response *resp);
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

/* True for a Content-Type FastAPI decodes as JSON (application/json,
 * application/<x>+json); false for none. */
bool api_is_json_type(const char *content_type);

/* The ExecutionResponse object for a result (caller frees). */
cJSON *api_render_result(const struct exec_result *res, const char *exec_id);

#endif
