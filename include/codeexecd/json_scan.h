/* A JSON scanner that checks a document and walks it without building it:
 * values are spans of the text, and only the members a caller asks for are
 * decoded. An /execute body is parsed in place this way, so that unknown
 * members (a 60 MiB array, say) cost nothing but the time to skip them.
 * Pure; no allocation except json_string_decode's result. */
#ifndef CODEEXECD_JSON_SCAN_H
#define CODEEXECD_JSON_SCAN_H

#include <stdbool.h>
#include <stddef.h>

#define JSON_SCAN_DEPTH_MAX 1000   /* nesting, as cJSON's and Python's limits */

enum json_kind {
	JSON_KIND_STRING, JSON_KIND_NUMBER, JSON_KIND_OBJECT, JSON_KIND_ARRAY,
	JSON_KIND_TRUE, JSON_KIND_FALSE, JSON_KIND_NULL,
};

/* One value: its kind and where its text is ([off, off + len) of the
 * document; a string's span includes its quotes). */
struct json_span {
	enum json_kind kind;
	size_t off;
	size_t len;
	bool escaped;  /* strings: the text holds at least one backslash escape */
};

/* Checks that text[0..len) is one JSON value (RFC 8259: what Python's json
 * module reads, without its NaN and Infinity extensions) with optional
 * whitespace around it. Raw control characters inside strings, lone UTF-16
 * surrogate escapes and nesting deeper than JSON_SCAN_DEPTH_MAX are refused.
 * The text is not checked for UTF-8 (see utf8.h). Returns 0 with *root, or
 * -EINVAL with *bad the byte offset where the text stops being JSON. */
int json_scan(const char *text, size_t len, struct json_span *root, size_t *bad);

/* Iterates the members of an object span of a checked document: *pos
 * starts at 0. Returns true with the member's key (a string span) and
 * value, false after the last one. */
bool json_object_next(const char *text, const struct json_span *obj, size_t *pos,
		      struct json_span *key, struct json_span *value);
/* The number of members (duplicates included) of an object span. */
size_t json_object_count(const char *text, const struct json_span *obj);

/* The same for the items of an array span. */
bool json_array_next(const char *text, const struct json_span *arr, size_t *pos,
		     struct json_span *item);
size_t json_array_count(const char *text, const struct json_span *arr);

/* Decodes a string span of a checked document into a malloc'ed buffer,
 * NUL-terminated (the text itself may hold NULs: *outlen says how long it
 * is). Returns 0 or -ENOMEM. */
int json_string_decode(const char *text, const struct json_span *s, char **out,
		       size_t *outlen);
/* True when the string span decodes to exactly word (a NUL-terminated
 * ASCII word); allocates nothing. */
bool json_string_is(const char *text, const struct json_span *s, const char *word);

#endif
