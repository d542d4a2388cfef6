/* The plain data of one execution: freeing it, and execution ids. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "codeexecd/execution.h"

short exec_client_events(bool probed)
{
	return probed ? 0 : POLLRDHUP; /* POLLHUP and POLLERR come anyway */
}

bool exec_client_check(const struct exec_client *c, short revents, bool *probed)
{
	if (!c || c->fd < 0)
		return false;
	if (revents & (POLLHUP | POLLERR | POLLNVAL))
		return true;
	if (!(revents & POLLRDHUP) || *probed)
		return false;
	if (!c->probe)
		return true;
	c->probe(c->ctx);
	*probed = true;
	return false;
}

bool exec_client_gone(const struct exec_client *c, bool *probed)
{
	struct pollfd p;

	if (!c || c->fd < 0)
		return false;
	p = (struct pollfd){ .fd = c->fd, .events = exec_client_events(*probed) };
	if (poll(&p, 1, 0) <= 0)
		return false;
	return exec_client_check(c, p.revents, probed);
}

void exec_files_free(struct exec_file *files, size_t n)
{
	size_t i;

	if (!files)
		return;
	for (i = 0; i < n; i++) {
		free(files[i].name);
		free(files[i].data);
	}
	free(files);
}

void exec_request_free(struct exec_request *req)
{
	if (!req)
		return;
	free(req->code);
	exec_files_free(req->files, req->nfiles);
	free(req->stdin_data);
	for (size_t i = 0; i < req->noutput_include; i++)
		free(req->output_include[i]);
	free(req->output_include);
	memset(req, 0, sizeof(*req));
}

void exec_result_free(struct exec_result *res)
{
	if (!res)
		return;
	free(res->output);
	free(res->error);
	exec_files_free(res->files, res->nfiles);
	memset(res, 0, sizeof(*res));
}

/* Fills buf from getrandom(2), else /dev/urandom. Returns 0 or -errno. */
static int random_bytes(unsigned char *buf, size_t len)
{
	ssize_t n;
	int fd, rc = 0;
	size_t got = 0;

	do
		n = getrandom(buf, len, 0);
	while (n < 0 && errno == EINTR);
	if (n >= 0 && (size_t)n == len)
		return 0;
	fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (got < len) {
		n = read(fd, buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			goto out;
		}
		got += (size_t)n;
	}
out:
	(void)close(fd);
	return rc;
}

/* The last resort: the clocks, mixed (an id, not a secret). */
static void clock_bytes(unsigned char *buf, size_t len)
{
	struct timespec mono = { 0 }, real = { 0 };
	uint64_t x;
	size_t i;

	(void)clock_gettime(CLOCK_MONOTONIC, &mono);
	(void)clock_gettime(CLOCK_REALTIME, &real);
	x = (uint64_t)mono.tv_nsec ^ (uint64_t)real.tv_sec << 20 ^ (uint64_t)real.tv_nsec << 32 ^
	    (uint64_t)getpid() << 40;
	for (i = 0; i < len; i++) {
		x ^= x >> 33;
		x *= 0xff51afd7ed558ccdULL;    /* splitmix-style finaliser */
		x ^= x >> 29;
		buf[i] = (unsigned char)x;
	}
}

int exec_random_hex(char *out, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[64];
	int rc;

	for (size_t done = 0; done < n;) {
		size_t take = n - done < 2 * sizeof(raw) ? n - done : 2 * sizeof(raw);
		rc = random_bytes(raw, (take + 1) / 2);
		if (rc != 0)
			return rc;
		for (size_t i = 0; i < take; i++)
			out[done + i] = hex[(raw[i / 2] >> (i % 2 ? 0 : 4)) & 0xf];
		done += take;
	}
	out[n] = '\0';
	return 0;
}

void exec_id_new(char id[CXD_EXEC_ID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[(CXD_EXEC_ID_LEN + 1) / 2];
	size_t i;

	if (random_bytes(raw, sizeof(raw)) != 0)
		clock_bytes(raw, sizeof(raw));
	for (i = 0; i < CXD_EXEC_ID_LEN; i++)
		id[i] = hex[(raw[i / 2] >> (i % 2 ? 0 : 4)) & 0xf];
	id[CXD_EXEC_ID_LEN] = '\0';
}
