/* The answering half of the libmicrohttpd adapter (see server.c): struct
 * http_response into an MHD response with the common headers (CORS,
 * nosniff, Allow, Retry-After), streamed bodies, CORS preflights, and the
 * access log line and metrics of every answer. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "codeexecd/auth.h"
#include "codeexecd/http.h"
#include "codeexecd/log.h"
#include "codeexecd/metrics.h"

#include "server_internal.h"

const char *server_header(struct MHD_Connection *conn, const char *name)
{
	return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

/* The value for Access-Control-Allow-Origin, or NULL if origin may not. */
static const char *cors_allowed(const struct config *cfg, const char *origin)
{
	const struct string_list *list = &cfg->server.cors_origins;

	for (size_t i = 0; i < list->n; i++) {
		if (strcmp(list->items[i], "*") == 0)
			return "*";
		if (strcmp(list->items[i], origin) == 0)
			return origin;
	}
	return NULL;
}

static void add_cors_headers(const struct config *cfg, struct MHD_Connection *conn,
			     struct MHD_Response *r)
{
	const char *origin = server_header(conn, "Origin");
	const char *allow;

	if (!origin || !(allow = cors_allowed(cfg, origin)))
		return;
	(void)MHD_add_response_header(r, "Access-Control-Allow-Origin", allow);
	if (strcmp(allow, "*") != 0)
		(void)MHD_add_response_header(r, "Vary", "Origin");
}

void server_client_address(struct MHD_Connection *conn, char *out, size_t outlen)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	(void)snprintf(out, outlen, "-");
	if (!sa)
		return;
	if (sa->sa_family == AF_INET)
		(void)inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
				out, (socklen_t)outlen);
	else if (sa->sa_family == AF_INET6)
		(void)inet_ntop(AF_INET6,
				&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
				(socklen_t)outlen);
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct http_body_stream *s = cls;
	size_t n;

	(void)pos;
	n = max >= 16 ? s->read(s->ctx, buf, max) : 0;
	if (n == 0)
		return max >= 16 ? MHD_CONTENT_READER_END_OF_STREAM : MHD_CONTENT_READER_END_WITH_ERROR;
	return (ssize_t)n;
}

static void stream_free(void *cls)
{
	struct http_body_stream *s = cls;

	s->free(s->ctx);
	free(s);
}

/* resp's body as an MHD response; resp's body or stream is handed over
 * (freed here on failure). */
static struct MHD_Response *make_response(struct http_response *resp)
{
	struct http_body_stream *s;
	struct MHD_Response *r;

	if (resp->stream.read) {
		s = malloc(sizeof(*s));
		if (!s) {
			resp->stream.free(resp->stream.ctx);
			return NULL;
		}
		*s = resp->stream;
		r = MHD_create_response_from_callback(s->len == HTTP_LEN_UNKNOWN ? MHD_SIZE_UNKNOWN
						      : s->len, STREAM_BLOCK, stream_read, s,
						      stream_free);
		if (!r)
			stream_free(s);
		return r;
	}
	if (resp->body_static)
		return MHD_create_response_from_buffer(resp->body_len, resp->body,
						       MHD_RESPMEM_PERSISTENT);
	r = MHD_create_response_from_buffer(resp->body_len, resp->body, MHD_RESPMEM_MUST_FREE);
	if (!r)
		free(resp->body);
	return r;
}

enum MHD_Result server_send_response(struct server *srv, struct MHD_Connection *conn,
				     const char *method, const char *path,
				     const struct request_state *st, struct http_response *resp)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	char remote[INET6_ADDRSTRLEN], num[32];

	(void)srv; /* the configuration is the request's (st->cfg) */
	r = make_response(resp);
	if (!r)
		return MHD_NO;
	/* From here libmicrohttpd owns resp->body (or its stream). */
	if (resp->content_type)
		(void)MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
	if (resp->cache_control)
		(void)MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, resp->cache_control);
	if (resp->etag[0])
		(void)MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, resp->etag);
	if (resp->retry_after > 0) {
		(void)snprintf(num, sizeof(num), "%d", resp->retry_after);
		(void)MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, num);
	}
	if (resp->status == MHD_HTTP_METHOD_NOT_ALLOWED) {
		char allow[64];
		server_allow_header(path, allow, sizeof(allow));
		(void)MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	}
	(void)MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	if (resp->status == MHD_HTTP_UNAUTHORIZED)
		(void)MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	add_cors_headers(st->cfg, conn, r);
	ret = MHD_queue_response(conn, (unsigned int)resp->status, r);
	MHD_destroy_response(r);
	server_client_address(conn, remote, sizeof(remote));
	log_request(method, path, resp->status, server_ms_since(&st->start), remote,
		    resp->execution_id, server_route_label(st), st->key ? auth_key_name(st->key) : NULL);
	metrics_http_request(server_route_label(st), resp->status, server_ms_since(&st->start) / 1e3);
	return ret;
}

enum MHD_Result server_send_detail(struct server *srv, struct MHD_Connection *conn,
				   const char *method, const char *path,
				   const struct request_state *st, int status, const char *detail)
{
	struct http_response resp = { 0 };

	http_response_detail(&resp, status, detail);
	return server_send_response(srv, conn, method, path, st, &resp);
}

/* A CORS preflight: OPTIONS with Origin and Access-Control-Request-Method.
 * As Starlette's CORSMiddleware: 200 when allowed, 400 otherwise. */
enum MHD_Result server_send_preflight(struct server *srv, struct MHD_Connection *conn,
				      const char *path, const struct request_state *st)
{
	const char *origin = server_header(conn, "Origin");
	const char *want = server_header(conn, "Access-Control-Request-Method");
	const char *want_headers = server_header(conn, "Access-Control-Request-Headers");
	const char *allow = cors_allowed(st->cfg, origin);
	struct http_response resp = { 0 };
	struct MHD_Response *r;
	enum MHD_Result ret;
	char remote[INET6_ADDRSTRLEN];
	static const char ok[] = "OK", bad_origin[] = "Disallowed CORS origin",
			  bad_method[] = "Disallowed CORS method";
	const char *text = ok;

	(void)srv;
	resp.status = 200;
	if (!allow) {
		resp.status = 400;
		text = bad_origin;
	} else if (strcmp(want, "GET") != 0 && strcmp(want, "POST") != 0 &&
		   strcmp(want, "HEAD") != 0) {
		resp.status = 400;
		text = bad_method;
	}
	r = MHD_create_response_from_buffer(strlen(text), (void *)(uintptr_t)text,
					    MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	(void)MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	if (allow) {
		(void)MHD_add_response_header(r, "Access-Control-Allow-Origin", allow);
		(void)MHD_add_response_header(r, "Access-Control-Allow-Methods", CORS_METHODS);
		(void)MHD_add_response_header(r, "Access-Control-Max-Age", CORS_MAX_AGE);
		if (want_headers)
			(void)MHD_add_response_header(r, "Access-Control-Allow-Headers", want_headers);
		if (strcmp(allow, "*") != 0)
			(void)MHD_add_response_header(r, "Vary", "Origin");
	}
	ret = MHD_queue_response(conn, (unsigned int)resp.status, r);
	MHD_destroy_response(r);
	server_client_address(conn, remote, sizeof(remote));
	log_request("OPTIONS", path, resp.status, server_ms_since(&st->start), remote, NULL,
		    server_route_label(st), NULL);
	metrics_http_request(server_route_label(st), resp.status, server_ms_since(&st->start) / 1e3);
	return ret;
}

enum MHD_Result server_send_over_budget(struct server *srv, struct MHD_Connection *conn,
					const char *method, const char *path,
					const struct request_state *st)
{
	struct http_response resp = { .retry_after = 2 };

	http_response_detail(&resp, 503, "Too many request bodies in flight; retry later");
	return server_send_response(srv, conn, method, path, st, &resp);
}

enum MHD_Result server_send_probe_answer(struct MHD_Connection *conn)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	ret = MHD_queue_response(conn, MHD_HTTP_NO_CONTENT, r);
	MHD_destroy_response(r);
	return ret;
}
