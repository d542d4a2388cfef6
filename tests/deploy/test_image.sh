#!/usr/bin/env bash
# The service image (docker/Dockerfile.service, built by make service-image)
# run as a container with the engine's socket mounted, on the shared engine:
# non-root with the socket's group, configuration from the image's file and
# the environment, HEALTHCHECK on /ready, the old compose healthcheck
# (curl -f http://localhost:8080/health inside the container), /execute,
# /docs, and a graceful stop with an execution in flight.
source "$(dirname "$0")/lib.sh"

SERVICE_IMAGE=${SERVICE_IMAGE:-codeexecd:latest}
docker image inspect "$SERVICE_IMAGE" >/dev/null 2>&1 || fail "no $SERVICE_IMAGE (make service-image)"
engine_sock=/var/run/docker.sock
case "${DOCKER_HOST:-}" in unix://*) engine_sock=${DOCKER_HOST#unix://} ;; esac

# Configuration: the image's file, the environment over it.
cfg=$(docker run --rm --network none -e MAX_MEMORY=256m -e EXECUTION_TIMEOUT=30 \
      "$SERVICE_IMAGE" --check-config)
grep -q 'host: "0.0.0.0"' <<< "$cfg" || fail "the image's config file: $cfg"
grep -q 'memory_bytes: 256m' <<< "$cfg" && grep -q 'timeout_seconds: 30' <<< "$cfg" \
    || fail "environment not applied: $cfg"
ok "configuration from /etc/codeexecd/config.yaml and the environment"

# The shared engine has no bridge network: the container uses the host's
# network namespace, on a port of its own (PORT, the old service's name).
port=$(free_port)
name=codeexecd-deploy-image-$$
_containers+=("$name")
docker run -d --name "$name" --network host -e PORT="$port" -e DOCKER_IMAGE="$SANDBOX_IMAGE" \
    -v "$engine_sock:/var/run/docker.sock" --group-add "$(stat -c %g "$engine_sock")" \
    "$SERVICE_IMAGE" >/dev/null
base=http://127.0.0.1:$port
wait_for 30 curl -sf "$base/ready" || { docker logs "$name" >&2; fail "the container is not ready"; }
[ "$(docker exec "$name" id -u)" = 10001 ] || fail "not running as uid 10001"
[ "$(docker inspect -f '{{.Config.User}}' "$name")" = codeexecd ] || fail "image user"
ok "runs as codeexecd (uid 10001) with the socket's group"

# The old compose file's healthcheck, as written but for the port.
docker exec "$name" curl -f -s "http://localhost:$port/health" | grep -q '"healthy"' \
    || fail "curl -f http://localhost:$port/health inside the container"
healthy() { [ "$(docker inspect -f '{{.State.Health.Status}}' "$name")" = healthy ]; }
wait_for 40 healthy \
    || fail "HEALTHCHECK: $(docker inspect -f '{{json .State.Health}}' "$name")"
ok "HEALTHCHECK (/ready) healthy; curl -f .../health works inside the container"

body=$(expect_status 200 POST "$base/execute" '{"code": "import numpy\nprint(numpy.arange(3).sum())"}')
[ "$(json_get "$body" 'j["success"] and j["output"] == "3\n"')" = True ] || fail "/execute: $body"
docs=$(expect_status 200 GET "$base/docs")
grep -qi swagger <<< "$docs" || fail "/docs is not the Swagger UI"
spec=$(expect_status 200 GET "$base/openapi.json")
grep -q '"openapi"' <<< "$spec" || fail "/openapi.json"
ok "/execute, /docs and /openapi.json through the container"

# Graceful stop: an execution in flight finishes and gets its answer, the
# container exits 0, no sandbox container is left.
(http POST "$base/execute" '{"code": "import time\ntime.sleep(4)\nprint(\"finished\")"}' \
    > "$WORK/inflight") &
inflight=$!
sleep 1.5
docker stop -t 60 "$name" >/dev/null
wait "$inflight"
got=$(cat "$WORK/inflight")
[ "${got%% *}" = 200 ] && [ "$(json_get "${got#* }" 'j["success"] and j["output"] == "finished\n"')" = True ] \
    || fail "the execution in flight at the stop: $got"
[ "$(docker inspect -f '{{.State.ExitCode}}' "$name")" = 0 ] || fail "exit code $(docker inspect -f '{{.State.ExitCode}}' "$name")"
docker logs "$name" 2>&1 | grep -q 'SIGTERM received' && docker logs "$name" 2>&1 | grep -q 'stopped' \
    || { docker logs "$name" >&2; fail "no graceful stop in the log"; }
left=$(docker ps -aq --filter label=io.codeexecd.managed=true --filter "label=io.codeexecd.instance=$(hostname)-$port" | wc -l)
[ "$left" = 0 ] || fail "$left sandbox container(s) left"
ok "docker stop: the execution in flight answered, exit 0, no container left"
