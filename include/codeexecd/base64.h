/* Strict base64 (RFC 4648, standard alphabet, padding required, no
 * whitespace) as FastAPI clients send it, and the encoder for answers. */
#ifndef CODEEXECD_BASE64_H
#define CODEEXECD_BASE64_H

#include <stddef.h>

/* Returns 0 with *out (malloc'ed, NUL-terminated) and *outlen, or -EINVAL on
 * a character outside the alphabet, bad padding or a length not a multiple of
 * 4, or -ENOMEM. */
int base64_decode(const char *in, size_t inlen, unsigned char **out, size_t *outlen);
/* Returns a malloc'ed NUL-terminated string or NULL. */
char *base64_encode(const unsigned char *in, size_t inlen);

#endif
