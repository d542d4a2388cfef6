/* Figures: matplotlib figures that the code shows or leaves open come back
 * as output/figure-N.png (when output_include selects them), on the warm
 * path (pyplot preloaded in the zygote) and on the cold one (pyplot
 * imported by the code); the PNGs are decoded to check their size. The old
 * contract is untouched: without output_include, output_files stays
 * CSV-only. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../check_run.h"
#include "codeexecd/base64.h"
#include "harness.h"

static struct harness_daemon *warm, *cold;

static void setup(void)
{
	warm = harness_daemon_start("execution:\n  pool_size: 1\nlog:\n  level: debug\n");
	cold = harness_daemon_start("execution:\n  pool_size: 0\n");
	ck_assert_ptr_nonnull(warm);
	ck_assert_ptr_nonnull(cold);
}

static void teardown(void)
{
	ck_assert_int_eq(harness_daemon_stop_clean(warm), 0);
	ck_assert_int_eq(harness_daemon_stop_clean(cold), 0);
}

/* Shows a 4x3-inch figure, saves a second one itself, leaves a 2x1-inch
 * one open: at 100 dpi, figure-1 is 400x300 and figure-2 200x100, and the
 * saved one is not captured again. */
static const char chart_code[] =
	"import matplotlib.pyplot as plt\n"
	"plt.figure(figsize=(4, 3), dpi=100)\n"
	"plt.plot([1, 3, 2])\n"
	"plt.show()\n"
	"fig = plt.figure(figsize=(3, 3), dpi=100)\n"
	"plt.bar(['a', 'b'], [1, 2])\n"
	"fig.savefig('/execution/output/own.png')\n"
	"plt.figure(figsize=(2, 1), dpi=100)\n"
	"plt.scatter([1], [1])\n"
	"open('/execution/output/t.csv', 'w').write('a\\n1\\n')\n"
	"print('drawn')\n";

static cJSON *execute(struct harness_daemon *d, const char *extra)
{
	struct harness_response r;
	cJSON *code = cJSON_CreateString(chart_code), *root;
	char *quoted = cJSON_PrintUnformatted(code), *body = NULL;

	ck_assert_int_ge(asprintf(&body, "{\"code\":%s%s}", quoted, extra), 0);
	ck_assert_int_eq(harness_http(d, "POST", "/execute", body, strlen(body), NULL, &r), 0);
	ck_assert_msg(r.status == 200, "%s", harness_describe(&r));
	root = harness_json(&r);
	ck_assert_ptr_nonnull(root);
	harness_response_free(&r);
	free(body);
	free(quoted);
	cJSON_Delete(code);
	ck_assert_msg(cJSON_IsTrue(cJSON_GetObjectItem(root, "success")), "%s",
		      cJSON_GetStringValue(cJSON_GetObjectItem(root, "error")));
	return root;
}

/* The width and height of a PNG (its IHDR chunk), after base64. */
static void png_size(const cJSON *files, const char *name, uint32_t *w, uint32_t *h)
{
	const char *b64 = cJSON_GetStringValue(cJSON_GetObjectItem(files, name));
	unsigned char *png = NULL;
	size_t len = 0;

	ck_assert_msg(b64 != NULL, "%s is not in output_files", name);
	ck_assert_int_eq(base64_decode(b64, strlen(b64), &png, &len), 0);
	ck_assert_uint_gt(len, 24);
	ck_assert_int_eq(memcmp(png, "\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16), 0);
	*w = (uint32_t)png[16] << 24 | (uint32_t)png[17] << 16 | (uint32_t)png[18] << 8 | png[19];
	*h = (uint32_t)png[20] << 24 | (uint32_t)png[21] << 16 | (uint32_t)png[22] << 8 | png[23];
	free(png);
}

static void check_figures(struct harness_daemon *d)
{
	cJSON *root = execute(d, ",\"output_include\":[\"*\"]");
	const cJSON *files = cJSON_GetObjectItem(root, "output_files");
	uint32_t w, h;

	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(root, "output")), "drawn\n");
	ck_assert_int_eq(cJSON_GetArraySize(files), 4); /* figure-1, figure-2, own, t.csv */
	png_size(files, "figure-1.png", &w, &h);
	ck_assert_uint_eq(w, 400);
	ck_assert_uint_eq(h, 300);
	png_size(files, "figure-2.png", &w, &h);
	ck_assert_uint_eq(w, 200);
	ck_assert_uint_eq(h, 100);
	png_size(files, "own.png", &w, &h);
	ck_assert_uint_eq(w, 300);
	ck_assert_ptr_nonnull(cJSON_GetObjectItem(files, "t.csv"));
	cJSON_Delete(root);
}

START_TEST(test_warm_and_cold)
{
	/* the warm daemon's first run waits for its pooled container */
	for (int i = 0; i < 1200 && !strstr(harness_daemon_log(warm), "pool: warm container"); i++)
		harness_sleep_ms(100);
	check_figures(warm);
	check_figures(cold);
}
END_TEST

START_TEST(test_off_and_old_contract)
{
	cJSON *root = execute(cold, ",\"output_include\":[\"*\"],\"capture_figures\":false");
	const cJSON *files = cJSON_GetObjectItem(root, "output_files");

	ck_assert_int_eq(cJSON_GetArraySize(files), 2); /* own.png, t.csv */
	ck_assert_ptr_null(cJSON_GetObjectItem(files, "figure-1.png"));
	cJSON_Delete(root);

	/* the old client: only the CSV, keyed by base name */
	root = execute(warm, "");
	files = cJSON_GetObjectItem(root, "output_files");
	ck_assert_int_eq(cJSON_GetArraySize(files), 1);
	ck_assert_ptr_nonnull(cJSON_GetObjectItem(files, "t.csv"));
	cJSON_Delete(root);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("figures");
	TCase *tc = tcase_create("figures");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, test_warm_and_cold);
	tcase_add_test(tc, test_off_and_old_contract);
	suite_add_tcase(s, tc);
	return check_run(s, CK_NORMAL);
}
