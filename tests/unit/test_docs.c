/* Unit tests of src/docs.c and of what it serves (the embedded openapi.json,
 * pages and assets). */
#include <check.h>

#include "../check_run.h"
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "codeexecd/docs.h"
#include "codeexecd/embedded.h"
#include "codeexecd/http.h"

static void response_free(struct http_response *resp)
{
	if (!resp->body_static)
		free(resp->body);
	memset(resp, 0, sizeof(*resp));
}

/* Calls handler for GET path with the given If-None-Match (or NULL). */
static void get(http_handler handler, const char *path, const char *inm,
		struct http_response *resp)
{
	struct http_request req = {
		.method = "GET", .path = path, .if_none_match = inm, .remote = "test",
		.client_fd = -1,
	};

	memset(resp, 0, sizeof(*resp));
	handler(NULL, &req, resp);
}

static void assert_not_found(const struct http_response *resp)
{
	ck_assert_int_eq(resp->status, 404);
	ck_assert_str_eq(resp->content_type, "application/json");
	ck_assert_uint_eq(resp->body_len, strlen("{\"detail\":\"Not Found\"}"));
	ck_assert_mem_eq(resp->body, "{\"detail\":\"Not Found\"}", resp->body_len);
	ck_assert_str_eq(resp->etag, "");
}

/* A 200 with the embedded file name as a static body. */
static void assert_serves(const struct http_response *resp, const char *name,
			  const char *content_type, const char *cache_control)
{
	const struct embedded_file *f = embedded_find(name);

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(resp->status, 200);
	ck_assert_str_eq(resp->content_type, content_type);
	ck_assert_str_eq(resp->cache_control, cache_control);
	ck_assert(resp->body_static);
	ck_assert_ptr_eq(resp->body, (const void *)f->data);
	ck_assert_uint_eq(resp->body_len, f->len);
	ck_assert_str_eq(resp->etag, f->etag);
	ck_assert_uint_gt(f->len, 0);
}

START_TEST(openapi_document)
{
	struct http_response resp;

	get(docs_openapi, "/openapi.json", NULL, &resp);
	assert_serves(&resp, "openapi.json", "application/json", "no-cache");
	response_free(&resp);
}
END_TEST

START_TEST(pages)
{
	struct http_response resp;

	get(docs_swagger, "/docs", NULL, &resp);
	assert_serves(&resp, "swagger.html", "text/html; charset=utf-8", "no-cache");
	ck_assert_ptr_nonnull(strstr(resp.body,
				     "<title>Ayunis Code Execution Service - Swagger UI</title>"));
	ck_assert_ptr_nonnull(strstr(resp.body, "/docs/assets/swagger-ui-bundle.js"));
	ck_assert_ptr_nonnull(strstr(resp.body, "url: '/openapi.json'"));
	response_free(&resp);

	get(docs_redoc, "/redoc", NULL, &resp);
	assert_serves(&resp, "redoc.html", "text/html; charset=utf-8", "no-cache");
	ck_assert_ptr_nonnull(strstr(resp.body,
				     "<title>Ayunis Code Execution Service - ReDoc</title>"));
	ck_assert_ptr_nonnull(strstr(resp.body, "/docs/assets/redoc.standalone.js"));
	ck_assert_ptr_nonnull(strstr(resp.body, "Redoc.init('/openapi.json'"));
	response_free(&resp);
}
END_TEST

/* The pages name nothing outside the daemon (the old ones used a CDN). */
START_TEST(pages_are_self_contained)
{
	static const char *const names[] = { "swagger.html", "redoc.html" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const struct embedded_file *f = embedded_find(names[i]);

		ck_assert_ptr_nonnull(f);
		ck_assert_msg(!strstr((const char *)f->data, "http://") &&
				      !strstr((const char *)f->data, "https://") &&
				      !strstr((const char *)f->data, "\"//") &&
				      !strstr((const char *)f->data, "'//"),
			      "%s names an external URL", names[i]);
	}
}
END_TEST

static const struct {
	const char *name;
	const char *content_type;
} allowed[] = {
	{ "swagger-ui.css", "text/css; charset=utf-8" },
	{ "swagger-ui-bundle.js", "text/javascript; charset=utf-8" },
	{ "favicon-32x32.png", "image/png" },
	{ "redoc.standalone.js", "text/javascript; charset=utf-8" },
};

START_TEST(assets_allowed)
{
	struct http_response resp;
	char path[128];

	strcpy(path, "/docs/assets/");
	strcat(path, allowed[_i].name);
	get(docs_asset, path, NULL, &resp);
	assert_serves(&resp, allowed[_i].name, allowed[_i].content_type, "public, max-age=86400");
	response_free(&resp);
}
END_TEST

START_TEST(assets_not_allowed)
{
	/* runner.py, openapi.json and the pages are embedded, but not assets. */
	static const char *const paths[] = {
		"/docs/assets/runner.py",     "/docs/assets/openapi.json",
		"/docs/assets/swagger.html",  "/docs/assets/",
		"/docs/assets/nope.js",       "/docs/assets/../openapi.json",
		"/docs/assets//swagger-ui.css", "/docs/assets/swagger-ui.css/",
		"/docs/assets/swagger-ui.css.map", "/docs/assets/SWAGGER-UI.CSS",
		"/docs/assetsswagger-ui.css", "/docs",
	};

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		struct http_response resp;

		get(docs_asset, paths[i], NULL, &resp);
		assert_not_found(&resp);
		response_free(&resp);
	}
}
END_TEST

/* If-None-Match: 304 with no body when it names the current ETag. */
START_TEST(conditional_get)
{
	const struct embedded_file *f = embedded_find("swagger-ui-bundle.js");
	char list[256], weak[128];
	struct http_response resp;

	ck_assert_ptr_nonnull(f);
	strcpy(weak, "W/");
	strcat(weak, f->etag);
	strcpy(list, "\"0000000000000000\" ,  ");
	strcat(list, f->etag);
	strcat(list, " , \"ffff\"");

	const char *const hits[] = { f->etag, weak, list, "*", " * " };
	for (size_t i = 0; i < sizeof(hits) / sizeof(hits[0]); i++) {
		get(docs_asset, "/docs/assets/swagger-ui-bundle.js", hits[i], &resp);
		ck_assert_msg(resp.status == 304, "If-None-Match: %s", hits[i]);
		ck_assert_uint_eq(resp.body_len, 0);
		ck_assert_str_eq(resp.etag, f->etag);
		ck_assert_str_eq(resp.cache_control, "public, max-age=86400");
		response_free(&resp);
	}

	const char *const misses[] = { "", ",", "\"0000000000000000\"", "W/", "**",
				       "\"0000000000000000\", W/\"1\"" };
	for (size_t i = 0; i < sizeof(misses) / sizeof(misses[0]); i++) {
		get(docs_asset, "/docs/assets/swagger-ui-bundle.js", misses[i], &resp);
		ck_assert_msg(resp.status == 200, "If-None-Match: %s", misses[i]);
		ck_assert_uint_eq(resp.body_len, f->len);
		response_free(&resp);
	}

	/* A prefix or an extension of the tag is a different tag. */
	strcpy(weak, f->etag);
	weak[strlen(weak) - 2] = '"';
	weak[strlen(weak) - 1] = '\0';
	get(docs_asset, "/docs/assets/swagger-ui-bundle.js", weak, &resp);
	ck_assert_int_eq(resp.status, 200);
	response_free(&resp);

	/* The same for the document and the pages. */
	f = embedded_find("openapi.json");
	get(docs_openapi, "/openapi.json", f->etag, &resp);
	ck_assert_int_eq(resp.status, 304);
	ck_assert_str_eq(resp.cache_control, "no-cache");
	response_free(&resp);
	f = embedded_find("redoc.html");
	get(docs_redoc, "/redoc", f->etag, &resp);
	ck_assert_int_eq(resp.status, 304);
	response_free(&resp);
	get(docs_swagger, "/docs", f->etag, &resp); /* redoc's tag: no match */
	ck_assert_int_eq(resp.status, 200);
	response_free(&resp);
}
END_TEST

static const char *str_at(const cJSON *root, const char *const *keys)
{
	const cJSON *node = root;

	for (; *keys && node; keys++)
		node = cJSON_GetObjectItemCaseSensitive(node, *keys);
	return cJSON_IsString(node) ? node->valuestring : NULL;
}

#define STR_AT(root, ...) str_at((root), (const char *const[]){ __VA_ARGS__, NULL })

/* The facts of the contract that decide the generated client's names. */
START_TEST(openapi_contract)
{
	const struct embedded_file *f = embedded_find("openapi.json");
	cJSON *doc, *schemas;

	ck_assert_ptr_nonnull(f);
	doc = cJSON_ParseWithLength((const char *)f->data, f->len);
	ck_assert_ptr_nonnull(doc);
	ck_assert_str_eq(STR_AT(doc, "openapi"), "3.1.0");
	ck_assert_str_eq(STR_AT(doc, "info", "title"), "Ayunis Code Execution Service");
	ck_assert_str_eq(STR_AT(doc, "info", "version"), "0.1.0");
	ck_assert_str_eq(STR_AT(doc, "info", "description"),
			 "A secure Python code execution service with Docker sandboxing");
	ck_assert_str_eq(STR_AT(doc, "paths", "/execute", "post", "operationId"),
			 "execute_code_execute_post");
	ck_assert_str_eq(STR_AT(doc, "paths", "/health", "get", "operationId"),
			 "health_check_health_get");
	ck_assert_str_eq(STR_AT(doc, "paths", "/", "get", "operationId"), "root__get");
	ck_assert_str_eq(STR_AT(doc, "paths", "/ready", "get", "operationId"),
			 "ready_check_ready_get");
	schemas = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(doc, "components"), "schemas");
	static const char *const names[] = { "ExecutionRequest", "ExecutionResponse",
					     "HealthResponse", "HTTPValidationError",
					     "ValidationError", "ErrorDetail" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		ck_assert_str_eq(STR_AT(schemas, names[i], "title"), names[i]);
	ck_assert_str_eq(STR_AT(schemas, "ExecutionResponse", "properties", "output_files",
				"description"),
			 "Dictionary of output CSV files: filename -> base64-encoded content");
	cJSON_Delete(doc);
}
END_TEST

static Suite *docs_suite(void)
{
	Suite *s = suite_create("docs");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, openapi_document);
	tcase_add_test(tc, pages);
	tcase_add_test(tc, pages_are_self_contained);
	tcase_add_loop_test(tc, assets_allowed, 0, (int)(sizeof(allowed) / sizeof(allowed[0])));
	tcase_add_test(tc, assets_not_allowed);
	tcase_add_test(tc, conditional_get);
	tcase_add_test(tc, openapi_contract);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(docs_suite(), CK_NORMAL);
}
