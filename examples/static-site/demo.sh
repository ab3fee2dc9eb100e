#!/bin/sh
# demo.sh DROVER LOADGEN: the static-site walk-through. Brings the stack up,
# fetches the page on port 8991, upgrades mon-siteweb from v1 to v2 while
# loadgen keeps requesting the page, rolls it back the same way, and takes
# the stack down. mon-siteweb is behind drover's front proxy, so the clients
# see no failed request.
set -eu
abs() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
drover=$(abs "$1")
loadgen=$(abs "$2")
cd "$(dirname "$0")"
project=static-site
trap '"$drover" -p $project down >/dev/null 2>&1 || true' EXIT

step() { printf '\n== %s\n' "$*"; }

# under_load CMD...: runs CMD while loadgen requests the page, then prints
# how many requests failed.
under_load() {
	"$loadgen" -url http://127.0.0.1:8991/ -c 4 >load.out &
	load=$!
	sleep 0.5
	"$@"
	sleep 0.5
	kill -INT "$load"
	wait "$load" || true
	printf 'clients during that step: '
	cat load.out
	rm -f load.out
}

step "drover up: one service, mon-siteweb, host port 8991"
"$drover" up -d
step "curl http://127.0.0.1:8991/"
curl -fsS http://127.0.0.1:8991/
step "drover ps"
"$drover" ps
step "drover up again: nothing to do, same container"
"$drover" up -d
step "SITE_VERSION=v2: a plain up reports the change, leaves the service alone and exits 3"
SITE_VERSION=v2 "$drover" up -d || echo "(exit status $?: not in step with the files)"
SITE_VERSION=v2 "$drover" diff
step "SITE_VERSION=v2 drover up --upgrade, under load: start-first behind the proxy"
under_load env SITE_VERSION=v2 "$drover" up --upgrade
curl -fsS http://127.0.0.1:8991/
SITE_VERSION=v2 "$drover" status
"$drover" ps -a
step "drover up --rollback, under load: the v1 container comes back"
under_load "$drover" up --rollback
curl -fsS http://127.0.0.1:8991/
"$drover" status
step "SITE_VERSION=v2 drover up --upgrade --confirm-upgrade, under load"
under_load env SITE_VERSION=v2 "$drover" up --upgrade --confirm-upgrade
curl -fsS http://127.0.0.1:8991/
SITE_VERSION=v2 "$drover" status
cat <<'NOTE'

drover's front proxy (the static-site-proxy container; static-site-proxy-ports
opens port 8991 on the host and hands it over) owns port 8991: the
new container starts beside the old one, and only once it is healthy does
the proxy send it the clients and drain the old one, which is then stopped
and kept for a rollback. The clients above saw no failed request.
NOTE
step "drover down"
"$drover" down
trap - EXIT
