/* The ExecutionResponse of /execute written piece by piece, so that an
 * answer costs little more than the result it carries: strings are escaped
 * and files base64-encoded as the socket takes them (no JSON tree, no copy
 * of the whole text), and each file is freed once it is written. Its exact
 * length is known beforehand (the answer gets a Content-Length). The same
 * pieces (answer_escape, base64_encode_part) serve a streaming sink. Pure. */
#ifndef CODEEXECD_ANSWER_H
#define CODEEXECD_ANSWER_H

#include <stddef.h>
#include <sys/types.h>

#include "codeexecd/execution.h"

struct answer;

/* Takes res (its contents; *res is zeroed) and the execution id. NULL on
 * ENOMEM (res is then freed). */
struct answer *answer_new(struct exec_result *res, const char *exec_id);
/* The total length in bytes of the JSON text. */
size_t answer_size(const struct answer *a);
/* Writes the next at most room (>= 16) bytes to buf; returns how many, 0
 * at the end. */
size_t answer_read(struct answer *a, char *buf, size_t room);
/* Accepts NULL. */
void answer_free(struct answer *a);

/* JSON string escaping as cJSON prints it, resumable: escapes s[*pos..len)
 * into out (room bytes) without cutting an escape; advances *pos. */
size_t answer_escape(const char *s, size_t len, size_t *pos, char *out, size_t room);
/* The escaped length of s[0..len). */
size_t answer_escaped_len(const char *s, size_t len);

#endif
