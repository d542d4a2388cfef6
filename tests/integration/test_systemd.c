/* systemd integration of the real binary, driven as systemd drives it: a
 * NOTIFY_SOCKET the test binds (every message checked: READY=1 once it
 * serves, STATUS=, WATCHDOG=1 at WATCHDOG_USEC/2, RELOADING=1 and READY=1
 * on SIGHUP, STOPPING=1 on SIGTERM), a listening socket passed as fd 3
 * with LISTEN_FDS/LISTEN_PID (the daemon serves on it and binds nothing; a
 * connection made while no daemon runs is answered by the next one), and
 * JOURNAL_STREAM naming its stderr (syslog priority prefixes). The units
 * pass `systemd-analyze verify` where it is installed. */
#include <check.h>

#include "../check_run.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define TCASE_TIMEOUT_S 300
#define WATCHDOG_USEC "1000000"   /* pings every 0.5 s */

struct sd {
	char dir[64];
	char notify_path[128];
	char log_path[128];
	char config_path[128];
	int notify_fd;
	int listen_fd;
	int port;
	pid_t pid;
};

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(fputs(text, f), 0);
	ck_assert_int_eq(fclose(f), 0);
}

static void write_config(struct sd *s, const char *extra)
{
	char yaml[512];

	/* server.port is the passed socket's: binding it would fail, so the
	 * daemon must serve on the socket it was given. */
	(void)snprintf(yaml, sizeof(yaml), "server:\n  port: %d\ndocker:\n  image: \"%s\"\n"
		       "execution:\n  pool_size: 0\n%s", s->port,
		       getenv("CODEEXECD_TEST_IMAGE") ? getenv("CODEEXECD_TEST_IMAGE")
						      : "python-sandbox:latest", extra);
	write_text(s->config_path, yaml);
}

static void sd_setup(struct sd *s)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	struct sockaddr_in in = { .sin_family = AF_INET };
	socklen_t len = sizeof(in);

	memset(s, 0, sizeof(*s));
	(void)snprintf(s->dir, sizeof(s->dir), "/tmp/codeexecd-sd.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(s->dir));
	(void)snprintf(s->notify_path, sizeof(s->notify_path), "%s/notify", s->dir);
	(void)snprintf(s->log_path, sizeof(s->log_path), "%s/daemon.log", s->dir);
	(void)snprintf(s->config_path, sizeof(s->config_path), "%s/config.yaml", s->dir);
	s->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(s->notify_fd, 0);
	ck_assert_uint_lt(strlen(s->notify_path), sizeof(un.sun_path));
	memcpy(un.sun_path, s->notify_path, strlen(s->notify_path) + 1);
	ck_assert_int_eq(bind(s->notify_fd, (struct sockaddr *)&un, sizeof(un)), 0);
	s->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(s->listen_fd, 0);
	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(s->listen_fd, (struct sockaddr *)&in, sizeof(in)), 0);
	ck_assert_int_eq(listen(s->listen_fd, 16), 0);
	ck_assert_int_eq(getsockname(s->listen_fd, (struct sockaddr *)&in, &len), 0);
	s->port = ntohs(in.sin_port);
	write_config(s, "");
}

static void sd_teardown(struct sd *s)
{
	char cmd[128];

	(void)close(s->notify_fd);
	(void)close(s->listen_fd);
	if (getenv("HARNESS_KEEP"))
		return;
	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
	(void)!system(cmd);
}

/* Starts the daemon as systemd would: the socket at fd 3, LISTEN_PID its
 * own pid (set between fork and exec), stderr to a file JOURNAL_STREAM
 * names. */
static void sd_start(struct sd *s)
{
	const char *bin = getenv("CODEEXECD_BIN");
	int log_fd = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	struct stat st;
	char journal[64], notify[160], pid[32];

	ck_assert_ptr_nonnull(bin);
	ck_assert_int_ge(log_fd, 0);
	ck_assert_int_eq(fstat(log_fd, &st), 0);
	(void)snprintf(journal, sizeof(journal), "%llu:%llu", (unsigned long long)st.st_dev,
		       (unsigned long long)st.st_ino);
	(void)snprintf(notify, sizeof(notify), "%s", s->notify_path);
	s->pid = fork();
	ck_assert_int_ge(s->pid, 0);
	if (s->pid == 0) {
		if (dup2(s->listen_fd, 3) != 3 || dup2(log_fd, 1) != 1 || dup2(log_fd, 2) != 2)
			_exit(126);
		(void)fcntl(3, F_SETFD, 0);
		(void)snprintf(pid, sizeof(pid), "%d", (int)getpid());
		(void)setenv("LISTEN_PID", pid, 1);
		(void)setenv("LISTEN_FDS", "1", 1);
		(void)setenv("LISTEN_FDNAMES", "http", 1);
		(void)setenv("NOTIFY_SOCKET", notify, 1);
		(void)setenv("WATCHDOG_USEC", WATCHDOG_USEC, 1);
		(void)unsetenv("WATCHDOG_PID");
		(void)setenv("JOURNAL_STREAM", journal, 1);
		execl(bin, bin, "--config", s->config_path, (char *)NULL);
		_exit(127);
	}
	(void)close(log_fd);
}

/* SIGTERM and the exit status. */
static int sd_stop(struct sd *s)
{
	int ws = 0;

	if (s->pid <= 0)
		return -1;
	(void)kill(s->pid, SIGTERM);
	ck_assert_int_eq(waitpid(s->pid, &ws, 0), s->pid);
	s->pid = 0;
	return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

static char *sd_log(const struct sd *s)
{
	FILE *f = fopen(s->log_path, "r");
	static char buf[1 << 16];
	size_t n;

	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	(void)fclose(f);
	return buf;
}

/* The next notification within timeout_s, into msg; false on timeout. */
static bool next_msg(struct sd *s, char *msg, size_t len, double timeout_s)
{
	struct pollfd p = { .fd = s->notify_fd, .events = POLLIN };
	ssize_t n;

	if (poll(&p, 1, (int)(timeout_s * 1000)) <= 0)
		return false;
	n = recv(s->notify_fd, msg, len - 1, 0);
	ck_assert_int_gt(n, 0);
	msg[n] = '\0';
	return true;
}

/* Reads notifications until one contains want; counts the WATCHDOG=1
 * and STATUS= ones seen on the way. The matching message goes to msg. */
static void expect_msg(struct sd *s, const char *want, double timeout_s, char *msg, size_t len,
		       int *watchdogs, int *statuses)
{
	double until = harness_now() + timeout_s;

	for (;;) {
		double left = until - harness_now();
		ck_assert_msg(left > 0 && next_msg(s, msg, len, left),
			      "no '%s' within %.0f s; log:\n%s", want, timeout_s, sd_log(s));
		if (watchdogs && strcmp(msg, "WATCHDOG=1") == 0)
			(*watchdogs)++;
		if (statuses && strncmp(msg, "STATUS=", 7) == 0)
			(*statuses)++;
		if (strstr(msg, want))
			return;
	}
}

static long health(int port)
{
	struct harness_response r;
	long status;

	if (harness_http_port(port, "GET", "/health", NULL, 0, NULL, &r) != 0) {
		harness_response_free(&r);
		return 0;
	}
	status = r.status;
	harness_response_free(&r);
	return status;
}

START_TEST(test_notify_and_socket_activation)
{
	struct sd s;
	char msg[512];
	int watchdogs = 0, statuses = 0;
	double t0;

	sd_setup(&s);
	sd_start(&s);
	/* READY=1 with a STATUS once it serves; never READY before */
	expect_msg(&s, "READY=1", 60, msg, sizeof(msg), NULL, NULL);
	ck_assert_msg(strstr(msg, "STATUS=Running: 0 executing, 0 queued, 0 ready"), "%s", msg);
	ck_assert_int_eq(health(s.port), 200);
	ck_assert_ptr_nonnull(strstr(sd_log(&s), "socket activation: 1 listening socket(s)"));
	/* WATCHDOG=1 twice per WATCHDOG_USEC, STATUS= alongside */
	t0 = harness_now();
	while (harness_now() - t0 < 3)
		if (next_msg(&s, msg, sizeof(msg), 0.5)) {
			watchdogs += strcmp(msg, "WATCHDOG=1") == 0;
			statuses += strncmp(msg, "STATUS=", 7) == 0;
		}
	ck_assert_msg(watchdogs >= 3, "%d WATCHDOG=1 in 3 s", watchdogs);
	ck_assert_int_ge(statuses, 3);
	/* the probe the watchdog makes is neither logged nor counted */
	ck_assert_ptr_null(strstr(sd_log(&s), "codeexecd-probe"));

	/* reload: RELOADING=1, then READY=1; a refused one says so */
	ck_assert_int_eq(kill(s.pid, SIGHUP), 0);
	expect_msg(&s, "RELOADING=1", 10, msg, sizeof(msg), NULL, NULL);
	expect_msg(&s, "READY=1", 10, msg, sizeof(msg), NULL, NULL);
	ck_assert_ptr_nonnull(strstr(msg, "reloaded"));
	write_config(&s, "log:\n  level: bogus\n");
	ck_assert_int_eq(kill(s.pid, SIGHUP), 0);
	expect_msg(&s, "RELOADING=1", 10, msg, sizeof(msg), NULL, NULL);
	expect_msg(&s, "READY=1", 10, msg, sizeof(msg), NULL, NULL);
	ck_assert_ptr_nonnull(strstr(msg, "refused"));
	ck_assert_int_eq(health(s.port), 200);

	/* STOPPING=1 at SIGTERM, and exit 0 */
	ck_assert_int_eq(kill(s.pid, SIGTERM), 0);
	expect_msg(&s, "STOPPING=1", 60, msg, sizeof(msg), NULL, NULL);
	ck_assert_int_eq(sd_stop(&s), 0);

	/* journal priorities: info <6>, warn <4>, error <3> at line starts */
	const char *log = sd_log(&s);
	ck_assert_msg(strncmp(log, "<6>", 3) == 0, "%.200s", log);
	ck_assert_ptr_nonnull(strstr(log, "\n<3>"));
	ck_assert_ptr_nonnull(strstr(log, "reload refused"));
	for (const char *p = log; *p; p = strchr(p, '\n') + 1) {
		ck_assert_msg(p[0] == '<' && p[2] == '>', "a line without priority: %.80s", p);
		if (!strchr(p, '\n'))
			break;
	}
	sd_teardown(&s);
}
END_TEST

/* A connection made while no daemon runs waits in the socket's backlog and
 * is answered by the next daemon: a restart refuses nothing. */
START_TEST(test_restart_keeps_connections)
{
	static const char req[] = "GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
	struct harness_raw_result res = { 0 };
	struct sd s;
	char msg[512];
	int fd;

	sd_setup(&s);
	sd_start(&s);
	expect_msg(&s, "READY=1", 60, msg, sizeof(msg), NULL, NULL);
	ck_assert_int_eq(sd_stop(&s), 0);
	fd = harness_connect(s.port);
	ck_assert_int_ge(fd, 0); /* accepted by the kernel: the socket is still open */
	ck_assert_int_eq(harness_send_all(fd, req, sizeof(req) - 1), 0);
	sd_start(&s);
	expect_msg(&s, "READY=1", 60, msg, sizeof(msg), NULL, NULL);
	harness_read_until_close(fd, 30, &res);
	(void)close(fd);
	ck_assert_msg(harness_raw_status(&res) == 200, "answer: %.200s", res.data ? res.data : "");
	harness_raw_free(&res);
	ck_assert_int_eq(sd_stop(&s), 0);
	sd_teardown(&s);
}
END_TEST

/* Both units pass systemd-analyze verify (with ExecStart pointing at the
 * built binary, as make install would with BINDIR). */
START_TEST(test_units_verify)
{
	char cmd[1024];

	if (system("command -v systemd-analyze >/dev/null 2>&1") != 0)
		return; /* not available here */
	(void)snprintf(cmd, sizeof(cmd),
		       "set -e; d=$(mktemp -d); trap 'rm -rf $d' EXIT; "
		       "cp scripts/codeexecd.service scripts/codeexecd.socket $d/; "
		       "sed -i 's|/usr/local/bin/codeexecd|%s|' $d/codeexecd.service; "
		       "systemd-analyze verify $d/codeexecd.service $d/codeexecd.socket",
		       getenv("CODEEXECD_BIN"));
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static Suite *systemd_suite(void)
{
	Suite *s = suite_create("systemd");
	TCase *tc = tcase_create("notify");

	tcase_set_timeout(tc, TCASE_TIMEOUT_S);
	tcase_add_test(tc, test_notify_and_socket_activation);
	tcase_add_test(tc, test_restart_keeps_connections);
	tcase_add_test(tc, test_units_verify);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(systemd_suite(), CK_NORMAL);
}
