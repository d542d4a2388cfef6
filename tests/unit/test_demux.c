/* Unit tests for demux.c: Docker's 8-byte-header stream frames. */
#include <check.h>

#include "../check_run.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codeexecd/demux.h"

#define COLLECT_MAX 4096

struct collect {
	char out[COLLECT_MAX];
	size_t out_len;
	char err[COLLECT_MAX];
	size_t err_len;
	char in[COLLECT_MAX];
	size_t in_len;
	int calls;
	int stop_after;   /* return stop_value from this call on (1-based); 0: never */
	int stop_value;
};

static int collect_sink(void *ctx, enum demux_stream stream, const uint8_t *data, size_t len)
{
	struct collect *c = ctx;
	char *buf = stream == DEMUX_STDOUT ? c->out : stream == DEMUX_STDERR ? c->err : c->in;
	size_t *have = stream == DEMUX_STDOUT ? &c->out_len
		     : stream == DEMUX_STDERR ? &c->err_len : &c->in_len;

	ck_assert_uint_gt(len, 0);
	ck_assert_uint_le(*have + len, COLLECT_MAX - 1);
	memcpy(buf + *have, data, len);
	*have += len;
	buf[*have] = '\0';
	c->calls++;
	if (c->stop_after > 0 && c->calls >= c->stop_after)
		return c->stop_value;
	return 0;
}

/* Appends one frame to buf at *len. */
static void put_frame(uint8_t *buf, size_t *len, uint8_t stream, const char *payload)
{
	size_t n = strlen(payload);

	buf[*len + 0] = stream;
	buf[*len + 1] = 0;
	buf[*len + 2] = 0;
	buf[*len + 3] = 0;
	buf[*len + 4] = (uint8_t)(n >> 24);
	buf[*len + 5] = (uint8_t)(n >> 16);
	buf[*len + 6] = (uint8_t)(n >> 8);
	buf[*len + 7] = (uint8_t)n;
	memcpy(buf + *len + 8, payload, n);
	*len += 8 + n;
}

/* stdout "hello", stderr "err", an empty stdout frame, stdout " world",
 * an empty stderr frame, stderr "!\n". */
static size_t sample_stream(uint8_t *buf)
{
	size_t len = 0;

	put_frame(buf, &len, 1, "hello");
	put_frame(buf, &len, 2, "err");
	put_frame(buf, &len, 1, "");
	put_frame(buf, &len, 1, " world");
	put_frame(buf, &len, 2, "");
	put_frame(buf, &len, 2, "!\n");
	return len;
}

static void check_sample(const struct collect *c)
{
	ck_assert_str_eq(c->out, "hello world");
	ck_assert_str_eq(c->err, "err!\n");
	ck_assert_uint_eq(c->in_len, 0);
}

START_TEST(test_one_frame)
{
	uint8_t buf[64];
	size_t len = 0;
	struct demux dm;
	struct collect c = {0};

	put_frame(buf, &len, 1, "HELLO");
	demux_init(&dm);
	ck_assert(demux_at_boundary(&dm));
	ck_assert_int_eq(demux_feed(&dm, buf, len, collect_sink, &c), 0);
	ck_assert_str_eq(c.out, "HELLO");
	ck_assert_int_eq(c.calls, 1);
	ck_assert(demux_at_boundary(&dm));
}
END_TEST

START_TEST(test_several_frames_one_buffer)
{
	uint8_t buf[256];
	size_t len = sample_stream(buf);
	struct demux dm;
	struct collect c = {0};

	demux_init(&dm);
	ck_assert_int_eq(demux_feed(&dm, buf, len, collect_sink, &c), 0);
	check_sample(&c);
	ck_assert_int_eq(c.calls, 4);   /* empty frames never reach the sink */
	ck_assert(demux_at_boundary(&dm));
}
END_TEST

/* Two pieces, split at every byte boundary of the whole stream. */
START_TEST(test_split_every_boundary)
{
	uint8_t buf[256];
	size_t len = sample_stream(buf);

	for (size_t cut = 0; cut <= len; cut++) {
		struct demux dm;
		struct collect c = {0};

		demux_init(&dm);
		ck_assert_int_eq(demux_feed(&dm, buf, cut, collect_sink, &c), 0);
		ck_assert_int_eq(demux_feed(&dm, buf + cut, len - cut, collect_sink, &c), 0);
		check_sample(&c);
		ck_assert(demux_at_boundary(&dm));
	}
}
END_TEST

/* Three pieces, every pair of cut points. */
START_TEST(test_split_two_cuts)
{
	uint8_t buf[256];
	size_t len = sample_stream(buf);

	for (size_t a = 0; a <= len; a++) {
		for (size_t b = a; b <= len; b++) {
			struct demux dm;
			struct collect c = {0};

			demux_init(&dm);
			ck_assert_int_eq(demux_feed(&dm, buf, a, collect_sink, &c), 0);
			ck_assert_int_eq(demux_feed(&dm, buf + a, b - a, collect_sink, &c), 0);
			ck_assert_int_eq(demux_feed(&dm, buf + b, len - b, collect_sink, &c), 0);
			check_sample(&c);
		}
	}
}
END_TEST

START_TEST(test_byte_by_byte)
{
	uint8_t buf[256];
	size_t len = sample_stream(buf);
	struct demux dm;
	struct collect c = {0};

	demux_init(&dm);
	for (size_t i = 0; i < len; i++) {
		ck_assert_int_eq(demux_feed(&dm, buf + i, 1, collect_sink, &c), 0);
		if (i == 3)
			ck_assert(!demux_at_boundary(&dm));   /* inside the first header */
		if (i == 9)
			ck_assert(!demux_at_boundary(&dm));   /* inside "hello" */
	}
	check_sample(&c);
	ck_assert(demux_at_boundary(&dm));
}
END_TEST

START_TEST(test_zero_length_frames)
{
	uint8_t buf[64];
	size_t len = 0;
	struct demux dm;
	struct collect c = {0};

	put_frame(buf, &len, 1, "");
	put_frame(buf, &len, 2, "");
	put_frame(buf, &len, 0, "");
	demux_init(&dm);
	ck_assert_int_eq(demux_feed(&dm, buf, len, collect_sink, &c), 0);
	ck_assert_int_eq(c.calls, 0);
	ck_assert(demux_at_boundary(&dm));
	ck_assert_int_eq(demux_feed(&dm, NULL, 0, collect_sink, &c), 0);
	ck_assert_int_eq(c.calls, 0);
}
END_TEST

START_TEST(test_stdin_stream_id)
{
	uint8_t buf[64];
	size_t len = 0;
	struct demux dm;
	struct collect c = {0};

	put_frame(buf, &len, 0, "echo");
	demux_init(&dm);
	ck_assert_int_eq(demux_feed(&dm, buf, len, collect_sink, &c), 0);
	ck_assert_str_eq(c.in, "echo");
}
END_TEST

START_TEST(test_size_is_big_endian)
{
	const uint8_t head[8] = {1, 0, 0, 0, 0x00, 0x01, 0x02, 0x03};
	struct demux dm;
	struct collect c = {0};

	demux_init(&dm);
	ck_assert_int_eq(demux_feed(&dm, head, sizeof(head), collect_sink, &c), 0);
	ck_assert_uint_eq(dm.remaining, 0x010203u);
	ck_assert(!demux_at_boundary(&dm));
}
END_TEST

START_TEST(test_bad_stream_id)
{
	static const uint8_t ids[] = {3, 4, 0x80, 0xff};

	for (size_t i = 0; i < sizeof(ids); i++) {
		const uint8_t head[8] = {ids[i], 0, 0, 0, 0, 0, 0, 1};
		struct demux dm;
		struct collect c = {0};

		demux_init(&dm);
		ck_assert_int_eq(demux_feed(&dm, head, sizeof(head), collect_sink, &c), -EPROTO);
		ck_assert_int_eq(c.calls, 0);
	}
}
END_TEST

START_TEST(test_bad_padding)
{
	for (int pos = 1; pos <= 3; pos++) {
		uint8_t head[8] = {1, 0, 0, 0, 0, 0, 0, 1};
		struct demux dm;
		struct collect c = {0};

		head[pos] = 1;
		demux_init(&dm);
		ck_assert_int_eq(demux_feed(&dm, head, sizeof(head), collect_sink, &c), -EPROTO);
	}
}
END_TEST

/* A bad header after good frames; the error is sticky. */
START_TEST(test_bad_header_after_good_frames)
{
	uint8_t buf[128];
	size_t len = 0;
	struct demux dm;
	struct collect c = {0};

	put_frame(buf, &len, 1, "ok");
	memcpy(buf + len, "HTTP/1.1", 8);   /* the kind of thing a TTY stream sends */
	len += 8;
	demux_init(&dm);
	ck_assert_int_eq(demux_feed(&dm, buf, len, collect_sink, &c), -EPROTO);
	ck_assert_str_eq(c.out, "ok");
	ck_assert_int_eq(demux_feed(&dm, buf, 1, collect_sink, &c), -EPROTO);
	ck_assert_int_eq(demux_feed(&dm, NULL, 0, collect_sink, &c), -EPROTO);
	ck_assert(!demux_at_boundary(&dm));
}
END_TEST

/* The sink's non-zero value comes back; what it saw is consumed, and
 * feeding the rest goes on where it stopped. */
START_TEST(test_sink_stop_propagates)
{
	uint8_t buf[256];
	size_t len = sample_stream(buf);
	size_t first = 8 + 5 + 8 + 3;   /* through the "err" frame */
	struct demux dm;
	struct collect c = {.stop_after = 1, .stop_value = 42};

	demux_init(&dm);
	ck_assert_int_eq(demux_feed(&dm, buf, first, collect_sink, &c), 42);
	ck_assert_str_eq(c.out, "hello");
	ck_assert_uint_eq(c.err_len, 0);
	ck_assert(demux_at_boundary(&dm));

	c.stop_after = 0;
	ck_assert_int_eq(demux_feed(&dm, buf + 8 + 5, len - 8 - 5, collect_sink, &c), 0);
	check_sample(&c);
}
END_TEST

START_TEST(test_sink_stop_mid_frame)
{
	uint8_t buf[64];
	size_t len = 0;
	struct demux dm;
	struct collect c = {.stop_after = 1, .stop_value = -ECANCELED};

	put_frame(buf, &len, 2, "abcdef");
	demux_init(&dm);
	ck_assert_int_eq(demux_feed(&dm, buf, 8 + 2, collect_sink, &c), -ECANCELED);
	ck_assert_str_eq(c.err, "ab");
	ck_assert_uint_eq(dm.remaining, 4);
}
END_TEST

static Suite *demux_suite(void)
{
	Suite *s = suite_create("demux");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_one_frame);
	tcase_add_test(tc, test_several_frames_one_buffer);
	tcase_add_test(tc, test_split_every_boundary);
	tcase_add_test(tc, test_split_two_cuts);
	tcase_add_test(tc, test_byte_by_byte);
	tcase_add_test(tc, test_zero_length_frames);
	tcase_add_test(tc, test_stdin_stream_id);
	tcase_add_test(tc, test_size_is_big_endian);
	tcase_add_test(tc, test_bad_stream_id);
	tcase_add_test(tc, test_bad_padding);
	tcase_add_test(tc, test_bad_header_after_good_frames);
	tcase_add_test(tc, test_sink_stop_propagates);
	tcase_add_test(tc, test_sink_stop_mid_frame);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(demux_suite(), CK_NORMAL);
}
