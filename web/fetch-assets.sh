#!/usr/bin/env bash
# Fetches the Swagger UI and ReDoc assets that codeexecd builds into its binary,
# from the npm packages pinned in web/package-lock.json.
#
#   web/fetch-assets.sh [BUILD_DIR]        (default: build)
#
# Works in a copy of web/package*.json under BUILD_DIR/web, so the source tree
# gets no node_modules. `npm ci` runs only when BUILD_DIR/web/node_modules is
# missing or the lock file (or web/.npmrc) changed since the last install (a
# stamp file holds their hash); then the needed files are copied into
# BUILD_DIR/assets/. Install scripts are never run (web/.npmrc).
#
# The files are copied unchanged but for one edit, checked so that a new
# version that no longer matches fails loudly: ReDoc's sidebar logo, the one
# thing in these bundles that loads from another host
# (https://cdn.redoc.ly/redoc/logo-mini.svg, next to "API docs by Redocly"),
# is pointed at an empty data: URL, which ReDoc's onError handler hides.
# (Source maps are not served; browser developer tools may ask for them.)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
work=$build/web
assets=$build/assets
stamp=$work/.npm-ci.stamp

# name in BUILD_DIR/assets  <-  path under node_modules
files=(
    "swagger-ui.css              swagger-ui-dist/swagger-ui.css"
    "swagger-ui-bundle.js        swagger-ui-dist/swagger-ui-bundle.js"
    "favicon-32x32.png           swagger-ui-dist/favicon-32x32.png"
    "redoc.standalone.js         redoc/bundles/redoc.standalone.js"
)

command -v npm >/dev/null || {
    echo "fetch-assets: npm not found; install Node.js and npm (scripts/setup-deps.sh)" >&2
    exit 1
}

mkdir -p "$work" "$assets"
# One run at a time per build directory (make -j may start more than one).
if command -v flock >/dev/null; then
    exec 9>"$work/.lock"
    flock 9
fi
want=$(cat "$here/package.json" "$here/package-lock.json" "$here/.npmrc" | sha256sum | cut -d' ' -f1)
have=$(cat "$stamp" 2>/dev/null || true)

if [ ! -d "$work/node_modules" ] || [ "$want" != "$have" ]; then
    echo "fetch-assets: npm ci in $work" >&2
    cp "$here/package.json" "$here/package-lock.json" "$here/.npmrc" "$work/"
    rm -f "$stamp"
    (cd "$work" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
    echo "$want" > "$stamp"
fi

# replace FILE FROM TO: replaces the text FROM, which must occur exactly once.
replace() {
    local n
    n=$(grep -oF -- "$2" "$1" | wc -l)
    if [ "$n" != 1 ]; then
        echo "fetch-assets: expected one \"$2\" in $1, found $n" >&2
        return 1
    fi
    FROM=$2 TO=$3 perl -0pi -e 's/\Q$ENV{FROM}\E/$ENV{TO}/' "$1"
}

for entry in "${files[@]}"; do
    read -r name src <<< "$entry"
    from=$work/node_modules/$src
    tmp=$assets/.$name.$$
    [ -f "$from" ] || { echo "fetch-assets: $from is missing" >&2; exit 1; }
    cp "$from" "$tmp"
    case $name in
    redoc.standalone.js)
        replace "$tmp" '"https://cdn.redoc.ly/redoc/logo-mini.svg"' '"data:,"' ;;
    esac
    mv -f "$tmp" "$assets/$name"
done
