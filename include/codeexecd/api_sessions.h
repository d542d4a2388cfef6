/* The sessions API: POST /sessions, POST /sessions/{id}/execute,
 * GET /sessions/{id} and DELETE /sessions/{id}. Requests and answers are
 * /execute's (api.h); the table is the sessions module's, every call runs
 * through the executor. */
#ifndef CODEEXECD_API_SESSIONS_H
#define CODEEXECD_API_SESSIONS_H

#include <cjson/cJSON.h>

#include "codeexecd/http.h"
#include "codeexecd/sessions.h"

/* POST /sessions (admitted as /execute: api_execute_admit). */
void api_sessions_create(void *ctx, const struct http_request *req, struct http_response *resp);
/* POST /sessions/{id}/execute (admitted as /execute). */
void api_sessions_execute(void *ctx, const struct http_request *req, struct http_response *resp);
/* GET /sessions/{id} */
void api_sessions_get(void *ctx, const struct http_request *req, struct http_response *resp);
/* DELETE /sessions/{id}: 204. */
void api_sessions_delete(void *ctx, const struct http_request *req, struct http_response *resp);

enum api_session_path {
	API_SESSION_PATH_NONE,      /* not a session's path: 404 */
	API_SESSION_PATH_SESSION,   /* /sessions/{id} */
	API_SESSION_PATH_EXECUTE,   /* /sessions/{id}/execute */
};

/* Splits a path under /sessions/: the kind, with id (a well-formed one:
 * SESSION_ID_LEN lowercase hex characters) filled for the two known ones.
 * A trailing slash is not accepted. Pure. */
enum api_session_path api_sessions_parse_path(const char *path, char id[SESSION_ID_LEN + 1]);

/* The Session object for info (caller frees). */
cJSON *api_sessions_render(const struct session_info *info);

#endif
