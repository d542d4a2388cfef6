/* Drop-in fidelity of output_files, played as the backend plays it: for
 * programs that write CSVs, PNGs, text, subdirectories, base-name twins,
 * empty and non-UTF-8 files, symbolic and hard links under
 * /execution/output, the answer to a request without output_include must be
 * exactly what the old service returned. Its rules are written out here,
 * independently of the daemon's code (old_service_outputs):
 *
 *   It archived /execution/output through the engine (a depth-first walk,
 *   each directory's entries in byte order of their names; of several hard
 *   links to one file the first walked is a regular entry, the others link
 *   entries; symbolic links are link entries) and returned every regular
 *   entry whose name ends in ".csv" (case-sensitive), keyed by base name,
 *   a later entry overwriting an earlier one with the same base name; null
 *   when there were none.
 *
 * A request with output_include gets files keyed by relative path. */
#include <check.h>

#include "../check_run.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "check_json.h"
#include "harness.h"

enum kind { FILE_, DIR_, SYMLINK_, HARDLINK_ };

struct entry {
	enum kind kind;
	const char *path;       /* relative to /execution/output */
	const char *data;       /* FILE_: the bytes (may hold anything but NUL) */
	const char *target;     /* SYMLINK_: the link text; HARDLINK_: the path it links to */
};

#define MAX_ENTRIES 32

static struct harness_daemon *daemon_;

static void setup(void)
{
	daemon_ = harness_daemon_start("execution:\n  max_concurrent: 2\n  pool_size: 1\n");
	ck_assert_msg(daemon_ != NULL, "the daemon did not start");
}

static void teardown(void)
{
	ck_assert_int_eq(harness_daemon_stop_clean(daemon_), 0);
}

/* --- the old service's rules ------------------------------------------------ */

/* The walk order: component by component, bytewise. */
static int walk_cmp(const char *a, const char *b)
{
	for (;;) {
		size_t la = strcspn(a, "/"), lb = strcspn(b, "/");
		size_t n = la < lb ? la : lb;
		int c = memcmp(a, b, n);

		if (c != 0 || la != lb)
			return c != 0 ? c : la < lb ? -1 : 1;
		if (!a[la] || !b[lb])
			return !!a[la] - !!b[lb];
		a += la + 1;
		b += lb + 1;
	}
}

static int entry_walk_cmp(const void *x, const void *y)
{
	return walk_cmp((*(const struct entry *const *)x)->path,
			(*(const struct entry *const *)y)->path);
}

/* The regular file an entry's content lives in (hard links: the target). */
static const struct entry *inode_of(const struct entry *e, const struct entry *all, size_t n)
{
	while (e->kind == HARDLINK_) {
		const struct entry *t = NULL;
		for (size_t i = 0; i < n; i++)
			if (strcmp(all[i].path, e->target) == 0)
				t = &all[i];
		ck_assert_ptr_nonnull(t);
		e = t;
	}
	return e;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* {base name: base64 content} as the old service answered, or JSON null. */
static cJSON *old_service_outputs(const struct entry *all, size_t n)
{
	const struct entry *walk[MAX_ENTRIES], *seen[MAX_ENTRIES];
	size_t nw = 0, nseen = 0;
	cJSON *files = cJSON_CreateObject();

	for (size_t i = 0; i < n; i++)
		if (all[i].kind == FILE_ || all[i].kind == HARDLINK_)
			walk[nw++] = &all[i];
	qsort(walk, nw, sizeof(walk[0]), entry_walk_cmp);
	for (size_t i = 0; i < nw; i++) {
		const struct entry *ino = inode_of(walk[i], all, n);
		bool link_entry = false;
		const char *base = strrchr(walk[i]->path, '/');

		for (size_t j = 0; j < nseen; j++)
			link_entry |= seen[j] == ino;
		seen[nseen++] = ino;
		if (link_entry || !ends_with(walk[i]->path, ".csv"))
			continue;
		base = base ? base + 1 : walk[i]->path;
		char *b64 = NULL;
		size_t len = strlen(ino->data);
		/* base64 by hand, to stay independent of the daemon's code */
		static const char al[] =
			"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
		b64 = calloc(len / 3 * 4 + 8, 1);
		ck_assert_ptr_nonnull(b64);
		for (size_t k = 0, o = 0; k < len; k += 3) {
			unsigned v = (unsigned char)ino->data[k] << 16;
			if (k + 1 < len)
				v |= (unsigned char)ino->data[k + 1] << 8;
			if (k + 2 < len)
				v |= (unsigned char)ino->data[k + 2];
			b64[o++] = al[v >> 18 & 63];
			b64[o++] = al[v >> 12 & 63];
			b64[o++] = k + 1 < len ? al[v >> 6 & 63] : '=';
			b64[o++] = k + 2 < len ? al[v & 63] : '=';
		}
		cJSON_DeleteItemFromObjectCaseSensitive(files, base);
		cJSON_AddStringToObject(files, base, b64);
		free(b64);
	}
	if (cJSON_GetArraySize(files) == 0) {
		cJSON_Delete(files);
		return cJSON_CreateNull();
	}
	return files;
}

/* --- the programs ------------------------------------------------------------- */

/* Python bytes literal of s: every byte as \xNN. */
static void py_bytes(char *out, size_t outlen, const char *s)
{
	size_t o = 0;

	o += (size_t)snprintf(out, outlen, "b'");
	for (; *s && o + 8 < outlen; s++)
		o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", (unsigned char)*s);
	(void)snprintf(out + o, outlen - o, "'");
}

/* A program that creates the entries in the order given. */
static char *program(const struct entry *all, size_t n)
{
	size_t cap = 65536, len = 0;
	char *code = malloc(cap), lit[4096];

	ck_assert_ptr_nonnull(code);
	len += (size_t)snprintf(code, cap, "import os\nout = '/execution/output/'\n"
				"def mk(p):\n    os.makedirs(os.path.dirname(out + p), exist_ok=True)\n");
	for (size_t i = 0; i < n; i++) {
		const struct entry *e = &all[i];
		switch (e->kind) {
		case FILE_:
			py_bytes(lit, sizeof(lit), e->data);
			len += (size_t)snprintf(code + len, cap - len,
						"mk('%s')\nopen(out + '%s', 'wb').write(%s)\n", e->path,
						e->path, lit);
			break;
		case DIR_:
			len += (size_t)snprintf(code + len, cap - len,
						"os.makedirs(out + '%s', exist_ok=True)\n", e->path);
			break;
		case SYMLINK_:
			len += (size_t)snprintf(code + len, cap - len,
						"mk('%s')\nos.symlink('%s', out + '%s')\n", e->path,
						e->target, e->path);
			break;
		case HARDLINK_:
			len += (size_t)snprintf(code + len, cap - len,
						"mk('%s')\nos.link(out + '%s', out + '%s')\n", e->path,
						e->target, e->path);
			break;
		}
		ck_assert_uint_lt(len, cap - 1);
	}
	(void)snprintf(code + len, cap - len, "print('written')\n");
	return code;
}

/* Runs the program; extra: more JSON members ("" or ", \"output_include\": ..."). */
static cJSON *run(const struct entry *all, size_t n, const char *extra)
{
	char *code = program(all, n);
	cJSON *s = cJSON_CreateString(code);
	char *lit = cJSON_PrintUnformatted(s);
	size_t blen = strlen(lit) + strlen(extra) + 32;
	char *body = malloc(blen);
	struct harness_response r;
	cJSON *root;

	(void)snprintf(body, blen, "{\"code\": %s%s}", lit, extra);
	ck_assert_int_eq(harness_http(daemon_, "POST", "/execute", body, strlen(body), NULL, &r), 0);
	ck_assert_msg(r.status == 200, "%s", harness_describe(&r));
	root = harness_json(&r);
	ck_assert_ptr_nonnull(root);
	ck_assert_msg(flag(root, "success"), "%s", str(root, "error"));
	ck_assert_str_eq(str(root, "output"), "written\n");
	harness_response_free(&r);
	free(body);
	free(lit);
	cJSON_Delete(s);
	free(code);
	return root;
}

static void expect_old_service(const struct entry *all, size_t n)
{
	cJSON *root = run(all, n, ""), *want = old_service_outputs(all, n);
	const cJSON *got = cJSON_GetObjectItemCaseSensitive(root, "output_files");
	char *g = cJSON_PrintUnformatted(got), *w = cJSON_PrintUnformatted(want);

	/* Key order is not part of the contract: compare as objects. */
	ck_assert_msg(cJSON_Compare(got, want, true), "output_files %s, the old service: %s", g, w);
	free(g);
	free(w);
	cJSON_Delete(want);
	cJSON_Delete(root);
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* --- the cases ------------------------------------------------------------------- */

static const struct entry mixed[] = {
	{ FILE_, "top.csv", "a,b\n1,2\n", NULL },
	{ FILE_, "notes.txt", "not a table", NULL },
	{ FILE_, "x.CSV", "upper,case\n", NULL },
	{ FILE_, "chart.png", "\x89PNG\r\n\x1a\n", NULL },
	{ FILE_, "sub/deep.csv", "deep\n", NULL },
	{ FILE_, "empty.csv", "", NULL },
	{ FILE_, "latin1.csv", "caf\xe9,\xff\n", NULL },
	{ FILE_, ".csv", "hidden\n", NULL },
	{ DIR_, "dir.csv", NULL, NULL },
	{ FILE_, "dir.csv/inner.csv", "inner\n", NULL },
	{ FILE_, "report.csv.bak", "backup\n", NULL },
};

START_TEST(test_default_is_the_old_service)
{
	expect_old_service(mixed, N(mixed));
}
END_TEST

/* Twins: the later in walk order wins, wherever the tar puts them. */
START_TEST(test_base_name_twins)
{
	static const struct entry e[] = {
		{ FILE_, "z/dup.csv", "z\n", NULL },
		{ FILE_, "dup.csv", "top\n", NULL },
		{ FILE_, "a/dup.csv", "a\n", NULL },
		{ FILE_, "a-b/dup.csv", "a-b\n", NULL },   /* "a" < "a-b" < "dup.csv" < "z" */
		{ FILE_, "z/b/dup.csv", "zb\n", NULL },
		{ FILE_, "m/n.csv", "m\n", NULL },
		{ FILE_, "n.csv", "n\n", NULL },
	};

	expect_old_service(e, N(e));
}
END_TEST

START_TEST(test_links)
{
	static const struct entry e[] = {
		{ FILE_, "real.csv", "real\n", NULL },
		{ SYMLINK_, "passwd.csv", NULL, "/etc/passwd" },
		{ SYMLINK_, "rel.csv", NULL, "real.csv" },
		{ SYMLINK_, "dirlink", NULL, "/execution" },
		{ FILE_, "a.txt", "shared\n", NULL },
		{ HARDLINK_, "b.csv", NULL, "a.txt" },      /* a.txt is walked first */
		{ FILE_, "c.csv", "c\n", NULL },
		{ HARDLINK_, "d.csv", NULL, "c.csv" },
		{ HARDLINK_, "0.csv", NULL, "c.csv" },      /* walked before c.csv */
	};

	expect_old_service(e, N(e));
}
END_TEST

START_TEST(test_nothing_is_null)
{
	static const struct entry none[] = { { DIR_, "empty", NULL, NULL } };
	static const struct entry no_csv[] = {
		{ FILE_, "chart.png", "\x89PNG", NULL }, { FILE_, "t.txt", "t", NULL },
	};

	expect_old_service(none, N(none));
	expect_old_service(no_csv, N(no_csv));
}
END_TEST

/* The opt-in: every matching file, keyed by relative path. */
START_TEST(test_output_include)
{
	cJSON *root = run(mixed, N(mixed), ", \"output_include\": [\"*\"]");
	const cJSON *files = cJSON_GetObjectItemCaseSensitive(root, "output_files");

	ck_assert_int_eq(cJSON_GetArraySize(files), 10);
	ck_assert_str_eq(str(files, "notes.txt"), "bm90IGEgdGFibGU=");
	ck_assert_str_eq(str(files, "chart.png"), "iVBORw0KGgo=");
	ck_assert_str_eq(str(files, "sub/deep.csv"), "ZGVlcAo=");
	ck_assert_str_eq(str(files, "dir.csv/inner.csv"), "aW5uZXIK");
	ck_assert_str_eq(str(files, "x.CSV"), "dXBwZXIsY2FzZQo=");
	ck_assert_str_eq(str(files, "empty.csv"), "");
	cJSON_Delete(root);

	root = run(mixed, N(mixed), ", \"output_include\": [\"*.png\", \"sub/*\"]");
	files = cJSON_GetObjectItemCaseSensitive(root, "output_files");
	ck_assert_int_eq(cJSON_GetArraySize(files), 2);
	ck_assert_str_eq(str(files, "chart.png"), "iVBORw0KGgo=");
	ck_assert_str_eq(str(files, "sub/deep.csv"), "ZGVlcAo=");
	cJSON_Delete(root);

	root = run(mixed, N(mixed), ", \"output_include\": []");
	ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(root, "output_files")));
	cJSON_Delete(root);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("compat");
	TCase *tc = tcase_create("output_files");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, test_default_is_the_old_service);
	tcase_add_test(tc, test_base_name_twins);
	tcase_add_test(tc, test_links);
	tcase_add_test(tc, test_nothing_is_null);
	tcase_add_test(tc, test_output_include);
	suite_add_tcase(s, tc);
	return check_run(s, CK_NORMAL);
}
