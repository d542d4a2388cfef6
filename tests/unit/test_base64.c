/* Unit tests of src/base64.c. */
#include <check.h>

#include "../check_run.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codeexecd/base64.h"

/* Decodes s; returns the result code, with the output compared to want. */
static int decode_is(const char *s, const char *want)
{
	unsigned char *out = NULL;
	size_t len = 0;
	int rc = base64_decode(s, strlen(s), &out, &len);

	if (rc == 0) {
		ck_assert_uint_eq(len, strlen(want));
		ck_assert_mem_eq(out, want, len);
		ck_assert_int_eq(out[len], '\0');
		free(out);
	}
	return rc;
}

static void encode_is(const char *s, const char *want)
{
	char *out = base64_encode((const unsigned char *)s, strlen(s));

	ck_assert_ptr_nonnull(out);
	ck_assert_str_eq(out, want);
	free(out);
}

/* RFC 4648 section 10. */
static const char *const vectors[][2] = {
	{ "", "" },           { "f", "Zg==" },         { "fo", "Zm8=" },
	{ "foo", "Zm9v" },    { "foob", "Zm9vYg==" },  { "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};

START_TEST(rfc4648_decode)
{
	ck_assert_int_eq(decode_is(vectors[_i][1], vectors[_i][0]), 0);
}
END_TEST

START_TEST(rfc4648_encode)
{
	encode_is(vectors[_i][0], vectors[_i][1]);
}
END_TEST

START_TEST(whole_alphabet)
{
	static const unsigned char bytes[] = {
		0x00, 0x10, 0x83, 0x10, 0x51, 0x87, 0x20, 0x92, 0x8b, 0x30, 0xd3, 0x8f,
		0x41, 0x14, 0x93, 0x51, 0x55, 0x97, 0x61, 0x96, 0x9b, 0x71, 0xd7, 0x9f,
		0x82, 0x18, 0xa3, 0x92, 0x59, 0xa7, 0xa2, 0x9a, 0xab, 0xb2, 0xdb, 0xaf,
		0xc3, 0x1c, 0xb3, 0xd3, 0x5d, 0xb7, 0xe3, 0x9e, 0xbb, 0xf3, 0xdf, 0xbf,
	};
	const char *b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *enc = base64_encode(bytes, sizeof(bytes));
	unsigned char *dec = NULL;
	size_t len = 0;

	ck_assert_str_eq(enc, b64);
	ck_assert_int_eq(base64_decode(b64, strlen(b64), &dec, &len), 0);
	ck_assert_uint_eq(len, sizeof(bytes));
	ck_assert_mem_eq(dec, bytes, len);
	free(enc);
	free(dec);
}
END_TEST

START_TEST(whitespace_ignored)
{
	ck_assert_int_eq(decode_is("Zm9v\r\nYmFy\r\n", "foobar"), 0);
	ck_assert_int_eq(decode_is(" Z m 9 v\tY g = = \n", "foob"), 0);
	ck_assert_int_eq(decode_is("Zm9vYg=\n=", "foob"), 0);
	ck_assert_int_eq(decode_is(" \t\r\n", ""), 0);
}
END_TEST

START_TEST(bad_characters)
{
	static const char *const bad[] = {
		"Zm9v-mFy", "Zm9v_mFy", "Zm9v\vYmFy", "Zm9v\fYmFy", "Zm9v.", "Zm9vYmF\x80",
		"Zm9vYmFy\xff", "Zg==\xc3\xa9",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_int_eq(decode_is(bad[i], ""), -EINVAL);
}
END_TEST

START_TEST(embedded_nul)
{
	unsigned char *out = NULL;
	size_t len = 0;

	ck_assert_int_eq(base64_decode("Zm9v\0Zm9v", 9, &out, &len), -EINVAL);
	ck_assert_ptr_null(out);
}
END_TEST

START_TEST(bad_padding)
{
	static const char *const bad[] = {
		"Zg", "Zg=", "Zm9", "Z", "Zm9vY", "=", "==", "===", "====", "Z===",
		"Zg===", "Zm9v=", "Zm9v====", "Zg==Zg==", "Zg==\nZm9v", "Zm=v", "Z=9v",
		"Zm8=Zm8=", "Zm8==", "Zg=A",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(decode_is(bad[i], "") == -EINVAL, "accepted \"%s\"", bad[i]);
}
END_TEST

START_TEST(trailing_bits_accepted)
{
	/* "Zh==" and "Zm9=" carry non-zero bits past the data. */
	ck_assert_int_eq(decode_is("Zh==", "f"), 0);
	ck_assert_int_eq(decode_is("Zm9=", "fo"), 0);
}
END_TEST

START_TEST(empty_input)
{
	unsigned char *out = NULL;
	size_t len = 99;

	ck_assert_int_eq(base64_decode("", 0, &out, &len), 0);
	ck_assert_ptr_nonnull(out);
	ck_assert_uint_eq(len, 0);
	ck_assert_int_eq(out[0], '\0');
	free(out);
}
END_TEST

START_TEST(hex_digits)
{
	ck_assert_int_eq(base16_digit('0'), 0);
	ck_assert_int_eq(base16_digit('9'), 9);
	ck_assert_int_eq(base16_digit('a'), 10);
	ck_assert_int_eq(base16_digit('F'), 15);
	ck_assert_int_eq(base16_digit('g'), -1);
	ck_assert_int_eq(base16_digit('/'), -1);
	ck_assert_int_eq(base16_digit('\0'), -1);
}
END_TEST

START_TEST(outputs_untouched_on_error)
{
	unsigned char *out = (unsigned char *)"sentinel";
	size_t len = 42;

	ck_assert_int_eq(base64_decode("Zg=", 3, &out, &len), -EINVAL);
	ck_assert_str_eq((const char *)out, "sentinel");
	ck_assert_uint_eq(len, 42);
}
END_TEST

START_TEST(round_trip_random)
{
	unsigned char data[1027];
	size_t n, i;

	srand(12345);
	for (n = 0; n < sizeof(data); n += (n < 64 ? 1 : 97)) {
		unsigned char *dec = NULL;
		size_t len = 0;
		char *enc;

		for (i = 0; i < n; i++)
			data[i] = (unsigned char)rand();
		enc = base64_encode(data, n);
		ck_assert_ptr_nonnull(enc);
		ck_assert_uint_eq(strlen(enc), (n + 2) / 3 * 4);
		ck_assert_int_eq(base64_decode(enc, strlen(enc), &dec, &len), 0);
		ck_assert_uint_eq(len, n);
		if (n > 0)
			ck_assert_mem_eq(dec, data, n);
		free(enc);
		free(dec);
	}
}
END_TEST

START_TEST(encode_huge_length)
{
	/* The length check comes before any read of the input. */
	ck_assert_ptr_null(base64_encode((const unsigned char *)"", (size_t)-1));
	ck_assert_ptr_null(base64_encode((const unsigned char *)"", (size_t)-1 / 4 * 3 + 1));
}
END_TEST

static Suite *base64_suite(void)
{
	Suite *s = suite_create("base64");
	TCase *tc = tcase_create("core");
	int nvec = (int)(sizeof(vectors) / sizeof(vectors[0]));

	tcase_add_loop_test(tc, rfc4648_decode, 0, nvec);
	tcase_add_loop_test(tc, rfc4648_encode, 0, nvec);
	tcase_add_test(tc, whole_alphabet);
	tcase_add_test(tc, whitespace_ignored);
	tcase_add_test(tc, bad_characters);
	tcase_add_test(tc, embedded_nul);
	tcase_add_test(tc, bad_padding);
	tcase_add_test(tc, trailing_bits_accepted);
	tcase_add_test(tc, empty_input);
	tcase_add_test(tc, outputs_untouched_on_error);
	tcase_add_test(tc, hex_digits);
	tcase_add_test(tc, round_trip_random);
	tcase_add_test(tc, encode_huge_length);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(base64_suite(), CK_NORMAL);
}
