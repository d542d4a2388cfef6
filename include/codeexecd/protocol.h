/* The run protocol between the daemon and src/runner.py inside the container.
 *
 * In (daemon -> container stdin): "CXD1" then the job's length as 8 ASCII hex
 * digits, then the job: a tar archive (archive_pack) holding job.json,
 * main.py, stdin and files/<name>.
 *
 * Out (container stdout, after Docker's demux): records of a 1-byte type and a
 * 4-byte big-endian length, then the payload:
 *   'O' a chunk of the code's stdout      'E' a chunk of its stderr
 *   'F' the output files, a tar archive   'X' the final status, JSON
 *       {"exit_code": int, "signal": int} -- always the last record
 *   'W' a note from the runner (a skipped output file, ...), text
 *   'R' ready for the job, JSON {"preloaded": [module...], "preload_errors":
 *       [text...], "preload_ms": int} -- the first record, sent once the
 *       runner has imported its preload modules (at once when none)
 *   'G' a figure the code showed (plt.show()), sent at once and only when
 *       the job asks for it ("stream"): a tar like 'F' holding that one
 *       file, named by its path under output/ (figure-N.png); it is in the
 *       final 'F' too, when the selection takes it
 *
 * The job's job.json also says how to run it:
 *   "capture_figures": bool  matplotlib figures shown or left open are saved
 *                            as output/figure-N.png (unless the code saved
 *                            them itself)
 *   "stream": bool           send 'G' records as figures are shown
 *   "session": bool          keep the program's interpreter (its __main__,
 *                            imports, files) after this job: once 'X' is sent
 *                            the runner reads the next job (same header) from
 *                            stdin and runs it in the same namespace. The 'X'
 *                            of a session job says "alive": false when the
 *                            interpreter is gone (it exited, was killed): the
 *                            session is over and the container must go. Its
 *                            'F' carries the files of output/ that the job
 *                            created or changed.
 * Everything here is written by hostile code: lengths are capped, the status
 * is used only for the code's own exit code, never for limits. Pure logic. */
#ifndef CODEEXECD_PROTOCOL_H
#define CODEEXECD_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#define PROTO_MAGIC "CXD1"
#define PROTO_JOB_HEADER_LEN 12

enum proto_type {
	PROTO_STDOUT = 'O',
	PROTO_STDERR = 'E',
	PROTO_FILES = 'F',
	PROTO_STATUS = 'X',
	PROTO_NOTE = 'W',
	PROTO_READY = 'R',
	PROTO_FIGURE = 'G',
};

/* Writes the 12-byte job header (no NUL) for a job of job_len bytes: the
 * magic and the length as 8 lowercase hex digits, so a job is under 4 GiB
 * (job_len <= 0xffffffff; the request caps keep it far below). */
void proto_job_header(char out[PROTO_JOB_HEADER_LEN], size_t job_len);

/* Called with each complete record (payload in one piece, at most the cap of
 * its type). Return 0 to go on, non-zero to stop. */
typedef int (*proto_sink)(void *ctx, enum proto_type type, const uint8_t *data, size_t len);

struct proto_limits {
	size_t chunk_max;   /* 'O', 'E', 'W' */
	size_t files_max;   /* 'F' */
	size_t status_max;  /* 'X', 'R' */
};

struct proto_reader {
	struct proto_limits lim;
	uint8_t head[5];
	size_t head_have;
	enum proto_type type;
	size_t need;        /* payload length of the current record */
	uint8_t *buf;       /* payload being collected */
	size_t have;
	size_t alloc;       /* bytes allocated at buf (kept across records) */
	int done;           /* saw 'X' */
};

void proto_reader_init(struct proto_reader *r, const struct proto_limits *lim);
void proto_reader_free(struct proto_reader *r);
/* Feeds stdout bytes; records may be split at any byte. The payload buffer
 * grows with the bytes that arrive, never past the type's cap; a declared
 * length over the cap fails before anything is allocated. Returns 0, the
 * sink's non-zero value (the record it was given is consumed), -EPROTO on an
 * unknown type, a record over its cap, or bytes after 'X', or -ENOMEM. After
 * a non-zero return the reader is unusable except for proto_reader_free. */
int proto_feed(struct proto_reader *r, const uint8_t *data, size_t len, proto_sink sink,
	       void *ctx);

#endif
