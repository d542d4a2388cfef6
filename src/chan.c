/* The bounded byte channel (see chan.h): a ring buffer under a mutex. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codeexecd/chan.h"

struct chan {
	pthread_mutex_t mu;
	pthread_cond_t cv;     /* data, room, or a side closed */
	char *buf;
	size_t cap;
	size_t head;           /* where the next read starts */
	size_t len;            /* bytes held */
	bool writer_done;
	bool reader_gone;
};

int chan_new(struct chan **out, size_t cap)
{
	struct chan *c = calloc(1, sizeof(*c));
	pthread_condattr_t attr;

	if (!c || cap == 0 || !(c->buf = malloc(cap))) {
		free(c);
		return -ENOMEM;
	}
	c->cap = cap;
	pthread_mutex_init(&c->mu, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* deadlines are monotonic */
	pthread_cond_init(&c->cv, &attr);
	pthread_condattr_destroy(&attr);
	*out = c;
	return 0;
}

void chan_free(struct chan *c)
{
	if (!c)
		return;
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c->buf);
	free(c);
}

int chan_write(struct chan *c, const char *data, size_t len, long deadline_ms)
{
	struct timespec until = { .tv_sec = deadline_ms / 1000,
				  .tv_nsec = (deadline_ms % 1000) * 1000000L };
	int rc = 0, wrc = 0;

	pthread_mutex_lock(&c->mu);
	while (len > 0) {
		while (c->len == c->cap && !c->reader_gone && wrc != ETIMEDOUT)
			wrc = deadline_ms > 0 ? pthread_cond_timedwait(&c->cv, &c->mu, &until)
					      : pthread_cond_wait(&c->cv, &c->mu);
		if (c->reader_gone) {
			rc = -EPIPE;
			break;
		}
		if (c->len == c->cap) {
			rc = -ETIMEDOUT;
			break;
		}
		size_t tail = (c->head + c->len) % c->cap;
		size_t n = c->cap - c->len;
		if (n > c->cap - tail)
			n = c->cap - tail; /* up to the end of the ring first */
		if (n > len)
			n = len;
		memcpy(c->buf + tail, data, n);
		c->len += n;
		data += n;
		len -= n;
		pthread_cond_broadcast(&c->cv);
	}
	pthread_mutex_unlock(&c->mu);
	return rc;
}

void chan_close_writer(struct chan *c)
{
	pthread_mutex_lock(&c->mu);
	c->writer_done = true;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

size_t chan_read(struct chan *c, char *buf, size_t room)
{
	size_t got = 0;

	pthread_mutex_lock(&c->mu);
	while (c->len == 0 && !c->writer_done)
		pthread_cond_wait(&c->cv, &c->mu);
	while (got < room && c->len > 0) {
		size_t n = c->cap - c->head < c->len ? c->cap - c->head : c->len;
		if (n > room - got)
			n = room - got;
		memcpy(buf + got, c->buf + c->head, n);
		c->head = (c->head + n) % c->cap;
		c->len -= n;
		got += n;
	}
	if (got > 0)
		pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	return got;
}

void chan_close_reader(struct chan *c)
{
	pthread_mutex_lock(&c->mu);
	c->reader_gone = true;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}
