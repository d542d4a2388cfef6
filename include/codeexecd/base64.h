/* Base64 (RFC 4648, standard alphabet, '=' padding required) as FastAPI
 * clients send it, and the encoder for answers. The decoder ignores ASCII
 * whitespace (space, \t, \r, \n) anywhere, since MIME-wrapped input is
 * legitimate, and accepts non-zero trailing bits before the padding, as
 * Python and Node do. */
#ifndef CODEEXECD_BASE64_H
#define CODEEXECD_BASE64_H

#include <stddef.h>

/* The value of a hex digit (either case), or -1 (base16, RFC 4648 s. 8: for
 * JSON's uXXXX escapes and the keys file's digests). */
int base16_digit(char c);

/* Returns 0 with *out (malloc'ed, NUL-terminated, the NUL not counted) and
 * *outlen, or -EINVAL on a character outside the alphabet and whitespace, bad
 * padding ('=' anywhere but at the end), or a count of significant
 * characters that is not a multiple of 4, or -ENOMEM. Empty input (or only
 * whitespace) decodes to empty output. */
int base64_decode(const char *in, size_t inlen, unsigned char **out, size_t *outlen);
/* Encodes in from *pos on into out (room bytes), whole 4-character groups
 * only (the last one padded); advances *pos; returns the characters
 * written. For answers written piece by piece. */
size_t base64_encode_part(const unsigned char *in, size_t inlen, size_t *pos, char *out,
			  size_t room);
/* The length of the encoding of inlen bytes. */
size_t base64_encoded_len(size_t inlen);
/* Returns a malloc'ed NUL-terminated string or NULL. */
char *base64_encode(const unsigned char *in, size_t inlen);

#endif
