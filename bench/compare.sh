#!/bin/sh
# compare.sh DROVER [RUNS]: drover against docker-compose (Debian's 1.29) on
# the same 20-service project: first up, no-op up and down, as the median
# wall time and peak memory of RUNS runs (default 5), and the ratio
# docker-compose / drover measured in the same run. Images are the local
# drover-hello ones (make images); health checks are disabled so that both
# tools do the same work (docker-compose up -d does not wait for health).
# Then an upgrade and a rollback of 10 containers, the rollback against the
# engine's floor: starting the same 10 stopped containers with parallel API
# calls (bench/startall), in the same run. Every timed step's end state is
# checked before a time is reported.
set -eu
drover=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
runs=${2:-5}
work=$(mktemp -d)
(cd "$(dirname "$0")/.." && ${GO:-go} build -o "$work/startall" ./bench/startall)
compose=$(command -v docker-compose || true)
cleanup() {
	"$drover" -p drover-bench-d down >/dev/null 2>&1 || true
	"$drover" -p drover-bench-u down >/dev/null 2>&1 || true
	[ -n "$compose" ] && (cd "$work" && "$compose" -p drover-bench-c down >/dev/null 2>&1) || true
	[ -n "$compose" ] && (cd "$work/upgrade" && "$compose" -p drover-bench-uc down >/dev/null 2>&1) || true
	rm -rf "$work"
}
trap cleanup EXIT

{
	echo "services:"
	for i in $(seq -w 1 20); do
		printf '  svc%s:\n    image: drover-hello:v1\n    healthcheck: {disable: true}\n' "$i"
	done
} >"$work/docker-compose.yml"

# measure LABEL CMD...: appends "LABEL seconds kilobytes" to $work/times.
measure() {
	label=$1
	shift
	/usr/bin/time -f "$label %e %M" -a -o "$work/times" "$@" >/dev/null 2>"$work/err" || {
		cat "$work/err" >&2
		exit 1
	}
}

for i in $(seq 1 "$runs"); do
	cd "$work"
	measure drover-up "$drover" -p drover-bench-d up
	measure drover-noop "$drover" -p drover-bench-d up
	measure drover-down "$drover" -p drover-bench-d down
	if [ -n "$compose" ]; then
		measure compose-up "$compose" -p drover-bench-c up -d
		measure compose-noop "$compose" -p drover-bench-c up -d
		measure compose-down "$compose" -p drover-bench-c down
	fi
done

median() { # median of field $2 for label $1
	grep "^$1 " "$work/times" | awk -v f="$2" '{print $f}' | sort -n | awk '{a[NR]=$1} END {m=int((NR+1)/2); print a[m]}'
}

printf '\n20 services, %s runs, medians (wall s / peak RSS MB)\n' "$runs"
printf '%-10s %22s %22s %16s\n' step drover docker-compose "ratio (c/d)"
for step in up noop down; do
	dt=$(median "drover-$step" 2)
	dm=$(median "drover-$step" 3)
	if [ -n "$compose" ]; then
		ct=$(median "compose-$step" 2)
		cm=$(median "compose-$step" 3)
		awk -v s="$step" -v dt="$dt" -v dm="$dm" -v ct="$ct" -v cm="$cm" 'BEGIN {
			printf "%-10s %10.2fs %8.1fMB %10.2fs %8.1fMB %7.1fx %6.1fx\n", s, dt, dm/1024, ct, cm/1024, (dt > 0 ? ct/dt : 0), cm/dm }'
	else
		awk -v s="$step" -v dt="$dt" -v dm="$dm" 'BEGIN { printf "%-10s %10.2fs %8.1fMB %22s\n", s, dt, dm/1024, "(no docker-compose)" }'
	fi
done
[ -n "$compose" ] || echo "docker-compose is not installed: its column is skipped"

# expect PROJECT STEP WANT: the project's containers, counted by state and
# image ("10 running drover-hello:v1", sorted, comma-separated), must be WANT.
expect() {
	got=$(docker ps -a --filter "label=com.docker.compose.project=$1" --format '{{.State}} {{.Image}}' | sort | uniq -c | awk '{print $1, $2, $3}' | paste -sd, -)
	if [ "$got" != "$3" ]; then
		echo "bench: after $2, $1 has: $got; want: $3" >&2
		exit 1
	fi
}

# Upgrade and rollback of one service of 10 containers: batch 2, interval 0,
# start-first, no health check (so each batch waits out the monitor period,
# 2 s by default). The rollback renames the kept containers back, starts them
# and removes the new ones; the floor under it is the engine starting the same
# 10 stopped containers at once, measured right after on those containers.
# docker-compose's only way to change the containers is to recreate them all
# (up -d with the new image): other work, shown for reference, no ratio.
mkdir -p "$work/upgrade"
cd "$work/upgrade"
webfile() {
	printf 'services:\n  web:\n    image: drover-hello:%s\n    scale: 10\n    healthcheck: {disable: true}\n    deploy:\n      update_config: {order: start-first, parallelism: 2, delay: 0s}\n' "$1" >docker-compose.yml
}
for i in $(seq 1 "$runs"); do
	webfile v1
	"$drover" -p drover-bench-u up >/dev/null
	webfile v2
	measure drover-upgrade "$drover" -p drover-bench-u up --upgrade
	expect drover-bench-u "drover up --upgrade" "10 exited drover-hello:v1,10 running drover-hello:v2"
	measure drover-rollback "$drover" -p drover-bench-u up --rollback
	expect drover-bench-u "drover up --rollback" "10 running drover-hello:v1"
	ids=$(docker ps -aq --filter label=com.docker.compose.project=drover-bench-u)
	# shellcheck disable=SC2086 # one argument per ID
	docker stop $ids >/dev/null
	expect drover-bench-u "docker stop" "10 exited drover-hello:v1"
	# shellcheck disable=SC2086
	measure engine-start "$work/startall" $ids
	expect drover-bench-u "startall" "10 running drover-hello:v1"
	"$drover" -p drover-bench-u down >/dev/null
	if [ -n "$compose" ]; then
		webfile v1
		"$compose" -p drover-bench-uc up -d >/dev/null 2>&1
		webfile v2
		measure compose-recreate "$compose" -p drover-bench-uc up -d
		expect drover-bench-uc "docker-compose up -d" "10 running drover-hello:v2"
		"$compose" -p drover-bench-uc down >/dev/null 2>&1
	fi
done
printf '\n10 containers, %s runs, medians (wall s, per container)\n' "$runs"
for step in upgrade rollback; do
	awk -v s="drover $step" -v t="$(median "drover-$step" 2)" 'BEGIN { printf "%-32s %6.2fs  %5.2fs/container\n", s, t, t/10 }'
done
ft=$(median engine-start 2)
awk -v t="$ft" 'BEGIN { printf "%-32s %6.2fs  %5.2fs/container\n", "engine floor (10 starts at once)", t, t/10 }'
awk -v d="$(median drover-rollback 2)" -v f="$ft" 'BEGIN { printf "rollback takes %.1fx the engine floor of starting the same 10 containers (ratio from this run)\n", (f > 0 ? d/f : 0) }'
if [ -n "$compose" ]; then
	awk -v t="$(median compose-recreate 2)" 'BEGIN { printf "%-32s %6.2fs  %5.2fs/container (10 new containers: not the same work as a rollback)\n", "docker-compose recreate", t, t/10 }'
fi
