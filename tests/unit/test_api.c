/* Unit tests of /execute validation (FastAPI's error shapes) and of the
 * ExecutionResponse rendering. No server, no engine. */
#include <check.h>

#include "../check_run.h"
#include <stdlib.h>
#include <string.h>

#include "codeexecd/api.h"
#include "codeexecd/config.h"

static struct config cfg;

static void setup(void)
{
	config_defaults(&cfg);
	cfg.request.max_files = 3;
	cfg.request.max_stdin_bytes = 8;
	cfg.execution.max_timeout_seconds = 100;
}

/* Parses body; expects failure with exactly one error whose loc (as JSON
 * text) and type are given. */
static void expect_error(const char *body, const char *loc_json, const char *type)
{
	struct exec_request req;
	cJSON *errors = NULL;
	int rc = api_parse_execute(body, strlen(body), &cfg, &req, &errors);

	ck_assert_msg(rc != 0, "accepted: %s", body);
	ck_assert_ptr_nonnull(errors);
	ck_assert_int_eq(cJSON_GetArraySize(errors), 1);
	cJSON *e = cJSON_GetArrayItem(errors, 0);
	cJSON *locs = cJSON_GetObjectItem(e, "loc");
	char *loc = cJSON_PrintUnformatted(locs);
	if (strcmp(type, "json_invalid") == 0) {
		/* ["body", <byte offset>]: where the parser stopped, which may
		 * differ by a byte or two from Python's json module. */
		ck_assert_int_eq(cJSON_GetArraySize(locs), 2);
		ck_assert(cJSON_IsNumber(cJSON_GetArrayItem(locs, 1)));
		ck_assert_msg(abs(cJSON_GetArrayItem(locs, 1)->valueint - atoi(loc_json + 8)) <= 2,
			      "%s: loc %s, want about %s", body, loc, loc_json);
	} else {
		ck_assert_msg(strcmp(loc, loc_json) == 0, "%s: loc %s, want %s", body, loc, loc_json);
	}
	ck_assert_str_eq(cJSON_GetObjectItem(e, "type")->valuestring, type);
	ck_assert(cJSON_IsString(cJSON_GetObjectItem(e, "msg")));
	free(loc);
	cJSON_Delete(errors);
}

static void expect_ok(const char *body, struct exec_request *req)
{
	cJSON *errors = NULL;
	int rc = api_parse_execute(body, strlen(body), &cfg, req, &errors);

	if (rc != 0) {
		char *text = cJSON_PrintUnformatted(errors);
		ck_abort_msg("refused %s: %s", body, text);
	}
	ck_assert_ptr_null(errors);
}

START_TEST(test_body_shapes)
{
	expect_error("", "[\"body\"]", "missing");
	expect_error("{x", "[\"body\",1]", "json_invalid");
	expect_error("{\"code\": \"x\"} trailing", "[\"body\",14]", "json_invalid");
	expect_error("{'code': 1}", "[\"body\",1]", "json_invalid");
	expect_error("[1,2]", "[\"body\"]", "model_attributes_type");
	expect_error("\"code\"", "[\"body\"]", "model_attributes_type");
	expect_error("null", "[\"body\"]", "model_attributes_type");
	expect_error("{\"code\": \"\xff\"}", "[\"body\",10]", "json_invalid");
	expect_error("{\"code\": \"a\\u0000b\"}", "[\"body\",\"code\"]", "value_error");
	expect_error("{\"code\": \"\",\"stdin\": \"\\u0000\"}", "[\"body\",\"stdin\"]",
		     "value_error");
	/* The error names the file that holds the NUL. */
	expect_error("{\"code\":\"\",\"files\":{\"a\\u0000b\":\"\"}}",
		     "[\"body\",\"files\",\"a\\\\u0000b\"]", "value_error");
	/* Nesting past the limit is not JSON (cJSON's and Python's limit). */
	char deep[2100];
	memset(deep, '[', 1001);
	memset(deep + 1001, ']', 1001);
	deep[2002] = '\0';
	ck_assert(strlen(deep) == 2002);
	struct exec_request req;
	cJSON *errors = NULL;
	ck_assert_int_ne(api_parse_execute(deep, strlen(deep), &cfg, &req, &errors), 0);
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(errors, 0), "type")->valuestring,
			 "json_invalid");
	cJSON_Delete(errors);
}
END_TEST

START_TEST(test_code)
{
	expect_error("{}", "[\"body\",\"code\"]", "missing");
	expect_error("{\"code\": null}", "[\"body\",\"code\"]", "string_type");
	expect_error("{\"code\": 5}", "[\"body\",\"code\"]", "string_type");
	expect_error("{\"code\": [\"x\"]}", "[\"body\",\"code\"]", "string_type");
	expect_error("{\"code\": 5, \"unknown\": {}}", "[\"body\",\"code\"]", "string_type");
}
END_TEST

START_TEST(test_files)
{
	expect_error("{\"code\":\"\",\"files\":\"x\"}", "[\"body\",\"files\"]", "dict_type");
	expect_error("{\"code\":\"\",\"files\":[]}", "[\"body\",\"files\"]", "dict_type");
	expect_error("{\"code\":\"\",\"files\":{\"a\":1}}", "[\"body\",\"files\",\"a\"]",
		     "string_type");
	expect_error("{\"code\":\"\",\"files\":{\"a\":\"!!!!\"}}", "[\"body\",\"files\",\"a\"]",
		     "base64_decode");
	expect_error("{\"code\":\"\",\"files\":{\"a\":\"abc\"}}", "[\"body\",\"files\",\"a\"]",
		     "base64_decode");
	expect_error("{\"code\":\"\",\"files\":{\"\":\"\"}}", "[\"body\",\"files\",\"\"]",
		     "value_error");
	expect_error("{\"code\":\"\",\"files\":{\"/etc/passwd\":\"\"}}",
		     "[\"body\",\"files\",\"/etc/passwd\"]", "value_error");
	expect_error("{\"code\":\"\",\"files\":{\"../x\":\"\"}}", "[\"body\",\"files\",\"../x\"]",
		     "value_error");
	expect_error("{\"code\":\"\",\"files\":{\"a/../../x\":\"\"}}",
		     "[\"body\",\"files\",\"a/../../x\"]", "value_error");
	expect_error("{\"code\":\"\",\"files\":{\"a//b\":\"\"}}", "[\"body\",\"files\",\"a//b\"]",
		     "value_error");
	expect_error("{\"code\":\"\",\"files\":{\"a\\u0001\":\"\"}}",
		     "[\"body\",\"files\",\"a\\u0001\"]", "value_error");
	expect_error("{\"code\":\"\",\"files\":{\"a\":\"\",\"b\":\"\",\"c\":\"\",\"d\":\"\"}}",
		     "[\"body\",\"files\"]", "too_long");
}
END_TEST

START_TEST(test_long_file_name)
{
	char body[600], name[300];

	memset(name, 'n', 256);
	name[256] = '\0';
	(void)snprintf(body, sizeof(body), "{\"code\":\"\",\"files\":{\"%s\":\"\"}}", name);
	struct exec_request req;
	cJSON *errors = NULL;
	ck_assert_int_ne(api_parse_execute(body, strlen(body), &cfg, &req, &errors), 0);
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(errors, 0), "type")->valuestring,
			 "value_error");
	cJSON_Delete(errors);
	name[255] = '\0'; /* 255 bytes is fine */
	(void)snprintf(body, sizeof(body), "{\"code\":\"\",\"files\":{\"%s\":\"\"}}", name);
	expect_ok(body, &req);
	exec_request_free(&req);
}
END_TEST

START_TEST(test_timeout_and_stdin)
{
	expect_error("{\"code\":\"\",\"timeout\":\"10\"}", "[\"body\",\"timeout\"]", "int_type");
	expect_error("{\"code\":\"\",\"timeout\":1.5}", "[\"body\",\"timeout\"]", "int_type");
	expect_error("{\"code\":\"\",\"timeout\":true}", "[\"body\",\"timeout\"]", "int_type");
	expect_error("{\"code\":\"\",\"timeout\":0}", "[\"body\",\"timeout\"]",
		     "greater_than_equal");
	expect_error("{\"code\":\"\",\"timeout\":101}", "[\"body\",\"timeout\"]",
		     "less_than_equal");
	expect_error("{\"code\":\"\",\"stdin\":5}", "[\"body\",\"stdin\"]", "string_type");
	expect_error("{\"code\":\"\",\"stdin\":\"123456789\"}", "[\"body\",\"stdin\"]",
		     "string_too_long");
}
END_TEST

START_TEST(test_python_json_rules)
{
	struct exec_request req;

	/* A raw control character inside a string is not JSON. */
	expect_error("{\"code\": \"a\nb\"}", "[\"body\",11]", "json_invalid");
	/* Duplicate keys: the last one counts, as in Python's json. */
	expect_error("{\"code\": \"pass\", \"code\": 5}", "[\"body\",\"code\"]", "string_type");
	expect_ok("{\"code\": 5, \"code\": \"pass\", \"files\": {\"a\": \"!!\", \"a\": \"eA==\"}}",
		  &req);
	ck_assert_str_eq(req.code, "pass");
	ck_assert_uint_eq(req.nfiles, 1);
	ck_assert_uint_eq(req.files[0].len, 1);
	exec_request_free(&req);
	/* A name cannot be a file and a directory at once. */
	struct exec_request r2;
	cJSON *errors = NULL;
	const char *body = "{\"code\":\"\",\"files\":{\"a\":\"\",\"a/b\":\"\"}}";
	ck_assert_int_ne(api_parse_execute(body, strlen(body), &cfg, &r2, &errors), 0);
	ck_assert_int_eq(cJSON_GetArraySize(errors), 2);
	cJSON_Delete(errors);
	expect_ok("{\"code\":\"\",\"files\":{\"ab\":\"\",\"a/b\":\"\"}}", &req);
	exec_request_free(&req);
	/* A huge integer is an integer over the limit. */
	expect_error("{\"code\":\"\",\"timeout\":99999999999999999999}", "[\"body\",\"timeout\"]",
		     "less_than_equal");
}
END_TEST

/* Unknown members are skipped unread, whatever they hold (a NUL, deep
 * nesting, escapes in keys), and escaped keys still name known members. */
START_TEST(test_unknown_members)
{
	struct exec_request req;

	expect_ok("{\"x\":\"\\u0000\",\"y\":[[[{\"a\":[1,2e5,-0.5,true,false,null]}]]],"
		  "\"c\\u006fde\":\"pass\",\"st\\u0064in\":\"\\u00e9\\ud83d\\ude00\"}", &req);
	ck_assert_str_eq(req.code, "pass");
	ck_assert_str_eq(req.stdin_data, "\xc3\xa9\xf0\x9f\x98\x80");
	exec_request_free(&req);
	expect_error("{\"code\":\"\",\"x\":01}", "[\"body\",18]", "json_invalid");
	expect_error("{\"code\":\"\",\"x\":[1,]}", "[\"body\",20]", "json_invalid");
	expect_error("{\"code\":\"\",\"x\":\"\\ud800\"}", "[\"body\",15]", "json_invalid");
	expect_error("{\"code\":\"\",\"x\":NaN}", "[\"body\",15]", "json_invalid");
	expect_error("{\"code\":\"\",\"x\":tru}", "[\"body\",18]", "json_invalid");
	/* Escaped base64 content is decoded first. */
	expect_ok("{\"code\":\"\",\"files\":{\"a\":\"eA\\u003d\\u003d\"}}", &req);
	ck_assert_uint_eq(req.files[0].len, 1);
	exec_request_free(&req);
}
END_TEST

START_TEST(test_several_errors)
{
	struct exec_request req;
	cJSON *errors = NULL;
	const char *body = "{\"files\": \"x\", \"timeout\": 0}";

	ck_assert_int_ne(api_parse_execute(body, strlen(body), &cfg, &req, &errors), 0);
	ck_assert_int_eq(cJSON_GetArraySize(errors), 3);
	cJSON_Delete(errors);
}
END_TEST

START_TEST(test_valid)
{
	struct exec_request req;

	expect_ok("\xef\xbb\xbf{\"code\":\"print(1)\",\"files\":{\"d/a.csv\":\"eCx5CjEsMgo=\"},"
		  "\"timeout\":100,\"stdin\":\"hi\",\"extra\":[1]}", &req);
	ck_assert_str_eq(req.code, "print(1)");
	ck_assert_uint_eq(req.nfiles, 1);
	ck_assert_str_eq(req.files[0].name, "d/a.csv");
	ck_assert_uint_eq(req.files[0].len, 8);
	ck_assert(memcmp(req.files[0].data, "x,y\n1,2\n", 8) == 0);
	ck_assert_int_eq(req.timeout_seconds, 100);
	ck_assert_str_eq(req.stdin_data, "hi");
	exec_request_free(&req);

	expect_ok("{\"code\":\"\",\"files\":null,\"timeout\":null,\"stdin\":null}", &req);
	ck_assert_uint_eq(req.nfiles, 0);
	ck_assert_int_eq(req.timeout_seconds, 0);
	ck_assert_ptr_null(req.stdin_data);
	exec_request_free(&req);
}
END_TEST

START_TEST(test_output_include)
{
	struct exec_request req;
	char body[2048];

	expect_ok("{\"code\":\"\"}", &req);
	ck_assert(!req.has_output_include);
	exec_request_free(&req);
	expect_ok("{\"code\":\"\",\"output_include\":null}", &req);
	ck_assert(!req.has_output_include);
	exec_request_free(&req);
	expect_ok("{\"code\":\"\",\"output_include\":[]}", &req);
	ck_assert(req.has_output_include);
	ck_assert_uint_eq(req.noutput_include, 0);
	exec_request_free(&req);
	expect_ok("{\"code\":\"\",\"output_include\":[\"*\",\"charts/*.png\"]}", &req);
	ck_assert(req.has_output_include);
	ck_assert_uint_eq(req.noutput_include, 2);
	ck_assert_str_eq(req.output_include[1], "charts/*.png");
	exec_request_free(&req);

	expect_error("{\"code\":\"\",\"output_include\":\"*\"}", "[\"body\",\"output_include\"]",
		     "list_type");
	expect_error("{\"code\":\"\",\"output_include\":[\"*\",1]}",
		     "[\"body\",\"output_include\",1]", "string_type");
	expect_error("{\"code\":\"\",\"output_include\":[\"\"]}",
		     "[\"body\",\"output_include\",0]", "string_too_short");
	(void)snprintf(body, sizeof(body), "{\"code\":\"\",\"output_include\":[\"%0128d\"]}", 0);
	expect_error(body, "[\"body\",\"output_include\",0]", "string_too_long");
	(void)snprintf(body, sizeof(body), "{\"code\":\"\",\"output_include\":[%s\"a\"]}",
		       "\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\","
		       "\"a\",\"a\",\"a\",\"a\",");
	expect_error(body, "[\"body\",\"output_include\"]", "too_long");
}
END_TEST

START_TEST(test_capture_figures)
{
	struct exec_request req;

	expect_ok("{\"code\":\"\"}", &req);
	ck_assert_int_eq(req.capture_figures, EXEC_FIGURES_DEFAULT);
	exec_request_free(&req);
	expect_ok("{\"code\":\"\",\"capture_figures\":null}", &req);
	ck_assert_int_eq(req.capture_figures, EXEC_FIGURES_DEFAULT);
	exec_request_free(&req);
	expect_ok("{\"code\":\"\",\"capture_figures\":true}", &req);
	ck_assert_int_eq(req.capture_figures, EXEC_FIGURES_ON);
	exec_request_free(&req);
	expect_ok("{\"code\":\"\",\"capture_figures\":false}", &req);
	ck_assert_int_eq(req.capture_figures, EXEC_FIGURES_OFF);
	exec_request_free(&req);
	expect_error("{\"code\":\"\",\"capture_figures\":\"yes\"}",
		     "[\"body\",\"capture_figures\"]", "bool_type");
	expect_error("{\"code\":\"\",\"capture_figures\":[]}",
		     "[\"body\",\"capture_figures\"]", "bool_type");
}
END_TEST

START_TEST(test_render)
{
	struct exec_file f = { .name = (char *)"out.csv", .data = (unsigned char *)"a,b\n", .len = 4 };
	struct exec_result res = { .success = true, .output = (char *)"2\n", .error = (char *)"",
				   .duration_ms = 12 };
	cJSON *obj = api_render_result(&res, "abcd1234");
	char *text = cJSON_PrintUnformatted(obj);

	ck_assert_str_eq(text, "{\"success\":true,\"output\":\"2\\n\",\"error\":\"\",\"exit_code\":0,"
			       "\"execution_id\":\"abcd1234\",\"output_files\":null,"
			       "\"timed_out\":false,\"oom_killed\":false,"
			       "\"output_truncated\":false,\"duration_ms\":12}");
	free(text);
	cJSON_Delete(obj);
	res.files = &f;
	res.nfiles = 1;
	obj = api_render_result(&res, "abcd1234");
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(obj, "output_files"), "out.csv")
				 ->valuestring, "YSxiCg==");
	cJSON_Delete(obj);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("api");
	TCase *tc = tcase_create("validation");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_body_shapes);
	tcase_add_test(tc, test_code);
	tcase_add_test(tc, test_files);
	tcase_add_test(tc, test_long_file_name);
	tcase_add_test(tc, test_timeout_and_stdin);
	tcase_add_test(tc, test_python_json_rules);
	tcase_add_test(tc, test_unknown_members);
	tcase_add_test(tc, test_several_errors);
	tcase_add_test(tc, test_valid);
	tcase_add_test(tc, test_output_include);
	tcase_add_test(tc, test_capture_figures);
	tcase_add_test(tc, test_render);
	suite_add_tcase(s, tc);
	return check_run(s, CK_NORMAL);
}
