/* Unit tests for docker.c without a Docker engine: DOCKER_HOST parsing,
 * version negotiation, an engine that is not there or does not answer, and
 * the mapping of answers, driven by a small fake engine on a Unix socket
 * that answers every request with canned bytes. */
#include <check.h>

#include "../check_run.h"
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "codeexecd/docker.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* --- a fake engine ---------------------------------------------------------- */

struct fake {
	char dir[64];
	char sock[100];             /* fits sun_path */
	char host[120];             /* "unix://<sock>" */
	int lfd;
	pthread_t thread;
	atomic_bool stop;
	/* what it answers */
	const char *api_version;    /* API-Version of /_ping; "": none; NULL: 1.41 */
	long status;                /* every other request */
	const char *body;
	size_t big_body;            /* >0: a body of that many 'x' instead */
	const char *raw;            /* the whole answer, head and all, instead */
	size_t raw_len;
	bool silent;                /* read requests, never answer */
	/* what it saw */
	char last[2048];            /* the request line of the last non-ping request */
	atomic_int pings;
};

/* Reads one request head (and any body); 0 or -1 on end of connection. */
static int fake_read_request(int fd, char *line, size_t linelen)
{
	char buf[16384];
	size_t have = 0;
	char *end = NULL, *cl, *eol;
	long body;

	while (!end) {
		ssize_t n;

		if (have == sizeof(buf) - 1)
			return -1;
		n = read(fd, buf + have, sizeof(buf) - 1 - have);
		if (n <= 0)
			return -1;
		have += (size_t)n;
		buf[have] = '\0';
		end = strstr(buf, "\r\n\r\n");
	}
	eol = strstr(buf, "\r\n");
	snprintf(line, linelen, "%.*s", (int)(eol - buf), buf);
	cl = strcasestr(buf, "\r\nContent-Length:");
	body = cl && cl < end ? strtol(cl + 17, NULL, 10) : 0;
	body -= (long)(have - (size_t)(end + 4 - buf));
	while (body > 0) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n <= 0)
			return -1;
		body -= n;
	}
	return 0;
}

static void write_all_fd(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);   /* the client may hang up */

		if (n <= 0)
			return;
		p += n;
		len -= (size_t)n;
	}
}

static void fake_answer(struct fake *f, int fd, const char *line)
{
	char head[512];
	const char *body = f->body ? f->body : "";
	char *big = NULL;
	size_t len;

	if (strstr(line, " /_ping ")) {
		bool v = f->api_version[0] != '\0';   /* "": send none */

		f->pings++;
		len = (size_t)snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\n%s%s%s"
				       "Content-Length: 2\r\nConnection: close\r\n\r\nOK",
				       v ? "Api-Version: " : "", f->api_version, v ? "\r\n" : "");
		write_all_fd(fd, head, len);
		return;
	}
	snprintf(f->last, sizeof(f->last), "%s", line);
	if (f->raw) {
		write_all_fd(fd, f->raw, f->raw_len);
		return;
	}
	if (f->big_body > 0) {
		big = malloc(f->big_body + 1);
		ck_assert_ptr_nonnull(big);
		memset(big, 'x', f->big_body);
		big[f->big_body] = '\0';
		body = big;
	}
	len = (size_t)snprintf(head, sizeof(head), "HTTP/1.1 %ld X\r\nContent-Type: "
			       "application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
			       f->status, strlen(body));
	write_all_fd(fd, head, len);
	write_all_fd(fd, body, strlen(body));
	free(big);
}

/* Holds a connection open, answering nothing, until the peer or stop. */
static void fake_hold(struct fake *f, int fd)
{
	char buf[256];

	while (!f->stop) {
		struct pollfd p = {.fd = fd, .events = POLLIN};

		if (poll(&p, 1, 50) > 0 && read(fd, buf, sizeof(buf)) <= 0)
			return;
	}
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;

	while (!f->stop) {
		struct pollfd p = {.fd = f->lfd, .events = POLLIN};
		char line[2048];
		int fd;

		if (poll(&p, 1, 50) <= 0)
			continue;
		fd = accept(f->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		if (fake_read_request(fd, line, sizeof(line)) == 0) {
			if (f->silent)
				fake_hold(f, fd);
			else
				fake_answer(f, fd, line);
		}
		close(fd);
	}
	return NULL;
}

static void fake_start(struct fake *f)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	snprintf(f->dir, sizeof(f->dir), "/tmp/cxd-fake-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(f->dir));
	snprintf(f->sock, sizeof(f->sock), "%s/engine.sock", f->dir);
	snprintf(f->host, sizeof(f->host), "unix://%s", f->sock);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->sock);
	f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(f->lfd, 0);
	ck_assert_int_eq(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(f->lfd, 16), 0);
	if (!f->api_version)
		f->api_version = "1.41";
	ck_assert_int_eq(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

static void fake_stop(struct fake *f)
{
	f->stop = true;
	pthread_join(f->thread, NULL);
	close(f->lfd);
	unlink(f->sock);
	rmdir(f->dir);
}

/* A client of the fake, pinged, with a 5 s call timeout. */
static struct docker *fake_client(struct fake *f)
{
	struct docker *d = NULL;
	char err[CXD_ERR_MAX] = "";

	ck_assert_int_eq(docker_open(&d, f->host, NULL, 5, err, sizeof(err)), 0);
	return d;
}

/* --- version negotiation ------------------------------------------------------ */

START_TEST(test_negotiate_version)
{
	static const struct { const char *engine, *want; } ok[] = {
		{"1.41", "1.41"}, {"1.42", "1.42"}, {"1.43", "1.43"}, {"1.44", "1.43"},
		{"1.47", "1.43"}, {"1.100", "1.43"}, {"2.0", "1.43"}, {"1.041", "1.41"},
	};
	static const char *const bad[] = {
		"1.40", "1.12", "0.99", "1.0", "", "1", "1.", ".41", "1.41a", "1.41.0", "v1.41",
		" 1.41", "1. 41", "1.-41", "-1.41", "abc", "99999999999999999999.1",
	};
	char out[16];

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ck_assert_int_eq(docker_negotiate_version(ok[i].engine, out, sizeof(out)), 0);
		ck_assert_str_eq(out, ok[i].want);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		strcpy(out, "untouched");
		ck_assert_msg(docker_negotiate_version(bad[i], out, sizeof(out)) == -EPROTO,
			      "\"%s\" accepted", bad[i]);
		ck_assert_str_eq(out, "untouched");
	}
	ck_assert_int_eq(docker_negotiate_version(NULL, out, sizeof(out)), -EPROTO);
	ck_assert_int_eq(docker_negotiate_version("1.43", out, 4), -EINVAL);
	ck_assert_int_eq(docker_negotiate_version("1.43", out, 5), 0);
	ck_assert_str_eq(out, "1.43");
}
END_TEST

/* --- DOCKER_HOST -------------------------------------------------------------- */

static void expect_endpoint_tls(const char *host, const struct docker_tls *tls,
				const char *want)
{
	struct docker *d = NULL;
	char err[CXD_ERR_MAX] = "";
	int rc = docker_open(&d, host, tls, 10, err, sizeof(err));

	ck_assert_msg(rc == 0, "%s: %d %s", host ? host : "(null)", rc, err);
	ck_assert_str_eq(docker_endpoint(d), want);
	ck_assert_str_eq(docker_api_version(d), "");   /* open does not connect */
	docker_close(d);
}

static void expect_endpoint(const char *host, const char *want)
{
	expect_endpoint_tls(host, NULL, want);
}

START_TEST(test_host_unix)
{
	expect_endpoint(NULL, "unix:///var/run/docker.sock");
	expect_endpoint("", "unix:///var/run/docker.sock");
	expect_endpoint("unix:///var/run/docker.sock", "unix:///var/run/docker.sock");
	expect_endpoint("unix:///run/user/1000/docker.sock", "unix:///run/user/1000/docker.sock");
}
END_TEST

START_TEST(test_host_tcp)
{
	const struct docker_tls off = { .verify = false, .cert_path = "/nonexistent" };
	const struct docker_tls on = { .verify = true, .cert_path = "/nonexistent" };

	expect_endpoint("tcp://127.0.0.1:2375", "http://127.0.0.1:2375");
	expect_endpoint("tcp://docker.example.com:12345/", "http://docker.example.com:12345");
	expect_endpoint("tcp://[::1]:2375", "http://[::1]:2375");
	expect_endpoint("tcp://engine", "http://engine:2375");
	expect_endpoint_tls("tcp://engine:2375", &off, "http://engine:2375");
	expect_endpoint_tls("tcp://engine:2376", &on, "https://engine:2376");
	expect_endpoint_tls("tcp://engine", &on, "https://engine:2376");
	expect_endpoint_tls("unix:///run/docker.sock", &on, "unix:///run/docker.sock");
}
END_TEST

START_TEST(test_host_garbage)
{
	static const char *const bad[] = {
		"http://localhost:2375", "docker.sock", "/var/run/docker.sock", "unix://",
		"unix://relative/docker.sock", "tcp://", "tcp://:2375", "tcp://host:",
		"tcp://host:0", "tcp://host:65536", "tcp://host:99999999999999999999",
		"tcp://host:port", "tcp://ho st:1", "tcp://host:1/path", "tcp://[::1", "tcp://[]:1",
		"npipe:////./pipe/docker_engine", "ssh://user@host", "fd://", "TCP://host:1",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct docker *d = NULL;
		char err[CXD_ERR_MAX] = "";

		ck_assert_msg(docker_open(&d, bad[i], NULL, 10, err, sizeof(err)) == -EINVAL,
			      "\"%s\" accepted", bad[i]);
		ck_assert_ptr_null(d);
		ck_assert_msg(strstr(err, "DOCKER_HOST \"") && strstr(err, bad[i]),
			      "%s: unclear: %s", bad[i], err);
		ck_assert_msg(strstr(err, "unix:///") || strstr(err, "tcp://host:port"),
			      "%s: says not what is expected: %s", bad[i], err);
	}
}
END_TEST

START_TEST(test_open_bad_timeout)
{
	struct docker *d = NULL;
	char err[CXD_ERR_MAX] = "";

	ck_assert_int_eq(docker_open(&d, NULL, NULL, 0, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_null(d);
	ck_assert_str_ne(err, "");
	docker_close(NULL);   /* destructors accept NULL */
	docker_stream_close(NULL);
	docker_free_ids(NULL, 0);
}
END_TEST

/* TLS: the certificates come from cert_path, else ~/.docker. A port that
 * accepts and says nothing gets as far as loading them; the message names
 * the file that is missing. */
static void expect_tls_files(const char *dir_env, const char *home_env, const char *want)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t salen = sizeof(sa);
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct docker_tls tls = { .verify = true };
	struct docker *d = NULL;
	char host[64], err[CXD_ERR_MAX] = "";
	int rc;

	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(lfd, 4), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sa, &salen), 0);
	snprintf(host, sizeof(host), "tcp://127.0.0.1:%d", ntohs(sa.sin_port));
	tls.cert_path = dir_env;
	setenv("HOME", home_env, 1);
	ck_assert_int_eq(docker_open(&d, host, &tls, 2, err, sizeof(err)), 0);
	rc = docker_ping(d, err, sizeof(err));
	ck_assert_msg(rc == -EHOSTUNREACH, "ping: %d %s", rc, err);
	ck_assert_msg(strstr(err, want) && strstr(err, "https://127.0.0.1:") &&
		      strstr(err, "ca.pem") && strstr(err, "docker.cert_path"), "err: %s", err);
	docker_close(d);
	close(lfd);
}

START_TEST(test_tls_cert_path)
{
	expect_tls_files("/nonexistent/certs", "/nonexistent/home", "/nonexistent/certs/");
	expect_tls_files(NULL, "/nonexistent/home", "/nonexistent/home/.docker/");
	expect_tls_files("", "/nonexistent/home", "/nonexistent/home/.docker/");
}
END_TEST

/* --- an engine that is not there ------------------------------------------------ */

START_TEST(test_unreachable_socket)
{
	struct docker *d = NULL;
	struct docker_stream *s = NULL;
	char err[CXD_ERR_MAX] = "";
	double t0;

	ck_assert_int_eq(docker_open(&d, "unix:///nonexistent/codeexecd-test/docker.sock", NULL, 30, err,
				     sizeof(err)), 0);
	t0 = now_ms();
	ck_assert_int_eq(docker_ping(d, err, sizeof(err)), -EHOSTUNREACH);
	ck_assert_double_lt(now_ms() - t0, 1000);
	ck_assert_msg(strstr(err, "Docker engine at unix:///nonexistent/codeexecd-test/docker.sock "
			     "does not answer: "), "err: %s", err);
	ck_assert_str_eq(docker_api_version(d), "");
	/* every call pings first and fails the same way */
	err[0] = '\0';
	ck_assert_int_eq(docker_image_exists(d, "python:3", err, sizeof(err)), -EHOSTUNREACH);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/codeexecd-test/docker.sock"));
	ck_assert_int_eq(docker_attach(d, "abc", &s, err, sizeof(err)), -EHOSTUNREACH);
	ck_assert_ptr_null(s);
	ck_assert_double_lt(now_ms() - t0, 1000);
	docker_close(d);
}
END_TEST

START_TEST(test_refused_tcp)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t salen = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct docker *d = NULL;
	char host[64], err[CXD_ERR_MAX] = "";
	double t0;

	/* a port that was free a moment ago */
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &salen), 0);
	close(fd);
	snprintf(host, sizeof(host), "tcp://127.0.0.1:%d", ntohs(sa.sin_port));
	ck_assert_int_eq(docker_open(&d, host, NULL, 30, err, sizeof(err)), 0);
	t0 = now_ms();
	ck_assert_int_eq(docker_ping(d, err, sizeof(err)), -EHOSTUNREACH);
	ck_assert_double_lt(now_ms() - t0, 1000);
	ck_assert_msg(strstr(err, "Docker engine at http://127.0.0.1:"), "err: %s", err);
	docker_close(d);
}
END_TEST

/* Accepts, never answers: the call timeout ends it. */
START_TEST(test_silent_engine)
{
	struct fake f = {.silent = true};
	struct docker *d = NULL;
	char err[CXD_ERR_MAX] = "";
	double t0, took;

	fake_start(&f);
	ck_assert_int_eq(docker_open(&d, f.host, NULL, 1, err, sizeof(err)), 0);
	t0 = now_ms();
	ck_assert_int_eq(docker_ping(d, err, sizeof(err)), -EHOSTUNREACH);
	took = now_ms() - t0;
	ck_assert_msg(took > 900 && took < 2500, "took %.0f ms", took);
	ck_assert_msg(strstr(err, f.sock) && strstr(err, "does not answer"), "err: %s", err);
	docker_close(d);
	fake_stop(&f);
}
END_TEST

/* --- answers of a (fake) engine ----------------------------------------------- */

START_TEST(test_negotiated_path)
{
	struct fake f = {.api_version = "1.45", .status = 200, .body = "{}"};
	struct docker *d;
	char err[CXD_ERR_MAX] = "";

	fake_start(&f);
	d = fake_client(&f);
	ck_assert_int_eq(docker_image_exists(d, "img", err, sizeof(err)), 0);
	ck_assert_int_eq(f.pings, 1);   /* the first call pinged */
	ck_assert_str_eq(docker_api_version(d), "1.43");
	ck_assert_str_eq(f.last, "GET /v1.43/images/img/json HTTP/1.1");
	ck_assert_int_eq(docker_image_exists(d, "img", err, sizeof(err)), 0);
	ck_assert_int_eq(f.pings, 1);   /* once only */
	docker_close(d);
	fake_stop(&f);
}
END_TEST

START_TEST(test_old_engine)
{
	struct fake f = {.api_version = "1.40", .status = 200, .body = "{}"};
	struct docker *d;
	char err[CXD_ERR_MAX] = "";

	fake_start(&f);
	d = fake_client(&f);
	ck_assert_int_eq(docker_ping(d, err, sizeof(err)), -EPROTO);
	ck_assert_msg(strstr(err, "\"1.40\"") && strstr(err, "1.41"), "err: %s", err);
	ck_assert_int_eq(docker_container_start(d, "abc", err, sizeof(err)), -EPROTO);
	ck_assert_str_eq(f.last, "");   /* never got past the ping */
	ck_assert_str_eq(docker_api_version(d), "");
	docker_close(d);
	fake_stop(&f);
}
END_TEST

START_TEST(test_no_api_version_header)
{
	struct fake f = {.api_version = "", .status = 200};
	struct docker *d;
	char err[CXD_ERR_MAX] = "";

	fake_start(&f);
	d = fake_client(&f);
	ck_assert_int_eq(docker_ping(d, err, sizeof(err)), -EPROTO);
	docker_close(d);
	fake_stop(&f);
}
END_TEST

/* Each call against an answer: the code and a piece of err. */
START_TEST(test_error_mapping)
{
	static const struct {
		long status;
		const char *body;
		int start, kill, remove;
		const char *text;
	} cases[] = {
		{204, "", 0, 0, 0, NULL},
		{304, "", 0, 0, -EPROTO, NULL},
		{404, "{\"message\":\"No such container: abc\"}", -ENOENT, -ENOENT, 0,
		 "No such container: abc"},
		{409, "{\"message\":\"Cannot kill container: abc: Container abc is not running\"}",
		 -EIO, 0, -EIO, "is not running"},
		{409, "{\"message\":\"removal of container abc is already in progress\"}", -EIO, -EIO,
		 0, "already in progress"},
		{500, "{\"message\":\"boom\"}", -EIO, -EIO, -EIO, ": boom"},
		{500, "plain text\n", -EIO, -EIO, -EIO, ": plain text"},
		{500, "", -EIO, -EIO, -EIO, "HTTP status 500"},
		{502, "{\"other\":1}", -EIO, -EIO, -EIO, "{\"other\":1}"},
	};
	struct fake f = {0};
	struct docker *d;

	fake_start(&f);
	d = fake_client(&f);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[CXD_ERR_MAX] = "";
		int rc;

		f.status = cases[i].status;
		f.body = cases[i].body;
		rc = docker_container_start(d, "abc", err, sizeof(err));
		ck_assert_msg(rc == cases[i].start, "%zu start %d %s", i, rc, err);
		if (rc != 0 && cases[i].text)
			ck_assert_msg(strstr(err, cases[i].text) && strstr(err, "start container: "),
				      "%zu: %s", i, err);
		rc = docker_container_kill(d, "abc", err, sizeof(err));
		ck_assert_msg(rc == cases[i].kill, "%zu kill %d %s", i, rc, err);
		rc = docker_container_remove(d, "abc", err, sizeof(err));
		ck_assert_msg(rc == cases[i].remove, "%zu remove %d %s", i, rc, err);
	}
	docker_close(d);
	fake_stop(&f);
}
END_TEST

START_TEST(test_error_text_capped)
{
	char msg[3000];
	char body[3100];
	char err[4096] = "";
	struct fake f = {.status = 500, .body = body};
	struct docker *d;

	memset(msg, 'm', sizeof(msg) - 1);
	msg[sizeof(msg) - 1] = '\0';
	snprintf(body, sizeof(body), "{\"message\":\"%s\"}", msg);
	fake_start(&f);
	d = fake_client(&f);
	ck_assert_int_eq(docker_container_start(d, "abc", err, sizeof(err)), -EIO);
	ck_assert_uint_le(strlen(err), strlen("start container: ") + CXD_DOCKER_ERROR_TEXT_MAX);
	ck_assert_uint_ge(strlen(err), CXD_DOCKER_ERROR_TEXT_MAX);
	/* a small err buffer is filled, not overrun */
	memset(err, '#', sizeof(err));
	ck_assert_int_eq(docker_container_start(d, "abc", err, 16), -EIO);
	ck_assert_uint_eq(strlen(err), 15);
	ck_assert_int_eq(err[16], '#');
	ck_assert_int_eq(docker_container_start(d, "abc", NULL, 0), -EIO);
	docker_close(d);
	fake_stop(&f);
}
END_TEST

START_TEST(test_response_cap)
{
	struct fake f = {.status = 200, .big_body = CXD_DOCKER_RESPONSE_MAX + 1};
	struct docker *d;
	struct docker_state st;
	char err[CXD_ERR_MAX] = "";

	fake_start(&f);
	d = fake_client(&f);
	ck_assert_int_eq(docker_container_inspect(d, "abc", &st, err, sizeof(err)), -EPROTO);
	ck_assert_msg(strstr(err, "exceeds"), "err: %s", err);
	f.big_body = CXD_DOCKER_RESPONSE_MAX;   /* at the cap: read, then not JSON */
	ck_assert_int_eq(docker_container_inspect(d, "abc", &st, err, sizeof(err)), -EPROTO);
	ck_assert_msg(strstr(err, "no State"), "err: %s", err);
	docker_close(d);
	fake_stop(&f);
}
END_TEST

START_TEST(test_escaping)
{
	struct fake f = {.status = 201, .body = "{\"Id\":\"0123abcd\",\"Warnings\":[]}"};
	struct docker *d;
	char id[CXD_CONTAINER_ID_MAX + 1];
	char err[CXD_ERR_MAX] = "";
	char **ids = NULL;
	size_t n = 0;

	fake_start(&f);
	d = fake_client(&f);
	ck_assert_int_eq(docker_container_create(d, "a b/c?d&e", "{}", id, err, sizeof(err)), 0);
	ck_assert_str_eq(id, "0123abcd");
	ck_assert_str_eq(f.last, "POST /v1.41/containers/create?name=a%20b%2Fc%3Fd%26e HTTP/1.1");
	ck_assert_int_eq(docker_container_create(d, NULL, "{}", id, err, sizeof(err)), 0);
	ck_assert_str_eq(f.last, "POST /v1.41/containers/create HTTP/1.1");

	f.status = 204;
	ck_assert_int_eq(docker_container_start(d, "../x", err, sizeof(err)), 0);
	ck_assert_str_eq(f.last, "POST /v1.41/containers/..%2Fx/start HTTP/1.1");
	ck_assert_int_eq(docker_container_remove(d, "x y", err, sizeof(err)), 0);
	ck_assert_str_eq(f.last, "DELETE /v1.41/containers/x%20y?force=1&v=1 HTTP/1.1");

	f.status = 200;
	f.body = "{}";
	ck_assert_int_eq(docker_image_exists(d, "reg:5000/x/y:t", err, sizeof(err)), 0);
	ck_assert_str_eq(f.last, "GET /v1.41/images/reg%3A5000%2Fx%2Fy%3At/json HTTP/1.1");

	f.body = "[{\"Id\":\"aa\"},{\"Id\":\"bb\"}]";
	ck_assert_int_eq(docker_containers_by_label(d, "k=v \"w\"", &ids, &n, err, sizeof(err)), 0);
	ck_assert_str_eq(f.last, "GET /v1.41/containers/json?all=1&filters=%7B%22label%22%3A%5B%22"
			 "k%3Dv%20%5C%22w%5C%22%22%5D%7D HTTP/1.1");
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(ids[0], "aa");
	ck_assert_str_eq(ids[1], "bb");
	docker_free_ids(ids, n);
	docker_close(d);
	fake_stop(&f);
}
END_TEST

START_TEST(test_pull_requests)
{
	static const struct { const char *image, *line; } cases[] = {
		{"busybox", "fromImage=busybox&tag=latest"},
		{"python:3.12-slim", "fromImage=python&tag=3.12-slim"},
		{"reg:5000/x/y", "fromImage=reg%3A5000%2Fx%2Fy&tag=latest"},
		{"reg:5000/x/y:t", "fromImage=reg%3A5000%2Fx%2Fy&tag=t"},
		{"x@sha256:abc", "fromImage=x&tag=sha256%3Aabc"},
	};
	struct fake f = {.status = 200, .body = "{\"status\":\"Pulling\"}\n{\"status\":\"Done\"}\n"};
	struct docker *d;
	char err[CXD_ERR_MAX] = "";

	fake_start(&f);
	d = fake_client(&f);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char want[256];

		ck_assert_int_eq(docker_image_pull(d, cases[i].image, err, sizeof(err)), 0);
		snprintf(want, sizeof(want), "POST /v1.41/images/create?%s HTTP/1.1", cases[i].line);
		ck_assert_str_eq(f.last, want);
	}
	docker_close(d);
	fake_stop(&f);
}
END_TEST

START_TEST(test_pull_errors)
{
	struct fake f = {.status = 200,
			 .body = "{\"status\":\"Pulling\"}\n{\"error\":\"first\"}\r\n"
				 "{\"errorDetail\":{},\"error\":\"manifest unknown\"}"};
	struct docker *d;
	char err[CXD_ERR_MAX] = "";

	fake_start(&f);
	d = fake_client(&f);
	ck_assert_int_eq(docker_image_pull(d, "x:1", err, sizeof(err)), -EIO);
	ck_assert_str_eq(err, "pull x:1: manifest unknown");
	f.status = 404;
	f.body = "{\"message\":\"pull access denied for x\"}";
	ck_assert_int_eq(docker_image_pull(d, "x:1", err, sizeof(err)), -ENOENT);
	ck_assert_str_eq(err, "pull x:1: pull access denied for x");
	f.status = 200;
	f.body = NULL;
	f.big_body = CXD_DOCKER_RESPONSE_MAX + 1;   /* one endless line */
	ck_assert_int_eq(docker_image_pull(d, "x:1", err, sizeof(err)), -EPROTO);
	docker_close(d);
	fake_stop(&f);
}
END_TEST

START_TEST(test_answers_parsed)
{
	struct fake f = {.status = 200,
			 .body = "{\"State\":{\"Running\":false,\"OOMKilled\":true,\"ExitCode\":137}}"};
	struct docker *d;
	struct docker_state st = {0};
	char id[CXD_CONTAINER_ID_MAX + 1] = "";
	char err[CXD_ERR_MAX] = "";
	int code = -1;

	fake_start(&f);
	d = fake_client(&f);
	ck_assert_int_eq(docker_container_inspect(d, "abc", &st, err, sizeof(err)), 0);
	ck_assert(!st.running);
	ck_assert(st.oom_killed);
	ck_assert_int_eq(st.exit_code, 137);
	f.body = "{\"StatusCode\":3,\"Error\":null}";
	ck_assert_int_eq(docker_container_wait(d, "abc", 1000, &code, err, sizeof(err)), 0);
	ck_assert_int_eq(code, 3);
	f.body = "{\"StatusCode\":-1,\"Error\":{\"Message\":\"waiting failed\"}}";
	ck_assert_int_eq(docker_container_wait(d, "abc", 1000, &code, err, sizeof(err)), -EIO);
	ck_assert_msg(strstr(err, "waiting failed"), "err: %s", err);
	ck_assert_int_eq(docker_container_wait(d, "abc", 0, &code, err, sizeof(err)), -EINVAL);
	/* ids that are not hex, or too long */
	f.status = 201;
	f.body = "{\"Id\":\"XYZ!\"}";
	ck_assert_int_eq(docker_container_create(d, NULL, "{}", id, err, sizeof(err)), -EPROTO);
	f.body = "{\"Id\":\"00000000000000000000000000000000000000000000000000000000000000001\"}";
	ck_assert_int_eq(docker_container_create(d, NULL, "{}", id, err, sizeof(err)), -EPROTO);
	ck_assert_str_eq(id, "");   /* outputs only on success */
	f.status = 200;
	f.body = "[{\"Id\":1}]";
	{
		char **ids = NULL;
		size_t n = 7;

		ck_assert_int_eq(docker_containers_by_label(d, "a=b", &ids, &n, err, sizeof(err)),
				 -EPROTO);
		ck_assert_ptr_null(ids);
		ck_assert_uint_eq(n, 7);
	}
	docker_close(d);
	fake_stop(&f);
}
END_TEST

/* A frame of stdout "hi" right after the head, then the end. */
static const char attach_ok[] = "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker."
				"raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
				"\x01\x00\x00\x00\x00\x00\x00\x02hi";

START_TEST(test_attach_fake)
{
	struct fake f = {.raw = attach_ok, .raw_len = sizeof(attach_ok) - 1};
	struct docker *d;
	struct docker_stream *s = NULL;
	char err[CXD_ERR_MAX] = "";
	char buf[64];
	size_t have = 0;
	double deadline = now_ms() + 5000;

	fake_start(&f);
	d = fake_client(&f);
	ck_assert_msg(docker_attach(d, "abc", &s, err, sizeof(err)) == 0, "attach: %s", err);
	ck_assert_str_eq(f.last, "POST /v1.41/containers/abc/attach?stream=1&stdin=1&stdout=1"
			 "&stderr=1 HTTP/1.1");
	for (;;) {
		ssize_t n = docker_stream_read(s, buf + have, sizeof(buf) - have);

		if (n == -EAGAIN) {
			struct pollfd p = {.fd = docker_stream_fd(s), .events = POLLIN};

			ck_assert(now_ms() < deadline);
			(void)poll(&p, 1, 100);
			continue;
		}
		ck_assert_int_ge(n, 0);
		if (n == 0)
			break;
		have += (size_t)n;
	}
	ck_assert_uint_eq(have, 10);
	ck_assert_int_eq(memcmp(buf, "\x01\x00\x00\x00\x00\x00\x00\x02hi", 10), 0);
	docker_stream_close(s);

	f.raw = "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
		"Content-Length: 40\r\n\r\n{\"message\":\"No such container: abc\"}\n   ";
	f.raw_len = strlen(f.raw);
	s = NULL;
	ck_assert_int_eq(docker_attach(d, "abc", &s, err, sizeof(err)), -ENOENT);
	ck_assert_str_eq(err, "attach: No such container: abc");
	ck_assert_ptr_null(s);
	f.raw = "HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n";
	f.raw_len = strlen(f.raw);
	ck_assert_int_eq(docker_attach(d, "abc", &s, err, sizeof(err)), -EPROTO);
	ck_assert_msg(strstr(err, ": HTTP/1.1 302 Found") && !strchr(err, '\r'), "err: %s", err);
	f.raw = "garbage";   /* and then the connection closes */
	f.raw_len = strlen(f.raw);
	ck_assert_int_eq(docker_attach(d, "abc", &s, err, sizeof(err)), -EPROTO);
	docker_close(d);
	fake_stop(&f);
}
END_TEST

static Suite *docker_suite(void)
{
	Suite *s = suite_create("docker");
	TCase *pure = tcase_create("pure");
	TCase *net = tcase_create("transport");
	TCase *fake = tcase_create("fake engine");

	tcase_add_test(pure, test_negotiate_version);
	tcase_add_test(pure, test_host_unix);
	tcase_add_test(pure, test_host_tcp);
	tcase_add_test(pure, test_host_garbage);
	tcase_add_test(pure, test_open_bad_timeout);
	suite_add_tcase(s, pure);

	tcase_set_timeout(net, 20);
	tcase_add_test(net, test_tls_cert_path);
	tcase_add_test(net, test_unreachable_socket);
	tcase_add_test(net, test_refused_tcp);
	tcase_add_test(net, test_silent_engine);
	suite_add_tcase(s, net);

	tcase_set_timeout(fake, 20);
	tcase_add_test(fake, test_negotiated_path);
	tcase_add_test(fake, test_old_engine);
	tcase_add_test(fake, test_no_api_version_header);
	tcase_add_test(fake, test_error_mapping);
	tcase_add_test(fake, test_error_text_capped);
	tcase_add_test(fake, test_response_cap);
	tcase_add_test(fake, test_escaping);
	tcase_add_test(fake, test_pull_requests);
	tcase_add_test(fake, test_pull_errors);
	tcase_add_test(fake, test_answers_parsed);
	tcase_add_test(fake, test_attach_fake);
	suite_add_tcase(s, fake);
	return s;
}

int main(void)
{
	int rc;

	if (docker_global_init() != 0)
		return EXIT_FAILURE;
	rc = check_run(docker_suite(), CK_NORMAL);
	docker_global_cleanup();
	return rc;
}
