/* libFuzzer target: the /execute body parser and validator (api_parse_execute)
 * and the answer renderer (api_render_result).
 *
 * Invariants: a body is either accepted with a request that keeps every rule
 * (code present and NUL-free, file names safe, unique, no file/directory
 * conflict, at most request.max_files, timeout 0 or 1..max, stdin under its
 * cap, output_include patterns of 1..127 bytes, at most 16) or refused with a FastAPI "detail" array whose every entry has a loc
 * starting with "body", a msg and a type; never both, never neither. An
 * accepted request's files, rendered as output files, come back from the
 * JSON text byte for byte. The body is an exact-size heap copy without a
 * terminating NUL, as the server hands it over. */
#include <errno.h>

#include <cjson/cJSON.h>

#include "codeexecd/api.h"
#include "codeexecd/base64.h"
#include "codeexecd/config.h"

#include "fuzz.h"

static void check_errors(const cJSON *errors)
{
	const cJSON *e;

	FUZZ_ASSERT(cJSON_IsArray(errors) && cJSON_GetArraySize(errors) > 0, "no detail entries");
	cJSON_ArrayForEach(e, errors) {
		const cJSON *loc = cJSON_GetObjectItemCaseSensitive(e, "loc");
		const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "msg");
		const cJSON *type = cJSON_GetObjectItemCaseSensitive(e, "type");
		const cJSON *part;

		FUZZ_ASSERT(cJSON_IsArray(loc) && cJSON_GetArraySize(loc) >= 1, "loc not a list");
		FUZZ_ASSERT(cJSON_IsString(loc->child) && strcmp(loc->child->valuestring, "body") == 0,
			    "loc does not start with body");
		cJSON_ArrayForEach(part, loc)
			FUZZ_ASSERT(cJSON_IsString(part) || cJSON_IsNumber(part), "loc element type");
		FUZZ_ASSERT(cJSON_IsString(msg) && msg->valuestring[0], "msg");
		FUZZ_ASSERT(cJSON_IsString(type) && type->valuestring[0], "type");
	}
	/* The answer must serialise (it is what the client gets). */
	char *text = cJSON_PrintUnformatted(errors);
	FUZZ_ASSERT(text != NULL, "detail does not print");
	cJSON *back = cJSON_Parse(text);
	FUZZ_ASSERT(back && cJSON_GetArraySize(back) == cJSON_GetArraySize(errors),
		    "detail does not parse back: %s", text);
	cJSON_Delete(back);
	cJSON_free(text);
}

/* The files, rendered as an answer's output_files, parse back identical. */
static void check_render(const struct exec_request *req)
{
	struct exec_result res = { .success = true, .output = (char *)"", .error = (char *)"",
				   .files = req->files, .nfiles = req->nfiles };
	cJSON *obj = api_render_result(&res, "0123abcd");
	char *text;
	cJSON *back;
	const cJSON *files;

	FUZZ_ASSERT(obj != NULL, "render failed");
	text = cJSON_PrintUnformatted(obj);
	FUZZ_ASSERT(text != NULL, "answer does not print");
	back = cJSON_Parse(text);
	FUZZ_ASSERT(back != NULL, "answer does not parse back");
	files = cJSON_GetObjectItemCaseSensitive(back, "output_files");
	if (req->nfiles == 0)
		FUZZ_ASSERT(cJSON_IsNull(files), "no files must be null");
	for (size_t i = 0; i < req->nfiles; i++) {
		const cJSON *f = cJSON_GetObjectItemCaseSensitive(files, req->files[i].name);
		unsigned char *data = NULL;
		size_t len = 0;

		FUZZ_ASSERT(cJSON_IsString(f), "file %s missing from the answer", req->files[i].name);
		FUZZ_ASSERT(base64_decode(f->valuestring, strlen(f->valuestring), &data, &len) == 0,
			    "answer base64");
		FUZZ_ASSERT(len == req->files[i].len &&
			    (len == 0 || memcmp(data, req->files[i].data, len) == 0),
			    "file %s changed on the way out", req->files[i].name);
		free(data);
	}
	cJSON_Delete(back);
	cJSON_free(text);
	cJSON_Delete(obj);
}

static void check_request(const struct exec_request *req, const struct config *cfg)
{
	FUZZ_ASSERT(req->code != NULL && strlen(req->code) == req->code_len, "code");
	FUZZ_ASSERT(req->nfiles <= (size_t)cfg->request.max_files, "%zu files", req->nfiles);
	FUZZ_ASSERT(req->timeout_seconds == 0 ||
		    (req->timeout_seconds >= 1 &&
		     req->timeout_seconds <= cfg->execution.max_timeout_seconds),
		    "timeout %d", req->timeout_seconds);
	FUZZ_ASSERT(req->has_output_include || (req->output_include == NULL &&
						 req->noutput_include == 0), "output_include");
	FUZZ_ASSERT(req->noutput_include <= CXD_INCLUDE_PATTERNS_MAX, "%zu patterns",
		    req->noutput_include);
	for (size_t i = 0; i < req->noutput_include; i++)
		FUZZ_ASSERT(req->output_include[i] && req->output_include[i][0] &&
			    strlen(req->output_include[i]) < CXD_PATTERN_MAX, "pattern %zu", i);
	if (req->stdin_data)
		FUZZ_ASSERT(req->stdin_len <= (size_t)cfg->request.max_stdin_bytes &&
			    strlen(req->stdin_data) == req->stdin_len, "stdin");
	for (size_t i = 0; i < req->nfiles; i++) {
		const char *a = req->files[i].name;

		FUZZ_ASSERT(a && fuzz_safe_name(a, CXD_FILE_NAME_MAX, CXD_FILE_NAME_MAX),
			    "unsafe name accepted: %s", a ? a : "(null)");
		FUZZ_ASSERT(req->files[i].data != NULL || req->files[i].len == 0, "data");
		for (size_t j = 0; j < req->nfiles; j++) {
			const char *b = req->files[j].name;
			size_t la = strlen(a);

			if (i == j)
				continue;
			FUZZ_ASSERT(strcmp(a, b) != 0, "duplicate name %s", a);
			FUZZ_ASSERT(!(strncmp(a, b, la) == 0 && b[la] == '/'),
				    "%s is a file and a directory of %s", a, b);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config cfg;
	static bool ready;
	struct exec_request req;
	cJSON *errors = (cJSON *)&req; /* must be overwritten */
	char *body = (char *)fuzz_dup(data, size);
	int rc;

	if (!ready) {
		config_defaults(&cfg);
		cfg.request.max_files = 4;          /* small caps, so inputs reach them */
		cfg.request.max_stdin_bytes = 64;
		cfg.execution.max_timeout_seconds = 100;
		ready = true;
	}
	rc = api_parse_execute(body, size, &cfg, &req, &errors);
	FUZZ_ASSERT(rc == 0 || rc == -EINVAL, "rc %d", rc);
	if (rc == 0) {
		FUZZ_ASSERT(errors == NULL, "accepted with errors");
		check_request(&req, &cfg);
		check_render(&req);
		exec_request_free(&req);
	} else {
		FUZZ_ASSERT(req.code == NULL && req.files == NULL && req.stdin_data == NULL &&
			    req.output_include == NULL,
			    "refused but the request keeps memory");
		check_errors(errors);
		cJSON_Delete(errors);
	}
	free(body);
	return 0;
}
