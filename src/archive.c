/* Tar in and out with libarchive: the job archive we write for the runner,
 * and the output archive it sends back, which is hostile. The only module
 * that calls archive_*. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codeexecd/archive.h"
#include "codeexecd/limits.h"
#include "codeexecd/utf8.h"

#define PACK_FIRST_ALLOC (16 * 1024)
#define PACK_OWNER 1000

/* Puts libarchive's message in err; -ENOMEM when it ran out of memory,
 * otherwise code. */
static int lib_error(struct archive *a, const char *what, int code, char *err, size_t errlen)
{
	const char *msg = archive_error_string(a);

	if (err && errlen > 0)
		(void)snprintf(err, errlen, "%s: %s", what, msg ? msg : "unknown error");
	return archive_errno(a) == ENOMEM ? -ENOMEM : code;
}

/* --- writing ------------------------------------------------------------ */

/* The archive being written: a growing malloc'ed buffer. */
struct membuf {
	unsigned char *p;
	size_t len;
	size_t cap;
};

static la_ssize_t membuf_write(struct archive *a, void *ctx, const void *buf, size_t n)
{
	struct membuf *m = ctx;
	size_t cap = m->cap ? m->cap : PACK_FIRST_ALLOC;
	unsigned char *p;

	if (n > SIZE_MAX - m->len) {
		archive_set_error(a, EOVERFLOW, "archive too large");
		return -1;
	}
	if (m->len + n > m->cap) {
		while (cap < m->len + n)
			cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
		p = realloc(m->p, cap);
		if (!p) {
			archive_set_error(a, ENOMEM, "out of memory");
			return -1;
		}
		m->p = p;
		m->cap = cap;
	}
	memcpy(m->p + m->len, buf, n);
	m->len += n;
	return (la_ssize_t)n;
}

/* Writes one regular file: mode 0644, owner 1000:1000, mtime 0. */
static int pack_member(struct archive *a, const struct archive_member *m, char *err,
		       size_t errlen)
{
	struct archive_entry *e = archive_entry_new();
	size_t done = 0;
	int rc = 0;

	if (!e)
		return -ENOMEM;
	archive_entry_copy_pathname(e, m->name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)m->len);
	archive_entry_set_uid(e, PACK_OWNER);
	archive_entry_set_gid(e, PACK_OWNER);
	archive_entry_set_mtime(e, 0, 0);
	if (archive_write_header(a, e) < ARCHIVE_WARN) {
		rc = lib_error(a, m->name, -EIO, err, errlen);
		goto out;
	}
	while (done < m->len) {
		la_ssize_t n = archive_write_data(a, (const char *)m->data + done, m->len - done);

		if (n <= 0) {
			rc = lib_error(a, m->name, -EIO, err, errlen);
			goto out;
		}
		done += (size_t)n;
	}
out:
	archive_entry_free(e);
	return rc;
}

/* Sets up a pax writer into m. Names go out as their bytes (hdrcharset
 * BINARY) whatever the locale; the runner reads them as UTF-8. */
static int pack_open(struct archive *a, struct membuf *m, char *err, size_t errlen)
{
	if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    archive_write_set_format_option(a, "pax", "hdrcharset", "BINARY") != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
	    archive_write_open(a, m, NULL, membuf_write, NULL) != ARCHIVE_OK)
		return lib_error(a, "tar writer", -EIO, err, errlen);
	return 0;
}

int archive_pack(const struct archive_member *members, size_t n, unsigned char **out,
		 size_t *outlen, char *err, size_t errlen)
{
	return archive_pack_after(0, members, n, out, outlen, err, errlen);
}

int archive_pack_after(size_t room, const struct archive_member *members, size_t n,
		       unsigned char **out, size_t *outlen, char *err, size_t errlen)
{
	struct membuf m = { .p = room ? malloc(room) : NULL, .len = room, .cap = room };
	struct archive *a = archive_write_new();
	size_t i;
	int rc;

	if (!a || (room && !m.p)) {
		if (a)
			(void)archive_write_free(a);
		free(m.p);
		return -ENOMEM;
	}
	rc = pack_open(a, &m, err, errlen);
	for (i = 0; rc == 0 && i < n; i++)
		rc = pack_member(a, &members[i], err, errlen);
	if (rc != 0)
		goto out;
	if (archive_write_close(a) != ARCHIVE_OK) {
		rc = lib_error(a, "tar writer", -EIO, err, errlen);
		goto out;
	}
	*out = m.p;
	*outlen = m.len;
	m.p = NULL;
out:
	(void)archive_write_free(a);
	free(m.p);
	return rc;
}

/* --- reading ------------------------------------------------------------ */

/* The files taken so far from an output archive. */
struct outs {
	const struct archive_out_limits *lim;
	struct exec_file *v;
	size_t n;
	size_t cap;
	size_t total;
	bool truncated;
};

/* The name to use for a raw entry name, or NULL when it is not safe. A
 * leading "./" is dropped; then every segment must be 1..255 bytes, not "."
 * or "..", free of control characters, and the whole valid UTF-8 of at most
 * CXD_OUT_NAME_MAX bytes. A leading '/', "a//b" and a trailing '/' all make
 * an empty segment. */
static const char *safe_name(const char *raw)
{
	const char *name, *seg;
	size_t len, i;

	if (!raw)
		return NULL;
	name = strncmp(raw, "./", 2) == 0 ? raw + 2 : raw;
	len = strlen(name);
	if (len == 0 || len > CXD_OUT_NAME_MAX || !utf8_valid(name, len, NULL))
		return NULL;
	for (i = 0; i < len; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return NULL;
	for (seg = name;; seg += len + 1) {
		len = strcspn(seg, "/");
		if (len == 0 || len > CXD_OUT_SEGMENT_MAX)
			return NULL;
		if ((len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
			return NULL;
		if (seg[len] == '\0')
			return name;
	}
}

/* True when no patterns are given or name matches one (flags 0: '*' also
 * matches '/'). */
static bool matches_any(const char *const *patterns, size_t n, const char *name)
{
	size_t i;

	if (!patterns || n == 0)
		return true;
	for (i = 0; i < n; i++)
		if (patterns[i] && fnmatch(patterns[i], name, 0) == 0)
			return true;
	return false;
}

static bool included(const struct archive_out_limits *lim, const char *name)
{
	return matches_any(lim->include, lim->ninclude, name) &&
	       matches_any(lim->allow, lim->nallow, name);
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

int archive_walk_cmp(const char *a, const char *b)
{
	for (;;) {
		size_t la = strcspn(a, "/"), lb = strcspn(b, "/");
		int c = memcmp(a, b, la < lb ? la : lb);

		if (c != 0)
			return c;
		if (la != lb)
			return la < lb ? -1 : 1;
		if (!a[la] || !b[lb])
			return (a[la] != '\0') - (b[lb] != '\0');
		a += la + 1;
		b += lb + 1;
	}
}

/* The index of the file taken under the same key as name (its whole name,
 * or with by_base_name its base name), or -1. Names are kept whole while
 * reading; archive_read_outputs cuts them to base names at the end. */
static long taken(const struct outs *o, const char *name)
{
	const char *key = o->lim->by_base_name ? base_name(name) : name;
	size_t i;

	for (i = 0; i < o->n; i++) {
		const char *other = o->lim->by_base_name ? base_name(o->v[i].name) : o->v[i].name;

		if (strcmp(other, key) == 0)
			return (long)i;
	}
	return -1;
}

/* Drops file i (a base-name twin that a later file replaces). */
static void drop_file(struct outs *o, size_t i)
{
	o->total -= o->v[i].len;
	free(o->v[i].name);
	free(o->v[i].data);
	memmove(o->v + i, o->v + i + 1, (o->n - i - 1) * sizeof(*o->v));
	o->n--;
}

/* With by_base_name, the whole names become base names (unique by now). */
static int cut_to_base_names(struct outs *o)
{
	for (size_t i = 0; o->lim->by_base_name && i < o->n; i++) {
		const char *base = base_name(o->v[i].name);
		char *copy;

		if (base == o->v[i].name)
			continue;
		copy = strdup(base);
		if (!copy)
			return -ENOMEM;
		free(o->v[i].name);
		o->v[i].name = copy;
	}
	return 0;
}

/* The most bytes the next file may have: its own cap and what is left of the
 * total, kept two below SIZE_MAX so that read_data may add to it. */
static size_t room(const struct outs *o)
{
	size_t left = o->total < o->lim->max_total_bytes ? o->lim->max_total_bytes - o->total : 0;
	size_t r = o->lim->max_file_bytes < left ? o->lim->max_file_bytes : left;

	return r > SIZE_MAX - 2 ? SIZE_MAX - 2 : r;
}

/* Reads the current entry's data, at most limit bytes, without trusting its
 * declared size (hint) beyond that. Returns 0 with *out (malloc'ed, with a
 * NUL not counted in *outlen), or 0 with *over set when the data runs past
 * limit, or a negative code on an unreadable archive. */
static int read_data(struct archive *a, size_t limit, size_t hint, unsigned char **out,
		     size_t *outlen, bool *over, char *err, size_t errlen)
{
	size_t cap = (hint < limit ? hint : limit) + 1;  /* room to see limit + 1 bytes */
	size_t have = 0;
	unsigned char *buf = malloc(cap + 1), *p;
	int rc = 0;

	*over = false;
	if (!buf)
		return -ENOMEM;
	for (;;) {
		la_ssize_t n;

		if (have == cap) {
			size_t ncap = cap > (limit + 1) / 2 ? limit + 1 : cap * 2;

			p = realloc(buf, ncap + 1);
			if (!p) {
				rc = -ENOMEM;
				goto out;
			}
			buf = p;
			cap = ncap;
		}
		n = archive_read_data(a, buf + have, cap - have);
		if (n < 0) {
			rc = lib_error(a, "output archive", -EPROTO, err, errlen);
			goto out;
		}
		if (n == 0)
			break;
		have += (size_t)n;
		if (have > limit) {
			*over = true;
			goto out;
		}
	}
	buf[have] = '\0';
	*out = buf;
	*outlen = have;
	buf = NULL;
out:
	free(buf);
	return rc;
}

/* Adds a file; data is handed over (freed here on failure). */
static int add_file(struct outs *o, const char *name, unsigned char *data, size_t len)
{
	char *copy = strdup(name);
	int rc = -ENOMEM;

	if (!copy)
		goto out;
	if (o->n == o->cap) {
		size_t ncap = o->cap ? o->cap * 2 : 8;
		struct exec_file *v;

		if (ncap > SIZE_MAX / sizeof(*v))
			goto out;
		v = realloc(o->v, ncap * sizeof(*v));
		if (!v)
			goto out;
		o->v = v;
		o->cap = ncap;
	}
	o->v[o->n++] = (struct exec_file){ .name = copy, .data = data, .len = len };
	o->total += len;
	copy = NULL;
	data = NULL;
	rc = 0;
out:
	free(copy);
	free(data);
	return rc;
}

/* Takes the current entry when it qualifies; skips it otherwise. Returns 0
 * or a negative code (unreadable archive, no memory). */
static int take_entry(struct archive *a, struct archive_entry *e, struct outs *o, char *err,
		      size_t errlen)
{
	const char *name;
	la_int64_t declared = archive_entry_size(e);
	size_t limit = room(o), len = 0;
	unsigned char *data = NULL;
	bool over = false;
	long twin;
	int rc;

	if (archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e) ||
	    archive_entry_symlink(e))
		return 0;
	/* In the C locale a UTF-8 pax name stays as its bytes (ARCHIVE_WARN);
	 * safe_name checks them. */
	name = safe_name(archive_entry_pathname(e));
	if (!name || !included(o->lim, name))
		return 0;
	twin = taken(o, name);
	if (twin >= 0) {
		/* The first of two equal names wins; of two base names the one
		 * later in walk order, as the old service kept it. */
		if (!o->lim->by_base_name || archive_walk_cmp(name, o->v[twin].name) <= 0)
			return 0;
		drop_file(o, (size_t)twin);
		limit = room(o);
	}
	if (o->n >= o->lim->max_files || declared < 0 || (uint64_t)declared > limit) {
		o->truncated = true;
		return 0;
	}
	rc = read_data(a, limit, (size_t)declared, &data, &len, &over, err, errlen);
	if (rc != 0)
		return rc;
	if (over) {
		o->truncated = true;
		return 0;
	}
	return add_file(o, name, data, len);
}

static int read_all(struct archive *a, const unsigned char *tar, size_t len, struct outs *o,
		    char *err, size_t errlen)
{
	struct archive_entry *e;
	int r, rc = 0;

	if (archive_read_support_format_tar(a) != ARCHIVE_OK ||
	    archive_read_open_memory(a, tar, len) != ARCHIVE_OK)
		return lib_error(a, "output archive", -EPROTO, err, errlen);
	while (rc == 0 && (r = archive_read_next_header(a, &e)) != ARCHIVE_EOF) {
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
			return lib_error(a, "output archive", -EPROTO, err, errlen);
		rc = take_entry(a, e, o, err, errlen);
	}
	return rc;
}

int archive_read_outputs(const unsigned char *tar, size_t len,
			 const struct archive_out_limits *lim, struct exec_file **files,
			 size_t *nfiles, bool *truncated, char *err, size_t errlen)
{
	struct outs o = { .lim = lim };
	struct archive *a = NULL;
	int rc = 0;

	if (len == 0)
		goto out;               /* no archive at all: no files */
	a = archive_read_new();
	if (!a) {
		rc = -ENOMEM;
		goto out;
	}
	rc = read_all(a, tar, len, &o, err, errlen);
	if (rc != -ENOMEM && cut_to_base_names(&o) != 0)
		rc = -ENOMEM;
out:
	if (a)
		(void)archive_read_free(a);
	*files = o.v;
	*nfiles = o.n;
	*truncated = o.truncated;
	return rc;
}
