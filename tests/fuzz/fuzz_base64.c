/* libFuzzer target: base64_decode and base64_encode.
 *
 * Invariants: decoding either fails with -EINVAL or gives at most 3/4 of the
 * significant input characters, NUL-terminated; what decodes re-encodes to
 * the same significant characters up to the trailing bits (decoded again it
 * gives the same bytes); any bytes encode to canonical base64 (length a
 * multiple of 4, only the alphabet and final '=') that decodes back to them.
 * The input is an exact-size heap copy without a NUL. */
#include <errno.h>

#include "codeexecd/base64.h"

#include "fuzz.h"

static bool alphabet(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

static void check_canonical(const char *enc, size_t rawlen)
{
	size_t n = strlen(enc);

	FUZZ_ASSERT(n == (rawlen + 2) / 3 * 4, "encoded length %zu for %zu bytes", n, rawlen);
	for (size_t i = 0; i < n; i++) {
		bool pad_ok = i >= n - 2 && enc[i] == '=' && (i == n - 1 || enc[n - 1] == '=');
		FUZZ_ASSERT(alphabet((unsigned char)enc[i]) || pad_ok, "byte %zu of %s", i, enc);
	}
}

static void round_trip(const uint8_t *raw, size_t len)
{
	char *enc = base64_encode(raw, len);
	unsigned char *dec = NULL;
	size_t declen = 0;

	FUZZ_ASSERT(enc != NULL, "encode failed");
	check_canonical(enc, len);
	FUZZ_ASSERT(base64_decode(enc, strlen(enc), &dec, &declen) == 0, "own output refused");
	FUZZ_ASSERT(declen == len && (len == 0 || memcmp(dec, raw, len) == 0), "round trip");
	FUZZ_ASSERT(dec[declen] == '\0', "no NUL");
	free(dec);
	free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = (char *)fuzz_dup(data, size);
	unsigned char *out = (unsigned char *)in; /* must be overwritten */
	size_t outlen = (size_t)-1, significant = 0;
	int rc;

	for (size_t i = 0; i < size; i++)
		if (!strchr(" \t\r\n", data[i]) || data[i] == '\0')
			significant++;
	rc = base64_decode(in, size, &out, &outlen);
	FUZZ_ASSERT(rc == 0 || rc == -EINVAL, "rc %d", rc);
	if (rc == 0) {
		FUZZ_ASSERT(significant % 4 == 0, "accepted %zu significant characters", significant);
		FUZZ_ASSERT(outlen <= significant / 4 * 3, "%zu bytes from %zu", outlen, significant);
		FUZZ_ASSERT(out != NULL && out[outlen] == '\0', "output not NUL-terminated");
		round_trip(out, outlen);
		free(out);
	}
	round_trip(data, size);
	free(in);
	return 0;
}
