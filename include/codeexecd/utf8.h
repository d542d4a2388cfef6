/* UTF-8 checks for what goes into JSON: request text is refused when it is
 * not UTF-8, output written by the code is repaired. Pure. */
#ifndef CODEEXECD_UTF8_H
#define CODEEXECD_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* True when s[0..len) is well-formed UTF-8 (no overlongs, no surrogates, at
 * most U+10FFFF). Otherwise *bad (if not NULL) is the offset of the first
 * byte that is not. */
bool utf8_valid(const char *s, size_t len, size_t *bad);

/* A malloc'ed NUL-terminated copy with every ill-formed sequence, and every
 * NUL byte (the text becomes a C string), replaced by U+FFFD; its length in
 * *outlen. NULL on ENOMEM. */
char *utf8_sanitize(const char *s, size_t len, size_t *outlen);

#endif
