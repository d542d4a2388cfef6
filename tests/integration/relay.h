/* A relay in front of the real Docker engine, for tests of the engine going
 * away: it listens on a Unix socket and copies every connection to the
 * engine's socket. Stopping it closes the listener and every connection, so
 * the daemon sees an engine that does not answer; starting it again brings
 * the same engine back. Not a fake engine: every byte comes from the real
 * one. */
#ifndef CODEEXECD_TEST_RELAY_H
#define CODEEXECD_TEST_RELAY_H

struct relay;

/* Listens on listen_path (removed first if it exists), forwarding to
 * engine_path. NULL on failure. */
struct relay *relay_start(const char *listen_path, const char *engine_path);
/* Closes the listener and all connections, removes the socket file, frees. */
void relay_stop(struct relay *r);

#endif
