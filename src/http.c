/* Response helpers shared by the route handlers, and the Host check (see
 * http.h). No libmicrohttpd here. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

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

void http_hosts_init(struct http_hosts *h, const struct string_list *list,
		     const struct sockaddr *listening)
{
	static const char *const loopback[] = { "localhost", "127.0.0.1", "::1" };
	bool lo = false;

	memset(h, 0, sizeof(*h));
	for (size_t i = 0; i < list->n; i++)
		if (strcmp(list->items[i], "*") == 0)
			h->any = true;
	if (list->n > 0) {
		h->names = *list;
		return;
	}
	if (listening && listening->sa_family == AF_INET)
		lo = ntohl(((const struct sockaddr_in *)(const void *)listening)->sin_addr.s_addr) >>
		     24 == 127;
	else if (listening && listening->sa_family == AF_INET6)
		lo = IN6_IS_ADDR_LOOPBACK(
			&((const struct sockaddr_in6 *)(const void *)listening)->sin6_addr);
	h->any = !lo;
	for (size_t i = 0; lo && i < sizeof(loopback) / sizeof(loopback[0]); i++)
		(void)snprintf(h->names.items[h->names.n++], sizeof(h->names.items[0]), "%s",
			       loopback[i]);
}

/* The name in a Host header value, without port or brackets. */
static void host_name(const char *host, char *out, size_t outlen)
{
	size_t n;

	if (host[0] == '[') {
		host++;
		n = strcspn(host, "]");
	} else {
		n = strcspn(host, ":");
	}
	(void)snprintf(out, outlen, "%.*s", (int)n, host);
}

bool http_hosts_allow(const struct http_hosts *h, const char *host)
{
	char name[256], item[256];

	if (h->any || !host)
		return true;
	if (strlen(host) >= sizeof(name))
		return false;
	host_name(host, name, sizeof(name));
	for (size_t i = 0; i < h->names.n; i++) {
		const char *it = h->names.items[i];
		if (it[0] == '[')
			host_name(it, item, sizeof(item)); /* "[::1]" as "::1" */
		else
			(void)snprintf(item, sizeof(item), "%s", it);
		if (strcasecmp(name, item) == 0)
			return true;
	}
	return false;
}
