/* API keys: the keys file, lookup, per-key limits, new keys. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "codeexecd/auth.h"

#include "../check_run.h"

/* SHA-256("secret-a") and SHA-256("secret-b"). */
#define HASH_A "sha256:8766b9cb08e6040b704f1e3ee1e186efccf2635b1d2634d6525333007e6aeae1"
#define HASH_B "sha256:ff492ef788c89b555e6f738b33d2422f57dbb6656af2402155672c5f123a90af"

static struct auth *parse_ok(const char *text, const struct auth *prev)
{
	struct auth *a = NULL;
	char err[256] = "";

	ck_assert_msg(auth_parse(&a, text, strlen(text), "keys", prev, err, sizeof(err)) == 0,
		      "%s", err);
	return a;
}

static void parse_fails(const char *text, const char *want)
{
	struct auth *a = NULL;
	char err[256] = "";

	ck_assert_int_eq(auth_parse(&a, text, strlen(text), "keys", NULL, err, sizeof(err)),
			 -EINVAL);
	ck_assert_ptr_null(a);
	ck_assert_msg(strstr(err, want), "'%s' does not say '%s'", err, want);
}

/* A key made by auth_new_key, with its line appended to text. */
static void new_key(const char *name, const char *limits, char *key, size_t keylen, char *text,
		    size_t textlen)
{
	char line[200];

	ck_assert_int_eq(auth_new_key(name, key, keylen, line, sizeof(line)), 0);
	ck_assert_int_lt(strlen(text) + strlen(line) + strlen(limits) + 3, textlen);
	strcat(text, line);
	strcat(text, " ");
	strcat(text, limits);
	strcat(text, "\n");
}

START_TEST(test_hash_matches_sha256)
{
	/* The line of a known key is its SHA-256, as sha256sum gives it. */
	struct auth *a = parse_ok("a " HASH_A "\n", NULL);
	char key[100], line[200];
	FILE *p;

	ck_assert_int_eq(auth_count(a), 1);
	ck_assert_str_eq(auth_key_name(auth_find(a, "secret-a")), "a");
	ck_assert_ptr_null(auth_find(a, "secret-b"));
	ck_assert_int_eq(auth_new_key("x", key, sizeof(key), line, sizeof(line)), 0);
	ck_assert_int_eq(strncmp(key, "cxd_", 4), 0);
	ck_assert_uint_eq(strlen(key), 68);
	ck_assert_int_eq(strncmp(line, "x sha256:", 9), 0);
	{
		char cmd[200], hex[80] = "";
		(void)snprintf(cmd, sizeof(cmd), "printf %%s '%s' | sha256sum", key);
		p = popen(cmd, "r");
		ck_assert_ptr_nonnull(p);
		ck_assert_int_eq(fscanf(p, "%64s", hex), 1);
		(void)pclose(p);
		ck_assert_str_eq(line + 9, hex);
	}
	auth_unref(a);
}
END_TEST

START_TEST(test_find)
{
	char text[1024] = "# a comment\n\n", k1[100], k2[100];
	struct auth *a;

	new_key("backend", "", k1, sizeof(k1), text, sizeof(text));
	strcat(text, "   # indented comment\r\n");
	new_key("ops@example", "concurrent=2 per_minute=10", k2, sizeof(k2), text, sizeof(text));
	a = parse_ok(text, NULL);
	ck_assert_int_eq(auth_count(a), 2);
	ck_assert_str_eq(auth_key_name(auth_find(a, k1)), "backend");
	ck_assert_str_eq(auth_key_name(auth_find(a, k2)), "ops@example");
	ck_assert_ptr_null(auth_find(a, "cxd_0000"));
	ck_assert_ptr_null(auth_find(a, ""));
	k1[10] ^= 1;
	ck_assert_ptr_null(auth_find(a, k1));
	auth_unref(a);
}
END_TEST

START_TEST(test_bad_files)
{
	parse_fails("a\n", "expected sha256:");
	parse_fails("a sha256:zz\n", "expected sha256:");
	parse_fails("a " HASH_A "0\n", "expected sha256:");
	parse_fails("bad/name " HASH_A "\n", "key name");
	parse_fails("a " HASH_A "\na " HASH_B "\n", "keys:2: a: duplicate key name");
	parse_fails("a " HASH_A "\nb " HASH_A "\n", "same hash as key a");
	parse_fails("a " HASH_A " concurrent=x\n", "bad limit");
	parse_fails("a " HASH_A " burst=3\n", "unknown or bad limit");
	parse_fails("a " HASH_A " per_minute=-1\n", "bad limit");
	{
		struct auth *a = NULL;
		char err[128];
		static const char nul[] = "a " HASH_A "\nb\0 " HASH_B "\n";
		ck_assert_int_eq(auth_parse(&a, nul, sizeof(nul) - 1, "keys", NULL, err,
					    sizeof(err)), -EINVAL);
		ck_assert_ptr_nonnull(strstr(err, "keys:2: NUL"));
	}
}
END_TEST

START_TEST(test_concurrent_limit)
{
	char text[512] = "", key[100], why[200];
	struct auth *a;
	const struct auth_key *k;
	int retry = 0;

	new_key("c", "concurrent=2", key, sizeof(key), text, sizeof(text));
	a = parse_ok(text, NULL);
	k = auth_find(a, key);
	ck_assert_int_eq(auth_admit(k, &retry, why, sizeof(why)), 0);
	ck_assert_int_eq(auth_admit(k, &retry, why, sizeof(why)), 0);
	ck_assert_int_eq(auth_admit(k, &retry, why, sizeof(why)), -EAGAIN);
	ck_assert_int_ge(retry, 1);
	ck_assert_ptr_nonnull(strstr(why, "'c'"));
	auth_release(k);
	ck_assert_int_eq(auth_admit(k, &retry, why, sizeof(why)), 0);
	auth_unref(a);
}
END_TEST

START_TEST(test_per_minute_limit)
{
	char text[512] = "", key[100], why[200];
	struct auth *a;
	const struct auth_key *k;
	int retry = 0;

	new_key("m", "per_minute=3", key, sizeof(key), text, sizeof(text));
	a = parse_ok(text, NULL);
	k = auth_find(a, key);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(auth_admit(k, &retry, why, sizeof(why)), 0);
		auth_release(k);
	}
	ck_assert_int_eq(auth_admit(k, &retry, why, sizeof(why)), -EAGAIN);
	/* one comes back every 20 s */
	ck_assert_int_ge(retry, 15);
	ck_assert_int_le(retry, 21);
	ck_assert_ptr_nonnull(strstr(why, "3 executions per minute"));
	auth_unref(a);
}
END_TEST

/* A reload keeps a key's state by name; a removed key's state goes. */
START_TEST(test_state_carries_over)
{
	char text[512] = "", key[100], why[200], line[200], again[600];
	struct auth *a, *b;
	const struct auth_key *k;
	int retry;

	new_key("c", "concurrent=1", key, sizeof(key), text, sizeof(text));
	a = parse_ok(text, NULL);
	ck_assert_int_eq(auth_admit(auth_find(a, key), &retry, why, sizeof(why)), 0);
	(void)snprintf(again, sizeof(again), "%s", text);
	ck_assert_int_eq(auth_new_key("d", why, sizeof(why), line, sizeof(line)), 0);
	strcat(again, line);
	strcat(again, "\n");
	b = parse_ok(again, a);
	k = auth_find(b, key);
	ck_assert_int_eq(auth_admit(k, &retry, why, sizeof(why)), -EAGAIN);
	auth_unref(a); /* a request of the old set ends after the reload */
	auth_release(k);
	ck_assert_int_eq(auth_admit(k, &retry, why, sizeof(why)), 0);
	auth_unref(b);
}
END_TEST

START_TEST(test_new_key_names)
{
	char key[100], line[200];

	ck_assert_int_eq(auth_new_key("", key, sizeof(key), line, sizeof(line)), -EINVAL);
	ck_assert_int_eq(auth_new_key("a b", key, sizeof(key), line, sizeof(line)), -EINVAL);
	ck_assert_int_eq(auth_new_key("a-b_c.d@e", key, sizeof(key), line, sizeof(line)), 0);
}
END_TEST

static Suite *auth_suite(void)
{
	Suite *s = suite_create("auth");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_hash_matches_sha256);
	tcase_add_test(tc, test_find);
	tcase_add_test(tc, test_bad_files);
	tcase_add_test(tc, test_concurrent_limit);
	tcase_add_test(tc, test_per_minute_limit);
	tcase_add_test(tc, test_state_carries_over);
	tcase_add_test(tc, test_new_key_names);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(auth_suite(), CK_NORMAL);
}
