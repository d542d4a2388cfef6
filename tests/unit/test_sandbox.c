/* Unit tests of the container spec: the hardening every execution gets. */
#include <check.h>

#include "../check_run.h"
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "codeexecd/config.h"
#include "codeexecd/sandbox.h"

static cJSON *spec_for(struct config *cfg)
{
	char *text = sandbox_container_spec(cfg, "host-8080", "abcd1234", true);
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
	ck_assert_str_eq(cJSON_GetObjectItem(spec, "User")->valuestring, "1000:1000");
	ck_assert_str_eq(cJSON_GetObjectItem(spec, "WorkingDir")->valuestring, "/");
	ck_assert_int_eq(cJSON_GetObjectItem(h, "PidsLimit")->valueint, 50);
	ck_assert(cJSON_GetObjectItem(h, "Memory")->valuedouble == 512.0 * 1024 * 1024);
	ck_assert(cJSON_GetObjectItem(h, "MemorySwap")->valuedouble == 512.0 * 1024 * 1024);
	ck_assert(cJSON_GetObjectItem(h, "NanoCpus")->valuedouble == 1e9);
	ck_assert(ulimit(spec, "nofile") == 256);
	ck_assert(ulimit(spec, "fsize") == 64.0 * 1024 * 1024);
	ck_assert(ulimit(spec, "nproc") == 50 * 4 + 64); /* automatic under runc */
	ck_assert_ptr_null(cJSON_GetObjectItem(h, "Binds"));
	ck_assert_ptr_null(cJSON_GetObjectItem(h, "Mounts"));
	ck_assert_ptr_null(cJSON_GetObjectItem(h, "Devices"));
	ck_assert_ptr_null(cJSON_GetObjectItem(h, "Privileged"));
	ck_assert_ptr_null(cJSON_GetObjectItem(h, "Runtime"));
	const char *tmp = cJSON_GetObjectItem(cJSON_GetObjectItem(h, "Tmpfs"), "/tmp")->valuestring;
	ck_assert_ptr_nonnull(strstr(tmp, "size=104857600"));
	ck_assert_ptr_nonnull(strstr(tmp, "noexec"));
	const char *work =
		cJSON_GetObjectItem(cJSON_GetObjectItem(h, "Tmpfs"), "/execution")->valuestring;
	ck_assert_ptr_nonnull(strstr(work, "uid=1000"));
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

/* The runner's settings: only a warm (pooled) container preloads; the
 * zygote switch reaches the runner. */
START_TEST(test_runner_settings)
{
	struct config cfg;
	char *text;
	cJSON *spec, *cmd;

	config_defaults(&cfg);
	cfg.execution.zygote = false;
	text = sandbox_container_spec(&cfg, "host-8080", "abcd1234", false);
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

int main(void)
{
	Suite *s = suite_create("sandbox");
	TCase *tc = tcase_create("spec");

	tcase_add_test(tc, test_hardening);
	tcase_add_test(tc, test_env_and_labels);
	tcase_add_test(tc, test_configured_limits);
	tcase_add_test(tc, test_runner_settings);
	suite_add_tcase(s, tc);
	return check_run(s, CK_NORMAL);
}
