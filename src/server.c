/* The libmicrohttpd adapter: the routes table, request bodies with a cap,
 * connection limits, CORS, and turning struct http_response into MHD
 * responses. The only module that calls MHD_*.
 *
 * Threading: one thread per connection (MHD_USE_THREAD_PER_CONNECTION), so a
 * handler may block for the length of an execution while /health and the
 * other routes keep answering on their own connections, and a streamed
 * body's read() may block until it has something (/execute/stream). The number of
 * connections, the connections per IP, the idle timeout and the memory for
 * request headers are bounded by the configuration. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
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
#include "codeexecd/api_stream.h"
#include "codeexecd/api_sessions.h"
#include "codeexecd/auth.h"
#include "codeexecd/deadline.h"
#include "codeexecd/docs.h"
#include "codeexecd/http.h"
#include "codeexecd/listen.h"
#include "codeexecd/log.h"
#include "codeexecd/metrics.h"
#include "codeexecd/server.h"

#include "server_internal.h"


static const struct route routes[] = {
	{ "POST", "/execute", false, true, api_execute, ACCESS_KEY, true, api_execute_admit,
	  api_execute_release },
	{ "POST", "/execute/stream", false, true, api_execute_stream, ACCESS_KEY, true,
	  api_execute_admit, api_execute_release },
	{ "POST", "/sessions", false, true, api_sessions_create, ACCESS_KEY, true,
	  api_execute_admit, api_execute_release },
	{ "POST", "/sessions/", true, true, api_sessions_execute, ACCESS_KEY, true,
	  api_execute_admit, api_execute_release },
	{ "GET", "/sessions/", true, false, api_sessions_get, ACCESS_KEY, false, NULL, NULL },
	{ "DELETE", "/sessions/", true, false, api_sessions_delete, ACCESS_KEY, false, NULL, NULL },
	{ "GET", "/health", false, false, api_health, ACCESS_PUBLIC, false, NULL, NULL },
	{ "GET", "/ready", false, false, api_ready, ACCESS_PUBLIC, false, NULL, NULL },
	{ "GET", "/metrics", false, false, api_metrics, ACCESS_METRICS, false, NULL, NULL },
	{ "GET", "/", false, false, api_root, ACCESS_DOCS, false, NULL, NULL },
	{ "GET", "/openapi.json", false, false, docs_openapi, ACCESS_DOCS, false, NULL, NULL },
	{ "GET", "/docs", false, false, docs_swagger, ACCESS_DOCS, false, NULL, NULL },
	{ "GET", "/redoc", false, false, docs_redoc, ACCESS_DOCS, false, NULL, NULL },
	{ "GET", "/docs/assets/", true, false, docs_asset, ACCESS_DOCS, false, NULL, NULL },
};

#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))
#define STOP_DRAIN_MS 10000   /* for in-flight answers at shutdown */


double server_ms_since(const struct timespec *start)
{
	struct timespec now;

	(void)clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) * 1e3 +
	       (double)(now.tv_nsec - start->tv_nsec) / 1e6;
}

const char *server_route_label(const struct request_state *st)
{
	return st->route ? st->route->path : "other";
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

void server_allow_header(const char *path, char *out, size_t outlen)
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

static struct deadline_entry *connection_deadline(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

/* Covers n more bytes of body buffer with the bodies' budget; false when
 * they do not fit. A request is charged twice its buffer: the body while it
 * is read and parsed, then what it becomes (the decoded files, and the job
 * packed from them for the sandbox), which lives until the request ends.
 * The charge is capped at the budget, so one request alone always fits. */
static bool budget_take(struct server *srv, struct request_state *st, size_t n)
{
	long max = st->cfg->server.max_inflight_body_bytes;
	long want = (long)(st->reserved + n) * 2, add, cur = atomic_load(&srv->body_bytes);

	if (want > max)
		want = max;
	add = want - st->charged;
	do {
		if (add > max - cur)
			return false;
	} while (!atomic_compare_exchange_weak(&srv->body_bytes, &cur, cur + add));
	st->charged += add;
	st->reserved += n;
	return true;
}

static void budget_give_back(struct server *srv, struct request_state *st)
{
	atomic_fetch_sub(&srv->body_bytes, st->charged);
	st->charged = 0;
	st->reserved = 0;
}

/* Appends an upload chunk; beyond max_body_bytes (or the bodies' budget)
 * the rest is read and dropped, never stored, and the request ends in 413
 * (or 503). The buffer is what the budget counts: with a Content-Length it
 * was reserved whole at the first call, else it grows here. */
static int store_body(struct server *srv, struct request_state *st, const char *data, size_t len)
{
	size_t max = (size_t)st->cfg->server.max_body_bytes;

	if (st->too_large || st->over_budget || len > max - st->body_len) {
		st->too_large = st->too_large || (!st->over_budget && len > max - st->body_len);
		return 0;
	}
	if (st->body_len + len + 1 > st->body_cap) {
		size_t cap = st->body_cap ? st->body_cap : 16384;
		while (cap < st->body_len + len + 1)
			cap *= 2;
		if (cap > max + 1)
			cap = max + 1;
		if (cap > st->reserved && !budget_take(srv, st, cap - st->reserved)) {
			st->over_budget = true;
			return 0;
		}
		char *grown = realloc(st->body, cap);
		if (!grown)
			return -ENOMEM;
		st->body = grown;
		st->body_cap = cap;
	}
	memcpy(st->body + st->body_len, data, len);
	st->body_len += len;
	metrics_gauge_add(METRICS_G_BODY_BYTES, (long)len);
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

/* route_find, less what this listener and configuration do not serve:
 * the metrics listener serves /metrics alone, the main one serves it when
 * server.metrics is on and no server.metrics_listen is set. */
static const struct route *route_lookup(const struct listener *lst, const struct config *cfg,
					const char *method, const char *path, bool *known)
{
	const struct route *r = route_find(method, path, known);
	bool metrics = strcmp(path, "/metrics") == 0;
	bool served = metrics ? cfg->server.metrics &&
				(lst->metrics_only || !cfg->server.metrics_listen[0])
			      : !lst->metrics_only;

	if (!served) {
		*known = false;
		return NULL;
	}
	return r;
}

/* The key a client presents: "Authorization: Bearer <key>" or
 * "X-API-Key: <key>"; NULL when there is none. */
static const char *presented_key(struct MHD_Connection *conn)
{
	const char *h = server_header(conn, MHD_HTTP_HEADER_AUTHORIZATION);

	if (h && strncasecmp(h, "Bearer ", 7) == 0) {
		h += 7;
		while (*h == ' ')
			h++;
		return *h ? h : NULL;
	}
	h = server_header(conn, "X-API-Key");
	return h && *h ? h : NULL;
}

static bool needs_key(const struct listener *lst, const struct config *cfg,
		      const struct route *r)
{
	switch (r->access) {
	case ACCESS_KEY: return true;
	case ACCESS_DOCS: return cfg->auth.protect_docs;
	case ACCESS_METRICS: return !lst->metrics_only;
	default: return false;
	}
}

/* The routing table's auth step: 401 without a valid key where one is
 * needed, 429 when the key is over its limits. Returns true when a
 * response has been queued (in *ret). */
static bool authenticate(struct listener *lst, struct MHD_Connection *conn, const char *method,
			 const char *path, struct request_state *st, enum MHD_Result *ret)
{
	struct http_response resp = { 0 };
	const char *presented;
	char why[256];

	if (!st->route || !st->auth || !needs_key(lst, st->cfg, st->route))
		return false;
	presented = presented_key(conn);
	st->key = presented ? auth_find(st->auth, presented) : NULL;
	if (!st->key) {
		metrics_auth_failure();
		*ret = server_send_detail(lst->srv, conn, method, path, st, 401, "Not authenticated");
		return true;
	}
	if (!st->route->key_limits)
		return false;
	if (auth_admit(st->key, &resp.retry_after, why, sizeof(why)) == 0) {
		st->key_admitted = true;
		return false;
	}
	metrics_execution(METRICS_OUT_REJECTED, auth_key_name(st->key));
	http_response_detail(&resp, 429, why);
	*ret = server_send_response(lst->srv, conn, method, path, st, &resp);
	return true;
}

static bool parse_length(const char *cl, unsigned long long *n)
{
	char *end;

	if (!cl)
		return false;
	errno = 0;
	*n = strtoull(cl, &end, 10);
	return errno == 0 && *end == '\0' && end != cl;
}

/* The first call for a request, when its headers are in: conflicting
 * lengths (a request smuggling vector behind proxies: RFC 9112 6.3 says
 * 400), the Host, routing, the early 413, the route's admission and the
 * body's share of the budget, all before the body is read. Returns true
 * when a response has been queued (in *ret). */
static bool first_call(struct listener *lst, struct MHD_Connection *conn, const char *method,
		       const char *path, struct request_state *st, enum MHD_Result *ret)
{
	struct server *srv = lst->srv;
	const char *cl = server_header(conn, MHD_HTTP_HEADER_CONTENT_LENGTH);
	struct cl_count count = { 0 };
	unsigned long long n = 0;
	bool known, has_length;
	char text[128];

	(void)MHD_get_connection_values(conn, MHD_HEADER_KIND, count_content_length, &count);
	if (count.conflict) {
		*ret = server_send_detail(srv, conn, method, path, st, 400,
				   "Conflicting Content-Length headers");
		return true;
	}
	if (!http_hosts_allow(&srv->hosts, server_header(conn, MHD_HTTP_HEADER_HOST))) {
		*ret = server_send_detail(srv, conn, method, path, st, 400, "Invalid host header");
		return true;
	}
	st->route = route_lookup(lst, st->cfg, method, path, &known);
	if (authenticate(lst, conn, method, path, st, ret))
		return true;
	if (!st->route || !st->route->takes_body)
		return false;
	has_length = parse_length(cl, &n);
	if (has_length && n > (unsigned long long)st->cfg->server.max_body_bytes) {
		body_limit_text(st->cfg, text, sizeof(text));
		*ret = server_send_detail(srv, conn, method, path, st, 413, text);
		return true;
	}
	if (st->route->admit) {
		struct http_response resp = { .status = 500 };
		if (st->route->admit(srv->api, &st->admission, &resp) != 0) {
			*ret = server_send_response(srv, conn, method, path, st, &resp);
			return true;
		}
	}
	if (has_length && n > 0) {
		if (!budget_take(srv, st, (size_t)n + 1)) {
			*ret = server_send_over_budget(srv, conn, method, path, st);
			return true;
		}
		st->body = malloc((size_t)n + 1); /* pages are touched as the body comes */
		st->body_cap = st->body ? (size_t)n + 1 : 0;
	}
	return false;
}

/* Writes an interim answer the client must accept (RFC 9110 15.2), to tell
 * a half-closed client from one that left (see execution.h). libmicrohttpd
 * writes nothing on the connection while the handler runs. */
static void probe_client(void *ctx)
{
	static const char interim[] = "HTTP/1.1 102 Processing\r\n\r\n";
	struct request_state *st = ctx;

	if (st->probed)
		return;
	st->probed = true;
	(void)!send(st->fd, interim, sizeof(interim) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static enum MHD_Result dispatch(struct listener *lst, struct MHD_Connection *conn,
				const char *method, const char *path, struct request_state *st)
{
	struct server *srv = lst->srv;
	struct http_response resp = { .status = 500 };
	struct http_request req = { 0 };
	char text[128];
	bool known;

	deadlines_arm(srv->deadlines, connection_deadline(conn), 0); /* all of it is in */
	if (strlen(path) > CXD_PATH_MAX)
		return server_send_detail(srv, conn, method, "(long path)", st, 404, "Not Found");
	if (strcmp(method, "OPTIONS") == 0 && server_header(conn, "Origin") &&
	    server_header(conn, "Access-Control-Request-Method"))
		return server_send_preflight(srv, conn, path, st);
	if (strcmp(path, SERVER_PROBE_PATH) == 0 && !lst->metrics_only)
		return server_send_probe_answer(conn);
	if (st->too_large) {
		body_limit_text(st->cfg, text, sizeof(text));
		return server_send_detail(srv, conn, method, path, st, 413, text);
	}
	if (!st->route) {
		(void)route_lookup(lst, st->cfg, method, path, &known);
		return server_send_detail(srv, conn, method, path, st, known ? 405 : 404,
				   known ? "Method Not Allowed" : "Not Found");
	}
	if (st->over_budget)
		return server_send_over_budget(srv, conn, method, path, st);
	req.method = method;
	req.path = path;
	req.body = st->body; /* handed over */
	req.body_len = st->body_len;
	st->body = NULL;
	req.content_type = server_header(conn, MHD_HTTP_HEADER_CONTENT_TYPE);
	req.if_none_match = server_header(conn, MHD_HTTP_HEADER_IF_NONE_MATCH);
	req.client_fd = st->fd;
	req.client_probe = st->http11 ? probe_client : NULL;
	req.probe_ctx = st;
	req.admission = &st->admission;
	req.key = st->key ? auth_key_name(st->key) : NULL;
	st->route->handler(srv->api, &req, &resp); /* frees req.body */
	if (resp.execution_id[0])
		(void)clock_gettime(CLOCK_MONOTONIC, &st->answered);
	if (resp.timeout_seconds > 0) {
		st->long_timeout = true;
		(void)MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT,
						(unsigned int)resp.timeout_seconds);
	}
	return server_send_response(srv, conn, method, path, st, &resp);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	struct listener *lst = cls;
	struct server *srv = lst->srv;
	struct request_state *st = *con_cls;
	enum MHD_Result ret;

	if (!st) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		st = calloc(1, sizeof(*st));
		if (!st)
			return MHD_NO;
		st->srv = srv;
		st->fd = ci ? ci->connect_fd : -1;
		st->http11 = strcmp(version, MHD_HTTP_VERSION_1_1) == 0;
		(void)clock_gettime(CLOCK_MONOTONIC, &st->start);
		st->cfg = atomic_load(&srv->cfg);
		pthread_mutex_lock(&srv->auth_mu);
		st->auth = srv->auth;
		auth_ref(st->auth);
		pthread_mutex_unlock(&srv->auth_mu);
		*con_cls = st;
		atomic_fetch_add(&srv->inflight, 1);
		if (first_call(lst, conn, method, url, st, &ret))
			return ret;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		size_t max = (size_t)st->cfg->server.max_body_bytes;
		st->dropped += *upload_data_size;
		if (st->route && st->route->takes_body) {
			if (store_body(srv, st, upload_data, *upload_data_size) != 0)
				return MHD_NO;
		} else if (st->dropped > max) {
			st->too_large = true; /* a body sent to a GET route counts too */
		}
		/* libmicrohttpd (0.9.75) cannot answer before the upload ends, so
		 * what is over the limit is read and dropped, up to as much again
		 * as the limit (at least CXD_BODY_DROP_MIN); beyond that (an
		 * endless chunked body) the connection is closed unanswered. */
		if ((st->too_large || st->over_budget) &&
		    st->dropped > max + (max > CXD_BODY_DROP_MIN ? max : CXD_BODY_DROP_MIN))
			return MHD_NO;
		*upload_data_size = 0;
		return MHD_YES;
	}
	return dispatch(lst, conn, method, url, st);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct server *srv = ((struct listener *)cls)->srv;
	struct request_state *st = *con_cls;

	if (!st)
		return;
	/* The answer of an execution written to the client: a phase. */
	if (st->answered.tv_sec && toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
		metrics_observe_phase(METRICS_PHASE_ANSWER, server_ms_since(&st->answered) / 1e3);
	if (st->key_admitted)
		auth_release(st->key);
	auth_unref(st->auth);
	metrics_gauge_add(METRICS_G_BODY_BYTES, -(long)st->body_len);
	if (st->admission && st->route && st->route->release)
		st->route->release(srv->api, st->admission);
	budget_give_back(srv, st);
	if (st->long_timeout)
		(void)MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT,
						(unsigned int)st->cfg->server.idle_timeout_seconds);
	/* The next request on this connection has the whole deadline again. */
	deadlines_arm(srv->deadlines, connection_deadline(conn),
		      st->cfg->server.request_timeout_seconds);
	atomic_fetch_sub(&srv->inflight, 1);
	free(st->body);
	free(st);
	*con_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct server *srv = cls;
	const union MHD_ConnectionInfo *ci;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		*socket_context = ci ? deadlines_add(srv->deadlines, ci->connect_fd) : NULL;
		deadlines_arm(srv->deadlines, *socket_context,
			      atomic_load(&srv->cfg)->server.request_timeout_seconds);
		return;
	}
	/* Before libmicrohttpd closes the socket. */
	deadlines_remove(srv->deadlines, *socket_context);
	*socket_context = NULL;
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

/* One libmicrohttpd daemon on listen_fd (taken over: closed at stop, and
 * here on failure). */
static int listener_start(struct listener *lst, struct server *srv, const struct config *cfg,
			  int listen_fd, bool metrics_only)
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	unsigned int flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
			     MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
	int port = listen_port(listen_fd);

	if (getsockname(listen_fd, (struct sockaddr *)&ss, &sslen) != 0)
		sslen = 0;
	else if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	lst->srv = srv;
	lst->metrics_only = metrics_only;
	lst->quiesced_fd = -1;
	lst->mhd = MHD_start_daemon(
		flags, (uint16_t)(port > 0 ? port : 0), NULL, NULL, on_request, lst,
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv,
		MHD_OPTION_LISTEN_SOCKET, (MHD_socket)listen_fd,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)cfg->server.max_connections,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)cfg->server.max_connections_per_ip,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)cfg->server.idle_timeout_seconds,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)cfg->server.header_memory_bytes,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, lst,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
		MHD_OPTION_END);
	if (!lst->mhd) {
		(void)close(listen_fd);
		return -EIO;
	}
	return 0;
}

/* server.allowed_hosts, resolved against the address listened on (a
 * loopback one accepts the loopback names). Read at start only. */
static int hosts_init(struct server *srv, const struct config *cfg, int listen_fd)
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);

	if (getsockname(listen_fd, (struct sockaddr *)&ss, &sslen) != 0)
		sslen = 0;
	http_hosts_init(&srv->hosts, &cfg->server.allowed_hosts,
			sslen > 0 ? (const struct sockaddr *)&ss : NULL);
	return 0;
}

int server_start(struct server **out, const struct config *cfg, int listen_fd, int metrics_fd,
		 struct api *ctx, char *err, size_t errlen)
{
	struct server *srv = calloc(1, sizeof(*srv));

	if (!srv) {
		(void)close(listen_fd);
		if (metrics_fd >= 0)
			(void)close(metrics_fd);
		return -ENOMEM;
	}
	atomic_init(&srv->cfg, cfg);
	pthread_mutex_init(&srv->auth_mu, NULL);
	srv->api = ctx;
	srv->port = listen_port(listen_fd);
	srv->metrics.quiesced_fd = -1;
	if (hosts_init(srv, cfg, listen_fd) != 0 || deadlines_start(&srv->deadlines) != 0) {
		(void)snprintf(err, errlen, "cannot start the request deadline thread");
		(void)close(listen_fd);
		if (metrics_fd >= 0)
			(void)close(metrics_fd);
		pthread_mutex_destroy(&srv->auth_mu);
		free(srv);
		return -EAGAIN;
	}
	if (listener_start(&srv->main, srv, cfg, listen_fd, false) != 0) {
		(void)snprintf(err, errlen, "cannot start the HTTP server on %s:%d",
			       cfg->server.host, srv->port);
		if (metrics_fd >= 0)
			(void)close(metrics_fd);
		deadlines_stop(srv->deadlines);
		pthread_mutex_destroy(&srv->auth_mu);
		free(srv);
		return -EIO;
	}
	if (metrics_fd >= 0 && listener_start(&srv->metrics, srv, cfg, metrics_fd, true) != 0) {
		(void)snprintf(err, errlen, "cannot start the metrics listener on %s",
			       cfg->server.metrics_listen);
		server_stop(srv);
		return -EIO;
	}
	*out = srv;
	return 0;
}

void server_reconfigure(struct server *srv, const struct config *cfg)
{
	atomic_store(&srv->cfg, cfg);
}

void server_set_auth(struct server *srv, struct auth *auth)
{
	struct auth *old;

	pthread_mutex_lock(&srv->auth_mu);
	old = srv->auth;
	srv->auth = auth;
	pthread_mutex_unlock(&srv->auth_mu);
	auth_unref(old); /* requests that hold it keep it alive */
}

int server_probe(struct server *srv, int timeout_ms)
{
	const union MHD_DaemonInfo *di;

	if (!srv || !srv->main.mhd || srv->main.quiesced_fd >= 0)
		return -ESHUTDOWN;
	di = MHD_get_daemon_info(srv->main.mhd, MHD_DAEMON_INFO_LISTEN_FD);
	if (!di)
		return -EIO;
	return listen_probe(di->listen_fd, SERVER_PROBE_PATH, timeout_ms);
}

static void listener_quiesce(struct listener *lst)
{
	MHD_socket fd;

	if (!lst->mhd)
		return;
	/* The listening socket is handed back to us; libmicrohttpd's threads
	 * may still look at it, so it is closed only after MHD_stop_daemon. */
	fd = MHD_quiesce_daemon(lst->mhd);
	if (fd != MHD_INVALID_SOCKET)
		lst->quiesced_fd = fd;
}

void server_quiesce(struct server *srv)
{
	if (!srv)
		return;
	listener_quiesce(&srv->main);
	listener_quiesce(&srv->metrics);
}

static void listener_stop(struct listener *lst)
{
	if (lst->mhd)
		MHD_stop_daemon(lst->mhd);
	if (lst->quiesced_fd >= 0)
		(void)close(lst->quiesced_fd);
}

void server_stop(struct server *srv)
{
	if (!srv)
		return;
	/* Let handlers that just finished write their answers (a 503 to a
	 * run stopped by the shutdown, say) before the connections close. */
	for (int i = 0; i < STOP_DRAIN_MS / 20 && atomic_load(&srv->inflight) > 0; i++)
		(void)usleep(20000);
	listener_stop(&srv->main);
	listener_stop(&srv->metrics);
	deadlines_stop(srv->deadlines);
	pthread_mutex_destroy(&srv->auth_mu);
	auth_unref(srv->auth);
	free(srv);
}
