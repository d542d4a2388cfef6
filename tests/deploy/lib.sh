# Helpers of the deployment tests (sourced by tests/deploy/*.sh).
#
# Everything a test starts (Docker engines of its own, codeexecd replicas,
# haproxy, nginx, containers of the service image) is registered here and
# stopped by the EXIT trap, also when the test fails. The shared engine
# (DOCKER_HOST or /var/run/docker.sock) is only read from (docker save of the
# sandbox image) and used for the service image's containers, which are
# named and removed by the test.

set -euo pipefail

DEPLOY_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$DEPLOY_DIR/../.." && pwd)
CODEEXECD_BIN=${CODEEXECD_BIN:-$REPO/build/codeexecd}
SANDBOX_IMAGE=${CODEEXECD_TEST_IMAGE:-python-sandbox:latest}
# Data roots of the engines need a real disk (overlay2), not a tmpfs.
WORK=$(mktemp -d "${CODEEXECD_DEPLOY_TMP:-/var/tmp}/codeexecd-deploy-XXXXXX")
TEST_NAME=$(basename "$0" .sh)

_pids=()            # processes to TERM (then KILL) at exit, newest last
_engines=()         # engine directories under $WORK
_containers=()      # containers on the shared engine to remove at exit
_failed=0

log()  { printf '%s: %s\n' "$TEST_NAME" "$*" >&2; }
fail() { log "FAIL: $*"; _failed=1; exit 1; }
ok()   { log "ok: $*"; }

cleanup() {
    local rc=$? i
    set +e
    for ((i = ${#_pids[@]} - 1; i >= 0; i--)); do
        kill -TERM "${_pids[i]}" 2>/dev/null
    done
    for c in "${_containers[@]}"; do docker rm -f "$c" >/dev/null 2>&1; done
    for e in "${_engines[@]}"; do engine_stop "$e"; done
    for p in "${_pids[@]}"; do
        for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$p" 2>/dev/null
    done
    for e in "${_engines[@]}"; do
        # an engine's mounts (overlay, netns) must be gone before its data goes
        grep -o " $e/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
    done
    if [ "$rc" != 0 ] && [ -n "${CODEEXECD_DEPLOY_KEEP:-}" ]; then
        log "kept $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# free_port: a TCP port nothing listens on now.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_for SECONDS COMMAND...: until COMMAND succeeds; 1 if it never did.
wait_for() {
    local secs=$1; shift
    local end=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$end" ] || return 1
        sleep 0.3
    done
}

# --- Docker engines of our own ---------------------------------------------

# engine_start NAME [extra dockerd args...]: a dockerd with its own socket
# ($WORK/NAME/docker.sock), data root, exec root, pid file and configuration;
# no iptables, no bridge. Prints nothing; DOCKER_HOST for it is
# unix://$WORK/NAME/docker.sock.
engine_start() {
    local name=$1; shift
    local dir=$WORK/$name
    mkdir -p "$dir/data" "$dir/exec"
    [ -f "$dir/daemon.json" ] || echo '{}' > "$dir/daemon.json"
    : > "$dir/args"
    [ $# -eq 0 ] || printf '%s\n' "$@" > "$dir/args"
    setsid dockerd --host "unix://$dir/docker.sock" --data-root "$dir/data" \
        --exec-root "$dir/exec" --pidfile "$dir/docker.pid" --config-file "$dir/daemon.json" \
        --iptables=false --ip-masq=false --bridge=none --cgroup-parent "codeexecd-deploy-$name-$$" \
        "$@" >> "$dir/dockerd.log" 2>&1 < /dev/null &
    echo $! > "$dir/dockerd.launcher"
    [[ " ${_engines[*]} " == *" $dir "* ]] || _engines+=("$dir")
    wait_for 60 curl -sf --unix-socket "$dir/docker.sock" http://docker/_ping \
        || { tail -n 20 "$dir/dockerd.log" >&2; fail "engine $name did not start"; }
}

# engine_restart NAME: starts it again with the arguments it had.
engine_restart() {
    local dir=$WORK/$1 args=()
    mapfile -t args < "$dir/args"
    engine_start "$1" "${args[@]}"
}

# engine_stop DIR|NAME: SIGTERM to the dockerd, wait until it is gone.
engine_stop() {
    local dir=$1 pid
    [[ "$dir" == /* ]] || dir=$WORK/$dir
    pid=$(cat "$dir/dockerd.launcher" 2>/dev/null) || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
}

engine_host() { printf 'unix://%s/docker.sock' "$WORK/$1"; }

# engine_load NAME: the sandbox image from the shared engine into it.
engine_load() {
    local tar=$WORK/sandbox-image.tar
    [ -s "$tar" ] || docker save -o "$tar" "$SANDBOX_IMAGE"
    DOCKER_HOST=$(engine_host "$1") docker load -q -i "$tar" >/dev/null
}

# --- codeexecd -------------------------------------------------------------

# codeexecd_start NAME PORT [VAR=value...] -- [codeexecd args...]: the daemon
# in the background, log in $WORK/NAME.log, pid in $WORK/NAME.pid.
codeexecd_start() {
    local name=$1 port=$2; shift 2
    local envs=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
    [ "${1:-}" = -- ] && shift
    env -u DOCKER_TLS_VERIFY -u DOCKER_CERT_PATH DOCKER_IMAGE="$SANDBOX_IMAGE" \
        "${envs[@]}" "$CODEEXECD_BIN" --host 127.0.0.1 --port "$port" "$@" \
        >> "$WORK/$name.log" 2>&1 < /dev/null &
    echo $! > "$WORK/$name.pid"
    _pids+=("$!")
}

# codeexecd_stop NAME: SIGTERM, wait; its exit code is the result.
codeexecd_stop() {
    local pid rc=0
    pid=$(cat "$WORK/$1.pid")
    kill -TERM "$pid"
    wait "$pid" || rc=$?
    return "$rc"
}

# http METHOD URL [BODY]: prints "STATUS BODY"
http() {
    local out
    out=$(curl -s -m "${HTTP_TIMEOUT:-120}" -o - -w '\n%{http_code}' -X "$1" \
          -H 'Content-Type: application/json' ${3:+--data-binary "$3"} "$2") || true
    printf '%s %s' "${out##*$'\n'}" "${out%$'\n'*}"
}

# expect_status WANT METHOD URL [BODY]: the body on stdout.
expect_status() {
    local want=$1 got; shift
    got=$(http "$@")
    [ "${got%% *}" = "$want" ] || fail "$1 $2: want $want, got ${got:0:400}"
    printf '%s' "${got#* }"
}

# json_get JSON EXPR: a Python expression on j (the parsed JSON).
json_get() {
    python3 -c 'import json,sys; j=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"
}
