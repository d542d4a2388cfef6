/* API keys (see auth.h). SHA-256 and the constant-time comparison come from
 * OpenSSL's libcrypto; this file is its only caller. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "codeexecd/auth.h"
#include "codeexecd/base64.h"

#define HASH_LEN 32
#define FILE_MAX (4L * 1024 * 1024)  /* bytes of a keys file */
#define LIMIT_MAX 1000000

/* A key's limits' state, shared by the sets that hold a key of its name. */
struct limiter {
	pthread_mutex_t mu;
	atomic_int refs;
	int active;          /* executions admitted and not released */
	double tokens;       /* left of the minute's budget */
	double refilled_at;  /* monotonic seconds */
};

struct auth_key {
	char name[AUTH_NAME_MAX + 1];
	unsigned char hash[HASH_LEN];
	int concurrent;      /* 0 = unlimited */
	int per_minute;      /* 0 = unlimited */
	struct limiter *lim;
};

struct auth {
	atomic_int refs;
	size_t n;
	struct auth_key *keys;
};

static double now_s(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int sha256(const void *data, size_t len, unsigned char out[HASH_LEN])
{
	unsigned int n = 0;

	return EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) == 1 && n == HASH_LEN ? 0 : -EIO;
}

static bool name_ok(const char *s, size_t n)
{
	if (n == 0 || n > AUTH_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '@' || c == '-'))
			return false;
	}
	return true;
}

static int parse_hash(const char *s, unsigned char out[HASH_LEN])
{
	if (strncmp(s, "sha256:", 7) != 0 || strlen(s + 7) != 2 * HASH_LEN)
		return -EINVAL;
	s += 7;
	for (int i = 0; i < HASH_LEN; i++) {
		int hi = base16_digit(s[2 * i]), lo = base16_digit(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

static int parse_limit(const char *word, struct auth_key *k)
{
	const char *eq = strchr(word, '=');
	char *end;
	long v;

	if (!eq)
		return -EINVAL;
	errno = 0;
	v = strtol(eq + 1, &end, 10);
	if (errno || end == eq + 1 || *end || v < 0 || v > LIMIT_MAX)
		return -EINVAL;
	if ((size_t)(eq - word) == 10 && strncmp(word, "concurrent", 10) == 0)
		k->concurrent = (int)v;
	else if ((size_t)(eq - word) == 10 && strncmp(word, "per_minute", 10) == 0)
		k->per_minute = (int)v;
	else
		return -EINVAL;
	return 0;
}

/* One non-comment line (modified in place) into k. */
static int parse_line(char *line, struct auth_key *k, char *why, size_t whylen)
{
	char *save = NULL, *name = strtok_r(line, " \t", &save);
	char *hash = strtok_r(NULL, " \t", &save), *w;

	memset(k, 0, sizeof(*k));
	if (!name || !name_ok(name, strlen(name))) {
		(void)snprintf(why, whylen, "expected a key name of 1..%d characters "
			       "[A-Za-z0-9_.@-]", AUTH_NAME_MAX);
		return -EINVAL;
	}
	memcpy(k->name, name, strlen(name) + 1);
	if (!hash || parse_hash(hash, k->hash) != 0) {
		(void)snprintf(why, whylen, "%s: expected sha256:<64 hex digits> after the name "
			       "(codeexecd --hash-key NAME prints a line)", k->name);
		return -EINVAL;
	}
	while ((w = strtok_r(NULL, " \t", &save))) {
		if (parse_limit(w, k) != 0) {
			(void)snprintf(why, whylen, "%s: unknown or bad limit '%.40s' (expected "
				       "concurrent=N or per_minute=N, 0..%d)", k->name, w, LIMIT_MAX);
			return -EINVAL;
		}
	}
	return 0;
}

static struct limiter *limiter_new(void)
{
	struct limiter *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	pthread_mutex_init(&l->mu, NULL);
	atomic_init(&l->refs, 1);
	l->tokens = -1; /* full at the first use */
	l->refilled_at = now_s();
	return l;
}

static void limiter_unref(struct limiter *l)
{
	if (l && atomic_fetch_sub(&l->refs, 1) == 1) {
		pthread_mutex_destroy(&l->mu);
		free(l);
	}
}

/* The limiter for k: prev's key of the same name shares its own. */
static int attach_limiter(struct auth_key *k, const struct auth *prev)
{
	for (size_t i = 0; prev && i < prev->n; i++) {
		if (strcmp(prev->keys[i].name, k->name) == 0) {
			k->lim = prev->keys[i].lim;
			atomic_fetch_add(&k->lim->refs, 1);
			return 0;
		}
	}
	k->lim = limiter_new();
	return k->lim ? 0 : -ENOMEM;
}

static int check_unique(const struct auth *a, const struct auth_key *k, char *why,
			size_t whylen)
{
	for (size_t i = 0; i < a->n; i++) {
		if (strcmp(a->keys[i].name, k->name) == 0) {
			(void)snprintf(why, whylen, "%s: duplicate key name", k->name);
			return -EINVAL;
		}
		if (memcmp(a->keys[i].hash, k->hash, HASH_LEN) == 0) {
			(void)snprintf(why, whylen, "%s: same hash as key %s", k->name,
				       a->keys[i].name);
			return -EINVAL;
		}
	}
	return 0;
}

int auth_parse(struct auth **out, const char *text, size_t len, const char *name,
	       const struct auth *prev, char *err, size_t errlen)
{
	struct auth *a = calloc(1, sizeof(*a));
	char why[256], line[1024];
	size_t pos = 0, lineno = 0;
	int rc = 0;

	if (!a)
		return -ENOMEM;
	atomic_init(&a->refs, 1);
	while (pos < len && rc == 0) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
		char *p = line;
		struct auth_key k;

		lineno++;
		if (n >= sizeof(line)) {
			(void)snprintf(err, errlen, "%s:%zu: line longer than %zu bytes", name, lineno,
				       sizeof(line) - 1);
			rc = -EINVAL;
			break;
		}
		if (memchr(text + pos, '\0', n)) {
			(void)snprintf(err, errlen, "%s:%zu: NUL byte in the line", name, lineno);
			rc = -EINVAL;
			break;
		}
		memcpy(line, text + pos, n);
		line[n] = '\0';
		pos += n + (nl ? 1 : 0);
		if (n && line[n - 1] == '\r')
			line[n - 1] = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0' || *p == '#')
			continue;
		if (a->n >= AUTH_KEYS_MAX) {
			(void)snprintf(err, errlen, "%s:%zu: more than %d keys", name, lineno,
				       AUTH_KEYS_MAX);
			rc = -EINVAL;
			break;
		}
		if (parse_line(p, &k, why, sizeof(why)) != 0 || check_unique(a, &k, why, sizeof(why))) {
			(void)snprintf(err, errlen, "%s:%zu: %s", name, lineno, why);
			rc = -EINVAL;
			break;
		}
		struct auth_key *grown = realloc(a->keys, (a->n + 1) * sizeof(*grown));
		if (!grown || attach_limiter(&k, prev) != 0) {
			if (grown)
				a->keys = grown;
			(void)snprintf(err, errlen, "%s: out of memory", name);
			rc = -ENOMEM;
			break;
		}
		a->keys = grown;
		a->keys[a->n++] = k;
	}
	if (rc != 0) {
		auth_unref(a);
		return rc;
	}
	*out = a;
	return 0;
}

int auth_load(struct auth **out, const char *path, const struct auth *prev, char *err,
	      size_t errlen)
{
	FILE *f = fopen(path, "re");
	char *text = NULL;
	size_t len = 0;
	int rc;

	if (!f) {
		rc = -errno;
		(void)snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	text = malloc(FILE_MAX + 1);
	if (!text) {
		(void)fclose(f);
		return -ENOMEM;
	}
	len = fread(text, 1, FILE_MAX + 1, f);
	if (ferror(f) || len > FILE_MAX) {
		(void)snprintf(err, errlen, "%s: %s", path,
			       ferror(f) ? "read error" : "larger than 4 MiB");
		rc = -EINVAL;
	} else {
		rc = auth_parse(out, text, len, path, prev, err, errlen);
	}
	free(text);
	(void)fclose(f);
	return rc;
}

void auth_ref(struct auth *a)
{
	if (a)
		atomic_fetch_add(&a->refs, 1);
}

void auth_unref(struct auth *a)
{
	if (!a || atomic_fetch_sub(&a->refs, 1) != 1)
		return;
	for (size_t i = 0; i < a->n; i++)
		limiter_unref(a->keys[i].lim);
	free(a->keys);
	free(a);
}

size_t auth_count(const struct auth *a)
{
	return a ? a->n : 0;
}

const struct auth_key *auth_find(const struct auth *a, const char *presented)
{
	unsigned char h[HASH_LEN];
	size_t len = strnlen(presented, AUTH_PRESENTED_MAX + 1);
	const struct auth_key *found = NULL;

	if (!a || len == 0 || len > AUTH_PRESENTED_MAX || sha256(presented, len, h) != 0)
		return NULL;
	/* Every key is compared in full; which one matched decides nothing
	 * about how long the loop takes. */
	for (size_t i = 0; i < a->n; i++) {
		int diff = CRYPTO_memcmp(h, a->keys[i].hash, HASH_LEN);
		if (diff == 0)
			found = &a->keys[i];
	}
	return found;
}

const char *auth_key_name(const struct auth_key *k)
{
	return k->name;
}

int auth_admit(const struct auth_key *k, int *retry_after, char *why, size_t whylen)
{
	struct limiter *l = k->lim;
	double now = now_s();
	int rc = 0;

	pthread_mutex_lock(&l->mu);
	if (k->per_minute > 0) {
		double rate = k->per_minute / 60.0;
		if (l->tokens < 0 || l->tokens > k->per_minute)
			l->tokens = k->per_minute; /* first use, or a lowered limit */
		l->tokens += (now - l->refilled_at) * rate;
		if (l->tokens > k->per_minute)
			l->tokens = k->per_minute;
	}
	l->refilled_at = now;
	if (k->concurrent > 0 && l->active >= k->concurrent) {
		*retry_after = 1;
		(void)snprintf(why, whylen, "API key '%s' has %d executions at once, its limit; "
			       "retry later", k->name, l->active);
		rc = -EAGAIN;
	} else if (k->per_minute > 0 && l->tokens < 1) {
		int wait = (int)((1 - l->tokens) / (k->per_minute / 60.0)) + 1;
		*retry_after = wait < 1 ? 1 : wait > 60 ? 60 : wait;
		(void)snprintf(why, whylen, "API key '%s' reached its limit of %d executions per "
			       "minute; retry later", k->name, k->per_minute);
		rc = -EAGAIN;
	} else {
		l->active++;
		if (k->per_minute > 0)
			l->tokens -= 1;
	}
	pthread_mutex_unlock(&l->mu);
	return rc;
}

void auth_release(const struct auth_key *k)
{
	pthread_mutex_lock(&k->lim->mu);
	if (k->lim->active > 0)
		k->lim->active--;
	pthread_mutex_unlock(&k->lim->mu);
}

int auth_new_key(const char *name, char *key, size_t keylen, char *line, size_t linelen)
{
	unsigned char raw[32], h[HASH_LEN];
	char hex[2 * HASH_LEN + 1];
	size_t got = 0;

	if (!name_ok(name, strlen(name)))
		return -EINVAL;
	while (got < sizeof(raw)) {
		ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
		if (n < 0 && errno != EINTR)
			return -EIO;
		if (n > 0)
			got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof(raw); i++)
		(void)snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	if ((size_t)snprintf(key, keylen, "cxd_%s", hex) >= keylen)
		return -EINVAL;
	if (sha256(key, strlen(key), h) != 0)
		return -EIO;
	for (size_t i = 0; i < HASH_LEN; i++)
		(void)snprintf(hex + 2 * i, 3, "%02x", h[i]);
	if ((size_t)snprintf(line, linelen, "%s sha256:%s", name, hex) >= linelen)
		return -EINVAL;
	OPENSSL_cleanse(raw, sizeof(raw));
	return 0;
}
