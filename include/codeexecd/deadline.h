/* A watchdog for whole-request deadlines: sockets registered with a
 * deadline are shut down (shutdown(2), both ways) once it passes, which
 * makes the HTTP library drop the connection. It covers what per-read
 * timeouts cannot: a client that sends its headers or body a byte at a
 * time. Knows nothing of HTTP. */
#ifndef CODEEXECD_DEADLINE_H
#define CODEEXECD_DEADLINE_H

struct deadlines;
struct deadline_entry;

/* Starts the watchdog thread. Returns 0 or a negative errno code. */
int deadlines_start(struct deadlines **out);
/* Stops the thread and frees what is left. Accepts NULL. */
void deadlines_stop(struct deadlines *d);

/* Registers fd, unarmed. NULL on ENOMEM (the socket is then not watched).
 * The caller removes it before fd is closed. */
struct deadline_entry *deadlines_add(struct deadlines *d, int fd);
/* Arms (seconds > 0: from now) or disarms (0) the entry's deadline. Accepts
 * NULL. */
void deadlines_arm(struct deadlines *d, struct deadline_entry *e, int seconds);
/* True when the watchdog shut the entry's socket down. */
int deadlines_expired(struct deadlines *d, const struct deadline_entry *e);
/* Unregisters and frees the entry. Accepts NULL. */
void deadlines_remove(struct deadlines *d, struct deadline_entry *e);

#endif
