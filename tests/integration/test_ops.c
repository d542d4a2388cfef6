/* Operations, against the real binary and the real engine: GET /metrics
 * (values after real executions, promtool's check of a scrape, server.metrics
 * off, the private metrics listener), API keys (401 and its header, both
 * ways of sending a key, public routes, per-key limits, keys made by
 * --hash-key, start-up errors, the warning without keys), and SIGHUP live
 * reload (keys, docs protection, log format, pool size; a request in flight
 * finishes; an invalid configuration is refused and the old one kept).
 * systemd (sd_notify, socket activation, journal priorities) is in
 * test_systemd.c. */
#include <check.h>

#include "../check_run.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define TCASE_TIMEOUT_S 600
#define QUICK "{\"code\": \"print(1)\"}"

/* --- helpers ----------------------------------------------------------------- */

/* The value of the series `series` (exact, labels included) in a scrape,
 * or -1 when it is absent. */
static double metric(const char *text, const char *series)
{
	size_t n = strlen(series);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return atof(p + n + 1);
	return -1;
}

static char *scrape(int port, const char *const *headers)
{
	struct harness_response r;
	char *body;

	ck_assert_int_eq(harness_http_port(port, "GET", "/metrics", NULL, 0, headers, &r), 0);
	ck_assert_msg(r.status == 200, "%s", harness_describe(&r));
	ck_assert_ptr_nonnull(harness_header(&r, "Content-Type"));
	ck_assert_msg(strncmp(harness_header(&r, "Content-Type"), "text/plain; version=0.0.4", 25) == 0,
		      "Content-Type %s", harness_header(&r, "Content-Type"));
	body = strdup(r.body);
	harness_response_free(&r);
	return body;
}

static long post(const struct harness_daemon *d, const char *body, const char *const *headers,
		 struct harness_response *r)
{
	ck_assert_int_eq(harness_http(d, "POST", "/execute", body, strlen(body), headers, r), 0);
	return r->status;
}

/* POSTs and expects 200 with success as given. */
static void run_ok(const struct harness_daemon *d, const char *body, const char *const *headers,
		   bool success)
{
	struct harness_response r;
	cJSON *j;

	ck_assert_msg(post(d, body, headers, &r) == 200, "%s", harness_describe(&r));
	j = harness_json(&r);
	ck_assert_ptr_nonnull(j);
	ck_assert_msg(cJSON_IsTrue(cJSON_GetObjectItem(j, "success")) == success, "%s",
		      harness_describe(&r));
	cJSON_Delete(j);
	harness_response_free(&r);
}

/* A loopback port that was free a moment ago. */
static int free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t slen = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

	ck_assert_int_ge(fd, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &slen) == 0)
		port = ntohs(sa.sin_port);
	(void)close(fd);
	ck_assert_int_gt(port, 0);
	return port;
}

/* A temporary directory for keys files, removed by rm_dir. */
static void make_dir(char *dir, size_t len)
{
	ck_assert_int_lt(snprintf(dir, len, "/tmp/codeexecd-ops.XXXXXX"), (int)len);
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void rm_dir(const char *dir)
{
	char cmd[300];

	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(fputs(text, f), 0);
	ck_assert_int_eq(fclose(f), 0);
}

static bool log_has(struct harness_daemon *d, const char *text)
{
	return strstr(harness_daemon_log(d), text) != NULL;
}

static void wait_log(struct harness_daemon *d, const char *text, double timeout_s)
{
	double until = harness_now() + timeout_s;

	while (!log_has(d, text) && harness_now() < until)
		harness_sleep_ms(100);
	ck_assert_msg(log_has(d, text), "the log never said '%s':\n%s", text,
		      harness_daemon_log_tail(d, 3000));
}

/* --- metrics ---------------------------------------------------------------- */

START_TEST(test_metrics_after_executions)
{
	struct harness_daemon *d = harness_daemon_start("execution:\n  pool_size: 1\n");
	struct harness_response r;
	double until;
	char *t;
	FILE *p;

	ck_assert_ptr_nonnull(d);
	run_ok(d, QUICK, NULL, true);
	run_ok(d, "{\"code\": \"raise SystemExit(3)\"}", NULL, false);
	run_ok(d, "{\"code\": \"import time\\ntime.sleep(30)\", \"timeout\": 1}", NULL, false);
	ck_assert_int_eq(post(d, "{\"code\": 1}", NULL, &r), 422);
	harness_response_free(&r);
	t = scrape(harness_daemon_port(d), NULL);
	ck_assert_double_eq(metric(t, "codeexecd_executions_total{outcome=\"success\",key=\"\"}"), 1);
	ck_assert_double_eq(metric(t, "codeexecd_executions_total{outcome=\"error\",key=\"\"}"), 1);
	ck_assert_double_eq(metric(t, "codeexecd_executions_total{outcome=\"timeout\",key=\"\"}"), 1);
	ck_assert_double_eq(metric(t, "codeexecd_http_requests_total{route=\"/execute\",status=\"200\"}"), 3);
	ck_assert_double_eq(metric(t, "codeexecd_http_requests_total{route=\"/execute\",status=\"422\"}"), 1);
	ck_assert_double_eq(metric(t, "codeexecd_execution_duration_seconds_count"), 3);
	ck_assert_double_eq(metric(t, "codeexecd_execution_phase_seconds_count{phase=\"queue_wait\"}"), 3);
	ck_assert_double_eq(metric(t, "codeexecd_execution_phase_seconds_count{phase=\"acquire\"}"), 3);
	ck_assert_double_eq(metric(t, "codeexecd_executions_running"), 0);
	ck_assert_double_eq(metric(t, "codeexecd_executions_queued"), 0);
	ck_assert_double_eq(metric(t, "codeexecd_request_body_bytes"), 0);
	ck_assert_double_ge(metric(t, "codeexecd_containers_created_total"), 3);
	ck_assert_msg(strstr(t, "codeexecd_build_info{version=\"") &&
		      !strstr(t, "engine_api_version=\"unknown\""), "%s", t);
	/* promtool (Debian's prometheus package) accepts a real scrape */
	ck_assert_msg(system("command -v promtool >/dev/null") == 0,
		      "promtool is missing (scripts/setup-deps.sh installs prometheus)");
	p = popen("promtool check metrics", "w");
	ck_assert_ptr_nonnull(p);
	ck_assert_int_ge(fputs(t, p), 0);
	ck_assert_int_eq(pclose(p), 0);
	free(t);
	/* every container created is removed, and counted */
	until = harness_now() + 30;
	for (;;) {
		t = scrape(harness_daemon_port(d), NULL);
		double created = metric(t, "codeexecd_containers_created_total");
		double removed = metric(t, "codeexecd_containers_removed_total");
		double ready = metric(t, "codeexecd_pool_ready_containers");
		free(t);
		if (removed == created - ready || harness_now() > until) {
			ck_assert_double_eq(removed, created - ready);
			break;
		}
		harness_sleep_ms(200);
	}
	/* the answers were written (the 422 is no execution) */
	t = scrape(harness_daemon_port(d), NULL);
	ck_assert_double_eq(metric(t, "codeexecd_execution_phase_seconds_count{phase=\"answer\"}"), 3);
	ck_assert_double_eq(metric(t, "codeexecd_execution_phase_seconds_count{phase=\"run\"}"), 3);
	free(t);
	ck_assert_int_eq(harness_daemon_stop(d), 0);
}
END_TEST

START_TEST(test_metrics_off_and_own_listener)
{
	struct harness_daemon *d = harness_daemon_start("server:\n  metrics: false\n"
							"execution:\n  pool_size: 0\n");
	struct harness_response r;
	char yaml[256], *t;
	int mport;

	ck_assert_ptr_nonnull(d);
	ck_assert_int_eq(harness_http(d, "GET", "/metrics", NULL, 0, NULL, &r), 0);
	ck_assert_int_eq(r.status, 404);
	harness_response_free(&r);
	ck_assert_int_eq(harness_daemon_stop(d), 0);

	mport = free_port();
	(void)snprintf(yaml, sizeof(yaml), "server:\n  metrics_listen: \"127.0.0.1:%d\"\n"
		       "execution:\n  pool_size: 0\n", mport);
	d = harness_daemon_start(yaml);
	ck_assert_ptr_nonnull(d);
	ck_assert_int_eq(harness_http(d, "GET", "/metrics", NULL, 0, NULL, &r), 0);
	ck_assert_int_eq(r.status, 404); /* not on the main listener */
	harness_response_free(&r);
	t = scrape(mport, NULL);
	ck_assert_ptr_nonnull(strstr(t, "codeexecd_build_info"));
	free(t);
	ck_assert_int_eq(harness_http_port(mport, "POST", "/execute", QUICK, strlen(QUICK), NULL, &r),
			 0);
	ck_assert_int_eq(r.status, 404); /* nothing else there */
	harness_response_free(&r);
	ck_assert_int_eq(harness_daemon_stop(d), 0);
}
END_TEST

/* --- API keys ----------------------------------------------------------------- */

struct slow_call {
	const struct harness_daemon *d;
	const char *const *headers;
	long status;
};

static void *slow_call_main(void *arg)
{
	struct slow_call *c = arg;
	struct harness_response r;
	static const char body[] = "{\"code\": \"import time\\ntime.sleep(3)\\nprint('slept')\"}";

	(void)harness_http(c->d, "POST", "/execute", body, strlen(body), c->headers, &r);
	c->status = r.status;
	if (r.status == 200 && !strstr(r.body, "slept"))
		c->status = -1;
	harness_response_free(&r);
	return NULL;
}

START_TEST(test_api_keys)
{
	char dir[64], keys[128], yaml[512], a[80], lim[80], one[80];
	char bearer[120], bearer_lc[120], xkey[120], lim_h[120], one_h[120];
	struct harness_daemon *d;
	struct harness_response r;
	struct slow_call slow;
	pthread_t th;
	char *t;

	make_dir(dir, sizeof(dir));
	(void)snprintf(keys, sizeof(keys), "%s/keys", dir);
	write_text(keys, "# codeexecd API keys\n");
	ck_assert_int_eq(harness_hash_key("alice", "", keys, a, sizeof(a)), 0);
	ck_assert_int_eq(harness_hash_key("limited", "per_minute=2", keys, lim, sizeof(lim)), 0);
	ck_assert_int_eq(harness_hash_key("single", "concurrent=1", keys, one, sizeof(one)), 0);
	(void)snprintf(yaml, sizeof(yaml), "auth:\n  keys_file: \"%s\"\nexecution:\n  pool_size: 1\n",
		       keys);
	d = harness_daemon_start(yaml);
	ck_assert_ptr_nonnull(d);
	ck_assert(log_has(d, "API keys: 3 from"));
	ck_assert(!log_has(d, "without API keys"));
	(void)snprintf(bearer, sizeof(bearer), "Authorization: Bearer %s", a);
	(void)snprintf(bearer_lc, sizeof(bearer_lc), "authorization: bearer   %s", a);
	(void)snprintf(xkey, sizeof(xkey), "X-API-Key: %s", a);
	(void)snprintf(lim_h, sizeof(lim_h), "X-API-Key: %s", lim);
	(void)snprintf(one_h, sizeof(one_h), "Authorization: Bearer %s", one);

	/* no key, a wrong key, a key sent the wrong way: 401 with the header */
	const char *const wrong[][2] = { { NULL, NULL }, { "X-API-Key: cxd_nope", NULL },
					 { "Authorization: Basic YTpi", NULL },
					 { "Authorization: Bearer ", NULL } };
	for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
		ck_assert_int_eq(post(d, QUICK, wrong[i][0] ? wrong[i] : NULL, &r), 401);
		ck_assert_str_eq(r.body, "{\"detail\":\"Not authenticated\"}");
		ck_assert_ptr_nonnull(harness_header(&r, "WWW-Authenticate"));
		ck_assert_str_eq(harness_header(&r, "WWW-Authenticate"), "Bearer");
		harness_response_free(&r);
	}
	run_ok(d, QUICK, (const char *const[]){ bearer, NULL }, true);
	run_ok(d, QUICK, (const char *const[]){ bearer_lc, NULL }, true);
	run_ok(d, QUICK, (const char *const[]){ xkey, NULL }, true);

	/* public routes stay public; /metrics on the main listener needs a key */
	const char *const open_paths[] = { "/health", "/ready", "/", "/openapi.json", "/docs",
					   "/redoc" };
	for (size_t i = 0; i < sizeof(open_paths) / sizeof(open_paths[0]); i++) {
		ck_assert_int_eq(harness_http(d, "GET", open_paths[i], NULL, 0, NULL, &r), 0);
		ck_assert_msg(r.status == 200, "%s: %s", open_paths[i], harness_describe(&r));
		harness_response_free(&r);
	}
	ck_assert_int_eq(harness_http(d, "GET", "/metrics", NULL, 0, NULL, &r), 0);
	ck_assert_int_eq(r.status, 401);
	harness_response_free(&r);

	/* per_minute=2: the third within the minute is 429 with Retry-After */
	run_ok(d, QUICK, (const char *const[]){ lim_h, NULL }, true);
	run_ok(d, QUICK, (const char *const[]){ lim_h, NULL }, true);
	ck_assert_int_eq(post(d, QUICK, (const char *const[]){ lim_h, NULL }, &r), 429);
	ck_assert_ptr_nonnull(strstr(r.body, "2 executions per minute"));
	ck_assert_ptr_nonnull(harness_header(&r, "Retry-After"));
	ck_assert_int_ge(atoi(harness_header(&r, "Retry-After")), 1);
	harness_response_free(&r);

	/* concurrent=1: a second call while the first runs is 429; after, fine */
	slow = (struct slow_call){ .d = d, .headers = (const char *const[]){ one_h, NULL } };
	ck_assert_int_eq(pthread_create(&th, NULL, slow_call_main, &slow), 0);
	harness_sleep_ms(1000);
	ck_assert_int_eq(post(d, QUICK, (const char *const[]){ one_h, NULL }, &r), 429);
	ck_assert_ptr_nonnull(strstr(r.body, "executions at once"));
	harness_response_free(&r);
	run_ok(d, QUICK, (const char *const[]){ bearer, NULL }, true); /* other keys are not held up */
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(slow.status, 200);
	run_ok(d, QUICK, (const char *const[]){ one_h, NULL }, true);

	/* the key's name in the metrics and the log, never the key */
	t = scrape(harness_daemon_port(d), (const char *const[]){ xkey, NULL });
	ck_assert_double_eq(metric(t, "codeexecd_executions_total{outcome=\"success\",key=\"alice\"}"), 4);
	ck_assert_double_eq(metric(t, "codeexecd_executions_total{outcome=\"rejected\",key=\"limited\"}"), 1);
	ck_assert_double_eq(metric(t, "codeexecd_executions_total{outcome=\"rejected\",key=\"single\"}"), 1);
	ck_assert_double_ge(metric(t, "codeexecd_auth_failures_total"), 5);
	free(t);
	ck_assert(log_has(d, "key=alice"));
	ck_assert(!log_has(d, a));
	ck_assert_int_eq(harness_daemon_stop(d), 0);
	rm_dir(dir);
}
END_TEST

START_TEST(test_api_keys_startup)
{
	char dir[64], keys[128], yaml[512];
	struct harness_opts o = { .no_wait = true };
	struct harness_daemon *d;
	const char *const any_host[] = { "--host", "0.0.0.0", NULL };

	make_dir(dir, sizeof(dir));
	(void)snprintf(keys, sizeof(keys), "%s/keys", dir);
	/* a missing file, then a bad line: the daemon refuses to start */
	for (int i = 0; i < 2; i++) {
		if (i == 1)
			write_text(keys, "# ok\nalice sha256:1234\n");
		(void)snprintf(yaml, sizeof(yaml), "auth:\n  keys_file: \"%s\"\n", keys);
		o.yaml = yaml;
		d = harness_daemon_start_opts(&o);
		ck_assert_ptr_nonnull(d);
		for (int k = 0; k < 100 && harness_daemon_running(d); k++)
			harness_sleep_ms(100);
		ck_assert(!harness_daemon_running(d));
		ck_assert_msg(log_has(d, i == 0 ? "No such file or directory" : "keys:2: alice:"),
			      "%s", harness_daemon_log(d));
		ck_assert_int_ne(harness_daemon_stop(d), 0);
	}
	/* no keys beyond loopback: a warning */
	o = (struct harness_opts){ .yaml = "execution:\n  pool_size: 0\n", .argv = any_host };
	d = harness_daemon_start_opts(&o);
	ck_assert_ptr_nonnull(d);
	ck_assert(log_has(d, "listening on 0.0.0.0:"));
	ck_assert(log_has(d, "without API keys"));
	ck_assert_int_eq(harness_daemon_stop(d), 0);
	rm_dir(dir);
}
END_TEST

/* --- reload ------------------------------------------------------------------- */

static void rewrite_config(struct harness_daemon *d, const char *yaml)
{
	char path[512];

	(void)snprintf(path, sizeof(path), "%s/config.yaml", harness_daemon_dir(d));
	write_text(path, yaml);
}

/* Every line after the first mention of marker is one JSON object with the
 * stable fields; returns how many there were. */
static int check_json_lines(const char *log, const char *marker)
{
	const char *p = strstr(log, marker);
	int n = 0;

	ck_assert_ptr_nonnull(p);
	p = strchr(p, '\n');
	for (p = p ? p + 1 : NULL; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		size_t len = strcspn(p, "\n");
		cJSON *j = cJSON_ParseWithLength(p, len);
		ck_assert_msg(cJSON_IsObject(j), "not a JSON line: %.*s", (int)len, p);
		ck_assert(cJSON_IsString(cJSON_GetObjectItem(j, "time")));
		ck_assert(cJSON_IsString(cJSON_GetObjectItem(j, "level")));
		ck_assert(cJSON_IsString(cJSON_GetObjectItem(j, "msg")));
		if (cJSON_GetObjectItem(j, "route")) {
			ck_assert(cJSON_IsNumber(cJSON_GetObjectItem(j, "status")));
			ck_assert(cJSON_IsNumber(cJSON_GetObjectItem(j, "duration_ms")));
		}
		cJSON_Delete(j);
		n++;
	}
	return n;
}

START_TEST(test_reload)
{
	char dir[64], keys[128], yaml[512], yaml2[600], a[80], b[80], ha[120], hb[120];
	struct harness_daemon *d;
	struct harness_response r;
	struct slow_call slow;
	pthread_t th;
	char *t;

	make_dir(dir, sizeof(dir));
	(void)snprintf(keys, sizeof(keys), "%s/keys", dir);
	write_text(keys, "");
	ck_assert_int_eq(harness_hash_key("alice", "", keys, a, sizeof(a)), 0);
	(void)snprintf(yaml, sizeof(yaml), "auth:\n  keys_file: \"%s\"\nexecution:\n  pool_size: 1\n",
		       keys);
	d = harness_daemon_start(yaml);
	ck_assert_ptr_nonnull(d);
	(void)snprintf(ha, sizeof(ha), "X-API-Key: %s", a);
	run_ok(d, QUICK, (const char *const[]){ ha, NULL }, true);

	/* A run in flight across the reload finishes with its answer. */
	slow = (struct slow_call){ .d = d, .headers = (const char *const[]){ ha, NULL } };
	ck_assert_int_eq(pthread_create(&th, NULL, slow_call_main, &slow), 0);
	harness_sleep_ms(800);
	write_text(keys, "");
	ck_assert_int_eq(harness_hash_key("bob", "", keys, b, sizeof(b)), 0);
	(void)snprintf(hb, sizeof(hb), "Authorization: Bearer %s", b);
	(void)snprintf(yaml2, sizeof(yaml2),
		       "auth:\n  keys_file: \"%s\"\n  protect_docs: true\n"
		       "server:\n  max_connections: 100\n"
		       "execution:\n  pool_size: 0\n  max_concurrent: 2\n"
		       "log:\n  format: json\n", keys);
	rewrite_config(d, yaml2);
	ck_assert_int_eq(harness_daemon_signal(d, SIGHUP), 0);
	wait_log(d, "reload done", 20);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(slow.status, 200);
	ck_assert(log_has(d, "server.max_connections changed: needs a restart"));
	ck_assert(log_has(d, "execution.pool_size changed: applied"));
	ck_assert(log_has(d, "auth.protect_docs changed: applied"));

	/* the new keys and settings hold for new requests */
	ck_assert_int_eq(post(d, QUICK, (const char *const[]){ ha, NULL }, &r), 401);
	harness_response_free(&r);
	run_ok(d, QUICK, (const char *const[]){ hb, NULL }, true);
	ck_assert_int_eq(harness_http(d, "GET", "/openapi.json", NULL, 0, NULL, &r), 0);
	ck_assert_int_eq(r.status, 401);
	harness_response_free(&r);
	ck_assert_int_eq(harness_http(d, "GET", "/openapi.json", NULL, 0,
				      (const char *const[]){ hb, NULL }, &r), 0);
	ck_assert_int_eq(r.status, 200);
	harness_response_free(&r);
	ck_assert_int_eq(harness_http(d, "GET", "/health", NULL, 0, NULL, &r), 0);
	ck_assert_int_eq(r.status, 200);
	harness_response_free(&r);
	t = scrape(harness_daemon_port(d), (const char *const[]){ hb, NULL });
	ck_assert_double_eq(metric(t, "codeexecd_config_reloads_total"), 1);
	ck_assert_double_eq(metric(t, "codeexecd_pool_ready_containers"), 0);
	free(t);

	/* an invalid configuration, or keys file, is refused; the old one stays */
	rewrite_config(d, "execution:\n  max_concurrent: 0\n");
	ck_assert_int_eq(harness_daemon_signal(d, SIGHUP), 0);
	wait_log(d, "reload refused", 20);
	ck_assert(log_has(d, "execution.max_concurrent"));
	write_text(keys, "bob sha256:nothex\n");
	rewrite_config(d, yaml2);
	ck_assert_int_eq(harness_daemon_signal(d, SIGHUP), 0);
	harness_sleep_ms(1500);
	run_ok(d, QUICK, (const char *const[]){ hb, NULL }, true);
	t = scrape(harness_daemon_port(d), (const char *const[]){ hb, NULL });
	ck_assert_double_eq(metric(t, "codeexecd_config_reloads_total"), 1);
	ck_assert_double_eq(metric(t, "codeexecd_config_reload_failures_total"), 2);
	free(t);
	/* since the reload to JSON, every line is a JSON object */
	ck_assert_int_gt(check_json_lines(harness_daemon_log(d), "SIGHUP received"), 5);
	ck_assert(log_has(d, "\"key\":\"bob\""));
	ck_assert(log_has(d, "\"route\":\"/execute\""));
	ck_assert(log_has(d, "\"phases\":{\"queue_wait\":"));
	ck_assert_int_eq(harness_daemon_stop(d), 0);
	rm_dir(dir);
}
END_TEST

static Suite *ops_suite(void)
{
	Suite *s = suite_create("ops");
	TCase *tc = tcase_create("metrics");

	tcase_set_timeout(tc, TCASE_TIMEOUT_S);
	tcase_add_test(tc, test_metrics_after_executions);
	tcase_add_test(tc, test_metrics_off_and_own_listener);
	suite_add_tcase(s, tc);
	tc = tcase_create("keys");
	tcase_set_timeout(tc, TCASE_TIMEOUT_S);
	tcase_add_test(tc, test_api_keys);
	tcase_add_test(tc, test_api_keys_startup);
	suite_add_tcase(s, tc);
	tc = tcase_create("reload");
	tcase_set_timeout(tc, TCASE_TIMEOUT_S);
	tcase_add_test(tc, test_reload);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(ops_suite(), CK_NORMAL);
}
