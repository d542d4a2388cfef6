/* Unit tests of src/archive.c. The hostile archives are made here with
 * libarchive's writer (pax, names as raw bytes), then read back through
 * archive_read_outputs. */
#include <archive.h>
#include <archive_entry.h>
#include <check.h>

#include "../check_run.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codeexecd/archive.h"
#include "codeexecd/execution.h"
#include "codeexecd/limits.h"

#define TAR_MAX (1024 * 1024)

/* One entry of a test archive. */
struct ent {
	const char *name;
	unsigned type;      /* AE_IF*; 0: a regular file */
	const char *data;   /* NULL: size bytes of 'x' */
	size_t size;        /* 0 with data: strlen(data) */
	const char *link;   /* symlink target, or hard link target for AE_IFREG */
};

static void write_ent(struct archive *a, const struct ent *t)
{
	struct archive_entry *e = archive_entry_new();
	size_t size = t->data && t->size == 0 ? strlen(t->data) : t->size;
	char *fill = NULL;

	archive_entry_copy_pathname(e, t->name);
	archive_entry_set_filetype(e, t->type ? t->type : AE_IFREG);
	archive_entry_set_perm(e, 0644);
	if (t->type == AE_IFLNK)
		archive_entry_copy_symlink(e, t->link);
	else if (t->link)
		archive_entry_copy_hardlink(e, t->link);
	if (t->type == AE_IFCHR)
		archive_entry_set_rdev(e, 0x0103);
	if (!t->type && !t->link)
		archive_entry_set_size(e, (la_int64_t)size);
	ck_assert_msg(archive_write_header(a, e) == ARCHIVE_OK, "%s: %s", t->name,
		      archive_error_string(a));
	if (!t->type && !t->link && size > 0) {
		fill = malloc(size);
		ck_assert_ptr_nonnull(fill);
		memset(fill, 'x', size);
		ck_assert_int_eq(archive_write_data(a, t->data ? t->data : fill, size),
				 (la_ssize_t)size);
	}
	free(fill);
	archive_entry_free(e);
}

/* A malloc'ed archive of n entries in the given libarchive format. */
static unsigned char *tar_fmt(const struct ent *ents, size_t n, size_t *len, int format)
{
	struct archive *a = archive_write_new();
	unsigned char *buf = malloc(TAR_MAX);
	size_t used = 0, i;

	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(archive_write_set_format(a, format), ARCHIVE_OK);
	if (format == ARCHIVE_FORMAT_TAR_PAX_RESTRICTED)
		ck_assert_int_eq(archive_write_set_format_option(a, "pax", "hdrcharset", "BINARY"),
				 ARCHIVE_OK);
	ck_assert_int_eq(archive_write_set_bytes_in_last_block(a, 1), ARCHIVE_OK);
	ck_assert_int_eq(archive_write_open_memory(a, buf, TAR_MAX, &used), ARCHIVE_OK);
	for (i = 0; i < n; i++)
		write_ent(a, &ents[i]);
	ck_assert_int_eq(archive_write_close(a), ARCHIVE_OK);
	ck_assert_int_eq(archive_write_free(a), ARCHIVE_OK);
	*len = used;
	return buf;
}

static unsigned char *tar_of(const struct ent *ents, size_t n, size_t *len)
{
	return tar_fmt(ents, n, len, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
}

static const struct archive_out_limits small = {
	.max_files = 10, .max_file_bytes = 1000, .max_total_bytes = 3000,
};

/* What archive_read_outputs gave back. */
struct got {
	int rc;
	struct exec_file *f;
	size_t n;
	bool truncated;
	char err[CXD_ERR_MAX];
};

static void read_back(const unsigned char *tar, size_t len, const struct archive_out_limits *lim,
		      struct got *g)
{
	memset(g, 0, sizeof(*g));
	g->truncated = true;    /* must be overwritten */
	g->n = 99;
	g->rc = archive_read_outputs(tar, len, lim, &g->f, &g->n, &g->truncated, g->err,
				     sizeof(g->err));
	if (g->n == 0)
		ck_assert_ptr_null(g->f);
}

static void read_ents(const struct ent *ents, size_t n, const struct archive_out_limits *lim,
		      struct got *g)
{
	size_t len;
	unsigned char *tar = tar_of(ents, n, &len);

	read_back(tar, len, lim, g);
	free(tar);
}

static void got_free(struct got *g)
{
	exec_files_free(g->f, g->n);
	g->f = NULL;
	g->n = 0;
}

/* The names taken, joined with ',' in order. */
static const char *names(const struct got *g)
{
	static char buf[8192];
	size_t i;

	buf[0] = '\0';
	for (i = 0; i < g->n; i++) {
		if (i > 0)
			strcat(buf, ",");
		ck_assert_uint_lt(strlen(buf) + strlen(g->f[i].name), sizeof(buf) - 2);
		strcat(buf, g->f[i].name);
		ck_assert_int_eq(g->f[i].data[g->f[i].len], '\0');
	}
	return buf;
}

START_TEST(round_trip)
{
	static const unsigned char bin[] = { 0, 1, 2, 0xff, 0, 'z' };
	char long_name[201];
	struct archive_member m[] = {
		{ "job.json", "{\"a\": 1}", 8 },
		{ "empty", "", 0 },
		{ "files/sub/dir/bin.dat", bin, sizeof(bin) },
		{ "files/\xc3\xa9t\xc3\xa9.csv", "a,b\n1,2\n", 8 },
		{ long_name, "long", 4 },
	};
	static const struct archive_out_limits big = {
		.max_files = 64, .max_file_bytes = 1 << 20, .max_total_bytes = 1 << 22,
	};
	unsigned char *tar = NULL;
	size_t len = 0, i;
	char err[CXD_ERR_MAX] = "";
	struct got g;

	memset(long_name, 'n', 200);
	long_name[200] = '\0';
	long_name[100] = '/';
	ck_assert_int_eq(archive_pack(m, 5, &tar, &len, err, sizeof(err)), 0);
	ck_assert_uint_eq(len % 512, 0);
	read_back(tar, len, &big, &g);
	ck_assert_int_eq(g.rc, 0);
	ck_assert(!g.truncated);
	ck_assert_uint_eq(g.n, 5);
	for (i = 0; i < 5; i++) {
		ck_assert_str_eq(g.f[i].name, m[i].name);
		ck_assert_uint_eq(g.f[i].len, m[i].len);
		ck_assert_mem_eq(g.f[i].data, m[i].data, m[i].len);
		ck_assert_int_eq(g.f[i].data[m[i].len], '\0');
	}
	got_free(&g);
	free(tar);
}
END_TEST

/* Mode 0644, owner 1000:1000, mtime 0, regular files only. */
START_TEST(pack_metadata)
{
	struct archive_member m[] = { { "a/b.txt", "hi", 2 }, { "c", "", 0 } };
	unsigned char *tar = NULL;
	size_t len = 0;
	char err[CXD_ERR_MAX] = "";
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	int n = 0;

	ck_assert_int_eq(archive_pack(m, 2, &tar, &len, err, sizeof(err)), 0);
	ck_assert_int_eq(archive_read_support_format_tar(a), ARCHIVE_OK);
	ck_assert_int_eq(archive_read_open_memory(a, tar, len), ARCHIVE_OK);
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		ck_assert_str_eq(archive_entry_pathname(e), m[n].name);
		ck_assert_int_eq(archive_entry_filetype(e), AE_IFREG);
		ck_assert_int_eq(archive_entry_perm(e), 0644);
		ck_assert_int_eq(archive_entry_uid(e), 1000);
		ck_assert_int_eq(archive_entry_gid(e), 1000);
		ck_assert_int_eq(archive_entry_mtime(e), 0);
		ck_assert_int_eq(archive_entry_size(e), (la_int64_t)m[n].len);
		n++;
	}
	ck_assert_int_eq(n, 2);
	(void)archive_read_free(a);
	free(tar);
}
END_TEST

/* Room in front for the caller's header: the same archive follows it,
 * byte for byte, and the length counts the room. */
START_TEST(pack_after_room)
{
	struct archive_member m[] = { { "job.json", "{}", 2 }, { "main.py", "print(1)\n", 9 } };
	unsigned char *plain = NULL, *roomy = NULL;
	size_t plain_len = 0, roomy_len = 0;
	char err[CXD_ERR_MAX] = "";

	ck_assert_int_eq(archive_pack(m, 2, &plain, &plain_len, err, sizeof(err)), 0);
	ck_assert_int_eq(archive_pack_after(12, m, 2, &roomy, &roomy_len, err, sizeof(err)), 0);
	ck_assert_uint_eq(roomy_len, plain_len + 12);
	ck_assert_mem_eq(roomy + 12, plain, plain_len);
	free(plain);
	free(roomy);
}
END_TEST

START_TEST(pack_nothing)
{
	unsigned char *tar = NULL;
	size_t len = 0;
	char err[CXD_ERR_MAX] = "";
	struct got g;

	ck_assert_int_eq(archive_pack(NULL, 0, &tar, &len, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(tar);
	ck_assert_uint_gt(len, 0);
	read_back(tar, len, &small, &g);
	ck_assert_int_eq(g.rc, 0);
	ck_assert_uint_eq(g.n, 0);
	ck_assert(!g.truncated);
	free(tar);
}
END_TEST

START_TEST(empty_input)
{
	struct got g;

	read_back((const unsigned char *)"", 0, &small, &g);
	ck_assert_int_eq(g.rc, 0);
	ck_assert_uint_eq(g.n, 0);
	ck_assert(!g.truncated);
}
END_TEST

START_TEST(special_entries_skipped)
{
	static const struct ent e[] = {
		{ .name = "link.csv", .type = AE_IFLNK, .link = "/etc/passwd" },
		{ .name = "ok.csv", .data = "real" },
		{ .name = "hard.csv", .link = "ok.csv" },
		{ .name = "hard2.csv", .link = "/etc/shadow" },
		{ .name = "tty.csv", .type = AE_IFCHR },
		{ .name = "disk.csv", .type = AE_IFBLK },
		{ .name = "fifo.csv", .type = AE_IFIFO },
		{ .name = "dir.csv", .type = AE_IFDIR },
		{ .name = "sub/", .type = AE_IFDIR },
	};
	struct got g;

	read_ents(e, sizeof(e) / sizeof(e[0]), &small, &g);
	ck_assert_int_eq(g.rc, 0);
	ck_assert_str_eq(names(&g), "ok.csv");
	ck_assert_mem_eq(g.f[0].data, "real", 4);
	ck_assert(!g.truncated);
	got_free(&g);
}
END_TEST

START_TEST(unsafe_names_skipped)
{
	static const struct archive_out_limits many = {
		.max_files = 64, .max_file_bytes = 1000, .max_total_bytes = 3000,
	};
	static char seg256[300], too_long[CXD_OUT_NAME_MAX + 10];
	struct ent e[] = {
		{ .name = "/etc/passwd", .data = "x" },  { .name = "../x", .data = "x" },
		{ .name = "a/../../x", .data = "x" },    { .name = "a/..", .data = "x" },
		{ .name = "..", .data = "x" },           { .name = ".", .data = "x" },
		{ .name = "a/./b", .data = "x" },        { .name = "a//b", .data = "x" },
		{ .name = ".//x", .data = "x" },         { .name = "././x", .data = "x" },
		{ .name = "x\x01y", .data = "x" },       { .name = "new\nline", .data = "x" },
		{ .name = "del\x7f", .data = "x" },      { .name = "tab\tx", .data = "x" },
		{ .name = "\xff.csv", .data = "x" },     { .name = "\xc0\xaf", .data = "x" },
		{ .name = "\xed\xa0\x80.csv", .data = "x" }, { .name = "cut\xc3", .data = "x" },
		{ .name = seg256, .data = "x" },         { .name = too_long, .data = "x" },
		{ .name = "./" },                        { .name = "file/" },
		{ .name = "a\\..\\..\\x", .data = "ok" },
	};
	struct got g;
	size_t i;

	memset(seg256, 's', 256);
	/* 4097 bytes in segments of 200 and a slash. */
	memset(too_long, 'd', CXD_OUT_NAME_MAX + 1);
	for (i = 200; i < CXD_OUT_NAME_MAX; i += 201)
		too_long[i] = '/';
	read_ents(e, sizeof(e) / sizeof(e[0]), &many, &g);
	ck_assert_int_eq(g.rc, 0);
	/* Backslashes are plain characters on Linux. */
	ck_assert_str_eq(names(&g), "a\\..\\..\\x");
	ck_assert(!g.truncated);
	got_free(&g);
}
END_TEST

START_TEST(safe_names_kept)
{
	static char seg255[300], longest[CXD_OUT_NAME_MAX + 1];
	struct ent e[] = {
		{ .name = "./ok.csv", .data = "a" },
		{ .name = "sub/dir/x.csv", .data = "b" },
		{ .name = "\xc3\xa9t\xc3\xa9 \xe2\x82\xac.txt", .data = "c" },
		{ .name = ".hidden", .data = "d" },
		{ .name = "..dots..", .data = "e" },
		{ .name = seg255, .data = "f" },
		{ .name = longest, .data = "g" },
	};
	struct got g;
	size_t i;

	memset(seg255, 's', 255);
	memset(longest, 'l', CXD_OUT_NAME_MAX);
	for (i = 200; i < CXD_OUT_NAME_MAX; i += 201)
		longest[i] = '/';
	read_ents(e, sizeof(e) / sizeof(e[0]), &small, &g);
	ck_assert_int_eq(g.rc, 0);
	ck_assert_uint_eq(g.n, 7);
	ck_assert_str_eq(g.f[0].name, "ok.csv");
	for (i = 1; i < 7; i++)
		ck_assert_str_eq(g.f[i].name, e[i].name);
	got_free(&g);
}
END_TEST

START_TEST(file_cap)
{
	static const struct ent e[] = {
		{ .name = "big.bin", .size = 1001 },
		{ .name = "exact.bin", .size = 1000 },
		{ .name = "empty.bin", .size = 0 },
	};
	struct got g;

	read_ents(e, 3, &small, &g);
	ck_assert_int_eq(g.rc, 0);
	ck_assert_str_eq(names(&g), "exact.bin,empty.bin");
	ck_assert_uint_eq(g.f[0].len, 1000);
	ck_assert_uint_eq(g.f[1].len, 0);
	ck_assert(g.truncated);
	got_free(&g);
}
END_TEST

START_TEST(too_many_files)
{
	struct ent e[12];
	char name[12][8];
	struct got g;
	size_t i;

	for (i = 0; i < 12; i++) {
		snprintf(name[i], sizeof(name[i]), "f%02zu", i);
		e[i] = (struct ent){ .name = name[i], .data = name[i] };
	}
	read_ents(e, 12, &small, &g);
	ck_assert_int_eq(g.rc, 0);
	ck_assert_uint_eq(g.n, 10);
	ck_assert_str_eq(g.f[9].name, "f09");
	ck_assert(g.truncated);
	got_free(&g);

	read_ents(e, 10, &small, &g);
	ck_assert_uint_eq(g.n, 10);
	ck_assert(!g.truncated);
	got_free(&g);
}
END_TEST

START_TEST(total_cap)
{
	static const struct ent e[] = {
		{ .name = "a", .size = 900 }, { .name = "b", .size = 900 },
		{ .name = "c", .size = 900 }, { .name = "d", .size = 900 },
		{ .name = "e", .size = 301 }, { .name = "f", .size = 300 },
		{ .name = "g", .size = 1 },   { .name = "h", .size = 0 },
	};
	struct got g;
	size_t i, total = 0;

	read_ents(e, sizeof(e) / sizeof(e[0]), &small, &g);
	ck_assert_int_eq(g.rc, 0);
	ck_assert_str_eq(names(&g), "a,b,c,f,h");
	for (i = 0; i < g.n; i++)
		total += g.f[i].len;
	ck_assert_uint_eq(total, 3000);
	ck_assert(g.truncated);
	got_free(&g);
}
END_TEST

START_TEST(include_patterns)
{
	static const char *const pats[] = { "*.csv", "data/*.json" };
	static const struct ent e[] = {
		{ .name = "a.csv", .data = "1" },       { .name = "b.txt", .data = "2" },
		{ .name = "sub/x.csv", .data = "3" },   { .name = "data/y.json", .data = "4" },
		{ .name = "y.json", .data = "5" },      { .name = "data/deep/z.json", .data = "6" },
		{ .name = "./c.csv", .data = "7" },     { .name = "csv", .data = "8" },
	};
	struct archive_out_limits lim = small;
	struct got g;

	lim.include = pats;
	lim.ninclude = 2;
	read_ents(e, sizeof(e) / sizeof(e[0]), &lim, &g);
	ck_assert_int_eq(g.rc, 0);
	/* flags 0: '*' matches '/' too. */
	ck_assert_str_eq(names(&g), "a.csv,sub/x.csv,data/y.json,data/deep/z.json,c.csv");
	ck_assert(!g.truncated);
	got_free(&g);

	/* Patterns given but none: everything. */
	lim.ninclude = 0;
	read_ents(e, sizeof(e) / sizeof(e[0]), &lim, &g);
	ck_assert_uint_eq(g.n, 8);
	got_free(&g);
}
END_TEST

/* Files left out by the patterns do not count against the caps. */
START_TEST(excluded_files_not_counted)
{
	static const char *const pats[] = { "*.csv" };
	static const struct ent e[] = {
		{ .name = "huge.log", .size = 5000 }, { .name = "a.csv", .size = 1000 },
	};
	struct archive_out_limits lim = small;
	struct got g;

	lim.include = pats;
	lim.ninclude = 1;
	read_ents(e, 2, &lim, &g);
	ck_assert_str_eq(names(&g), "a.csv");
	ck_assert(!g.truncated);
	got_free(&g);
}
END_TEST

START_TEST(duplicates_keep_first)
{
	static const struct ent e[] = {
		{ .name = "d.csv", .data = "first" },
		{ .name = "d.csv", .data = "second" },
		{ .name = "./d.csv", .data = "third" },
		{ .name = "e.csv", .data = "other" },
	};
	struct got g;

	read_ents(e, 4, &small, &g);
	ck_assert_int_eq(g.rc, 0);
	ck_assert_str_eq(names(&g), "d.csv,e.csv");
	ck_assert_uint_eq(g.f[0].len, 5);
	ck_assert_mem_eq(g.f[0].data, "first", 5);
	ck_assert(!g.truncated);
	got_free(&g);
}
END_TEST

/* The old service's keys: base names, of twins the later in walk order
 * (depth first, entries in byte order), whatever order the tar has. */
START_TEST(base_names_last_in_walk_order)
{
	static const char *const csv[] = { "*.csv" };
	static const struct ent e[] = {
		{ .name = "dup.csv", .data = "top" },
		{ .name = "a/dup.csv", .data = "a" },     /* "a" < "dup.csv": walked before */
		{ .name = "z/dup.csv", .data = "z" },     /* "z" > "dup.csv": walked after */
		{ .name = "z/b/dup.csv", .data = "zb" },  /* "b" < "dup.csv" inside z/ */
		{ .name = "notes.txt", .data = "no" },
		{ .name = "sub/deep.csv", .data = "deep" },
		{ .name = "x.CSV", .data = "case" },
	};
	struct archive_out_limits lim = small;
	struct got g;

	lim.allow = csv;
	lim.nallow = 1;
	lim.by_base_name = true;
	read_ents(e, sizeof(e) / sizeof(e[0]), &lim, &g);
	ck_assert_int_eq(g.rc, 0);
	ck_assert_str_eq(names(&g), "dup.csv,deep.csv");
	ck_assert_mem_eq(g.f[0].data, "z", 2);    /* z/dup.csv, with its NUL */
	ck_assert_mem_eq(g.f[1].data, "deep", 5);
	ck_assert(!g.truncated);
	got_free(&g);
}
END_TEST

/* A replaced twin's bytes no longer count against the total. */
START_TEST(base_name_twin_frees_its_room)
{
	static const char *const csv[] = { "*.csv" };
	static const struct ent e[] = {
		{ .name = "a/t.csv", .size = 1000 }, { .name = "b/t.csv", .size = 1000 },
		{ .name = "c/t.csv", .size = 1000 }, { .name = "u.csv", .size = 1000 },
		{ .name = "v.csv", .size = 1000 },
	};
	struct archive_out_limits lim = small;  /* 3000 bytes in all */
	struct got g;

	lim.allow = csv;
	lim.nallow = 1;
	lim.by_base_name = true;
	read_ents(e, 5, &lim, &g);
	ck_assert_str_eq(names(&g), "t.csv,u.csv,v.csv");
	ck_assert(!g.truncated);
	got_free(&g);
}
END_TEST

/* include and allow must both match. */
START_TEST(allow_bounds_include)
{
	static const char *const inc[] = { "*" };
	static const char *const allow[] = { "*.csv", "charts/*" };
	static const struct ent e[] = {
		{ .name = "a.csv", .data = "1" }, { .name = "b.txt", .data = "2" },
		{ .name = "charts/r.png", .data = "3" }, { .name = "sub/a.csv", .data = "4" },
	};
	struct archive_out_limits lim = small;
	struct got g;

	lim.include = inc;
	lim.ninclude = 1;
	lim.allow = allow;
	lim.nallow = 2;
	read_ents(e, 4, &lim, &g);
	ck_assert_str_eq(names(&g), "a.csv,charts/r.png,sub/a.csv");
	got_free(&g);
}
END_TEST

START_TEST(walk_order)
{
	ck_assert_int_lt(archive_walk_cmp("a/dup.csv", "dup.csv"), 0);
	ck_assert_int_gt(archive_walk_cmp("z/dup.csv", "dup.csv"), 0);
	ck_assert_int_lt(archive_walk_cmp("a/x", "a.csv"), 0);  /* "a" < "a.csv" */
	/* "a" < "a-b" in the directory, although "a-b/x" < "a/x" as strings */
	ck_assert_int_gt(archive_walk_cmp("a-b/x", "a/x"), 0);
	ck_assert_int_lt(archive_walk_cmp("B", "a"), 0);        /* bytes, not locale */
	ck_assert_int_eq(archive_walk_cmp("s/t.csv", "s/t.csv"), 0);
	ck_assert_int_lt(archive_walk_cmp("s", "s/t.csv"), 0);
}
END_TEST

/* Where the first run of 100 'x' at or after from starts (file data). */
static size_t find_data(const unsigned char *tar, size_t len, size_t from)
{
	size_t run = 0, i;

	for (i = from; i < len; i++) {
		run = tar[i] == 'x' ? run + 1 : 0;
		if (run == 100)
			return i - 99;
	}
	ck_abort_msg("no file data after %zu", from);
	return len;
}

/* An archive cut short: an error, with the files read before the cut. */
START_TEST(truncated_archive)
{
	static const struct ent e[] = {
		{ .name = "a.csv", .data = "complete" },
		{ .name = "b.csv", .size = 900 },
		{ .name = "c.csv", .size = 2000 },      /* over the cap: skipped unread */
	};
	size_t len, b_data, c_data, i;
	unsigned char *tar = tar_of(e, 3, &len);
	size_t cuts[3];
	struct got g;

	b_data = find_data(tar, len, 0);
	c_data = find_data(tar, len, b_data + 1024);    /* b's 900 bytes take 1024 */
	cuts[0] = b_data + 100;       /* inside b's data */
	cuts[1] = b_data - 300;       /* inside b's header */
	cuts[2] = c_data + 700;       /* inside c's data, which is skipped */
	for (i = 0; i < 3; i++) {
		read_back(tar, cuts[i], &small, &g);
		ck_assert_int_eq(g.rc, -EPROTO);
		ck_assert_str_ne(g.err, "");
		ck_assert_str_eq(names(&g), i < 2 ? "a.csv" : "a.csv,b.csv");
		ck_assert_mem_eq(g.f[0].data, "complete", 8);
		got_free(&g);
	}
	free(tar);
}
END_TEST

START_TEST(garbage)
{
	unsigned char junk[4096];
	struct got g;
	size_t i;

	srand(7);
	for (i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)rand();
	read_back(junk, sizeof(junk), &small, &g);
	ck_assert_int_eq(g.rc, -EPROTO);
	ck_assert_uint_eq(g.n, 0);
	ck_assert_str_ne(g.err, "");

	read_back((const unsigned char *)"hello, world", 12, &small, &g);
	ck_assert_int_eq(g.rc, -EPROTO);
	ck_assert_uint_eq(g.n, 0);
}
END_TEST

/* ustar, GNU and full pax archives read as well (long names included). */
START_TEST(other_tar_formats)
{
	static const int formats[] = {
		ARCHIVE_FORMAT_TAR_USTAR, ARCHIVE_FORMAT_TAR_GNUTAR, ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE,
	};
	static char long_name[180];
	struct ent e[] = {
		{ .name = "plain.csv", .data = "p" },
		{ .name = long_name, .data = "l" },
	};
	size_t i;

	memset(long_name, 'q', 170);
	long_name[80] = '/';
	for (i = 0; i < 3; i++) {
		size_t len;
		unsigned char *tar = tar_fmt(e, 2, &len, formats[i]);
		struct got g;

		read_back(tar, len, &small, &g);
		ck_assert_int_eq(g.rc, 0);
		ck_assert_uint_eq(g.n, 2);
		ck_assert_str_eq(g.f[1].name, long_name);
		got_free(&g);
		free(tar);
	}
}
END_TEST

START_TEST(free_accepts_null)
{
	struct exec_request req = { 0 };
	struct exec_result res = { 0 };

	exec_files_free(NULL, 3);
	exec_request_free(NULL);
	exec_result_free(NULL);
	exec_request_free(&req);
	exec_result_free(&res);
}
END_TEST

START_TEST(result_free_zeroes)
{
	struct exec_result res = { .exit_code = 3, .success = true };

	res.output = strdup("out");
	res.error = strdup("err");
	res.files = calloc(2, sizeof(*res.files));
	res.nfiles = 2;
	res.files[0].name = strdup("a");
	res.files[0].data = malloc(4);
	res.files[1].name = strdup("b");
	exec_result_free(&res);
	ck_assert_ptr_null(res.output);
	ck_assert_ptr_null(res.files);
	ck_assert_uint_eq(res.nfiles, 0);
	ck_assert_int_eq(res.exit_code, 0);
}
END_TEST

START_TEST(exec_ids)
{
	char a[CXD_EXEC_ID_LEN + 1], b[CXD_EXEC_ID_LEN + 1];
	size_t i;

	exec_id_new(a);
	exec_id_new(b);
	ck_assert_uint_eq(strlen(a), CXD_EXEC_ID_LEN);
	ck_assert_uint_eq(strspn(a, "0123456789abcdef"), CXD_EXEC_ID_LEN);
	ck_assert_uint_eq(strspn(b, "0123456789abcdef"), CXD_EXEC_ID_LEN);
	ck_assert_str_ne(a, b);   /* 1 in 2^32 */
	for (i = 0; i < 100; i++)
		exec_id_new(a);
}
END_TEST

static Suite *archive_suite(void)
{
	Suite *s = suite_create("archive");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, round_trip);
	tcase_add_test(tc, pack_metadata);
	tcase_add_test(tc, pack_nothing);
	tcase_add_test(tc, pack_after_room);
	tcase_add_test(tc, empty_input);
	tcase_add_test(tc, special_entries_skipped);
	tcase_add_test(tc, unsafe_names_skipped);
	tcase_add_test(tc, safe_names_kept);
	tcase_add_test(tc, file_cap);
	tcase_add_test(tc, too_many_files);
	tcase_add_test(tc, total_cap);
	tcase_add_test(tc, include_patterns);
	tcase_add_test(tc, excluded_files_not_counted);
	tcase_add_test(tc, duplicates_keep_first);
	tcase_add_test(tc, base_names_last_in_walk_order);
	tcase_add_test(tc, base_name_twin_frees_its_room);
	tcase_add_test(tc, allow_bounds_include);
	tcase_add_test(tc, walk_order);
	tcase_add_test(tc, truncated_archive);
	tcase_add_test(tc, garbage);
	tcase_add_test(tc, other_tar_formats);
	tcase_add_test(tc, free_accepts_null);
	tcase_add_test(tc, result_free_zeroes);
	tcase_add_test(tc, exec_ids);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(archive_suite(), CK_NORMAL);
}
