/* The libmicrohttpd adapter: the routes table, request bodies with a cap,
 * connection limits, CORS, and turning struct http_response into MHD
 * responses. The only module that calls MHD_*.
 *
 * Threading: one thread per connection (MHD_USE_THREAD_PER_CONNECTION), so a
 * handler may block for the length of an execution while /health and the
 * other routes keep answering on their own connections. The number of
 * connections, the connections per IP, the idle timeout and the memory for
 * request headers are bounded by the configuration. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "codeexecd/api.h"
#include "codeexecd/docs.h"
#include "codeexecd/http.h"
#include "codeexecd/log.h"
#include "codeexecd/server.h"

struct route {
	const char *method;
	const char *path;
	bool prefix;        /* path is a prefix ("/docs/assets/") */
	bool takes_body;
	http_handler handler;
};

static const struct route routes[] = {
	{ "POST", "/execute", false, true, api_execute },
	{ "GET", "/health", false, false, api_health },
	{ "GET", "/ready", false, false, api_ready },
	{ "GET", "/", false, false, api_root },
	{ "GET", "/openapi.json", false, false, docs_openapi },
	{ "GET", "/docs", false, false, docs_swagger },
	{ "GET", "/redoc", false, false, docs_redoc },
	{ "GET", "/docs/assets/", true, false, docs_asset },
};

#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))
#define CORS_METHODS "GET, POST"
#define CORS_MAX_AGE "600"
#define STOP_DRAIN_MS 10000   /* for in-flight answers at shutdown */

struct server {
	struct MHD_Daemon *mhd;
	const struct config *cfg;
	struct api *api;
	int port;
	int quiesced_fd;      /* the listening socket handed back by quiesce */
	atomic_int inflight;  /* requests begun and not yet answered */
};

/* Per-request state, from the first call of on_request to on_completed. */
struct request_state {
	struct timespec start;
	const struct route *route;
	char *body;            /* NUL-terminated, at most max_body_bytes */
	size_t body_len;
	size_t body_cap;
	bool too_large;
	size_t dropped;        /* bytes read past the limit */
};

static double ms_since(const struct timespec *start)
{
	struct timespec now;

	(void)clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) * 1e3 +
	       (double)(now.tv_nsec - start->tv_nsec) / 1e6;
}

static bool route_matches_path(const struct route *r, const char *path)
{
	if (r->prefix)
		return strncmp(path, r->path, strlen(r->path)) == 0;
	return strcmp(path, r->path) == 0;
}

/* HEAD is served by the GET route (libmicrohttpd drops the body). */
static const struct route *route_find(const char *method, const char *path, bool *path_known)
{
	const char *m = strcmp(method, "HEAD") == 0 ? "GET" : method;

	*path_known = false;
	for (size_t i = 0; i < N_ROUTES; i++) {
		if (!route_matches_path(&routes[i], path))
			continue;
		*path_known = true;
		if (strcmp(routes[i].method, m) == 0)
			return &routes[i];
	}
	return NULL;
}

static void allow_header(const char *path, char *out, size_t outlen)
{
	size_t pos = 0;

	out[0] = '\0';
	for (size_t i = 0; i < N_ROUTES && pos < outlen; i++) {
		if (!route_matches_path(&routes[i], path) || strstr(out, routes[i].method))
			continue;
		int n = snprintf(out + pos, outlen - pos, "%s%s", pos ? ", " : "",
				 routes[i].method);
		if (n < 0 || (size_t)n >= outlen - pos)
			break;
		pos += (size_t)n;
	}
}

static const char *header(struct MHD_Connection *conn, const char *name)
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

static void add_cors_headers(const struct server *srv, struct MHD_Connection *conn,
			     struct MHD_Response *r)
{
	const char *origin = header(conn, "Origin");
	const char *allow;

	if (!origin || !(allow = cors_allowed(srv->cfg, origin)))
		return;
	(void)MHD_add_response_header(r, "Access-Control-Allow-Origin", allow);
	if (strcmp(allow, "*") != 0)
		(void)MHD_add_response_header(r, "Vary", "Origin");
}

static void client_address(struct MHD_Connection *conn, char *out, size_t outlen)
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

/* Queues resp on conn, with the common headers; frees resp's owned body
 * (handed to libmicrohttpd) and logs the request. */
static enum MHD_Result send_response(struct server *srv, struct MHD_Connection *conn,
				     const char *method, const char *path,
				     const struct request_state *st, struct http_response *resp)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	char remote[INET6_ADDRSTRLEN], num[32];

	if (resp->body_static)
		r = MHD_create_response_from_buffer(resp->body_len, resp->body,
						    MHD_RESPMEM_PERSISTENT);
	else
		r = MHD_create_response_from_buffer(resp->body_len, resp->body,
						    MHD_RESPMEM_MUST_FREE);
	if (!r) {
		if (!resp->body_static)
			free(resp->body);
		return MHD_NO;
	}
	/* From here libmicrohttpd owns resp->body. */
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
		allow_header(path, allow, sizeof(allow));
		(void)MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	}
	(void)MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	add_cors_headers(srv, conn, r);
	ret = MHD_queue_response(conn, (unsigned int)resp->status, r);
	MHD_destroy_response(r);
	client_address(conn, remote, sizeof(remote));
	log_request(method, path, resp->status, ms_since(&st->start), remote,
		    resp->execution_id);
	return ret;
}

static enum MHD_Result send_detail(struct server *srv, struct MHD_Connection *conn,
				   const char *method, const char *path,
				   const struct request_state *st, int status, const char *detail)
{
	struct http_response resp = { 0 };

	http_response_detail(&resp, status, detail);
	return send_response(srv, conn, method, path, st, &resp);
}

/* A CORS preflight: OPTIONS with Origin and Access-Control-Request-Method.
 * As Starlette's CORSMiddleware: 200 when allowed, 400 otherwise. */
static enum MHD_Result send_preflight(struct server *srv, struct MHD_Connection *conn,
				      const char *path, const struct request_state *st)
{
	const char *origin = header(conn, "Origin");
	const char *want = header(conn, "Access-Control-Request-Method");
	const char *want_headers = header(conn, "Access-Control-Request-Headers");
	const char *allow = cors_allowed(srv->cfg, origin);
	struct http_response resp = { 0 };
	struct MHD_Response *r;
	enum MHD_Result ret;
	char remote[INET6_ADDRSTRLEN];
	static const char ok[] = "OK", bad_origin[] = "Disallowed CORS origin",
			  bad_method[] = "Disallowed CORS method";
	const char *text = ok;

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
	client_address(conn, remote, sizeof(remote));
	log_request("OPTIONS", path, resp.status, ms_since(&st->start), remote, NULL);
	return ret;
}

/* Appends an upload chunk; beyond max_body_bytes the rest is read and
 * dropped, never stored, and the request ends in 413. */
static int store_body(struct request_state *st, size_t max, const char *data, size_t len)
{
	if (st->too_large || len > max - st->body_len) {
		st->too_large = true;
		return 0;
	}
	if (st->body_len + len + 1 > st->body_cap) {
		size_t cap = st->body_cap ? st->body_cap : 16384;
		while (cap < st->body_len + len + 1)
			cap *= 2;
		if (cap > max + 1)
			cap = max + 1;
		char *grown = realloc(st->body, cap);
		if (!grown)
			return -ENOMEM;
		st->body = grown;
		st->body_cap = cap;
	}
	memcpy(st->body + st->body_len, data, len);
	st->body_len += len;
	st->body[st->body_len] = '\0';
	return 0;
}

static void body_limit_text(const struct config *cfg, char *out, size_t outlen)
{
	(void)snprintf(out, outlen, "Request body too large: the limit is %ld bytes",
		       cfg->server.max_body_bytes);
}

struct cl_count {
	const char *first;
	bool conflict;
};

static enum MHD_Result count_content_length(void *cls, enum MHD_ValueKind kind,
					    const char *key, const char *value)
{
	struct cl_count *c = cls;

	(void)kind;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) != 0)
		return MHD_YES;
	if (c->first && strcmp(c->first, value) != 0)
		c->conflict = true;
	c->first = value;
	return MHD_YES;
}

/* The first call for a request: routing, conflicting lengths (a request
 * smuggling vector behind proxies: RFC 9112 6.3 says 400) and the early 413.
 * Returns true when a response has been queued (in *ret). */
static bool first_call(struct server *srv, struct MHD_Connection *conn, const char *method,
		       const char *path, struct request_state *st, enum MHD_Result *ret)
{
	const char *cl = header(conn, MHD_HTTP_HEADER_CONTENT_LENGTH);
	struct cl_count count = { 0 };
	char text[128];
	bool known;

	(void)MHD_get_connection_values(conn, MHD_HEADER_KIND, count_content_length, &count);
	if (count.conflict) {
		*ret = send_detail(srv, conn, method, path, st, 400,
				   "Conflicting Content-Length headers");
		return true;
	}
	st->route = route_find(method, path, &known);
	if (st->route && st->route->takes_body && cl) {
		char *end;
		errno = 0;
		unsigned long long n = strtoull(cl, &end, 10);
		if (errno == 0 && *end == '\0' && n > (unsigned long long)srv->cfg->server.max_body_bytes) {
			body_limit_text(srv->cfg, text, sizeof(text));
			*ret = send_detail(srv, conn, method, path, st, 413, text);
			return true;
		}
	}
	return false;
}

static enum MHD_Result dispatch(struct server *srv, struct MHD_Connection *conn,
				const char *method, const char *path, struct request_state *st)
{
	struct http_response resp = { .status = 500 };
	struct http_request req = { 0 };
	const union MHD_ConnectionInfo *ci;
	char text[128];
	bool known;

	if (strlen(path) > CXD_PATH_MAX)
		return send_detail(srv, conn, method, "(long path)", st, 404, "Not Found");
	if (strcmp(method, "OPTIONS") == 0 && header(conn, "Origin") &&
	    header(conn, "Access-Control-Request-Method"))
		return send_preflight(srv, conn, path, st);
	if (!st->route) {
		(void)route_find(method, path, &known);
		return send_detail(srv, conn, method, path, st, known ? 405 : 404,
				   known ? "Method Not Allowed" : "Not Found");
	}
	if (st->too_large) {
		body_limit_text(srv->cfg, text, sizeof(text));
		return send_detail(srv, conn, method, path, st, 413, text);
	}
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	req.method = method;
	req.path = path;
	req.body = st->body;
	req.body_len = st->body_len;
	req.if_none_match = header(conn, MHD_HTTP_HEADER_IF_NONE_MATCH);
	req.client_fd = ci ? ci->connect_fd : -1;
	st->route->handler(srv->api, &req, &resp);
	return send_response(srv, conn, method, path, st, &resp);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	struct server *srv = cls;
	struct request_state *st = *con_cls;
	enum MHD_Result ret;

	(void)version;
	if (!st) {
		st = calloc(1, sizeof(*st));
		if (!st)
			return MHD_NO;
		(void)clock_gettime(CLOCK_MONOTONIC, &st->start);
		*con_cls = st;
		atomic_fetch_add(&srv->inflight, 1);
		if (first_call(srv, conn, method, url, st, &ret))
			return ret;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		if (st->route && st->route->takes_body &&
		    store_body(st, (size_t)srv->cfg->server.max_body_bytes, upload_data,
			       *upload_data_size) != 0)
			return MHD_NO;
		/* libmicrohttpd (0.9.75) cannot answer before the upload ends, so
		 * what is over the limit is read and dropped, up to as much again
		 * as the limit (at least CXD_BODY_DROP_MIN); beyond that (an
		 * endless chunked body) the connection is closed unanswered. */
		if (st->too_large) {
			size_t allow = (size_t)srv->cfg->server.max_body_bytes;
			st->dropped += *upload_data_size;
			if (st->dropped > (allow > CXD_BODY_DROP_MIN ? allow : CXD_BODY_DROP_MIN))
				return MHD_NO;
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	return dispatch(srv, conn, method, url, st);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct server *srv = cls;
	struct request_state *st = *con_cls;

	(void)conn;
	(void)toe;
	if (!st)
		return;
	atomic_fetch_sub(&srv->inflight, 1);
	free(st->body);
	free(st);
	*con_cls = NULL;
}

/* libmicrohttpd's format strings are its own: checked as printf formats. */
__attribute__((format(printf, 2, 0)))
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];

	(void)cls;
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	log_warn(NULL, "http: %s", msg);
}

static int resolve(const struct config *cfg, struct addrinfo **res, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	char port[16];
	int rc;

	(void)snprintf(port, sizeof(port), "%d", cfg->server.port);
	rc = getaddrinfo(cfg->server.host[0] ? cfg->server.host : NULL, port, &hints, res);
	if (rc != 0) {
		(void)snprintf(err, errlen, "cannot resolve server.host '%s': %s",
			       cfg->server.host, gai_strerror(rc));
		return -EINVAL;
	}
	return 0;
}

int server_bind(const struct config *cfg, int *fd_out, int *port_out, char *err, size_t errlen)
{
	struct addrinfo *res = NULL;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	int fd = -1, one = 1, rc;

	rc = resolve(cfg, &res, err, errlen);
	if (rc != 0)
		return rc;
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 128) != 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sslen) != 0) {
		rc = -errno;
		(void)snprintf(err, errlen, "cannot listen on %s:%d: %s", cfg->server.host,
			       cfg->server.port, strerror(errno));
		if (fd >= 0)
			(void)close(fd);
		goto out;
	}
	*port_out = ntohs(ss.ss_family == AF_INET6
			  ? ((struct sockaddr_in6 *)(void *)&ss)->sin6_port
			  : ((struct sockaddr_in *)(void *)&ss)->sin_port);
	*fd_out = fd;
out:
	freeaddrinfo(res);
	return rc;
}

int server_start(struct server **out, const struct config *cfg, int listen_fd, int port,
		 struct api *ctx, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	struct server *srv;
	unsigned int flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
			     MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;

	if (getsockname(listen_fd, (struct sockaddr *)&ss, &sslen) == 0 && ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->cfg = cfg;
	srv->api = ctx;
	srv->port = port;
	srv->quiesced_fd = -1;
	/* From here libmicrohttpd owns listen_fd (it closes it at stop). */
	srv->mhd = MHD_start_daemon(
		flags, (uint16_t)port, NULL, NULL, on_request, srv,
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv,
		MHD_OPTION_LISTEN_SOCKET, (MHD_socket)listen_fd,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)cfg->server.max_connections,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)cfg->server.max_connections_per_ip,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)cfg->server.idle_timeout_seconds,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)cfg->server.header_memory_bytes,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
		MHD_OPTION_END);
	if (!srv->mhd) {
		(void)snprintf(err, errlen, "cannot start the HTTP server on %s:%d",
			       cfg->server.host, port);
		(void)close(listen_fd);
		free(srv);
		return -EIO;
	}
	*out = srv;
	return 0;
}

void server_quiesce(struct server *srv)
{
	MHD_socket listener;

	if (!srv || !srv->mhd)
		return;
	/* The listening socket is handed back to us; libmicrohttpd's threads
	 * may still look at it, so it is closed only after MHD_stop_daemon. */
	listener = MHD_quiesce_daemon(srv->mhd);
	if (listener != MHD_INVALID_SOCKET)
		srv->quiesced_fd = listener;
}

void server_stop(struct server *srv)
{
	if (!srv)
		return;
	/* Let handlers that just finished write their answers (a 503 to a
	 * run stopped by the shutdown, say) before the connections close. */
	for (int i = 0; i < STOP_DRAIN_MS / 20 && atomic_load(&srv->inflight) > 0; i++)
		(void)usleep(20000);
	if (srv->mhd)
		MHD_stop_daemon(srv->mhd);
	if (srv->quiesced_fd >= 0)
		(void)close(srv->quiesced_fd);
	free(srv);
}
