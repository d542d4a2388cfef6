/* Base64 (RFC 4648, standard alphabet, '=' padding required) as FastAPI
 * clients send it, and the encoder for answers. The decoder ignores ASCII
 * whitespace (space, \t, \r, \n) anywhere, since MIME-wrapped input is
 * legitimate, and accepts non-zero trailing bits before the padding, as
 * Python and Node do. */
#ifndef CODEEXECD_BASE64_H
#define CODEEXECD_BASE64_H

#include <stddef.h>

/* Returns 0 with *out (malloc'ed, NUL-terminated, the NUL not counted) and
 * *outlen, or -EINVAL on a character outside the alphabet and whitespace, bad
 * padding ('=' anywhere but at the end), or a count of significant
 * characters that is not a multiple of 4, or -ENOMEM. Empty input (or only
 * whitespace) decodes to empty output. */
int base64_decode(const char *in, size_t inlen, unsigned char **out, size_t *outlen);
/* Returns a malloc'ed NUL-terminated string or NULL. */
char *base64_encode(const unsigned char *in, size_t inlen);

#endif
