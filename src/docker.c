/* Docker Engine API client over libcurl: one easy handle per operation,
 * version negotiation, the engine's answers mapped to negative errno codes
 * with the engine's text. The transport set-up (DOCKER_HOST, TLS, open and
 * close) is in docker_host.c, the hijacked attach stream in docker_stream.c.
 * The only module, with docker_stream.c, that calls curl_*;
 * docker_global_init() is called once by main() before threads. */
#include "codeexecd/docker.h"
#include "codeexecd/metrics.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "docker_internal.h"

#define API_OLDEST_MINOR 41         /* 1.41: Docker 20.10 */
#define API_NEWEST_MINOR 43         /* the newest version we speak */
#define BODY_FIRST_CAP 4096

/* --- small helpers -------------------------------------------------------- */

void docker_set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(err, errlen, fmt, ap);   /* a cut message is still useful */
	va_end(ap);
}

/* A malloc'ed formatted string, or NULL when out of memory. */
char *docker_printf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}

int docker_body_append(struct docker_body *b, const void *data, size_t len, size_t cap)
{
	if (len > cap - b->len) {
		b->overflow = true;
		return -EPROTO;
	}
	if (b->len + len + 1 > b->cap) {
		size_t ncap = b->cap ? b->cap : BODY_FIRST_CAP;
		char *p;

		while (ncap < b->len + len + 1)
			ncap *= 2;
		p = realloc(b->data, ncap);
		if (!p) {
			b->nomem = true;
			return -ENOMEM;
		}
		b->data = p;
		b->cap = ncap;
	}
	if (len > 0)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

static size_t body_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct docker_body *b = userdata;
	size_t n = size * nmemb;

	return docker_body_append(b, ptr, n, CXD_DOCKER_RESPONSE_MAX) == 0 ? n : 0;
}

/* The engine's text for an error answer: "message" from its JSON, else the
 * body itself, else the status; at most CXD_DOCKER_ERROR_TEXT_MAX bytes. */
void docker_engine_text(const char *body, long status, char *text, size_t len)
{
	cJSON *j = body ? cJSON_Parse(body) : NULL;
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");
	size_t cap = len < CXD_DOCKER_ERROR_TEXT_MAX + 1 ? len : CXD_DOCKER_ERROR_TEXT_MAX + 1;
	size_t n;

	if (cap == 0)
		goto out;
	if (cJSON_IsString(m) && m->valuestring[0] != '\0')
		(void)snprintf(text, cap, "%s", m->valuestring);
	else if (body && body[0] != '\0')
		(void)snprintf(text, cap, "%s", body);
	else
		(void)snprintf(text, cap, "HTTP status %ld", status);
	n = strlen(text);
	while (n > 0 && isspace((unsigned char)text[n - 1]))
		text[--n] = '\0';
out:
	cJSON_Delete(j);
}

int docker_engine_error(long status, const char *body, const char *what, char *err,
			size_t errlen)
{
	char text[CXD_DOCKER_ERROR_TEXT_MAX + 1];

	docker_engine_text(body, status, text, sizeof(text));
	docker_set_err(err, errlen, "%s: %s", what, text);
	if (status >= 500)
		metrics_engine_error(METRICS_EE_SERVER);
	else if (status != 404 && status != 409 && status != 304)
		metrics_engine_error(METRICS_EE_CLIENT);
	return status == 404 ? -ENOENT : -EIO;
}

/* 0 when the status is ok1 or ok2; the engine's error otherwise. */
static int check_status(const struct docker_reply *r, long ok1, long ok2, const char *what,
			char *err, size_t errlen)
{
	if (r->status == ok1 || r->status == ok2)
		return 0;
	if (r->status >= 400)
		return docker_engine_error(r->status, r->body.data, what, err, errlen);
	docker_set_err(err, errlen, "%s: unexpected HTTP status %ld from the Docker engine", what,
		       r->status);
	return -EPROTO;
}

static void reply_free(struct docker_reply *r)
{
	free(r->body.data);
	r->body.data = NULL;
}

/* --- libcurl -------------------------------------------------------------- */

int docker_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -ENOMEM;
}

void docker_global_cleanup(void)
{
	curl_global_cleanup();
}

/* --- requests ------------------------------------------------------------- */

CURL *docker_easy_new(const struct docker *d, char errbuf[CURL_ERROR_SIZE])
{
	CURL *h = curl_easy_init();

	if (!h)
		return NULL;
	errbuf[0] = '\0';
	if (curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, DOCKER_CONNECT_TIMEOUT_MS) != CURLE_OK ||
	    (d->socket_path &&
	     curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, d->socket_path) != CURLE_OK) ||
	    (d->tls_ca && (curl_easy_setopt(h, CURLOPT_CAINFO, d->tls_ca) != CURLE_OK ||
			   curl_easy_setopt(h, CURLOPT_SSLCERT, d->tls_cert) != CURLE_OK ||
			   curl_easy_setopt(h, CURLOPT_SSLKEY, d->tls_key) != CURLE_OK))) {
		curl_easy_cleanup(h);
		return NULL;
	}
	return h;
}

static bool is_tls_failure(CURLcode cc, const char *why)
{
	return cc == CURLE_SSL_CERTPROBLEM || cc == CURLE_SSL_CACERT_BADFILE ||
	       cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CONNECT_ERROR ||
	       ((cc == CURLE_RECV_ERROR || cc == CURLE_SEND_ERROR) && strstr(why, "SSL"));
}

/* A TLS failure said in terms of the configuration: which file is missing,
 * whose certificate was refused. -EHOSTUNREACH: the engine cannot be used
 * until the files are put right (they are read again at each connection). */
static int tls_error(const struct docker *d, CURLcode cc, const char *why, char *err,
		     size_t errlen)
{
	const char *const files[] = { d->tls_ca, d->tls_cert, d->tls_key };

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if (access(files[i], R_OK) != 0) {
			docker_set_err(err, errlen, "TLS to the Docker engine at %s: cannot read %s "
				       "(docker.cert_path, DOCKER_CERT_PATH): %s", d->endpoint,
				       files[i], strerror(errno));
			return -EHOSTUNREACH;
		}
	}
	if (cc == CURLE_SSL_CERTPROBLEM || cc == CURLE_SSL_CACERT_BADFILE) {
		docker_set_err(err, errlen, "TLS to the Docker engine at %s: unusable files in %s "
			       "(docker.cert_path, DOCKER_CERT_PATH): %s", d->endpoint, d->tls_dir,
			       why);
		return -EHOSTUNREACH;
	}
	if (cc == CURLE_PEER_FAILED_VERIFICATION)
		docker_set_err(err, errlen, "TLS to the Docker engine at %s: the engine's "
			       "certificate does not verify against %s: %s", d->endpoint, d->tls_ca,
			       why);
	else
		docker_set_err(err, errlen, "TLS to the Docker engine at %s failed; the engine "
			       "may have refused the client certificate %s (expired, or not "
			       "signed by the CA the engine trusts): %s", d->endpoint,
			       d->tls_cert, why);
	return -EHOSTUNREACH;
}

int docker_transport_error(const struct docker *d, CURL *h, CURLcode cc, const char *errbuf,
			   const struct docker_body *b, char *err, size_t errlen)
{
	const char *why = errbuf && errbuf[0] ? errbuf : curl_easy_strerror(cc);
	long os_errno = 0;

	if (cc == CURLE_OUT_OF_MEMORY || (b && b->nomem)) {
		docker_set_err(err, errlen, "docker: out of memory");
		return -ENOMEM;
	}
	if (b && b->overflow) {
		docker_set_err(err, errlen, "an answer of the Docker engine at %s exceeds %ld bytes",
			       d->endpoint, (long)CXD_DOCKER_RESPONSE_MAX);
		return -EPROTO;
	}
	if (cc == CURLE_WEIRD_SERVER_REPLY || cc == CURLE_BAD_CONTENT_ENCODING) {
		docker_set_err(err, errlen, "the Docker engine at %s sent an answer we cannot "
			       "read: %s", d->endpoint, why);
		return -EPROTO;
	}
	if (d->tls_ca && is_tls_failure(cc, why))
		return tls_error(d, cc, why, err, errlen);
	/* curl names a unix socket "docker port 80": say what the socket said */
	if (d->socket_path && cc == CURLE_COULDNT_CONNECT &&
	    curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno) == CURLE_OK && os_errno != 0) {
		docker_set_err(err, errlen, "Docker engine at %s does not answer: %s (%s)",
			       d->endpoint, curl_easy_strerror(cc), strerror((int)os_errno));
		return -EHOSTUNREACH;
	}
	docker_set_err(err, errlen, "Docker engine at %s does not answer: %s", d->endpoint, why);
	return -EHOSTUNREACH;
}

/* The metrics kind of a failed call. */
static enum metrics_engine_error engine_error_kind(CURLcode cc, int rc)
{
	if (rc == -ETIMEDOUT || cc == CURLE_OPERATION_TIMEDOUT)
		return METRICS_EE_TIMEOUT;
	if (rc == -EPROTO)
		return METRICS_EE_PROTOCOL;
	return METRICS_EE_UNREACHABLE;
}

/* Sets the method and body; *hdrs receives a list the caller frees. */
static int set_method(CURL *h, const struct docker_call *c, struct curl_slist **hdrs)
{
	struct curl_slist *l = NULL;
	const char *ctype = c->json ? "Content-Type: application/json" : "Content-Type:";

	if (strcmp(c->method, "POST") == 0) {
		const char *body = c->json ? c->json : "";

		(void)curl_easy_setopt(h, CURLOPT_POST, 1L);
		(void)curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);   /* not copied */
		(void)curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
		l = curl_slist_append(NULL, ctype);
		if (!l)
			return -ENOMEM;
		*hdrs = l;   /* the caller frees the list, also on failure below */
		if (!curl_slist_append(l, "Expect:"))   /* no 100-continue round trip */
			return -ENOMEM;
		return curl_easy_setopt(h, CURLOPT_HTTPHEADER, l) == CURLE_OK ? 0 : -ENOMEM;
	}
	if (strcmp(c->method, "GET") != 0 &&
	    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, c->method) != CURLE_OK)
		return -ENOMEM;
	return 0;
}

static void read_api_version(CURL *h, struct docker_reply *r)
{
	struct curl_header *hd = NULL;

	if (curl_easy_header(h, "Api-Version", 0, CURLH_HEADER, -1, &hd) == CURLHE_OK)
		(void)snprintf(r->api_version, sizeof(r->api_version), "%s", hd->value);
}

/* libcurl's progress callback: non-zero aborts the transfer. */
static int cancel_check(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
			curl_off_t ulnow)
{
	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return atomic_load((const atomic_bool *)ctx) ? 1 : 0;
}

/* One request. 0 when the engine answered (any status, in r->status);
 * r->body is the caller's to free with reply_free. */
int docker_perform(struct docker *d, const struct docker_call *c, struct docker_reply *r,
		   char *err, size_t errlen)
{
	char errbuf[CURL_ERROR_SIZE];
	struct curl_slist *hdrs = NULL;
	struct docker_body *body = c->sink ? NULL : &r->body;
	char *url = NULL;
	CURL *h = NULL;
	CURLcode cc;
	int rc;

	if (!c->unversioned && (rc = docker_ensure_version(d, err, errlen)) != 0)
		return rc;
	url = c->unversioned ? docker_printf("%s%s", d->base_url, c->path)
			     : docker_printf("%s/v%s%s", d->base_url, d->version, c->path);
	h = docker_easy_new(d, errbuf);
	rc = url && h ? set_method(h, c, &hdrs) : -ENOMEM;
	if (rc == 0 && curl_easy_setopt(h, CURLOPT_URL, url) != CURLE_OK)
		rc = -ENOMEM;
	if (rc != 0) {
		docker_set_err(err, errlen, "docker: out of memory");
		goto out;
	}
	(void)curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, c->sink ? c->sink : body_write);
	(void)curl_easy_setopt(h, CURLOPT_WRITEDATA, c->sink ? c->sink_ctx : (void *)body);
	(void)curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
	if (c->cancel) {
		(void)curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, cancel_check);
		(void)curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)c->cancel);
		(void)curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	}
	cc = curl_easy_perform(h);
	(void)curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	if (cc == CURLE_ABORTED_BY_CALLBACK) {
		docker_set_err(err, errlen, "%s: cancelled", c->path);
		rc = -ECANCELED;
	} else if (cc == CURLE_OPERATION_TIMEDOUT && r->status > 0) {
		docker_set_err(err, errlen, "the Docker engine at %s did not finish %s within %ld ms",
			       d->endpoint, c->path, c->timeout_ms);
		rc = -ETIMEDOUT;
	} else if (cc != CURLE_OK) {
		rc = docker_transport_error(d, h, cc, errbuf, c->sink ? c->sink_body : body, err,
					    errlen);
	} else {
		read_api_version(h, r);
	}
	if (rc != 0 && rc != -ENOMEM)
		metrics_engine_error(engine_error_kind(cc, rc));
out:
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	free(url);
	return rc;
}

/* --- version -------------------------------------------------------------- */

/* "1.41" -> 1, 41; digits only. */
static int parse_api_version(const char *s, long *major, long *minor)
{
	char *end;

	if (!s || !isdigit((unsigned char)s[0]))
		return -EPROTO;
	errno = 0;
	*major = strtol(s, &end, 10);
	if (*end != '.' || !isdigit((unsigned char)end[1]))
		return -EPROTO;
	*minor = strtol(end + 1, &end, 10);
	return errno == 0 && *end == '\0' ? 0 : -EPROTO;
}

int docker_negotiate_version(const char *engine_version, char *out, size_t outlen)
{
	long major, minor;
	int n;

	if (parse_api_version(engine_version, &major, &minor) != 0)
		return -EPROTO;
	if (major < 1 || (major == 1 && minor < API_OLDEST_MINOR))
		return -EPROTO;
	if (major > 1 || minor > API_NEWEST_MINOR) {
		major = 1;
		minor = API_NEWEST_MINOR;
	}
	n = snprintf(out, outlen, "%ld.%ld", major, minor);
	return n >= 0 && (size_t)n < outlen ? 0 : -EINVAL;
}

/* Fixes the version once, from the first ping's API-Version. */
static int fix_version(struct docker *d, const char *engine, char *err, size_t errlen)
{
	char v[DOCKER_API_VERSION_MAX];

	if (atomic_load(&d->negotiated))
		return 0;
	if (docker_negotiate_version(engine, v, sizeof(v)) != 0) {
		docker_set_err(err, errlen, "the Docker engine at %s speaks API version \"%s\"; "
			       "codeexecd needs 1.%d or newer", d->endpoint, engine,
			       API_OLDEST_MINOR);
		return -EPROTO;
	}
	(void)pthread_mutex_lock(&d->lock);
	if (!atomic_load(&d->negotiated)) {
		memcpy(d->version, v, sizeof(v));
		atomic_store(&d->negotiated, true);   /* publishes d->version */
	}
	(void)pthread_mutex_unlock(&d->lock);
	return 0;
}

int docker_ensure_version(struct docker *d, char *err, size_t errlen)
{
	return atomic_load(&d->negotiated) ? 0 : docker_ping(d, err, errlen);
}

int docker_ping(struct docker *d, char *err, size_t errlen)
{
	struct docker_call c = {.method = "GET", .path = "/_ping", .unversioned = true,
				.timeout_ms = d->timeout_ms};
	struct docker_reply r = {0};
	int rc;

	rc = docker_perform(d, &c, &r, err, errlen);
	if (rc != 0)
		goto out;
	rc = check_status(&r, 200, 200, "ping", err, errlen);
	if (rc != 0)
		goto out;
	rc = fix_version(d, r.api_version, err, errlen);
out:
	reply_free(&r);
	return rc;
}

const char *docker_api_version(struct docker *d)
{
	return atomic_load(&d->negotiated) ? d->version : "";
}

/* --- objects -------------------------------------------------------------- */

/* A call on "/<kind>/<escaped name><tail>". */
static int object_call(struct docker *d, const char *method, const char *kind, const char *name,
		       const char *tail, long timeout_ms, struct docker_reply *r, char *err,
		       size_t errlen)
{
	struct docker_call c = {.method = method, .timeout_ms = timeout_ms};
	char *esc = NULL;
	char *path = NULL;
	int rc;

	if (!name || name[0] == '\0') {
		docker_set_err(err, errlen, "docker: no name or id given for /%s", kind);
		return -EINVAL;
	}
	esc = curl_easy_escape(NULL, name, 0);
	path = esc ? docker_printf("/%s/%s%s", kind, esc, tail) : NULL;
	if (!path) {
		docker_set_err(err, errlen, "docker: out of memory");
		rc = -ENOMEM;
		goto out;
	}
	c.path = path;
	rc = docker_perform(d, &c, r, err, errlen);
out:
	curl_free(esc);
	free(path);
	return rc;
}

int docker_image_exists(struct docker *d, const char *image, char *err, size_t errlen)
{
	struct docker_reply r = {0};
	int rc;

	rc = object_call(d, "GET", "images", image, "/json", d->timeout_ms, &r, err, errlen);
	if (rc == 0)
		rc = check_status(&r, 200, 200, "inspect image", err, errlen);
	reply_free(&r);
	return rc;
}

int docker_container_create(struct docker *d, const char *name, const char *spec_json,
			    char id[CXD_CONTAINER_ID_MAX + 1], long *status, char *err,
			    size_t errlen)
{
	struct docker_call c = {.method = "POST", .json = spec_json, .timeout_ms = d->timeout_ms};
	struct docker_reply r = {0};
	char *esc = NULL;
	char *path = NULL;
	cJSON *j = NULL;
	const cJSON *jid;
	int rc;

	if (!spec_json) {
		docker_set_err(err, errlen, "create container: no spec given");
		return -EINVAL;
	}
	esc = name ? curl_easy_escape(NULL, name, 0) : NULL;
	path = name ? (esc ? docker_printf("/containers/create?name=%s", esc) : NULL)
		    : strdup("/containers/create");
	if (!path) {
		docker_set_err(err, errlen, "docker: out of memory");
		rc = -ENOMEM;
		goto out;
	}
	c.path = path;
	rc = docker_perform(d, &c, &r, err, errlen);
	if (status)
		*status = r.status;
	if (rc == 0)
		rc = check_status(&r, 201, 200, "create container", err, errlen);
	if (rc != 0)
		goto out;
	j = cJSON_Parse(r.body.data);
	jid = cJSON_GetObjectItemCaseSensitive(j, "Id");
	if (!cJSON_IsString(jid) || jid->valuestring[0] == '\0' ||
	    strlen(jid->valuestring) > CXD_CONTAINER_ID_MAX ||
	    jid->valuestring[strspn(jid->valuestring, "0123456789abcdef")] != '\0') {
		docker_set_err(err, errlen, "create container: the Docker engine sent no valid Id");
		rc = -EPROTO;
		goto out;
	}
	memcpy(id, jid->valuestring, strlen(jid->valuestring) + 1);
out:
	cJSON_Delete(j);
	reply_free(&r);
	curl_free(esc);
	free(path);
	return rc;
}

/* A container action without an answer body: the statuses that mean done,
 * and the engine errors that mean done as well (the state is reached). */
struct action {
	const char *method;
	const char *tail;
	const char *what;
	long ok[2];
	struct {
		long status;
		const char *text;   /* in the engine's message; NULL: any */
	} done[2];
};

static const struct action start_action = {
	"POST", "/start", "start container", {204, 304}, {{0, NULL}, {0, NULL}},
};
static const struct action kill_action = {   /* SIGKILL; stopped already is fine */
	"POST", "/kill", "kill container", {204, 304}, {{409, "is not running"}, {0, NULL}},
};
static const struct action remove_action = {   /* gone already, or going */
	"DELETE", "?force=1&v=1", "remove container", {204, 200},
	{{404, NULL}, {409, "already in progress"}},
};

static int container_action(struct docker *d, const char *id, const struct action *a,
			    char *err, size_t errlen)
{
	struct docker_reply r = {0};
	char text[CXD_DOCKER_ERROR_TEXT_MAX + 1];
	int rc;

	rc = object_call(d, a->method, "containers", id, a->tail, d->timeout_ms, &r, err, errlen);
	if (rc != 0)
		goto out;
	docker_engine_text(r.body.data, r.status, text, sizeof(text));
	for (size_t i = 0; i < 2; i++)
		if (r.status == a->done[i].status && (!a->done[i].text || strstr(text, a->done[i].text)))
			goto out;
	rc = check_status(&r, a->ok[0], a->ok[1], a->what, err, errlen);
out:
	reply_free(&r);
	return rc;
}

int docker_container_start(struct docker *d, const char *id, char *err, size_t errlen)
{
	return container_action(d, id, &start_action, err, errlen);
}

int docker_container_kill(struct docker *d, const char *id, char *err, size_t errlen)
{
	return container_action(d, id, &kill_action, err, errlen);
}

int docker_container_remove(struct docker *d, const char *id, char *err, size_t errlen)
{
	return container_action(d, id, &remove_action, err, errlen);
}

int docker_container_update(struct docker *d, const char *id, const char *resources_json,
			    char *err, size_t errlen)
{
	struct docker_reply r = {0};
	char *esc = curl_easy_escape(NULL, id ? id : "", 0);
	char *path = esc ? docker_printf("/containers/%s/update", esc) : NULL;
	struct docker_call c = {.method = "POST", .path = path, .json = resources_json,
				.timeout_ms = d->timeout_ms};
	int rc;

	if (!path) {
		docker_set_err(err, errlen, "docker: out of memory");
		rc = -ENOMEM;
	} else {
		rc = docker_perform(d, &c, &r, err, errlen);
		if (rc == 0)
			rc = check_status(&r, 200, 200, "update container", err, errlen);
	}
	reply_free(&r);
	curl_free(esc);
	free(path);
	return rc;
}

/* The State of a /containers/{id}/json answer. */
int docker_parse_state(const char *body, struct docker_state *st, char *err, size_t errlen)
{
	cJSON *j = body ? cJSON_Parse(body) : NULL;
	const cJSON *state = cJSON_GetObjectItemCaseSensitive(j, "State");
	const cJSON *running = cJSON_GetObjectItemCaseSensitive(state, "Running");
	const cJSON *oom = cJSON_GetObjectItemCaseSensitive(state, "OOMKilled");
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(state, "ExitCode");
	int rc = 0;

	if (!cJSON_IsBool(running) || !cJSON_IsBool(oom) || !cJSON_IsNumber(code)) {
		docker_set_err(err, errlen, "inspect container: the Docker engine sent no State");
		rc = -EPROTO;
		goto out;
	}
	st->running = cJSON_IsTrue(running);
	st->oom_killed = cJSON_IsTrue(oom);
	st->exit_code = code->valueint;
out:
	cJSON_Delete(j);
	return rc;
}

int docker_container_inspect(struct docker *d, const char *id, struct docker_state *st,
			     char *err, size_t errlen)
{
	struct docker_reply r = {0};
	int rc;

	rc = object_call(d, "GET", "containers", id, "/json", d->timeout_ms, &r, err, errlen);
	if (rc == 0)
		rc = check_status(&r, 200, 200, "inspect container", err, errlen);
	if (rc == 0)
		rc = docker_parse_state(r.body.data, st, err, errlen);
	reply_free(&r);
	return rc;
}

/* The StatusCode of a /containers/{id}/wait answer, or its Error. */
int docker_parse_wait(const char *body, int *exit_code, char *err, size_t errlen)
{
	cJSON *j = body ? cJSON_Parse(body) : NULL;
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(j, "StatusCode");
	const cJSON *error = cJSON_GetObjectItemCaseSensitive(j, "Error");
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(error, "Message");
	int rc = 0;

	if (cJSON_IsString(msg) && msg->valuestring[0] != '\0') {
		docker_set_err(err, errlen, "wait container: %.*s", (int)CXD_DOCKER_ERROR_TEXT_MAX,
			       msg->valuestring);
		rc = -EIO;
	} else if (!cJSON_IsNumber(code)) {
		docker_set_err(err, errlen, "wait container: the Docker engine sent no StatusCode");
		rc = -EPROTO;
	} else {
		*exit_code = code->valueint;
	}
	cJSON_Delete(j);
	return rc;
}

int docker_container_wait(struct docker *d, const char *id, int timeout_ms, int *exit_code,
			  char *err, size_t errlen)
{
	struct docker_reply r = {0};
	int rc;

	if (timeout_ms <= 0) {
		docker_set_err(err, errlen, "wait container: the timeout must be positive");
		return -EINVAL;
	}
	rc = object_call(d, "POST", "containers", id, "/wait", timeout_ms, &r, err, errlen);
	if (rc == 0)
		rc = check_status(&r, 200, 200, "wait container", err, errlen);
	if (rc == 0)
		rc = docker_parse_wait(r.body.data, exit_code, err, errlen);
	reply_free(&r);
	return rc;
}

/* --- listing -------------------------------------------------------------- */

/* The Ids of a /containers/json answer. On success *ids and *n are the
 * caller's (docker_free_ids). */
int docker_parse_ids(const char *body, char ***ids, size_t *n, char *err, size_t errlen)
{
	cJSON *j = cJSON_Parse(body);
	const cJSON *item;
	char **v = NULL;
	size_t count, have = 0;
	int rc = -EPROTO;

	if (!cJSON_IsArray(j))
		goto out;
	count = (size_t)cJSON_GetArraySize(j);
	v = calloc(count + 1, sizeof(*v));
	if (!v) {
		rc = -ENOMEM;
		goto out;
	}
	cJSON_ArrayForEach(item, j) {
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(item, "Id");

		if (have == count || !cJSON_IsString(id))
			goto out;
		v[have] = strdup(id->valuestring);
		if (!v[have]) {
			rc = -ENOMEM;
			goto out;
		}
		have++;
	}
	*ids = v;   /* hand-off to the caller */
	*n = have;
	v = NULL;
	rc = 0;
out:
	if (rc != 0)
		docker_set_err(err, errlen, rc == -ENOMEM ? "docker: out of memory"
				: "list containers: the Docker engine sent no list of containers");
	docker_free_ids(v, have);
	cJSON_Delete(j);
	return rc;
}

/* filters={"label":["key=value"]}, URL-escaped; malloc'ed path or NULL. */
static char *label_path(const char *label)
{
	cJSON *f = cJSON_CreateObject();
	cJSON *list = cJSON_AddArrayToObject(f, "label");
	cJSON *item = cJSON_CreateString(label);
	char *json = NULL;
	char *esc = NULL;
	char *path = NULL;

	if (!list || !item) {
		cJSON_Delete(item);
		goto out;
	}
	cJSON_AddItemToArray(list, item);   /* hand-off: f owns item now */
	json = cJSON_PrintUnformatted(f);
	esc = json ? curl_easy_escape(NULL, json, 0) : NULL;
	path = esc ? docker_printf("/containers/json?all=1&filters=%s", esc) : NULL;
out:
	curl_free(esc);
	cJSON_free(json);
	cJSON_Delete(f);
	return path;
}

int docker_containers_by_label(struct docker *d, const char *label, char ***ids, size_t *n,
			       char *err, size_t errlen)
{
	struct docker_call c = {.method = "GET", .timeout_ms = d->timeout_ms};
	struct docker_reply r = {0};
	char *path = NULL;
	int rc;

	if (!label || label[0] == '\0') {
		docker_set_err(err, errlen, "list containers: no label given");
		return -EINVAL;
	}
	path = label_path(label);
	if (!path) {
		docker_set_err(err, errlen, "docker: out of memory");
		return -ENOMEM;
	}
	c.path = path;
	rc = docker_perform(d, &c, &r, err, errlen);
	if (rc == 0)
		rc = check_status(&r, 200, 200, "list containers", err, errlen);
	if (rc == 0)
		rc = docker_parse_ids(r.body.data, ids, n, err, errlen);
	reply_free(&r);
	free(path);
	return rc;
}

void docker_free_ids(char **ids, size_t n)
{
	if (!ids)
		return;
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}
