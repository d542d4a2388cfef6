/* The libmicrohttpd adapter: routes table, bodies, limits, CORS, responses. */
#ifndef CODEEXECD_SERVER_H
#define CODEEXECD_SERVER_H

#include "codeexecd/config.h"

struct server;
struct api;

/* Binds and listens on server.host:server.port before anything else
 * starts, so that the port is ours (and known, with port 0) when the
 * daemon's container labels are made from it. Plain sockets. */
int server_bind(const struct config *cfg, int *fd_out, int *port_out, char *err,
		size_t errlen);

/* Serves on listen_fd (from server_bind; taken over, closed at stop, also on
 * failure); ctx is passed to every handler. Returns 0 or a negative errno
 * code with text in err. */
int server_start(struct server **out, const struct config *cfg, int listen_fd, int port,
		 struct api *ctx, char *err, size_t errlen);
/* Stops accepting new connections; open ones are served to the end. */
void server_quiesce(struct server *srv);
/* Stops the server: waits (up to 10 s) until every request begun has been
 * answered, then closes the connections and joins their threads. Accepts
 * NULL. */
void server_stop(struct server *srv);

#endif
