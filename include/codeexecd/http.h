/* The HTTP request and response as route handlers see them. server.c turns
 * libmicrohttpd's connection into these; handlers never see libmicrohttpd. */
#ifndef CODEEXECD_HTTP_H
#define CODEEXECD_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "codeexecd/config.h"
#include "codeexecd/limits.h"

struct sockaddr;

struct http_request {
	const char *method;
	const char *path;
	char *body;                /* NUL-terminated; handed over: the handler frees it
				      (as soon as it is done with it); NULL when none */
	size_t body_len;
	const char *content_type;  /* NULL when absent */
	const char *if_none_match; /* NULL when absent */
	const char *remote;        /* client address, for logs */
	int client_fd;             /* watched for a client that goes away; -1 if unknown */
	const char *key;           /* the API key's name when one was checked; else NULL */
	/* Writes an interim answer (HTTP/1.1 102) on client_fd, which a client
	 * that closed answers with a reset (see execution.h); NULL for HTTP/1.0
	 * clients, which must not get one. */
	void (*client_probe)(void *probe_ctx);
	void *probe_ctx;
	/* What the route's admit hook reserved before the body was read; the
	 * handler takes it over by setting *admission to NULL. */
	void **admission;
};

/* A body produced as the socket takes it: read() writes at most room
 * (>= 16) bytes and returns how many (0 only at the end); free() releases
 * ctx when the answer is done or dropped. */
struct http_body_stream {
	size_t (*read)(void *ctx, char *buf, size_t room);
	void (*free)(void *ctx);
	void *ctx;
	size_t len;                /* the exact total length, or HTTP_LEN_UNKNOWN: sent
				      chunked (HTTP/1.1), read() may block until it has
				      something, each piece goes out as soon as read */
};

#define HTTP_LEN_UNKNOWN ((size_t)-1)

struct http_response {
	int status;
	const char *content_type;
	char *body;                /* owned (freed by server.c) unless body_static */
	size_t body_len;
	bool body_static;
	struct http_body_stream stream; /* the body instead, when stream.read is set */
	const char *cache_control; /* static string or NULL */
	char etag[72];             /* "" = none */
	int retry_after;           /* seconds; 0 = no Retry-After header */
	/* The connection's idle timeout while this answer is written (a
	 * streamed body that may be silent for long); 0: server.idle_timeout_seconds. */
	int timeout_seconds;
	char execution_id[CXD_EXEC_ID_LEN + 1]; /* for the access log; "" = none */
};

/* ctx is the struct api * given to server_start(). */
typedef void (*http_handler)(void *ctx, const struct http_request *req,
			     struct http_response *resp);
/* A route's admission, called when the headers are in and before the body
 * is read: 0 with *admission set, or resp filled with the refusal. */
typedef int (*http_admit)(void *ctx, void **admission, struct http_response *resp);
/* Gives back an admission the handler did not take (the request died). */
typedef void (*http_release)(void *ctx, void *admission);

/* Sets a body produced piece by piece (stream is copied; resp owns ctx). */
void http_response_stream(struct http_response *resp, int status, const char *content_type,
			  const struct http_body_stream *stream);
/* Frees what resp owns (body or stream) and clears it. */
void http_response_clear(struct http_response *resp);

/* Sets a body the response owns (takes body, which must be malloc'ed). */
void http_response_take(struct http_response *resp, int status, const char *content_type,
			char *body, size_t len);
/* Sets a body that outlives the response (embedded data). */
void http_response_static(struct http_response *resp, int status, const char *content_type,
			  const void *body, size_t len);
/* The names accepted in the Host header (server.allowed_hosts). */
struct http_hosts {
	bool any;
	struct string_list names;
};

/* list as configured ("*" = any); when empty: the loopback names
 * (localhost, 127.0.0.1, ::1) when listening is a loopback address, any
 * name otherwise (listening NULL: unknown, any). */
void http_hosts_init(struct http_hosts *h, const struct string_list *list,
		     const struct sockaddr *listening);
/* True when a Host header value (name[:port], [v6]:port) is accepted; a
 * missing one (HTTP/1.0; browsers always send one) is. */
bool http_hosts_allow(const struct http_hosts *h, const char *host);

/* {"detail": "<text>"} with the given status. */
void http_response_detail(struct http_response *resp, int status, const char *detail);

#endif
