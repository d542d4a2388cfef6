/* What server.c and server_answer.c share: the libmicrohttpd adapter is one
 * module in two files (routing, bodies and the daemons; answering). Not a
 * public header. */
#ifndef CODEEXECD_SERVER_INTERNAL_H
#define CODEEXECD_SERVER_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <microhttpd.h>

#include "codeexecd/auth.h"
#include "codeexecd/config.h"
#include "codeexecd/deadline.h"
#include "codeexecd/http.h"

/* Who may call a route when API keys are on (auth.keys_file). */
enum route_access {
	ACCESS_PUBLIC,      /* always */
	ACCESS_DOCS,        /* unless auth.protect_docs */
	ACCESS_KEY,         /* with a key */
	ACCESS_METRICS,     /* with a key on the main listener; free on server.metrics_listen */
};

struct route {
	const char *method;
	const char *path;
	bool prefix;        /* path is a prefix ("/docs/assets/") */
	bool takes_body;
	http_handler handler;
	enum route_access access;
	bool key_limits;    /* counts against the key's concurrent= and per_minute= */
	http_admit admit;   /* before the body is read; NULL: none */
	http_release release;
};

#define CORS_METHODS "GET, POST"
#define CORS_MAX_AGE "600"
#define STREAM_BLOCK (64 * 1024) /* a streamed answer's write size */

/* One listening socket's daemon; the metrics listener serves /metrics only. */
struct listener {
	struct server *srv;
	struct MHD_Daemon *mhd;
	bool metrics_only;
	int quiesced_fd;      /* the listening socket handed back by quiesce */
};

struct server {
	struct listener main, metrics;
	/* The configuration and the keys are swapped by a reload while
	 * requests run: each request takes both once, at its first call.
	 * Configurations are never freed before the server (main keeps every
	 * generation), so a plain atomic pointer is enough for them; key sets
	 * are reference-counted. */
	const struct config *_Atomic cfg;
	pthread_mutex_t auth_mu;
	struct auth *auth;    /* NULL: no keys */
	struct api *api;
	int port;
	atomic_int inflight;  /* requests begun and not yet answered */
	atomic_long body_bytes; /* reserved for request bodies, all requests */
	struct deadlines *deadlines;
	struct http_hosts hosts; /* server.allowed_hosts */
};

/* Per-request state, from the first call of on_request to on_completed. */
struct request_state {
	struct server *srv;
	struct timespec start;
	const struct route *route;
	const struct config *cfg;   /* the generation this request uses */
	struct auth *auth;          /* a reference, or NULL */
	const struct auth_key *key; /* the caller's key, or NULL */
	bool key_admitted;          /* auth_admit'ed: auth_release at the end */
	struct timespec answered;   /* an execution's answer queued (tv_sec 0: none) */
	char *body;            /* NUL-terminated, at most max_body_bytes */
	size_t body_len;
	size_t body_cap;
	size_t reserved;       /* body buffer bytes covered by the budget */
	long charged;          /* of srv->body_bytes, given back at the end */
	bool too_large;
	bool over_budget;      /* no room in server.max_inflight_body_bytes */
	size_t dropped;        /* bytes read and not kept */
	void *admission;       /* the route's, until its handler takes it */
	int fd;
	bool http11;
	bool probed;
	bool long_timeout;     /* the answer set a longer idle timeout: restore it */
};

/* server.c */
double server_ms_since(const struct timespec *start);
/* The route label of metrics and logs: the route's path, or "other". */
const char *server_route_label(const struct request_state *st);
/* The methods path takes, for Allow. */
void server_allow_header(const char *path, char *out, size_t outlen);

/* server_answer.c */
const char *server_header(struct MHD_Connection *conn, const char *name);
void server_client_address(struct MHD_Connection *conn, char *out, size_t outlen);
/* Queues resp on conn, with the common headers; frees resp's owned body
 * (handed to libmicrohttpd) and logs the request. */
enum MHD_Result server_send_response(struct server *srv, struct MHD_Connection *conn,
				     const char *method, const char *path,
				     const struct request_state *st, struct http_response *resp);
enum MHD_Result server_send_detail(struct server *srv, struct MHD_Connection *conn,
				   const char *method, const char *path,
				   const struct request_state *st, int status, const char *detail);
/* A CORS preflight (OPTIONS with Origin and Access-Control-Request-Method). */
enum MHD_Result server_send_preflight(struct server *srv, struct MHD_Connection *conn,
				      const char *path, const struct request_state *st);
/* 503: no room in server.max_inflight_body_bytes. */
enum MHD_Result server_send_over_budget(struct server *srv, struct MHD_Connection *conn,
					const char *method, const char *path,
					const struct request_state *st);
/* The watchdog's probe (server_probe): answered by the request loop
 * itself, neither logged nor counted. */
enum MHD_Result server_send_probe_answer(struct MHD_Connection *conn);

#endif
