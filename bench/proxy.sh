#!/bin/sh
# proxy.sh DROVER [SECONDS] [ROUNDS]: drover's front proxy (issue 8).
# 1. Throughput and latency: one project, three services of the same image
#    (drover-hello:v1, make images): "direct" publishes its port itself,
#    "tcp" and "http" are behind the proxy (TCP splicing, and app_protocol
#    http). bench/proxyload runs SECONDS (default 5) against each, with 8
#    keep-alive workers and then 8 workers opening a connection per request,
#    targets interleaved, ROUNDS times (default 3); medians of answered
#    requests per second and p50/p99 latency, and the ratios proxy/direct
#    from this run. The load generator shares the machine's CPUs with the
#    proxy and the containers.
# 2. Failed requests during an upgrade, v1 -> v2, under 4 clients opening a
#    connection per request and 3 keep-alive clients: drover behind the proxy
#    (start-first and stop-first, app_protocol http), docker-compose 1.29
#    (up -d after changing the image tag, which recreates the container) and
#    docker compose v2 when installed, ROUNDS times each, side by side.
# Every step's end state is checked before its figure is reported.
set -eu
drover=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
secs=${2:-5}
rounds=${3:-3}
work=$(mktemp -d)
(cd "$(dirname "$0")/.." && ${GO:-go} build -o "$work/proxyload" ./bench/proxyload)
load=$work/proxyload
compose=$(command -v docker-compose || true)
compose2=
if docker compose version >/dev/null 2>&1; then compose2="docker compose"; fi
loadpid=
cleanup() {
	[ -n "$loadpid" ] && kill "$loadpid" 2>/dev/null || true
	for p in drover-bench-px drover-bench-pu; do
		[ -d "$work/$p" ] && (cd "$work/$p" && "$drover" -p "$p" down >/dev/null 2>&1) || true
	done
	[ -n "$compose" ] && [ -d "$work/c1" ] && (cd "$work/c1" && "$compose" -p drover-bench-pc down >/dev/null 2>&1) || true
	# shellcheck disable=SC2086 # "docker compose" is two words
	[ -n "$compose2" ] && [ -d "$work/c2" ] && (cd "$work/c2" && $compose2 -p drover-bench-pc2 down >/dev/null 2>&1) || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
	echo "bench: $*" >&2
	exit 1
}

# answers URL WANT: the URL must answer WANT (the version) within 10 s.
answers() {
	i=0
	while [ "$i" -lt 50 ]; do
		got=$(curl -s --max-time 2 "$1" 2>/dev/null || true)
		[ "$got" = "$2" ] && return 0
		i=$((i + 1))
		sleep 0.2
	done
	fail "$1 answers '$got', want '$2'"
}

# expect PROJECT STEP WANT: the project's containers other than its proxy,
# counted by state and image ("1 exited drover-hello:v1", sorted,
# comma-separated), must be WANT; with a proxy, it must run.
expect() {
	got=$(docker ps -a --filter "label=com.docker.compose.project=$1" --format '{{.Names}} {{.State}} {{.Image}}' |
		grep -v -e "^$1-proxy " -e "^$1-proxy-ports " | awk '{print $2, $3}' | sort | uniq -c | awk '{print $1, $2, $3}' | paste -sd, -)
	[ "$got" = "$3" ] || fail "after $2, $1 has: $got; want: $3"
	if docker ps -a --format '{{.Names}}' | grep -qx "$1-proxy"; then
		[ "$(docker inspect -f '{{.State.Running}}' "$1-proxy")" = true ] || fail "after $2, $1-proxy is not running"
	fi
}

# shellcheck disable=SC2046 # one port a line
set -- $("$load" -free-ports 6)
pd=$1 pt=$2 ph=$3 pu=$4 pc=$5 pc2=$6

# 1. Throughput and latency.
mkdir -p "$work/drover-bench-px"
cd "$work/drover-bench-px"
cat >docker-compose.yml <<EOF
services:
  direct:
    image: drover-hello:v1
    ports: [{target: 80, published: "$pd", host_ip: 127.0.0.1}]
    x-drover: {proxy: false}
  tcp:
    image: drover-hello:v1
    ports: [{target: 80, published: "$pt", host_ip: 127.0.0.1}]
    x-drover: {proxy: true}
  http:
    image: drover-hello:v1
    ports: [{target: 80, published: "$ph", host_ip: 127.0.0.1, app_protocol: http}]
    x-drover: {proxy: true}
EOF
"$drover" -p drover-bench-px up >/dev/null 2>"$work/err" || {
	cat "$work/err" >&2
	fail "drover up failed"
}
expect drover-bench-px "up" "3 running drover-hello:v1"
answers "http://127.0.0.1:$pd/version" v1
answers "http://127.0.0.1:$pt/version" v1
answers "http://127.0.0.1:$ph/version" v1
for r in $(seq 1 "$rounds"); do
	for mode in keepalive newconn; do
		for target in direct:$pd tcp:$pt http:$ph; do
			if [ $mode = keepalive ]; then flags="-c 0 -k 8"; else flags="-c 8 -k 0"; fi
			# shellcheck disable=SC2086
			line=$("$load" -url "http://127.0.0.1:${target#*:}/version" $flags -d "${secs}s")
			echo "${target%%:*} $mode $line" >>"$work/tput"
		done
	done
done
expect drover-bench-px "the load" "3 running drover-hello:v1"
# Fields of a line: target mode requests N failed N rps R p50_ms X p99_ms Y
median() { # median of field $3 for target $1, mode $2
	awk -v t="$1" -v m="$2" '$1 == t && $2 == m {print $'"$3"'}' "$work/tput" | sort -g |
		awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}
failedsum() { awk -v t="$1" '$1 == t {s += $6} END {print s+0}' "$work/tput"; }
for t in direct tcp http; do
	[ "$(failedsum $t)" = 0 ] || fail "$(failedsum $t) requests failed against $t"
done
printf '\nthroughput: %s s per run, %s rounds, 8 workers, medians (answered req/s, p50 and p99 ms); ratios from this run\n' "$secs" "$rounds"
printf '%-10s %-8s %9s %8s %8s %11s %13s %13s\n' mode target req/s p50 p99 "x direct" "p50 added" "p99 added"
for mode in keepalive newconn; do
	drps=$(median direct $mode 8)
	d50=$(median direct $mode 10)
	d99=$(median direct $mode 12)
	for t in direct tcp http; do
		awk -v m=$mode -v t=$t -v r="$(median $t $mode 8)" -v p50="$(median $t $mode 10)" -v p99="$(median $t $mode 12)" \
			-v dr="$drps" -v d50="$d50" -v d99="$d99" 'BEGIN {
			if (t == "direct") printf "%-10s %-8s %9.0f %8.2f %8.2f %11s %13s %13s\n", m, t, r, p50, p99, "", "", ""
			else printf "%-10s %-8s %9.0f %8.2f %8.2f %10.2fx %+10.2f ms %+10.2f ms\n", m, "proxy " t, r, p50, p99, r/dr, p50-d50, p99-d99 }'
	done
done
(cd "$work/drover-bench-px" && "$drover" -p drover-bench-px down >/dev/null 2>&1)

# 2. Failed requests during an upgrade. withload URL CMD...: runs CMD under
# the load (4 new-connection and 3 keep-alive clients, from 1 s before to
# 1 s after), appends the load's line to $work/upg with LABEL.
withload() {
	label=$1 url=$2
	shift 2
	"$load" -url "$url" -c 4 -k 3 >"$work/loadout" &
	loadpid=$!
	sleep 1
	"$@" >"$work/out" 2>&1 || {
		kill "$loadpid"
		cat "$work/out" >&2
		fail "$label: $* failed"
	}
	sleep 1
	kill -TERM "$loadpid"
	wait "$loadpid" || true
	loadpid=
	echo "$label $(cat "$work/loadout")" >>"$work/upg"
}

mkdir -p "$work/drover-bench-pu"
cd "$work/drover-bench-pu"
dfile() {
	printf 'services:\n  web:\n    image: drover-hello:%s\n    ports: [{target: 80, published: "%s", host_ip: 127.0.0.1, app_protocol: http}]\n    x-drover: {proxy: true}\n' "$1" "$pu" >docker-compose.yml
	printf 'services:\n  web:\n    upgrade_strategy: {start_first: %s}\n' "$2" >rancher-compose.yml
}
for r in $(seq 1 "$rounds"); do
	for sf in true false; do
		dfile v1 $sf
		"$drover" -p drover-bench-pu up >/dev/null 2>&1 || fail "drover up v1 failed"
		expect drover-bench-pu "drover up" "1 running drover-hello:v1"
		answers "http://127.0.0.1:$pu/version" v1
		dfile v2 $sf
		if [ $sf = true ]; then label=drover-start-first; else label=drover-stop-first; fi
		withload $label "http://127.0.0.1:$pu/version" "$drover" -p drover-bench-pu up --upgrade
		expect drover-bench-pu "drover up --upgrade" "1 exited drover-hello:v1,1 running drover-hello:v2"
		answers "http://127.0.0.1:$pu/version" v2
		"$drover" -p drover-bench-pu down >/dev/null 2>&1
	done
done

# cupgrade DIR PROJECT PORT LABEL COMPOSE...: the same with a Compose tool.
cupgrade() {
	dir=$1 proj=$2 port=$3 label=$4
	shift 4
	mkdir -p "$dir"
	cd "$dir"
	printf 'services:\n  web:\n    image: drover-hello:v1\n    ports: ["127.0.0.1:%s:80"]\n' "$port" >docker-compose.yml
	"$@" -p "$proj" up -d >/dev/null 2>&1 || fail "$* up -d (v1) failed"
	expect "$proj" "$label up -d" "1 running drover-hello:v1"
	answers "http://127.0.0.1:$port/version" v1
	sed -i 's/drover-hello:v1/drover-hello:v2/' docker-compose.yml
	withload "$label" "http://127.0.0.1:$port/version" "$@" -p "$proj" up -d
	expect "$proj" "$label up -d (v2)" "1 running drover-hello:v2"
	answers "http://127.0.0.1:$port/version" v2
	"$@" -p "$proj" down >/dev/null 2>&1
}
for r in $(seq 1 "$rounds"); do
	[ -n "$compose" ] && cupgrade "$work/c1" drover-bench-pc "$pc" docker-compose "$compose"
	# shellcheck disable=SC2086
	[ -n "$compose2" ] && cupgrade "$work/c2" drover-bench-pc2 "$pc2" docker-compose-v2 $compose2
done

printf '\nfailed requests during an upgrade v1 -> v2 (4 new-connection + 3 keep-alive clients), %s runs each\n' "$rounds"
printf '%-20s %10s %10s %9s   %s\n' tool requests failed "%" "per run (failed/requests)"
for label in drover-start-first drover-stop-first docker-compose docker-compose-v2; do
	grep -q "^$label " "$work/upg" || continue
	awk -v l=$label '$1 == l {n += $3; f += $5; runs = runs sprintf(" %d/%d", $5, $3)} END {
		printf "%-20s %10d %10d %8.2f%%  %s\n", l, n, f, (n ? 100*f/n : 0), runs }' "$work/upg"
done
[ -n "$compose" ] || echo "docker-compose is not installed: its row is skipped"
[ -n "$compose2" ] || echo "docker compose (v2) is not installed: its row is skipped"
