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
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "codeexecd/docker.h"
#include "codeexecd/embedded.h"
#include "codeexecd/log.h"
#include "codeexecd/metrics.h"
#include "codeexecd/sandbox.h"

#include "sandbox_internal.h"

#define LABEL_MANAGED "io.codeexecd.managed"
#define LABEL_INSTANCE "io.codeexecd.instance"
#define LABEL_EXECUTION "io.codeexecd.execution"
#define SANDBOX_USER "sandbox"           /* USER and LOGNAME of the code */
#define SHM_BYTES (64L * 1024 * 1024)    /* /dev/shm */
#define PRELOAD_CPU_SHARES 2              /* cpu.shares while a pooled container preloads */

long sandbox_now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* The seccomp profile as compact JSON (malloc'ed): docker.seccomp_profile's
 * file, or the built-in one (src/seccomp.json). A file that is not a JSON
 * object with a defaultAction fails here, at start, not at the first run. */
static int load_seccomp(const struct config *cfg, char **out, char *err, size_t errlen)
{
	const struct embedded_file *builtin = embedded_find("seccomp.json");
	const char *path = cfg->docker.seccomp_profile;
	char *text = NULL;
	cJSON *j = NULL;
	size_t len = 0;
	int rc = -EINVAL;

	if (path[0]) {
		FILE *f = fopen(path, "re");
		if (!f) {
			rc = -errno;
			(void)snprintf(err, errlen, "docker.seccomp_profile %s: %s", path,
				       strerror(errno));
			return rc;
		}
		text = malloc(CXD_SECCOMP_PROFILE_MAX + 1);
		if (text)
			len = fread(text, 1, CXD_SECCOMP_PROFILE_MAX + 1, f);
		(void)fclose(f);
		if (!text)
			return -ENOMEM;
		if (len > CXD_SECCOMP_PROFILE_MAX) {
			(void)snprintf(err, errlen, "docker.seccomp_profile %s: larger than %ld bytes",
				       path, (long)CXD_SECCOMP_PROFILE_MAX);
			goto out;
		}
	}
	j = path[0] ? cJSON_ParseWithLength(text, len)
		    : builtin ? cJSON_Parse((const char *)builtin->data) : NULL;
	if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "defaultAction"))) {
		(void)snprintf(err, errlen, "docker.seccomp_profile %s: not a seccomp profile (a "
			       "JSON object with \"defaultAction\")", path[0] ? path : "(built-in)");
		goto out;
	}
	*out = cJSON_PrintUnformatted(j);
	rc = *out ? 0 : -ENOMEM;
out:
	cJSON_Delete(j);
	free(text);
	return rc;
}

int sandbox_create(struct sandbox **out, const struct config *cfg, const char *instance,
		   char *err, size_t errlen)
{
	struct sandbox *sb = calloc(1, sizeof(*sb));
	struct docker_tls tls;
	int rc;

	if (!sb)
		return -ENOMEM;
	sb->cfg = cfg;
	(void)snprintf(sb->instance, sizeof(sb->instance), "%s", instance);
	pthread_mutex_init(&sb->pull_mu, NULL);
	pthread_mutex_init(&sb->state_mu, NULL);
	tls.verify = cfg->docker.tls_verify;
	tls.cert_path = cfg->docker.cert_path;
	rc = load_seccomp(cfg, &sb->seccomp, err, errlen);
	if (rc == 0)
		rc = docker_open(&sb->docker, cfg->docker.host, &tls, cfg->docker.api_timeout_seconds,
				 err, errlen);
	if (rc != 0) {
		sandbox_destroy(sb);
		return rc;
	}
	*out = sb;
	return 0;
}

void sandbox_reconfigure(struct sandbox *sb, const struct config *cfg)
{
	atomic_store(&sb->cfg, cfg);
}

void sandbox_destroy(struct sandbox *sb)
{
	if (!sb)
		return;
	atomic_store(&sb->pull_cancel, true);
	if (sb->puller_started)
		(void)pthread_join(sb->puller, NULL);
	docker_close(sb->docker);
	cJSON_free(sb->seccomp);
	pthread_mutex_destroy(&sb->pull_mu);
	pthread_mutex_destroy(&sb->state_mu);
	free(sb);
}

const char *sandbox_engine(const struct sandbox *sb)
{
	return docker_endpoint(sb->docker);
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
	metrics_set_engine_api(docker_api_version(sb->docker));
	(void)snprintf(msg, msglen, "Docker engine %s reachable, image %s present",
		       docker_api_version(sb->docker), sb->cfg->docker.image);
	return 0;
}

/* The pull itself; pull_mu held, so pulls run one at a time. */
static int pull_locked(struct sandbox *sb, char *err, size_t errlen)
{
	int rc = docker_image_pull(sb->docker, sb->cfg->docker.image,
				   sb->cfg->docker.pull_timeout_seconds * 1000L, &sb->pull_cancel,
				   err, errlen);

	/* Kept for the answers of runs: the engine's own words (a registry it
	 * cannot reach, an unknown image), never where the engine is. */
	pthread_mutex_lock(&sb->state_mu);
	if (rc == 0)
		sb->pull_err[0] = '\0';
	else if (rc == -EIO || rc == -ENOENT)
		(void)snprintf(sb->pull_err, sizeof(sb->pull_err), "%s", err);
	else if (rc == -ETIMEDOUT)
		(void)snprintf(sb->pull_err, sizeof(sb->pull_err), "the pull did not finish within "
			       "%d s (docker.pull_timeout_seconds)",
			       sb->cfg->docker.pull_timeout_seconds);
	else
		(void)snprintf(sb->pull_err, sizeof(sb->pull_err), "the Docker engine did not "
			       "complete the pull");
	pthread_mutex_unlock(&sb->state_mu);
	return rc;
}

static void *puller_main(void *arg)
{
	struct sandbox *sb = arg;
	char err[CXD_ERR_MAX];

	pthread_mutex_lock(&sb->pull_mu);
	(void)pull_locked(sb, err, sizeof(err));
	pthread_mutex_unlock(&sb->pull_mu);
	pthread_mutex_lock(&sb->state_mu);
	sb->pulling = false;
	pthread_mutex_unlock(&sb->state_mu);
	return NULL;
}

/* Starts a pull in the background unless one runs: requests never wait for
 * a pull, they fail at once (the image is missing) and the next ones find it. */
static void pull_in_background(struct sandbox *sb)
{
	pthread_mutex_lock(&sb->state_mu);
	if (!sb->pulling && !atomic_load(&sb->pull_cancel)) {
		if (sb->puller_started)
			(void)pthread_join(sb->puller, NULL); /* it is ending: pulling is false */
		sb->pulling = true;
		sb->puller_started = pthread_create(&sb->puller, NULL, puller_main, sb) == 0;
		sb->pulling = sb->puller_started;
	}
	pthread_mutex_unlock(&sb->state_mu);
}

/* err = why the image is missing, and what happens about it. */
static void missing_image(struct sandbox *sb, bool pulling, char *err, size_t errlen)
{
	char last[CXD_ERR_MAX];

	pthread_mutex_lock(&sb->state_mu);
	(void)snprintf(last, sizeof(last), "%s", sb->pull_err);
	pthread_mutex_unlock(&sb->state_mu);
	if (!sb->cfg->docker.pull_missing_image)
		(void)snprintf(err, errlen,
			       "Sandbox image '%s' is not present on the Docker engine (build it "
			       "with `make image`, or set docker.pull_missing_image)",
			       sb->cfg->docker.image);
	else if (pulling)
		(void)snprintf(err, errlen, "Sandbox image '%s' is not present on the Docker "
			       "engine; it is being pulled, retry in a moment%s%.300s",
			       sb->cfg->docker.image, last[0] ? " (the last pull failed: " : "",
			       last[0] ? last : "");
	else
		(void)snprintf(err, errlen, "Sandbox image '%s' is not present on the Docker "
			       "engine and could not be pulled: %.300s", sb->cfg->docker.image,
			       last[0] ? last : "unknown error");
	if (pulling && last[0])
		(void)snprintf(err + strlen(err), errlen - strlen(err), ")");
}

int sandbox_ensure_image(struct sandbox *sb, char *err, size_t errlen)
{
	int rc = docker_image_exists(sb->docker, sb->cfg->docker.image, err, errlen);

	if (rc == -ENOENT && sb->cfg->docker.pull_missing_image) {
		pthread_mutex_lock(&sb->pull_mu);
		rc = docker_image_exists(sb->docker, sb->cfg->docker.image, err, errlen);
		if (rc == -ENOENT)
			rc = pull_locked(sb, err, errlen);
		pthread_mutex_unlock(&sb->pull_mu);
		if (rc != 0 && rc != -EHOSTUNREACH) {
			missing_image(sb, false, err, errlen);
			rc = -ENOENT;
		}
	} else if (rc == -ENOENT) {
		missing_image(sb, false, err, errlen);
	}
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
	metrics_count_n(METRICS_C_CONTAINERS_REAPED, *removed);
	docker_free_ids(ids, n);
	return 0;
}

int sandbox_remove(struct sandbox *sb, const char *container_id, char *err, size_t errlen)
{
	return docker_container_remove(sb->docker, container_id, err, errlen);
}

/* RLIMIT_NPROC is counted per real uid over the whole host under runc (no
 * user namespace). The code's uid is the daemon's own (limits.uid, not a
 * login user's), so the count is the sum over this daemon's containers:
 * running ones and answered ones not yet removed (the code's leftover
 * processes live until the reaper removes the container: as many again at
 * worst), each capped by its pids cgroup, and the pool's ready ones (a
 * waiting runner each; 64 at most). "auto" (0) is that sum, so nproc never
 * bites before the pids cgroup and only a second daemon sharing the uid
 * could bring it nearer. It does not depend on the pool, so that a warm and
 * a cold run see the same limits. Under gVisor it is counted per sandbox
 * and caps forks by itself. */
static long nproc_limit(const struct config *cfg)
{
	if (cfg->limits.nproc > 0)
		return cfg->limits.nproc;
	if (strcmp(cfg->docker.runtime, "runsc") == 0)
		return cfg->limits.pids;
	return (long)cfg->limits.pids * 2L * cfg->execution.max_concurrent + 64;
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

/* A tmpfs mount's options: size and inodes capped, owned by owner
 * ("uid=..,gid=..,mode=0755") or shared ("mode=1777"). */
static void add_tmpfs(cJSON *tmpfs, const char *path, long size, const struct config *cfg,
		      bool owned)
{
	char opt[200];

	(void)snprintf(opt, sizeof(opt), "rw,nosuid,nodev,noexec,size=%ld,nr_inodes=%d,", size,
		       cfg->limits.tmpfs_inodes);
	if (owned)
		(void)snprintf(opt + strlen(opt), sizeof(opt) - strlen(opt),
			       "uid=%d,gid=%d,mode=0755", cfg->limits.uid, cfg->limits.gid);
	else
		(void)snprintf(opt + strlen(opt), sizeof(opt) - strlen(opt), "mode=1777");
	cJSON_AddStringToObject(tmpfs, path, opt);
}

static cJSON *host_config(const struct config *cfg, const char *seccomp, bool warm)
{
	cJSON *hc = cJSON_CreateObject(), *tmpfs, *caps, *sec, *ul, *log;
	char *opt;

	cJSON_AddStringToObject(hc, "NetworkMode", "none");
	cJSON_AddBoolToObject(hc, "ReadonlyRootfs", true);
	caps = cJSON_AddArrayToObject(hc, "CapDrop");
	cJSON_AddItemToArray(caps, cJSON_CreateString("ALL"));
	sec = cJSON_AddArrayToObject(hc, "SecurityOpt");
	cJSON_AddItemToArray(sec, cJSON_CreateString("no-new-privileges:true"));
	if (seccomp && asprintf(&opt, "seccomp=%s", seccomp) >= 0) {
		cJSON_AddItemToArray(sec, cJSON_CreateString(opt));
		free(opt);
	}
	cJSON_AddNumberToObject(hc, "PidsLimit", (double)pids_limit(cfg));
	cJSON_AddNumberToObject(hc, "Memory", (double)cfg->limits.memory_bytes);
	cJSON_AddNumberToObject(hc, "MemorySwap", (double)cfg->limits.memory_bytes);
	cJSON_AddNumberToObject(hc, "NanoCpus", (double)(long long)(cfg->limits.cpus * 1e9));
	if (warm)
		cJSON_AddNumberToObject(hc, "CpuShares", PRELOAD_CPU_SHARES);
	cJSON_AddNumberToObject(hc, "ShmSize", (double)SHM_BYTES);
	cJSON_AddStringToObject(hc, "IpcMode", "private");
	ul = cJSON_AddArrayToObject(hc, "Ulimits");
	add_ulimit(ul, "nofile", cfg->limits.nofile);
	add_ulimit(ul, "nproc", nproc_limit(cfg));
	add_ulimit(ul, "fsize", cfg->limits.fsize_bytes);
	add_ulimit(ul, "core", 0);
	/* Every writable place is a tmpfs with its size and inodes capped:
	 * without nr_inodes, empty files cost kernel memory without end. The
	 * engine's own /dev/shm has no inode cap, so it is replaced. */
	tmpfs = cJSON_AddObjectToObject(hc, "Tmpfs");
	add_tmpfs(tmpfs, "/tmp", cfg->limits.tmp_bytes, cfg, false);
	add_tmpfs(tmpfs, "/execution", cfg->limits.workdir_bytes, cfg, true);
	add_tmpfs(tmpfs, "/dev/shm", SHM_BYTES, cfg, false);
	log = cJSON_AddObjectToObject(hc, "LogConfig");
	cJSON_AddStringToObject(log, "Type", "none"); /* output goes through attach only */
	if (cfg->docker.runtime[0])
		cJSON_AddStringToObject(hc, "Runtime", cfg->docker.runtime);
	return hc;
}

/* What the code sees of its identity and of the machine: uid/gid have no
 * passwd entry in the image, so the name comes from the environment
 * (getpass.getuser() reads LOGNAME and USER); math libraries start one
 * thread per host CPU unless told, which on a large host exhausts the pids
 * limit at "import numpy": they get the CPUs the sandbox has. */
static void add_identity_env(cJSON *e, const struct config *cfg)
{
	char v[64];
	int threads = (int)cfg->limits.cpus;

	if ((double)threads < cfg->limits.cpus)
		threads++;
	if (threads < 1)
		threads = 1;
	cJSON_AddItemToArray(e, cJSON_CreateString("USER=" SANDBOX_USER));
	cJSON_AddItemToArray(e, cJSON_CreateString("LOGNAME=" SANDBOX_USER));
	(void)snprintf(v, sizeof(v), "OMP_NUM_THREADS=%d", threads);
	cJSON_AddItemToArray(e, cJSON_CreateString(v));
	(void)snprintf(v, sizeof(v), "OPENBLAS_NUM_THREADS=%d", threads);
	cJSON_AddItemToArray(e, cJSON_CreateString(v));
	(void)snprintf(v, sizeof(v), "MKL_NUM_THREADS=%d", threads);
	cJSON_AddItemToArray(e, cJSON_CreateString(v));
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
			     bool warm, const char *seccomp)
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
	char *text = NULL, *settings = runner_settings(cfg, warm), user[32];

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
	(void)snprintf(user, sizeof(user), "%d:%d", cfg->limits.uid, cfg->limits.gid);
	cJSON_AddStringToObject(spec, "User", user);
	cJSON_AddStringToObject(spec, "WorkingDir", "/");
	e = cJSON_AddArrayToObject(spec, "Env");
	for (size_t i = 0; i < sizeof(env) / sizeof(env[0]); i++)
		cJSON_AddItemToArray(e, cJSON_CreateString(env[i]));
	add_identity_env(e, cfg);
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
	cJSON_AddItemToObject(spec, "HostConfig", host_config(cfg, seccomp, warm)); /* spec owns it */
	text = cJSON_PrintUnformatted(spec);
out:
	cJSON_Delete(spec);
	free(settings);
	return text;
}


/* Creates the container. A missing image fails at once (-ENOENT), with a
 * pull started in the background when docker.pull_missing_image is set.
 * After any failure other than a definite answer of the engine (a 4xx: it
 * made nothing), the container may exist: a create whose answer was cut,
 * late or unreadable. Its name then goes into container_id, so that the
 * caller removes it like any other. */
static int create_container(struct sandbox *sb, struct sandbox_slot *slot, bool warm,
			    char *err, size_t errlen)
{
	char *spec = sandbox_container_spec(sb->cfg, sb->instance, slot->exec_id, warm,
					    sb->seccomp);
	char name[CXD_CONTAINER_ID_MAX + 1];
	long status = 0;
	int rc;

	if (!spec)
		return -ENOMEM;
	/* Named, so that a create whose answer never came (the engine made the
	 * container, then the call timed out) can still be removed by name. */
	(void)snprintf(name, sizeof(name), "codeexecd-%s", slot->exec_id);
	rc = docker_container_create(sb->docker, name, spec, slot->container_id, &status, err,
				     errlen);
	if (rc == -ENOENT && status == 404) {
		if (sb->cfg->docker.pull_missing_image)
			pull_in_background(sb);
		missing_image(sb, sb->cfg->docker.pull_missing_image, err, errlen);
	}
	if (rc != 0 && !(status >= 400 && status < 500))
		(void)snprintf(slot->container_id, sizeof(slot->container_id), "%s", name);
	if (rc == 0)
		metrics_count(METRICS_C_CONTAINERS_CREATED);
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
	if (rc == 0 && warm &&
	    docker_container_update(sb->docker, slot->container_id, "{\"CpuShares\":1024}", ignored,
				    sizeof(ignored)) != 0)
		log_warn(exec_id, "pool: container %.12s keeps its preload priority: %s",
			 slot->container_id, ignored);
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
