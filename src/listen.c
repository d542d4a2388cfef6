/* Listening sockets and the watchdog's probe (see listen.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "codeexecd/listen.h"

#define BACKLOG 128

int listen_bind(const char *host, int port, int *fd_out, int *port_out, char *err,
		size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	char service[16];
	int fd = -1, one = 1, rc;

	(void)snprintf(service, sizeof(service), "%d", port);
	rc = getaddrinfo(host && host[0] ? host : NULL, service, &hints, &res);
	if (rc != 0) {
		(void)snprintf(err, errlen, "cannot resolve '%s': %s", host, gai_strerror(rc));
		return -EINVAL;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, BACKLOG) != 0 ||
	    (rc = listen_port(fd)) < 0) {
		rc = -errno;
		(void)snprintf(err, errlen, "cannot listen on %s:%d: %s", host, port,
			       strerror(errno));
		if (fd >= 0)
			(void)close(fd);
		goto out;
	}
	*port_out = rc;
	*fd_out = fd;
	rc = 0;
out:
	freeaddrinfo(res);
	return rc;
}

int listen_parse(const char *text, char *host, size_t hostlen, int *port)
{
	const char *colon = strrchr(text, ':'), *h = text;
	size_t n;
	char *end;
	long p;

	if (!colon)
		return -EINVAL;
	n = (size_t)(colon - text);
	if (n >= 2 && text[0] == '[' && text[n - 1] == ']') {
		h = text + 1;
		n -= 2;
	} else if (memchr(text, ':', n)) {
		return -EINVAL; /* a v6 address needs brackets */
	}
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (n == 0 || n >= hostlen || errno || end == colon + 1 || *end || p < 1 || p > 65535)
		return -EINVAL;
	memcpy(host, h, n);
	host[n] = '\0';
	*port = (int)p;
	return 0;
}

int listen_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return -1;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)(void *)&ss)->sin6_port);
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)(void *)&ss)->sin_port);
	return 0;
}

bool listen_is_loopback(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return false;
	if (ss.ss_family == AF_UNIX)
		return true; /* reachable through the file system only */
	if (ss.ss_family == AF_INET)
		return (ntohl(((struct sockaddr_in *)(void *)&ss)->sin_addr.s_addr) >> 24) == 127;
	if (ss.ss_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)(void *)&ss)->sin6_addr);
	return false;
}

int listen_is_stream(int fd)
{
	int type = 0, acc = 0;
	socklen_t len = sizeof(type), alen = sizeof(acc);

	return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM &&
	       getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &alen) == 0 && acc;
}

/* The address to connect to for the listening socket's own address. */
static int probe_address(int fd, struct sockaddr_storage *ss, socklen_t *len)
{
	*len = sizeof(*ss);
	if (getsockname(fd, (struct sockaddr *)ss, len) != 0)
		return -errno;
	if (ss->ss_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)(void *)ss;
		if (in->sin_addr.s_addr == htonl(INADDR_ANY))
			in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	} else if (ss->ss_family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)ss;
		if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr))
			in6->sin6_addr = in6addr_loopback;
	} else if (ss->ss_family != AF_UNIX) {
		return -EAFNOSUPPORT;
	}
	return 0;
}

static long ms_now(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

int listen_probe(int fd, const char *path, int timeout_ms)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char req[256], buf[64];
	long deadline = ms_now() + timeout_ms;
	size_t got = 0;
	int s = -1, rc = probe_address(fd, &ss, &len), n;

	if (rc != 0)
		return rc;
	n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\n"
		     "Connection: close\r\n\r\n", path);
	s = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || n < 0 || (size_t)n >= sizeof(req))
		goto fail;
	if (connect(s, (struct sockaddr *)&ss, len) != 0 ||
	    send(s, req, (size_t)n, MSG_NOSIGNAL) != n)
		goto fail;
	while (got < 12) {
		struct pollfd p = { .fd = s, .events = POLLIN };
		long left = deadline - ms_now();
		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			goto fail;
		ssize_t r = recv(s, buf + got, sizeof(buf) - 1 - got, 0);
		if (r <= 0)
			goto fail;
		got += (size_t)r;
	}
	(void)close(s);
	return strncmp(buf, "HTTP/1.", 7) == 0 ? 0 : -EPROTO;
fail:
	rc = errno ? -errno : -EIO;
	if (s >= 0)
		(void)close(s);
	return rc < 0 ? rc : -EIO;
}
