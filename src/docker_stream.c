/* The streamed calls of the Docker client: an image pull (a progress stream
 * with no end in time) and the hijacked attach connection (a raw two-way
 * byte stream over CURLOPT_CONNECT_ONLY, since libcurl 7.88 cannot upgrade
 * an HTTP connection by itself). The request/answer calls are in docker.c. */
#include "codeexecd/docker.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "docker_internal.h"

#define ATTACH_QUERY "attach?stream=1&stdin=1&stdout=1&stderr=1"
#define ATTACH_ERROR_BODY_MAX (4 * CXD_DOCKER_ERROR_TEXT_MAX)

/* --- image pull ----------------------------------------------------------- */

struct pull {
	struct docker_body line;   /* the progress line being read, capped */
	char error[CXD_DOCKER_ERROR_TEXT_MAX + 1];   /* the last error the engine sent */
};

/* A complete progress line: keep its "error" (or, on a failed request, its
 * "message"); everything else is progress we do not need. */
static void pull_line(struct pull *p)
{
	cJSON *j = p->line.len > 0 ? cJSON_Parse(p->line.data) : NULL;
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");

	if (!cJSON_IsString(e))
		e = cJSON_GetObjectItemCaseSensitive(j, "message");
	if (cJSON_IsString(e) && e->valuestring[0] != '\0')
		(void)snprintf(p->error, sizeof(p->error), "%s", e->valuestring);
	cJSON_Delete(j);
	p->line.len = 0;
}

static size_t pull_write(char *ptr, size_t size, size_t nmemb, void *ctx)
{
	struct pull *p = ctx;
	size_t n = size * nmemb;
	size_t i = 0;

	while (i < n) {
		const char *nl = memchr(ptr + i, '\n', n - i);
		size_t seg = nl ? (size_t)(nl - (ptr + i)) : n - i;

		if (docker_body_append(&p->line, ptr + i, seg, CXD_DOCKER_RESPONSE_MAX) != 0)
			return 0;
		i += seg;
		if (nl) {
			pull_line(p);
			i++;
		}
	}
	return n;
}

/* "name:tag" -> name, tag; "name@digest" -> name, digest; "name" -> name,
 * "latest". A colon before the last '/' is a registry's port. Both escaped,
 * curl_free'd by the caller. */
static int split_image(const char *image, char **name, char **tag)
{
	const char *at = strchr(image, '@');
	const char *slash = strrchr(image, '/');
	const char *colon = strrchr(image, ':');
	const char *cut = at ? at : (colon && (!slash || colon > slash) ? colon : NULL);

	*name = curl_easy_escape(NULL, image, cut ? (int)(cut - image) : 0);
	*tag = curl_easy_escape(NULL, cut ? cut + 1 : "latest", 0);
	return *name && *tag ? 0 : -ENOMEM;
}

/* Status and the last error line -> the result of the pull. */
static int pull_result(long status, const struct pull *p, const char *image, char *err,
		       size_t errlen)
{
	if (status >= 400 || (status == 200 && p->error[0] != '\0')) {
		docker_set_err(err, errlen, "pull %s: %s", image,
			       p->error[0] ? p->error : "the Docker engine failed the pull");
		return status == 404 ? -ENOENT : -EIO;
	}
	if (status != 200) {
		docker_set_err(err, errlen, "pull %s: unexpected HTTP status %ld", image, status);
		return -EPROTO;
	}
	return 0;
}

int docker_image_pull(struct docker *d, const char *image, long timeout_ms,
		      const atomic_bool *cancel, char *err, size_t errlen)
{
	struct pull p = {0};
	struct docker_call c = {.method = "POST", .timeout_ms = timeout_ms, .sink = pull_write,
				.sink_ctx = &p, .sink_body = &p.line, .cancel = cancel};
	struct docker_reply r = {0};
	char *name = NULL, *tag = NULL, *path = NULL;
	int rc;

	if (!image || image[0] == '\0') {
		docker_set_err(err, errlen, "pull: no image given");
		return -EINVAL;
	}
	if (split_image(image, &name, &tag) == 0)
		path = docker_printf("/images/create?fromImage=%s&tag=%s", name, tag);
	if (!path) {
		docker_set_err(err, errlen, "docker: out of memory");
		rc = -ENOMEM;
		goto out;
	}
	c.path = path;
	rc = docker_perform(d, &c, &r, err, errlen);
	if (rc != 0)
		goto out;
	pull_line(&p);   /* a last line without '\n' */
	rc = pull_result(r.status, &p, image, err, errlen);
out:
	free(p.line.data);
	free(r.body.data);
	curl_free(name);
	curl_free(tag);
	free(path);
	return rc;
}

/* --- the hijacked attach connection --------------------------------------- */

struct docker_stream {
	CURL *h;            /* owned; connect-only: curl_easy_send/recv */
	int fd;             /* the handle's socket, for poll(2) */
	uint8_t *early;     /* stream bytes read together with the answer head */
	size_t early_len;
	size_t early_off;
	char errbuf[CURL_ERROR_SIZE];   /* h's error buffer: lives as long as h */
};

static int64_t now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 0 when fd is ready for events (or failed: the next call says), -ETIMEDOUT
 * at the deadline, or -errno. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = events};
		int64_t left = deadline - now_ms();
		int n;

		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (n > 0)
			return 0;
		if (n == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

static int send_all(CURL *h, int fd, const void *buf, size_t len, int64_t deadline)
{
	const char *p = buf;

	while (len > 0) {
		size_t sent = 0;
		CURLcode cc = curl_easy_send(h, p, len, &sent);

		if (cc == CURLE_AGAIN) {
			int rc = wait_fd(fd, POLLOUT, deadline);

			if (rc != 0)
				return rc;
			continue;
		}
		if (cc != CURLE_OK)
			return -EPIPE;
		p += sent;
		len -= sent;
	}
	return 0;
}

/* Bytes read (>0), 0 at end of stream, -ETIMEDOUT or -EIO. */
static ssize_t recv_wait(CURL *h, int fd, void *buf, size_t len, int64_t deadline)
{
	for (;;) {
		size_t n = 0;
		CURLcode cc = curl_easy_recv(h, buf, len, &n);
		int rc;

		if (cc == CURLE_OK)
			return (ssize_t)n;
		if (cc != CURLE_AGAIN)
			return -EIO;
		rc = wait_fd(fd, POLLIN, deadline);
		if (rc != 0)
			return rc;
	}
}

/* Connects (and does TLS) without sending a request. */
static int stream_connect(struct docker *d, struct docker_stream *s, char *err, size_t errlen)
{
	curl_socket_t fd = CURL_SOCKET_BAD;
	CURLcode cc;

	s->h = docker_easy_new(d, s->errbuf);
	if (!s->h || curl_easy_setopt(s->h, CURLOPT_URL, d->base_url) != CURLE_OK ||
	    curl_easy_setopt(s->h, CURLOPT_CONNECT_ONLY, 1L) != CURLE_OK) {
		docker_set_err(err, errlen, "docker: out of memory");
		return -ENOMEM;
	}
	cc = curl_easy_perform(s->h);
	if (cc != CURLE_OK)
		return docker_transport_error(d, s->h, cc, s->errbuf, NULL, err, errlen);
	if (curl_easy_getinfo(s->h, CURLINFO_ACTIVESOCKET, &fd) != CURLE_OK ||
	    fd == CURL_SOCKET_BAD) {
		docker_set_err(err, errlen, "attach: no socket to the Docker engine at %s",
			       d->endpoint);
		return -EIO;
	}
	s->fd = fd;
	return 0;
}

/* "HTTP/1.1 101 UPGRADED" -> 101; -1 when it is no status line. */
static long head_status(const char *head)
{
	if (strncmp(head, "HTTP/1.", 7) != 0 || head[8] != ' ' ||
	    strspn(head + 9, "0123456789") != 3)
		return -1;
	return strtol(head + 9, NULL, 10);
}

/* Content-Length of a NUL-terminated head; -1 when there is none. */
static long head_content_length(const char *head)
{
	const char *p = head;

	while ((p = strchr(p, '\n')) != NULL) {
		p++;
		if (strncasecmp(p, "Content-Length:", 15) == 0)
			return strtol(p + 15, NULL, 10);
	}
	return -1;
}

static int keep_early(struct docker_stream *s, const char *data, size_t len)
{
	if (len == 0)
		return 0;
	s->early = malloc(len);
	if (!s->early)
		return -ENOMEM;
	memcpy(s->early, data, len);
	s->early_len = len;
	return 0;
}

/* The engine refused the attach: read its (short) error body, return its
 * code. The body starts with the early bytes. */
static int attach_refused(struct docker *d, struct docker_stream *s, const char *head,
			  int64_t deadline, char *err, size_t errlen)
{
	char body[ATTACH_ERROR_BODY_MAX + 1];
	long status = head_status(head);
	long want = head_content_length(head);
	size_t have = s->early_len < ATTACH_ERROR_BODY_MAX ? s->early_len : ATTACH_ERROR_BODY_MAX;

	if (status < 400) {
		int line = (int)strcspn(head, "\r\n");

		docker_set_err(err, errlen, "attach: unexpected answer from the Docker engine at "
			       "%s: %.*s", d->endpoint, line < 80 ? line : 80, head);
		return -EPROTO;
	}
	memcpy(body, s->early ? (const char *)s->early : "", have);
	if (want > ATTACH_ERROR_BODY_MAX)
		want = ATTACH_ERROR_BODY_MAX;
	if (want >= 0 && (long)have > want)
		have = (size_t)want;
	while ((long)have < want) {
		ssize_t n = recv_wait(s->h, s->fd, body + have, (size_t)want - have, deadline);

		if (n <= 0)
			break;   /* use what came */
		have += (size_t)n;
	}
	body[have] = '\0';
	return docker_engine_error(status, body, "attach", err, errlen);
}

static const char *recv_failure(const struct docker_stream *s, ssize_t n)
{
	if (n == 0)
		return "it closed the attach connection";
	if (n == -ETIMEDOUT)
		return "no answer to attach in time";
	return s->errbuf[0] ? s->errbuf : "receive failed";
}

/* Reads the answer head (up to "\r\n\r\n"); bytes after it are the stream. */
static int read_attach_head(struct docker *d, struct docker_stream *s, int64_t deadline,
			    char *err, size_t errlen)
{
	char *buf = malloc(CXD_DOCKER_HEADER_MAX + 1);
	size_t have = 0, head_len;
	int rc;

	if (!buf) {
		docker_set_err(err, errlen, "docker: out of memory");
		return -ENOMEM;
	}
	for (;;) {
		const char *end;
		ssize_t n;

		if (have == CXD_DOCKER_HEADER_MAX) {
			docker_set_err(err, errlen, "attach: the answer head of the Docker engine "
				       "exceeds %ld bytes", (long)CXD_DOCKER_HEADER_MAX);
			rc = -EPROTO;
			goto out;
		}
		n = recv_wait(s->h, s->fd, buf + have, CXD_DOCKER_HEADER_MAX - have, deadline);
		if (n <= 0) {
			docker_set_err(err, errlen, "Docker engine at %s does not answer: %s",
				       d->endpoint, recv_failure(s, n));
			rc = n == 0 ? -EPROTO : -EHOSTUNREACH;
			goto out;
		}
		have += (size_t)n;
		end = memmem(buf, have, "\r\n\r\n", 4);
		if (end) {
			head_len = (size_t)(end - buf) + 4;
			break;
		}
	}
	rc = keep_early(s, buf + head_len, have - head_len);
	buf[head_len] = '\0';   /* after keep_early: this byte may be stream */
	if (rc != 0) {
		docker_set_err(err, errlen, "docker: out of memory");
		goto out;
	}
	if (head_status(buf) != 101 && head_status(buf) != 200)
		rc = attach_refused(d, s, buf, deadline, err, errlen);
out:
	free(buf);
	return rc;
}

int docker_attach(struct docker *d, const char *id, struct docker_stream **out, char *err,
		  size_t errlen)
{
	struct docker_stream *s = NULL;
	char *esc = NULL;
	char *req = NULL;
	int64_t deadline;
	int rc;

	if (!id || id[0] == '\0' || !out) {
		docker_set_err(err, errlen, "attach: no container id given");
		return -EINVAL;
	}
	rc = docker_ensure_version(d, err, errlen);
	if (rc != 0)
		return rc;
	s = calloc(1, sizeof(*s));
	esc = curl_easy_escape(NULL, id, 0);
	req = esc ? docker_printf("POST /v%s/containers/%s/" ATTACH_QUERY " HTTP/1.1\r\n"
				  "Host: docker\r\nUpgrade: tcp\r\nConnection: Upgrade\r\n"
				  "Content-Length: 0\r\n\r\n", d->version, esc) : NULL;
	if (!s || !req) {
		docker_set_err(err, errlen, "docker: out of memory");
		rc = -ENOMEM;
		goto out;
	}
	s->fd = -1;
	rc = stream_connect(d, s, err, errlen);
	if (rc != 0)
		goto out;
	deadline = now_ms() + d->timeout_ms;
	rc = send_all(s->h, s->fd, req, strlen(req), deadline);
	if (rc != 0) {
		docker_set_err(err, errlen, "Docker engine at %s does not answer: attach request "
			       "not sent (%s)", d->endpoint, strerror(-rc));
		rc = -EHOSTUNREACH;
		goto out;
	}
	rc = read_attach_head(d, s, deadline, err, errlen);
	if (rc != 0)
		goto out;
	*out = s;   /* hand-off: the caller closes it with docker_stream_close */
	s = NULL;
out:
	docker_stream_close(s);
	curl_free(esc);
	free(req);
	return rc;
}

int docker_stream_fd(const struct docker_stream *s)
{
	return s->fd;
}

ssize_t docker_stream_read(struct docker_stream *s, void *buf, size_t len)
{
	size_t n = 0;
	CURLcode cc;

	if (len == 0)
		return -EINVAL;
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	if (s->early_off < s->early_len) {
		n = s->early_len - s->early_off < len ? s->early_len - s->early_off : len;
		memcpy(buf, s->early + s->early_off, n);
		s->early_off += n;
		return (ssize_t)n;
	}
	cc = curl_easy_recv(s->h, buf, len, &n);
	if (cc == CURLE_AGAIN)
		return -EAGAIN;
	if (cc != CURLE_OK)
		return -EIO;
	return (ssize_t)n;   /* 0: end of stream */
}

int docker_stream_write_all(struct docker_stream *s, const void *buf, size_t len, int timeout_ms)
{
	return send_all(s->h, s->fd, buf, len, now_ms() + (timeout_ms > 0 ? timeout_ms : 0));
}

void docker_stream_close(struct docker_stream *s)
{
	if (!s)
		return;
	curl_easy_cleanup(s->h);   /* closes the socket */
	free(s->early);
	free(s);
}
