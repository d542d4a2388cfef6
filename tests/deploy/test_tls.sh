#!/usr/bin/env bash
# A remote engine over TLS: a dockerd of the test's own listening on
# tcp://127.0.0.1:PORT with --tlsverify, certificates made here by openssl.
#  - docker.tls_verify + docker.cert_path (config file) and the docker CLI's
#    DOCKER_TLS_VERIFY + DOCKER_CERT_PATH (environment): executions work;
#  - a wrong CA, an expired client certificate, an expired engine
#    certificate and a missing client certificate: the daemon says what is
#    wrong at start, /ready answers 503 with the same, /execute 503;
#  - the files put right, it recovers without a restart.
source "$(dirname "$0")/lib.sh"

pki=$WORK/pki
mkdir -p "$pki"
cd "$pki"
ossl() { openssl "$@" 2>>"$pki/openssl.log" >/dev/null || { cat "$pki/openssl.log" >&2; fail "openssl $1"; }; }

# ca NAME: a self-signed CA.
ca() {
    ossl req -x509 -new -newkey rsa:2048 -nodes -keyout "$1-key.pem" -out "$1.pem" \
        -days 2 -subj "/CN=codeexecd test $1"
}
# cert CA NAME EXT START END: a certificate signed by CA, valid START..END
# (openssl ca dates, YYYYMMDDHHMMSSZ).
cert() {
    local ca=$1 name=$2 ext=$3
    mkdir -p "db-$ca"; touch "db-$ca/index.txt"; [ -f "db-$ca/serial" ] || echo 01 > "db-$ca/serial"
    cat > "$name.cnf" <<CNF
[ca]
default_ca = ca_sect
[ca_sect]
dir = $pki/db-$ca
database = \$dir/index.txt
new_certs_dir = \$dir
serial = \$dir/serial
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[any]
commonName = supplied
[server]
subjectAltName = IP:127.0.0.1,DNS:localhost
extendedKeyUsage = serverAuth
[client]
extendedKeyUsage = clientAuth
CNF
    ossl req -new -newkey rsa:2048 -nodes -keyout "$name-key.pem" -out "$name.csr" -subj "/CN=$name"
    ossl ca -batch -config "$name.cnf" -cert "$ca.pem" -keyfile "$ca-key.pem" -in "$name.csr" \
        -out "$name.pem" -extensions "$ext" -startdate "$4" -enddate "$5"
}
now=$(date -u +%Y%m%d%H%M%SZ)
later=$(date -u -d '+1 day' +%Y%m%d%H%M%SZ)
past1=$(date -u -d '-3 days' +%Y%m%d%H%M%SZ)
past2=$(date -u -d '-2 days' +%Y%m%d%H%M%SZ)
ca ca
ca otherca
cert ca server server "$now" "$later"
cert ca client client "$now" "$later"
cert ca oldclient client "$past1" "$past2"
cert ca oldserver server "$past1" "$past2"

# client DIR CA CERT: a DOCKER_CERT_PATH directory (CERT "" = no cert.pem, key.pem).
client() {
    mkdir -p "$1"
    cp "$2.pem" "$1/ca.pem"
    [ -z "$3" ] || { cp "$3.pem" "$1/cert.pem"; cp "$3-key.pem" "$1/key.pem"; }
}
client good ca client
client wrongca otherca client
client expired ca oldclient
client nocert ca ""
cd "$DEPLOY_DIR"

tport=$(free_port); oport=$(free_port)
engine_start tls --tlsverify --tlscacert "$pki/ca.pem" --tlscert "$pki/server.pem" \
    --tlskey "$pki/server-key.pem" -H "tcp://127.0.0.1:$tport"
engine_load tls
# An engine whose own certificate has expired (it needs no image).
engine_start oldtls --tlsverify --tlscacert "$pki/ca.pem" --tlscert "$pki/oldserver.pem" \
    --tlskey "$pki/oldserver-key.pem" -H "tcp://127.0.0.1:$oport"
remote=tcp://127.0.0.1:$tport

# The configuration file's keys.
port=$(free_port)
cat > "$WORK/tls.yaml" <<YAML
docker:
  host: "$remote"
  tls_verify: true
  cert_path: "$pki/good"
YAML
codeexecd_start cfgkeys "$port" -- --config "$WORK/tls.yaml" --set execution.pool_size=1
wait_for 30 curl -sf "http://127.0.0.1:$port/ready" || { cat "$WORK/cfgkeys.log" >&2; fail "not ready over TLS"; }
body=$(expect_status 200 POST "http://127.0.0.1:$port/execute" '{"code": "print(6*7)"}')
[ "$(json_get "$body" 'j["success"] and j["output"] == "42\n"')" = True ] || fail "over TLS: $body"
codeexecd_stop cfgkeys || fail "stop"
ok "docker.tls_verify + docker.cert_path: executions over TLS"

# The docker CLI's variables.
port=$(free_port)
codeexecd_start cli "$port" DOCKER_HOST="$remote" DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH="$pki/good"
wait_for 30 curl -sf "http://127.0.0.1:$port/ready" || { cat "$WORK/cli.log" >&2; fail "not ready (env)"; }
body=$(expect_status 200 POST "http://127.0.0.1:$port/execute" '{"code": "print(6*7)"}')
[ "$(json_get "$body" 'j["success"]')" = True ] || fail "over TLS (env): $body"
codeexecd_stop cli || fail "stop"
ok "DOCKER_TLS_VERIFY + DOCKER_CERT_PATH: executions over TLS"

# bad NAME HOST CERTDIR PATTERN: the start-up log and /ready both say
# PATTERN; bad_port is the daemon's port.
bad() {
    local name=$1 host=$2 dir=$3 want=$4 port ready
    port=$(free_port)
    codeexecd_start "$name" "$port" DOCKER_HOST="$host" DOCKER_TLS_VERIFY=1 \
        DOCKER_CERT_PATH="$dir" -- --set execution.pool_size=0
    wait_for 30 curl -sf "http://127.0.0.1:$port/health" || { cat "$WORK/$name.log" >&2; fail "$name: no /health"; }
    grep -Eq "$want" "$WORK/$name.log" || { cat "$WORK/$name.log" >&2; fail "$name: start-up log does not say /$want/"; }
    ready=$(http GET "http://127.0.0.1:$port/ready")
    [ "${ready%% *}" = 503 ] && grep -Eq "$want" <<< "$ready" || fail "$name: /ready: $ready"
    body=$(http POST "http://127.0.0.1:$port/execute" '{"code": "print(1)"}')
    [ "${body%% *}" = 503 ] || fail "$name: /execute: ${body:0:300}"
    log "$name: $(json_get "${ready#* }" 'j["message"]')"
    bad_port=$port
}
bad wrongca "$remote" "$pki/wrongca" "does not verify against $pki/wrongca/ca.pem"
ok "wrong CA: clear error at start and on /ready"
bad expired "$remote" "$pki/expired" "refused the client certificate $pki/expired/cert.pem.*(expired|alert)"
ok "expired client certificate: clear error at start and on /ready"
bad oldserver "tcp://127.0.0.1:$oport" "$pki/good" "does not verify against .*certificate has expired"
ok "expired engine certificate: clear error at start and on /ready"
bad nocert "$remote" "$pki/nocert" "cannot read $pki/nocert/cert.pem .*No such file"
nport=$bad_port
ok "missing client certificate: clear error at start and on /ready"

# Put right while running: the next connection reads the files again.
cp "$pki/client.pem" "$pki/nocert/cert.pem"; cp "$pki/client-key.pem" "$pki/nocert/key.pem"
wait_for 30 curl -sf "http://127.0.0.1:$nport/ready" || fail "no recovery after the certificate was put in place"
body=$(expect_status 200 POST "http://127.0.0.1:$nport/execute" '{"code": "print(1)"}')
ok "certificate put in place: ready and executing without a restart"
for n in wrongca expired oldserver nocert; do codeexecd_stop "$n" || fail "$n did not stop cleanly"; done
