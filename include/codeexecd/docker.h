/* Docker Engine API client over libcurl: unix:// sockets and tcp:// with TLS
 * as the docker CLI does it (struct docker_tls). The API
 * version is negotiated from /_ping. The only module that calls curl_*.
 *
 * Error codes (negative errno): -EHOSTUNREACH the engine does not answer
 * (connect failure or timeout); -ENOENT the object (image, container) does not
 * exist; -EIO the engine answered with an error (its text in err);
 * -EPROTO an answer we could not read; -EINVAL bad arguments. */
#ifndef CODEEXECD_DOCKER_H
#define CODEEXECD_DOCKER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "codeexecd/limits.h"

struct docker;
struct docker_stream;

/* Process-wide set-up of the HTTP client library: main() calls it once
 * before any thread starts, and the cleanup once after they all ended. */
int docker_global_init(void);
void docker_global_cleanup(void);

/* TLS to a tcp:// engine, as the docker CLI does it (its DOCKER_TLS_VERIFY
 * and DOCKER_CERT_PATH): with verify, https, the engine's certificate checked
 * against cert_path/ca.pem and cert_path/cert.pem + key.pem presented as the
 * client's; cert_path NULL or "" means $HOME/.docker. The files are read at
 * each connection, so replaced ones take effect without a restart. */
struct docker_tls {
	bool verify;
	const char *cert_path;
};

/* Where the engine is. host: DOCKER_HOST syntax ("unix:///path",
 * "tcp://host:port"); NULL or "" means unix:///var/run/docker.sock. tls
 * applies to tcp:// only; NULL means none. Does not connect. timeout_s
 * bounds each ordinary call. */
int docker_open(struct docker **out, const char *host, const struct docker_tls *tls,
		int timeout_s, char *err, size_t errlen);
void docker_close(struct docker *d);

/* GET /_ping; on the first success, fixes the API version to
 * min(engine's API-Version, the newest we speak). Fails with -EPROTO if the
 * engine is older than 1.41. Thread-safe. */
int docker_ping(struct docker *d, char *err, size_t errlen);
/* "1.41" etc. after a successful ping, "" before. */
const char *docker_api_version(struct docker *d);
/* Where the engine is, as messages name it: "unix:///var/run/docker.sock",
 * "http://host:2375", "https://host:2376". */
const char *docker_endpoint(const struct docker *d);
/* The negotiation rule, pure (for tests): the version to speak with an
 * engine whose API-Version is engine_version, min(engine, "1.43"), into out.
 * -EPROTO when it is older than 1.41 or not "major.minor"; -EINVAL when out
 * is too small. */
int docker_negotiate_version(const char *engine_version, char *out, size_t outlen);

/* 0 if present, -ENOENT if not. */
int docker_image_exists(struct docker *d, const char *image, char *err, size_t errlen);
/* POST /images/create?fromImage=...; waits for the pull to end, at most
 * timeout_ms (-ETIMEDOUT after), or until *cancel turns true (-ECANCELED;
 * cancel may be NULL). */
int docker_image_pull(struct docker *d, const char *image, long timeout_ms,
		      const atomic_bool *cancel, char *err, size_t errlen);

/* POST /containers/create?name=... with spec_json (the ContainerConfig JSON
 * body). name may be NULL. id receives the full hex id. -ENOENT: no image.
 * *status (may be NULL) receives the engine's HTTP status, 0 when none came:
 * only a 4xx means for sure that no container was made. */
int docker_container_create(struct docker *d, const char *name, const char *spec_json,
			    char id[CXD_CONTAINER_ID_MAX + 1], long *status, char *err,
			    size_t errlen);
int docker_container_start(struct docker *d, const char *id, char *err, size_t errlen);
/* POST /kill (SIGKILL); 0 also when it already stopped. */
int docker_container_kill(struct docker *d, const char *id, char *err, size_t errlen);
/* POST /update with a HostConfig resource change (JSON). */
int docker_container_update(struct docker *d, const char *id, const char *resources_json,
			    char *err, size_t errlen);
/* DELETE ?force=1&v=1; 0 also when it is already gone. */
int docker_container_remove(struct docker *d, const char *id, char *err, size_t errlen);

struct docker_state {
	bool running;
	bool oom_killed;
	int exit_code;
};
int docker_container_inspect(struct docker *d, const char *id, struct docker_state *st,
			     char *err, size_t errlen);
/* POST /wait, bounded by timeout_ms; fills exit_code. -ETIMEDOUT when the
 * container is still running at the end of timeout_ms. */
int docker_container_wait(struct docker *d, const char *id, int timeout_ms, int *exit_code,
			  char *err, size_t errlen);

/* Ids of all containers (running or not) with the label "key=value".
 * *ids is a malloc'ed array of malloc'ed strings; free with docker_free_ids. */
int docker_containers_by_label(struct docker *d, const char *label, char ***ids, size_t *n,
			       char *err, size_t errlen);
void docker_free_ids(char **ids, size_t n);

/* POST /containers/{id}/attach?stream=1&stdin=1&stdout=1&stderr=1, hijacked:
 * a raw two-way byte stream carrying stdin one way and Docker's multiplexed
 * stdout/stderr frames (see demux.h) the other. Attach before start. */
int docker_attach(struct docker *d, const char *id, struct docker_stream **out, char *err,
		  size_t errlen);
/* The socket, for poll(2). Before polling for input, read until -EAGAIN:
 * TLS may hold bytes the socket no longer shows. */
int docker_stream_fd(const struct docker_stream *s);
/* Returns bytes read (>0), 0 at end of stream, -EAGAIN when nothing is ready,
 * or another negative code. Never blocks. */
ssize_t docker_stream_read(struct docker_stream *s, void *buf, size_t len);
/* Writes all of buf, waiting for the socket up to timeout_ms. */
int docker_stream_write_all(struct docker_stream *s, const void *buf, size_t len, int timeout_ms);
void docker_stream_close(struct docker_stream *s);

#endif
