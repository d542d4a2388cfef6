/* /openapi.json, /docs (Swagger UI), /redoc (ReDoc) and their assets, served
 * from the files built into the binary (embedded.h, web/assets.mk).
 *
 * Every answer carries the embedded file's ETag; a request whose If-None-Match
 * names it gets 304 without a body. The document and the pages are revalidated
 * on every load (no-cache); the assets, whose URLs carry no version, may be
 * cached for a day. Only the assets in the allow-list below are served. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "codeexecd/docs.h"
#include "codeexecd/embedded.h"
#include "codeexecd/http.h"

#define ASSET_PREFIX "/docs/assets/"
#define CC_REVALIDATE "no-cache"
#define CC_ASSET "public, max-age=86400"

#define CT_JSON "application/json"
#define CT_HTML "text/html; charset=utf-8"
#define CT_JS "text/javascript; charset=utf-8"
#define CT_CSS "text/css; charset=utf-8"
#define CT_PNG "image/png"

struct asset {
	const char *name;          /* under /docs/assets/ and in the embedded table */
	const char *content_type;
};

/* The same names as WEB_ASSETS in web/assets.mk. */
static const struct asset assets[] = {
	{ "swagger-ui.css", CT_CSS },
	{ "swagger-ui-bundle.js", CT_JS },
	{ "favicon-32x32.png", CT_PNG },
	{ "redoc.standalone.js", CT_JS },
};

#define N_ASSETS (sizeof(assets) / sizeof(assets[0]))

/* If-None-Match matches etag: "*", or one entry of the comma-separated list
 * equal to etag under the weak comparison of RFC 9110 (W/ ignored). */
static bool etag_matches(const char *if_none_match, const char *etag)
{
	size_t elen = strlen(etag);
	const char *p = if_none_match;

	if (!p)
		return false;
	while (*p) {
		const char *start, *end;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			break;
		start = p;
		while (*p && *p != ',')
			p++;
		end = p;
		while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if (end - start == 1 && *start == '*')
			return true;
		if (end - start > 2 && strncmp(start, "W/", 2) == 0)
			start += 2;
		if ((size_t)(end - start) == elen && strncmp(start, etag, elen) == 0)
			return true;
	}
	return false;
}

/* Answers with the embedded file name: 200 with its body, or 304 when the
 * client's copy is current. The body is static (the embedded data). */
static void serve_embedded(const struct http_request *req, struct http_response *resp,
			   const char *name, const char *content_type, const char *cache_control)
{
	const struct embedded_file *f = embedded_find(name);
	int n;

	if (!f) {
		http_response_detail(resp, 404, "Not Found");
		return;
	}
	n = snprintf(resp->etag, sizeof(resp->etag), "%s", f->etag);
	if (n < 0 || (size_t)n >= sizeof(resp->etag))
		resp->etag[0] = '\0'; /* cannot happen with embed's 18-byte tags */
	resp->cache_control = cache_control;
	if (resp->etag[0] && etag_matches(req->if_none_match, resp->etag)) {
		http_response_static(resp, 304, NULL, "", 0);
		return;
	}
	http_response_static(resp, 200, content_type, f->data, f->len);
}

void docs_openapi(void *ctx, const struct http_request *req, struct http_response *resp)
{
	(void)ctx;
	serve_embedded(req, resp, "openapi.json", CT_JSON, CC_REVALIDATE);
}

void docs_swagger(void *ctx, const struct http_request *req, struct http_response *resp)
{
	(void)ctx;
	serve_embedded(req, resp, "swagger.html", CT_HTML, CC_REVALIDATE);
}

void docs_redoc(void *ctx, const struct http_request *req, struct http_response *resp)
{
	(void)ctx;
	serve_embedded(req, resp, "redoc.html", CT_HTML, CC_REVALIDATE);
}

void docs_asset(void *ctx, const struct http_request *req, struct http_response *resp)
{
	const char *name;

	(void)ctx;
	if (!req->path || strncmp(req->path, ASSET_PREFIX, strlen(ASSET_PREFIX)) != 0) {
		http_response_detail(resp, 404, "Not Found");
		return;
	}
	name = req->path + strlen(ASSET_PREFIX);
	for (size_t i = 0; i < N_ASSETS; i++) {
		if (strcmp(name, assets[i].name) == 0) {
			serve_embedded(req, resp, assets[i].name, assets[i].content_type, CC_ASSET);
			return;
		}
	}
	http_response_detail(resp, 404, "Not Found");
}
