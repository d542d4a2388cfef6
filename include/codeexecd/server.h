/* The libmicrohttpd adapter: routes table (with each route's access rule
 * for API keys), bodies, limits, CORS, responses, and the optional second
 * listener that serves /metrics alone. */
#ifndef CODEEXECD_SERVER_H
#define CODEEXECD_SERVER_H

#include "codeexecd/config.h"

struct server;
struct api;
struct auth;

/* The path of the watchdog's probe: answered 204 by the request loop
 * itself, neither logged nor counted. */
#define SERVER_PROBE_PATH "/.well-known/codeexecd-probe"

/* Serves on listen_fd, and /metrics alone on metrics_fd unless it is -1
 * (both bound by listen_bind or received from systemd; taken over, closed
 * at stop, also on failure); ctx is passed to every handler. cfg must stay
 * valid until server_stop. Returns 0 or a negative errno code with text in
 * err. */
int server_start(struct server **out, const struct config *cfg, int listen_fd, int metrics_fd,
		 struct api *ctx, char *err, size_t errlen);
/* Requests that begin from now on use cfg (a reload); those running keep
 * theirs, so cfg and every earlier one must stay valid until server_stop. */
void server_reconfigure(struct server *srv, const struct config *cfg);
/* Replaces the API keys (NULL: none), taking over the caller's reference;
 * requests running keep the set they began with. */
void server_set_auth(struct server *srv, struct auth *auth);
/* 0 when the request loop answers a request on the main listener within
 * timeout_ms (the watchdog's check). */
int server_probe(struct server *srv, int timeout_ms);
/* Stops accepting new connections; open ones are served to the end. */
void server_quiesce(struct server *srv);
/* Stops the server: waits (up to 10 s) until every request begun has been
 * answered, then closes the connections and joins their threads. Accepts
 * NULL. */
void server_stop(struct server *srv);

#endif
