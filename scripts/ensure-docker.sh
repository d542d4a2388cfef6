#!/usr/bin/env bash
# Makes sure a Docker engine answers /_ping.
#  1. DOCKER_HOST (unix:// or tcp://) or /var/run/docker.sock, if it answers;
#  2. otherwise, as root with dockerd installed, starts one in the background
#     (dockerd --iptables=false --bridge=none; log in $CODEEXECD_DOCKERD_LOG,
#     default /var/log/codeexecd-dockerd.log, pid in /run/codeexecd-dockerd.pid)
#     and waits until it answers;
#  3. otherwise fails, saying what to do.
# CODEEXECD_DOCKER_USERNS=1 starts that engine with --userns-remap=default
# (a user namespace for every container; see README, "A uid of its own, and
# user namespaces"), giving the dockremap user a range of 165536 ids, wide
# enough for limits.uid 100000, when it has none. An engine that already
# answers is never changed.
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

# The dockremap user and its subordinate ids, unless it has some already: a
# range after every range in /etc/subuid and /etc/subgid (and not below
# 200000), 165536 ids wide, so that uids up to 165535 inside map.
userns_setup() {
    local size=165536 base=200000 f end
    getent passwd dockremap >/dev/null ||
        useradd --system --no-create-home --shell /usr/sbin/nologin dockremap
    for f in /etc/subuid /etc/subgid; do
        touch "$f"
        end=$(awk -F: '{ e = $2 + $3; if (e > m) m = e } END { print m + 0 }' "$f")
        [ "$end" -gt "$base" ] && base=$end
    done
    for f in /etc/subuid /etc/subgid; do
        if grep -q '^dockremap:' "$f"; then
            echo "ensure-docker: $f already has a range for dockremap: $(grep '^dockremap:' "$f" | head -1)" >&2
        else
            echo "dockremap:$base:$size" >> "$f"
        fi
    done
    echo "ensure-docker: user namespaces on (dockremap, ids from $base); limits.uid must be below $size" >&2
}

# gVisor's runsc on an engine that already answers without it: on a fresh
# machine the docker.io package starts the engine itself, so the engine
# start below never runs and would never register runsc. When runsc is
# installed, the engine is local, its configuration file does not exist yet
# (or is "{}") and we are root, write one with the runtime and have the engine reload it
# (SIGHUP: a live reload, running containers are not touched). Otherwise
# say how. CODEEXECD_DOCKERD_CONFIG and CODEEXECD_DOCKERD_PIDFILE name the
# engine's files (default /etc/docker/daemon.json, /var/run/docker.pid).
runsc_json() {
    cat <<JSON
{ "runtimes": { "runsc": { "path": "$(command -v runsc)",
  "runtimeArgs": ["--platform=ptrace", "--network=none"] } } }
JSON
}
has_runsc() {
    docker info --format '{{json .Runtimes}}' 2>/dev/null | grep -q '"runsc"'
}
register_runsc_live() {
    local conf=${CODEEXECD_DOCKERD_CONFIG:-/etc/docker/daemon.json}
    local pidf=${CODEEXECD_DOCKERD_PIDFILE:-/var/run/docker.pid} pid
    command -v runsc >/dev/null && command -v docker >/dev/null || return 0
    has_runsc && return 0
    case "$host" in unix://*) ;; *) return 0 ;; esac
    # Only a file we can write whole: none yet, or an empty one ("{}").
    if [ "$(id -u)" != 0 ] || [ ! -r "$pidf" ] ||
       { [ -e "$conf" ] && [ "$(tr -d ' \t\r\n' < "$conf")" != "{}" ]; }; then
        echo "ensure-docker: the engine has no runsc runtime; add it to $conf" \
             "and reload the engine (the gVisor tests fail under CI=true without it)" >&2
        return 0
    fi
    pid=$(cat "$pidf")
    mkdir -p "$(dirname "$conf")"
    runsc_json > "$conf"
    kill -HUP "$pid"
    for _ in $(seq 1 20); do
        has_runsc && { echo "ensure-docker: registered runsc with the engine (pid $pid)" >&2; return 0; }
        sleep 0.5
    done
    echo "ensure-docker: the engine did not take runsc from $conf; see its log" >&2
}

ping && { register_runsc_live; exit 0; }

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
        runsc_json > /etc/docker/daemon.json
    fi
    extra=()
    if [ "${CODEEXECD_DOCKER_USERNS:-0}" = 1 ]; then
        userns_setup
        extra+=(--userns-remap=default)
    fi
    setsid dockerd --iptables=false --bridge=none --pidfile "$pid_file" "${extra[@]}" \
        >>"$log_file" 2>&1 < /dev/null &
fi
for _ in $(seq 1 120); do
    ping && { echo "ensure-docker: engine is up" >&2; exit 0; }
    sleep 0.5
done
echo "ensure-docker: dockerd did not answer within 60 s; see $log_file" >&2
exit 1
