/* Sessions: the table of open sessions (a random id -> an open sandbox slot
 * kept across calls), their owners, one call at a time, expiry and the
 * tombstones that say why an ended session ended.
 *
 * A session is a slot that is not closed: the executor runs each call on
 * it; this module only keeps it between calls. Slots it gives up (ended,
 * expired, destroyed) go to the discard callback, which closes them and
 * removes their containers (the executor's reaper). Knows nothing of HTTP
 * or the engine. */
#ifndef CODEEXECD_SESSIONS_H
#define CODEEXECD_SESSIONS_H

#include <stdbool.h>
#include <stddef.h>

#define SESSION_ID_LEN 32          /* lowercase hex characters: 128 random bits */
#define SESSION_TOMBSTONES 256     /* ended sessions whose reason is kept */
#define SESSION_TOMBSTONE_S 3600   /* and for at most this long */

struct sandbox_slot;
struct sessions;

/* Called with a slot the table gives up, outside its lock. */
typedef void (*sessions_discard_fn)(void *ctx, struct sandbox_slot *slot);

struct sessions_limits {
	int max;                   /* open (or being opened) at once; 0: none */
	int idle_timeout_s;
	int max_lifetime_s;
};

/* Why a session ended (its tombstone says it). */
enum session_end {
	SESSION_END_DELETED,       /* DELETE */
	SESSION_END_IDLE,
	SESSION_END_LIFETIME,
	SESSION_END_EXITED,        /* the code ended its interpreter */
	SESSION_END_TIMEOUT,       /* a call reached its time limit */
	SESSION_END_OOM,           /* a call exceeded the memory limit */
	SESSION_END_OUTPUT,        /* a call was stopped at the output cap */
	SESSION_END_CANCELLED,     /* the client of a call went away */
	SESSION_END_FAILED,        /* the sandbox broke the protocol or died */
	SESSION_END_SHUTDOWN,
	SESSION_END_COUNT
};

/* What GET /sessions/{id} shows. Times are Unix seconds (wall clock). */
struct session_info {
	char id[SESSION_ID_LEN + 1];
	long created_at, last_used_at, expires_at;
	long calls;
	bool busy;                 /* a call runs (or the session is being opened) */
	int timeout_s;             /* the calls' default time limit; 0: the configured one */
};

/* With a background thread (thread true) that ends expired sessions every
 * second; unit tests drive sessions_expire themselves. */
int sessions_create(struct sessions **out, const struct sessions_limits *lim,
		    sessions_discard_fn discard, void *ctx, bool thread, char *err, size_t errlen);
/* From now on (a reload); open sessions keep running under the new limits. */
void sessions_reconfigure(struct sessions *s, const struct sessions_limits *lim);
/* Stops the thread and gives up every slot (shutdown). No call may be
 * running. Accepts NULL. */
void sessions_destroy(struct sessions *s);

/* Reserves a session for owner (NULL: no keys) whose slot is still being
 * opened: 0 with its id, or -EAGAIN when sessions.max are open (-EPERM
 * when sessions are off), with text in err. Follow with sessions_release. */
int sessions_begin(struct sessions *s, const char *owner, int timeout_s,
		   char id[SESSION_ID_LEN + 1], char *err, size_t errlen);

/* Takes the session for one call: 0 with its slot (NULL for a session
 * that sessions_begin made, whose first call opens it) and its timeout;
 * -ENOENT when it is unknown, another owner's, or ended (err says why);
 * -EBUSY when a call already runs in it. Follow with sessions_release. */
int sessions_acquire(struct sessions *s, const char *id, const char *owner,
		     struct sandbox_slot **slot, int *timeout_s, char *err, size_t errlen);

/* Gives the session back after a call (ran: the call ran a job, and
 * counts; false: it was refused before, e.g. the queue was full): slot
 * non-NULL keeps it open with that slot; NULL ends it for why (the slot is
 * already gone). A session deleted or expired during the call ends now (its
 * slot is discarded). */
void sessions_release(struct sessions *s, const char *id, struct sandbox_slot *slot, bool ran,
		      enum session_end why);

/* 0 with info; -ENOENT as sessions_acquire. */
int sessions_info(struct sessions *s, const char *id, const char *owner,
		  struct session_info *info, char *err, size_t errlen);

/* Ends a session (DELETE): 0, or -ENOENT. A busy one ends when its call
 * returns. */
int sessions_end(struct sessions *s, const char *id, const char *owner, char *err,
		 size_t errlen);

/* Ends idle and over-age sessions as of now_ms (monotonic milliseconds,
 * sessions_now_ms); returns how many. */
int sessions_expire(struct sessions *s, long now_ms);

long sessions_now_ms(void);
/* Open sessions (including those being opened). */
int sessions_count(struct sessions *s);
/* True for SESSION_ID_LEN lowercase hex characters. */
bool sessions_id_valid(const char *id);
/* "it was deleted", "the code ran out of memory", ... */
const char *sessions_end_text(enum session_end why);
/* A short name for logs and metrics: "deleted", "oom", ... */
const char *sessions_end_name(enum session_end why);

#endif
