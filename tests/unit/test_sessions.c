/* The sessions table (ids, one call at a time, ownership, limits, expiry,
 * tombstones) and the sessions API's pure parts (paths, rendering, the
 * body of POST /sessions). Slots are opaque here: fake pointers whose
 * discard is recorded. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codeexecd/api.h"
#include "codeexecd/api_sessions.h"
#include "codeexecd/config.h"
#include "codeexecd/log.h"
#include "codeexecd/sessions.h"

#include "../check_run.h"

static char slots[8];
#define SLOT(i) ((struct sandbox_slot *)(void *)&slots[i])

static struct sandbox_slot *discarded[64];
static int ndiscarded;

static void on_discard(void *ctx, struct sandbox_slot *slot)
{
	ck_assert_ptr_eq(ctx, &ndiscarded);
	if (ndiscarded < 64)
		discarded[ndiscarded] = slot;
	ndiscarded++;
}

static struct sessions *table(int max, int idle, int life)
{
	struct sessions_limits lim = { max, idle, life };
	struct sessions *s = NULL;
	char err[256];

	ndiscarded = 0;
	ck_assert_int_eq(sessions_create(&s, &lim, on_discard, &ndiscarded, false, err,
					 sizeof(err)), 0);
	return s;
}

/* A session opened with slot: begin, then its first call keeps it. */
static void open_one(struct sessions *s, const char *owner, struct sandbox_slot *slot,
		     char id[SESSION_ID_LEN + 1])
{
	char err[256];

	ck_assert_int_eq(sessions_begin(s, owner, 0, id, err, sizeof(err)), 0);
	sessions_release(s, id, slot, true, SESSION_END_FAILED);
}

START_TEST(test_ids)
{
	struct sessions *s = table(100, 60, 600);
	char ids[50][SESSION_ID_LEN + 1], err[256];

	for (int i = 0; i < 50; i++) {
		ck_assert_int_eq(sessions_begin(s, NULL, 0, ids[i], err, sizeof(err)), 0);
		ck_assert_uint_eq(strlen(ids[i]), SESSION_ID_LEN);
		ck_assert(sessions_id_valid(ids[i]));
		for (int j = 0; j < i; j++)
			ck_assert_str_ne(ids[i], ids[j]);
	}
	ck_assert_int_eq(sessions_count(s), 50);
	ck_assert(!sessions_id_valid(""));
	ck_assert(!sessions_id_valid("0123456789abcdef0123456789ABCDEF"));
	ck_assert(!sessions_id_valid("0123456789abcdef0123456789abcde"));
	ck_assert(!sessions_id_valid("0123456789abcdef0123456789abcdef0"));
	ck_assert(!sessions_id_valid("0123456789abcdef0123456789abcdeg"));
	sessions_destroy(s);
	ck_assert_int_eq(ndiscarded, 0); /* none had a slot yet */
}
END_TEST

START_TEST(test_one_call_at_a_time)
{
	struct sessions *s = table(4, 60, 600);
	struct sandbox_slot *slot = SLOT(7);
	char id[SESSION_ID_LEN + 1], err[256];
	struct session_info info;
	int timeout = -1;

	ck_assert_int_eq(sessions_begin(s, NULL, 7, id, err, sizeof(err)), 0);
	/* being opened: busy */
	ck_assert_int_eq(sessions_acquire(s, id, NULL, &slot, &timeout, err, sizeof(err)), -EBUSY);
	ck_assert_ptr_nonnull(strstr(err, "busy"));
	ck_assert_int_eq(sessions_info(s, id, NULL, &info, err, sizeof(err)), 0);
	ck_assert(info.busy);
	ck_assert_int_eq(info.calls, 0);
	sessions_release(s, id, SLOT(0), true, SESSION_END_FAILED);
	ck_assert_int_eq(sessions_acquire(s, id, NULL, &slot, &timeout, err, sizeof(err)), 0);
	ck_assert_ptr_eq(slot, SLOT(0));
	ck_assert_int_eq(timeout, 7);
	ck_assert_int_eq(sessions_acquire(s, id, NULL, &slot, &timeout, err, sizeof(err)), -EBUSY);
	sessions_release(s, id, SLOT(0), true, SESSION_END_FAILED);
	ck_assert_int_eq(sessions_info(s, id, NULL, &info, err, sizeof(err)), 0);
	ck_assert(!info.busy);
	ck_assert_int_eq(info.calls, 2);
	ck_assert_str_eq(info.id, id);
	/* a call refused before it ran (a full queue) keeps the session, uncounted */
	ck_assert_int_eq(sessions_acquire(s, id, NULL, &slot, &timeout, err, sizeof(err)), 0);
	sessions_release(s, id, slot, false, SESSION_END_FAILED);
	ck_assert_int_eq(sessions_info(s, id, NULL, &info, err, sizeof(err)), 0);
	ck_assert_int_eq(info.calls, 2);
	ck_assert_int_ge(info.expires_at, info.last_used_at);
	ck_assert_int_le(info.expires_at, info.created_at + 600);
	ck_assert_int_eq(ndiscarded, 0);
	sessions_destroy(s);
	ck_assert_int_eq(ndiscarded, 1);
	ck_assert_ptr_eq(discarded[0], SLOT(0));
}
END_TEST

START_TEST(test_call_ends_session)
{
	struct sessions *s = table(4, 60, 600);
	struct sandbox_slot *slot = NULL;
	char id[SESSION_ID_LEN + 1], err[256];
	int timeout;

	open_one(s, NULL, SLOT(1), id);
	ck_assert_int_eq(sessions_acquire(s, id, NULL, &slot, &timeout, err, sizeof(err)), 0);
	sessions_release(s, id, NULL, true, SESSION_END_OOM); /* the slot went with the call */
	ck_assert_int_eq(sessions_count(s), 0);
	ck_assert_int_eq(ndiscarded, 0);
	ck_assert_int_eq(sessions_acquire(s, id, NULL, &slot, &timeout, err, sizeof(err)),
			 -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, id));
	ck_assert_ptr_nonnull(strstr(err, "ended: the code ran out of memory"));
	ck_assert_int_eq(sessions_end(s, id, NULL, err, sizeof(err)), -ENOENT);
	sessions_destroy(s);
}
END_TEST

START_TEST(test_limits)
{
	struct sessions *s = table(2, 60, 600);
	char a[SESSION_ID_LEN + 1], b[SESSION_ID_LEN + 1], c[SESSION_ID_LEN + 1], err[256];

	open_one(s, NULL, SLOT(1), a);
	ck_assert_int_eq(sessions_begin(s, NULL, 0, b, err, sizeof(err)), 0); /* being opened */
	ck_assert_int_eq(sessions_begin(s, NULL, 0, c, err, sizeof(err)), -EAGAIN);
	ck_assert_ptr_nonnull(strstr(err, "sessions.max"));
	ck_assert_int_eq(sessions_end(s, a, NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(ndiscarded, 1);
	ck_assert_int_eq(sessions_begin(s, NULL, 0, c, err, sizeof(err)), 0);
	ck_assert_int_eq(sessions_count(s), 2);
	sessions_destroy(s);

	s = table(0, 60, 600);
	ck_assert_int_eq(sessions_begin(s, NULL, 0, c, err, sizeof(err)), -EPERM);
	sessions_destroy(s);
}
END_TEST

START_TEST(test_ownership)
{
	struct sessions *s = table(4, 60, 600);
	struct sandbox_slot *slot;
	struct session_info info;
	char id[SESSION_ID_LEN + 1], err[256];
	int timeout;

	open_one(s, "alice", SLOT(2), id);
	ck_assert_int_eq(sessions_acquire(s, id, "bob", &slot, &timeout, err, sizeof(err)),
			 -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "not found"));
	ck_assert_int_eq(sessions_acquire(s, id, NULL, &slot, &timeout, err, sizeof(err)), -ENOENT);
	ck_assert_int_eq(sessions_info(s, id, "bob", &info, err, sizeof(err)), -ENOENT);
	ck_assert_int_eq(sessions_end(s, id, "bob", err, sizeof(err)), -ENOENT);
	ck_assert_int_eq(sessions_count(s), 1);
	ck_assert_int_eq(sessions_end(s, id, "alice", err, sizeof(err)), 0);
	/* the tombstone tells its owner only */
	ck_assert_int_eq(sessions_info(s, id, "bob", &info, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_null(strstr(err, "ended"));
	ck_assert_int_eq(sessions_info(s, id, "alice", &info, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "ended: it was deleted"));
	sessions_destroy(s);
}
END_TEST

START_TEST(test_expiry)
{
	struct sessions *s = table(8, 10, 100);
	struct sandbox_slot *slot;
	char idle[SESSION_ID_LEN + 1], busy[SESSION_ID_LEN + 1], err[256];
	long now = sessions_now_ms();
	int timeout;

	open_one(s, NULL, SLOT(3), idle);
	open_one(s, NULL, SLOT(4), busy);
	ck_assert_int_eq(sessions_acquire(s, busy, NULL, &slot, &timeout, err, sizeof(err)), 0);
	ck_assert_int_eq(sessions_expire(s, now + 5000), 0);
	ck_assert_int_eq(sessions_expire(s, now + 11000), 1); /* the idle one only */
	ck_assert_int_eq(ndiscarded, 1);
	ck_assert_ptr_eq(discarded[0], SLOT(3));
	ck_assert_int_eq(sessions_acquire(s, idle, NULL, &slot, &timeout, err, sizeof(err)),
			 -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "idle"));
	/* over age while busy: it ends when its call returns */
	ck_assert_int_eq(sessions_expire(s, now + 101000), 0);
	ck_assert_int_eq(sessions_count(s), 1);
	sessions_release(s, busy, SLOT(4), true, SESSION_END_FAILED);
	ck_assert_int_eq(sessions_count(s), 0);
	ck_assert_int_eq(ndiscarded, 2);
	ck_assert_int_eq(sessions_acquire(s, busy, NULL, &slot, &timeout, err, sizeof(err)),
			 -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "max_lifetime_seconds"));
	sessions_destroy(s);
	ck_assert_int_eq(ndiscarded, 2);
}
END_TEST

START_TEST(test_delete_while_busy)
{
	struct sessions *s = table(8, 10, 100);
	struct sandbox_slot *slot;
	char id[SESSION_ID_LEN + 1], err[256];
	int timeout;

	open_one(s, NULL, SLOT(5), id);
	ck_assert_int_eq(sessions_acquire(s, id, NULL, &slot, &timeout, err, sizeof(err)), 0);
	ck_assert_int_eq(sessions_end(s, id, NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(sessions_end(s, id, NULL, err, sizeof(err)), -ENOENT);
	ck_assert_int_eq(ndiscarded, 0);
	sessions_release(s, id, slot, true, SESSION_END_FAILED);
	ck_assert_int_eq(ndiscarded, 1);
	ck_assert_int_eq(sessions_count(s), 0);
	sessions_destroy(s);
}
END_TEST

START_TEST(test_tombstones_bounded)
{
	struct sessions *s = table(SESSION_TOMBSTONES + 8, 10, 100);
	char first[SESSION_ID_LEN + 1], id[SESSION_ID_LEN + 1], err[256];
	struct session_info info;

	open_one(s, NULL, SLOT(0), first);
	ck_assert_int_eq(sessions_end(s, first, NULL, err, sizeof(err)), 0);
	for (int i = 0; i < SESSION_TOMBSTONES; i++) {
		open_one(s, NULL, SLOT(1), id);
		ck_assert_int_eq(sessions_end(s, id, NULL, err, sizeof(err)), 0);
	}
	ck_assert_int_eq(sessions_info(s, id, NULL, &info, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "ended"));
	ck_assert_int_eq(sessions_info(s, first, NULL, &info, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "not found")); /* its tombstone was reused */
	sessions_destroy(s);
}
END_TEST

START_TEST(test_paths)
{
	const char *id = "0123456789abcdef0123456789abcdef";
	char got[SESSION_ID_LEN + 1], path[128];

	(void)snprintf(path, sizeof(path), "/sessions/%s", id);
	ck_assert_int_eq(api_sessions_parse_path(path, got), API_SESSION_PATH_SESSION);
	ck_assert_str_eq(got, id);
	(void)snprintf(path, sizeof(path), "/sessions/%s/execute", id);
	ck_assert_int_eq(api_sessions_parse_path(path, got), API_SESSION_PATH_EXECUTE);
	ck_assert_str_eq(got, id);
	(void)snprintf(path, sizeof(path), "/sessions/%s/", id);
	ck_assert_int_eq(api_sessions_parse_path(path, got), API_SESSION_PATH_NONE);
	(void)snprintf(path, sizeof(path), "/sessions/%s/execute/", id);
	ck_assert_int_eq(api_sessions_parse_path(path, got), API_SESSION_PATH_NONE);
	(void)snprintf(path, sizeof(path), "/sessions/%s/run", id);
	ck_assert_int_eq(api_sessions_parse_path(path, got), API_SESSION_PATH_NONE);
	ck_assert_int_eq(api_sessions_parse_path("/sessions/", got), API_SESSION_PATH_NONE);
	ck_assert_int_eq(api_sessions_parse_path("/sessions/abc", got), API_SESSION_PATH_NONE);
	ck_assert_int_eq(api_sessions_parse_path("/sessions/0123456789ABCDEF0123456789abcdef",
						 got), API_SESSION_PATH_NONE);
	ck_assert_int_eq(api_sessions_parse_path("/sessions/../../etc/passwd/xxxxxxxxxxxxxxx",
						 got), API_SESSION_PATH_NONE);
	ck_assert_int_eq(api_sessions_parse_path("/execute", got), API_SESSION_PATH_NONE);
}
END_TEST

START_TEST(test_render)
{
	struct session_info info = { .id = "0123456789abcdef0123456789abcdef", .created_at = 0,
				     .last_used_at = 60, .expires_at = 660, .calls = 3 };
	cJSON *obj = api_sessions_render(&info);
	char *text = cJSON_PrintUnformatted(obj);

	ck_assert_str_eq(text, "{\"session_id\":\"0123456789abcdef0123456789abcdef\","
			 "\"state\":\"idle\",\"created_at\":\"1970-01-01T00:00:00Z\","
			 "\"last_used_at\":\"1970-01-01T00:01:00Z\","
			 "\"expires_at\":\"1970-01-01T00:11:00Z\",\"calls\":3,\"busy\":false,"
			 "\"timeout\":null}");
	free(text);
	cJSON_Delete(obj);
}
END_TEST

START_TEST(test_open_body)
{
	static const char body[] = "{\"files\": {\"data.csv\": \"YSxiCjEsMgo=\"}, \"timeout\": 5}";
	struct config cfg;
	struct exec_request er;
	cJSON *errors = NULL;

	memset(&cfg, 0, sizeof(cfg));
	cfg.request.max_files = 10;
	cfg.request.max_stdin_bytes = 1024;
	cfg.execution.max_timeout_seconds = 60;
	ck_assert_int_eq(api_parse_request(body, sizeof(body) - 1, &cfg, false, &er, &errors), 0);
	ck_assert_str_eq(er.code, "");
	ck_assert_uint_eq(er.nfiles, 1);
	ck_assert_str_eq(er.files[0].name, "data.csv");
	ck_assert_int_eq(er.timeout_seconds, 5);
	ck_assert(!er.session);
	exec_request_free(&er);
	/* /execute still needs its code */
	ck_assert_int_eq(api_parse_request(body, sizeof(body) - 1, &cfg, true, &er, &errors),
			 -EINVAL);
	ck_assert_ptr_nonnull(errors);
	cJSON_Delete(errors);
}
END_TEST

static Suite *sessions_suite(void)
{
	Suite *s = suite_create("sessions");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_ids);
	tcase_add_test(tc, test_one_call_at_a_time);
	tcase_add_test(tc, test_call_ends_session);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_ownership);
	tcase_add_test(tc, test_expiry);
	tcase_add_test(tc, test_delete_while_busy);
	tcase_add_test(tc, test_tombstones_bounded);
	tcase_add_test(tc, test_paths);
	tcase_add_test(tc, test_render);
	tcase_add_test(tc, test_open_body);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	log_setup(LOG_WARN, LOG_FORMAT_TEXT);
	return check_run(sessions_suite(), CK_NORMAL);
}
