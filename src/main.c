/* codeexecd: command line, signals, start-up, reload and shutdown order.
 *
 * Start-up: configuration (defaults < file < environment < command line),
 * logging, the listening sockets (bound, or passed by systemd), the engine
 * client, the image check, removal of containers left by an earlier crash,
 * the executor, the API keys, the HTTP server; then READY=1 to systemd once
 * the engine answered.
 * Reload (SIGHUP): see reload(). Every configuration generation stays
 * allocated until exit, so that requests and runs holding one never see it
 * freed (a few KiB per reload).
 * Shutdown (SIGTERM, SIGINT): STOPPING=1, stop accepting, let running
 * executions finish for execution.shutdown_grace_seconds, stop the rest
 * (their containers removed), then exit 0. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codeexecd/api.h"
#include "codeexecd/sessions.h"
#include "codeexecd/auth.h"
#include "codeexecd/config.h"
#include "codeexecd/docker.h"
#include "codeexecd/executor.h"
#include "codeexecd/instance.h"
#include "codeexecd/listen.h"
#include "codeexecd/log.h"
#include "codeexecd/metrics.h"
#include "codeexecd/notify.h"
#include "codeexecd/sandbox.h"
#include "codeexecd/server.h"

#define STATUS_EVERY_S 5       /* STATUS= updates, and the tick without a watchdog */
#define PROBE_TIMEOUT_MS 5000  /* the watchdog's probe of the request loop */

#ifndef CXD_VERSION
#define CXD_VERSION "0.1.0"
#endif

extern char **environ;

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: codeexecd [OPTIONS]\n"
		"Runs untrusted Python code in one-shot, locked-down Docker containers,\n"
		"behind an HTTP API (POST /execute; docs at /docs and /redoc).\n\n"
		"Options:\n"
		"  -c, --config FILE     read configuration from FILE (YAML; see config.example.yaml)\n"
		"  -s, --set KEY=VALUE   set one key, e.g. --set execution.max_concurrent=8\n"
		"      --host HOST       same as --set server.host=HOST\n"
		"      --port PORT       same as --set server.port=PORT\n"
		"      --check-config    validate the configuration, print it, and exit\n"
		"      --hash-key NAME   make a new API key: its keys-file line on stdout,\n"
		"                        the key itself on stderr\n"
		"  -V, --version         print the version and exit\n"
		"  -h, --help            print this help and exit\n\n"
		"Precedence: built-in defaults < FILE < environment (CODEEXECD_<SECTION>_<KEY>,\n"
		"and HOST, PORT, DOCKER_HOST, DOCKER_IMAGE, EXECUTION_TIMEOUT, MAX_MEMORY,\n"
		"MAX_CPU, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH) < command line.\n"
		"CODEEXECD_CONFIG names a file when --config is absent.\n");
}

/* Command-line settings, applied after the environment. */
struct cli {
	const char *config_path;
	const char *hash_key;   /* --hash-key NAME */
	bool check_only;
	size_t nsets;
	char **sets; /* "section.key=value", each malloc'ed */
};

static int cli_add_set(struct cli *cli, const char *key, const char *value)
{
	char **grown = realloc(cli->sets, (cli->nsets + 1) * sizeof(*grown));
	char *s = NULL;

	if (!grown)
		return -ENOMEM;
	cli->sets = grown;
	if (key ? asprintf(&s, "%s=%s", key, value) < 0 : !(s = strdup(value)))
		return -ENOMEM;
	cli->sets[cli->nsets++] = s;
	return 0;
}

static void cli_free(struct cli *cli)
{
	for (size_t i = 0; i < cli->nsets; i++)
		free(cli->sets[i]);
	free(cli->sets);
}

/* Returns 0 to go on, 1 to exit 0 (help, version), 2 for a usage error. */
static int parse_args(int argc, char **argv, struct cli *cli)
{
	enum { OPT_HOST = 256, OPT_PORT, OPT_CHECK, OPT_HASH_KEY };
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "set", required_argument, NULL, 's' },
		{ "host", required_argument, NULL, OPT_HOST },
		{ "port", required_argument, NULL, OPT_PORT },
		{ "check-config", no_argument, NULL, OPT_CHECK },
		{ "hash-key", required_argument, NULL, OPT_HASH_KEY },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "c:s:Vh", opts, NULL)) != -1) {
		int rc = 0;
		switch (c) {
		case 'c': cli->config_path = optarg; break;
		case 's': rc = cli_add_set(cli, NULL, optarg); break;
		case OPT_HOST: rc = cli_add_set(cli, "server.host", optarg); break;
		case OPT_PORT: rc = cli_add_set(cli, "server.port", optarg); break;
		case OPT_CHECK: cli->check_only = true; break;
		case OPT_HASH_KEY: cli->hash_key = optarg; break;
		case 'V': printf("codeexecd %s\n", CXD_VERSION); return 1;
		case 'h': usage(stdout); return 1;
		default: usage(stderr); return 2;
		}
		if (rc != 0)
			return 2;
	}
	if (optind < argc) {
		fprintf(stderr, "codeexecd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (!cli->config_path)
		cli->config_path = getenv("CODEEXECD_CONFIG");
	return 0;
}

static int load_config(struct config *cfg, const struct cli *cli, char *err, size_t errlen)
{
	int rc;

	config_defaults(cfg);
	if (cli->config_path && *cli->config_path) {
		rc = config_load_file(cfg, cli->config_path, err, errlen);
		if (rc != 0)
			return rc;
	}
	rc = config_apply_env(cfg, environ, err, errlen);
	for (size_t i = 0; rc == 0 && i < cli->nsets; i++)
		rc = config_set(cfg, cli->sets[i], err, errlen);
	if (rc == 0)
		rc = config_validate(cfg, err, errlen);
	return rc;
}

/* The engine and the image at start-up: a missing image is pulled (when
 * docker.pull_missing_image, within docker.pull_timeout_seconds). Neither an
 * engine that does not answer yet nor an image that cannot be had is fatal:
 * the daemon reports not ready, and recovers when they come (a run that
 * finds the image missing starts another pull in the background). */
static void check_engine(struct sandbox *sb)
{
	char msg[CXD_ERR_MAX];
	int removed = 0, rc = sandbox_check(sb, msg, sizeof(msg));

	if (rc == -EHOSTUNREACH) {
		log_warn(NULL, "%s; /execute answers 503 until it does", msg);
		return;
	}
	if (rc == -ENOENT) {
		rc = sandbox_ensure_image(sb, msg, sizeof(msg));
		if (rc != 0)
			log_error(NULL, "%s; executions fail until it is there", msg);
		else
			(void)sandbox_check(sb, msg, sizeof(msg));
	}
	if (rc == 0)
		log_info(NULL, "%s", msg);
	if (sandbox_cleanup_stale(sb, &removed, msg, sizeof(msg)) != 0)
		log_warn(NULL, "could not look for stale containers: %s", msg);
	else if (removed > 0)
		log_info(NULL, "removed %d container(s) left by an earlier run", removed);
}

/* The code's uid should belong to nobody on the host: under runc (no user
 * namespace) an escape lands in that account, and RLIMIT_NPROC counts that
 * user's own processes together with the sandboxes'. */
static void check_uid(const struct config *cfg)
{
	struct passwd pw, *found = NULL;
	char buf[4096];

	if (getpwuid_r((uid_t)cfg->limits.uid, &pw, buf, sizeof(buf), &found) == 0 && found)
		log_warn(NULL, "limits.uid %d is the host user '%s': an escape from a sandbox would "
			 "be that user, and its processes count against the sandboxes' nproc; "
			 "choose a uid no host account has (the default is 100000)",
			 cfg->limits.uid, found->pw_name);
}

/* The instance id (instance.h): fails only on a bad server.instance_id. */
static int load_instance(const struct config *cfg, char id[CXD_INSTANCE_ID_MAX + 1], char *err,
			 size_t errlen)
{
	bool persisted;
	int rc = instance_id_load(cfg, id, &persisted, err, errlen);

	if (rc != 0)
		return rc;
	if (!persisted)
		log_warn(NULL, "%s: containers left by a crash of this run will not be removed at "
			 "the next start", err);
	log_info(NULL, "instance id %s", id);
	return 0;
}

/* --- the running daemon ----------------------------------------------------- */

struct generation {
	struct config cfg;
	struct generation *prev;
};

struct daemon {
	const struct cli *cli;
	struct generation *gen;     /* the current configuration; older ones behind */
	struct sandbox *sb;
	struct executor *ex;
	struct sessions *sessions;
	struct server *srv;
	struct api api;
	struct auth *keys;          /* our reference to the current keys, or NULL */
	bool ready;                 /* the engine answered once */
	bool announced;             /* READY=1 sent */
};

static struct sessions_limits session_limits(const struct config *cfg)
{
	struct sessions_limits lim = {
		.max = cfg->sessions.max,
		.idle_timeout_s = cfg->sessions.idle_timeout_seconds,
		.max_lifetime_s = cfg->sessions.max_lifetime_seconds,
	};

	return lim;
}

static void generations_free(struct generation *g)
{
	while (g) {
		struct generation *prev = g->prev;
		free(g);
		g = prev;
	}
}

static int load_keys(const struct config *cfg, const struct auth *prev, struct auth **out,
		     char *err, size_t errlen)
{
	*out = NULL;
	if (!cfg->auth.keys_file[0])
		return 0;
	return auth_load(out, cfg->auth.keys_file, prev, err, errlen);
}

static void log_keys(const struct config *cfg, const struct auth *keys, bool loopback,
		     const char *where)
{
	if (keys)
		log_info(NULL, "API keys: %zu from %s", auth_count(keys), cfg->auth.keys_file);
	else if (!loopback)
		log_warn(NULL, "listening on %s without API keys: anyone who reaches the port can "
			 "run code (set auth.keys_file)", where);
}

struct diff_log {
	int applied, kept;
};

static void log_change(const char *key, bool needs_restart, void *ctx)
{
	struct diff_log *d = ctx;

	if (needs_restart) {
		d->kept++;
		log_warn(NULL, "reload: %s changed: needs a restart (the running value is kept)",
			 key);
	} else {
		d->applied++;
		log_info(NULL, "reload: %s changed: applied", key);
	}
}

/* SIGHUP: reads the configuration (file, environment, command line, as at
 * start-up) and the keys file again. Anything invalid refuses the whole
 * reload and keeps the old state. Otherwise the new generation replaces the
 * old in every module: requests and runs already going finish with what
 * they began with, nothing in flight is dropped. Keys that only take effect
 * at start-up keep their running value and are reported. */
static void reload(struct daemon *d)
{
	struct generation *g = calloc(1, sizeof(*g));
	const struct config *cur = &d->gen->cfg;
	struct diff_log changes = { 0 };
	struct auth *keys = NULL;
	char err[CXD_ERR_MAX];
	int rc;

	notify_reloading();
	log_info(NULL, "SIGHUP received: reloading the configuration");
	rc = g ? load_config(&g->cfg, d->cli, err, sizeof(err)) : -ENOMEM;
	if (rc == 0)
		rc = load_keys(&g->cfg, d->keys, &keys, err, sizeof(err));
	if (rc != 0) {
		log_error(NULL, "reload refused: %s; the running configuration is kept",
			  rc == -ENOMEM ? "out of memory" : err);
		metrics_count(METRICS_C_RELOAD_FAILURES);
		free(g);
		notify_ready("Running (the last reload was refused)");
		return;
	}
	log_setup(g->cfg.log.level, g->cfg.log.format); /* what follows in the new format */
	config_diff(cur, &g->cfg, log_change, &changes);
	config_keep_restart_keys(&g->cfg, cur);
	g->prev = d->gen;
	d->gen = g;
	atomic_store(&d->api.cfg, &g->cfg);
	sandbox_reconfigure(d->sb, &g->cfg);
	executor_reconfigure(d->ex, &g->cfg);
	struct sessions_limits lim = session_limits(&g->cfg);
	sessions_reconfigure(d->sessions, &lim);
	server_reconfigure(d->srv, &g->cfg);
	auth_ref(keys);
	server_set_auth(d->srv, keys);
	auth_unref(d->keys);
	d->keys = keys;
	metrics_count(METRICS_C_RELOADS);
	log_info(NULL, "reload done: %d change(s) applied, %d need a restart; %zu API key(s)",
		 changes.applied, changes.kept, auth_count(keys));
	notify_ready("Running (configuration reloaded)");
}

/* STATUS= for systemd, and READY=1 once the engine answers. */
static void tick_status(struct daemon *d)
{
	char status[160], msg[CXD_ERR_MAX];

	if (!d->ready) {
		if (executor_health(d->ex, msg, sizeof(msg)) != 0) {
			notify_status("Waiting for the Docker engine");
			return;
		}
		d->ready = true;
	}
	(void)snprintf(status, sizeof(status), "Running: %ld executing, %ld queued, %ld ready "
		       "container(s)", metrics_gauge_get(METRICS_G_RUNNING),
		       metrics_gauge_get(METRICS_G_QUEUED), metrics_gauge_get(METRICS_G_POOL_READY));
	if (!d->announced) {
		d->announced = true;
		log_info(NULL, "ready: %s", msg);
		notify_ready(status);
		return;
	}
	notify_status(status);
}

/* WATCHDOG=1 only while both halves make progress: the request loop
 * answers a probe, and the executor's lock can be taken. */
static void tick_watchdog(struct daemon *d)
{
	int rc = server_probe(d->srv, PROBE_TIMEOUT_MS);

	if (rc != 0) {
		log_warn(NULL, "watchdog: the request loop did not answer (%s); not pinging",
			 strerror(-rc));
		return;
	}
	if (!executor_alive(d->ex, PROBE_TIMEOUT_MS)) {
		log_warn(NULL, "watchdog: the executor is stuck; not pinging");
		return;
	}
	notify_watchdog();
}

static int open_listeners(const struct config *cfg, int *main_fd, int *metrics_fd,
			  bool *activated, char *err, size_t errlen)
{
	char host[256];
	int port, rc = notify_listen_fds(main_fd, metrics_fd, err, errlen);

	if (rc < 0)
		return rc;
	*activated = *main_fd >= 0;
	if (rc > 0)
		log_info(NULL, "socket activation: %d listening socket(s) from systemd", rc);
	rc = 0;
	if (*metrics_fd >= 0 && !(cfg->server.metrics && cfg->server.metrics_listen[0])) {
		log_warn(NULL, "socket activation: a metrics socket was passed but "
			 "server.metrics_listen is not set; closing it");
		(void)close(*metrics_fd);
		*metrics_fd = -1;
	}
	if (*main_fd < 0 &&
	    (rc = listen_bind(cfg->server.host, cfg->server.port, main_fd, &port, err, errlen)) != 0)
		return rc;
	if (*metrics_fd < 0 && cfg->server.metrics && cfg->server.metrics_listen[0]) {
		if (listen_parse(cfg->server.metrics_listen, host, sizeof(host), &port) != 0) {
			(void)snprintf(err, errlen, "server.metrics_listen '%s': expected host:port",
				       cfg->server.metrics_listen);
			return -EINVAL;
		}
		rc = listen_bind(host, port, metrics_fd, &port, err, errlen);
	}
	return rc;
}

static int start(struct daemon *d, char *err, size_t errlen)
{
	const struct config *cfg = &d->gen->cfg;
	int rc, main_fd = -1, metrics_fd = -1, port;
	bool loopback, activated = false;
	char where[300], instance[CXD_INSTANCE_ID_MAX + 1];

	/* The port first: a second daemon started on a busy port must fail
	 * before it touches the containers of the one that has it. */
	rc = open_listeners(cfg, &main_fd, &metrics_fd, &activated, err, errlen);
	port = main_fd >= 0 ? listen_port(main_fd) : 0;
	loopback = main_fd >= 0 && listen_is_loopback(main_fd);
	if (activated)
		(void)snprintf(where, sizeof(where), "the socket from systemd (port %d)", port);
	else
		(void)snprintf(where, sizeof(where), "%s:%d", cfg->server.host, port);
	if (rc == 0)
		rc = load_keys(cfg, NULL, &d->keys, err, errlen);
	if (rc == 0)
		rc = load_instance(cfg, instance, err, errlen);
	if (rc == 0) {
		check_uid(cfg);
		rc = sandbox_create(&d->sb, cfg, instance, err, errlen);
	}
	if (rc == 0)
		check_engine(d->sb);
	if (rc == 0)
		rc = executor_create(&d->ex, cfg, d->sb, err, errlen);
	if (rc == 0) {
		struct sessions_limits lim = session_limits(cfg);
		rc = sessions_create(&d->sessions, &lim, executor_discard_slot, d->ex, true, err,
				     errlen);
	}
	if (rc == 0) {
		d->api.executor = d->ex;
		d->api.sessions = d->sessions;
		rc = server_start(&d->srv, cfg, main_fd, metrics_fd, &d->api, err, errlen);
		main_fd = metrics_fd = -1; /* taken over, also on failure */
	}
	if (main_fd >= 0)
		(void)close(main_fd);
	if (metrics_fd >= 0)
		(void)close(metrics_fd);
	if (rc != 0)
		return rc;
	auth_ref(d->keys);
	server_set_auth(d->srv, d->keys);
	log_info(NULL, "codeexecd %s listening on %s (image %s, %d concurrent, queue %d, "
		 "pool %d%s%s)", CXD_VERSION, where, cfg->docker.image,
		 cfg->execution.max_concurrent, cfg->execution.queue_size,
		 cfg->execution.pool_size, cfg->server.metrics_listen[0] ? ", metrics on " : "",
		 cfg->server.metrics_listen);
	log_keys(cfg, d->keys, loopback, where);
	return 0;
}

static int serve(struct daemon *d)
{
	char err[CXD_ERR_MAX] = "";
	uint64_t wd_usec = notify_watchdog_usec();
	long tick_ms = STATUS_EVERY_S * 1000L;
	struct timespec tick;
	sigset_t set;
	int sig, rc;

	/* Signals are taken by sigtimedwait() below; every thread inherits the mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	rc = start(d, err, sizeof(err));
	if (rc != 0) {
		if (err[0])
			log_error(NULL, "cannot start: %s", err);
		goto out;
	}
	if (wd_usec > 0 && (long)(wd_usec / 2000) < tick_ms)
		tick_ms = (long)(wd_usec / 2000); /* ping twice per WatchdogSec */
	tick.tv_sec = tick_ms / 1000;
	tick.tv_nsec = (tick_ms % 1000) * 1000000L;
	tick_status(d);
	for (;;) {
		sig = sigtimedwait(&set, NULL, &tick);
		if (sig == SIGTERM || sig == SIGINT)
			break;
		if (sig == SIGHUP)
			reload(d);
		tick_status(d);
		if (wd_usec > 0)
			tick_watchdog(d);
	}
	notify_stopping();
	log_info(NULL, "%s received: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
	server_quiesce(d->srv);
	executor_shutdown(d->ex, d->gen->cfg.execution.shutdown_grace_seconds);
out:
	server_stop(d->srv);
	sessions_destroy(d->sessions); /* no request left: their containers go to the reaper */
	executor_destroy(d->ex);
	sandbox_destroy(d->sb);
	auth_unref(d->keys);
	if (rc == 0)
		log_info(NULL, "stopped");
	return rc == 0 ? 0 : 1;
}

/* --hash-key NAME: the keys-file line on stdout, the key on stderr. */
static int hash_key(const char *name)
{
	char key[80], line[160];

	if (auth_new_key(name, key, sizeof(key), line, sizeof(line)) != 0) {
		fprintf(stderr, "codeexecd: --hash-key: the name must be 1..%d characters of "
			"[A-Za-z0-9_.@-]\n", AUTH_NAME_MAX);
		return 2;
	}
	printf("%s\n", line);
	fprintf(stderr, "API key for %s (give it to the client; only its hash is kept):\n%s\n",
		name, key);
	return fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct cli cli = { 0 };
	struct daemon d = { .cli = &cli };
	char err[CXD_ERR_MAX];
	int rc = parse_args(argc, argv, &cli);

	if (rc != 0) {
		cli_free(&cli);
		return rc == 1 ? 0 : 2;
	}
	if (cli.hash_key) {
		rc = hash_key(cli.hash_key);
		cli_free(&cli);
		return rc;
	}
	d.gen = calloc(1, sizeof(*d.gen)); /* large; lives for the whole run */
	rc = d.gen ? load_config(&d.gen->cfg, &cli, err, sizeof(err)) : -ENOMEM;
	if (rc != 0) {
		fprintf(stderr, "codeexecd: configuration error: %s\n",
			d.gen ? err : "out of memory");
		rc = 2;
		goto out;
	}
	if (cli.check_only) {
		config_print(&d.gen->cfg, stdout);
		goto out;
	}
	log_setup(d.gen->cfg.log.level, d.gen->cfg.log.format);
	metrics_init(CXD_VERSION);
	atomic_init(&d.api.cfg, &d.gen->cfg);
	if (docker_global_init() != 0) {
		log_error(NULL, "cannot initialise the HTTP client library");
		rc = 1;
		goto out;
	}
	rc = serve(&d);
	docker_global_cleanup();
out:
	generations_free(d.gen);
	cli_free(&cli);
	return rc;
}
