#!/bin/sh
# demo.sh DROVER: the static-site walk-through. Brings the stack up, fetches
# the page on port 8991, shows ps, shows that a new version is reported as
# out of sync rather than applied by a plain up, then takes the stack down.
set -eu
drover=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
cd "$(dirname "$0")"
project=static-site
trap '"$drover" -p $project down >/dev/null 2>&1 || true' EXIT

step() { printf '\n== %s\n' "$*"; }

step "drover up: one service, mon-siteweb, host port 8991"
"$drover" up -d
step "curl http://127.0.0.1:8991/"
curl -fsS http://127.0.0.1:8991/
step "drover ps"
"$drover" ps
step "drover up again: nothing to do, same container"
"$drover" up -d
step "SITE_VERSION=v2 drover up: a plain up reports the change and leaves the service alone"
SITE_VERSION=v2 "$drover" up -d
curl -fsS http://127.0.0.1:8991/
step "drover down"
"$drover" down
trap - EXIT
