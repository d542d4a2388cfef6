/* API keys: the keys file, constant-time lookup, per-key limits, and new
 * keys for `codeexecd --hash-key`. The only module that calls libcrypto.
 *
 * The keys file holds one key per line, never the key itself:
 *
 *     # name   hash                                         optional limits
 *     backend  sha256:<64 hex digits of SHA-256(key)>       concurrent=4 per_minute=120
 *
 * Blank lines and lines starting with # are ignored. Names are 1..64 of
 * [A-Za-z0-9_.@-]; names and hashes are unique. concurrent= caps the key's
 * executions running or queued at once, per_minute= the executions it may
 * start in any minute (a bucket of that many, refilled evenly); 0 or absent
 * is no limit.
 *
 * A set of keys is immutable once loaded and reference-counted, so a reload
 * can replace it while requests still hold the old one. The limits' state
 * of a key (what runs, what is left of its minute) belongs to its name and
 * carries over to the new set. */
#ifndef CODEEXECD_AUTH_H
#define CODEEXECD_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#define AUTH_NAME_MAX 64
#define AUTH_KEYS_MAX 10000       /* lines of a keys file */
#define AUTH_PRESENTED_MAX 512    /* bytes of a key a client sends that we hash */

struct auth;
struct auth_key;

/* Loads path. prev (may be NULL) is the set it replaces: keys with the same
 * name keep their limits' state. 0, or a negative errno code with
 * "path:line: what" in err. The new set has one reference. */
int auth_load(struct auth **out, const char *path, const struct auth *prev, char *err,
	      size_t errlen);
/* Parses keys-file text (for tests and auth_load); name is for messages. */
int auth_parse(struct auth **out, const char *text, size_t len, const char *name,
	       const struct auth *prev, char *err, size_t errlen);
void auth_ref(struct auth *a);
/* Drops a reference; the last one frees the set. Accepts NULL. */
void auth_unref(struct auth *a);
size_t auth_count(const struct auth *a);

/* The key whose hash matches presented, or NULL. Every key is compared,
 * each in constant time, whatever matches. */
const struct auth_key *auth_find(const struct auth *a, const char *presented);
const char *auth_key_name(const struct auth_key *k);

/* Takes one execution of the key's limits: 0, or -EAGAIN with
 * *retry_after (seconds) and a reason in why. Pair a 0 with auth_release. */
int auth_admit(const struct auth_key *k, int *retry_after, char *why, size_t whylen);
void auth_release(const struct auth_key *k);

/* A new random key ("cxd_" and 64 hex digits) and its keys-file line for
 * name. 0, -EINVAL for a bad name, or -EIO without randomness. */
int auth_new_key(const char *name, char *key, size_t keylen, char *line, size_t linelen);

#endif
