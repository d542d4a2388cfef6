#!/usr/bin/env bash
# Installs the Debian packages that building and testing codeexecd need, only
# the missing ones (with the argument `deploy`, also those of make
# check-deploy). Quick (a dpkg query) when nothing is missing.
set -euo pipefail

packages=(
    build-essential pkg-config git ca-certificates curl
    clang libclang-rt-14-dev
    libmicrohttpd-dev libcjson-dev libcurl4-openssl-dev libyaml-dev libarchive-dev check
    libsystemd-dev libssl-dev prometheus
    docker.io debootstrap runsc
    nodejs npm chromium
)
# `setup-deps.sh deploy`: also what the deployment tests need (make check-deploy).
if [ "${1:-}" = deploy ]; then
    packages+=(haproxy nginx docker-compose openssl python3)
fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# Node.js from elsewhere (nvm, NodeSource) is fine: only install Debian's when
# no node/npm is on PATH.
if command -v node >/dev/null && command -v npm >/dev/null; then
    missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
read -r -a missing <<< "${missing[*]:-}"
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "setup-deps: missing packages: ${missing[*]}" >&2
    echo "setup-deps: run as root, or: sudo apt-get install ${missing[*]}" >&2
    exit 1
fi
echo "setup-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
