/* Configuration: defaults < YAML file < environment < command line.
 * The keys, types, ranges, defaults and environment names live in one schema
 * table in config.c; struct config is the typed result. */
#ifndef CODEEXECD_CONFIG_H
#define CODEEXECD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "codeexecd/limits.h"

enum log_format { LOG_FORMAT_TEXT = 0, LOG_FORMAT_JSON = 1 };
enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

struct string_list {
	size_t n;
	char items[CXD_CORS_ORIGINS_MAX][CXD_PATTERN_MAX];
};

struct config {
	struct {
		char host[256];                 /* HOST */
		int port;                       /* PORT */
		char instance_id[65];           /* "" = persisted in state_dir */
		char state_dir[CXD_CONFIG_STRING_MAX]; /* "" = $STATE_DIRECTORY or /var/lib/codeexecd */
		int max_connections;
		int max_connections_per_ip;
		int idle_timeout_seconds;
		long header_memory_bytes;
		long max_body_bytes;
		long max_inflight_body_bytes;   /* request bodies held at once */
		int request_timeout_seconds;    /* headers and body of one request */
		struct string_list cors_origins; /* "*" allows any origin; none by default */
		struct string_list allowed_hosts;/* Host header names; empty = automatic */
		bool metrics;                   /* GET /metrics */
		char metrics_listen[280];       /* "host:port" of a listener for /metrics
						 * alone; "" = the main one */
	} server;
	struct {
		char host[CXD_CONFIG_STRING_MAX]; /* DOCKER_HOST; "" = unix:///var/run/docker.sock */
		char image[CXD_CONFIG_STRING_MAX];/* DOCKER_IMAGE */
		char runtime[64];                 /* "" = the engine's default (runc) */
		char seccomp_profile[CXD_CONFIG_STRING_MAX]; /* "" = the built-in profile */
		bool pull_missing_image;
		int pull_timeout_seconds;         /* one image pull, never on a request's path */
		bool tls_verify;                  /* DOCKER_TLS_VERIFY: https to a tcp:// host */
		char cert_path[CXD_CONFIG_STRING_MAX]; /* DOCKER_CERT_PATH; "" = ~/.docker */
		int api_timeout_seconds;          /* one engine call, not the execution */
	} docker;
	struct {
		int timeout_seconds;            /* EXECUTION_TIMEOUT */
		int max_timeout_seconds;
		int max_concurrent;
		int queue_size;
		int queue_timeout_seconds;
		int shutdown_grace_seconds;
		int pool_size;                  /* started containers kept ready; 0 = none */
		int pool_max_idle_seconds;      /* a ready container older than this is replaced */
		int pool_demand_window_seconds; /* how long a burst keeps the pool large */
		int pool_start_concurrency;     /* containers the pool starts at once */
		struct string_list preload;     /* modules a ready container imports */
		bool zygote;                    /* code runs in a fork of the runner */
		bool capture_figures;           /* open/shown figures -> output/figure-N.png */
	} execution;
	struct {
		long memory_bytes;              /* MAX_MEMORY, e.g. "512m" */
		double cpus;                    /* MAX_CPU */
		int pids;
		int nofile;
		int nproc;
		long fsize_bytes;
		long tmp_bytes;                 /* /tmp tmpfs */
		long workdir_bytes;             /* /execution tmpfs */
		int tmpfs_inodes;               /* nr_inodes of each tmpfs */
		int uid;                        /* the code's uid and gid: not a host user's */
		int gid;
	} limits;
	struct {
		int max_files;
		long max_stdin_bytes;
	} request;
	struct {
		long max_stdout_bytes;
		long max_stderr_bytes;
		int max_files;
		long max_file_bytes;
		long max_total_bytes;
		/* glob patterns on the relative path: include chooses the default
		 * output_files (each ending in ".csv", keyed by base name), allow
		 * bounds what a request's output_include may select */
		struct string_list include;
		struct string_list allow;
	} output;
	struct {
		enum log_level level;
		enum log_format format;
	} log;
	struct {
		int max;                        /* open at once; 0 = sessions are off */
		int idle_timeout_seconds;       /* unused this long: ended */
		int max_lifetime_seconds;       /* this long after creation: ended */
	} sessions;
	struct {
		char keys_file[CXD_CONFIG_STRING_MAX]; /* "" = no API keys */
		bool protect_docs;              /* /, /openapi.json, /docs, /redoc need a key */
	} auth;
};

/* Fills cfg with the built-in defaults. */
void config_defaults(struct config *cfg);

/* Loads a YAML file over cfg. Unknown keys, wrong types and out-of-range
 * values fail with "file:line:column: key: expected ..." in err.
 * Returns 0 or a negative errno code. */
int config_load_file(struct config *cfg, const char *path, char *err, size_t errlen);

/* Applies the environment (each key's CODEEXECD_* name and the old service's
 * names: EXECUTION_TIMEOUT, MAX_MEMORY, MAX_CPU, DOCKER_IMAGE, HOST, PORT,
 * DOCKER_HOST). envp is NULL-terminated "NAME=value" strings. */
int config_apply_env(struct config *cfg, char *const *envp, char *err, size_t errlen);

/* Applies one "section.key=value" override (the --set flag). */
int config_set(struct config *cfg, const char *assignment, char *err, size_t errlen);

/* Checks relations between keys (e.g. timeout <= max_timeout). */
int config_validate(const struct config *cfg, char *err, size_t errlen);

/* Writes the effective configuration as YAML that config_load_file accepts. */
void config_print(const struct config *cfg, FILE *out);

/* Calls fn for each key whose value differs between a and b, with its name
 * ("section.key") and whether a change needs a restart to take effect. */
void config_diff(const struct config *a, const struct config *b,
		 void (*fn)(const char *key, bool needs_restart, void *ctx), void *ctx);

/* Copies into next the values of cur for the keys that need a restart (a
 * reload keeps them). */
void config_keep_restart_keys(struct config *next, const struct config *cur);

#endif
