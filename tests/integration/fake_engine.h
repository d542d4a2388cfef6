/* A FAKE Docker engine, for fault injection only.
 *
 * The project's rule: integration tests run the real daemon against the real
 * engine; a fake engine is allowed only to inject faults the real one cannot
 * be made to produce (a 500 mid-request, a truncated stream, garbage on the
 * attach stream, a call that never answers). This is that fake, and nothing
 * else may use it for what the real engine can do.
 *
 * It is a small HTTP/1.1 server on a Unix socket, run in threads of the test
 * process (one accepting, one per connection), speaking just enough of the
 * Engine API (v1.41) for codeexecd:
 *
 *   GET    /_ping                       200 "OK", Api-Version: 1.41
 *   GET    /v1.41/images/{name}/json    200 {}
 *   GET    /v1.41/containers/json       200 []
 *   POST   /v1.41/images/create         (only in the NO_IMAGE modes)
 *   POST   /v1.41/containers/create     201 {"Id":"<64 hex>"}
 *   POST   .../containers/{id}/attach   101 UPGRADED, then the raw stream
 *   POST   .../containers/{id}/start    204
 *   POST   .../containers/{id}/kill     204
 *   POST   .../containers/{id}/wait     200 {"StatusCode":0}
 *   GET    .../containers/{id}/json     200 {"State":{...not running, exit 0}}
 *   DELETE /v1.41/containers/{id}       204
 *   anything else                       404 {"message":"..."}
 *   an id it did not create             404 {"message":"No such container: ..."}
 *
 * Every answer but the 101 carries "Connection: close" and the connection is
 * closed after it. Requests are read robustly: the head up to "\r\n\r\n"
 * (capped), a Content-Length body (capped; chunked bodies are refused with
 * 501), "Expect: 100-continue" honoured.
 *
 * On the attach stream the fake plays the runner (src/runner.py): it reads
 * the job ("CXD1", 8 hex digits, the job), then answers with Docker's
 * multiplexed frames carrying the run protocol's records
 * (include/codeexecd/protocol.h), or with the fault chosen. A container
 * keeps the mode the engine had when it was created, so a test may switch
 * the mode between requests (DELETE_500 excepted: it acts on every DELETE
 * while it is the engine's mode). After a kill the fake ends the container's
 * attach stream, as the real engine does when a container dies. */
#ifndef CODEEXECD_TEST_FAKE_ENGINE_H
#define CODEEXECD_TEST_FAKE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>

enum fake_engine_mode {
	/* 'O' "hi\n", 'F' empty, 'X' {"exit_code":0,...}: a well-formed run */
	FAKE_ENGINE_HAPPY,
	/* create answers 500 {"message":"fake engine: injected failure"} */
	FAKE_ENGINE_CREATE_500,
	/* create never answers (until the client gives up) */
	FAKE_ENGINE_CREATE_HANG,
	/* create registers the container, then answers only after the client
	 * gave up (a real engine finishing a create the daemon timed out on) */
	FAKE_ENGINE_CREATE_LATE,
	/* create works, attach answers 500 (the same message) */
	FAKE_ENGINE_ATTACH_500,
	/* create and attach work, start answers 500 (the same message) */
	FAKE_ENGINE_START_500,
	/* after the job: a frame header and part of its payload, then close */
	FAKE_ENGINE_ATTACH_TRUNCATED,
	/* after the job: a frame with stream id 7, then silence */
	FAKE_ENGINE_STREAM_GARBAGE,
	/* after the job: an 'O' record declaring 1 GiB, then silence */
	FAKE_ENGINE_RECORD_OVER_CAP,
	/* after the job: 'O' "partial\n", then close without 'X' */
	FAKE_ENGINE_NO_STATUS_EOF,
	/* after the job: nothing, until the daemon kills it or hangs up */
	FAKE_ENGINE_SILENT,
	/* an engine-wide fault, unlike the others: while it is the mode, every
	 * DELETE answers 500 and removes nothing; runs go as in HAPPY */
	FAKE_ENGINE_DELETE_500,
	/* create registers the container (named), then answers 201 with a body
	 * that is not JSON: the daemon never learns the id */
	FAKE_ENGINE_CREATE_GARBLED,
	/* after the job: records the daemon keeps only a little of (empty
	 * notes) without end and without pause */
	FAKE_ENGINE_STDERR_FLOOD,
	/* engine-wide while it is the mode: the image is missing (inspect and
	 * create answer 404) and a pull answers 200, sends one progress line and
	 * then nothing (a registry that stalls) */
	FAKE_ENGINE_NO_IMAGE_PULL_HANGS,
	/* engine-wide: the image is missing and a pull fails at once (500, an
	 * engine without a registry) */
	FAKE_ENGINE_NO_IMAGE_NO_REGISTRY,
	FAKE_ENGINE_NMODES
};

/* The requests the fake counts, by kind. */
enum fake_engine_kind {
	FAKE_ENGINE_PING,
	FAKE_ENGINE_IMAGE_INSPECT,
	FAKE_ENGINE_LIST,
	FAKE_ENGINE_CREATE,          /* every create request, also failed ones */
	FAKE_ENGINE_ATTACH,
	FAKE_ENGINE_START,
	FAKE_ENGINE_KILL,
	FAKE_ENGINE_WAIT,
	FAKE_ENGINE_INSPECT,
	FAKE_ENGINE_DELETE,          /* every DELETE, also of unknown ids */
	FAKE_ENGINE_NOT_FOUND,       /* no such route (404) */
	FAKE_ENGINE_BAD_REQUEST,     /* unreadable request (400, 413, 431, 501) */
	FAKE_ENGINE_PULL,            /* POST /images/create */
	FAKE_ENGINE_NKINDS
};

struct fake_engine;

/* Listens on a fresh Unix socket in $TMPDIR (else /tmp) and starts serving
 * in mode.
 * NULL (after printing why to stderr) on failure. */
struct fake_engine *fake_engine_start(enum fake_engine_mode mode);
/* Stops serving: closes the listener and every connection (an attach stream
 * the daemon still reads ends), joins the threads, removes the socket file,
 * frees. NULL is fine. */
void fake_engine_stop(struct fake_engine *fe);

/* The socket's path, and "DOCKER_HOST=unix://<path>" for a daemon's
 * environment; both live as long as fe. */
const char *fake_engine_socket_path(const struct fake_engine *fe);
const char *fake_engine_docker_host_env(const struct fake_engine *fe);

/* The mode for the containers created from now on. Thread-safe. */
void fake_engine_set_mode(struct fake_engine *fe, enum fake_engine_mode mode);

/* How many requests of a kind it has seen. Thread-safe. */
long fake_engine_count(struct fake_engine *fe, enum fake_engine_kind kind);
/* Containers it created (create answered 201), and of those the ones no
 * DELETE has removed yet. Thread-safe. */
int fake_engine_created(struct fake_engine *fe);
int fake_engine_undeleted(struct fake_engine *fe);
/* Waits up to timeout_ms until every created container was deleted. */
bool fake_engine_wait_deleted(struct fake_engine *fe, int timeout_ms);
/* "create=2 attach=2 ... created=2 undeleted=0", for assertion messages. */
void fake_engine_describe(struct fake_engine *fe, char *out, size_t outlen);

const char *fake_engine_mode_name(enum fake_engine_mode mode);
const char *fake_engine_kind_name(enum fake_engine_kind kind);

#endif
