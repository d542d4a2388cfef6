/* Unit tests of the Host check (server.allowed_hosts) and of api.c's JSON
 * content-type rule. No server. */
#include <check.h>

#include "../check_run.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "codeexecd/api.h"
#include "codeexecd/http.h"

START_TEST(test_loopback_names)
{
	struct sockaddr_in lo = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
	struct sockaddr_in any = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0) };
	struct sockaddr_in6 lo6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	struct string_list none = { 0 };
	struct http_hosts h;

	http_hosts_init(&h, &none, (const struct sockaddr *)&lo);
	ck_assert(http_hosts_allow(&h, "localhost:8080"));
	ck_assert(http_hosts_allow(&h, "LocalHost"));
	ck_assert(http_hosts_allow(&h, "127.0.0.1:1"));
	ck_assert(http_hosts_allow(&h, "[::1]:8080"));
	ck_assert(http_hosts_allow(&h, NULL)); /* HTTP/1.0 */
	ck_assert(!http_hosts_allow(&h, "rebind.example:8080"));
	ck_assert(!http_hosts_allow(&h, "localhost.evil.example"));
	ck_assert(!http_hosts_allow(&h, ""));
	http_hosts_init(&h, &none, (const struct sockaddr *)&lo6);
	ck_assert(!http_hosts_allow(&h, "rebind.example"));
	http_hosts_init(&h, &none, (const struct sockaddr *)&any);
	ck_assert(http_hosts_allow(&h, "rebind.example"));
}
END_TEST

START_TEST(test_configured_names)
{
	struct sockaddr_in lo = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
	struct string_list list = { .n = 2, .items = { "api.internal", "[::1]" } };
	struct string_list star = { .n = 1, .items = { "*" } };
	struct http_hosts h;

	http_hosts_init(&h, &list, (const struct sockaddr *)&lo);
	ck_assert(http_hosts_allow(&h, "api.internal:8080"));
	ck_assert(http_hosts_allow(&h, "[::1]"));
	ck_assert(!http_hosts_allow(&h, "localhost"));
	http_hosts_init(&h, &star, (const struct sockaddr *)&lo);
	ck_assert(http_hosts_allow(&h, "anything"));
}
END_TEST

START_TEST(test_json_types)
{
	ck_assert(api_is_json_type("application/json"));
	ck_assert(api_is_json_type(" Application/JSON ; charset=utf-8"));
	ck_assert(api_is_json_type("application/vnd.api+json"));
	ck_assert(!api_is_json_type(NULL));
	ck_assert(!api_is_json_type(""));
	ck_assert(!api_is_json_type("text/plain"));
	ck_assert(!api_is_json_type("text/json"));
	ck_assert(!api_is_json_type("application/json/x"));
	ck_assert(!api_is_json_type("application/jsonx"));
	ck_assert(!api_is_json_type("application/x-www-form-urlencoded"));
	ck_assert(!api_is_json_type("multipart/form-data; boundary=x"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("http");
	TCase *tc = tcase_create("http");

	tcase_add_test(tc, test_loopback_names);
	tcase_add_test(tc, test_configured_names);
	tcase_add_test(tc, test_json_types);
	suite_add_tcase(s, tc);
	return check_run(s, CK_NORMAL);
}
