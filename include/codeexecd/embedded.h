/* Files built into the binary by tools/embed (see the Makefile). */
#ifndef CODEEXECD_EMBEDDED_H
#define CODEEXECD_EMBEDDED_H

#include <stddef.h>

struct embedded_file {
	const char *name;           /* e.g. "openapi.json", "swagger-ui-bundle.js" */
	const unsigned char *data;  /* NUL-terminated for convenience */
	size_t len;
	const char *etag;           /* quoted strong ETag of the content */
};

/* The named embedded file, or NULL. */
const struct embedded_file *embedded_find(const char *name);

#endif
