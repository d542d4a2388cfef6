/* The libmicrohttpd adapter: routes table, bodies, limits, CORS, responses. */
#ifndef CODEEXECD_SERVER_H
#define CODEEXECD_SERVER_H

#include "codeexecd/config.h"

struct server;
struct api;

/* Binds and starts serving; ctx is passed to every handler.
 * Returns 0 or a negative errno code with text in err. */
int server_start(struct server **out, const struct config *cfg, struct api *ctx,
		 char *err, size_t errlen);
/* Stops accepting new connections; open ones are served to the end. */
void server_quiesce(struct server *srv);
/* Stops the server; waits for connection threads. Accepts NULL. */
void server_stop(struct server *srv);
/* The port actually bound (useful with port 0). */
int server_port(const struct server *srv);

#endif
