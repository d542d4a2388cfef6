/* Runs a Check suite the same way in every test program: Check's summary
 * line on stdout, EXIT_SUCCESS only when every test passed. */
#ifndef CODEEXECD_TEST_CHECK_RUN_H
#define CODEEXECD_TEST_CHECK_RUN_H

#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline int check_run(Suite *s, enum print_output mode)
{
	SRunner *sr = srunner_create(s); /* owns s */
	int failed;

	srunner_run_all(sr, mode);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* True under CI (CI set, and not "false" or "0"), where a test that needs
 * something absent (a Docker engine, the runsc runtime) must fail instead of
 * skipping: a suite that skips everything must not pass there. */
static inline bool check_under_ci(void)
{
	const char *ci = getenv("CI");

	return ci && *ci && strcmp(ci, "false") != 0 && strcmp(ci, "0") != 0;
}

/* For a test that cannot run here: outside CI prints "<what>: skipped,
 * <why>" and returns true (the caller returns); under CI fails the current
 * Check test (it does not return). */
#define check_skip_unless_ci(what, why)                                                    \
	(check_under_ci() ? (ck_abort_msg("%s: cannot run under CI=%s: %s", (what),        \
					  getenv("CI"), (why)), false)                     \
			  : (fprintf(stderr, "%s: skipped, %s\n", (what), (why)), true))

#endif
