/* One configuration value: text into a typed field and back, its range
 * check, and the messages that say what a key accepts. Pure: no yaml_* and
 * no I/O; the schema table and where the text comes from are config.c's.
 *
 * A setter parses into a union config_value first and stores only on
 * success, so a failed key never leaves a half-written field. Messages are
 * cut to the caller's buffer: a cut message is still useful. */
#include "codeexecd/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "codeexecd/utf8.h"

#include "config_internal.h"

_Static_assert(sizeof(long) >= 8, "sizes up to 1t need a 64-bit long");
_Static_assert(sizeof(enum log_level) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(enum log_format) == sizeof(int), "enums are stored as int");

/* --- names and messages --------------------------------------------------- */

const void *config_key_field(const struct config *cfg, const struct config_key *k)
{
	return (const char *)cfg + k->offset;
}

void config_append(char *buf, size_t len, const char *s)
{
	size_t used = strnlen(buf, len);

	if (used + 1 < len)
		(void)snprintf(buf + used, len - used, "%s", s);
}

/* "512m": the largest binary suffix that divides v exactly. */
static void format_size(long v, char *buf, size_t len)
{
	static const char units[] = "kmgt";

	for (int i = 3; i >= 0; i--) {
		long unit = 1L << (10 * (i + 1));

		if (v != 0 && v % unit == 0) {
			(void)snprintf(buf, len, "%ld%c", v / unit, units[i]);
			return;
		}
	}
	(void)snprintf(buf, len, "%ld", v);
}

/* What k accepts, after "expected ". */
static void describe(const struct config_key *k, char *buf, size_t len)
{
	char lo[32], hi[32];

	format_size((long)k->min, lo, sizeof lo);
	format_size((long)k->max, hi, sizeof hi);
	switch (k->type) {
	case CONFIG_KEY_INT:
		(void)snprintf(buf, len, "an integer from %.0f to %.0f", k->min, k->max);
		break;
	case CONFIG_KEY_SIZE:
		(void)snprintf(buf, len, "a size from %s to %s (bytes, or a number with suffix "
			       "k, m, g or t)", lo, hi);
		break;
	case CONFIG_KEY_DOUBLE:
		(void)snprintf(buf, len, "a number from %g to %g", k->min, k->max);
		break;
	case CONFIG_KEY_BOOL:
		(void)snprintf(buf, len, "true or false");
		break;
	case CONFIG_KEY_STRING:
		(void)snprintf(buf, len, "a %sUTF-8 string of at most %zu bytes",
			       k->min > 0 ? "non-empty " : "", k->size - 1);
		break;
	case CONFIG_KEY_ENUM:
		(void)snprintf(buf, len, "one of ");
		for (int i = 0; i <= (int)k->max; i++) {
			config_append(buf, len, i ? ", " : "");
			config_append(buf, len, k->choices[i]);
		}
		break;
	case CONFIG_KEY_LIST:
		(void)snprintf(buf, len, "a list of at most %.0f UTF-8 strings of 1 to %zu bytes",
			       k->max, sizeof(((struct string_list *)0)->items[0]) - 1);
		break;
	}
}

void config_expected(const struct config_key *k, const char *got, char *body, size_t len)
{
	char what[CXD_ERR_MAX / 2];

	describe(k, what, sizeof what);
	(void)snprintf(body, len, "%s: expected %s, got %s", k->name, what, got);
}

void config_quote(const char *text, size_t n, char *got, size_t len)
{
	(void)snprintf(got, len, "'%.*s%s'", n > CONFIG_GOT_MAX ? CONFIG_GOT_MAX : (int)n, text,
		       n > CONFIG_GOT_MAX ? "..." : "");
}

/* body = "section.key: expected <what>, got '<the n bytes of text>'". */
static void reject(const struct config_key *k, const char *text, size_t n, char *body,
		   size_t len)
{
	char got[CONFIG_GOT_LEN];

	config_quote(text, n, got, sizeof got);
	config_expected(k, got, body, len);
}

/* --- parsing one value ---------------------------------------------------- */

/* Digits, and for sizes an optional binary suffix k, m, g or t and an
 * optional b (Docker's convention: "512m" is 512 MiB). Overflow fails. */
static int parse_number(const char *s, bool size, long *out)
{
	static const char units[] = "kmgt";
	const char *u;
	char *end;
	long v;
	int shift = 0;

	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno == ERANGE)
		return -EINVAL;
	u = size && *end ? strchr(units, tolower((unsigned char)*end)) : NULL;
	if (u) {
		shift = 10 * (int)(u - units + 1);
		end++;
	}
	if (size && (*end == 'b' || *end == 'B'))
		end++;
	if (*end != '\0' || v > (LONG_MAX >> shift))
		return -EINVAL;
	*out = v << shift;
	return 0;
}

static int parse_double(const char *s, double *out)
{
	char *end;
	double v;

	if (s[0] == '\0' || s[strspn(s, "0123456789.eE+-")] != '\0')
		return -EINVAL;
	v = strtod(s, &end);
	if (*end != '\0' || !isfinite(v))
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_bool(const char *s, bool *out)
{
	static const char *const names[] = { "false", "true", "no", "yes", "off", "on", "0", "1" };

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (strcasecmp(s, names[i]) == 0) {
			*out = i % 2;
			return 0;
		}
	}
	return -EINVAL;
}

int config_list_add(struct string_list *list, const struct config_key *k, const char *s,
		    size_t n)
{
	if (list->n >= (size_t)k->max || n == 0 || n >= sizeof list->items[0] ||
	    memchr(s, '\0', n) || !utf8_valid(s, n, NULL))
		return -EINVAL;
	memcpy(list->items[list->n], s, n);
	list->items[list->n][n] = '\0';
	list->n++;
	return 0;
}

int config_list_parse(const struct config_key *k, const char *text, struct string_list *list)
{
	const char *p = text;

	memset(list, 0, sizeof *list);
	if (text[strspn(text, " \t")] == '\0')
		return 0;
	for (;;) {
		const char *end = p + strcspn(p, ",");
		const char *last = end;

		p += strspn(p, " \t");
		while (last > p && (last[-1] == ' ' || last[-1] == '\t'))
			last--;
		if (config_list_add(list, k, p, (size_t)(last - p)) < 0)
			return -EINVAL;
		if (*end == '\0')
			return 0;
		p = end + 1;
	}
}

/* Parses text as k's type and checks its range; stores nothing. */
static int parse_value(const struct config_key *k, const char *text, union config_value *v)
{
	long n = -1;

	switch (k->type) {
	case CONFIG_KEY_INT:
	case CONFIG_KEY_SIZE:
		if (parse_number(text, k->type == CONFIG_KEY_SIZE, &n) < 0 || n < k->min ||
		    n > k->max)
			return -EINVAL;
		if (k->type == CONFIG_KEY_INT)
			v->i = (int)n;
		else
			v->l = n;
		return 0;
	case CONFIG_KEY_DOUBLE:
		return parse_double(text, &v->d) == 0 && v->d >= k->min && v->d <= k->max ?
			0 : -EINVAL;
	case CONFIG_KEY_BOOL:
		return parse_bool(text, &v->b);
	case CONFIG_KEY_ENUM:
		for (v->i = 0; v->i <= (int)k->max; v->i++)
			if (strcasecmp(text, k->choices[v->i]) == 0)
				return 0;
		return -EINVAL;
	case CONFIG_KEY_STRING:
		/* Only text: config_print must be able to write it back as YAML. */
		v->str = text;
		return strlen(text) >= k->min && strlen(text) < k->size &&
		       utf8_valid(text, strlen(text), NULL) ? 0 : -EINVAL;
	case CONFIG_KEY_LIST:
		return config_list_parse(k, text, &v->list);
	}
	return -EINVAL;
}

void config_key_store(struct config *cfg, const struct config_key *k,
		      const union config_value *v)
{
	char *f = (char *)cfg + k->offset;

	if (k->type == CONFIG_KEY_STRING)
		memcpy(f, v->str, strlen(v->str) + 1);
	else
		memcpy(f, v, k->size);	/* the member of k's type */
}

int config_key_set(struct config *cfg, const struct config_key *k, const char *text, char *body,
		   size_t len)
{
	union config_value v;

	if (parse_value(k, text, &v) < 0) {
		reject(k, text, strlen(text), body, len);
		return -EINVAL;
	}
	config_key_store(cfg, k, &v);
	return 0;
}

/* For a double the shortest text that reads back exactly. */
void config_key_text(const struct config *cfg, const struct config_key *k, char *buf,
		     size_t len)
{
	const void *f = config_key_field(cfg, k);
	int i = k->type == CONFIG_KEY_INT || k->type == CONFIG_KEY_ENUM ? *(const int *)f : 0;

	switch (k->type) {
	case CONFIG_KEY_ENUM:
		if (i >= 0 && i <= (int)k->max) {
			(void)snprintf(buf, len, "%s", k->choices[i]);
			break;
		}
		/* fall through */
	case CONFIG_KEY_INT:
		(void)snprintf(buf, len, "%d", i);
		break;
	case CONFIG_KEY_SIZE:
		format_size(*(const long *)f, buf, len);
		break;
	case CONFIG_KEY_DOUBLE:
		(void)snprintf(buf, len, "%.15g", *(const double *)f);
		if (strtod(buf, NULL) != *(const double *)f)
			(void)snprintf(buf, len, "%.17g", *(const double *)f);
		break;
	case CONFIG_KEY_BOOL:
		(void)snprintf(buf, len, "%s", *(const bool *)f ? "true" : "false");
		break;
	case CONFIG_KEY_STRING:
		(void)snprintf(buf, len, "%.*s", (int)strnlen(f, k->size), (const char *)f);
		break;
	case CONFIG_KEY_LIST:
		buf[0] = '\0';
		break;
	}
}

/* --- checking a stored value ---------------------------------------------- */

/* A list as stored: entries within the key's limits. */
static int check_list(const struct config_key *k, const struct string_list *list, char *body,
		      size_t len)
{
	char got[CONFIG_GOT_LEN];
	union config_value copy;

	if (list->n > k->max) {
		(void)snprintf(got, sizeof got, "%zu entries", list->n);
		config_expected(k, got, body, len);
		return -EINVAL;
	}
	memset(&copy.list, 0, sizeof copy.list);
	for (size_t i = 0; i < list->n; i++) {
		size_t n = strnlen(list->items[i], sizeof list->items[i]);

		if (config_list_add(&copy.list, k, list->items[i], n) < 0) {
			reject(k, list->items[i], n, body, len);
			return -EINVAL;
		}
	}
	return 0;
}

/* Fields may have been written directly (e.g. by a command-line flag), so
 * the value goes through the same parser as text: one notion of valid. */
int config_key_check(const struct config *cfg, const struct config_key *k, char *body,
		     size_t len)
{
	char text[CXD_CONFIG_STRING_MAX + 1];
	union config_value v;

	if (k->type == CONFIG_KEY_LIST)
		return check_list(k, config_key_field(cfg, k), body, len);
	config_key_text(cfg, k, text, sizeof text);
	if (parse_value(k, text, &v) == 0)
		return 0;
	reject(k, text, strlen(text), body, len);
	return -EINVAL;
}
