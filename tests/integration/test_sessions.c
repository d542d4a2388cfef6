/* Sessions against the real daemon ($CODEEXECD_BIN) and the real engine:
 * state kept across calls, sessions that do not see each other, a memory
 * bomb or a fork bomb that ends its own session only, one call at a time,
 * idle expiry and shutdown removing the containers, API key ownership and
 * sessions.max.
 *
 * Each test starts its own daemon and ends with harness_daemon_stop_clean
 * (exit 0, no container of its instance left). No absolute timing is
 * asserted: waits are bounded polls with generous limits. */
#include <check.h>

#include "../check_run.h"
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define TCASE_TIMEOUT_S 600
#define WAIT_S 60              /* for the reaper, the expiry thread */
#define ID_LEN 32

static const char *const json_header[] = { "Content-Type: application/json", NULL };

/* "a,b\n1,2\n3,4\n" */
#define CSV_B64 "YSxiCjEsMgozLDQK"

static struct harness_daemon *start(const char *yaml)
{
	struct harness_daemon *d = harness_daemon_start(yaml);

	ck_assert_msg(d != NULL, "the daemon did not start (see stderr)");
	return d;
}

static void stop_clean(struct harness_daemon *d)
{
	ck_assert_msg(harness_daemon_stop_clean(d) == 0,
		      "the daemon did not exit cleanly or left containers (see stderr)");
}

/* Headers: Content-Type and, when key is set, X-API-Key. */
static const char *const *headers_for(const char *key, char *buf, size_t len,
				      const char *hdrs[3])
{
	hdrs[0] = "Content-Type: application/json";
	hdrs[1] = NULL;
	hdrs[2] = NULL;
	if (key) {
		(void)snprintf(buf, len, "X-API-Key: %s", key);
		hdrs[1] = buf;
	}
	return hdrs;
}

/* POST /sessions with body (NULL: none); returns the HTTP status, id gets
 * the session's id on 201. */
static long open_session_as(struct harness_daemon *d, const char *key, const char *body,
			    char id[ID_LEN + 1])
{
	struct harness_response r;
	const char *hdrs[3];
	char kb[128];
	cJSON *j, *sid;
	long status;

	ck_assert_int_eq(harness_http(d, "POST", "/sessions", body, body ? strlen(body) : 0,
				      headers_for(key, kb, sizeof(kb), hdrs), &r), 0);
	status = r.status;
	id[0] = '\0';
	if (status == 201) {
		j = harness_json(&r);
		sid = cJSON_GetObjectItemCaseSensitive(j, "session_id");
		ck_assert_msg(cJSON_IsString(sid) && strlen(sid->valuestring) == ID_LEN,
			      "POST /sessions: %s", harness_describe(&r));
		(void)snprintf(id, ID_LEN + 1, "%s", sid->valuestring);
		ck_assert_msg(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j, "setup")),
			      "POST /sessions without setup: %s", harness_describe(&r));
		cJSON_Delete(j);
	}
	harness_response_free(&r);
	return status;
}

static void open_session(struct harness_daemon *d, const char *body, char id[ID_LEN + 1])
{
	long status = open_session_as(d, NULL, body, id);

	ck_assert_msg(status == 201, "POST /sessions: status %ld; log:\n%s", status,
		      harness_daemon_log_tail(d, 3000));
}

/* POST /sessions/{id}/execute {"code": code} (+ extra JSON members);
 * returns the status, *out the parsed body (caller frees). */
static long call_as(struct harness_daemon *d, const char *key, const char *id, const char *code,
		    const char *extra, cJSON **out)
{
	struct harness_response r;
	const char *hdrs[3];
	char path[128], kb[128], *body;
	cJSON *b = cJSON_CreateObject();
	long status;

	cJSON_AddStringToObject(b, "code", code);
	body = cJSON_PrintUnformatted(b);
	cJSON_Delete(b);
	if (extra) {
		size_t n = strlen(body);
		char *grown = malloc(n + strlen(extra) + 2);
		ck_assert_ptr_nonnull(grown);
		(void)snprintf(grown, n + strlen(extra) + 2, "%.*s,%s}", (int)(n - 1), body, extra);
		free(body);
		body = grown;
	}
	(void)snprintf(path, sizeof(path), "/sessions/%s/execute", id);
	ck_assert_int_eq(harness_http(d, "POST", path, body, strlen(body),
				      headers_for(key, kb, sizeof(kb), hdrs), &r), 0);
	free(body);
	status = r.status;
	*out = harness_json(&r);
	ck_assert_msg(*out != NULL, "%s: no JSON: %s", path, harness_describe(&r));
	harness_response_free(&r);
	return status;
}

static long call(struct harness_daemon *d, const char *id, const char *code, cJSON **out)
{
	return call_as(d, NULL, id, code, NULL, out);
}

static const char *str(const cJSON *j, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);

	return cJSON_IsString(v) ? v->valuestring : "";
}

static bool flag(const cJSON *j, const char *name)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, name));
}

/* A call that must succeed with this output. */
static void expect_output(struct harness_daemon *d, const char *id, const char *code,
			  const char *want)
{
	cJSON *j = NULL;
	long status = call(d, id, code, &j);
	char *text = cJSON_PrintUnformatted(j);

	ck_assert_msg(status == 200 && flag(j, "success") && strcmp(str(j, "output"), want) == 0,
		      "%s: status %ld, %s (want output %s)", code, status, text, want);
	free(text);
	cJSON_Delete(j);
}

/* GET or DELETE /sessions/{id}: status, *out the body (may be NULL). */
static long session_req(struct harness_daemon *d, const char *method, const char *key,
			const char *id, cJSON **out)
{
	struct harness_response r;
	const char *hdrs[3];
	char path[128], kb[128];
	long status;

	(void)snprintf(path, sizeof(path), "/sessions/%s", id);
	ck_assert_int_eq(harness_http(d, method, path, NULL, 0,
				      headers_for(key, kb, sizeof(kb), hdrs), &r), 0);
	status = r.status;
	if (out)
		*out = harness_json(&r);
	harness_response_free(&r);
	return status;
}

/* Containers of this daemon's instance, waiting up to WAIT_S for want. */
static int wait_containers(struct harness_daemon *d, int want)
{
	char inst[160], label[256];
	double until = harness_now() + WAIT_S;
	int n;

	ck_assert_int_eq(harness_daemon_instance(d, inst, sizeof(inst)), 0);
	(void)snprintf(label, sizeof(label), "io.codeexecd.instance=%s", inst);
	while ((n = harness_docker_count_labelled(label)) != want && harness_now() < until)
		harness_sleep_ms(250);
	return n;
}

/* --- tests ---------------------------------------------------------------- */

START_TEST(test_state_persists)
{
	struct harness_daemon *d = start("execution:\n  pool_size: 1\n");
	char id[ID_LEN + 1];
	cJSON *j = NULL;

	open_session(d, "{\"files\": {\"data.csv\": \"" CSV_B64 "\"}}", id);
	expect_output(d, id, "x = 41", "");
	expect_output(d, id, "print(x + 1)", "42\n");
	expect_output(d, id, "import pandas as pd\ndf = pd.read_csv('/execution/files/data.csv')",
		      "");
	expect_output(d, id, "print(int(df['b'].sum()), x)", "6 41\n");
	ck_assert_int_eq(session_req(d, "GET", NULL, id, &j), 200);
	ck_assert_str_eq(str(j, "session_id"), id);
	ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(j, "calls")->valueint, 5);
	ck_assert(!flag(j, "busy"));
	ck_assert(str(j, "expires_at")[0] != '\0');
	cJSON_Delete(j);
	ck_assert_int_eq(session_req(d, "DELETE", NULL, id, NULL), 204);
	ck_assert_int_eq(session_req(d, "GET", NULL, id, &j), 404);
	ck_assert_msg(strstr(str(j, "detail"), "ended: it was deleted"), "detail: %s",
		      str(j, "detail"));
	cJSON_Delete(j);
	ck_assert_int_eq(call(d, id, "print(x)", &j), 404);
	cJSON_Delete(j);
	ck_assert_int_eq(session_req(d, "DELETE", NULL, id, NULL), 404);
	/* unknown ids and paths */
	ck_assert_int_eq(session_req(d, "GET", NULL, "0123456789abcdef0123456789abcdef", &j), 404);
	ck_assert_msg(strstr(str(j, "detail"), "not found"), "detail: %s", str(j, "detail"));
	cJSON_Delete(j);
	ck_assert_int_eq(session_req(d, "GET", NULL, "nope", NULL), 404);
	/* an empty POST without a JSON Content-Type (what a browser's simple
	 * cross-origin request sends) opens nothing */
	struct harness_response r;
	ck_assert_int_eq(harness_http(d, "POST", "/sessions", NULL, 0, NULL, &r), 0);
	ck_assert_int_eq(r.status, 422);
	harness_response_free(&r);
	stop_clean(d);
}
END_TEST

START_TEST(test_sessions_are_separate)
{
	struct harness_daemon *d = start("execution:\n  pool_size: 0\n");
	char a[ID_LEN + 1], b[ID_LEN + 1];
	cJSON *j = NULL;

	open_session(d, NULL, a);
	open_session(d, "{}", b);
	ck_assert_str_ne(a, b);
	ck_assert_int_eq(wait_containers(d, 2), 2); /* a container each */
	expect_output(d, a, "x = 'a'\nopen('/tmp/mine', 'w').write('a')", "");
	ck_assert_int_eq(call(d, b, "print(x)", &j), 200);
	ck_assert(!flag(j, "success"));
	ck_assert_ptr_nonnull(strstr(str(j, "error"), "NameError"));
	cJSON_Delete(j);
	expect_output(d, b, "import os\nprint(os.path.exists('/tmp/mine'))", "False\n");
	/* an error in a call does not end the session */
	expect_output(d, b, "print('still here')", "still here\n");
	expect_output(d, a, "print(x, open('/tmp/mine').read())", "a a\n");
	stop_clean(d);
}
END_TEST

START_TEST(test_memory_bomb_ends_its_session)
{
	struct harness_daemon *d = start("execution:\n  pool_size: 0\nlimits:\n  memory_bytes: 128m\n");
	char a[ID_LEN + 1], b[ID_LEN + 1];
	cJSON *j = NULL;

	open_session(d, NULL, a);
	open_session(d, NULL, b);
	expect_output(d, b, "y = 2", "");
	ck_assert_int_eq(call(d, a, "blob = bytearray(1024 ** 3)", &j), 200);
	ck_assert_msg(flag(j, "oom_killed") && !flag(j, "success"), "error: %s", str(j, "error"));
	ck_assert_msg(strstr(str(j, "error"), "has ended"), "error: %s", str(j, "error"));
	cJSON_Delete(j);
	ck_assert_int_eq(call(d, a, "print(1)", &j), 404);
	ck_assert_msg(strstr(str(j, "detail"), "ran out of memory"), "detail: %s",
		      str(j, "detail"));
	cJSON_Delete(j);
	expect_output(d, b, "print(y)", "2\n");
	ck_assert_int_eq(wait_containers(d, 1), 1);
	stop_clean(d);
}
END_TEST

START_TEST(test_fork_bomb_ends_its_session)
{
	struct harness_daemon *d = start("execution:\n  pool_size: 0\n");
	char a[ID_LEN + 1], b[ID_LEN + 1];
	cJSON *j = NULL;

	open_session(d, NULL, a);
	open_session(d, NULL, b);
	ck_assert_int_eq(call_as(d, NULL, a, "import os\nwhile True:\n    try:\n        os.fork()\n"
				 "    except OSError:\n        pass\n", "\"timeout\": 5", &j), 200);
	ck_assert_msg(!flag(j, "success") && flag(j, "timed_out"), "error: %s", str(j, "error"));
	ck_assert_msg(strstr(str(j, "error"), "has ended"), "error: %s", str(j, "error"));
	cJSON_Delete(j);
	ck_assert_int_eq(call(d, a, "print(1)", &j), 404);
	ck_assert_msg(strstr(str(j, "detail"), "ran out of time"), "detail: %s", str(j, "detail"));
	cJSON_Delete(j);
	expect_output(d, b, "print('b lives')", "b lives\n");
	ck_assert_int_eq(wait_containers(d, 1), 1);
	stop_clean(d);
}
END_TEST

struct slow_call {
	struct harness_daemon *d;
	const char *id;
	long status;
};

static void *slow_call_main(void *arg)
{
	struct slow_call *c = arg;
	cJSON *j = NULL;

	c->status = call(c->d, c->id, "import time\ntime.sleep(4)", &j);
	cJSON_Delete(j);
	return NULL;
}

START_TEST(test_one_call_at_a_time)
{
	struct harness_daemon *d = start("execution:\n  pool_size: 0\n");
	char id[ID_LEN + 1];
	struct slow_call c = { .d = d, .id = id };
	pthread_t t;
	cJSON *j = NULL;
	long status = 0;

	open_session(d, NULL, id);
	ck_assert_int_eq(pthread_create(&t, NULL, slow_call_main, &c), 0);
	/* until the slow call is seen running (GET says busy) */
	for (double until = harness_now() + 30; harness_now() < until;) {
		ck_assert_int_eq(session_req(d, "GET", NULL, id, &j), 200);
		bool busy = flag(j, "busy");
		cJSON_Delete(j);
		if (busy)
			break;
		harness_sleep_ms(50);
	}
	status = call(d, id, "print(1)", &j);
	ck_assert_msg(status == 409, "a second call: %ld", status);
	ck_assert_ptr_nonnull(strstr(str(j, "detail"), "busy"));
	cJSON_Delete(j);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_int_eq(c.status, 200);
	expect_output(d, id, "print(2)", "2\n");
	stop_clean(d);
}
END_TEST

START_TEST(test_idle_expiry)
{
	struct harness_daemon *d = start("execution:\n  pool_size: 0\nsessions:\n"
					 "  idle_timeout_seconds: 2\n  max_lifetime_seconds: 600\n");
	char id[ID_LEN + 1];
	cJSON *j = NULL;
	long status = 200;

	open_session(d, NULL, id);
	ck_assert_int_eq(wait_containers(d, 1), 1);
	for (double until = harness_now() + WAIT_S; status == 200 && harness_now() < until;) {
		harness_sleep_ms(500);
		cJSON_Delete(j);
		status = session_req(d, "GET", NULL, id, &j);
	}
	ck_assert_int_eq(status, 404);
	ck_assert_msg(strstr(str(j, "detail"), "idle"), "detail: %s", str(j, "detail"));
	cJSON_Delete(j);
	ck_assert_int_eq(wait_containers(d, 0), 0);
	stop_clean(d);
}
END_TEST

START_TEST(test_shutdown_removes_sessions)
{
	struct harness_daemon *d = start("execution:\n  pool_size: 1\n");
	char a[ID_LEN + 1], b[ID_LEN + 1];

	open_session(d, NULL, a);
	open_session(d, NULL, b);
	expect_output(d, a, "x = 1", "");
	stop_clean(d); /* exit 0 and no container of the instance left */
}
END_TEST

/* A daemon killed with open sessions: the next start (same instance)
 * removes their containers, as any crash leftover. */
START_TEST(test_crash_leaves_nothing)
{
	char dir[] = "/tmp/test_sessions_state_XXXXXX", cmd[300];
	char a[ID_LEN + 1], b[ID_LEN + 1];
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t salen = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;
	struct harness_daemon *d;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &salen), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	struct harness_opts o = { .yaml = "execution:\n  pool_size: 0\n", .port = port,
				  .state_dir = dir };
	d = harness_daemon_start_opts(&o);
	ck_assert_ptr_nonnull(d);
	open_session(d, NULL, a);
	open_session(d, NULL, b);
	ck_assert_int_eq(wait_containers(d, 2), 2);
	ck_assert_int_eq(harness_daemon_signal(d, SIGKILL), 0);
	(void)harness_daemon_stop(d);
	d = harness_daemon_start_opts(&o);
	ck_assert_ptr_nonnull(d);
	ck_assert_int_eq(wait_containers(d, 0), 0);
	ck_assert_ptr_nonnull(strstr(harness_daemon_log(d), "removed 2 container(s)"));
	ck_assert_int_eq(session_req(d, "GET", NULL, a, NULL), 404);
	stop_clean(d);
	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(test_max_sessions)
{
	struct harness_daemon *d = start("execution:\n  pool_size: 0\nsessions:\n  max: 1\n");
	struct harness_response r;
	char a[ID_LEN + 1], b[ID_LEN + 1];

	open_session(d, NULL, a);
	ck_assert_int_eq(harness_http(d, "POST", "/sessions", NULL, 0, json_header, &r), 0);
	ck_assert_msg(r.status == 429, "%s", harness_describe(&r));
	ck_assert_ptr_nonnull(harness_header(&r, "Retry-After"));
	ck_assert_ptr_nonnull(strstr(r.body, "sessions.max"));
	harness_response_free(&r);
	ck_assert_int_eq(session_req(d, "DELETE", NULL, a, NULL), 204);
	open_session(d, NULL, b);
	/* the metrics say so */
	ck_assert_int_eq(harness_http(d, "GET", "/metrics", NULL, 0, NULL, &r), 0);
	ck_assert_ptr_nonnull(strstr(r.body, "codeexecd_sessions 1\n"));
	ck_assert_ptr_nonnull(strstr(r.body, "codeexecd_sessions_ended_total{reason=\"deleted\"} 1\n"));
	harness_response_free(&r);
	stop_clean(d);
}
END_TEST

/* `codeexecd --hash-key name`: its line appended to keys_file; key gets the key. */

START_TEST(test_key_ownership)
{
	char dir[] = "/tmp/test_sessions_XXXXXX", keys[256], yaml[512], alice[80], bob[80];
	char id[ID_LEN + 1];
	struct harness_daemon *d;
	cJSON *j = NULL;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	(void)snprintf(keys, sizeof(keys), "%s/keys", dir);
	ck_assert_int_eq(harness_hash_key("alice", "", keys, alice, sizeof(alice)), 0);
	ck_assert_int_eq(harness_hash_key("bob", "", keys, bob, sizeof(bob)), 0);
	(void)snprintf(yaml, sizeof(yaml), "auth:\n  keys_file: \"%s\"\nexecution:\n"
		       "  pool_size: 0\n", keys);
	d = start(yaml);
	ck_assert_int_eq(open_session_as(d, NULL, NULL, id), 401);
	ck_assert_int_eq(open_session_as(d, alice, NULL, id), 201);
	ck_assert_int_eq(call_as(d, alice, id, "secret = 7", NULL, &j), 200);
	cJSON_Delete(j);
	ck_assert_int_eq(call_as(d, bob, id, "print(secret)", NULL, &j), 404);
	cJSON_Delete(j);
	ck_assert_int_eq(session_req(d, "GET", bob, id, NULL), 404);
	ck_assert_int_eq(session_req(d, "DELETE", bob, id, NULL), 404);
	ck_assert_int_eq(session_req(d, "GET", NULL, id, NULL), 401);
	ck_assert_int_eq(call_as(d, alice, id, "print(secret)", NULL, &j), 200);
	ck_assert_str_eq(str(j, "output"), "7\n");
	cJSON_Delete(j);
	ck_assert_int_eq(session_req(d, "DELETE", alice, id, NULL), 204);
	stop_clean(d);
	(void)unlink(keys);
	(void)rmdir(dir);
}
END_TEST

/* sys.exit ends the call (with its code) and the session goes on, as in a
 * notebook; os._exit ends the process, and so the session. Per-call stdin,
 * figures and output_files (what the call created or changed). */
START_TEST(test_exit_stdin_and_outputs)
{
	struct harness_daemon *d = start("execution:\n  pool_size: 1\n");
	char id[ID_LEN + 1], body[512];
	struct harness_response r;
	cJSON *j = NULL, *files;

	open_session(d, "{}", id);
	expect_output(d, id, "y = 7", "");
	ck_assert_int_eq(call(d, id, "import sys\nprint(y)\nsys.exit(3)", &j), 200);
	ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(j, "exit_code")->valueint, 3);
	ck_assert_str_eq(str(j, "output"), "7\n");
	cJSON_Delete(j);
	expect_output(d, id, "print(y + 1)", "8\n");

	/* each call has its own stdin */
	(void)snprintf(body, sizeof(body), "/sessions/%s/execute", id);
	const char *with_stdin = "{\"code\": \"print(input() * 2)\", \"stdin\": \"ab\\n\"}";
	ck_assert_int_eq(harness_http(d, "POST", body, with_stdin, strlen(with_stdin), json_header,
				      &r), 0);
	ck_assert_int_eq(r.status, 200);
	j = harness_json(&r);
	ck_assert_str_eq(str(j, "output"), "abab\n");
	cJSON_Delete(j);
	harness_response_free(&r);

	/* output_files: only what this call wrote; a figure left open comes back */
	const char *write_two = "{\"code\": \"open('/execution/output/a.csv','w').write('1')\\n"
				"import matplotlib.pyplot as plt\\nplt.plot([1, 2])\", "
				"\"output_include\": [\"*\"]}";
	ck_assert_int_eq(harness_http(d, "POST", body, write_two, strlen(write_two), json_header,
				      &r), 0);
	j = harness_json(&r);
	files = cJSON_GetObjectItemCaseSensitive(j, "output_files");
	ck_assert_msg(cJSON_GetArraySize(files) == 2 &&
		      cJSON_GetObjectItemCaseSensitive(files, "a.csv") &&
		      cJSON_GetObjectItemCaseSensitive(files, "figure-1.png"), "%s",
		      harness_describe(&r));
	cJSON_Delete(j);
	harness_response_free(&r);
	const char *write_one = "{\"code\": \"open('/execution/output/b.csv','w').write('2')\", "
				"\"output_include\": [\"*\"]}";
	ck_assert_int_eq(harness_http(d, "POST", body, write_one, strlen(write_one), json_header,
				      &r), 0);
	j = harness_json(&r);
	files = cJSON_GetObjectItemCaseSensitive(j, "output_files");
	ck_assert_msg(cJSON_GetArraySize(files) == 1 &&
		      cJSON_GetObjectItemCaseSensitive(files, "b.csv"), "%s", harness_describe(&r));
	cJSON_Delete(j);
	harness_response_free(&r);

	/* a request file that the session's code put a directory in the way of:
	 * a note, and the session goes on */
	expect_output(d, id, "import os\nos.makedirs('/execution/files/f.txt')", "");
	const char *blocked = "{\"code\": \"print(y)\", \"files\": {\"f.txt\": \"eA==\"}}";
	ck_assert_int_eq(harness_http(d, "POST", body, blocked, strlen(blocked), json_header, &r), 0);
	j = harness_json(&r);
	ck_assert_msg(r.status == 200 && strcmp(str(j, "output"), "7\n") == 0 &&
		      strstr(str(j, "error"), "file f.txt was not written"), "%s",
		      harness_describe(&r));
	cJSON_Delete(j);
	harness_response_free(&r);

	/* os._exit: the process is gone, and so is the session */
	ck_assert_int_eq(call(d, id, "import os\nos._exit(5)", &j), 200);
	ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(j, "exit_code")->valueint, 5);
	cJSON_Delete(j);
	ck_assert_int_eq(call(d, id, "print(y)", &j), 404);
	cJSON_Delete(j);

	/* setup code that ends its process: 422 (the client's code), with its answer */
	const char *dies = "{\"code\": \"import os\\nos._exit(3)\"}";
	ck_assert_int_eq(harness_http(d, "POST", "/sessions", dies, strlen(dies), json_header, &r),
			 0);
	j = harness_json(&r);
	ck_assert_msg(r.status == 422 && strstr(str(j, "detail"), "ended its process") &&
		      cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "setup"),
						       "exit_code")->valueint == 3,
		      "%s", harness_describe(&r));
	cJSON_Delete(j);
	harness_response_free(&r);
	stop_clean(d);
}
END_TEST

static Suite *sessions_suite(void)
{
	Suite *s = suite_create("sessions");
	TCase *tc = tcase_create("sessions");

	tcase_set_timeout(tc, TCASE_TIMEOUT_S);
	tcase_add_test(tc, test_state_persists);
	tcase_add_test(tc, test_exit_stdin_and_outputs);
	tcase_add_test(tc, test_sessions_are_separate);
	tcase_add_test(tc, test_memory_bomb_ends_its_session);
	tcase_add_test(tc, test_fork_bomb_ends_its_session);
	tcase_add_test(tc, test_one_call_at_a_time);
	tcase_add_test(tc, test_idle_expiry);
	tcase_add_test(tc, test_shutdown_removes_sessions);
	tcase_add_test(tc, test_crash_leaves_nothing);
	tcase_add_test(tc, test_max_sessions);
	tcase_add_test(tc, test_key_ownership);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	int rc;

	if (!getenv("CODEEXECD_BIN")) {
		fprintf(stderr, "test_sessions: set CODEEXECD_BIN to the daemon binary "
				"(make check-integration does)\n");
		return EXIT_FAILURE;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = check_run(sessions_suite(), CK_ENV);
	curl_global_cleanup();
	return rc;
}
