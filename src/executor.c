/* The executor: admission, one execution's lifecycle, verdicts, the reaper
 * that removes every container, and orderly shutdown.
 *
 * Admission: at most execution.max_concurrent runs; up to
 * execution.queue_size more wait in FIFO order for at most
 * execution.queue_timeout_seconds; beyond that the caller answers 429.
 *
 * Cleanup guarantee: every container sandbox_run created is handed to the
 * reaper, whatever the outcome, and removed after the answer is on its way.
 * Shutdown drains the reaper; containers of a crashed daemon are removed at
 * the next start (sandbox_cleanup_stale). */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "codeexecd/executor.h"
#include "codeexecd/log.h"
#include "codeexecd/metrics.h"
#include "codeexecd/pool.h"

#include "executor_internal.h"

#define HEALTH_CACHE_MS 1000   /* older: the next reader wakes the refresher */
#define CANCEL_WAIT_S 15      /* after the grace period, for cancelled runs to end */
#define REAP_EXIT_MS 10000    /* at exit, for the reaper to remove what is queued */
#define REAP_SETTLE_MS 20     /* a removal waits this long: the answer goes out first */

struct waiter {
	pthread_cond_t cv;
	bool granted;
	struct waiter *next;
};

struct reap_item {
	char id[CXD_CONTAINER_ID_MAX + 1];
	char exec_id[CXD_EXEC_ID_LEN + 1];
	int attempts;
	long queued_at;              /* monotonic ms it was handed over */
	long not_before;             /* monotonic ms of the next try */
	struct reap_item *next;
};

struct executor {
	const struct config *_Atomic cfg; /* replaced by executor_reconfigure */
	struct sandbox *sb;
	struct pool *pool;
	int stop_fd;                 /* eventfd: readable once runs must end */

	pthread_mutex_t mu;          /* guards everything below */
	pthread_cond_t idle_cv;      /* running dropped */
	int running;
	int queued;
	int admitted;                /* tickets out: running, queued or being read */
	struct waiter *head, *tail;  /* FIFO of queued callers */
	bool stopping;

	pthread_t reaper;
	bool reaper_started;
	pthread_cond_t reap_cv;
	struct reap_item *reap_head, *reap_tail;
	bool reaper_exit;
	long reap_exit_deadline;     /* monotonic ms: after it, removals are left */

	pthread_mutex_t health_mu;   /* guards the health cache below */
	pthread_cond_t health_cv;    /* a refresh is wanted, or the refresher must exit */
	pthread_t health_thread;
	bool health_started;
	bool health_wanted;
	bool health_exit;
	long health_at;              /* monotonic ms of the cached check */
	int health_rc;
	char health_msg[CXD_ERR_MAX];
};

/* A place reserved for one request before its body is read. */
struct exec_ticket {
	struct executor *ex;
};

static long now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* The running and queued gauges; mu held. */
static void publish_load(const struct executor *ex)
{
	metrics_gauge_set(METRICS_G_RUNNING, ex->running);
	metrics_gauge_set(METRICS_G_QUEUED, ex->queued);
}

/* Condition variables here wait against CLOCK_MONOTONIC deadlines. */
static void cond_init_monotonic(pthread_cond_t *cv)
{
	pthread_condattr_t attr;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(cv, &attr);
	pthread_condattr_destroy(&attr);
}

/* Queues it at the tail; mu held. */
static void reap_queue(struct executor *ex, struct reap_item *it)
{
	it->next = NULL;
	if (ex->reap_tail)
		ex->reap_tail->next = it;
	else
		ex->reap_head = it;
	ex->reap_tail = it;
	pthread_cond_signal(&ex->reap_cv);
}

/* Removes queued containers one by one. A removal that fails (the engine is
 * down) is tried again later, with a growing pause, until it works or the
 * daemon stops; what is left then is removed at the next start. */
static void *reaper_main(void *arg)
{
	struct executor *ex = arg;
	char err[CXD_ERR_MAX];

	pthread_mutex_lock(&ex->mu);
	for (;;) {
		struct reap_item *it = ex->reap_head;
		if (!it && ex->reaper_exit)
			break;
		if (!it || (it->not_before > now_ms() && !ex->reaper_exit)) {
			struct timespec until;
			long wait = it ? it->not_before - now_ms() : 1000;
			(void)clock_gettime(CLOCK_MONOTONIC, &until);
			until.tv_sec += wait / 1000;
			until.tv_nsec += (wait % 1000) * 1000000L;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			(void)pthread_cond_timedwait(&ex->reap_cv, &ex->mu, &until);
			continue;
		}
		ex->reap_head = it->next;
		if (!ex->reap_head)
			ex->reap_tail = NULL;
		if (ex->reaper_exit && now_ms() > ex->reap_exit_deadline) {
			/* Shutdown stays within its bound: the next start removes it. */
			log_error(it->exec_id, "container %.12s not removed before exit (removed at "
				  "the next start)", it->id);
			free(it);
			continue;
		}
		pthread_mutex_unlock(&ex->mu);
		long t0 = now_ms();
		int rc = sandbox_remove(ex->sb, it->id, err, sizeof(err));
		pthread_mutex_lock(&ex->mu);
		if (rc == 0) {
			metrics_observe_phase(METRICS_PHASE_REMOVE, (double)(now_ms() - t0) / 1e3);
			metrics_count(METRICS_C_CONTAINERS_REMOVED);
			log_debug(it->exec_id, "container %.12s removed in %ld ms (%ld ms after the run)",
				  it->id, now_ms() - t0, now_ms() - it->queued_at);
			free(it);
		} else if (ex->reaper_exit) {
			log_error(it->exec_id, "container %.12s not removed: %s (removed at the next start)",
				  it->id, err);
			free(it);
		} else {
			if (it->attempts++ == 0)
				log_warn(it->exec_id, "container %.12s not removed yet: %s", it->id, err);
			it->not_before = now_ms() + (it->attempts < 5 ? 200L << it->attempts : 5000L);
			reap_queue(ex, it);
		}
	}
	pthread_mutex_unlock(&ex->mu);
	return NULL;
}

static void reap(struct executor *ex, const char *container_id, const char *exec_id)
{
	struct reap_item *it = calloc(1, sizeof(*it));
	char err[CXD_ERR_MAX];

	if (!it) {
		/* No memory to queue it: remove it here, on the request's time. */
		(void)sandbox_remove(ex->sb, container_id, err, sizeof(err));
		return;
	}
	(void)snprintf(it->id, sizeof(it->id), "%s", container_id);
	(void)snprintf(it->exec_id, sizeof(it->exec_id), "%s", exec_id);
	it->queued_at = now_ms();
	/* Removing takes the engine a few hundred ms of CPU; the answer of the
	 * run that used the container is still being written. */
	it->not_before = it->queued_at + REAP_SETTLE_MS;
	pthread_mutex_lock(&ex->mu);
	reap_queue(ex, it);
	pthread_mutex_unlock(&ex->mu);
}

/* Closes a slot and queues its container for removal. */
static void discard_slot(void *ctx, struct sandbox_slot *slot)
{
	struct executor *ex = ctx;

	reap(ex, sandbox_slot_container(slot), sandbox_slot_exec_id(slot));
	sandbox_slot_close(slot);
}

static void health_refresh(struct executor *ex);
static void *health_main(void *arg);

int executor_create(struct executor **out, const struct config *cfg, struct sandbox *sb,
		    char *err, size_t errlen)
{
	struct executor *ex = calloc(1, sizeof(*ex));

	if (!ex)
		return -ENOMEM;
	ex->cfg = cfg;
	ex->sb = sb;
	ex->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ex->stop_fd < 0) {
		(void)snprintf(err, errlen, "eventfd: %s", strerror(errno));
		free(ex);
		return -errno;
	}
	pthread_mutex_init(&ex->mu, NULL);
	pthread_mutex_init(&ex->health_mu, NULL);
	cond_init_monotonic(&ex->idle_cv);
	cond_init_monotonic(&ex->reap_cv);
	pthread_cond_init(&ex->health_cv, NULL);
	health_refresh(ex); /* the first answer of /health, before serving */
	if (pthread_create(&ex->health_thread, NULL, health_main, ex) != 0) {
		(void)snprintf(err, errlen, "cannot start the health thread");
		executor_destroy(ex);
		return -EAGAIN;
	}
	ex->health_started = true;
	if (pthread_create(&ex->reaper, NULL, reaper_main, ex) != 0) {
		(void)snprintf(err, errlen, "cannot start the reaper thread");
		executor_destroy(ex);
		return -EAGAIN;
	}
	ex->reaper_started = true;
	if (pool_create(&ex->pool, cfg, sb, discard_slot, ex, err, errlen) != 0) {
		executor_destroy(ex);
		return -EAGAIN;
	}
	*out = ex;
	return 0;
}

/* Takes a slot for a ticket, waiting in the queue if need be. Called with
 * mu held. */
static int admit(struct executor *ex, char *err, size_t errlen)
{
	struct waiter w = { .granted = false };
	struct timespec until;
	int rc = 0;

	if (ex->stopping) {
		(void)snprintf(err, errlen, "The service is shutting down");
		return -ESHUTDOWN;
	}
	if (ex->running < ex->cfg->execution.max_concurrent && !ex->head) {
		ex->running++;
		publish_load(ex);
		return 0;
	}
	/* The ticket holds a place: running + queued < admitted <= capacity. */
	cond_init_monotonic(&w.cv);
	if (ex->tail)
		ex->tail->next = &w;
	else
		ex->head = &w;
	ex->tail = &w;
	pool_set_queued(ex->pool, ++ex->queued);
	publish_load(ex);
	(void)clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += ex->cfg->execution.queue_timeout_seconds;
	while (!w.granted && !ex->stopping && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&w.cv, &ex->mu, &until);
	if (!w.granted) {
		/* Leave the queue (it is short: a linear unlink is fine). */
		struct waiter **pp = &ex->head, *prev = NULL;
		while (*pp && *pp != &w) {
			prev = *pp;
			pp = &(*pp)->next;
		}
		if (*pp)
			*pp = w.next;
		if (ex->tail == &w)
			ex->tail = prev;
		pool_set_queued(ex->pool, --ex->queued);
		publish_load(ex);
	}
	pthread_cond_destroy(&w.cv);
	if (w.granted)
		return 0;
	if (ex->stopping) {
		(void)snprintf(err, errlen, "The service is shutting down");
		return -ESHUTDOWN;
	}
	(void)snprintf(err, errlen, "No execution slot became free within %d s; retry later",
		       ex->cfg->execution.queue_timeout_seconds);
	return -ETIMEDOUT;
}

/* Gives the slot to the first waiter, or frees it. Called with mu held. */
static void release(struct executor *ex)
{
	struct waiter *w = ex->head;

	if (w && !ex->stopping) {
		ex->head = w->next;
		if (!ex->head)
			ex->tail = NULL;
		pool_set_queued(ex->pool, --ex->queued);
		publish_load(ex);
		w->granted = true; /* the slot passes on: running is unchanged */
		pthread_cond_signal(&w->cv);
		return;
	}
	ex->running--;
	publish_load(ex);
	pthread_cond_broadcast(&ex->idle_cv);
}

/* A ready container from the pool, or a new one; exec_id gets its id (also
 * when opening a new one fails, for the answer and the logs). */
static int get_slot(struct executor *ex, struct sandbox_slot **slot, bool *pooled,
		    char exec_id[CXD_EXEC_ID_LEN + 1], char *err, size_t errlen)
{
	*slot = pool_take(ex->pool);
	*pooled = *slot != NULL;
	if (*slot) {
		(void)snprintf(exec_id, CXD_EXEC_ID_LEN + 1, "%s", sandbox_slot_exec_id(*slot));
		return 0;
	}
	exec_id_new(exec_id);
	int rc = sandbox_slot_open(ex->sb, exec_id, false, -1, slot, err, errlen);
	if (rc != 0 && *slot) {
		discard_slot(ex, *slot); /* a container to remove later */
		*slot = NULL;
	}
	return rc;
}

/* The phases the executor saw (the sandbox filled the rest). */
static void note_phases(struct exec_phases *ph, const struct sandbox_slot *slot, bool pooled,
			long queue_ms, long acquire_ms)
{
	ph->queue_ms = queue_ms;
	ph->acquire_ms = acquire_ms;
	ph->pooled = pooled;
	sandbox_slot_phases(slot, ph);
}

int executor_ticket_take(struct executor *ex, struct exec_ticket **out, char *err,
			 size_t errlen)
{
	int capacity = ex->cfg->execution.max_concurrent + ex->cfg->execution.queue_size;
	struct exec_ticket *t = calloc(1, sizeof(*t));
	int rc = 0;

	if (!t)
		return -ENOMEM;
	t->ex = ex;
	pthread_mutex_lock(&ex->mu);
	if (ex->stopping) {
		(void)snprintf(err, errlen, "The service is shutting down");
		rc = -ESHUTDOWN;
	} else if (ex->admitted >= capacity) {
		(void)snprintf(err, errlen,
			       "Too many executions: %d running and %d waiting; retry later",
			       ex->running, ex->admitted - ex->running);
		rc = -EAGAIN;
	} else {
		ex->admitted++;
	}
	pthread_mutex_unlock(&ex->mu);
	if (rc != 0) {
		free(t);
		return rc;
	}
	*out = t;
	return 0;
}

void executor_ticket_drop(struct exec_ticket *t)
{
	struct executor *ex;

	if (!t)
		return;
	ex = t->ex;
	pthread_mutex_lock(&ex->mu);
	ex->admitted--;
	pthread_mutex_unlock(&ex->mu);
	free(t);
}

/* The engine's address stays in the log: texts for clients name it
 * "the configured address". */
static void public_text(const struct executor *ex, char *text, size_t len)
{
	static const char repl[] = "the configured address";
	const char *addr = sandbox_engine(ex->sb);
	size_t alen = addr ? strlen(addr) : 0, w = 0;
	char out[CXD_ERR_MAX * 2];

	if (alen == 0 || !strstr(text, addr))
		return;
	for (const char *p = text; *p && w + 1 < sizeof(out);) {
		if (strncmp(p, addr, alen) == 0) {
			size_t n = sizeof(repl) - 1 < sizeof(out) - 1 - w ? sizeof(repl) - 1
									  : sizeof(out) - 1 - w;
			memcpy(out + w, repl, n);
			w += n;
			p += alen;
		} else {
			out[w++] = *p++;
		}
	}
	out[w] = '\0';
	(void)snprintf(text, len, "%s", out);
}

static void health_invalidate(struct executor *ex)
{
	pthread_mutex_lock(&ex->health_mu);
	ex->health_wanted = true;
	pthread_cond_signal(&ex->health_cv);
	pthread_mutex_unlock(&ex->health_mu);
}

void executor_discard_slot(void *ctx, struct sandbox_slot *slot)
{
	if (slot)
		discard_slot(ctx, slot);
}

/* A session's slot after its call: kept when the runner lives on and the
 * call ended normally, else removed. */
static struct sandbox_slot *keep_or_discard(struct executor *ex, struct sandbox_slot *slot, int rc,
					    const struct sandbox_run *run,
					    const struct exec_result *res, const char *err)
{
	if (rc == 0 && run->alive && !res->timed_out && !res->oom_killed && !err[0])
		return slot;
	discard_slot(ex, slot); /* removed after the answer, by the reaper */
	return NULL;
}

/* One execution. keep: NULL for a one-shot run, whose container is
 * removed; a session's call otherwise: *keep is its open slot (NULL: take
 * one, as a one-shot run does), and receives the slot that lives on after
 * the call (NULL: gone). sink: where the output goes (NULL: into res). */
static int run_request(struct executor *ex, struct exec_ticket *ticket,
		       const struct exec_request *req, struct sandbox_slot **keep,
		       char exec_id[CXD_EXEC_ID_LEN + 1], const struct exec_client *client,
		       const struct run_sink *sink, struct exec_result *res, char *err,
		       size_t errlen)
{
	const struct config *cfg = atomic_load(&ex->cfg);
	int timeout_s = req->timeout_seconds > 0 ? req->timeout_seconds
						 : cfg->execution.timeout_seconds;
	struct sandbox_run run = {
		.req = req, .sink = sink, .timeout_ms = timeout_s * 1000,
		.client = client, .stop_fd = ex->stop_fd,
	};
	struct sandbox_slot *slot = NULL;
	long t0 = now_ms(), queue_ms, acquire_ms;
	char phases[256] = "";
	bool pooled, probed = false;
	int rc;

	exec_id[0] = '\0';
	if (!ticket && (rc = executor_ticket_take(ex, &ticket, err, errlen)) != 0)
		return rc;
	pthread_mutex_lock(&ex->mu);
	rc = admit(ex, err, errlen);
	pthread_mutex_unlock(&ex->mu);
	if (rc != 0) {
		metrics_execution(executor_outcome(rc, res), req->key);
		executor_ticket_drop(ticket);
		return rc;
	}
	queue_ms = now_ms() - t0;
	if (exec_client_gone(client, &probed)) {
		rc = -ECANCELED; /* it left while waiting in the queue */
		(void)snprintf(err, errlen, "the client went away while queued");
	} else {
		bool reuse = keep && *keep;
		if (reuse) {
			slot = *keep; /* a session's next call: no new container */
			pooled = true;
			pool_enter(ex->pool); /* it runs, so nothing preloads beside it */
			exec_id_new(exec_id);
			rc = 0;
		} else {
			rc = get_slot(ex, &slot, &pooled, exec_id, err, errlen);
		}
		acquire_ms = now_ms() - t0 - queue_ms;
		if (rc == 0) {
			rc = sandbox_run(ex->sb, slot, &run, res, err, errlen);
			note_phases(&res->phases, slot, pooled, queue_ms, acquire_ms);
			executor_log_phases(exec_id, sandbox_slot_container(slot), &res->phases);
			if (rc == 0)
				executor_observe_phases(&res->phases, phases, sizeof(phases));
			if (keep)
				*keep = keep_or_discard(ex, slot, rc, &run, res, err);
			else
				discard_slot(ex, slot); /* removed after the answer, by the reaper */
		}
		pool_done(ex->pool);
	}
	pthread_mutex_lock(&ex->mu);
	release(ex);
	pthread_mutex_unlock(&ex->mu);
	executor_ticket_drop(ticket);
	if (rc != 0) {
		struct log_fields f = { .exec_id = exec_id[0] ? exec_id : NULL, .key = req->key };
		metrics_execution(executor_outcome(rc, res), req->key);
		exec_result_free(res);
		log_with(LOG_WARN, &f, "execution failed: %s", err);
		if (rc == -EHOSTUNREACH || rc == -ENOENT)
			health_invalidate(ex); /* /health and /ready look again */
		public_text(ex, err, errlen);
		return rc;
	}
	if (err[0])
		log_warn(exec_id, "run ended abnormally: %s", err);
	public_text(ex, err, errlen);
	executor_verdict(atomic_load(&ex->cfg), &run, timeout_s, err, res);
	metrics_observe_duration((double)res->duration_ms / 1e3);
	metrics_execution(executor_outcome(0, res), req->key);
	executor_log_outcome(exec_id, req, res, phases);
	return 0;
}

int executor_run(struct executor *ex, struct exec_ticket *ticket, const struct exec_request *req,
		 char exec_id[CXD_EXEC_ID_LEN + 1], const struct exec_client *client,
		 const struct run_sink *sink, struct exec_result *res, char *err, size_t errlen)
{
	return run_request(ex, ticket, req, NULL, exec_id, client, sink, res, err, errlen);
}

int executor_run_session(struct executor *ex, struct exec_ticket *ticket,
			 const struct exec_request *req, struct sandbox_slot **slot,
			 char exec_id[CXD_EXEC_ID_LEN + 1], const struct exec_client *client,
			 struct exec_result *res, char *err, size_t errlen)
{
	struct exec_request job = *req; /* shallow: the same buffers */

	job.session = true;
	return run_request(ex, ticket, &job, slot, exec_id, client, NULL, res, err, errlen);
}

void executor_reconfigure(struct executor *ex, const struct config *cfg)
{
	pthread_mutex_lock(&ex->mu);
	atomic_store(&ex->cfg, cfg);
	/* More slots now: the queue's head takes them at once. */
	while (ex->head && !ex->stopping && ex->running < cfg->execution.max_concurrent) {
		struct waiter *w = ex->head;
		ex->head = w->next;
		if (!ex->head)
			ex->tail = NULL;
		pool_set_queued(ex->pool, --ex->queued);
		ex->running++;
		w->granted = true;
		pthread_cond_signal(&w->cv);
	}
	publish_load(ex);
	pthread_mutex_unlock(&ex->mu);
	pool_reconfigure(ex->pool, cfg);
}

int executor_retry_after(struct executor *ex)
{
	int t = ex->cfg->execution.timeout_seconds / 4;

	return t < 1 ? 1 : t > 30 ? 30 : t;
}

bool executor_alive(struct executor *ex, int timeout_ms)
{
	struct timespec until;

	(void)clock_gettime(CLOCK_REALTIME, &until); /* timedlock's clock */
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	if (pthread_mutex_timedlock(&ex->mu, &until) != 0)
		return false;
	pthread_mutex_unlock(&ex->mu);
	return true;
}

/* One engine check into the cache; logs a change of state with the full
 * text (clients get it without the engine's address). */
static void health_refresh(struct executor *ex)
{
	char msg[CXD_ERR_MAX];
	int rc = sandbox_check(ex->sb, msg, sizeof(msg));

	pthread_mutex_lock(&ex->health_mu);
	if (rc != ex->health_rc || !ex->health_at) {
		if (rc != 0)
			log_warn(NULL, "health: %s", msg);
		else if (ex->health_at)
			log_info(NULL, "health: %s", msg);
	}
	public_text(ex, msg, sizeof(msg));
	ex->health_rc = rc;
	(void)snprintf(ex->health_msg, sizeof(ex->health_msg), "%s", msg);
	ex->health_at = now_ms();
	pthread_mutex_unlock(&ex->health_mu);
}

/* Refreshes the health cache when a reader found it stale (or an
 * execution found the engine gone), never on a request's path. */
static void *health_main(void *arg)
{
	struct executor *ex = arg;

	pthread_mutex_lock(&ex->health_mu);
	for (;;) {
		while (!ex->health_wanted && !ex->health_exit)
			pthread_cond_wait(&ex->health_cv, &ex->health_mu);
		if (ex->health_exit)
			break;
		ex->health_wanted = false;
		pthread_mutex_unlock(&ex->health_mu);
		health_refresh(ex);
		pthread_mutex_lock(&ex->health_mu);
	}
	pthread_mutex_unlock(&ex->health_mu);
	return NULL;
}

int executor_health(struct executor *ex, char *msg, size_t msglen)
{
	int rc;

	pthread_mutex_lock(&ex->health_mu);
	if (now_ms() - ex->health_at > HEALTH_CACHE_MS && !ex->health_wanted) {
		ex->health_wanted = true;
		pthread_cond_signal(&ex->health_cv);
	}
	rc = ex->health_rc;
	(void)snprintf(msg, msglen, "%s", ex->health_msg);
	pthread_mutex_unlock(&ex->health_mu);
	return rc;
}

/* Waits until nothing runs or until the monotonic deadline; mu held. */
static void wait_idle(struct executor *ex, time_t deadline_s)
{
	struct timespec until = { .tv_sec = deadline_s };
	int rc = 0;

	while (ex->running > 0 && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&ex->idle_cv, &ex->mu, &until);
}

void executor_shutdown(struct executor *ex, int grace_seconds)
{
	struct timespec now;
	uint64_t one = 1;

	/* Stop admitting first: a request must not take a slot (or start a
	 * container) while the pool filler is being joined. */
	(void)clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&ex->mu);
	ex->stopping = true;
	for (struct waiter *w = ex->head; w; w = w->next)
		pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&ex->mu);
	/* No new containers; the ready ones go to the reaper. Joining the
	 * filler can take one engine call: the grace period runs meanwhile. */
	pool_stop(ex->pool);
	pthread_mutex_lock(&ex->mu);
	if (ex->running > 0)
		log_info(NULL, "shutdown: waiting up to %d s for %d running execution(s)",
			 grace_seconds, ex->running);
	wait_idle(ex, now.tv_sec + grace_seconds);
	if (ex->running > 0) {
		log_warn(NULL, "shutdown: stopping %d execution(s) after the grace period",
			 ex->running);
		(void)!write(ex->stop_fd, &one, sizeof(one));
		wait_idle(ex, now.tv_sec + grace_seconds + CANCEL_WAIT_S);
	}
	pthread_mutex_unlock(&ex->mu);
}

/* After server_stop(): no handler thread is left, so nothing can take a
 * slot or queue a container any more; the reaper drains what is queued. */
void executor_destroy(struct executor *ex)
{
	if (!ex)
		return;
	pool_destroy(ex->pool);
	ex->pool = NULL;
	if (ex->reaper_started) {
		pthread_mutex_lock(&ex->mu);
		ex->reaper_exit = true;
		ex->reap_exit_deadline = now_ms() + REAP_EXIT_MS;
		pthread_cond_signal(&ex->reap_cv);
		pthread_mutex_unlock(&ex->mu);
		pthread_join(ex->reaper, NULL);
	}
	if (ex->health_started) {
		pthread_mutex_lock(&ex->health_mu);
		ex->health_exit = true;
		pthread_cond_signal(&ex->health_cv);
		pthread_mutex_unlock(&ex->health_mu);
		pthread_join(ex->health_thread, NULL);
	}
	close(ex->stop_fd);
	pthread_cond_destroy(&ex->health_cv);
	pthread_cond_destroy(&ex->idle_cv);
	pthread_cond_destroy(&ex->reap_cv);
	pthread_mutex_destroy(&ex->mu);
	pthread_mutex_destroy(&ex->health_mu);
	free(ex);
}
