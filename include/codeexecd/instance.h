/* The daemon's instance id: the value of the io.codeexecd.instance label on
 * its containers. Containers with this daemon's id and no execution running
 * are a crash's leftovers and removed at start; containers with another id
 * belong to another daemon on the same engine and are never touched. */
#ifndef CODEEXECD_INSTANCE_H
#define CODEEXECD_INSTANCE_H

#include <stdbool.h>
#include <stddef.h>

#include "codeexecd/config.h"

#define CXD_INSTANCE_ID_MAX 64   /* characters: [A-Za-z0-9_.-] */

/* server.instance_id when set; otherwise the random id kept in
 * <state_dir>/instance-<port>.id (made on first start), where state_dir is
 * server.state_dir, else $STATE_DIRECTORY (systemd's StateDirectory=), else
 * /var/lib/codeexecd. When that file cannot be read or written (or port is
 * 0), a random id for this run only: *persisted is false and note says why
 * (crash leftovers of this run are then not removed by the next start).
 * Returns 0, or -EINVAL (err) for a configured id with bad characters. */
int instance_id_load(const struct config *cfg, char id[CXD_INSTANCE_ID_MAX + 1],
		     bool *persisted, char *note, size_t notelen);

/* True for 1..CXD_INSTANCE_ID_MAX characters of [A-Za-z0-9_.-]. */
bool instance_id_valid(const char *id, size_t len);

#endif
