#!/usr/bin/env bash
# A Docker engine of the soak's own, which the soak may stop and restart
# without touching the machine's engine (everyone else's). Root only.
#   scripts/soak-engine.sh start     start it (if it is not running), wait for /_ping,
#                                    copy the image into it if it lacks it, remove
#                                    what an interrupted run left in it
#   scripts/soak-engine.sh stop      SIGTERM, wait for it to exit
#   scripts/soak-engine.sh host      print its DOCKER_HOST
# Environment: SOAK_ENGINE_DIR (/var/tmp/codeexecd-soak-engine: socket,
# data, exec root, pid file, log), CODEEXECD_TEST_IMAGE or IMAGE (else
# python-sandbox:latest), copied from
# the engine of $SOURCE_DOCKER_HOST (else $DOCKER_HOST, else /var/run/docker.sock).
set -euo pipefail

dir=${SOAK_ENGINE_DIR:-/var/tmp/codeexecd-soak-engine}
image=${CODEEXECD_TEST_IMAGE:-${IMAGE:-python-sandbox:latest}}
sock=$dir/docker.sock
pidfile=$dir/dockerd.pid
source_host=${SOURCE_DOCKER_HOST:-${DOCKER_HOST:-unix:///var/run/docker.sock}}

ping() { curl -sf -m 2 --unix-socket "$sock" http://docker/_ping >/dev/null 2>&1; }
running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

start() {
    if ! running; then
        mkdir -p "$dir/data" "$dir/exec"
        [ -f "$dir/daemon.json" ] || echo '{}' > "$dir/daemon.json"
        # Its own containerd namespace too, in case a system containerd is shared.
        setsid dockerd --host "unix://$sock" --data-root "$dir/data" --exec-root "$dir/exec" \
            --pidfile "$pidfile" --config-file "$dir/daemon.json" --iptables=false \
            --ip-masq=false --bridge=none --containerd-namespace codeexecd-soak \
            --containerd-plugins-namespace codeexecd-soak-plugins \
            >>"$dir/dockerd.log" 2>&1 </dev/null &
    fi
    for _ in $(seq 1 300); do
        ping && break
        sleep 0.1
    done
    ping || { echo "soak-engine: dockerd did not answer; see $dir/dockerd.log" >&2; exit 1; }
}

copy_image() {
    local want have
    want=$(DOCKER_HOST=$source_host docker image inspect -f '{{.Id}}' "$image")
    have=$(DOCKER_HOST=unix://$sock docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)
    if [ "$want" != "$have" ]; then
        echo "soak-engine: copying $image into the soak engine (once)" >&2
        DOCKER_HOST=$source_host docker save "$image" | DOCKER_HOST=unix://$sock docker load -q >/dev/null
    fi
}

stop() {
    running || return 0
    local pid; pid=$(cat "$pidfile")
    kill -TERM "$pid"
    for _ in $(seq 1 600); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    echo "soak-engine: dockerd $pid did not stop in 60 s; SIGKILL" >&2
    kill -KILL "$pid"
}

# The engine is the soak's alone: what an interrupted run left goes.
clean() {
    local ids
    ids=$(DOCKER_HOST=unix://$sock docker ps -aq)
    [ -z "$ids" ] || DOCKER_HOST=unix://$sock docker rm -f $ids >/dev/null
    DOCKER_HOST=unix://$sock docker volume prune -f >/dev/null
}

case "${1:-}" in
    start) start; copy_image; clean ;;
    restart-fast) start ;;          # no image check: the chaos restart
    stop) stop ;;
    host) echo "unix://$sock" ;;
    *) echo "usage: $0 start|stop|host" >&2; exit 2 ;;
esac
