/* Unit tests of the /execute/stream pieces: the NDJSON lines (ndjson.c)
 * and the bounded channel between the run and the socket (chan.c). No
 * server, no engine. */
#include <check.h>

#include "../check_run.h"
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "codeexecd/base64.h"
#include "codeexecd/chan.h"
#include "codeexecd/ndjson.h"
#include "codeexecd/utf8.h"

/* What out() received, and how many calls. */
struct sink_buf {
	char *data;
	size_t len, cap;
	int calls;
	int fail_after; /* > 0: the call after this many fails */
};

static int to_buf(void *ctx, const char *data, size_t len)
{
	struct sink_buf *b = ctx;

	if (b->fail_after > 0 && b->calls >= b->fail_after)
		return -EPIPE;
	b->calls++;
	ck_assert_uint_le(len, NDJSON_BUF);
	if (b->len + len + 1 > b->cap) {
		b->cap = (b->len + len + 1) * 2;
		b->data = realloc(b->data, b->cap);
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

/* Each line parsed; the "data" of lines of type want put together. Every
 * line must be valid UTF-8 JSON ending with '\n'. Returns the line count. */
static int collect(const struct sink_buf *b, const char *want, char **joined, size_t *jlen)
{
	const char *p = b->data ? b->data : "";
	int lines = 0;

	*joined = calloc(1, b->len + 1);
	*jlen = 0;
	while (*p) {
		const char *nl = strchr(p, '\n');
		ck_assert_ptr_nonnull(nl);
		ck_assert(utf8_valid(p, (size_t)(nl - p), NULL));
		cJSON *obj = cJSON_ParseWithLength(p, (size_t)(nl - p));
		ck_assert_ptr_nonnull(obj);
		const cJSON *type = cJSON_GetObjectItemCaseSensitive(obj, "type");
		const cJSON *data = cJSON_GetObjectItemCaseSensitive(obj, "data");
		ck_assert(cJSON_IsString(type));
		if (strcmp(type->valuestring, want) == 0) {
			size_t n = strlen(data->valuestring);
			memcpy(*joined + *jlen, data->valuestring, n);
			*jlen += n;
		}
		cJSON_Delete(obj);
		lines++;
		p = nl + 1;
	}
	return lines;
}

/* Output cut anywhere, multi-byte characters and bad bytes included: the
 * pieces put together are what /execute answers (utf8_sanitize of all). */
START_TEST(test_chunks_same_as_sanitized_whole)
{
	static const char text[] = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 bad:\xff\xc3 \xe2\x82"
				    "x \"q\" \\ \n\t\x01 end\xe2\x82";
	size_t n = sizeof(text) - 1;

	for (size_t step = 1; step <= 7; step++) {
		struct sink_buf b = { 0 };
		struct ndjson w;
		char *joined, *want;
		size_t jlen, wlen;

		ndjson_init(&w, to_buf, &b);
		for (size_t at = 0; at < n; at += step)
			ck_assert_int_eq(ndjson_chunk(&w, false, text + at, at + step < n ? step : n - at), 0);
		ck_assert_int_eq(ndjson_flush(&w), 0);
		(void)collect(&b, "stdout", &joined, &jlen);
		want = utf8_sanitize(text, n, &wlen);
		ck_assert_uint_eq(jlen, wlen);
		ck_assert_mem_eq(joined, want, wlen);
		free(joined);
		free(want);
		free(b.data);
	}
}
END_TEST

/* A character cut between pieces never makes a line of its own half. */
START_TEST(test_held_back_until_complete)
{
	struct sink_buf b = { 0 };
	struct ndjson w;

	ndjson_init(&w, to_buf, &b);
	ck_assert_int_eq(ndjson_chunk(&w, true, "\xe2", 1), 0);
	ck_assert_int_eq(ndjson_chunk(&w, true, "\x82", 1), 0);
	ck_assert_uint_eq(b.len, 0); /* nothing yet */
	ck_assert_int_eq(ndjson_chunk(&w, true, "\xac!", 2), 0);
	ck_assert_str_eq(b.data, "{\"type\":\"stderr\",\"data\":\"\xe2\x82\xac!\"}\n");
	ck_assert_int_eq(ndjson_flush(&w), 0); /* nothing held */
	ck_assert_str_eq(b.data, "{\"type\":\"stderr\",\"data\":\"\xe2\x82\xac!\"}\n");
	free(b.data);
}
END_TEST

START_TEST(test_incomplete_tail)
{
	ck_assert_uint_eq(ndjson_incomplete_tail((const unsigned char *)"ab", 2), 0);
	ck_assert_uint_eq(ndjson_incomplete_tail((const unsigned char *)"a\xc3", 2), 1);
	ck_assert_uint_eq(ndjson_incomplete_tail((const unsigned char *)"\xc3\xa9", 2), 0);
	ck_assert_uint_eq(ndjson_incomplete_tail((const unsigned char *)"\xe2\x82", 2), 2);
	ck_assert_uint_eq(ndjson_incomplete_tail((const unsigned char *)"\xf0\x9f\x98", 3), 3);
	ck_assert_uint_eq(ndjson_incomplete_tail((const unsigned char *)"\xf0\x9f\x98\x80", 4), 0);
	ck_assert_uint_eq(ndjson_incomplete_tail((const unsigned char *)"\x80\x80\x80", 3), 0);
	ck_assert_uint_eq(ndjson_incomplete_tail((const unsigned char *)"\xff", 1), 0);
	ck_assert_uint_eq(ndjson_incomplete_tail((const unsigned char *)"", 0), 0);
}
END_TEST

/* Stdout and stderr hold back their own halves. */
START_TEST(test_streams_apart)
{
	struct sink_buf b = { 0 };
	struct ndjson w;
	char *out, *err;
	size_t olen, elen;

	ndjson_init(&w, to_buf, &b);
	(void)ndjson_chunk(&w, false, "o\xc3", 2);
	(void)ndjson_chunk(&w, true, "e\xe2\x82", 3);
	(void)ndjson_chunk(&w, false, "\xa9", 1);
	(void)ndjson_chunk(&w, true, "\xac", 1);
	(void)collect(&b, "stdout", &out, &olen);
	(void)collect(&b, "stderr", &err, &elen);
	ck_assert_str_eq(out, "o\xc3\xa9");
	ck_assert_str_eq(err, "e\xe2\x82\xac");
	free(out);
	free(err);
	free(b.data);
}
END_TEST

START_TEST(test_file_and_note_lines)
{
	struct sink_buf b = { 0 };
	struct ndjson w;
	unsigned char data[10000];
	unsigned char *dec = NULL;
	size_t declen = 0;
	char *nl;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 7);
	ndjson_init(&w, to_buf, &b);
	ck_assert_int_eq(ndjson_file(&w, "sub/\"q\".png", data, sizeof(data)), 0);
	ck_assert_int_eq(ndjson_note(&w, "cut \xff", 5), 0);
	nl = strchr(b.data, '\n');
	ck_assert_ptr_nonnull(nl);
	cJSON *f = cJSON_ParseWithLength(b.data, (size_t)(nl - b.data));
	ck_assert_str_eq(cJSON_GetObjectItem(f, "type")->valuestring, "file");
	ck_assert_str_eq(cJSON_GetObjectItem(f, "name")->valuestring, "sub/\"q\".png");
	const char *b64 = cJSON_GetObjectItem(f, "data")->valuestring;
	ck_assert_int_eq(base64_decode(b64, strlen(b64), &dec, &declen), 0);
	ck_assert_uint_eq(declen, sizeof(data));
	ck_assert_mem_eq(dec, data, sizeof(data));
	ck_assert_str_eq(nl + 1, "{\"type\":\"note\",\"data\":\"cut \xef\xbf\xbd\"}\n");
	free(dec);
	cJSON_Delete(f);
	free(b.data);
}
END_TEST

/* The result carries every /execute field but the streamed ones. */
START_TEST(test_result_line)
{
	struct sink_buf b = { 0 };
	struct ndjson w;
	struct exec_result r = { .success = false, .exit_code = -1, .timed_out = true,
				 .output_truncated = true, .duration_ms = 1234 };

	r.error = (char *)"Execution timed out\n";
	ndjson_init(&w, to_buf, &b);
	ck_assert_int_eq(ndjson_result(&w, &r, "abcd1234"), 0);
	ck_assert_str_eq(b.data, "{\"type\":\"result\",\"success\":false,\"exit_code\":-1,"
			 "\"execution_id\":\"abcd1234\",\"error\":\"Execution timed out\\n\","
			 "\"timed_out\":true,\"oom_killed\":false,\"output_truncated\":true,"
			 "\"duration_ms\":1234}\n");
	free(b.data);
}
END_TEST

/* A reader that went away: the writer says so, and keeps saying so. */
START_TEST(test_out_failure_sticks)
{
	struct sink_buf b = { .fail_after = 1 };
	struct ndjson w;

	ndjson_init(&w, to_buf, &b);
	ck_assert_int_eq(ndjson_chunk(&w, false, "a", 1), 0);
	ck_assert_int_ne(ndjson_chunk(&w, false, "b", 1), 0);
	ck_assert_int_ne(ndjson_note(&w, "c", 1), 0);
	ck_assert_int_eq(b.calls, 1);
	free(b.data);
}
END_TEST

/* A long piece is written in bounded pieces, each under NDJSON_BUF (to_buf
 * checks), and still makes one line. */
START_TEST(test_long_chunk_one_line)
{
	struct sink_buf b = { 0 };
	struct ndjson w;
	size_t n = 65536;
	char *text = malloc(n), *joined;
	size_t jlen;

	for (size_t i = 0; i < n; i++)
		text[i] = i % 3 ? 'x' : '"'; /* escapes double some */
	ndjson_init(&w, to_buf, &b);
	ck_assert_int_eq(ndjson_chunk(&w, false, text, n), 0);
	ck_assert_int_eq(collect(&b, "stdout", &joined, &jlen), 1);
	ck_assert_uint_eq(jlen, n);
	ck_assert_mem_eq(joined, text, n);
	ck_assert_int_gt(b.calls, 1);
	free(joined);
	free(text);
	free(b.data);
}
END_TEST

struct producer {
	struct chan *c;
	size_t total;
	int rc;
};

static void *produce(void *arg)
{
	struct producer *p = arg;
	char piece[333];

	for (size_t sent = 0; sent < p->total && p->rc == 0;) {
		size_t n = p->total - sent < sizeof(piece) ? p->total - sent : sizeof(piece);
		for (size_t i = 0; i < n; i++)
			piece[i] = (char)((sent + i) % 251);
		p->rc = chan_write(p->c, piece, n, 0);
		sent += n;
	}
	chan_close_writer(p->c);
	return NULL;
}

/* Everything arrives, in order, through a channel far smaller than it. */
START_TEST(test_chan_order)
{
	struct producer p = { .total = 200000 };
	pthread_t t;
	char buf[1000];
	size_t got = 0, n;

	ck_assert_int_eq(chan_new(&p.c, 4096), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, produce, &p), 0);
	while ((n = chan_read(p.c, buf, sizeof(buf))) > 0) {
		for (size_t i = 0; i < n; i++)
			ck_assert_int_eq((unsigned char)buf[i], (got + i) % 251);
		got += n;
	}
	pthread_join(t, NULL);
	ck_assert_int_eq(p.rc, 0);
	ck_assert_uint_eq(got, p.total);
	chan_free(p.c);
}
END_TEST

/* A writer blocked on a full channel wakes when the reader goes. */
START_TEST(test_chan_reader_gone)
{
	struct producer p = { .total = 100000 };
	pthread_t t;

	ck_assert_int_eq(chan_new(&p.c, 1024), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, produce, &p), 0);
	usleep(50000); /* it fills the channel and waits */
	chan_close_reader(p.c);
	pthread_join(t, NULL);
	ck_assert_int_eq(p.rc, -EPIPE);
	chan_free(p.c);
}
END_TEST

static long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* A reader that takes nothing: the write gives up at its deadline. */
START_TEST(test_chan_write_deadline)
{
	struct chan *c;
	char big[2048] = { 0 }, buf[4096];

	ck_assert_int_eq(chan_new(&c, 1024), 0);
	ck_assert_int_eq(chan_write(c, big, sizeof(big), mono_ms() + 100), -ETIMEDOUT);
	ck_assert_uint_eq(chan_read(c, buf, sizeof(buf)), 1024); /* what fitted */
	chan_close_writer(c);
	ck_assert_uint_eq(chan_read(c, buf, sizeof(buf)), 0);
	chan_free(c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ndjson");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_chunks_same_as_sanitized_whole);
	tcase_add_test(tc, test_held_back_until_complete);
	tcase_add_test(tc, test_incomplete_tail);
	tcase_add_test(tc, test_streams_apart);
	tcase_add_test(tc, test_file_and_note_lines);
	tcase_add_test(tc, test_result_line);
	tcase_add_test(tc, test_out_failure_sticks);
	tcase_add_test(tc, test_long_chunk_one_line);
	tcase_add_test(tc, test_chan_order);
	tcase_add_test(tc, test_chan_reader_gone);
	tcase_add_test(tc, test_chan_write_deadline);
	tcase_set_timeout(tc, 60); /* threads on a shared machine, under ASan too */
	suite_add_tcase(s, tc);
	return check_run(s, CK_NORMAL);
}
