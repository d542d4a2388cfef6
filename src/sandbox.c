/* The sandbox: one fresh, hardened container per execution (this file: the
 * container spec, starting a container, health, cleanup), and the run
 * protocol that moves the job in and the results out (sandbox_run.c).
 *
 * Why a stream and not the archive API: the container's root filesystem is
 * read-only and its writable places are tmpfs mounts, so PUT /archive is
 * refused and GET /archive cannot see what the code wrote. Instead the
 * container runs src/runner.py (built into the daemon), attached before it
 * starts: the job (code, files, stdin) goes in through its stdin, and the
 * code's output, the output files and the exit status come back as records
 * on its stdout (protocol.h). One create, one attach, one start and, after
 * the answer, one delete: four engine calls, and the same protocol serves a
 * pool of pre-started containers later.
 *
 * Everything that comes back is written by hostile code: every record is
 * capped, the output files are re-checked entry by entry (archive.c), and
 * the limits (time, output size) are enforced here, never taken from the
 * container's word. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "codeexecd/docker.h"
#include "codeexecd/embedded.h"
#include "codeexecd/sandbox.h"

#include "sandbox_internal.h"

#define LABEL_MANAGED "io.codeexecd.managed"
#define LABEL_INSTANCE "io.codeexecd.instance"
#define LABEL_EXECUTION "io.codeexecd.execution"

long sandbox_now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

int sandbox_create(struct sandbox **out, const struct config *cfg, int port, char *err,
		   size_t errlen)
{
	struct sandbox *sb = calloc(1, sizeof(*sb));
	char host[64] = "localhost";
	int rc;

	if (!sb)
		return -ENOMEM;
	sb->cfg = cfg;
	(void)gethostname(host, sizeof(host) - 1);
	/* Stable across restarts, distinct for daemons on one engine. */
	(void)snprintf(sb->instance, sizeof(sb->instance), "%s-%d", host, port);
	rc = docker_open(&sb->docker, cfg->docker.host, cfg->docker.api_timeout_seconds, err,
			 errlen);
	if (rc != 0) {
		free(sb);
		return rc;
	}
	*out = sb;
	return 0;
}

void sandbox_destroy(struct sandbox *sb)
{
	if (!sb)
		return;
	docker_close(sb->docker);
	free(sb);
}

const char *sandbox_instance(const struct sandbox *sb)
{
	return sb->instance;
}

int sandbox_check(struct sandbox *sb, char *msg, size_t msglen)
{
	char err[CXD_ERR_MAX] = "";
	int rc = docker_ping(sb->docker, err, sizeof(err));

	if (rc != 0) {
		(void)snprintf(msg, msglen, "Docker engine unavailable: %s", err);
		return -EHOSTUNREACH;
	}
	rc = docker_image_exists(sb->docker, sb->cfg->docker.image, err, sizeof(err));
	if (rc == -ENOENT) {
		(void)snprintf(msg, msglen, "Sandbox image '%s' is missing on the Docker engine",
			       sb->cfg->docker.image);
		return -ENOENT;
	}
	if (rc != 0) {
		(void)snprintf(msg, msglen, "Docker engine error: %s", err);
		return rc == -EHOSTUNREACH ? rc : -EIO;
	}
	(void)snprintf(msg, msglen, "Docker engine %s reachable, image %s present",
		       docker_api_version(sb->docker), sb->cfg->docker.image);
	return 0;
}

int sandbox_ensure_image(struct sandbox *sb, char *err, size_t errlen)
{
	int rc = docker_image_exists(sb->docker, sb->cfg->docker.image, err, errlen);

	if (rc == -ENOENT && sb->cfg->docker.pull_missing_image)
		rc = docker_image_pull(sb->docker, sb->cfg->docker.image, err, errlen);
	if (rc == -ENOENT)
		(void)snprintf(err, errlen,
			       "Sandbox image '%s' is not present on the Docker engine (build it "
			       "with `make image`, or set docker.pull_missing_image)",
			       sb->cfg->docker.image);
	return rc;
}

int sandbox_cleanup_stale(struct sandbox *sb, int *removed, char *err, size_t errlen)
{
	char label[256];
	char **ids = NULL;
	size_t n = 0;
	int rc;

	*removed = 0;
	(void)snprintf(label, sizeof(label), LABEL_INSTANCE "=%s", sb->instance);
	rc = docker_containers_by_label(sb->docker, label, &ids, &n, err, errlen);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		if (docker_container_remove(sb->docker, ids[i], err, errlen) == 0)
			(*removed)++;
	}
	docker_free_ids(ids, n);
	return 0;
}

int sandbox_remove(struct sandbox *sb, const char *container_id, char *err, size_t errlen)
{
	return docker_container_remove(sb->docker, container_id, err, errlen);
}

/* nproc counts every process of the uid on the host under runc (no user
 * namespace), so "auto" (0) leaves room for every concurrent container;
 * under gVisor it is counted per sandbox and caps forks by itself. */
static long nproc_limit(const struct config *cfg)
{
	if (cfg->limits.nproc > 0)
		return cfg->limits.nproc;
	if (strcmp(cfg->docker.runtime, "runsc") == 0)
		return cfg->limits.pids;
	return (long)cfg->limits.pids * cfg->execution.max_concurrent + 64;
}

/* Under gVisor the pids cgroup also counts the sandbox kernel's own host
 * threads and, with the ptrace platform, a host process per application
 * thread: a cgroup limit near the code's own kills the sandbox (measured:
 * 278 for nproc 50 did, 512 did not). So it gets wide headroom there, and
 * nproc, counted inside the sandbox, caps the code's processes. */
static long pids_limit(const struct config *cfg)
{
	if (strcmp(cfg->docker.runtime, "runsc") == 0)
		return (long)cfg->limits.pids * 10 + 256;
	return cfg->limits.pids;
}

static void add_ulimit(cJSON *list, const char *name, long value)
{
	cJSON *u = cJSON_CreateObject();

	cJSON_AddStringToObject(u, "Name", name);
	cJSON_AddNumberToObject(u, "Soft", (double)value);
	cJSON_AddNumberToObject(u, "Hard", (double)value);
	cJSON_AddItemToArray(list, u); /* list owns u */
}

static cJSON *host_config(const struct config *cfg)
{
	cJSON *hc = cJSON_CreateObject(), *tmpfs, *caps, *sec, *ul, *log;
	char opt[160];

	cJSON_AddStringToObject(hc, "NetworkMode", "none");
	cJSON_AddBoolToObject(hc, "ReadonlyRootfs", true);
	caps = cJSON_AddArrayToObject(hc, "CapDrop");
	cJSON_AddItemToArray(caps, cJSON_CreateString("ALL"));
	sec = cJSON_AddArrayToObject(hc, "SecurityOpt");
	cJSON_AddItemToArray(sec, cJSON_CreateString("no-new-privileges:true"));
	cJSON_AddNumberToObject(hc, "PidsLimit", (double)pids_limit(cfg));
	cJSON_AddNumberToObject(hc, "Memory", (double)cfg->limits.memory_bytes);
	cJSON_AddNumberToObject(hc, "MemorySwap", (double)cfg->limits.memory_bytes);
	cJSON_AddNumberToObject(hc, "NanoCpus", (double)(long long)(cfg->limits.cpus * 1e9));
	cJSON_AddNumberToObject(hc, "ShmSize", 64.0 * 1024 * 1024);
	cJSON_AddStringToObject(hc, "IpcMode", "private");
	ul = cJSON_AddArrayToObject(hc, "Ulimits");
	add_ulimit(ul, "nofile", cfg->limits.nofile);
	add_ulimit(ul, "nproc", nproc_limit(cfg));
	add_ulimit(ul, "fsize", cfg->limits.fsize_bytes);
	add_ulimit(ul, "core", 0);
	tmpfs = cJSON_AddObjectToObject(hc, "Tmpfs");
	(void)snprintf(opt, sizeof(opt), "rw,nosuid,nodev,noexec,size=%ld,mode=1777",
		       cfg->limits.tmp_bytes);
	cJSON_AddStringToObject(tmpfs, "/tmp", opt);
	(void)snprintf(opt, sizeof(opt),
		       "rw,nosuid,nodev,noexec,size=%ld,uid=1000,gid=1000,mode=0755",
		       cfg->limits.workdir_bytes);
	cJSON_AddStringToObject(tmpfs, "/execution", opt);
	log = cJSON_AddObjectToObject(hc, "LogConfig");
	cJSON_AddStringToObject(log, "Type", "none"); /* output goes through attach only */
	if (cfg->docker.runtime[0])
		cJSON_AddStringToObject(hc, "Runtime", cfg->docker.runtime);
	return hc;
}

/* The runner's settings (its argv[1]): what a warm (pooled) container
 * imports while it waits, and whether the code runs in a fork of the
 * runner or in a plain interpreter (see src/runner.py). */
static char *runner_settings(const struct config *cfg, bool warm)
{
	cJSON *o = cJSON_CreateObject(), *pre;
	char *text = NULL;

	if (!o)
		return NULL;
	pre = cJSON_AddArrayToObject(o, "preload");
	for (size_t i = 0; warm && i < cfg->execution.preload.n; i++)
		cJSON_AddItemToArray(pre, cJSON_CreateString(cfg->execution.preload.items[i]));
	cJSON_AddBoolToObject(o, "fork", cfg->execution.zygote);
	text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return text;
}

char *sandbox_container_spec(const struct config *cfg, const char *instance, const char *exec_id,
			     bool warm)
{
	/* The old service's environment, less PYTHONPYCACHEPREFIX (it made
	 * Python ignore the libraries' shipped bytecode and compile pandas on
	 * every run); nothing writes bytecode instead. */
	static const char *const env[] = {
		"HOME=/execution", "XDG_CACHE_HOME=/execution/.cache",
		"XDG_CONFIG_HOME=/execution/.config", "MPLCONFIGDIR=/execution/.config/matplotlib",
		"PYTHONDONTWRITEBYTECODE=1", "MPLBACKEND=Agg",
		"PYTHONUNBUFFERED=1", "LANG=C.UTF-8",
	};
	const struct embedded_file *runner = embedded_find("runner.py");
	cJSON *spec = cJSON_CreateObject(), *cmd, *e, *labels;
	char *text = NULL, *settings = runner_settings(cfg, warm);

	if (!spec || !runner || !settings)
		goto out;
	cJSON_AddStringToObject(spec, "Image", cfg->docker.image);
	/* Not -I: the code, a fork of this interpreter, must see the flags of
	 * a plain `python main.py`; the runner reads nothing the code wrote
	 * before it starts (the job comes after). */
	cmd = cJSON_AddArrayToObject(spec, "Cmd");
	cJSON_AddItemToArray(cmd, cJSON_CreateString("python"));
	cJSON_AddItemToArray(cmd, cJSON_CreateString("-c"));
	cJSON_AddItemToArray(cmd, cJSON_CreateString((const char *)runner->data));
	cJSON_AddItemToArray(cmd, cJSON_CreateString(settings));
	cJSON_AddStringToObject(spec, "User", "1000:1000");
	cJSON_AddStringToObject(spec, "WorkingDir", "/");
	e = cJSON_AddArrayToObject(spec, "Env");
	for (size_t i = 0; i < sizeof(env) / sizeof(env[0]); i++)
		cJSON_AddItemToArray(e, cJSON_CreateString(env[i]));
	cJSON_AddBoolToObject(spec, "AttachStdin", true);
	cJSON_AddBoolToObject(spec, "AttachStdout", true);
	cJSON_AddBoolToObject(spec, "AttachStderr", true);
	cJSON_AddBoolToObject(spec, "OpenStdin", true);
	cJSON_AddBoolToObject(spec, "StdinOnce", true);
	cJSON_AddBoolToObject(spec, "Tty", false);
	cJSON_AddBoolToObject(spec, "NetworkDisabled", true);
	labels = cJSON_AddObjectToObject(spec, "Labels");
	cJSON_AddStringToObject(labels, LABEL_MANAGED, "true");
	cJSON_AddStringToObject(labels, LABEL_INSTANCE, instance);
	cJSON_AddStringToObject(labels, LABEL_EXECUTION, exec_id);
	cJSON_AddItemToObject(spec, "HostConfig", host_config(cfg)); /* spec owns it */
	text = cJSON_PrintUnformatted(spec);
out:
	cJSON_Delete(spec);
	free(settings);
	return text;
}


/* Creates the container (pulling the image first if so configured). */
static int create_container(struct sandbox *sb, struct sandbox_slot *slot, bool warm,
			    char *err, size_t errlen)
{
	char *spec = sandbox_container_spec(sb->cfg, sb->instance, slot->exec_id, warm);
	char name[CXD_CONTAINER_ID_MAX + 1];
	int rc;

	if (!spec)
		return -ENOMEM;
	/* Named, so that a create whose answer never came (the engine made the
	 * container, then the call timed out) can still be removed by name. */
	(void)snprintf(name, sizeof(name), "codeexecd-%s", slot->exec_id);
	rc = docker_container_create(sb->docker, name, spec, slot->container_id, err, errlen);
	if (rc == -ENOENT) {
		rc = sandbox_ensure_image(sb, err, errlen);
		if (rc == 0)
			rc = docker_container_create(sb->docker, name, spec, slot->container_id, err,
						     errlen);
		else if (rc != -EHOSTUNREACH)
			rc = -ENOENT;
	}
	if (rc == -EHOSTUNREACH)
		(void)snprintf(slot->container_id, sizeof(slot->container_id), "%s", name);
	free(spec);
	return rc;
}

int sandbox_slot_open(struct sandbox *sb, const char *exec_id, bool warm, int cancel_fd,
		      struct sandbox_slot **out, char *err, size_t errlen)
{
	struct sandbox_slot *slot = calloc(1, sizeof(*slot));
	char ignored[CXD_ERR_MAX];
	long t0 = sandbox_now_ms();
	int rc;

	if (!slot)
		return -ENOMEM;
	(void)snprintf(slot->exec_id, sizeof(slot->exec_id), "%s", exec_id);
	rc = create_container(sb, slot, warm, err, errlen);
	slot->ms_create = sandbox_now_ms() - t0;
	if (rc != 0)
		goto out;
	/* Attach before start, so that no output can be missed. */
	rc = docker_attach(sb->docker, slot->container_id, &slot->stream, err, errlen);
	slot->ms_attach = sandbox_now_ms() - t0 - slot->ms_create;
	if (rc == 0)
		rc = docker_container_start(sb->docker, slot->container_id, err, errlen);
	slot->ms_start = sandbox_now_ms() - t0 - slot->ms_create - slot->ms_attach;
	/* A warm container is handed out only once it has preloaded: no job
	 * waits behind an import, and the pool can pace the imports' CPU. A
	 * cold one's 'R' comes first in its run. */
	if (rc == 0 && warm)
		rc = sandbox_slot_wait_ready(slot, CXD_PRELOAD_WAIT_MS, cancel_fd, err, errlen);
	slot->opened_ms = sandbox_now_ms();
out:
	*out = NULL;
	if (rc != 0) {
		docker_stream_close(slot->stream);
		slot->stream = NULL;
		if (slot->container_id[0] &&
		    docker_container_remove(sb->docker, slot->container_id, ignored,
					    sizeof(ignored)) != 0)
			*out = slot; /* the caller must still have it removed */
		else
			sandbox_slot_close(slot);
		return rc;
	}
	*out = slot;
	return 0;
}

bool sandbox_slot_usable(const struct sandbox_slot *slot)
{
	struct pollfd p = { .fd = slot->stream ? docker_stream_fd(slot->stream) : -1,
			    .events = POLLIN | POLLRDHUP };

	/* The runner says nothing before its job: anything readable (its
	 * death, the engine closing the stream) makes the slot useless. */
	return p.fd >= 0 && poll(&p, 1, 0) == 0;
}

const char *sandbox_slot_exec_id(const struct sandbox_slot *slot)
{
	return slot->exec_id;
}

const char *sandbox_slot_container(const struct sandbox_slot *slot)
{
	return slot->container_id;
}

long sandbox_slot_age_ms(const struct sandbox_slot *slot)
{
	return sandbox_now_ms() - slot->opened_ms;
}

void sandbox_slot_phases(const struct sandbox_slot *slot, struct exec_phases *ph)
{
	ph->create_ms = slot->ms_create;
	ph->attach_ms = slot->ms_attach;
	ph->start_ms = slot->ms_start;
	ph->preload_ms = slot->ms_preload;
	ph->preloaded = slot->preloaded;
}

void sandbox_slot_close(struct sandbox_slot *slot)
{
	if (!slot)
		return;
	docker_stream_close(slot->stream);
	free(slot);
}
