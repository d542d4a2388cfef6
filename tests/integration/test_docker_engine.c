/* docker.c and demux.c against the real engine (DOCKER_HOST, else
 * /var/run/docker.sock) and the sandbox image (CODEEXECD_TEST_IMAGE, else
 * python-sandbox:latest). Skips, passing, when no engine answers /_ping.
 * Every container carries io.codeexecd.test=1 and an owner label of this
 * process; whatever a failed test leaves is removed at the end. */
#include <check.h>

#include "../check_run.h"
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "codeexecd/demux.h"
#include "codeexecd/docker.h"

#define TEST_LABEL "io.codeexecd.test"
#define OWNER_LABEL "io.codeexecd.test.owner"
#define CALL_TIMEOUT_S 30
#define OUT_MAX 4096
#define ECHO_CODE "import sys; d=sys.stdin.buffer.read(5); " \
		  "sys.stdout.write(d.decode().upper()); sys.stderr.write('err')"

static const char *image;
static const char *host;
static char owner[64];          /* "test_docker_engine-<pid>" */
static char owner_filter[128];  /* OWNER_LABEL "=" owner */
static struct docker *dk;       /* opened and pinged by main() */

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* A container spec running argv (NULL-terminated) with stdin attached;
 * malloc'ed JSON. */
static char *spec_for(const char *img, const char *const *argv)
{
	cJSON *s = cJSON_CreateObject();
	cJSON *cmd = cJSON_AddArrayToObject(s, "Cmd");
	cJSON *labels = cJSON_AddObjectToObject(s, "Labels");
	cJSON *hc = cJSON_AddObjectToObject(s, "HostConfig");
	char *json;

	ck_assert_ptr_nonnull(hc);
	cJSON_AddStringToObject(s, "Image", img);
	for (size_t i = 0; argv[i]; i++)
		cJSON_AddItemToArray(cmd, cJSON_CreateString(argv[i]));
	cJSON_AddBoolToObject(s, "OpenStdin", 1);
	cJSON_AddBoolToObject(s, "StdinOnce", 1);
	cJSON_AddBoolToObject(s, "AttachStdin", 1);
	cJSON_AddBoolToObject(s, "AttachStdout", 1);
	cJSON_AddBoolToObject(s, "AttachStderr", 1);
	cJSON_AddBoolToObject(s, "Tty", 0);
	cJSON_AddStringToObject(labels, TEST_LABEL, "1");
	cJSON_AddStringToObject(labels, OWNER_LABEL, owner);
	cJSON_AddStringToObject(hc, "NetworkMode", "none");
	json = cJSON_PrintUnformatted(s);
	cJSON_Delete(s);
	ck_assert_ptr_nonnull(json);
	return json;
}

static void create(const char *const *argv, const char *name, char id[CXD_CONTAINER_ID_MAX + 1])
{
	char err[CXD_ERR_MAX] = "";
	char *spec = spec_for(image, argv);
	int rc = docker_container_create(dk, name, spec, id, err, sizeof(err));

	cJSON_free(spec);
	ck_assert_msg(rc == 0, "create: %d %s", rc, err);
	ck_assert_uint_eq(strlen(id), 64);
}

static void remove_ok(const char *id)
{
	char err[CXD_ERR_MAX] = "";
	int rc = docker_container_remove(dk, id, err, sizeof(err));

	ck_assert_msg(rc == 0, "remove: %d %s", rc, err);
}

/* --- tests ---------------------------------------------------------------- */

START_TEST(test_ping_and_version)
{
	char err[CXD_ERR_MAX] = "";
	char want[16];

	ck_assert_int_eq(docker_ping(dk, err, sizeof(err)), 0);
	ck_assert_str_ne(docker_api_version(dk), "");
	ck_assert_int_eq(docker_negotiate_version(docker_api_version(dk), want, sizeof(want)), 0);
	ck_assert_str_eq(want, docker_api_version(dk));
	printf("engine at %s, API %s\n", docker_endpoint(dk), docker_api_version(dk));
}
END_TEST

START_TEST(test_image_exists_and_missing)
{
	char err[CXD_ERR_MAX] = "";

	ck_assert_int_eq(docker_image_exists(dk, image, err, sizeof(err)), 0);
	ck_assert_int_eq(docker_image_exists(dk, "codeexecd-no-such-image:never", err,
					     sizeof(err)), -ENOENT);
	ck_assert_msg(strcasestr(err, "no such image"), "err: %s", err);
	/* a name with a registry and a path, escaped */
	ck_assert_int_eq(docker_image_exists(dk, "localhost:5000/codeexecd/none:x", err,
					     sizeof(err)), -ENOENT);
}
END_TEST

struct output {
	char out[OUT_MAX];
	size_t out_len;
	char err[OUT_MAX];
	size_t err_len;
	double first_ms;    /* when the first payload came; 0: not yet */
};

static int output_sink(void *ctx, enum demux_stream stream, const uint8_t *data, size_t len)
{
	struct output *o = ctx;
	char *buf = stream == DEMUX_STDERR ? o->err : o->out;
	size_t *have = stream == DEMUX_STDERR ? &o->err_len : &o->out_len;

	if (o->first_ms == 0)
		o->first_ms = now_ms();
	if (*have + len >= OUT_MAX)
		return -ENOBUFS;
	memcpy(buf + *have, data, len);
	*have += len;
	buf[*have] = '\0';
	return 0;
}

/* Reads and demuxes until the end of the stream (or 20 s). */
static void read_to_eof(struct docker_stream *s, struct output *o)
{
	double deadline = now_ms() + 20000;
	struct demux dm;
	uint8_t buf[1024];

	demux_init(&dm);
	for (;;) {
		ssize_t n = docker_stream_read(s, buf, sizeof(buf));

		if (n == -EAGAIN) {
			struct pollfd p = {.fd = docker_stream_fd(s), .events = POLLIN};

			ck_assert_msg(now_ms() < deadline, "no end of stream in 20 s");
			ck_assert_int_ge(poll(&p, 1, 1000), 0);
			continue;
		}
		ck_assert_int_ge(n, 0);
		if (n == 0)
			break;
		ck_assert_int_eq(demux_feed(&dm, buf, (size_t)n, output_sink, o), 0);
	}
	ck_assert(demux_at_boundary(&dm));
}

START_TEST(test_attach_roundtrip)
{
	static const char *const argv[] = {"python", "-c", ECHO_CODE, NULL};
	char id[CXD_CONTAINER_ID_MAX + 1];
	char err[CXD_ERR_MAX] = "";
	struct docker_stream *s = NULL;
	struct docker_state st;
	struct output o = {0};
	double t0, t1, t2, t3, t4, t5;
	int code = -1;

	t0 = now_ms();
	create(argv, NULL, id);
	t1 = now_ms();
	ck_assert_msg(docker_attach(dk, id, &s, err, sizeof(err)) == 0, "attach: %s", err);
	ck_assert_int_ge(docker_stream_fd(s), 0);
	t2 = now_ms();
	ck_assert_msg(docker_container_start(dk, id, err, sizeof(err)) == 0, "start: %s", err);
	t3 = now_ms();
	ck_assert_int_eq(docker_stream_write_all(s, "hello", 5, 5000), 0);
	read_to_eof(s, &o);
	t4 = now_ms();
	docker_stream_close(s);
	ck_assert_str_eq(o.out, "HELLO");
	ck_assert_str_eq(o.err, "err");

	ck_assert_int_eq(docker_container_wait(dk, id, 10000, &code, err, sizeof(err)), 0);
	ck_assert_int_eq(code, 0);
	ck_assert_msg(docker_container_inspect(dk, id, &st, err, sizeof(err)) == 0, "%s", err);
	ck_assert(!st.running);
	ck_assert(!st.oom_killed);
	ck_assert_int_eq(st.exit_code, 0);
	t5 = now_ms();
	remove_ok(id);
	printf("timing ms: create %.1f, attach %.1f, start %.1f, first output %.1f, "
	       "end of stream %.1f, remove %.1f\n", t1 - t0, t2 - t1, t3 - t2,
	       o.first_ms - t3, t4 - t3, now_ms() - t5);
	ck_assert_int_eq(docker_container_remove(dk, id, err, sizeof(err)), 0);   /* gone: 0 */
	ck_assert_int_eq(docker_container_inspect(dk, id, &st, err, sizeof(err)), -ENOENT);
}
END_TEST

START_TEST(test_containers_by_label)
{
	static const char *const argv[] = {"true", NULL};
	char id[CXD_CONTAINER_ID_MAX + 1];
	char err[CXD_ERR_MAX] = "";
	char **ids = NULL;
	size_t n = 0, hits = 0;

	create(argv, NULL, id);
	ck_assert_msg(docker_containers_by_label(dk, TEST_LABEL "=1", &ids, &n, err,
						 sizeof(err)) == 0, "%s", err);
	for (size_t i = 0; i < n; i++)
		hits += strcmp(ids[i], id) == 0;
	docker_free_ids(ids, n);
	ck_assert_uint_eq(hits, 1);

	ck_assert_int_eq(docker_containers_by_label(dk, owner_filter, &ids, &n, err,
						    sizeof(err)), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(ids[0], id);
	docker_free_ids(ids, n);
	remove_ok(id);

	ck_assert_int_eq(docker_containers_by_label(dk, owner_filter, &ids, &n, err,
						    sizeof(err)), 0);
	ck_assert_uint_eq(n, 0);
	docker_free_ids(ids, n);
	ck_assert_int_eq(docker_containers_by_label(dk, "io.codeexecd.none=\"quoted & odd\"", &ids,
						    &n, err, sizeof(err)), 0);
	ck_assert_uint_eq(n, 0);
	docker_free_ids(ids, n);
}
END_TEST

START_TEST(test_kill_running)
{
	static const char *const argv[] = {"sleep", "60", NULL};
	char id[CXD_CONTAINER_ID_MAX + 1];
	char err[CXD_ERR_MAX] = "";
	struct docker_state st;
	int code = -1;

	create(argv, NULL, id);
	/* kill before start: not running, which is what kill wants */
	ck_assert_msg(docker_container_kill(dk, id, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(docker_container_start(dk, id, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(docker_container_inspect(dk, id, &st, err, sizeof(err)), 0);
	ck_assert(st.running);
	ck_assert_msg(docker_container_kill(dk, id, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(docker_container_wait(dk, id, 10000, &code, err, sizeof(err)) == 0, "%s",
		      err);
	ck_assert_int_eq(code, 137);
	ck_assert_int_eq(docker_container_inspect(dk, id, &st, err, sizeof(err)), 0);
	ck_assert(!st.running);
	ck_assert_int_eq(st.exit_code, 137);
	ck_assert_msg(docker_container_kill(dk, id, err, sizeof(err)) == 0, "again: %s", err);
	remove_ok(id);
	ck_assert_int_eq(docker_container_kill(dk, id, err, sizeof(err)), -ENOENT);
}
END_TEST

START_TEST(test_wait_timeout)
{
	static const char *const argv[] = {"sleep", "60", NULL};
	char id[CXD_CONTAINER_ID_MAX + 1];
	char err[CXD_ERR_MAX] = "";
	int code = -1;
	double t0;
	int rc;

	create(argv, NULL, id);
	ck_assert_msg(docker_container_start(dk, id, err, sizeof(err)) == 0, "%s", err);
	t0 = now_ms();
	rc = docker_container_wait(dk, id, 300, &code, err, sizeof(err));
	ck_assert_msg(rc == -ETIMEDOUT, "wait: %d %s", rc, err);
	ck_assert_double_ge(now_ms() - t0, 250);
	ck_assert_double_lt(now_ms() - t0, 2000);
	ck_assert_int_eq(code, -1);
	t0 = now_ms();
	remove_ok(id);   /* force: kills it */
	printf("timing ms: remove of a running container %.1f\n", now_ms() - t0);
}
END_TEST

START_TEST(test_create_missing_image)
{
	static const char *const argv[] = {"true", NULL};
	char id[CXD_CONTAINER_ID_MAX + 1] = "";
	char err[CXD_ERR_MAX] = "";
	char *spec = spec_for("codeexecd-no-such-image:never", argv);
	int rc = docker_container_create(dk, NULL, spec, id, err, sizeof(err));

	cJSON_free(spec);
	ck_assert_int_eq(rc, -ENOENT);
	ck_assert_msg(strstr(err, "No such image: codeexecd-no-such-image:never"), "err: %s", err);
	ck_assert_str_eq(id, "");
}
END_TEST

START_TEST(test_named_container)
{
	static const char *const argv[] = {"true", NULL};
	char name[96], id[CXD_CONTAINER_ID_MAX + 1], id2[CXD_CONTAINER_ID_MAX + 1];
	char err[CXD_ERR_MAX] = "";
	struct docker_state st;
	char *spec = spec_for(image, argv);

	snprintf(name, sizeof(name), "codeexecd-test-%ld", (long)getpid());
	create(argv, name, id);
	ck_assert_int_eq(docker_container_inspect(dk, name, &st, err, sizeof(err)), 0);
	ck_assert_int_eq(docker_container_create(dk, name, spec, id2, err, sizeof(err)), -EIO);
	ck_assert_msg(strstr(err, "already in use"), "err: %s", err);
	ck_assert_int_eq(docker_container_create(dk, "bad name/&?", spec, id2, err, sizeof(err)),
			 -EIO);
	ck_assert_msg(strstr(err, "Invalid container name"), "err: %s", err);
	cJSON_free(spec);
	remove_ok(name);
	ck_assert_int_eq(docker_container_inspect(dk, id, &st, err, sizeof(err)), -ENOENT);
}
END_TEST

START_TEST(test_missing_container)
{
	const char *id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	char err[CXD_ERR_MAX] = "";
	struct docker_stream *s = NULL;
	int code;

	ck_assert_int_eq(docker_container_start(dk, id, err, sizeof(err)), -ENOENT);
	ck_assert_msg(strstr(err, "No such container"), "err: %s", err);
	ck_assert_int_eq(docker_container_wait(dk, id, 1000, &code, err, sizeof(err)), -ENOENT);
	ck_assert_int_eq(docker_attach(dk, id, &s, err, sizeof(err)), -ENOENT);
	ck_assert_msg(strstr(err, "No such container"), "err: %s", err);
	ck_assert_ptr_null(s);
	ck_assert_int_eq(docker_container_remove(dk, id, err, sizeof(err)), 0);
}
END_TEST

START_TEST(test_pull_missing)
{
	char err[CXD_ERR_MAX] = "";
	int rc = docker_image_pull(dk, "codeexecd-no-such-image:never", err, sizeof(err));

	/* no such repository, or no registry reachable: an error with the engine's text */
	ck_assert_msg(rc == -ENOENT || rc == -EIO, "pull: %d %s", rc, err);
	ck_assert_msg(strstr(err, "codeexecd-no-such-image:never: "), "err: %s", err);
	printf("pull of a missing image: %s\n", err);
}
END_TEST

/* Several threads on a fresh handle: the version is negotiated once. */
static void *first_calls(void *arg)
{
	struct docker *d = arg;
	char err[CXD_ERR_MAX];

	return (void *)(long)docker_image_exists(d, image, err, sizeof(err));
}

START_TEST(test_concurrent_negotiation)
{
	struct docker *d = NULL;
	char err[CXD_ERR_MAX] = "";
	pthread_t t[8];

	ck_assert_int_eq(docker_open(&d, host, NULL, CALL_TIMEOUT_S, err, sizeof(err)), 0);
	ck_assert_str_eq(docker_api_version(d), "");
	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, first_calls, d), 0);
	for (int i = 0; i < 8; i++) {
		void *rc;

		ck_assert_int_eq(pthread_join(t[i], &rc), 0);
		ck_assert_int_eq((long)rc, 0);
	}
	ck_assert_str_eq(docker_api_version(d), docker_api_version(dk));
	docker_close(d);
}
END_TEST

/* --- main ----------------------------------------------------------------- */

static Suite *engine_suite(void)
{
	Suite *s = suite_create("docker_engine");
	TCase *tc = tcase_create("engine");

	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, test_ping_and_version);
	tcase_add_test(tc, test_image_exists_and_missing);
	tcase_add_test(tc, test_attach_roundtrip);
	tcase_add_test(tc, test_containers_by_label);
	tcase_add_test(tc, test_kill_running);
	tcase_add_test(tc, test_wait_timeout);
	tcase_add_test(tc, test_create_missing_image);
	tcase_add_test(tc, test_named_container);
	tcase_add_test(tc, test_missing_container);
	tcase_add_test(tc, test_pull_missing);
	tcase_add_test(tc, test_concurrent_negotiation);
	suite_add_tcase(s, tc);
	return s;
}

/* Removes whatever a failed test left behind; returns how many. */
static size_t sweep(void)
{
	char err[CXD_ERR_MAX] = "";
	char **ids = NULL;
	size_t n = 0;

	if (docker_containers_by_label(dk, owner_filter, &ids, &n, err, sizeof(err)) != 0) {
		fprintf(stderr, "test_docker_engine: cannot list leftovers: %s\n", err);
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		(void)docker_container_remove(dk, ids[i], err, sizeof(err));
	docker_free_ids(ids, n);
	return n;
}

int main(void)
{
	char err[CXD_ERR_MAX] = "";
	size_t left;
	int rc;

	image = getenv("CODEEXECD_TEST_IMAGE");
	image = image && image[0] ? image : "python-sandbox:latest";
	host = getenv("DOCKER_HOST");
	snprintf(owner, sizeof(owner), "test_docker_engine-%ld", (long)getpid());
	snprintf(owner_filter, sizeof(owner_filter), OWNER_LABEL "=%s", owner);
	if (docker_global_init() != 0)
		return EXIT_FAILURE;
	if (docker_open(&dk, host, NULL, CALL_TIMEOUT_S, err, sizeof(err)) != 0 ||
	    docker_ping(dk, err, sizeof(err)) != 0) {
		printf("test_docker_engine: skipped, no Docker engine: %s\n", err);
		docker_close(dk);
		docker_global_cleanup();
		return EXIT_SUCCESS;
	}
	rc = check_run(engine_suite(), CK_NORMAL);
	left = sweep();
	if (left > 0)
		fprintf(stderr, "test_docker_engine: removed %zu leftover containers\n", left);
	docker_close(dk);
	docker_global_cleanup();
	return rc;
}
