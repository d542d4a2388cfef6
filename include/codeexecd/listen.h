/* Listening sockets: bound from the configuration, or received from systemd
 * (socket activation, see notify.h), and the watchdog's probe of the request
 * loop behind one. Plain sockets; nothing here speaks libmicrohttpd. */
#ifndef CODEEXECD_LISTEN_H
#define CODEEXECD_LISTEN_H

#include <stdbool.h>
#include <stddef.h>

/* Binds and listens on host:port (port 0: any free one). *port_out gets
 * the port bound. 0, or a negative errno code with text in err. */
int listen_bind(const char *host, int port, int *fd_out, int *port_out, char *err,
		size_t errlen);

/* Splits "host:port" or "[v6-address]:port" (port 1..65535). 0 or -EINVAL. */
int listen_parse(const char *text, char *host, size_t hostlen, int *port);

/* The port of a listening TCP socket, 0 for another kind, -1 on error. */
int listen_port(int fd);

/* True when the socket listens on a loopback address (or a Unix path). */
bool listen_is_loopback(int fd);

/* True when fd is a listening stream socket. */
int listen_is_stream(int fd);

/* Connects to the address of the listening socket fd (its loopback form
 * when it listens on every address), sends "GET path" and waits up to
 * timeout_ms for an HTTP status line. 0 when one came, else negative. */
int listen_probe(int fd, const char *path, int timeout_ms);

#endif
