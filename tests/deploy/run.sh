#!/usr/bin/env bash
# The deployment tests (make check-deploy): the compose file validated, then
# each tests/deploy/test_*.sh in turn, or those named on the command line
# (e.g. tests/deploy/run.sh proxy tls). Each test starts (and stops) what it
# needs: Docker engines of its own, haproxy, nginx, codeexecd replicas.
# Needs root (dockerd), the sandbox image and codeexecd's service image on
# the engine at DOCKER_HOST (or /var/run/docker.sock), and haproxy, nginx,
# docker-compose and openssl (scripts/setup-deps.sh deploy installs them).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
tests=("$@")
[ "${#tests[@]}" -gt 0 ] || tests=(image proxy tls replicas)

[ "$(id -u)" = 0 ] || { echo "check-deploy: needs root (it starts Docker engines)" >&2; exit 1; }
for tool in haproxy nginx docker-compose openssl dockerd python3; do
    command -v "$tool" >/dev/null || PATH=$PATH:/usr/sbin command -v "$tool" >/dev/null || {
        echo "check-deploy: $tool is missing (scripts/setup-deps.sh deploy)" >&2; exit 1; }
done
export PATH=$PATH:/usr/sbin

image=${CODEEXECD_TEST_IMAGE:-python-sandbox:latest}
docker image inspect "$image" >/dev/null 2>&1 || {
    echo "check-deploy: the sandbox image $image is missing (make image)" >&2; exit 1; }

docker-compose -f "$repo/deploy/compose.yaml" config -q
echo "== deploy: compose.yaml valid (docker-compose config)"

passed=0; failed=()
for t in "${tests[@]}"; do
    echo "== deploy: $t"
    start=$SECONDS
    if bash "$here/test_$t.sh"; then
        passed=$((passed + 1))
        echo "== deploy: $t passed in $((SECONDS - start)) s"
    else
        failed+=("$t")
        echo "== deploy: $t FAILED after $((SECONDS - start)) s"
    fi
done
echo "deploy: $passed passed, ${#failed[@]} failed${failed:+: ${failed[*]}}"
[ "${#failed[@]}" -eq 0 ]
