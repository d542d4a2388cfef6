/* A small library for integration tests that drive the real codeexecd binary
 * over HTTP: start and stop a daemon with a temporary configuration, send
 * requests with libcurl or over a raw socket, check FastAPI-shaped errors,
 * count the daemon's containers on the engine.
 *
 * The binary comes from $CODEEXECD_BIN, the sandbox image from
 * $CODEEXECD_TEST_IMAGE (else python-sandbox:latest).
 *
 * Processes: harness_daemon_start() forks a small supervisor that starts the
 * daemon, waits for it and records its exit status in a file of the
 * daemon's temporary directory. So any process that holds a copy of the
 * handle (a test that Check forked from the process that started the
 * daemon, in an unchecked fixture) can stop the daemon and read its exit
 * status. harness_daemon_stop() removes the temporary files in whichever
 * process calls it; the process that started the daemon still gets the exit
 * status afterwards (from the supervisor's own exit code).
 * If that process dies (strictly: the thread that started the daemon ends),
 * the supervisor sends SIGTERM to the daemon, so start daemons from a
 * thread that outlives them (Check's tests and fixtures do).
 *
 * Set HARNESS_KEEP=1 to keep the temporary directories (config, log). */
#ifndef CODEEXECD_TEST_HARNESS_H
#define CODEEXECD_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

/* --- the daemon ------------------------------------------------------------ */

struct harness_daemon;

struct harness_opts {
	/* The whole configuration file (YAML, sections as in config.h), e.g.
	 * "execution:\n  max_concurrent: 1\n"; NULL = an empty file. */
	const char *yaml;
	/* server.port the daemon is told; 0 = a free port found by the harness
	 * (retried when another process takes it first). The harness always
	 * passes --host 127.0.0.1 --port N, which override the file. */
	int port;
	/* docker.image: NULL = $CODEEXECD_TEST_IMAGE (else python-sandbox:latest),
	 * passed as --set docker.image=...; "" = not passed (file/env decide). */
	const char *image;
	/* Extra "NAME=value" strings for the daemon's environment, NULL-terminated,
	 * may be NULL. The inherited environment is passed on without the
	 * variables codeexecd reads for its configuration (CODEEXECD_*, HOST,
	 * PORT, DOCKER_IMAGE, EXECUTION_TIMEOUT, MAX_MEMORY, MAX_CPU); DOCKER_HOST
	 * is kept. */
	const char *const *env;
	/* Extra arguments after the harness's own, NULL-terminated, may be NULL. */
	const char *const *argv;
	/* Seconds to wait for GET /health to answer; 0 = 20. */
	int start_timeout_s;
	/* server.state_dir (where the daemon keeps its instance id); NULL = the
	 * daemon's own temporary directory, so that no two test daemons share
	 * an id. A daemon started again with the same state_dir and port is the
	 * same instance. */
	const char *state_dir;
	/* Do not wait for /health (for daemons expected to fail at start-up);
	 * harness_daemon_start then returns once the daemon is spawned. */
	bool no_wait;
};

/* Starts a daemon with opts->yaml as its configuration file and waits until
 * GET /health answers (any HTTP status). Returns NULL (after printing the
 * reason and the daemon's log to stderr) when it exits or does not answer
 * in time. */
struct harness_daemon *harness_daemon_start_opts(const struct harness_opts *opts);
/* The same with only a configuration text (NULL = empty). */
struct harness_daemon *harness_daemon_start(const char *yaml);

/* Sends SIGTERM (unless the daemon already exited), waits up to timeout_s
 * seconds (0 = 60) for it to exit, SIGKILLs it if it does not. Returns the
 * exit code (0..255), 128 + the signal when a signal ended it, -1 when it
 * had to be killed after the timeout or its status cannot be read. Safe to
 * call more than once and from any process holding a copy of the handle;
 * the handle stays valid (its log can still be read). */
int harness_daemon_terminate(struct harness_daemon *d, int timeout_s);
/* harness_daemon_terminate(d, 60), removes the temporary files (unless
 * HARNESS_KEEP is set), frees the handle; in the process that started the
 * daemon also reaps the supervisor. Returns what harness_daemon_terminate
 * returned (-1 when another process already stopped the daemon and this one
 * did not start it); a NULL d gives -1. When the result is not 0, prints
 * the log's tail to stderr. */
int harness_daemon_stop(struct harness_daemon *d);
/* Stops the daemon (harness_daemon_stop) and checks that it exited 0 and
 * left no container of its instance on the engine: 0, or -1 after printing
 * which it was. d is freed either way. */
int harness_daemon_stop_clean(struct harness_daemon *d);
/* True while the daemon has not exited. */
bool harness_daemon_running(const struct harness_daemon *d);
/* Sends a signal to the daemon; 0 or -errno. */
int harness_daemon_signal(const struct harness_daemon *d, int sig);

int harness_daemon_port(const struct harness_daemon *d);
int harness_daemon_pid(const struct harness_daemon *d);
/* The temporary directory (config.yaml, daemon.log). */
const char *harness_daemon_dir(const struct harness_daemon *d);
/* The daemon's stdout and stderr so far, NUL-terminated. The text belongs to
 * the handle and stays valid until the next call or harness_daemon_stop(). */
const char *harness_daemon_log(struct harness_daemon *d);
/* At most the last max bytes of the log (same lifetime rules). */
const char *harness_daemon_log_tail(struct harness_daemon *d, size_t max);
/* The value of the label io.codeexecd.instance on this daemon's containers
 * (its instance id, read from its state directory), into out; 0 or -1. */
int harness_daemon_instance(const struct harness_daemon *d, char *out, size_t outlen);

/* --- HTTP with libcurl ------------------------------------------------------ */

struct harness_header {
	char *name;
	char *value;
};

struct harness_response {
	long status;            /* 0 when no HTTP answer came */
	char *body;             /* malloc'ed, NUL-terminated (also when empty) */
	size_t body_len;
	struct harness_header *headers; /* of the final response only */
	size_t nheaders;
	int curl_code;          /* CURLcode */
	char error[256];        /* curl's text when curl_code != 0 */
	double total_s;         /* time the transfer took */
};

struct harness_request {
	const char *method;     /* "GET", "POST", "OPTIONS", "HEAD", ... */
	const char *path;       /* sent as is, e.g. "/health?x=1" */
	const void *body;       /* NULL = no body */
	size_t body_len;
	/* "Name: value" strings, NULL-terminated, may be NULL. A POST body gets
	 * "Content-Type: application/json" unless one is given here. */
	const char *const *headers;
	bool chunked;           /* send the body with Transfer-Encoding: chunked */
	size_t chunk_size;      /* bytes per read callback when chunked; 0 = 1000 */
	int timeout_s;          /* 0 = 120 */
};

/* Sends req to 127.0.0.1:port. Returns 0 when an HTTP response came (any
 * status), -1 otherwise (resp->error says why). resp is always filled and
 * must be released with harness_response_free(). */
int harness_http_ex(int port, const struct harness_request *req, struct harness_response *resp);
/* The same to the daemon's port with the common fields. body may be NULL. */
int harness_http(const struct harness_daemon *d, const char *method, const char *path,
		 const void *body, size_t body_len, const char *const *headers,
		 struct harness_response *resp);
int harness_http_port(int port, const char *method, const char *path, const void *body,
		      size_t body_len, const char *const *headers, struct harness_response *resp);
void harness_response_free(struct harness_response *resp);

/* The first header called name (case-insensitive), or NULL. */
const char *harness_header(const struct harness_response *resp, const char *name);
/* True when the comma-separated header value list contains token
 * (case-insensitive, surrounding spaces ignored). NULL value gives false. */
bool harness_list_has(const char *value, const char *token);
/* The body parsed as JSON (caller frees), or NULL. */
cJSON *harness_json(const struct harness_response *resp);
/* "status 422, body {...}" (at most ~600 bytes) for assertion messages;
 * a static buffer, overwritten by the next call. */
const char *harness_describe(const struct harness_response *resp);
/* GET /health: its HTTP status, or 0 when none came. */
long harness_health_status(const struct harness_daemon *d);

/* --- FastAPI-shaped errors ----------------------------------------------------- */

/* 0 when root is {"detail": [ {loc: [string|integer...], msg: string,
 * type: string}, ... ]} with at least one entry; else -1 and the reason. */
int harness_check_validation_shape(const cJSON *root, char *why, size_t whylen);
/* 0 when root is {"detail": "<non-empty string>"}; else -1. */
int harness_check_detail_string(const cJSON *root);
/* The detail entry whose loc equals loc (NULL-terminated; an element "#"
 * matches any integer, "*" any string) and whose type equals type (NULL = any; "a|b" = a or
 * b), or NULL. */
const cJSON *harness_detail_find(const cJSON *root, const char *const *loc, const char *type);
/* Number of detail entries, -1 when detail is not an array. */
int harness_detail_count(const cJSON *root);
/* True when type is one of the '|'-separated alternatives in want. */
bool harness_type_matches(const char *type, const char *want);

/* --- raw sockets ------------------------------------------------------------------ */

#define HARNESS_RAW_SHUT_WR 1u  /* half-close after sending */

struct harness_raw_result {
	char *data;             /* everything received, NUL-terminated */
	size_t len;
	bool closed;            /* the server closed (EOF or reset) */
	bool reset;             /* ... with a reset */
	bool timed_out;         /* still open when timeout_s passed */
	bool send_failed;       /* the server stopped reading before all was sent */
	double elapsed_s;       /* from connecting to close or timeout */
};

/* A TCP connection to 127.0.0.1:port, or -1. */
int harness_connect(int port);
/* Sends all of data (stops quietly when the server closes); 0 or -1. */
int harness_send_all(int fd, const void *data, size_t len);
/* Reads from fd until the server closes it or timeout_s passes; fills out
 * (data, closed, reset, timed_out, elapsed_s counted from now). Does not
 * close fd. */
void harness_read_until_close(int fd, double timeout_s, struct harness_raw_result *out);
/* Connects, sends data, reads the answer until the server closes the
 * connection or timeout_s passes. 0, or -1 when the connection failed. */
int harness_raw(int port, const void *data, size_t len, unsigned flags, double timeout_s,
		struct harness_raw_result *out);
/* The status code of the first "HTTP/1.x NNN" line in the result, or -1. */
int harness_raw_status(const struct harness_raw_result *r);
void harness_raw_free(struct harness_raw_result *r);

/* --- the engine -------------------------------------------------------------------- */

/* Containers (running or not) labelled io.codeexecd.managed=true, and also
 * extra_label ("key=value") when not NULL, on the engine of $DOCKER_HOST
 * (unix:///path or tcp://host:port; else /var/run/docker.sock). -1 when the
 * engine does not answer. */
int harness_docker_count_labelled(const char *extra_label);
/* The same containers, as the engine lists them (a JSON array; NULL when
 * the engine does not answer). */
cJSON *harness_docker_list_labelled(const char *extra_label);
/* GET path ("/containers/{id}/json") on that engine, parsed; NULL unless 200. */
cJSON *harness_docker_get(const char *path);

/* --- small helpers ----------------------------------------------------------------- */

/* `$CODEEXECD_BIN --hash-key name`: appends its keys-file line, with
 * limits ("" for none, e.g. "per_minute=2") after it, to keys_file and puts
 * the key itself in key. 0, or -1 (with the reason on stderr). */
int harness_hash_key(const char *name, const char *limits, const char *keys_file, char *key,
		     size_t keylen);

/* A process's open file descriptors, -1 when unknown. */
int harness_proc_fds(int pid);
/* A process's resident size (VmRSS) in KiB, -1 when unknown. */
long harness_proc_rss_kib(int pid);

/* A monotonic clock in seconds. */
double harness_now(void);
void harness_sleep_ms(long ms);
/* malloc'ed text: prefix, n copies of fill, suffix (n may be 0). *len gets
 * the length. Aborts on out of memory. */
char *harness_repeat(const char *prefix, const char *fill, size_t n, const char *suffix,
		     size_t *len);

#endif
