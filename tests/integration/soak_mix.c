/* The soak's request mix: see soak_mix.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "codeexecd/base64.h"

#include "harness.h"
#include "soak_mix.h"

#define STDOUT_CAP (64 * 1024)

static const struct { const char *name; int weight; } kinds[SOAK_NKINDS] = {
	[SOAK_ORDINARY] = { "ordinary", 36 }, [SOAK_FILES] = { "files in+out", 14 },
	[SOAK_INVALID] = { "invalid body", 10 }, [SOAK_TIMEOUT] = { "timeout", 8 },
	[SOAK_FLOOD] = { "output flood", 8 }, [SOAK_MEMORY] = { "memory bomb", 7 },
	[SOAK_FORK] = { "fork bomb", 5 }, [SOAK_LEAVE] = { "client leaves", 12 },
};

static const char *const outcome_names[SOAK_NOUTCOMES] = {
	"correct", "429", "503", "no answer", "run failed", "wrong"
};

const char *soak_kind_name(enum soak_kind k)
{
	return kinds[k].name;
}

const char *soak_outcome_name(enum soak_outcome o)
{
	return outcome_names[o];
}

unsigned soak_rand(unsigned *state)
{
	*state = *state * 1103515245u + 12345u;
	return (*state >> 8) & 0xffffff;
}


static const cJSON *field(const cJSON *o, const char *k)
{
	return cJSON_GetObjectItemCaseSensitive(o, k);
}

static bool is_true(const cJSON *o, const char *k)
{
	return cJSON_IsTrue(field(o, k));
}

static const char *text(const cJSON *o, const char *k)
{
	const cJSON *v = field(o, k);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* POSTs body; fills *root with a 200's JSON. Returns an outcome for anything
 * but a 200 (SOAK_CORRECT meaning "go on and check it"), with why. */
static enum soak_outcome post(int port, const char *body, struct harness_response *r, cJSON **root, char *why,
			 size_t whylen)
{
	struct harness_request req = { .method = "POST", .path = "/execute", .body = body,
				       .body_len = strlen(body), .timeout_s = 90 };

	*root = NULL;
	if (harness_http_ex(port, &req, r) != 0) {
		(void)snprintf(why, whylen, "no answer: %.150s", r->error);
		return SOAK_NOANSWER;
	}
	if (r->status == 429 || r->status == 503) {
		(void)snprintf(why, whylen, "%s", harness_describe(r));
		return r->status == 429 ? SOAK_429 : SOAK_503;
	}
	if (r->status != 200 && r->status != 422) {
		(void)snprintf(why, whylen, "%s", harness_describe(r));
		return SOAK_WRONG;
	}
	*root = harness_json(r);
	if (!*root) {
		(void)snprintf(why, whylen, "not JSON: %s", harness_describe(r));
		return SOAK_WRONG;
	}
	return SOAK_CORRECT;
}

/* A 200 that is not what the kind expects: a failed run (the engine went
 * away under it), or plainly wrong. */
static enum soak_outcome mismatch(const cJSON *root, const char *what, char *why, size_t whylen)
{
	const cJSON *code = field(root, "exit_code");
	const char *err = text(root, "error");
	char *t = cJSON_PrintUnformatted(root);

	(void)snprintf(why, whylen, "%s: %.150s", what, t ? t : "?");
	free(t);
	if (cJSON_IsFalse(field(root, "success")) && cJSON_IsNumber(code) && code->valueint == -1 &&
	    err && err[0])
		return SOAK_FAILED_RUN;
	return SOAK_WRONG;
}

static char *files_body(unsigned *rng, long *sum, int *rows)
{
	char csv[2048];
	size_t n = (size_t)snprintf(csv, sizeof(csv), "x\n");
	cJSON *o = cJSON_CreateObject(), *files = cJSON_CreateObject();
	char *b64, *body;

	*rows = 1 + (int)(soak_rand(rng) % 50);
	*sum = 0;
	for (int i = 0; i < *rows; i++) {
		int v = (int)(soak_rand(rng) % 10000);
		*sum += v;
		n += (size_t)snprintf(csv + n, sizeof(csv) - n, "%d\n", v);
	}
	b64 = base64_encode((const unsigned char *)csv, n);
	cJSON_AddStringToObject(o, "code",
				"import csv\n"
				"rows = list(csv.DictReader(open('/execution/files/in.csv')))\n"
				"total = sum(int(r['x']) for r in rows)\n"
				"open('/execution/output/out.csv', 'w').write('sum\\n%d\\n' % total)\n"
				"print(len(rows))\n");
	cJSON_AddStringToObject(files, "in.csv", b64);
	cJSON_AddItemToObject(o, "files", files);
	body = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	free(b64);
	return body;
}

static enum soak_outcome check_files(const cJSON *root, long sum, int rows, char *why, size_t whylen)
{
	char want_out[32], want_csv[64];
	const cJSON *files = field(root, "output_files");
	const char *b64 = text(files, "out.csv"), *out = text(root, "output");
	unsigned char *data = NULL;
	size_t len = 0;
	bool ok;

	(void)snprintf(want_out, sizeof(want_out), "%d\n", rows);
	(void)snprintf(want_csv, sizeof(want_csv), "sum\n%ld\n", sum);
	ok = is_true(root, "success") && out && strcmp(out, want_out) == 0 && b64 &&
	     base64_decode(b64, strlen(b64), &data, &len) == 0 && len == strlen(want_csv) &&
	     memcmp(data, want_csv, len) == 0;
	free(data);
	return ok ? SOAK_CORRECT : mismatch(root, "files", why, whylen);
}

static enum soak_outcome check_invalid(const cJSON *root, long status, int variant, char *why,
				  size_t whylen)
{
	static const char *const loc_code[] = { "body", "code", NULL };
	static const char *const loc_file[] = { "body", "files", "a.csv", NULL };
	static const char *const loc_body[] = { "body", "#", NULL };
	const char *const *loc = variant == 0 ? loc_code : variant == 1 ? loc_file : loc_body;
	const char *type = variant == 0 ? "missing" : variant == 1 ? "base64_decode" : "json_invalid";
	char shape[128];

	if (status == 422 && harness_check_validation_shape(root, shape, sizeof(shape)) == 0 &&
	    harness_detail_find(root, loc, type))
		return SOAK_CORRECT;
	(void)snprintf(why, whylen, "invalid body %d: status %ld", variant, status);
	return SOAK_WRONG;
}

/* A client that sends a long run and leaves before the answer. */
static enum soak_outcome leave(int port, unsigned *rng, char *why, size_t whylen)
{
	static const char body[] = "{\"code\": \"import time\\ntime.sleep(5)\\nprint(1)\"}";
	char req[512];
	int n = snprintf(req, sizeof(req),
			 "POST /execute HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
			 "application/json\r\nContent-Length: %zu\r\n\r\n%s", strlen(body), body);
	int fd = harness_connect(port);

	if (fd < 0) {
		(void)snprintf(why, whylen, "no answer: connect failed");
		return SOAK_NOANSWER;
	}
	if (harness_send_all(fd, req, (size_t)n) != 0) {
		close(fd);
		(void)snprintf(why, whylen, "no answer: send failed");
		return SOAK_NOANSWER;
	}
	harness_sleep_ms(100 + (long)(soak_rand(rng) % 900));
	close(fd);
	return SOAK_CORRECT;
}

enum soak_outcome soak_run_one(int port, enum soak_kind k, unsigned *rng, char *why, size_t whylen)
{
	struct harness_response r = { 0 };
	cJSON *root = NULL;
	char body[512], *dyn = NULL;
	long a = soak_rand(rng) % 1000, b = soak_rand(rng) % 1000, sum = 0;
	int rows = 0, variant = (int)(soak_rand(rng) % 3);
	enum soak_outcome o;

	switch (k) {
	case SOAK_ORDINARY:
		(void)snprintf(body, sizeof(body), "{\"code\": \"print(%ld * %ld)\"}", a, b);
		break;
	case SOAK_FILES:
		dyn = files_body(rng, &sum, &rows);
		break;
	case SOAK_INVALID:
		(void)snprintf(body, sizeof(body), "%s",
			       variant == 0 ? "{\"files\": {}}"
			       : variant == 1 ? "{\"code\": \"x\", \"files\": {\"a.csv\": \"!!\"}}"
			       : "{\"code\": ");
		break;
	case SOAK_TIMEOUT:
		(void)snprintf(body, sizeof(body), "{\"code\": \"while True: pass\", \"timeout\": 1}");
		break;
	case SOAK_FLOOD:
		(void)snprintf(body, sizeof(body), "{\"code\": \"import sys\\nwhile True: "
			       "sys.stdout.write('x' * 65536)\"}");
		break;
	case SOAK_MEMORY:
		(void)snprintf(body, sizeof(body), "{\"code\": \"x = []\\nwhile True: "
			       "x.append(bytearray(50 * 1024 * 1024))\"}");
		break;
	case SOAK_FORK:
		(void)snprintf(body, sizeof(body),
			       "{\"code\": \"import os, time\\nn = 0\\ntry:\\n    while True:\\n"
			       "        if os.fork() == 0:\\n            time.sleep(60)\\n"
			       "        n += 1\\nexcept OSError as e:\\n    print('stopped at', n)\","
			       " \"timeout\": 20}");
		break;
	case SOAK_LEAVE:
	default:
		return leave(port, rng, why, whylen);
	}
	o = post(port, dyn ? dyn : body, &r, &root, why, whylen);
	free(dyn);
	if (o != SOAK_CORRECT)
		goto out;
	if (k == SOAK_INVALID) {
		o = check_invalid(root, r.status, variant, why, whylen);
		goto out;
	}
	if (r.status != 200) {
		(void)snprintf(why, whylen, "%s: %s", soak_kind_name(k), harness_describe(&r));
		o = SOAK_WRONG;
		goto out;
	}
	switch (k) {
	case SOAK_ORDINARY: {
		char want[32];
		const char *out = text(root, "output");
		(void)snprintf(want, sizeof(want), "%ld\n", a * b);
		if (!is_true(root, "success") || !out || strcmp(out, want) != 0 ||
		    !cJSON_IsNull(field(root, "output_files")))
			o = mismatch(root, "ordinary", why, whylen);
		break;
	}
	case SOAK_FILES:
		o = check_files(root, sum, rows, why, whylen);
		break;
	case SOAK_TIMEOUT:
		if (!is_true(root, "timed_out") || is_true(root, "success"))
			o = mismatch(root, "timeout", why, whylen);
		break;
	case SOAK_FLOOD: {
		const char *out = text(root, "output");
		if (!is_true(root, "output_truncated") || !out || strlen(out) != STDOUT_CAP)
			o = mismatch(root, "flood", why, whylen);
		break;
	}
	/* A bomb is held by its limit or, on a slow machine, by the time
	 * limit first: either answer says so, and either is correct. A fork
	 * bomb in a warm container may meet the memory limit before the
	 * process limit: each fork's page tables and copied pages come on top
	 * of the preloaded libraries (about 92 MiB of the soak's 128). */
	case SOAK_MEMORY:
		if ((!is_true(root, "oom_killed") && !is_true(root, "timed_out")) ||
		    is_true(root, "success"))
			o = mismatch(root, "memory", why, whylen);
		break;
	case SOAK_FORK: {
		const char *out = text(root, "output");
		if ((!out || !strstr(out, "stopped at")) && !is_true(root, "timed_out") &&
		    (!is_true(root, "oom_killed") || is_true(root, "success")))
			o = mismatch(root, "fork", why, whylen);
		break;
	}
	default:
		break;
	}
out:
	cJSON_Delete(root);
	harness_response_free(&r);
	return o;
}



enum soak_kind soak_pick(unsigned *rng)
{
	int total = 0, x;

	for (int k = 0; k < SOAK_NKINDS; k++)
		total += kinds[k].weight;
	x = (int)(soak_rand(rng) % (unsigned)total);
	for (int k = 0; k < SOAK_NKINDS; k++) {
		if (x < kinds[k].weight)
			return (enum soak_kind)k;
		x -= kinds[k].weight;
	}
	return SOAK_ORDINARY;
}

