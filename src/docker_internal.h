/* What docker.c (request/answer calls), docker_stream.c (the streamed
 * calls: image pull and the hijacked attach) and docker_host.c (DOCKER_HOST,
 * TLS, open and close) share. Private to those three files: the module's
 * interface is include/codeexecd/docker.h. */
#ifndef CODEEXECD_DOCKER_INTERNAL_H
#define CODEEXECD_DOCKER_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>

#include "codeexecd/docker.h"

#define DOCKER_CONNECT_TIMEOUT_MS 2000L
#define DOCKER_API_VERSION_MAX 16

struct docker {
	char *endpoint;     /* "unix:///path" or "http[s]://host:port", for messages */
	char *socket_path;  /* the unix socket; NULL for tcp */
	char *base_url;     /* "http://docker" (unix) or "http[s]://host:port" */
	char *tls_ca;       /* https only: the files from DOCKER_CERT_PATH */
	char *tls_cert;
	char *tls_key;
	char *tls_dir;      /* the directory they are in, for messages */
	long timeout_ms;    /* each ordinary call */
	pthread_mutex_t lock;       /* serialises fixing the version */
	atomic_bool negotiated;     /* version is set and never changes again */
	char version[DOCKER_API_VERSION_MAX];
};

/* A growing buffer with a cap; data is NUL-terminated, NULL while empty. */
struct docker_body {
	char *data;
	size_t len;
	size_t cap;
	bool overflow;  /* an append went over the cap */
	bool nomem;
};

struct docker_reply {
	long status;                /* HTTP status; 0 when none came */
	struct docker_body body;    /* owned; freed by whoever filled it */
	char api_version[DOCKER_API_VERSION_MAX];   /* the API-Version header */
};

struct docker_call {
	const char *method;     /* "GET", "POST" or "DELETE" */
	const char *path;       /* "/containers/create?name=x", without the version */
	const char *json;       /* the request body, or NULL */
	long timeout_ms;        /* the whole transfer; 0: no limit */
	bool unversioned;       /* "/_ping" goes without "/v1.xx" */
	/* NULL: the answer goes to reply->body. Otherwise the body goes here, and
	 * sink_body (inside sink_ctx) tells about a cap or memory failure. */
	size_t (*sink)(char *ptr, size_t size, size_t nmemb, void *ctx);
	void *sink_ctx;
	const struct docker_body *sink_body;
	const atomic_bool *cancel;  /* true here aborts the call (-ECANCELED); may be NULL */
};

void docker_set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
char *docker_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Appends unless the total would pass cap: 0, -EPROTO (overflow) or -ENOMEM. */
int docker_body_append(struct docker_body *b, const void *data, size_t len, size_t cap);

/* The engine's error text from an answer body, and the code for it:
 * -ENOENT for 404, -EIO otherwise; err gets "what: text". */
void docker_engine_text(const char *body, long status, char *text, size_t len);
int docker_engine_error(long status, const char *body, const char *what, char *err,
			size_t errlen);

/* The parts of the engine's answers that are read, pure (the fuzz targets
 * drive them): body is the NUL-terminated answer (NULL: none). The State of
 * an inspect answer; the StatusCode of a wait answer (-EIO with its Error);
 * the Ids of a container list (*ids for docker_free_ids). -EPROTO when the
 * answer lacks them. */
int docker_parse_state(const char *body, struct docker_state *st, char *err, size_t errlen);
int docker_parse_wait(const char *body, int *exit_code, char *err, size_t errlen);
int docker_parse_ids(const char *body, char ***ids, size_t *n, char *err, size_t errlen);

/* An easy handle with the transport set (socket, TLS, connect timeout,
 * NOSIGNAL) and errbuf as its error buffer; errbuf must outlive it. */
CURL *docker_easy_new(const struct docker *d, char errbuf[CURL_ERROR_SIZE]);
/* A failed transfer: -EHOSTUNREACH naming the endpoint; -EPROTO (an answer
 * over the cap or unreadable); -ENOMEM. TLS failures (files, certificates)
 * are -EHOSTUNREACH, said in terms of docker.cert_path. */
int docker_transport_error(const struct docker *d, CURL *h, CURLcode cc, const char *errbuf,
			   const struct docker_body *b, char *err, size_t errlen);

/* Pings first when no version is fixed yet. */
int docker_ensure_version(struct docker *d, char *err, size_t errlen);
/* One request; 0 when the engine answered at all (r->status says how),
 * -ETIMEDOUT when it answered but did not finish within c->timeout_ms. */
int docker_perform(struct docker *d, const struct docker_call *c, struct docker_reply *r,
		   char *err, size_t errlen);

#endif
