/* Field accessors for JSON answers in Check tests: each asserts the field's
 * type (failing the test with the field's name) and returns its value. */
#ifndef CODEEXECD_TEST_CHECK_JSON_H
#define CODEEXECD_TEST_CHECK_JSON_H

#include <check.h>
#include <stdbool.h>

#include <cjson/cJSON.h>

static inline const char *str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	ck_assert_msg(cJSON_IsString(v), "field %s is not a string", k);
	return v->valuestring;
}

static inline bool flag(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	ck_assert_msg(cJSON_IsBool(v), "field %s is not a boolean", k);
	return cJSON_IsTrue(v);
}

static inline int num(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	ck_assert_msg(cJSON_IsNumber(v), "field %s is not a number", k);
	return v->valueint;
}

#endif
