/* libFuzzer target: what codeexecd reads from the Docker engine's answers:
 * the error text of a failed call, the API version of /_ping, and the
 * inspect, wait and container-list answers.
 *
 * Input: two bytes of HTTP status and one of the error buffer's size, then
 * the body (an exact-size heap copy with its NUL, as curl's buffer is).
 * Invariants: the error text is NUL-terminated, within the buffer and
 * CXD_DOCKER_ERROR_TEXT_MAX, without trailing white space, the JSON
 * "message" when there is one; 404 maps to -ENOENT, other errors to -EIO;
 * a negotiated version is "1.41".."1.43" and min(engine, 1.43) for a plain
 * "1.N"; the parsers return 0 or -EPROTO (wait: or -EIO), with a message on
 * failure, and every listed id is a string. */
#include <ctype.h>
#include <errno.h>

#include <cjson/cJSON.h>

#include "../../src/docker_internal.h"

#include "fuzz.h"

static void check_text(const char *body, long status, size_t buflen)
{
	char *text = malloc(buflen ? buflen : 1);
	cJSON *j = cJSON_Parse(body);
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");
	size_t n;

	if (!text)
		abort();
	docker_engine_text(body, status, text, buflen);
	if (buflen > 0) {
		n = strnlen(text, buflen);
		FUZZ_ASSERT(n < buflen, "not NUL-terminated");
		FUZZ_ASSERT(n <= CXD_DOCKER_ERROR_TEXT_MAX, "%zu bytes", n);
		FUZZ_ASSERT(n == 0 || !isspace((unsigned char)text[n - 1]), "trailing space");
		if (cJSON_IsString(m) && m->valuestring[0] && !isspace((unsigned char)m->valuestring[0]))
			FUZZ_ASSERT(strncmp(text, m->valuestring, n) == 0, "not the message");
	}
	cJSON_Delete(j);
	free(text);
}

static void check_error(const char *body, long status)
{
	char err[CXD_ERR_MAX] = "";
	int rc = docker_engine_error(status, body, "create container", err, sizeof(err));

	FUZZ_ASSERT(rc == (status == 404 ? -ENOENT : -EIO), "rc %d for %ld", rc, status);
	FUZZ_ASSERT(strncmp(err, "create container: ", 18) == 0, "err %s", err);
}

static void check_version(const char *body)
{
	char v[DOCKER_API_VERSION_MAX];
	int rc = docker_negotiate_version(body, v, sizeof(v));
	char *end;
	long minor;

	FUZZ_ASSERT(rc == 0 || rc == -EPROTO, "rc %d", rc);
	if (rc == 0)
		FUZZ_ASSERT(strcmp(v, "1.41") == 0 || strcmp(v, "1.42") == 0 ||
			    strcmp(v, "1.43") == 0, "version %s from %s", v, body);
	if (strncmp(body, "1.", 2) == 0 && isdigit((unsigned char)body[2])) {
		errno = 0;
		minor = strtol(body + 2, &end, 10);
		if (*end == '\0' && errno == 0 && minor >= 41) {
			FUZZ_ASSERT(rc == 0, "1.%ld refused", minor);
			FUZZ_ASSERT(atol(v + 2) == (minor < 43 ? minor : 43), "%s for %s", v, body);
		}
		if (*end == '\0' && errno == 0 && minor < 41)
			FUZZ_ASSERT(rc == -EPROTO, "1.%ld accepted", minor);
	}
}

static void check_parsers(const char *body)
{
	char err[CXD_ERR_MAX] = "";
	struct docker_state st;
	char **ids = NULL;
	size_t n = 0;
	int code, rc;

	rc = docker_parse_state(body, &st, err, sizeof(err));
	FUZZ_ASSERT(rc == 0 || (rc == -EPROTO && err[0]), "state rc %d", rc);
	err[0] = '\0';
	rc = docker_parse_wait(body, &code, err, sizeof(err));
	FUZZ_ASSERT(rc == 0 || ((rc == -EPROTO || rc == -EIO) && err[0]), "wait rc %d", rc);
	err[0] = '\0';
	rc = docker_parse_ids(body, &ids, &n, err, sizeof(err));
	FUZZ_ASSERT(rc == 0 || (rc == -EPROTO && err[0]), "ids rc %d", rc);
	if (rc == 0) {
		FUZZ_ASSERT(ids != NULL, "no array");
		for (size_t i = 0; i < n; i++)
			FUZZ_ASSERT(ids[i] != NULL, "id %zu", i);
		docker_free_ids(ids, n);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_cursor c = { data, size };
	long status = (long)fuzz_u16(&c) % 600;
	size_t buflen = fuzz_byte(&c) * 4;
	char *body = fuzz_strdup(c.data, c.len);

	check_text(body, status, buflen);
	check_error(body, status);
	check_version(body);
	check_parsers(body);
	check_text(NULL, status, buflen);
	free(body);
	return 0;
}
