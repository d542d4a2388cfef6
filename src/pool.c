/* The pool of ready containers (see pool.h).
 *
 * One filler thread opens slots one at a time (the engine serialises much
 * of create and start anyway) while fewer than pool_size are ready. After a
 * failure (engine down, image missing) it waits, doubling the wait up to
 * MAX_BACKOFF_MS, so a dead engine is not hammered; requests then take the
 * cold path and get the engine's answer themselves. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codeexecd/log.h"
#include "codeexecd/metrics.h"
#include "codeexecd/pool.h"

#define MIN_BACKOFF_MS 500
#define MAX_BACKOFF_MS 10000
#define RECHECK_MS 1000        /* how often idle slots are looked at */
#define POOL_SIZE_MAX 64       /* execution.pool_size's maximum in config.c */

struct pool {
	const struct config *_Atomic cfg; /* replaced by pool_reconfigure */
	struct sandbox *sb;
	pool_discard_fn discard;
	void *ctx;

	pthread_t filler;
	bool filler_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;         /* a slot was taken, or stop */
	struct sandbox_slot **ready;
	size_t n;
	int busy;                  /* executions running now */
	bool stop;
};

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

/* Removes slots that are too old or no longer usable; mu held. */
static void prune(struct pool *p)
{
	long max_age = (long)p->cfg->execution.pool_max_idle_seconds * 1000L;
	size_t kept = 0;

	for (size_t i = 0; i < p->n; i++) {
		struct sandbox_slot *s = p->ready[i];
		if (sandbox_slot_age_ms(s) > max_age || !sandbox_slot_usable(s))
			p->discard(p->ctx, s);
		else
			p->ready[kept++] = s;
	}
	p->n = kept;
}

static void *filler_main(void *arg)
{
	struct pool *p = arg;
	long backoff = 0;
	char err[CXD_ERR_MAX], id[CXD_EXEC_ID_LEN + 1];
	struct timespec until;

	pthread_mutex_lock(&p->mu);
	while (!p->stop) {
		size_t want = (size_t)p->cfg->execution.pool_size;
		prune(p);
		while (p->n > want)	/* the pool was made smaller */
			p->discard(p->ctx, p->ready[--p->n]);
		metrics_gauge_set(METRICS_G_POOL_READY, (long)p->n);
		/* Starting a container takes much of the machine for a moment:
		 * refill while nothing runs, unless the pool ran dry. */
		if (p->n >= want || (p->busy > 0 && p->n > 0)) {
			deadline_in(&until, RECHECK_MS);
			(void)pthread_cond_timedwait(&p->cv, &p->mu, &until);
			continue;
		}
		pthread_mutex_unlock(&p->mu);
		struct sandbox_slot *slot = NULL;
		exec_id_new(id);
		int rc = sandbox_slot_open(p->sb, id, &slot, err, sizeof(err));
		pthread_mutex_lock(&p->mu);
		if (rc != 0) {
			if (slot)
				p->discard(p->ctx, slot);
			backoff = backoff ? backoff * 2 : MIN_BACKOFF_MS;
			if (backoff > MAX_BACKOFF_MS)
				backoff = MAX_BACKOFF_MS;
			log_debug(NULL, "pool: cannot start a container: %s (next try in %ld ms)", err,
				  backoff);
			deadline_in(&until, backoff);
			while (!p->stop && pthread_cond_timedwait(&p->cv, &p->mu, &until) == 0)
				; /* takes signal the cv too: sleep out the whole backoff */
			continue;
		}
		backoff = 0;
		if (p->stop) {
			p->discard(p->ctx, slot);
			break;
		}
		p->ready[p->n++] = slot;
		metrics_gauge_set(METRICS_G_POOL_READY, (long)p->n);
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
	if (!p->ready) {
		free(p);
		return -ENOMEM;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cv, &attr);
	pthread_condattr_destroy(&attr);
	if (cfg->execution.pool_size > 0) {
		if (pthread_create(&p->filler, NULL, filler_main, p) != 0) {
			(void)snprintf(err, errlen, "cannot start the pool thread");
			pool_destroy(p);
			return -EAGAIN;
		}
		p->filler_started = true;
	}
	*out = p;
	return 0;
}

struct sandbox_slot *pool_take(struct pool *p)
{
	struct sandbox_slot *slot = NULL;

	pthread_mutex_lock(&p->mu);
	p->busy++;
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
		pthread_cond_signal(&p->cv); /* ran dry: refill now */
	metrics_gauge_set(METRICS_G_POOL_READY, (long)p->n);
	pthread_mutex_unlock(&p->mu);
	return slot;
}

void pool_done(struct pool *p)
{
	pthread_mutex_lock(&p->mu);
	if (p->busy > 0)
		p->busy--;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

void pool_stop(struct pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	if (p->filler_started) {
		pthread_join(p->filler, NULL);
		p->filler_started = false;
	}
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
	if (!p->stop && !p->filler_started && cfg->execution.pool_size > 0) {
		if (pthread_create(&p->filler, NULL, filler_main, p) == 0)
			p->filler_started = true;
		else
			log_warn(NULL, "pool: cannot start its thread; no containers are kept ready");
	}
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

void pool_destroy(struct pool *p)
{
	if (!p)
		return;
	pool_stop(p);
	free(p->ready);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}
