/* The instance id (see instance.h). A daemon used to name itself after its
 * host name and port; two daemons in containers with the same host name on
 * one engine then removed each other's sandboxes at start. A random id kept
 * in a state file is distinct for every installation and stable across
 * restarts, which is what crash clean-up needs. */
#include "codeexecd/instance.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codeexecd/execution.h"

#define DEFAULT_STATE_DIR "/var/lib/codeexecd"

bool instance_id_valid(const char *id, size_t len)
{
	if (len == 0 || len > CXD_INSTANCE_ID_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = id[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

static void random_id(char id[CXD_INSTANCE_ID_MAX + 1])
{
	char a[CXD_EXEC_ID_LEN + 1], b[CXD_EXEC_ID_LEN + 1];

	exec_id_new(a);
	exec_id_new(b);
	(void)snprintf(id, CXD_INSTANCE_ID_MAX + 1, "%s%s", a, b);
}

/* The state directory: the configured one, systemd's (the first of a
 * colon-separated list), or the default. */
static void state_dir(const struct config *cfg, char *dir, size_t len)
{
	const char *env = getenv("STATE_DIRECTORY");

	if (cfg->server.state_dir[0])
		(void)snprintf(dir, len, "%s", cfg->server.state_dir);
	else if (env && env[0])
		(void)snprintf(dir, len, "%.*s", (int)strcspn(env, ":"), env);
	else
		(void)snprintf(dir, len, "%s", DEFAULT_STATE_DIR);
}

/* Reads an id from path: 0, -ENOENT, -EINVAL (not an id), or -errno. */
static int read_id(const char *path, char id[CXD_INSTANCE_ID_MAX + 1])
{
	char buf[CXD_INSTANCE_ID_MAX + 2];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	(void)close(fd);
	if (n < 0)
		return -EIO;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	if (!instance_id_valid(buf, (size_t)n))
		return -EINVAL;
	memcpy(id, buf, (size_t)n);
	id[n] = '\0';
	return 0;
}

/* Writes a new id to path through a temporary file (no torn file after a
 * crash); a concurrent first start wins or loses as a whole: link() fails
 * with EEXIST for the loser, which then reads the winner's id. */
static int write_id(const char *dir, const char *path, char id[CXD_INSTANCE_ID_MAX + 1],
		    bool replace)
{
	char tmp[CXD_CONFIG_STRING_MAX + 64], line[CXD_INSTANCE_ID_MAX + 2];
	int fd, rc = 0;

	(void)mkdir(dir, 0700);
	(void)snprintf(tmp, sizeof(tmp), "%s/.instance.XXXXXX", dir);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	random_id(id);
	int n = snprintf(line, sizeof(line), "%s\n", id);
	if (write(fd, line, (size_t)n) != n || fsync(fd) != 0)
		rc = -EIO;
	(void)close(fd);
	if (rc == 0 && (replace ? rename(tmp, path) : link(tmp, path)) != 0)
		rc = -errno;
	(void)unlink(tmp);
	if (rc == -EEXIST)
		rc = read_id(path, id);
	return rc;
}

int instance_id_load(const struct config *cfg, char id[CXD_INSTANCE_ID_MAX + 1],
		     bool *persisted, char *note, size_t notelen)
{
	char dir[CXD_CONFIG_STRING_MAX], path[CXD_CONFIG_STRING_MAX + 32];
	int rc;

	note[0] = '\0';
	*persisted = false;
	if (cfg->server.instance_id[0]) {
		if (!instance_id_valid(cfg->server.instance_id, strlen(cfg->server.instance_id))) {
			(void)snprintf(note, notelen, "server.instance_id: expected 1 to %d "
				       "characters of A-Z, a-z, 0-9, '_', '.' and '-'",
				       CXD_INSTANCE_ID_MAX);
			return -EINVAL;
		}
		(void)snprintf(id, CXD_INSTANCE_ID_MAX + 1, "%s", cfg->server.instance_id);
		*persisted = true;
		return 0;
	}
	if (cfg->server.port == 0) {
		random_id(id);
		(void)snprintf(note, notelen, "port 0: the instance id is not kept");
		return 0;
	}
	state_dir(cfg, dir, sizeof(dir));
	(void)snprintf(path, sizeof(path), "%s/instance-%d.id", dir, cfg->server.port);
	rc = read_id(path, id);
	if (rc == -ENOENT || rc == -EINVAL)
		rc = write_id(dir, path, id, rc == -EINVAL);
	if (rc != 0) {
		random_id(id);
		(void)snprintf(note, notelen, "%s: %s; the instance id is not kept (set "
			       "server.state_dir or server.instance_id)", path, strerror(-rc));
		return 0;
	}
	*persisted = true;
	return 0;
}
