/* bench/abuse: denial-of-service attempts against a daemon this program
 * starts (loopback only, every loop bounded), one after another:
 *
 *   slowloris        connections sending their headers one byte a second
 *   idle             1,000 connections opened and left silent, from one host
 *                    and from four (4 x 64 per host fills all 256)
 *   queue flood      200 concurrent requests against a queue of 32
 *   oversized        bodies announced (and sent) far over server.max_body_bytes
 *   non-reader       clients that send a request and never read the answer
 *
 * The attackers connect from 127.0.0.2 and up (other "hosts"); meanwhile,
 * from 127.0.0.1, a prober GETs /health every 200 ms and a client runs
 * print(1+1) back to back (retrying after a 429 as Retry-After says). For
 * each attack it prints what was tried, what the daemon did, and whether
 * /health kept answering and ordinary executions kept completing.
 *
 *   make abuse         (env ABUSE_SECONDS: length of each timed attack, 15)
 * The engine is the one of $DOCKER_HOST (the attacks do not touch it). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include "harness.h"

#define MAX_CONNS 1200

static const char *const YAML =
	"execution:\n  max_concurrent: 4\n  queue_size: 32\n  pool_size: 2\n"
	"server:\n  max_body_bytes: 1m\n";

static int port;
static double attack_seconds;
static atomic_bool done;

/* --- the two honest clients ----------------------------------------------------- */

struct tally {
	pthread_mutex_t lock;
	long ok, failed;
	double worst_s;
};

static struct tally health = { .lock = PTHREAD_MUTEX_INITIALIZER };
static struct tally runs = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void tally_add(struct tally *t, bool ok, double s)
{
	pthread_mutex_lock(&t->lock);
	if (ok)
		t->ok++;
	else
		t->failed++;
	if (s > t->worst_s)
		t->worst_s = s;
	pthread_mutex_unlock(&t->lock);
}

static struct tally tally_take(struct tally *t)
{
	struct tally copy;

	pthread_mutex_lock(&t->lock);
	copy = *t;
	t->ok = t->failed = 0;
	t->worst_s = 0;
	pthread_mutex_unlock(&t->lock);
	return copy;
}

static void *prober(void *arg)
{
	(void)arg;
	while (!atomic_load(&done)) {
		struct harness_request q = { .method = "GET", .path = "/health", .timeout_s = 5 };
		struct harness_response r;
		double t = harness_now();
		bool ok = harness_http_ex(port, &q, &r) == 0 && r.status == 200;

		tally_add(&health, ok, harness_now() - t);
		harness_response_free(&r);
		harness_sleep_ms(200);
	}
	return NULL;
}

static void *runner(void *arg)
{
	static const char body[] = "{\"code\": \"print(1+1)\"}";

	(void)arg;
	while (!atomic_load(&done)) {
		struct harness_request q = { .method = "POST", .path = "/execute", .body = body,
					     .body_len = strlen(body), .timeout_s = 60 };
		struct harness_response r;
		double t = harness_now();
		bool ok = false;

		/* One execution: retried after a 429 for up to 60 s. */
		while (!atomic_load(&done) && harness_now() - t < 60) {
			int rc = harness_http_ex(port, &q, &r);
			long status = r.status;
			ok = rc == 0 && status == 200 && strstr(r.body, "\"output\":\"2\\n\"");
			harness_response_free(&r);
			if (status != 429)
				break;
			harness_sleep_ms(1000);
		}
		tally_add(&runs, ok, harness_now() - t);
	}
	return NULL;
}

/* --- attackers' sockets ---------------------------------------------------------- */

/* A connection from 127.0.0.<host> to the daemon, or -1. */
static int connect_from(int host)
{
	struct sockaddr_in src = { .sin_family = AF_INET }, dst = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	src.sin_addr.s_addr = htonl(0x7f000000u | (unsigned)host);
	dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	dst.sin_port = htons((uint16_t)port);
	if (bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0 ||
	    connect(fd, (struct sockaddr *)&dst, sizeof(dst)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* True when the server has closed fd (EOF or reset); does not block. */
static bool closed_by_server(int fd)
{
	char buf[4096];
	ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

static void close_all(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* --- the attacks ---------------------------------------------------------------- */

static void slowloris(char *what, size_t len)
{
	static const char head[] = "POST /execute HTTP/1.1\r\nHost: x\r\nX-Slow: ";
	int fds[64], n = 0, refused = 0, closed = 0;
	double start = harness_now();

	for (int i = 0; i < 64; i++)
		if ((fds[n] = connect_from(2)) >= 0)
			n++;
		else
			refused++;
	for (size_t b = 0; harness_now() - start < attack_seconds; b++) {
		for (int i = 0; i < n; i++) {
			char c = b < sizeof(head) - 1 ? head[b] : 'a';
			if (fds[i] >= 0 && send(fds[i], &c, 1, MSG_NOSIGNAL) != 1) {
				close(fds[i]);
				fds[i] = -1;
				closed++;
			}
		}
		harness_sleep_ms(1000);
	}
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0 && closed_by_server(fds[i]))
			closed++;
	close_all(fds, n);
	(void)snprintf(what, len, "64 connections, 1 header byte/s for %.0f s: %d connected, "
		       "%d refused, %d closed by the server", attack_seconds, n, refused, closed);
}

/* 1000 silent connections from nhosts attacking hosts. */
static void idle_from(int nhosts, char *what, size_t len)
{
	static int fds[MAX_CONNS];
	int n = 0, refused = 0, closed = 0;

	for (int i = 0; i < 1000; i++) {
		fds[n] = connect_from(40 + i % nhosts);
		if (fds[n] >= 0)
			n++;
		else
			refused++;
	}
	harness_sleep_ms((long)(attack_seconds * 1000));
	for (int i = 0; i < n; i++)
		if (closed_by_server(fds[i]))
			closed++;
	close_all(fds, n);
	(void)snprintf(what, len, "1000 silent connections from %d host%s for %.0f s: %d connected "
		       "(%d of them closed by the server by then), %d refused", nhosts,
		       nhosts > 1 ? "s" : "", attack_seconds, n, closed, refused);
}

static void idle_one_host(char *what, size_t len)
{
	idle_from(1, what, len);
}

static void idle_four_hosts(char *what, size_t len)
{
	idle_from(4, what, len);
}

struct flood_arg {
	int host;
	long status;
};

static void *flood_one(void *p)
{
	static const char body[] = "{\"code\": \"import time\\ntime.sleep(2)\"}";
	struct flood_arg *a = p;
	struct harness_raw_result r = { 0 };
	char req[512];
	int n = snprintf(req, sizeof(req), "POST /execute HTTP/1.1\r\nHost: x\r\nContent-Type: "
			 "application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
			 strlen(body), body);
	int fd = connect_from(a->host);

	a->status = -1;
	if (fd < 0)
		return NULL;
	if (harness_send_all(fd, req, (size_t)n) == 0) {
		harness_read_until_close(fd, 120, &r);
		a->status = harness_raw_status(&r);
		harness_raw_free(&r);
	}
	close(fd);
	return NULL;
}

static void queue_flood(char *what, size_t len)
{
	static struct flood_arg args[200];
	pthread_t t[200];
	int ok = 0, busy = 0, other = 0, none = 0;

	for (int i = 0; i < 200; i++) {
		args[i].host = 10 + i % 5;          /* 40 per host: under the per-host cap */
		if (pthread_create(&t[i], NULL, flood_one, &args[i]) != 0)
			args[i].status = -2;
	}
	for (int i = 0; i < 200; i++) {
		if (args[i].status != -2)
			pthread_join(t[i], NULL);
		if (args[i].status == 200)
			ok++;
		else if (args[i].status == 429)
			busy++;
		else if (args[i].status < 0)
			none++;
		else
			other++;
	}
	(void)snprintf(what, len, "200 concurrent 2-second runs, 4 running + queue 32: %d answered "
		       "200, %d answered 429, %d other, %d unanswered", ok, busy, other, none);
}

static void oversized(char *what, size_t len)
{
	static char chunk[65536];
	int answered413 = 0, cut = 0, other = 0;
	long sent_max = 0;

	memset(chunk, 'x', sizeof(chunk));
	for (int i = 0; i < 4; i++) {
		char head[256];
		struct harness_raw_result r = { 0 };
		int fd = connect_from(20);
		long sent = 0;
		int n = snprintf(head, sizeof(head), "POST /execute HTTP/1.1\r\nHost: x\r\n"
				 "Content-Type: application/json\r\n%s\r\n",
				 i % 2 ? "Transfer-Encoding: chunked\r\n"
				       : "Content-Length: 1073741824\r\n");

		if (fd < 0) {
			other++;
			continue;
		}
		(void)send(fd, head, (size_t)n, MSG_NOSIGNAL);
		/* Up to 256 MiB, while the server reads. */
		for (int k = 0; k < 4096; k++) {
			if (i % 2) {
				char sz[16];
				int m = snprintf(sz, sizeof(sz), "%zx\r\n", sizeof(chunk));
				if (send(fd, sz, (size_t)m, MSG_NOSIGNAL) != m)
					break;
			}
			if (send(fd, chunk, sizeof(chunk), MSG_NOSIGNAL) != (ssize_t)sizeof(chunk))
				break;
			if (i % 2 && send(fd, "\r\n", 2, MSG_NOSIGNAL) != 2)
				break;
			sent += (long)sizeof(chunk);
		}
		harness_read_until_close(fd, 10, &r);
		if (harness_raw_status(&r) == 413)
			answered413++;
		else if (r.closed && r.len == 0)
			cut++;      /* an endless body: closed unanswered, as documented */
		else
			other++;
		harness_raw_free(&r);
		close(fd);
		if (sent > sent_max)
			sent_max = sent;
	}
	(void)snprintf(what, len, "4 bodies, 1 GiB announced or endless chunked (limit 1 MiB): "
		       "%d answered 413, %d closed unanswered, %d other; the server stopped reading "
		       "after at most %ld MiB", answered413, cut, other, sent_max >> 20);
}

static void non_reader(char *what, size_t len)
{
	static const char body[] = "{\"code\": \"print('x' * (1 << 20))\"}";
	char req[512];
	int fds[20], n = 0, closed = 0, size = 1024;
	int m = snprintf(req, sizeof(req), "POST /execute HTTP/1.1\r\nHost: x\r\nContent-Type: "
			 "application/json\r\nContent-Length: %zu\r\n\r\n%s", strlen(body), body);

	for (int i = 0; i < 20; i++) {
		int fd = connect_from(30);
		if (fd < 0)
			continue;
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
		if (send(fd, req, (size_t)m, MSG_NOSIGNAL) == m)
			fds[n++] = fd;
		else
			close(fd);
	}
	harness_sleep_ms((long)(attack_seconds * 1000));
	for (int i = 0; i < n; i++)
		if (closed_by_server(fds[i]))
			closed++;
	close_all(fds, n);
	(void)snprintf(what, len, "20 requests for 1 MiB answers, never read, for %.0f s: %d sent, "
		       "%d closed by the server by then", attack_seconds, n, closed);
}

int main(void)
{
	static const struct { const char *name; void (*fn)(char *, size_t); } attacks[] = {
		{ "slowloris", slowloris }, { "idle, 1 host", idle_one_host },
		{ "idle, 4 hosts", idle_four_hosts }, { "queue flood", queue_flood },
		{ "oversized", oversized }, { "non-reader", non_reader },
	};
	struct harness_opts o = { .yaml = YAML };
	struct harness_daemon *d;
	struct rlimit rl = { 4096, 4096 };
	pthread_t tp, tr;
	const char *env = getenv("ABUSE_SECONDS");
	int held = 0, rc;

	attack_seconds = env ? atof(env) : 15;
	(void)setrlimit(RLIMIT_NOFILE, &rl);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	d = harness_daemon_start_opts(&o);
	if (!d)
		return 1;
	port = harness_daemon_port(d);
	printf("abuse: daemon on 127.0.0.1:%d (4 running, queue 32, bodies up to 1 MiB, "
	       "256 connections, 64 per host)\n", port);
	pthread_create(&tp, NULL, prober, NULL);
	pthread_create(&tr, NULL, runner, NULL);
	harness_sleep_ms(3000);
	(void)tally_take(&health);
	(void)tally_take(&runs);
	printf("| attack | what was tried and what the daemon did | /health ok/failed, worst s "
	       "| print(1+1) ok/failed, worst s | held |\n|---|---|---|---|---|\n");
	for (size_t i = 0; i < sizeof(attacks) / sizeof(attacks[0]); i++) {
		char what[512];
		struct tally h, r;
		bool ok;

		double start = harness_now();

		attacks[i].fn(what, sizeof(what));
		/* Every phase lasts at least as long as a timed attack, so that
		 * ordinary runs have the time to complete in it. */
		while (harness_now() - start < attack_seconds)
			harness_sleep_ms(200);
		h = tally_take(&health);
		r = tally_take(&runs);
		ok = h.failed == 0 && h.ok > 0 && r.ok > 0 && r.failed == 0;
		held += ok;
		printf("| %s | %s | %ld/%ld, %.2f | %ld/%ld, %.1f | %s |\n", attacks[i].name, what, h.ok,
		       h.failed, h.worst_s, r.ok, r.failed, r.worst_s, ok ? "yes" : "NO");
		fflush(stdout);
	}
	atomic_store(&done, true);
	pthread_join(tp, NULL);
	pthread_join(tr, NULL);
	rc = harness_daemon_stop(d);
	printf("abuse: %d of %zu attacks held; the daemon exited with %d\n", held,
	       sizeof(attacks) / sizeof(attacks[0]), rc);
	return held == (int)(sizeof(attacks) / sizeof(attacks[0])) && rc == 0 ? 0 : 1;
}
