/* See relay.h. One thread accepts; one thread per connection copies both
 * ways with poll(2) until either side closes or the relay stops. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "relay.h"

#define RELAY_MAX_CONN 256

struct relay {
	int listen_fd;
	int stop_pipe[2];
	char path[108];
	char engine[108];
	pthread_t acceptor;
	pthread_mutex_t mu;
	pthread_t conns[RELAY_MAX_CONN];
	int nconns;
};

struct pair {
	struct relay *r;
	int client, engine;
};

static int unix_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	(void)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Copies what is readable on from to to; false when from closed. */
static bool copy_once(int from, int to)
{
	char buf[65536];
	ssize_t n = read(from, buf, sizeof(buf));

	if (n <= 0)
		return false;
	for (ssize_t off = 0; off < n;) {
		ssize_t w = write(to, buf + off, (size_t)(n - off));
		if (w <= 0)
			return false;
		off += w;
	}
	return true;
}

static void *pump(void *arg)
{
	struct pair *p = arg;
	struct pollfd fds[3] = {
		{ .fd = p->client, .events = POLLIN },
		{ .fd = p->engine, .events = POLLIN },
		{ .fd = p->r->stop_pipe[0], .events = POLLIN },
	};

	for (;;) {
		if (poll(fds, 3, -1) < 0 && errno != EINTR)
			break;
		if (fds[2].revents)
			break;
		if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) && !copy_once(p->client, p->engine))
			break;
		if ((fds[1].revents & (POLLIN | POLLHUP | POLLERR)) && !copy_once(p->engine, p->client))
			break;
	}
	close(p->client);
	close(p->engine);
	free(p);
	return NULL;
}

static void *accept_loop(void *arg)
{
	struct relay *r = arg;
	struct pollfd fds[2] = {
		{ .fd = r->listen_fd, .events = POLLIN },
		{ .fd = r->stop_pipe[0], .events = POLLIN },
	};

	for (;;) {
		if (poll(fds, 2, -1) < 0 && errno != EINTR)
			break;
		if (fds[1].revents)
			break;
		int c = accept4(r->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		struct pair *p = malloc(sizeof(*p));
		int e = unix_connect(r->engine);
		if (!p || e < 0) {
			free(p);
			close(c);
			if (e >= 0)
				close(e);
			continue;
		}
		*p = (struct pair){ r, c, e };
		pthread_mutex_lock(&r->mu);
		if (r->nconns < RELAY_MAX_CONN &&
		    pthread_create(&r->conns[r->nconns], NULL, pump, p) == 0) {
			r->nconns++;
		} else {
			close(c);
			close(e);
			free(p);
		}
		pthread_mutex_unlock(&r->mu);
	}
	return NULL;
}

struct relay *relay_start(const char *listen_path, const char *engine_path)
{
	struct relay *r = calloc(1, sizeof(*r));
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (!r)
		return NULL;
	(void)snprintf(r->path, sizeof(r->path), "%s", listen_path);
	(void)snprintf(r->engine, sizeof(r->engine), "%s", engine_path);
	(void)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", listen_path);
	(void)unlink(listen_path);
	r->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (r->listen_fd < 0 || bind(r->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(r->listen_fd, 64) != 0 || pipe2(r->stop_pipe, O_CLOEXEC) != 0) {
		if (r->listen_fd >= 0)
			close(r->listen_fd);
		free(r);
		return NULL;
	}
	pthread_mutex_init(&r->mu, NULL);
	if (pthread_create(&r->acceptor, NULL, accept_loop, r) != 0) {
		close(r->listen_fd);
		close(r->stop_pipe[0]);
		close(r->stop_pipe[1]);
		free(r);
		return NULL;
	}
	return r;
}

void relay_stop(struct relay *r)
{
	if (!r)
		return;
	/* One byte nobody reads: every poll() sees the read end readable. (A
	 * close would not do: forked children may hold the write end.) */
	(void)!write(r->stop_pipe[1], "x", 1);
	/* Refuse new connections now, even those waiting in the backlog (a
	 * forked child may hold the listening socket open too). */
	(void)shutdown(r->listen_fd, SHUT_RDWR);
	pthread_join(r->acceptor, NULL);
	for (int i = 0; i < r->nconns; i++)
		pthread_join(r->conns[i], NULL);
	close(r->listen_fd);
	close(r->stop_pipe[0]);
	close(r->stop_pipe[1]);
	(void)unlink(r->path);
	pthread_mutex_destroy(&r->mu);
	free(r);
}
