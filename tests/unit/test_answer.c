/* Unit tests of the streamed /execute answer: byte for byte what cJSON
 * prints for the same result, whatever the write sizes, with the length
 * announced beforehand. No server, no engine. */
#include <check.h>

#include "../check_run.h"
#include <stdlib.h>
#include <string.h>

#include "codeexecd/answer.h"
#include "codeexecd/api.h"

/* Streams a (taken) in writes of room bytes; returns the text. */
static char *stream_all(struct answer *a, size_t room, size_t *len)
{
	size_t cap = answer_size(a) + 1, n;
	char *out = malloc(cap + room), *buf = malloc(room);

	*len = 0;
	while ((n = answer_read(a, buf, room)) > 0) {
		ck_assert_uint_le(n, room);
		ck_assert_uint_le(*len + n, cap);
		memcpy(out + *len, buf, n);
		*len += n;
	}
	out[*len] = '\0';
	free(buf);
	return out;
}

static struct exec_result sample(size_t nfiles, unsigned seed)
{
	struct exec_result r = { .success = seed & 1, .exit_code = (int)(seed % 7) - 1,
				 .timed_out = seed & 2, .oom_killed = seed & 4,
				 .output_truncated = seed & 8, .duration_ms = (long)seed * 37 };
	size_t n = 50 + seed % 300;

	r.output = malloc(n + 1);
	for (size_t i = 0; i < n; i++)
		r.output[i] = (char)(1 + (i * 31 + seed) % 127); /* controls, quotes, backslashes */
	r.output[n] = '\0';
	r.output_len = n;
	r.error = strdup("caf\xc3\xa9 \"x\"\n\t\\ /");
	r.error_len = strlen(r.error);
	r.nfiles = nfiles;
	r.files = nfiles ? calloc(nfiles, sizeof(*r.files)) : NULL;
	for (size_t f = 0; f < nfiles; f++) {
		r.files[f].name = strdup(f % 2 ? "d\"ir/o\\ut.csv" : "a.csv");
		if (f % 2 == 0)
			r.files[f].name[0] = (char)('a' + f);
		r.files[f].len = (f * 13 + seed) % 50;
		r.files[f].data = malloc(r.files[f].len + 1);
		for (size_t i = 0; i < r.files[f].len; i++)
			r.files[f].data[i] = (unsigned char)(i * 7 + f);
	}
	return r;
}

START_TEST(test_same_as_cjson)
{
	static const size_t rooms[] = { 16, 17, 23, 64, 4096 };

	for (unsigned seed = 0; seed < 40; seed++) {
		struct exec_result r = sample(seed % 4, seed);
		cJSON *obj = api_render_result(&r, "abcd1234");
		char *want = cJSON_PrintUnformatted(obj);
		size_t room = rooms[seed % 5], len;
		struct answer *a;
		char *got;

		cJSON_Delete(obj);
		a = answer_new(&r, "abcd1234");
		ck_assert_ptr_nonnull(a);
		ck_assert_ptr_null(r.output); /* taken */
		ck_assert_uint_eq(answer_size(a), strlen(want));
		got = stream_all(a, room, &len);
		ck_assert_uint_eq(len, strlen(want));
		ck_assert_str_eq(got, want);
		answer_free(a);
		free(got);
		free(want);
	}
}
END_TEST

START_TEST(test_escape_resumes)
{
	const char *s = "a\"\x01\\\n";
	char out[8];
	size_t pos = 0, n;

	/* Room for "a" and part of \" only: the escape is not cut. */
	n = answer_escape(s, strlen(s), &pos, out, 2);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(pos, 1);
	n = answer_escape(s, strlen(s), &pos, out, 7);
	ck_assert_uint_eq(n, 2);
	ck_assert(memcmp(out, "\\\"", 2) == 0);
	n = answer_escape(s, strlen(s), &pos, out, 7);
	ck_assert_uint_eq(n, 6);
	ck_assert(memcmp(out, "\\u0001", 6) == 0);
	ck_assert_uint_eq(answer_escaped_len(s, strlen(s)), 1 + 2 + 6 + 2 + 2);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("answer");
	TCase *tc = tcase_create("answer");

	tcase_add_test(tc, test_same_as_cjson);
	tcase_add_test(tc, test_escape_resumes);
	suite_add_tcase(s, tc);
	return check_run(s, CK_NORMAL);
}
