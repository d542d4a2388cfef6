/* /openapi.json, /docs (Swagger UI), /redoc (ReDoc) and their assets, all
 * embedded in the binary. */
#ifndef CODEEXECD_DOCS_H
#define CODEEXECD_DOCS_H

#include "codeexecd/http.h"

void docs_openapi(void *ctx, const struct http_request *req, struct http_response *resp);
void docs_swagger(void *ctx, const struct http_request *req, struct http_response *resp);
void docs_redoc(void *ctx, const struct http_request *req, struct http_response *resp);
/* GET /docs/assets/<name> */
void docs_asset(void *ctx, const struct http_request *req, struct http_response *resp);

#endif
