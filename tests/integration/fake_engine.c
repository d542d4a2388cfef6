/* A FAKE Docker engine for fault-injection tests: see fake_engine.h. Not the
 * real engine, and not to be used for anything the real engine can do. */
#include "fake_engine.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define FAKE_ENGINE_API_VERSION "1.41"
#define FAKE_ENGINE_HEAD_MAX (64 * 1024)          /* a request head */
#define FAKE_ENGINE_BODY_MAX (8L * 1024 * 1024)   /* a request body */
#define FAKE_ENGINE_JOB_MAX (256L * 1024 * 1024)  /* a job on the attach stream */
#define FAKE_ENGINE_REQUEST_MS 10000              /* to read one request */
#define FAKE_ENGINE_LINGER_MS 2000                /* for the peer to close after us */
#define FAKE_ENGINE_TICK_MS 100                   /* how often waits look at kills */
#define FAKE_ENGINE_JOB_HEADER_LEN 12             /* "CXD1" + 8 hex digits */
#define FAKE_ENGINE_ID_LEN 64
#define FAKE_ENGINE_MESSAGE "fake engine: injected failure"

struct fake_engine_container {
	char id[FAKE_ENGINE_ID_LEN + 1];
	char name[FAKE_ENGINE_ID_LEN + 1]; /* from ?name= at create; "" if none */
	enum fake_engine_mode mode;
	bool deleted;
	bool killed;
};

struct fake_engine_conn {
	pthread_t thread;
	int fd;
	struct fake_engine *fe;
	struct fake_engine_conn *next;
};

struct fake_engine {
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char env[sizeof(((struct sockaddr_un *)0)->sun_path) + 32];
	int listen_fd;
	int stop_pipe[2];            /* readable once the fake stops */
	pthread_t acceptor;
	bool acceptor_started;

	pthread_mutex_t mu;          /* guards everything below */
	enum fake_engine_mode mode;
	long counts[FAKE_ENGINE_NKINDS];
	struct fake_engine_container *containers;
	size_t ncontainers, cap;
	uint64_t next_id;
	struct fake_engine_conn *conns;
};

/* A parsed request; bytes read past its body (the start of a hijacked
 * stream) are kept in extra. */
struct fake_engine_request {
	char method[16];
	char target[2048];
	char *body;
	size_t body_len;
	char *extra;
	size_t extra_len;
};

/* A reader that first hands out bytes read earlier. */
struct fake_engine_reader {
	struct fake_engine *fe;
	int fd;
	const char *pre;
	size_t pre_len, pre_off;
};

static const char *const fake_engine_mode_names[FAKE_ENGINE_NMODES] = {
	"HAPPY", "CREATE_500", "CREATE_HANG", "CREATE_LATE", "ATTACH_500", "START_500",
	"ATTACH_TRUNCATED", "STREAM_GARBAGE", "RECORD_OVER_CAP", "NO_STATUS_EOF", "SILENT",
	"DELETE_500", "CREATE_GARBLED", "STDERR_FLOOD", "NO_IMAGE_PULL_HANGS",
	"NO_IMAGE_NO_REGISTRY",
};

static const char *const fake_engine_kind_names[FAKE_ENGINE_NKINDS] = {
	"ping", "image_inspect", "list", "create", "attach", "start", "kill", "wait",
	"inspect", "delete", "not_found", "bad_request", "pull",
};

const char *fake_engine_mode_name(enum fake_engine_mode mode)
{
	return (unsigned)mode < FAKE_ENGINE_NMODES ? fake_engine_mode_names[mode] : "?";
}

const char *fake_engine_kind_name(enum fake_engine_kind kind)
{
	return (unsigned)kind < FAKE_ENGINE_NKINDS ? fake_engine_kind_names[kind] : "?";
}

static long fake_engine_now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* --- counters and containers ---------------------------------------------- */

static void fake_engine_counted(struct fake_engine *fe, enum fake_engine_kind kind)
{
	pthread_mutex_lock(&fe->mu);
	fe->counts[kind]++;
	pthread_mutex_unlock(&fe->mu);
}

/* Index of the container with this id, or -1; mu held. */
static long fake_engine_find(const struct fake_engine *fe, const char *id)
{
	for (size_t i = 0; i < fe->ncontainers; i++)
		if (strcmp(fe->containers[i].id, id) == 0 ||
		    (fe->containers[i].name[0] && strcmp(fe->containers[i].name, id) == 0))
			return (long)i;
	return -1;
}

/* Registers a new container in the current mode; its index, or -1. */
static long fake_engine_new_container(struct fake_engine *fe, const char *name,
				      char id[FAKE_ENGINE_ID_LEN + 1])
{
	long idx = -1;

	pthread_mutex_lock(&fe->mu);
	if (fe->ncontainers == fe->cap) {
		size_t cap = fe->cap ? fe->cap * 2 : 16;
		struct fake_engine_container *grown = realloc(fe->containers, cap * sizeof(*grown));
		if (!grown)
			goto out;
		fe->containers = grown;
		fe->cap = cap;
	}
	uint64_t n = ++fe->next_id;
	(void)snprintf(id, FAKE_ENGINE_ID_LEN + 1, "fa4e0e46%08x%016" PRIx64 "%016" PRIx64
		       "%016" PRIx64, (unsigned)getpid() & 0xffffffffu, n,
		       n * UINT64_C(0x9e3779b97f4a7c15), (uint64_t)fake_engine_now_ms());
	idx = (long)fe->ncontainers++;
	struct fake_engine_container *c = &fe->containers[idx];
	memset(c, 0, sizeof(*c));
	memcpy(c->id, id, FAKE_ENGINE_ID_LEN + 1);
	(void)snprintf(c->name, sizeof(c->name), "%s", name);
	c->mode = fe->mode;
out:
	pthread_mutex_unlock(&fe->mu);
	return idx;
}

/* Whether container idx was killed or deleted. */
static bool fake_engine_container_ended(struct fake_engine *fe, long idx)
{
	bool ended;

	pthread_mutex_lock(&fe->mu);
	ended = fe->containers[idx].killed || fe->containers[idx].deleted;
	pthread_mutex_unlock(&fe->mu);
	return ended;
}

/* --- socket I/O ------------------------------------------------------------- */

/* Waits for events on fd: 1 ready (or failed: the next call says), 0 at
 * timeout_ms (-1: none), -1 when the fake stops. */
static int fake_engine_wait_fd(struct fake_engine *fe, int fd, short events, int timeout_ms)
{
	for (;;) {
		struct pollfd p[2] = { { .fd = fd, .events = events },
				       { .fd = fe->stop_pipe[0], .events = POLLIN } };
		int n = poll(p, 2, timeout_ms);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || p[1].revents)
			return -1;
		return n > 0 ? 1 : 0;
	}
}

static int fake_engine_send_all(struct fake_engine *fe, int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
			if (fake_engine_wait_fd(fe, fd, POLLOUT, -1) < 0)
				return -1;
			continue;
		}
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Bytes read (> 0), 0 at end of stream, -1 on an error, a stop or when
 * deadline (monotonic ms; 0: none) passes. */
static ssize_t fake_engine_recv(struct fake_engine *fe, int fd, void *buf, size_t len,
				long deadline)
{
	for (;;) {
		long left = deadline ? deadline - fake_engine_now_ms() : -1;
		int rc;

		if (deadline && left <= 0)
			return -1;
		rc = fake_engine_wait_fd(fe, fd, POLLIN, deadline ? (int)left : -1);
		if (rc < 0)
			return -1;
		if (rc == 0)
			continue; /* the deadline check above ends it */
		ssize_t n = recv(fd, buf, len, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			continue;
		return n < 0 ? -1 : n;
	}
}

/* After our answer: no more writes, then read what the peer still sends
 * until it closes (a close with unread bytes would reset it), a while. */
static void fake_engine_linger(struct fake_engine *fe, int fd, int ms)
{
	long deadline = fake_engine_now_ms() + ms;
	char sink[4096];

	(void)shutdown(fd, SHUT_WR);
	while (fake_engine_recv(fe, fd, sink, sizeof(sink), deadline) > 0)
		;
}

/* Reads and drops what the peer sends until it closes, the fake stops, or
 * container idx (>= 0) is killed or deleted (the real engine ends the
 * stream when the container dies). */
static void fake_engine_until_closed(struct fake_engine *fe, int fd, long idx)
{
	char sink[4096];

	for (;;) {
		int rc = fake_engine_wait_fd(fe, fd, POLLIN, FAKE_ENGINE_TICK_MS);

		if (rc < 0)
			return;
		if (rc == 0) {
			if (idx >= 0 && fake_engine_container_ended(fe, idx))
				return;
			continue;
		}
		ssize_t n = recv(fd, sink, sizeof(sink), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
			return;
	}
}

static ssize_t fake_engine_reader_read(struct fake_engine_reader *r, void *buf, size_t len)
{
	if (r->pre_off < r->pre_len) {
		size_t n = r->pre_len - r->pre_off < len ? r->pre_len - r->pre_off : len;
		memcpy(buf, r->pre + r->pre_off, n);
		r->pre_off += n;
		return (ssize_t)n;
	}
	return fake_engine_recv(r->fe, r->fd, buf, len, 0);
}

/* Reads exactly len bytes into buf (NULL: drop them); 0 or -1. */
static int fake_engine_reader_exact(struct fake_engine_reader *r, void *buf, size_t len)
{
	char sink[65536];
	char *p = buf;

	while (len > 0) {
		size_t want = p ? len : (len < sizeof(sink) ? len : sizeof(sink));
		ssize_t n = fake_engine_reader_read(r, p ? p : sink, want);

		if (n <= 0)
			return -1;
		if (p)
			p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* --- requests --------------------------------------------------------------- */

static void fake_engine_request_free(struct fake_engine_request *rq)
{
	free(rq->body);
	free(rq->extra);
	rq->body = rq->extra = NULL;
}

/* The value of header line [p, end) when its name is name, trimmed into
 * out; false otherwise. */
static bool fake_engine_header_is(const char *p, const char *end, const char *name, char *out,
				  size_t outlen)
{
	size_t nlen = strlen(name);

	if ((size_t)(end - p) <= nlen || strncasecmp(p, name, nlen) != 0 || p[nlen] != ':')
		return false;
	p += nlen + 1;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	(void)snprintf(out, outlen, "%.*s", (int)(end - p), p);
	return true;
}

/* Parses the head (NUL-terminated, without the blank line). Returns 0, or
 * the HTTP status to refuse the request with (why says why). */
static int fake_engine_parse_head(const char *head, struct fake_engine_request *rq,
				  long *content_length, bool *expect_continue, char *why,
				  size_t whylen)
{
	const char *line_end = strstr(head, "\r\n");
	const char *sp1, *sp2;
	char value[256];

	if (!line_end)
		line_end = head + strlen(head);
	sp1 = memchr(head, ' ', (size_t)(line_end - head));
	sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(line_end - sp1 - 1)) : NULL;
	if (!sp1 || !sp2 || sp1 == head || (size_t)(sp1 - head) >= sizeof(rq->method) ||
	    sp2 == sp1 + 1 || (size_t)(sp2 - sp1 - 1) >= sizeof(rq->target) ||
	    (size_t)(line_end - sp2 - 1) != 8 || strncmp(sp2 + 1, "HTTP/1.", 7) != 0) {
		(void)snprintf(why, whylen, "fake engine: bad request line");
		return 400;
	}
	(void)snprintf(rq->method, sizeof(rq->method), "%.*s", (int)(sp1 - head), head);
	(void)snprintf(rq->target, sizeof(rq->target), "%.*s", (int)(sp2 - sp1 - 1), sp1 + 1);
	*content_length = 0;
	*expect_continue = false;
	bool have_length = false;
	for (const char *p = *line_end ? line_end + 2 : line_end; *p;) {
		const char *end = strstr(p, "\r\n");
		if (!end)
			end = p + strlen(p);
		if (fake_engine_header_is(p, end, "Content-Length", value, sizeof(value))) {
			char *stop;
			long n;
			errno = 0;
			n = strtol(value, &stop, 10);
			if (!isdigit((unsigned char)value[0]) || *stop || errno ||
			    (have_length && n != *content_length)) {
				(void)snprintf(why, whylen, "fake engine: bad Content-Length");
				return 400;
			}
			if (n > FAKE_ENGINE_BODY_MAX) {
				(void)snprintf(why, whylen, "fake engine: body over %ld bytes",
					       FAKE_ENGINE_BODY_MAX);
				return 413;
			}
			*content_length = n;
			have_length = true;
		} else if (fake_engine_header_is(p, end, "Transfer-Encoding", value, sizeof(value))) {
			(void)snprintf(why, whylen, "fake engine: Transfer-Encoding is not supported");
			return 501;
		} else if (fake_engine_header_is(p, end, "Expect", value, sizeof(value)) &&
			   strcasecmp(value, "100-continue") == 0) {
			*expect_continue = true;
		}
		p = *end ? end + 2 : end;
	}
	return 0;
}

/* Reads one request. Returns 0, -1 when the peer went away (or the fake
 * stops) before a whole request came, or the status to refuse it with. */
static int fake_engine_read_request(struct fake_engine *fe, int fd, struct fake_engine_request *rq,
				    char *why, size_t whylen)
{
	long deadline = fake_engine_now_ms() + FAKE_ENGINE_REQUEST_MS, content_length = 0;
	char *buf = malloc(FAKE_ENGINE_HEAD_MAX + 1), *end = NULL;
	size_t have = 0, head_len, after;
	bool expect_continue = false;
	int rc = -1;

	memset(rq, 0, sizeof(*rq));
	if (!buf)
		return -1;
	while (!end) {
		if (have == FAKE_ENGINE_HEAD_MAX) {
			(void)snprintf(why, whylen, "fake engine: request head over %d bytes",
				       FAKE_ENGINE_HEAD_MAX);
			rc = 431;
			goto out;
		}
		ssize_t n = fake_engine_recv(fe, fd, buf + have, FAKE_ENGINE_HEAD_MAX - have,
					     deadline);
		if (n <= 0)
			goto out;
		have += (size_t)n;
		buf[have] = '\0';
		end = memmem(buf, have, "\r\n\r\n", 4);
	}
	head_len = (size_t)(end - buf) + 4;
	after = have - head_len;
	*end = '\0';
	rc = fake_engine_parse_head(buf, rq, &content_length, &expect_continue, why, whylen);
	if (rc != 0)
		goto out;
	rc = -1;
	rq->body = malloc((size_t)content_length + 1);
	if (!rq->body)
		goto out;
	rq->body_len = (size_t)content_length;
	size_t got = after < rq->body_len ? after : rq->body_len;
	memcpy(rq->body, buf + head_len, got);
	if (got < rq->body_len && expect_continue) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		if (fake_engine_send_all(fe, fd, cont, sizeof(cont) - 1) != 0)
			goto out;
	}
	while (got < rq->body_len) {
		ssize_t n = fake_engine_recv(fe, fd, rq->body + got, rq->body_len - got, deadline);
		if (n <= 0)
			goto out;
		got += (size_t)n;
	}
	rq->body[rq->body_len] = '\0';
	if (after > rq->body_len) {
		rq->extra_len = after - rq->body_len;
		rq->extra = malloc(rq->extra_len);
		if (!rq->extra)
			goto out;
		memcpy(rq->extra, buf + head_len + rq->body_len, rq->extra_len);
	}
	rc = 0;
out:
	free(buf);
	if (rc != 0)
		fake_engine_request_free(rq);
	return rc;
}

static const char *fake_engine_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 413: return "Payload Too Large";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	default: return "Unknown";
	}
}

/* One answer with "Connection: close"; the caller closes after it. */
static void fake_engine_respond(struct fake_engine *fe, int fd, int status, const char *ctype,
				const char *body)
{
	char head[512];
	int n;

	if (status == 204)
		n = snprintf(head, sizeof(head),
			     "HTTP/1.1 204 No Content\r\nApi-Version: " FAKE_ENGINE_API_VERSION
			     "\r\nServer: fake-engine\r\nConnection: close\r\n\r\n");
	else
		n = snprintf(head, sizeof(head),
			     "HTTP/1.1 %d %s\r\nApi-Version: " FAKE_ENGINE_API_VERSION
			     "\r\nServer: fake-engine\r\nContent-Type: %s\r\n"
			     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
			     status, fake_engine_reason(status), ctype, strlen(body));
	if (n < 0 || (size_t)n >= sizeof(head))
		return;
	if (fake_engine_send_all(fe, fd, head, (size_t)n) == 0 && status != 204)
		(void)fake_engine_send_all(fe, fd, body, strlen(body));
}

/* {"message":"<text>"} with text escaped for JSON (it may hold a path). */
static void fake_engine_respond_message(struct fake_engine *fe, int fd, int status,
					const char *text)
{
	char body[1024];
	size_t n = 0;

	n += (size_t)snprintf(body, sizeof(body), "{\"message\":\"");
	for (const char *p = text; *p && n < sizeof(body) - 16; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '"' || c == '\\')
			n += (size_t)snprintf(body + n, sizeof(body) - n, "\\%c", c);
		else if (c < 0x20)
			n += (size_t)snprintf(body + n, sizeof(body) - n, "\\u%04x", c);
		else
			body[n++] = (char)c;
	}
	(void)snprintf(body + n, sizeof(body) - n, "\"}");
	fake_engine_respond(fe, fd, status, "application/json", body);
}

/* --- the attach stream: the fake runner ------------------------------------- */

static int fake_engine_send_frame(struct fake_engine *fe, int fd, uint8_t stream,
				  uint32_t declared, const void *payload, size_t len)
{
	uint8_t h[8] = { stream, 0, 0, 0, (uint8_t)(declared >> 24), (uint8_t)(declared >> 16),
			 (uint8_t)(declared >> 8), (uint8_t)declared };

	if (fake_engine_send_all(fe, fd, h, sizeof(h)) != 0)
		return -1;
	return len ? fake_engine_send_all(fe, fd, payload, len) : 0;
}

/* One run-protocol record in one stdout frame. */
static int fake_engine_send_record(struct fake_engine *fe, int fd, char type, const char *data,
				   size_t len)
{
	uint8_t *frame = malloc(5 + len);
	int rc;

	if (!frame)
		return -1;
	frame[0] = (uint8_t)type;
	frame[1] = (uint8_t)(len >> 24);
	frame[2] = (uint8_t)(len >> 16);
	frame[3] = (uint8_t)(len >> 8);
	frame[4] = (uint8_t)len;
	memcpy(frame + 5, data, len);
	rc = fake_engine_send_frame(fe, fd, 1, (uint32_t)(5 + len), frame, 5 + len);
	free(frame);
	return rc;
}

/* Reads the job as the runner does: "CXD1", 8 hex digits, that many bytes. */
static int fake_engine_read_job(struct fake_engine_reader *r)
{
	char head[FAKE_ENGINE_JOB_HEADER_LEN + 1], *stop;
	unsigned long len;

	if (fake_engine_reader_exact(r, head, FAKE_ENGINE_JOB_HEADER_LEN) != 0)
		return -1;
	head[FAKE_ENGINE_JOB_HEADER_LEN] = '\0';
	if (memcmp(head, "CXD1", 4) != 0 || strspn(head + 4, "0123456789abcdef") != 8)
		return -1;
	len = strtoul(head + 4, &stop, 16);
	if (len > (unsigned long)FAKE_ENGINE_JOB_MAX)
		return -1;
	return fake_engine_reader_exact(r, NULL, len);
}

static void fake_engine_run(struct fake_engine *fe, int fd, long idx, enum fake_engine_mode mode)
{
	static const char status[] = "{\"exit_code\":0,\"signal\":0,\"oom_kill\":false}";

	switch (mode) {
	case FAKE_ENGINE_HAPPY:
		if (fake_engine_send_record(fe, fd, 'O', "hi\n", 3) == 0 &&
		    fake_engine_send_record(fe, fd, 'F', "", 0) == 0 &&
		    fake_engine_send_record(fe, fd, 'X', status, sizeof(status) - 1) == 0)
			fake_engine_linger(fe, fd, FAKE_ENGINE_LINGER_MS); /* the runner exits */
		return;
	case FAKE_ENGINE_ATTACH_TRUNCATED: {
		/* A stdout frame of 64 bytes, of which 12 arrive: the start of
		 * an 'O' record of 59 bytes. */
		static const uint8_t part[12] = { 'O', 0, 0, 0, 59, 'p', 'a', 'r', 't', 'i', 'a', 'l' };
		if (fake_engine_send_frame(fe, fd, 1, 64, part, sizeof(part)) == 0)
			fake_engine_linger(fe, fd, FAKE_ENGINE_LINGER_MS);
		return;
	}
	case FAKE_ENGINE_STREAM_GARBAGE:
		if (fake_engine_send_frame(fe, fd, 7, 4, "junk", 4) == 0)
			fake_engine_until_closed(fe, fd, idx);
		return;
	case FAKE_ENGINE_RECORD_OVER_CAP: {
		/* 'O' declaring 1 GiB, then the first KiB of it. */
		uint8_t rec[5 + 1024];
		memset(rec, 'A', sizeof(rec));
		rec[0] = 'O';
		rec[1] = 0x40;
		rec[2] = rec[3] = rec[4] = 0;
		if (fake_engine_send_frame(fe, fd, 1, sizeof(rec), rec, sizeof(rec)) == 0)
			fake_engine_until_closed(fe, fd, idx);
		return;
	}
	case FAKE_ENGINE_NO_STATUS_EOF:
		if (fake_engine_send_record(fe, fd, 'O', "partial\n", 8) == 0)
			fake_engine_linger(fe, fd, FAKE_ENGINE_LINGER_MS);
		return;
	case FAKE_ENGINE_STDERR_FLOOD: {
		/* Stdout frames full of empty 'W' records (5 bytes each): the
		 * daemon spends longer on a read than the fake on a write, and a
		 * send buffer far larger than a read keeps the writer ahead, so
		 * that the daemon's reads never find the stream empty. */
		static uint8_t notes[1 << 20];
		int big = 64 << 20;
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big));
		for (size_t i = 0; i + 5 <= sizeof(notes); i += 5)
			memcpy(notes + i, "W\0\0\0\0", 5);
		size_t len = sizeof(notes) / 5 * 5;
		while (fake_engine_send_frame(fe, fd, 1, (uint32_t)len, notes, len) == 0)
			;
		return;
	}
	case FAKE_ENGINE_DELETE_500: /* a fault of DELETE only: the run goes well */
	case FAKE_ENGINE_CREATE_LATE: /* (never attached: the daemon has no id) */
		fake_engine_run(fe, fd, idx, FAKE_ENGINE_HAPPY);
		return;
	default: /* SILENT, and containers whose start failed yet got a job */
		fake_engine_until_closed(fe, fd, idx);
		return;
	}
}

static void fake_engine_attach(struct fake_engine *fe, int fd, long idx,
			       const struct fake_engine_request *rq)
{
	static const char upgraded[] = "HTTP/1.1 101 UPGRADED\r\n"
				       "Content-Type: application/vnd.docker.raw-stream\r\n"
				       "Connection: Upgrade\r\nUpgrade: tcp\r\n"
				       "Api-Version: " FAKE_ENGINE_API_VERSION "\r\n\r\n";
	struct fake_engine_reader r = { .fe = fe, .fd = fd, .pre = rq->extra,
					.pre_len = rq->extra_len };
	enum fake_engine_mode mode;

	pthread_mutex_lock(&fe->mu);
	mode = fe->containers[idx].mode;
	pthread_mutex_unlock(&fe->mu);
	if (fake_engine_send_all(fe, fd, upgraded, sizeof(upgraded) - 1) != 0)
		return;
	/* The job comes after start; a daemon whose start failed hangs up. */
	if (fake_engine_read_job(&r) != 0)
		return;
	fake_engine_run(fe, fd, idx, mode);
}

/* --- routes ----------------------------------------------------------------- */

/* The path without its query and without a "/v1.NN" prefix, into out. */
static void fake_engine_route_path(const char *target, char *out, size_t outlen)
{
	size_t len = strcspn(target, "?");
	const char *p = target;

	if (p[0] == '/' && p[1] == 'v' && isdigit((unsigned char)p[2])) {
		const char *q = p + 2 + strspn(p + 2, "0123456789");
		if (*q == '.' && isdigit((unsigned char)q[1])) {
			q += 1 + strspn(q + 1, "0123456789");
			if (*q == '/' || *q == '?' || *q == '\0') {
				len -= (size_t)(q - p);
				p = q;
			}
		}
	}
	(void)snprintf(out, outlen, "%.*s", (int)len, p);
}

static void fake_engine_create(struct fake_engine *fe, int fd, const char *target)
{
	char id[FAKE_ENGINE_ID_LEN + 1], body[128], name[FAKE_ENGINE_ID_LEN + 1] = "";
	const char *q = strstr(target, "?name=");
	enum fake_engine_mode mode;

	if (!q)
		q = strstr(target, "&name=");
	if (q)
		(void)snprintf(name, sizeof(name), "%.*s", (int)strcspn(q + 6, "&"), q + 6);
	fake_engine_counted(fe, FAKE_ENGINE_CREATE);
	pthread_mutex_lock(&fe->mu);
	mode = fe->mode;
	pthread_mutex_unlock(&fe->mu);
	if (mode == FAKE_ENGINE_CREATE_500) {
		fake_engine_respond_message(fe, fd, 500, FAKE_ENGINE_MESSAGE);
		return;
	}
	if (mode == FAKE_ENGINE_CREATE_HANG) {
		fake_engine_until_closed(fe, fd, -1); /* no answer, ever */
		return;
	}
	if (mode == FAKE_ENGINE_NO_IMAGE_PULL_HANGS || mode == FAKE_ENGINE_NO_IMAGE_NO_REGISTRY) {
		fake_engine_respond_message(fe, fd, 404, "No such image: fake:missing");
		return;
	}
	if (fake_engine_new_container(fe, name, id) < 0) {
		fake_engine_respond_message(fe, fd, 500, "fake engine: out of memory");
		return;
	}
	if (mode == FAKE_ENGINE_CREATE_LATE)
		fake_engine_until_closed(fe, fd, -1); /* created, answered too late */
	if (mode == FAKE_ENGINE_CREATE_GARBLED) {
		fake_engine_respond(fe, fd, 201, "application/json", "{\"Id\": <garbled");
		return;
	}
	(void)snprintf(body, sizeof(body), "{\"Id\":\"%s\",\"Warnings\":[]}", id);
	fake_engine_respond(fe, fd, 201, "application/json", body);
}

/* A call on /containers/{id}[/action]; *attach_idx is set for an attach the
 * caller serves after this returns. */
static void fake_engine_container_call(struct fake_engine *fe, int fd,
				       const struct fake_engine_request *rq, const char *rest,
				       long *attach_idx)
{
	const char *slash = strchr(rest, '/');
	const char *action = slash ? slash + 1 : "";
	char id[FAKE_ENGINE_ID_LEN + 2], msg[256];
	enum fake_engine_kind kind;
	bool post = strcmp(rq->method, "POST") == 0;
	long idx;

	if (strcmp(rq->method, "DELETE") == 0 && !slash)
		kind = FAKE_ENGINE_DELETE;
	else if (post && strcmp(action, "attach") == 0)
		kind = FAKE_ENGINE_ATTACH;
	else if (post && strcmp(action, "start") == 0)
		kind = FAKE_ENGINE_START;
	else if (post && strcmp(action, "kill") == 0)
		kind = FAKE_ENGINE_KILL;
	else if (post && strcmp(action, "wait") == 0)
		kind = FAKE_ENGINE_WAIT;
	else if (strcmp(rq->method, "GET") == 0 && strcmp(action, "json") == 0)
		kind = FAKE_ENGINE_INSPECT;
	else
		kind = FAKE_ENGINE_NOT_FOUND;
	fake_engine_counted(fe, kind);
	if (kind == FAKE_ENGINE_NOT_FOUND) {
		(void)snprintf(msg, sizeof(msg), "fake engine: no route for %s %.160s", rq->method,
			       rq->target);
		fake_engine_respond_message(fe, fd, 404, msg);
		return;
	}
	size_t idlen = slash ? (size_t)(slash - rest) : strlen(rest);
	(void)snprintf(id, sizeof(id), "%.*s", (int)(idlen < sizeof(id) - 1 ? idlen : sizeof(id) - 1),
		       rest);
	pthread_mutex_lock(&fe->mu);
	idx = idlen <= FAKE_ENGINE_ID_LEN ? fake_engine_find(fe, id) : -1;
	bool gone = idx < 0 || fe->containers[idx].deleted;
	enum fake_engine_mode mode = idx >= 0 ? fe->containers[idx].mode : FAKE_ENGINE_HAPPY;
	bool refuse_delete = kind == FAKE_ENGINE_DELETE && fe->mode == FAKE_ENGINE_DELETE_500;
	if (!gone && kind == FAKE_ENGINE_DELETE && !refuse_delete)
		fe->containers[idx].deleted = true;
	if (!gone && kind == FAKE_ENGINE_KILL)
		fe->containers[idx].killed = true;
	pthread_mutex_unlock(&fe->mu);
	if (gone) {
		(void)snprintf(msg, sizeof(msg), "No such container: %.64s", id);
		fake_engine_respond_message(fe, fd, 404, msg);
		return;
	}
	switch (kind) {
	case FAKE_ENGINE_ATTACH:
		if (mode == FAKE_ENGINE_ATTACH_500)
			fake_engine_respond_message(fe, fd, 500, FAKE_ENGINE_MESSAGE);
		else
			*attach_idx = idx;
		return;
	case FAKE_ENGINE_START:
		if (mode == FAKE_ENGINE_START_500)
			fake_engine_respond_message(fe, fd, 500, FAKE_ENGINE_MESSAGE);
		else
			fake_engine_respond(fe, fd, 204, NULL, "");
		return;
	case FAKE_ENGINE_WAIT:
		fake_engine_respond(fe, fd, 200, "application/json",
				    "{\"StatusCode\":0,\"Error\":null}");
		return;
	case FAKE_ENGINE_INSPECT:
		fake_engine_respond(fe, fd, 200, "application/json",
				    "{\"State\":{\"Running\":false,\"OOMKilled\":false,"
				    "\"ExitCode\":0}}");
		return;
	case FAKE_ENGINE_DELETE:
		if (refuse_delete)
			fake_engine_respond_message(fe, fd, 500, FAKE_ENGINE_MESSAGE);
		else
			fake_engine_respond(fe, fd, 204, NULL, "");
		return;
	default: /* kill */
		fake_engine_respond(fe, fd, 204, NULL, "");
		return;
	}
}

/* POST /images/create in the NO_IMAGE modes: a stall after the first
 * progress line, or the failure of an engine without a registry. */
static void fake_engine_pull(struct fake_engine *fe, int fd, enum fake_engine_mode mode)
{
	static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
				   "Connection: close\r\n\r\n"
				   "{\"status\":\"Pulling from fake\"}\n";

	fake_engine_counted(fe, FAKE_ENGINE_PULL);
	if (mode == FAKE_ENGINE_NO_IMAGE_PULL_HANGS) {
		if (fake_engine_send_all(fe, fd, head, sizeof(head) - 1) == 0)
			fake_engine_until_closed(fe, fd, -1);
		return;
	}
	fake_engine_respond_message(fe, fd, 500, "Get \"https://registry-1.docker.io/v2/\": dial "
				    "tcp: lookup registry-1.docker.io: no such host");
}

/* Serves one request on fd. */
static void fake_engine_serve(struct fake_engine *fe, int fd)
{
	struct fake_engine_request rq;
	char why[256], path[2048], msg[2300];
	long attach_idx = -1;
	size_t plen;
	int rc = fake_engine_read_request(fe, fd, &rq, why, sizeof(why));

	if (rc < 0)
		return;
	if (rc > 0) {
		fake_engine_counted(fe, FAKE_ENGINE_BAD_REQUEST);
		fake_engine_respond_message(fe, fd, rc, why);
		fake_engine_linger(fe, fd, FAKE_ENGINE_LINGER_MS);
		return;
	}
	fake_engine_route_path(rq.target, path, sizeof(path));
	plen = strlen(path);
	bool get = strcmp(rq.method, "GET") == 0;
	pthread_mutex_lock(&fe->mu);
	enum fake_engine_mode engine_mode = fe->mode;
	pthread_mutex_unlock(&fe->mu);
	bool no_image = engine_mode == FAKE_ENGINE_NO_IMAGE_PULL_HANGS ||
			engine_mode == FAKE_ENGINE_NO_IMAGE_NO_REGISTRY;
	if (get && strcmp(path, "/_ping") == 0) {
		fake_engine_counted(fe, FAKE_ENGINE_PING);
		fake_engine_respond(fe, fd, 200, "text/plain; charset=utf-8", "OK");
	} else if (get && strncmp(path, "/images/", 8) == 0 && plen > 13 &&
		   strcmp(path + plen - 5, "/json") == 0) {
		fake_engine_counted(fe, FAKE_ENGINE_IMAGE_INSPECT);
		if (no_image)
			fake_engine_respond_message(fe, fd, 404, "No such image: fake:missing");
		else
			fake_engine_respond(fe, fd, 200, "application/json", "{}");
	} else if (no_image && strcmp(rq.method, "POST") == 0 &&
		   strcmp(path, "/images/create") == 0) {
		fake_engine_pull(fe, fd, engine_mode);
	} else if (get && strcmp(path, "/containers/json") == 0) {
		fake_engine_counted(fe, FAKE_ENGINE_LIST);
		fake_engine_respond(fe, fd, 200, "application/json", "[]");
	} else if (strcmp(rq.method, "POST") == 0 && strcmp(path, "/containers/create") == 0) {
		fake_engine_create(fe, fd, rq.target);
	} else if (strncmp(path, "/containers/", 12) == 0 && path[12] != '\0' &&
		   path[12] != '/') {
		fake_engine_container_call(fe, fd, &rq, path + 12, &attach_idx);
	} else {
		fake_engine_counted(fe, FAKE_ENGINE_NOT_FOUND);
		(void)snprintf(msg, sizeof(msg), "fake engine: no route for %s %s", rq.method,
			       rq.target);
		fake_engine_respond_message(fe, fd, 404, msg);
	}
	if (attach_idx >= 0)
		fake_engine_attach(fe, fd, attach_idx, &rq);
	else
		fake_engine_linger(fe, fd, FAKE_ENGINE_LINGER_MS);
	fake_engine_request_free(&rq);
}

static void *fake_engine_conn_main(void *arg)
{
	struct fake_engine_conn *c = arg;

	fake_engine_serve(c->fe, c->fd);
	(void)close(c->fd);
	c->fd = -1;
	return NULL;
}

static void *fake_engine_accept_main(void *arg)
{
	struct fake_engine *fe = arg;

	while (fake_engine_wait_fd(fe, fe->listen_fd, POLLIN, -1) > 0) {
		int fd = accept4(fe->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		struct fake_engine_conn *c;

		if (fd < 0)
			continue;
		c = calloc(1, sizeof(*c));
		if (!c) {
			(void)close(fd);
			continue;
		}
		c->fd = fd;
		c->fe = fe;
		if (pthread_create(&c->thread, NULL, fake_engine_conn_main, c) != 0) {
			(void)close(fd);
			free(c);
			continue;
		}
		pthread_mutex_lock(&fe->mu);
		c->next = fe->conns;
		fe->conns = c;
		pthread_mutex_unlock(&fe->mu);
	}
	return NULL;
}

/* --- life cycle ------------------------------------------------------------- */

struct fake_engine *fake_engine_start(enum fake_engine_mode mode)
{
	static unsigned seq;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct fake_engine *fe = calloc(1, sizeof(*fe));

	if (!fe)
		return NULL;
	fe->listen_fd = -1;
	fe->stop_pipe[0] = fe->stop_pipe[1] = -1;
	fe->mode = mode;
	pthread_mutex_init(&fe->mu, NULL);
	const char *dir = getenv("TMPDIR");
	int n = snprintf(fe->path, sizeof(fe->path), "%s/cxd-fake-engine-%d-%u.sock",
			 dir && dir[0] == '/' ? dir : "/tmp", (int)getpid(),
			 __atomic_fetch_add(&seq, 1, __ATOMIC_RELAXED));
	if (n < 0 || (size_t)n >= sizeof(fe->path)) {
		fprintf(stderr, "fake engine: the socket path under %s is too long\n", dir);
		fake_engine_stop(fe);
		return NULL;
	}
	(void)snprintf(fe->env, sizeof(fe->env), "DOCKER_HOST=unix://%s", fe->path);
	memcpy(sa.sun_path, fe->path, strlen(fe->path) + 1);
	(void)unlink(fe->path);
	if (pipe2(fe->stop_pipe, O_CLOEXEC) != 0)
		goto fail;
	fe->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fe->listen_fd < 0 || bind(fe->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(fe->listen_fd, 64) != 0)
		goto fail;
	if (pthread_create(&fe->acceptor, NULL, fake_engine_accept_main, fe) != 0)
		goto fail;
	fe->acceptor_started = true;
	return fe;
fail:
	fprintf(stderr, "fake engine: cannot listen on %s: %s\n", fe->path, strerror(errno));
	fake_engine_stop(fe);
	return NULL;
}

void fake_engine_stop(struct fake_engine *fe)
{
	struct fake_engine_conn *c, *next;

	if (!fe)
		return;
	if (fe->stop_pipe[1] >= 0)
		(void)!write(fe->stop_pipe[1], "x", 1);
	if (fe->acceptor_started)
		pthread_join(fe->acceptor, NULL);
	if (fe->listen_fd >= 0)
		(void)close(fe->listen_fd);
	(void)unlink(fe->path);
	/* No new connection can come: the list is ours now. */
	for (c = fe->conns; c; c = next) {
		next = c->next;
		pthread_join(c->thread, NULL);
		free(c);
	}
	if (fe->stop_pipe[0] >= 0)
		(void)close(fe->stop_pipe[0]);
	if (fe->stop_pipe[1] >= 0)
		(void)close(fe->stop_pipe[1]);
	pthread_mutex_destroy(&fe->mu);
	free(fe->containers);
	free(fe);
}

const char *fake_engine_socket_path(const struct fake_engine *fe)
{
	return fe->path;
}

const char *fake_engine_docker_host_env(const struct fake_engine *fe)
{
	return fe->env;
}

void fake_engine_set_mode(struct fake_engine *fe, enum fake_engine_mode mode)
{
	pthread_mutex_lock(&fe->mu);
	fe->mode = mode;
	pthread_mutex_unlock(&fe->mu);
}

long fake_engine_count(struct fake_engine *fe, enum fake_engine_kind kind)
{
	long n;

	if ((unsigned)kind >= FAKE_ENGINE_NKINDS)
		return -1;
	pthread_mutex_lock(&fe->mu);
	n = fe->counts[kind];
	pthread_mutex_unlock(&fe->mu);
	return n;
}

int fake_engine_created(struct fake_engine *fe)
{
	int n;

	pthread_mutex_lock(&fe->mu);
	n = (int)fe->ncontainers;
	pthread_mutex_unlock(&fe->mu);
	return n;
}

int fake_engine_undeleted(struct fake_engine *fe)
{
	int n = 0;

	pthread_mutex_lock(&fe->mu);
	for (size_t i = 0; i < fe->ncontainers; i++)
		n += !fe->containers[i].deleted;
	pthread_mutex_unlock(&fe->mu);
	return n;
}

bool fake_engine_wait_deleted(struct fake_engine *fe, int timeout_ms)
{
	long deadline = fake_engine_now_ms() + timeout_ms;

	for (;;) {
		if (fake_engine_undeleted(fe) == 0)
			return true;
		if (fake_engine_now_ms() >= deadline)
			return false;
		struct timespec ts = { .tv_sec = 0, .tv_nsec = 50 * 1000000L };
		(void)nanosleep(&ts, NULL);
	}
}

void fake_engine_describe(struct fake_engine *fe, char *out, size_t outlen)
{
	size_t n = 0;

	if (outlen == 0)
		return;
	out[0] = '\0';
	for (int k = 0; k < FAKE_ENGINE_NKINDS && n < outlen; k++) {
		int w = snprintf(out + n, outlen - n, "%s=%ld ", fake_engine_kind_name(k),
				 fake_engine_count(fe, (enum fake_engine_kind)k));
		if (w < 0)
			return;
		n += (size_t)w;
	}
	if (n < outlen)
		(void)snprintf(out + n, outlen - n, "created=%d undeleted=%d",
			       fake_engine_created(fe), fake_engine_undeleted(fe));
}
