/* libFuzzer target: what a run makes of the container's stdout: Docker's
 * frames (demux), the runner's records inside them (proto_reader) and the
 * run state that turns records into a result (capped stdout and stderr,
 * notes, the output files, the status), as sandbox_run.c does it.
 *
 * The run state is private to src/sandbox_run.c, so this file includes it
 * (and the target links every other object): the code under test is the
 * daemon's own, not a copy. The engine is a socket that does not exist, so
 * the few engine questions a run asks (why the runner died) fail at once.
 *
 * Input: a byte choosing how the stream is cut (and, with bit 0x20, that
 * the output goes to a streaming sink writing NDJSON lines, as
 * /execute/stream does), a byte choosing the output
 * selection (the old service's CSV files by base name, or output_include
 * "*.csv" or "a*" by relative path), then the stream. Each piece is an exact-size heap copy.
 * Invariants: stdout and stderr within their caps; the answer's text valid
 * UTF-8 without NUL; exit_code the status's 0..255 when the run reported
 * one, else -1; a run that hit a cap, was refused a file or sent a note is
 * marked truncated; the output files keep every rule of the output-archive
 * reader (safe unique names, each cap; base names without output_include,
 * names matching the request's pattern with it); notes NUL-terminated. */
#include "../../src/sandbox_run.c"

#include <fnmatch.h>

#include "codeexecd/ndjson.h"
#include "codeexecd/utf8.h"

#include "fuzz.h"

static struct sandbox sb;
static struct config cfg;

static void setup(void)
{
	char err[CXD_ERR_MAX];

	config_defaults(&cfg);
	cfg.output.max_stdout_bytes = 300;
	cfg.output.max_stderr_bytes = 200;
	cfg.output.max_files = 3;
	cfg.output.max_file_bytes = 64;
	cfg.output.max_total_bytes = 100;
	sb.cfg = &cfg;
	if (docker_open(&sb.docker, "unix:///nonexistent/codeexecd-fuzz.sock", NULL, 1, err,
			sizeof(err)) != 0)
		abort();
}

/* The NDJSON lines of a streaming sink, kept to be checked (each one JSON
 * and UTF-8); stdout and stderr bytes are counted against the caps. */
struct lines {
	struct ndjson nd;
	size_t bytes[2];
	char *text;
	size_t len;
};

static int lines_out(void *ctx, const char *data, size_t len)
{
	struct lines *l = ctx;

	FUZZ_ASSERT(len <= NDJSON_BUF, "a piece of %zu bytes", len);
	l->text = realloc(l->text, l->len + len);
	FUZZ_ASSERT(l->text != NULL, "out of memory");
	memcpy(l->text + l->len, data, len);
	l->len += len;
	return 0;
}

static void check_lines(const struct lines *l)
{
	size_t at = 0;

	FUZZ_ASSERT(l->len == 0 || l->text[l->len - 1] == '\n', "the last line is cut");
	while (at < l->len) {
		const char *p = l->text + at, *nl = memchr(p, '\n', l->len - at);
		size_t n = (size_t)(nl - p);
		FUZZ_ASSERT(utf8_valid(p, n, NULL), "a line is not UTF-8");
		cJSON *obj = cJSON_ParseWithLength(p, n);
		FUZZ_ASSERT(cJSON_IsObject(obj), "a line is not a JSON object");
		cJSON_Delete(obj);
		at += n + 1;
	}
}

static int sink_chunk(void *ctx, bool is_stderr, const char *data, size_t len)
{
	struct lines *l = ctx;

	l->bytes[is_stderr] += len;
	return ndjson_chunk(&l->nd, is_stderr, data, len);
}

static int sink_file(void *ctx, const char *name, const unsigned char *data, size_t len)
{
	return ndjson_file(&((struct lines *)ctx)->nd, name, data, len);
}

static int sink_note(void *ctx, const char *text, size_t len)
{
	return ndjson_note(&((struct lines *)ctx)->nd, text, len);
}

/* Feeds the pieces as drain() does; returns how the run ended. */
static enum run_end feed(struct run_state *st, struct fuzz_cursor *c, uint8_t seed)
{
	struct fuzz_splitter sp;

	fuzz_splitter_init(&sp, seed);
	for (size_t off = 0; off < c->len;) {
		size_t n = fuzz_split_next(&sp, c->len - off);
		uint8_t *piece = fuzz_dup(c->data + off, n);
		int end = feed_piece(st, piece, n);

		free(piece);
		off += n;
		if (end != -EAGAIN)
			return end;
	}
	return END_EOF;
}

static void check_files(const struct exec_result *res, const struct exec_request *req)
{
	size_t total = 0;

	FUZZ_ASSERT((res->files == NULL) == (res->nfiles == 0), "files/nfiles");
	FUZZ_ASSERT(res->nfiles <= (size_t)cfg.output.max_files, "%zu files", res->nfiles);
	for (size_t i = 0; i < res->nfiles; i++) {
		const struct exec_file *f = &res->files[i];

		FUZZ_ASSERT(fuzz_safe_name(f->name, CXD_OUT_SEGMENT_MAX, CXD_OUT_NAME_MAX),
			    "unsafe name %s", f->name);
		FUZZ_ASSERT(f->len <= (size_t)cfg.output.max_file_bytes, "%s too big", f->name);
		if (req->has_output_include)
			FUZZ_ASSERT(fnmatch(req->output_include[0], f->name, 0) == 0,
				    "%s not asked for", f->name);
		else
			FUZZ_ASSERT(strchr(f->name, '/') == NULL, "%s is not a base name", f->name);
		total += f->len;
		for (size_t j = 0; j < i; j++)
			FUZZ_ASSERT(strcmp(res->files[j].name, f->name) != 0, "duplicate %s", f->name);
	}
	FUZZ_ASSERT(total <= (size_t)cfg.output.max_total_bytes, "%zu bytes in all", total);
}

static void check_text(const char *s, size_t len, const char *what)
{
	FUZZ_ASSERT(s != NULL, "%s NULL", what);
	FUZZ_ASSERT(strlen(s) == len, "%s has a NUL or a wrong length", what);
	FUZZ_ASSERT(utf8_valid(s, len, NULL), "%s not UTF-8", what);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_cursor c = { data, size };
	struct sandbox_slot slot = { .container_id = "0123456789abcdef" };
	struct exec_result res;
	struct run_state st;
	enum run_end end;
	static char csv[] = "*.csv", a_star[] = "a*";
	static char *patterns[2] = { csv, a_star };
	struct exec_request req = { 0 };
	struct lines lines = { 0 };
	struct run_sink sink = { NULL, sink_chunk, sink_file, sink_note, &lines };
	struct sandbox_run run = { .req = &req };
	uint8_t seed, inc;
	char notes[CXD_ERR_MAX * 2];

	if (!sb.cfg)
		setup();
	seed = fuzz_byte(&c);
	inc = fuzz_byte(&c) % 3;
	req.has_output_include = inc != 0;
	req.output_include = inc ? &patterns[inc - 1] : NULL;
	req.noutput_include = inc ? 1 : 0;
	memset(&res, 0, sizeof(res));
	ndjson_init(&lines.nd, lines_out, &lines);
	if (seed & 0x20)
		run.sink = &sink;
	run_state_init(&st, &cfg, &run, &res);
	end = feed(&st, &c, seed);
	FUZZ_ASSERT(lines.bytes[0] <= (size_t)cfg.output.max_stdout_bytes, "streamed stdout %zu",
		    lines.bytes[0]);
	FUZZ_ASSERT(lines.bytes[1] <= (size_t)cfg.output.max_stderr_bytes, "streamed stderr %zu",
		    lines.bytes[1]);
	FUZZ_ASSERT(ndjson_flush(&lines.nd) == 0, "flush failed");
	check_lines(&lines);
	free(lines.text);

	FUZZ_ASSERT(st.out.len <= (size_t)cfg.output.max_stdout_bytes, "stdout %zu", st.out.len);
	FUZZ_ASSERT(st.err.len <= (size_t)cfg.output.max_stderr_bytes, "stderr %zu", st.err.len);
	FUZZ_ASSERT(st.diag.len <= DIAG_MAX && st.notes.len <= NOTES_MAX, "diag/notes");
	FUZZ_ASSERT(!st.done || (st.exit_code >= 0 && st.exit_code <= 255), "exit %d",
		    st.exit_code);
	/* A runner that died (EOF) makes fill_result ask the engine why, which
	 * costs a failed connection; one input in 16 takes that path, the rest
	 * are finished as a broken stream (END_IO), which fills the same fields
	 * without the engine. */
	if (end == END_EOF && (seed & 0xf) != 0)
		end = END_IO;
	fill_result(&sb, &slot, &st, end, &res);
	check_text(res.output, res.output_len, "output");
	check_text(res.error, res.error_len, "error");
	FUZZ_ASSERT(end == END_DONE ? res.exit_code == st.exit_code : res.exit_code == -1,
		    "exit_code %d after end %d", res.exit_code, (int)end);
	FUZZ_ASSERT(!res.timed_out, "timed out without a deadline");
	if (end == END_CAPPED || st.notes.len > 0)
		FUZZ_ASSERT(res.output_truncated, "capped or noted but not truncated");
	check_files(&res, &req);
	run_notes(&st, notes, sizeof(notes));
	FUZZ_ASSERT(strnlen(notes, sizeof(notes)) < sizeof(notes), "notes not terminated");
	run_state_free(&st);
	exec_result_free(&res);
	return 0;
}
