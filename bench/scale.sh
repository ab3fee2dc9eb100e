#!/bin/sh
# scale.sh DROVER [RUNS]: a project of 100 services x 3 containers (the
# local drover-hello images, health checks off, no ports) on the real
# engine: no-op up, ps, status and the plan of a whole-project upgrade
# (--dry-run), as the median wall time and peak memory of RUNS runs
# (default 3), next to docker-compose's no-op up and ps on the same
# containers in the same run. The containers are made once, by drover, and
# removed at the end; their count is checked before any time is reported.
set -eu
drover=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
runs=${2:-3}
work=$(mktemp -d)
project=drover-bench-scale
compose=$(command -v docker-compose || true)
cleanup() {
	"$drover" -p "$project" down >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

write() { # write TAG: the 100-service file for that image tag
	{
		echo "services:"
		for i in $(seq -w 1 100); do
			printf '  svc%s:\n    image: drover-hello:%s\n    scale: 3\n    healthcheck: {disable: true}\n' "$i" "$1"
		done
	} >"$work/docker-compose.yml"
}

measure() { # measure LABEL CMD...: appends "LABEL seconds kilobytes"
	label=$1
	shift
	/usr/bin/time -f "$label %e %M" -a -o "$work/times" "$@" >"$work/out" 2>"$work/err" || {
		cat "$work/err" >&2
		exit 1
	}
}

cd "$work"
write v1
echo "creating 300 containers (once)..."
"$drover" -p "$project" --progress plain up >/dev/null
n=$(docker ps -q --filter "label=com.docker.compose.project=$project" --filter status=running | wc -l)
if [ "$n" -ne 300 ]; then
	echo "scale.sh: $n containers running, want 300" >&2
	exit 1
fi
for i in $(seq 1 "$runs"); do
	measure drover-noop "$drover" -p "$project" up
	measure drover-ps "$drover" -p "$project" ps
	measure drover-status "$drover" -p "$project" status
	write v2
	measure drover-plan "$drover" -p "$project" up --upgrade --dry-run
	grep -q "svc100: create svc100#3 (revision 2)" "$work/out" || {
		echo "scale.sh: the upgrade plan does not cover svc100#3" >&2
		exit 1
	}
	write v1
	if [ -n "$compose" ]; then
		# docker-compose sees drover's containers as its own (same
		# labels) but recreates them for its own config hash: only ps
		# is the same work.
		measure compose-ps "$compose" -p "$project" ps
	fi
done
n=$(docker ps -q --filter "label=com.docker.compose.project=$project" | wc -l)
if [ "$n" -ne 300 ]; then
	echo "scale.sh: $n containers after the runs, want the same 300" >&2
	exit 1
fi

median() { # median of field $2 for label $1
	grep "^$1 " "$work/times" | awk -v f="$2" '{print $f}' | sort -n | awk '{a[NR]=$1} END {m=int((NR+1)/2); print a[m]}'
}
printf '\n100 services x 3 containers, %s runs, medians (wall s / peak RSS MB)\n' "$runs"
for l in drover-noop drover-ps drover-status drover-plan compose-ps; do
	t=$(median "$l" 2)
	[ -n "$t" ] || continue
	printf '  %-14s %6s s  %6.1f MB\n' "$l" "$t" "$(echo "$(median "$l" 3) / 1024" | bc -l)"
done
if [ -n "$compose" ]; then
	printf '  ps: docker-compose takes %.1f x drover\n' "$(echo "$(median compose-ps 2) / $(median drover-ps 2)" | bc -l)"
fi
