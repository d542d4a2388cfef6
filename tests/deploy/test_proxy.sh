#!/usr/bin/env bash
# codeexecd behind a Docker socket proxy (Debian's haproxy with
# deploy/haproxy/docker-socket-proxy.cfg, the narrowest rules codeexecd
# needs) in front of an engine of the test's own:
#  - the sandbox suite's main cases (tests/integration, case "run": output,
#    files, stdin, timeouts, memory and fork bombs, floods, hostile files)
#    through the proxy, none of codeexecd's calls refused by it;
#  - a 60 s execution and a timeout through it;
#  - what codeexecd does not need is refused (exec, archive, volumes, ...);
#  - the sandbox image removed at runtime: the pull fails fast with a clear
#    error (the engine has no registry), /ready says so, a re-tag recovers.
source "$(dirname "$0")/lib.sh"

INTEG_SANDBOX=${INTEG_SANDBOX:-$REPO/build/tests/integ_test_sandbox}
[ -x "$INTEG_SANDBOX" ] || fail "$INTEG_SANDBOX is missing (make check-deploy builds it)"

engine_start proxied
engine_load proxied
sock=$WORK/proxied/docker.sock
pport=$(free_port)
PROXY_BIND=127.0.0.1:$pport PROXY_ENGINE_SOCKET=$sock \
    haproxy -f "$REPO/deploy/haproxy/docker-socket-proxy.cfg" -db > "$WORK/haproxy.log" 2>&1 &
_pids+=("$!")
proxy=tcp://127.0.0.1:$pport
wait_for 10 curl -sf "http://127.0.0.1:$pport/_ping" || fail "haproxy does not answer"

# What the proxy refuses: every endpoint codeexecd does not call.
api=http://127.0.0.1:$pport/v1.41
for probe in "GET /version" "GET /info" "GET /networks" "GET /volumes" "POST /volumes/create" \
             "POST /containers/x/exec" "POST /exec/x/start" "PUT /containers/x/archive" \
             "GET /containers/x/archive" "POST /build" "GET /images/json" "DELETE /images/x" \
             "GET /events" "POST /containers/x/update" "GET /containers/x/logs" \
             "POST /swarm/init" "GET /plugins" "GET /system/df" "GET /containers/x/export"; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -X "${probe%% *}" "$api${probe#* }")
    [ "$code" = 403 ] || fail "proxy let $probe through ($code)"
    probes=$((${probes:-0} + 1))
done
ok "the proxy refuses exec, archive, volumes, networks, version, info, build and the rest"

# The sandbox suite's main cases, the daemon going through the proxy.
# A failure there is reported at the end, after the checks below.
start=$SECONDS
suite_failed=0
DOCKER_HOST=$proxy CODEEXECD_BIN=$CODEEXECD_BIN CODEEXECD_TEST_IMAGE=$SANDBOX_IMAGE \
    CK_RUN_CASE=run "$INTEG_SANDBOX" > "$WORK/sandbox-suite.log" 2>&1 || suite_failed=1
grep -E '^[0-9]+%: Checks' "$WORK/sandbox-suite.log" >&2
if [ "$suite_failed" = 0 ]; then
    ok "sandbox suite (case run) through the proxy in $((SECONDS - start)) s"
else
    grep -E ':[FE]:' "$WORK/sandbox-suite.log" >&2 || cat "$WORK/sandbox-suite.log" >&2
    log "the sandbox suite failed through the proxy (details above); going on"
fi
grep -q ' 101 ' "$WORK/haproxy.log" || fail "no attach (101 Switching Protocols) went through the proxy"
denied=$(grep -c 'PR--' "$WORK/haproxy.log" || true)
[ "$denied" -eq "$probes" ] \
    || { grep 'PR--' "$WORK/haproxy.log" >&2; fail "the proxy refused calls of codeexecd"; }
ok "the proxy refused none of codeexecd's calls (attach included)"

# A 60 s execution and a timeout, through the proxy.
port=$(free_port)
codeexecd_start svc "$port" DOCKER_HOST="$proxy" -- --set execution.pool_size=0 \
    --set docker.pull_missing_image=true
base=http://127.0.0.1:$port
wait_for 30 curl -sf "$base/ready" || { cat "$WORK/svc.log" >&2; fail "codeexecd not ready"; }
body=$(expect_status 200 POST "$base/execute" \
       '{"code": "import time\nprint(\"start\", flush=True)\ntime.sleep(60)\nprint(\"done\")", "timeout": 90}')
[ "$(json_get "$body" 'j["success"] and j["output"] == "start\ndone\n" and j["duration_ms"] >= 60000')" = True ] \
    || fail "60 s execution: $body"
ok "a 60 s execution through the proxy"
body=$(expect_status 200 POST "$base/execute" \
       '{"code": "import time\nprint(\"before\", flush=True)\ntime.sleep(30)", "timeout": 2}')
[ "$(json_get "$body" 'j["timed_out"] and not j["success"] and j["output"] == "before\n"')" = True ] \
    || fail "timeout: $body"
ok "a timeout through the proxy"

# The image removed at runtime (another name keeps the layers); no pool, so
# the next execution needs the image. The engine
# has no registry: the pull fails fast, clearly; a re-tag recovers.
export DOCKER_HOST=unix://$sock
docker tag "$SANDBOX_IMAGE" codeexecd-deploy-keep:latest
docker rmi "$SANDBOX_IMAGE" >/dev/null
t0=$(date +%s.%N)
body=$(expect_status 200 POST "$base/execute" '{"code": "print(7)"}')
took=$(python3 -c "import time; print(round(time.time() - $t0, 1))")
[ "$(json_get "$body" 'not j["success"] and j["exit_code"] == -1')" = True ] \
    || fail "missing image: $body"
grep -qi "pull" <<< "$body" && grep -q "$SANDBOX_IMAGE" <<< "$body" \
    || fail "missing image: the error says not that the pull of the image failed: $body"
log "missing image answered in $took s: $(json_get "$body" 'j["error"]')"
python3 -c "import sys; sys.exit(0 if $took < 30 else 1)" || fail "the failed pull took $took s"
ready=$(http GET "$base/ready")
[ "${ready%% *}" = 503 ] || fail "/ready with the image missing: $ready"
ok "image removed: the pull fails fast with a clear error, /ready 503"
docker tag codeexecd-deploy-keep:latest "$SANDBOX_IMAGE"
body=$(expect_status 200 POST "$base/execute" '{"code": "print(7)"}')
[ "$(json_get "$body" 'j["success"] and j["output"] == "7\n"')" = True ] || fail "after re-tag: $body"
wait_for 20 curl -sf "$base/ready" || fail "/ready after the re-tag"
ok "after a re-tag executions and /ready recover"
unset DOCKER_HOST

codeexecd_stop svc || fail "codeexecd did not stop cleanly"
left=$(curl -s --unix-socket "$sock" 'http://docker/containers/json?all=1' | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$left" = 0 ] || fail "$left container(s) left on the engine"
ok "no container left"
[ "$suite_failed" = 0 ] || fail "the sandbox suite (case run) through the proxy"
