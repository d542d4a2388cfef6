/* POST /execute/stream against the real codeexecd binary ($CODEEXECD_BIN)
 * and a real engine: the NDJSON lines and their types, output arriving
 * while the code still runs, the output caps with their note, the same
 * validation as /execute, and a client that disconnects: the execution
 * stops, its slot is free and its container removed soon after, and no
 * descriptor is left behind. Timings are compared, never asserted in
 * absolute terms (a shared machine), but for generous ceilings. */
#include <check.h>

#include "../check_run.h"
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define TCASE_TIMEOUT_S 600
#define CAP 10000                /* output.max_stdout_bytes and max_stderr_bytes here */
#define FREED_MAX_S 10.0         /* a generous ceiling; the report prints the real time */

/* An idle timeout shorter than the silence of test_chunks_arrive_early: a
 * stream stays open while the code is quiet. */
static const char yaml[] =
	"server:\n"
	"  idle_timeout_seconds: 1\n"
	"output:\n"
	"  max_stdout_bytes: 10000\n"
	"  max_stderr_bytes: 10000\n"
	"execution:\n"
	"  max_concurrent: 1\n"
	"  pool_size: 0\n";

/* For the slow reader: output far larger than the channel and the socket
 * buffers. */
static const char yaml_big[] =
	"output:\n"
	"  max_stdout_bytes: 64m\n"
	"execution:\n"
	"  pool_size: 0\n";

#define BIG_MB 40                /* what the slow reader's program prints */

static struct harness_daemon *D;

static void setup(void)
{
	D = harness_daemon_start(yaml);
	ck_assert_msg(D != NULL, "the daemon did not start (see stderr)");
}

static void setup_big(void)
{
	D = harness_daemon_start(yaml_big);
	ck_assert_msg(D != NULL, "the daemon did not start (see stderr)");
}

static void teardown(void)
{
	(void)harness_daemon_stop(D);
	D = NULL;
}

START_TEST(test_sigterm_exits_0)
{
	int rc = harness_daemon_terminate(D, 60);

	ck_assert_msg(rc == 0, "SIGTERM: exit status %d; log tail:\n%s", rc,
		      harness_daemon_log_tail(D, 3000));
}
END_TEST

/* --- a stream read line by line, with the time each line arrived ---------- */

#define LINES_MAX 4096

struct stream {
	/* A reader that stops for stall_ms at its first piece, noting the
	 * daemon's resident size before and after (0: reads at once). */
	long stall_ms;
	long rss_before, rss_after;
	size_t stdout_bytes;     /* of the lines parsed, when keep_lines is false */
	bool drop_lines;         /* count stdout bytes, keep only the last line */
	char *buf;               /* the body so far */
	size_t len;
	size_t parsed;           /* up to here, split into lines */
	cJSON *lines[LINES_MAX];
	double at[LINES_MAX];    /* harness_now() when each line was complete */
	int n;
	double t0;
	long status;
	char ctype[128];
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct stream *s = ctx;
	size_t len = size * nmemb;
	char *nl;

	if (s->stall_ms > 0 && s->rss_before == 0) {
		s->rss_before = harness_proc_rss_kib(harness_daemon_pid(D));
		harness_sleep_ms(s->stall_ms);
		s->rss_after = harness_proc_rss_kib(harness_daemon_pid(D));
	}
	s->buf = realloc(s->buf, s->len + len + 1);
	memcpy(s->buf + s->len, data, len);
	s->len += len;
	s->buf[s->len] = '\0';
	while ((nl = memchr(s->buf + s->parsed, '\n', s->len - s->parsed)) && s->n < LINES_MAX) {
		size_t llen = (size_t)(nl - (s->buf + s->parsed));
		s->lines[s->n] = cJSON_ParseWithLength(s->buf + s->parsed, llen);
		ck_assert_msg(s->lines[s->n] != NULL, "not JSON: %.*s", (int)llen,
			      s->buf + s->parsed);
		s->at[s->n++] = harness_now();
		s->parsed += llen + 1;
		if (s->drop_lines && s->n > 1) {
			/* keep the last line only, and the body's tail */
			const cJSON *d = cJSON_GetObjectItemCaseSensitive(s->lines[0], "data");
			if (strcmp(cJSON_GetObjectItem(s->lines[0], "type")->valuestring, "stdout") == 0)
				s->stdout_bytes += strlen(d->valuestring);
			cJSON_Delete(s->lines[0]);
			s->lines[0] = s->lines[1];
			s->at[0] = s->at[1];
			s->n = 1;
		}
	}
	if (s->drop_lines && s->parsed > 0) {
		memmove(s->buf, s->buf + s->parsed, s->len - s->parsed);
		s->len -= s->parsed;
		s->parsed = 0;
	}
	return len;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct stream *s = ctx;
	size_t len = size * nmemb;

	if (len > 13 && strncasecmp(data, "Content-Type:", 13) == 0)
		(void)snprintf(s->ctype, sizeof(s->ctype), "%.*s", (int)(len - 13), data + 13);
	return len;
}

/* s's stall_ms and drop_lines are kept; the rest is reset. */
static void stream_run(const char *path, const char *body, struct stream *s)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	char url[128];
	long stall = s->stall_ms;
	bool drop = s->drop_lines;

	memset(s, 0, sizeof(*s));
	s->stall_ms = stall;
	s->drop_lines = drop;
	(void)snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", harness_daemon_port(D), path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, s);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
	s->t0 = harness_now();
	ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &s->status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
}

static void stream_free(struct stream *s)
{
	for (int i = 0; i < s->n; i++)
		cJSON_Delete(s->lines[i]);
	free(s->buf);
}

static const char *type_of(const cJSON *line)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(line, "type");

	return cJSON_IsString(t) ? t->valuestring : "";
}

/* The "data" of the lines of one type, put together (malloc'ed). */
static char *joined(const struct stream *s, const char *type)
{
	char *out = calloc(1, s->len + 1);

	for (int i = 0; i < s->n; i++)
		if (strcmp(type_of(s->lines[i]), type) == 0)
			strcat(out, cJSON_GetObjectItemCaseSensitive(s->lines[i], "data")->valuestring);
	return out;
}

static int count(const struct stream *s, const char *type)
{
	int n = 0;

	for (int i = 0; i < s->n; i++)
		n += strcmp(type_of(s->lines[i]), type) == 0;
	return n;
}

/* Exactly one result line, the last one; returns it. */
static const cJSON *result_line(const struct stream *s)
{
	ck_assert_int_ge(s->n, 1);
	ck_assert_int_eq(count(s, "result"), 1);
	ck_assert_str_eq(type_of(s->lines[s->n - 1]), "result");
	return s->lines[s->n - 1];
}

static bool member_true(const cJSON *obj, const char *name)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(obj, name));
}

/* --- tests ------------------------------------------------------------------ */

#define CODE_MIX "import sys\\n" \
	"print('hello')\\n" \
	"sys.stdout.buffer.write(b'caf\\\\xc3'); sys.stdout.flush()\\n" \
	"sys.stdout.buffer.write(b'\\\\xa9 bad:\\\\xff\\\\n'); sys.stdout.flush()\\n" \
	"print('warn', file=sys.stderr)\\n" \
	"open('/execution/output/r.csv','w').write('a,b\\\\n1,2\\\\n')\\n" \
	"open('/execution/output/skip.txt','w').write('no')\\n"

/* Line types, the same output as /execute (repaired the same way), the
 * default CSV selection, and a result with every field but the streamed. */
START_TEST(test_lines_match_execute)
{
	const char *body = "{\"code\":\"" CODE_MIX "\"}";
	struct harness_response r = { 0 };
	struct stream s = { 0 };
	char *out, *err;

	stream_run("/execute/stream", body, &s);
	ck_assert_int_eq(s.status, 200);
	ck_assert_msg(strstr(s.ctype, "application/x-ndjson"), "Content-Type %s", s.ctype);
	ck_assert_uint_eq(s.parsed, s.len); /* the body ends with a complete line */
	const cJSON *res = result_line(&s);
	ck_assert(member_true(res, "success"));
	ck_assert_int_eq(cJSON_GetObjectItem(res, "exit_code")->valueint, 0);
	ck_assert_uint_eq(strlen(cJSON_GetObjectItem(res, "execution_id")->valuestring), 8);
	ck_assert_str_eq(cJSON_GetObjectItem(res, "error")->valuestring, "");
	ck_assert(cJSON_IsBool(cJSON_GetObjectItem(res, "timed_out")));
	ck_assert(cJSON_IsNumber(cJSON_GetObjectItem(res, "duration_ms")));
	ck_assert_ptr_null(cJSON_GetObjectItem(res, "output"));
	ck_assert_ptr_null(cJSON_GetObjectItem(res, "output_files"));
	ck_assert_int_eq(count(&s, "file"), 1);
	for (int i = 0; i < s.n; i++)
		if (strcmp(type_of(s.lines[i]), "file") == 0) {
			ck_assert_str_eq(cJSON_GetObjectItem(s.lines[i], "name")->valuestring, "r.csv");
			ck_assert_str_eq(cJSON_GetObjectItem(s.lines[i], "data")->valuestring,
					 "YSxiCjEsMgo=");
		}

	ck_assert_int_eq(harness_http(D, "POST", "/execute", body, strlen(body), NULL, &r), 0);
	cJSON *whole = harness_json(&r);
	ck_assert_ptr_nonnull(whole);
	out = joined(&s, "stdout");
	err = joined(&s, "stderr");
	ck_assert_str_eq(out, cJSON_GetObjectItem(whole, "output")->valuestring);
	ck_assert_str_eq(err, cJSON_GetObjectItem(whole, "error")->valuestring);
	ck_assert_str_eq(out, "hello\ncaf\xc3\xa9 bad:\xef\xbf\xbd\n");
	free(out);
	free(err);
	cJSON_Delete(whole);
	harness_response_free(&r);
	stream_free(&s);
}
END_TEST

/* What the code prints comes while it sleeps, long before the end; the
 * 2 s of silence (over the 1 s idle timeout) do not end the stream. */
START_TEST(test_chunks_arrive_early)
{
	const char *body = "{\"code\":\"import time\\nprint('one')\\ntime.sleep(2)\\nprint('two')\\n\"}";
	struct stream s = { 0 };
	double first = -1, second = -1, end;

	stream_run("/execute/stream", body, &s);
	ck_assert_int_eq(s.status, 200);
	for (int i = 0; i < s.n; i++) {
		if (strcmp(type_of(s.lines[i]), "stdout") != 0)
			continue;
		const char *d = cJSON_GetObjectItem(s.lines[i], "data")->valuestring;
		if (first < 0 && strstr(d, "one"))
			first = s.at[i] - s.t0;
		if (second < 0 && strstr(d, "two"))
			second = s.at[i] - s.t0;
	}
	end = s.at[s.n - 1] - s.t0;
	ck_assert_msg(first >= 0 && second >= 0, "lines missing");
	printf("stream: first chunk after %.3f s, second after %.3f s, result after %.3f s\n",
	       first, second, end);
	/* Not streamed, both would come together at the end; streamed, the 2 s
	 * sleep lies between them (a slow start delays both alike). */
	ck_assert_msg(second - first > 1.0, "the 2 s sleep is not between the chunks: first "
		      "%.3f s, second %.3f s, end %.3f s", first, second, end);
	ck_assert(member_true(result_line(&s), "success"));
	stream_free(&s);
}
END_TEST

/* Output past its cap: exactly the cap comes, then a note, and the result
 * says it was cut, as /execute's answer does. */
START_TEST(test_cap_with_note)
{
	const char *body = "{\"code\":\"print('x' * 100000)\"}";
	struct stream s = { 0 };
	char *out;

	stream_run("/execute/stream", body, &s);
	ck_assert_int_eq(s.status, 200);
	out = joined(&s, "stdout");
	ck_assert_uint_eq(strlen(out), CAP);
	ck_assert_int_ge(count(&s, "note"), 1);
	const cJSON *res = result_line(&s);
	ck_assert(member_true(res, "output_truncated"));
	ck_assert(!member_true(res, "success"));
	ck_assert_msg(strstr(cJSON_GetObjectItem(res, "error")->valuestring, "limit"),
		      "error: %s", cJSON_GetObjectItem(res, "error")->valuestring);
	free(out);
	stream_free(&s);
}
END_TEST

/* A figure shown while the code runs comes at once (before what the code
 * prints after a pause), and only once: the final files do not repeat it. */
START_TEST(test_figure_streamed_once)
{
	const char *body = "{\"code\":\"import time\\nimport matplotlib.pyplot as plt\\n"
			   "plt.plot([1, 2, 3])\\nplt.show()\\ntime.sleep(2)\\nprint('after')\\n\","
			   "\"output_include\":[\"*.png\"]}";
	struct stream s = { 0 };
	int figure = -1, after = -1, files = 0;

	stream_run("/execute/stream", body, &s);
	ck_assert_int_eq(s.status, 200);
	for (int i = 0; i < s.n; i++) {
		if (strcmp(type_of(s.lines[i]), "file") == 0) {
			files++;
			ck_assert_str_eq(cJSON_GetObjectItem(s.lines[i], "name")->valuestring,
					 "figure-1.png");
			ck_assert(strncmp(cJSON_GetObjectItem(s.lines[i], "data")->valuestring,
					  "iVBORw0KGgo", 11) == 0); /* a PNG */
			figure = i;
		}
		if (strcmp(type_of(s.lines[i]), "stdout") == 0 &&
		    strstr(cJSON_GetObjectItem(s.lines[i], "data")->valuestring, "after"))
			after = i;
	}
	ck_assert_msg(files == 1, "%d file lines, want 1:\n%s", files, s.buf);
	ck_assert_msg(figure >= 0 && after > figure, "figure line %d, 'after' line %d", figure,
		      after);
	printf("stream: figure after %.3f s, 'after' after %.3f s\n", s.at[figure] - s.t0,
	       s.at[after] - s.t0);
	ck_assert_msg(s.at[after] - s.at[figure] > 1.0, "the figure came with the end");
	ck_assert(member_true(result_line(&s), "success"));
	stream_free(&s);
}
END_TEST

/* The same 422 as /execute, and no execution. */
START_TEST(test_validation_same_as_execute)
{
	static const char *const bodies[] = { "{}", "{\"code\":1}", "[", "{\"code\":\"x\",\"timeout\":0}" };

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		struct harness_response a = { 0 }, b = { 0 };
		ck_assert_int_eq(harness_http(D, "POST", "/execute", bodies[i], strlen(bodies[i]),
					      NULL, &a), 0);
		ck_assert_int_eq(harness_http(D, "POST", "/execute/stream", bodies[i],
					      strlen(bodies[i]), NULL, &b), 0);
		ck_assert_int_eq(a.status, 422);
		ck_assert_int_eq(b.status, 422);
		ck_assert_str_eq(a.body, b.body);
		harness_response_free(&a);
		harness_response_free(&b);
	}
}
END_TEST

static int gauge_running(void)
{
	struct harness_response r = { 0 };
	const char *p;
	int v = -1;

	if (harness_http(D, "GET", "/metrics", NULL, 0, NULL, &r) == 0 &&
	    (p = strstr(r.body, "\ncodeexecd_executions_running ")))
		v = atoi(p + strlen("\ncodeexecd_executions_running "));
	harness_response_free(&r);
	return v;
}

/* A client that leaves mid-stream: the run stops, the slot is free and the
 * container removed within a second or so, no descriptor leaks. */
START_TEST(test_disconnect_frees_slot)
{
	static const char body[] =
		"{\"code\":\"import time\\nprint('started', flush=True)\\ntime.sleep(60)\\n\"}";
	char req[512], inst[64], label[128];
	struct harness_raw_result got = { 0 };
	int fd, fds_before, fds_after = -1, n;
	double t0, freed = -1, removed = -1;

	ck_assert_int_eq(harness_daemon_instance(D, inst, sizeof(inst)), 0);
	(void)snprintf(label, sizeof(label), "io.codeexecd.instance=%s", inst);
	{ /* warm up: the first run opens what stays open (engine connections) */
		struct stream s = { 0 };
		stream_run("/execute/stream", "{\"code\":\"print(1)\"}", &s);
		stream_free(&s);
	}
	fds_before = harness_proc_fds(harness_daemon_pid(D));
	n = snprintf(req, sizeof(req), "POST /execute/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
		     sizeof(body) - 1, body);
	fd = harness_connect(harness_daemon_port(D));
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(harness_send_all(fd, req, (size_t)n), 0);
	/* read until the first line came, then leave */
	for (double until = harness_now() + 60; harness_now() < until;) {
		char buf[4096];
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r <= 0)
			break;
		got.data = realloc(got.data, got.len + (size_t)r + 1);
		memcpy(got.data + got.len, buf, (size_t)r);
		got.len += (size_t)r;
		got.data[got.len] = '\0';
		if (strstr(got.data, "started"))
			break;
	}
	ck_assert_msg(got.data && strstr(got.data, "started"), "no first line: %s",
		      got.data ? got.data : "(nothing)");
	ck_assert_int_eq(gauge_running(), 1);
	ck_assert_int_eq(harness_docker_count_labelled(label), 1);
	close(fd);
	t0 = harness_now();
	while (harness_now() - t0 < FREED_MAX_S && (freed < 0 || removed < 0)) {
		if (freed < 0 && gauge_running() == 0)
			freed = harness_now() - t0;
		if (removed < 0 && harness_docker_count_labelled(label) == 0)
			removed = harness_now() - t0;
		harness_sleep_ms(20);
	}
	printf("stream: client gone -> slot free after %.3f s, container removed after %.3f s\n",
	       freed, removed);
	ck_assert_msg(freed >= 0, "the slot is still taken after %.0f s", FREED_MAX_S);
	ck_assert_msg(removed >= 0, "the container is still there after %.0f s", FREED_MAX_S);
	/* the slot serves the next request at once (max_concurrent is 1) */
	{
		struct stream s = { 0 };
		stream_run("/execute/stream", "{\"code\":\"print(2)\"}", &s);
		ck_assert(member_true(result_line(&s), "success"));
		stream_free(&s);
	}
	/* (connections of earlier requests may still be closing: at most as many) */
	for (int i = 0; i < 100 && (fds_after < 0 || fds_after > fds_before); i++) {
		fds_after = harness_proc_fds(harness_daemon_pid(D));
		harness_sleep_ms(50);
	}
	ck_assert_msg(fds_after >= 0 && fds_after <= fds_before, "descriptors: %d before, %d after", fds_before,
		      fds_after);
	ck_assert_msg(strstr(harness_daemon_log(D), "POST /execute/stream 200"),
		      "no access log line");
	free(got.data);
}
END_TEST

/* A reader that stops reading while the code prints 40 MB: the run waits
 * for it (the daemon's memory does not grow with the output), then all of
 * it comes. */
START_TEST(test_slow_reader_bounded)
{
	char body[256];
	struct stream s = { .stall_ms = 3000, .drop_lines = true };
	long base = harness_proc_rss_kib(harness_daemon_pid(D));

	(void)snprintf(body, sizeof(body), "{\"code\":\"import sys\\nfor i in range(%d):\\n"
		       "    sys.stdout.write('y' * 1048575 + '\\\\n')\\n\"}", BIG_MB);
	stream_run("/execute/stream", body, &s);
	printf("stream: slow reader: daemon RSS %ld KiB idle, %ld KiB when the reader stopped, "
	       "%ld KiB after %ld ms stopped, %d MB printed\n", base, s.rss_before, s.rss_after,
	       s.stall_ms, BIG_MB);
	ck_assert_int_eq(s.status, 200);
	ck_assert_uint_eq(s.stdout_bytes, (size_t)BIG_MB * 1048576);
	ck_assert(member_true(result_line(&s), "success"));
	/* 40 MB buffered would show; the channel, socket buffers and one
	 * record do not (a generous ceiling: allocators keep freed pages) */
	ck_assert_msg(s.rss_after - s.rss_before < 16 * 1024, "RSS grew by %ld KiB while the "
		      "reader stopped", s.rss_after - s.rss_before);
	stream_free(&s);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("stream");
	TCase *tc = tcase_create("stream");

	curl_global_init(CURL_GLOBAL_DEFAULT);
	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, TCASE_TIMEOUT_S);
	tcase_add_test(tc, test_lines_match_execute);
	tcase_add_test(tc, test_chunks_arrive_early);
	tcase_add_test(tc, test_cap_with_note);
	tcase_add_test(tc, test_figure_streamed_once);
	tcase_add_test(tc, test_validation_same_as_execute);
	tcase_add_test(tc, test_disconnect_frees_slot);
	tcase_add_test(tc, test_sigterm_exits_0);
	suite_add_tcase(s, tc);
	tc = tcase_create("slow reader");
	tcase_add_unchecked_fixture(tc, setup_big, teardown);
	tcase_set_timeout(tc, TCASE_TIMEOUT_S);
	tcase_add_test(tc, test_slow_reader_bounded);
	tcase_add_test(tc, test_sigterm_exits_0);
	suite_add_tcase(s, tc);
	return check_run(s, CK_VERBOSE);
}
