/* Unit tests of src/protocol.c. */
#include <check.h>

#include "../check_run.h"
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codeexecd/protocol.h"

#define MAX_RECORDS 16

/* What the sink saw. */
struct seen {
	int n;
	enum proto_type type[MAX_RECORDS];
	size_t len[MAX_RECORDS];
	uint8_t *data[MAX_RECORDS];
	int stop_at;        /* the sink returns 7 on this record (1-based); 0: never */
};

static int record_sink(void *ctx, enum proto_type type, const uint8_t *data, size_t len)
{
	struct seen *s = ctx;

	ck_assert_int_lt(s->n, MAX_RECORDS);
	ck_assert_ptr_nonnull(data);
	s->type[s->n] = type;
	s->len[s->n] = len;
	s->data[s->n] = malloc(len + 1);
	ck_assert_ptr_nonnull(s->data[s->n]);
	memcpy(s->data[s->n], data, len);
	s->n++;
	return s->n == s->stop_at ? 7 : 0;
}

static void seen_free(struct seen *s)
{
	int i;

	for (i = 0; i < s->n; i++)
		free(s->data[i]);
	memset(s, 0, sizeof(*s));
}

/* Appends a record to buf (big enough) at *n. */
static void put(uint8_t *buf, size_t *n, uint8_t type, const void *payload, uint32_t len)
{
	buf[(*n)++] = type;
	buf[(*n)++] = (uint8_t)(len >> 24);
	buf[(*n)++] = (uint8_t)(len >> 16);
	buf[(*n)++] = (uint8_t)(len >> 8);
	buf[(*n)++] = (uint8_t)len;
	memcpy(buf + *n, payload, len);
	*n += len;
}

static const struct proto_limits lim = { .chunk_max = 16, .files_max = 64, .status_max = 32 };

static const char status[] = "{\"exit_code\": 3, \"signal\": 0}";

/* A stream of every type, a zero-length record and a payload at its cap. */
static size_t sample(uint8_t *buf)
{
	size_t n = 0;

	put(buf, &n, 'R', "{\"preloaded\": []}", 17);
	put(buf, &n, 'O', "hello\n", 6);
	put(buf, &n, 'E', "", 0);
	put(buf, &n, 'E', "0123456789abcdef", 16);
	put(buf, &n, 'W', "skipped x", 9);
	put(buf, &n, 'F', "tar bytes...", 12);
	put(buf, &n, 'X', status, (uint32_t)strlen(status));
	return n;
}

static void check_sample(const struct seen *s)
{
	ck_assert_int_eq(s->n, 7);
	ck_assert_int_eq(s->type[0], PROTO_READY);
	ck_assert_mem_eq(s->data[0], "{\"preloaded\": []}", 17);
	ck_assert_int_eq(s->type[1], PROTO_STDOUT);
	ck_assert_uint_eq(s->len[1], 6);
	ck_assert_mem_eq(s->data[1], "hello\n", 6);
	ck_assert_int_eq(s->type[2], PROTO_STDERR);
	ck_assert_uint_eq(s->len[2], 0);
	ck_assert_int_eq(s->type[3], PROTO_STDERR);
	ck_assert_mem_eq(s->data[3], "0123456789abcdef", 16);
	ck_assert_int_eq(s->type[4], PROTO_NOTE);
	ck_assert_mem_eq(s->data[4], "skipped x", 9);
	ck_assert_int_eq(s->type[5], PROTO_FILES);
	ck_assert_mem_eq(s->data[5], "tar bytes...", 12);
	ck_assert_int_eq(s->type[6], PROTO_STATUS);
	ck_assert_uint_eq(s->len[6], strlen(status));
	ck_assert_mem_eq(s->data[6], status, strlen(status));
}

START_TEST(job_header)
{
	char h[PROTO_JOB_HEADER_LEN];

	proto_job_header(h, 0);
	ck_assert_mem_eq(h, "CXD100000000", PROTO_JOB_HEADER_LEN);
	proto_job_header(h, 0x1234abcd);
	ck_assert_mem_eq(h, "CXD11234abcd", PROTO_JOB_HEADER_LEN);
	proto_job_header(h, 0xffffffffu);
	ck_assert_mem_eq(h, "CXD1ffffffff", PROTO_JOB_HEADER_LEN);
}
END_TEST

START_TEST(whole_stream)
{
	uint8_t buf[256];
	size_t n = sample(buf);
	struct proto_reader r;
	struct seen s = { 0 };

	proto_reader_init(&r, &lim);
	ck_assert_int_eq(proto_feed(&r, buf, n, record_sink, &s), 0);
	ck_assert_int_eq(r.done, 1);
	check_sample(&s);
	seen_free(&s);
	proto_reader_free(&r);
}
END_TEST

START_TEST(split_at_every_byte)
{
	uint8_t buf[256];
	size_t n = sample(buf), k;

	for (k = 0; k <= n; k++) {
		struct proto_reader r;
		struct seen s = { 0 };

		proto_reader_init(&r, &lim);
		ck_assert_int_eq(proto_feed(&r, buf, k, record_sink, &s), 0);
		ck_assert_int_eq(proto_feed(&r, buf + k, n - k, record_sink, &s), 0);
		ck_assert_int_eq(r.done, 1);
		check_sample(&s);
		seen_free(&s);
		proto_reader_free(&r);
	}
}
END_TEST

START_TEST(one_byte_at_a_time)
{
	uint8_t buf[256];
	size_t n = sample(buf), k;
	struct proto_reader r;
	struct seen s = { 0 };

	proto_reader_init(&r, &lim);
	for (k = 0; k < n; k++) {
		ck_assert_int_eq(proto_feed(&r, buf + k, 1, record_sink, &s), 0);
		ck_assert_int_eq(r.done, k == n - 1);
	}
	check_sample(&s);
	seen_free(&s);
	proto_reader_free(&r);
}
END_TEST

START_TEST(empty_feed)
{
	struct proto_reader r;
	struct seen s = { 0 };

	proto_reader_init(&r, &lim);
	ck_assert_int_eq(proto_feed(&r, NULL, 0, record_sink, &s), 0);
	ck_assert_int_eq(s.n, 0);
	proto_reader_free(&r);
}
END_TEST

/* A declared length over the cap fails on the header's last byte, with
 * nothing allocated, whatever the type. */
START_TEST(over_cap_before_allocation)
{
	static const struct { uint8_t type; uint32_t len; } bad[] = {
		{ 'O', 17 }, { 'E', 17 }, { 'W', 17 }, { 'F', 65 }, { 'X', 33 }, { 'R', 33 },
		{ 'F', 0xffffffffu }, { 'O', 0x80000000u },
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t h[5] = { bad[i].type, (uint8_t)(bad[i].len >> 24),
				 (uint8_t)(bad[i].len >> 16), (uint8_t)(bad[i].len >> 8),
				 (uint8_t)bad[i].len };
		struct proto_reader r;
		struct seen s = { 0 };

		proto_reader_init(&r, &lim);
		ck_assert_int_eq(proto_feed(&r, h, 4, record_sink, &s), 0);
		ck_assert_int_eq(proto_feed(&r, h + 4, 1, record_sink, &s), -EPROTO);
		ck_assert_ptr_null(r.buf);
		ck_assert_uint_eq(r.alloc, 0);
		ck_assert_int_eq(s.n, 0);
		proto_reader_free(&r);
	}
}
END_TEST

/* The buffer follows the bytes that arrive, not the declared length. */
START_TEST(grows_with_arrivals)
{
	static const struct proto_limits big = { .chunk_max = 1 << 20, .files_max = 1 << 26,
						 .status_max = 64 };
	static uint8_t payload[100000];
	uint8_t h[5] = { 'F', 0, 0x01, 0x86, 0xa0 };   /* 100000 */
	struct proto_reader r;
	struct seen s = { 0 };
	size_t k;

	for (k = 0; k < sizeof(payload); k++)
		payload[k] = (uint8_t)(k * 7);
	proto_reader_init(&r, &big);
	ck_assert_int_eq(proto_feed(&r, h, 5, record_sink, &s), 0);
	ck_assert_int_eq(proto_feed(&r, payload, 10, record_sink, &s), 0);
	ck_assert_uint_le(r.alloc, 4096);
	for (k = 10; k < sizeof(payload); k += 1000) {
		size_t n = sizeof(payload) - k < 1000 ? sizeof(payload) - k : 1000;

		ck_assert_int_eq(proto_feed(&r, payload + k, n, record_sink, &s), 0);
		ck_assert_uint_le(r.alloc, sizeof(payload));
	}
	ck_assert_int_eq(s.n, 1);
	ck_assert_uint_eq(s.len[0], sizeof(payload));
	ck_assert_mem_eq(s.data[0], payload, sizeof(payload));
	seen_free(&s);
	proto_reader_free(&r);
}
END_TEST

START_TEST(unknown_type)
{
	static const uint8_t types[] = { 'Z', 0, 'o', 'x', 0xff };
	size_t i;

	for (i = 0; i < sizeof(types); i++) {
		uint8_t buf[64];
		size_t n = 0;
		struct proto_reader r;
		struct seen s = { 0 };

		put(buf, &n, 'O', "ok", 2);
		put(buf, &n, types[i], "", 0);
		proto_reader_init(&r, &lim);
		ck_assert_int_eq(proto_feed(&r, buf, n, record_sink, &s), -EPROTO);
		ck_assert_int_eq(s.n, 1);
		seen_free(&s);
		proto_reader_free(&r);
	}
}
END_TEST

START_TEST(bytes_after_status)
{
	uint8_t buf[256];
	size_t n = sample(buf);
	struct proto_reader r;
	struct seen s = { 0 };

	/* In the same feed. */
	buf[n] = 'O';
	proto_reader_init(&r, &lim);
	ck_assert_int_eq(proto_feed(&r, buf, n + 1, record_sink, &s), -EPROTO);
	check_sample(&s);
	seen_free(&s);
	proto_reader_free(&r);

	/* In a later feed, even a single byte. */
	proto_reader_init(&r, &lim);
	ck_assert_int_eq(proto_feed(&r, buf, n, record_sink, &s), 0);
	ck_assert_int_eq(proto_feed(&r, (const uint8_t *)"\0", 1, record_sink, &s), -EPROTO);
	ck_assert_int_eq(s.n, 7);
	seen_free(&s);
	proto_reader_free(&r);
}
END_TEST

START_TEST(empty_status_is_last)
{
	uint8_t buf[16];
	size_t n = 0;
	struct proto_reader r;
	struct seen s = { 0 };

	put(buf, &n, 'X', "", 0);
	proto_reader_init(&r, &lim);
	ck_assert_int_eq(proto_feed(&r, buf, n, record_sink, &s), 0);
	ck_assert_int_eq(r.done, 1);
	ck_assert_int_eq(s.n, 1);
	ck_assert_uint_eq(s.len[0], 0);
	seen_free(&s);
	proto_reader_free(&r);
}
END_TEST

START_TEST(truncated_stream_not_done)
{
	uint8_t buf[256];
	size_t n = sample(buf);
	struct proto_reader r;
	struct seen s = { 0 };

	proto_reader_init(&r, &lim);
	ck_assert_int_eq(proto_feed(&r, buf, n - 1, record_sink, &s), 0);
	ck_assert_int_eq(r.done, 0);
	ck_assert_int_eq(s.n, 6);
	seen_free(&s);
	proto_reader_free(&r);
}
END_TEST

START_TEST(sink_stops)
{
	uint8_t buf[256];
	size_t n = sample(buf);
	size_t first[2] = { n, 9 };   /* whole, and split inside the first record */
	int k;

	for (k = 0; k < 2; k++) {
		struct proto_reader r;
		struct seen s = { .stop_at = 2 };
		int rc;

		proto_reader_init(&r, &lim);
		rc = proto_feed(&r, buf, first[k], record_sink, &s);
		if (rc == 0)
			rc = proto_feed(&r, buf + first[k], n - first[k], record_sink, &s);
		ck_assert_int_eq(rc, 7);
		ck_assert_int_eq(s.n, 2);
		ck_assert_int_eq(r.done, 0);
		seen_free(&s);
		proto_reader_free(&r);
	}
}
END_TEST

START_TEST(free_accepts_null)
{
	struct proto_reader r;

	proto_reader_free(NULL);
	proto_reader_init(&r, &lim);
	proto_reader_free(&r);
	proto_reader_free(&r);
}
END_TEST

static Suite *protocol_suite(void)
{
	Suite *s = suite_create("protocol");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, job_header);
	tcase_add_test(tc, whole_stream);
	tcase_add_test(tc, split_at_every_byte);
	tcase_add_test(tc, one_byte_at_a_time);
	tcase_add_test(tc, empty_feed);
	tcase_add_test(tc, over_cap_before_allocation);
	tcase_add_test(tc, grows_with_arrivals);
	tcase_add_test(tc, unknown_type);
	tcase_add_test(tc, bytes_after_status);
	tcase_add_test(tc, empty_status_is_last);
	tcase_add_test(tc, truncated_stream_not_done);
	tcase_add_test(tc, sink_stops);
	tcase_add_test(tc, free_accepts_null);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(protocol_suite(), CK_NORMAL);
}
