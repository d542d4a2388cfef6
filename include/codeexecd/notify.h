/* systemd integration through libsystemd (the only caller of sd_*): the
 * service manager's notifications (READY=1, STATUS=, RELOADING=1,
 * STOPPING=1, WATCHDOG=1) and listening sockets passed by socket
 * activation. Every call is a no-op outside systemd (no NOTIFY_SOCKET,
 * no LISTEN_FDS). */
#ifndef CODEEXECD_NOTIFY_H
#define CODEEXECD_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

/* Takes the sockets systemd passed (LISTEN_FDS for this pid), unsetting
 * the variables: the one named "metrics" (FileDescriptorName=metrics) goes
 * to *metrics_fd, the first other one to *main_fd; -1 when absent. More
 * sockets, or one that is not a listening stream socket, is an error.
 * Returns how many were taken (0 without socket activation) or a negative
 * errno code with err. */
int notify_listen_fds(int *main_fd, int *metrics_fd, char *err, size_t errlen);

void notify_ready(const char *status);
void notify_reloading(void);
void notify_stopping(void);
void notify_status(const char *status);
/* WatchdogSec in microseconds when systemd expects WATCHDOG=1 from this
 * process, else 0. */
uint64_t notify_watchdog_usec(void);
void notify_watchdog(void);

#endif
