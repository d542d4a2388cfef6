/* POST /execute/stream: the /execute request (same validation, admission
 * and limits), answered 200 application/x-ndjson as the code runs
 * (ndjson.h). Requests that /execute refuses with 429 or 503 get the same
 * status here; once the execution has started, everything, failures
 * included, comes in the lines. */
#ifndef CODEEXECD_API_STREAM_H
#define CODEEXECD_API_STREAM_H

#include "codeexecd/http.h"

/* ctx is the struct api *. Uses the route's admission (api_execute_admit). */
void api_execute_stream(void *ctx, const struct http_request *req, struct http_response *resp);

#endif
