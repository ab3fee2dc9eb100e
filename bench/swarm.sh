#!/bin/sh
# swarm.sh DROVER [RUNS]: drover's overhead on Docker Swarm. The same rolling
# update of 10 replicas (drover-hello:v1 -> :v2, batches of 2, start-first,
# no delay, monitor 1s) through drover --engine swarm up --upgrade, and by
# hand with docker service update (which also waits until the update has
# converged), in the same run, RUNS times each (default 3), medians; and
# Swarm's own time for each update (UpdateStatus StartedAt to CompletedAt),
# so that what drover adds is seen apart from how long Swarm took. Each
# timed update's end state is checked (10 tasks of v2 running, none of v1)
# before its time counts. The engine is made a single-node swarm for the
# run, and left again at the end, unless it was in one already.
set -eu
drover=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
runs=${2:-3}
work=$(mktemp -d)
joined=
if [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" != active ]; then
	docker swarm init --advertise-addr 127.0.0.1 >/dev/null
	joined=yes
fi
cleanup() {
	(cd "$work" && "$drover" --engine swarm -p drover-bench-sw down >/dev/null 2>&1) || true
	docker service rm drover-bench-hand >/dev/null 2>&1 || true
	docker network rm drover-bench-hand-net >/dev/null 2>&1 || true
	if [ -n "$joined" ]; then
		docker swarm leave --force >/dev/null 2>&1 || true
		# Swarm made docker_gwbridge for the tasks: it goes with the swarm.
		docker network rm docker_gwbridge >/dev/null 2>&1 || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/rancher-compose.yml" <<'EOF'
services:
  web:
    scale: 10
    upgrade_strategy:
      start_first: true
      batch_size: 2
      interval_millis: 0
EOF
write() { printf 'services:\n  web:\n    image: drover-hello:%s\n    deploy:\n      update_config:\n        monitor: 1s\n' "$1" >"$work/docker-compose.yml"; }

# check SERVICE IMAGE: exactly 10 tasks meant to run, all running IMAGE.
check() {
	tasks=$(docker service ps "$1" --filter desired-state=running --format '{{.Image}} {{.CurrentState}}')
	n=$(printf '%s\n' "$tasks" | grep -c "^$2 Running" || true)
	other=$(printf '%s\n' "$tasks" | grep -vc "^$2 Running" || true)
	if [ "$n" != 10 ] || [ "$other" != 0 ]; then
		echo "$1: want 10 tasks of $2 running, got:" >&2
		printf '%s\n' "$tasks" >&2
		exit 1
	fi
}

# swarmtime SERVICE: Swarm's own duration of the service's last update.
swarmtime() {
	docker service inspect "$1" --format '{{.UpdateStatus.StartedAt.UnixNano}} {{.UpdateStatus.CompletedAt.UnixNano}}' | awk '{printf "%.2f", ($2 - $1) / 1e9}'
}

elapsed() { # seconds since $1 (date +%s.%N)
	echo "$(date +%s.%N) $1" | awk '{printf "%.2f", $1 - $2}'
}

: >"$work/times"
for i in $(seq 1 "$runs"); do
	cd "$work"
	write v1
	"$drover" --engine swarm -p drover-bench-sw up >/dev/null
	write v2
	t0=$(date +%s.%N)
	"$drover" --engine swarm -p drover-bench-sw up --upgrade >/dev/null
	echo "drover $(elapsed "$t0")" >>"$work/times"
	check drover-bench-sw_web drover-hello:v2
	echo "drover-swarm $(swarmtime drover-bench-sw_web)" >>"$work/times"
	"$drover" --engine swarm -p drover-bench-sw down >/dev/null

	# On an overlay network, as drover's service is (each task's endpoint
	# costs Swarm time).
	docker network create -d overlay drover-bench-hand-net >/dev/null
	docker service create -q --name drover-bench-hand --replicas 10 --network drover-bench-hand-net \
		--update-parallelism 2 --update-delay 0s --update-order start-first --update-monitor 1s \
		--update-failure-action rollback drover-hello:v1 >/dev/null 2>&1
	t0=$(date +%s.%N)
	docker service update -q --image drover-hello:v2 drover-bench-hand >/dev/null 2>&1
	echo "by-hand $(elapsed "$t0")" >>"$work/times"
	check drover-bench-hand drover-hello:v2
	echo "by-hand-swarm $(swarmtime drover-bench-hand)" >>"$work/times"
	docker service rm drover-bench-hand >/dev/null
	# The removed service's containers go after the call returns.
	while [ -n "$(docker ps -aq --filter label=com.docker.swarm.service.name=drover-bench-hand)" ]; do sleep 0.2; done
	docker network rm drover-bench-hand-net >/dev/null
done

median() {
	grep "^$1 " "$work/times" | awk '{print $2}' | sort -n | awk '{a[NR]=$1} END {m=int((NR+1)/2); print a[m]}'
}
d=$(median drover)
h=$(median by-hand)
printf '\nSwarm: a rolling update of 10 replicas (batches of 2, start-first, monitor 1s), %s runs, median wall s\n' "$runs"
printf '  drover --engine swarm up --upgrade   %6s   (Swarm'"'"'s own update: %s)\n' "$d" "$(median drover-swarm)"
printf '  docker service update (by hand)      %6s   (Swarm'"'"'s own update: %s)\n' "$h" "$(median by-hand-swarm)"
echo "$d $h" | awk '{printf "  drover overhead                      %+6.2f s (%.2fx)\n", $1 - $2, $1 / $2}'
