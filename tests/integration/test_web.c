/* Integration tests of the web-facing hardening, against the real daemon
 * ($CODEEXECD_BIN) and the real engine: JSON content types, Host names,
 * CORS defaults, admission and the bodies' budget before the body is read,
 * whole-request deadlines, bodies sent to GET routes, half-closed clients,
 * texts that do not name the engine, and the daemon's memory for big
 * bodies and big answers (peak RSS against the body's size: ratios, not
 * timings). */
#include <check.h>

#include "../check_run.h"
#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define TCASE_TIMEOUT_S 600
#define MIB (1024L * 1024L)

static const char yaml_web[] =
	"server:\n"
	"  request_timeout_seconds: 3\n"
	"  max_body_bytes: 1m\n"
	"  max_inflight_body_bytes: 1536k\n"
	"execution:\n"
	"  pool_size: 0\n";

static const char yaml_one_place[] =
	"execution:\n"
	"  pool_size: 0\n"
	"  max_concurrent: 1\n"
	"  queue_size: 0\n";

static const char yaml_memory[] =
	"output:\n"
	"  max_file_bytes: 60m\n"
	"  max_total_bytes: 60m\n"
	"execution:\n"
	"  timeout_seconds: 120\n"
	"  max_timeout_seconds: 300\n"
	"  pool_size: 0\n";

static const char yaml_budget[] =
	"server:\n"
	"  max_body_bytes: 8m\n"
	"  max_inflight_body_bytes: 32m\n"
	"execution:\n"
	"  pool_size: 0\n";

static struct harness_daemon *D;

static void start(const char *yaml)
{
	D = harness_daemon_start(yaml);
	ck_assert_msg(D != NULL, "the daemon did not start (see stderr)");
}

static void setup_web(void) { start(yaml_web); }
static void setup_one_place(void) { start(yaml_one_place); }
static void setup_memory(void) { start(yaml_memory); }
static void setup_budget(void) { start(yaml_budget); }

static void teardown(void)
{
	(void)harness_daemon_stop(D);
	D = NULL;
}

static void post(const char *body, const char *const *headers, struct harness_response *r)
{
	(void)harness_http(D, "POST", "/execute", body, body ? strlen(body) : 0, headers, r);
}

/* --- content types ---------------------------------------------------------------- */

static void expect_body_error(const char *ct, const char *body, const char *type)
{
	static const char *const loc[] = { "body", NULL };
	const char *headers[] = { ct, NULL };
	struct harness_response r;
	cJSON *j;

	post(body, headers, &r);
	j = harness_json(&r);
	ck_assert_msg(r.status == 422 && harness_detail_count(j) == 1 &&
		      harness_detail_find(j, loc, type),
		      "%s: %s, want 422 %s at [body]", ct, harness_describe(&r), type);
	cJSON_Delete(j);
	harness_response_free(&r);
}

/* As FastAPI: only application/json and application/<x>+json bodies are
 * decoded; others are validated as raw bytes. No Content-Type at all is
 * refused too (a browser's cross-origin "simple" request). */
START_TEST(test_content_type)
{
	static const char ok[] = "{\"code\":\"print(1)\"}";
	static const char *const good[] = {
		"Content-Type: Application/JSON; charset=utf-8", "Content-Type: application/vnd.a+json",
	};
	struct harness_response r;

	expect_body_error("Content-Type: text/plain", ok, "model_attributes_type");
	expect_body_error("Content-Type: application/x-www-form-urlencoded", ok,
			  "model_attributes_type");
	expect_body_error("Content-Type: application/json/x", ok, "model_attributes_type");
	expect_body_error("Content-Type:", ok, "model_attributes_type"); /* curl: none sent */
	expect_body_error("Content-Type: text/plain", "", "missing");
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		const char *headers[] = { good[i], NULL };
		post(ok, headers, &r);
		ck_assert_msg(r.status == 200 && strstr(r.body, "\"output\":\"1\\n\""), "%s: %s",
			      good[i], harness_describe(&r));
		harness_response_free(&r);
	}
}
END_TEST

/* --- Host and CORS -------------------------------------------------------------- */

START_TEST(test_host_header)
{
	static const char *const evil[] = { "Host: rebind.example:8080", NULL };
	static const char *const names[] = { "Host: localhost:1", "Host: 127.0.0.1",
					     "Host: [::1]:8080", "Host: LOCALHOST" };
	struct harness_response r;
	cJSON *j;

	(void)harness_http(D, "GET", "/health", NULL, 0, evil, &r);
	j = harness_json(&r);
	ck_assert_msg(r.status == 400 && harness_check_detail_string(j) == 0,
		      "foreign Host: %s, want 400", harness_describe(&r));
	cJSON_Delete(j);
	harness_response_free(&r);
	post("{\"code\":\"print(1)\"}", evil, &r);
	ck_assert_msg(r.status == 400, "foreign Host on /execute: %s", harness_describe(&r));
	harness_response_free(&r);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const char *headers[] = { names[i], NULL };
		(void)harness_http(D, "GET", "/health", NULL, 0, headers, &r);
		ck_assert_msg(r.status == 200, "%s: %s", names[i], harness_describe(&r));
		harness_response_free(&r);
	}
}
END_TEST

START_TEST(test_no_cors_by_default)
{
	static const char *const origin[] = { "Origin: http://page.example", NULL };
	struct harness_response r;

	(void)harness_http(D, "GET", "/", NULL, 0, origin, &r);
	ck_assert_msg(r.status == 200 && !harness_header(&r, "Access-Control-Allow-Origin"),
		      "GET / with Origin: %s", harness_describe(&r));
	harness_response_free(&r);
}
END_TEST

/* --- bodies ------------------------------------------------------------------------- */

/* Connects and sends text; returns the socket. */
static int send_raw(const char *text)
{
	int fd = harness_connect(harness_daemon_port(D));

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(harness_send_all(fd, text, strlen(text)), 0);
	return fd;
}

/* Headers of a POST /execute whose body (len bytes) is not sent. */
static int headers_only(long len)
{
	char head[256];

	(void)snprintf(head, sizeof(head),
		       "POST /execute HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
		       "Content-Length: %ld\r\n\r\n", len);
	return send_raw(head);
}

/* A body sent to a GET route is counted against server.max_body_bytes. */
START_TEST(test_get_body_counted)
{
	size_t len = (size_t)(2 * MIB);
	char *body = calloc(1, len);
	struct harness_response r;

	memset(body, 'x', len);
	(void)harness_http(D, "GET", "/health", body, len, NULL, &r);
	ck_assert_msg(r.status == 413, "GET /health with 2 MiB: %s, want 413",
		      harness_describe(&r));
	harness_response_free(&r);
	free(body);
}
END_TEST

/* The bodies being read share server.max_inflight_body_bytes (1.5 MiB
 * here): a second 1 MB body gets 503 before it is sent. */
START_TEST(test_body_budget)
{
	struct harness_raw_result out = { 0 };
	struct harness_response r;
	int a = headers_only(1000000), b;

	harness_sleep_ms(300);
	b = headers_only(1000000);
	harness_read_until_close(b, 10.0, &out);
	ck_assert_msg(harness_raw_status(&out) == 503 && strstr(out.data, "Retry-After"),
		      "second body over the budget: %.300s", out.data ? out.data : "");
	harness_raw_free(&out);
	close(b);
	close(a);
	harness_sleep_ms(300);
	post("{\"code\":\"print(2)\"}", NULL, &r);
	ck_assert_msg(r.status == 200, "after the first left: %s", harness_describe(&r));
	harness_response_free(&r);
}
END_TEST

/* Headers (or a body) sent a byte at a time do not hold a connection past
 * server.request_timeout_seconds (3 s; the idle timeout is 30 s). */
START_TEST(test_request_deadline)
{
	double t0 = harness_now();
	int fd = send_raw("POST /execute HTTP/1.1\r\nHost: localhost\r\n");
	bool closed = false;

	while (!closed && harness_now() - t0 < 20) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char c;
		if (send(fd, "X", 1, MSG_NOSIGNAL) != 1)
			closed = true;
		else if (poll(&p, 1, 400) > 0 && recv(fd, &c, 1, MSG_DONTWAIT) <= 0)
			closed = true;
	}
	close(fd);
	ck_assert_msg(closed && harness_now() - t0 < 12,
		      "trickled headers: closed=%d after %.1f s, want closed within the deadline",
		      closed, harness_now() - t0);
}
END_TEST

/* A client that half-closes (shutdown(SHUT_WR)) after its request still
 * gets the answer, after an interim 102. */
START_TEST(test_half_close_gets_answer)
{
	static const char body[] = "{\"code\":\"import time; time.sleep(1)\"}";
	struct harness_raw_result out = { 0 };
	char req[512];
	int n = snprintf(req, sizeof(req),
			 "POST /execute HTTP/1.1\r\nHost: localhost\r\n"
			 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
			 strlen(body), body);

	ck_assert_int_eq(harness_raw(harness_daemon_port(D), req, (size_t)n, HARNESS_RAW_SHUT_WR,
				     60.0, &out), 0);
	ck_assert_msg(out.data && strstr(out.data, "HTTP/1.1 200 OK") &&
		      strstr(out.data, "\"success\":true"),
		      "half-closed client: %.400s", out.data ? out.data : "(nothing)");
	harness_raw_free(&out);
}
END_TEST

/* A client that really leaves (close) still stops its execution at once. */
START_TEST(test_leaving_client_cancels)
{
	static const char body[] = "{\"code\":\"import time; time.sleep(60)\"}";
	char req[512];
	double t0;
	bool seen = false;
	int fd;

	(void)snprintf(req, sizeof(req),
		       "POST /execute HTTP/1.1\r\nHost: localhost\r\n"
		       "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
		       strlen(body), body);
	fd = send_raw(req);
	harness_sleep_ms(2500); /* running by now */
	close(fd);
	t0 = harness_now();
	while (!seen && harness_now() - t0 < 40) {
		seen = strstr(harness_daemon_log(D), "the client went away") != NULL;
		if (!seen)
			harness_sleep_ms(100);
	}
	ck_assert_msg(seen, "the execution of a client that left was not stopped: %s",
		      harness_daemon_log_tail(D, 1500));
	/* The line is logged once the engine has killed the container, which
	 * takes seconds on a loaded machine; uncancelled, the code would run
	 * for its full 60 s. */
	ck_assert_msg(harness_now() - t0 < 40, "stopped %.1f s after the client left",
		      harness_now() - t0);
}
END_TEST

/* --- admission before the body -------------------------------------------------------- */

static void *run_sleeper(void *arg)
{
	struct harness_response *r = arg;

	post("{\"code\":\"import time; time.sleep(6)\"}", NULL, r);
	return NULL;
}

/* With every place taken, a request gets 429 from its headers alone: its
 * body is never read. */
START_TEST(test_429_before_body)
{
	struct harness_raw_result out = { 0 };
	struct harness_response slept;
	pthread_t t;
	int fd;

	ck_assert_int_eq(pthread_create(&t, NULL, run_sleeper, &slept), 0);
	harness_sleep_ms(2000);
	fd = headers_only(30 * MIB);
	harness_read_until_close(fd, 10.0, &out);
	ck_assert_msg(harness_raw_status(&out) == 429 && strstr(out.data, "Retry-After"),
		      "all places taken: %.300s", out.data ? out.data : "(nothing)");
	ck_assert_msg(out.elapsed_s < 4, "the 429 took %.1f s", out.elapsed_s);
	harness_raw_free(&out);
	close(fd);
	pthread_join(t, NULL);
	ck_assert_msg(slept.status == 200, "the running one: %s", harness_describe(&slept));
	harness_response_free(&slept);
}
END_TEST

/* --- the engine's address ----------------------------------------------------------- */

START_TEST(test_engine_address_not_told)
{
	static const char *const env[] = { "DOCKER_HOST=unix:///tmp/cxd-web-no-engine.sock", NULL };
	struct harness_opts o = { .yaml = "execution:\n  pool_size: 0\n", .env = env };
	struct harness_daemon *d = harness_daemon_start_opts(&o);
	struct harness_response r;

	ck_assert_ptr_nonnull(d);
	(void)harness_http(d, "GET", "/health", NULL, 0, NULL, &r);
	ck_assert_msg(r.status == 200 && strstr(r.body, "unhealthy") &&
		      !strstr(r.body, "cxd-web-no-engine"), "/health: %s", harness_describe(&r));
	harness_response_free(&r);
	(void)harness_http(d, "POST", "/execute", "{\"code\":\"1\"}", 12, NULL, &r);
	ck_assert_msg(r.status == 503 && !strstr(r.body, "cxd-web-no-engine"), "/execute: %s",
		      harness_describe(&r));
	harness_response_free(&r);
	ck_assert_msg(strstr(harness_daemon_log(d), "cxd-web-no-engine") != NULL,
		      "the log should name the engine");
	(void)harness_daemon_stop(d);
}
END_TEST

/* --- memory ------------------------------------------------------------------------- */

/* A field of the daemon's /proc status (VmRSS, VmHWM), bytes. */
static long status_bytes(const char *field)
{
	char path[64], line[256];
	size_t n = strlen(field);
	long kib = -1;
	FILE *f;

	(void)snprintf(path, sizeof(path), "/proc/%d/status", harness_daemon_pid(D));
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, field, n) == 0 && line[n] == ':' &&
		    sscanf(line + n + 1, "%ld", &kib) == 1)
			break;
	fclose(f);
	return kib * 1024;
}

/* Resets the daemon's peak (VmHWM) to its current resident size
 * (/proc/PID/clear_refs, "5") and returns that size. */
/* A sanitizer build's daemon keeps freed memory in quarantine and adds
 * shadow memory and redzones: its peak RSS says nothing of the daemon's
 * own. There (make asan) the requests still run, for the sanitizers'
 * sake, and the bounds are left to the plain build (make check). */
#ifdef __SANITIZE_ADDRESS__
#define RSS_BOUNDS 0
#else
#define RSS_BOUNDS 1
#endif

static long reset_peak(void)
{
	char path[64];
	FILE *f;

	(void)snprintf(path, sizeof(path), "/proc/%d/clear_refs", harness_daemon_pid(D));
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(fputs("5", f), 0);
	fclose(f);
	return status_bytes("VmRSS");
}

static long peak_rss(void)
{
	return status_bytes("VmHWM");
}

/* A 60 MiB body made mostly of an unknown member raises the peak by at
 * most 2.5 times its size (it was about 16 times: a cJSON tree of it). */
START_TEST(test_big_body_memory)
{
	size_t n = 30 * 1024 * 1024, len;
	char *body = harness_repeat("{\"code\":\"print(3)\",\"junk\":[0", ",0", n - 1, "]}", &len);
	struct harness_response r;
	long before, after;

	post("{\"code\":\"print(1)\"}", NULL, &r); /* warm up */
	harness_response_free(&r);
	before = reset_peak();
	(void)harness_http(D, "POST", "/execute", body, len, NULL, &r);
	after = peak_rss();
	ck_assert_msg(r.status == 200, "60 MiB body: %s", harness_describe(&r));
	harness_response_free(&r);
	fprintf(stderr, "test_web: %zu-byte body: peak RSS +%ld bytes (%.2fx)\n", len,
		after - before, (double)(after - before) / (double)len);
	ck_assert_msg(!RSS_BOUNDS || (double)(after - before) <= 2.5 * (double)len,
		      "peak RSS rose by %ld bytes for a %zu-byte body (%.2fx, want <= 2.5x)",
		      after - before, len, (double)(after - before) / (double)len);
	free(body);
}
END_TEST

/* A 50 MiB output file: the answer (67 MiB of base64) is streamed, so the
 * peak rises by at most twice the file: the runner's files record and the
 * decoded file, which exist together while the record is unpacked (2 MiB
 * of slack for the daemon's other threads). It was 3.7 times. */
START_TEST(test_big_answer_memory)
{
	static const char code[] =
		"{\"code\":\"import os\\nwith open('/execution/output/big.csv','wb') as f:\\n"
		"    f.write(os.urandom(50*1024*1024))\"}";
	long file = 50 * MIB, before, after;
	struct harness_response r;

	post("{\"code\":\"print(1)\"}", NULL, &r); /* warm up */
	harness_response_free(&r);
	before = reset_peak();
	post(code, NULL, &r);
	after = peak_rss();
	ck_assert_msg(r.status == 200 && r.body_len > (size_t)file * 4 / 3,
		      "50 MiB output file: %s", harness_describe(&r));
	ck_assert_msg(strstr(r.body, "\"big.csv\":\"") != NULL, "no big.csv in the answer");
	harness_response_free(&r);
	fprintf(stderr, "test_web: 50 MiB output file: peak RSS +%ld bytes (%.2fx)\n",
		after - before, (double)(after - before) / (double)file);
	ck_assert_msg(!RSS_BOUNDS ||
		      (double)(after - before) <= 2.0 * (double)file + 2.0 * (double)MIB,
		      "peak RSS rose by %ld bytes for a 50 MiB file (%.2fx, want <= 2x)",
		      after - before, (double)(after - before) / (double)file);
}
END_TEST

struct upload {
	const char *body;
	size_t len;
	int status;
};

/* Sends a request with a slow body (256 KiB every 50 ms), reads the answer. */
static void *slow_upload(void *arg)
{
	struct upload *u = arg;
	struct harness_raw_result out = { 0 };
	char head[256];
	int fd = harness_connect(harness_daemon_port(D));

	u->status = -1;
	if (fd < 0)
		return NULL;
	(void)snprintf(head, sizeof(head),
		       "POST /execute HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
		       "Content-Length: %zu\r\n\r\n", u->len);
	if (harness_send_all(fd, head, strlen(head)) == 0) {
		for (size_t off = 0; off < u->len; off += 256 * 1024) {
			size_t n = u->len - off < 256 * 1024 ? u->len - off : 256 * 1024;
			if (harness_send_all(fd, u->body + off, n) != 0)
				break;
			harness_sleep_ms(50);
		}
		harness_read_until_close(fd, 120.0, &out);
		u->status = harness_raw_status(&out);
		harness_raw_free(&out);
	}
	close(fd);
	return NULL;
}

/* Eight slow uploads of 7 MiB bodies (a 5 MiB file) together: the memory
 * they cost stays within server.max_inflight_body_bytes (32 MiB); those
 * that do not fit get 503. It was about 25 MiB per upload. */
START_TEST(test_uploads_within_budget)
{
	size_t raw = 5 * 1024 * 1024, b64 = (raw + 2) / 3 * 4, len;
	static const char head[] = "{\"code\":\"print(5)\",\"files\":{\"a.csv\":\"";
	char *body = malloc(sizeof(head) + b64 + 8);
	struct upload u[8];
	pthread_t t[8];
	long before, after;
	int ok = 0;

	ck_assert_ptr_nonnull(body);
	memcpy(body, head, sizeof(head) - 1);
	len = sizeof(head) - 1;
	for (size_t i = 0; i < b64; i++)
		body[len++] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef"[i % 32];
	memcpy(body + len, "\"}}", 3);
	len += 3;
	before = reset_peak();
	for (int i = 0; i < 8; i++) {
		u[i] = (struct upload){ .body = body, .len = len };
		ck_assert_int_eq(pthread_create(&t[i], NULL, slow_upload, &u[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		ck_assert_msg(u[i].status == 200 || u[i].status == 503, "upload %d: status %d", i,
			      u[i].status);
		ok += u[i].status == 200;
	}
	after = peak_rss();
	fprintf(stderr, "test_web: 8 uploads of %zu bytes: %d answered, peak RSS +%ld bytes\n", len,
		ok, after - before);
	ck_assert_msg(ok >= 1, "no upload was answered");
	ck_assert_msg(!RSS_BOUNDS || after - before <= 36 * MIB,
		      "peak RSS rose by %ld bytes with a 32 MiB budget for bodies", after - before);
	free(body);
}
END_TEST

static TCase *daemon_case(Suite *s, const char *name, void (*setup)(void))
{
	TCase *tc = tcase_create(name);

	if (setup)
		tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, TCASE_TIMEOUT_S);
	suite_add_tcase(s, tc);
	return tc;
}

int main(void)
{
	Suite *s = suite_create("web");
	TCase *tc;
	int rc;

	if (!getenv("CODEEXECD_BIN")) {
		fprintf(stderr, "test_web: set CODEEXECD_BIN (make check-integration does)\n");
		return EXIT_FAILURE;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	tc = daemon_case(s, "web", setup_web);
	tcase_add_test(tc, test_content_type);
	tcase_add_test(tc, test_host_header);
	tcase_add_test(tc, test_no_cors_by_default);
	tcase_add_test(tc, test_get_body_counted);
	tcase_add_test(tc, test_body_budget);
	tcase_add_test(tc, test_request_deadline);
	tcase_add_test(tc, test_half_close_gets_answer);
	tcase_add_test(tc, test_leaving_client_cancels);
	tc = daemon_case(s, "admission", setup_one_place);
	tcase_add_test(tc, test_429_before_body);
	tc = daemon_case(s, "engine_address", NULL);
	tcase_add_test(tc, test_engine_address_not_told);
	tc = daemon_case(s, "memory", setup_memory);
	tcase_add_test(tc, test_big_answer_memory);
	tcase_add_test(tc, test_big_body_memory);
	tc = daemon_case(s, "budget", setup_budget);
	tcase_add_test(tc, test_uploads_within_budget);
	rc = check_run(s, CK_ENV);
	curl_global_cleanup();
	return rc;
}
