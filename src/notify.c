/* systemd notifications and socket activation (see notify.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "codeexecd/notify.h"

int notify_listen_fds(int *main_fd, int *metrics_fd, char *err, size_t errlen)
{
	char **names = NULL;
	int n = sd_listen_fds_with_names(1, &names), rc = 0;

	*main_fd = *metrics_fd = -1;
	if (n < 0) {
		(void)snprintf(err, errlen, "socket activation: %s", strerror(-n));
		return n;
	}
	for (int i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + i;
		bool metrics = names && names[i] && strcmp(names[i], "metrics") == 0;
		int *slot = metrics ? metrics_fd : main_fd;

		if (rc == 0 && sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0) {
			(void)snprintf(err, errlen, "socket activation: fd %d (%s) is not a "
				       "listening stream socket", fd, names && names[i] ? names[i] : "?");
			rc = -EINVAL;
		} else if (rc == 0 && *slot >= 0) {
			(void)snprintf(err, errlen, "socket activation: more than one %s socket "
				       "(name the metrics one FileDescriptorName=metrics)",
				       metrics ? "metrics" : "HTTP");
			rc = -EINVAL;
		}
		if (rc == 0) {
			*slot = fd;
			/* Our copies must not leak into anything we start. */
			(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
		}
	}
	if (names)
		for (int i = 0; i < n; i++)
			free(names[i]);
	free(names);
	if (rc != 0) {
		for (int i = 0; i < n; i++)
			(void)close(SD_LISTEN_FDS_START + i);
		*main_fd = *metrics_fd = -1;
		return rc;
	}
	return n;
}

void notify_ready(const char *status)
{
	(void)sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

void notify_reloading(void)
{
	(void)sd_notify(0, "RELOADING=1\nSTATUS=Reloading the configuration");
}

void notify_stopping(void)
{
	(void)sd_notify(0, "STOPPING=1\nSTATUS=Shutting down");
}

void notify_status(const char *status)
{
	(void)sd_notifyf(0, "STATUS=%s", status);
}

uint64_t notify_watchdog_usec(void)
{
	uint64_t usec = 0;

	return sd_watchdog_enabled(0, &usec) > 0 ? usec : 0;
}

void notify_watchdog(void)
{
	(void)sd_notify(0, "WATCHDOG=1");
}
