/* The sessions table (see sessions.h): a list of open sessions under one
 * mutex, a ring of tombstones for the ended ones, and a thread that ends
 * the idle and the over-age once a second. The lock is never held while a
 * slot is discarded. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codeexecd/execution.h"
#include "codeexecd/log.h"
#include "codeexecd/metrics.h"
#include "codeexecd/sessions.h"

#define OWNER_MAX 64            /* an API key's name (auth.h's AUTH_NAME_MAX) */
#define TICK_MS 1000            /* the expiry thread's period */

struct session {
	char id[SESSION_ID_LEN + 1];
	char owner[OWNER_MAX + 1];  /* "" without keys */
	struct sandbox_slot *slot;  /* NULL while being opened (or during a call) */
	long created_ms, last_ms;   /* monotonic */
	long created_wall, last_wall;
	long calls;
	int timeout_s;
	bool busy;
	bool ending;                /* ended while busy: ends when the call returns */
	enum session_end end_why;
	struct session *next;
};

struct tombstone {
	char id[SESSION_ID_LEN + 1];
	char owner[OWNER_MAX + 1];
	char why[160];
	long ended_ms;              /* 0: an empty place */
};

struct sessions {
	pthread_mutex_t mu;         /* guards everything below */
	struct sessions_limits lim;
	struct session *head;
	int count;
	struct tombstone tombs[SESSION_TOMBSTONES];
	size_t next_tomb;
	sessions_discard_fn discard;
	void *ctx;

	pthread_t thread;
	bool thread_started;
	bool exit;
	pthread_cond_t cv;          /* exit */
};

static const char *const end_names[SESSION_END_COUNT] = {
	"deleted", "idle", "lifetime", "exited", "timeout", "oom", "output_limit", "cancelled",
	"failed", "shutdown",
};

static const char *const end_texts[SESSION_END_COUNT] = {
	"it was deleted",
	"it was idle for longer than sessions.idle_timeout_seconds",
	"it reached sessions.max_lifetime_seconds",
	"the code ended its process",
	"a call ran out of time and was stopped",
	"the code ran out of memory",
	"a call reached the output limit and was stopped",
	"the client of a call went away and the call was stopped",
	"the sandbox failed",
	"the service shut down",
};

long sessions_now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static long wall_s(void)
{
	return (long)time(NULL);
}

const char *sessions_end_text(enum session_end why)
{
	return (unsigned)why < SESSION_END_COUNT ? end_texts[why] : "it ended";
}

const char *sessions_end_name(enum session_end why)
{
	return (unsigned)why < SESSION_END_COUNT ? end_names[why] : "other";
}

bool sessions_id_valid(const char *id)
{
	size_t n = 0;

	for (; id[n]; n++) {
		if (n >= SESSION_ID_LEN || !((id[n] >= '0' && id[n] <= '9') ||
					     (id[n] >= 'a' && id[n] <= 'f')))
			return false;
	}
	return n == SESSION_ID_LEN;
}


static const char *owner_of(const char *owner)
{
	return owner ? owner : "";
}

/* mu held. */
static struct session *find(struct sessions *s, const char *id)
{
	for (struct session *e = s->head; e; e = e->next)
		if (strcmp(e->id, id) == 0)
			return e;
	return NULL;
}

/* Text for an id that is not (or no longer) open for owner; mu held. */
static void not_found(struct sessions *s, const char *id, const char *owner, char *err,
		      size_t errlen)
{
	long now = sessions_now_ms();

	for (size_t i = 0; i < SESSION_TOMBSTONES; i++) {
		const struct tombstone *t = &s->tombs[i];
		if (t->ended_ms && strcmp(t->id, id) == 0 && strcmp(t->owner, owner_of(owner)) == 0 &&
		    now - t->ended_ms < SESSION_TOMBSTONE_S * 1000L) {
			(void)snprintf(err, errlen, "Session %s ended: %s", id, t->why);
			return;
		}
	}
	(void)snprintf(err, errlen, "Session %.*s not found", SESSION_ID_LEN, id);
}

/* The open session id that owner may use, or NULL with why not in err;
 * mu held. */
static struct session *usable(struct sessions *s, const char *id, const char *owner, char *err,
			      size_t errlen)
{
	struct session *e = find(s, id);
	bool own = e && strcmp(e->owner, owner_of(owner)) == 0;

	if (own && !e->ending)
		return e;
	if (own) /* it ends once its running call returns: say so already */
		(void)snprintf(err, errlen, "Session %s ended: %s", e->id,
			       sessions_end_text(e->end_why));
	else
		not_found(s, id, owner, err, errlen);
	return NULL;
}

/* Unlinks e and leaves a tombstone; mu held. The caller discards its slot
 * (after unlocking) and frees it. */
static void unlink_ended(struct sessions *s, struct session *e, enum session_end why)
{
	struct tombstone *t = &s->tombs[s->next_tomb++ % SESSION_TOMBSTONES];

	for (struct session **pp = &s->head; *pp; pp = &(*pp)->next) {
		if (*pp == e) {
			*pp = e->next;
			break;
		}
	}
	s->count--;
	metrics_gauge_set(METRICS_G_SESSIONS, s->count);
	(void)snprintf(t->id, sizeof(t->id), "%s", e->id);
	(void)snprintf(t->owner, sizeof(t->owner), "%s", e->owner);
	(void)snprintf(t->why, sizeof(t->why), "%s", sessions_end_text(why));
	t->ended_ms = sessions_now_ms();
	e->end_why = why;
	e->next = NULL;
}

/* After unlinking: the slot goes, the end is logged and counted. */
static void finish(struct sessions *s, struct session *e)
{
	log_info(NULL, "session %.8s ended (%s) after %ld call(s), %ld s", e->id,
		 sessions_end_name(e->end_why), e->calls, (sessions_now_ms() - e->created_ms) / 1000);
	metrics_session_ended(sessions_end_name(e->end_why));
	if (e->slot)
		s->discard(s->ctx, e->slot);
	free(e);
}

static void *expiry_main(void *arg);

int sessions_create(struct sessions **out, const struct sessions_limits *lim,
		    sessions_discard_fn discard, void *ctx, bool thread, char *err, size_t errlen)
{
	struct sessions *s = calloc(1, sizeof(*s));
	pthread_condattr_t attr;

	if (!s)
		return -ENOMEM;
	s->lim = *lim;
	s->discard = discard;
	s->ctx = ctx;
	pthread_mutex_init(&s->mu, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cv, &attr);
	pthread_condattr_destroy(&attr);
	if (thread) {
		if (pthread_create(&s->thread, NULL, expiry_main, s) != 0) {
			(void)snprintf(err, errlen, "cannot start the sessions' expiry thread");
			sessions_destroy(s);
			return -EAGAIN;
		}
		s->thread_started = true;
	}
	*out = s;
	return 0;
}

void sessions_reconfigure(struct sessions *s, const struct sessions_limits *lim)
{
	pthread_mutex_lock(&s->mu);
	s->lim = *lim;
	pthread_mutex_unlock(&s->mu);
}

void sessions_destroy(struct sessions *s)
{
	struct session *e;

	if (!s)
		return;
	if (s->thread_started) {
		pthread_mutex_lock(&s->mu);
		s->exit = true;
		pthread_cond_signal(&s->cv);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->thread, NULL);
	}
	while ((e = s->head) != NULL) {
		unlink_ended(s, e, SESSION_END_SHUTDOWN);
		finish(s, e);
	}
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

int sessions_begin(struct sessions *s, const char *owner, int timeout_s,
		   char id[SESSION_ID_LEN + 1], char *err, size_t errlen)
{
	struct session *e = calloc(1, sizeof(*e));
	int rc = 0;

	if (!e)
		return -ENOMEM;
	/* 128 bits from the kernel: with no API keys, the id is the only key */
	if (exec_random_hex(e->id, SESSION_ID_LEN) != 0) {
		(void)snprintf(err, errlen, "No randomness for a session id");
		free(e);
		return -EIO;
	}
	(void)snprintf(e->owner, sizeof(e->owner), "%s", owner_of(owner));
	e->created_ms = e->last_ms = sessions_now_ms();
	e->created_wall = e->last_wall = wall_s();
	e->timeout_s = timeout_s;
	e->busy = true;
	pthread_mutex_lock(&s->mu);
	if (s->lim.max == 0) {
		(void)snprintf(err, errlen, "Sessions are turned off (sessions.max is 0)");
		rc = -EPERM;
	} else if (s->count >= s->lim.max) {
		(void)snprintf(err, errlen, "Too many sessions: %d are open (sessions.max); end one "
			       "with DELETE /sessions/{id} or retry later", s->count);
		rc = -EAGAIN;
	} else {
		e->next = s->head;
		s->head = e;
		s->count++;
		metrics_gauge_set(METRICS_G_SESSIONS, s->count);
		(void)snprintf(id, SESSION_ID_LEN + 1, "%s", e->id);
	}
	pthread_mutex_unlock(&s->mu);
	if (rc != 0)
		free(e);
	return rc;
}

int sessions_acquire(struct sessions *s, const char *id, const char *owner,
		     struct sandbox_slot **slot, int *timeout_s, char *err, size_t errlen)
{
	struct session *e;
	int rc = 0;

	pthread_mutex_lock(&s->mu);
	e = usable(s, id, owner, err, errlen);
	if (!e) {
		rc = -ENOENT;
	} else if (e->busy) {
		(void)snprintf(err, errlen, "Session %s is busy: one call at a time; retry when "
			       "the running call has answered", id);
		rc = -EBUSY;
	} else {
		e->busy = true;
		*slot = e->slot;
		e->slot = NULL; /* the call holds it */
		*timeout_s = e->timeout_s;
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

void sessions_release(struct sessions *s, const char *id, struct sandbox_slot *slot, bool ran,
		      enum session_end why)
{
	struct session *e;

	pthread_mutex_lock(&s->mu);
	e = find(s, id);
	if (!e) {
		pthread_mutex_unlock(&s->mu);
		if (slot)
			s->discard(s->ctx, slot); /* cannot happen: a busy session stays */
		return;
	}
	e->busy = false;
	e->slot = slot;
	e->last_ms = sessions_now_ms();
	e->last_wall = wall_s();
	if (ran)
		e->calls++;
	if (ran && e->slot && e->calls == 1)
		metrics_count(METRICS_C_SESSIONS_CREATED);
	if (e->ending || !e->slot) {
		unlink_ended(s, e, e->slot ? e->end_why : why);
		pthread_mutex_unlock(&s->mu);
		finish(s, e);
		return;
	}
	pthread_mutex_unlock(&s->mu);
}

int sessions_info(struct sessions *s, const char *id, const char *owner,
		  struct session_info *info, char *err, size_t errlen)
{
	struct session *e;
	int rc = 0;

	pthread_mutex_lock(&s->mu);
	e = usable(s, id, owner, err, errlen);
	if (!e) {
		rc = -ENOENT;
	} else {
		long idle_end = e->last_wall + s->lim.idle_timeout_s;
		long life_end = e->created_wall + s->lim.max_lifetime_s;
		memset(info, 0, sizeof(*info));
		(void)snprintf(info->id, sizeof(info->id), "%s", e->id);
		info->created_at = e->created_wall;
		info->last_used_at = e->last_wall;
		info->expires_at = e->busy || idle_end > life_end ? life_end : idle_end;
		info->calls = e->calls;
		info->busy = e->busy;
		info->timeout_s = e->timeout_s;
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int sessions_end(struct sessions *s, const char *id, const char *owner, char *err,
		 size_t errlen)
{
	struct session *e;

	pthread_mutex_lock(&s->mu);
	e = usable(s, id, owner, err, errlen);
	if (!e) {
		pthread_mutex_unlock(&s->mu);
		return -ENOENT;
	}
	if (e->busy) {
		e->ending = true;
		e->end_why = SESSION_END_DELETED;
		pthread_mutex_unlock(&s->mu);
		return 0;
	}
	unlink_ended(s, e, SESSION_END_DELETED);
	pthread_mutex_unlock(&s->mu);
	finish(s, e);
	return 0;
}

int sessions_expire(struct sessions *s, long now_ms)
{
	struct session *ended = NULL, *e, *next;
	int n = 0;

	pthread_mutex_lock(&s->mu);
	for (e = s->head; e; e = next) {
		bool old = now_ms - e->created_ms >= s->lim.max_lifetime_s * 1000L;
		bool idle = !e->busy && now_ms - e->last_ms >= s->lim.idle_timeout_s * 1000L;
		next = e->next;
		if (e->ending || (!old && !idle))
			continue;
		if (e->busy) {
			e->ending = true; /* over age: ends when its call returns */
			e->end_why = SESSION_END_LIFETIME;
			continue;
		}
		unlink_ended(s, e, old ? SESSION_END_LIFETIME : SESSION_END_IDLE);
		e->next = ended;
		ended = e;
		n++;
	}
	pthread_mutex_unlock(&s->mu);
	for (e = ended; e; e = next) {
		next = e->next;
		finish(s, e);
	}
	return n;
}

int sessions_count(struct sessions *s)
{
	int n;

	pthread_mutex_lock(&s->mu);
	n = s->count;
	pthread_mutex_unlock(&s->mu);
	return n;
}

static void *expiry_main(void *arg)
{
	struct sessions *s = arg;
	struct timespec until;

	pthread_mutex_lock(&s->mu);
	while (!s->exit) {
		(void)clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += TICK_MS / 1000;
		(void)pthread_cond_timedwait(&s->cv, &s->mu, &until);
		if (s->exit)
			break;
		pthread_mutex_unlock(&s->mu);
		(void)sessions_expire(s, sessions_now_ms());
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}
