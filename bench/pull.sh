#!/bin/sh
# pull.sh DROVER [SERVICES] [RUNS]: pulling SERVICES images (default 10, each
# a distinct 8 MB layer FROM scratch) in parallel from a local registry
# (Debian's docker-registry on 127.0.0.1, temporary storage): drover pull
# against docker-compose pull (Debian's 1.29) and docker compose v2 when
# present, same project, same run; the median wall time of RUNS runs
# (default 3) and the ratio to drover. Before each timed pull the images are
# removed here, and after it every one must be back with the pushed ID.
set -eu
drover=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
n=${2:-10}
runs=${3:-3}
registry_bin=$(command -v docker-registry || true)
if [ -z "$registry_bin" ]; then
	echo "pull.sh: needs Debian's docker-registry package (apt-get install docker-registry); skipped" >&2
	exit 0
fi
work=$(mktemp -d)
port=$(shuf -i 30000-60000 -n 1) # a clash makes the registry fail to start, said below
reg=127.0.0.1:$port
repo=$reg/drover-bench-pull
cleanup() {
	for i in $(seq 1 "$n"); do docker image rm "$repo/s$i:1" >/dev/null 2>&1 || true; done
	[ -n "${regpid:-}" ] && kill "$regpid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/registry.yml" <<CONF
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/storage}, delete: {enabled: true}}
http: {addr: $reg}
CONF
"$registry_bin" serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
regpid=$!
i=0
until curl -fs "http://$reg/v2/" >/dev/null 2>&1; do
	i=$((i + 1))
	[ "$i" -gt 100 ] && { cat "$work/registry.log" >&2; exit 1; }
	sleep 0.1
done

# SERVICES distinct images, pushed, then removed here.
mkdir "$work/ctx"
echo "services:" >"$work/docker-compose.yml"
for i in $(seq 1 "$n"); do
	head -c 8000000 /dev/urandom >"$work/ctx/blob"
	printf 'FROM scratch\nCOPY blob /blob\nCMD ["/blob"]\n' >"$work/ctx/Dockerfile"
	DOCKER_BUILDKIT=0 docker build -q -t "$repo/s$i:1" "$work/ctx" >/dev/null 2>&1
	docker push "$repo/s$i:1" >/dev/null
	docker image inspect -f '{{.ID}}' "$repo/s$i:1" >>"$work/ids"
	printf '  s%s:\n    image: %s/s%s:1\n' "$i" "$repo" "$i" >>"$work/docker-compose.yml"
done
unpull() {
	for i in $(seq 1 "$n"); do docker image rm "$repo/s$i:1" >/dev/null 2>&1 || true; done
}
check() { # every image back, with the pushed ID
	for i in $(seq 1 "$n"); do docker image inspect -f '{{.ID}}' "$repo/s$i:1"; done >"$work/got"
	cmp -s "$work/ids" "$work/got" || { echo "pull.sh: $1 did not bring back every image" >&2; exit 1; }
}
measure() { # LABEL CMD...
	label=$1
	shift
	unpull
	start=$(date +%s.%N)
	(cd "$work" && "$@") >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
	end=$(date +%s.%N)
	check "$label"
	echo "$label $(echo "$end - $start" | bc)" >>"$work/times"
}

compose1=$(command -v docker-compose || true)
compose2=""
docker compose version >/dev/null 2>&1 && compose2=yes
for r in $(seq 1 "$runs"); do
	measure drover "$drover" -p drover-bench-pull --progress plain pull
	[ -n "$compose1" ] && measure docker-compose "$compose1" -p drover-bench-pull pull
	[ -n "$compose2" ] && measure docker-compose-v2 docker compose -p drover-bench-pull pull
done

median() {
	grep "^$1 " "$work/times" | awk '{print $2}' | sort -n | awk '{a[NR]=$1} END {m=int((NR+1)/2); print a[m]}'
}
d=$(median drover)
printf '\npull of %s services (8 MB each) from a local registry, %s runs, median wall s\n' "$n" "$runs"
printf '  %-20s %6.2f\n' drover "$d"
for tool in docker-compose docker-compose-v2; do
	grep -q "^$tool " "$work/times" 2>/dev/null || { echo "  $tool: not installed"; continue; }
	m=$(median "$tool")
	printf '  %-20s %6.2f  (%.2fx drover)\n' "$tool" "$m" "$(echo "$m / $d" | bc -l)"
done
