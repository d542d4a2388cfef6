/* Runs a Check suite the same way in every test program: Check's summary
 * line on stdout, EXIT_SUCCESS only when every test passed. */
#ifndef CODEEXECD_TEST_CHECK_RUN_H
#define CODEEXECD_TEST_CHECK_RUN_H

#include <check.h>
#include <stdlib.h>

static inline int check_run(Suite *s, enum print_output mode)
{
	SRunner *sr = srunner_create(s); /* owns s */
	int failed;

	srunner_run_all(sr, mode);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
