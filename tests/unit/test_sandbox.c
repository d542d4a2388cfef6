/* Unit tests of the container spec: the hardening every execution gets. */
#include <check.h>

#include "../check_run.h"
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "codeexecd/config.h"
#include "codeexecd/embedded.h"
#include "codeexecd/sandbox.h"

#define PROFILE "{\"defaultAction\":\"SCMP_ACT_ERRNO\"}"

static cJSON *spec_for(struct config *cfg)
{
	char *text = sandbox_container_spec(cfg, "host-8080", "abcd1234", true, PROFILE);
	cJSON *spec;

	ck_assert_ptr_nonnull(text);
	spec = cJSON_Parse(text);
	free(text);
	ck_assert_ptr_nonnull(spec);
	return spec;
}

static cJSON *hc(cJSON *spec)
{
	return cJSON_GetObjectItem(spec, "HostConfig");
}

static bool array_has(const cJSON *arr, const char *s)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, arr)
		if (cJSON_IsString(it) && strcmp(it->valuestring, s) == 0)
			return true;
	return false;
}

static double ulimit(cJSON *spec, const char *name)
{
	const cJSON *u;

	cJSON_ArrayForEach(u, cJSON_GetObjectItem(hc(spec), "Ulimits"))
		if (strcmp(cJSON_GetObjectItem(u, "Name")->valuestring, name) == 0)
			return cJSON_GetObjectItem(u, "Hard")->valuedouble;
	return -1;
}

START_TEST(test_hardening)
{
	struct config cfg;
	cJSON *spec, *h;

	config_defaults(&cfg);
	spec = spec_for(&cfg);
	h = hc(spec);
	ck_assert_str_eq(cJSON_GetObjectItem(h, "NetworkMode")->valuestring, "none");
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(spec, "NetworkDisabled")));
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(h, "ReadonlyRootfs")));
	ck_assert(array_has(cJSON_GetObjectItem(h, "CapDrop"), "ALL"));
	ck_assert(array_has(cJSON_GetObjectItem(h, "SecurityOpt"), "no-new-privileges:true"));
	ck_assert(array_has(cJSON_GetObjectItem(h, "SecurityOpt"), "seccomp=" PROFILE));
	ck_assert_str_eq(cJSON_GetObjectItem(spec, "User")->valuestring, "100000:100000");
	ck_assert_str_eq(cJSON_GetObjectItem(spec, "WorkingDir")->valuestring, "/");
	ck_assert_int_eq(cJSON_GetObjectItem(h, "PidsLimit")->valueint, 50);
	ck_assert(cJSON_GetObjectItem(h, "Memory")->valuedouble == 512.0 * 1024 * 1024);
	ck_assert(cJSON_GetObjectItem(h, "MemorySwap")->valuedouble == 512.0 * 1024 * 1024);
	ck_assert(cJSON_GetObjectItem(h, "NanoCpus")->valuedouble == 1e9);
	ck_assert(ulimit(spec, "nofile") == 256);
	ck_assert(ulimit(spec, "fsize") == 64.0 * 1024 * 1024);
	/* automatic under runc: what this daemon's containers can hold */
	ck_assert(ulimit(spec, "nproc") == 50 * 2 * 4 + 64);
	ck_assert_ptr_null(cJSON_GetObjectItem(h, "Binds"));
	ck_assert_ptr_null(cJSON_GetObjectItem(h, "Mounts"));
	ck_assert_ptr_null(cJSON_GetObjectItem(h, "Devices"));
	ck_assert_ptr_null(cJSON_GetObjectItem(h, "Privileged"));
	ck_assert_ptr_null(cJSON_GetObjectItem(h, "Runtime"));
	const char *tmp = cJSON_GetObjectItem(cJSON_GetObjectItem(h, "Tmpfs"), "/tmp")->valuestring;
	ck_assert_ptr_nonnull(strstr(tmp, "size=104857600"));
	ck_assert_ptr_nonnull(strstr(tmp, "noexec"));
	ck_assert_ptr_nonnull(strstr(tmp, "nr_inodes=16384"));
	const char *shm = cJSON_GetObjectItem(cJSON_GetObjectItem(h, "Tmpfs"), "/dev/shm")->valuestring;
	ck_assert_ptr_nonnull(strstr(shm, "nr_inodes=16384"));
	ck_assert_ptr_nonnull(strstr(shm, "size=67108864"));
	const char *work =
		cJSON_GetObjectItem(cJSON_GetObjectItem(h, "Tmpfs"), "/execution")->valuestring;
	ck_assert_ptr_nonnull(strstr(work, "uid=100000,gid=100000,"));
	ck_assert_ptr_nonnull(strstr(work, "nr_inodes=16384"));
	ck_assert_ptr_nonnull(strstr(work, "size=268435456"));
	cJSON_Delete(spec);
}
END_TEST

START_TEST(test_env_and_labels)
{
	struct config cfg;
	cJSON *spec, *env, *labels, *cmd;

	config_defaults(&cfg);
	spec = spec_for(&cfg);
	env = cJSON_GetObjectItem(spec, "Env");
	ck_assert(array_has(env, "HOME=/execution"));
	ck_assert(array_has(env, "XDG_CACHE_HOME=/execution/.cache"));
	ck_assert(array_has(env, "XDG_CONFIG_HOME=/execution/.config"));
	ck_assert(array_has(env, "MPLCONFIGDIR=/execution/.config/matplotlib"));
	/* Not the old PYTHONPYCACHEPREFIX: it made Python ignore the shipped
	 * bytecode of pandas and matplotlib and compile them on every run. */
	ck_assert(!array_has(env, "PYTHONPYCACHEPREFIX=/execution/__pycache__"));
	ck_assert(array_has(env, "PYTHONDONTWRITEBYTECODE=1"));
	ck_assert(array_has(env, "MPLBACKEND=Agg"));
	ck_assert(array_has(env, "USER=sandbox"));
	ck_assert(array_has(env, "LOGNAME=sandbox"));
	ck_assert(array_has(env, "OMP_NUM_THREADS=1"));
	ck_assert(array_has(env, "OPENBLAS_NUM_THREADS=1"));
	ck_assert(array_has(env, "MKL_NUM_THREADS=1"));
	/* No secret of the daemon's own environment gets in. */
	const cJSON *e;
	cJSON_ArrayForEach(e, env)
		ck_assert_msg(strncmp(e->valuestring, "DOCKER", 6) != 0, "%s", e->valuestring);
	labels = cJSON_GetObjectItem(spec, "Labels");
	ck_assert_str_eq(cJSON_GetObjectItem(labels, "io.codeexecd.managed")->valuestring, "true");
	ck_assert_str_eq(cJSON_GetObjectItem(labels, "io.codeexecd.instance")->valuestring,
			 "host-8080");
	ck_assert_str_eq(cJSON_GetObjectItem(labels, "io.codeexecd.execution")->valuestring,
			 "abcd1234");
	cmd = cJSON_GetObjectItem(spec, "Cmd");
	ck_assert_int_eq(cJSON_GetArraySize(cmd), 4);
	ck_assert_str_eq(cJSON_GetArrayItem(cmd, 0)->valuestring, "python");
	/* A plain interpreter (not -I): the code runs in a fork of it. */
	ck_assert_str_eq(cJSON_GetArrayItem(cmd, 1)->valuestring, "-c");
	ck_assert_ptr_nonnull(strstr(cJSON_GetArrayItem(cmd, 2)->valuestring, "CXD1"));
	ck_assert_str_eq(cJSON_GetArrayItem(cmd, 3)->valuestring,
			 "{\"preload\":[\"numpy\",\"pandas\",\"matplotlib\",\"matplotlib.pyplot\"],"
			 "\"fork\":true}");
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(spec, "OpenStdin")));
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(spec, "StdinOnce")));
	cJSON_Delete(spec);
}
END_TEST

START_TEST(test_configured_limits)
{
	struct config cfg;
	cJSON *spec;

	config_defaults(&cfg);
	cfg.limits.memory_bytes = 256L * 1024 * 1024;
	cfg.limits.cpus = 0.5;
	cfg.limits.pids = 20;
	cfg.limits.nproc = 0;
	(void)snprintf(cfg.docker.runtime, sizeof(cfg.docker.runtime), "runsc");
	spec = spec_for(&cfg);
	ck_assert(cJSON_GetObjectItem(hc(spec), "Memory")->valuedouble == 256.0 * 1024 * 1024);
	ck_assert(cJSON_GetObjectItem(hc(spec), "NanoCpus")->valuedouble == 5e8);
	ck_assert_str_eq(cJSON_GetObjectItem(hc(spec), "Runtime")->valuestring, "runsc");
	ck_assert(ulimit(spec, "nproc") == 20); /* gVisor: nproc caps forks */
	ck_assert_int_eq(cJSON_GetObjectItem(hc(spec), "PidsLimit")->valueint, 20 * 10 + 256);
	cJSON_Delete(spec);
	cfg.limits.nproc = 7;
	spec = spec_for(&cfg);
	ck_assert(ulimit(spec, "nproc") == 7);
	cJSON_Delete(spec);
}
END_TEST

/* limits.uid/gid everywhere the identity shows; thread counts follow the
 * CPUs, rounded up; no profile: the engine's own. */
START_TEST(test_identity_threads_and_no_profile)
{
	struct config cfg;
	char *text;
	cJSON *spec, *env;

	config_defaults(&cfg);
	cfg.limits.uid = 4242;
	cfg.limits.gid = 4343;
	cfg.limits.cpus = 2.5;
	cfg.limits.tmpfs_inodes = 100;
	text = sandbox_container_spec(&cfg, "i", "abcd1234", true, NULL);
	ck_assert_ptr_nonnull(text);
	spec = cJSON_Parse(text);
	free(text);
	ck_assert_str_eq(cJSON_GetObjectItem(spec, "User")->valuestring, "4242:4343");
	const char *work =
		cJSON_GetObjectItem(cJSON_GetObjectItem(hc(spec), "Tmpfs"), "/execution")->valuestring;
	ck_assert_ptr_nonnull(strstr(work, "nr_inodes=100,uid=4242,gid=4343,mode=0755"));
	env = cJSON_GetObjectItem(spec, "Env");
	ck_assert(array_has(env, "OMP_NUM_THREADS=3"));
	ck_assert(array_has(env, "OPENBLAS_NUM_THREADS=3"));
	ck_assert(array_has(env, "MKL_NUM_THREADS=3"));
	const cJSON *o;
	cJSON_ArrayForEach(o, cJSON_GetObjectItem(hc(spec), "SecurityOpt"))
		ck_assert_msg(strncmp(o->valuestring, "seccomp", 7) != 0, "%s", o->valuestring);
	cJSON_Delete(spec);
}
END_TEST

/* The runner's settings: only a warm (pooled) container preloads; the
 * zygote switch reaches the runner. */
START_TEST(test_runner_settings)
{
	struct config cfg;
	char *text;
	cJSON *spec, *cmd;

	config_defaults(&cfg);
	cfg.execution.zygote = false;
	text = sandbox_container_spec(&cfg, "host-8080", "abcd1234", false, PROFILE);
	ck_assert_ptr_nonnull(text);
	spec = cJSON_Parse(text);
	free(text);
	cmd = cJSON_GetObjectItem(spec, "Cmd");
	ck_assert_str_eq(cJSON_GetArrayItem(cmd, 3)->valuestring,
			 "{\"preload\":[],\"fork\":false}");
	cJSON_Delete(spec);
	cfg.execution.preload.n = 0; /* preload: [] turns preloading off */
	spec = spec_for(&cfg);
	cmd = cJSON_GetObjectItem(spec, "Cmd");
	ck_assert_str_eq(cJSON_GetArrayItem(cmd, 3)->valuestring,
			 "{\"preload\":[],\"fork\":false}");
	cJSON_Delete(spec);
}
END_TEST

/* A pooled container preloads at the lowest CPU weight (raised when it is
 * ready); one made for a request has the engine's default from the start. */
START_TEST(test_preload_cpu_weight)
{
	struct config cfg;
	char *text;
	cJSON *spec;

	config_defaults(&cfg);
	spec = spec_for(&cfg);
	ck_assert_int_eq(cJSON_GetObjectItem(hc(spec), "CpuShares")->valueint, 2);
	cJSON_Delete(spec);
	text = sandbox_container_spec(&cfg, "host-8080", "abcd1234", false, PROFILE);
	spec = cJSON_Parse(text);
	free(text);
	ck_assert_ptr_null(cJSON_GetObjectItem(hc(spec), "CpuShares"));
	cJSON_Delete(spec);
}
END_TEST

/* The built-in profile: what the sandbox must not reach is not allowed,
 * and what Python needs is. */
START_TEST(test_builtin_seccomp_profile)
{
	static const char *const denied[] = {
		"io_uring_setup", "io_uring_enter", "io_uring_register", "userfaultfd", "keyctl",
		"add_key", "request_key", "bpf", "perf_event_open", "ptrace", "process_vm_readv",
		"process_vm_writev", "unshare", "setns", "mount", "clone3", "personality", "socket",
		"modify_ldt", "name_to_handle_at", "open_by_handle_at", "kexec_load", "init_module",
	};
	static const char *const allowed[] = {
		"read", "write", "openat", "mmap", "futex", "execve", "wait4", "pipe2", "socketpair",
		"sched_getaffinity", "getrandom", "rseq", "arch_prctl", "prctl", "kill", "clock_gettime",
	};
	const struct embedded_file *f = embedded_find("seccomp.json");
	cJSON *p, *rules, *rule;

	ck_assert_ptr_nonnull(f);
	p = cJSON_Parse((const char *)f->data);
	ck_assert_ptr_nonnull(p);
	ck_assert_str_eq(cJSON_GetObjectItem(p, "defaultAction")->valuestring, "SCMP_ACT_ERRNO");
	ck_assert_int_eq(cJSON_GetObjectItem(p, "defaultErrnoRet")->valueint, 1); /* EPERM */
	rules = cJSON_GetObjectItem(p, "syscalls");
	/* Unconditionally allowed: the first rule, without args or includes. */
	rule = cJSON_GetArrayItem(rules, 0);
	ck_assert_str_eq(cJSON_GetObjectItem(rule, "action")->valuestring, "SCMP_ACT_ALLOW");
	ck_assert_ptr_null(cJSON_GetObjectItem(rule, "args"));
	for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++)
		ck_assert_msg(!array_has(cJSON_GetObjectItem(rule, "names"), denied[i]), "%s",
			      denied[i]);
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		ck_assert_msg(array_has(cJSON_GetObjectItem(rule, "names"), allowed[i]), "%s",
			      allowed[i]);
	/* The others are conditional (args) or deny: none allows a denied name
	 * without an argument check, and none has caps-dependent includes. */
	cJSON_ArrayForEach(rule, rules) {
		if (rule == cJSON_GetArrayItem(rules, 0))
			continue;
		ck_assert_ptr_null(cJSON_GetObjectItem(rule, "includes"));
		if (strcmp(cJSON_GetObjectItem(rule, "action")->valuestring, "SCMP_ACT_ALLOW") == 0)
			ck_assert_ptr_nonnull(cJSON_GetObjectItem(rule, "args"));
		for (size_t i = 0; i < 7; i++) /* io_uring .. ptrace: never, not even with args */
			ck_assert(!array_has(cJSON_GetObjectItem(rule, "names"), denied[i]));
	}
	cJSON_Delete(p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sandbox");
	TCase *tc = tcase_create("spec");

	tcase_add_test(tc, test_hardening);
	tcase_add_test(tc, test_env_and_labels);
	tcase_add_test(tc, test_configured_limits);
	tcase_add_test(tc, test_identity_threads_and_no_profile);
	tcase_add_test(tc, test_builtin_seccomp_profile);
	tcase_add_test(tc, test_runner_settings);
	tcase_add_test(tc, test_preload_cpu_weight);
	suite_add_tcase(s, tc);
	return check_run(s, CK_NORMAL);
}
