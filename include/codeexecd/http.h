/* The HTTP request and response as route handlers see them. server.c turns
 * libmicrohttpd's connection into these; handlers never see libmicrohttpd. */
#ifndef CODEEXECD_HTTP_H
#define CODEEXECD_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "codeexecd/limits.h"

struct http_request {
	const char *method;
	const char *path;
	const char *body;          /* NUL-terminated copy; NULL when there is none */
	size_t body_len;
	const char *if_none_match; /* NULL when absent */
	const char *remote;        /* client address, for logs */
	int client_fd;             /* watched for a client that goes away; -1 if unknown */
	const char *key;           /* the API key's name when one was checked; else NULL */
};

struct http_response {
	int status;
	const char *content_type;
	char *body;                /* owned (freed by server.c) unless body_static */
	size_t body_len;
	bool body_static;
	const char *cache_control; /* static string or NULL */
	char etag[72];             /* "" = none */
	int retry_after;           /* seconds; 0 = no Retry-After header */
	char execution_id[CXD_EXEC_ID_LEN + 1]; /* for the access log; "" = none */
};

/* ctx is the struct api * given to server_start(). */
typedef void (*http_handler)(void *ctx, const struct http_request *req,
			     struct http_response *resp);

/* Sets a body the response owns (takes body, which must be malloc'ed). */
void http_response_take(struct http_response *resp, int status, const char *content_type,
			char *body, size_t len);
/* Sets a body that outlives the response (embedded data). */
void http_response_static(struct http_response *resp, int status, const char *content_type,
			  const void *body, size_t len);
/* {"detail": "<text>"} with the given status. */
void http_response_detail(struct http_response *resp, int status, const char *detail);

#endif
