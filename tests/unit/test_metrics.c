/* The metrics registry and its exposition text. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codeexecd/metrics.h"

#include "../check_run.h"

static char *render(void)
{
	size_t len = 0;
	char *text = metrics_render(&len);

	ck_assert_ptr_nonnull(text);
	ck_assert_uint_eq(strlen(text), len);
	return text;
}

/* The value of the series line that starts with prefix, or -1. */
static double value(const char *text, const char *series)
{
	size_t n = strlen(series);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return atof(p + n + 1);
	return -1;
}

START_TEST(test_counters_and_labels)
{
	char *t;

	metrics_init("9.9.9");
	metrics_set_engine_api("1.43");
	metrics_http_request("/execute", 200, 0.2);
	metrics_http_request("/execute", 200, 0.3);
	metrics_http_request("/health", 503, 0.001);
	metrics_execution(METRICS_OUT_SUCCESS, "backend");
	metrics_execution(METRICS_OUT_SUCCESS, "backend");
	metrics_execution(METRICS_OUT_TIMEOUT, NULL);
	metrics_execution(METRICS_OUT_REJECTED, "we\"ird\\");
	metrics_count(METRICS_C_CONTAINERS_CREATED);
	metrics_count_n(METRICS_C_CONTAINERS_REAPED, 3);
	metrics_engine_error(METRICS_EE_TIMEOUT);
	metrics_gauge_set(METRICS_G_RUNNING, 2);
	metrics_gauge_add(METRICS_G_BODY_BYTES, 100);
	metrics_gauge_add(METRICS_G_BODY_BYTES, -40);
	t = render();
	ck_assert_double_eq(value(t, "codeexecd_build_info{version=\"9.9.9\",engine_api_version=\"1.43\"}"), 1);
	ck_assert_double_eq(value(t, "codeexecd_http_requests_total{route=\"/execute\",status=\"200\"}"), 2);
	ck_assert_double_eq(value(t, "codeexecd_http_requests_total{route=\"/health\",status=\"503\"}"), 1);
	ck_assert_double_eq(value(t, "codeexecd_executions_total{outcome=\"success\",key=\"backend\"}"), 2);
	ck_assert_double_eq(value(t, "codeexecd_executions_total{outcome=\"timeout\",key=\"\"}"), 1);
	ck_assert_double_eq(value(t, "codeexecd_executions_total{outcome=\"rejected\",key=\"we\\\"ird\\\\\"}"), 1);
	ck_assert_double_eq(value(t, "codeexecd_containers_created_total"), 1);
	ck_assert_double_eq(value(t, "codeexecd_containers_reaped_total"), 3);
	ck_assert_double_eq(value(t, "codeexecd_engine_errors_total{kind=\"timeout\"}"), 1);
	ck_assert_double_eq(value(t, "codeexecd_executions_running"), 2);
	ck_assert_double_eq(value(t, "codeexecd_request_body_bytes"), 60);
	ck_assert_int_eq(metrics_gauge_get(METRICS_G_RUNNING), 2);
	free(t);
}
END_TEST

START_TEST(test_histograms)
{
	char *t;

	metrics_observe_phase(METRICS_PHASE_ACQUIRE, 0.003);
	metrics_observe_phase(METRICS_PHASE_ACQUIRE, 0.2);
	metrics_observe_phase(METRICS_PHASE_ACQUIRE, 1000);
	metrics_observe_phase(METRICS_PHASE_COUNT, 1); /* ignored */
	metrics_observe_duration(-1);                  /* a clock oddity: 0 */
	t = render();
	ck_assert_double_eq(value(t, "codeexecd_execution_phase_seconds_bucket{phase=\"acquire\",le=\"0.005\"}"), 1);
	ck_assert_double_eq(value(t, "codeexecd_execution_phase_seconds_bucket{phase=\"acquire\",le=\"0.25\"}"), 2);
	ck_assert_double_eq(value(t, "codeexecd_execution_phase_seconds_bucket{phase=\"acquire\",le=\"300\"}"), 2);
	ck_assert_double_eq(value(t, "codeexecd_execution_phase_seconds_bucket{phase=\"acquire\",le=\"+Inf\"}"), 3);
	ck_assert_double_eq(value(t, "codeexecd_execution_phase_seconds_count{phase=\"acquire\"}"), 3);
	ck_assert_double_eq_tol(value(t, "codeexecd_execution_phase_seconds_sum{phase=\"acquire\"}"), 1000.203, 1e-6);
	ck_assert_double_eq(value(t, "codeexecd_execution_duration_seconds_bucket{le=\"0.005\"}"), 1);
	ck_assert_double_eq(value(t, "codeexecd_execution_phase_seconds_count{phase=\"remove\"}"), 0);
	free(t);
}
END_TEST

/* Past the table's size new keys are counted as "other", never lost. */
START_TEST(test_label_overflow)
{
	char key[32], *t;

	for (int i = 0; i < 600; i++) {
		(void)snprintf(key, sizeof(key), "k%d", i);
		metrics_execution(METRICS_OUT_ERROR, key);
	}
	t = render();
	ck_assert_double_eq(value(t, "codeexecd_executions_total{outcome=\"error\",key=\"k0\"}"), 1);
	ck_assert_double_gt(value(t, "codeexecd_executions_total{outcome=\"error\",key=\"other\"}"), 50);
	free(t);
}
END_TEST

/* promtool, when installed, accepts the text. */
START_TEST(test_promtool)
{
	char *t = render();
	FILE *p;

	if (system("command -v promtool >/dev/null 2>&1") != 0) {
		free(t);
		return;
	}
	p = popen("promtool check metrics", "w");
	ck_assert_ptr_nonnull(p);
	ck_assert_int_ge(fputs(t, p), 0);
	ck_assert_int_eq(pclose(p), 0);
	free(t);
}
END_TEST

static Suite *metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("core");

	/* One registry per process: run the tests in order, in one process. */
	tcase_add_test(tc, test_counters_and_labels);
	tcase_add_test(tc, test_histograms);
	tcase_add_test(tc, test_label_overflow);
	tcase_add_test(tc, test_promtool);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	Suite *s = metrics_suite();
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
