#!/usr/bin/env bash
# Makes sure a Docker engine answers /_ping.
#  1. DOCKER_HOST (unix:// or tcp://) or /var/run/docker.sock, if it answers;
#  2. otherwise, as root with dockerd installed, starts one in the background
#     (dockerd --iptables=false --bridge=none; log in $CODEEXECD_DOCKERD_LOG,
#     default /var/log/codeexecd-dockerd.log, pid in /run/codeexecd-dockerd.pid)
#     and waits until it answers;
#  3. otherwise fails, saying what to do.
set -euo pipefail

log_file=${CODEEXECD_DOCKERD_LOG:-/var/log/codeexecd-dockerd.log}
pid_file=/run/codeexecd-dockerd.pid
host=${DOCKER_HOST:-unix:///var/run/docker.sock}

ping() {
    case "$host" in
        unix://*) curl -sf -m 3 --unix-socket "${host#unix://}" http://docker/_ping >/dev/null 2>&1 ;;
        *) docker version >/dev/null 2>&1 ;;
    esac
}

ping && exit 0

if [ -n "${DOCKER_HOST:-}" ] && [ "$host" != unix:///var/run/docker.sock ]; then
    echo "ensure-docker: DOCKER_HOST=$DOCKER_HOST does not answer /_ping" >&2
    exit 1
fi
if [ "$(id -u)" != 0 ] || ! command -v dockerd >/dev/null; then
    echo "ensure-docker: no Docker engine answers at /var/run/docker.sock." >&2
    echo "ensure-docker: start one (systemctl start docker), or run as root with" >&2
    echo "ensure-docker: dockerd installed (apt-get install docker.io) to let this script start it." >&2
    exit 1
fi

if [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
    echo "ensure-docker: dockerd (pid $(cat "$pid_file")) is starting; waiting" >&2
else
    echo "ensure-docker: starting dockerd (log: $log_file)" >&2
    mkdir -p "$(dirname "$log_file")"
    # Register gVisor's runsc as a runtime when it is installed and the
    # engine has no configuration of its own yet.
    if command -v runsc >/dev/null && [ ! -e /etc/docker/daemon.json ]; then
        mkdir -p /etc/docker
        cat > /etc/docker/daemon.json <<JSON
{ "runtimes": { "runsc": { "path": "$(command -v runsc)",
  "runtimeArgs": ["--platform=ptrace", "--network=none"] } } }
JSON
    fi
    setsid dockerd --iptables=false --bridge=none --pidfile "$pid_file" \
        >>"$log_file" 2>&1 < /dev/null &
fi
for _ in $(seq 1 120); do
    ping && { echo "ensure-docker: engine is up" >&2; exit 0; }
    sleep 0.5
done
echo "ensure-docker: dockerd did not answer within 60 s; see $log_file" >&2
exit 1
