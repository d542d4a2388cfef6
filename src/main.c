/* codeexecd: command line, signals, start-up and shutdown order.
 *
 * Start-up: configuration (defaults < file < environment < command line),
 * logging, the engine client, the image check, removal of containers left by
 * an earlier crash, the executor, the HTTP server.
 * Shutdown (SIGTERM, SIGINT): stop accepting, let running executions finish
 * for execution.shutdown_grace_seconds, stop the rest (their containers
 * removed), then exit 0. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codeexecd/api.h"
#include "codeexecd/config.h"
#include "codeexecd/docker.h"
#include "codeexecd/executor.h"
#include "codeexecd/log.h"
#include "codeexecd/sandbox.h"
#include "codeexecd/server.h"

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
	enum { OPT_HOST = 256, OPT_PORT, OPT_CHECK };
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "set", required_argument, NULL, 's' },
		{ "host", required_argument, NULL, OPT_HOST },
		{ "port", required_argument, NULL, OPT_PORT },
		{ "check-config", no_argument, NULL, OPT_CHECK },
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

/* The engine and the image at start-up: a missing image is fatal (unless it
 * can be pulled), an engine that does not answer yet is not (the daemon
 * reports unhealthy and recovers when it comes). */
static int check_engine(struct sandbox *sb)
{
	char msg[CXD_ERR_MAX];
	int removed = 0, rc = sandbox_check(sb, msg, sizeof(msg));

	if (rc == -EHOSTUNREACH) {
		log_warn(NULL, "%s; /execute answers 503 until it does", msg);
		return 0;
	}
	if (rc == -ENOENT) {
		rc = sandbox_ensure_image(sb, msg, sizeof(msg));
		if (rc != 0) {
			log_error(NULL, "%s", msg);
			return rc;
		}
	}
	log_info(NULL, "%s", msg);
	if (sandbox_cleanup_stale(sb, &removed, msg, sizeof(msg)) != 0)
		log_warn(NULL, "could not look for stale containers: %s", msg);
	else if (removed > 0)
		log_info(NULL, "removed %d container(s) left by an earlier run", removed);
	return 0;
}

static int serve(const struct config *cfg)
{
	struct sandbox *sb = NULL;
	struct executor *ex = NULL;
	struct server *srv = NULL;
	struct api api = { .cfg = cfg };
	char err[CXD_ERR_MAX];
	sigset_t set;
	int sig = 0, rc, listen_fd = -1, port = 0;

	/* Signals are taken by sigwait() below; every thread inherits the mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* The port first: a second daemon started on a busy port must fail
	 * before it touches the containers of the one that has it. */
	rc = server_bind(cfg, &listen_fd, &port, err, sizeof(err));
	if (rc == 0)
		rc = sandbox_create(&sb, cfg, port, err, sizeof(err));
	if (rc == 0)
		rc = check_engine(sb) == 0 ? 0 : -EINVAL;
	if (rc == 0)
		rc = executor_create(&ex, cfg, sb, err, sizeof(err));
	if (rc == 0) {
		api.executor = ex;
		rc = server_start(&srv, cfg, listen_fd, port, &api, err, sizeof(err));
		listen_fd = -1; /* taken over, also on failure */
	}
	if (rc != 0) {
		if (rc != -EINVAL)
			log_error(NULL, "cannot start: %s", err);
		goto out;
	}
	log_info(NULL, "codeexecd %s listening on %s:%d (image %s, %d concurrent, queue %d, "
		 "pool %d)", CXD_VERSION, cfg->server.host, port, cfg->docker.image,
		 cfg->execution.max_concurrent, cfg->execution.queue_size,
		 cfg->execution.pool_size);
	(void)sigwait(&set, &sig);
	log_info(NULL, "%s received: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
	server_quiesce(srv);
	executor_shutdown(ex, cfg->execution.shutdown_grace_seconds);
out:
	if (listen_fd >= 0)
		(void)close(listen_fd);
	server_stop(srv);
	executor_destroy(ex);
	sandbox_destroy(sb);
	if (rc == 0)
		log_info(NULL, "stopped");
	return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct cli cli = { 0 };
	static struct config cfg; /* large; lives for the whole run */
	char err[CXD_ERR_MAX];
	int rc = parse_args(argc, argv, &cli);

	if (rc != 0) {
		cli_free(&cli);
		return rc == 1 ? 0 : 2;
	}
	rc = load_config(&cfg, &cli, err, sizeof(err));
	cli_free(&cli);
	if (rc != 0) {
		fprintf(stderr, "codeexecd: configuration error: %s\n", err);
		return 2;
	}
	if (cli.check_only) {
		config_print(&cfg, stdout);
		return 0;
	}
	log_setup(cfg.log.level, cfg.log.format);
	if (docker_global_init() != 0) {
		log_error(NULL, "cannot initialise the HTTP client library");
		return 1;
	}
	rc = serve(&cfg);
	docker_global_cleanup();
	return rc;
}
