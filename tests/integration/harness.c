/* The integration test harness: see harness.h. */
#include "harness.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

extern char **environ;

#define DEFAULT_IMAGE "python-sandbox:latest"
#define START_TIMEOUT_S 20
#define STOP_TIMEOUT_S 60
#define KILL_WAIT_S 15
#define HTTP_TIMEOUT_S 120
#define BODY_CAP (512L * 1024L * 1024L)
#define RAW_CAP (16L * 1024L * 1024L)
#define PORT_ATTEMPTS 4

struct harness_daemon {
	pid_t creator;          /* the process that called harness_daemon_start */
	pid_t supervisor;
	pid_t pid;              /* the daemon */
	int port;
	char dir[256];
	char config_path[300];
	char log_path[300];
	char status_path[300];
	char state_dir[256];    /* server.state_dir: the instance id is kept there */
	char *logbuf;
	bool have_final;        /* final_status known (the supervisor was reaped) */
	int final_status;
};

static void die_oom(void)
{
	fprintf(stderr, "harness: out of memory\n");
	abort();
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		die_oom();
	return p;
}

static char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		die_oom();
	return p;
}

double harness_now(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void harness_sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

char *harness_repeat(const char *prefix, const char *fill, size_t n, const char *suffix,
		     size_t *len)
{
	size_t lp = strlen(prefix), lf = strlen(fill), ls = strlen(suffix);
	size_t total = lp + lf * n + ls;
	char *s = xmalloc(total + 1), *p = s;

	memcpy(p, prefix, lp);
	p += lp;
	for (size_t i = 0; i < n; i++, p += lf)
		memcpy(p, fill, lf);
	memcpy(p, suffix, ls);
	s[total] = '\0';
	if (len)
		*len = total;
	return s;
}

/* --- files ------------------------------------------------------------------ */

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	size_t len = text ? strlen(text) : 0;
	int rc = 0;

	if (!f)
		return -1;
	if (len && fwrite(text, 1, len, f) != len)
		rc = -1;
	if (fclose(f) != 0)
		rc = -1;
	return rc;
}

/* The whole file, NUL-terminated and malloc'ed, or NULL. */
static char *read_file(const char *path, size_t *len_out)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (!f)
		return NULL;
	do {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 16384;
			char *grown = realloc(buf, cap + 1);
			if (!grown)
				die_oom();
			buf = grown;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	(void)fclose(f);
	buf[len] = '\0';
	if (len_out)
		*len_out = len;
	return buf;
}

/* --- the daemon ------------------------------------------------------------- */

static int free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t slen = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

	if (fd < 0)
		return -1;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = 0;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &slen) == 0)
		port = ntohs(sa.sin_port);
	(void)close(fd);
	return port;
}

/* Variables codeexecd reads for its configuration: not inherited. */
static bool config_variable(const char *entry)
{
	static const char *const old[] = { "HOST=", "PORT=", "DOCKER_IMAGE=", "EXECUTION_TIMEOUT=",
					   "MAX_MEMORY=", "MAX_CPU=" };

	if (strncmp(entry, "CODEEXECD_", 10) == 0)
		return true;
	for (size_t i = 0; i < sizeof(old) / sizeof(old[0]); i++) {
		if (strncmp(entry, old[i], strlen(old[i])) == 0)
			return true;
	}
	return false;
}

static size_t count_list(const char *const *list)
{
	size_t n = 0;

	while (list && list[n])
		n++;
	return n;
}

/* The child's environment: malloc'ed array of borrowed strings. */
static char **child_env(const char *const *extra)
{
	size_t n = 0, i = 0;
	char **env;

	while (environ[n])
		n++;
	env = xmalloc((n + count_list(extra) + 1) * sizeof(*env));
	for (size_t k = 0; k < n; k++) {
		if (!config_variable(environ[k]))
			env[i++] = environ[k];
	}
	for (size_t k = 0; extra && extra[k]; k++)
		env[i++] = (char *)(uintptr_t)extra[k];
	env[i] = NULL;
	return env;
}

static char **child_argv(const char *bin, const char *config, int port, const char *image,
			 const char *state_set, const char *const *extra, char *port_text,
			 size_t port_len, char **image_set)
{
	size_t i = 0;
	char **argv = xmalloc((12 + count_list(extra)) * sizeof(*argv));

	(void)snprintf(port_text, port_len, "%d", port);
	argv[i++] = (char *)(uintptr_t)bin;
	argv[i++] = (char *)(uintptr_t)"--config";
	argv[i++] = (char *)(uintptr_t)config;
	argv[i++] = (char *)(uintptr_t)"--host";
	argv[i++] = (char *)(uintptr_t)"127.0.0.1";
	argv[i++] = (char *)(uintptr_t)"--port";
	argv[i++] = port_text;
	*image_set = NULL;
	if (image[0]) {
		if (asprintf(image_set, "docker.image=%s", image) < 0)
			die_oom();
		argv[i++] = (char *)(uintptr_t)"--set";
		argv[i++] = *image_set;
	}
	argv[i++] = (char *)(uintptr_t)"--set";
	argv[i++] = (char *)(uintptr_t)state_set;
	for (size_t k = 0; extra && extra[k]; k++)
		argv[i++] = (char *)(uintptr_t)extra[k];
	argv[i] = NULL;
	return argv;
}

static volatile sig_atomic_t supervised_pid;

static void supervisor_on_term(int sig)
{
	if (supervised_pid > 0)
		(void)kill((pid_t)supervised_pid, sig);
}

/* The supervisor: starts the daemon, reports its pid on report_fd, waits for
 * it, writes its wait status to status_path. Never returns. */
static void supervise(struct harness_daemon *d, char **argv, char **envp, int report_fd,
		      pid_t parent)
{
	struct sigaction sa = { .sa_handler = supervisor_on_term };
	char tmp[320], text[32];
	int log_fd, status = 0, devnull;
	pid_t pid;

	(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGTERM, &sa, NULL);
	(void)sigaction(SIGINT, &sa, NULL);
	log_fd = open(d->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	pid = fork();
	if (pid == 0) {
		sigset_t none;
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		sigemptyset(&none);
		(void)sigprocmask(SIG_SETMASK, &none, NULL);
		if (log_fd >= 0) {
			(void)dup2(log_fd, STDOUT_FILENO);
			(void)dup2(log_fd, STDERR_FILENO);
		}
		if (devnull >= 0)
			(void)dup2(devnull, STDIN_FILENO);
		execve(argv[0], argv, envp);
		fprintf(stderr, "harness: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	supervised_pid = pid;
	if (write(report_fd, &pid, sizeof(pid)) != (ssize_t)sizeof(pid))
		status = 0;
	(void)close(report_fd);
	if (pid < 0)
		_exit(1);
	if (getppid() != parent)
		(void)kill(pid, SIGTERM);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	(void)snprintf(tmp, sizeof(tmp), "%s.tmp", d->status_path);
	(void)snprintf(text, sizeof(text), "%d\n", status);
	if (write_file(tmp, text) == 0)
		(void)rename(tmp, d->status_path);
	/* Also the exit code, for a creator whose status file another process
	 * removed (see harness_daemon_stop). */
	_exit(WIFEXITED(status) ? WEXITSTATUS(status)
	      : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 255);
}

/* The daemon's wait status once it has exited: true and *status. */
static bool read_status(const struct harness_daemon *d, int *status)
{
	char *text = read_file(d->status_path, NULL);
	bool ok = false;

	if (text) {
		char *end;
		long v = strtol(text, &end, 10);
		if (end != text && *end == '\n') {
			*status = (int)v;
			ok = true;
		}
		free(text);
	}
	return ok;
}

static int decode_status(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return -1;
}

static int spawn(struct harness_daemon *d, const struct harness_opts *opts, const char *bin,
		 const char *image)
{
	char port_text[16], *image_set = NULL, state_set[320];
	char **argv;

	(void)snprintf(state_set, sizeof(state_set), "server.state_dir=%s", d->state_dir);
	argv = child_argv(bin, d->config_path, d->port, image, state_set, opts->argv, port_text,
			  sizeof(port_text), &image_set);
	char **envp = child_env(opts->env);
	int pfd[2], rc = -1;
	pid_t parent = getpid(), sup;

	(void)unlink(d->status_path);
	d->have_final = false;
	if (pipe2(pfd, O_CLOEXEC) != 0)
		goto out;
	fflush(NULL);
	sup = fork();
	if (sup < 0) {
		(void)close(pfd[0]);
		(void)close(pfd[1]);
		goto out;
	}
	if (sup == 0) {
		(void)close(pfd[0]);
		supervise(d, argv, envp, pfd[1], parent);
	}
	(void)close(pfd[1]);
	d->supervisor = sup;
	d->pid = -1;
	if (read(pfd[0], &d->pid, sizeof(d->pid)) == (ssize_t)sizeof(d->pid) && d->pid > 0)
		rc = 0;
	(void)close(pfd[0]);
out:
	free(image_set);
	free(argv);
	free(envp);
	return rc;
}

static void supervisor_reaped(struct harness_daemon *d, int ws)
{
	d->supervisor = -1;
	d->have_final = true;
	d->final_status = WIFEXITED(ws) && WEXITSTATUS(ws) != 255 ? WEXITSTATUS(ws) : -1;
}

/* Reaps the supervisor when this process is its parent (blocking). */
static void reap_supervisor(struct harness_daemon *d)
{
	int ws;
	pid_t r;

	if (d->supervisor <= 0 || getpid() != d->creator)
		return;
	while ((r = waitpid(d->supervisor, &ws, 0)) < 0 && errno == EINTR)
		;
	if (r == d->supervisor)
		supervisor_reaped(d, ws);
	else
		d->supervisor = -1;
}

static bool dir_exists(const struct harness_daemon *d)
{
	struct stat st;

	return stat(d->dir, &st) == 0;
}

/* True once the daemon has exited, with its decoded status in *code: from
 * the status file, else (the process that started it) from the
 * supervisor's exit code, else -1 when another process has already stopped
 * it and removed the files. */
static bool daemon_exited(struct harness_daemon *d, int *code)
{
	int status, ws;

	if (d->have_final) {
		*code = d->final_status;
		return true;
	}
	if (read_status(d, &status)) {
		*code = decode_status(status);
		return true;
	}
	if (d->supervisor > 0 && getpid() == d->creator &&
	    waitpid(d->supervisor, &ws, WNOHANG) == d->supervisor) {
		supervisor_reaped(d, ws);
		*code = d->final_status;
		return true;
	}
	if (!dir_exists(d)) {
		*code = -1;
		return true;
	}
	return false;
}

/* Any process holding the handle may remove the files once the daemon has
 * exited; the one that started it still learns the status from the
 * supervisor's exit code. */
static void remove_dir(struct harness_daemon *d)
{
	char path[320];
	const char *keep = getenv("HARNESS_KEEP");

	if (keep && *keep && strcmp(keep, "0") != 0)
		return;
	(void)unlink(d->config_path);
	(void)unlink(d->log_path);
	(void)unlink(d->status_path);
	(void)snprintf(path, sizeof(path), "%s.tmp", d->status_path);
	(void)unlink(path);
	/* and what the daemon wrote there itself (its instance id, when the
	 * directory is its state_dir) */
	DIR *dir = opendir(d->dir);
	for (struct dirent *e; dir && (e = readdir(dir)) != NULL;) {
		char entry[sizeof(d->dir) + sizeof(e->d_name) + 1];
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		(void)snprintf(entry, sizeof(entry), "%s/%s", d->dir, e->d_name);
		(void)unlink(entry);
	}
	if (dir)
		(void)closedir(dir);
	(void)rmdir(d->dir);
}

/* 1 = answering, 0 = not yet, -1 = exited. */
static int wait_ready(struct harness_daemon *d, int timeout_s)
{
	double deadline = harness_now() + timeout_s;
	int status;

	for (;;) {
		struct harness_request req = { .method = "GET", .path = "/health", .timeout_s = 5 };
		struct harness_response resp;

		if (read_status(d, &status))
			return -1;
		(void)harness_http_ex(d->port, &req, &resp);
		long code = resp.status;
		harness_response_free(&resp);
		if (code > 0)
			return 1;
		if (harness_now() > deadline)
			return 0;
		harness_sleep_ms(100);
	}
}

static void print_log(struct harness_daemon *d, const char *why)
{
	fprintf(stderr, "harness: %s; daemon log (%s):\n%s\n--- end of log\n", why, d->log_path,
		harness_daemon_log_tail(d, 8192));
}

struct harness_daemon *harness_daemon_start_opts(const struct harness_opts *opts)
{
	const char *bin = getenv("CODEEXECD_BIN"), *image = opts->image;
	const char *tmpdir = getenv("TMPDIR");
	struct harness_daemon *d;
	int ready = 0;

	if (!bin || !*bin) {
		fprintf(stderr, "harness: CODEEXECD_BIN is not set (the daemon binary)\n");
		return NULL;
	}
	if (!image) {
		image = getenv("CODEEXECD_TEST_IMAGE");
		if (!image || !*image)
			image = DEFAULT_IMAGE;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		die_oom();
	d->creator = getpid();
	d->supervisor = -1;
	d->pid = -1;
	(void)snprintf(d->dir, sizeof(d->dir), "%s/codeexecd-it-XXXXXX",
		       tmpdir && *tmpdir ? tmpdir : "/tmp");
	if (!mkdtemp(d->dir)) {
		fprintf(stderr, "harness: mkdtemp %s: %s\n", d->dir, strerror(errno));
		free(d);
		return NULL;
	}
	(void)snprintf(d->config_path, sizeof(d->config_path), "%s/config.yaml", d->dir);
	(void)snprintf(d->log_path, sizeof(d->log_path), "%s/daemon.log", d->dir);
	(void)snprintf(d->status_path, sizeof(d->status_path), "%s/status", d->dir);
	(void)snprintf(d->state_dir, sizeof(d->state_dir), "%s",
		       opts->state_dir ? opts->state_dir : d->dir);
	if (write_file(d->config_path, opts->yaml ? opts->yaml : "") != 0) {
		fprintf(stderr, "harness: cannot write %s\n", d->config_path);
		remove_dir(d);
		free(d);
		return NULL;
	}
	for (int attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
		d->port = opts->port > 0 ? opts->port : free_port();
		(void)unlink(d->log_path);
		if (d->port <= 0 || spawn(d, opts, bin, image) != 0) {
			fprintf(stderr, "harness: cannot start %s\n", bin);
			break;
		}
		if (opts->no_wait)
			return d;
		ready = wait_ready(d, opts->start_timeout_s > 0 ? opts->start_timeout_s
							     : START_TIMEOUT_S);
		if (ready == 1)
			return d;
		if (ready == 0) {
			print_log(d, "the daemon did not answer GET /health in time");
			(void)harness_daemon_terminate(d, 10);
			reap_supervisor(d);
			break;
		}
		reap_supervisor(d);
		const char *log = harness_daemon_log(d);
		if (opts->port > 0 || !(strstr(log, "cannot listen") || strstr(log, "in use"))) {
			print_log(d, "the daemon exited at start-up");
			break;
		}
	}
	reap_supervisor(d);
	remove_dir(d);
	free(d->logbuf);
	free(d);
	return NULL;
}

struct harness_daemon *harness_daemon_start(const char *yaml)
{
	struct harness_opts opts = { .yaml = yaml };

	return harness_daemon_start_opts(&opts);
}

int harness_daemon_terminate(struct harness_daemon *d, int timeout_s)
{
	double deadline;
	int code;

	if (!d || d->pid <= 0)
		return -1;
	if (daemon_exited(d, &code))
		return code;
	(void)kill(d->pid, SIGTERM);
	deadline = harness_now() + (timeout_s > 0 ? timeout_s : STOP_TIMEOUT_S);
	while (harness_now() < deadline) {
		if (daemon_exited(d, &code))
			return code;
		harness_sleep_ms(50);
	}
	fprintf(stderr, "harness: the daemon (pid %d) did not exit within %d s of SIGTERM; "
		"killing it\n", (int)d->pid, timeout_s > 0 ? timeout_s : STOP_TIMEOUT_S);
	(void)kill(d->pid, SIGKILL);
	deadline = harness_now() + KILL_WAIT_S;
	while (harness_now() < deadline && !daemon_exited(d, &code))
		harness_sleep_ms(50);
	return -1;
}

int harness_daemon_stop(struct harness_daemon *d)
{
	int rc;

	if (!d)
		return -1;
	rc = harness_daemon_terminate(d, STOP_TIMEOUT_S);
	if (rc != 0 && dir_exists(d)) {
		char why[64];
		(void)snprintf(why, sizeof(why), "the daemon's exit status is %d", rc);
		print_log(d, why);
	}
	reap_supervisor(d);
	remove_dir(d);
	free(d->logbuf);
	free(d);
	return rc;
}

bool harness_daemon_running(const struct harness_daemon *d)
{
	int status;

	return d && d->pid > 0 && !d->have_final && !read_status(d, &status) && dir_exists(d);
}

int harness_daemon_signal(const struct harness_daemon *d, int sig)
{
	if (!harness_daemon_running(d))
		return -ESRCH;
	return kill(d->pid, sig) == 0 ? 0 : -errno;
}

int harness_daemon_port(const struct harness_daemon *d)
{
	return d ? d->port : -1;
}

int harness_daemon_pid(const struct harness_daemon *d)
{
	return d ? (int)d->pid : -1;
}

const char *harness_daemon_dir(const struct harness_daemon *d)
{
	return d ? d->dir : "";
}

const char *harness_daemon_log(struct harness_daemon *d)
{
	free(d->logbuf);
	d->logbuf = read_file(d->log_path, NULL);
	if (!d->logbuf)
		d->logbuf = xstrdup("");
	return d->logbuf;
}

const char *harness_daemon_log_tail(struct harness_daemon *d, size_t max)
{
	const char *log = harness_daemon_log(d);
	size_t len = strlen(log);

	return len > max ? log + (len - max) : log;
}

int harness_daemon_instance(const struct harness_daemon *d, char *out, size_t outlen)
{
	char path[320], *text;
	size_t n;

	(void)snprintf(path, sizeof(path), "%s/instance-%d.id", d->state_dir, d->port);
	text = read_file(path, NULL);
	if (!text)
		return -1;
	n = strcspn(text, "\n");
	if (n == 0 || n >= outlen) {
		free(text);
		return -1;
	}
	memcpy(out, text, n);
	out[n] = '\0';
	free(text);
	return 0;
}

int harness_daemon_stop_clean(struct harness_daemon *d)
{
	char label[256], inst[160];
	int rc, left;

	if (harness_daemon_instance(d, inst, sizeof(inst)) != 0)
		return -1;
	rc = harness_daemon_stop(d);
	(void)snprintf(label, sizeof(label), "io.codeexecd.instance=%s", inst);
	left = harness_docker_count_labelled(label);
	if (rc != 0 || left != 0)
		fprintf(stderr, "harness: the daemon exited with %d and left %d container(s)\n", rc,
			left);
	return rc == 0 && left == 0 ? 0 : -1;
}

/* --- HTTP with libcurl -------------------------------------------------------- */

struct transfer {
	struct harness_response *resp;
	size_t body_cap;
	const char *upload;
	size_t upload_len, upload_pos, chunk;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct transfer *t = userdata;
	struct harness_response *r = t->resp;
	size_t n = size * nmemb;

	if (r->body_len + n > (size_t)BODY_CAP)
		return 0;
	if (r->body_len + n + 1 > t->body_cap) {
		size_t cap = t->body_cap ? t->body_cap : 4096;
		while (cap < r->body_len + n + 1)
			cap *= 2;
		char *grown = realloc(r->body, cap);
		if (!grown)
			return 0;
		r->body = grown;
		t->body_cap = cap;
	}
	memcpy(r->body + r->body_len, data, n);
	r->body_len += n;
	r->body[r->body_len] = '\0';
	return n;
}

static void clear_headers(struct harness_response *r)
{
	for (size_t i = 0; i < r->nheaders; i++) {
		free(r->headers[i].name);
		free(r->headers[i].value);
	}
	free(r->headers);
	r->headers = NULL;
	r->nheaders = 0;
}

static char *trimmed(const char *s, size_t len)
{
	char *out;

	while (len && isspace((unsigned char)*s)) {
		s++;
		len--;
	}
	while (len && isspace((unsigned char)s[len - 1]))
		len--;
	out = xmalloc(len + 1);
	memcpy(out, s, len);
	out[len] = '\0';
	return out;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct transfer *t = userdata;
	struct harness_response *r = t->resp;
	size_t n = size * nmemb;
	const char *colon = memchr(data, ':', n);
	struct harness_header *grown;

	if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		clear_headers(r); /* a new response (after 100 Continue, say) */
		return n;
	}
	if (!colon)
		return n;
	grown = realloc(r->headers, (r->nheaders + 1) * sizeof(*grown));
	if (!grown)
		return 0;
	r->headers = grown;
	r->headers[r->nheaders].name = trimmed(data, (size_t)(colon - data));
	r->headers[r->nheaders].value = trimmed(colon + 1, n - (size_t)(colon - data) - 1);
	r->nheaders++;
	return n;
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *userdata)
{
	struct transfer *t = userdata;
	size_t n = size * nitems, left = t->upload_len - t->upload_pos;

	if (n > t->chunk)
		n = t->chunk;
	if (n > left)
		n = left;
	memcpy(buf, t->upload + t->upload_pos, n);
	t->upload_pos += n;
	return n;
}

static bool has_header(const char *const *headers, const char *name)
{
	size_t len = strlen(name);

	for (size_t i = 0; headers && headers[i]; i++) {
		if (strncasecmp(headers[i], name, len) == 0 && headers[i][len] == ':')
			return true;
	}
	return false;
}

int harness_http_ex(int port, const struct harness_request *req, struct harness_response *resp)
{
	struct transfer t = { .resp = resp };
	struct curl_slist *hdrs = NULL;
	char url[4200], errbuf[CURL_ERROR_SIZE] = "";
	const char *method = req->method ? req->method : "GET";
	CURL *c;
	CURLcode cc;

	memset(resp, 0, sizeof(*resp));
	resp->body = xstrdup("");
	t.body_cap = 1;
	c = curl_easy_init();
	if (!c) {
		(void)snprintf(resp->error, sizeof(resp->error), "curl_easy_init failed");
		resp->curl_code = -1;
		return -1;
	}
	(void)snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port,
		       req->path ? req->path : "/");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)(req->timeout_s > 0 ? req->timeout_s
								      : HTTP_TIMEOUT_S));
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
	curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);

	hdrs = curl_slist_append(hdrs, "Expect:");
	for (size_t i = 0; req->headers && req->headers[i]; i++)
		hdrs = curl_slist_append(hdrs, req->headers[i]);
	if (req->body && !has_header(req->headers, "Content-Type"))
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	if (req->body && req->chunked)
		hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");

	if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (req->body && req->chunked) {
		t.upload = req->body;
		t.upload_len = req->body_len;
		t.chunk = req->chunk_size ? req->chunk_size : 1000;
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c, CURLOPT_READDATA, &t);
	} else if (req->body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
	} else if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0 &&
	    strcmp(method, "HEAD") != 0)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);

	cc = curl_easy_perform(c);
	resp->curl_code = (int)cc;
	(void)curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
	(void)curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &resp->total_s);
	if (cc != CURLE_OK)
		(void)snprintf(resp->error, sizeof(resp->error), "%s",
			       errbuf[0] ? errbuf : curl_easy_strerror(cc));
	curl_easy_cleanup(c);
	curl_slist_free_all(hdrs);
	return resp->status > 0 ? 0 : -1;
}

int harness_http_port(int port, const char *method, const char *path, const void *body,
		      size_t body_len, const char *const *headers, struct harness_response *resp)
{
	struct harness_request req = { .method = method, .path = path, .body = body,
				       .body_len = body_len, .headers = headers };

	return harness_http_ex(port, &req, resp);
}

int harness_http(const struct harness_daemon *d, const char *method, const char *path,
		 const void *body, size_t body_len, const char *const *headers,
		 struct harness_response *resp)
{
	return harness_http_port(harness_daemon_port(d), method, path, body, body_len, headers,
				 resp);
}

void harness_response_free(struct harness_response *resp)
{
	if (!resp)
		return;
	free(resp->body);
	resp->body = NULL;
	clear_headers(resp);
}

const char *harness_header(const struct harness_response *resp, const char *name)
{
	for (size_t i = 0; i < resp->nheaders; i++) {
		if (strcasecmp(resp->headers[i].name, name) == 0)
			return resp->headers[i].value;
	}
	return NULL;
}

bool harness_list_has(const char *value, const char *token)
{
	size_t tlen = strlen(token);

	while (value && *value) {
		size_t n = strcspn(value, ",");
		const char *s = value, *e = value + n;
		while (s < e && isspace((unsigned char)*s))
			s++;
		while (e > s && isspace((unsigned char)e[-1]))
			e--;
		if ((size_t)(e - s) == tlen && strncasecmp(s, token, tlen) == 0)
			return true;
		value += n;
		if (*value == ',')
			value++;
	}
	return false;
}

cJSON *harness_json(const struct harness_response *resp)
{
	if (!resp->body || resp->body_len == 0)
		return NULL;
	return cJSON_ParseWithLength(resp->body, resp->body_len);
}

const char *harness_describe(const struct harness_response *resp)
{
	static char buf[700];
	size_t n = resp->body_len;

	if (resp->status == 0) {
		(void)snprintf(buf, sizeof(buf), "no response (%s)", resp->error);
		return buf;
	}
	if (n > 500)
		n = 500;
	(void)snprintf(buf, sizeof(buf), "status %ld, body (%zu bytes) %.*s%s", resp->status,
		       resp->body_len, (int)n, resp->body ? resp->body : "",
		       resp->body_len > n ? "..." : "");
	return buf;
}

long harness_health_status(const struct harness_daemon *d)
{
	struct harness_request req = { .method = "GET", .path = "/health", .timeout_s = 30 };
	struct harness_response resp;
	long status;

	(void)harness_http_ex(harness_daemon_port(d), &req, &resp);
	status = resp.status;
	harness_response_free(&resp);
	return status;
}

/* --- FastAPI-shaped errors ------------------------------------------------------ */

static bool is_integer(const cJSON *item)
{
	return cJSON_IsNumber(item) && item->valuedouble == (double)(long long)item->valuedouble;
}

static int fail(char *why, size_t whylen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return -1;
}

int harness_check_validation_shape(const cJSON *root, char *why, size_t whylen)
{
	const cJSON *detail = cJSON_GetObjectItemCaseSensitive(root, "detail"), *e;
	int i = 0;

	if (!cJSON_IsObject(root))
		return fail(why, whylen, "the body is not a JSON object");
	if (!cJSON_IsArray(detail))
		return fail(why, whylen, "detail is not an array");
	if (cJSON_GetArraySize(detail) == 0)
		return fail(why, whylen, "detail is empty");
	cJSON_ArrayForEach(e, detail) {
		const cJSON *loc = cJSON_GetObjectItemCaseSensitive(e, "loc"), *l;
		const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "msg");
		const cJSON *type = cJSON_GetObjectItemCaseSensitive(e, "type");

		if (!cJSON_IsObject(e))
			return fail(why, whylen, "detail[%d] is not an object", i);
		if (!cJSON_IsArray(loc) || cJSON_GetArraySize(loc) == 0)
			return fail(why, whylen, "detail[%d].loc is not a non-empty array", i);
		cJSON_ArrayForEach(l, loc) {
			if (!cJSON_IsString(l) && !is_integer(l))
				return fail(why, whylen, "detail[%d].loc has an element that is "
					    "neither a string nor an integer", i);
		}
		if (!cJSON_IsString(msg) || msg->valuestring[0] == '\0')
			return fail(why, whylen, "detail[%d].msg is not a non-empty string", i);
		if (!cJSON_IsString(type) || type->valuestring[0] == '\0')
			return fail(why, whylen, "detail[%d].type is not a non-empty string", i);
		i++;
	}
	return 0;
}

int harness_check_detail_string(const cJSON *root)
{
	const cJSON *detail = cJSON_GetObjectItemCaseSensitive(root, "detail");

	return cJSON_IsObject(root) && cJSON_IsString(detail) && detail->valuestring[0] ? 0 : -1;
}

bool harness_type_matches(const char *type, const char *want)
{
	size_t tlen = strlen(type);

	if (!want)
		return true;
	while (*want) {
		size_t n = strcspn(want, "|");
		if (n == tlen && strncmp(want, type, n) == 0)
			return true;
		want += n;
		if (*want == '|')
			want++;
	}
	return false;
}

static bool loc_equals(const cJSON *loc, const char *const *want)
{
	const cJSON *l = loc ? loc->child : NULL;
	size_t i = 0;

	for (; want[i]; i++, l = l->next) {
		if (!l)
			return false;
		if (strcmp(want[i], "#") == 0) {
			if (!is_integer(l))
				return false;
		} else if (strcmp(want[i], "*") == 0) {
			if (!cJSON_IsString(l))
				return false;
		} else if (!cJSON_IsString(l) || strcmp(l->valuestring, want[i]) != 0) {
			return false;
		}
	}
	return l == NULL;
}

const cJSON *harness_detail_find(const cJSON *root, const char *const *loc, const char *type)
{
	const cJSON *detail = cJSON_GetObjectItemCaseSensitive(root, "detail"), *e;

	if (!cJSON_IsArray(detail))
		return NULL;
	cJSON_ArrayForEach(e, detail) {
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(e, "type");
		if (!cJSON_IsString(t) || !harness_type_matches(t->valuestring, type))
			continue;
		if (loc_equals(cJSON_GetObjectItemCaseSensitive(e, "loc"), loc))
			return e;
	}
	return NULL;
}

int harness_detail_count(const cJSON *root)
{
	const cJSON *detail = cJSON_GetObjectItemCaseSensitive(root, "detail");

	return cJSON_IsArray(detail) ? cJSON_GetArraySize(detail) : -1;
}

/* --- raw sockets ----------------------------------------------------------------- */

int harness_connect(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -1;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		(void)close(fd);
		return -1;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

int harness_send_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

void harness_read_until_close(int fd, double timeout_s, struct harness_raw_result *out)
{
	double start = harness_now(), deadline = start + timeout_s;
	size_t cap = 0;

	if (!out->data) {
		out->data = xstrdup("");
		out->len = 0;
	}
	cap = out->len + 1;
	for (;;) {
		double left = deadline - harness_now();
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		char buf[8192];
		int pr;
		ssize_t n;

		if (left <= 0) {
			out->timed_out = true;
			break;
		}
		pr = poll(&pfd, 1, (int)(left * 1000) + 1);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			continue; /* the deadline check above ends it */
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			out->closed = true;
			out->reset = errno == ECONNRESET;
			break;
		}
		if (n == 0) {
			out->closed = true;
			break;
		}
		if (out->len + (size_t)n > (size_t)RAW_CAP)
			continue; /* keep reading, drop the rest */
		if (out->len + (size_t)n + 1 > cap) {
			while (cap < out->len + (size_t)n + 1)
				cap *= 2;
			char *grown = realloc(out->data, cap);
			if (!grown)
				die_oom();
			out->data = grown;
		}
		memcpy(out->data + out->len, buf, (size_t)n);
		out->len += (size_t)n;
		out->data[out->len] = '\0';
	}
	out->elapsed_s = harness_now() - start;
}

int harness_raw(int port, const void *data, size_t len, unsigned flags, double timeout_s,
		struct harness_raw_result *out)
{
	double start = harness_now();
	int fd;

	memset(out, 0, sizeof(*out));
	out->data = xstrdup("");
	fd = harness_connect(port);
	if (fd < 0)
		return -1;
	if (len && harness_send_all(fd, data, len) != 0)
		out->send_failed = true;
	if (flags & HARNESS_RAW_SHUT_WR)
		(void)shutdown(fd, SHUT_WR);
	harness_read_until_close(fd, timeout_s, out);
	out->elapsed_s = harness_now() - start;
	(void)close(fd);
	return 0;
}

int harness_raw_status(const struct harness_raw_result *r)
{
	const char *p = r->data;
	int status;

	if (!p || strncmp(p, "HTTP/1.", 7) != 0 || r->len < 12)
		return -1;
	if (sscanf(p + 8, " %3d", &status) != 1)
		return -1;
	return status;
}

void harness_raw_free(struct harness_raw_result *r)
{
	if (!r)
		return;
	free(r->data);
	r->data = NULL;
	r->len = 0;
}

/* --- the engine -------------------------------------------------------------------- */

cJSON *harness_docker_get(const char *path)
{
	const char *host = getenv("DOCKER_HOST");
	struct harness_response resp = { 0 };
	struct transfer t = { .resp = &resp };
	char url[2048], base[512] = "http://localhost";
	CURL *c = curl_easy_init();
	cJSON *json = NULL;
	long code = 0;

	if (!c)
		return NULL;
	if (host && strncmp(host, "tcp://", 6) == 0) {
		(void)snprintf(base, sizeof(base), "http://%s", host + 6);
	} else {
		const char *sock = "/var/run/docker.sock";
		if (host && strncmp(host, "unix://", 7) == 0)
			sock = host + 7;
		curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock);
	}
	/* versioned: a Docker socket proxy refuses what codeexecd does not call */
	(void)snprintf(url, sizeof(url), "%s/v1.41%s", base, path);
	resp.body = xstrdup("");
	t.body_cap = 1;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
	if (curl_easy_perform(c) == CURLE_OK &&
	    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK && code == 200)
		json = cJSON_ParseWithLength(resp.body, resp.body_len);
	harness_response_free(&resp);
	curl_easy_cleanup(c);
	return json;
}

cJSON *harness_docker_list_labelled(const char *extra_label)
{
	cJSON *filters = cJSON_CreateObject(), *labels, *list = NULL;
	char *ftext = NULL, *fesc = NULL, path[2048];

	if (!filters)
		return NULL;
	labels = cJSON_AddArrayToObject(filters, "label");
	cJSON_AddItemToArray(labels, cJSON_CreateString("io.codeexecd.managed=true"));
	if (extra_label)
		cJSON_AddItemToArray(labels, cJSON_CreateString(extra_label));
	ftext = cJSON_PrintUnformatted(filters);
	fesc = ftext ? curl_easy_escape(NULL, ftext, 0) : NULL;
	if (fesc) {
		(void)snprintf(path, sizeof(path), "/containers/json?all=1&filters=%s", fesc);
		list = harness_docker_get(path);
	}
	if (list && !cJSON_IsArray(list)) {
		cJSON_Delete(list);
		list = NULL;
	}
	cJSON_Delete(filters);
	free(ftext);
	curl_free(fesc);
	return list;
}

int harness_docker_count_labelled(const char *extra_label)
{
	cJSON *list = harness_docker_list_labelled(extra_label);
	int count = list ? cJSON_GetArraySize(list) : -1;

	cJSON_Delete(list);
	return count;
}

int harness_hash_key(const char *name, const char *limits, const char *keys_file, char *key,
		     size_t keylen)
{
	char cmd[600], line[256] = "";
	FILE *p, *f;
	int rc = -1;

	key[0] = '\0';
	(void)snprintf(cmd, sizeof(cmd), "'%s' --hash-key '%s' 2>'%s.key'",
		       getenv("CODEEXECD_BIN"), name, keys_file);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	if (!fgets(line, sizeof(line), p) || strncmp(line, name, strlen(name)) != 0 ||
	    !strstr(line, " sha256:")) {
		fprintf(stderr, "harness: --hash-key printed '%s'\n", line);
		(void)pclose(p);
		goto out;
	}
	if (pclose(p) != 0 || !(f = fopen(keys_file, "a")))
		goto out;
	fprintf(f, "%.*s %s\n", (int)strcspn(line, "\n"), line, limits);
	if (fclose(f) != 0)
		goto out;
	/* stderr: a sentence, then the key alone on the last line */
	(void)snprintf(cmd, sizeof(cmd), "%s.key", keys_file);
	if (!(f = fopen(cmd, "r")))
		goto out;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "cxd_", 4) == 0)
			(void)snprintf(key, keylen, "%.*s", (int)strcspn(line, "\n"), line);
	(void)fclose(f);
	rc = strlen(key) == 68 ? 0 : -1;
out:
	(void)snprintf(cmd, sizeof(cmd), "%s.key", keys_file);
	(void)unlink(cmd);
	return rc;
}

int harness_proc_fds(int pid)
{
	char path[64];
	struct dirent *e;
	DIR *dir;
	int n = 0;

	(void)snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	dir = opendir(path);
	if (!dir)
		return -1;
	while ((e = readdir(dir)) != NULL)
		n += e->d_name[0] != '.';
	(void)closedir(dir);
	return n;
}

long harness_proc_rss_kib(int pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	(void)snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}
