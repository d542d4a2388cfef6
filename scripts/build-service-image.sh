#!/usr/bin/env bash
# Builds codeexecd's own image (docker/Dockerfile.service), only when its
# inputs changed.
#
#   scripts/build-service-image.sh [IMAGE]     (default: codeexecd:latest)
#
# The build context is assembled under build/service-context from the
# sources this checkout has (not git's index) and build/assets (the Swagger UI
# and ReDoc files, fetched from npm by `make assets` on this host, so neither
# recipe needs npm). The image carries the label io.codeexecd.inputs=<hash of
# that context>; an image of that name with the same hash is left alone.
#
# Two recipes, like scripts/build-image.sh, picked by CODEEXECD_IMAGE_MODE
# (auto|online|offline):
#   online   docker/Dockerfile.service, FROM debian:bookworm-slim (a registry)
#   offline  two Debian rootfs made by debootstrap from this machine's apt
#            mirror (build stage: docker/service-build-packages.txt, runtime
#            stage: docker/service-packages.txt), `docker import`ed, then
#            docker/Dockerfile.service.offline, built with --network none
#   auto     online when debian:bookworm-slim is present or can be pulled,
#            offline otherwise (the default)
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
image=${1:-codeexecd:latest}
mode=${CODEEXECD_IMAGE_MODE:-auto}
label=io.codeexecd.inputs
suite=bookworm
online_base=debian:bookworm-slim
build=${BUILD:-build}
workdir=${CODEEXECD_IMAGE_WORKDIR:-/var/tmp/codeexecd-image}

log() { printf 'build-service-image: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

command -v docker >/dev/null || die "the docker client is missing (apt-get install docker.io)"
docker version >/dev/null 2>&1 || die "no Docker engine answers (run scripts/ensure-docker.sh)"

cd "$here"
make --no-print-directory -s BUILD="$build" assets

# The context: what `make all` needs, and the Dockerfiles' own files.
ctx=$build/service-context
rm -rf "$ctx"
mkdir -p "$ctx/build"
cp -R Makefile config.example.yaml src include tools web openapi docker "$ctx/"
cp -R "$build/assets" "$ctx/build/assets"
rm -f "$ctx/build/assets/.fetched"
hash=$(cd "$ctx" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum \
       | sha256sum | cut -c1-16)

have=$(docker image inspect -f "{{ index .Config.Labels \"$label\" }}" "$image" 2>/dev/null || true)
if [ "$have" = "$hash" ]; then
    log "$image is up to date (inputs $hash)"
    exit 0
fi
log "building $image (inputs $hash, had '${have:-none}')"

if [ "$mode" = auto ]; then
    if docker image inspect "$online_base" >/dev/null 2>&1 \
        || timeout 120 docker pull -q "$online_base" >/dev/null 2>&1; then
        mode=online
    else
        mode=offline
    fi
    log "mode: $mode"
fi

# The first non-security URI of this machine's apt sources (as build-image.sh).
apt_mirror() {
    local uri
    uri=$(awk '/^URIs:/ && !/security/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    if [ -z "$uri" ]; then
        uri=$(awk '$1 == "deb" && !/security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
    fi
    printf '%s' "${uri:-http://deb.debian.org/debian}"
}

# import_base NAME PACKAGES_FILE: a minbase rootfs with those packages, as an
# image named NAME:<suite>-<hash of the list>, made once. Prints the name.
import_base() {
    local name=$1 list=$2 base pkgs rootfs
    base="$name:$suite-$(sha256sum < "$list" | cut -c1-16)"
    if ! docker image inspect "$base" >/dev/null 2>&1; then
        pkgs=$(grep -v '^[[:space:]]*#' "$list" | xargs | tr ' ' ',')
        rootfs="$workdir/$name-rootfs-$$"
        rm -rf "$rootfs"
        mkdir -p "$rootfs"
        log "debootstrap $suite from $(apt_mirror) with $pkgs (takes a few minutes)"
        debootstrap --variant=minbase --include="$pkgs" "$suite" "$rootfs" "$(apt_mirror)" \
            > "$workdir/$name-debootstrap.log" 2>&1 \
            || { rm -rf "$rootfs"; tail -n 20 "$workdir/$name-debootstrap.log" >&2;
                 die "debootstrap failed (log: $workdir/$name-debootstrap.log)"; }
        rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
        tar -C "$rootfs" -c . | docker import - "$base" >/dev/null
        rm -rf "$rootfs"
    fi
    printf '%s' "$base"
}

build_offline() {
    command -v debootstrap >/dev/null || die "debootstrap is missing (apt-get install debootstrap)"
    [ "$(id -u)" = 0 ] || die "debootstrap needs root for the offline build"
    local build_base runtime_base
    build_base=$(import_base codeexecd-service-build docker/service-build-packages.txt)
    runtime_base=$(import_base codeexecd-service-runtime docker/service-packages.txt)
    docker build -q --network none --build-arg "BUILD_BASE=$build_base" \
        --build-arg "RUNTIME_BASE=$runtime_base" --label "$label=$hash" \
        -f "$ctx/docker/Dockerfile.service.offline" -t "$image" "$ctx" >/dev/null
}

build_online() {
    docker build -q --label "$label=$hash" -f "$ctx/docker/Dockerfile.service" -t "$image" \
        "$ctx" >/dev/null
}

mkdir -p "$workdir"
case "$mode" in
    online) build_online ;;
    offline) build_offline ;;
    *) die "CODEEXECD_IMAGE_MODE must be auto, online or offline, not '$mode'" ;;
esac
log "built $image"
