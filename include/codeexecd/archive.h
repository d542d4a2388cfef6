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

/* Builds a ustar/pax archive of regular files (mode 0644) in memory.
 * *out is malloc'ed. Returns 0 or a negative errno code. */
int archive_pack(const struct archive_member *members, size_t n, unsigned char **out,
		 size_t *outlen, char *err, size_t errlen);

struct archive_out_limits {
	size_t max_files;
	size_t max_file_bytes;
	size_t max_total_bytes;
	const char *const *include; /* glob patterns (fnmatch) on the name; NULL = all */
	size_t ninclude;
};

/* Reads output files from a hostile tar in memory. Only regular files with a
 * safe relative name (no absolute path, no "..", no empty or control-character
 * names) that match an include pattern are returned; symlinks, hard links,
 * devices, FIFOs and directories are skipped. Caps: a file over
 * max_file_bytes, or over max_files/max_total_bytes, is skipped and
 * *truncated set. Returns 0 with *files (NULL when none) and *nfiles, or a
 * negative code on an unreadable archive (files read so far are returned). */
int archive_read_outputs(const unsigned char *tar, size_t len,
			 const struct archive_out_limits *lim, struct exec_file **files,
			 size_t *nfiles, bool *truncated, char *err, size_t errlen);

#endif
