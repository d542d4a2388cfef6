/* Shared by config.c (the schema table, the sources: defaults, environment,
 * --set and the YAML file; validation and printing) and config_value.c (one
 * value: text into a typed field and back, its range check, the messages
 * about it). Private to those two files: the module's interface is
 * include/codeexecd/config.h. Nothing here is yaml_*: only config.c is. */
#ifndef CODEEXECD_CONFIG_INTERNAL_H
#define CODEEXECD_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "codeexecd/config.h"

#define CONFIG_GOT_MAX 80			/* bytes of a rejected value quoted back */
#define CONFIG_GOT_LEN (CONFIG_GOT_MAX + 8)	/* config_quote's output: quotes, "...", NUL */

enum config_key_type {
	CONFIG_KEY_INT, CONFIG_KEY_SIZE, CONFIG_KEY_DOUBLE, CONFIG_KEY_BOOL, CONFIG_KEY_STRING,
	CONFIG_KEY_ENUM, CONFIG_KEY_LIST
};

/* One key. min, max and def are doubles: every bound is an integer below
 * 2^53 or cpus' fraction, so they are exact. For strings min is the least
 * length (the most is the field's size - 1); for lists max is the number of
 * entries. The primary environment name is CODEEXECD_<SECTION>_<KEY>. */
struct config_key {
	const char *name;		/* "section.key", also the struct field */
	enum config_key_type type;
	size_t offset;			/* of the field in struct config */
	size_t size;			/* of that field */
	double min, max;
	double def;			/* numbers, booleans, enums (index) */
	const char *def_text;		/* strings; lists as "a,b" */
	const char *const *choices;	/* enums: names in enum order; max is the last */
	const char *alias;		/* the old service's environment name */
};

/* A parsed value: the member of the key's type, all at offset 0, so that
 * config_key_store can copy k->size bytes of it into the field. */
union config_value {
	int i;				/* CONFIG_KEY_INT, CONFIG_KEY_ENUM (index) */
	long l;				/* CONFIG_KEY_SIZE */
	double d;
	bool b;
	const char *str;		/* borrowed from the parsed text */
	struct string_list list;
};

/* The field of k inside cfg. */
const void *config_key_field(const struct config *cfg, const struct config_key *k);

/* Appends s to the string in buf as far as it fits. */
void config_append(char *buf, size_t len, const char *s);

/* body = "section.key: expected <what k accepts>, got <got>". */
void config_expected(const struct config_key *k, const char *got, char *body, size_t len);

/* got = the n bytes of text, quoted and clipped to CONFIG_GOT_MAX. */
void config_quote(const char *text, size_t n, char *got, size_t len);

/* Adds one entry of n bytes (not NUL-terminated) to a list of key k:
 * 0, or -EINVAL (empty, too long, a NUL inside, or the list is full). */
int config_list_add(struct string_list *list, const struct config_key *k, const char *s,
		    size_t n);

/* "a, b,c" -> three entries; "" (or blanks) -> none; an empty entry fails. */
int config_list_parse(const struct config_key *k, const char *text, struct string_list *list);

/* Copies v, a value of k's type, into k's field of cfg. */
void config_key_store(struct config *cfg, const struct config_key *k,
		      const union config_value *v);

/* Sets k from text: 0, or -EINVAL with cfg unchanged and body saying why. */
int config_key_set(struct config *cfg, const struct config_key *k, const char *text, char *body,
		   size_t len);

/* The current value of a scalar key as text that config_key_set reads back
 * (a list gives ""). */
void config_key_text(const struct config *cfg, const struct config_key *k, char *buf,
		     size_t len);

/* k's current value against its type and range: 0, or -EINVAL and body. */
int config_key_check(const struct config *cfg, const struct config_key *k, char *body,
		     size_t len);

#endif
