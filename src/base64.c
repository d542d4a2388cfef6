/* Base64 (RFC 4648 section 4): the standard alphabet with '=' padding. The
 * decoder is strict about the alphabet and the padding and lenient about
 * ASCII whitespace, which MIME-wrapped input legitimately carries. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "codeexecd/base64.h"

int base16_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static const char alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The 6-bit value of an alphabet character, or -1. */
static int sextet(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

static bool is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The decoding state: the quantum being collected and how it ended. */
struct quantum {
	uint32_t bits;      /* the sextets seen so far, most significant first */
	int n;              /* characters of the quantum seen, '=' included */
	int pad;            /* '=' characters in it */
	bool finished;      /* a padded quantum ended the input */
};

/* Takes one significant character. Writes the quantum's bytes to *o when it
 * is complete. Returns 0 or -EINVAL. Trailing bits in a padded quantum are
 * not checked (Python and Node accept them too). */
static int take(struct quantum *q, unsigned char c, unsigned char **o)
{
	int v = sextet(c);

	if (q->finished)
		return -EINVAL;                 /* anything after the padding */
	if (c == '=') {
		if (q->n < 2)
			return -EINVAL;         /* "=" or "x=" cannot end a quantum */
		q->pad++;
		v = 0;
	} else if (v < 0 || q->pad > 0) {
		return -EINVAL;                 /* outside the alphabet, or "x=x" */
	}
	q->bits = (q->bits << 6) | (uint32_t)v;
	if (++q->n < 4)
		return 0;
	*(*o)++ = (unsigned char)(q->bits >> 16);
	if (q->pad < 2)
		*(*o)++ = (unsigned char)(q->bits >> 8);
	if (q->pad < 1)
		*(*o)++ = (unsigned char)q->bits;
	q->finished = q->pad > 0;
	q->bits = 0;
	q->n = 0;
	q->pad = 0;
	return 0;
}

int base64_decode(const char *in, size_t inlen, unsigned char **out, size_t *outlen)
{
	struct quantum q = { 0 };
	unsigned char *buf, *o;
	size_t i;
	int rc = 0;

	/* At most inlen / 4 quanta of 3 bytes, plus the NUL: cannot overflow. */
	buf = malloc(inlen / 4 * 3 + 1);
	if (!buf)
		return -ENOMEM;
	o = buf;
	for (i = 0; i < inlen && rc == 0; i++) {
		unsigned char c = (unsigned char)in[i];

		if (!is_space(c))
			rc = take(&q, c, &o);
	}
	if (rc == 0 && q.n != 0)
		rc = -EINVAL;                   /* an incomplete quantum */
	if (rc != 0)
		goto out;
	*o = '\0';
	*outlen = (size_t)(o - buf);
	*out = buf;
	buf = NULL;
out:
	free(buf);
	return rc;
}

size_t base64_encode_part(const unsigned char *in, size_t inlen, size_t *pos, char *out,
			  size_t room)
{
	size_t i = *pos, w = 0;

	for (; i + 2 < inlen && w + 4 <= room; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		out[w++] = alphabet[v >> 18 & 63];
		out[w++] = alphabet[v >> 12 & 63];
		out[w++] = alphabet[v >> 6 & 63];
		out[w++] = alphabet[v & 63];
	}
	if (i < inlen && i + 2 >= inlen && w + 4 <= room) {
		uint32_t v = (uint32_t)in[i] << 16;

		if (i + 1 < inlen)
			v |= (uint32_t)in[i + 1] << 8;
		out[w++] = alphabet[v >> 18 & 63];
		out[w++] = alphabet[v >> 12 & 63];
		out[w++] = i + 1 < inlen ? alphabet[v >> 6 & 63] : '=';
		out[w++] = '=';
		i = inlen;
	}
	*pos = i;
	return w;
}

size_t base64_encoded_len(size_t inlen)
{
	return (inlen / 3 + (inlen % 3 != 0)) * 4;
}

char *base64_encode(const unsigned char *in, size_t inlen)
{
	size_t quanta = inlen / 3 + (inlen % 3 != 0), pos = 0, n;
	char *buf;

	if (quanta > (SIZE_MAX - 1) / 4)
		return NULL;
	buf = malloc(quanta * 4 + 1);
	if (!buf)
		return NULL;
	n = base64_encode_part(in, inlen, &pos, buf, quanta * 4);
	buf[n] = '\0';
	return buf;
}
