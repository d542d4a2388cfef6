/* The pool of ready containers (see pool.h).
 *
 * Filler threads (execution.pool_start_concurrency of them) open warm slots
 * while fewer are ready than the target: the highest demand (executions
 * running and waiting) seen in the last execution.pool_demand_window_seconds,
 * at least 1 and at most pool_size. It starts at pool_size, so a burst
 * finds the pool full; after a quiet window it shrinks to what is used.
 *
 * A warm container imports the preload modules while it waits (about a
 * second of CPU), so it is started only when that slows nothing down: while
 * no execution runs (up to pool_start_concurrency at once), or, one at a
 * time, when the pool ran dry and a slot is free, and never
 * while requests wait in the queue (then executions get containers of their
 * own, cold, which do not preload: nobody would wait for the preloading).
 *
 * After a failure (engine down, image missing) a filler waits, doubling the
 * wait up to MAX_BACKOFF_MS, so a dead engine is not hammered; requests then
 * take the cold path and get the engine's answer themselves. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "codeexecd/log.h"
#include "codeexecd/metrics.h"
#include "codeexecd/pool.h"

#define MIN_BACKOFF_MS 500
#define MAX_BACKOFF_MS 10000
#define RECHECK_MS 1000        /* how often idle slots are looked at */
#define SETTLE_MS 20           /* after the last execution ends, before a start */
#define DEMAND_SLOTS 10        /* the window in slots, for a sliding maximum */
#define MAX_FILLERS 64
#define POOL_SIZE_MAX 64       /* execution.pool_size's maximum in config.c */

struct pool {
	const struct config *_Atomic cfg; /* replaced by pool_reconfigure */
	struct sandbox *sb;
	pool_discard_fn discard;
	void *ctx;

	pthread_t fillers[MAX_FILLERS];
	int nfillers;
	pthread_mutex_t mu;
	pthread_cond_t cv;         /* a slot was taken, load changed, or stop */
	struct sandbox_slot **ready;
	size_t n;
	int starting;              /* slots being opened now */
	int running;               /* executions running now (take..done) */
	atomic_int queued;         /* requests waiting for an execution slot */
	int stop_fd;               /* eventfd, readable once stopping: preload waits end */
	long backoff_until;        /* monotonic ms: no start before (engine trouble) */
	long settle_until;         /* monotonic ms: no start before (an answer goes out) */
	long backoff;
	int demand[DEMAND_SLOTS];  /* highest demand per slot of the window */
	long demand_slot;          /* the slot number (ms / slot length) of demand[0] */
	bool stop;
};

static long mono_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* The number of the window slot that now falls in. */
static long demand_slot_now(const struct pool *p)
{
	long len = (long)p->cfg->execution.pool_demand_window_seconds * 1000L / DEMAND_SLOTS;

	return mono_ms() / (len > 0 ? len : 1);
}

/* Moves the window to now; mu held. */
static void demand_advance(struct pool *p)
{
	long now = demand_slot_now(p);

	while (p->demand_slot < now) {
		memmove(p->demand + 1, p->demand, (DEMAND_SLOTS - 1) * sizeof(p->demand[0]));
		p->demand[0] = 0;
		if (++p->demand_slot < now - DEMAND_SLOTS)
			p->demand_slot = now - DEMAND_SLOTS; /* a long quiet time: skip ahead */
	}
}

static void demand_record(struct pool *p)
{
	int d = p->running + atomic_load(&p->queued);

	demand_advance(p);
	if (d > p->demand[0])
		p->demand[0] = d;
}

/* How many ready slots to keep now; mu held. */
static size_t demand_target(struct pool *p)
{
	int most = 1;

	demand_advance(p);
	for (int i = 0; i < DEMAND_SLOTS; i++)
		if (p->demand[i] > most)
			most = p->demand[i];
	return (size_t)(most < p->cfg->execution.pool_size ? most : p->cfg->execution.pool_size);
}

static void deadline_in(struct timespec *ts, long ms)
{
	(void)clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Removes slots that are too old or no longer usable, and the oldest of
 * those beyond the target; mu held. */
static void prune(struct pool *p, size_t target)
{
	long max_age = (long)p->cfg->execution.pool_max_idle_seconds * 1000L;
	size_t kept = 0, extra = p->n > target ? p->n - target : 0;

	for (size_t i = 0; i < p->n; i++) {
		struct sandbox_slot *s = p->ready[i];
		if (sandbox_slot_age_ms(s) > max_age || !sandbox_slot_usable(s) || extra > 0) {
			if (extra > 0)
				extra--;
			p->discard(p->ctx, s);
		} else {
			p->ready[kept++] = s;
		}
	}
	p->n = kept;
}

/* True when a filler may start a warm container now; mu held. */
static bool may_start(struct pool *p, size_t target)
{
	bool saturated = atomic_load(&p->queued) > 0 ||
			 p->running >= p->cfg->execution.max_concurrent;

	/* While executions run, one container at most, and only when none is
	 * ready: its imports take CPU from them. */
	bool busy_ok = p->running == 0 || (p->n == 0 && p->starting == 0);

	return p->n + (size_t)p->starting < target && !saturated && busy_ok &&
	       mono_ms() >= p->backoff_until && mono_ms() >= p->settle_until;
}

static void *filler_main(void *arg)
{
	struct pool *p = arg;
	char err[CXD_ERR_MAX], id[CXD_EXEC_ID_LEN + 1];
	struct timespec until;

	pthread_mutex_lock(&p->mu);
	while (!p->stop) {
		size_t target = demand_target(p);

		prune(p, target);
		metrics_gauge_set(METRICS_G_POOL_READY, (long)p->n);
		if (!may_start(p, target)) {
			long until_ms = p->backoff_until > p->settle_until ? p->backoff_until
									   : p->settle_until;
			long wait = until_ms - mono_ms();
			deadline_in(&until, wait > 0 && wait < RECHECK_MS ? wait : RECHECK_MS);
			(void)pthread_cond_timedwait(&p->cv, &p->mu, &until);
			continue;
		}
		p->starting++;
		pthread_mutex_unlock(&p->mu);
		struct sandbox_slot *slot = NULL;
		exec_id_new(id);
		int rc = sandbox_slot_open(p->sb, id, true, p->stop_fd, &slot, err, sizeof(err));
		pthread_mutex_lock(&p->mu);
		p->starting--;
		if (rc != 0) {
			if (slot)
				p->discard(p->ctx, slot);
			p->backoff = p->backoff ? p->backoff * 2 : MIN_BACKOFF_MS;
			if (p->backoff > MAX_BACKOFF_MS)
				p->backoff = MAX_BACKOFF_MS;
			p->backoff_until = mono_ms() + p->backoff;
			log_debug(NULL, "pool: cannot start a container: %s (next try in %ld ms)", err,
				  p->backoff);
			continue;
		}
		p->backoff = 0;
		if (p->stop) {
			p->discard(p->ctx, slot);
			break;
		}
		p->ready[p->n++] = slot;
		metrics_gauge_set(METRICS_G_POOL_READY, (long)p->n);
		log_debug(sandbox_slot_exec_id(slot), "pool: warm container %.12s ready, %zu ready",
			  sandbox_slot_container(slot), p->n);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

int pool_create(struct pool **out, const struct config *cfg, struct sandbox *sb,
		pool_discard_fn discard, void *ctx, char *err, size_t errlen)
{
	struct pool *p = calloc(1, sizeof(*p));
	pthread_condattr_t attr;

	if (!p)
		return -ENOMEM;
	p->cfg = cfg;
	p->sb = sb;
	p->discard = discard;
	p->ctx = ctx;
	/* Room for the largest pool a reload may ask for. */
	p->ready = calloc(POOL_SIZE_MAX + 1, sizeof(*p->ready));
	p->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!p->ready || p->stop_fd < 0) {
		if (p->stop_fd >= 0)
			close(p->stop_fd);
		free(p->ready);
		free(p);
		return -ENOMEM;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cv, &attr);
	pthread_condattr_destroy(&attr);
	p->demand[0] = cfg->execution.pool_size; /* start full: the first burst is warm */
	p->demand_slot = demand_slot_now(p);
	for (int i = 0; cfg->execution.pool_size > 0 && i < cfg->execution.pool_start_concurrency &&
	     i < MAX_FILLERS; i++) {
		if (pthread_create(&p->fillers[i], NULL, filler_main, p) != 0) {
			(void)snprintf(err, errlen, "cannot start the pool threads");
			pool_destroy(p);
			return -EAGAIN;
		}
		p->nfillers++;
	}
	*out = p;
	return 0;
}

struct sandbox_slot *pool_take(struct pool *p)
{
	struct sandbox_slot *slot = NULL;

	pthread_mutex_lock(&p->mu);
	p->running++;
	demand_record(p);
	while (p->n > 0 && !slot) {
		/* The oldest first, so that ages stay even. */
		struct sandbox_slot *s = p->ready[0];
		memmove(p->ready, p->ready + 1, --p->n * sizeof(*p->ready));
		if (sandbox_slot_usable(s))
			slot = s;
		else
			p->discard(p->ctx, s);
	}
	if (p->n == 0)
		pthread_cond_broadcast(&p->cv); /* ran dry: refill now */
	metrics_gauge_set(METRICS_G_POOL_READY, (long)p->n);
	pthread_mutex_unlock(&p->mu);
	return slot;
}

void pool_enter(struct pool *p)
{
	pthread_mutex_lock(&p->mu);
	p->running++;
	demand_record(p);
	pthread_mutex_unlock(&p->mu);
}

void pool_done(struct pool *p)
{
	pthread_mutex_lock(&p->mu);
	if (p->running > 0)
		p->running--;
	/* The answer of the run that just ended is still being written:
	 * a start (engine and runc CPU) waits a moment. */
	p->settle_until = mono_ms() + SETTLE_MS;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

void pool_set_queued(struct pool *p, int queued)
{
	atomic_store(&p->queued, queued); /* no lock: callers hold their own */
}

size_t pool_ready(struct pool *p)
{
	size_t n;

	pthread_mutex_lock(&p->mu);
	n = p->n;
	pthread_mutex_unlock(&p->mu);
	return n;
}

void pool_stop(struct pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	(void)!eventfd_write(p->stop_fd, 1);
	for (int i = 0; i < p->nfillers; i++)
		pthread_join(p->fillers[i], NULL);
	p->nfillers = 0;
	pthread_mutex_lock(&p->mu);
	for (size_t i = 0; i < p->n; i++)
		p->discard(p->ctx, p->ready[i]);
	p->n = 0;
	metrics_gauge_set(METRICS_G_POOL_READY, 0);
	pthread_mutex_unlock(&p->mu);
}

void pool_reconfigure(struct pool *p, const struct config *cfg)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	atomic_store(&p->cfg, cfg);
	/* Ready containers were made with the old limits and image. */
	for (size_t i = 0; i < p->n; i++)
		p->discard(p->ctx, p->ready[i]);
	p->n = 0;
	metrics_gauge_set(METRICS_G_POOL_READY, 0);
	if (p->demand[0] < cfg->execution.pool_size)
		p->demand[0] = cfg->execution.pool_size; /* refill as at start */
	/* A pool that had no fillers (pool_size was 0) gets them now. */
	for (int i = p->nfillers; !p->stop && cfg->execution.pool_size > 0 &&
	     i < cfg->execution.pool_start_concurrency && i < MAX_FILLERS; i++) {
		if (pthread_create(&p->fillers[i], NULL, filler_main, p) != 0) {
			log_warn(NULL, "pool: cannot start its threads; fewer containers are kept ready");
			break;
		}
		p->nfillers++;
	}
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

void pool_destroy(struct pool *p)
{
	if (!p)
		return;
	pool_stop(p);
	free(p->ready);
	close(p->stop_fd);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}
