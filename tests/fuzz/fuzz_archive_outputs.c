/* libFuzzer target: the output-archive reader (archive_read_outputs), which
 * reads a tar written by hostile code.
 *
 * Input: four bytes for the limits (max_files 0..7, max_file_bytes
 * 16 * b, max_total_bytes 64 * b; include: none, "*.csv" or "a*", plus
 * allow "*.csv" (b & 4) and names by base name (b & 8)), then the archive
 * (an exact-size heap copy). Invariants: every returned name is safe
 * (relative, no "."/".."/empty segment, no control byte, valid UTF-8,
 * segments <= 255 bytes, <= 4096 in all, no leading "./"), unique and
 * matched by the include and allow patterns (a base name without '/' when
 * by_base_name); every cap holds (count, each file, total);
 * each file's data has a NUL after its length; files is NULL exactly when
 * there are none; the result is 0 or -EPROTO (with a message). */
#include <errno.h>
#include <fnmatch.h>

#include "codeexecd/archive.h"
#include "codeexecd/utf8.h"

#include "fuzz.h"

static const char *const csv[] = { "*.csv" };

/* The fourth byte: the include mode (% 3) and the flags. */
static uint8_t data_flags(const uint8_t *data, size_t size)
{
	return size > 3 ? data[3] : 0;
}
static const char *const a_star[] = { "a*" };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_cursor c = { data, size };
	struct archive_out_limits lim = { 0 };
	struct exec_file *files = (struct exec_file *)&lim; /* must be overwritten */
	size_t nfiles = 99, total = 0;
	bool truncated = true;
	char err[CXD_ERR_MAX] = "";
	uint8_t mode;
	unsigned char *tar;
	int rc;

	lim.max_files = fuzz_byte(&c) % 8;
	lim.max_file_bytes = (size_t)fuzz_byte(&c) * 16;
	lim.max_total_bytes = (size_t)fuzz_byte(&c) * 64;
	mode = (uint8_t)(fuzz_byte(&c) % 3);
	lim.include = mode == 1 ? csv : mode == 2 ? a_star : NULL;
	lim.ninclude = mode == 0 ? 0 : 1;
	lim.allow = (data_flags(data, size) & 4) ? csv : NULL;
	lim.nallow = lim.allow ? 1 : 0;
	lim.by_base_name = (data_flags(data, size) & 8) != 0;
	tar = fuzz_dup(c.data, c.len);
	rc = archive_read_outputs(tar, c.len, &lim, &files, &nfiles, &truncated, err, sizeof(err));
	FUZZ_ASSERT(rc == 0 || rc == -EPROTO, "rc %d", rc);
	if (rc != 0)
		FUZZ_ASSERT(err[0] != '\0', "failure without a message");
	FUZZ_ASSERT((files == NULL) == (nfiles == 0), "files %p, nfiles %zu", (void *)files, nfiles);
	FUZZ_ASSERT(nfiles <= lim.max_files, "%zu files over the cap %zu", nfiles, lim.max_files);
	for (size_t i = 0; i < nfiles; i++) {
		const struct exec_file *f = &files[i];

		FUZZ_ASSERT(f->name != NULL, "no name");
		FUZZ_ASSERT(fuzz_safe_name(f->name, CXD_OUT_SEGMENT_MAX, CXD_OUT_NAME_MAX),
			    "unsafe name returned: \"%s\"", f->name);
		FUZZ_ASSERT(strncmp(f->name, "./", 2) != 0, "leading ./ kept: %s", f->name);
		FUZZ_ASSERT(utf8_valid(f->name, strlen(f->name), NULL), "not UTF-8: %s", f->name);
		if (lim.by_base_name)
			FUZZ_ASSERT(strchr(f->name, '/') == NULL, "%s is not a base name", f->name);
		else
			FUZZ_ASSERT(lim.ninclude == 0 || fnmatch(lim.include[0], f->name, 0) == 0,
				    "%s does not match the include pattern", f->name);
		if (lim.nallow && !lim.by_base_name)
			FUZZ_ASSERT(fnmatch(lim.allow[0], f->name, 0) == 0, "%s not allowed", f->name);
		FUZZ_ASSERT(f->len <= lim.max_file_bytes, "%s: %zu bytes over the cap", f->name,
			    f->len);
		FUZZ_ASSERT(f->data != NULL && f->data[f->len] == '\0', "%s: no NUL", f->name);
		total += f->len;
		for (size_t j = 0; j < i; j++)
			FUZZ_ASSERT(strcmp(files[j].name, f->name) != 0, "duplicate %s", f->name);
	}
	FUZZ_ASSERT(total <= lim.max_total_bytes, "%zu bytes in all over the cap", total);
	exec_files_free(files, nfiles);
	free(tar);
	return 0;
}
