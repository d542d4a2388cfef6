/* Response helpers shared by the route handlers (see http.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "codeexecd/http.h"

void http_response_clear(struct http_response *resp)
{
	if (resp->body && !resp->body_static)
		free(resp->body);
	resp->body = NULL;
	resp->body_len = 0;
	resp->body_static = false;
	if (resp->stream.free)
		resp->stream.free(resp->stream.ctx);
	memset(&resp->stream, 0, sizeof(resp->stream));
}

void http_response_stream(struct http_response *resp, int status, const char *content_type,
			  const struct http_body_stream *stream)
{
	http_response_clear(resp);
	resp->status = status;
	resp->content_type = content_type;
	resp->stream = *stream;
}

void http_response_take(struct http_response *resp, int status, const char *content_type,
			char *body, size_t len)
{
	http_response_clear(resp);
	resp->status = status;
	resp->content_type = content_type;
	resp->body = body;
	resp->body_len = body ? len : 0;
	resp->body_static = false;
}

void http_response_static(struct http_response *resp, int status, const char *content_type,
			  const void *body, size_t len)
{
	http_response_clear(resp);
	resp->status = status;
	resp->content_type = content_type;
	resp->body = (char *)(uintptr_t)body; /* never written: body_static */
	resp->body_len = len;
	resp->body_static = true;
}

void http_response_detail(struct http_response *resp, int status, const char *detail)
{
	cJSON *obj = cJSON_CreateObject();
	char *text = NULL;

	if (obj && cJSON_AddStringToObject(obj, "detail", detail))
		text = cJSON_PrintUnformatted(obj);
	cJSON_Delete(obj);
	if (!text) {
		static const char oom[] = "{\"detail\":\"Out of memory\"}";
		http_response_static(resp, 500, "application/json", oom, sizeof(oom) - 1);
		return;
	}
	http_response_take(resp, status, "application/json", text, strlen(text));
}
