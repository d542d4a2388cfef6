#!/usr/bin/env bash
# End-to-end tests against the real daemon (make check-e2e):
#   a. the OpenAPI document (served and in openapi/) linted by Redocly CLI;
#   b. the backend's orval client generated from the served document,
#      type-checked, and used as the backend uses it;
#   c. /docs and /redoc in headless Chromium, with no request leaving the daemon;
#   d. /metrics: promtool's check of a scrape, and a real Prometheus server
#      (Debian's prometheus) that scrapes the daemon and answers a PromQL query
#      with the executions run here;
#   e. the same client against a daemon with API keys, the key added to its
#      axios instance as the backend would.
#
#   CODEEXECD_BIN=build/codeexecd CODEEXECD_TEST_IMAGE=python-sandbox:latest tests/e2e/run.sh
#
# Installs its npm packages (tests/e2e/package-lock.json) only when they are
# missing or the lock changed, and Chromium from apt when it is missing and we
# are root. Screenshots and the daemon's log go to tests/e2e/artifacts/.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${CODEEXECD_BIN:-$root/build/codeexecd}
image=${CODEEXECD_TEST_IMAGE:-python-sandbox:latest}
chromium=${CHROMIUM:-/usr/bin/chromium}
artifacts=$here/artifacts
generated=$here/generated

passed=0; failed=0; failed_names=()
daemon_pid=

say() { echo "e2e: $*"; }

# check NAME CMD...: runs one check, counts it, returns its status.
check() {
    local name=$1; shift
    echo "== e2e: $name"
    if "$@"; then
        passed=$((passed + 1)); echo "   passed: $name"
        return 0
    fi
    failed=$((failed + 1)); failed_names+=("$name"); echo "   FAILED: $name"
    return 1
}

summary() {
    echo "e2e: $passed passed, $failed failed"
    [ "$failed" -eq 0 ] || echo "e2e: failed: $(IFS=';'; echo "${failed_names[*]}")" >&2
}

stop_daemon() {
    [ -n "$daemon_pid" ] || return 0
    if kill -0 "$daemon_pid" 2>/dev/null; then
        kill -TERM "$daemon_pid" 2>/dev/null
        for _ in $(seq 1 100); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$daemon_pid" 2>/dev/null
    fi
    wait "$daemon_pid" 2>/dev/null
    daemon_pid=
}

work=
# The daemon is stopped whatever happens.
on_exit() {
    local rc=$?
    stop_prometheus
    stop_daemon
    [ -z "$work" ] || rm -rf "$work"
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- prerequisites ---------------------------------------------------------

need_npm_ci() {
    local want have
    want=$(cat "$here/package.json" "$here/package-lock.json" "$here/.npmrc" | sha256sum | cut -d' ' -f1)
    have=$(cat "$here/node_modules/.codeexecd-e2e.stamp" 2>/dev/null || true)
    [ "$want" != "$have" ] && echo "$want"
}

setup_npm() {
    local want
    command -v npm >/dev/null || { say "npm not found (scripts/setup-deps.sh installs it)"; return 1; }
    want=$(need_npm_ci) || return 0
    say "npm ci in tests/e2e"
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error) || return 1
    echo "$want" > "$here/node_modules/.codeexecd-e2e.stamp"
}

setup_chromium() {
    [ -x "$chromium" ] && return 0
    if [ "$(id -u)" = 0 ] && [ "$chromium" = /usr/bin/chromium ]; then
        say "installing chromium from apt"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                chromium >/dev/null && [ -x "$chromium" ] && return 0
    fi
    say "$chromium is missing: apt-get install chromium (or set CHROMIUM=)"
    return 1
}

free_port() {
    node -e 'const s = require("net").createServer();
             s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

# Starts the daemon on a free port (extra arguments passed on); sets url
# and daemon_pid.
start_daemon() {
    local attempt port
    for attempt in 1 2 3; do
        port=$(free_port) || return 1
        url=http://127.0.0.1:$port
        "$bin" --host 127.0.0.1 --port "$port" --set "docker.image=$image" \
            --set "server.state_dir=$work" "$@" \
            >>"$artifacts/codeexecd.log" 2>&1 &
        daemon_pid=$!
        for _ in $(seq 1 300); do
            if ! kill -0 "$daemon_pid" 2>/dev/null; then
                wait "$daemon_pid" 2>/dev/null; daemon_pid=; break  # e.g. the port was taken
            fi
            curl -fsS -o /dev/null --max-time 2 "$url/health" 2>/dev/null && return 0
            sleep 0.1
        done
        stop_daemon
        say "daemon did not answer on $url (attempt $attempt); see $artifacts/codeexecd.log"
    done
    return 1
}

# --- the checks --------------------------------------------------------------

redocly() {
    (cd "$here" && REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
        npx --no-install redocly lint --config redocly.yaml --format=stylish "$@")
}

served_equals_source() {
    curl -fsS --max-time 10 -o "$work/served-openapi.json" "$url/openapi.json" &&
        cmp "$work/served-openapi.json" "$root/openapi/openapi.json"
}

generate_client() {
    (cd "$here" && ORVAL_INPUT="$url/openapi.json" npx --no-install orval --config orval.config.ts)
}

# The names the backend imports.
generated_names() {
    local client=$generated/ayunisCodeExecutionService.ts
    local schemas=$generated/ayunisCodeExecutionService.schemas.ts
    local ok=0 name
    for f in "$client" "$schemas"; do
        [ -f "$f" ] || { echo "   missing $f"; ok=1; }
    done
    [ "$ok" = 0 ] || return 1
    grep -q 'export const getAyunisCodeExecutionService = ' "$client" ||
        { echo "   no getAyunisCodeExecutionService in $client"; ok=1; }
    for name in executeCodeExecutePost healthCheckHealthGet rootGet; do
        grep -Eq "^return \{.*\b$name\b.*\}" "$client" ||
            { echo "   getAyunisCodeExecutionService() returns no $name"; ok=1; }
    done
    for name in ExecutionRequest ExecutionResponse HealthResponse HTTPValidationError \
                ValidationError; do
        grep -Eq "^export (interface|type) $name\b" "$schemas" ||
            { echo "   $schemas exports no type $name"; ok=1; }
    done
    return "$ok"
}

type_check() {
    (cd "$here" && npx --no-install tsc -p tsconfig.json --noEmit)
}

run_client() {
    (cd "$here" && rm -rf generated/.build &&
        npx --no-install tsc -p tsconfig.json &&
        CODE_EXECUTION_SERVICE_URL=$url node generated/.build/client-test.js)
}

# The client unchanged, against a daemon with API keys: 401 without the
# key, everything as before with it in the axios instance.
run_client_with_key() {
    local key
    "$bin" --hash-key backend >"$work/keys" 2>"$work/key.txt" || return 1
    key=$(grep '^cxd_' "$work/key.txt")
    stop_daemon
    start_daemon --set "auth.keys_file=$work/keys" || return 1
    (cd "$here" && CODE_EXECUTION_SERVICE_URL=$url CODE_EXECUTION_SERVICE_KEY=$key \
        node generated/.build/client-test.js)
}

# --- Prometheus ------------------------------------------------------------

promtool_check() {
    command -v promtool >/dev/null || { say "promtool missing (apt-get install prometheus)"; return 1; }
    curl -fsS --max-time 10 "$url/metrics" | promtool check metrics
}

# The sum of the series that start with $1 in the daemon's own scrape.
scraped_sum() {
    curl -fsS --max-time 10 "$url/metrics" |
        awk -v s="$1" 'index($0, s) == 1 { n += $NF } END { print n + 0 }'
}

prom_pid=
stop_prometheus() {
    [ -n "$prom_pid" ] || return 0
    kill -TERM "$prom_pid" 2>/dev/null; wait "$prom_pid" 2>/dev/null; prom_pid=
}

# The value of a PromQL query's first result, or "".
promql() {
    curl -fsS --max-time 5 "http://127.0.0.1:$1/api/v1/query" --data-urlencode "query=$2" \
        2>/dev/null |
        node -e 'let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
            try { const r = JSON.parse(s).data.result; console.log(r.length ? r[0].value[1] : ""); }
            catch { console.log(""); } })'
}

# A Prometheus server on a loopback port scrapes the daemon every second;
# its HTTP API must return, for sum(codeexecd_executions_total), what the
# daemon counted (the client's executions and two more run here).
prometheus_scrape() {
    command -v prometheus >/dev/null || { say "prometheus missing (apt-get install prometheus)"; return 1; }
    local port want got errors i target=${url#http://} dir=$work/prometheus
    curl -fsS --max-time 120 "$url/execute" -H 'Content-Type: application/json' \
        -d '{"code": "print(1)"}' >/dev/null || return 1
    curl -fsS --max-time 120 "$url/execute" -H 'Content-Type: application/json' \
        -d '{"code": "raise SystemExit(2)"}' >/dev/null || return 1
    want=$(scraped_sum 'codeexecd_executions_total{')
    port=$(free_port) || return 1
    mkdir -p "$dir"
    printf '%s\n' 'global:' '  scrape_interval: 1s' '  evaluation_interval: 1s' \
        'scrape_configs:' '  - job_name: codeexecd' '    static_configs:' \
        "      - targets: [\"$target\"]" >"$dir/prometheus.yml"
    promtool check config "$dir/prometheus.yml" >/dev/null || return 1
    prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
        --web.listen-address="127.0.0.1:$port" >"$artifacts/prometheus.log" 2>&1 &
    prom_pid=$!
    for i in $(seq 1 60); do
        got=$(promql "$port" 'sum(codeexecd_executions_total{job="codeexecd"})')
        [ -n "$got" ] && [ "$got" = "$want" ] && break
        sleep 1
    done
    errors=$(promql "$port" 'sum(codeexecd_executions_total{job="codeexecd",outcome="error"})')
    say "executions: the daemon counted $want, Prometheus says ${got:-nothing} (errors: ${errors:-none})"
    stop_prometheus
    [ -n "$got" ] && [ "$got" = "$want" ] && [ "$want" -ge 2 ] && [ "${errors:-0}" -ge 1 ]
}

browser() {
    (cd "$here" && CODEEXECD_URL=$url E2E_ARTIFACTS=$artifacts CHROMIUM=$chromium \
        node browser.mjs)
}

# --- main --------------------------------------------------------------------

mkdir -p "$artifacts"
rm -f "$artifacts"/*.png "$artifacts/codeexecd.log"
work=$(mktemp -d "${TMPDIR:-/tmp}/codeexecd-e2e.XXXXXX")

if [ ! -x "$bin" ]; then
    say "no daemon binary at $bin (make, or set CODEEXECD_BIN)"
    failed=1; failed_names=(setup); summary; exit 1
fi
check "setup: npm packages" setup_npm
if [ "$failed" -ne 0 ]; then summary; exit 1; fi
check "daemon: starts and answers /health" start_daemon
if [ "$failed" -ne 0 ]; then summary; exit 1; fi
say "daemon at $url (pid $daemon_pid, image $image)"

check "openapi: /openapi.json is openapi/openapi.json" served_equals_source
check "openapi: lint of the served document" redocly "$url/openapi.json"
check "openapi: lint of openapi/openapi.json" redocly "$root/openapi/openapi.json"

if check "client: generate with orval" generate_client && [ -d "$generated" ]; then
    check "client: file and names the backend imports" generated_names
    check "client: type-check (tsc --noEmit, strict)" type_check
    check "client: used as the backend uses it" run_client
else
    failed=$((failed + 3)); failed_names+=("client: skipped (no generated client)")
fi

if check "browser: chromium" setup_chromium; then
    check "browser: /docs and /redoc in headless Chromium" browser
else
    failed=$((failed + 1)); failed_names+=("browser: skipped (no chromium)")
fi

check "metrics: promtool check metrics of a scrape" promtool_check
check "metrics: a Prometheus server scrapes the daemon; PromQL returns its executions" \
    prometheus_scrape

if [ -d "$generated/.build" ]; then
    check "client: with API keys (key in the axios instance)" run_client_with_key
fi

stop_daemon
summary
[ "$failed" -eq 0 ]
