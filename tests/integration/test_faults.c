/* Engine faults the real engine cannot be made to produce, injected by a
 * FAKE engine (fake_engine.h): a 500 from create, attach, start or delete, a
 * create that never answers or answers after the daemon gave up, a
 * truncated attach stream, a frame of an unknown stream, a record declaring
 * 1 GiB, a stream that ends without the final status, and a runner that
 * never answers. Everything else is tested against the real engine
 * (test_sandbox.c, test_api.c).
 *
 * Each test starts its own fake engine (threads of the test process) and
 * its own real daemon pointed at it (DOCKER_HOST=unix://<fake socket>,
 * execution.pool_size 0, so every request creates its own container), and
 * checks what a client sees, that the daemon keeps serving (/health, then a
 * well-formed run), that every container the fake created was DELETEd, and
 * that the daemon exits 0 on SIGTERM. */
#include <check.h>

#include "../check_run.h"
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake_engine.h"
#include "check_json.h"
#include "harness.h"

#define TCASE_TIMEOUT_S 40
#define DELETE_WAIT_MS 5000
#define POOL_OFF "execution:\n  pool_size: 0\n"
#define HELLO "{\"code\": \"print('hi')\"}"
#define SHORT_RUN "{\"code\": \"print('hi')\", \"timeout\": 10}"

static struct fake_engine *fe_;
static struct harness_daemon *dmn_;

/* --- helpers -------------------------------------------------------------- */

static const char *counts(void)
{
	static char buf[512];

	fake_engine_describe(fe_, buf, sizeof(buf));
	return buf;
}

static void start_pair(enum fake_engine_mode mode, const char *yaml)
{
	const char *env[2] = { NULL, NULL };
	struct harness_opts o = { .yaml = yaml };

	fe_ = fake_engine_start(mode);
	ck_assert_msg(fe_ != NULL, "the fake engine did not start");
	env[0] = fake_engine_docker_host_env(fe_);
	o.env = env;
	dmn_ = harness_daemon_start_opts(&o);
	ck_assert_msg(dmn_ != NULL, "the daemon did not start against the fake engine");
	/* Start-up: ping, image, the stale-container listing; nothing created. */
	ck_assert_msg(fake_engine_count(fe_, FAKE_ENGINE_PING) >= 1, "%s", counts());
	ck_assert_msg(fake_engine_count(fe_, FAKE_ENGINE_CREATE) == 0, "%s", counts());
}

static void execute_raw(const char *body, int timeout_s, struct harness_response *r)
{
	struct harness_request req = { .method = "POST", .path = "/execute", .body = body,
				       .body_len = strlen(body), .timeout_s = timeout_s };

	(void)harness_http_ex(harness_daemon_port(dmn_), &req, r);
}

/* POST /execute expecting 200; the parsed body. */
static cJSON *execute_200(const char *body, int timeout_s)
{
	struct harness_response r;
	cJSON *root;

	execute_raw(body, timeout_s, &r);
	ck_assert_msg(r.status == 200, "%s\nfake engine: %s\ndaemon log:\n%s", harness_describe(&r),
		      counts(), harness_daemon_log_tail(dmn_, 3000));
	root = harness_json(&r);
	harness_response_free(&r);
	ck_assert_ptr_nonnull(root);
	return root;
}

/* A failed execution as the old service reported it: 200, success false,
 * exit code -1, the cause in error (one of the needles, NULL-terminated). */
static void expect_failure(const cJSON *r, const char *const *needles)
{
	const char *error = str(r, "error");
	bool found = false;

	ck_assert_msg(!flag(r, "success"), "success is true: %s", error);
	ck_assert_int_eq(num(r, "exit_code"), -1);
	ck_assert_msg(!flag(r, "timed_out"), "timed_out is true: %s", error);
	ck_assert_msg(!flag(r, "oom_killed"), "oom_killed is true: %s", error);
	ck_assert_uint_eq(strlen(str(r, "execution_id")), 8);
	for (size_t i = 0; needles[i]; i++)
		found = found || strstr(error, needles[i]) != NULL;
	ck_assert_msg(found, "error does not name the cause (%s...): \"%s\"", needles[0], error);
}

/* /health becomes healthy: it answers from a cache that a stale read has
 * refreshed in the background, so the first answer after a change may
 * still be the old one. */
static void expect_health(void)
{
	struct harness_request req = { .method = "GET", .path = "/health", .timeout_s = 10 };
	struct harness_response r;
	char last[512] = "";

	for (int i = 0; i < 50; i++) {
		cJSON *root;
		bool healthy;

		(void)harness_http_ex(harness_daemon_port(dmn_), &req, &r);
		ck_assert_msg(r.status == 200, "/health: %s", harness_describe(&r));
		root = harness_json(&r);
		harness_response_free(&r);
		ck_assert_ptr_nonnull(root);
		healthy = strcmp(str(root, "status"), "healthy") == 0;
		(void)snprintf(last, sizeof(last), "%s", str(root, "message"));
		cJSON_Delete(root);
		if (healthy)
			return;
		harness_sleep_ms(100);
	}
	ck_abort_msg("/health: %s", last);
}

/* A well-formed run through the fake: the fake's HAPPY answer. */
static void expect_happy_run(void)
{
	cJSON *r = execute_200(HELLO, 30);

	ck_assert_msg(flag(r, "success"), "a well-formed run failed: %s", str(r, "error"));
	ck_assert_str_eq(str(r, "output"), "hi\n");
	ck_assert_str_eq(str(r, "error"), "");
	ck_assert_int_eq(num(r, "exit_code"), 0);
	ck_assert(!flag(r, "timed_out"));
	ck_assert(!flag(r, "oom_killed"));
	ck_assert(!flag(r, "output_truncated"));
	ck_assert_uint_eq(strlen(str(r, "execution_id")), 8);
	cJSON_Delete(r);
}

static void expect_all_deleted(void)
{
	ck_assert_msg(fake_engine_wait_deleted(fe_, DELETE_WAIT_MS),
		      "containers left behind: %s\ndaemon log:\n%s", counts(),
		      harness_daemon_log_tail(dmn_, 3000));
}

/* After a fault: /health answers, a well-formed run works, every container
 * is deleted, the daemon exits 0 on SIGTERM (with nothing left to delete
 * then); with exact, no container was DELETEd twice. */
static void finish_ex(bool exact)
{
	long deletes;

	expect_health();
	fake_engine_set_mode(fe_, FAKE_ENGINE_HAPPY);
	expect_happy_run();
	expect_all_deleted();
	deletes = fake_engine_count(fe_, FAKE_ENGINE_DELETE);
	ck_assert_msg(fake_engine_count(fe_, FAKE_ENGINE_BAD_REQUEST) == 0, "%s", counts());
	ck_assert_msg(fake_engine_count(fe_, FAKE_ENGINE_NOT_FOUND) == 0, "%s", counts());
	ck_assert_int_eq(harness_daemon_stop(dmn_), 0);
	dmn_ = NULL;
	ck_assert_msg(fake_engine_undeleted(fe_) == 0, "%s", counts());
	ck_assert_msg(!exact || deletes == fake_engine_created(fe_), "DELETEs != containers: %s",
		      counts());
	ck_assert_msg(fake_engine_count(fe_, FAKE_ENGINE_DELETE) == deletes,
		      "DELETEs at shutdown: %s", counts());
	fake_engine_stop(fe_);
	fe_ = NULL;
}

static void finish(void)
{
	finish_ex(true);
}

/* --- the sanity check of the fake ------------------------------------------- */

START_TEST(test_happy)
{
	start_pair(FAKE_ENGINE_HAPPY, POOL_OFF);
	expect_happy_run();
	ck_assert_msg(fake_engine_count(fe_, FAKE_ENGINE_CREATE) == 1 &&
		      fake_engine_count(fe_, FAKE_ENGINE_ATTACH) == 1 &&
		      fake_engine_count(fe_, FAKE_ENGINE_START) == 1 &&
		      fake_engine_count(fe_, FAKE_ENGINE_KILL) == 0, "%s", counts());
	finish();
}
END_TEST

/* --- engine failures -------------------------------------------------------- */

START_TEST(test_create_500)
{
	static const char *const cause[] = { "fake engine: injected failure", NULL };
	cJSON *r;

	start_pair(FAKE_ENGINE_CREATE_500, POOL_OFF);
	r = execute_200(HELLO, 30);
	expect_failure(r, cause);
	ck_assert_str_eq(str(r, "output"), "");
	cJSON_Delete(r);
	ck_assert_msg(fake_engine_count(fe_, FAKE_ENGINE_CREATE) == 1 &&
		      fake_engine_created(fe_) == 0 &&
		      fake_engine_count(fe_, FAKE_ENGINE_ATTACH) == 0, "%s", counts());
	/* A 500 is no proof that nothing was made: a DELETE by name follows. */
	ck_assert_msg(fake_engine_count(fe_, FAKE_ENGINE_DELETE) >= 1, "%s", counts());
	finish_ex(false);
}
END_TEST

START_TEST(test_attach_500)
{
	static const char *const cause[] = { "fake engine: injected failure", NULL };
	cJSON *r;

	start_pair(FAKE_ENGINE_ATTACH_500, POOL_OFF);
	r = execute_200(HELLO, 30);
	expect_failure(r, cause);
	cJSON_Delete(r);
	ck_assert_msg(fake_engine_created(fe_) == 1 &&
		      fake_engine_count(fe_, FAKE_ENGINE_ATTACH) == 1 &&
		      fake_engine_count(fe_, FAKE_ENGINE_START) == 0, "%s", counts());
	finish();
}
END_TEST

START_TEST(test_start_500)
{
	static const char *const cause[] = { "fake engine: injected failure", NULL };
	cJSON *r;

	start_pair(FAKE_ENGINE_START_500, POOL_OFF);
	r = execute_200(HELLO, 30);
	expect_failure(r, cause);
	cJSON_Delete(r);
	ck_assert_msg(fake_engine_created(fe_) == 1 &&
		      fake_engine_count(fe_, FAKE_ENGINE_ATTACH) == 1 &&
		      fake_engine_count(fe_, FAKE_ENGINE_START) == 1, "%s", counts());
	finish();
}
END_TEST

/* A create that never answers: after docker.api_timeout_seconds the daemon
 * calls the engine unreachable: 503 with Retry-After, and recovers. */
START_TEST(test_create_hang_503)
{
	struct harness_response r;
	cJSON *root;
	double t0;

	start_pair(FAKE_ENGINE_CREATE_HANG, POOL_OFF "docker:\n  api_timeout_seconds: 2\n");
	t0 = harness_now();
	execute_raw(HELLO, 30, &r);
	ck_assert_msg(r.status == 503, "%s", harness_describe(&r));
	ck_assert_msg(harness_now() - t0 < 15, "the answer took %.1f s", harness_now() - t0);
	ck_assert_ptr_nonnull(harness_header(&r, "Retry-After"));
	root = harness_json(&r);
	harness_response_free(&r);
	ck_assert_int_eq(harness_check_detail_string(root), 0);
	ck_assert_msg(strstr(str(root, "detail"), "does not answer"), "detail: %s",
		      str(root, "detail"));
	cJSON_Delete(root);
	ck_assert_msg(fake_engine_count(fe_, FAKE_ENGINE_CREATE) == 1 &&
		      fake_engine_created(fe_) == 0, "%s", counts());
	/* The daemon also DELETEs by name the container whose create got no
	 * answer (there is none here): DELETEs may exceed containers. */
	finish_ex(false);
}
END_TEST

/* A create the engine completes after the daemon gave up on it (its
 * docker.api_timeout_seconds): the container exists, the daemon never
 * learned its id. It must still be removed while the daemon runs, not only
 * by the stale-container sweep of the next start. */
START_TEST(test_create_answered_late)
{
	struct harness_response r;

	start_pair(FAKE_ENGINE_CREATE_LATE, POOL_OFF "docker:\n  api_timeout_seconds: 1\n");
	execute_raw(HELLO, 30, &r);
	ck_assert_msg(r.status == 503, "%s", harness_describe(&r));
	harness_response_free(&r);
	ck_assert_msg(fake_engine_created(fe_) == 1, "%s", counts());
	finish();
}
END_TEST

/* The engine fails DELETEs for a while: the answer is not affected, the
 * reaper tries again (with a growing pause) and removes the container once
 * the engine lets it. */
START_TEST(test_delete_500_retried)
{
	cJSON *r;
	long tries;

	start_pair(FAKE_ENGINE_DELETE_500, POOL_OFF);
	r = execute_200(HELLO, 30);
	ck_assert_msg(flag(r, "success"), "%s", str(r, "error"));
	ck_assert_str_eq(str(r, "output"), "hi\n");
	cJSON_Delete(r);
	harness_sleep_ms(1500);
	tries = fake_engine_count(fe_, FAKE_ENGINE_DELETE);
	ck_assert_msg(tries >= 2 && fake_engine_undeleted(fe_) == 1, "%s", counts());
	expect_health();
	fake_engine_set_mode(fe_, FAKE_ENGINE_HAPPY);
	ck_assert_msg(fake_engine_wait_deleted(fe_, 8000), "not removed once the engine let it: %s",
		      counts());
	finish_ex(false);
}
END_TEST

/* SIGTERM while the engine still fails DELETEs: the daemon tries once more,
 * gives up (the next start removes it) and exits 0, promptly. */
START_TEST(test_delete_500_at_shutdown)
{
	cJSON *r;
	double t0;

	start_pair(FAKE_ENGINE_DELETE_500, POOL_OFF);
	r = execute_200(HELLO, 30);
	ck_assert_msg(flag(r, "success"), "%s", str(r, "error"));
	cJSON_Delete(r);
	harness_sleep_ms(300);
	t0 = harness_now();
	ck_assert_int_eq(harness_daemon_stop(dmn_), 0);
	dmn_ = NULL;
	ck_assert_msg(harness_now() - t0 < 10, "the daemon took %.1f s to stop",
		      harness_now() - t0);
	ck_assert_msg(fake_engine_undeleted(fe_) == 1, "%s", counts());
	fake_engine_stop(fe_);
	fe_ = NULL;
}
END_TEST

/* A create whose answer cannot be read: the engine made the container, the
 * daemon never learned its id. It is removed by name (it used to be left
 * until the next start), and the run fails with the reason. */
START_TEST(test_create_garbled_removed_by_name)
{
	static const char *const cause[] = { "no valid Id", NULL };
	struct harness_response r;
	cJSON *root;

	start_pair(FAKE_ENGINE_CREATE_GARBLED, POOL_OFF);
	execute_raw(HELLO, 30, &r);
	ck_assert_msg(r.status == 200 || r.status == 503, "%s", harness_describe(&r));
	root = harness_json(&r);
	ck_assert_ptr_nonnull(root);
	if (r.status == 200)
		expect_failure(root, cause);
	else
		ck_assert_msg(strstr(str(root, "detail"), "no valid Id"), "%s", harness_describe(&r));
	cJSON_Delete(root);
	harness_response_free(&r);
	ck_assert_msg(fake_engine_created(fe_) == 1 && fake_engine_count(fe_, FAKE_ENGINE_ATTACH) == 0,
		      "%s", counts());
	expect_all_deleted();
	finish_ex(false);
}
END_TEST

/* --- image pulls ------------------------------------------------------------ */

/* The image goes missing and the registry stalls: every run fails at once
 * (it never waits for the pull), one pull runs at a time, and a shutdown
 * does not wait for the stalled pull. */
START_TEST(test_pull_single_flight_off_the_request_path)
{
	double t0;

	start_pair(FAKE_ENGINE_HAPPY, POOL_OFF "docker:\n  pull_timeout_seconds: 60\n");
	expect_happy_run();
	fake_engine_set_mode(fe_, FAKE_ENGINE_NO_IMAGE_PULL_HANGS);
	for (int i = 0; i < 3; i++) {
		static const char *const cause[] = { "being pulled", NULL };
		cJSON *r;

		t0 = harness_now();
		r = execute_200(HELLO, 30);
		expect_failure(r, cause);
		ck_assert_msg(strstr(str(r, "error"), "python-sandbox") ||
			      strstr(str(r, "error"), "Sandbox image"), "%s", str(r, "error"));
		cJSON_Delete(r);
		ck_assert_msg(harness_now() - t0 < 5, "run %d waited %.1f s", i, harness_now() - t0);
	}
	harness_sleep_ms(300);
	ck_assert_msg(fake_engine_count(fe_, FAKE_ENGINE_PULL) == 1, "%s", counts());
	t0 = harness_now();
	ck_assert_int_eq(harness_daemon_stop(dmn_), 0);
	dmn_ = NULL;
	ck_assert_msg(harness_now() - t0 < 10, "the stop took %.1f s (the pull stalls for 60 s)",
		      harness_now() - t0);
	ck_assert_msg(fake_engine_undeleted(fe_) == 0, "%s", counts());
	fake_engine_stop(fe_);
	fe_ = NULL;
}
END_TEST

/* An engine without a registry: the pull at start fails fast and is not
 * fatal; runs fail at once naming the engine's reason; the image coming
 * back (a docker tag) brings the daemon back without a restart. */
START_TEST(test_pull_without_registry_then_retag)
{
	cJSON *r;
	double t0;

	start_pair(FAKE_ENGINE_NO_IMAGE_NO_REGISTRY, POOL_OFF);
	ck_assert_msg(fake_engine_count(fe_, FAKE_ENGINE_PULL) == 1, "%s", counts());
	ck_assert_msg(strstr(harness_daemon_log(dmn_), "no such host"), "%s",
		      harness_daemon_log_tail(dmn_, 2000));
	t0 = harness_now();
	r = execute_200(HELLO, 30);
	ck_assert(!flag(r, "success"));
	ck_assert_msg(strstr(str(r, "error"), "no such host"), "%s", str(r, "error"));
	cJSON_Delete(r);
	ck_assert_msg(harness_now() - t0 < 5, "the run waited %.1f s", harness_now() - t0);
	/* The run started a pull in the background; it fails as fast. */
	for (int i = 0; i < 50 && fake_engine_count(fe_, FAKE_ENGINE_PULL) < 2; i++)
		harness_sleep_ms(100);
	ck_assert_msg(fake_engine_count(fe_, FAKE_ENGINE_PULL) == 2, "%s", counts());
	fake_engine_set_mode(fe_, FAKE_ENGINE_HAPPY); /* the image is tagged again */
	expect_happy_run();
	harness_sleep_ms(1200); /* /health's cache */
	finish_ex(false);
}
END_TEST

/* --- broken streams --------------------------------------------------------- */

START_TEST(test_attach_truncated)
{
	static const char *const cause[] = { "ended before reporting", "run protocol", NULL };
	cJSON *r;

	start_pair(FAKE_ENGINE_ATTACH_TRUNCATED, POOL_OFF);
	r = execute_200(SHORT_RUN, 30);
	expect_failure(r, cause);
	cJSON_Delete(r);
	finish();
}
END_TEST

START_TEST(test_stream_garbage)
{
	static const char *const cause[] = { "run protocol", NULL };
	cJSON *r;
	double t0 = 0;

	start_pair(FAKE_ENGINE_STREAM_GARBAGE, POOL_OFF);
	t0 = harness_now();
	r = execute_200(SHORT_RUN, 30);
	expect_failure(r, cause);
	cJSON_Delete(r);
	/* Found at once, not at the time limit; the container is killed. */
	ck_assert_msg(harness_now() - t0 < 5, "the answer took %.1f s", harness_now() - t0);
	ck_assert_msg(fake_engine_count(fe_, FAKE_ENGINE_KILL) == 1, "%s", counts());
	finish();
}
END_TEST

START_TEST(test_record_over_cap)
{
	static const char *const cause[] = { "run protocol", NULL };
	cJSON *r;
	double t0 = 0;

	start_pair(FAKE_ENGINE_RECORD_OVER_CAP, POOL_OFF);
	t0 = harness_now();
	r = execute_200(SHORT_RUN, 30);
	expect_failure(r, cause);
	ck_assert_str_eq(str(r, "output"), "");
	cJSON_Delete(r);
	ck_assert_msg(harness_now() - t0 < 5, "the answer took %.1f s", harness_now() - t0);
	ck_assert_msg(fake_engine_count(fe_, FAKE_ENGINE_KILL) == 1, "%s", counts());
	finish();
}
END_TEST

START_TEST(test_no_status_eof)
{
	static const char *const cause[] = { "ended before reporting", NULL };
	cJSON *r;

	start_pair(FAKE_ENGINE_NO_STATUS_EOF, POOL_OFF);
	r = execute_200(SHORT_RUN, 30);
	expect_failure(r, cause);
	/* What came before the end is kept. */
	ck_assert_str_eq(str(r, "output"), "partial\n");
	cJSON_Delete(r);
	/* The daemon asked the engine how the container ended. */
	ck_assert_msg(fake_engine_count(fe_, FAKE_ENGINE_WAIT) +
		      fake_engine_count(fe_, FAKE_ENGINE_INSPECT) >= 1, "%s", counts());
	finish();
}
END_TEST

START_TEST(test_silent_times_out)
{
	cJSON *r;
	double t0, took;

	start_pair(FAKE_ENGINE_SILENT, POOL_OFF);
	t0 = harness_now();
	r = execute_200("{\"code\": \"print('hi')\", \"timeout\": 2}", 30);
	took = harness_now() - t0;
	ck_assert_msg(flag(r, "timed_out"), "not timed out: %s", str(r, "error"));
	ck_assert(!flag(r, "success"));
	ck_assert_int_eq(num(r, "exit_code"), -1);
	ck_assert_msg(strstr(str(r, "error"), "timed out"), "error: %s", str(r, "error"));
	cJSON_Delete(r);
	ck_assert_msg(took >= 1.8 && took < 8, "the answer took %.1f s for a 2 s limit", took);
	ck_assert_msg(fake_engine_count(fe_, FAKE_ENGINE_KILL) == 1, "%s", counts());
	finish();
}
END_TEST

/* A stream that never runs dry (the runner's stderr without end): the
 * deadline still ends the run. */
START_TEST(test_stderr_flood_times_out)
{
	cJSON *r;
	double t0, took;

	start_pair(FAKE_ENGINE_STDERR_FLOOD, POOL_OFF);
	t0 = harness_now();
	r = execute_200("{\"code\": \"print('hi')\", \"timeout\": 2}", 30);
	took = harness_now() - t0;
	ck_assert_msg(flag(r, "timed_out"), "not timed out: %s", str(r, "error"));
	ck_assert(!flag(r, "success"));
	cJSON_Delete(r);
	ck_assert_msg(took >= 1.8 && took < 8, "the answer took %.1f s for a 2 s limit", took);
	ck_assert_msg(fake_engine_count(fe_, FAKE_ENGINE_KILL) == 1, "%s", counts());
	finish();
}
END_TEST

/* --- every fault against one daemon: nothing accumulates ---------------------- */

START_TEST(test_every_fault_one_daemon)
{
	static const enum fake_engine_mode faults[] = {
		FAKE_ENGINE_CREATE_500, FAKE_ENGINE_ATTACH_500, FAKE_ENGINE_START_500,
		FAKE_ENGINE_ATTACH_TRUNCATED,
		FAKE_ENGINE_STREAM_GARBAGE, FAKE_ENGINE_RECORD_OVER_CAP,
		FAKE_ENGINE_NO_STATUS_EOF, FAKE_ENGINE_SILENT, FAKE_ENGINE_CREATE_HANG,
	};
	int pid, base, now = -1;
	double deadline;

	start_pair(FAKE_ENGINE_HAPPY, POOL_OFF "docker:\n  api_timeout_seconds: 2\n");
	pid = harness_daemon_pid(dmn_);
	expect_happy_run();
	expect_all_deleted();
	harness_sleep_ms(300);
	base = harness_proc_fds(pid);
	ck_assert_int_gt(base, 0);
	for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
		struct harness_response r;
		long want = faults[i] == FAKE_ENGINE_CREATE_HANG ? 503 : 200;

		fake_engine_set_mode(fe_, faults[i]);
		execute_raw("{\"code\": \"print('hi')\", \"timeout\": 2}", 30, &r);
		ck_assert_msg(r.status == want, "%s: %s", fake_engine_mode_name(faults[i]),
			      harness_describe(&r));
		ck_assert_msg(strstr(r.body, "\"success\":true") == NULL, "%s: %s",
			      fake_engine_mode_name(faults[i]), harness_describe(&r));
		harness_response_free(&r);
	}
	fake_engine_set_mode(fe_, FAKE_ENGINE_HAPPY);
	expect_happy_run();
	expect_all_deleted();
	/* The attach sockets and engine connections of the failed runs are closed. */
	deadline = harness_now() + 3;
	while (harness_now() < deadline && (now = harness_proc_fds(pid)) > base)
		harness_sleep_ms(100);
	ck_assert_msg(now <= base, "the daemon holds %d descriptors, %d before the faults", now,
		      base);
	finish_ex(false); /* CREATE_HANG: a DELETE by name of a container never made */
}
END_TEST

/* Removes the fake engines' sockets from dir (a failed test ends its
 * process at once, so its fake is not stopped), then dir itself unless the
 * harness kept the files of a failed test's daemon there. */
static void remove_sockets(const char *dir)
{
	char path[512];
	struct dirent *e;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, "cxd-fake-engine-", 16) != 0)
			continue;
		(void)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		(void)unlink(path);
	}
	(void)closedir(d);
	if (rmdir(dir) != 0)
		fprintf(stderr, "test_faults: daemon files of failed tests kept in %s\n", dir);
}

int main(void)
{
	Suite *s = suite_create("faults");
	TCase *tc = tcase_create("fake_engine");
	const char *tmp = getenv("TMPDIR");
	char dir[256];
	int rc;

	/* The daemon must see only the fake's DOCKER_HOST. */
	(void)unsetenv("DOCKER_HOST");
	/* The fakes' sockets and the daemons' files in one directory. */
	(void)snprintf(dir, sizeof(dir), "%s/cxd-faults-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		perror("test_faults: mkdtemp");
		return EXIT_FAILURE;
	}
	(void)setenv("TMPDIR", dir, 1);
	tcase_set_timeout(tc, TCASE_TIMEOUT_S);
	tcase_add_test(tc, test_happy);
	tcase_add_test(tc, test_create_500);
	tcase_add_test(tc, test_attach_500);
	tcase_add_test(tc, test_start_500);
	tcase_add_test(tc, test_create_hang_503);
	tcase_add_test(tc, test_create_answered_late);
	tcase_add_test(tc, test_delete_500_retried);
	tcase_add_test(tc, test_delete_500_at_shutdown);
	tcase_add_test(tc, test_attach_truncated);
	tcase_add_test(tc, test_stream_garbage);
	tcase_add_test(tc, test_record_over_cap);
	tcase_add_test(tc, test_no_status_eof);
	tcase_add_test(tc, test_silent_times_out);
	tcase_add_test(tc, test_create_garbled_removed_by_name);
	tcase_add_test(tc, test_stderr_flood_times_out);
	tcase_add_test(tc, test_pull_single_flight_off_the_request_path);
	tcase_add_test(tc, test_pull_without_registry_then_retag);
	tcase_add_test(tc, test_every_fault_one_daemon);
	suite_add_tcase(s, tc);

	rc = check_run(s, CK_NORMAL);
	remove_sockets(dir);
	return rc;
}
