/* Unit tests of the configuration module: the schema's defaults, the example
 * file, file errors with their exact positions, environment and --set
 * precedence, value syntax, validation and the print/load round trip.
 * Run from the repository root (the example is read as config.example.yaml). */
#include "codeexecd/config.h"

#include <check.h>

#include "../check_run.h"
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXAMPLE "config.example.yaml"
#define MIB (1024L * 1024L)
#define GIB (1024L * MIB)

#define SERVER_KEYS "host, port, instance_id, state_dir, max_connections, " \
	"max_connections_per_ip, idle_timeout_seconds, header_memory_bytes, max_body_bytes, " \
	"max_inflight_body_bytes, request_timeout_seconds, cors_origins, allowed_hosts, metrics, " \
	"metrics_listen"
#define SECTIONS "server, docker, execution, limits, request, output, log, sessions, auth"
#define SIZE_HINT "(bytes, or a number with suffix k, m, g or t)"

/* One value for every key, none of them the default. */
static const char *const non_defaults[] = {
	"server.host=0.0.0.0", "server.port=1", "server.instance_id=a-1",
	"server.state_dir=/run/x", "server.max_connections=2",
	"server.max_connections_per_ip=0", "server.idle_timeout_seconds=3",
	"server.header_memory_bytes=4k", "server.max_body_bytes=1g",
	"server.max_inflight_body_bytes=2g", "server.request_timeout_seconds=7",
	"server.cors_origins=https://a.example,https://b.example",
	"server.allowed_hosts=a.example,localhost",
	"server.metrics=no", "server.metrics_listen=127.0.0.1:9464",
	"docker.host=tcp://127.0.0.1:2375", "docker.image=other:1", "docker.runtime=runsc",
	"docker.seccomp_profile=/etc/x.json", "docker.pull_missing_image=no",
	"docker.pull_timeout_seconds=9", "docker.api_timeout_seconds=5",
	"docker.tls_verify=on", "docker.cert_path=/etc/codeexecd/certs",
	"execution.timeout_seconds=6", "execution.max_timeout_seconds=7",
	"execution.max_concurrent=8", "execution.queue_size=0",
	"execution.queue_timeout_seconds=0", "execution.shutdown_grace_seconds=0",
	"execution.pool_size=3", "execution.pool_max_idle_seconds=1",
	"execution.pool_demand_window_seconds=10", "execution.pool_start_concurrency=3",
	"execution.preload=json,os.path", "execution.zygote=no", "execution.capture_figures=no",
	"limits.memory_bytes=6m", "limits.cpus=0.5", "limits.pids=9", "limits.nofile=16",
	"limits.nproc=10", "limits.fsize_bytes=1m", "limits.tmp_bytes=2m",
	"limits.workdir_bytes=3m", "limits.tmpfs_inodes=64", "limits.uid=1001",
	"limits.gid=1002", "request.max_files=0", "request.max_stdin_bytes=0",
	"output.max_stdout_bytes=1k", "output.max_stderr_bytes=2k", "output.max_files=0",
	"output.max_file_bytes=0", "output.max_total_bytes=1g",
	"output.include=report*.csv,out/*.csv", "output.allow=*.png,out/**",
	"log.level=debug", "log.format=json",
	"sessions.max=0", "sessions.idle_timeout_seconds=5", "sessions.max_lifetime_seconds=50",
	"auth.keys_file=/etc/codeexecd/keys", "auth.protect_docs=yes",
};
#define N_NON_DEFAULTS (sizeof non_defaults / sizeof non_defaults[0])

/* --- helpers --------------------------------------------------------------- */

/* config_print's output; the caller frees it. */
static char *printed(const struct config *cfg)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	ck_assert_ptr_nonnull(f);
	config_print(cfg, f);
	ck_assert_int_eq(fclose(f), 0);
	return text;
}

/* Equal configurations print the same: the print covers every key exactly. */
static void ck_same_config(const struct config *a, const struct config *b)
{
	char *pa = printed(a), *pb = printed(b);

	ck_assert_str_eq(pa, pb);
	free(pa);
	free(pb);
}

/* Writes text to a new temporary file; its name goes to path. */
static void write_temp(char *path, size_t len, const char *text)
{
	FILE *f;
	int fd;

	ck_assert_int_lt(snprintf(path, len, "/tmp/test_config_XXXXXX.yaml"), (int)len);
	fd = mkstemps(path, 5);
	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(fputs(text, f), 0);
	ck_assert_int_eq(fclose(f), 0);
}

/* Loads text as a file over cfg; path receives the (removed) file's name. */
static int load_text(struct config *cfg, const char *text, char *path, size_t pathlen,
		     char *err, size_t errlen)
{
	int rc;

	write_temp(path, pathlen, text);
	rc = config_load_file(cfg, path, err, errlen);
	ck_assert_int_eq(unlink(path), 0);
	return rc;
}

/* Loading text fails with "<path><suffix>" and leaves the config alone. */
static void ck_file_error(const char *text, const char *suffix)
{
	struct config cfg, defaults;
	char path[64], err[CXD_ERR_MAX], want[CXD_ERR_MAX + 64];

	config_defaults(&cfg);
	config_defaults(&defaults);
	ck_assert_int_eq(load_text(&cfg, text, path, sizeof path, err, sizeof err), -EINVAL);
	(void)snprintf(want, sizeof want, "%s%s", path, suffix);
	ck_assert_str_eq(err, want);
	ck_same_config(&cfg, &defaults);
}

/* config_set fails with exactly want and leaves the config alone. */
static void ck_set_error(const char *assignment, const char *want)
{
	struct config cfg, defaults;
	char err[CXD_ERR_MAX];

	config_defaults(&cfg);
	config_defaults(&defaults);
	ck_assert_int_eq(config_set(&cfg, assignment, err, sizeof err), -EINVAL);
	ck_assert_str_eq(err, want);
	ck_same_config(&cfg, &defaults);
}

static void set_ok(struct config *cfg, const char *assignment)
{
	char err[CXD_ERR_MAX] = "";

	ck_assert_msg(config_set(cfg, assignment, err, sizeof err) == 0, "%s: %s", assignment, err);
}

static void all_non_defaults(struct config *cfg)
{
	config_defaults(cfg);
	for (size_t i = 0; i < N_NON_DEFAULTS; i++)
		set_ok(cfg, non_defaults[i]);
}

/* --- defaults and the example ---------------------------------------------- */

START_TEST(test_defaults)
{
	struct config c;
	char err[CXD_ERR_MAX];

	config_defaults(&c);
	ck_assert_str_eq(c.server.host, "127.0.0.1");
	ck_assert_int_eq(c.server.port, 8080);
	ck_assert_int_eq(c.server.max_connections, 256);
	ck_assert_int_eq(c.server.max_connections_per_ip, 64);
	ck_assert_int_eq(c.server.idle_timeout_seconds, 30);
	ck_assert_int_eq(c.server.header_memory_bytes, 32 * 1024);
	ck_assert_int_eq(c.server.max_body_bytes, 64 * MIB);
	ck_assert_int_eq(c.server.max_inflight_body_bytes, 256 * MIB);
	ck_assert_int_eq(c.server.request_timeout_seconds, 60);
	ck_assert_uint_eq(c.server.cors_origins.n, 0);
	ck_assert_uint_eq(c.server.allowed_hosts.n, 0);
	ck_assert_str_eq(c.docker.host, "");
	ck_assert_str_eq(c.docker.image, "python-sandbox:latest");
	ck_assert_str_eq(c.docker.runtime, "");
	ck_assert_str_eq(c.docker.seccomp_profile, "");
	ck_assert(c.docker.pull_missing_image);
	ck_assert_int_eq(c.docker.pull_timeout_seconds, 300);
	ck_assert_int_eq(c.docker.api_timeout_seconds, 30);
	ck_assert_int_eq(c.execution.timeout_seconds, 60);
	ck_assert_int_eq(c.execution.max_timeout_seconds, 300);
	ck_assert_int_eq(c.execution.max_concurrent, 4);
	ck_assert_int_eq(c.execution.queue_size, 32);
	ck_assert_int_eq(c.execution.queue_timeout_seconds, 30);
	ck_assert_int_eq(c.execution.shutdown_grace_seconds, 30);
	ck_assert_int_eq(c.execution.pool_size, 4);
	ck_assert_int_eq(c.execution.pool_max_idle_seconds, 300);
	ck_assert_int_eq(c.execution.pool_demand_window_seconds, 300);
	ck_assert_int_eq(c.execution.pool_start_concurrency, 2);
	ck_assert_uint_eq(c.execution.preload.n, 4);
	ck_assert_str_eq(c.execution.preload.items[0], "numpy");
	ck_assert_str_eq(c.execution.preload.items[1], "pandas");
	ck_assert_str_eq(c.execution.preload.items[2], "matplotlib");
	ck_assert_str_eq(c.execution.preload.items[3], "matplotlib.pyplot");
	ck_assert(c.execution.zygote);
	ck_assert(c.execution.capture_figures);
	ck_assert_int_eq(c.limits.memory_bytes, 512 * MIB);
	ck_assert_double_eq(c.limits.cpus, 1.0);
	ck_assert_int_eq(c.limits.pids, 50);
	ck_assert_int_eq(c.limits.nofile, 256);
	ck_assert_int_eq(c.limits.nproc, 0);
	ck_assert_int_eq(c.limits.fsize_bytes, 64 * MIB);
	ck_assert_int_eq(c.limits.tmp_bytes, 100 * MIB);
	ck_assert_int_eq(c.limits.workdir_bytes, 256 * MIB);
	ck_assert_int_eq(c.limits.tmpfs_inodes, 16384);
	ck_assert_int_eq(c.limits.uid, 100000);
	ck_assert_int_eq(c.limits.gid, 100000);
	ck_assert_str_eq(c.server.instance_id, "");
	ck_assert_str_eq(c.server.state_dir, "");
	ck_assert_int_eq(c.request.max_files, 100);
	ck_assert_int_eq(c.request.max_stdin_bytes, MIB);
	ck_assert_int_eq(c.output.max_stdout_bytes, MIB);
	ck_assert_int_eq(c.output.max_stderr_bytes, MIB);
	ck_assert_int_eq(c.output.max_files, 64);
	ck_assert_int_eq(c.output.max_file_bytes, 10 * MIB);
	ck_assert_int_eq(c.output.max_total_bytes, 50 * MIB);
	ck_assert_uint_eq(c.output.include.n, 1);
	ck_assert_str_eq(c.output.include.items[0], "*.csv");
	ck_assert_uint_eq(c.output.allow.n, 1);
	ck_assert_str_eq(c.output.allow.items[0], "*");
	ck_assert_int_eq(c.log.level, LOG_INFO);
	ck_assert_int_eq(c.log.format, LOG_FORMAT_TEXT);
	ck_assert_int_eq(config_validate(&c, err, sizeof err), 0);
}
END_TEST

/* non_defaults[] changes every key: each key line of the print differs. */
START_TEST(test_non_defaults_cover_every_key)
{
	struct config def, all;
	char *a, *b, *la, *lb, *sa, *sb;
	size_t keys = 0;

	config_defaults(&def);
	all_non_defaults(&all);
	a = printed(&def);
	b = printed(&all);
	la = strtok_r(a, "\n", &sa);
	lb = strtok_r(b, "\n", &sb);
	for (; la && lb; la = strtok_r(NULL, "\n", &sa), lb = strtok_r(NULL, "\n", &sb)) {
		if (la[0] != ' ')
			continue;
		keys++;
		ck_assert_msg(strcmp(la, lb) != 0, "not changed by non_defaults[]: %s", la);
	}
	ck_assert_ptr_null(la);
	ck_assert_ptr_null(lb);
	ck_assert_uint_eq(keys, N_NON_DEFAULTS);
	free(a);
	free(b);
}
END_TEST

/* The example loads cleanly, sets every key, and sets it to its default. */
START_TEST(test_example_is_the_defaults)
{
	struct config def, cfg;
	char err[CXD_ERR_MAX] = "";

	config_defaults(&def);
	all_non_defaults(&cfg);
	ck_assert_msg(config_load_file(&cfg, EXAMPLE, err, sizeof err) == 0, "%s", err);
	ck_same_config(&cfg, &def);
	ck_assert_int_eq(config_validate(&cfg, err, sizeof err), 0);
}
END_TEST

/* --- file errors ----------------------------------------------------------- */

START_TEST(test_file_unknown_key)
{
	ck_file_error("server:\n  host: \"x\"\n  prot: 1\n",
		      ":3:3: server.prot: unknown key (known keys in server: " SERVER_KEYS ")");
}
END_TEST

START_TEST(test_file_unknown_section)
{
	ck_file_error("log:\n  level: info\nserve:\n  port: 1\n",
		      ":3:1: serve: unknown section (known sections: " SECTIONS ")");
}
END_TEST

START_TEST(test_file_wrong_type)
{
	ck_file_error("execution:\n  timeout_seconds: abc\n",
		      ":2:20: execution.timeout_seconds: expected an integer from 1 to 86400, "
		      "got 'abc'");
	ck_file_error("server:\n  port: [1]\n",
		      ":2:9: server.port: expected an integer from 0 to 65535, got a sequence");
	ck_file_error("docker:\n  pull_missing_image: maybe\n",
		      ":2:23: docker.pull_missing_image: expected true or false, got 'maybe'");
	ck_file_error("log:\n  format: xml\n",
		      ":2:11: log.format: expected one of text, json, got 'xml'");
	ck_file_error("server:\n  cors_origins: \"*\"\n",
		      ":2:17: server.cors_origins: expected a list of at most 16 UTF-8 strings of 1 to "
		      "127 bytes, got '*'");
	ck_file_error("output:\n  include: [a, {b: c}]\n",
		      ":2:16: output.include: expected a list of at most 16 UTF-8 strings of 1 to 127 "
		      "bytes, got a mapping");
	ck_file_error("server: 5\n", ":1:9: server: expected a mapping of keys, got '5'");
}
END_TEST

START_TEST(test_file_out_of_range)
{
	ck_file_error("server:\n  port: 65536\n",
		      ":2:9: server.port: expected an integer from 0 to 65535, got '65536'");
	ck_file_error("execution:\n  max_concurrent: 0\n",
		      ":2:19: execution.max_concurrent: expected an integer from 1 to 1024, "
		      "got '0'");
	ck_file_error("limits:\n  cpus: 0.001\n",
		      ":2:9: limits.cpus: expected a number from 0.01 to 1024, got '0.001'");
	ck_file_error("limits:\n  memory_bytes: 5m\n",
		      ":2:17: limits.memory_bytes: expected a size from 6m to 1t " SIZE_HINT
		      ", got '5m'");
}
END_TEST

START_TEST(test_file_bad_size_suffix)
{
	ck_file_error("limits:\n  memory_bytes: 512x\n",
		      ":2:17: limits.memory_bytes: expected a size from 6m to 1t " SIZE_HINT
		      ", got '512x'");
	ck_file_error("server:\n  max_body_bytes: 1.5g\n",
		      ":2:19: server.max_body_bytes: expected a size from 1k to 1g " SIZE_HINT
		      ", got '1.5g'");
}
END_TEST

START_TEST(test_file_size_overflow)
{
	ck_file_error("limits:\n  memory_bytes: 8388608t\n",
		      ":2:17: limits.memory_bytes: expected a size from 6m to 1t " SIZE_HINT
		      ", got '8388608t'");
	ck_file_error("limits:\n  memory_bytes: 99999999999999999999\n",
		      ":2:17: limits.memory_bytes: expected a size from 6m to 1t " SIZE_HINT
		      ", got '99999999999999999999'");
}
END_TEST

START_TEST(test_file_duplicates)
{
	ck_file_error("server:\n  port: 1\n  port: 2\n",
		      ":3:3: server.port: duplicate key (first on line 2)");
	ck_file_error("server:\n  port: 1\nlog: {}\nserver:\n  host: a\n",
		      ":4:1: server: duplicate section (first on line 1)");
}
END_TEST

START_TEST(test_file_bad_yaml)
{
	ck_file_error("server:\n  port: [1\n",
		      ":3:1: invalid YAML: did not find expected ',' or ']' "
		      "(while parsing a flow sequence on line 2)");
	ck_file_error("server: port: 1\n",
		      ":1:13: invalid YAML: mapping values are not allowed in this context");
	ck_file_error("server:\n  host: \"\xff\"\n",
		      ": invalid YAML: invalid leading UTF-8 octet at byte 17");
}
END_TEST

START_TEST(test_file_not_one_mapping)
{
	ck_file_error("- server\n- log\n", ":1:1: expected a mapping of sections, got a sequence");
	ck_file_error("hello\n", ":1:1: expected a mapping of sections, got 'hello'");
	ck_file_error("[a]: 1\n", ":1:1: expected a section name, got a sequence");
	ck_file_error("log: {}\n---\nserver: {}\n", ":3:1: expected a single YAML document");
}
END_TEST

START_TEST(test_file_unreadable)
{
	struct config cfg;
	char err[CXD_ERR_MAX];

	config_defaults(&cfg);
	ck_assert_int_eq(config_load_file(&cfg, "/nonexistent/codeexecd.yaml", err, sizeof err),
			 -ENOENT);
	ck_assert_str_eq(err, "/nonexistent/codeexecd.yaml: No such file or directory");
	ck_assert_int_eq(config_load_file(&cfg, "/", err, sizeof err), -EIO);
	ck_assert_str_eq(err, "/: read error");
}
END_TEST

/* Nothing, comments only, and null sections or strings are all fine. */
START_TEST(test_file_empty_and_null)
{
	struct config cfg, def;
	char path[64], err[CXD_ERR_MAX] = "";

	config_defaults(&def);
	config_defaults(&cfg);
	ck_assert_int_eq(load_text(&cfg, "", path, sizeof path, err, sizeof err), 0);
	ck_assert_int_eq(load_text(&cfg, "# only a comment\n", path, sizeof path, err,
				   sizeof err), 0);
	ck_assert_int_eq(load_text(&cfg, "server:\nlog: ~\n", path, sizeof path, err,
				   sizeof err), 0);
	ck_same_config(&cfg, &def);
	set_ok(&cfg, "docker.runtime=runsc");
	ck_assert_msg(load_text(&cfg, "docker:\n  runtime:\n  host: \"null\"\n", path,
				sizeof path, err, sizeof err) == 0, "%s", err);
	ck_assert_str_eq(cfg.docker.runtime, "");
	ck_assert_str_eq(cfg.docker.host, "null");
}
END_TEST

/* --- environment and --set ----------------------------------------------- */

START_TEST(test_env_aliases)
{
	char *env[] = { (char *)"HOST=0.0.0.0", (char *)"PORT=9000",
			(char *)"DOCKER_HOST=tcp://proxy:2375", (char *)"DOCKER_IMAGE=img:2",
			(char *)"EXECUTION_TIMEOUT=45", (char *)"MAX_MEMORY=512m",
			(char *)"MAX_CPU=0.5", NULL };
	struct config cfg;
	char err[CXD_ERR_MAX] = "";

	config_defaults(&cfg);
	ck_assert_msg(config_apply_env(&cfg, env, err, sizeof err) == 0, "%s", err);
	ck_assert_str_eq(cfg.server.host, "0.0.0.0");
	ck_assert_int_eq(cfg.server.port, 9000);
	ck_assert_str_eq(cfg.docker.host, "tcp://proxy:2375");
	ck_assert_str_eq(cfg.docker.image, "img:2");
	ck_assert_int_eq(cfg.execution.timeout_seconds, 45);
	ck_assert_int_eq(cfg.limits.memory_bytes, 512 * MIB);
	ck_assert_double_eq(cfg.limits.cpus, 0.5);
}
END_TEST

/* The docker CLI's TLS variables; an empty one counts as unset (the CLI's
 * DOCKER_TLS_VERIFY= means off). */
START_TEST(test_env_docker_tls)
{
	char *on[] = { (char *)"DOCKER_TLS_VERIFY=1", (char *)"DOCKER_CERT_PATH=/certs", NULL };
	char *empty[] = { (char *)"DOCKER_TLS_VERIFY=", (char *)"DOCKER_CERT_PATH=", NULL };
	struct config cfg;
	char err[CXD_ERR_MAX] = "";

	config_defaults(&cfg);
	ck_assert(!cfg.docker.tls_verify);
	ck_assert_str_eq(cfg.docker.cert_path, "");
	ck_assert_msg(config_apply_env(&cfg, on, err, sizeof err) == 0, "%s", err);
	ck_assert(cfg.docker.tls_verify);
	ck_assert_str_eq(cfg.docker.cert_path, "/certs");
	config_defaults(&cfg);
	ck_assert_msg(config_apply_env(&cfg, empty, err, sizeof err) == 0, "%s", err);
	ck_assert(!cfg.docker.tls_verify);
	ck_assert_str_eq(cfg.docker.cert_path, "");
}
END_TEST

/* The CODEEXECD_ name beats the alias, whichever comes first. */
START_TEST(test_env_primary_beats_alias)
{
	char *first[] = { (char *)"PORT=1000", (char *)"CODEEXECD_SERVER_PORT=2000", NULL };
	char *last[] = { (char *)"CODEEXECD_SERVER_PORT=2000", (char *)"PORT=1000", NULL };
	struct config cfg;
	char err[CXD_ERR_MAX];

	config_defaults(&cfg);
	ck_assert_int_eq(config_apply_env(&cfg, first, err, sizeof err), 0);
	ck_assert_int_eq(cfg.server.port, 2000);
	config_defaults(&cfg);
	ck_assert_int_eq(config_apply_env(&cfg, last, err, sizeof err), 0);
	ck_assert_int_eq(cfg.server.port, 2000);
}
END_TEST

/* Every key answers to CODEEXECD_<SECTION>_<KEY> like to --set. */
START_TEST(test_env_every_key)
{
	for (size_t i = 0; i < N_NON_DEFAULTS; i++) {
		struct config by_env, by_set;
		char var[256], err[CXD_ERR_MAX] = "";
		char *env[] = { var, NULL };
		size_t n = (size_t)snprintf(var, sizeof var, "CODEEXECD_%s", non_defaults[i]);

		for (size_t j = 0; j < n && var[j] != '='; j++)
			var[j] = var[j] == '.' ? '_' : (char)toupper((unsigned char)var[j]);
		config_defaults(&by_env);
		config_defaults(&by_set);
		ck_assert_msg(config_apply_env(&by_env, env, err, sizeof err) == 0, "%s", err);
		set_ok(&by_set, non_defaults[i]);
		ck_same_config(&by_env, &by_set);
	}
}
END_TEST

START_TEST(test_env_over_file_and_set_over_env)
{
	char *env[] = { (char *)"PORT=4321", (char *)"CODEEXECD_LOG_LEVEL=warn",
			(char *)"CODEEXECD_TEST_IMAGE=ignored", (char *)"CODEEXECD_BIN=/x", NULL };
	struct config cfg;
	char path[64], err[CXD_ERR_MAX] = "";

	config_defaults(&cfg);
	ck_assert_int_eq(load_text(&cfg, "server:\n  port: 1234\nexecution:\n  queue_size: 2\n"
				   "log:\n  level: error\n", path, sizeof path, err, sizeof err),
			 0);
	ck_assert_msg(config_apply_env(&cfg, env, err, sizeof err) == 0, "%s", err);
	ck_assert_int_eq(cfg.server.port, 4321);
	ck_assert_int_eq(cfg.execution.queue_size, 2);
	ck_assert_int_eq(cfg.log.level, LOG_WARN);
	set_ok(&cfg, "server.port=5555");
	ck_assert_int_eq(cfg.server.port, 5555);
	ck_assert_int_eq(config_apply_env(&cfg, NULL, err, sizeof err), 0);
}
END_TEST

/* A bad variable fails with its name and changes nothing, not even the keys
 * before it. */
START_TEST(test_env_errors)
{
	char *alias[] = { (char *)"HOST=10.0.0.1", (char *)"PORT=x", NULL };
	char *primary[] = { (char *)"CODEEXECD_EXECUTION_MAX_CONCURRENT=0", NULL };
	struct config cfg, def;
	char err[CXD_ERR_MAX];

	config_defaults(&def);
	config_defaults(&cfg);
	ck_assert_int_eq(config_apply_env(&cfg, alias, err, sizeof err), -EINVAL);
	ck_assert_str_eq(err, "environment PORT: server.port: expected an integer from 0 to "
			 "65535, got 'x'");
	ck_assert_int_eq(config_apply_env(&cfg, primary, err, sizeof err), -EINVAL);
	ck_assert_str_eq(err, "environment CODEEXECD_EXECUTION_MAX_CONCURRENT: "
			 "execution.max_concurrent: expected an integer from 1 to 1024, got '0'");
	ck_same_config(&cfg, &def);
}
END_TEST

START_TEST(test_set_errors)
{
	ck_set_error("server.port=x",
		     "--set server.port=x: server.port: expected an integer from 0 to 65535, "
		     "got 'x'");
	ck_set_error("server.prot=1", "--set server.prot=1: server.prot: unknown key "
		     "(known keys in server: " SERVER_KEYS ")");
	ck_set_error("serve.port=1", "--set serve.port=1: serve: unknown section "
		     "(known sections: " SECTIONS ")");
	ck_set_error("port=1", "--set port=1: port: unknown section (known sections: "
		     SECTIONS ")");
	ck_set_error("server.port", "--set server.port: expected section.key=value");
}
END_TEST

/* --- values ---------------------------------------------------------------- */

START_TEST(test_sizes)
{
	static const struct { const char *text; long bytes; } good[] = {
		{ "0", 0 }, { "1024", 1024 }, { "1k", 1024 }, { "1K", 1024 }, { "1kb", 1024 },
		{ "1KB", 1024 }, { "7b", 7 }, { "2m", 2 * MIB }, { "1G", GIB },
		{ "1g", GIB }, { "1073741824", GIB },
	};
	static const char *const bad[] = {
		"", "k", "-1", "+1", " 1k", "1 k", "1.5g", "1kk", "1kbb", "1x", "0x10",
		"1073741825", "2g", "1t", "9223372036854775807", "9223372036854775808", "8388608t",
	};
	struct config cfg;
	char set[128], err[CXD_ERR_MAX];

	config_defaults(&cfg);
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		(void)snprintf(set, sizeof set, "output.max_total_bytes=%s", good[i].text);
		set_ok(&cfg, set);
		ck_assert_int_eq(cfg.output.max_total_bytes, good[i].bytes);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		(void)snprintf(set, sizeof set, "output.max_total_bytes=%s", bad[i]);
		ck_assert_msg(config_set(&cfg, set, err, sizeof err) == -EINVAL, "%s", set);
	}
	set_ok(&cfg, "limits.memory_bytes=1t");
	ck_assert_int_eq(cfg.limits.memory_bytes, 1024 * GIB);
	ck_assert_int_eq(config_set(&cfg, "server.port=8k", err, sizeof err), -EINVAL);
}
END_TEST

START_TEST(test_scalars)
{
	static const char *const yes[] = { "true", "TRUE", "yes", "On", "1" };
	static const char *const no[] = { "false", "False", "no", "OFF", "0" };
	static const char *const bad[] = {
		"docker.pull_missing_image=2", "docker.pull_missing_image=", "limits.cpus=nan",
		"limits.cpus=inf", "limits.cpus=0x10", "limits.cpus=", "limits.cpus=1,5",
		"log.level=verbose", "server.port=1.0", "server.port=", "server.port=-1",
	};
	struct config cfg;
	char set[64], err[CXD_ERR_MAX];

	config_defaults(&cfg);
	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		(void)snprintf(set, sizeof set, "docker.pull_missing_image=%s", yes[i]);
		set_ok(&cfg, set);
		ck_assert(cfg.docker.pull_missing_image);
		(void)snprintf(set, sizeof set, "docker.pull_missing_image=%s", no[i]);
		set_ok(&cfg, set);
		ck_assert(!cfg.docker.pull_missing_image);
	}
	set_ok(&cfg, "limits.cpus=2.5e-1");
	ck_assert_double_eq(cfg.limits.cpus, 0.25);
	set_ok(&cfg, "log.level=WARN");
	ck_assert_int_eq(cfg.log.level, LOG_WARN);
	set_ok(&cfg, "log.format=json");
	ck_assert_int_eq(cfg.log.format, LOG_FORMAT_JSON);
	set_ok(&cfg, "server.port=0");
	ck_assert_int_eq(cfg.server.port, 0);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(config_set(&cfg, bad[i], err, sizeof err) == -EINVAL, "%s", bad[i]);
}
END_TEST

START_TEST(test_strings)
{
	struct config cfg;
	char set[400], want[1024];

	config_defaults(&cfg);
	(void)snprintf(set, sizeof set, "server.host=%0255d", 0);
	set_ok(&cfg, set);
	ck_assert_uint_eq(strlen(cfg.server.host), 255);
	(void)snprintf(set, sizeof set, "server.host=%0256d", 0);
	(void)snprintf(want, sizeof want, "--set %s: server.host: expected a non-empty UTF-8 string "
		       "of at most 255 bytes, got '%080d...'", set, 0);
	ck_set_error(set, want);
	ck_set_error("docker.image=", "--set docker.image=: docker.image: expected a non-empty "
		     "UTF-8 string of at most 1023 bytes, got ''");
	set_ok(&cfg, "docker.runtime=");
	ck_assert_str_eq(cfg.docker.runtime, "");
}
END_TEST

/* Found by tests/fuzz/fuzz_config: text that is not UTF-8 came in through
 * --set or the environment and made config_print write no YAML at all. */
START_TEST(test_strings_utf8)
{
	struct config cfg;
	char err[CXD_ERR_MAX];
	char *env[] = { (char *)"DOCKER_IMAGE=img\xff", NULL };

	config_defaults(&cfg);
	ck_assert_int_eq(config_set(&cfg, "docker.runtime=runs\xc3", err, sizeof err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "expected a UTF-8 string"));
	ck_assert_int_eq(config_set(&cfg, "output.include=*.csv,\xe9.txt", err, sizeof err),
			 -EINVAL);
	ck_assert_int_eq(config_apply_env(&cfg, env, err, sizeof err), -EINVAL);
	ck_assert_str_eq(cfg.docker.image, "python-sandbox:latest");
	set_ok(&cfg, "docker.runtime=r\xc3\xa9");   /* UTF-8 is fine */
}
END_TEST

START_TEST(test_lists)
{
	struct config cfg;
	char path[64], err[CXD_ERR_MAX] = "", set[CXD_ERR_MAX];
	char *env[] = { (char *)"CODEEXECD_SERVER_CORS_ORIGINS= https://a.example ,https://b",
			NULL };

	config_defaults(&cfg);
	ck_assert_msg(load_text(&cfg, "output:\n  include: [\"*.png\", 'out/**', plain]\n"
				"server:\n  cors_origins: []\n", path, sizeof path, err,
				sizeof err) == 0, "%s", err);
	ck_assert_uint_eq(cfg.output.include.n, 3);
	ck_assert_str_eq(cfg.output.include.items[0], "*.png");
	ck_assert_str_eq(cfg.output.include.items[1], "out/**");
	ck_assert_str_eq(cfg.output.include.items[2], "plain");
	ck_assert_uint_eq(cfg.server.cors_origins.n, 0);
	ck_assert_int_eq(config_apply_env(&cfg, env, err, sizeof err), 0);
	ck_assert_uint_eq(cfg.server.cors_origins.n, 2);
	ck_assert_str_eq(cfg.server.cors_origins.items[0], "https://a.example");
	ck_assert_str_eq(cfg.server.cors_origins.items[1], "https://b");
	set_ok(&cfg, "output.include=");
	ck_assert_uint_eq(cfg.output.include.n, 0);
	set_ok(&cfg, "output.include=a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p");
	ck_assert_uint_eq(cfg.output.include.n, 16);
	ck_set_error("output.include=a,,b", "--set output.include=a,,b: output.include: expected "
		     "a list of at most 16 UTF-8 strings of 1 to 127 bytes, got 'a,,b'");
	ck_assert_int_eq(config_set(&cfg, "output.include=a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q",
				    err, sizeof err), -EINVAL);
	(void)snprintf(set, sizeof set, "server.cors_origins=%0127d", 0);
	set_ok(&cfg, set);
	(void)snprintf(set, sizeof set, "server.cors_origins=%0128d", 0);
	ck_assert_int_eq(config_set(&cfg, set, err, sizeof err), -EINVAL);
	ck_file_error("server:\n  cors_origins: [a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, "
		      "q]\n", ":2:66: server.cors_origins: expected a list of at most 16 UTF-8 strings "
		      "of 1 to 127 bytes, got 'q'");
}
END_TEST

/* --- validation and printing ----------------------------------------------- */

START_TEST(test_validate_cross_keys)
{
	struct config cfg;
	char err[CXD_ERR_MAX];

	config_defaults(&cfg);
	set_ok(&cfg, "execution.timeout_seconds=300");
	ck_assert_int_eq(config_validate(&cfg, err, sizeof err), 0);
	set_ok(&cfg, "execution.timeout_seconds=400");
	ck_assert_int_eq(config_validate(&cfg, err, sizeof err), -EINVAL);
	ck_assert_str_eq(err, "execution.timeout_seconds (400) must not exceed "
			 "execution.max_timeout_seconds (300)");
	config_defaults(&cfg);
	set_ok(&cfg, "output.max_file_bytes=60m");
	ck_assert_int_eq(config_validate(&cfg, err, sizeof err), -EINVAL);
	ck_assert_str_eq(err, "output.max_file_bytes (60m) must not exceed "
			 "output.max_total_bytes (50m)");
}
END_TEST

/* The default output_files stay CSV-only; preload names are module names. */
START_TEST(test_validate_outputs_and_preload)
{
	struct config cfg;
	char err[CXD_ERR_MAX];

	config_defaults(&cfg);
	set_ok(&cfg, "output.include=report*.csv,sub/*.csv");
	set_ok(&cfg, "output.allow=*.png");
	ck_assert_int_eq(config_validate(&cfg, err, sizeof err), 0);
	set_ok(&cfg, "output.include=*.csv,*");
	ck_assert_int_eq(config_validate(&cfg, err, sizeof err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "output.include: '*' must end in '.csv'"));
	set_ok(&cfg, "output.include=*.csv*");
	ck_assert_int_eq(config_validate(&cfg, err, sizeof err), -EINVAL);
	config_defaults(&cfg);
	set_ok(&cfg, "execution.preload=numpy,matplotlib.pyplot,_x1");
	ck_assert_int_eq(config_validate(&cfg, err, sizeof err), 0);
	static const char *const bad[] = { "1x", "a..b", ".a", "a.", "os;x", "a b", "a/b" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char set[64];
		(void)snprintf(set, sizeof set, "execution.preload=%s", bad[i]);
		set_ok(&cfg, set);
		ck_assert_msg(config_validate(&cfg, err, sizeof err) == -EINVAL, "%s", bad[i]);
		ck_assert_ptr_nonnull(strstr(err, "is not a Python module name"));
	}
}
END_TEST

/* Fields written directly (not through the parser) are checked too. */
START_TEST(test_validate_fields)
{
	struct config cfg;
	char err[CXD_ERR_MAX];

	config_defaults(&cfg);
	cfg.server.port = 70000;
	ck_assert_int_eq(config_validate(&cfg, err, sizeof err), -EINVAL);
	ck_assert_str_eq(err, "server.port: expected an integer from 0 to 65535, got '70000'");
	config_defaults(&cfg);
	cfg.server.cors_origins.n = CXD_CORS_ORIGINS_MAX + 1;
	ck_assert_int_eq(config_validate(&cfg, err, sizeof err), -EINVAL);
	ck_assert_str_eq(err, "server.cors_origins: expected a list of at most 16 UTF-8 strings of 1 "
			 "to 127 bytes, got 17 entries");
	config_defaults(&cfg);
	memset(cfg.server.host, 'h', sizeof cfg.server.host);
	ck_assert_int_eq(config_validate(&cfg, err, sizeof err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "server.host: expected a non-empty UTF-8 string of at most "
				 "255 bytes, got 'hhh"));
	config_defaults(&cfg);
	memset(cfg.output.include.items[0], 'x', CXD_PATTERN_MAX);
	ck_assert_int_eq(config_validate(&cfg, err, sizeof err), -EINVAL);
	config_defaults(&cfg);
	cfg.log.level = (enum log_level)9;
	ck_assert_int_eq(config_validate(&cfg, err, sizeof err), -EINVAL);
	ck_assert_str_eq(err, "log.level: expected one of debug, info, warn, error, got '9'");
	config_defaults(&cfg);
	cfg.limits.cpus = NAN;
	ck_assert_int_eq(config_validate(&cfg, err, sizeof err), -EINVAL);
	config_defaults(&cfg);
	(void)snprintf(cfg.server.instance_id, sizeof cfg.server.instance_id, "a/b");
	ck_assert_int_eq(config_validate(&cfg, err, sizeof err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "server.instance_id: expected 1 to 64 characters"));
	(void)snprintf(cfg.server.instance_id, sizeof cfg.server.instance_id, "blue-2");
	ck_assert_int_eq(config_validate(&cfg, err, sizeof err), 0);
	config_defaults(&cfg);
	cfg.limits.uid = 0; /* root: refused */
	ck_assert_int_eq(config_validate(&cfg, err, sizeof err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "limits.uid"));
}
END_TEST

/* What config_print writes loads back to the same configuration. */
START_TEST(test_print_round_trip)
{
	static const char *const sets[] = {
		"docker.runtime=odd \"quoted\" \\ back: #hash 'single' caf\xc3\xa9",
		"limits.cpus=0.3", "limits.memory_bytes=123456789", "output.max_total_bytes=768m",
		"server.cors_origins=https://a.example, \"x\", {y}", "output.include=- a,[b]",
		"docker.image=yes", "log.level=error",
	};
	char *env[] = { (char *)"CODEEXECD_DOCKER_HOST=tab\there\nnewline", NULL };
	struct config cfg, back;
	char path[64], err[CXD_ERR_MAX] = "";
	char *text;

	all_non_defaults(&cfg);
	for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++)
		set_ok(&cfg, sets[i]);
	ck_assert_int_eq(config_apply_env(&cfg, env, err, sizeof err), 0);
	text = printed(&cfg);
	config_defaults(&back);
	ck_assert_msg(load_text(&back, text, path, sizeof path, err, sizeof err) == 0, "%s\n%s",
		      err, text);
	ck_same_config(&back, &cfg);
	ck_assert_str_eq(back.docker.runtime, cfg.docker.runtime);
	ck_assert_str_eq(back.docker.host, "tab\there\nnewline");
	ck_assert_str_eq(back.docker.image, "yes");
	ck_assert_double_eq(back.limits.cpus, 0.3);
	ck_assert_str_eq(back.server.cors_origins.items[1], "\"x\"");
	free(text);
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *defaults = tcase_create("defaults");
	TCase *file = tcase_create("file");
	TCase *env = tcase_create("environment and --set");
	TCase *values = tcase_create("values");
	TCase *output = tcase_create("validate and print");

	tcase_add_test(defaults, test_defaults);
	tcase_add_test(defaults, test_non_defaults_cover_every_key);
	tcase_add_test(defaults, test_example_is_the_defaults);
	tcase_add_test(file, test_file_unknown_key);
	tcase_add_test(file, test_file_unknown_section);
	tcase_add_test(file, test_file_wrong_type);
	tcase_add_test(file, test_file_out_of_range);
	tcase_add_test(file, test_file_bad_size_suffix);
	tcase_add_test(file, test_file_size_overflow);
	tcase_add_test(file, test_file_duplicates);
	tcase_add_test(file, test_file_bad_yaml);
	tcase_add_test(file, test_file_not_one_mapping);
	tcase_add_test(file, test_file_unreadable);
	tcase_add_test(file, test_file_empty_and_null);
	tcase_add_test(env, test_env_aliases);
	tcase_add_test(env, test_env_docker_tls);
	tcase_add_test(env, test_env_primary_beats_alias);
	tcase_add_test(env, test_env_every_key);
	tcase_add_test(env, test_env_over_file_and_set_over_env);
	tcase_add_test(env, test_env_errors);
	tcase_add_test(env, test_set_errors);
	tcase_add_test(values, test_sizes);
	tcase_add_test(values, test_scalars);
	tcase_add_test(values, test_strings);
	tcase_add_test(values, test_strings_utf8);
	tcase_add_test(values, test_lists);
	tcase_add_test(output, test_validate_cross_keys);
	tcase_add_test(output, test_validate_outputs_and_preload);
	tcase_add_test(output, test_validate_fields);
	tcase_add_test(output, test_print_round_trip);
	suite_add_tcase(s, defaults);
	suite_add_tcase(s, file);
	suite_add_tcase(s, env);
	suite_add_tcase(s, values);
	suite_add_tcase(s, output);
	return s;
}

int main(void)
{
	return check_run(config_suite(), CK_NORMAL);
}
