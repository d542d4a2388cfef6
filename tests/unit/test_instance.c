/* Unit tests of the instance id: configured, kept in the state directory
 * across starts, distinct per state directory and per port, and a per-run
 * id (with a note) when it cannot be kept. */
#include <check.h>

#include "../check_run.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codeexecd/config.h"
#include "codeexecd/instance.h"

static char dir[64];

static void make_dir(void)
{
	(void)snprintf(dir, sizeof(dir), "/tmp/cxd-instance-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void remove_dir(void)
{
	char cmd[128];

	(void)snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void cfg_in(struct config *cfg, const char *state_dir, int port)
{
	config_defaults(cfg);
	cfg->server.port = port;
	(void)snprintf(cfg->server.state_dir, sizeof(cfg->server.state_dir), "%s", state_dir);
}

START_TEST(test_configured)
{
	struct config cfg;
	char id[CXD_INSTANCE_ID_MAX + 1], note[256];
	bool kept = false;

	cfg_in(&cfg, "/nonexistent/x", 8080);
	(void)snprintf(cfg.server.instance_id, sizeof(cfg.server.instance_id), "blue-1.a_b");
	ck_assert_int_eq(instance_id_load(&cfg, id, &kept, note, sizeof(note)), 0);
	ck_assert_str_eq(id, "blue-1.a_b");
	ck_assert(kept);
	(void)snprintf(cfg.server.instance_id, sizeof(cfg.server.instance_id), "a b");
	ck_assert_int_eq(instance_id_load(&cfg, id, &kept, note, sizeof(note)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(note, "server.instance_id"));
	ck_assert(!instance_id_valid("x/y", 3));
	ck_assert(!instance_id_valid("", 0));
	ck_assert(instance_id_valid("A-z.0_9", 7));
}
END_TEST

START_TEST(test_kept_across_starts_and_per_port)
{
	struct config cfg;
	char a[CXD_INSTANCE_ID_MAX + 1], b[CXD_INSTANCE_ID_MAX + 1], c[CXD_INSTANCE_ID_MAX + 1];
	char note[256], path[128];
	bool kept = false;
	FILE *f;

	make_dir();
	cfg_in(&cfg, dir, 8080);
	ck_assert_int_eq(instance_id_load(&cfg, a, &kept, note, sizeof(note)), 0);
	ck_assert(kept);
	ck_assert_uint_eq(strlen(a), 16);
	ck_assert_int_eq(instance_id_load(&cfg, b, &kept, note, sizeof(note)), 0);
	ck_assert_str_eq(a, b);
	cfg.server.port = 8081;
	ck_assert_int_eq(instance_id_load(&cfg, c, &kept, note, sizeof(note)), 0);
	ck_assert_str_ne(a, c);
	/* A damaged file is replaced by a new id. */
	(void)snprintf(path, sizeof(path), "%s/instance-8080.id", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("not/an id\n", f);
	fclose(f);
	cfg.server.port = 8080;
	ck_assert_int_eq(instance_id_load(&cfg, b, &kept, note, sizeof(note)), 0);
	ck_assert(kept);
	ck_assert_str_ne(a, b);
	remove_dir();
}
END_TEST

START_TEST(test_state_directory_from_systemd)
{
	struct config cfg;
	char a[CXD_INSTANCE_ID_MAX + 1], env[128], path[160], note[256];
	bool kept = false;

	make_dir();
	cfg_in(&cfg, "", 9000);
	(void)snprintf(env, sizeof(env), "%s:/other", dir);
	ck_assert_int_eq(setenv("STATE_DIRECTORY", env, 1), 0);
	ck_assert_int_eq(instance_id_load(&cfg, a, &kept, note, sizeof(note)), 0);
	ck_assert(kept);
	(void)snprintf(path, sizeof(path), "%s/instance-9000.id", dir);
	ck_assert_int_eq(access(path, R_OK), 0);
	unsetenv("STATE_DIRECTORY");
	remove_dir();
}
END_TEST

START_TEST(test_not_kept)
{
	struct config cfg;
	char a[CXD_INSTANCE_ID_MAX + 1], b[CXD_INSTANCE_ID_MAX + 1], note[256];
	bool kept = true;

	cfg_in(&cfg, "/proc/codeexecd-nowhere", 8080);
	ck_assert_int_eq(instance_id_load(&cfg, a, &kept, note, sizeof(note)), 0);
	ck_assert(!kept);
	ck_assert_ptr_nonnull(strstr(note, "/proc/codeexecd-nowhere/instance-8080.id"));
	ck_assert_int_eq(instance_id_load(&cfg, b, &kept, note, sizeof(note)), 0);
	ck_assert_str_ne(a, b);
	cfg_in(&cfg, "/tmp", 0);
	kept = true;
	ck_assert_int_eq(instance_id_load(&cfg, a, &kept, note, sizeof(note)), 0);
	ck_assert(!kept);
	ck_assert_ptr_nonnull(strstr(note, "port 0"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("instance");
	TCase *tc = tcase_create("id");

	tcase_add_test(tc, test_configured);
	tcase_add_test(tc, test_kept_across_starts_and_per_port);
	tcase_add_test(tc, test_state_directory_from_systemd);
	tcase_add_test(tc, test_not_kept);
	suite_add_tcase(s, tc);
	return check_run(s, CK_NORMAL);
}
