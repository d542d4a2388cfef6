#!/usr/bin/env bash
# Replicas behind nginx (deploy/nginx/codeexecd.conf), each on an engine of
# its own: two dockerd of the test's own (separate sockets, data roots, exec
# roots, pid files), two codeexecd, Debian's nginx in front.
#  - throughput at c=8 through nginx against one replica's, in the same run;
#  - one engine stopped under load: its replica answers 503 at once, nginx
#    sends the request to the other, no client request fails; the engine
#    back, its replica serves again.
# DEPLOY_SECONDS (20) is the length of each throughput run;
# DEPLOY_MIN_SPEEDUP the least ratio asserted (default 1.6 with 4 CPUs or
# more; with fewer, the two engines share the CPUs the one had, and 1.0:
# nginx and a second replica must not cost throughput).
source "$(dirname "$0")/lib.sh"

secs=${DEPLOY_SECONDS:-20}
if [ -z "${DEPLOY_MIN_SPEEDUP:-}" ]; then
    DEPLOY_MIN_SPEEDUP=1.0
    [ "$(nproc)" -ge 4 ] && DEPLOY_MIN_SPEEDUP=1.6
fi
load() { python3 "$DEPLOY_DIR/load.py" "$@"; }

engine_start a
engine_start b
engine_load a
engine_load b
pa=$(free_port); pb=$(free_port); pn=$(free_port)
codeexecd_start ra "$pa" DOCKER_HOST="$(engine_host a)"
codeexecd_start rb "$pb" DOCKER_HOST="$(engine_host b)"
for p in "$pa" "$pb"; do
    wait_for 30 curl -sf "http://127.0.0.1:$p/ready" || { cat "$WORK"/r?.log >&2; fail "replica :$p not ready"; }
done

# nginx with the deployed file, the replicas' ports put in.
mkdir -p "$WORK/nginx/tmp"
chmod -R 777 "$WORK/nginx"
sed -e "s/127\.0\.0\.1:8081/127.0.0.1:$pa/" -e "s/127\.0\.0\.1:8082/127.0.0.1:$pb/" \
    -e "s/listen 8080;/listen 127.0.0.1:$pn;/" "$REPO/deploy/nginx/codeexecd.conf" \
    > "$WORK/nginx/codeexecd.conf"
cat > "$WORK/nginx/nginx.conf" <<CONF
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log $WORK/nginx/access.log;
    client_body_temp_path $WORK/nginx/tmp/body;
    proxy_temp_path $WORK/nginx/tmp/proxy;
    fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
    uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
    scgi_temp_path $WORK/nginx/tmp/scgi;
    include $WORK/nginx/codeexecd.conf;
}
CONF
nginx -t -q -c "$WORK/nginx/nginx.conf" || fail "nginx refuses the configuration"
nginx -c "$WORK/nginx/nginx.conf" -g 'daemon off;' &
_pids+=("$!")
lb=http://127.0.0.1:$pn
wait_for 10 curl -sf "$lb/health" || fail "nginx does not answer"

# Warm up both (the pools fill), then measure: one replica alone, then the
# two through nginx, back to back in this run.
load "$lb/execute" 4 4 > /dev/null
one=$(load "http://127.0.0.1:$pa/execute" 8 "$secs")
two=$(load "$lb/execute" 8 "$secs")
r1=$(json_get "$one" 'j["req_per_s"]'); r2=$(json_get "$two" 'j["req_per_s"]')
for run in "$one" "$two"; do
    [ "$(json_get "$run" 'j["good"] == j["requests"]')" = True ] \
        || fail "failed requests under load: $(json_get "$run" 'j["statuses"], j["failures"][:3]')"
done
ratio=$(python3 -c "print(round($r2 / $r1, 2))")
log "c=8, ${secs} s each: one replica $r1 req/s, two behind nginx $r2 req/s: x$ratio ($(nproc) CPUs)"
echo "deploy-metric throughput_one=$r1 throughput_two=$r2 ratio=$ratio cpus=$(nproc)" >&2
python3 -c "import sys; sys.exit(0 if $ratio >= $DEPLOY_MIN_SPEEDUP else 1)" \
    || fail "two replicas give x$ratio, less than x$DEPLOY_MIN_SPEEDUP"
ok "throughput x$ratio with two engines (at least x$DEPLOY_MIN_SPEEDUP asserted)"

# Failover: engine b stops under load and comes back; the load goes on
# until replica b has served again (at most 3 minutes).
LOAD_STOP_FILE=$WORK/stop-load load "$lb/execute" 8 180 > "$WORK/failover.json" &
loader=$!
sleep 8
t_stop=$SECONDS
engine_stop b
log "engine b stopped"
sleep 1
t0=$(date +%s.%N)
direct=$(http POST "http://127.0.0.1:$pb/execute" '{"code": "print(1)"}')
took=$(python3 -c "import time; print(round(time.time() - $t0, 2))")
[ "${direct%% *}" = 503 ] || fail "replica b with its engine down: ${direct:0:300}"
# The daemon's own time for that answer (its log line), apart from the
# client's start-up on a loaded machine.
ms=$(grep -a 'POST /execute 503' "$WORK/rb.log" | tail -n 1 | grep -o '503 [0-9.]*ms' | grep -o '[0-9.]*ms')
python3 -c "import sys; sys.exit(0 if float('${ms%ms}' or 1e9) < 1000 else 1)" \
    || fail "replica b took ${ms:-?} to answer 503"
log "replica b answers 503 in $ms (the client saw it after $took s) while its engine is down"
sleep 5
lines_before=$(grep -c 'POST /execute 200' "$WORK/rb.log" || true)
engine_restart b
t_back=$SECONDS
log "engine b back after $((t_back - t_stop)) s"
served_again() { [ "$(grep -c 'POST /execute 200' "$WORK/rb.log")" -gt "$lines_before" ]; }
wait_for 90 served_again || log "replica b has served nothing 90 s after its engine came back"
log "replica b served again $((SECONDS - t_back)) s after its engine came back"
sleep 5
touch "$WORK/stop-load"
wait "$loader"
fo=$(cat "$WORK/failover.json")
log "under failover: $(json_get "$fo" 'j["requests"]') requests, statuses $(json_get "$fo" 'j["statuses"]'), $(json_get "$fo" 'j["req_per_s"]') req/s"
[ "$(json_get "$fo" 'j["good"] == j["requests"] and j["requests"] > 0')" = True ] \
    || fail "requests failed while engine b was stopped: $(json_get "$fo" 'j["failures"][:5]')"
ok "engine b stopped under load: no client request failed"
lines_after=$(grep -c 'POST /execute 200' "$WORK/rb.log" || true)
served=$((lines_after - lines_before))
[ "$served" -gt 0 ] || fail "replica b served nothing after its engine came back"
ok "engine b back: its replica served $served request(s) again"
retried=$(grep -c 'upstream' "$WORK/nginx/error.log" || true)
log "nginx logged $retried upstream error(s) (the retries)"

for r in ra rb; do codeexecd_stop "$r" || fail "$r did not stop cleanly"; done
for e in a b; do
    left=$(curl -s --unix-socket "$WORK/$e/docker.sock" 'http://docker/containers/json?all=1' \
           | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
    [ "$left" = 0 ] || fail "$left container(s) left on engine $e"
done
ok "no container left on either engine"
