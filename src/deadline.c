/* The request-deadline watchdog (see deadline.h): a list under one mutex,
 * scanned by one thread when the earliest deadline is due (it sleeps while
 * none is armed). An entry is removed (under the
 * mutex) before its socket is closed, so the watchdog never shuts down a
 * descriptor that was reused. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "codeexecd/deadline.h"
#include "codeexecd/log.h"

struct deadline_entry {
	int fd;
	long deadline_ms;          /* monotonic; 0 = unarmed */
	bool expired;
	struct deadline_entry *prev, *next;
};

struct deadlines {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	bool exit;
	struct deadline_entry *head;
};

static long mono_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Sleeps until the earliest armed deadline (or until one is armed). */
static void *watch_main(void *arg)
{
	struct deadlines *d = arg;

	pthread_mutex_lock(&d->mu);
	while (!d->exit) {
		long now = mono_ms(), next = 0;
		for (struct deadline_entry *e = d->head; e; e = e->next) {
			if (e->deadline_ms == 0)
				continue;
			if (now >= e->deadline_ms) {
				e->deadline_ms = 0;
				e->expired = true;
				(void)shutdown(e->fd, SHUT_RDWR);
				log_info(NULL, "http: a request was not complete within its "
					 "deadline; connection closed");
			} else if (!next || e->deadline_ms < next) {
				next = e->deadline_ms;
			}
		}
		if (!next) {
			(void)pthread_cond_wait(&d->cv, &d->mu);
			continue;
		}
		struct timespec until = { .tv_sec = next / 1000, .tv_nsec = (next % 1000) * 1000000L };
		(void)pthread_cond_timedwait(&d->cv, &d->mu, &until);
	}
	pthread_mutex_unlock(&d->mu);
	return NULL;
}

int deadlines_start(struct deadlines **out)
{
	struct deadlines *d = calloc(1, sizeof(*d));
	pthread_condattr_t attr;

	if (!d)
		return -ENOMEM;
	pthread_mutex_init(&d->mu, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&d->cv, &attr);
	pthread_condattr_destroy(&attr);
	if (pthread_create(&d->thread, NULL, watch_main, d) != 0) {
		pthread_cond_destroy(&d->cv);
		pthread_mutex_destroy(&d->mu);
		free(d);
		return -EAGAIN;
	}
	*out = d;
	return 0;
}

void deadlines_stop(struct deadlines *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->mu);
	d->exit = true;
	pthread_cond_signal(&d->cv);
	pthread_mutex_unlock(&d->mu);
	pthread_join(d->thread, NULL);
	while (d->head) {
		struct deadline_entry *e = d->head;
		d->head = e->next;
		free(e);
	}
	pthread_cond_destroy(&d->cv);
	pthread_mutex_destroy(&d->mu);
	free(d);
}

struct deadline_entry *deadlines_add(struct deadlines *d, int fd)
{
	struct deadline_entry *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->fd = fd;
	pthread_mutex_lock(&d->mu);
	e->next = d->head;
	if (d->head)
		d->head->prev = e;
	d->head = e;
	pthread_mutex_unlock(&d->mu);
	return e;
}

void deadlines_arm(struct deadlines *d, struct deadline_entry *e, int seconds)
{
	if (!e)
		return;
	pthread_mutex_lock(&d->mu);
	e->deadline_ms = seconds > 0 ? mono_ms() + seconds * 1000L : 0;
	if (seconds > 0)
		pthread_cond_signal(&d->cv);
	pthread_mutex_unlock(&d->mu);
}

int deadlines_expired(struct deadlines *d, const struct deadline_entry *e)
{
	int expired;

	if (!e)
		return 0;
	pthread_mutex_lock(&d->mu);
	expired = e->expired;
	pthread_mutex_unlock(&d->mu);
	return expired;
}

void deadlines_remove(struct deadlines *d, struct deadline_entry *e)
{
	if (!e)
		return;
	pthread_mutex_lock(&d->mu);
	if (e->prev)
		e->prev->next = e->next;
	else
		d->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	pthread_mutex_unlock(&d->mu);
	free(e);
}
