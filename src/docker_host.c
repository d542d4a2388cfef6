/* The Docker client's transport set-up: DOCKER_HOST (unix:// or tcp://), TLS
 * (struct docker_tls: docker.tls_verify and docker.cert_path, the CLI's
 * DOCKER_TLS_VERIFY and DOCKER_CERT_PATH), and the handle's life
 * (docker_open, docker_close). The calls are in docker.c and
 * docker_stream.c; this file needs no curl_*. */
#include "codeexecd/docker.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "docker_internal.h"

#define DEFAULT_HOST "unix:///var/run/docker.sock"
#define DEFAULT_PORT 2375
#define DEFAULT_TLS_PORT 2376
#define HOST_NAME_MAX_LEN 255

/* --- DOCKER_HOST ---------------------------------------------------------- */

static int parse_unix(struct docker *d, const char *host, const char *path, char *err,
		      size_t errlen)
{
	if (path[0] != '/') {
		docker_set_err(err, errlen, "DOCKER_HOST \"%s\": the socket path must be absolute "
			       "(unix:///path)", host);
		return -EINVAL;
	}
	d->socket_path = strdup(path);
	d->base_url = strdup("http://docker");
	d->endpoint = docker_printf("unix://%s", path);
	if (!d->socket_path || !d->base_url || !d->endpoint)
		return -ENOMEM;
	return 0;
}

/* "host", "host:port", "[v6]" or "[v6]:port", an optional "/" after. */
static int split_host_port(const char *s, char *host, size_t hostlen, long *port)
{
	const char *end;
	char *stop;

	if (*s == '[') {
		end = s + 1 + strspn(s + 1, "0123456789abcdefABCDEF:.");
		if (*end != ']' || end == s + 1)
			return -EINVAL;
		end++;
	} else {
		end = s + strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "0123456789.-_");
		if (end == s)
			return -EINVAL;
	}
	if ((size_t)(end - s) >= hostlen)
		return -EINVAL;
	memcpy(host, s, (size_t)(end - s));
	host[end - s] = '\0';
	*port = 0;
	if (*end == ':') {
		if (!isdigit((unsigned char)end[1]))
			return -EINVAL;
		errno = 0;
		*port = strtol(end + 1, &stop, 10);
		if (errno != 0 || *port < 1 || *port > 65535)
			return -EINVAL;
		end = stop;
	}
	if (*end == '/')
		end++;
	return *end == '\0' ? 0 : -EINVAL;
}

/* Certificates from tls->cert_path, else ~/.docker (as the CLI). */
static int setup_tls(struct docker *d, const struct docker_tls *tls, char *err, size_t errlen)
{
	const char *dir = tls->cert_path;
	char *home_dir = NULL;
	int rc = 0;

	if (!dir || dir[0] == '\0') {
		const char *home = getenv("HOME");

		if (!home || home[0] == '\0') {
			docker_set_err(err, errlen, "docker.tls_verify (DOCKER_TLS_VERIFY) is on "
				       "but neither docker.cert_path (DOCKER_CERT_PATH) nor HOME is set");
			return -EINVAL;
		}
		home_dir = docker_printf("%s/.docker", home);
		if (!home_dir)
			return -ENOMEM;
		dir = home_dir;
	}
	d->tls_ca = docker_printf("%s/ca.pem", dir);
	d->tls_cert = docker_printf("%s/cert.pem", dir);
	d->tls_key = docker_printf("%s/key.pem", dir);
	d->tls_dir = strdup(dir);
	if (!d->tls_ca || !d->tls_cert || !d->tls_key || !d->tls_dir)
		rc = -ENOMEM;
	free(home_dir);
	return rc;
}

static int parse_tcp(struct docker *d, const char *host, const char *rest,
		     const struct docker_tls *opt, char *err, size_t errlen)
{
	bool tls = opt && opt->verify;
	char name[HOST_NAME_MAX_LEN + 1];
	long port;
	int rc;

	if (split_host_port(rest, name, sizeof(name), &port) != 0) {
		docker_set_err(err, errlen, "DOCKER_HOST \"%s\": expected tcp://host:port with a "
			       "port in 1..65535", host);
		return -EINVAL;
	}
	if (port == 0)
		port = tls ? DEFAULT_TLS_PORT : DEFAULT_PORT;
	if (tls) {
		rc = setup_tls(d, opt, err, errlen);
		if (rc != 0)
			return rc;
	}
	d->base_url = docker_printf("%s://%s:%ld", tls ? "https" : "http", name, port);
	d->endpoint = d->base_url ? strdup(d->base_url) : NULL;
	return d->endpoint ? 0 : -ENOMEM;
}

/* --- open / close --------------------------------------------------------- */

int docker_open(struct docker **out, const char *host, const struct docker_tls *tls,
		int timeout_s, char *err, size_t errlen)
{
	struct docker *d = NULL;
	int rc;

	if (!out || timeout_s <= 0) {
		docker_set_err(err, errlen, "docker: the call timeout must be positive");
		return -EINVAL;
	}
	if (!host || host[0] == '\0')
		host = DEFAULT_HOST;
	d = calloc(1, sizeof(*d));
	if (!d || pthread_mutex_init(&d->lock, NULL) != 0) {
		free(d);
		docker_set_err(err, errlen, "docker: out of memory");
		return -ENOMEM;
	}
	atomic_init(&d->negotiated, false);
	d->timeout_ms = (long)timeout_s * 1000L;
	if (strncmp(host, "unix://", 7) == 0)
		rc = parse_unix(d, host, host + 7, err, errlen);
	else if (strncmp(host, "tcp://", 6) == 0)
		rc = parse_tcp(d, host, host + 6, tls, err, errlen);
	else {
		docker_set_err(err, errlen, "DOCKER_HOST \"%s\" is neither unix:///path nor "
			       "tcp://host:port", host);
		rc = -EINVAL;
	}
	if (rc == -ENOMEM)
		docker_set_err(err, errlen, "docker: out of memory");
	if (rc != 0)
		goto out;
	*out = d;   /* hand-off: the caller frees it with docker_close */
	d = NULL;
out:
	docker_close(d);
	return rc;
}

void docker_close(struct docker *d)
{
	if (!d)
		return;
	(void)pthread_mutex_destroy(&d->lock);
	free(d->endpoint);
	free(d->socket_path);
	free(d->base_url);
	free(d->tls_ca);
	free(d->tls_cert);
	free(d->tls_key);
	free(d->tls_dir);
	free(d);
}

const char *docker_endpoint(const struct docker *d)
{
	return d->endpoint;
}
