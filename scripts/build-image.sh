#!/usr/bin/env bash
# Builds the sandbox image, only when its inputs changed.
#
#   scripts/build-image.sh [IMAGE]        (default: $DOCKER_IMAGE or python-sandbox:latest)
#
# The image carries the label io.codeexecd.inputs=<sha256 of docker/ inputs>;
# when an image of that name already has the current hash, nothing is done.
#
# Two ways to build it, picked by CODEEXECD_IMAGE_MODE (auto|online|offline):
#   online   docker/Dockerfile, FROM python:3.12-slim (needs a registry)
#   offline  debootstrap a Debian rootfs from this machine's apt mirror
#            (or $CODEEXECD_APT_MIRROR; it fails when there is neither),
#            `docker import` it, then docker/Dockerfile.offline FROM it,
#            built with --network none
#   auto     online when python:3.12-slim is present or can be pulled,
#            offline otherwise (the default)
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
image=${1:-${DOCKER_IMAGE:-python-sandbox:latest}}
mode=${CODEEXECD_IMAGE_MODE:-auto}
label=io.codeexecd.inputs
suite=bookworm
workdir=${CODEEXECD_IMAGE_WORKDIR:-/var/tmp/codeexecd-image}

log() { printf 'build-image: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

command -v docker >/dev/null || die "the docker client is missing (apt-get install docker.io)"
docker version >/dev/null 2>&1 || die "no Docker engine answers (run scripts/ensure-docker.sh)"

inputs_hash() {
    (cd "$here/docker" && cat Dockerfile Dockerfile.offline packages.txt) | sha256sum | cut -c1-16
}

hash=$(inputs_hash)
have=$(docker image inspect -f "{{ index .Config.Labels \"$label\" }}" "$image" 2>/dev/null || true)
if [ "$have" = "$hash" ]; then
    log "$image is up to date (inputs $hash)"
    exit 0
fi
log "building $image (inputs $hash, had '${have:-none}')"

if [ "$mode" = auto ]; then
    if docker image inspect python:3.12-slim >/dev/null 2>&1 \
        || timeout 120 docker pull -q python:3.12-slim >/dev/null 2>&1; then
        mode=online
    else
        mode=offline
    fi
    log "mode: $mode"
fi

# The Debian mirror for debootstrap: $CODEEXECD_APT_MIRROR, else the first
# http(s) URI of this machine's apt sources (deb822 .sources files, then
# sources.list, security archives skipped). No built-in fallback: a host
# name guessed here may not be reachable (or trusted) from this machine.
apt_mirror() {
    local uri=${CODEEXECD_APT_MIRROR:-}
    if [ -z "$uri" ]; then
        uri=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /^https?:\/\// && $i !~ /security/) { print $i; exit } }' \
            /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.sources.disabled 2>/dev/null | head -n 1 || true)
    fi
    if [ -z "$uri" ]; then
        uri=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^https?:\/\// && $i !~ /security/) { print $i; exit } }' \
            /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -n 1 || true)
    fi
    [ -n "$uri" ] || die "no Debian mirror found in /etc/apt/sources.list{,.d/} for the offline build; set CODEEXECD_APT_MIRROR=http://<mirror>/debian"
    printf '%s' "$uri"
}

build_offline() {
    command -v debootstrap >/dev/null || die "debootstrap is missing (apt-get install debootstrap)"
    [ "$(id -u)" = 0 ] || die "debootstrap needs root for the offline build"
    local base pkgs mirror rootfs
    base="codeexecd-base:$suite-$(sha256sum < "$here/docker/packages.txt" | cut -c1-16)"
    if ! docker image inspect "$base" >/dev/null 2>&1; then
        pkgs=$(grep -v '^[[:space:]]*#' "$here/docker/packages.txt" | xargs | tr ' ' ',')
        mirror=$(apt_mirror) || exit 1
        rootfs="$workdir/rootfs-$hash"
        rm -rf "$rootfs"
        mkdir -p "$rootfs"
        log "debootstrap $suite from $mirror with $pkgs (takes a few minutes)"
        debootstrap --variant=minbase --include="$pkgs" "$suite" "$rootfs" "$mirror" \
            > "$workdir/debootstrap.log" 2>&1 \
            || { tail -n 20 "$workdir/debootstrap.log" >&2; die "debootstrap failed (log: $workdir/debootstrap.log)"; }
        rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
        tar -C "$rootfs" -c . | docker import - "$base" >/dev/null
        rm -rf "$rootfs"
    fi
    docker build -q --network none --build-arg "BASE=$base" --label "$label=$hash" \
        -f "$here/docker/Dockerfile.offline" -t "$image" "$here/docker" >/dev/null
}

build_online() {
    docker build -q --label "$label=$hash" -f "$here/docker/Dockerfile" -t "$image" \
        "$here/docker" >/dev/null
}

mkdir -p "$workdir"
case "$mode" in
    online) build_online ;;
    offline) build_offline ;;
    *) die "CODEEXECD_IMAGE_MODE must be auto, online or offline, not '$mode'" ;;
esac
docker image prune -f --filter "label=$label" >/dev/null 2>&1 || true
log "built $image"
