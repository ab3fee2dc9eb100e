#!/bin/sh
# compare.sh DROVER [RUNS]: drover against docker-compose (Debian's 1.29) on
# the same 20-service project: first up, no-op up and down, as the median
# wall time and peak memory of RUNS runs (default 5), and the ratio
# docker-compose / drover measured in the same run. Images are the local
# drover-hello ones (make images); health checks are disabled so that both
# tools do the same work (docker-compose up -d does not wait for health).
set -eu
drover=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
runs=${2:-5}
work=$(mktemp -d)
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

# Upgrade and rollback of one service of 10 containers: batch 2, interval 0,
# start-first, no health check (so each batch waits out the monitor period,
# 2 s by default). docker-compose's only way to change the containers is to
# recreate them all (up -d with the new image).
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
	measure drover-rollback "$drover" -p drover-bench-u up --rollback
	"$drover" -p drover-bench-u down >/dev/null
	if [ -n "$compose" ]; then
		webfile v1
		"$compose" -p drover-bench-uc up -d >/dev/null 2>&1
		webfile v2
		measure compose-recreate "$compose" -p drover-bench-uc up -d
		"$compose" -p drover-bench-uc down >/dev/null 2>&1
	fi
done
printf '\n10 containers, %s runs, medians (wall s, per container)\n' "$runs"
for step in upgrade rollback; do
	awk -v s="drover $step" -v t="$(median "drover-$step" 2)" 'BEGIN { printf "%-24s %6.2fs  %5.2fs/container\n", s, t, t/10 }'
done
if [ -n "$compose" ]; then
	ct=$(median compose-recreate 2)
	awk -v t="$ct" 'BEGIN { printf "%-24s %6.2fs  %5.2fs/container\n", "docker-compose recreate", t, t/10 }'
	awk -v d="$(median drover-rollback 2)" -v c="$ct" 'BEGIN { printf "rollback is %.1fx faster than a docker-compose recreate (ratio from this run)\n", c/d }'
fi
