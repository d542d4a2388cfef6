/* Tar in and out with libarchive, treating every entry read as hostile.
 * The only module that calls archive_*. */
#ifndef CODEEXECD_ARCHIVE_H
#define CODEEXECD_ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>

#include "codeexecd/execution.h"

struct archive_member {
	const char *name;          /* path inside the archive */
	const void *data;
	size_t len;
};

/* Builds a pax (restricted: ustar headers where they suffice) archive of
 * regular files in memory: mode 0644, owner 1000:1000, mtime 0, names
 * written as their bytes (hdrcharset=BINARY), no directory entries. *out is
 * malloc'ed and handed to the caller. Returns 0 or a negative errno code
 * with err filled. */
int archive_pack(const struct archive_member *members, size_t n, unsigned char **out,
		 size_t *outlen, char *err, size_t errlen);
/* The same after room bytes that the caller fills (a header: the whole
 * goes out in one write); *outlen counts them. */
int archive_pack_after(size_t room, const struct archive_member *members, size_t n,
		       unsigned char **out, size_t *outlen, char *err, size_t errlen);

struct archive_out_limits {
	size_t max_files;
	size_t max_file_bytes;
	size_t max_total_bytes;
	const char *const *include; /* fnmatch patterns on the name; NULL or none = all */
	size_t ninclude;
	const char *const *allow;   /* a second set the name must also match; none = all */
	size_t nallow;
	/* The old service's keys: each file under its base name, and of files
	 * with the same base name the last in walk order (archive_walk_cmp). */
	bool by_base_name;
};

/* Compares two relative paths in the order a depth-first walk visits them
 * when every directory's entries are taken in byte order of their names
 * (what the engine's archive of a directory, and so the old service, saw):
 * segment by segment, bytewise. <0, 0 or >0 like strcmp. Pure. */
int archive_walk_cmp(const char *a, const char *b);

/* Reads output files from a hostile tar in memory (tar formats only; empty
 * input is an archive without files). Only regular files with a safe
 * relative name that match an include pattern are returned; symlinks, hard
 * links, devices, FIFOs, sockets and directories are skipped silently.
 * A safe name, after dropping one leading "./": no leading '/', no "." or
 * ".." segment, no empty segment ("a//b", a trailing '/'), no control
 * character (< 0x20, 0x7f), valid UTF-8, at most CXD_OUT_SEGMENT_MAX bytes
 * per segment and CXD_OUT_NAME_MAX in all. Patterns use fnmatch(pattern,
 * name, 0), so '*' matches '/' too: "*.csv" takes "sub/x.csv". With a
 * duplicate name the first entry wins; with by_base_name, names are base
 * names and of two files with one base name the later in archive_walk_cmp
 * order wins (the earlier one's bytes no longer count against the caps).
 * Caps: a file whose declared or actual size is over max_file_bytes, or that
 * would pass max_files or max_total_bytes, is skipped (its data unread) and
 * *truncated set.
 * *files (NULL when none; each name strdup'ed, each data malloc'ed with a
 * NUL not counted in len; free with exec_files_free), *nfiles and *truncated
 * are ALWAYS set: returns 0, or -EPROTO on an unreadable archive (garbage, cut
 * short) with err filled and the files read before the damage, or -ENOMEM. */
int archive_read_outputs(const unsigned char *tar, size_t len,
			 const struct archive_out_limits *lim, struct exec_file **files,
			 size_t *nfiles, bool *truncated, char *err, size_t errlen);

#endif
